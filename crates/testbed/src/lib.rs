//! A testbed: the ECC and Pipedrive simulators in-process, a state store and a validated
//! config pointing at them. `ml-connector demo`, `ml-connector bench` and the end-to-end tests
//! all start from here, so they exercise the same wiring a user's config does.

mod hand_typed;

use std::sync::Arc;

use anyhow::Context;
use mlc_config::Config;
use mlc_engine::SyncEngine;
use mlc_pipedrive::{CustomFieldResolver, ResolvedField};
use mlc_sim_ecc::{SimEccOptions, SpawnedEcc, TruthRecord};
use mlc_sim_pipedrive::{SimPipedriveOptions, SpawnedPipedrive};
use mlc_store::StateStore;

pub use hand_typed::{hand_typed_name, HandTyped};

#[derive(Debug, Clone)]
pub struct TestbedOptions {
    pub customers: usize,
    pub seed: u64,
    pub contacts_per_customer: usize,
    pub duplicate_rate: f64,
    pub dirty_rate: f64,
    /// Pipedrive plan of the simulator and the config: lite, growth, premium, ultimate, or
    /// "unlimited" (simulator without rate limits; the config then says ultimate).
    pub plan: String,
    pub seats: u32,
    pub budget_share: f64,
    /// Daily budget of the simulated company instead of the formula.
    pub budget_tokens: Option<u64>,
    /// Organizations the "sales team" typed by hand before the connector came, for this many
    /// ECC customers (other spelling, no customer number).
    pub hand_typed: usize,
    /// The state store; a SQLite file in a temporary folder when `None`.
    pub store_url: Option<String>,
    /// Extra lines for the `[sync]` table, e.g. `on_deleted = "delete"`.
    pub sync_lines: Vec<String>,
    /// Changes to the Pipedrive simulator's options (its quirks) before it starts.
    pub sim_pipedrive: fn(&mut SimPipedriveOptions),
    /// Lines appended after `[sync]`, e.g. an `[ecc.select]` table.
    pub extra_lines: Vec<String>,
}

impl TestbedOptions {
    pub fn new(customers: usize, seed: u64) -> Self {
        TestbedOptions {
            customers,
            seed,
            contacts_per_customer: 2,
            duplicate_rate: 0.02,
            dirty_rate: 0.01,
            plan: "unlimited".into(),
            seats: 5,
            budget_share: 0.5,
            budget_tokens: None,
            hand_typed: 0,
            store_url: None,
            sync_lines: Vec::new(),
            sim_pipedrive: |_| {},
            extra_lines: Vec::new(),
        }
    }
}

pub struct Testbed {
    pub ecc: SpawnedEcc,
    pub pipedrive: SpawnedPipedrive,
    pub store: Arc<dyn StateStore>,
    pub config: Config,
    /// The config as TOML, ready to be written for the command line (secrets inline).
    pub config_text: String,
    /// The hand-typed organizations put into Pipedrive before the first sync.
    pub hand_typed: Vec<HandTyped>,
    /// Holds the SQLite file while the testbed lives.
    pub directory: tempfile::TempDir,
}

impl Testbed {
    pub async fn start(options: TestbedOptions) -> anyhow::Result<Testbed> {
        let mut ecc_options = SimEccOptions::for_tests(options.customers, options.seed);
        ecc_options.contacts_per_customer = options.contacts_per_customer;
        ecc_options.duplicate_rate = options.duplicate_rate;
        ecc_options.dirty_rate = options.dirty_rate;
        let ecc = mlc_sim_ecc::spawn(ecc_options)
            .await
            .context("starting the ECC simulator")?;
        let mut pipedrive_options = SimPipedriveOptions::for_tests();
        pipedrive_options.plan = options.plan.clone();
        pipedrive_options.seats = options.seats;
        pipedrive_options.budget_tokens = options.budget_tokens;
        pipedrive_options.seed = options.seed;
        (options.sim_pipedrive)(&mut pipedrive_options);
        let pipedrive = mlc_sim_pipedrive::spawn(pipedrive_options)
            .await
            .context("starting the Pipedrive simulator")?;

        let directory = tempfile::tempdir().context("creating a temporary folder")?;
        let store_url = options
            .store_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", directory.path().join("state.db").display()));
        let config_plan = if options.plan == "unlimited" {
            "ultimate"
        } else {
            options.plan.as_str()
        };
        let budget_line = options
            .budget_tokens
            .map(|tokens| format!("daily_budget_tokens = {tokens}\n"))
            .unwrap_or_default();
        let config_text = format!(
            r#"[store]
url = "{store_url}"

[ecc]
transport = "soap-rfc"
base_url = "{ecc_url}"
client = "{client}"
user = "{user}"
password = "{password}"
timezone = "Europe/Berlin"

[pipedrive]
base_url = "{pipedrive_url}"
api_token = "{token}"
plan = "{config_plan}"
seats = {seats}
budget_share = {share}
{budget_line}
[sync]
connection = "testbed"
{sync_lines}
{extra_lines}
"#,
            ecc_url = ecc.base_url(),
            client = ecc.client(),
            user = ecc.user(),
            password = ecc.password(),
            pipedrive_url = pipedrive.base_url(),
            token = pipedrive.api_token(),
            seats = options.seats,
            share = options.budget_share,
            sync_lines = options.sync_lines.join("\n"),
            extra_lines = options.extra_lines.join("\n"),
        );
        let config = mlc_config::parse("testbed.toml", &config_text, &|_| None)
            .map_err(|error| anyhow::anyhow!("testbed config: {error}"))?;
        let store = mlc_store::open(&store_url, Some(mlc_store::SecretKey::generate()))
            .await
            .context("opening the state store")?;
        let hand_typed = hand_typed::type_in(&ecc.truth(), &pipedrive.state(), options.hand_typed)?;
        Ok(Testbed {
            ecc,
            pipedrive,
            store,
            config,
            config_text,
            hand_typed,
            directory,
        })
    }

    /// A sync engine over this testbed's config and store.
    pub async fn engine(&self) -> anyhow::Result<SyncEngine> {
        SyncEngine::connect(&self.config, self.store.clone())
            .await
            .map_err(|error| anyhow::anyhow!("connecting the sync engine: {error}"))
    }

    /// What `ml-connector setup` does: creates the custom fields the field map needs.
    pub async fn setup(&self, engine: &SyncEngine) -> anyhow::Result<Vec<ResolvedField>> {
        let resolver = CustomFieldResolver::new(engine.client().clone());
        resolver
            .ensure_fields(&engine.required_fields())
            .await
            .map_err(|error| anyhow::anyhow!("creating custom fields: {error}"))
    }

    pub fn truth(&self) -> Vec<TruthRecord> {
        self.ecc.truth()
    }

    pub async fn shutdown(self) {
        self.ecc.shutdown().await;
        self.pipedrive.shutdown().await;
    }
}
