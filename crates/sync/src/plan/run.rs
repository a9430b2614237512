//! The decisions about a run as a whole, as opposed to one record's: which customers are read
//! again although ECC did not change them, when the remaining writes are held back, and how the
//! run ends. Pure: the executor reads the store and the clock, asks here, and acts.

use std::collections::{BTreeSet, HashMap, HashSet};

use chrono::{DateTime, Utc};
use mlc_canonical::state::{
    Action, ActionCounts, EntityKind, Link, RecordState, ReviewItem, ReviewStatus, RunStatus,
};

/// Why the rest of a run's writes are not sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunStop {
    /// The budget share is used (or Pipedrive keeps answering 429): what is left is deferred
    /// to a later run.
    Deferred(String),
    /// Pipedrive refused the connection (403, credentials): the run failed.
    Failed(String),
    /// The process is shutting down: writes in flight finish, nothing new is sent, and the
    /// next run picks up the rest.
    Interrupted(String),
}

impl RunStop {
    pub fn reason(&self) -> &str {
        match self {
            RunStop::Deferred(reason) | RunStop::Failed(reason) | RunStop::Interrupted(reason) => {
                reason
            }
        }
    }
}

/// How long a connection rests after Pipedrive's 403 (Cloudflare blocks a token that kept
/// sending after 429s; Pipedrive documents no duration, so an hour is a cautious guess).
pub const FORBIDDEN_PAUSE: chrono::Duration = chrono::Duration::hours(1);

/// A time before which no run of the connection calls Pipedrive again, kept in the store so a
/// restarted or cron-started process honours it too.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Pause {
    pub until: DateTime<Utc>,
    pub reason: String,
}

/// The pause a run's end calls for: after the 403 stop, `FORBIDDEN_PAUSE`; while the budget
/// share is used up (the governor knows until when), until then. `None` otherwise: a run
/// deferred by 429s of the burst window is not paused, the next one may go at once.
pub fn pause_after_run(
    forbidden: Option<&str>,
    budget_deferred_until: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Option<Pause> {
    if let Some(detail) = forbidden {
        return Some(Pause {
            until: now + FORBIDDEN_PAUSE,
            reason: format!("pipedrive answered 403 ({detail}); no call before the pause ends"),
        });
    }
    budget_deferred_until
        .filter(|until| *until > now)
        .map(|until| Pause {
            until,
            reason: "the daily budget share is used; the rest waits until it resets".to_string(),
        })
}

/// Whether an entry is held back because the run stopped: only writes are; entries that call
/// nothing are still recorded as planned.
pub fn held_back(stop: Option<&RunStop>, writes_to_pipedrive: bool) -> bool {
    stop.is_some() && writes_to_pipedrive
}

/// How a run ends: its status, the alert and error it reports, and whether the delta cursor
/// may move past the records it read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunEnding {
    pub status: RunStatus,
    pub alert: Option<String>,
    pub error: Option<String>,
    /// The cursor covers every record read; it moves only when none was left unsent.
    pub advance_cursor: bool,
}

/// The ending of a run that carried its plan out (or stopped part way) with these counts.
pub fn run_ending(stop: Option<&RunStop>, counts: &ActionCounts) -> RunEnding {
    match stop {
        Some(RunStop::Deferred(reason)) => RunEnding {
            status: RunStatus::Deferred,
            alert: Some(reason.clone()),
            error: None,
            advance_cursor: false,
        },
        Some(RunStop::Failed(reason)) => RunEnding {
            status: RunStatus::Failed,
            alert: Some(reason.clone()),
            error: Some(reason.clone()),
            advance_cursor: false,
        },
        Some(RunStop::Interrupted(reason)) => RunEnding {
            status: RunStatus::Interrupted,
            alert: None,
            error: Some(reason.clone()),
            advance_cursor: false,
        },
        None => {
            let errors = counts.get(&Action::Error).copied().unwrap_or(0);
            RunEnding {
                status: if errors > 0 {
                    RunStatus::Partial
                } else {
                    RunStatus::Ok
                },
                alert: None,
                error: None,
                advance_cursor: true,
            }
        }
    }
}

/// What the store knows that decides which customers a delta run reads again.
pub struct StoredRecords<'a> {
    pub states: &'a [RecordState],
    pub links: &'a [Link],
    pub reviews: &'a [ReviewItem],
}

/// The customers (internal form, sorted, once each) a delta run reads again although ECC did
/// not report them changed, leaving out those it read already:
///
/// - a record whose last write failed, once its backoff is over and unless it is parked; a
///   person through the customer its state keeps;
/// - a record whose review was decided (accepted or rejected) and that is not linked yet, so
///   the decision is carried out; one failing since is left to its backoff and parking.
pub fn customers_due_again(
    stored: &StoredRecords<'_>,
    already_read: &HashSet<String>,
    now: DateTime<Utc>,
) -> Vec<String> {
    let states: HashMap<(EntityKind, &str), &RecordState> = stored
        .states
        .iter()
        .map(|state| ((state.kind, state.ecc_key.as_str()), state))
        .collect();
    let linked: HashSet<(EntityKind, &str)> = stored
        .links
        .iter()
        .map(|link| (link.kind, link.ecc_key.as_str()))
        .collect();

    let retries = stored
        .states
        .iter()
        .filter(|state| is_due_for_retry(state, now))
        .filter_map(customer_of);
    let decisions = stored
        .reviews
        .iter()
        .filter(|review| review.status != ReviewStatus::Pending)
        .filter(|review| !linked.contains(&(review.kind, review.ecc_key.as_str())))
        .filter_map(|review| {
            let state = states.get(&(review.kind, review.ecc_key.as_str()));
            if state.is_some_and(|state| state.failures > 0) {
                return None;
            }
            match review.kind {
                EntityKind::Organization => Some(review.ecc_key.as_str()),
                EntityKind::Person => state.and_then(|state| customer_of(state)),
            }
        });
    retries
        .chain(decisions)
        .filter(|customer| !already_read.contains(*customer))
        .map(str::to_string)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// A failed record is tried again once its backoff is over, unless it is parked.
fn is_due_for_retry(state: &RecordState, now: DateTime<Utc>) -> bool {
    state.failures > 0 && !state.parked && state.retry_after.is_none_or(|after| after <= now)
}

/// The customer a record belongs to: an organization is its own.
fn customer_of(state: &RecordState) -> Option<&str> {
    match state.kind {
        EntityKind::Organization => Some(state.ecc_key.as_str()),
        EntityKind::Person => state.customer_number.as_deref(),
    }
}

#[cfg(test)]
mod tests {
    use chrono::Duration;
    use serde_json::Value;

    use super::*;
    use crate::testing::record_state;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-03-02T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    fn state(kind: EntityKind, key: &str, customer: &str) -> RecordState {
        RecordState {
            customer_number: Some(customer.into()),
            ..record_state(kind, key)
        }
    }

    fn failed(mut state: RecordState, retry_after: DateTime<Utc>, parked: bool) -> RecordState {
        state.failures = 1;
        state.retry_after = Some(retry_after);
        state.parked = parked;
        state
    }

    fn review(kind: EntityKind, key: &str, status: ReviewStatus) -> ReviewItem {
        ReviewItem {
            id: 1,
            connection: "default".into(),
            kind,
            ecc_key: key.into(),
            pipedrive_id: 77,
            score: 0.8,
            evidence: Value::Null,
            status,
            created_at: now(),
            decided_at: None,
        }
    }

    fn due(states: &[RecordState], links: &[Link], reviews: &[ReviewItem]) -> Vec<String> {
        customers_due_again(
            &StoredRecords {
                states,
                links,
                reviews,
            },
            &HashSet::new(),
            now(),
        )
    }

    #[test]
    fn an_interrupted_run_keeps_its_cursor_and_says_why() {
        let stop = RunStop::Interrupted("shutting down".into());
        let ending = run_ending(Some(&stop), &ActionCounts::new());
        assert_eq!(ending.status, RunStatus::Interrupted);
        assert!(!ending.advance_cursor);
        assert_eq!(ending.error.as_deref(), Some("shutting down"));
        assert!(held_back(Some(&stop), true));
        assert!(!held_back(Some(&stop), false));
    }

    #[test]
    fn a_403_pauses_an_hour_and_a_used_budget_until_it_resets() {
        let reset = now() + Duration::hours(5);
        let forbidden = pause_after_run(Some("blocked"), Some(reset), now()).unwrap();
        assert_eq!(forbidden.until, now() + FORBIDDEN_PAUSE);
        assert!(forbidden.reason.contains("403 (blocked)"));
        let deferred = pause_after_run(None, Some(reset), now()).unwrap();
        assert_eq!(deferred.until, reset);
        assert_eq!(
            pause_after_run(None, None, now()),
            None,
            "burst 429s pause nothing"
        );
        assert_eq!(
            pause_after_run(None, Some(now() - Duration::minutes(1)), now()),
            None,
            "a reset in the past pauses nothing"
        );
    }

    #[test]
    fn a_failed_record_is_read_again_once_its_backoff_is_over_unless_parked() {
        let organization = state(EntityKind::Organization, "0000001000", "0000001000");
        let earlier = now() - Duration::minutes(1);
        let later = now() + Duration::minutes(1);
        assert_eq!(
            due(&[failed(organization.clone(), earlier, false)], &[], &[]),
            vec!["0000001000"]
        );
        assert!(due(&[failed(organization.clone(), later, false)], &[], &[]).is_empty());
        assert!(due(&[failed(organization.clone(), earlier, true)], &[], &[]).is_empty());
        assert!(due(&[organization], &[], &[]).is_empty(), "not failing");
    }

    #[test]
    fn a_failed_person_is_retried_through_the_customer_its_state_keeps() {
        let person = state(EntityKind::Person, "0000000042", "0000002000");
        let earlier = now() - Duration::minutes(1);
        assert_eq!(
            due(&[failed(person.clone(), earlier, false)], &[], &[]),
            vec!["0000002000"]
        );
        let mut unknown_customer = failed(person, earlier, false);
        unknown_customer.customer_number = None;
        assert!(due(&[unknown_customer], &[], &[]).is_empty());
    }

    #[test]
    fn a_decided_review_is_carried_out_once_for_organizations_and_persons() {
        let accepted = review(
            EntityKind::Organization,
            "0000001000",
            ReviewStatus::Accepted,
        );
        let rejected_person = review(EntityKind::Person, "0000000042", ReviewStatus::Rejected);
        let person = state(EntityKind::Person, "0000000042", "0000002000");
        assert_eq!(
            due(
                std::slice::from_ref(&person),
                &[],
                &[accepted.clone(), rejected_person.clone()]
            ),
            vec!["0000001000", "0000002000"]
        );
        let pending = review(
            EntityKind::Organization,
            "0000001000",
            ReviewStatus::Pending,
        );
        assert!(due(&[], &[], &[pending]).is_empty(), "pending waits");

        let carried_out = Link {
            connection: "default".into(),
            kind: EntityKind::Organization,
            ecc_key: "0000001000".into(),
            pipedrive_id: 77,
            linked_at: now(),
        };
        assert!(due(&[], &[carried_out], std::slice::from_ref(&accepted)).is_empty());

        let failing = failed(
            state(EntityKind::Organization, "0000001000", "0000001000"),
            now() + Duration::minutes(5),
            false,
        );
        assert!(
            due(&[failing], &[], &[accepted]).is_empty(),
            "a decision failing since is left to its backoff"
        );
    }

    #[test]
    fn customers_read_already_are_not_read_twice() {
        let organization = failed(
            state(EntityKind::Organization, "0000001000", "0000001000"),
            now(),
            false,
        );
        let person = failed(
            state(EntityKind::Person, "0000000042", "0000001000"),
            now(),
            false,
        );
        let stored = StoredRecords {
            states: &[organization.clone(), person],
            links: &[],
            reviews: &[],
        };
        assert_eq!(
            customers_due_again(&stored, &HashSet::new(), now()),
            vec!["0000001000"],
            "once, though two records of it failed"
        );
        let read: HashSet<String> = ["0000001000".to_string()].into();
        assert!(customers_due_again(&stored, &read, now()).is_empty());
    }

    #[test]
    fn a_run_ends_by_its_stop_or_else_by_its_errors() {
        let mut counts = ActionCounts::new();
        counts.insert(Action::Create, 3);
        let clean = run_ending(None, &counts);
        assert_eq!((clean.status, clean.advance_cursor), (RunStatus::Ok, true));

        counts.insert(Action::Error, 1);
        let partial = run_ending(None, &counts);
        assert_eq!(
            (partial.status, partial.advance_cursor, partial.error),
            (RunStatus::Partial, true, None)
        );

        let budget = RunStop::Deferred("budget share used".into());
        let deferred = run_ending(Some(&budget), &counts);
        assert_eq!(deferred.status, RunStatus::Deferred);
        assert_eq!(deferred.alert.as_deref(), Some("budget share used"));
        assert!(deferred.error.is_none());
        assert!(!deferred.advance_cursor, "deferred records are read again");

        let refused = RunStop::Failed("403 forbidden".into());
        let failed = run_ending(Some(&refused), &ActionCounts::new());
        assert_eq!(failed.status, RunStatus::Failed);
        assert_eq!(failed.error.as_deref(), Some("403 forbidden"));
        assert!(!failed.advance_cursor);
    }

    #[test]
    fn a_stopped_run_holds_back_writes_only() {
        let stop = RunStop::Deferred("budget share used".into());
        assert!(held_back(Some(&stop), true));
        assert!(!held_back(Some(&stop), false));
        assert!(!held_back(None, true));
    }
}
