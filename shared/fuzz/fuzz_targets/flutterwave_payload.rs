//! Flutterwave payload parsing on arbitrary bytes: never panics; every parsed amount is an
//! exact, non-negative number of minor units.
#![no_main]

use keffi_shared::payload::flutterwave::FlutterwaveEvent;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(FlutterwaveEvent::ChargeCompleted(c)) = FlutterwaveEvent::parse(data) {
        assert!(c.amount.0 >= 0 && c.charged_amount.0 >= 0 && c.app_fee.0 >= 0);
    }
});
