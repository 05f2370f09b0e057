//! Cursor pagination: `limit` (1 to 200, default 50) and a `cursor` from the previous page's
//! `next_cursor`. A cursor is a position, not a secret: any string of its format is a position
//! a list can start after, so the document states the format ([`KEYSET_CURSOR_PATTERN`],
//! [`ID_CURSOR_PATTERN`]) and the server takes exactly what it states.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
use utoipa::openapi::{RefOr, Schema};
use utoipa::{PartialSchema, ToSchema};

use super::error::ApiError;
use crate::store::records::After;

pub const DEFAULT_LIMIT: u32 = 50;
pub const MAX_LIMIT: u32 = 200;

/// A newest-first position (orders, payments): the row's time in ms, a dot, then its key
/// (a reference) as lower-case hex. Read by [`KeysetCursor`].
pub const KEYSET_CURSOR_PATTERN: &str = "^-?[0-9]{1,18}\\.([0-9a-f]{2})*$";

/// An id position (events, the journal): the last id seen, in decimal. Read by [`IdCursor`].
pub const ID_CURSOR_PATTERN: &str = "^[0-9]{1,18}$";

const NOT_OURS: &str = "cursor is not one this API issued";

/// One page of a list.
#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T> {
    pub data: Vec<T>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// A list's `limit`, as asked: [`limit`] holds it to 1 to [`MAX_LIMIT`] (422 past it, a rule
/// of the request rather than an unreadable one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Limit(pub u32);

impl PartialSchema for Limit {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int32)))
            .minimum(Some(1))
            .maximum(Some(MAX_LIMIT))
            .default(Some(DEFAULT_LIMIT.into()))
            .into()
    }
}

impl ToSchema for Limit {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Limit")
    }
}

/// A newest-first list's `cursor` (orders, payments), read into its position: a string that
/// is not of [`KEYSET_CURSOR_PATTERN`] is unreadable (400).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct KeysetCursor(pub After);

impl TryFrom<String> for KeysetCursor {
    type Error = &'static str;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        decode_after(&s).map(KeysetCursor).ok_or(NOT_OURS)
    }
}

impl PartialSchema for KeysetCursor {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(KEYSET_CURSOR_PATTERN))
            .description(Some(
                "The previous page's `next_cursor`, as given (its format is not a promise).",
            ))
            .into()
    }
}

impl ToSchema for KeysetCursor {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("KeysetCursor")
    }
}

/// An id-ordered list's `cursor` (events, the journal, the audit log): the last id seen; a
/// string that is not of [`ID_CURSOR_PATTERN`] is unreadable (400).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct IdCursor(pub i64);

impl TryFrom<String> for IdCursor {
    type Error = &'static str;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        decode_id(&s).map(IdCursor).ok_or(NOT_OURS)
    }
}

impl PartialSchema for IdCursor {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(ID_CURSOR_PATTERN))
            .description(Some("The previous page's `next_cursor`, as given."))
            .into()
    }
}

impl ToSchema for IdCursor {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("IdCursor")
    }
}

/// A list's `status` filter, read into its type. The query keeps it as text so that an
/// unknown status is a rule of the request (422, naming it), not an unreadable query (400).
pub fn status_filter<T: std::str::FromStr<Err = String>>(
    status: Option<&str>,
) -> Result<Option<T>, ApiError> {
    status
        .map(str::parse::<T>)
        .transpose()
        .map_err(ApiError::invalid)
}

/// Checks a requested limit.
pub fn limit(requested: Option<Limit>) -> Result<u32, ApiError> {
    match requested.map(|l| l.0) {
        None => Ok(DEFAULT_LIMIT),
        Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        Some(n) => Err(ApiError::invalid(format!(
            "limit must be between 1 and {MAX_LIMIT} (got {n})"
        ))),
    }
}

/// Encodes a newest-first position.
pub fn encode_after(at_ms: i64, key: &str) -> String {
    format!("{at_ms}.{}", hex::encode(key))
}

/// 1 to 18 decimal digits: always an `i64`.
fn is_digits(s: &str) -> bool {
    (1..=18).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
}

/// A position from a cursor matching [`KEYSET_CURSOR_PATTERN`]. The key is the hex's bytes
/// as text; bytes that are not UTF-8 (or a NUL, which no stored key holds) only make a
/// position between two real keys, so any cursor of the format is a valid position.
fn decode_after(c: &str) -> Option<After> {
    let (at, key) = c.split_once('.')?;
    if !is_digits(at.strip_prefix('-').unwrap_or(at))
        || !key.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    {
        return None;
    }
    let at_ms = at.parse::<i64>().ok()?;
    let bytes = hex::decode(key).ok()?;
    let key = String::from_utf8_lossy(&bytes).replace('\0', "\u{FFFD}");
    Some(After { at_ms, key })
}

/// An id cursor (events, journal) matching [`ID_CURSOR_PATTERN`]: the last id seen.
fn decode_id(c: &str) -> Option<i64> {
    c.parse::<i64>().ok().filter(|_| is_digits(c))
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
        assert!(limit(Some(Limit(0))).is_err() && limit(Some(Limit(201))).is_err());
        assert_eq!(limit(Some(Limit(200))).unwrap(), 200);
        let c = encode_after(17, "ord_1");
        assert_eq!(c, "17.6f72645f31");
        assert_eq!(
            decode_after(&c),
            Some(After {
                at_ms: 17,
                key: "ord_1".into()
            })
        );
        assert_eq!(decode_after("-5.").unwrap().at_ms, -5);
        assert!(decode_id("x").is_none());
        assert_eq!(decode_id("42"), Some(42));
        assert_eq!(next(&[1, 2], 2, |n| n.to_string()), Some("2".into()));
        assert_eq!(next(&[1], 2, |n| n.to_string()), None);
    }

    /// The server takes exactly the cursors the patterns describe: every refusal here is a
    /// string the pattern refuses too, and every string of the format is a position.
    #[test]
    fn cursors_follow_their_patterns() {
        for bad in [
            "",
            ".",
            "x.00",
            "1",
            "1.0",
            "1.0g",
            "1.0A",
            "1.AB",
            "+1.00",
            "1.2.00",
            " 1.00",
            "1234567890123456789.00",
            "--1.00",
            "not-a-cursor!",
        ] {
            assert!(decode_after(bad).is_none(), "{bad:?}");
            assert!(KeysetCursor::try_from(bad.to_owned()).is_err(), "{bad:?}");
        }
        for ok in ["0.", "1.00", "123456789012345678.ff", "-1.e282ac"] {
            assert!(decode_after(ok).is_some(), "{ok:?}");
        }
        // Not UTF-8, or a NUL: still a position.
        assert_eq!(decode_after("1.ff00").unwrap().key, "\u{FFFD}\u{FFFD}");
        for bad in ["", "-1", "+1", "1.0", "x", " 1", "1234567890123456789"] {
            assert!(decode_id(bad).is_none(), "{bad:?}");
            assert!(IdCursor::try_from(bad.to_owned()).is_err(), "{bad:?}");
        }
        for ok in ["0", "007", "123456789012345678"] {
            assert!(decode_id(ok).is_some(), "{ok:?}");
        }
        // A position any real row can produce is issued in the format.
        let c = encode_after(1_795_662_238_617, "T123.abc-X=");
        assert_eq!(decode_after(&c).unwrap().key, "T123.abc-X=");
    }
}
