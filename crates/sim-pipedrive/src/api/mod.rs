//! The routes and their handlers, one module per resource: organizations and persons (with
//! their list pages and search), fields v2 and v1, merge, users/me, webhooks; the answers'
//! envelopes and errors in `responses`; OAuth's endpoints. The `/_sim` admin endpoints are
//! routed here and handled in `crate::admin`.

mod fields_v1;
mod fields_v2;
mod merge;
mod oauth;
mod organizations_persons;
mod paging;
mod responses;
mod router;
mod search;
mod users;
mod webhooks;

pub use router::router;
