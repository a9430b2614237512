//! `ml-connector setup`, `fields` and `auth pipedrive` as a user runs them, against the
//! Pipedrive simulator in this process.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Output, Stdio};

use mlc_sim_pipedrive::{spawn, SimPipedriveOptions, SpawnedPipedrive};

struct Setup {
    _folder: tempfile::TempDir,
    config_path: std::path::PathBuf,
}

/// A config from the template, pointed at the simulator and a store in a temp folder.
fn write_config(sim: &SpawnedPipedrive, oauth: bool) -> Setup {
    let folder = tempfile::tempdir().unwrap();
    let store = folder.path().join("state.db");
    let mut text = mlc_config::TEMPLATE
        .replace(
            "url = \"sqlite://ml-connector.db\"",
            &format!("url = \"sqlite://{}\"", store.display()),
        )
        .replace(
            "base_url = \"http://127.0.0.1:18002\"",
            &format!("base_url = \"{}\"", sim.base_url()),
        );
    if oauth {
        text = text
            .replace("auth = \"api-token\"", "auth = \"oauth\"")
            .replace("client_id = \"\"", "client_id = \"sim-client-id\"")
            .replace(
                "client_secret = \"\"",
                "client_secret = \"sim-client-secret\"",
            )
            .replace(
                "# authorize_url = \"https://oauth.pipedrive.com/oauth/authorize\"",
                &format!("authorize_url = \"{}/oauth/authorize\"", sim.base_url()),
            )
            .replace(
                "# token_url = \"https://oauth.pipedrive.com/oauth/token\"",
                &format!("token_url = \"{}/oauth/token\"", sim.base_url()),
            );
    }
    let config_path = folder.path().join("ml-connector.toml");
    std::fs::write(&config_path, text).unwrap();
    Setup {
        _folder: folder,
        config_path,
    }
}

fn command(setup: &Setup, token: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ml-connector"));
    command
        .arg("-c")
        .arg(&setup.config_path)
        .env("ECC_PASSWORD", "x")
        .env("PIPEDRIVE_API_TOKEN", token)
        .env("MLC_ADMIN_TOKEN", "x")
        .env_remove("MLC_SECRET_KEY")
        .env_remove("MLC_CONFIG");
    command
}

async fn run(mut command: Command) -> Output {
    tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap()
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_creates_the_fields_once_and_fields_lists_them() {
    let sim = spawn(SimPipedriveOptions {
        api_token: "T".into(),
        ..SimPipedriveOptions::for_tests()
    })
    .await
    .unwrap();
    let setup = write_config(&sim, false);
    let mut first = command(&setup, "T");
    first.arg("setup");
    let first = run(first).await;
    assert!(first.status.success(), "{}", text(&first));
    let out = text(&first);
    assert!(
        out.contains("ECC Customer Number") && out.contains("ECC Contact Number"),
        "{out}"
    );
    assert!(out.contains("created"), "{out}");
    let mut second = command(&setup, "T");
    second.arg("setup");
    let second = run(second).await;
    assert!(second.status.success(), "{}", text(&second));
    assert!(!text(&second).contains("created"), "{}", text(&second));

    let mut fields = command(&setup, "T");
    fields.args(["fields", "--custom-only", "--format", "json"]);
    let fields = run(fields).await;
    assert!(fields.status.success(), "{}", text(&fields));
    let list: Vec<serde_json::Value> = serde_json::from_slice(&fields.stdout).unwrap();
    let names: Vec<&str> = list
        .iter()
        .filter_map(|field| field["name"].as_str())
        .collect();
    assert!(names.contains(&"ECC Customer Number"), "{names:?}");
    assert!(list
        .iter()
        .all(|field| field["key"].as_str().unwrap().len() == 40));

    let mut table = command(&setup, "T");
    table.arg("fields");
    let table = run(table).await;
    let out = text(&table);
    assert!(
        out.contains("organization") && out.contains("person") && out.contains("varchar"),
        "{out}"
    );

    let mut wrong = command(&setup, "wrong-token");
    wrong.arg("fields");
    let wrong = run(wrong).await;
    assert_eq!(wrong.status.code(), Some(1));
    assert!(
        text(&wrong).contains("pipedrive.api_token"),
        "{}",
        text(&wrong)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_pipedrive_takes_a_pasted_redirect_and_later_commands_use_the_tokens() {
    let sim = spawn(SimPipedriveOptions {
        auth: "oauth".into(),
        ..SimPipedriveOptions::for_tests()
    })
    .await
    .unwrap();
    let setup = write_config(&sim, true);

    let mut before = command(&setup, "unused");
    before.arg("fields");
    let before = run(before).await;
    assert_eq!(before.status.code(), Some(1));
    assert!(
        text(&before).contains("ml-connector auth pipedrive"),
        "{}",
        text(&before)
    );

    let mut auth = command(&setup, "unused");
    auth.args(["auth", "pipedrive", "--no-listen", "--timeout-secs", "60"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = auth.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let authorize_url = tokio::task::spawn_blocking(move || {
        let url = loop {
            let line = lines.next().expect("the command prints the URL").unwrap();
            if let Some(start) = line.find("http") {
                if line.contains("/oauth/authorize") {
                    break line[start..].trim().to_string();
                }
            }
        };
        (url, lines)
    })
    .await
    .unwrap();
    let (authorize_url, mut lines) = authorize_url;
    // The user's browser: allow, then Pipedrive redirects to the redirect URI (nobody listens
    // there with --no-listen); the user pastes that address.
    let page = reqwest::get(&authorize_url)
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let start = page.find("href=\"").unwrap() + 6;
    let end = start + page[start..].find('"').unwrap();
    let redirect = page[start..end].replace("&amp;", "&");
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, "{redirect}").unwrap();
    drop(stdin);
    let (status, rest) = tokio::task::spawn_blocking(move || {
        let rest: Vec<String> = lines.by_ref().map_while(Result::ok).collect();
        (child.wait().unwrap(), rest.join("\n"))
    })
    .await
    .unwrap();
    assert!(status.success(), "{rest}");
    assert!(rest.contains("authorized: requests go to"), "{rest}");
    assert!(rest.contains("connected as"), "{rest}");

    let mut after = command(&setup, "unused");
    after.args(["setup"]);
    let after = run(after).await;
    assert!(after.status.success(), "{}", text(&after));
    assert!(text(&after).contains("ECC Customer Number"));
}
