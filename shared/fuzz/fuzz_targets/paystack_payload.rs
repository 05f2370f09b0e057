//! Paystack payload parsing (webhooks and Verify answers) on arbitrary bytes: never panics;
//! every parsed amount is an integer.
#![no_main]

use keffi_shared::payload::paystack::{PaystackEvent, VerifyResponse};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(event) = PaystackEvent::parse(data) {
        let _ = event.reference();
    }
    let _ = serde_json::from_slice::<VerifyResponse>(data);
});
