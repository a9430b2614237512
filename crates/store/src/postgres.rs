//! The PostgreSQL backend (being written).
use crate::{SecretKey, StoreResult};
pub(crate) struct PostgresStore;
impl PostgresStore {
    pub(crate) async fn open(
        url: &str,
        _secret_key: Option<SecretKey>,
    ) -> StoreResult<crate::sqlite::SqliteStore> {
        Err(crate::StoreError::Open {
            url: url.to_string(),
            message: "not yet".into(),
        })
    }
}
