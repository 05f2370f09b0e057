//! One HTTP/1.1 request over a bare socket that keeps reading while it writes.
//!
//! A server may answer before the request body is in: an oversize upload gets its 413 and the
//! connection closed after a few kilobytes. That is a valid answer, but a client that only reads
//! once it has written everything (reqwest, hyper) sees `Broken pipe` or a reset instead of the
//! answer, at random depending on timing. This client writes and reads at the same time, so the
//! test judges the answer the server gave, whenever it gave it.

use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// What came back: the status and the body (de-chunked).
#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    pub body: Vec<u8>,
}

/// Sends `method path` with `headers` and `body` to `base` (`http://host:port`), with
/// `Connection: close`, and reads the whole answer. A write that fails after the server
/// answered (the early answer closed the connection) is not an error; a write that fails with
/// no answer at all is.
///
/// A server that answers early and closes with part of the body unread makes its kernel reset
/// the connection, and the reset can destroy the answer before this side reads it (the
/// "lingering close" problem): the connection then ends with nothing read. The request is
/// then sent again, up to [`ATTEMPTS`] times, so the test judges the answer itself; an
/// oversize request changes nothing, so sending it again is harmless.
pub async fn send(
    base: &str,
    method: &str,
    path: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> anyhow::Result<RawResponse> {
    let mut last = None;
    for _ in 0..ATTEMPTS {
        match send_once(base, method, path, headers, body).await? {
            Ok(answer) => return Ok(answer),
            Err(unanswered) => last = Some(unanswered),
        }
    }
    Err(last.unwrap_or_else(|| anyhow!("no attempt made")))
        .with_context(|| format!("{ATTEMPTS} attempts, none answered"))
}

/// How many times a request that got no answer at all is sent.
pub const ATTEMPTS: usize = 5;

/// One attempt: `Ok(Err(..))` when the connection ended with nothing read.
async fn send_once(
    base: &str,
    method: &str,
    path: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> anyhow::Result<Result<RawResponse, anyhow::Error>> {
    let authority = base
        .strip_prefix("http://")
        .ok_or_else(|| anyhow!("only http:// is supported: {base}"))?
        .trim_end_matches('/');
    let socket = TcpStream::connect(authority)
        .await
        .with_context(|| format!("connect {authority}"))?;
    let (mut reader, mut writer) = socket.into_split();

    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let mut request = head.into_bytes();
    request.extend_from_slice(body);
    let write = tokio::spawn(async move {
        let written = writer.write_all(&request).await;
        // Half-close so a server waiting for more knows there is none.
        let _ = writer.shutdown().await;
        written
    });

    let mut raw = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(30), reader.read_to_end(&mut raw)).await;
    let written = write.await.context("the writer task")?;
    if read.is_err() {
        bail!("no complete answer within 30 s");
    }
    // A reset after the answer arrived is the early-close case: keep what was read.
    if raw.is_empty() {
        let why = match (read, written) {
            (Ok(Err(e)), _) | (_, Err(e)) => anyhow::Error::new(e),
            _ => anyhow!("end of stream"),
        };
        return Ok(Err(why.context("the server closed without answering")));
    }
    parse(&raw).map(Ok)
}

fn parse(raw: &[u8]) -> anyhow::Result<RawResponse> {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| anyhow!("no end of headers in {} bytes", raw.len()))?;
    let head = std::str::from_utf8(&raw[..split]).context("headers are not UTF-8")?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| anyhow!("bad status line {status_line:?}"))?;
    let chunked = lines.any(|l| {
        let l = l.to_ascii_lowercase();
        l.starts_with("transfer-encoding:") && l.contains("chunked")
    });
    let rest = &raw[split + 4..];
    let body = if chunked {
        dechunk(rest)?
    } else {
        rest.to_vec()
    };
    Ok(RawResponse { status, body })
}

fn dechunk(mut rest: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let end = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or_else(|| anyhow!("truncated chunk size"))?;
        let size_text = std::str::from_utf8(&rest[..end])?;
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .with_context(|| format!("bad chunk size {size_text:?}"))?;
        rest = &rest[end + 2..];
        if size == 0 {
            return Ok(body);
        }
        if rest.len() < size {
            bail!("truncated chunk");
        }
        body.extend_from_slice(&rest[..size]);
        rest = rest.get(size + 2..).unwrap_or_default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_plain_and_chunked_answers() {
        let plain =
            parse(b"HTTP/1.1 413 Payload Too Large\r\ncontent-length: 2\r\n\r\n{}").unwrap();
        assert_eq!((plain.status, plain.body.as_slice()), (413, &b"{}"[..]));
        let chunked = parse(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
        )
        .unwrap();
        assert_eq!(
            (chunked.status, chunked.body.as_slice()),
            (200, &b"abcde"[..])
        );
        assert!(parse(b"HTTP/1.1 200 OK\r\n").is_err());
    }
}
