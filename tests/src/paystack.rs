//! A local Paystack: the Verify Transaction endpoint (`GET /transaction/verify/{reference}`,
//! secret key as bearer) speaking the documented request and response shapes, with behaviour
//! set per reference — success, failed, abandoned, still ongoing, not found, 429 with
//! `Retry-After`, slow answers, connection resets, any status and body — and a log of every
//! request it got. A request with another secret key is refused as Paystack refuses it (401
//! "Invalid key"; 400 is seen too, see `refuse_bad_keys_with`).
//! Webhooks are sent with `gateway` (signed exactly as Paystack signs them).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[derive(Debug, Clone)]
pub enum Behaviour {
    Success {
        id: u64,
        amount: i64,
        currency: String,
        fees: i64,
    },
    /// A success on a platform account, for the merchant of `subaccount`.
    SettledTo {
        id: u64,
        amount: i64,
        subaccount: String,
    },
    Failed,
    Abandoned,
    /// `ongoing`: the customer has not finished.
    Ongoing,
    NotFound,
    /// 429 for the first `times` requests, then `then`.
    RateLimited {
        times: u32,
        retry_after_s: u64,
        then: Box<Behaviour>,
    },
    /// Answers `then` after `delay`.
    Slow {
        delay: Duration,
        then: Box<Behaviour>,
    },
    /// Accepts the connection and resets it.
    Reset,
    /// Answers exactly this status and (JSON) body.
    Answer {
        status: u16,
        body: String,
    },
}

/// One request the fake received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub reference: String,
    pub at: Instant,
    pub authorized: bool,
    /// Which of the accounts' keys the request carried (its index in `start_accounts`).
    pub account: Option<usize>,
}

/// Each account's transactions, by (account, reference): an account's key sees only its own.
type Behaviours = Arc<Mutex<HashMap<(usize, String), Behaviour>>>;

pub struct FakePaystack {
    port: u16,
    behaviours: Behaviours,
    seen: Arc<Mutex<Vec<Seen>>>,
    bad_key_status: Arc<AtomicU16>,
    task: tokio::task::JoinHandle<()>,
}

impl FakePaystack {
    pub async fn start(secret_key: &str) -> anyhow::Result<Self> {
        Self::start_accounts(&[secret_key]).await
    }

    /// Several Paystack accounts behind one API, each with its own secret key.
    pub async fn start_accounts(secret_keys: &[&str]) -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let behaviours: Behaviours = Arc::default();
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let bad_key_status = Arc::new(AtomicU16::new(401));
        let (b, s, key, bad) = (
            behaviours.clone(),
            seen.clone(),
            secret_keys
                .iter()
                .map(|k| (*k).to_owned())
                .collect::<Vec<_>>(),
            bad_key_status.clone(),
        );
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let refuse_with = bad.load(Ordering::Relaxed);
                tokio::spawn(serve(
                    stream,
                    b.clone(),
                    s.clone(),
                    key.clone(),
                    refuse_with,
                ));
            }
        });
        Ok(FakePaystack {
            port,
            behaviours,
            seen,
            bad_key_status,
            task,
        })
    }

    /// The status a request with another secret key gets (with `{"status":false,"message":
    /// "Invalid key"}`): 401 by default, as documented; Paystack has been seen answering 400.
    pub fn refuse_bad_keys_with(&self, status: u16) {
        self.bad_key_status.store(status, Ordering::Relaxed);
    }

    /// The API base URL (what `KEFFI_PAYSTACK_API_BASE` points at).
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn set(&self, reference: &str, behaviour: Behaviour) {
        self.set_for(0, reference, behaviour);
    }

    /// How account `account` (its index in `start_accounts`) answers about `reference`.
    pub fn set_for(&self, account: usize, reference: &str, behaviour: Behaviour) {
        self.behaviours
            .lock()
            .expect("not poisoned")
            .insert((account, reference.to_owned()), behaviour);
    }

    pub fn requests(&self) -> Vec<Seen> {
        self.seen.lock().expect("not poisoned").clone()
    }

    pub fn success(id: u64, amount: i64) -> Behaviour {
        Behaviour::Success {
            id,
            amount,
            currency: "NGN".into(),
            fees: crate::gateway::paystack_local_fee(amount),
        }
    }
}

impl Drop for FakePaystack {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(
    mut stream: TcpStream,
    behaviours: Behaviours,
    seen: Arc<Mutex<Vec<Seen>>>,
    keys: Vec<String>,
    bad_key_status: u16,
) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 2048];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
        if buf.len() > 64 * 1024 {
            return;
        }
    }
    let head = String::from_utf8_lossy(&buf).to_string();
    let path = head
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .to_owned();
    let account = keys.iter().position(|key| {
        head.lines().any(|l| {
            l.to_ascii_lowercase().starts_with("authorization:")
                && l.trim_end().ends_with(&format!("Bearer {key}"))
        })
    });
    let authorized = account.is_some();
    let Some(reference) = path
        .strip_prefix("/transaction/verify/")
        .map(|r| r.to_owned())
    else {
        let _ = respond(
            &mut stream,
            404,
            &[],
            r#"{"status":false,"message":"Not found"}"#,
        )
        .await;
        return;
    };
    seen.lock().expect("not poisoned").push(Seen {
        reference: reference.clone(),
        at: Instant::now(),
        authorized,
        account,
    });
    let Some(account) = account else {
        let _ = respond(
            &mut stream,
            bad_key_status,
            &[],
            r#"{"status":false,"message":"Invalid key"}"#,
        )
        .await;
        return;
    };
    let slot = (account, reference.clone());
    let mut behaviour = behaviours
        .lock()
        .expect("not poisoned")
        .get(&slot)
        .cloned()
        .unwrap_or(Behaviour::NotFound);
    loop {
        match behaviour {
            Behaviour::RateLimited {
                times,
                retry_after_s,
                then,
            } => {
                if times > 0 {
                    behaviours.lock().expect("not poisoned").insert(
                        slot.clone(),
                        Behaviour::RateLimited {
                            times: times - 1,
                            retry_after_s,
                            then,
                        },
                    );
                    let retry = retry_after_s.to_string();
                    let _ = respond(
                        &mut stream,
                        429,
                        &[("Retry-After", retry.as_str())],
                        r#"{"status":false,"message":"Rate limit exceeded"}"#,
                    )
                    .await;
                    return;
                }
                behaviour = *then;
            }
            Behaviour::Slow { delay, then } => {
                tokio::time::sleep(delay).await;
                behaviour = *then;
            }
            Behaviour::Reset => {
                let _ = stream.set_zero_linger();
                return;
            }
            Behaviour::Answer { status, body } => {
                let _ = respond(&mut stream, status, &[], &body).await;
                return;
            }
            Behaviour::NotFound => {
                let _ = respond(
                    &mut stream,
                    404,
                    &[],
                    r#"{"status":false,"message":"Transaction reference not found"}"#,
                )
                .await;
                return;
            }
            other => {
                let body = transaction(&reference, &other);
                let _ = respond(&mut stream, 200, &[], &body).await;
                return;
            }
        }
    }
}

/// A Verify Transaction answer in Paystack's documented shape.
fn transaction(reference: &str, b: &Behaviour) -> String {
    let subaccount = match b {
        Behaviour::SettledTo { subaccount, .. } => {
            serde_json::json!({"subaccount_code": subaccount, "business_name": subaccount})
        }
        _ => serde_json::json!({}),
    };
    let (status, id, amount, currency, fees, paid_at, gateway_response) = match b {
        Behaviour::SettledTo { id, amount, .. } => (
            "success",
            *id,
            *amount,
            "NGN",
            serde_json::json!(crate::gateway::paystack_local_fee(*amount)),
            serde_json::json!("2026-11-25T10:00:00.000Z"),
            "Successful",
        ),
        Behaviour::Success {
            id,
            amount,
            currency,
            fees,
        } => (
            "success",
            *id,
            *amount,
            currency.as_str(),
            serde_json::json!(fees),
            serde_json::json!("2026-11-25T10:00:00.000Z"),
            "Successful",
        ),
        Behaviour::Failed => (
            "failed",
            1,
            500_000,
            "NGN",
            serde_json::Value::Null,
            serde_json::Value::Null,
            "Declined",
        ),
        Behaviour::Abandoned => (
            "abandoned",
            2,
            500_000,
            "NGN",
            serde_json::Value::Null,
            serde_json::Value::Null,
            "The transaction was not completed",
        ),
        _ => (
            "ongoing",
            3,
            500_000,
            "NGN",
            serde_json::Value::Null,
            serde_json::Value::Null,
            "Pending",
        ),
    };
    serde_json::json!({
        "status": true,
        "message": "Verification successful",
        "data": {
            "id": id, "domain": "test", "status": status, "reference": reference,
            "receipt_number": null, "amount": amount, "message": null,
            "gateway_response": gateway_response, "paid_at": paid_at,
            "created_at": "2026-11-25T09:59:00.000Z", "channel": "card", "currency": currency,
            "ip_address": "41.242.49.37", "metadata": "", "log": null, "fees": fees,
            "fees_split": null, "authorization": {}, "customer": {"email": "ada@example.com"},
            "plan": null, "split": {}, "order_id": null, "paidAt": paid_at,
            "createdAt": "2026-11-25T09:59:00.000Z", "requested_amount": amount,
            "pos_transaction_data": null, "source": null, "fees_breakdown": null,
            "connect": null, "transaction_date": "2026-11-25T09:59:00.000Z",
            "plan_object": {}, "subaccount": subaccount
        }
    })
    .to_string()
}

async fn respond(
    stream: &mut TcpStream,
    status: u16,
    headers: &[(&str, &str)],
    body: &str,
) -> std::io::Result<()> {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        429 => "Too Many Requests",
        _ => "Error",
    };
    let mut out = format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n",
        body.len()
    );
    for (n, v) in headers {
        out.push_str(&format!("{n}: {v}\r\n"));
    }
    out.push_str("\r\n");
    out.push_str(body);
    stream.write_all(out.as_bytes()).await?;
    stream.shutdown().await
}
