//! Version markers for serialised formats: a field that is always written as a fixed number and
//! refuses any other on reading, so a reader never silently misreads a newer format.

use serde::de::{Deserializer, Error as _};
use serde::{Deserialize, Serialize, Serializer};

/// Format version 1. Serialises as `1`; deserialising anything else is an error.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct V1;

impl Serialize for V1 {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u8(1)
    }
}

impl<'de> Deserialize<'de> for V1 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match u64::deserialize(d)? {
            1 => Ok(V1),
            other => Err(D::Error::custom(format!(
                "unsupported format version {other} (this build reads version 1)"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_one_is_accepted() {
        assert_eq!(serde_json::to_string(&V1).unwrap(), "1");
        assert!(serde_json::from_str::<V1>("1").is_ok());
        let err = serde_json::from_str::<V1>("2").unwrap_err().to_string();
        assert!(err.contains("unsupported format version 2"), "{err}");
    }
}
