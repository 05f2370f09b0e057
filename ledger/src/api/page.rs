//! Cursor pagination: `limit` (1 to 200, default 50) and an opaque `cursor` from the previous
//! page's `next_cursor`.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::ApiError;
use crate::store::records::After;

pub const DEFAULT_LIMIT: u32 = 50;
pub const MAX_LIMIT: u32 = 200;

/// One page of a list.
#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T> {
    pub data: Vec<T>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// Checks a requested limit.
pub fn limit(requested: Option<u32>) -> Result<u32, ApiError> {
    match requested {
        None => Ok(DEFAULT_LIMIT),
        Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        Some(n) => Err(ApiError::invalid(format!(
            "limit must be between 1 and {MAX_LIMIT} (got {n})"
        ))),
    }
}

#[derive(Serialize, Deserialize)]
struct KeysetCursor {
    at: i64,
    key: String,
}

/// Encodes a newest-first position.
pub fn encode_after(at_ms: i64, key: &str) -> String {
    let json = serde_json::to_vec(&KeysetCursor {
        at: at_ms,
        key: key.to_owned(),
    })
    .unwrap_or_default();
    URL_SAFE_NO_PAD.encode(json)
}

pub fn decode_after(cursor: Option<&str>) -> Result<Option<After>, ApiError> {
    let Some(c) = cursor else { return Ok(None) };
    let bytes = URL_SAFE_NO_PAD
        .decode(c)
        .map_err(|_| ApiError::bad_request("cursor is not one this API issued"))?;
    let k: KeysetCursor = serde_json::from_slice(&bytes)
        .map_err(|_| ApiError::bad_request("cursor is not one this API issued"))?;
    Ok(Some(After {
        at_ms: k.at,
        key: k.key,
    }))
}

/// An id cursor (events, journal): the last id seen.
pub fn decode_id(cursor: Option<&str>) -> Result<Option<i64>, ApiError> {
    cursor
        .map(|c| {
            c.parse::<i64>()
                .map_err(|_| ApiError::bad_request("cursor is not one this API issued"))
        })
        .transpose()
}

/// The next cursor if the page is full.
pub fn next<T>(rows: &[T], limit: u32, cursor_of: impl Fn(&T) -> String) -> Option<String> {
    (rows.len() as u32 == limit)
        .then(|| rows.last().map(cursor_of))
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_and_cursors() {
        assert_eq!(limit(None).unwrap(), 50);
        assert!(limit(Some(0)).is_err() && limit(Some(201)).is_err());
        let c = encode_after(17, "ord_1");
        assert_eq!(
            decode_after(Some(&c)).unwrap(),
            Some(After {
                at_ms: 17,
                key: "ord_1".into()
            })
        );
        assert!(decode_after(Some("not-a-cursor!")).is_err());
        assert!(decode_id(Some("x")).is_err());
        assert_eq!(next(&[1, 2], 2, |n| n.to_string()), Some("2".into()));
        assert_eq!(next(&[1], 2, |n| n.to_string()), None);
    }
}
