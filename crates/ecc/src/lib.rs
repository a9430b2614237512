//! Reading ECC: the customer master and its contact persons, through SOAP-RFC, OData or the
//! on-premises agent, into canonical records (`mlc_canonical::Customer`).
//!
//! Where a record comes in and how it is built:
//! - `rfc`: RFC calls as data, the SOAP-RFC transport, the RFC_READ_TABLE reader (metadata,
//!   512-character field groups, key-range paging, escaped WHERE clauses) — `rfc_source` reads
//!   KNA1 pages and their dependent tables with it and handles deltas from CDHDR.
//! - `odata`: the Gateway transport with its configurable property map.
//! - `agent`: the relay inside the SAP network (`relay`) and the connector's side (`hub`).
//! - `assemble` + `quality`: canonical records from joined rows, dirty values reported per
//!   record. `delta`: the cursor in server-local time, placed on the server's clock as
//!   `server_clock` reads it from the `Date` header of its answers.
//! - `extractor`: what the rest of the connector calls.
//!
//! # The API the sync engine calls
//!
//! ```no_run
//! # async fn example(config: &mlc_config::EccConfig) -> Result<(), mlc_ecc::EccError> {
//! use futures::StreamExt;
//! let extractor = mlc_ecc::Extractor::connect(config).await?;
//! // Every customer, in batches of at most `ecc.rows_per_call` (bounded memory).
//! let mut batches = Box::pin(extractor.full());
//! while let Some(batch) = batches.next().await {
//!     let batch = batch?;
//!     for record in &batch.records { /* record.customer, record.source, record.read_at */ }
//!     for problem in &batch.rejected { /* customer_number, field, reason */ }
//!     if let Some(cursor) = batch.cursor_after { /* store cursor.encode() with the records */ }
//! }
//! // Only what changed since a stored cursor (plus the overlap window).
//! let since = mlc_ecc::DeltaCursor::decode("2026-11-26T10:00:00")?;
//! let _changes = extractor.delta(&since);
//! // By number, and the lines of `ml-connector check`.
//! let _batch = extractor.customers(&["0000100001".to_string()]).await?;
//! let _lines = extractor.check().await;
//! # Ok(()) }
//! ```
//!
//! With `transport = "agent"`, [`Extractor::connect`] listens for agents on `ecc.agent_listen`;
//! the `run` service instead mounts [`AgentHub::router`] (route `/agent/connect`) on its own
//! server and builds the extractor with [`Extractor::with_agent_hub`].

pub mod agent;
pub mod assemble;
pub mod delta;
pub mod error;
pub mod extractor;
pub mod http;
pub mod odata;
pub mod quality;
pub mod rfc;
pub mod rfc_source;
pub mod server_clock;
pub mod source;

pub use agent::hub::{AgentHub, StandaloneListener};
pub use agent::relay::{check_connection, run_agent, AgentOptions, EccAccess};
pub use assemble::DataProblem;
pub use delta::DeltaCursor;
pub use error::EccError;
pub use extractor::{check_lines, Extractor};
pub use source::{CheckLine, ExtractBatch, ExtractedCustomer};
