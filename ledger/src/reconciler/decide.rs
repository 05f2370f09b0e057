//! What one gateway answer means for a pending payment. Pure.

use std::time::Duration;

use super::verify::Verified;

/// What the reconciler does with an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Record and apply the gateway's answer as a fact (`event_type` names it in the inbox).
    Apply { event_type: &'static str },
    /// Not final yet: ask again after `after`.
    Later { after: Duration },
}

/// The outcome names used in summaries and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Paid,
    Failed,
    Abandoned,
    StillPending,
    NotFound,
    GaveUp,
    /// A platform account's transaction of this reference is another merchant's (or no one
    /// it can be told for): not applied; asked again later.
    Elsewhere,
    Error,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Paid => "paid",
            Outcome::Failed => "failed",
            Outcome::Abandoned => "abandoned",
            Outcome::StillPending => "still_pending",
            Outcome::NotFound => "not_found",
            Outcome::GaveUp => "gave_up",
            Outcome::Elsewhere => "elsewhere",
            Outcome::Error => "error",
        }
    }
}

/// Backoff between checks of one payment: doubles per attempt from 1 minute, capped at 6 hours.
pub fn recheck_after(attempts: i64) -> Duration {
    let minutes = 1u64 << attempts.clamp(0, 9);
    Duration::from_secs((minutes * 60).min(6 * 3600))
}

/// Decides for a payment `age` old that has been checked `attempts` times before.
pub fn decide(
    answer: &Verified,
    age: Duration,
    give_up_after: Duration,
    attempts: i64,
) -> (Action, Outcome) {
    let later = Action::Later {
        after: recheck_after(attempts),
    };
    match answer {
        Verified::Found { charge, .. } => match charge.status.as_str() {
            "success" => (
                Action::Apply {
                    event_type: "verify.success",
                },
                Outcome::Paid,
            ),
            "failed" | "reversed" => (
                Action::Apply {
                    event_type: "verify.failed",
                },
                Outcome::Failed,
            ),
            "abandoned" => (
                Action::Apply {
                    event_type: "verify.abandoned",
                },
                Outcome::Abandoned,
            ),
            // ongoing, pending, processing, queued: the customer may still be paying.
            _ => (later, Outcome::StillPending),
        },
        // Only Paystack's documented not-found is `NotFound` (`verify::classify`); a refused
        // request (a bad key) stops the pass instead, so a key problem never abandons an order.
        Verified::NotFound { .. } if age >= give_up_after => (
            Action::Apply {
                event_type: "verify.gave_up",
            },
            Outcome::GaveUp,
        ),
        Verified::NotFound { .. } => (later, Outcome::NotFound),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keffi_shared::payload::paystack::Charge;

    fn found(status: &str) -> Verified {
        let charge: Charge = serde_json::from_value(serde_json::json!({
            "id": 1, "reference": "r", "amount": 100, "currency": "NGN", "status": status
        }))
        .unwrap();
        Verified::Found {
            charge: Box::new(charge),
            raw: vec![],
        }
    }

    const DAY: Duration = Duration::from_secs(86_400);

    #[test]
    fn every_answer_has_its_action() {
        let d = |v: &Verified, age| decide(v, age, DAY, 0).1;
        assert_eq!(d(&found("success"), DAY), Outcome::Paid);
        assert_eq!(d(&found("failed"), DAY), Outcome::Failed);
        assert_eq!(d(&found("reversed"), DAY), Outcome::Failed);
        assert_eq!(d(&found("abandoned"), DAY), Outcome::Abandoned);
        for s in ["ongoing", "pending", "processing", "queued"] {
            assert_eq!(d(&found(s), DAY * 9), Outcome::StillPending);
        }
        let nf = Verified::NotFound { raw: vec![] };
        assert_eq!(d(&nf, DAY / 2), Outcome::NotFound);
        assert_eq!(d(&nf, DAY), Outcome::GaveUp);
    }

    #[test]
    fn rechecks_back_off_and_cap() {
        assert_eq!(recheck_after(0), Duration::from_secs(60));
        assert_eq!(recheck_after(1), Duration::from_secs(120));
        assert_eq!(recheck_after(50), Duration::from_secs(6 * 3600));
        assert!(recheck_after(5) > recheck_after(4));
    }
}
