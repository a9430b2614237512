//! Reads of Pipedrive are bounded, whatever a broken or hostile server does: an answer longer
//! than `pipedrive.max_response_mib` is read no further (announced by Content-Length or
//! streamed without end), a connection that accepts and never answers times out, and so does
//! the OAuth token endpoint. Each ends as a clear error naming the endpoint or the step.

mod support;

use std::time::Duration;

use mlc_config::sections::pipedrive::OauthConfig;
use mlc_config::{PipedrivePlan, Secret};
use mlc_pipedrive::{auth, ListQuery, PipedriveClient, PipedriveError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the server does with a request that is not `/v1/users/me`.
#[derive(Clone, Copy)]
enum Behaviour {
    /// A JSON answer of this many bytes with its Content-Length.
    Huge(usize),
    /// Chunked JSON that never ends.
    Endless,
    /// Reads the request and never answers.
    Stall,
}

const ME: &str = r#"{"success":true,"data":{"id":1,"name":"Integration User","email":"sync@acme.test","company_id":77,"company_name":"ACME","company_domain":"acme"}}"#;

async fn read_head(socket: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1024];
    while !head.windows(4).any(|window| window == b"\r\n\r\n") {
        let read = socket.read(&mut byte).await.unwrap_or(0);
        if read == 0 {
            break;
        }
        head.extend_from_slice(&byte[..read]);
    }
    String::from_utf8_lossy(&head).into_owned()
}

async fn answer(mut socket: TcpStream, behaviour: Behaviour) {
    let head = read_head(&mut socket).await;
    if head.starts_with("GET /v1/users/me") {
        let reply = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{ME}",
            ME.len()
        );
        let _ = socket.write_all(reply.as_bytes()).await;
        return;
    }
    match behaviour {
        Behaviour::Huge(size) => {
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {size}\r\n\r\n"
            );
            if socket.write_all(head.as_bytes()).await.is_err() {
                return;
            }
            let block = vec![b' '; 64 * 1024];
            let mut sent = 0;
            while sent < size {
                let part = block.len().min(size - sent);
                if socket.write_all(&block[..part]).await.is_err() {
                    return;
                }
                sent += part;
            }
        }
        Behaviour::Endless => {
            let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n";
            if socket.write_all(head.as_bytes()).await.is_err() {
                return;
            }
            let chunk = format!("{:x}\r\n{}\r\n", 64 * 1024, " ".repeat(64 * 1024));
            while socket.write_all(chunk.as_bytes()).await.is_ok() {}
        }
        Behaviour::Stall => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
    }
}

async fn server(behaviour: Behaviour) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            tokio::spawn(answer(socket, behaviour));
        }
    });
    format!("http://{address}")
}

async fn client(base_url: &str) -> PipedriveClient {
    let mut config = support::api_token_config(base_url, "T", PipedrivePlan::Growth);
    config.max_response_bytes = 1024 * 1024;
    config.timeout = Duration::from_secs(2);
    config.retries = 1;
    PipedriveClient::connect_with(&config, support::store(), support::quick())
        .await
        .expect("connects")
}

/// The list call's error, which must come well within the test's own bound.
async fn list_error(client: &PipedriveClient) -> PipedriveError {
    tokio::time::timeout(
        Duration::from_secs(60),
        client.list_persons(&ListQuery::default()),
    )
    .await
    .expect("the call ends instead of hanging")
    .expect_err("the call fails")
}

#[tokio::test]
async fn an_answer_longer_than_the_cap_is_refused_naming_the_endpoint_and_the_key() {
    let base_url = server(Behaviour::Huge(3 * 1024 * 1024)).await;
    let client = client(&base_url).await;
    let error = list_error(&client).await;
    assert!(
        matches!(&error, PipedriveError::ResponseTooLarge { endpoint, limit_mib: 1, .. } if endpoint.contains("/api/v2/persons")),
        "{error:?}"
    );
    assert!(
        error.to_string().contains("pipedrive.max_response_mib"),
        "{error}"
    );
}

#[tokio::test]
async fn an_answer_that_never_ends_is_read_no_further_than_the_cap() {
    let base_url = server(Behaviour::Endless).await;
    let client = client(&base_url).await;
    let error = list_error(&client).await;
    assert!(
        matches!(&error, PipedriveError::ResponseTooLarge { seen, .. } if *seen <= 1024 * 1024 + 128 * 1024),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_connection_that_never_answers_times_out_naming_the_endpoint() {
    let base_url = server(Behaviour::Stall).await;
    let client = client(&base_url).await;
    let error = list_error(&client).await;
    assert!(
        matches!(&error, PipedriveError::Http { endpoint, message, .. }
            if endpoint.contains("/api/v2/persons") && message.contains("timed out")),
        "{error:?}"
    );
}

#[tokio::test]
async fn the_oauth_code_exchange_times_out_on_a_stalled_token_endpoint() {
    let base_url = server(Behaviour::Stall).await;
    let oauth = OauthConfig {
        client_id: "client".into(),
        client_secret: Secret::new("secret"),
        redirect_uri: "http://127.0.0.1:8765/callback".into(),
        authorize_url: format!("{base_url}/oauth/authorize"),
        token_url: format!("{base_url}/oauth/token"),
    };
    let http = mlc_pipedrive::http_client(Duration::from_secs(2)).unwrap();
    let store = support::store();
    let outcome = tokio::time::timeout(
        Duration::from_secs(60),
        auth::exchange_code(&http, store.vault.as_ref(), &oauth, "the-code"),
    )
    .await
    .expect("the exchange ends instead of hanging");
    let error = outcome.expect_err("the exchange fails");
    assert!(
        matches!(&error, PipedriveError::OauthFlow { message, .. } if message.contains("/oauth/token")),
        "{error:?}"
    );
    assert!(!error.to_string().contains("secret"), "{error}");
}
