//! `[audit]`: how long the audit trail keeps its history.

use serde::Deserialize;
use toml::Spanned;

use crate::error::ConfigError;
use crate::validator::Validator;

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawAudit {
    pub keep_days: Option<Spanned<i64>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditConfig {
    /// Events older than this many days are pruned at the end of each run, except each
    /// record's latest event and the last full copy of what was read for it.
    pub keep_days: u32,
}

pub const DEFAULT_KEEP_DAYS: u32 = 90;

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig {
            keep_days: DEFAULT_KEEP_DAYS,
        }
    }
}

pub fn validate(raw: RawAudit, validator: &Validator<'_>) -> Result<AuditConfig, ConfigError> {
    let keep_days = match &raw.keep_days {
        Some(value) => validator.number_in("audit.keep_days", value, 1..=36_500)? as u32,
        None => DEFAULT_KEEP_DAYS,
    };
    Ok(AuditConfig { keep_days })
}
