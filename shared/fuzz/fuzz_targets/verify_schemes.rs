//! Every scheme's header parsing and verification, on arbitrary header values and bodies:
//! never panics, and never accepts what was not signed with the configured secret.
#![no_main]

use keffi_shared::headers::RequestHeaders;
use keffi_shared::{Provider, SignatureScheme, Verifier};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Layout: [provider][len a][a][len b][b][len c][c][body…]; header values from a, b, c.
    let Some((&p, rest)) = data.split_first() else { return };
    let provider = Provider::ALL[usize::from(p) % 4];
    let (a, rest) = take(rest);
    let (b, rest) = take(rest);
    let (c, body) = take(rest);
    let text = |v: &[u8]| String::from_utf8_lossy(v).into_owned();
    let headers = RequestHeaders::new()
        .with("x-paystack-signature", text(a))
        .with("verif-hash", text(a))
        .with("stripe-signature", text(a))
        .with("webhook-signature", text(a))
        .with("webhook-id", text(b))
        .with("webhook-timestamp", text(c));
    let secret = match provider {
        Provider::StandardWebhooks => "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        _ => "fuzz-secret-that-no-input-knows",
    };
    let verifier = Verifier::new(provider, &[secret], 300).expect("valid secret");
    let verdict = verifier.verify(&headers, body, 1_700_000_000);
    // Flutterwave's hash is the secret itself; nothing else can pass without the key.
    if verdict.is_ok() && provider != Provider::Flutterwave {
        panic!("accepted an unsigned delivery for {provider}");
    }
});

fn take(data: &[u8]) -> (&[u8], &[u8]) {
    match data.split_first() {
        Some((&n, rest)) => rest.split_at(usize::from(n).min(rest.len())),
        None => (&[], &[]),
    }
}
