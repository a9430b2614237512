//! `[pipedrive]`: the company's Pipedrive, how to authenticate, and how much of its API budget
//! the connector may use.

use serde::Deserialize;
use toml::Spanned;

use crate::error::ConfigError;
use crate::secret::Secret;
use crate::validator::Validator;

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawPipedrive {
    pub base_url: Option<Spanned<String>>,
    pub auth: Option<Spanned<String>>,
    pub api_token: Option<Spanned<String>>,
    pub plan: Option<Spanned<String>>,
    pub seats: Option<Spanned<i64>>,
    pub burst_limit: Option<Spanned<i64>>,
    pub budget_share: Option<Spanned<f64>>,
    pub daily_budget_tokens: Option<Spanned<i64>>,
    pub budget_timezone: Option<Spanned<String>>,
    pub timeout_secs: Option<Spanned<i64>>,
    pub retries: Option<Spanned<i64>>,
    pub max_response_mib: Option<Spanned<i64>>,
    pub oauth: Option<RawOauth>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawOauth {
    pub client_id: Option<Spanned<String>>,
    pub client_secret: Option<Spanned<String>>,
    pub redirect_uri: Option<Spanned<String>>,
    pub authorize_url: Option<Spanned<String>>,
    pub token_url: Option<Spanned<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PipedrivePlan {
    Lite,
    Growth,
    Premium,
    Ultimate,
}

impl PipedrivePlan {
    /// The daily token budget's plan multiplier (research §1.1).
    pub fn budget_multiplier(self) -> u64 {
        match self {
            PipedrivePlan::Lite => 1,
            PipedrivePlan::Growth => 2,
            PipedrivePlan::Premium => 5,
            PipedrivePlan::Ultimate => 7,
        }
    }

    /// Requests allowed per rolling 2-second window (research §1.3).
    pub fn burst_limit(self, auth: &PipedriveAuth) -> u32 {
        let api_token = match self {
            PipedrivePlan::Lite => 20,
            PipedrivePlan::Growth => 40,
            PipedrivePlan::Premium => 100,
            PipedrivePlan::Ultimate => 120,
        };
        match auth {
            PipedriveAuth::ApiToken(_) => api_token,
            PipedriveAuth::Oauth(_) => api_token * 4,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            PipedrivePlan::Lite => "lite",
            PipedrivePlan::Growth => "growth",
            PipedrivePlan::Premium => "premium",
            PipedrivePlan::Ultimate => "ultimate",
        }
    }
}

#[derive(Debug, Clone)]
pub enum PipedriveAuth {
    ApiToken(Secret),
    Oauth(OauthConfig),
}

#[derive(Debug, Clone)]
pub struct OauthConfig {
    pub client_id: String,
    pub client_secret: Secret,
    pub redirect_uri: String,
    pub authorize_url: String,
    pub token_url: String,
}

#[derive(Debug, Clone)]
pub struct PipedriveConfig {
    /// The company domain (https://COMPANY.pipedrive.com) or the api_domain from OAuth.
    pub base_url: String,
    pub auth: PipedriveAuth,
    pub plan: PipedrivePlan,
    pub seats: u32,
    /// Requests per 2-second window when the company's limit is not the plan's (a custom
    /// contract, a simulator without limits); `None` takes the plan's figure.
    pub burst_limit: Option<u32>,
    /// Share of the company's daily token budget the connector may spend (0 < share <= 1).
    pub budget_share: f64,
    /// The company's daily budget when it is known better than the formula.
    pub daily_budget_tokens: Option<u64>,
    /// Midnight in this zone resets the daily budget.
    pub budget_timezone: chrono_tz::Tz,
    pub timeout: std::time::Duration,
    pub retries: u32,
    /// Answers larger than this are refused (`pipedrive.max_response_mib`).
    pub max_response_bytes: usize,
}

impl PipedriveConfig {
    /// Requests allowed per 2-second window before the server says otherwise: the configured
    /// `burst_limit`, else the plan's figure for the way of authenticating.
    pub fn burst_limit(&self) -> u32 {
        self.burst_limit
            .unwrap_or_else(|| self.plan.burst_limit(&self.auth))
    }

    /// The company's whole daily budget: explicit, or 30,000 x plan multiplier x seats.
    pub fn company_daily_budget(&self) -> u64 {
        self.daily_budget_tokens
            .unwrap_or(30_000 * self.plan.budget_multiplier() * u64::from(self.seats))
    }

    /// The tokens per day the connector allows itself.
    pub fn connector_daily_budget(&self) -> u64 {
        (self.company_daily_budget() as f64 * self.budget_share).floor() as u64
    }
}

pub fn validate(
    raw: RawPipedrive,
    validator: &Validator<'_>,
) -> Result<PipedriveConfig, ConfigError> {
    let base_url = validator.required_text(
        "pipedrive.base_url",
        &raw.base_url,
        "your company domain, e.g. https://yourcompany.pipedrive.com",
    )?;
    validator.credential_url("pipedrive.base_url", &raw.base_url, &base_url, None)?;
    let auth_kind = match &raw.auth {
        Some(value) => validator.choice("pipedrive.auth", value, &["api-token", "oauth"])?,
        None => "api-token",
    };
    let auth = if auth_kind == "oauth" {
        let oauth = raw.oauth.unwrap_or_default();
        let client_id = validator.required_text(
            "pipedrive.oauth.client_id",
            &oauth.client_id,
            "from the Developer Hub app",
        )?;
        let client_secret = validator
            .secret("pipedrive.oauth.client_secret", &oauth.client_secret)?
            .ok_or_else(|| {
                validator.error(
                    "pipedrive.oauth.client_secret",
                    None,
                    "is required with auth = \"oauth\"",
                )
            })?;
        PipedriveAuth::Oauth(OauthConfig {
            client_id,
            client_secret,
            redirect_uri: validator
                .optional_text("pipedrive.oauth.redirect_uri", &oauth.redirect_uri)?
                .unwrap_or_else(|| "http://127.0.0.1:8765/callback".to_string()),
            authorize_url: validator
                .optional_text("pipedrive.oauth.authorize_url", &oauth.authorize_url)?
                .unwrap_or_else(|| "https://oauth.pipedrive.com/oauth/authorize".to_string()),
            token_url: validator
                .optional_text("pipedrive.oauth.token_url", &oauth.token_url)?
                .unwrap_or_else(|| "https://oauth.pipedrive.com/oauth/token".to_string()),
        })
    } else {
        let token = validator
            .secret("pipedrive.api_token", &raw.api_token)?
            .ok_or_else(|| {
                validator.error(
                    "pipedrive.api_token",
                    None,
                    "is required with auth = \"api-token\" (use ${PIPEDRIVE_API_TOKEN})",
                )
            })?;
        PipedriveAuth::ApiToken(token)
    };
    let plan = match &raw.plan {
        Some(value) => match validator.choice(
            "pipedrive.plan",
            value,
            &["lite", "growth", "premium", "ultimate"],
        )? {
            "lite" => PipedrivePlan::Lite,
            "premium" => PipedrivePlan::Premium,
            "ultimate" => PipedrivePlan::Ultimate,
            _ => PipedrivePlan::Growth,
        },
        None => PipedrivePlan::Growth,
    };
    let seats = match &raw.seats {
        Some(value) => validator.number_in("pipedrive.seats", value, 1..=100_000)? as u32,
        None => 1,
    };
    let burst_limit = match &raw.burst_limit {
        Some(value) => {
            Some(validator.number_in("pipedrive.burst_limit", value, 1..=1_000_000)? as u32)
        }
        None => None,
    };
    let budget_share = match &raw.budget_share {
        Some(value) => {
            let share = validator.number_in("pipedrive.budget_share", value, 0.0..=1.0)?;
            if share <= 0.0 {
                return Err(validator.error(
                    "pipedrive.budget_share",
                    Some(value.span()),
                    "must be above 0 (0.5 leaves half the budget to the sales team's tools)",
                ));
            }
            share
        }
        None => 0.5,
    };
    let daily_budget_tokens = match &raw.daily_budget_tokens {
        Some(value) => {
            Some(validator.number_in("pipedrive.daily_budget_tokens", value, 1..=i64::MAX)? as u64)
        }
        None => None,
    };
    let timezone_name = validator
        .optional_text("pipedrive.budget_timezone", &raw.budget_timezone)?
        .unwrap_or_else(|| "UTC".to_string());
    let budget_timezone = timezone_name.parse::<chrono_tz::Tz>().map_err(|_| {
        validator.error(
            "pipedrive.budget_timezone",
            raw.budget_timezone.as_ref().map(|value| value.span()),
            format!("`{timezone_name}` is not an IANA time zone like Europe/Berlin"),
        )
    })?;
    let timeout_secs = match &raw.timeout_secs {
        Some(value) => validator.number_in("pipedrive.timeout_secs", value, 1..=600)?,
        None => 30,
    };
    let retries = match &raw.retries {
        Some(value) => validator.number_in("pipedrive.retries", value, 0..=20)?,
        None => 5,
    };
    // A list page of 500 organizations with every custom field is a few MiB; the default
    // leaves room many times over and still bounds what a broken server can make us hold.
    let max_response_mib = match &raw.max_response_mib {
        Some(value) => validator.number_in("pipedrive.max_response_mib", value, 1..=1_024)?,
        None => DEFAULT_MAX_RESPONSE_MIB,
    };
    Ok(PipedriveConfig {
        base_url,
        auth,
        plan,
        seats,
        burst_limit,
        budget_share,
        daily_budget_tokens,
        budget_timezone,
        timeout: std::time::Duration::from_secs(timeout_secs as u64),
        retries: retries as u32,
        max_response_bytes: max_response_mib as usize * 1024 * 1024,
    })
}

/// `pipedrive.max_response_mib` when the config does not set it.
pub const DEFAULT_MAX_RESPONSE_MIB: i64 = 32;
