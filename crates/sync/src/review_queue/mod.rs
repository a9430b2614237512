//! The review queue as a reviewer works it: the pairs' evidence read generically
//! (`evidence`), pairs grouped by the Pipedrive record they propose and ranked by how much
//! deciding them settles (`rank`), and which pairs a group or score rule decides (`rules`).
//! Pure functions over the store's `ReviewItem`s; the command line and the service call them.

pub mod evidence;
pub mod rank;
pub mod rules;

pub use evidence::{Comparison, Direction, ReviewEvidence};
pub use rank::{groups, rank, RankedPair, ReviewGroup, ScoreBand};
pub use rules::{check_score, parse_score, select, HeldBack, QueueRule, RuleError, Selection};
