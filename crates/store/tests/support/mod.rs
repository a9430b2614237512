//! A fresh store for one test: SQLite in a temporary folder, or PostgreSQL (from
//! `MLC_TEST_POSTGRES_URL`) in a schema of its own, dropped afterwards, so tests run in parallel.
#![allow(dead_code)] // each test binary uses a different part of this module

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use futures::FutureExt;
use mlc_store::{SecretKey, StateStore};

pub const POSTGRES_URL_VAR: &str = "MLC_TEST_POSTGRES_URL";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

enum Place {
    Sqlite {
        _directory: tempfile::TempDir,
        file: PathBuf,
    },
    Postgres {
        admin_url: String,
        schema: String,
    },
}

pub struct TestStore {
    pub store: Arc<dyn StateStore>,
    /// The URL `open` was given; opening it again reaches the same data.
    pub url: String,
    pub key: SecretKey,
    place: Place,
}

fn strict() -> bool {
    std::env::var("MLC_TEST_STRICT").is_ok_and(|value| value == "1")
}

/// The PostgreSQL server to test against; `None` (with a printed reason) when not configured,
/// a panic instead when `MLC_TEST_STRICT=1`.
pub fn postgres_admin_url() -> Option<String> {
    match std::env::var(POSTGRES_URL_VAR) {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ if strict() => panic!("{POSTGRES_URL_VAR} not set and MLC_TEST_STRICT=1"),
        _ => {
            println!("skipped: {POSTGRES_URL_VAR} not set");
            None
        }
    }
}

/// `url` with its search path set to `schema`.
pub fn url_with_schema(url: &str, schema: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}options=-csearch_path%3D{schema}")
}

impl TestStore {
    /// A fresh store on `backend`, or `None` when that backend is not available here.
    pub async fn new(backend: Backend) -> Option<TestStore> {
        match backend {
            Backend::Sqlite => Some(TestStore::sqlite().await),
            Backend::Postgres => TestStore::postgres().await,
        }
    }

    pub async fn sqlite() -> TestStore {
        let directory = tempfile::tempdir().expect("temporary folder");
        let file = directory.path().join("state").join("ml-connector.db");
        let url = format!("sqlite://{}", file.display());
        let key = SecretKey::generate();
        let store = mlc_store::open(&url, Some(key.clone()))
            .await
            .expect("open sqlite store");
        TestStore {
            store,
            url,
            key,
            place: Place::Sqlite {
                _directory: directory,
                file,
            },
        }
    }

    pub async fn postgres() -> Option<TestStore> {
        let admin_url = postgres_admin_url()?;
        let schema = format!("mlc_test_{}", uuid::Uuid::new_v4().simple());
        let admin = sqlx::PgPool::connect(&admin_url)
            .await
            .unwrap_or_else(|error| panic!("connect to {POSTGRES_URL_VAR}: {error}"));
        sqlx::query(&format!("CREATE SCHEMA {schema}"))
            .execute(&admin)
            .await
            .expect("create test schema");
        admin.close().await;
        let url = url_with_schema(&admin_url, &schema);
        let key = SecretKey::generate();
        let store = mlc_store::open(&url, Some(key.clone()))
            .await
            .expect("open postgres store");
        Some(TestStore {
            store,
            url,
            key,
            place: Place::Postgres { admin_url, schema },
        })
    }

    pub fn backend(&self) -> Backend {
        match self.place {
            Place::Sqlite { .. } => Backend::Sqlite,
            Place::Postgres { .. } => Backend::Postgres,
        }
    }

    /// Another handle on the same data, with its own connections (as another process has).
    pub async fn open_again(&self, key: Option<SecretKey>) -> Arc<dyn StateStore> {
        mlc_store::open(&self.url, key)
            .await
            .expect("open store again")
    }

    /// The stored bytes of a secret, straight from the table.
    pub async fn raw_ciphertext(&self, name: &str) -> Vec<u8> {
        let query = "SELECT ciphertext FROM secrets WHERE name = $1";
        match &self.place {
            Place::Sqlite { file, .. } => {
                let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", file.display()))
                    .await
                    .expect("raw sqlite connection");
                let bytes = sqlx::query_scalar(query).bind(name).fetch_one(&pool).await;
                pool.close().await;
                bytes.expect("raw secret row")
            }
            Place::Postgres { .. } => {
                let pool = sqlx::PgPool::connect(&self.url)
                    .await
                    .expect("raw connection");
                let bytes = sqlx::query_scalar(query).bind(name).fetch_one(&pool).await;
                pool.close().await;
                bytes.expect("raw secret row")
            }
        }
    }

    /// What the store takes on disk for the audit trail. SQLite: the whole file with its WAL
    /// after a checkpoint, the measure of BRIEF §4. PostgreSQL: the audit tables with their
    /// indexes (other tables hold dead row versions until vacuum, which says nothing here).
    pub async fn audit_bytes(&self) -> u64 {
        match &self.place {
            Place::Sqlite { file, .. } => mlc_store::sqlite_bytes_on_disk(file)
                .await
                .expect("the SQLite store's size"),
            Place::Postgres { .. } => {
                let pool = sqlx::PgPool::connect(&self.url)
                    .await
                    .expect("raw connection");
                let bytes: i64 = sqlx::query_scalar(
                    "SELECT CAST(SUM(pg_total_relation_size(c.oid)) AS BIGINT) FROM pg_class c \
                     JOIN pg_namespace n ON n.oid = c.relnamespace \
                     WHERE n.nspname = current_schema() AND c.relkind = 'r' \
                     AND c.relname IN ('audit_events', 'audit_skips', 'audit_outcomes')",
                )
                .fetch_one(&pool)
                .await
                .expect("relation sizes");
                pool.close().await;
                bytes as u64
            }
        }
    }

    /// Moves every run's start to `started_at`, as if they ran then (the prune finds old skips
    /// through their runs).
    pub async fn backdate_runs(&self, started_at: DateTime<Utc>) {
        match &self.place {
            Place::Sqlite { file, .. } => {
                let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", file.display()))
                    .await
                    .expect("raw sqlite connection");
                sqlx::query("UPDATE runs SET started_at = $1")
                    .bind(started_at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string())
                    .execute(&pool)
                    .await
                    .expect("backdate runs");
                pool.close().await;
            }
            Place::Postgres { .. } => {
                let pool = sqlx::PgPool::connect(&self.url)
                    .await
                    .expect("raw connection");
                sqlx::query("UPDATE runs SET started_at = $1")
                    .bind(started_at)
                    .execute(&pool)
                    .await
                    .expect("backdate runs");
                pool.close().await;
            }
        }
    }

    async fn cleanup(&self) {
        if let Place::Postgres { admin_url, schema } = &self.place {
            if let Ok(admin) = sqlx::PgPool::connect(admin_url).await {
                let dropped = sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
                    .execute(&admin)
                    .await;
                if let Err(error) = dropped {
                    eprintln!("could not drop test schema {schema}: {error}");
                }
                admin.close().await;
            }
        }
    }

    /// Runs `test` on a fresh store of `backend`, then removes the store, also when it fails.
    pub async fn run<F, Fut>(backend: Backend, test: F)
    where
        F: FnOnce(Arc<TestStore>) -> Fut,
        Fut: Future<Output = ()>,
    {
        let Some(fixture) = TestStore::new(backend).await else {
            return;
        };
        let fixture = Arc::new(fixture);
        let outcome = std::panic::AssertUnwindSafe(test(fixture.clone()))
            .catch_unwind()
            .await;
        fixture.cleanup().await;
        if let Err(panic) = outcome {
            std::panic::resume_unwind(panic);
        }
    }
}

/// A fixed instant plus `seconds`, so tests compare times exactly.
pub fn at(seconds: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 5, 8, 0, 0)
        .single()
        .expect("valid date")
        + chrono::Duration::seconds(seconds)
}

/// One test per backend of every function listed, each on a fresh store:
/// `store_test_suite!(a, b)` makes `sqlite::a`, `postgres::a`, `sqlite::b`, ...
#[allow(unused_macros)] // not every test binary has a suite
macro_rules! store_test_suite {
    ($($test:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    super::TestStore::run(super::Backend::Sqlite, super::$test).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    super::TestStore::run(super::Backend::Postgres, super::$test).await;
                }
            )*
        }
    };
}
