//! The `keffi-ledger create-order` command refuses exactly what `POST /v1/orders` refuses, with
//! the same messages (both call `NewOrder::parse`), and before it touches the database.

use std::path::Path;
use std::process::{Command, Output};

/// Runs the built `keffi-ledger create-order` against the SQLite file `db`.
fn create_order(db: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_keffi-ledger"));
    // Only the flags below decide: no setting from the caller's environment.
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("KEFFI_") {
            cmd.env_remove(name);
        }
    }
    cmd.arg("create-order")
        .arg("--database-url")
        .arg(format!("sqlite://{}", db.display()))
        .args(args)
        .env("KEFFI_LOG", "warn")
        .output()
        .expect("keffi-ledger runs")
}

/// Asserts the command failed with `message` as its one error line.
fn assert_refused(out: &Output, message: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "accepted; stderr: {stderr}");
    assert!(
        stderr.contains(&format!("keffi-ledger: error: {message}\n")),
        "expected `{message}`, got: {stderr}"
    );
    assert!(out.stdout.is_empty(), "printed an order: {out:?}");
}

#[test]
fn create_order_refuses_what_the_api_refuses_before_touching_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("ledger.db");
    let cases: [(&[&str], &str); 7] = [
        (
            &["--reference", "bad ref", "--amount", "500000"],
            "reference must be 1 to 100 of A-Z a-z 0-9 . - _ =",
        ),
        (
            &["--reference", "ord/1", "--amount", "500000"],
            "reference must be 1 to 100 of A-Z a-z 0-9 . - _ =",
        ),
        (
            &["--reference", "", "--amount", "500000"],
            "reference must be 1 to 100 of A-Z a-z 0-9 . - _ =",
        ),
        (
            &[
                "--reference",
                "ord_1",
                "--amount",
                "500000",
                "--currency",
                "EUR",
            ],
            "currency `EUR` is not one the gateway settles \
             (NGN, GHS, ZAR, KES, USD, XOF, EGP, RWF)",
        ),
        (
            &[
                "--reference",
                "ord_1",
                "--amount",
                "500000",
                "--currency",
                "NAIRA",
            ],
            "`NAIRA` is not an ISO 4217 currency code (three letters)",
        ),
        (
            &["--reference", "ord_1", "--amount=0"],
            "amount must be a whole number of minor units from 1 to 1000000000000",
        ),
        (
            &["--reference", "ord_1", "--amount=-500000"],
            "amount must be a whole number of minor units from 1 to 1000000000000",
        ),
    ];
    for (args, message) in cases {
        assert_refused(&create_order(&db, args), message);
        assert!(
            !db.exists(),
            "{args:?} was refused only after the database was created"
        );
    }
}

#[test]
fn create_order_accepts_a_valid_order() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("ledger.db");
    let out = create_order(
        &db,
        &[
            "--reference",
            "ord_1.A-b=",
            "--amount",
            "500000",
            "--currency",
            "ghs",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let order: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(order["reference"], "ord_1.A-b=");
    assert_eq!(order["amount"], 500000);
    assert_eq!(order["currency"], "GHS");
    assert_eq!(order["status"], "pending");

    // The same reference again is refused by the store, as the API's 409 is.
    let again = create_order(&db, &["--reference", "ord_1.A-b=", "--amount", "500000"]);
    assert!(!again.status.success());
}
