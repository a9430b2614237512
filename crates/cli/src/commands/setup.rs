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
    after_help = "Example:\n  ml-connector setup\n\nFields that exist already (same name) are kept; a field of another type is reported."
)]
pub struct SetupArgs {}

pub fn run(cli: &Cli, _args: &SetupArgs) -> Result<(), CliError> {
    let config = super::load_config(cli)?;
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
