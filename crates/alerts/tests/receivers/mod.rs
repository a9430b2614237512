//! Local receivers the alert tests send to: a webhook endpoint that records the JSON bodies it
//! is posted, a tiny SMTP server that records the mails it is handed, and a listener that
//! accepts connections and never answers.

use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// An incoming-webhook endpoint at `POST /hook` on loopback.
pub struct WebhookReceiver {
    pub url: String,
    bodies: Arc<Mutex<Vec<serde_json::Value>>>,
}

impl WebhookReceiver {
    pub async fn start() -> WebhookReceiver {
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let app = Router::new()
            .route("/hook", post(record))
            .with_state(bodies.clone());
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        tokio::spawn(async move { axum::serve(listener, app).await });
        WebhookReceiver {
            // The query stands for the token some webhooks carry there.
            url: format!("http://{address}/hook?token=webhook-secret"),
            bodies,
        }
    }

    /// The bodies received so far.
    pub fn bodies(&self) -> Vec<serde_json::Value> {
        self.bodies.lock().expect("bodies").clone()
    }

    /// The `text` of each body received so far, sorted (sends run at once, in any order).
    pub fn texts(&self) -> Vec<String> {
        let mut texts: Vec<String> = self
            .bodies()
            .iter()
            .map(|body| body["text"].as_str().unwrap_or_default().to_string())
            .collect();
        texts.sort();
        texts
    }
}

async fn record(
    State(bodies): State<Arc<Mutex<Vec<serde_json::Value>>>>,
    Json(body): Json<serde_json::Value>,
) -> &'static str {
    bodies.lock().expect("bodies").push(body);
    "ok"
}

/// One mail as the SMTP server was handed it.
#[derive(Debug, Clone)]
pub struct ReceivedMail {
    /// What followed AUTH, if the client logged on.
    pub auth: Option<String>,
    pub mail_from: String,
    pub rcpt_to: Vec<String>,
    /// The message as sent after DATA, headers and body, without the closing dot.
    pub data: String,
}

impl ReceivedMail {
    /// The value of header `name` (unfolded), if present.
    pub fn header(&self, name: &str) -> Option<String> {
        let (headers, _) = self.data.split_once("\r\n\r\n")?;
        let unfolded = headers.replace("\r\n ", " ").replace("\r\n\t", " ");
        unfolded.split("\r\n").find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.eq_ignore_ascii_case(name)
                .then(|| value.trim().to_string())
        })
    }
}

/// A plain SMTP server on loopback: 220, EHLO 250 (offering AUTH PLAIN), MAIL and RCPT 250,
/// DATA 354 until the lone dot, then 250, QUIT 221.
pub struct SmtpReceiver {
    pub port: u16,
    mails: Arc<Mutex<Vec<ReceivedMail>>>,
}

impl SmtpReceiver {
    pub async fn start() -> SmtpReceiver {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("address").port();
        let mails = Arc::new(Mutex::new(Vec::new()));
        let recorded = mails.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let recorded = recorded.clone();
                tokio::spawn(async move {
                    // A client that hangs up mid-session just ends it.
                    let _ = smtp_session(stream, recorded).await;
                });
            }
        });
        SmtpReceiver { port, mails }
    }

    pub fn mails(&self) -> Vec<ReceivedMail> {
        self.mails.lock().expect("mails").clone()
    }

    /// The subjects of the mails received so far, sorted.
    pub fn subjects(&self) -> Vec<String> {
        let mut subjects: Vec<String> = self
            .mails()
            .iter()
            .map(|mail| mail.header("Subject").unwrap_or_default())
            .collect();
        subjects.sort();
        subjects
    }
}

async fn smtp_session(
    stream: TcpStream,
    mails: Arc<Mutex<Vec<ReceivedMail>>>,
) -> std::io::Result<()> {
    let (reader, mut writer) = stream.into_split();
    let mut reader = BufReader::new(reader);
    writer.write_all(b"220 localhost ESMTP test\r\n").await?;
    let mut mail = ReceivedMail {
        auth: None,
        mail_from: String::new(),
        rcpt_to: Vec::new(),
        data: String::new(),
    };
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let command = line.trim_end().to_string();
        let verb = command
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_ascii_uppercase();
        let reply: &[u8] = match verb.as_str() {
            "EHLO" | "HELO" => b"250-localhost\r\n250 AUTH PLAIN\r\n",
            "AUTH" => {
                mail.auth = Some(command["AUTH".len()..].trim().to_string());
                b"235 2.7.0 accepted\r\n"
            }
            "MAIL" => {
                mail.mail_from = command;
                b"250 OK\r\n"
            }
            "RCPT" => {
                mail.rcpt_to.push(command);
                b"250 OK\r\n"
            }
            "DATA" => {
                writer.write_all(b"354 end with <CRLF>.<CRLF>\r\n").await?;
                mail.data = read_data(&mut reader).await?;
                mails.lock().expect("mails").push(mail.clone());
                b"250 OK queued\r\n"
            }
            "QUIT" => {
                writer.write_all(b"221 bye\r\n").await?;
                return Ok(());
            }
            "RSET" | "NOOP" => b"250 OK\r\n",
            _ => b"502 not implemented\r\n",
        };
        writer.write_all(reply).await?;
    }
}

/// The lines after DATA up to the line holding a lone dot.
async fn read_data(
    reader: &mut BufReader<tokio::net::tcp::OwnedReadHalf>,
) -> std::io::Result<String> {
    let mut data = String::new();
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).await? == 0 {
            return Ok(data);
        }
        if line == ".\r\n" {
            return Ok(data);
        }
        data.push_str(&line);
    }
}

/// Accepts connections and holds them open without a byte in answer: a webhook or mail server
/// that hangs.
pub struct SilentListener {
    pub port: u16,
}

impl SilentListener {
    pub async fn start() -> SilentListener {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("address").port();
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((stream, _)) = listener.accept().await {
                held.push(stream);
            }
        });
        SilentListener { port }
    }
}
