//! `[store]`: where the state lives.

use serde::Deserialize;
use toml::Spanned;

use crate::error::ConfigError;
use crate::validator::Validator;

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawStore {
    pub url: Option<Spanned<String>>,
    pub secret_key_file: Option<Spanned<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreConfig {
    /// `sqlite://FILE` or `postgres://user@host:port/db`.
    pub url: String,
    /// File holding the key that encrypts stored secrets; `MLC_SECRET_KEY` wins over it.
    pub secret_key_file: Option<String>,
}

pub const DEFAULT_STORE_URL: &str = "sqlite://ml-connector.db";

pub fn validate(raw: RawStore, validator: &Validator<'_>) -> Result<StoreConfig, ConfigError> {
    let url = match &raw.url {
        Some(url) => {
            let text = validator.text("store.url", url)?;
            let known = ["sqlite:", "postgres://", "postgresql://"];
            if !known.iter().any(|prefix| text.starts_with(prefix)) {
                return Err(validator.error(
                    "store.url",
                    Some(url.span()),
                    "must start with sqlite:// or postgres://",
                ));
            }
            text
        }
        None => DEFAULT_STORE_URL.to_string(),
    };
    Ok(StoreConfig {
        url,
        secret_key_file: validator.optional_text("store.secret_key_file", &raw.secret_key_file)?,
    })
}
