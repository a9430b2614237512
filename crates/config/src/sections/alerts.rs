//! `[alerts]`: where the operator hears about a failed run, Pipedrive's 403 stop, the budget
//! share used, runs failing in a row and parked records: a chat webhook, e-mail, or both. No
//! table, no alerts. The webhook URL and the SMTP password are secrets and no message echoes them.

use percent_encoding::percent_decode_str;
use serde::Deserialize;
use toml::Spanned;

use crate::error::ConfigError;
use crate::secret::Secret;
use crate::validator::{is_loopback, Validator};

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawAlerts {
    pub webhook_url: Option<Spanned<String>>,
    pub smtp_url: Option<Spanned<String>>,
    pub email_from: Option<Spanned<String>>,
    pub email_to: Option<Spanned<Vec<Spanned<String>>>>,
    pub failed_runs_in_a_row: Option<Spanned<i64>>,
}

#[derive(Debug, Clone)]
pub struct AlertsConfig {
    /// A Slack or Microsoft Teams incoming webhook. The whole URL is secret: Slack keeps its
    /// token in the path, others in the query.
    pub webhook_url: Option<Secret>,
    pub email: Option<EmailAlerts>,
    /// One alert when this many runs of a connection failed in a row (at least 1).
    pub failed_runs_in_a_row: u32,
}

pub const DEFAULT_FAILED_RUNS_IN_A_ROW: u32 = 3;

impl Default for AlertsConfig {
    /// No `[alerts]` table: no channel, so no alerts.
    fn default() -> Self {
        AlertsConfig {
            webhook_url: None,
            email: None,
            failed_runs_in_a_row: DEFAULT_FAILED_RUNS_IN_A_ROW,
        }
    }
}

/// E-mail alerts: the server and the addresses, as written (the alerts crate parses the
/// addresses with its mail library and names `alerts.email_from` or `alerts.email_to`).
#[derive(Debug, Clone)]
pub struct EmailAlerts {
    pub smtp: SmtpServer,
    pub from: String,
    pub to: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpServer {
    /// A name or an IP address (without brackets for IPv6).
    pub host: String,
    pub port: u16,
    pub security: SmtpSecurity,
    pub login: Option<SmtpLogin>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpSecurity {
    /// `smtp://`: STARTTLS, required; nothing is sent if the server does not offer it.
    StartTls,
    /// `smtps://`: TLS from the first byte.
    ImplicitTls,
    /// `smtp://...?tls=none`: in clear, accepted only to this machine.
    Plain,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpLogin {
    pub user: String,
    pub password: Secret,
}

pub fn validate(raw: RawAlerts, validator: &Validator<'_>) -> Result<AlertsConfig, ConfigError> {
    let webhook_url = match &raw.webhook_url {
        Some(value) => Some(webhook_url(value, validator)?),
        None => None,
    };
    let smtp = match &raw.smtp_url {
        Some(value) => Some(smtp_server(value, validator)?),
        None => None,
    };
    let from = validator.optional_text("alerts.email_from", &raw.email_from)?;
    let to = match &raw.email_to {
        Some(list) => Some(addresses("alerts.email_to", list, validator)?),
        None => None,
    };
    let span_of = |value: &Option<Spanned<String>>| value.as_ref().map(|value| value.span());
    let needs_server = "needs alerts.smtp_url, the server that sends the e-mail \
                        (e.g. smtp://user:${SMTP_PASSWORD}@mail.example.com:587)";
    let email = match (smtp, from, to) {
        (None, None, None) => None,
        (Some(smtp), Some(from), Some(to)) => Some(EmailAlerts { smtp, from, to }),
        (None, Some(_), _) => {
            return Err(validator.error(
                "alerts.email_from",
                span_of(&raw.email_from),
                needs_server,
            ))
        }
        (None, None, Some(_)) => {
            let span = raw.email_to.as_ref().map(|list| list.span());
            return Err(validator.error("alerts.email_to", span, needs_server));
        }
        (Some(_), None, _) => {
            return Err(validator.error(
                "alerts.email_from",
                span_of(&raw.smtp_url),
                "is required with alerts.smtp_url: the sender, \
                 e.g. \"ml-connector <alerts@example.com>\"",
            ))
        }
        (Some(_), Some(_), None) => {
            return Err(validator.error(
                "alerts.email_to",
                span_of(&raw.smtp_url),
                "is required with alerts.smtp_url: the recipients, \
                 e.g. [\"sap-team@example.com\"]",
            ))
        }
    };
    let failed_runs_in_a_row = match &raw.failed_runs_in_a_row {
        Some(value) => {
            validator.number_in("alerts.failed_runs_in_a_row", value, 1..=10_000)? as u32
        }
        None => DEFAULT_FAILED_RUNS_IN_A_ROW,
    };
    Ok(AlertsConfig {
        webhook_url,
        email,
        failed_runs_in_a_row,
    })
}

/// `https://`, or `http://` to this machine. Messages name the host at most: Slack keeps the
/// webhook's token in the path, others in the query.
fn webhook_url(value: &Spanned<String>, validator: &Validator<'_>) -> Result<Secret, ConfigError> {
    const KEY: &str = "alerts.webhook_url";
    let text = validator.text(KEY, value)?;
    let Ok(url) = url::Url::parse(&text) else {
        return Err(validator.error(
            KEY,
            Some(value.span()),
            "is not a URL like https://hooks.slack.com/services/...",
        ));
    };
    let host = url.host_str().unwrap_or_default();
    match url.scheme() {
        "https" if !host.is_empty() => Ok(Secret::new(text)),
        "http" if is_loopback(&url) => Ok(Secret::new(text)),
        "http" => Err(validator.error(
            KEY,
            Some(value.span()),
            format!("plain http to {host} would send the webhook's token in clear: use https://"),
        )),
        other => Err(validator.error(
            KEY,
            Some(value.span()),
            format!("the scheme `{other}` is not supported, use https://"),
        )),
    }
}

/// `smtp://[user:password@]host[:port]` (STARTTLS, port 587), `smtps://...` (TLS, port 465),
/// `smtp://...?tls=none` (in clear, only to this machine). No message shows the user part.
fn smtp_server(
    value: &Spanned<String>,
    validator: &Validator<'_>,
) -> Result<SmtpServer, ConfigError> {
    const KEY: &str = "alerts.smtp_url";
    let error = |message: String| validator.error(KEY, Some(value.span()), message);
    let text = validator.url_text(KEY, value)?;
    let Ok(url) = url::Url::parse(&text) else {
        return Err(error(
            "is not a URL like smtp://user:${SMTP_PASSWORD}@mail.example.com:587 \
             (characters like @ / ? # % written in the user or password must be percent-encoded)"
                .to_string(),
        ));
    };
    let host = match url.host() {
        Some(url::Host::Domain(name)) if !name.is_empty() => name.to_string(),
        Some(url::Host::Ipv4(address)) => address.to_string(),
        Some(url::Host::Ipv6(address)) => address.to_string(),
        _ => return Err(error("names no host".to_string())),
    };
    let mut tls = None;
    for (name, setting) in url.query_pairs() {
        match (name.as_ref(), setting.as_ref()) {
            ("tls", "none" | "required") => tls = Some(setting.into_owned()),
            ("tls", other) => {
                return Err(error(format!(
                    "tls=`{other}` is not one of none, required (STARTTLS is always required \
                     unless tls=none)"
                )))
            }
            (other, _) => {
                return Err(error(format!(
                    "the query parameter `{other}` is not known; only tls=none or tls=required"
                )))
            }
        }
    }
    let security = match (url.scheme(), tls.as_deref()) {
        ("smtps", None | Some("required")) => SmtpSecurity::ImplicitTls,
        ("smtps", Some(_)) => {
            return Err(error(
                "smtps:// is TLS from the start; for plain SMTP write smtp://...?tls=none"
                    .to_string(),
            ))
        }
        ("smtp", Some("none")) if is_loopback(&url) => SmtpSecurity::Plain,
        ("smtp", Some("none")) => {
            return Err(error(format!(
                "tls=none to {host} would send the mail and the password in clear: plain SMTP \
                 is accepted only to this machine (127.0.0.1, localhost)"
            )))
        }
        ("smtp", _) => SmtpSecurity::StartTls,
        (other, _) => {
            return Err(error(format!(
                "the scheme `{other}` is not supported, use smtp:// (STARTTLS) or smtps:// (TLS)"
            )))
        }
    };
    if !matches!(url.path(), "" | "/") {
        return Err(error(
            "has a path; write only smtp://user:password@host:port".to_string(),
        ));
    }
    let port = url.port().unwrap_or(match security {
        SmtpSecurity::ImplicitTls => 465,
        SmtpSecurity::StartTls | SmtpSecurity::Plain => 587,
    });
    let decode = |part: &str| {
        percent_decode_str(part)
            .decode_utf8()
            .map(|decoded| decoded.into_owned())
            .map_err(|_| error("the user or password is not UTF-8 once percent-decoded".into()))
    };
    let user = decode(url.username())?;
    let login = match url.password() {
        Some(_) if user.is_empty() => {
            return Err(error("has a password but no user".to_string()));
        }
        Some(password) => Some(SmtpLogin {
            user,
            password: Secret::new(decode(password)?),
        }),
        None if user.is_empty() => None,
        None => {
            return Err(error(
                "has a user but no password: smtp://user:${SMTP_PASSWORD}@host:port".to_string(),
            ))
        }
    };
    Ok(SmtpServer {
        host,
        port,
        security,
        login,
    })
}

fn addresses(
    key: &str,
    list: &Spanned<Vec<Spanned<String>>>,
    validator: &Validator<'_>,
) -> Result<Vec<String>, ConfigError> {
    if list.get_ref().is_empty() {
        return Err(validator.error(
            key,
            Some(list.span()),
            "is empty: name at least one address, e.g. [\"sap-team@example.com\"]",
        ));
    }
    list.get_ref()
        .iter()
        .map(|address| validator.text(key, address))
        .collect()
}
