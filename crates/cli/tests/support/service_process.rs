//! `ml-connector run` in its own process, as an operator starts it: a free port, a config with
//! a `[server]` section, the log in a file, killed when the test ends (also when it fails).

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use super::connector;

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Writes `config_text` with a `[server]` section on `port` and `admin_token` beside it.
pub fn write_service_config(
    directory: &Path,
    config_text: &str,
    port: u16,
    admin_token: &str,
) -> PathBuf {
    let config = directory.join("ml-connector.toml");
    std::fs::write(
        &config,
        format!("{config_text}\n[server]\nlisten = \"127.0.0.1:{port}\"\nadmin_token = \"{admin_token}\"\n"),
    )
    .unwrap();
    config
}

/// A running service; killed on drop.
pub struct ServiceProcess {
    pub child: Child,
    pub log: PathBuf,
    pub base: String,
}

impl Drop for ServiceProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl ServiceProcess {
    /// `ml-connector -c CONFIG run --listen 127.0.0.1:PORT`, with its log in `log_name` beside
    /// the config; returns once `/healthz` answers.
    pub async fn start(config: &Path, log_name: &str, port: u16) -> ServiceProcess {
        let log = config.with_file_name(log_name);
        let child = connector(config, &["run", "--listen", &format!("127.0.0.1:{port}")])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let mut service = ServiceProcess {
            child,
            log,
            base: format!("http://127.0.0.1:{port}"),
        };
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let answered = http
                .get(format!("{}/healthz", service.base))
                .send()
                .await
                .is_ok_and(|response| response.status().is_success());
            if answered {
                return service;
            }
            if let Some(status) = service.child.try_wait().unwrap() {
                panic!(
                    "the service exited ({status}) before it answered: {}",
                    service.log_text()
                );
            }
            assert!(
                Instant::now() < deadline,
                "the service never answered /healthz"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}
