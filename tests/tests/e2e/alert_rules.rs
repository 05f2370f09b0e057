//! The alerting rules (`ops/prometheus/keffi-alerts.yml`) against the real ledger binary:
//! every `keffi_*` metric an alert's `expr:` selects, with the label values it matches on, is
//! in the ledger's `/metrics`. A metric or label renamed in the ledger fails here instead of
//! leaving an alert that can never fire. (`promtool` checks the rules' syntax and logic:
//! `scripts/lib/promtool.sh`.)
//!
//! The ledger runs on SQLite against the real edge (the built Worker under `wrangler dev`) with
//! everything an alert watches switched on: the puller, the reconciler (no payment is pending,
//! so it never calls out) and a dead event that came through the edge.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use keffi_tests::edge::{EdgeConfig, TestEdge, PAYSTACK_SECRET, PULL_TOKEN};
use keffi_tests::gateway;
use keffi_tests::ledger::{TestDb, TestLedger, ADMIN_TOKEN};
use keffi_tests::workspace;

const RULES: &str = "ops/prometheus/keffi-alerts.yml";

#[tokio::test]
async fn every_metric_the_alerts_use_is_exported() -> anyhow::Result<()> {
    let rules = std::fs::read_to_string(workspace::root().join(RULES))?;
    let selectors = rule_selectors(&rules)?;

    let edge = TestEdge::start(EdgeConfig::standard()).await?;
    let edge_url = edge.url("");
    let db = TestDb::sqlite().await?;
    let url = db.url();
    let ledger = TestLedger::start(
        &[
            "--database-url",
            &url,
            "--edge-url",
            &edge_url,
            "--pull-wait-ms",
            "0",
            "--pull-idle-ms",
            "200",
            // Nothing is pending, so the reconciler never calls this (closed) port.
            "--paystack-api-base",
            "http://127.0.0.1:9",
        ],
        &[
            ("KEFFI_EDGE_TOKEN", PULL_TOKEN),
            ("KEFFI_PAYSTACK_SECRET_KEY", PAYSTACK_SECRET),
        ],
    )
    .await?;

    // A zero amount is dead on arrival: keffi_events_total{outcome="dead"} appears once the
    // puller has brought it from the edge.
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()?;
    let dead = gateway::paystack_charge_success(PAYSTACK_SECRET, 7001, "ord_alert_rules", 0);
    let (status, body) = edge.deliver("paystack", &dead).await?;
    anyhow::ensure!(status == 200, "the edge answered {status}: {body}");

    // Until every shard has had a pull round and the dead event is applied.
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
        let dead_applied = exported.get("keffi_events_total").is_some_and(|series| {
            series
                .iter()
                .any(|l| l.get("outcome").map(String::as_str) == Some("dead"))
        });
        if pulled == edge.shards() as usize && dead_applied {
            break exported;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "no pull round on every shard, or the dead event not applied, within 30 s; /metrics:\n{text}\nledger log:\n{}",
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
