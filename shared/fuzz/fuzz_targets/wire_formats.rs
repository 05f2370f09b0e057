//! The edge↔ledger formats on arbitrary input: envelopes, pull queries, acks. Never panics; a
//! parsed envelope serialises back to something that parses to the same envelope.
#![no_main]

use keffi_shared::wire::{AckRequest, PullQuery};
use keffi_shared::Envelope;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(e) = Envelope::from_json(&text) {
        assert_eq!(Envelope::from_json(&e.to_json()).ok(), Some(e));
    }
    if let Ok(q) = PullQuery::from_query(&text) {
        assert_eq!(PullQuery::from_query(&q.to_query()), Ok(q));
    }
    let _ = serde_json::from_slice::<AckRequest>(data);
});
