//! Pipedrive's OpenAPI documents as a test oracle, shared by the client's tests (is what we
//! send something Pipedrive takes?) and the simulator's tests (is what we answer something
//! Pipedrive would answer?). The documents have mistakes; every one we work around is in
//! [`KNOWN_MISTAKES`], with its reason, and nowhere else.
//!
//! The documents are read from `MLC_PIPEDRIVE_SPECS`, or `../shared/specs` beside the
//! workspace. Without them [`load`] returns `None` and the tests pass with a note, unless
//! `MLC_TEST_STRICT=1`, which turns the absence into a failure.

mod documents;
mod known_mistakes;
mod request;
mod response;

pub use documents::{load, Specs};
pub use known_mistakes::{ErrorSchema, KnownMistake, KNOWN_MISTAKES};
pub use response::SchemaValidator;
