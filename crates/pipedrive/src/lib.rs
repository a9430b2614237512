//! Writing Pipedrive: a typed client for API v2 (and the v1 endpoints v2 lacks), with the
//! manners a shared company account needs.
//!
//! - [`PipedriveClient`]: `connect` (API token in `x-api-token`, or OAuth tokens from the [`SecretVault`];
//!   requests go to `api_domain`; `/v1/users/me` names the user and company), organizations and
//!   persons (list with cursor and `updated_since`, get, create, patch, delete, search, merge),
//!   fields, webhooks. Each operation is written once for any [`Entity`] (`get`, `create`,
//!   `update`, `delete`, `merge`, `list_page`, `search`, `create_idempotent`), with by-name
//!   wrappers (`create_organization_idempotent`, `get_person`, ...). `create_idempotent` never
//!   creates twice: a lost answer is checked by the external-id custom field before another try.
//! - [`Governor`]: one per company (its domain) and ledger in the process, shared by every
//!   client. Paces to the rolling 2-second burst limit of plan and auth type (search in its own
//!   lane of 10), follows the server's `x-ratelimit-*` headers (a different limit; room for
//!   other clients on the same token), charges each call its `x-token-cost` ([`token_cost`])
//!   against the day's budget share through the [`TokenLedger`] (midnight of
//!   `budget_timezone` resets it), answers [`PipedriveError::BudgetShareUsed`] (the run ends
//!   "deferred") instead of crossing it, waits out a burst 429 for the whole lane (capped at
//!   300 s, at most 3 per call), holds every call after a daily-budget 429, and stops on
//!   Cloudflare's 403 with an alert. `governor().snapshot()` reports all of it;
//!   `governor().tokens_charged()` read before and after gives a run's spend.
//! - Retries: 5xx, timeouts, resets and broken bodies of reads, PATCHes and DELETEs are retried
//!   with jittered exponential backoff (`pipedrive.retries` times); a create whose answer is
//!   lost is `OutcomeUnknown`, never re-sent by the transport.
//! - [`CustomFieldResolver`]: custom field keys by name, cached, refreshed on demand;
//!   `ensure_fields` creates what the mapping needs (`ml-connector setup`).
//! - [`auth`]: the OAuth2 authorization-code flow of `ml-connector auth pipedrive` and the token
//!   set in the vault; [`check_lines`]: Pipedrive's lines of `ml-connector check`.
//! - [`ClientStorage`]: what the client keeps outside the process, as two small traits
//!   ([`TokenLedger`], [`SecretVault`]) that the state store implements where the connector is
//!   wired together; the client itself knows no store.
//!
//! ```no_run
//! # async fn example(config: &mlc_config::PipedriveConfig, storage: mlc_pipedrive::ClientStorage) -> Result<(), mlc_pipedrive::PipedriveError> {
//! use mlc_pipedrive::{CustomFieldResolver, FieldSpec, OrganizationWrite, PipedriveClient};
//! let client = PipedriveClient::connect(config, storage).await?;
//! let fields = CustomFieldResolver::new(client.clone());
//! let resolved = fields.ensure_fields(&FieldSpec::default_needs()).await?;
//! let write = OrganizationWrite { name: Some("Müller GmbH".into()), ..Default::default() };
//! let created = client.create_organization_idempotent(&write, &resolved[0].key, "4711").await?;
//! println!("organization {} ({} tokens today)", created.id, client.governor().snapshot().tokens_used_today);
//! # Ok(()) }
//! ```

pub mod auth;
mod check;
mod client;
mod cost;
mod entity;
mod error;
mod fields;
mod governor;
mod identity;
mod model;
mod storage;
mod transport;

pub use check::{check_lines, CheckLine};
pub use client::{
    http_client, ConnectOptions, FieldSearchHit, ListQuery, Page, PipedriveClient, RequestObserver,
    SearchField, SentRequest, LIST_PAGE_LIMIT,
};
pub use cost::{token_cost, OperationCost, OPERATION_COSTS, UNKNOWN_OPERATION_COST};
pub use entity::{Entity, EntityWrite};
pub use error::{Disposition, PipedriveError, Result};
pub use fields::{
    is_unknown_field_error, CustomFieldResolver, FieldSpec, ResolvedField,
    DEFAULT_CONTACT_NUMBER_FIELD, DEFAULT_CUSTOMER_NUMBER_FIELD,
};
pub use governor::{
    budget_day, next_midnight, Alert, Governor, GovernorSettings, GovernorSnapshot, Lane,
    RateLimitHeaders, TooManyRequests, BURST_WINDOW, MAX_429_WAIT, SEARCH_LIMIT,
};
pub use mlc_canonical::state::{EntityKind, TokenCharge};
pub use model::{
    Address, AddressWrite, ContactValue, CurrentUser, FieldCreate, FieldDefinition, FieldOption,
    FieldOptionCreate, Organization, OrganizationWrite, Person, PersonWrite, SearchHit, SearchItem,
    Webhook, WebhookCreate,
};
pub use storage::{
    ClientCache, ClientStorage, MemoryCache, MemoryLedger, MemoryVault, SecretVault, StorageError,
    StorageResult, TokenLedger,
};
