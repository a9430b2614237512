//! `[server]`: the HTTP API, web UI, metrics and webhook receiver of `ml-connector run`.

use std::net::SocketAddr;

use serde::Deserialize;
use toml::Spanned;

use crate::error::ConfigError;
use crate::secret::Secret;
use crate::validator::Validator;

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawServer {
    pub listen: Option<Spanned<String>>,
    pub admin_token: Option<Spanned<String>>,
    pub webhook_user: Option<Spanned<String>>,
    pub webhook_password: Option<Spanned<String>>,
    pub webhook_hmac_secret: Option<Spanned<String>>,
    pub public_url: Option<Spanned<String>>,
}

#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    /// Bearer token for the HTTP API and UI; without it only `/healthz` and `/metrics` answer.
    pub admin_token: Option<Secret>,
    /// HTTP Basic credentials Pipedrive sends with webhooks.
    pub webhook_user: Option<String>,
    pub webhook_password: Option<Secret>,
    /// Accepts an HMAC-SHA256 signature header from relays that sign.
    pub webhook_hmac_secret: Option<Secret>,
    /// Where Pipedrive reaches this server (for registering webhooks).
    pub public_url: Option<String>,
}

pub fn validate(raw: RawServer, validator: &Validator<'_>) -> Result<ServerConfig, ConfigError> {
    let listen = match &raw.listen {
        Some(listen) => {
            let text = validator.text("server.listen", listen)?;
            text.parse().map_err(|_| {
                validator.error(
                    "server.listen",
                    Some(listen.span()),
                    format!("`{text}` is not an address like 127.0.0.1:8080"),
                )
            })?
        }
        None => SocketAddr::from(([127, 0, 0, 1], 8080)),
    };
    Ok(ServerConfig {
        listen,
        admin_token: validator.secret("server.admin_token", &raw.admin_token)?,
        webhook_user: validator.optional_text("server.webhook_user", &raw.webhook_user)?,
        webhook_password: validator.secret("server.webhook_password", &raw.webhook_password)?,
        webhook_hmac_secret: validator
            .secret("server.webhook_hmac_secret", &raw.webhook_hmac_secret)?,
        public_url: validator.optional_text("server.public_url", &raw.public_url)?,
    })
}
