//! Shared by the command-line tests: the binary as a user runs it, its output for a failure
//! message, and a PostgreSQL schema of a test's own.

#![allow(dead_code)]

pub mod converged;
pub mod service_process;

use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Output};

use mlc_store::EntityKind;
use mlc_testbed::Testbed;

/// `ml-connector -c CONFIG ARGS...`, without a secret key from the environment and without
/// colours.
pub fn connector(config: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ml-connector"));
    command
        .arg("-c")
        .arg(config)
        .args(args)
        .env_remove("MLC_SECRET_KEY")
        .env("NO_COLOR", "1");
    command
}

/// Exit status, stdout and stderr, for an assertion's message.
pub fn text(output: &Output) -> String {
    format!(
        "status {}\nstdout: {}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// A fresh schema `schema` on the test PostgreSQL and the URL that uses it, or `None` (the test
/// skips) when none is configured; under MLC_TEST_STRICT=1 a missing database fails instead.
pub async fn postgres_store_url(schema: &str) -> Option<String> {
    let admin = match std::env::var("MLC_TEST_POSTGRES_URL") {
        Ok(url) if !url.trim().is_empty() => url,
        _ if std::env::var("MLC_TEST_STRICT").is_ok_and(|value| value == "1") => {
            panic!("MLC_TEST_POSTGRES_URL not set and MLC_TEST_STRICT=1")
        }
        _ => {
            println!("skipped: MLC_TEST_POSTGRES_URL not set");
            return None;
        }
    };
    let pool = sqlx::PgPool::connect(&admin).await.expect("postgres");
    sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&pool)
        .await
        .unwrap();
    let separator = if admin.contains('?') { '&' } else { '?' };
    Some(format!(
        "{admin}{separator}options=-csearch_path%3D{schema}"
    ))
}

/// Live organizations in Pipedrive by the ECC customer number they carry.
pub async fn organizations_by_customer(testbed: &Testbed) -> HashMap<String, usize> {
    let engine = testbed.engine().await.unwrap();
    let key = mlc_pipedrive::CustomFieldResolver::new(engine.client().clone())
        .key(EntityKind::Organization, "ECC Customer Number")
        .await
        .unwrap();
    let mut counts = HashMap::new();
    for organization in testbed.pipedrive.state().organizations() {
        if organization.is_deleted {
            continue;
        }
        if let Some(number) = organization.json["custom_fields"][&key].as_str() {
            *counts.entry(number.to_string()).or_insert(0) += 1;
        }
    }
    counts
}
