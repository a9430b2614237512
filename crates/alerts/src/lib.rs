//! Alerts for the operator after each run of a connection, as `[alerts]` configures them.
//!
//! The decisions are pure and kept apart from the sending:
//!
//! - `condition`: which conditions a run's report shows (the run failed, Pipedrive refused the
//!   connector with its 403, the budget share is used, N runs failed in a row, records parked);
//! - `state`: per connection, which conditions began and which ended since the last run, so
//!   each is sent once when it begins and once more, as resolved, when it ends;
//! - `message`: the words of each alert, naming the connection, the run, the condition and the
//!   reason, never a secret;
//! - `alerter` and `channel`: the I/O. [`Alerter::after_run`] sends every change to every
//!   channel (a Slack or Teams incoming webhook, e-mail through SMTP) at once, each send bounded
//!   by a timeout (10 s); a failed send is logged and never fails the run.
//!
//! ```no_run
//! # async fn example(config: mlc_config::Config) -> Result<(), mlc_alerts::AlertError> {
//! use mlc_alerts::{Alerter, RunReport};
//! use mlc_canonical::state::RunStatus;
//!
//! let alerter = Alerter::from_config(&config.alerts)?; // None: no channel configured
//! if let Some(alerter) = &alerter {
//!     let report = RunReport {
//!         connection: "default".to_string(),
//!         run_id: Some(42),
//!         status: RunStatus::Failed,
//!         alert: None,
//!         error: Some("ecc: logon refused".to_string()),
//!         forbidden: false,
//!         budget_deferred: false,
//!         failed_in_a_row: 1,
//!         parked_records: 0,
//!     };
//!     alerter.after_run(&report).await;
//! }
//! # Ok(())
//! # }
//! ```
//!
//! What was sent lives in memory: after a restart, a condition still present is sent once more.

mod alerter;
mod channel;
mod condition;
mod error;
mod message;
mod state;

pub use alerter::Alerter;
pub use condition::{conditions, Condition, RunReport};
pub use error::AlertError;
pub use message::{began, resolved, AlertMessage};
pub use state::{AlertState, Changes};
