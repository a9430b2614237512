//! The command line as a user meets it when the config is wrong: exit 2, and a message that
//! names the file, the line, the key or the variable.

use std::path::Path;
use std::process::{Command, Output};

fn ml_connector(directory: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ml-connector"))
        .args(args)
        .current_dir(directory)
        .env_remove("MLC_CONFIG")
        .env("ECC_PASSWORD", "ecc-secret")
        .env("PIPEDRIVE_API_TOKEN", "pd-secret")
        .env("MLC_ADMIN_TOKEN", "admin-secret")
        .output()
        .expect("the binary runs")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn init_writes_a_template_and_refuses_to_overwrite_it() {
    let directory = tempfile::tempdir().unwrap();
    let first = ml_connector(directory.path(), &["init", "--output", "x.toml"]);
    assert!(first.status.success(), "{}", stderr(&first));
    let template = std::fs::read_to_string(directory.path().join("x.toml")).unwrap();
    assert!(template.contains("[pipedrive]"));

    let second = ml_connector(directory.path(), &["init", "--output", "x.toml"]);
    assert_eq!(second.status.code(), Some(2));
    assert!(stderr(&second).contains("--force"), "{}", stderr(&second));

    let forced = ml_connector(directory.path(), &["init", "--output", "x.toml", "--force"]);
    assert!(forced.status.success(), "{}", stderr(&forced));
}

#[test]
fn an_unknown_key_exits_2_naming_the_key_and_its_line() {
    let directory = tempfile::tempdir().unwrap();
    assert!(
        ml_connector(directory.path(), &["init", "--output", "x.toml"])
            .status
            .success()
    );
    let path = directory.path().join("x.toml");
    let mut text = std::fs::read_to_string(&path).unwrap();
    text = text.replace("seats = 5", "seats = 5\nseets = 6");
    std::fs::write(&path, &text).unwrap();
    let line = text
        .lines()
        .position(|line| line.starts_with("seets"))
        .unwrap()
        + 1;

    let output = ml_connector(directory.path(), &["check", "-c", "x.toml"]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let message = stderr(&output);
    assert!(message.contains("seets"), "{message}");
    assert!(message.contains(&format!("x.toml:{line}")), "{message}");
    assert!(
        message.contains("seats"),
        "suggests the nearest key: {message}"
    );
}

#[test]
fn a_missing_variable_exits_2_naming_it() {
    let directory = tempfile::tempdir().unwrap();
    assert!(
        ml_connector(directory.path(), &["init", "--output", "x.toml"])
            .status
            .success()
    );
    let output = Command::new(env!("CARGO_BIN_EXE_ml-connector"))
        .args(["check", "-c", "x.toml"])
        .current_dir(directory.path())
        .env_remove("MLC_CONFIG")
        .env_remove("ECC_PASSWORD")
        .env("PIPEDRIVE_API_TOKEN", "pd-secret")
        .env("MLC_ADMIN_TOKEN", "admin-secret")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let message = stderr(&output);
    assert!(message.contains("ECC_PASSWORD"), "{message}");
    assert!(message.contains("ecc.password"), "{message}");
}

#[test]
fn a_missing_config_file_exits_2() {
    let directory = tempfile::tempdir().unwrap();
    let output = ml_connector(directory.path(), &["check", "-c", "nope.toml"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("nope.toml"));
}

#[test]
fn help_lists_the_commands() {
    let directory = tempfile::tempdir().unwrap();
    let output = ml_connector(directory.path(), &["--help"]);
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    for command in ["init", "check", "sim", "runs", "audit", "review"] {
        assert!(help.contains(command), "--help lacks {command}: {help}");
    }
}
