//! The OData V2 transport: a Gateway service whose entity sets and property names come from
//! `[ecc.odata]` (defaults fit the simulator's ZMLC_CUSTOMER_SRV). Pages follow `__next` when
//! the server pages, `$top`/`$skip` otherwise, and fall back to paging by key (`$filter` on the
//! customer number) or one read when a service ignores `$skip` or `$top`.

pub mod json;
mod mapping;
mod metadata;
mod shape;
mod source;

pub use mapping::PropertyMap;
pub use source::ODataSource;

use mlc_config::EccConfig;

use crate::error::EccError;
use crate::http::{network_error, read_capped, with_retries};
use crate::server_clock::ServerClock;

/// An HTTP GET of a path under the ECC host, answering (status, body). The agent relays the same.
#[async_trait::async_trait]
pub trait ODataFetch: Send + Sync {
    async fn get(&self, path: &str) -> Result<(u16, String), EccError>;
    fn endpoint(&self) -> String;
    /// How far Gateway's clock is ahead of ours (negative: behind), from the HTTP `Date`
    /// header of its last answer; `None` when no answer carried one.
    fn clock_skew(&self) -> Option<chrono::Duration> {
        None
    }
}

/// Direct HTTPS to Gateway with Basic auth, `sap-client` and `sap-language`.
pub struct HttpODataFetch {
    http: reqwest::Client,
    base_url: String,
    client: String,
    language: String,
    user: String,
    password: String,
    retries: u32,
    max_response_bytes: usize,
    /// Gateway's clock, from the `Date` header of its answers.
    clock: ServerClock,
}

impl HttpODataFetch {
    pub fn new(http: reqwest::Client, config: &EccConfig) -> Self {
        HttpODataFetch {
            http,
            base_url: config.base_url.trim_end_matches('/').to_string(),
            client: config.client.clone(),
            language: config.language.clone(),
            user: config.user.clone(),
            password: config.password.expose().to_string(),
            retries: config.retries,
            max_response_bytes: config.max_response_bytes,
            clock: ServerClock::default(),
        }
    }

    async fn get_once(&self, url: &str) -> Result<(u16, String), EccError> {
        let response = self
            .http
            .get(url)
            .basic_auth(&self.user, Some(&self.password))
            .header("Accept", "application/json")
            .send()
            .await
            .map_err(|error| network_error(&self.base_url, &error))?;
        let status = response.status().as_u16();
        self.clock.observe_headers(response.headers());
        let body = read_capped(response, &self.base_url, self.max_response_bytes).await?;
        if status >= 500 || status == 429 {
            // Worth another try; the caller sees the body if every try fails.
            let (code, message) = json::parse_error(&body).unwrap_or_default();
            return Err(EccError::OData {
                endpoint: url.to_string(),
                status,
                code,
                message: if message.is_empty() {
                    body.chars().take(200).collect()
                } else {
                    message
                },
            });
        }
        Ok((status, body))
    }
}

#[async_trait::async_trait]
impl ODataFetch for HttpODataFetch {
    async fn get(&self, path: &str) -> Result<(u16, String), EccError> {
        let separator = if path.contains('?') { '&' } else { '?' };
        let url = format!(
            "{}{path}{separator}sap-client={}&sap-language={}",
            self.base_url, self.client, self.language
        );
        with_retries(self.retries, "OData GET", || self.get_once(&url)).await
    }

    fn endpoint(&self) -> String {
        self.base_url.clone()
    }

    fn clock_skew(&self) -> Option<chrono::Duration> {
        self.clock.skew()
    }
}
