//! The routes and their handlers, one module per resource: organizations and persons (with
//! their list pages and search), fields v2 and v1, merge, users/me, webhooks; the answers'
//! envelopes and errors in `responses`. OAuth and the `/_sim` admin endpoints are routed here
//! and handled in their own crate-level modules.

mod fields_v1;
mod fields_v2;
mod merge;
mod organizations_persons;
mod paging;
mod responses;
mod router;
mod search;
mod users;
mod webhooks;

pub use router::router;
