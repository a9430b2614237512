//! What can be wrong when the alert channels are set up. Sending never fails the caller; a
//! failed send is logged where it happens.

#[derive(Debug, thiserror::Error)]
pub enum AlertError {
    /// `alerts.email_from` or `alerts.email_to` holds something that is not an address.
    #[error(
        "config key `{key}`: `{address}` is not an e-mail address ({reason}); write it like \
         alerts@example.com or \"ml-connector <alerts@example.com>\""
    )]
    Address {
        key: &'static str,
        address: String,
        reason: String,
    },
    /// The SMTP server's name cannot be checked against a TLS certificate.
    #[error("config key `alerts.smtp_url`: the host `{host}` cannot be used for TLS ({reason})")]
    SmtpHost { host: String, reason: String },
    #[error("config key `alerts.webhook_url`: the HTTP client cannot be set up ({reason})")]
    HttpClient { reason: String },
}
