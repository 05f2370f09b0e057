//! Idempotency-key derivation on arbitrary bodies: never panics, and every key it derives is a
//! valid key (printable ASCII, bounded length) that round-trips.
#![no_main]

use keffi_shared::headers::RequestHeaders;
use keffi_shared::{derive_event, IdempotencyKey, Provider};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&p, body)) = data.split_first() else { return };
    let provider = Provider::ALL[usize::from(p) % 4];
    let id = String::from_utf8_lossy(&body[..body.len().min(40)]).into_owned();
    let headers = RequestHeaders::new().with("webhook-id", id);
    if let Ok(derived) = derive_event(provider, &headers, body) {
        let key = derived.key.as_str();
        assert!(key.len() <= 256 && key.bytes().all(|b| b.is_ascii_graphic()), "{key:?}");
        assert_eq!(IdempotencyKey::parse(key).as_ref(), Ok(&derived.key));
        // Deriving again from the same bytes gives the same key.
        assert_eq!(derive_event(provider, &headers, body).map(|d| d.key), Ok(derived.key));
    }
});
