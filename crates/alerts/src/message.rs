//! The words of an alert: the connection, the run, the condition, the reason and what to do.
//! Pure. The reason is the run's own alert or error text, which the engine keeps free of
//! secrets; nothing from the config is written here.

use crate::condition::{Condition, RunReport};

/// One alert, as an e-mail subject and body; a webhook sends both as one text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertMessage {
    pub subject: String,
    pub body: String,
}

impl AlertMessage {
    /// The subject on the first line, the body after it: what a chat webhook shows.
    pub fn text(&self) -> String {
        format!("{}\n{}", self.subject, self.body)
    }
}

/// The alert that `condition` began with the run of `report`.
pub fn began(report: &RunReport, condition: Condition) -> AlertMessage {
    AlertMessage {
        subject: format!(
            "[ml-connector] connection {}: {}",
            report.connection,
            condition.title()
        ),
        body: format!(
            "{}: {}.\nReason: {}\n{}",
            run_named(report),
            condition.title(),
            reason(report, condition),
            what_to_do(condition)
        ),
    }
}

/// The message that `condition`, told before, ended with the run of `report`.
pub fn resolved(report: &RunReport, condition: Condition) -> AlertMessage {
    AlertMessage {
        subject: format!(
            "[ml-connector] connection {}: resolved: {}",
            report.connection,
            condition.title()
        ),
        body: format!("{}: resolved: {}.", run_named(report), condition.title()),
    }
}

/// "Connection default, run 42 (failed)".
fn run_named(report: &RunReport) -> String {
    let run = match report.run_id {
        Some(id) => format!("run {id}"),
        None => "a run without id".to_string(),
    };
    format!(
        "Connection {}, {run} ({})",
        report.connection,
        report.status.as_str()
    )
}

fn reason(report: &RunReport, condition: Condition) -> String {
    let error_first = report.error.as_deref().or(report.alert.as_deref());
    let alert_first = report.alert.as_deref().or(report.error.as_deref());
    match condition {
        Condition::RunFailed => error_first
            .unwrap_or("the run recorded no reason")
            .to_string(),
        Condition::Forbidden => alert_first
            .unwrap_or("Pipedrive answered 403 after repeated 429s")
            .to_string(),
        Condition::BudgetShareUsed => alert_first
            .unwrap_or("the connector's share of the daily token budget is used")
            .to_string(),
        Condition::FailedRunsInARow(_) => format!(
            "the last {} runs failed; the latest: {}",
            report.failed_in_a_row,
            error_first.unwrap_or("no reason recorded")
        ),
        Condition::ParkedRecords => match report.parked_records {
            1 => "1 record is parked after repeated failed writes".to_string(),
            count => format!("{count} records are parked after repeated failed writes"),
        },
    }
}

fn what_to_do(condition: Condition) -> &'static str {
    match condition {
        Condition::RunFailed | Condition::FailedRunsInARow(_) => {
            "`ml-connector runs` lists the runs; `ml-connector check` tests ECC and Pipedrive."
        }
        Condition::Forbidden => {
            "Nothing more is sent to Pipedrive on this connection; `ml-connector check` shows \
             what Pipedrive answers now."
        }
        Condition::BudgetShareUsed => {
            "The remaining writes wait for a run after the daily budget resets; \
             pipedrive.budget_share sets the share."
        }
        Condition::ParkedRecords => {
            "A parked record is written again when it changes in ECC; \
             `ml-connector audit --action error` shows why its writes failed."
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::condition::ok_report;
    use mlc_canonical::state::RunStatus;

    #[test]
    fn an_alert_names_the_connection_the_run_the_condition_and_the_reason() {
        let report = RunReport {
            run_id: Some(42),
            status: RunStatus::Failed,
            error: Some("ecc: logon refused for MLC_READER".to_string()),
            failed_in_a_row: 3,
            ..ok_report("emea")
        };
        let message = began(&report, Condition::RunFailed);
        assert_eq!(
            message.subject,
            "[ml-connector] connection emea: run failed"
        );
        let lines: Vec<&str> = message.body.lines().collect();
        assert_eq!(lines[0], "Connection emea, run 42 (failed): run failed.");
        assert_eq!(lines[1], "Reason: ecc: logon refused for MLC_READER");
        let streak = began(&report, Condition::FailedRunsInARow(3));
        assert_eq!(
            streak.subject,
            "[ml-connector] connection emea: 3 failed runs in a row"
        );
        assert!(streak
            .body
            .contains("the last 3 runs failed; the latest: ecc: logon refused"));
        assert!(streak.text().starts_with(&format!("{}\n", streak.subject)));
    }

    #[test]
    fn a_resolved_message_names_the_run_that_ended_it() {
        let report = RunReport {
            run_id: Some(43),
            ..ok_report("emea")
        };
        let message = resolved(&report, Condition::ParkedRecords);
        assert_eq!(
            message.subject,
            "[ml-connector] connection emea: resolved: records parked"
        );
        assert_eq!(
            message.body,
            "Connection emea, run 43 (ok): resolved: records parked."
        );
    }

    #[test]
    fn every_condition_has_a_reason_even_without_the_run_giving_one() {
        let report = RunReport {
            run_id: None,
            status: RunStatus::Failed,
            parked_records: 1,
            ..ok_report("c")
        };
        for condition in [
            Condition::RunFailed,
            Condition::Forbidden,
            Condition::BudgetShareUsed,
            Condition::FailedRunsInARow(3),
            Condition::ParkedRecords,
        ] {
            let message = began(&report, condition);
            assert!(
                message.body.contains("a run without id"),
                "{}",
                message.body
            );
            let reason = message.body.lines().nth(1).unwrap_or_default();
            assert!(
                reason.len() > "Reason: ".len() + 5,
                "{condition:?}: {reason}"
            );
        }
        assert!(began(&report, Condition::ParkedRecords)
            .body
            .contains("1 record is parked"));
    }
}
