//! What a finished run tells the operator about: the conditions its report shows. Pure.

use std::collections::BTreeSet;

use mlc_canonical::state::RunStatus;

/// What the service knows about a run when it ends, and about its connection then.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunReport {
    pub connection: String,
    /// `None` for a run that failed before the store gave it an id.
    pub run_id: Option<i64>,
    pub status: RunStatus,
    /// The run's alert for the operator (Pipedrive's 403, the budget share used).
    pub alert: Option<String>,
    pub error: Option<String>,
    /// Pipedrive answered 403 after repeated 429s and the connector stopped sending.
    pub forbidden: bool,
    /// The run ended deferred because the connector's share of the daily budget is used.
    pub budget_deferred: bool,
    /// Runs of this connection that failed in a row, this one included (0 when it did not fail).
    pub failed_in_a_row: u32,
    /// Records of this connection parked after repeated failed writes, now.
    pub parked_records: u64,
}

/// One thing worth an alert. A condition stays the same value while it lasts, so it is sent
/// once when it begins and once when it ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Condition {
    RunFailed,
    /// Pipedrive's 403: the connector is blocked.
    Forbidden,
    BudgetShareUsed,
    /// At least this many runs failed in a row: the configured threshold, not the count, so a
    /// fourth and fifth failure do not alert again.
    FailedRunsInARow(u32),
    ParkedRecords,
}

impl Condition {
    /// The condition in a few words, for subjects and logs.
    pub fn title(self) -> String {
        match self {
            Condition::RunFailed => "run failed".to_string(),
            Condition::Forbidden => "Pipedrive refused the connector (HTTP 403)".to_string(),
            Condition::BudgetShareUsed => "budget share used".to_string(),
            Condition::FailedRunsInARow(threshold) => format!("{threshold} failed runs in a row"),
            Condition::ParkedRecords => "records parked".to_string(),
        }
    }
}

/// The conditions `report` shows; `threshold` is `alerts.failed_runs_in_a_row` (at least 1).
pub fn conditions(report: &RunReport, threshold: u32) -> BTreeSet<Condition> {
    debug_assert!(threshold >= 1, "the config refuses a threshold of 0");
    let threshold = threshold.max(1);
    let mut active = BTreeSet::new();
    if report.status == RunStatus::Failed {
        active.insert(Condition::RunFailed);
    }
    if report.forbidden {
        active.insert(Condition::Forbidden);
    }
    if report.budget_deferred {
        active.insert(Condition::BudgetShareUsed);
    }
    if report.failed_in_a_row >= threshold {
        active.insert(Condition::FailedRunsInARow(threshold));
    }
    if report.parked_records > 0 {
        active.insert(Condition::ParkedRecords);
    }
    active
}

#[cfg(test)]
pub(crate) fn ok_report(connection: &str) -> RunReport {
    RunReport {
        connection: connection.to_string(),
        run_id: Some(1),
        status: RunStatus::Ok,
        alert: None,
        error: None,
        forbidden: false,
        budget_deferred: false,
        failed_in_a_row: 0,
        parked_records: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ok_run_shows_nothing() {
        assert!(conditions(&ok_report("c"), 3).is_empty());
        let partial = RunReport {
            status: RunStatus::Partial,
            ..ok_report("c")
        };
        assert!(conditions(&partial, 3).is_empty());
    }

    #[test]
    fn a_failed_run_shows_run_failed_and_the_streak_only_from_the_threshold_on() {
        let failed = |in_a_row| RunReport {
            status: RunStatus::Failed,
            error: Some("ecc: logon refused".to_string()),
            failed_in_a_row: in_a_row,
            ..ok_report("c")
        };
        assert_eq!(
            conditions(&failed(2), 3),
            BTreeSet::from([Condition::RunFailed])
        );
        for in_a_row in [3, 4, 50] {
            assert_eq!(
                conditions(&failed(in_a_row), 3),
                BTreeSet::from([Condition::RunFailed, Condition::FailedRunsInARow(3)]),
                "{in_a_row} in a row"
            );
        }
        assert!(conditions(&failed(1), 1).contains(&Condition::FailedRunsInARow(1)));
    }

    #[test]
    fn a_403_a_used_budget_and_parked_records_show_as_themselves() {
        let forbidden = RunReport {
            status: RunStatus::Failed,
            forbidden: true,
            failed_in_a_row: 1,
            ..ok_report("c")
        };
        assert_eq!(
            conditions(&forbidden, 3),
            BTreeSet::from([Condition::RunFailed, Condition::Forbidden])
        );
        let deferred = RunReport {
            status: RunStatus::Deferred,
            budget_deferred: true,
            parked_records: 2,
            ..ok_report("c")
        };
        assert_eq!(
            conditions(&deferred, 3),
            BTreeSet::from([Condition::BudgetShareUsed, Condition::ParkedRecords])
        );
    }
}
