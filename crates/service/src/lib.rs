//! `ml-connector run`: the long-running service. Every connection (one config file each) has a
//! worker that runs it on its schedules or when the API asks; each run holds the connection's
//! lease in the store, so several instances on one PostgreSQL share the connections and one
//! connection never runs twice at once, whoever started it (a cron `sync` included). One HTTP
//! listener serves the API (with its OpenAPI document), the web UI, `/metrics`, `/healthz`,
//! `/readyz` and the agent hub. On shutdown the workers stop taking work, in-flight writes
//! finish within a bound, runs end `interrupted` and leases are released.

pub mod api;
pub mod metrics;
pub mod schedule;
pub mod ui;
pub mod webhooks;
mod worker;

#[cfg(test)]
mod test_support;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use mlc_config::Config;
use mlc_store::StateStore;
use tokio_util::sync::CancellationToken;

pub use worker::Connection;

/// How the service runs, beyond the connections' own configs.
#[derive(Debug, Clone)]
pub struct ServiceOptions {
    /// How long a lease lasts without renewal: a killed instance on another host holds its
    /// connections this long before another instance takes them over.
    pub lease_ttl: Duration,
    /// How often each worker looks at its schedule and the lease.
    pub tick: Duration,
    /// How long in-flight writes may take to finish after a shutdown was asked for.
    pub drain: Duration,
    /// The listener's address; `None` takes the first config's `server.listen`.
    pub listen: Option<SocketAddr>,
    /// This process's name in leases and runs (`host:pid`).
    pub instance: String,
}

impl Default for ServiceOptions {
    fn default() -> Self {
        ServiceOptions {
            lease_ttl: mlc_engine::DEFAULT_LEASE_TTL,
            tick: Duration::from_secs(1),
            drain: Duration::from_secs(20),
            listen: None,
            instance: mlc_store::instance_name(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("{0}")]
    Config(String),
    #[error("cannot listen on {address}: {message}")]
    Listen {
        address: SocketAddr,
        message: String,
    },
    #[error("the HTTP server stopped: {0}")]
    Server(String),
}

/// What the API and the workers share.
pub struct ServiceState {
    pub store: Arc<dyn StateStore>,
    pub connections: Vec<Arc<Connection>>,
    pub metrics: metrics::Metrics,
    pub options: ServiceOptions,
    pub started: DateTime<Utc>,
    /// The bearer token of `/api/`; without one every API call is refused.
    pub admin_token: Option<mlc_config::Secret>,
    /// Cancelled on shutdown; every run's cancellation is a child of it.
    pub shutdown: CancellationToken,
}

impl ServiceState {
    pub fn connection(&self, name: &str) -> Option<&Arc<Connection>> {
        self.connections
            .iter()
            .find(|connection| connection.name() == name)
    }
}

/// Checks that the configs can run in one service: at least one, distinct connection names,
/// and one store for all.
pub fn check_configs(configs: &[Config]) -> Result<(), ServiceError> {
    let Some(first) = configs.first() else {
        return Err(ServiceError::Config(
            "no connection to run: give -c FILE (repeatable) or -c DIRECTORY of *.toml".into(),
        ));
    };
    let mut names = HashSet::new();
    for config in configs {
        if !names.insert(config.sync.connection.as_str()) {
            return Err(ServiceError::Config(format!(
                "two configs name connection `{}`: set sync.connection to tell them apart",
                config.sync.connection
            )));
        }
        if config.store.url != first.store.url {
            return Err(ServiceError::Config(format!(
                "connection `{}` names another store than `{}`: one service shares one store \
                 (store.url must be the same in every config)",
                config.sync.connection, first.sync.connection
            )));
        }
    }
    Ok(())
}

/// Runs the service until `shutdown` is cancelled, then drains and returns.
pub async fn serve(
    configs: Vec<Config>,
    store: Arc<dyn StateStore>,
    options: ServiceOptions,
    shutdown: CancellationToken,
) -> Result<(), ServiceError> {
    check_configs(&configs)?;
    let server = configs[0].server.clone();
    let listen = options.listen.unwrap_or(server.listen);
    if server.admin_token.is_none() {
        tracing::warn!(
            "server.admin_token is not set: every /api/ call is refused (401); only /healthz, \
             /readyz and /metrics answer"
        );
    }
    let (connections, agent_router) = worker::connections(configs)?;
    let state = Arc::new(ServiceState {
        store,
        connections,
        metrics: metrics::Metrics::new(),
        options,
        started: Utc::now(),
        admin_token: server.admin_token.clone(),
        shutdown: shutdown.clone(),
    });
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|error| ServiceError::Listen {
            address: listen,
            message: error.to_string(),
        })?;
    let address = listener.local_addr().unwrap_or(listen);
    tracing::info!(
        %address,
        instance = %state.options.instance,
        connections = state.connections.len(),
        "ml-connector service listening"
    );
    let mut router = api::router(state.clone()).merge(ui::router(state.clone()));
    if let Some(agents) = agent_router {
        router = router.merge(agents);
    }
    let workers: Vec<tokio::task::JoinHandle<()>> = state
        .connections
        .iter()
        .map(|connection| tokio::spawn(worker::work(state.clone(), connection.clone())))
        .collect();
    let server_shutdown = shutdown.clone();
    let server = tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move { server_shutdown.cancelled().await })
        .await
    });

    shutdown.cancelled().await;
    tracing::info!(
        drain_secs = state.options.drain.as_secs(),
        "shutting down: no new runs; writes in flight may finish"
    );
    let mut workers = workers;
    let drained = tokio::time::timeout(state.options.drain, async {
        for worker in &mut workers {
            let _ = worker.await;
        }
    })
    .await;
    for worker in &workers {
        worker.abort();
    }
    if drained.is_err() {
        tracing::warn!("writes still in flight after the drain bound: their runs end interrupted");
    }
    for connection in &state.connections {
        connection.after_abort(&state).await;
    }
    match tokio::time::timeout(Duration::from_secs(5), server).await {
        Ok(Ok(Err(error))) => Err(ServiceError::Server(error.to_string())),
        _ => Ok(()),
    }
}
