//! Capped exponential backoff with jitter, as a pure value: the delay for the n-th consecutive
//! failure is drawn from [cap/2, cap] where cap = min(max, base·2ⁿ), so retries spread out
//! (no thundering herd after an outage) but never fire immediately or wait beyond `max`.

use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    max: Duration,
    failures: u32,
}

impl Backoff {
    pub fn new(base: Duration, max: Duration) -> Self {
        Backoff {
            base,
            max,
            failures: 0,
        }
    }

    /// Records a failure and returns how long to wait; `unit` is a random number in [0, 1).
    pub fn next_delay(&mut self, unit: f64) -> Duration {
        let exp = self
            .base
            .saturating_mul(2u32.saturating_pow(self.failures.min(30)));
        let cap = exp.min(self.max);
        self.failures = self.failures.saturating_add(1);
        cap.mul_f64(0.5 + 0.5 * unit.clamp(0.0, 1.0))
    }

    pub fn reset(&mut self) {
        self.failures = 0;
    }

    pub fn failures(&self) -> u32 {
        self.failures
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn grows_then_caps_then_resets() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
        let upper: Vec<Duration> = (0..10).map(|_| b.next_delay(0.999_999)).collect();
        assert!(upper[0] <= Duration::from_millis(100));
        assert!(upper[1] > upper[0] && upper[2] > upper[1]);
        assert!(upper[9] <= Duration::from_secs(5) && upper[9] > Duration::from_millis(4900));
        b.reset();
        assert_eq!(b.failures(), 0);
        assert!(b.next_delay(0.0) == Duration::from_millis(50));
    }

    proptest! {
        #[test]
        fn delays_stay_within_half_cap_and_cap(failures in 0u32..100, unit in 0.0f64..1.0) {
            let mut b = Backoff::new(Duration::from_millis(200), Duration::from_secs(30));
            for _ in 0..failures { b.next_delay(0.5); }
            let cap = Duration::from_millis(200)
                .saturating_mul(2u32.saturating_pow(failures.min(30)))
                .min(Duration::from_secs(30));
            let d = b.next_delay(unit);
            prop_assert!(d >= cap / 2 && d <= cap);
        }
    }
}
