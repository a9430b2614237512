//! A connection's pause, kept in the store: after Pipedrive's 403 or a used budget share, no run
//! of the connection calls Pipedrive before the pause ends, whichever process starts it (the
//! service, a restarted one, or `sync` from cron). The decision is the pure core's
//! (`mlc_sync::plan::run::pause_after_run`); this module keeps it and reads it back.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use mlc_store::{ActionCounts, NewRun, RunFinish, RunStatus, StateStore, StoreError};
pub use mlc_sync::plan::run::Pause;

/// The pause's stream in the store's cursors (one per connection).
const PAUSE_STREAM: &str = "pipedrive-pause";

/// The connection's pause when one is in effect at `now`.
pub async fn pause_in_effect(
    store: &dyn StateStore,
    connection: &str,
    now: DateTime<Utc>,
) -> Result<Option<Pause>, StoreError> {
    let Some(cursor) = store.cursor(connection, PAUSE_STREAM).await? else {
        return Ok(None);
    };
    // An empty or unreadable value is no pause: a pause only ever holds calls back.
    let pause: Option<Pause> = serde_json::from_str(&cursor.value).ok();
    Ok(pause.filter(|pause| pause.until > now))
}

/// Keeps `pause` for the connection (replacing an earlier one).
pub async fn record_pause(
    store: &dyn StateStore,
    connection: &str,
    pause: &Pause,
) -> Result<(), StoreError> {
    let value = serde_json::to_string(pause)
        .map_err(|error| StoreError::Database(format!("encoding the pause: {error}")))?;
    let current = store.cursor(connection, PAUSE_STREAM).await?;
    store
        .advance_cursor(
            connection,
            PAUSE_STREAM,
            current.map(|cursor| cursor.version),
            &value,
        )
        .await?;
    Ok(())
}

/// Records a run that did not start because of `pause`: it shows in `runs` as deferred, with
/// the reason, and called nothing.
pub async fn record_paused_run(
    store: &Arc<dyn StateStore>,
    connection: &str,
    instance: &str,
    pause: &Pause,
) -> Result<i64, StoreError> {
    let run_id = store
        .start_run(&NewRun {
            connection: connection.to_string(),
            instance: instance.to_string(),
            mode: "paused".to_string(),
        })
        .await?;
    store
        .finish_run(
            run_id,
            &RunFinish {
                status: RunStatus::Deferred,
                counts: ActionCounts::new(),
                tokens_used: 0,
                alert: Some(pause_message(pause)),
                error: None,
            },
        )
        .await?;
    Ok(run_id)
}

/// "paused until …: why", for messages and run records.
pub fn pause_message(pause: &Pause) -> String {
    format!(
        "paused until {}: {}",
        pause.until.format("%Y-%m-%d %H:%M:%S UTC"),
        pause.reason
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_pause_is_kept_read_back_until_it_ends_and_replaced() {
        let store = mlc_store::open("sqlite::memory:", None).await.unwrap();
        let now = Utc::now();
        assert_eq!(
            pause_in_effect(store.as_ref(), "c", now).await.unwrap(),
            None
        );
        let pause = Pause {
            until: now + chrono::Duration::minutes(30),
            reason: "403".into(),
        };
        record_pause(store.as_ref(), "c", &pause).await.unwrap();
        assert_eq!(
            pause_in_effect(store.as_ref(), "c", now).await.unwrap(),
            Some(pause.clone())
        );
        assert_eq!(
            pause_in_effect(store.as_ref(), "other", now).await.unwrap(),
            None
        );
        assert_eq!(
            pause_in_effect(store.as_ref(), "c", pause.until)
                .await
                .unwrap(),
            None,
            "over at its end"
        );
        let shorter = Pause {
            until: now - chrono::Duration::seconds(1),
            reason: "over".into(),
        };
        record_pause(store.as_ref(), "c", &shorter).await.unwrap();
        assert_eq!(
            pause_in_effect(store.as_ref(), "c", now).await.unwrap(),
            None
        );

        let run_id = record_paused_run(&store, "c", "box:1", &pause)
            .await
            .unwrap();
        let runs = store
            .runs(&mlc_store::RunQuery {
                connection: Some("c".into()),
                limit: Some(1),
                id: None,
            })
            .await
            .unwrap();
        assert_eq!(runs[0].id, run_id);
        assert_eq!(runs[0].status, RunStatus::Deferred);
        assert!(runs[0]
            .alert
            .as_deref()
            .unwrap()
            .starts_with("paused until"));
    }
}
