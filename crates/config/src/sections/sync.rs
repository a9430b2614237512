//! `[sync]`: when to run, how to match, and what to do with deleted or blocked customers and
//! with contact persons deleted in ECC.

use std::str::FromStr;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::error::ConfigError;
use crate::validator::Validator;

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawSync {
    pub connection: Option<Spanned<String>>,
    pub schedule: Option<Spanned<String>>,
    pub full_reconcile: Option<Spanned<String>>,
    pub link_threshold: Option<Spanned<f64>>,
    pub review_threshold: Option<Spanned<f64>>,
    pub ecc_duplicates: Option<Spanned<String>>,
    pub on_deleted: Option<Spanned<String>>,
    pub on_blocked: Option<Spanned<String>>,
    pub on_pipedrive_deleted: Option<Spanned<String>>,
    pub on_contact_deleted: Option<Spanned<String>>,
    pub status_label: Option<Spanned<String>>,
    pub max_failures: Option<Spanned<i64>>,
    #[serde(default)]
    pub drift: RawDrift,
}

/// `[sync.drift]`: what happens when someone edits an ECC-mastered field in Pipedrive, per
/// group of mapped fields.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawDrift {
    pub name: Option<Spanned<String>>,
    pub address: Option<Spanned<String>>,
    pub emails: Option<Spanned<String>>,
    pub phones: Option<Spanned<String>>,
    pub owner: Option<Spanned<String>>,
    pub labels: Option<Spanned<String>>,
    pub organization: Option<Spanned<String>>,
    pub custom_fields: Option<Spanned<String>>,
    /// Custom fields by their Pipedrive name, overriding `custom_fields`.
    #[serde(default)]
    pub custom: std::collections::BTreeMap<String, Spanned<String>>,
    pub max_reasserts_per_day: Option<Spanned<i64>>,
}

/// When a connection runs.
#[derive(Debug, Clone)]
pub enum Schedule {
    Every(Duration),
    Cron(Box<cron::Schedule>),
}

impl Schedule {
    /// "every 5m" (s, m, h), or a cron expression with seconds ("0 0 2 * * *"); a five-field
    /// expression is read as starting at second 0.
    pub fn parse(text: &str) -> Result<Schedule, String> {
        let text = text.trim();
        if let Some(interval) = text.strip_prefix("every ") {
            let interval = interval.trim();
            let (number, unit) = interval.split_at(interval.len().saturating_sub(1));
            let count: u64 = number
                .trim()
                .parse()
                .map_err(|_| format!("`{text}` is not like \"every 5m\""))?;
            let seconds = match unit {
                "s" => count,
                "m" => count * 60,
                "h" => count * 3_600,
                _ => return Err(format!("`{text}`: the unit must be s, m or h")),
            };
            if seconds == 0 {
                return Err("an interval must be longer than 0".to_string());
            }
            return Ok(Schedule::Every(Duration::from_secs(seconds)));
        }
        let fields = text.split_whitespace().count();
        let expression = if fields == 5 {
            format!("0 {text}")
        } else {
            text.to_string()
        };
        cron::Schedule::from_str(&expression)
            .map(|schedule| Schedule::Cron(Box::new(schedule)))
            .map_err(|error| {
                format!("`{text}` is neither \"every 5m\" nor a cron expression: {error}")
            })
    }
}

/// What happens in Pipedrive when ECC marks a customer deleted or blocked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LifecyclePolicy {
    /// Do nothing in Pipedrive.
    Leave,
    /// Put a label on the organization.
    Label,
    /// Write the status into the "ECC Status" custom field.
    Field,
    /// Delete the organization in Pipedrive.
    Delete,
}

/// What happens when a linked Pipedrive record turns out deleted by a person (404, or in the
/// trash): it is never written to in the trash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PipedriveDeletedPolicy {
    /// Unlink it; the next run creates the record again (ECC is the master).
    Recreate,
    /// Unlink it and park the record with an error a person sees; `sync --customer K`
    /// recreates it.
    Flag,
    /// Unlink it and leave it: created again only after it changes in ECC.
    Unlink,
}

/// What happens when a mapped (ECC-mastered) field of a linked record is edited in Pipedrive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DriftPolicy {
    /// Set it back to what ECC says (a PATCH, audited "re-asserted").
    Enforce,
    /// Record it (audited "drift-flagged") and leave it as it is.
    Flag,
    /// Leave it, record nothing.
    Ignore,
}

impl DriftPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            DriftPolicy::Enforce => "enforce",
            DriftPolicy::Flag => "flag",
            DriftPolicy::Ignore => "ignore",
        }
    }
}

/// The drift policy of each group of mapped fields. Groups: `name`, `address`, `emails`,
/// `phones`, `owner` (owner_id), `labels` (the labels the map manages), `organization` (a
/// person's org_id), `custom_fields` (every mapped custom field, unless `custom` names it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DriftConfig {
    pub name: DriftPolicy,
    pub address: DriftPolicy,
    pub emails: DriftPolicy,
    pub phones: DriftPolicy,
    pub owner: DriftPolicy,
    pub labels: DriftPolicy,
    pub organization: DriftPolicy,
    pub custom_fields: DriftPolicy,
    /// Custom fields by their Pipedrive name.
    pub custom: std::collections::BTreeMap<String, DriftPolicy>,
    /// A field re-asserted this many times in the last 24 hours is flagged instead of set back
    /// again (someone keeps changing it: a person should look, not a loop).
    pub max_reasserts_per_day: u32,
}

impl Default for DriftConfig {
    fn default() -> Self {
        DriftConfig {
            name: DriftPolicy::Enforce,
            address: DriftPolicy::Enforce,
            emails: DriftPolicy::Enforce,
            phones: DriftPolicy::Enforce,
            owner: DriftPolicy::Enforce,
            labels: DriftPolicy::Enforce,
            organization: DriftPolicy::Enforce,
            custom_fields: DriftPolicy::Enforce,
            custom: std::collections::BTreeMap::new(),
            max_reasserts_per_day: 3,
        }
    }
}

/// What happens to the linked Pipedrive person of a contact person deleted in ECC (its KNVK
/// row is gone from a customer read in the run).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContactDeletedPolicy {
    /// Do nothing in Pipedrive; the person stays linked and as it was.
    Leave,
    /// Write "deleted" into the person's "ECC Status" custom field.
    Field,
    /// Delete the person in Pipedrive and remove its link.
    Delete,
}

/// Two ECC customers that are the same company.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EccDuplicatePolicy {
    /// Report them; each gets its own organization.
    KeepApart,
    /// Report them; the later one is linked to the earlier one's organization.
    MapToOne,
}

#[derive(Debug, Clone)]
pub struct SyncConfig {
    /// Name of this connection (ECC system to Pipedrive company) in the store and the audit.
    pub connection: String,
    pub schedule: Schedule,
    pub full_reconcile: Option<Schedule>,
    /// Match probability (the share of such pairs that are one company) at or above which an
    /// existing organization is linked.
    pub link_threshold: f64,
    /// Match probability at or above which (and below `link_threshold`) the pair goes to
    /// review instead of a create: a duplicate costs more than a look.
    pub review_threshold: f64,
    pub ecc_duplicates: EccDuplicatePolicy,
    pub on_deleted: LifecyclePolicy,
    pub on_blocked: LifecyclePolicy,
    pub on_pipedrive_deleted: PipedriveDeletedPolicy,
    pub on_contact_deleted: ContactDeletedPolicy,
    /// Label name used by the `label` policy.
    pub status_label: String,
    /// Failed writes of one record before it is parked.
    pub max_failures: u32,
    /// `[sync.drift]`: edits of ECC-mastered fields in Pipedrive.
    pub drift: DriftConfig,
}

fn drift_policy(
    validator: &Validator<'_>,
    key: &str,
    value: &Option<Spanned<String>>,
) -> Result<DriftPolicy, ConfigError> {
    let Some(value) = value else {
        return Ok(DriftPolicy::Enforce);
    };
    Ok(
        match validator.choice(key, value, &["enforce", "flag", "ignore"])? {
            "flag" => DriftPolicy::Flag,
            "ignore" => DriftPolicy::Ignore,
            _ => DriftPolicy::Enforce,
        },
    )
}

fn validate_drift(raw: &RawDrift, validator: &Validator<'_>) -> Result<DriftConfig, ConfigError> {
    let mut custom = std::collections::BTreeMap::new();
    for (name, value) in &raw.custom {
        let key = format!("sync.drift.custom.\"{name}\"");
        custom.insert(
            name.clone(),
            drift_policy(validator, &key, &Some(value.clone()))?,
        );
    }
    Ok(DriftConfig {
        name: drift_policy(validator, "sync.drift.name", &raw.name)?,
        address: drift_policy(validator, "sync.drift.address", &raw.address)?,
        emails: drift_policy(validator, "sync.drift.emails", &raw.emails)?,
        phones: drift_policy(validator, "sync.drift.phones", &raw.phones)?,
        owner: drift_policy(validator, "sync.drift.owner", &raw.owner)?,
        labels: drift_policy(validator, "sync.drift.labels", &raw.labels)?,
        organization: drift_policy(validator, "sync.drift.organization", &raw.organization)?,
        custom_fields: drift_policy(validator, "sync.drift.custom_fields", &raw.custom_fields)?,
        custom,
        max_reasserts_per_day: match &raw.max_reasserts_per_day {
            Some(value) => {
                validator.number_in("sync.drift.max_reasserts_per_day", value, 0..=1_000)? as u32
            }
            None => 3,
        },
    })
}

fn lifecycle(
    validator: &Validator<'_>,
    key: &str,
    value: &Option<Spanned<String>>,
    default: LifecyclePolicy,
) -> Result<LifecyclePolicy, ConfigError> {
    let Some(value) = value else {
        return Ok(default);
    };
    Ok(
        match validator.choice(key, value, &["leave", "label", "field", "delete"])? {
            "label" => LifecyclePolicy::Label,
            "field" => LifecyclePolicy::Field,
            "delete" => LifecyclePolicy::Delete,
            _ => LifecyclePolicy::Leave,
        },
    )
}

fn parse_schedule(
    validator: &Validator<'_>,
    key: &str,
    value: &Spanned<String>,
) -> Result<Schedule, ConfigError> {
    let text = validator.text(key, value)?;
    Schedule::parse(&text).map_err(|message| validator.error(key, Some(value.span()), message))
}

pub fn validate(raw: RawSync, validator: &Validator<'_>) -> Result<SyncConfig, ConfigError> {
    let connection = validator
        .optional_text("sync.connection", &raw.connection)?
        .unwrap_or_else(|| "default".to_string());
    let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    if connection.is_empty() || connection.len() > 64 || !connection.chars().all(plain) {
        return Err(validator.error(
            "sync.connection",
            raw.connection.as_ref().map(|value| value.span()),
            format!(
                "`{connection}`: a connection name is 1 to 64 letters, digits, `-`, `_` or `.` \
                 (it names the connection in the store, the API and the metrics)"
            ),
        ));
    }
    let schedule = match &raw.schedule {
        Some(value) => parse_schedule(validator, "sync.schedule", value)?,
        None => Schedule::Every(Duration::from_secs(300)),
    };
    let full_reconcile = match &raw.full_reconcile {
        Some(value) if value.get_ref().trim().is_empty() => None,
        Some(value) => Some(parse_schedule(validator, "sync.full_reconcile", value)?),
        None => Some(Schedule::parse("0 0 2 * * *").expect("the default cron expression parses")),
    };
    let link_threshold = match &raw.link_threshold {
        Some(value) => validator.number_in("sync.link_threshold", value, 0.0..=1.0)?,
        None => 0.90,
    };
    let review_threshold = match &raw.review_threshold {
        Some(value) => validator.number_in("sync.review_threshold", value, 0.0..=1.0)?,
        None => 0.30,
    };
    if review_threshold > link_threshold {
        return Err(validator.error(
            "sync.review_threshold",
            raw.review_threshold.as_ref().map(|value| value.span()),
            format!("{review_threshold} is above sync.link_threshold ({link_threshold})"),
        ));
    }
    let ecc_duplicates = match &raw.ecc_duplicates {
        Some(value) => {
            match validator.choice("sync.ecc_duplicates", value, &["keep-apart", "map-to-one"])? {
                "map-to-one" => EccDuplicatePolicy::MapToOne,
                _ => EccDuplicatePolicy::KeepApart,
            }
        }
        None => EccDuplicatePolicy::KeepApart,
    };
    Ok(SyncConfig {
        connection,
        schedule,
        full_reconcile,
        link_threshold,
        review_threshold,
        ecc_duplicates,
        on_deleted: lifecycle(
            validator,
            "sync.on_deleted",
            &raw.on_deleted,
            // A label must exist in Pipedrive first (the API cannot add one); the status field
            // is created by `setup`, so it works out of the box.
            LifecyclePolicy::Field,
        )?,
        on_blocked: lifecycle(
            validator,
            "sync.on_blocked",
            &raw.on_blocked,
            LifecyclePolicy::Field,
        )?,
        on_pipedrive_deleted: match &raw.on_pipedrive_deleted {
            Some(value) => match validator.choice(
                "sync.on_pipedrive_deleted",
                value,
                &["recreate", "flag", "unlink"],
            )? {
                "flag" => PipedriveDeletedPolicy::Flag,
                "unlink" => PipedriveDeletedPolicy::Unlink,
                _ => PipedriveDeletedPolicy::Recreate,
            },
            None => PipedriveDeletedPolicy::Recreate,
        },
        on_contact_deleted: match &raw.on_contact_deleted {
            Some(value) => match validator.choice(
                "sync.on_contact_deleted",
                value,
                &["leave", "field", "delete"],
            )? {
                "leave" => ContactDeletedPolicy::Leave,
                "delete" => ContactDeletedPolicy::Delete,
                _ => ContactDeletedPolicy::Field,
            },
            // Like the customer policies: the status field is created by `setup`.
            None => ContactDeletedPolicy::Field,
        },
        status_label: validator
            .optional_text("sync.status_label", &raw.status_label)?
            .unwrap_or_else(|| "ECC: deleted or blocked".to_string()),
        max_failures: match &raw.max_failures {
            Some(value) => validator.number_in("sync.max_failures", value, 1..=1_000)? as u32,
            None => 5,
        },
        drift: validate_drift(&raw.drift, validator)?,
    })
}

#[cfg(test)]
mod tests {
    use super::Schedule;

    #[test]
    fn parses_intervals_and_cron() {
        assert!(
            matches!(Schedule::parse("every 5m"), Ok(Schedule::Every(d)) if d.as_secs() == 300)
        );
        assert!(matches!(
            Schedule::parse("0 0 2 * * *"),
            Ok(Schedule::Cron(_))
        ));
        assert!(matches!(
            Schedule::parse("*/10 * * * *"),
            Ok(Schedule::Cron(_))
        ));
        assert!(Schedule::parse("every 5x").is_err());
        assert!(Schedule::parse("soon").is_err());
    }
}
