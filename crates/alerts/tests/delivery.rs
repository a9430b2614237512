//! Alerts as the operator receives them: a local incoming-webhook endpoint and a local SMTP
//! server, configured through `[alerts]` the way a user writes it.

mod receivers;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mlc_alerts::{Alerter, Condition, RunReport};
use mlc_canonical::state::RunStatus;
use receivers::{SilentListener, SmtpReceiver, WebhookReceiver};

const SMTP_PASSWORD: &str = "p@ss/w:rd";

/// The config template with this `[alerts]` table, validated as `ml-connector` would.
fn alerts_config(table: &str) -> mlc_config::AlertsConfig {
    let text = format!("{}\n[alerts]\n{table}\n", mlc_config::TEMPLATE);
    let lookup = |name: &str| match name {
        "SMTP_PASSWORD" => Some(SMTP_PASSWORD.to_string()),
        _ => Some(format!("value-of-{name}")),
    };
    mlc_config::parse("alerts.toml", &text, &lookup)
        .unwrap_or_else(|error| panic!("{error}"))
        .alerts
}

fn both_channels(webhook: &WebhookReceiver, smtp_port: u16, threshold: u32) -> Alerter {
    let config = alerts_config(&format!(
        "webhook_url = \"{}\"\n\
         smtp_url = \"smtp://127.0.0.1:{smtp_port}?tls=none\"\n\
         email_from = \"ml-connector <connector@example.com>\"\n\
         email_to = [\"sap-team@example.com\", \"oncall@example.com\"]\n\
         failed_runs_in_a_row = {threshold}",
        webhook.url
    ));
    Alerter::from_config(&config)
        .expect("the channels are set up")
        .expect("two channels")
}

fn run(connection: &str, run_id: i64, status: RunStatus) -> RunReport {
    RunReport {
        connection: connection.to_string(),
        run_id: Some(run_id),
        status,
        alert: None,
        error: None,
        forbidden: false,
        budget_deferred: false,
        failed_in_a_row: 0,
        parked_records: 0,
    }
}

fn failed(connection: &str, run_id: i64, in_a_row: u32) -> RunReport {
    RunReport {
        error: Some("ecc: logon refused for user MLC_READER (check ecc.user)".to_string()),
        failed_in_a_row: in_a_row,
        ..run(connection, run_id, RunStatus::Failed)
    }
}

#[tokio::test]
async fn a_failed_run_sends_one_alert_to_the_webhook_and_one_mail() {
    let webhook = WebhookReceiver::start().await;
    let smtp = SmtpReceiver::start().await;
    let alerter = both_channels(&webhook, smtp.port, 3);

    let changes = alerter.after_run(&failed("emea", 7, 1)).await;

    assert_eq!(changes.raised, [Condition::RunFailed]);
    let bodies = webhook.bodies();
    assert_eq!(bodies.len(), 1, "{bodies:?}");
    let text = bodies[0]["text"].as_str().expect("a text field");
    assert_eq!(
        bodies[0].as_object().map(|body| body.len()),
        Some(1),
        "only `text`, which Slack and Teams both read: {bodies:?}"
    );
    assert!(
        text.starts_with("[ml-connector] connection emea: run failed\n"),
        "{text}"
    );
    assert!(text.contains("run 7 (failed)"), "{text}");
    assert!(
        text.contains("ecc: logon refused for user MLC_READER"),
        "{text}"
    );

    let mails = smtp.mails();
    assert_eq!(mails.len(), 1, "{mails:?}");
    let mail = &mails[0];
    assert_eq!(
        mail.header("Subject").as_deref(),
        Some("[ml-connector] connection emea: run failed")
    );
    assert!(
        mail.mail_from.contains("<connector@example.com>"),
        "{mail:?}"
    );
    assert_eq!(mail.rcpt_to.len(), 2, "{mail:?}");
    let to = mail.header("To").unwrap_or_default();
    assert!(
        to.contains("sap-team@example.com") && to.contains("oncall@example.com"),
        "{to}"
    );
    assert!(mail.data.contains("run 7 (failed)"), "{}", mail.data);
    assert!(mail.auth.is_none(), "no login was configured");
}

#[tokio::test]
async fn the_same_condition_on_the_next_run_sends_nothing_and_an_ok_run_sends_resolved() {
    let webhook = WebhookReceiver::start().await;
    let smtp = SmtpReceiver::start().await;
    let alerter = both_channels(&webhook, smtp.port, 3);

    alerter.after_run(&failed("emea", 7, 1)).await;
    let changes = alerter.after_run(&failed("emea", 8, 2)).await;
    assert!(changes.is_empty(), "{changes:?}");
    assert_eq!(webhook.bodies().len(), 1);
    assert_eq!(smtp.mails().len(), 1);

    let changes = alerter.after_run(&run("emea", 9, RunStatus::Ok)).await;
    assert_eq!(changes.cleared, [Condition::RunFailed]);
    let texts = webhook.texts();
    assert_eq!(texts.len(), 2, "{texts:?}");
    assert!(
        texts[0].starts_with("[ml-connector] connection emea: resolved: run failed\n"),
        "{texts:?}"
    );
    assert!(texts[0].contains("run 9 (ok)"), "{texts:?}");
    assert_eq!(
        smtp.subjects(),
        [
            "[ml-connector] connection emea: resolved: run failed",
            "[ml-connector] connection emea: run failed",
        ]
    );

    alerter.after_run(&run("emea", 10, RunStatus::Ok)).await;
    assert_eq!(webhook.bodies().len(), 2, "nothing more to resolve");
}

#[tokio::test]
async fn failed_runs_in_a_row_alert_once_at_the_threshold() {
    let webhook = WebhookReceiver::start().await;
    let smtp = SmtpReceiver::start().await;
    let alerter = both_channels(&webhook, smtp.port, 3);

    let mut raised = Vec::new();
    for (run_id, in_a_row) in [(1, 1), (2, 2), (3, 3), (4, 4), (5, 5)] {
        raised.push(
            alerter
                .after_run(&failed("emea", run_id, in_a_row))
                .await
                .raised,
        );
    }

    assert_eq!(
        raised,
        [
            vec![Condition::RunFailed],
            vec![],
            vec![Condition::FailedRunsInARow(3)],
            vec![],
            vec![],
        ]
    );
    assert_eq!(
        smtp.subjects(),
        [
            "[ml-connector] connection emea: 3 failed runs in a row",
            "[ml-connector] connection emea: run failed",
        ]
    );
    let texts = webhook.texts();
    assert!(texts[0].contains("the last 3 runs failed"), "{texts:?}");
    assert!(texts[0].contains("run 3 (failed)"), "{texts:?}");
}

#[tokio::test]
async fn a_parked_record_alerts_and_is_resolved_when_none_is_left() {
    let webhook = WebhookReceiver::start().await;
    let smtp = SmtpReceiver::start().await;
    let alerter = both_channels(&webhook, smtp.port, 3);

    let parked = RunReport {
        parked_records: 1,
        ..run("emea", 11, RunStatus::Partial)
    };
    assert_eq!(
        alerter.after_run(&parked).await.raised,
        [Condition::ParkedRecords]
    );
    let texts = webhook.texts();
    assert_eq!(texts.len(), 1);
    assert!(
        texts[0].starts_with("[ml-connector] connection emea: records parked\n"),
        "{texts:?}"
    );
    assert!(texts[0].contains("1 record is parked"), "{texts:?}");
    assert!(
        texts[0].contains("ml-connector audit --action error"),
        "{texts:?}"
    );

    let more = RunReport {
        parked_records: 4,
        ..run("emea", 12, RunStatus::Partial)
    };
    assert!(alerter.after_run(&more).await.is_empty());
    assert_eq!(
        alerter
            .after_run(&run("emea", 13, RunStatus::Ok))
            .await
            .cleared,
        [Condition::ParkedRecords]
    );
    assert_eq!(smtp.mails().len(), 2);
}

#[tokio::test]
async fn connections_are_told_apart() {
    let webhook = WebhookReceiver::start().await;
    let smtp = SmtpReceiver::start().await;
    let alerter = both_channels(&webhook, smtp.port, 3);

    alerter.after_run(&failed("emea", 1, 1)).await;
    let changes = alerter.after_run(&failed("apac", 2, 1)).await;
    assert_eq!(changes.raised, [Condition::RunFailed]);
    alerter.after_run(&run("apac", 3, RunStatus::Ok)).await;
    assert!(alerter.after_run(&failed("emea", 4, 2)).await.is_empty());

    assert_eq!(
        smtp.subjects(),
        [
            "[ml-connector] connection apac: resolved: run failed",
            "[ml-connector] connection apac: run failed",
            "[ml-connector] connection emea: run failed",
        ]
    );
}

#[tokio::test]
async fn a_receiver_that_never_answers_does_not_hold_the_caller_past_the_timeout() {
    let silent_webhook = SilentListener::start().await;
    let silent_smtp = SilentListener::start().await;
    let config = alerts_config(&format!(
        "webhook_url = \"http://127.0.0.1:{}/hook\"\n\
         smtp_url = \"smtp://127.0.0.1:{}?tls=none\"\n\
         email_from = \"connector@example.com\"\n\
         email_to = [\"sap-team@example.com\"]",
        silent_webhook.port, silent_smtp.port
    ));
    let alerter = Alerter::from_config(&config)
        .unwrap()
        .unwrap()
        .with_send_timeout(Duration::from_millis(300));

    let started = Instant::now();
    // Two conditions, two channels: four sends, all at once.
    let report = RunReport {
        parked_records: 2,
        ..failed("emea", 1, 1)
    };
    let changes = alerter.after_run(&report).await;
    let waited = started.elapsed();

    assert_eq!(changes.raised.len(), 2);
    assert!(
        waited < Duration::from_secs(3),
        "after_run waited {waited:?} for receivers that never answer"
    );
}

#[tokio::test]
async fn a_silent_webhook_does_not_keep_the_mail_from_arriving() {
    let silent_webhook = SilentListener::start().await;
    let smtp = SmtpReceiver::start().await;
    let config = alerts_config(&format!(
        "webhook_url = \"http://127.0.0.1:{}/hook\"\n\
         smtp_url = \"smtp://127.0.0.1:{}?tls=none\"\n\
         email_from = \"connector@example.com\"\n\
         email_to = [\"sap-team@example.com\"]",
        silent_webhook.port, smtp.port
    ));
    let alerter = Alerter::from_config(&config)
        .unwrap()
        .unwrap()
        .with_send_timeout(Duration::from_millis(500));

    alerter.after_run(&failed("emea", 1, 1)).await;

    assert_eq!(
        smtp.subjects(),
        ["[ml-connector] connection emea: run failed"]
    );
}

#[tokio::test]
async fn the_smtp_login_is_sent_as_configured() {
    let smtp = SmtpReceiver::start().await;
    let config = alerts_config(&format!(
        "smtp_url = \"smtp://alerts%40example.com:${{SMTP_PASSWORD}}@127.0.0.1:{}?tls=none\"\n\
         email_from = \"alerts@example.com\"\n\
         email_to = [\"sap-team@example.com\"]",
        smtp.port
    ));
    let alerter = Alerter::from_config(&config).unwrap().unwrap();

    alerter.after_run(&failed("emea", 1, 1)).await;

    let mails = smtp.mails();
    assert_eq!(mails.len(), 1);
    // AUTH PLAIN of "\0alerts@example.com\0p@ss/w:rd": the password from the environment,
    // whatever its characters, reaches the server as written there.
    assert_eq!(
        mails[0].auth.as_deref(),
        Some("PLAIN AGFsZXJ0c0BleGFtcGxlLmNvbQBwQHNzL3c6cmQ=")
    );
}

#[tokio::test]
async fn no_channel_means_no_alerter() {
    let config = alerts_config("failed_runs_in_a_row = 2");
    assert!(Alerter::from_config(&config).unwrap().is_none());
    assert!(Alerter::from_config(&mlc_config::AlertsConfig::default())
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn a_bad_address_is_refused_naming_its_key() {
    let config = alerts_config(
        "smtp_url = \"smtp://127.0.0.1:2525?tls=none\"\n\
         email_from = \"connector@example.com\"\n\
         email_to = [\"sap-team@example.com\", \"not an address\"]",
    );
    let error = Alerter::from_config(&config).err().expect("refused");
    let message = error.to_string();
    assert!(message.contains("alerts.email_to"), "{message}");
    assert!(message.contains("not an address"), "{message}");
}

/// Log lines written while a test runs, for checking what they hold.
#[derive(Clone, Default)]
struct CapturedLog(Arc<Mutex<Vec<u8>>>);

impl Write for CapturedLog {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log").extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn a_failed_send_is_logged_without_the_webhook_token_or_the_password() {
    // Ports nothing listens on any more: both sends are refused at once.
    let closed = |listener: std::net::TcpListener| listener.local_addr().unwrap().port();
    let webhook_port = closed(std::net::TcpListener::bind("127.0.0.1:0").unwrap());
    let smtp_port = closed(std::net::TcpListener::bind("127.0.0.1:0").unwrap());
    let config = alerts_config(&format!(
        "webhook_url = \"http://127.0.0.1:{webhook_port}/services/T0/B0/pathsecret?token=querysecret\"\n\
         smtp_url = \"smtp://alerts:${{SMTP_PASSWORD}}@127.0.0.1:{smtp_port}?tls=none\"\n\
         email_from = \"connector@example.com\"\n\
         email_to = [\"sap-team@example.com\"]"
    ));
    let alerter = Alerter::from_config(&config).unwrap().unwrap();
    let log = CapturedLog::default();
    let writer = log.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let changes = alerter.after_run(&failed("emea", 1, 1)).await;

    assert_eq!(changes.raised, [Condition::RunFailed]);
    let logged = String::from_utf8(log.0.lock().unwrap().clone()).unwrap();
    assert_eq!(logged.matches("alert not sent").count(), 2, "{logged}");
    assert!(
        logged.contains(&format!("webhook http://127.0.0.1:{webhook_port}")),
        "{logged}"
    );
    assert!(
        logged.contains(&format!("e-mail via 127.0.0.1:{smtp_port}")),
        "{logged}"
    );
    for secret in ["pathsecret", "querysecret", SMTP_PASSWORD, "p%40ss"] {
        assert!(!logged.contains(secret), "`{secret}` in the log: {logged}");
    }
}

#[tokio::test]
async fn a_server_without_starttls_gets_no_mail_when_tls_was_not_switched_off() {
    // smtp:// means STARTTLS required: the local server does not offer it, so the mail, and a
    // password with it, must not go out in clear.
    let smtp = SmtpReceiver::start().await;
    let config = alerts_config(&format!(
        "smtp_url = \"smtp://alerts:${{SMTP_PASSWORD}}@127.0.0.1:{}\"\n\
         email_from = \"connector@example.com\"\n\
         email_to = [\"sap-team@example.com\"]",
        smtp.port
    ));
    let alerter = Alerter::from_config(&config).unwrap().unwrap();

    let changes = alerter.after_run(&failed("emea", 1, 1)).await;

    assert_eq!(changes.raised, [Condition::RunFailed]);
    assert!(smtp.mails().is_empty(), "{:?}", smtp.mails());
}

#[tokio::test]
async fn tls_channels_are_set_up_without_connecting() {
    for url in [
        "smtp://alerts:${SMTP_PASSWORD}@mail.example.com",
        "smtps://alerts:${SMTP_PASSWORD}@mail.example.com",
    ] {
        let config = alerts_config(&format!(
            "webhook_url = \"https://hooks.example.com/services/T0/B0/x\"\n\
             smtp_url = \"{url}\"\n\
             email_from = \"connector@example.com\"\n\
             email_to = [\"sap-team@example.com\"]"
        ));
        assert!(Alerter::from_config(&config).unwrap().is_some(), "{url}");
    }
}
