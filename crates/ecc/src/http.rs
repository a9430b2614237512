//! The HTTPS client every transport uses: rustls, the company CA bundle, timeouts, and bounded
//! retries of calls that may succeed when repeated.

use std::future::Future;
use std::time::Duration;

use mlc_config::EccConfig;

use crate::error::EccError;

/// TLS and timeout settings, taken from `[ecc]` or from the agent's command line.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    pub timeout: Duration,
    pub ca_file: Option<String>,
    pub accept_invalid_certs: bool,
}

impl HttpSettings {
    pub fn from_config(config: &EccConfig) -> Self {
        HttpSettings {
            timeout: config.timeout,
            ca_file: config.ca_file.clone(),
            accept_invalid_certs: config.accept_invalid_certs,
        }
    }
}

/// Builds the client. A CA file adds the company's root certificates to the web PKI roots;
/// accepting invalid certificates is only done when asked, and then said loudly.
pub fn build_client(settings: &HttpSettings) -> Result<reqwest::Client, EccError> {
    let mut builder = reqwest::Client::builder()
        .use_rustls_tls()
        .timeout(settings.timeout)
        .connect_timeout(settings.timeout.min(Duration::from_secs(30)))
        .pool_max_idle_per_host(16)
        .user_agent(concat!("ml-connector/", env!("CARGO_PKG_VERSION")));
    if let Some(path) = &settings.ca_file {
        let pem = std::fs::read(path).map_err(|error| {
            EccError::Config(format!("cannot read ecc.ca_file {path}: {error}"))
        })?;
        let certificates = reqwest::Certificate::from_pem_bundle(&pem).map_err(|error| {
            EccError::Config(format!("ecc.ca_file {path} is not a PEM bundle: {error}"))
        })?;
        if certificates.is_empty() {
            return Err(EccError::Config(format!(
                "ecc.ca_file {path} holds no certificate"
            )));
        }
        for certificate in certificates {
            builder = builder.add_root_certificate(certificate);
        }
    }
    if settings.accept_invalid_certs {
        tracing::warn!(
            "ecc.accept_invalid_certs = true: the ECC server's TLS certificate is NOT checked; \
             anyone between here and ECC can read the SAP password. Use ecc.ca_file instead."
        );
        builder = builder.danger_accept_invalid_certs(true);
    }
    builder
        .build()
        .map_err(|error| EccError::Config(format!("cannot build the HTTP client: {error}")))
}

/// The largest answer read from ECC unless `ecc.max_response_mib` says otherwise: far above a
/// page of RFC_READ_TABLE rows or OData entities, far below what would exhaust memory.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 64 * 1024 * 1024;

/// Reads a response body as text, at most `cap` bytes: a larger answer is an error naming the
/// endpoint, read no further, instead of unbounded memory.
pub async fn read_capped(
    mut response: reqwest::Response,
    endpoint: &str,
    cap: usize,
) -> Result<String, EccError> {
    let too_large = |read: u64| EccError::Http {
        endpoint: endpoint.to_string(),
        status: 200,
        detail: format!(
            "the answer is larger than {cap} bytes ({read} and more); refused \
             (raise ecc.max_response_mib if this page is legitimate, or lower ecc.rows_per_call)"
        ),
    };
    if let Some(length) = response.content_length() {
        if length > cap as u64 {
            return Err(too_large(length));
        }
    }
    let mut body: Vec<u8> = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|error| network_error(endpoint, &error))?
    {
        if body.len() + chunk.len() > cap {
            return Err(too_large((body.len() + chunk.len()) as u64));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(String::from_utf8(body)
        .unwrap_or_else(|error| String::from_utf8_lossy(error.as_bytes()).into_owned()))
}

/// Maps a reqwest error to ours, naming the endpoint.
pub fn network_error(endpoint: &str, error: &reqwest::Error) -> EccError {
    let detail = if error.is_timeout() {
        format!("timed out ({error})")
    } else {
        let mut text = error.to_string();
        let mut source = std::error::Error::source(error);
        while let Some(inner) = source {
            text.push_str(": ");
            text.push_str(&inner.to_string());
            source = inner.source();
        }
        text
    };
    EccError::Unreachable {
        endpoint: endpoint.to_string(),
        detail,
    }
}

/// Runs `attempt` until it succeeds, fails for good, or `retries` extra attempts are used,
/// waiting 200 ms, 400 ms, 800 ms... (capped at 10 s) between attempts.
pub async fn with_retries<T, F, Fut>(
    retries: u32,
    what: &str,
    mut attempt: F,
) -> Result<T, EccError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, EccError>>,
{
    let mut tries = 0;
    loop {
        match attempt().await {
            Ok(value) => return Ok(value),
            Err(error) if error.is_retryable() && tries < retries => {
                tries += 1;
                let wait = Duration::from_millis(200u64.saturating_mul(1 << tries.min(6)))
                    .min(Duration::from_secs(10));
                tracing::warn!(%error, attempt = tries, wait_ms = wait.as_millis() as u64, "{what} failed, retrying");
                tokio::time::sleep(wait).await;
            }
            Err(error) => return Err(error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ca_file_that_is_missing_or_not_pem_is_a_config_error() {
        let settings = |path: &str| HttpSettings {
            timeout: Duration::from_secs(5),
            ca_file: Some(path.to_string()),
            accept_invalid_certs: false,
        };
        let missing = build_client(&settings("/nonexistent/ca.pem")).unwrap_err();
        assert!(
            matches!(&missing, EccError::Config(message) if message.contains("ecc.ca_file")),
            "{missing}"
        );
        let file = std::env::temp_dir().join(format!("mlc-ecc-not-pem-{}.pem", std::process::id()));
        std::fs::write(&file, "not a certificate").unwrap();
        let empty = build_client(&settings(&file.display().to_string())).unwrap_err();
        let _ = std::fs::remove_file(&file);
        assert!(
            matches!(&empty, EccError::Config(message) if message.contains("no certificate") || message.contains("PEM")),
            "{empty}"
        );
        assert!(build_client(&HttpSettings {
            timeout: Duration::from_secs(5),
            ca_file: None,
            accept_invalid_certs: true
        })
        .is_ok());
    }
}
