//! One run per connection at a time, whoever starts it: a run holds the connection's lease in
//! the store for as long as it writes, renews it in the background, and presents its fencing
//! token with every commit, so a run that lost its lease can no longer write.
//!
//! A lease outlives a killed process until it expires; when the holder ran on this host and its
//! process no longer exists, the lease is taken over at once instead. Whoever takes a lease over
//! marks the runs its predecessor left `running` as interrupted.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use mlc_store::{Lease, LeaseHolder, StateStore, StoreError};

/// How long a lease lasts without renewal; a killed holder on another host blocks this long.
pub const DEFAULT_LEASE_TTL: Duration = Duration::from_secs(60);
/// How often a waiting run looks at the lease again.
const WAIT_POLL: Duration = Duration::from_secs(2);

#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    #[error("{}", busy_message(.0))]
    Busy(LeaseHolder),
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn busy_message(holder: &LeaseHolder) -> String {
    let since = holder
        .acquired_at
        .map(|at| format!(" since {}", at.format("%Y-%m-%d %H:%M:%S UTC")))
        .unwrap_or_default();
    format!(
        "connection {} is busy: a run by {}{since} holds its lease (until {} unless renewed); \
         try again later, or pass --wait to run after it",
        holder.connection,
        holder.holder,
        holder.expires_at.format("%Y-%m-%d %H:%M:%S UTC"),
    )
}

/// The lease a run holds; release it when the run ends (a dropped one stops renewing and
/// expires by itself).
pub struct RunLease {
    store: Arc<dyn StateStore>,
    lease: Lease,
    lost: Arc<AtomicBool>,
    renewal: tokio::task::JoinHandle<()>,
}

impl RunLease {
    /// Takes the connection's lease now, or fails with `LeaseError::Busy` naming its holder.
    pub async fn acquire(
        store: Arc<dyn StateStore>,
        connection: &str,
        instance: &str,
        ttl: Duration,
    ) -> Result<RunLease, LeaseError> {
        match try_acquire(store.as_ref(), connection, instance, ttl).await? {
            Ok(lease) => Ok(RunLease::hold(store, lease, ttl).await?),
            Err(holder) => Err(LeaseError::Busy(holder)),
        }
    }

    /// Waits until the connection's lease is free and takes it; `on_wait` hears about the
    /// holder once per holder it waits for.
    pub async fn acquire_waiting(
        store: Arc<dyn StateStore>,
        connection: &str,
        instance: &str,
        ttl: Duration,
        on_wait: &dyn Fn(&LeaseHolder),
    ) -> Result<RunLease, LeaseError> {
        let mut announced: Option<(String, i64)> = None;
        loop {
            match try_acquire(store.as_ref(), connection, instance, ttl).await? {
                Ok(lease) => return Ok(RunLease::hold(store, lease, ttl).await?),
                Err(holder) => {
                    let key = (holder.holder.clone(), holder.fencing_token);
                    if announced.as_ref() != Some(&key) {
                        on_wait(&holder);
                        announced = Some(key);
                    }
                }
            }
            tokio::time::sleep(WAIT_POLL).await;
        }
    }

    async fn hold(
        store: Arc<dyn StateStore>,
        lease: Lease,
        ttl: Duration,
    ) -> Result<RunLease, StoreError> {
        let reason = format!(
            "interrupted: its process stopped before the run finished; {} took the lease over",
            lease.holder
        );
        let interrupted = store
            .interrupt_runs(&lease.connection, Utc::now(), &reason)
            .await?;
        if interrupted > 0 {
            tracing::warn!(
                connection = %lease.connection,
                interrupted,
                "runs left running by a stopped process are marked interrupted"
            );
        }
        let lost = Arc::new(AtomicBool::new(false));
        let renewal = tokio::spawn(renew_until_lost(
            store.clone(),
            lease.clone(),
            ttl,
            lost.clone(),
        ));
        Ok(RunLease {
            store,
            lease,
            lost,
            renewal,
        })
    }

    /// The token every write of this run presents; the store refuses it once the lease moved on.
    pub fn fencing_token(&self) -> i64 {
        self.lease.fencing_token
    }

    /// The lease as the store holds it (to release it when the run's task is gone).
    pub fn lease(&self) -> &Lease {
        &self.lease
    }

    /// True once a renewal found the lease taken by someone else.
    pub fn is_lost(&self) -> bool {
        self.lost.load(Ordering::SeqCst)
    }

    /// Stops renewing and frees the lease for the next run.
    pub async fn release(self) -> Result<(), StoreError> {
        self.renewal.abort();
        self.store.release_lease(&self.lease).await
    }
}

impl Drop for RunLease {
    fn drop(&mut self) {
        self.renewal.abort();
    }
}

/// The lease, or who holds it. A holder on this host whose process is gone loses it at once.
async fn try_acquire(
    store: &dyn StateStore,
    connection: &str,
    instance: &str,
    ttl: Duration,
) -> Result<Result<Lease, LeaseHolder>, StoreError> {
    let now = Utc::now();
    if let Some(lease) = store.acquire_lease(connection, instance, ttl, now).await? {
        return Ok(Ok(lease));
    }
    let Some(holder) = store.lease_holder(connection).await? else {
        // Released between the two reads: try once more on the next call.
        return store
            .acquire_lease(connection, instance, ttl, now)
            .await
            .map(|lease| lease.ok_or_else(|| vacant_holder(connection, now)));
    };
    if holder_process_is_gone(&holder.holder, &mlc_store::instance_name()) {
        tracing::warn!(
            connection,
            holder = %holder.holder,
            "the lease holder's process no longer exists on this host: taking the lease over"
        );
        if let Some(lease) = store.take_over_lease(&holder, instance, ttl, now).await? {
            return Ok(Ok(lease));
        }
    }
    Ok(Err(holder))
}

/// Stands for a lease that was held a moment ago and is being taken by another run right now.
fn vacant_holder(connection: &str, now: DateTime<Utc>) -> LeaseHolder {
    LeaseHolder {
        connection: connection.to_string(),
        holder: "another run starting at the same moment".to_string(),
        fencing_token: 0,
        acquired_at: Some(now),
        expires_at: now,
    }
}

/// True when `holder` (`host:pid`) names a process of this host (`me` is `host:pid` of this
/// process) that no longer exists. Another host's processes cannot be seen: those leases
/// expire instead.
pub fn holder_process_is_gone(holder: &str, me: &str) -> bool {
    let (Some((holder_host, holder_pid)), Some((my_host, _))) =
        (holder.rsplit_once(':'), me.rsplit_once(':'))
    else {
        return false;
    };
    if holder_host != my_host || holder == me {
        return false;
    }
    match holder_pid.parse::<u32>() {
        Ok(pid) if pid > 0 => !process_is_alive(pid),
        _ => false,
    }
}

/// A process that exited but was not reaped yet (a zombie) is not alive: it writes nothing.
fn process_is_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the command name in parentheses, which may itself hold spaces.
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_none_or(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

async fn renew_until_lost(
    store: Arc<dyn StateStore>,
    lease: Lease,
    ttl: Duration,
    lost: Arc<AtomicBool>,
) {
    let period = ttl / 3;
    loop {
        tokio::time::sleep(period).await;
        match store.renew_lease(&lease, ttl, Utc::now()).await {
            Ok(true) => {}
            Ok(false) => {
                tracing::error!(
                    connection = %lease.connection,
                    "lost the connection's lease to another run; this run's writes will be refused"
                );
                lost.store(true, Ordering::SeqCst);
                return;
            }
            // A store hiccup: try again next period; the lease lasts `ttl`, three periods.
            Err(error) => {
                tracing::warn!(connection = %lease.connection, %error, "cannot renew the lease")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_missing_process_of_this_host_counts_as_gone() {
        let me = format!("box:{}", std::process::id());
        assert!(!holder_process_is_gone(&me, &me), "not ourselves");
        assert!(
            !holder_process_is_gone("other-box:1", &me),
            "another host is never judged"
        );
        assert!(
            !holder_process_is_gone("box:1", &me),
            "pid 1 exists on every Linux host"
        );
        // Linux pids stay below 2^22.
        assert!(holder_process_is_gone("box:4194304", &me));
        assert!(!holder_process_is_gone("box:not-a-pid", &me));
        assert!(!holder_process_is_gone("no-colon", &me));
    }

    #[test]
    fn the_busy_message_names_the_holder_and_since_when() {
        let at = DateTime::parse_from_rfc3339("2026-12-02T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let message = LeaseError::Busy(LeaseHolder {
            connection: "default".into(),
            holder: "box:4711".into(),
            fencing_token: 3,
            acquired_at: Some(at),
            expires_at: at + chrono::Duration::seconds(60),
        })
        .to_string();
        assert!(message.contains("connection default is busy"), "{message}");
        assert!(
            message.contains("box:4711 since 2026-12-02 10:00:00 UTC"),
            "{message}"
        );
        assert!(message.contains("--wait"), "{message}");
    }
}
