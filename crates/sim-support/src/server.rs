//! Serving a simulator's router in-process: bind (port 0 for a free one), serve on a task with
//! the peer address available to handlers, stop gracefully on request.

use std::net::SocketAddr;

use axum::Router;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Binds `listen` (`127.0.0.1:0` picks a free port). The error names the address.
pub async fn bind(listen: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(listen).await.map_err(|error| {
        std::io::Error::new(error.kind(), format!("cannot listen on {listen}: {error}"))
    })
}

/// A router being served on its own task. Dropping it stops accepting connections;
/// [`RunningServer::shutdown`] also waits for the open ones to finish.
pub struct RunningServer {
    pub addr: SocketAddr,
    stop: CancellationToken,
    task: Option<tokio::task::JoinHandle<()>>,
}

/// Serves `router` on `listener` until `stop` is cancelled (by [`RunningServer::stop`], its
/// drop, or whoever else holds the token: a simulator's state keeps a clone to end answers it
/// holds back on purpose). Handlers can extract `ConnectInfo<SocketAddr>` (the simulators'
/// admin endpoints answer loopback peers only). `name` says which server stopped in the log if
/// serving fails.
pub fn serve(
    listener: TcpListener,
    router: Router,
    stop: CancellationToken,
    name: &'static str,
) -> std::io::Result<RunningServer> {
    let addr = listener.local_addr()?;
    let stopped = stop.clone();
    let task = tokio::spawn(async move {
        let service = router.into_make_service_with_connect_info::<SocketAddr>();
        let served = axum::serve(listener, service)
            .with_graceful_shutdown(async move { stopped.cancelled().await })
            .await;
        if let Err(error) = served {
            tracing::error!(%error, server = name, "simulator stopped");
        }
    });
    Ok(RunningServer {
        addr,
        stop,
        task: Some(task),
    })
}

impl RunningServer {
    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting connections, without waiting.
    pub fn stop(&self) {
        self.stop.cancel();
    }

    /// Stops accepting connections and waits for the server task to end.
    pub async fn shutdown(&mut self) {
        self.stop();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::get;

    #[tokio::test]
    async fn a_served_router_answers_until_it_is_shut_down() {
        let listener = bind(SocketAddr::from(([127, 0, 0, 1], 0))).await.unwrap();
        let router = Router::new().route("/", get(|| async { "up" }));
        let server = serve(listener, router, CancellationToken::new(), "test").unwrap();
        let url = server.base_url();
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        let body = client.get(&url).send().await.unwrap().text().await.unwrap();
        assert_eq!(body, "up");
        let mut server = server;
        server.shutdown().await;
        assert!(client.get(&url).send().await.is_err());
    }

    #[tokio::test]
    async fn a_taken_address_is_named_in_the_error() {
        let listener = bind(SocketAddr::from(([127, 0, 0, 1], 0))).await.unwrap();
        let taken = listener.local_addr().unwrap();
        let error = bind(taken).await.unwrap_err().to_string();
        assert!(error.contains(&taken.to_string()), "{error}");
    }
}
