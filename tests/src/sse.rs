//! Reading Server-Sent Events from a streaming response (the ledger's live order status).

use std::time::{Duration, Instant};

use serde_json::Value;

/// Reads events from `resp` until `want` have arrived or `within` runs out; each is its `id`
/// and its JSON `data`. Returns what arrived.
pub async fn read_events(
    resp: &mut reqwest::Response,
    buffer: &mut String,
    want: usize,
    within: Duration,
) -> Vec<(String, Value)> {
    let mut events = Vec::new();
    let deadline = Instant::now() + within;
    loop {
        // Whole events already buffered first: a chunk may carry several.
        while events.len() < want {
            let Some(end) = buffer.find("\n\n") else {
                break;
            };
            let block: String = buffer.drain(..end + 2).collect();
            let field = |name: &str| {
                block
                    .lines()
                    .find_map(|l| l.strip_prefix(name))
                    .map(|s| s.trim().to_owned())
            };
            if let (Some(id), Some(data)) = (field("id:"), field("data:")) {
                if let Ok(data) = serde_json::from_str(&data) {
                    events.push((id, data));
                }
            }
        }
        if events.len() >= want || Instant::now() >= deadline {
            return events;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok(Ok(Some(chunk))) = tokio::time::timeout(left, resp.chunk()).await else {
            return events;
        };
        buffer.push_str(&String::from_utf8_lossy(&chunk));
    }
}
