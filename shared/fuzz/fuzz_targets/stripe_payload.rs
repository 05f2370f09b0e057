//! Stripe payload parsing on arbitrary bytes: never panics; every parsed amount is a
//! non-negative number of minor units.
#![no_main]

use keffi_shared::payload::stripe::StripeEvent;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(
        StripeEvent::PaymentSucceeded(p) | StripeEvent::PaymentFailed(p) | StripeEvent::PaymentCanceled(p),
    ) =
        StripeEvent::parse(data)
    {
        assert!(p.amount.0 >= 0 && p.amount_received.0 >= 0);
    }
});
