//! Failed writes are tried again on later runs, even when ECC did not change the record, with
//! a growing pause; after `sync.max_failures` the record is parked until it changes or
//! `sync --customer K` replays it.

use chrono::{DateTime, Duration, Utc};
use mlc_canonical::state::{FailureChange, RecordState};

/// First pause after a failure; it doubles with every further failure.
pub const FIRST_RETRY: Duration = Duration::minutes(1);
/// The longest pause between two tries.
pub const LONGEST_RETRY: Duration = Duration::hours(6);

/// The pause before try number `failures + 1`.
pub fn retry_delay(failures: u32) -> Duration {
    let factor = 1i64 << failures.min(20);
    let delay = FIRST_RETRY * factor.min(i32::MAX as i64) as i32;
    delay.min(LONGEST_RETRY)
}

/// The state change of one more failed write of a record whose state is `state`.
pub fn record_failure(
    state: Option<&RecordState>,
    now: DateTime<Utc>,
    max_failures: u32,
    error: &str,
) -> FailureChange {
    let failures_before = state.map_or(0, |state| state.failures);
    FailureChange::Increment {
        retry_after: now + retry_delay(failures_before),
        park: failures_before + 1 >= max_failures,
        error: error.to_string(),
    }
}

/// Why a record is not tried in this run, or `None` when it is due.
pub fn waiting(
    state: Option<&RecordState>,
    now: DateTime<Utc>,
    replay: bool,
    changed_in_ecc: bool,
) -> Option<String> {
    let state = state?;
    if replay || changed_in_ecc || state.failures == 0 {
        return None;
    }
    if state.parked {
        return Some(format!(
            "parked after {} failed writes (last: {}); `sync --customer {}` replays it",
            state.failures,
            state.last_error.as_deref().unwrap_or("unknown error"),
            state.ecc_key
        ));
    }
    match state.retry_after {
        Some(retry_after) if retry_after > now => Some(format!(
            "failed {} time(s), next try after {}",
            state.failures,
            retry_after.to_rfc3339()
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mlc_canonical::state::EntityKind;

    use crate::testing::record_state;

    fn state(failures: u32, retry_after: Option<DateTime<Utc>>, parked: bool) -> RecordState {
        RecordState {
            customer_number: Some("0000004711".into()),
            failures,
            retry_after,
            parked,
            last_error: Some("500 from Pipedrive".into()),
            ..record_state(EntityKind::Organization, "0000004711")
        }
    }

    #[test]
    fn the_pause_doubles_and_is_capped() {
        assert_eq!(retry_delay(0), Duration::minutes(1));
        assert_eq!(retry_delay(1), Duration::minutes(2));
        assert_eq!(retry_delay(3), Duration::minutes(8));
        assert_eq!(retry_delay(30), LONGEST_RETRY);
    }

    #[test]
    fn the_last_allowed_failure_parks() {
        let now = Utc::now();
        let FailureChange::Increment {
            park, retry_after, ..
        } = record_failure(Some(&state(3, None, false)), now, 5, "x")
        else {
            panic!("an increment");
        };
        assert!(!park);
        assert_eq!(retry_after, now + Duration::minutes(8));
        assert!(matches!(
            record_failure(Some(&state(4, None, false)), now, 5, "x"),
            FailureChange::Increment { park: true, .. }
        ));
        assert!(matches!(
            record_failure(None, now, 1, "x"),
            FailureChange::Increment { park: true, .. }
        ));
    }

    #[test]
    fn waiting_records_wait_unless_replayed_or_changed() {
        let now = Utc::now();
        let later = Some(now + Duration::minutes(5));
        assert!(waiting(Some(&state(2, later, false)), now, false, false).is_some());
        assert!(waiting(Some(&state(2, later, false)), now, true, false).is_none());
        assert!(waiting(Some(&state(2, later, false)), now, false, true).is_none());
        assert!(waiting(
            Some(&state(2, Some(now - Duration::minutes(1)), false)),
            now,
            false,
            false
        )
        .is_none());
        let parked = waiting(Some(&state(5, None, true)), now, false, false).unwrap();
        assert!(parked.contains("sync --customer 0000004711"), "{parked}");
        assert!(waiting(None, now, false, false).is_none());
    }
}
