//! `[ecc]`: how to reach ECC and what to read from it.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::error::ConfigError;
use crate::secret::Secret;
use crate::validator::Validator;

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawEcc {
    pub transport: Option<Spanned<String>>,
    pub base_url: Option<Spanned<String>>,
    pub client: Option<Spanned<String>>,
    pub user: Option<Spanned<String>>,
    pub password: Option<Spanned<String>>,
    pub language: Option<Spanned<String>>,
    pub timezone: Option<Spanned<String>>,
    pub company_code: Option<Spanned<String>>,
    pub sales_organization: Option<Spanned<String>>,
    pub distribution_channel: Option<Spanned<String>>,
    pub division: Option<Spanned<String>>,
    pub read_table_function: Option<Spanned<String>>,
    pub rows_per_call: Option<Spanned<i64>>,
    pub timeout_secs: Option<Spanned<i64>>,
    pub retries: Option<Spanned<i64>>,
    pub delta_overlap_secs: Option<Spanned<i64>>,
    pub ca_file: Option<Spanned<String>>,
    pub accept_invalid_certs: Option<Spanned<bool>>,
    pub allow_http: Option<Spanned<bool>>,
    pub dirty_records: Option<Spanned<String>>,
    pub agent_token_file: Option<Spanned<String>>,
    pub agent_listen: Option<Spanned<String>>,
    pub agent_via: Option<Spanned<String>>,
    pub agent_wait_secs: Option<Spanned<i64>>,
    pub in_list_size: Option<Spanned<i64>>,
    pub max_response_mib: Option<Spanned<i64>>,
    pub odata: Option<RawOdata>,
    pub select: Option<RawSelect>,
}

/// `[ecc.select]`: which customers to sync.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawSelect {
    pub account_groups: Option<Spanned<Vec<String>>>,
    pub exclude_account_groups: Option<Spanned<Vec<String>>>,
    pub countries: Option<Spanned<Vec<String>>>,
    pub only_with_company_code: Option<Spanned<bool>>,
    pub only_with_sales_area: Option<Spanned<bool>>,
    pub created_after: Option<Spanned<String>>,
}

/// Which customers to sync; all when every field is empty or false. A customer outside the
/// selection is treated like one flagged for deletion (`sync.on_deleted`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CustomerSelection {
    /// KNA1-KTOKD in this list (empty: any).
    pub account_groups: Vec<String>,
    /// KNA1-KTOKD not in this list.
    pub exclude_account_groups: Vec<String>,
    /// KNA1-LAND1 in this list (empty: any).
    pub countries: Vec<String>,
    /// The customer exists in `ecc.company_code` (KNB1).
    pub only_with_company_code: bool,
    /// The customer exists in the configured sales area (KNVV).
    pub only_with_sales_area: bool,
    /// KNA1-ERDAT after this day, "YYYYMMDD".
    pub created_after: Option<String>,
}

impl CustomerSelection {
    pub fn is_everything(&self) -> bool {
        *self == CustomerSelection::default()
    }
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawOdata {
    pub service_path: Option<Spanned<String>>,
    pub customer_set: Option<Spanned<String>>,
    pub contact_set: Option<Spanned<String>>,
    pub changed_at_property: Option<Spanned<String>>,
    pub changed_time_property: Option<Spanned<String>>,
    pub expand_contacts: Option<Spanned<String>>,
    pub page_size: Option<Spanned<i64>>,
    #[serde(default)]
    pub customer_properties: BTreeMap<String, Spanned<String>>,
    #[serde(default)]
    pub contact_properties: BTreeMap<String, Spanned<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EccTransport {
    SoapRfc,
    Odata,
    Agent,
}

/// What to do with a record whose values ECC should never have accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DirtyRecordPolicy {
    /// Report it and keep it out of the sync.
    Skip,
    /// Report it, clean what can be cleaned (control characters, overlong values) and sync it.
    Clean,
}

#[derive(Debug, Clone)]
pub struct EccConfig {
    pub transport: EccTransport,
    pub base_url: String,
    pub client: String,
    pub user: String,
    pub password: Secret,
    /// SAP logon language, one letter or ISO code ("EN").
    pub language: String,
    /// Time zone of the SAP server, in which CDHDR UDATE/UTIME are written.
    pub timezone: chrono_tz::Tz,
    pub company_code: String,
    pub sales_organization: String,
    pub distribution_channel: String,
    pub division: String,
    /// RFC_READ_TABLE, BBP_RFC_READ_TABLE, /SAPDS/RFC_READ_TABLE, or "auto" (try them in order).
    pub read_table_function: String,
    pub rows_per_call: usize,
    pub timeout: Duration,
    pub retries: u32,
    pub delta_overlap: Duration,
    pub ca_file: Option<String>,
    pub accept_invalid_certs: bool,
    pub dirty_records: DirtyRecordPolicy,
    /// With transport "agent": the file holding the token agents must present, stored as
    /// `sha256:<hex>` of the token.
    pub agent_token_file: Option<String>,
    /// With transport "agent", for `sync` and `extract`: where agents connect
    /// (`ws://ADDR/agent/connect`). The `run` service takes agents on its own listener instead.
    pub agent_listen: String,
    /// What the agent speaks to ECC: "soap-rfc" or "odata".
    pub agent_via: String,
    /// How long a call waits for an agent to (re)connect before it fails.
    pub agent_wait: Duration,
    /// Values per IN-list in one RFC_READ_TABLE call.
    pub in_list_size: usize,
    /// Answers from ECC larger than this are refused (`ecc.max_response_mib`).
    pub max_response_bytes: usize,
    pub odata: OdataConfig,
    pub select: CustomerSelection,
}

#[derive(Debug, Clone)]
pub struct OdataConfig {
    pub service_path: String,
    pub customer_set: String,
    pub contact_set: String,
    pub changed_at_property: Option<String>,
    /// The local time of the last change when `changed_at_property` holds only its date
    /// (UDATE and UTIME in two properties).
    pub changed_time_property: Option<String>,
    /// Navigation property from a customer to its contacts, used with `$expand`.
    pub expand_contacts: Option<String>,
    pub page_size: usize,
    /// Canonical field name → OData property name, over the defaults for ZMLC_CUSTOMER_SRV.
    pub customer_properties: BTreeMap<String, String>,
    pub contact_properties: BTreeMap<String, String>,
}

fn text_or(
    validator: &Validator<'_>,
    key: &str,
    value: &Option<Spanned<String>>,
    default: &str,
) -> Result<String, ConfigError> {
    Ok(validator
        .optional_text(key, value)?
        .unwrap_or_else(|| default.to_string()))
}

fn count_or(
    validator: &Validator<'_>,
    key: &str,
    value: &Option<Spanned<i64>>,
    range: std::ops::RangeInclusive<i64>,
    default: i64,
) -> Result<i64, ConfigError> {
    match value {
        Some(value) => validator.number_in(key, value, range),
        None => Ok(default),
    }
}

pub fn validate(raw: RawEcc, validator: &Validator<'_>) -> Result<EccConfig, ConfigError> {
    let transport = match &raw.transport {
        Some(value) => {
            match validator.choice("ecc.transport", value, &["soap-rfc", "odata", "agent"])? {
                "odata" => EccTransport::Odata,
                "agent" => EccTransport::Agent,
                _ => EccTransport::SoapRfc,
            }
        }
        None => EccTransport::SoapRfc,
    };
    let base_url = validator.required_text(
        "ecc.base_url",
        &raw.base_url,
        "the ECC host, e.g. https://ecc.example.com:44300",
    )?;
    if transport != EccTransport::Agent {
        let allow_http = raw
            .allow_http
            .as_ref()
            .is_some_and(|value| *value.get_ref());
        validator.credential_url(
            "ecc.base_url",
            &raw.base_url,
            &base_url,
            Some(("ecc.allow_http", allow_http)),
        )?;
    }
    let client = text_or(validator, "ecc.client", &raw.client, "100")?;
    if client.len() != 3 || !client.chars().all(|c| c.is_ascii_digit()) {
        return Err(validator.error(
            "ecc.client",
            raw.client.as_ref().map(|value| value.span()),
            format!("`{client}` is not an SAP client (three digits, e.g. 100)"),
        ));
    }
    let user = validator.required_text("ecc.user", &raw.user, "the SAP user that reads")?;
    let password = validator
        .secret("ecc.password", &raw.password)?
        .ok_or_else(|| {
            validator.error("ecc.password", None, "is required (use ${ECC_PASSWORD})")
        })?;
    let timezone_name = text_or(validator, "ecc.timezone", &raw.timezone, "UTC")?;
    let timezone = timezone_name.parse::<chrono_tz::Tz>().map_err(|_| {
        validator.error(
            "ecc.timezone",
            raw.timezone.as_ref().map(|value| value.span()),
            format!("`{timezone_name}` is not an IANA time zone like Europe/Berlin"),
        )
    })?;
    let read_table_function = match &raw.read_table_function {
        Some(value) => validator
            .choice(
                "ecc.read_table_function",
                value,
                &[
                    "auto",
                    "RFC_READ_TABLE",
                    "BBP_RFC_READ_TABLE",
                    "/SAPDS/RFC_READ_TABLE",
                ],
            )?
            .to_string(),
        None => "auto".to_string(),
    };
    let dirty_records = match &raw.dirty_records {
        Some(value) => match validator.choice("ecc.dirty_records", value, &["skip", "clean"])? {
            "clean" => DirtyRecordPolicy::Clean,
            _ => DirtyRecordPolicy::Skip,
        },
        None => DirtyRecordPolicy::Skip,
    };
    let odata = validate_odata(raw.odata.unwrap_or_default(), validator)?;
    let select = validate_select(raw.select.unwrap_or_default(), validator)?;
    Ok(EccConfig {
        transport,
        base_url,
        client,
        user,
        password,
        language: text_or(validator, "ecc.language", &raw.language, "EN")?,
        timezone,
        company_code: text_or(validator, "ecc.company_code", &raw.company_code, "1000")?,
        sales_organization: text_or(
            validator,
            "ecc.sales_organization",
            &raw.sales_organization,
            "1000",
        )?,
        distribution_channel: text_or(
            validator,
            "ecc.distribution_channel",
            &raw.distribution_channel,
            "10",
        )?,
        division: text_or(validator, "ecc.division", &raw.division, "00")?,
        read_table_function,
        rows_per_call: count_or(
            validator,
            "ecc.rows_per_call",
            &raw.rows_per_call,
            1..=100_000,
            5_000,
        )? as usize,
        timeout: Duration::from_secs(count_or(
            validator,
            "ecc.timeout_secs",
            &raw.timeout_secs,
            1..=3_600,
            60,
        )? as u64),
        retries: count_or(validator, "ecc.retries", &raw.retries, 0..=20, 3)? as u32,
        delta_overlap: Duration::from_secs(count_or(
            validator,
            "ecc.delta_overlap_secs",
            &raw.delta_overlap_secs,
            0..=86_400,
            600,
        )? as u64),
        ca_file: validator.optional_text("ecc.ca_file", &raw.ca_file)?,
        accept_invalid_certs: raw
            .accept_invalid_certs
            .map(|value| *value.get_ref())
            .unwrap_or(false),
        dirty_records,
        agent_token_file: validator.optional_text("ecc.agent_token_file", &raw.agent_token_file)?,
        agent_listen: {
            let listen = text_or(
                validator,
                "ecc.agent_listen",
                &raw.agent_listen,
                "127.0.0.1:8081",
            )?;
            if listen.parse::<std::net::SocketAddr>().is_err() {
                return Err(validator.error(
                    "ecc.agent_listen",
                    raw.agent_listen.as_ref().map(|value| value.span()),
                    format!("`{listen}` is not an address like 0.0.0.0:8081"),
                ));
            }
            listen
        },
        agent_via: match &raw.agent_via {
            Some(value) => validator
                .choice("ecc.agent_via", value, &["soap-rfc", "odata"])?
                .to_string(),
            None => "soap-rfc".to_string(),
        },
        agent_wait: Duration::from_secs(count_or(
            validator,
            "ecc.agent_wait_secs",
            &raw.agent_wait_secs,
            1..=86_400,
            120,
        )? as u64),
        in_list_size: count_or(
            validator,
            "ecc.in_list_size",
            &raw.in_list_size,
            1..=5_000,
            250,
        )? as usize,
        max_response_bytes: count_or(
            validator,
            "ecc.max_response_mib",
            &raw.max_response_mib,
            1..=4_096,
            64,
        )? as usize
            * 1024
            * 1024,
        odata,
        select,
    })
}

/// SAP codes for `[ecc.select]` lists: trimmed, upper case, letters and digits, at most
/// `width` characters (KTOKD 4, LAND1 3).
fn sap_codes(
    validator: &Validator<'_>,
    key: &str,
    value: &Option<Spanned<Vec<String>>>,
    width: usize,
) -> Result<Vec<String>, ConfigError> {
    let Some(value) = value else {
        return Ok(Vec::new());
    };
    let mut codes = Vec::new();
    for code in value.get_ref() {
        let code = code.trim().to_uppercase();
        if code.is_empty()
            || code.chars().count() > width
            || !code.chars().all(|c| c.is_ascii_alphanumeric())
        {
            return Err(validator.error(
                key,
                Some(value.span()),
                format!(
                    "{code:?} is not an SAP code of at most {width} letters or digits, e.g. [\"0001\", \"DE\"]"
                ),
            ));
        }
        codes.push(code);
    }
    Ok(codes)
}

fn validate_select(
    raw: RawSelect,
    validator: &Validator<'_>,
) -> Result<CustomerSelection, ConfigError> {
    let created_after = match &raw.created_after {
        None => None,
        Some(value) => {
            let text = value.get_ref().trim();
            let digits: String = text.chars().filter(|c| *c != '-').collect();
            let valid = text.len() == 10
                && digits.len() == 8
                && digits.chars().all(|c| c.is_ascii_digit())
                && matches!(digits[4..6].parse::<u32>(), Ok(1..=12))
                && matches!(digits[6..8].parse::<u32>(), Ok(1..=31));
            if !valid {
                return Err(validator.error(
                    "ecc.select.created_after",
                    Some(value.span()),
                    format!("{text:?} is not a date YYYY-MM-DD"),
                ));
            }
            Some(digits)
        }
    };
    let flag = |value: &Option<Spanned<bool>>| value.as_ref().is_some_and(|v| *v.get_ref());
    Ok(CustomerSelection {
        account_groups: sap_codes(
            validator,
            "ecc.select.account_groups",
            &raw.account_groups,
            4,
        )?,
        exclude_account_groups: sap_codes(
            validator,
            "ecc.select.exclude_account_groups",
            &raw.exclude_account_groups,
            4,
        )?,
        countries: sap_codes(validator, "ecc.select.countries", &raw.countries, 3)?,
        only_with_company_code: flag(&raw.only_with_company_code),
        only_with_sales_area: flag(&raw.only_with_sales_area),
        created_after,
    })
}

fn validate_odata(raw: RawOdata, validator: &Validator<'_>) -> Result<OdataConfig, ConfigError> {
    let mut customer_properties = BTreeMap::new();
    for (field, property) in &raw.customer_properties {
        let key = format!("ecc.odata.customer_properties.{field}");
        customer_properties.insert(field.clone(), validator.text(&key, property)?);
    }
    let mut contact_properties = BTreeMap::new();
    for (field, property) in &raw.contact_properties {
        let key = format!("ecc.odata.contact_properties.{field}");
        contact_properties.insert(field.clone(), validator.text(&key, property)?);
    }
    Ok(OdataConfig {
        service_path: text_or(
            validator,
            "ecc.odata.service_path",
            &raw.service_path,
            "/sap/opu/odata/sap/ZMLC_CUSTOMER_SRV/",
        )?,
        customer_set: text_or(
            validator,
            "ecc.odata.customer_set",
            &raw.customer_set,
            "CustomerSet",
        )?,
        contact_set: text_or(
            validator,
            "ecc.odata.contact_set",
            &raw.contact_set,
            "ContactPersonSet",
        )?,
        changed_at_property: Some(text_or(
            validator,
            "ecc.odata.changed_at_property",
            &raw.changed_at_property,
            "ChangedAt",
        )?)
        .filter(|property| !property.is_empty()),
        changed_time_property: validator
            .optional_text(
                "ecc.odata.changed_time_property",
                &raw.changed_time_property,
            )?
            .filter(|property| !property.is_empty()),
        expand_contacts: Some(text_or(
            validator,
            "ecc.odata.expand_contacts",
            &raw.expand_contacts,
            "ToContacts",
        )?)
        .filter(|property| !property.is_empty()),
        page_size: count_or(
            validator,
            "ecc.odata.page_size",
            &raw.page_size,
            1..=100_000,
            1_000,
        )? as usize,
        customer_properties,
        contact_properties,
    })
}
