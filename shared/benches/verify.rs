//! Native cost of verifying each signature scheme and of deriving the idempotency key, for 1 KB,
//! 4 KB and 64 KB bodies: `cargo bench -p keffi-shared --bench verify`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use keffi_shared::headers::RequestHeaders;
use keffi_shared::scheme::{paystack, standard_webhooks, stripe};
use keffi_shared::{derive_event, Provider, SignatureScheme, Verifier};

const NOW: i64 = 1_700_000_000;
const SVIX: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// A Paystack-shaped JSON body of about `size` bytes.
fn body(size: usize) -> Vec<u8> {
    let head = r#"{"event":"charge.success","data":{"id":4099260516,"reference":"ord_1","amount":500000,"currency":"NGN","pad":""#;
    let mut b = head.as_bytes().to_vec();
    b.resize(size.saturating_sub(3), b'x');
    b.extend_from_slice(b"\"}}");
    b
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("verify");
    for size in [1024usize, 4096, 65536] {
        let b = body(size);
        group.throughput(Throughput::Bytes(size as u64));
        let cases: Vec<(&str, Verifier, RequestHeaders)> = vec![
            (
                "paystack",
                Verifier::new(Provider::Paystack, &["sk_test_bench"], 300).unwrap(),
                RequestHeaders::new()
                    .with("x-paystack-signature", paystack::sign(b"sk_test_bench", &b)),
            ),
            (
                "flutterwave",
                Verifier::new(Provider::Flutterwave, &["hash_bench"], 300).unwrap(),
                RequestHeaders::new().with("verif-hash", "hash_bench"),
            ),
            (
                "stripe",
                Verifier::new(Provider::Stripe, &["whsec_bench"], 300).unwrap(),
                RequestHeaders::new()
                    .with("stripe-signature", stripe::sign(b"whsec_bench", NOW, &b)),
            ),
            {
                let key = standard_webhooks::parse_secret(SVIX).unwrap();
                (
                    "standard-webhooks",
                    Verifier::new(Provider::StandardWebhooks, &[SVIX], 300).unwrap(),
                    RequestHeaders::new()
                        .with("webhook-id", "msg_1")
                        .with("webhook-timestamp", NOW.to_string())
                        .with(
                            "webhook-signature",
                            standard_webhooks::sign(key.expose(), "msg_1", NOW, &b),
                        ),
                )
            },
        ];
        for (name, verifier, headers) in &cases {
            assert!(verifier.verify(headers, &b, NOW).is_ok());
            group.bench_with_input(BenchmarkId::new(*name, size), &b, |bench, b| {
                bench.iter(|| verifier.verify(headers, b, NOW).unwrap())
            });
        }
        let empty = RequestHeaders::new();
        group.bench_with_input(
            BenchmarkId::new("derive-key-paystack", size),
            &b,
            |bench, b| bench.iter(|| derive_event(Provider::Paystack, &empty, b).unwrap()),
        );
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
