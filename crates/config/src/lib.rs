//! Configuration in two stages, as ripgrep does it: `raw` is what the user wrote (serde, unknown
//! keys refused), `Config` is what the program uses (validated, `${VAR}` substituted, defaults
//! applied). Every check and every error message about the config file has its home here.

mod env;
mod error;
mod load;
mod secret;
pub mod sections;
mod template;
mod validator;

pub use error::ConfigError;
pub use load::{load, parse};
pub use secret::Secret;
pub use sections::{
    alerts::{AlertsConfig, EmailAlerts, SmtpLogin, SmtpSecurity, SmtpServer},
    audit::AuditConfig,
    ecc::{CustomerSelection, EccConfig, EccTransport, OdataConfig},
    mapping::{
        FieldRule, FieldTarget, LabelRule, MappingConfig, OwnerRule, Transform, ValueSource,
    },
    pipedrive::{PipedriveAuth, PipedriveConfig, PipedrivePlan},
    server::ServerConfig,
    store::StoreConfig,
    sync::{
        ContactDeletedPolicy, DriftConfig, DriftPolicy, EccDuplicatePolicy, LifecyclePolicy,
        PipedriveDeletedPolicy, Schedule, SyncConfig,
    },
};
pub use template::TEMPLATE;
pub use validator::is_loopback;

use serde::Deserialize;

/// The whole validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where the config was read from, for messages.
    pub source: String,
    pub store: StoreConfig,
    pub ecc: EccConfig,
    pub pipedrive: PipedriveConfig,
    pub sync: SyncConfig,
    pub audit: AuditConfig,
    pub mapping: MappingConfig,
    pub server: ServerConfig,
    /// No `[alerts]` table: no channel, so no alerts.
    pub alerts: AlertsConfig,
}

/// The file as written. Every table refuses keys it does not know.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    #[serde(default)]
    pub store: sections::store::RawStore,
    #[serde(default)]
    pub ecc: sections::ecc::RawEcc,
    #[serde(default)]
    pub pipedrive: sections::pipedrive::RawPipedrive,
    #[serde(default)]
    pub sync: sections::sync::RawSync,
    #[serde(default)]
    pub audit: sections::audit::RawAudit,
    #[serde(default)]
    pub mapping: sections::mapping::RawMapping,
    #[serde(default)]
    pub server: sections::server::RawServer,
    #[serde(default)]
    pub alerts: sections::alerts::RawAlerts,
}
