//! Alerts for the operator after each run of a connection, as `[alerts]` configures them.
//!
//! The decisions are pure and kept apart from the sending:
//!
//! - `condition`: which conditions a run's report shows (the run failed, Pipedrive refused the
//!   connector with its 403, the budget share is used, N runs failed in a row, records parked);
//! - `state`: per connection, which conditions began and which ended since the last run, so
//!   each is sent once when it begins and once more, as resolved, when it ends;
//! - `message`: the words of each alert, naming the connection, the run, the condition and the
//!   reason, never a secret.

mod condition;
mod message;
mod state;

pub use condition::{conditions, Condition, RunReport};
pub use message::{began, resolved, AlertMessage};
pub use state::{AlertState, Changes};
