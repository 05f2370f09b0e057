//! Whose money a Paystack event of a platform account is: the hints its payload carries
//! (<https://paystack.com/docs/payments/multi-split-payments/>). A transaction names a
//! subaccount in `subaccount` (an object with `subaccount_code`, `{}` when none) or in a
//! transaction split's `split.subaccounts` (each `{subaccount: {subaccount_code}, share}`, or
//! `{subaccount_code, share}` in older answers); the platform may also write the merchant
//! into `metadata` (an object, or that object as a JSON string). A dispute carries its
//! transaction whole in `data.transaction`; a refund names only `transaction_reference`.
//!
//! Reading these never fails: a field that is absent or of another shape is no hint, and the
//! ledger holds an event it cannot place rather than guessing.

use serde_json::Value;

/// What a Paystack event says about whose it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PayeeHints {
    /// The transaction's own subaccount (`data.subaccount.subaccount_code`).
    pub subaccount: Option<String>,
    /// The subaccounts of the transaction's split, in the payload's order, without repeats.
    pub split: Vec<String>,
    /// The string at the metadata key asked for.
    pub metadata: Option<String>,
}

impl PayeeHints {
    /// Reads the hints of a webhook body; `metadata_key` is the key the platform writes the
    /// merchant under, if it does.
    pub fn read(body: &[u8], metadata_key: Option<&str>) -> PayeeHints {
        let Ok(event) = serde_json::from_slice::<Value>(body) else {
            return PayeeHints::default();
        };
        let data = event.get("data");
        // A dispute's transaction is its own object; a charge's is `data` itself.
        let transaction = data
            .and_then(|d| d.get("transaction"))
            .filter(|t| t.is_object())
            .or(data);
        let Some(transaction) = transaction else {
            return PayeeHints::default();
        };
        PayeeHints {
            subaccount: transaction.get("subaccount").and_then(code),
            split: split_codes(transaction.get("split")),
            metadata: metadata_key.and_then(|key| metadata(transaction.get("metadata"), key)),
        }
    }

    /// Every subaccount code the event names: its own first, then its split's.
    pub fn codes(&self) -> Vec<&str> {
        let mut codes: Vec<&str> = self.subaccount.iter().map(String::as_str).collect();
        for c in &self.split {
            if !codes.contains(&c.as_str()) {
                codes.push(c);
            }
        }
        codes
    }
}

/// `{"subaccount_code": "ACCT_…"}` → the code; `{}`, null or another shape → none.
fn code(v: &Value) -> Option<String> {
    v.get("subaccount_code")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_owned)
}

fn split_codes(split: Option<&Value>) -> Vec<String> {
    let Some(list) = split
        .and_then(|s| s.get("subaccounts"))
        .and_then(Value::as_array)
    else {
        return Vec::new();
    };
    let mut codes: Vec<String> = Vec::new();
    for entry in list {
        let c = entry
            .get("subaccount")
            .and_then(code)
            .or_else(|| code(entry));
        if let Some(c) = c {
            if !codes.contains(&c) {
                codes.push(c);
            }
        }
    }
    codes
}

/// The string at `key` of the metadata object, or of the object a metadata string holds.
fn metadata(meta: Option<&Value>, key: &str) -> Option<String> {
    let parsed;
    let object = match meta? {
        Value::Object(_) => meta?,
        Value::String(s) => {
            parsed = serde_json::from_str::<Value>(s).ok()?;
            &parsed
        }
        _ => return None,
    };
    object
        .get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hints(body: &str, key: Option<&str>) -> PayeeHints {
        PayeeHints::read(body.as_bytes(), key)
    }

    #[test]
    fn the_published_examples_name_no_subaccount() {
        for body in [
            &include_bytes!("../../../tests/fixtures/paystack/charge-success.json")[..],
            include_bytes!("../../../tests/fixtures/paystack/charge-success-2.json"),
            include_bytes!("../../../tests/fixtures/paystack/charge-dispute-create.json"),
            include_bytes!("../../../tests/fixtures/paystack/refund-processed.json"),
        ] {
            assert_eq!(
                PayeeHints::read(body, Some("merchant")),
                PayeeHints::default()
            );
        }
    }

    #[test]
    fn a_transactions_subaccount_and_split_are_read_in_both_shapes() {
        let h = hints(
            r#"{"event":"charge.success","data":{"reference":"r","subaccount":{"subaccount_code":"ACCT_a"},
               "split":{"split_code":"SPL_1","subaccounts":[
                 {"subaccount":{"subaccount_code":"ACCT_b"},"share":50},
                 {"subaccount_code":"ACCT_c","share":20},
                 {"subaccount_code":"ACCT_b","share":1},
                 {"share":5}, 7]}}}"#,
            None,
        );
        assert_eq!(h.subaccount.as_deref(), Some("ACCT_a"));
        assert_eq!(h.split, ["ACCT_b", "ACCT_c"]);
        assert_eq!(h.codes(), ["ACCT_a", "ACCT_b", "ACCT_c"]);
    }

    #[test]
    fn a_disputes_transaction_is_read_not_the_dispute() {
        let h = hints(
            r#"{"event":"charge.dispute.create","data":{"subaccount":{"subaccount_code":"ACCT_wrong"},
               "transaction":{"reference":"r","subaccount":{"subaccount_code":"ACCT_t"},"metadata":{"m":"shop-a"}}}}"#,
            Some("m"),
        );
        assert_eq!(h.subaccount.as_deref(), Some("ACCT_t"));
        assert_eq!(h.metadata.as_deref(), Some("shop-a"));
    }

    #[test]
    fn metadata_is_an_object_or_a_json_string_and_only_a_string_value_counts() {
        let key = Some("keffi_merchant");
        let read = |meta: &str| {
            hints(
                &format!(r#"{{"event":"charge.success","data":{{"metadata":{meta}}}}}"#),
                key,
            )
            .metadata
        };
        assert_eq!(
            read(r#"{"keffi_merchant":"shop-a"}"#).as_deref(),
            Some("shop-a")
        );
        assert_eq!(
            read(r#""{\"keffi_merchant\":\"shop-b\"}""#).as_deref(),
            Some("shop-b")
        );
        for none in [
            r#""""#,
            "0",
            "null",
            "{}",
            r#"{"keffi_merchant":7}"#,
            r#"{"keffi_merchant":" "}"#,
            r#""not json""#,
        ] {
            assert_eq!(read(none), None, "{none}");
        }
        assert_eq!(
            hints(r#"{"data":{"metadata":{"keffi_merchant":"shop-a"}}}"#, None).metadata,
            None
        );
    }

    #[test]
    fn anything_else_is_no_hint() {
        for body in [
            "",
            "[]",
            "7",
            r#"{"data":7}"#,
            r#"{"data":{"subaccount":"ACCT_x","split":[]}}"#,
        ] {
            assert_eq!(hints(body, Some("m")), PayeeHints::default(), "{body}");
        }
    }
}
