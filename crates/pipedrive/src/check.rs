//! `ml-connector check`'s Pipedrive lines: reachable, who we are (user and company), the plan
//! the governor assumes, and the budget share in tokens with what today has used.

use mlc_config::{PipedriveAuth, PipedriveConfig};

use crate::client::PipedriveClient;
use crate::storage::ClientStorage;

/// One line of the check table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckLine {
    /// What was checked, e.g. "pipedrive reachable".
    pub subject: String,
    pub ok: bool,
    pub detail: String,
}

impl CheckLine {
    fn ok(subject: &str, detail: String) -> Self {
        CheckLine {
            subject: subject.to_string(),
            ok: true,
            detail,
        }
    }

    fn failed(subject: &str, detail: String) -> Self {
        CheckLine {
            subject: subject.to_string(),
            ok: false,
            detail,
        }
    }
}

/// Connects and reports. Costs 2 tokens (`/v1/users/me`).
pub async fn check_lines(config: &PipedriveConfig, storage: ClientStorage) -> Vec<CheckLine> {
    let auth = match &config.auth {
        PipedriveAuth::ApiToken(_) => "api-token",
        PipedriveAuth::Oauth(_) => "oauth",
    };
    let mut lines = Vec::new();
    // The credential is tested for real: no cached identity.
    let options = crate::client::ConnectOptions {
        fresh_identity: true,
        ..crate::client::ConnectOptions::default()
    };
    let client = match PipedriveClient::connect_with(config, storage, options).await {
        Ok(client) => client,
        Err(error) => {
            lines.push(CheckLine::failed(
                "pipedrive reachable",
                format!("{} ({auth}): {error}", config.base_url),
            ));
            return lines;
        }
    };
    lines.push(CheckLine::ok(
        "pipedrive reachable",
        format!("{} ({auth})", client.api_domain()),
    ));
    let user = client.current_user();
    lines.push(CheckLine::ok(
        "pipedrive user",
        format!(
            "{} <{}> (id {}), company {} (id {}, domain {})",
            user.name, user.email, user.id, user.company_name, user.company_id, user.company_domain
        ),
    ));
    if let Some(granted) = client.granted_scopes().await {
        let missing = crate::auth::missing_scopes(&granted);
        if missing.is_empty() {
            lines.push(CheckLine::ok("pipedrive oauth scopes", granted));
        } else {
            lines.push(CheckLine::failed(
                "pipedrive oauth scopes",
                format!(
                    "granted \"{granted}\", missing {}: add them to the app in Pipedrive's Developer Hub, then run `ml-connector auth pipedrive` again",
                    missing.join(", ")
                ),
            ));
        }
    }
    let governor = client.governor();
    let snapshot = governor.snapshot();
    let burst_origin = if config.burst_limit.is_some() {
        "pipedrive.burst_limit"
    } else {
        auth
    };
    let mut plan = format!(
        "{} with {} seat(s): {} requests per 2 s ({burst_origin}), company budget {} tokens/day",
        config.plan.name(),
        config.seats,
        snapshot.burst_limit,
        config.company_daily_budget(),
    );
    if let Some(server) = snapshot.server_burst_limit {
        plan.push_str(&format!("; the server reports {server} requests per 2 s"));
    }
    lines.push(CheckLine::ok("pipedrive plan assumed", plan));
    let reset_zone = match governor.learned_zone() {
        Some(zone) => format!("midnight UTC{zone}, as pipedrive showed it"),
        None => format!(
            "midnight {}, configured (pipedrive shows its own at the first spent budget or reset seen)",
            config.budget_timezone
        ),
    };
    match governor.tokens_used_today().await {
        Ok(used) => lines.push(CheckLine::ok(
            "pipedrive budget share",
            format!(
                "{} tokens/day ({:.0}% of {}); {} used today, resets at {} ({reset_zone})",
                config.connector_daily_budget(),
                config.budget_share * 100.0,
                config.company_daily_budget(),
                used,
                governor.next_reset(chrono::Utc::now()),
            ),
        )),
        Err(error) => lines.push(CheckLine::failed(
            "pipedrive budget share",
            format!("cannot read today's token ledger: {error}"),
        )),
    }
    lines
}

#[cfg(test)]
mod tests {
    use crate::auth::missing_scopes;

    #[test]
    fn scopes_are_missing_by_group() {
        assert!(
            missing_scopes("base contacts:full search:read admin contact-fields:full").is_empty()
        );
        assert!(missing_scopes("base,contacts:full,admin").is_empty());
        assert_eq!(
            missing_scopes("base contacts:read"),
            vec!["contacts:full", "contact-fields:full or admin"]
        );
    }
}
