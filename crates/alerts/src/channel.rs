//! Where alerts go: a chat webhook (Slack and Microsoft Teams incoming webhooks both take
//! `{"text": "..."}`) and e-mail through SMTP. Each channel names itself for logs without its
//! secrets: the webhook by scheme, host and port only (Slack keeps the token in the path, others in
//! the query), the mail server by host and port.

use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use mlc_config::{EmailAlerts, Secret, SmtpSecurity};
use serde::Serialize;

use crate::error::AlertError;
use crate::message::AlertMessage;

pub(crate) enum Channel {
    Webhook(Webhook),
    Email(Box<Email>),
}

impl Channel {
    /// The channel in logs: `webhook https://hooks.slack.com`, `e-mail via mail.example.com:587`.
    pub(crate) fn name(&self) -> &str {
        match self {
            Channel::Webhook(webhook) => &webhook.name,
            Channel::Email(email) => &email.name,
        }
    }

    /// Sends `message`; the error says what went wrong without a secret or the webhook's path.
    pub(crate) async fn send(&self, message: &AlertMessage) -> Result<(), String> {
        match self {
            Channel::Webhook(webhook) => webhook.send(message).await,
            Channel::Email(email) => email.send(message).await,
        }
    }
}

pub(crate) struct Webhook {
    client: reqwest::Client,
    url: Secret,
    name: String,
}

#[derive(Serialize)]
struct WebhookBody<'a> {
    text: &'a str,
}

/// The longest part of a refusing webhook's answer that goes into the log.
const ANSWER_SHOWN: usize = 200;

impl Webhook {
    pub(crate) fn new(url: &Secret) -> Result<Webhook, AlertError> {
        let client = reqwest::Client::builder()
            .user_agent(concat!("ml-connector/", env!("CARGO_PKG_VERSION")))
            // A webhook that redirects is misconfigured; following it would post the alert
            // somewhere the operator did not name.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|error| AlertError::HttpClient {
                reason: error.without_url().to_string(),
            })?;
        let name = match reqwest::Url::parse(url.expose()) {
            Ok(parsed) => format!("webhook {}", parsed.origin().ascii_serialization()),
            Err(_) => "webhook".to_string(),
        };
        Ok(Webhook {
            client,
            url: url.clone(),
            name,
        })
    }

    async fn send(&self, message: &AlertMessage) -> Result<(), String> {
        let text = message.text();
        let response = self
            .client
            .post(self.url.expose())
            .json(&WebhookBody { text: &text })
            .send()
            .await
            .map_err(|error| error_chain(&error.without_url()))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let answer = response.text().await.unwrap_or_default();
        let answer: String = answer.chars().take(ANSWER_SHOWN).collect();
        Err(format!("the webhook answered {status}: {}", answer.trim()))
    }
}

pub(crate) struct Email {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    to: Vec<Mailbox>,
    name: String,
}

impl Email {
    pub(crate) fn new(config: &EmailAlerts) -> Result<Email, AlertError> {
        let from = mailbox("alerts.email_from", &config.from)?;
        let to = config
            .to
            .iter()
            .map(|address| mailbox("alerts.email_to", address))
            .collect::<Result<Vec<_>, _>>()?;
        let server = &config.smtp;
        let tls_refused = |error: lettre::transport::smtp::Error| AlertError::SmtpHost {
            host: server.host.clone(),
            reason: error.to_string(),
        };
        let builder = match server.security {
            SmtpSecurity::ImplicitTls => {
                AsyncSmtpTransport::<Tokio1Executor>::relay(&server.host).map_err(tls_refused)?
            }
            SmtpSecurity::StartTls => {
                AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&server.host)
                    .map_err(tls_refused)?
            }
            // The config accepts this only to this machine.
            SmtpSecurity::Plain => {
                AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(server.host.as_str())
            }
        };
        let mut builder = builder.port(server.port);
        if let Some(login) = &server.login {
            builder = builder.credentials(Credentials::new(
                login.user.clone(),
                login.password.expose().to_string(),
            ));
        }
        Ok(Email {
            transport: builder.build(),
            from,
            to,
            name: format!("e-mail via {}:{}", server.host, server.port),
        })
    }

    async fn send(&self, message: &AlertMessage) -> Result<(), String> {
        let mut mail = Message::builder()
            .from(self.from.clone())
            .subject(message.subject.as_str())
            .header(ContentType::TEXT_PLAIN);
        for recipient in &self.to {
            mail = mail.to(recipient.clone());
        }
        let mail = mail
            .body(message.body.clone())
            .map_err(|error| format!("the e-mail cannot be built: {error}"))?;
        self.transport
            .send(mail)
            .await
            .map(|_| ())
            .map_err(|error| error_chain(&error))
    }
}

fn mailbox(key: &'static str, address: &str) -> Result<Mailbox, AlertError> {
    address
        .parse()
        .map_err(|error: lettre::address::AddressError| AlertError::Address {
            key,
            address: address.to_string(),
            reason: error.to_string(),
        })
}

/// An error with its causes ("error sending request: connection refused"): the top level alone
/// rarely says what to fix.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        let part = inner.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        cause = inner.source();
    }
    text
}
