//! Every way a Pipedrive call can end badly, named for the user and the caller: what to do next
//! follows from the variant (retry later, re-authorize, check by external id, fix the data).

use chrono::{DateTime, Utc};

use crate::storage::StorageError;

pub type Result<T, E = PipedriveError> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum PipedriveError {
    /// The connector's share of today's token budget is spent; the call was not sent. The run
    /// ends "deferred" and resumes after `resets_at`.
    #[error("pipedrive budget share used: {used} of {limit} tokens today; the run is deferred until {resets_at}")]
    BudgetShareUsed {
        used: u64,
        limit: u64,
        resets_at: DateTime<Utc>,
    },
    /// Pipedrive refused the company's whole daily budget (a 429 that waiting seconds cannot
    /// cure). Deferred like `BudgetShareUsed`.
    #[error("pipedrive daily token budget exhausted for the company ({endpoint}); retry after {retry_after_secs} s")]
    CompanyBudgetExhausted {
        endpoint: String,
        retry_after_secs: u64,
    },
    /// Pipedrive's fair-use count of POST/PUT requests for today (UTC) is down to the reserve
    /// left for people and other integrations; the write was not sent. Deferred like
    /// `BudgetShareUsed`.
    #[error("pipedrive's daily POST/PUT fair-use limit is nearly used ({left} left for people and other integrations); writes resume at {resets_at}")]
    FairUseUsed { left: u64, resets_at: DateTime<Utc> },
    /// Repeated 429s on one call; the lane is slowed and the caller should try later.
    #[error(
        "pipedrive kept answering 429 on {endpoint} after {attempts} waits; giving up on this call"
    )]
    RateLimited { endpoint: String, attempts: u32 },
    /// Cloudflare's HTML 403 after repeated 429s, or a 403 that is not Pipedrive's JSON: the
    /// connection stops and raises an alert.
    #[error("pipedrive blocked the connector with HTTP 403 on {endpoint} ({detail}); stopped to protect the company's API access — wait, then check other integrations' traffic")]
    Forbidden403 { endpoint: String, detail: String },
    /// The OAuth app was not granted a scope this call needs (Pipedrive's 403 "Scope and URL
    /// mismatch"): every such call fails the same way, so it is the installation's fault, not
    /// the record's.
    #[error("pipedrive refused {endpoint}: the OAuth app lacks a scope this call needs ({message}); grant contacts:full and contact-fields:full (or admin) in the app's settings, then run `ml-connector auth pipedrive` again")]
    ScopeMissing { endpoint: String, message: String },
    /// A JSON 403 from Pipedrive: the user or OAuth scope lacks permission for this call.
    #[error("pipedrive denied {endpoint}: {message} (check the user's permissions or the OAuth app's scopes)")]
    PermissionDenied { endpoint: String, message: String },
    #[error("pipedrive rejected the credentials on {endpoint} (401 {message}): check pipedrive.api_token, or re-authorize with `ml-connector auth pipedrive`")]
    Unauthorized { endpoint: String, message: String },
    #[error("pipedrive OAuth refresh token is no longer valid ({message}): re-authorize with `ml-connector auth pipedrive`")]
    InvalidGrant { message: String },
    #[error(
        "pipedrive OAuth is configured but not authorized yet: run `ml-connector auth pipedrive`"
    )]
    NotAuthorized,
    /// A create whose answer never came (timeout, reset, 5xx): it may or may not exist now. The
    /// caller checks by external id before sending it again.
    #[error(
        "pipedrive {endpoint}: outcome unknown ({cause}); check by external id before retrying"
    )]
    OutcomeUnknown { endpoint: String, cause: String },
    #[error("pipedrive rejected {endpoint} with {status}: {message}")]
    Validation {
        status: u16,
        message: String,
        endpoint: String,
    },
    #[error("pipedrive {endpoint}: not found")]
    NotFound { endpoint: String },
    /// A transport failure or 5xx that stayed after the bounded retries.
    #[error("pipedrive {endpoint}: {message} (after {attempts} attempts)")]
    Http {
        endpoint: String,
        message: String,
        attempts: u32,
    },
    /// An answer that is not the JSON the spec describes.
    #[error("pipedrive {endpoint}: unexpected answer: {message}")]
    Malformed { endpoint: String, message: String },
    /// An answer longer than `pipedrive.max_response_mib`: read no further, so a broken or
    /// hostile server cannot make the connector hold unbounded memory.
    #[error("pipedrive {endpoint}: the answer is larger than pipedrive.max_response_mib ({limit_mib} MiB; {seen} bytes and more), refused; raise pipedrive.max_response_mib if it is legitimate")]
    ResponseTooLarge {
        endpoint: String,
        limit_mib: usize,
        seen: u64,
    },
    #[error(
        "pipedrive custom field \"{name}\" ({entity}) does not exist: run `ml-connector setup`"
    )]
    UnknownField { entity: String, name: String },
    #[error("pipedrive OAuth {step}: {message}")]
    OauthFlow { step: &'static str, message: String },
    #[error("pipedrive base url {url}: {message}")]
    BadUrl { url: String, message: String },
    /// The token ledger or the secret vault behind the client failed.
    #[error(transparent)]
    Store(#[from] StorageError),
}

/// What the caller does with an error: the one place that decides it. The transport has
/// already retried what a retry can cure (5xx, lost answers of replay-safe calls, burst 429s),
/// so an error that comes out of the client is final for this call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// The budget share, the company's budget or the burst limit will not let calls through
    /// for a while: the run ends "deferred" and the record is not charged with a failure.
    DeferRun,
    /// No further call can succeed (blocked by Cloudflare, credentials refused, OAuth not or
    /// no longer granted): the connection stops until someone acts.
    StopConnection,
    /// Pipedrive (or the way to it) failed, not the record: 5xx, timeouts and resets that
    /// stayed after the transport's retries, an answer of unknown outcome, an answer that is not
    /// Pipedrive's JSON, the ledger failing. The run ends "deferred" with its cursor where it
    /// was; the record is not charged, so an outage of any length parks nothing.
    ConnectionFault,
    /// Pipedrive answered about this record (a validation error, its linked id not found, no
    /// permission for it): it counts as one failed attempt of the record (parked after
    /// `sync.max_failures`), the run goes on.
    CountAgainstRecord,
    /// The configuration is wrong (a base URL that is not a URL, a custom field that does not
    /// exist): nothing is sent until it is fixed.
    FixConfig,
}

impl PipedriveError {
    /// What to do with this error; see [`Disposition`].
    pub fn disposition(&self) -> Disposition {
        match self {
            PipedriveError::BudgetShareUsed { .. }
            | PipedriveError::CompanyBudgetExhausted { .. }
            | PipedriveError::FairUseUsed { .. }
            | PipedriveError::RateLimited { .. } => Disposition::DeferRun,
            PipedriveError::Forbidden403 { .. }
            | PipedriveError::Unauthorized { .. }
            | PipedriveError::InvalidGrant { .. }
            | PipedriveError::NotAuthorized => Disposition::StopConnection,
            PipedriveError::BadUrl { .. }
            | PipedriveError::UnknownField { .. }
            | PipedriveError::ScopeMissing { .. } => Disposition::FixConfig,
            PipedriveError::OutcomeUnknown { .. }
            | PipedriveError::Http { .. }
            | PipedriveError::Malformed { .. }
            | PipedriveError::ResponseTooLarge { .. }
            | PipedriveError::Store(_) => Disposition::ConnectionFault,
            PipedriveError::PermissionDenied { .. }
            | PipedriveError::Validation { .. }
            | PipedriveError::NotFound { .. }
            | PipedriveError::OauthFlow { .. } => Disposition::CountAgainstRecord,
        }
    }

    /// True when the run should end "deferred" (resume after the budget resets or the 429s
    /// calm down), not "failed".
    pub fn is_deferred(&self) -> bool {
        self.disposition() == Disposition::DeferRun
    }

    /// True when the whole connection must stop (no further call can succeed): blocked,
    /// unauthorized, or OAuth no longer granted.
    pub fn stops_connection(&self) -> bool {
        self.disposition() == Disposition::StopConnection
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_and_429s_defer_the_run_credentials_stop_it_outages_are_the_connections_the_rest_the_records(
    ) {
        let deferred = [
            PipedriveError::BudgetShareUsed {
                used: 10,
                limit: 10,
                resets_at: Utc::now(),
            },
            PipedriveError::CompanyBudgetExhausted {
                endpoint: "GET /x".into(),
                retry_after_secs: 60,
            },
            PipedriveError::RateLimited {
                endpoint: "GET /x".into(),
                attempts: 3,
            },
            PipedriveError::FairUseUsed {
                left: 200,
                resets_at: Utc::now(),
            },
        ];
        for error in &deferred {
            assert_eq!(error.disposition(), Disposition::DeferRun, "{error}");
            assert!(error.is_deferred() && !error.stops_connection());
        }
        let stopping = [
            PipedriveError::Forbidden403 {
                endpoint: "GET /x".into(),
                detail: "html".into(),
            },
            PipedriveError::Unauthorized {
                endpoint: "GET /x".into(),
                message: "no".into(),
            },
            PipedriveError::InvalidGrant {
                message: "no".into(),
            },
            PipedriveError::NotAuthorized,
        ];
        for error in &stopping {
            assert_eq!(error.disposition(), Disposition::StopConnection, "{error}");
            assert!(error.stops_connection() && !error.is_deferred());
        }
        let faults = [
            PipedriveError::OutcomeUnknown {
                endpoint: "POST /x".into(),
                cause: "timed out".into(),
            },
            PipedriveError::Http {
                endpoint: "GET /x".into(),
                message: "HTTP 502".into(),
                attempts: 6,
            },
            PipedriveError::Malformed {
                endpoint: "GET /x".into(),
                message: "an HTML page".into(),
            },
            PipedriveError::ResponseTooLarge {
                endpoint: "GET /x".into(),
                limit_mib: 32,
                seen: 40 << 20,
            },
        ];
        for error in &faults {
            assert_eq!(error.disposition(), Disposition::ConnectionFault, "{error}");
            assert!(!error.is_deferred() && !error.stops_connection());
        }
        let record = [
            PipedriveError::Validation {
                status: 400,
                message: "bad".into(),
                endpoint: "POST /x".into(),
            },
            PipedriveError::NotFound {
                endpoint: "PATCH /api/v2/organizations/7".into(),
            },
        ];
        for error in &record {
            assert_eq!(
                error.disposition(),
                Disposition::CountAgainstRecord,
                "{error}"
            );
        }
        let config = PipedriveError::UnknownField {
            entity: "organization".into(),
            name: "ECC Customer Number".into(),
        };
        assert_eq!(config.disposition(), Disposition::FixConfig);
        let scope = PipedriveError::ScopeMissing {
            endpoint: "POST /api/v2/organizations".into(),
            message: "Scope and URL mismatch".into(),
        };
        assert_eq!(scope.disposition(), Disposition::FixConfig);
    }
}
