//! Authentication: the API token in `x-api-token`, or OAuth2 (authorization code, then refresh
//! tokens that rotate). OAuth tokens live in the secret vault (encrypted in the state store); a rotated refresh token
//! is written there before the new access token is used, and the previous one is kept, so a
//! crash between Pipedrive's rotation and our write, or another instance's refresh, does not lock
//! the connector out.

use std::sync::Arc;

use base64::Engine;
use chrono::{DateTime, Duration as ChronoDuration, Utc};
use mlc_config::sections::pipedrive::OauthConfig;
use mlc_config::Secret;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

use crate::error::{PipedriveError, Result};
use crate::storage::SecretVault;

/// Refresh this long before the access token expires.
const REFRESH_AHEAD: ChronoDuration = ChronoDuration::seconds(120);

/// The OAuth tokens of one app installation, as kept in the secret vault.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenSet {
    pub access_token: String,
    pub refresh_token: String,
    pub expires_at: DateTime<Utc>,
    /// Where API requests go: `https://COMPANY.pipedrive.com`.
    pub api_domain: String,
    #[serde(default)]
    pub scope: Option<String>,
    /// The refresh token this one replaced: tried once when the current one is refused, in case
    /// the rotation never reached Pipedrive.
    #[serde(default)]
    pub previous_refresh_token: Option<String>,
}

impl std::fmt::Debug for TokenSet {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("TokenSet")
            .field("expires_at", &self.expires_at)
            .field("api_domain", &self.api_domain)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

/// The token endpoint's answer.
#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    refresh_token: String,
    expires_in: i64,
    api_domain: String,
    #[serde(default)]
    scope: Option<String>,
}

/// The vault's name for an OAuth app's tokens.
pub fn secret_name(oauth: &OauthConfig) -> String {
    format!("pipedrive.oauth.{}", oauth.client_id)
}

pub async fn load_tokens(vault: &dyn SecretVault, oauth: &OauthConfig) -> Result<Option<TokenSet>> {
    let name = secret_name(oauth);
    let Some(bytes) = vault.get_secret(&name).await? else {
        return Ok(None);
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|error| PipedriveError::OauthFlow {
            step: "reading stored tokens",
            message: format!("secret {name} is not a token set ({error}); re-authorize with `ml-connector auth pipedrive`"),
        })
}

pub async fn store_tokens(
    vault: &dyn SecretVault,
    oauth: &OauthConfig,
    tokens: &TokenSet,
) -> Result<()> {
    let bytes = serde_json::to_vec(tokens).map_err(|error| PipedriveError::OauthFlow {
        step: "storing tokens",
        message: error.to_string(),
    })?;
    vault.put_secret(&secret_name(oauth), &bytes).await?;
    Ok(())
}

/// The URL the user opens to grant the app access.
pub fn authorize_url(oauth: &OauthConfig, state: &str) -> Result<String> {
    let mut url =
        url::Url::parse(&oauth.authorize_url).map_err(|error| PipedriveError::BadUrl {
            url: oauth.authorize_url.clone(),
            message: error.to_string(),
        })?;
    url.query_pairs_mut()
        .append_pair("client_id", &oauth.client_id)
        .append_pair("redirect_uri", &oauth.redirect_uri)
        .append_pair("state", state);
    Ok(url.to_string())
}

/// A random `state` for the authorize URL.
pub fn new_state() -> String {
    use rand::Rng;
    let bytes: [u8; 16] = rand::thread_rng().gen();
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Exchanges an authorization code for tokens and stores them at once.
pub async fn exchange_code(
    http: &reqwest::Client,
    vault: &dyn SecretVault,
    oauth: &OauthConfig,
    code: &str,
) -> Result<TokenSet> {
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", oauth.redirect_uri.as_str()),
    ];
    let response = token_request(http, oauth, &form, "exchanging the authorization code").await?;
    let tokens = TokenSet {
        access_token: response.access_token,
        refresh_token: response.refresh_token,
        expires_at: Utc::now() + ChronoDuration::seconds(response.expires_in),
        api_domain: response.api_domain,
        scope: response.scope,
        previous_refresh_token: None,
    };
    store_tokens(vault, oauth, &tokens).await?;
    Ok(tokens)
}

/// The longest answer read from the OAuth token endpoint.
const TOKEN_ANSWER_CAP: usize = 1024 * 1024;

/// What went wrong at the token endpoint.
enum TokenFailure {
    InvalidGrant(String),
    Other(PipedriveError),
}

async fn token_request(
    http: &reqwest::Client,
    oauth: &OauthConfig,
    form: &[(&str, &str)],
    step: &'static str,
) -> Result<TokenResponse> {
    match token_request_classified(http, oauth, form, step).await {
        Ok(response) => Ok(response),
        Err(TokenFailure::InvalidGrant(message)) => Err(PipedriveError::InvalidGrant { message }),
        Err(TokenFailure::Other(error)) => Err(error),
    }
}

async fn token_request_classified(
    http: &reqwest::Client,
    oauth: &OauthConfig,
    form: &[(&str, &str)],
    step: &'static str,
) -> std::result::Result<TokenResponse, TokenFailure> {
    let basic = base64::engine::general_purpose::STANDARD.encode(format!(
        "{}:{}",
        oauth.client_id,
        oauth.client_secret.expose()
    ));
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form.iter())
        .finish();
    let response = http
        .post(&oauth.token_url)
        .header("authorization", format!("Basic {basic}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .map_err(|error| {
            TokenFailure::Other(PipedriveError::OauthFlow {
                step,
                message: format!("{}: {error}", oauth.token_url),
            })
        })?;
    let status = response.status();
    // A token answer is a few hundred bytes; a larger one is not read into memory.
    let text = match crate::transport::read_bounded(response, TOKEN_ANSWER_CAP).await {
        Ok(body) => String::from_utf8_lossy(&body).into_owned(),
        Err(failure) => {
            return Err(TokenFailure::Other(PipedriveError::OauthFlow {
                step,
                message: format!("{}: {failure}", oauth.token_url),
            }))
        }
    };
    if status.is_success() {
        return serde_json::from_str(&text).map_err(|error| {
            TokenFailure::Other(PipedriveError::OauthFlow {
                step,
                message: format!("the token endpoint answered something else than tokens: {error}"),
            })
        });
    }
    let message = oauth_error_message(&text);
    let lowered = message.to_ascii_lowercase();
    if lowered.contains("invalid_grant") || lowered.contains("invalid grant") {
        return Err(TokenFailure::InvalidGrant(message));
    }
    Err(TokenFailure::Other(PipedriveError::OauthFlow {
        step,
        message: format!("HTTP {status}: {message}"),
    }))
}

/// `error` + `error_description` of an OAuth error body, or the body itself.
fn oauth_error_message(body: &str) -> String {
    #[derive(Deserialize)]
    struct OauthErrorBody {
        #[serde(default)]
        error: Option<serde_json::Value>,
        #[serde(default)]
        error_description: Option<String>,
        #[serde(default)]
        message: Option<String>,
    }
    match serde_json::from_str::<OauthErrorBody>(body) {
        Ok(parsed) => {
            let error = match parsed.error {
                Some(serde_json::Value::String(text)) => text,
                Some(serde_json::Value::Object(object)) => object
                    .get("message")
                    .and_then(|value| value.as_str())
                    .unwrap_or_default()
                    .to_string(),
                _ => String::new(),
            };
            let detail = parsed
                .error_description
                .or(parsed.message)
                .unwrap_or_default();
            match (error.is_empty(), detail.is_empty()) {
                (false, false) => format!("{error}: {detail}"),
                (false, true) => error,
                (true, false) => detail,
                (true, true) => body.chars().take(200).collect(),
            }
        }
        Err(_) => body.chars().take(200).collect(),
    }
}

/// How requests are authenticated.
#[derive(Clone)]
pub(crate) enum Credentials {
    ApiToken(Secret),
    Oauth(Arc<OauthSession>),
}

/// The OAuth scopes the connector needs: one of each group (reading and writing
/// organizations and persons; creating their custom fields in `setup`).
pub const NEEDED_SCOPES: [&[&str]; 2] = [&["contacts:full"], &["contact-fields:full", "admin"]];

/// The groups of [`NEEDED_SCOPES`] that `granted` (space- or comma-separated) has none of.
pub fn missing_scopes(granted: &str) -> Vec<String> {
    let granted: Vec<&str> = granted.split([' ', ',']).map(str::trim).collect();
    NEEDED_SCOPES
        .iter()
        .filter(|group| !group.iter().any(|scope| granted.contains(scope)))
        .map(|group| group.join(" or "))
        .collect()
}

impl Credentials {
    /// The OAuth scopes granted (None for an API token, or when Pipedrive did not say).
    pub(crate) async fn granted_scopes(&self) -> Option<String> {
        match self {
            Credentials::ApiToken(_) => None,
            Credentials::Oauth(session) => session.scope().await,
        }
    }

    /// The header to send with the next request.
    pub(crate) async fn header(&self) -> Result<(&'static str, String)> {
        match self {
            Credentials::ApiToken(token) => Ok(("x-api-token", token.expose().to_string())),
            Credentials::Oauth(session) => Ok((
                "authorization",
                format!("Bearer {}", session.access_token().await?),
            )),
        }
    }

    /// Whether a 401 may be cured by refreshing (OAuth); an API token stays what it is.
    pub(crate) fn can_renew(&self) -> bool {
        matches!(self, Credentials::Oauth(_))
    }

    /// After a 401: refresh the OAuth access token (unless another task already did since
    /// `rejected_header` was sent). Nothing to do for an API token.
    pub(crate) async fn renew_after_unauthorized(&self, rejected_header: &str) -> Result<()> {
        match self {
            Credentials::ApiToken(_) => Ok(()),
            Credentials::Oauth(session) => session.refresh_if_still(rejected_header).await,
        }
    }
}

/// OAuth tokens in use, refreshed before they expire.
pub(crate) struct OauthSession {
    oauth: OauthConfig,
    vault: Arc<dyn SecretVault>,
    http: reqwest::Client,
    tokens: tokio::sync::Mutex<TokenSet>,
    /// Set when a rotated token set could not be written to the store: every later call tries
    /// again, so the rotation is not lost for the next start.
    unsaved: std::sync::atomic::AtomicBool,
}

impl OauthSession {
    pub(crate) fn new(
        oauth: OauthConfig,
        vault: Arc<dyn SecretVault>,
        http: reqwest::Client,
        tokens: TokenSet,
    ) -> Self {
        OauthSession {
            oauth,
            vault,
            http,
            tokens: tokio::sync::Mutex::new(tokens),
            unsaved: std::sync::atomic::AtomicBool::new(false),
        }
    }

    pub(crate) async fn api_domain(&self) -> String {
        self.tokens.lock().await.api_domain.clone()
    }

    /// The scopes Pipedrive said it granted, when it said.
    pub(crate) async fn scope(&self) -> Option<String> {
        self.tokens.lock().await.scope.clone()
    }

    async fn access_token(&self) -> Result<String> {
        let mut tokens = self.tokens.lock().await;
        if tokens.expires_at - REFRESH_AHEAD <= Utc::now() {
            self.refresh_locked(&mut tokens).await?;
        } else if self.unsaved.load(std::sync::atomic::Ordering::Relaxed) {
            self.save(&tokens).await;
        }
        Ok(tokens.access_token.clone())
    }

    /// Writes the token set to the store; a failure is logged and retried with the next call
    /// (the tokens in memory stay valid meanwhile).
    async fn save(&self, tokens: &TokenSet) {
        use std::sync::atomic::Ordering;
        match store_tokens(self.vault.as_ref(), &self.oauth, tokens).await {
            Ok(()) => self.unsaved.store(false, Ordering::Relaxed),
            Err(error) => {
                self.unsaved.store(true, Ordering::Relaxed);
                tracing::error!(%error, "cannot store the rotated pipedrive OAuth refresh token; retrying with the next call");
            }
        }
    }

    /// Refreshes unless another task already did since `rejected_header` was sent.
    async fn refresh_if_still(&self, rejected_header: &str) -> Result<()> {
        let mut tokens = self.tokens.lock().await;
        if rejected_header == format!("Bearer {}", tokens.access_token) {
            self.refresh_locked(&mut tokens).await?;
        }
        Ok(())
    }

    /// One refresh, single-flight under the lock. The new tokens are stored before they are
    /// used. When Pipedrive refuses the refresh token: another instance may have rotated it
    /// (take the stored one), or our last rotation may never have reached Pipedrive (try the
    /// previous one); only then is it `InvalidGrant`.
    async fn refresh_locked(&self, tokens: &mut TokenSet) -> Result<()> {
        let mut candidates = vec![tokens.refresh_token.clone()];
        let mut invalid_message = String::new();
        let mut stored_checked = false;
        let mut index = 0;
        while index < candidates.len() {
            let refresh_token = candidates[index].clone();
            index += 1;
            let form = [
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token.as_str()),
            ];
            match token_request_classified(
                &self.http,
                &self.oauth,
                &form,
                "refreshing the access token",
            )
            .await
            {
                Ok(response) => {
                    let renewed = TokenSet {
                        access_token: response.access_token,
                        refresh_token: response.refresh_token,
                        expires_at: Utc::now() + ChronoDuration::seconds(response.expires_in),
                        api_domain: response.api_domain,
                        scope: response.scope.or_else(|| tokens.scope.clone()),
                        previous_refresh_token: Some(refresh_token),
                    };
                    // Stored before use: a crash after this keeps the rotated token. Pipedrive
                    // has already retired the old one, so the new one is kept in memory even
                    // when the store fails (and written as soon as it can be).
                    *tokens = renewed;
                    self.save(tokens).await;
                    tracing::info!(expires_at = %tokens.expires_at, "pipedrive OAuth access token refreshed");
                    return Ok(());
                }
                Err(TokenFailure::InvalidGrant(message)) => {
                    invalid_message = message;
                    if !stored_checked {
                        stored_checked = true;
                        if let Some(stored) = load_tokens(self.vault.as_ref(), &self.oauth).await? {
                            if stored.refresh_token != tokens.refresh_token {
                                // Another instance rotated: its access token may still be good.
                                if stored.expires_at - REFRESH_AHEAD > Utc::now() {
                                    *tokens = stored;
                                    return Ok(());
                                }
                                candidates.push(stored.refresh_token.clone());
                            }
                            if let Some(previous) = stored.previous_refresh_token {
                                if !candidates.contains(&previous) {
                                    candidates.push(previous);
                                }
                            }
                        }
                        if let Some(previous) = tokens.previous_refresh_token.clone() {
                            if !candidates.contains(&previous) {
                                candidates.push(previous);
                            }
                        }
                    }
                }
                Err(TokenFailure::Other(error)) => return Err(error),
            }
        }
        Err(PipedriveError::InvalidGrant {
            message: invalid_message,
        })
    }
}

/// Waits for the browser's redirect to the loopback `redirect_uri` and returns the code. The
/// `state` must match; a mismatch or an `error` parameter is refused.
pub async fn receive_callback(listener: TcpListener, expected_state: &str) -> Result<String> {
    loop {
        let (mut socket, _) =
            listener
                .accept()
                .await
                .map_err(|error| PipedriveError::OauthFlow {
                    step: "waiting for the callback",
                    message: error.to_string(),
                })?;
        let mut reader = BufReader::new(&mut socket);
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).await.is_err() {
            continue;
        }
        // Drain the headers so the browser gets its answer cleanly.
        loop {
            let mut line = String::new();
            match reader.read_line(&mut line).await {
                Ok(0) | Err(_) => break,
                Ok(_) if line == "\r\n" || line == "\n" => break,
                Ok(_) => {}
            }
        }
        let target = request_line.split_whitespace().nth(1).unwrap_or("/");
        let outcome = parse_callback(target, expected_state);
        let (status, text) = match &outcome {
            Some(Ok(_)) => (
                "200 OK",
                "ml-connector is authorized. You can close this window.",
            ),
            Some(Err(_)) => ("400 Bad Request", "Authorization failed; see the terminal."),
            None => ("404 Not Found", "Not the OAuth callback."),
        };
        let answer = format!(
            "HTTP/1.1 {status}\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{text}",
            text.len()
        );
        let _ = socket.write_all(answer.as_bytes()).await;
        let _ = socket.shutdown().await;
        if let Some(result) = outcome {
            return result;
        }
    }
}

/// Reads `code` (and checks `state`) from a callback target (`/callback?code=...&state=...`)
/// or from the whole redirect URL pasted by the user. None when it is not a callback at all.
pub fn parse_callback(target: &str, expected_state: &str) -> Option<Result<String>> {
    let url = url::Url::parse(target)
        .or_else(|_| url::Url::parse(&format!("http://localhost{target}")))
        .ok()?;
    let mut code = None;
    let mut state = None;
    let mut error = None;
    for (key, value) in url.query_pairs() {
        match key.as_ref() {
            "code" => code = Some(value.into_owned()),
            "state" => state = Some(value.into_owned()),
            "error" => error = Some(value.into_owned()),
            _ => {}
        }
    }
    if let Some(error) = error {
        return Some(Err(PipedriveError::OauthFlow {
            step: "authorizing",
            message: format!("Pipedrive answered {error} (access denied or app misconfigured)"),
        }));
    }
    let code = code?;
    if state.as_deref() != Some(expected_state) {
        return Some(Err(PipedriveError::OauthFlow {
            step: "authorizing",
            message: "the callback's state does not match this authorization; start again"
                .to_string(),
        }));
    }
    Some(Ok(code))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn oauth() -> OauthConfig {
        OauthConfig {
            client_id: "client id".into(),
            client_secret: Secret::new("s"),
            redirect_uri: "http://127.0.0.1:8765/callback".into(),
            authorize_url: "https://oauth.pipedrive.com/oauth/authorize".into(),
            token_url: "https://oauth.pipedrive.com/oauth/token".into(),
        }
    }

    #[test]
    fn the_authorize_url_carries_client_redirect_and_state() {
        let url = authorize_url(&oauth(), "abc").unwrap();
        assert_eq!(
            url,
            "https://oauth.pipedrive.com/oauth/authorize?client_id=client+id&redirect_uri=http%3A%2F%2F127.0.0.1%3A8765%2Fcallback&state=abc"
        );
    }

    #[test]
    fn a_callback_gives_the_code_only_with_the_right_state() {
        let code = parse_callback("/callback?code=xyz&state=abc", "abc")
            .unwrap()
            .unwrap();
        assert_eq!(code, "xyz");
        let pasted = parse_callback("http://127.0.0.1:8765/callback?state=abc&code=q%2B1", "abc");
        assert_eq!(pasted.unwrap().unwrap(), "q+1");
        assert!(parse_callback("/callback?code=xyz&state=evil", "abc")
            .unwrap()
            .is_err());
        assert!(parse_callback("/favicon.ico", "abc").is_none());
        assert!(
            parse_callback("/callback?error=access_denied&state=abc", "abc")
                .unwrap()
                .is_err()
        );
    }

    proptest::proptest! {
        #[test]
        fn any_callback_target_is_answered_without_panicking(target in ".{0,200}", state in "[a-f0-9]{0,32}") {
            let outcome = parse_callback(&target, &state);
            if let Some(Ok(_)) = outcome {
                proptest::prop_assert!(target.contains("code="));
            }
        }

        #[test]
        fn any_token_endpoint_body_gives_a_message(body in ".{0,300}") {
            let _ = oauth_error_message(&body);
        }
    }

    #[test]
    fn token_sets_do_not_print_their_tokens() {
        let tokens = TokenSet {
            access_token: "secret-access".into(),
            refresh_token: "secret-refresh".into(),
            expires_at: Utc::now(),
            api_domain: "https://x.pipedrive.com".into(),
            scope: None,
            previous_refresh_token: None,
        };
        let printed = format!("{tokens:?}");
        assert!(!printed.contains("secret-"), "{printed}");
    }

    #[test]
    fn oauth_error_bodies_are_read_in_their_several_shapes() {
        assert_eq!(
            oauth_error_message(
                r#"{"error":"invalid_grant","error_description":"refresh_token is invalid"}"#
            ),
            "invalid_grant: refresh_token is invalid"
        );
        assert_eq!(
            oauth_error_message(
                r#"{"success":false,"message":"Invalid grant: refresh_token is invalid"}"#
            ),
            "Invalid grant: refresh_token is invalid"
        );
        assert_eq!(oauth_error_message("<html>"), "<html>");
    }
}
