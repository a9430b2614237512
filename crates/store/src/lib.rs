//! The state store: everything ml-connector remembers between runs, behind one trait with two
//! backends (SQLite, the default; PostgreSQL, for several instances sharing the work).
//!
//! Links, record state, cursors, runs, the audit trail, the review queue, the daily token ledger,
//! leases and encrypted secrets. A record's outcome, its link, its audit event and the cursor it
//! advances are written in one transaction (`commit_outcomes`): a crash leaves all or none.
//!
//! Open a store with [`open_configured`] (URL and key file from the config), or with [`open`]
//! and a key of your own; [`SecretKey`] says where keys come from:
//!
//! ```no_run
//! # async fn example() -> mlc_store::StoreResult<()> {
//! use std::time::Duration;
//!
//! let url = "sqlite://ml-connector.db";
//! // MLC_SECRET_KEY, else the configured key file, else (SQLite only) ml-connector.db.key,
//! // generated on first use. PostgreSQL without either is an error: see `SecretKey`.
//! let key = mlc_store::SecretKey::from_env_or_file(None, url)?;
//! let store = mlc_store::open(url, Some(key)).await?;
//! let me = mlc_store::instance_name();
//! let ttl = Duration::from_secs(60);
//! if let Some(lease) = store.acquire_lease("default", &me, ttl, chrono::Utc::now()).await? {
//!     // ... commit_outcomes with `fencing_token: Some(lease.fencing_token)` ...
//!     store.release_lease(&lease).await?;
//! }
//! # Ok(())
//! # }
//! ```
//!
//! Layout: `sql.rs` holds the SQL both backends run as written, `rows.rs` turns rows into the
//! model, `rules.rs` the checks both make alike; `sqlite.rs` and `postgres.rs` bind and run them;
//! the schema is in `migrations/{sqlite,postgres}/`. Times are kept to the microsecond
//! (PostgreSQL's precision); both backends round down the same way.

mod model;
mod postgres;
mod rows;
mod rules;
mod secret;
mod sql;
mod sqlite;
mod sqlite_skips;

pub use model::*;
pub use secret::SecretKey;
pub use sqlite::bytes_on_disk as sqlite_bytes_on_disk;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};

/// Opens the store at `url` and brings its schema up to date: `sqlite://FILE` (created on first
/// use, with its folder), `sqlite::memory:` (for tests), or `postgres://user@host:port/db`
/// (`postgresql://` too; `?options=-csearch_path%3DSCHEMA` selects a schema).
///
/// `secret_key` encrypts stored secrets; without one, `put_secret` and `get_secret` fail with an
/// error saying how to configure it, and everything else works.
pub async fn open(url: &str, secret_key: Option<SecretKey>) -> StoreResult<Arc<dyn StateStore>> {
    match Backend::of_url(url) {
        Some(Backend::Sqlite) => Ok(Arc::new(sqlite::SqliteStore::open(url, secret_key).await?)),
        Some(Backend::Postgres) => Ok(Arc::new(
            postgres::PostgresStore::open(url, secret_key).await?,
        )),
        None => Err(unknown_kind_of_store(url)),
    }
}

/// Opens the store with the secret key from `MLC_SECRET_KEY` or `key_file` (config
/// `store.secret_key_file`), as [`SecretKey::if_configured`] finds it: for SQLite, a key file
/// next to the database is generated when neither is set; a PostgreSQL store without a
/// configured key opens without one (secrets then fail, saying what to set).
pub async fn open_configured(
    url: &str,
    key_file: Option<&std::path::Path>,
) -> StoreResult<Arc<dyn StateStore>> {
    if Backend::of_url(url).is_none() {
        return Err(unknown_kind_of_store(url));
    }
    open(url, SecretKey::if_configured(key_file, url)?).await
}

fn unknown_kind_of_store(url: &str) -> StoreError {
    StoreError::Open {
        url: redact_url(url),
        message: "unknown kind of store: use sqlite://FILE or postgres://user@host:5432/db"
            .to_string(),
    }
}

/// Which backend a store URL selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn of_url(url: &str) -> Option<Backend> {
        if url.starts_with("sqlite:") {
            Some(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Backend::Postgres)
        } else {
            None
        }
    }
}

/// This process's name in runs and leases: `hostname:pid`.
pub fn instance_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|name| name.trim().to_string())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "localhost".to_string());
    format!("{host}:{}", std::process::id())
}

/// The URL with its password replaced by `***`, for messages and logs, whatever it looks like:
/// a password in the user part or in a `password=` query parameter (libpq takes both), and in
/// a URL that does not even parse, everything before the last `@` of the authority.
pub fn redact_url(url: &str) -> String {
    let Ok(mut parsed) = url::Url::parse(url) else {
        return redact_unparsable_url(url);
    };
    if parsed.password().is_some() {
        // Only fails for URLs that cannot carry a password, and this one has one.
        let _ = parsed.set_password(Some("***"));
    }
    if parsed
        .query_pairs()
        .any(|(name, _)| name.eq_ignore_ascii_case("password"))
    {
        let pairs: Vec<(String, String)> = parsed
            .query_pairs()
            .map(|(name, value)| {
                let value = if name.eq_ignore_ascii_case("password") {
                    "***".to_string()
                } else {
                    value.into_owned()
                };
                (name.into_owned(), value)
            })
            .collect();
        parsed.query_pairs_mut().clear().extend_pairs(pairs);
    }
    parsed.to_string()
}

fn redact_unparsable_url(url: &str) -> String {
    let authority_start = url.find("://").map_or(0, |index| index + 3);
    let mut redacted = match url[authority_start..].rfind('@') {
        Some(at) => format!(
            "{}***{}",
            &url[..authority_start],
            &url[authority_start + at..]
        ),
        None => url.to_string(),
    };
    if let Some(position) = redacted.to_ascii_lowercase().find("password=") {
        redacted.truncate(position + "password=".len());
        redacted.push_str("***");
    }
    redacted
}

pub type StoreResult<T> = Result<T, StoreError>;

/// ECC keys bound in one `IN (...)` list: far below SQLite's and PostgreSQL's limits on
/// parameters, and a batch of a run takes a few lists.
pub(crate) const KEYS_PER_QUERY: usize = 500;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("state store {url}: {message}")]
    Open { url: String, message: String },
    #[error("state store: {0}")]
    Database(String),
    /// A cursor write whose expected version is no longer current: another writer moved it.
    #[error("cursor {connection}/{stream}: stale write refused (expected version {expected:?}, found {found:?})")]
    StaleCursor {
        connection: String,
        stream: String,
        expected: Option<i64>,
        found: Option<i64>,
    },
    /// A write under a lease that has since passed to another holder.
    #[error(
        "connection {connection}: lease lost (fencing token {presented} is older than {current})"
    )]
    Fenced {
        connection: String,
        presented: i64,
        current: i64,
    },
    /// The Pipedrive id is already linked to another ECC key of the same kind.
    #[error(
        "{kind} {pipedrive_id} is already linked to ECC key {linked_to} (connection {connection})"
    )]
    LinkConflict {
        connection: String,
        kind: EntityKind,
        pipedrive_id: i64,
        linked_to: String,
    },
    #[error("review item {0} does not exist")]
    NoSuchReview(i64),
    #[error("secret {name}: {message}")]
    Secret { name: String, message: String },
    /// The key for secrets could not be loaded; `origin` is `MLC_SECRET_KEY` or the key file.
    #[error("secret key from {origin}: {message}")]
    SecretKey { origin: String, message: String },
    #[error("run {0} does not exist (start_run gives the id to use)")]
    NoSuchRun(i64),
    /// A query failed; `operation` says what the store was doing.
    #[error("state store: {operation}: {source}")]
    Query {
        operation: &'static str,
        #[source]
        source: sqlx::Error,
    },
}

/// Maps a sqlx error to `StoreError::Query` naming the operation.
pub(crate) fn query_error(operation: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |source| StoreError::Query { operation, source }
}

/// The one interface every stage uses. Both backends pass the same test suite.
#[async_trait]
pub trait StateStore: Send + Sync {
    /// "sqlite" or "postgres", for `check` and the UI.
    fn backend(&self) -> &'static str;

    // ── links: (connection, kind, ECC key) ↔ Pipedrive id, unique both ways ──
    async fn link(
        &self,
        connection: &str,
        kind: EntityKind,
        ecc_key: &str,
    ) -> StoreResult<Option<Link>>;
    async fn link_by_pipedrive_id(
        &self,
        connection: &str,
        kind: EntityKind,
        pipedrive_id: i64,
    ) -> StoreResult<Option<Link>>;
    /// Every link of a kind, for building the match index in one read.
    async fn links(&self, connection: &str, kind: EntityKind) -> StoreResult<Vec<Link>>;
    /// The links of these ECC keys (keys not linked are left out), for planning one batch of a
    /// run without holding every link of the connection.
    async fn links_of_keys(
        &self,
        connection: &str,
        kind: EntityKind,
        ecc_keys: &[String],
    ) -> StoreResult<Vec<Link>>;
    /// At most `limit` links of a kind with an ECC key after `after` (`None`: from the first),
    /// in ECC key order: the whole table a page at a time.
    async fn links_page(
        &self,
        connection: &str,
        kind: EntityKind,
        after: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<Link>>;

    /// At most `limit` person links with a contact number after `after` (`None`: from the
    /// first), in that order, each with the customer its record state names (`None` when the
    /// state names none): which linked contacts belong to which customer, the whole table a
    /// page at a time.
    async fn person_customers_page(
        &self,
        connection: &str,
        after: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<PersonCustomer>>;

    // ── record state ──
    async fn record_state(
        &self,
        connection: &str,
        kind: EntityKind,
        ecc_key: &str,
    ) -> StoreResult<Option<RecordState>>;
    /// Every record state of a kind.
    async fn record_states(
        &self,
        connection: &str,
        kind: EntityKind,
    ) -> StoreResult<Vec<RecordState>>;
    /// The states of these ECC keys (keys never recorded are left out), for planning one batch.
    async fn record_states_of_keys(
        &self,
        connection: &str,
        kind: EntityKind,
        ecc_keys: &[String],
    ) -> StoreResult<Vec<RecordState>>;
    /// The states of both kinds whose last write failed (`failures > 0`), parked or not: what
    /// a delta run may read again although ECC did not change it.
    async fn failing_record_states(&self, connection: &str) -> StoreResult<Vec<RecordState>>;

    // ── crash safety: an intent is written before every create ──
    /// Records that a create of (kind, ECC key) is about to be sent; returns the intent's id.
    async fn record_intent(&self, intent: &NewIntent) -> StoreResult<i64> {
        let ids = self.record_intents(std::slice::from_ref(intent)).await?;
        ids.first()
            .copied()
            .ok_or_else(|| StoreError::Database("recording an intent returned no id".into()))
    }
    /// Records the intents of several creates about to be sent in one transaction (one flush
    /// for a batch's creates, not one each); their ids in the same order. All or none; each
    /// intent's fencing token is checked as `record_intent` checks it.
    async fn record_intents(&self, intents: &[NewIntent]) -> StoreResult<Vec<i64>>;
    /// Deletes intents whose create was never sent (the run stopped before it), in one
    /// transaction; ids of other connections are left alone.
    async fn discard_intents(&self, connection: &str, ids: &[i64]) -> StoreResult<()>;
    /// Intents whose outcome was never committed (the process died between send and commit).
    async fn open_intents(&self, connection: &str) -> StoreResult<Vec<Intent>>;

    /// Writes outcomes in one transaction each batch: record state, link change, audit event,
    /// closed intent, and the cursor advance, all or none. Refused with `Fenced` when a
    /// `fencing_token` is given and the connection's lease has moved on, and with `StaleCursor`
    /// when the cursor's expected version is not current.
    async fn commit_outcomes(&self, batch: &OutcomeBatch) -> StoreResult<()>;

    /// Appends audit events that change no state (a dirty record, a dry run). A skip of a record
    /// whose trail holds a full copy of what was read is kept narrow: its hash and a pointer to
    /// that copy, not the extracted record again (so in `commit_outcomes`).
    async fn append_audit(&self, events: &[AuditEvent]) -> StoreResult<()>;
    /// Newest first (by id); see `AuditQuery` for the filters. A skip kept narrow reads back with
    /// the extracted record of the full copy it points at (`full_copy_id`).
    async fn audit(&self, query: &AuditQuery) -> StoreResult<Vec<AuditEvent>>;
    /// Deletes the audit events recorded before `older_than`, except each record's latest event
    /// and the full copy a kept skip points at; returns how many. One indexed delete per table.
    async fn prune_audit(&self, older_than: DateTime<Utc>) -> StoreResult<u64>;

    // ── cursors per (connection, stream), compare-and-swap ──
    async fn cursor(&self, connection: &str, stream: &str) -> StoreResult<Option<Cursor>>;
    /// Moves the cursor to `value` if its version is still `expected_version` (`None`: the
    /// cursor must not exist yet). Returns the new version.
    async fn advance_cursor(
        &self,
        connection: &str,
        stream: &str,
        expected_version: Option<i64>,
        value: &str,
    ) -> StoreResult<i64>;

    // ── runs ──
    async fn start_run(&self, run: &NewRun) -> StoreResult<i64>;
    /// `NoSuchRun` for an id `start_run` did not give. Writes naming an unknown run (outcomes,
    /// audit events, intents) are refused with `NoSuchRun` too.
    async fn finish_run(&self, run_id: i64, finish: &RunFinish) -> StoreResult<()>;
    /// Newest first.
    async fn runs(&self, query: &RunQuery) -> StoreResult<Vec<RunRecord>>;

    // ── the duplicate review queue ──
    /// Queues a pair; queuing the same (connection, kind, ECC key, Pipedrive id) again returns the
    /// existing item's id and leaves it as it is, decided or not, so a rejected pair is not
    /// asked about again.
    async fn enqueue_review(&self, item: &NewReview) -> StoreResult<i64>;
    /// Oldest first, the order the queue filled.
    async fn reviews(
        &self,
        connection: &str,
        status: Option<ReviewStatus>,
    ) -> StoreResult<Vec<ReviewItem>>;
    /// Decides `decision.pairs` in one transaction: each pair gets its status and `decided_at`
    /// (back to none for `Pending`) and its own decision record naming the rule and who
    /// decided. A `Single` rule refuses an unknown id with `NoSuchReview` and decides whatever
    /// the pair's status; any other rule decides only the pairs still pending, leaving the
    /// others as they are (someone decided them meanwhile). Returns the pairs decided, in the
    /// order given.
    async fn decide_reviews(&self, decision: &NewReviewDecision) -> StoreResult<Vec<ReviewItem>>;
    /// One pair by its id, recorded as a `Single` decision by `decided_by`.
    async fn decide_review(
        &self,
        id: i64,
        decision: ReviewStatus,
        decided_by: &str,
    ) -> StoreResult<ReviewItem> {
        self.decide_reviews(&NewReviewDecision::single(id, decision, decided_by))
            .await?
            .pop()
            .ok_or(StoreError::NoSuchReview(id))
    }
    /// The decision records of a connection's pairs (of pair `review_id` only, when given),
    /// oldest first.
    async fn review_decisions(
        &self,
        connection: &str,
        review_id: Option<i64>,
    ) -> StoreResult<Vec<ReviewDecisionRecord>>;

    // ── the daily token ledger per Pipedrive company, shared by every instance ──
    /// Atomically adds `tokens` to the day's total if it stays within `limit`.
    async fn charge_tokens(
        &self,
        company: &str,
        day: NaiveDate,
        tokens: u64,
        limit: u64,
    ) -> StoreResult<TokenCharge>;
    async fn tokens_used(&self, company: &str, day: NaiveDate) -> StoreResult<u64>;

    // ── leases per connection with a fencing token ──
    /// Takes the lease if it is free (never taken or released) or expired at `now`; the fencing
    /// token grows with every new holder and is never reused, also across releases. `None` while
    /// someone holds it, including the caller itself: a holder renews instead.
    async fn acquire_lease(
        &self,
        connection: &str,
        holder: &str,
        ttl: std::time::Duration,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Lease>>;
    /// Extends a lease still held (same holder, same token) to `now + ttl`; false when it was
    /// lost. A lease that expired but was not taken over can still be renewed: nobody else can
    /// have written under it, since a takeover raises the token.
    async fn renew_lease(
        &self,
        lease: &Lease,
        ttl: std::time::Duration,
        now: DateTime<Utc>,
    ) -> StoreResult<bool>;
    /// Frees the lease if `lease` still holds it; releasing a lost lease does nothing.
    async fn release_lease(&self, lease: &Lease) -> StoreResult<()>;
    /// Takes the lease from `gone`, a holder whose process is known to no longer exist, without
    /// waiting for its expiry; `None` when `gone` no longer holds it (someone else was faster,
    /// or it was released). The token grows as with any new holder.
    async fn take_over_lease(
        &self,
        gone: &LeaseHolder,
        holder: &str,
        ttl: std::time::Duration,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Lease>>;
    /// Who holds the connection's lease (expired or not), `None` when it is free.
    async fn lease_holder(&self, connection: &str) -> StoreResult<Option<LeaseHolder>>;
    /// Marks the connection's runs still `running` (dry runs aside) as interrupted, with `reason`
    /// as their error; a new lease holder calls it, since such runs belong to a process that
    /// stopped. Returns how many were marked.
    async fn interrupt_runs(
        &self,
        connection: &str,
        now: DateTime<Utc>,
        reason: &str,
    ) -> StoreResult<u64>;

    // ── secrets, encrypted at rest (AES-256-GCM); both fail when the store has no key ──
    // ── webhook deliveries, so a retried one is applied once ──
    /// Takes Pipedrive delivery `event_id` (its `meta.id`) for the connection: `true` the first
    /// time, `false` for every later delivery of the same id.
    async fn note_webhook_event(
        &self,
        connection: &str,
        event_id: &str,
        received_at: DateTime<Utc>,
    ) -> StoreResult<bool>;
    /// Forgets deliveries taken before `before`; returns how many.
    async fn prune_webhook_events(&self, before: DateTime<Utc>) -> StoreResult<u64>;

    async fn put_secret(&self, name: &str, plaintext: &[u8]) -> StoreResult<()>;
    async fn get_secret(&self, name: &str) -> StoreResult<Option<Vec<u8>>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_name_is_host_and_process_id() {
        let name = instance_name();
        let (host, pid) = name.rsplit_once(':').expect("host:pid");
        assert!(!host.is_empty());
        assert_eq!(pid, std::process::id().to_string());
    }

    #[test]
    fn redacted_urls_hide_only_the_password() {
        assert_eq!(
            redact_url("postgres://mlc:hunter2@db.internal:5432/state"),
            "postgres://mlc:***@db.internal:5432/state"
        );
        assert_eq!(
            redact_url("postgres://mlc@db/state"),
            "postgres://mlc@db/state"
        );
        assert_eq!(
            redact_url("sqlite://ml-connector.db"),
            "sqlite://ml-connector.db"
        );
        assert_eq!(
            redact_url("postgres://db/state?user=mlc&password=hunter2&sslmode=require"),
            "postgres://db/state?user=mlc&password=***&sslmode=require"
        );
    }

    #[test]
    fn an_unparsable_url_never_shows_its_password() {
        for url in [
            "postgres://mlc:hun ter2@db:port/state",
            "postgres://mlc:hunter2@db:99999/state",
            "postgres://mlc:p@ss:hunter2@[db/state",
            "postgres://[broken?password=hunter2&x=1",
        ] {
            assert!(url::Url::parse(url).is_err(), "{url} should not parse");
            let shown = redact_url(url);
            assert!(!shown.contains("hunter2"), "{url} shown as {shown}");
            assert!(shown.starts_with("postgres://"), "{shown}");
        }
    }

    #[test]
    fn url_schemes_select_the_backend() {
        assert_eq!(Backend::of_url("sqlite://x.db"), Some(Backend::Sqlite));
        assert_eq!(Backend::of_url("sqlite::memory:"), Some(Backend::Sqlite));
        assert_eq!(Backend::of_url("postgres://h/db"), Some(Backend::Postgres));
        assert_eq!(
            Backend::of_url("postgresql://h/db"),
            Some(Backend::Postgres)
        );
        assert_eq!(Backend::of_url("mysql://h/db"), None);
    }
}
