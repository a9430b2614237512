//! When a connection runs next, decided from what the store says ran last: every instance reads
//! the same runs, so several instances on one database agree on the schedule, and a restart does
//! not run everything again at once. Pure; the worker reads the store and the clock.

use chrono::{DateTime, Utc};
use mlc_config::sections::sync::Schedule;
use mlc_engine::RunMode;
use mlc_store::RunRecord;

/// The last runs that count for the schedule, read from the connection's recent runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LastRuns {
    /// The start of the newest run that read ECC (any mode but a dry run or a run webhooks asked
    /// for, which reads only the records they named), or was paused.
    pub any: Option<DateTime<Utc>>,
    /// The start of the newest full reconciliation.
    pub full: Option<DateTime<Utc>>,
}

impl LastRuns {
    /// From the connection's runs, newest first (as `StateStore::runs` returns them).
    pub fn from_runs(runs: &[RunRecord]) -> LastRuns {
        let counted = |run: &&RunRecord| run.mode != "dry-run" && run.mode != "webhook";
        LastRuns {
            any: runs.iter().find(counted).map(|run| run.started_at),
            full: runs
                .iter()
                .find(|run| run.mode == "full")
                .map(|run| run.started_at),
        }
    }
}

/// The next time `schedule` fires after a run that started at `last` (`since` when there was
/// none: a cron schedule fires at its next time after it, an interval at once).
pub fn next_after(
    schedule: &Schedule,
    last: Option<DateTime<Utc>>,
    since: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    match (schedule, last) {
        (Schedule::Every(interval), Some(last)) => {
            Some(last + chrono::Duration::from_std(*interval).ok()?)
        }
        (Schedule::Every(_), None) => Some(since),
        (Schedule::Cron(cron), last) => cron.after(&last.unwrap_or(since)).next(),
    }
}

/// What runs next for a connection and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NextRun {
    pub at: DateTime<Utc>,
    pub mode: RunMode,
}

/// The connection's next run: the full reconciliation when it falls due no later than the next
/// delta (it covers the delta's work), else the delta. `started` is when this service started
/// (the reference of a cron schedule that never ran).
pub fn next_run(
    delta: &Schedule,
    full: Option<&Schedule>,
    last: LastRuns,
    started: DateTime<Utc>,
) -> Option<NextRun> {
    let delta_at = next_after(delta, last.any, started);
    let full_at = full.and_then(|full| next_after(full, last.full, started));
    match (delta_at, full_at) {
        (Some(delta_at), Some(full_at)) if full_at <= delta_at => Some(NextRun {
            at: full_at,
            mode: RunMode::Full,
        }),
        (Some(delta_at), _) => Some(NextRun {
            at: delta_at,
            mode: RunMode::Delta,
        }),
        (None, Some(full_at)) => Some(NextRun {
            at: full_at,
            mode: RunMode::Full,
        }),
        (None, None) => None,
    }
}

/// The run that is due at `now`, if any.
pub fn due(
    delta: &Schedule,
    full: Option<&Schedule>,
    last: LastRuns,
    started: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Option<RunMode> {
    next_run(delta, full, last, started)
        .filter(|next| next.at <= now)
        .map(|next| next.mode)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn every(seconds: u64) -> Schedule {
        Schedule::Every(std::time::Duration::from_secs(seconds))
    }

    fn run(mode: &str, started: &str) -> RunRecord {
        RunRecord {
            id: 1,
            connection: "c".into(),
            instance: "box:1".into(),
            mode: mode.into(),
            started_at: at(started),
            finished_at: None,
            status: mlc_store::RunStatus::Ok,
            counts: Default::default(),
            tokens_used: 0,
            alert: None,
            error: None,
        }
    }

    #[test]
    fn an_interval_runs_at_once_the_first_time_then_after_the_last_start() {
        let started = at("2026-12-03T10:00:00Z");
        assert_eq!(
            due(&every(120), None, LastRuns::default(), started, started),
            Some(RunMode::Delta)
        );
        let last = LastRuns {
            any: Some(started),
            full: None,
        };
        let now = started + Duration::seconds(119);
        assert_eq!(due(&every(120), None, last, started, now), None);
        assert_eq!(
            due(&every(120), None, last, started, now + Duration::seconds(1)),
            Some(RunMode::Delta)
        );
    }

    #[test]
    fn the_full_reconciliation_wins_when_due_and_counts_as_a_run() {
        let nightly = Schedule::parse("0 0 2 * * *").unwrap();
        let started = at("2026-12-03T01:00:00Z");
        let last = LastRuns {
            any: Some(at("2026-12-03T01:59:00Z")),
            full: Some(at("2026-12-02T02:00:00Z")),
        };
        let now = at("2026-12-03T02:00:30Z");
        assert_eq!(
            due(&every(300), Some(&nightly), last, started, now),
            Some(RunMode::Full)
        );
        let after_full = LastRuns {
            any: Some(at("2026-12-03T02:00:31Z")),
            full: Some(at("2026-12-03T02:00:31Z")),
        };
        let next = next_run(&every(300), Some(&nightly), after_full, started).unwrap();
        assert_eq!(next.mode, RunMode::Delta);
        assert_eq!(next.at, at("2026-12-03T02:05:31Z"));
    }

    #[test]
    fn a_cron_schedule_that_never_ran_waits_for_its_next_time() {
        let nightly = Schedule::parse("0 0 2 * * *").unwrap();
        let started = at("2026-12-03T10:00:00Z");
        let next = next_run(&nightly, None, LastRuns::default(), started).unwrap();
        assert_eq!(next.at, at("2026-12-04T02:00:00Z"));
    }

    #[test]
    fn last_runs_ignore_dry_runs_and_webhook_runs_and_find_the_newest_full_one() {
        let runs = [
            run("webhook", "2026-12-03T10:06:00Z"),
            run("dry-run", "2026-12-03T10:05:00Z"),
            run("paused", "2026-12-03T10:04:00Z"),
            run("delta", "2026-12-03T10:03:00Z"),
            run("full", "2026-12-03T02:00:00Z"),
        ];
        let last = LastRuns::from_runs(&runs);
        assert_eq!(last.any, Some(at("2026-12-03T10:04:00Z")));
        assert_eq!(last.full, Some(at("2026-12-03T02:00:00Z")));
    }
}
