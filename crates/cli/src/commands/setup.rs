//! `ml-connector setup`: creates the custom fields the field map needs in Pipedrive (the ECC
//! customer and contact numbers, and every custom field the mapping names) and prints their keys.

use std::collections::BTreeSet;

use mlc_engine::connect_pipedrive;
use mlc_pipedrive::{CustomFieldResolver, EntityKind, FieldSpec};

use crate::exit::CliError;
use crate::Cli;

/// Create the custom fields the field map needs in Pipedrive; print their keys.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Example:\n  ml-connector setup\n  ml-connector setup --webhooks https://connector.example.com/webhooks/pipedrive\n\nFields that exist already (same name) are kept; a field of another type is reported.\nWebhook subscriptions that exist already for the URL are kept, never duplicated."
)]
pub struct SetupArgs {
    /// Also registers Pipedrive webhooks (v2 payloads, HTTP Basic from server.webhook_user and
    /// server.webhook_password) for changes and deletions (merges included) of organizations and
    /// persons, sent to URL (the public address of `run`'s /webhooks/pipedrive).
    #[arg(long, value_name = "URL")]
    pub webhooks: Option<String>,
}

/// The subscriptions the connector needs: a v2 merge is a delete (with `merged_to_id`) of the
/// losing record and a change of the survivor, so change and delete cover edits, deletions and
/// merges.
pub const WEBHOOK_EVENTS: [(&str, &str); 4] = [
    ("change", "organization"),
    ("delete", "organization"),
    ("change", "person"),
    ("delete", "person"),
];

/// The subscriptions of [`WEBHOOK_EVENTS`] that `existing` lacks for `url` (v2 ones).
pub fn missing_webhooks(
    existing: &[mlc_pipedrive::Webhook],
    url: &str,
) -> Vec<(&'static str, &'static str)> {
    WEBHOOK_EVENTS
        .into_iter()
        .filter(|(action, object)| {
            !existing.iter().any(|hook| {
                hook.subscription_url == url
                    && (hook.event_action == *action || hook.event_action == "*")
                    && (hook.event_object == *object || hook.event_object == "*")
                    && hook.version.as_deref().unwrap_or("2.0") == "2.0"
            })
        })
        .collect()
}

fn webhook_url(text: &str) -> Result<String, CliError> {
    let url = url::Url::parse(text).map_err(|error| {
        CliError::usage(anyhow::anyhow!("--webhooks {text}: not a URL: {error}"))
    })?;
    let plain_http_allowed = url.scheme() == "http" && mlc_config::is_loopback(&url);
    if url.scheme() != "https" && !plain_http_allowed {
        return Err(CliError::usage(anyhow::anyhow!(
            "--webhooks {text}: Pipedrive sends the Basic credentials with every delivery, so \
             the URL must be https:// (http:// only to this machine)"
        )));
    }
    Ok(text.to_string())
}

/// Registers the missing subscriptions; prints each.
async fn register_webhooks(
    config: &mlc_config::Config,
    client: &mlc_pipedrive::PipedriveClient,
    url: &str,
) -> Result<(), CliError> {
    let (Some(user), Some(password)) =
        (&config.server.webhook_user, &config.server.webhook_password)
    else {
        return Err(CliError::usage(anyhow::anyhow!(
            "{}: set server.webhook_user and server.webhook_password before --webhooks: \
             Pipedrive sends them with every delivery and `run` refuses deliveries without them",
            config.source
        )));
    };
    let existing = client.list_webhooks().await.map_err(CliError::failed)?;
    let missing = missing_webhooks(&existing, url);
    for (action, object) in WEBHOOK_EVENTS {
        let state = if missing.contains(&(action, object)) {
            let created = client
                .create_webhook(&mlc_pipedrive::WebhookCreate {
                    subscription_url: url.to_string(),
                    event_action: action.to_string(),
                    event_object: object.to_string(),
                    name: format!("ml-connector {} {action}.{object}", config.sync.connection),
                    user_id: Some(client.current_user().id),
                    http_auth_user: Some(user.clone()),
                    http_auth_password: Some(password.expose().to_string()),
                    version: "2.0".to_string(),
                })
                .await
                .map_err(CliError::failed)?;
            format!("created (id {})", created.id)
        } else {
            "exists".to_string()
        };
        println!("webhook  {action}.{object:<12}  {state}  {url}");
    }
    Ok(())
}

pub fn run(cli: &Cli, args: &SetupArgs) -> Result<(), CliError> {
    let config = super::load_config(cli)?;
    let webhooks = args.webhooks.as_deref().map(webhook_url).transpose()?;
    let specs = needed_fields(&config);
    let runtime = crate::runtime()?;
    runtime.block_on(async {
        let store = super::open_store(&config).await?;
        let client = connect_pipedrive(&config.pipedrive, store)
            .await
            .map_err(CliError::failed)?;
        let resolver = CustomFieldResolver::new(client.clone());
        let resolved = resolver
            .ensure_fields(&specs)
            .await
            .map_err(CliError::failed)?;
        println!("{:<12}  {:<40}  {:<8}  {:<7}  name", "entity", "key", "type", "state");
        let mut warnings = 0;
        for field in &resolved {
            println!(
                "{:<12}  {:<40}  {:<8}  {:<7}  {}",
                field.entity.as_str(),
                field.key,
                field.field_type,
                if field.created { "created" } else { "exists" },
                field.name
            );
            if let Some(warning) = &field.warning {
                warnings += 1;
                eprintln!("warning: {} field \"{}\" {warning}", field.entity, field.name);
            }
        }
        if let Some(url) = &webhooks {
            register_webhooks(&config, &client, url).await?;
        }
        if let Some(warning) = missing_status_label(&config, &resolver).await? {
            // Not a failure: labels are made in Pipedrive's settings, not through the API.
            eprintln!("warning: {warning}");
        }
        let snapshot = client.governor().snapshot();
        println!(
            "{} field(s) ready; {} tokens used today of {}",
            resolved.len(),
            snapshot.tokens_used_today,
            snapshot.daily_token_limit
        );
        if warnings > 0 {
            return Err(CliError::failed(anyhow::anyhow!(
                "{warnings} field(s) exist with another type or lack options; fix them in Pipedrive or rename them in [mapping]"
            )));
        }
        Ok(())
    })
}

/// With a `label` policy: a warning when the organization label `sync.status_label` does not
/// exist (Pipedrive's API cannot create labels; the sync reports such records as errors).
async fn missing_status_label(
    config: &mlc_config::Config,
    resolver: &CustomFieldResolver,
) -> Result<Option<String>, CliError> {
    use mlc_config::sections::sync::LifecyclePolicy;
    if ![config.sync.on_deleted, config.sync.on_blocked].contains(&LifecyclePolicy::Label) {
        return Ok(None);
    }
    let fields = resolver
        .fields(EntityKind::Organization)
        .await
        .map_err(CliError::failed)?;
    let exists = fields
        .iter()
        .filter(|field| field.field_code == "label_ids" || field.field_code == "label")
        .flat_map(|field| field.options.iter())
        .any(|option| option.label == config.sync.status_label);
    Ok((!exists).then(|| {
        format!(
            "the organization label \"{}\" (sync.status_label) does not exist in Pipedrive: create it in Pipedrive's settings (the API cannot) or name an existing label; until then a deleted or blocked customer whose policy is \"label\" is an error in the audit",
            config.sync.status_label
        )
    }))
}

/// The default external-id fields, then every custom field the mapping names.
fn needed_fields(config: &mlc_config::Config) -> Vec<FieldSpec> {
    let mut specs = FieldSpec::default_needs();
    let map = mlc_sync::map::FieldMapSpec::from_config(&config.mapping, &config.sync);
    for field in map.required_custom_fields() {
        specs.push(FieldSpec::new(field.kind, field.name, field.field_type));
    }
    let mut seen = BTreeSet::new();
    specs.retain(|spec| seen.insert((entity_order(spec.entity), spec.name.to_lowercase())));
    specs
}

fn entity_order(entity: EntityKind) -> u8 {
    match entity {
        EntityKind::Organization => 0,
        EntityKind::Person => 1,
    }
}

#[cfg(test)]
mod webhook_tests {
    use super::*;

    fn hook(action: &str, object: &str, url: &str) -> mlc_pipedrive::Webhook {
        mlc_pipedrive::Webhook {
            id: 1,
            event_action: action.into(),
            event_object: object.into(),
            subscription_url: url.into(),
            version: Some("2.0".into()),
            is_active: serde_json::json!(1),
            http_auth_user: Some("pipedrive".into()),
        }
    }

    #[test]
    fn only_the_subscriptions_missing_for_this_url_are_created() {
        let url = "https://c.example.com/webhooks/pipedrive";
        assert_eq!(missing_webhooks(&[], url).len(), 4);
        let existing = [
            hook("change", "organization", url),
            hook("delete", "*", url),
            hook("change", "person", "https://elsewhere.example.com/"),
        ];
        assert_eq!(missing_webhooks(&existing, url), [("change", "person")]);
        let mut old = hook("change", "person", url);
        old.version = Some("1.0".into());
        assert_eq!(
            missing_webhooks(&[old], url).len(),
            4,
            "a v1 subscription sends payloads the receiver does not read"
        );
    }

    #[test]
    fn the_webhook_url_must_be_https_except_on_this_machine() {
        assert!(webhook_url("https://c.example.com/webhooks/pipedrive").is_ok());
        assert!(webhook_url("http://127.0.0.1:8080/webhooks/pipedrive").is_ok());
        assert!(webhook_url("http://c.example.com/webhooks/pipedrive").is_err());
        assert!(webhook_url("not a url").is_err());
    }
}
