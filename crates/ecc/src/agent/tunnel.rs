//! How the agent reaches the connector from inside an SAP network: directly, or through the
//! company's HTTP proxy with `CONNECT` (`--proxy`, or `HTTPS_PROXY`/`HTTP_PROXY`/`ALL_PROXY`
//! minus `NO_PROXY`), then TLS for `wss` against the public web roots and the company CAs of
//! `--ca-file`, then the WebSocket upgrade with the agent's token. The whole way is bounded by
//! one connect timeout, so a proxy that accepts and stalls is an error, never a hang.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream};

use crate::error::EccError;

/// The largest frame the agent accepts from the connector: requests are a function call or an
/// OData path, a few KiB; anything larger is not the connector speaking.
pub const MAX_REQUEST_FRAME_BYTES: usize = 4 * 1024 * 1024;

/// Where the agent's connection goes first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyRoute {
    /// `http://[user:password@]host:port` of the proxy.
    pub proxy: url::Url,
    /// Which option or variable named it, for error messages.
    pub origin: String,
}

/// The proxy for `target`: `explicit` (`--proxy`) when given, otherwise the environment's
/// (`HTTPS_PROXY` for wss, `HTTP_PROXY` for ws, then `ALL_PROXY`; lower-case names too), unless
/// `NO_PROXY` names the host. `--proxy none` connects directly whatever the environment says.
pub fn proxy_for(
    target: &url::Url,
    explicit: Option<&str>,
    environment: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<ProxyRoute>, EccError> {
    if let Some(text) = explicit.map(str::trim).filter(|text| !text.is_empty()) {
        if text.eq_ignore_ascii_case("none") {
            return Ok(None);
        }
        return parse_proxy(text, "--proxy").map(Some);
    }
    let names: &[&str] = if target.scheme() == "wss" {
        &["HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"]
    } else {
        &["HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"]
    };
    let Some((name, value)) = names.iter().find_map(|name| {
        environment(name)
            .filter(|value| !value.trim().is_empty())
            .map(|value| (*name, value))
    }) else {
        return Ok(None);
    };
    let no_proxy = environment("NO_PROXY")
        .or_else(|| environment("no_proxy"))
        .unwrap_or_default();
    if bypasses_proxy(target, &no_proxy) {
        return Ok(None);
    }
    parse_proxy(value.trim(), name).map(Some)
}

fn parse_proxy(text: &str, origin: &str) -> Result<ProxyRoute, EccError> {
    // `proxy.corp:3128` is what many set; it means http.
    let with_scheme = if text.contains("://") {
        text.to_string()
    } else {
        format!("http://{text}")
    };
    let proxy = url::Url::parse(&with_scheme).map_err(|error| {
        EccError::Config(format!(
            "{origin}: {} is not a proxy URL: {error}",
            redact_proxy(text)
        ))
    })?;
    if proxy.scheme() != "http" {
        return Err(EccError::Config(format!(
            "{origin}: {} uses {}; the agent tunnels through an HTTP proxy with CONNECT \
             (http://host:port)",
            redact_proxy(text),
            proxy.scheme()
        )));
    }
    if proxy.host_str().is_none() {
        return Err(EccError::Config(format!(
            "{origin}: {} names no host",
            redact_proxy(text)
        )));
    }
    Ok(ProxyRoute {
        proxy,
        origin: origin.to_string(),
    })
}

/// The proxy as it may be printed: without its password.
fn redact_proxy(text: &str) -> String {
    match url::Url::parse(text) {
        Ok(mut url) if url.password().is_some() => {
            let _ = url.set_password(Some("***"));
            url.to_string()
        }
        Ok(url) => url.to_string(),
        Err(_) if text.contains('@') => "(a proxy URL with credentials)".to_string(),
        Err(_) => text.to_string(),
    }
}

/// `NO_PROXY`: `*`, or hosts and domains (`.corp.example`, `corp.example`), optionally with a
/// port, comma- or blank-separated.
fn bypasses_proxy(target: &url::Url, no_proxy: &str) -> bool {
    let host = target
        .host_str()
        .unwrap_or_default()
        .trim_matches(['[', ']'])
        .to_ascii_lowercase();
    let port = target.port_or_known_default();
    no_proxy
        .split([',', ' '])
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .any(|entry| {
            if entry == "*" {
                return true;
            }
            let (name, entry_port) = match entry.rsplit_once(':') {
                Some((name, port_text)) if !name.contains(':') || name.ends_with(']') => {
                    (name, port_text.parse::<u16>().ok())
                }
                _ => (entry, None),
            };
            if entry_port.is_some() && entry_port != port {
                return false;
            }
            let name = name
                .trim_matches(['[', ']'])
                .trim_start_matches('.')
                .to_ascii_lowercase();
            host == name || host.ends_with(&format!(".{name}"))
        })
}

/// TLS for `wss`: the public web roots, and with `ca_file` the company CAs of that PEM file
/// too (a connector behind the company's own CA), as the agent's HTTPS to ECC does.
pub fn tls_connector(ca_file: Option<&str>) -> Result<Option<Connector>, EccError> {
    let Some(path) = ca_file else {
        return Ok(None);
    };
    let pem = std::fs::read(path)
        .map_err(|error| EccError::Config(format!("cannot read --ca-file {path}: {error}")))?;
    let mut roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let mut found = 0;
    for certificate in CertificateDer::pem_slice_iter(&pem) {
        let certificate = certificate.map_err(|error| {
            EccError::Config(format!("--ca-file {path} is not a PEM bundle: {error}"))
        })?;
        roots.add(certificate).map_err(|error| {
            EccError::Config(format!(
                "--ca-file {path} holds a certificate rustls cannot use: {error}"
            ))
        })?;
        found += 1;
    }
    if found == 0 {
        return Err(EccError::Config(format!(
            "--ca-file {path} holds no certificate"
        )));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|error| EccError::Config(format!("TLS setup: {error}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Some(Connector::Rustls(Arc::new(config))))
}

/// How the agent connects, from its options.
pub struct ConnectorRoute {
    pub url: url::Url,
    pub token: String,
    pub proxy: Option<ProxyRoute>,
    pub tls: Option<Connector>,
    pub timeout: Duration,
}

pub type AgentSocket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Opens the WebSocket to the connector (through the proxy when there is one), presenting the
/// token; all of it within `route.timeout`.
pub async fn connect(route: &ConnectorRoute) -> Result<AgentSocket, EccError> {
    let endpoint = route.url.to_string();
    match tokio::time::timeout(route.timeout, connect_unbounded(route)).await {
        Ok(outcome) => outcome,
        Err(_) => Err(EccError::Unreachable {
            endpoint,
            detail: format!(
                "no connection within {} s{} (a proxy or firewall that accepts and stalls?)",
                route.timeout.as_secs(),
                route
                    .proxy
                    .as_ref()
                    .map(|proxy| format!(" through the proxy of {}", proxy.origin))
                    .unwrap_or_default()
            ),
        }),
    }
}

async fn connect_unbounded(route: &ConnectorRoute) -> Result<AgentSocket, EccError> {
    let url = &route.url;
    let endpoint = url.to_string();
    let host = url
        .host_str()
        .ok_or_else(|| EccError::Config(format!("--connect {url} names no host")))?
        .to_string();
    let port = url
        .port_or_known_default()
        .ok_or_else(|| EccError::Config(format!("--connect {url} names no port")))?;
    let stream = match &route.proxy {
        None => TcpStream::connect((host.trim_matches(['[', ']']), port))
            .await
            .map_err(|error| EccError::Unreachable {
                endpoint: endpoint.clone(),
                detail: error.to_string(),
            })?,
        Some(proxy) => tunnel(proxy, &host, port, &endpoint).await?,
    };
    let mut request = url
        .as_str()
        .into_client_request()
        .map_err(|error| EccError::Config(format!("--connect {url}: {error}")))?;
    let bearer = format!("Bearer {}", route.token.trim());
    request.headers_mut().insert(
        "Authorization",
        bearer.parse().map_err(|_| {
            EccError::Config("the agent token holds characters a header cannot".into())
        })?,
    );
    let config = WebSocketConfig::default()
        .max_message_size(Some(MAX_REQUEST_FRAME_BYTES))
        .max_frame_size(Some(MAX_REQUEST_FRAME_BYTES));
    match tokio_tungstenite::client_async_tls_with_config(
        request,
        stream,
        Some(config),
        route.tls.clone(),
    )
    .await
    {
        Ok((socket, _)) => Ok(socket),
        Err(tokio_tungstenite::tungstenite::Error::Http(response))
            if response.status() == 401 || response.status() == 403 =>
        {
            tracing::error!("the connector refused the agent token");
            Err(EccError::AgentRefused(format!(
                "the connector at {url} refused the agent token (HTTP {})",
                response.status()
            )))
        }
        Err(error) => Err(EccError::Unreachable {
            endpoint,
            detail: error.to_string(),
        }),
    }
}

/// A TCP stream to `host:port` through the proxy's `CONNECT`.
async fn tunnel(
    route: &ProxyRoute,
    host: &str,
    port: u16,
    endpoint: &str,
) -> Result<TcpStream, EccError> {
    let proxy = &route.proxy;
    let proxy_host = proxy
        .host_str()
        .unwrap_or_default()
        .trim_matches(['[', ']']);
    let proxy_port = proxy.port_or_known_default().unwrap_or(80);
    let proxy_name = format!("the proxy {proxy_host}:{proxy_port} ({})", route.origin);
    let mut stream = TcpStream::connect((proxy_host, proxy_port))
        .await
        .map_err(|error| EccError::Unreachable {
            endpoint: endpoint.to_string(),
            detail: format!("cannot reach {proxy_name}: {error}"),
        })?;
    let authority = format!("{host}:{port}");
    let mut head = format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n");
    if !proxy.username().is_empty() {
        let decode = |text: &str| {
            percent_encoding::percent_decode_str(text)
                .decode_utf8_lossy()
                .into_owned()
        };
        let credentials = format!(
            "{}:{}",
            decode(proxy.username()),
            decode(proxy.password().unwrap_or_default())
        );
        head.push_str(&format!(
            "Proxy-Authorization: Basic {}\r\n",
            base64::engine::general_purpose::STANDARD.encode(credentials)
        ));
    }
    head.push_str("\r\n");
    stream
        .write_all(head.as_bytes())
        .await
        .map_err(|error| EccError::Unreachable {
            endpoint: endpoint.to_string(),
            detail: format!("{proxy_name}: {error}"),
        })?;
    // The proxy's answer head, byte by byte so nothing of the tunnel is read past it.
    let mut answer = Vec::new();
    while !answer.ends_with(b"\r\n\r\n") {
        if answer.len() > 16 * 1024 {
            return Err(EccError::Unreachable {
                endpoint: endpoint.to_string(),
                detail: format!("{proxy_name} answered CONNECT with more than 16 KiB of head"),
            });
        }
        let byte = stream
            .read_u8()
            .await
            .map_err(|error| EccError::Unreachable {
                endpoint: endpoint.to_string(),
                detail: format!("{proxy_name} closed the connection on CONNECT: {error}"),
            })?;
        answer.push(byte);
    }
    let status_line = String::from_utf8_lossy(&answer)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string();
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse::<u16>().ok());
    match status {
        Some(200..=299) => Ok(stream),
        Some(407) => Err(EccError::Unreachable {
            endpoint: endpoint.to_string(),
            detail: format!(
                "{proxy_name} wants credentials (407): give them in the proxy URL, \
                 http://user:password@host:port"
            ),
        }),
        _ => Err(EccError::Unreachable {
            endpoint: endpoint.to_string(),
            detail: format!("{proxy_name} refused CONNECT {authority}: {status_line}"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn environment(
        pairs: &'static [(&'static str, &'static str)],
    ) -> impl Fn(&str) -> Option<String> {
        move |name| {
            pairs
                .iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| value.to_string())
        }
    }

    fn url(text: &str) -> url::Url {
        url::Url::parse(text).unwrap()
    }

    #[test]
    fn the_environment_names_the_proxy_unless_no_proxy_names_the_host() {
        let env = environment(&[
            ("HTTPS_PROXY", "http://proxy.corp:3128"),
            ("NO_PROXY", "localhost, .internal.corp,10.1.2.3:9000"),
        ]);
        let route = proxy_for(
            &url("wss://connector.example.com/agent/connect"),
            None,
            &env,
        )
        .unwrap()
        .unwrap();
        assert_eq!(route.proxy.as_str(), "http://proxy.corp:3128/");
        assert_eq!(route.origin, "HTTPS_PROXY");
        for direct in [
            "wss://localhost/agent/connect",
            "wss://connector.internal.corp/agent/connect",
            "wss://internal.corp/agent/connect",
            "ws://10.1.2.3:9000/agent/connect",
        ] {
            // ws:// reads HTTP_PROXY, which is not set; wss:// is bypassed by NO_PROXY.
            assert_eq!(
                proxy_for(&url(direct), None, &env).unwrap(),
                None,
                "{direct}"
            );
        }
        let other_port = environment(&[
            ("ALL_PROXY", "proxy.corp:8080"),
            ("no_proxy", "10.1.2.3:9000"),
        ]);
        let route = proxy_for(&url("ws://10.1.2.3:9001/agent/connect"), None, &other_port)
            .unwrap()
            .unwrap();
        assert_eq!(route.proxy.as_str(), "http://proxy.corp:8080/");
        assert_eq!(route.origin, "ALL_PROXY");
    }

    #[test]
    fn an_explicit_proxy_wins_and_none_connects_directly() {
        let env = environment(&[("HTTPS_PROXY", "http://proxy.corp:3128")]);
        let target = url("wss://connector.example.com/agent/connect");
        let route = proxy_for(&target, Some("http://other:8080"), &env)
            .unwrap()
            .unwrap();
        assert_eq!(route.origin, "--proxy");
        assert_eq!(proxy_for(&target, Some("none"), &env).unwrap(), None);
    }

    #[test]
    fn a_proxy_that_is_not_http_is_a_config_error_without_its_password() {
        let env = environment(&[]);
        let target = url("wss://connector.example.com/agent/connect");
        let error = proxy_for(&target, Some("socks5://user:hunter2@proxy:1080"), &env)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("--proxy") && error.contains("CONNECT"),
            "{error}"
        );
        assert!(!error.contains("hunter2"), "{error}");
    }

    #[tokio::test]
    async fn a_proxy_that_accepts_and_stalls_ends_within_the_timeout() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let held = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                held.push(socket);
            }
        });
        let route = ConnectorRoute {
            url: url("ws://127.0.0.1:9/agent/connect"),
            token: "t".into(),
            proxy: Some(ProxyRoute {
                proxy: url(&format!("http://{address}")),
                origin: "--proxy".into(),
            }),
            tls: None,
            timeout: Duration::from_millis(500),
        };
        let outcome = tokio::time::timeout(Duration::from_secs(10), connect(&route))
            .await
            .expect("the connect ends");
        let Err(error) = outcome else {
            panic!("connected through a stalled proxy")
        };
        let error = error.to_string();
        assert!(
            error.contains("no connection within") && error.contains("--proxy"),
            "{error}"
        );
        held.abort();
    }

    #[tokio::test]
    async fn a_proxy_that_refuses_connect_is_named_with_its_answer() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move {
            if let Ok((mut socket, _)) = listener.accept().await {
                let mut buffer = [0u8; 1024];
                let _ = socket.read(&mut buffer).await;
                let _ = socket
                    .write_all(b"HTTP/1.1 407 Proxy Authentication Required\r\n\r\n")
                    .await;
            }
        });
        let route = ConnectorRoute {
            url: url("ws://127.0.0.1:9/agent/connect"),
            token: "t".into(),
            proxy: Some(ProxyRoute {
                proxy: url(&format!("http://{address}")),
                origin: "HTTPS_PROXY".into(),
            }),
            tls: None,
            timeout: Duration::from_secs(5),
        };
        let Err(error) = connect(&route).await else {
            panic!("connected though the proxy refused")
        };
        let error = error.to_string();
        assert!(
            error.contains("407") && error.contains("HTTPS_PROXY"),
            "{error}"
        );
    }
}
