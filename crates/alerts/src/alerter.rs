//! The alerter a service keeps for its whole life: after each run it asks the pure parts what
//! changed for the run's connection and sends each change to every channel at once, each send
//! bounded by a timeout. Sending never fails the caller.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use futures::future::join_all;
use mlc_config::AlertsConfig;

use crate::channel::{Channel, Email, Webhook};
use crate::condition::{conditions, Condition, RunReport};
use crate::error::AlertError;
use crate::message::{began, resolved, AlertMessage};
use crate::state::{AlertState, Changes};

pub struct Alerter {
    channels: Vec<Channel>,
    failed_runs_in_a_row: u32,
    send_timeout: Duration,
    /// Per connection, what was told. Locked only between awaits.
    states: Mutex<HashMap<String, AlertState>>,
}

impl Alerter {
    /// How long one send may take, connecting included, before it is given up and logged.
    pub const SEND_TIMEOUT: Duration = Duration::from_secs(10);

    /// The alerter for `[alerts]`; `None` when it names no channel. An error names the config
    /// key (an e-mail address that is not one, an SMTP host unusable for TLS).
    pub fn from_config(config: &AlertsConfig) -> Result<Option<Alerter>, AlertError> {
        let mut channels = Vec::new();
        if let Some(url) = &config.webhook_url {
            channels.push(Channel::Webhook(Webhook::new(url)?));
        }
        if let Some(email) = &config.email {
            channels.push(Channel::Email(Box::new(Email::new(email)?)));
        }
        if channels.is_empty() {
            return Ok(None);
        }
        Ok(Some(Alerter {
            channels,
            failed_runs_in_a_row: config.failed_runs_in_a_row,
            send_timeout: Self::SEND_TIMEOUT,
            states: Mutex::new(HashMap::new()),
        }))
    }

    /// The same alerter with another bound on each send (tests use a short one).
    pub fn with_send_timeout(mut self, send_timeout: Duration) -> Alerter {
        self.send_timeout = send_timeout;
        self
    }

    /// After each run: finds which conditions began and ended for the report's connection and
    /// sends one message for each to every channel, all at once. Returns when every send is
    /// done or timed out, so after at most the send timeout; a failed send is logged.
    pub async fn after_run(&self, report: &RunReport) -> Changes {
        let now_active = conditions(report, self.failed_runs_in_a_row);
        let changes = lock(&self.states)
            .entry(report.connection.clone())
            .or_default()
            .update(&now_active);
        let messages: Vec<(Condition, AlertMessage)> = changes
            .raised
            .iter()
            .map(|condition| (*condition, began(report, *condition)))
            .chain(
                changes
                    .cleared
                    .iter()
                    .map(|condition| (*condition, resolved(report, *condition))),
            )
            .collect();
        let sends = messages.iter().flat_map(|(condition, message)| {
            self.channels
                .iter()
                .map(move |channel| self.send(report, *condition, channel, message))
        });
        join_all(sends).await;
        changes
    }

    async fn send(
        &self,
        report: &RunReport,
        condition: Condition,
        channel: &Channel,
        message: &AlertMessage,
    ) {
        let outcome = tokio::time::timeout(self.send_timeout, channel.send(message)).await;
        let condition = condition.title();
        match outcome {
            Ok(Ok(())) => tracing::info!(
                connection = %report.connection,
                run_id = report.run_id,
                %condition,
                channel = channel.name(),
                subject = %message.subject,
                "alert sent"
            ),
            Ok(Err(error)) => tracing::warn!(
                connection = %report.connection,
                run_id = report.run_id,
                %condition,
                channel = channel.name(),
                %error,
                "alert not sent"
            ),
            Err(_) => tracing::warn!(
                connection = %report.connection,
                run_id = report.run_id,
                %condition,
                channel = channel.name(),
                timeout_ms = self.send_timeout.as_millis() as u64,
                "alert not sent: the channel did not answer in time"
            ),
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding this short lock leaves consistent data: take it anyway.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
