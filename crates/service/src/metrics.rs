//! Prometheus metrics at `/metrics`, named `mlc_<name>_<unit>[_total]`. Counters move when a run
//! ends; gauges are set from the run's end and the governor's state when scraped.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use mlc_engine::RunSummary;
use mlc_store::RunStatus;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::{Registry, Unit};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ConnectionLabel {
    pub connection: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ActionLabels {
    pub connection: String,
    pub action: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    pub connection: String,
    pub kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StatusLabels {
    pub connection: String,
    pub status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CompanyStatusLabels {
    /// The Pipedrive company's id: connections to one company share its requests and budget.
    pub company: String,
    pub status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CompanyLabel {
    pub company: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HolderLabels {
    pub connection: String,
    pub holder: String,
}

fn seconds_histogram() -> Histogram {
    // 50 ms to about 3.6 hours.
    Histogram::new(exponential_buckets(0.05, 2.0, 18))
}

/// Every metric of the service, registered once.
pub struct Metrics {
    registry: Registry,
    pub records_read: Family<ConnectionLabel, Counter>,
    pub records_written: Family<ActionLabels, Counter>,
    pub errors: Family<KindLabels, Counter>,
    pub runs: Family<StatusLabels, Counter>,
    pub run_duration: Family<ConnectionLabel, Histogram>,
    pub ecc_read_duration: Family<ConnectionLabel, Histogram>,
    pub pipedrive_requests: Family<CompanyStatusLabels, Counter>,
    pub pipedrive_429: Family<CompanyLabel, Counter>,
    pub tokens_used: Family<ConnectionLabel, Counter>,
    pub tokens_left: Family<ConnectionLabel, Gauge>,
    pub lease_holder: Family<HolderLabels, Gauge>,
    pub review_queue: Family<ConnectionLabel, Gauge>,
    pub parked_records: Family<ConnectionLabel, Gauge>,
    /// The holder label last set per connection, so a new holder's series replaces the old.
    holders: Mutex<Vec<HolderLabels>>,
    /// The governors' totals already counted, by company and status: connections to one
    /// company share one governor, so its requests are counted once.
    governor_seen: Mutex<HashMap<(String, String), u64>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::default();
        let records_read = Family::<ConnectionLabel, Counter>::default();
        registry.register(
            "mlc_records_read",
            "ECC customers read by runs",
            records_read.clone(),
        );
        let records_written = Family::<ActionLabels, Counter>::default();
        registry.register(
            "mlc_records_written",
            "Records handled by runs, by action (create, update, link, skip, review, error, deferred...)",
            records_written.clone(),
        );
        let errors = Family::<KindLabels, Counter>::default();
        registry.register(
            "mlc_errors",
            "Errors by kind: record (a write Pipedrive refused), rejected (dirty ECC data kept out), run (a failed run)",
            errors.clone(),
        );
        let runs = Family::<StatusLabels, Counter>::default();
        registry.register("mlc_runs", "Runs ended, by status", runs.clone());
        let run_duration =
            Family::<ConnectionLabel, Histogram>::new_with_constructor(seconds_histogram);
        registry.register_with_unit(
            "mlc_run_duration",
            "Wall time of runs",
            Unit::Seconds,
            run_duration.clone(),
        );
        let ecc_read_duration =
            Family::<ConnectionLabel, Histogram>::new_with_constructor(seconds_histogram);
        registry.register_with_unit(
            "mlc_ecc_read_duration",
            "Wall time of a run's read of ECC (every call it made)",
            Unit::Seconds,
            ecc_read_duration.clone(),
        );
        let pipedrive_requests = Family::<CompanyStatusLabels, Counter>::default();
        registry.register(
            "mlc_pipedrive_requests",
            "Requests sent to Pipedrive, by their answer's status (or no-answer, not-delivered, broken-answer)",
            pipedrive_requests.clone(),
        );
        let pipedrive_429 = Family::<CompanyLabel, Counter>::default();
        registry.register(
            "mlc_pipedrive_429",
            "429 answers from Pipedrive",
            pipedrive_429.clone(),
        );
        let tokens_used = Family::<ConnectionLabel, Counter>::default();
        registry.register(
            "mlc_pipedrive_tokens_used",
            "Pipedrive API tokens charged by runs",
            tokens_used.clone(),
        );
        let tokens_left = Family::<ConnectionLabel, Gauge>::default();
        registry.register(
            "mlc_pipedrive_tokens_left",
            "Tokens left today in the connector's share of the company's daily budget",
            tokens_left.clone(),
        );
        let lease_holder = Family::<HolderLabels, Gauge>::default();
        registry.register(
            "mlc_lease_held",
            "1 while the named instance holds the connection's lease",
            lease_holder.clone(),
        );
        let review_queue = Family::<ConnectionLabel, Gauge>::default();
        registry.register(
            "mlc_review_queue_length",
            "Pairs waiting for a person's decision",
            review_queue.clone(),
        );
        let parked_records = Family::<ConnectionLabel, Gauge>::default();
        registry.register(
            "mlc_parked_records",
            "Records parked after repeated failures",
            parked_records.clone(),
        );
        Metrics {
            registry,
            records_read,
            records_written,
            errors,
            runs,
            run_duration,
            ecc_read_duration,
            pipedrive_requests,
            pipedrive_429,
            tokens_used,
            tokens_left,
            lease_holder,
            review_queue,
            parked_records,
            holders: Mutex::new(Vec::new()),
            governor_seen: Mutex::new(HashMap::new()),
        }
    }

    /// Counts a run that ended with `summary`, and took `secs`.
    pub fn observe_run(&self, connection: &str, summary: &RunSummary, secs: f64) {
        let label = ConnectionLabel {
            connection: connection.to_string(),
        };
        self.records_read
            .get_or_create(&label)
            .inc_by(summary.customers_read);
        for (action, count) in &summary.counts {
            self.records_written
                .get_or_create(&ActionLabels {
                    connection: connection.to_string(),
                    action: action.to_string(),
                })
                .inc_by(*count);
        }
        let kind = |kind: &str| KindLabels {
            connection: connection.to_string(),
            kind: kind.to_string(),
        };
        let record_errors = summary
            .counts
            .get(&mlc_store::Action::Error)
            .copied()
            .unwrap_or(0);
        self.errors
            .get_or_create(&kind("record"))
            .inc_by(record_errors);
        self.errors
            .get_or_create(&kind("rejected"))
            .inc_by(summary.rejected.len() as u64);
        if summary.status == RunStatus::Failed {
            self.errors.get_or_create(&kind("run")).inc();
        }
        self.count_run_status(connection, summary.status);
        self.run_duration.get_or_create(&label).observe(secs);
        if let Some(read) = summary.ecc_read_secs {
            self.ecc_read_duration.get_or_create(&label).observe(read);
        }
        self.tokens_used
            .get_or_create(&label)
            .inc_by(summary.tokens_used);
    }

    /// Counts what a company's governor saw since it was last looked at: its answers by status
    /// and its 429s (totals since the governor was created).
    pub fn observe_governor(
        &self,
        company: &str,
        answers: &BTreeMap<String, u64>,
        answers_429: u64,
    ) {
        let Ok(mut seen) = self.governor_seen.lock() else {
            return;
        };
        let mut advance = |status: &str, total: u64| {
            let counted = seen
                .entry((company.to_string(), status.to_string()))
                .or_insert(0);
            let new = total.saturating_sub(*counted);
            *counted = (*counted).max(total);
            new
        };
        for (status, total) in answers {
            let new = advance(status, *total);
            self.pipedrive_requests
                .get_or_create(&CompanyStatusLabels {
                    company: company.to_string(),
                    status: status.clone(),
                })
                .inc_by(new);
        }
        let new = advance("429-any-lane", answers_429);
        self.pipedrive_429
            .get_or_create(&CompanyLabel {
                company: company.to_string(),
            })
            .inc_by(new);
    }

    /// Counts a run that failed before it could report (the engine could not connect).
    pub fn count_run_status(&self, connection: &str, status: RunStatus) {
        self.runs
            .get_or_create(&StatusLabels {
                connection: connection.to_string(),
                status: status.as_str().to_string(),
            })
            .inc();
    }

    /// Who holds the connection's lease now (`None`: nobody this instance knows of).
    pub fn set_lease_holder(&self, connection: &str, holder: Option<&str>) {
        let Ok(mut holders) = self.holders.lock() else {
            return;
        };
        if let Some(previous) = holders
            .iter()
            .position(|labels| labels.connection == connection)
        {
            let previous = holders.remove(previous);
            self.lease_holder.remove(&previous);
        }
        if let Some(holder) = holder {
            let labels = HolderLabels {
                connection: connection.to_string(),
                holder: holder.to_string(),
            };
            self.lease_holder.get_or_create(&labels).set(1);
            holders.push(labels);
        }
    }

    /// The Prometheus text exposition of every metric.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        if let Err(error) = prometheus_client::encoding::text::encode(&mut text, &self.registry) {
            tracing::error!(%error, "cannot encode the metrics");
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_mlc_name_unit_total_convention() {
        let metrics = Metrics::new();
        metrics.count_run_status("c", RunStatus::Ok);
        metrics
            .run_duration
            .get_or_create(&ConnectionLabel {
                connection: "c".into(),
            })
            .observe(0.3);
        metrics.set_lease_holder("c", Some("box:1"));
        metrics.set_lease_holder("c", Some("box:2"));
        let text = metrics.encode();
        assert!(
            text.contains("mlc_runs_total{connection=\"c\",status=\"ok\"} 1"),
            "{text}"
        );
        assert!(text.contains("mlc_run_duration_seconds_bucket"), "{text}");
        assert!(
            text.contains("mlc_lease_held{connection=\"c\",holder=\"box:2\"} 1"),
            "{text}"
        );
        assert!(
            !text.contains("holder=\"box:1\""),
            "the old holder's series is gone"
        );
        assert!(text.ends_with("# EOF\n"));
    }
}
