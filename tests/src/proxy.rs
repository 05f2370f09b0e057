//! A fault-injecting TCP proxy for the link between the ledger and the edge: per connection it
//! may refuse (drop), add latency to every chunk, reset mid-way, or cut a response half-way.
//! All traffic stays on loopback.

use std::time::Duration;

use rand::Rng;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Fault probabilities (0 to 1) and latency, applied to each new connection.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// Close the connection at once.
    pub drop: f64,
    /// Reset the connection after some of the response.
    pub reset: f64,
    /// Forward half of the first response chunk, then close.
    pub cut: f64,
    /// Added before each forwarded chunk, drawn uniformly up to this.
    pub max_latency: Duration,
}

pub struct FaultProxy {
    port: u16,
    task: tokio::task::JoinHandle<()>,
}

impl FaultProxy {
    pub async fn start(upstream_port: u16, faults: Faults) -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(relay(client, upstream_port, faults.clone()));
            }
        });
        Ok(FaultProxy { port, task })
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Fate {
    Drop,
    Reset,
    Cut,
    Pass,
}

async fn relay(client: TcpStream, upstream_port: u16, faults: Faults) {
    let fate = {
        let mut rng = rand::thread_rng();
        let roll: f64 = rng.gen();
        if roll < faults.drop {
            Fate::Drop
        } else if roll < faults.drop + faults.reset {
            Fate::Reset
        } else if roll < faults.drop + faults.reset + faults.cut {
            Fate::Cut
        } else {
            Fate::Pass
        }
    };
    if fate == Fate::Drop {
        let _ = client.set_zero_linger();
        return;
    }
    let Ok(upstream) = TcpStream::connect(("127.0.0.1", upstream_port)).await else {
        return;
    };
    let (mut cr, mut cw) = client.into_split();
    let (mut ur, mut uw) = upstream.into_split();
    let latency = faults.max_latency;
    let to_upstream = async move {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = match cr.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            delay(latency).await;
            if uw.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
        let _ = uw.shutdown().await;
    };
    let to_client = async move {
        let mut buf = vec![0u8; 16 * 1024];
        let mut first = true;
        loop {
            let n = match ur.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            delay(latency).await;
            if first && fate == Fate::Cut {
                let _ = cw.write_all(&buf[..n / 2]).await;
                break;
            }
            if first && fate == Fate::Reset {
                // Some bytes, then the connection dies without a goodbye.
                let _ = cw.write_all(&buf[..n.min(16)]).await;
                break;
            }
            first = false;
            if cw.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
        let _ = cw.shutdown().await;
    };
    // The response direction decides the connection's end: when it is over (or cut), stop the
    // request direction too.
    let upstream_task = tokio::spawn(to_upstream);
    to_client.await;
    upstream_task.abort();
}

async fn delay(max: Duration) {
    if max.is_zero() {
        return;
    }
    let d = rand::thread_rng().gen_range(Duration::ZERO..=max);
    tokio::time::sleep(d).await;
}
