//! The alerting rules (`ops/prometheus/keffi-alerts.yml`) against the real ledger binary:
//! every `keffi_*` metric an alert's `expr:` selects, with the label values it matches on, is
//! in the ledger's `/metrics`. A metric or label renamed in the ledger fails here instead of
//! leaving an alert that can never fire. (`promtool` checks the rules' syntax and logic:
//! `scripts/lib/promtool.sh`.)
//!
//! The ledger runs on SQLite with everything an alert watches switched on: a puller, the
//! reconciler (no payment is pending, so it never calls out) and a dead event on its own
//! `/hooks/paystack`. The puller's edge is a stand-in speaking the pull API's wire types with
//! an empty log: this test is about metric names, so it needs no Worker build (the real edge's
//! pull path is `ledger_e2e.rs`'s).

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use keffi_shared::version::V1;
use keffi_shared::wire::{AckRequest, AckResponse, PullResponse, ShardsResponse};
use keffi_tests::edge::PAYSTACK_SECRET;
use keffi_tests::gateway;
use keffi_tests::ledger::{TestDb, TestLedger, ADMIN_TOKEN};
use keffi_tests::workspace;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const RULES: &str = "ops/prometheus/keffi-alerts.yml";
const SHARDS: u32 = 2;

#[tokio::test]
async fn every_metric_the_alerts_use_is_exported() -> anyhow::Result<()> {
    let rules = std::fs::read_to_string(workspace::root().join(RULES))?;
    let selectors = rule_selectors(&rules)?;

    let edge = stand_in_edge().await?;
    let db = TestDb::sqlite().await?;
    let url = db.url();
    let ledger = TestLedger::start(
        &[
            "--database-url",
            &url,
            "--edge-url",
            &edge,
            "--pull-wait-ms",
            "0",
            "--pull-idle-ms",
            "200",
            // Nothing is pending, so the reconciler never calls this (closed) port.
            "--paystack-api-base",
            "http://127.0.0.1:9",
        ],
        &[
            ("KEFFI_EDGE_TOKEN", "stand-in-pull-token"),
            ("KEFFI_PAYSTACK_SECRET_KEY", PAYSTACK_SECRET),
            (
                "KEFFI_SOURCES",
                r#"[{"name":"paystack","provider":"paystack"}]"#,
            ),
            ("KEFFI_SECRET_PAYSTACK", PAYSTACK_SECRET),
        ],
    )
    .await?;

    // A zero amount is dead on arrival: keffi_events_total{outcome="dead"} appears.
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()?;
    let dead = gateway::paystack_charge_success(PAYSTACK_SECRET, 7001, "ord_alert_rules", 0);
    let resp = dead
        .post(&http, &ledger.url("/hooks/paystack"))
        .send()
        .await?;
    anyhow::ensure!(resp.status() == 200, "hook answered {}", resp.status());

    // Until every shard has had a pull round (the puller starts beside the HTTP server).
    let deadline = Instant::now() + Duration::from_secs(30);
    let exported = loop {
        let text = http
            .get(ledger.url("/metrics"))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await?
            .error_for_status()?
            .text()
            .await?;
        let exported = parse_exposition(&text);
        let pulled = exported
            .get("keffi_shard_last_pull_timestamp_seconds")
            .map_or(0, Vec::len);
        if pulled == SHARDS as usize {
            break exported;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "no pull round on every shard within 30 s; /metrics:\n{text}\nledger log:\n{}",
            ledger.log_tail(30)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };

    let missing = missing_from(&selectors, &exported);
    assert!(
        missing.is_empty(),
        "{RULES} selects what the ledger does not export:\n  {}\nexported keffi_* metrics: {:?}",
        missing.join("\n  "),
        exported.keys().collect::<Vec<_>>()
    );
    Ok(())
}

/// The rules file parses into the selectors it holds (the check above cannot pass by finding
/// nothing), and a misspelt metric or label value is reported.
#[test]
fn the_rules_parse_and_a_renamed_metric_is_caught() -> anyhow::Result<()> {
    let rules = std::fs::read_to_string(workspace::root().join(RULES))?;
    let selectors = rule_selectors(&rules)?;
    let names: BTreeSet<&str> = selectors.iter().map(|s| s.name.as_str()).collect();
    for expected in [
        "keffi_shard_lag_seconds",
        "keffi_shard_last_pull_timestamp_seconds",
        "keffi_events_total",
        "keffi_events_orphaned_total",
        "keffi_reconciler_errors_total",
        "keffi_puller_shards",
        "keffi_ledger_ready",
    ] {
        assert!(
            names.contains(expected),
            "{expected} not found in {names:?}"
        );
    }
    assert!(selectors.iter().any(|s| s.name == "keffi_events_total"
        && s.matchers == [("outcome".to_owned(), Match::Equals("dead".to_owned()))]));

    let exported = parse_exposition(
        "# TYPE keffi_events_total counter\n\
         keffi_events_total{source=\"paystack\",outcome=\"applied\"} 3\n\
         keffi_apply_batch_seconds_bucket{le=\"0.5\"} 1\n",
    );
    let wanted = rule_selectors(
        "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: |\n          \
         increase(keffi_events_total{outcome=\"dead\"}[1h]) > 0\n          \
         or keffi_events_totl > 0\n      - alert: B\n        expr: \
         histogram_quantile(0.9, rate(keffi_apply_batch_seconds_bucket[5m])) > 1\n",
    )?;
    assert_eq!(
        missing_from(&wanted, &exported),
        [
            r#"keffi_events_total{outcome="dead"}"#,
            "keffi_events_totl (no such metric)"
        ]
    );
    Ok(())
}

/// How a selector matches one label.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Match {
    /// `label="value"`: some series must have exactly this value (`""`: the label absent).
    Equals(String),
    /// `!=`, `=~`, `!~`: the label must exist on the metric.
    Other,
}

/// One `metric{label op "value", ...}` an alert's expression selects.
#[derive(Debug, Clone)]
struct Selector {
    name: String,
    matchers: Vec<(String, Match)>,
}

/// Every `keffi_*` selector in the `expr:` fields of a rules file: single-line values and
/// block scalars (`expr: |`, the lines indented under it).
fn rule_selectors(rules: &str) -> anyhow::Result<Vec<Selector>> {
    let lines: Vec<&str> = rules.lines().collect();
    let alerts = lines
        .iter()
        .filter(|l| l.trim_start().starts_with("- alert:"))
        .count();
    let mut exprs = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let trimmed = line.trim_start().trim_start_matches("- ");
        i += 1;
        let Some(value) = trimmed.strip_prefix("expr:") else {
            continue;
        };
        let value = value.trim();
        if value.starts_with('|') || value.starts_with('>') {
            let indent = line.len() - line.trim_start().len();
            let mut block = String::new();
            while i < lines.len()
                && (lines[i].trim().is_empty()
                    || lines[i].len() - lines[i].trim_start().len() > indent)
            {
                block.push_str(lines[i]);
                block.push('\n');
                i += 1;
            }
            exprs.push(block);
        } else {
            exprs.push(value.trim_matches(|c| c == '\'' || c == '"').to_owned());
        }
    }
    anyhow::ensure!(
        exprs.len() == alerts && alerts > 0,
        "found {} expr: fields for {alerts} alerts",
        exprs.len()
    );
    let mut selectors = Vec::new();
    for expr in &exprs {
        selectors.extend(selectors_in(expr)?);
    }
    Ok(selectors)
}

/// The `keffi_*` selectors of one PromQL expression (string literals skipped).
fn selectors_in(expr: &str) -> anyhow::Result<Vec<Selector>> {
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    let chars: Vec<char> = expr.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '"' || c == '\'' || c == '`' {
            i = skip_string(&chars, i);
            continue;
        }
        if !ident(c) {
            i += 1;
            continue;
        }
        let start = i;
        while i < chars.len() && ident(chars[i]) {
            i += 1;
        }
        let word: String = chars[start..i].iter().collect();
        if !word.starts_with("keffi_") {
            continue;
        }
        let mut j = i;
        while j < chars.len() && chars[j].is_whitespace() {
            j += 1;
        }
        let mut matchers = Vec::new();
        if chars.get(j) == Some(&'{') {
            let end = (j..chars.len())
                .find(|&k| chars[k] == '}')
                .ok_or_else(|| anyhow::anyhow!("unclosed selector in {expr}"))?;
            let inside: String = chars[j + 1..end].iter().collect();
            for part in inside.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                matchers.push(matcher(part)?);
            }
            i = end + 1;
        }
        out.push(Selector {
            name: word,
            matchers,
        });
    }
    Ok(out)
}

fn skip_string(chars: &[char], start: usize) -> usize {
    let quote = chars[start];
    let mut i = start + 1;
    while i < chars.len() && chars[i] != quote {
        i += if chars[i] == '\\' { 2 } else { 1 };
    }
    i + 1
}

/// `label="value"`, `label!="value"`, `label=~"re"`, `label!~"re"`.
fn matcher(part: &str) -> anyhow::Result<(String, Match)> {
    let op_at = part
        .find(['=', '!'])
        .ok_or_else(|| anyhow::anyhow!("unreadable matcher `{part}`"))?;
    let label = part[..op_at].trim().to_owned();
    let rest = &part[op_at..];
    let (op, value) = ["=~", "!~", "!=", "="]
        .iter()
        .find_map(|op| rest.strip_prefix(op).map(|v| (*op, v.trim())))
        .ok_or_else(|| anyhow::anyhow!("unreadable matcher `{part}`"))?;
    let value = value.trim_matches(|c| c == '"' || c == '\'' || c == '`');
    Ok((
        label,
        if op == "=" {
            Match::Equals(value.to_owned())
        } else {
            Match::Other
        },
    ))
}

/// The `keffi_*` samples of a Prometheus text exposition, by sample name (a histogram's
/// samples are `_bucket`, `_sum` and `_count`, as PromQL selects them), each with its labels.
fn parse_exposition(text: &str) -> BTreeMap<String, Vec<BTreeMap<String, String>>> {
    let mut out: BTreeMap<String, Vec<BTreeMap<String, String>>> = BTreeMap::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') || !line.starts_with("keffi_") {
            continue;
        }
        let (name, labels) = match line.find('{') {
            Some(open) => {
                let close = line.rfind('}').unwrap_or(line.len());
                (&line[..open], labels_of(&line[open + 1..close]))
            }
            None => (
                line.split_whitespace().next().unwrap_or(line),
                BTreeMap::new(),
            ),
        };
        out.entry(name.to_owned()).or_default().push(labels);
    }
    out
}

/// `a="x",b="y"` (values may hold escaped quotes, commas and braces).
fn labels_of(inside: &str) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    let mut chars = inside.chars();
    loop {
        let name: String = chars.by_ref().take_while(|&c| c != '=').collect();
        let name = name.trim().trim_start_matches(',').trim();
        if name.is_empty() || chars.next() != Some('"') {
            return labels;
        }
        let mut value = String::new();
        while let Some(c) = chars.next() {
            match c {
                '\\' => value.extend(chars.next().map(|e| if e == 'n' { '\n' } else { e })),
                '"' => break,
                c => value.push(c),
            }
        }
        labels.insert(name.to_owned(), value);
    }
}

/// The selectors no exported series satisfies, each described once.
fn missing_from(
    selectors: &[Selector],
    exported: &BTreeMap<String, Vec<BTreeMap<String, String>>>,
) -> Vec<String> {
    let mut missing = BTreeSet::new();
    for s in selectors {
        let Some(series) = exported.get(&s.name) else {
            missing.insert(format!("{} (no such metric)", s.name));
            continue;
        };
        let satisfied = series.iter().any(|labels| {
            s.matchers.iter().all(|(label, m)| match m {
                Match::Equals(v) if v.is_empty() => !labels.contains_key(label),
                Match::Equals(v) => labels.get(label) == Some(v),
                Match::Other => labels.contains_key(label),
            })
        });
        if !satisfied {
            let matchers: Vec<String> = s
                .matchers
                .iter()
                .map(|(l, m)| match m {
                    Match::Equals(v) => format!("{l}=\"{v}\""),
                    Match::Other => format!("{l}=~…"),
                })
                .collect();
            missing.insert(format!("{}{{{}}}", s.name, matchers.join(",")));
        }
    }
    missing.into_iter().collect()
}

/// A stand-in for the edge's pull API on a loopback port, with `SHARDS` empty shards: enough
/// for the ledger's puller to run its rounds. Returns its base URL.
async fn stand_in_edge() -> anyhow::Result<String> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let _ = answer(stream).await;
            });
        }
    });
    Ok(format!("http://{addr}"))
}

/// One request on `stream` (then the connection closes): `GET /ledger/shards`,
/// `GET /ledger/pull?shard=K…` or `POST /ledger/ack`.
async fn answer(mut stream: TcpStream) -> anyhow::Result<()> {
    let mut buf = Vec::new();
    let head_end = loop {
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await?;
        anyhow::ensure!(n > 0, "closed mid-request");
        buf.extend_from_slice(&chunk[..n]);
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        })
        .unwrap_or(0);
    while buf.len() < head_end + length {
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await?;
        anyhow::ensure!(n > 0, "closed mid-body");
        buf.extend_from_slice(&chunk[..n]);
    }
    let target = head.split_whitespace().nth(1).unwrap_or_default();
    let body = if target.starts_with("/ledger/shards") {
        serde_json::to_vec(&ShardsResponse {
            v: V1,
            shards: SHARDS,
            backlog: Vec::new(),
        })?
    } else if let Some(query) = target.strip_prefix("/ledger/pull?") {
        let shard = query
            .split('&')
            .find_map(|kv| kv.strip_prefix("shard="))
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        serde_json::to_vec(&PullResponse {
            v: V1,
            shard,
            events: Vec::new(),
            has_more: false,
            head_seq: 0,
            oldest_unacked_ms: None,
        })?
    } else if target.starts_with("/ledger/ack") {
        let ack: AckRequest = serde_json::from_slice(&buf[head_end..head_end + length])?;
        serde_json::to_vec(&AckResponse {
            v: V1,
            shard: ack.shard,
            acked_upto: ack.upto,
        })?
    } else {
        let body = br#"{"error":{"code":"not_found","message":"stand-in edge"}}"#;
        let head = format!(
            "HTTP/1.1 404 Not Found\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes()).await?;
        stream.write_all(body).await?;
        return Ok(());
    };
    let head = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(&body).await?;
    Ok(())
}
