//! The freshness check shared by the timestamped schemes.

use super::VerifyError;

/// Refuses a signed timestamp more than `tolerance` seconds before or after `now`. Both
/// directions are checked: a future-dated signature would otherwise stretch the replay window.
pub(crate) fn check(signed_at: i64, now: i64, tolerance: u64) -> Result<(), VerifyError> {
    let skew = now.saturating_sub(signed_at);
    if skew.unsigned_abs() > tolerance {
        return Err(VerifyError::TimestampOutsideTolerance {
            skew_seconds: skew,
            tolerance_seconds: tolerance,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tolerance_is_inclusive_and_symmetric() {
        assert!(check(1000, 1300, 300).is_ok());
        assert!(check(1300, 1000, 300).is_ok());
        assert!(check(1000, 1301, 300).is_err());
        assert!(check(1301, 1000, 300).is_err());
        assert!(check(i64::MIN, i64::MAX, 300).is_err());
    }
}
