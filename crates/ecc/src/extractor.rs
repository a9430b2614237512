//! The extractor the rest of the connector calls: built from `[ecc]`, it picks the transport and
//! offers the full read, deltas and reads by customer number as streams of bounded batches.

use std::sync::Arc;

use futures::stream::{self, Stream};
use mlc_config::{EccConfig, EccTransport};

use crate::delta::DeltaCursor;
use crate::error::EccError;
use crate::http::{build_client, HttpSettings};
use crate::rfc::soap::SoapRfcTransport;
use crate::rfc::table_reader::TableReader;
use crate::rfc::RfcTransport;
use crate::rfc_source::{ReadSettings, RfcSource};
use crate::source::{CheckLine, CustomerSource, ExtractBatch};

/// Reads customers out of ECC through the configured transport.
#[derive(Clone)]
pub struct Extractor {
    source: Arc<dyn CustomerSource>,
    /// Keeps the agent listener of a standalone run alive as long as the extractor.
    agent_listener: Option<Arc<crate::agent::hub::StandaloneListener>>,
}

impl Extractor {
    /// Builds the extractor for `config`. With transport `agent` this also starts the listener
    /// agents connect to, on `ecc.agent_listen` (the `run` service mounts the hub on its own
    /// server instead, through [`Extractor::with_agent_hub`]).
    pub async fn connect(config: &EccConfig) -> Result<Extractor, EccError> {
        match config.transport {
            EccTransport::SoapRfc => {
                let client = build_client(&HttpSettings::from_config(config))?;
                let transport: Arc<dyn RfcTransport> = Arc::new(
                    SoapRfcTransport::new(
                        client,
                        &config.base_url,
                        &config.client,
                        &config.language,
                        &config.user,
                        config.password.expose(),
                        config.retries,
                    )
                    .with_response_cap(config.max_response_bytes),
                );
                Ok(Self::over_rfc(config, transport, "soap-rfc"))
            }
            EccTransport::Odata => {
                let client = build_client(&HttpSettings::from_config(config))?;
                let fetch = Arc::new(crate::odata::HttpODataFetch::new(client, config));
                Ok(Extractor {
                    source: Arc::new(crate::odata::ODataSource::new(fetch, config, "odata")?),
                    agent_listener: None,
                })
            }
            EccTransport::Agent => {
                let hub = crate::agent::hub::AgentHub::from_config(config)?;
                let listener =
                    crate::agent::hub::StandaloneListener::start(hub.clone(), &config.agent_listen)
                        .await?;
                let mut extractor = Self::with_agent_hub(config, hub)?;
                extractor.agent_listener = Some(Arc::new(listener));
                Ok(extractor)
            }
        }
    }

    /// The extractor over an agent hub someone else serves (the `run` service mounts
    /// [`crate::agent::hub::AgentHub::router`] at `/agent/connect`).
    pub fn with_agent_hub(
        config: &EccConfig,
        hub: crate::agent::hub::AgentHub,
    ) -> Result<Extractor, EccError> {
        match config.agent_via.as_str() {
            "odata" => {
                let fetch = Arc::new(crate::agent::hub::AgentODataFetch::new(hub, config));
                Ok(Extractor {
                    source: Arc::new(crate::odata::ODataSource::new(
                        fetch,
                        config,
                        "agent-odata",
                    )?),
                    agent_listener: None,
                })
            }
            _ => {
                let transport: Arc<dyn RfcTransport> = Arc::new(
                    crate::agent::hub::AgentRfcTransport::new(hub, config.agent_wait),
                );
                Ok(Self::over_rfc(config, transport, "agent"))
            }
        }
    }

    /// The extractor over any RFC transport (tests use it to count or break calls).
    pub fn over_rfc(
        config: &EccConfig,
        transport: Arc<dyn RfcTransport>,
        label: &str,
    ) -> Extractor {
        let reader = Arc::new(TableReader::new(
            transport,
            &config.read_table_function,
            config.rows_per_call,
            config.in_list_size,
        ));
        Extractor {
            source: Arc::new(RfcSource::new(
                reader,
                ReadSettings::from_config(config),
                label,
            )),
            agent_listener: None,
        }
    }

    /// Every customer, in batches of at most `ecc.rows_per_call` customers; memory stays bounded
    /// by one batch whatever the number of customers. The last batch carries the delta cursor
    /// the read covers: the time the read started, on the server's clock.
    pub fn full(&self) -> impl Stream<Item = Result<ExtractBatch, EccError>> + Send + 'static {
        let source = self.source.clone();
        let started = chrono::Utc::now();
        let read = source.clone().start_full();
        stream::unfold(Some(read), move |state| {
            let source = source.clone();
            async move {
                let mut read = state?;
                match read.next_batch().await {
                    Ok(Some(batch)) => Some((Ok(batch), Some(read))),
                    // Converted now, not at the start: the read's answers told the server's clock.
                    Ok(None) => Some((
                        Ok(ExtractBatch {
                            cursor_after: Some(source.cursor_at(started)),
                            ..ExtractBatch::default()
                        }),
                        None,
                    )),
                    Err(error) => Some((Err(error), None)),
                }
            }
        })
    }

    /// The customers created or changed since `since` (new by ERDAT, changed by CDHDR object
    /// class DEBI, which covers contact changes too), re-read whole in batches. The window
    /// starts `ecc.delta_overlap_secs` before the cursor. Address-only changes (ADRC, ADR6,
    /// ADR2) write no change document: the full read catches them.
    pub fn delta(
        &self,
        since: &DeltaCursor,
    ) -> impl Stream<Item = Result<ExtractBatch, EccError>> + Send + 'static {
        let source = self.source.clone();
        let since = since.clone();
        enum State {
            Start,
            Reading {
                numbers: Vec<String>,
                offset: usize,
                cursor: DeltaCursor,
            },
            Done,
        }
        stream::unfold(State::Start, move |state| {
            let source = source.clone();
            let since = since.clone();
            async move {
                let (numbers, offset, cursor) = match state {
                    State::Done => return None,
                    State::Start => match source.changed_since(&since).await {
                        Ok((numbers, cursor)) => (numbers, 0, cursor),
                        Err(error) => return Some((Err(error), State::Done)),
                    },
                    State::Reading {
                        numbers,
                        offset,
                        cursor,
                    } => (numbers, offset, cursor),
                };
                let end = (offset + source.batch_size()).min(numbers.len());
                let last = end >= numbers.len();
                let mut batch = if offset < end {
                    match source.customers(&numbers[offset..end]).await {
                        Ok(batch) => batch,
                        Err(error) => return Some((Err(error), State::Done)),
                    }
                } else {
                    ExtractBatch::default()
                };
                if last {
                    batch.cursor_after = Some(cursor);
                    Some((Ok(batch), State::Done))
                } else {
                    Some((
                        Ok(batch),
                        State::Reading {
                            numbers,
                            offset: end,
                            cursor,
                        },
                    ))
                }
            }
        })
    }

    /// The customers with these numbers (internal form, e.g. "0000004711"); numbers ECC does
    /// not know are left out.
    pub async fn customers(&self, numbers: &[String]) -> Result<ExtractBatch, EccError> {
        let mut batch = ExtractBatch::default();
        for chunk in numbers.chunks(self.source.batch_size().max(1)) {
            let part = self.source.customers(chunk).await?;
            batch.records.extend(part.records);
            batch.rejected.extend(part.rejected);
        }
        Ok(batch)
    }

    /// Reachability, logon, and for each table the extraction reads whether the user may read
    /// it (a NO_DATA probe), for `ml-connector check`.
    pub async fn check(&self) -> Vec<CheckLine> {
        self.source.check().await
    }

    /// Calls made to ECC so far (RFC calls or OData requests).
    pub fn calls(&self) -> u64 {
        self.source.calls()
    }

    /// A delta cursor at the ECC server's current time (the connector's while no answer of the
    /// server told its clock).
    pub fn cursor_now(&self) -> DeltaCursor {
        self.source.cursor_at(chrono::Utc::now())
    }
}

/// The lines of `ml-connector check` for `[ecc]`: reachability, logon, and one line per table
/// the extraction reads (a NO_DATA probe). An extractor that cannot even be built (bad CA file,
/// agent token file) is one failed line. With transport `agent`, the check listens on
/// `ecc.agent_listen` and waits up to 15 seconds for an agent before it probes through it.
pub async fn check_lines(config: &EccConfig) -> Vec<CheckLine> {
    if config.transport != EccTransport::Agent {
        return match Extractor::connect(config).await {
            Ok(extractor) => extractor.check().await,
            Err(error) => vec![CheckLine::failed("ecc connection", error.to_string())],
        };
    }
    let hub = match crate::agent::hub::AgentHub::from_config(config) {
        Ok(hub) => hub,
        Err(error) => return vec![CheckLine::failed("ecc agent", error.to_string())],
    };
    let listener =
        match crate::agent::hub::StandaloneListener::start(hub.clone(), &config.agent_listen).await
        {
            Ok(listener) => listener,
            Err(error) => return vec![CheckLine::failed("ecc agent", error.to_string())],
        };
    let deadline =
        tokio::time::Instant::now() + config.agent_wait.min(std::time::Duration::from_secs(15));
    while !hub.connected() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    if !hub.connected() {
        return vec![CheckLine::failed(
            "ecc agent",
            format!(
                "no agent connected to ws://{}/agent/connect within 15s: start `ml-connector agent` inside the SAP network",
                listener.local_addr()
            ),
        )];
    }
    let mut lines = vec![CheckLine::passed(
        "ecc agent",
        format!("connected at {}", listener.local_addr()),
    )];
    match Extractor::with_agent_hub(config, hub) {
        Ok(extractor) => lines.extend(extractor.check().await),
        Err(error) => lines.push(CheckLine::failed("ecc connection", error.to_string())),
    }
    lines
}
