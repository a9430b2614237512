//! What the client keeps outside the process, as the two small interfaces it needs: the daily
//! token ledger every instance charges ([`TokenLedger`]) and the vault of OAuth tokens
//! ([`SecretVault`]). The client defines them and knows no store; the state store implements
//! them where the connector is wired together (`mlc-sync`'s `pipedrive_wiring`). The in-memory
//! versions serve tests and benchmarks.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::NaiveDate;
use mlc_canonical::state::TokenCharge;

/// A failure of the ledger or the vault behind the client, in its own words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct StorageError {
    pub message: String,
}

impl StorageError {
    pub fn new(message: impl Into<String>) -> StorageError {
        StorageError {
            message: message.into(),
        }
    }
}

pub type StorageResult<T> = std::result::Result<T, StorageError>;

/// The daily token ledger per Pipedrive company, shared by every instance that charges it.
#[async_trait]
pub trait TokenLedger: Send + Sync {
    /// Atomically adds `tokens` to the day's total if it stays within `limit`.
    async fn charge_tokens(
        &self,
        company: &str,
        day: NaiveDate,
        tokens: u64,
        limit: u64,
    ) -> StorageResult<TokenCharge>;

    /// The day's total so far.
    async fn tokens_used(&self, company: &str, day: NaiveDate) -> StorageResult<u64>;

    /// Two ledgers with the same identity keep the same totals: the clients of one company
    /// share one governor only when they charge one ledger. By default the ledger object
    /// itself; an adapter over a shared store answers the store's identity.
    fn identity(&self) -> usize {
        self as *const Self as *const () as usize
    }
}

/// Named secrets (the OAuth token set), kept encrypted by whoever implements it.
#[async_trait]
pub trait SecretVault: Send + Sync {
    async fn get_secret(&self, name: &str) -> StorageResult<Option<Vec<u8>>>;
    async fn put_secret(&self, name: &str, plaintext: &[u8]) -> StorageResult<()>;
}

/// Small values the client keeps between processes that are not secrets: who `/v1/users/me`
/// said we are, so a run with nothing to do calls Pipedrive for nothing.
#[async_trait]
pub trait ClientCache: Send + Sync {
    async fn get_value(&self, key: &str) -> StorageResult<Option<String>>;
    async fn put_value(&self, key: &str, value: &str) -> StorageResult<()>;
}

/// The ledger, the vault and the cache a client uses; cheap to clone.
#[derive(Clone)]
pub struct ClientStorage {
    pub ledger: Arc<dyn TokenLedger>,
    pub vault: Arc<dyn SecretVault>,
    pub cache: Arc<dyn ClientCache>,
}

impl ClientStorage {
    /// A ledger and a vault that live as long as this value (and its clones): for tests and
    /// benchmarks, where nothing has to outlive the process.
    pub fn in_memory() -> ClientStorage {
        ClientStorage {
            ledger: Arc::new(MemoryLedger::default()),
            vault: Arc::new(MemoryVault::default()),
            cache: Arc::new(MemoryCache::default()),
        }
    }
}

impl std::fmt::Debug for ClientStorage {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("ClientStorage")
            .field("ledger", &self.ledger.identity())
            .finish_non_exhaustive()
    }
}

/// A token ledger in memory, with the store's rule: a charge that would cross the limit is
/// refused and leaves the total as it was.
#[derive(Debug, Default)]
pub struct MemoryLedger {
    totals: Mutex<HashMap<(String, NaiveDate), u64>>,
}

#[async_trait]
impl TokenLedger for MemoryLedger {
    async fn charge_tokens(
        &self,
        company: &str,
        day: NaiveDate,
        tokens: u64,
        limit: u64,
    ) -> StorageResult<TokenCharge> {
        let mut totals = lock(&self.totals);
        let used = totals.entry((company.to_string(), day)).or_default();
        match used.checked_add(tokens) {
            Some(total) if total <= limit => {
                *used = total;
                Ok(TokenCharge::Charged { used: total })
            }
            _ => Ok(TokenCharge::Refused { used: *used }),
        }
    }

    async fn tokens_used(&self, company: &str, day: NaiveDate) -> StorageResult<u64> {
        Ok(lock(&self.totals)
            .get(&(company.to_string(), day))
            .copied()
            .unwrap_or(0))
    }
}

/// A client cache in memory.
#[derive(Debug, Default)]
pub struct MemoryCache {
    values: Mutex<HashMap<String, String>>,
}

#[async_trait]
impl ClientCache for MemoryCache {
    async fn get_value(&self, key: &str) -> StorageResult<Option<String>> {
        Ok(lock(&self.values).get(key).cloned())
    }

    async fn put_value(&self, key: &str, value: &str) -> StorageResult<()> {
        lock(&self.values).insert(key.to_string(), value.to_string());
        Ok(())
    }
}

/// A secret vault in memory (not encrypted: nothing leaves the process).
#[derive(Debug, Default)]
pub struct MemoryVault {
    secrets: Mutex<HashMap<String, Vec<u8>>>,
}

#[async_trait]
impl SecretVault for MemoryVault {
    async fn get_secret(&self, name: &str) -> StorageResult<Option<Vec<u8>>> {
        Ok(lock(&self.secrets).get(name).cloned())
    }

    async fn put_secret(&self, name: &str, plaintext: &[u8]) -> StorageResult<()> {
        lock(&self.secrets).insert(name.to_string(), plaintext.to_vec());
        Ok(())
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Every update under these locks is a single insert: a poisoned one is still consistent.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_memory_ledger_refuses_a_charge_that_would_cross_the_limit() {
        let ledger = MemoryLedger::default();
        let day = NaiveDate::from_ymd_opt(2026, 12, 2).unwrap();
        assert_eq!(
            ledger.charge_tokens("42", day, 8, 10).await.unwrap(),
            TokenCharge::Charged { used: 8 }
        );
        assert_eq!(
            ledger.charge_tokens("42", day, 3, 10).await.unwrap(),
            TokenCharge::Refused { used: 8 }
        );
        assert_eq!(
            ledger.charge_tokens("42", day, 2, 10).await.unwrap(),
            TokenCharge::Charged { used: 10 }
        );
        assert_eq!(ledger.tokens_used("42", day).await.unwrap(), 10);
        assert_eq!(ledger.tokens_used("43", day).await.unwrap(), 0);
        assert_eq!(
            ledger
                .charge_tokens("42", day, u64::MAX, u64::MAX)
                .await
                .unwrap(),
            TokenCharge::Refused { used: 10 },
            "an overflow is a refusal"
        );
    }
}
