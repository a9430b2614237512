//! Where the Pipedrive client meets the state store: the client charges its daily token ledger
//! and keeps its OAuth tokens through two small traits of its own (`TokenLedger`,
//! `SecretVault`); these newtypes implement them over the store, and `connect_pipedrive` joins
//! the two.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::NaiveDate;
use mlc_canonical::state::TokenCharge;
use mlc_config::PipedriveConfig;
use mlc_pipedrive::{
    ClientCache, ClientStorage, PipedriveClient, PipedriveError, SecretVault, StorageError,
    StorageResult, TokenLedger,
};
use mlc_store::{StateStore, StoreError};

/// The store's token ledger (one row per company and day, shared by every instance).
#[derive(Clone)]
pub struct StoreTokenLedger(pub Arc<dyn StateStore>);

#[async_trait]
impl TokenLedger for StoreTokenLedger {
    async fn charge_tokens(
        &self,
        company: &str,
        day: NaiveDate,
        tokens: u64,
        limit: u64,
    ) -> StorageResult<TokenCharge> {
        self.0
            .charge_tokens(company, day, tokens, limit)
            .await
            .map_err(storage_error)
    }

    async fn tokens_used(&self, company: &str, day: NaiveDate) -> StorageResult<u64> {
        self.0
            .tokens_used(company, day)
            .await
            .map_err(storage_error)
    }

    /// The store's: every adapter over one store is one ledger, so the clients of a company
    /// connected through it share one governor.
    fn identity(&self) -> usize {
        Arc::as_ptr(&self.0) as *const () as usize
    }
}

/// The store's encrypted secrets.
#[derive(Clone)]
pub struct StoreSecretVault(pub Arc<dyn StateStore>);

#[async_trait]
impl SecretVault for StoreSecretVault {
    async fn get_secret(&self, name: &str) -> StorageResult<Option<Vec<u8>>> {
        self.0.get_secret(name).await.map_err(storage_error)
    }

    async fn put_secret(&self, name: &str, plaintext: &[u8]) -> StorageResult<()> {
        self.0
            .put_secret(name, plaintext)
            .await
            .map_err(storage_error)
    }
}

/// The client's cache in the store's cursors (one row per key, under a connection name no
/// config can give: names are checked to be plain words).
#[derive(Clone)]
pub struct StoreClientCache(pub Arc<dyn StateStore>);

/// The cursors' connection column for the client cache.
const CACHE_CONNECTION: &str = "(pipedrive client)";

#[async_trait]
impl ClientCache for StoreClientCache {
    async fn get_value(&self, key: &str) -> StorageResult<Option<String>> {
        let cursor = self
            .0
            .cursor(CACHE_CONNECTION, key)
            .await
            .map_err(storage_error)?;
        Ok(cursor
            .map(|cursor| cursor.value)
            .filter(|value| !value.is_empty()))
    }

    async fn put_value(&self, key: &str, value: &str) -> StorageResult<()> {
        // Compare-and-swap on the version read; another process writing at the same moment
        // writes the same kind of value, so one retry settles it.
        for _ in 0..2 {
            let version = self
                .0
                .cursor(CACHE_CONNECTION, key)
                .await
                .map_err(storage_error)?
                .map(|cursor| cursor.version);
            match self
                .0
                .advance_cursor(CACHE_CONNECTION, key, version, value)
                .await
            {
                Ok(_) => return Ok(()),
                Err(StoreError::StaleCursor { .. }) => continue,
                Err(error) => return Err(storage_error(error)),
            }
        }
        Ok(())
    }
}

/// The ledger, the vault and the cache of a Pipedrive client, all in `store`.
pub fn pipedrive_storage(store: Arc<dyn StateStore>) -> ClientStorage {
    ClientStorage {
        ledger: Arc::new(StoreTokenLedger(store.clone())),
        vault: Arc::new(StoreSecretVault(store.clone())),
        cache: Arc::new(StoreClientCache(store)),
    }
}

/// Connects a Pipedrive client that charges and keeps its tokens in `store`.
pub async fn connect_pipedrive(
    config: &PipedriveConfig,
    store: Arc<dyn StateStore>,
) -> Result<PipedriveClient, PipedriveError> {
    PipedriveClient::connect(config, pipedrive_storage(store)).await
}

fn storage_error(error: StoreError) -> StorageError {
    StorageError::new(error.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn memory_store() -> Arc<dyn StateStore> {
        mlc_store::open("sqlite::memory:", Some(mlc_store::SecretKey::generate()))
            .await
            .expect("in-memory store opens")
    }

    #[tokio::test]
    async fn clients_wired_to_one_store_charge_one_ledger_and_share_its_secrets() {
        let store = memory_store().await;
        let first = pipedrive_storage(store.clone());
        let second = pipedrive_storage(store.clone());
        assert_eq!(
            first.ledger.identity(),
            second.ledger.identity(),
            "one store, one governor per company"
        );
        assert_ne!(
            first.ledger.identity(),
            pipedrive_storage(memory_store().await).ledger.identity()
        );
        let day = NaiveDate::from_ymd_opt(2026, 12, 2).unwrap();
        assert_eq!(
            first.ledger.charge_tokens("7", day, 5, 10).await.unwrap(),
            TokenCharge::Charged { used: 5 }
        );
        assert_eq!(
            second.ledger.charge_tokens("7", day, 6, 10).await.unwrap(),
            TokenCharge::Refused { used: 5 }
        );
        assert_eq!(store.tokens_used("7", day).await.unwrap(), 5);
        first.vault.put_secret("s", b"tokens").await.unwrap();
        assert_eq!(
            second.vault.get_secret("s").await.unwrap().as_deref(),
            Some(&b"tokens"[..])
        );
    }

    #[tokio::test]
    async fn the_client_cache_keeps_values_in_the_store_for_every_process() {
        let store = memory_store().await;
        let cache = StoreClientCache(store.clone());
        assert_eq!(cache.get_value("k").await.unwrap(), None);
        cache.put_value("k", "one").await.unwrap();
        cache.put_value("k", "two").await.unwrap();
        assert_eq!(
            StoreClientCache(store.clone())
                .get_value("k")
                .await
                .unwrap()
                .as_deref(),
            Some("two")
        );
        cache.put_value("k", "").await.unwrap();
        assert_eq!(cache.get_value("k").await.unwrap(), None, "forgotten");
    }

    #[tokio::test]
    async fn a_store_without_a_secret_key_fails_as_a_storage_error_that_says_so() {
        let store = mlc_store::open("sqlite::memory:", None).await.unwrap();
        let error = StoreSecretVault(store.clone())
            .put_secret("s", b"x")
            .await
            .unwrap_err();
        let expected = store.put_secret("s", b"x").await.unwrap_err().to_string();
        assert_eq!(error.message, expected);
        assert_eq!(PipedriveError::from(error).to_string(), expected);
    }
}
