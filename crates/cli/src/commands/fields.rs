//! `ml-connector fields`: lists Pipedrive's organization and person fields with their keys and
//! types, so a field map can name them.

use mlc_engine::connect_pipedrive;
use mlc_pipedrive::EntityKind;

use crate::exit::CliError;
use crate::Cli;

/// List Pipedrive organization and person fields with keys and types.
#[derive(clap::Args, Debug)]
#[command(after_help = "Example:\n  ml-connector fields --custom-only")]
pub struct FieldsArgs {
    /// Only custom fields (the 40-character keys).
    #[arg(long)]
    pub custom_only: bool,
    /// table, or json (one array of {entity, key, name, type, custom, options}).
    #[arg(long, default_value = "table", value_parser = ["table", "json"])]
    pub format: String,
}

pub fn run(cli: &Cli, args: &FieldsArgs) -> Result<(), CliError> {
    let config = super::load_config(cli)?;
    let runtime = crate::runtime()?;
    runtime.block_on(async {
        let store = super::open_store(&config).await?;
        let client = connect_pipedrive(&config.pipedrive, store)
            .await
            .map_err(CliError::failed)?;
        let mut rows = Vec::new();
        for entity in [EntityKind::Organization, EntityKind::Person] {
            let fields = client.list_fields(entity).await.map_err(CliError::failed)?;
            rows.extend(
                fields
                    .into_iter()
                    .filter(|field| field.is_custom_field || !args.custom_only)
                    .map(|field| (entity, field)),
            );
        }
        if args.format == "json" {
            let list: Vec<serde_json::Value> = rows
                .iter()
                .map(|(entity, field)| {
                    serde_json::json!({
                        "entity": entity.as_str(), "key": field.field_code, "name": field.field_name,
                        "type": field.field_type, "custom": field.is_custom_field,
                        "options": field.options.iter().map(|option| serde_json::json!({"id": option.id, "label": option.label})).collect::<Vec<_>>(),
                    })
                })
                .collect();
            println!("{}", serde_json::to_string_pretty(&list).map_err(CliError::failed)?);
            return Ok(());
        }
        println!("{:<12}  {:<40}  {:<14}  {:<6}  name", "entity", "key", "type", "custom");
        for (entity, field) in &rows {
            let options = if field.options.is_empty() {
                String::new()
            } else {
                let labels: Vec<String> = field
                    .options
                    .iter()
                    .map(|option| format!("{}={}", option.id, option.label))
                    .collect();
                format!("  [{}]", labels.join(", "))
            };
            println!(
                "{:<12}  {:<40}  {:<14}  {:<6}  {}{options}",
                entity.as_str(),
                field.field_code,
                field.field_type,
                if field.is_custom_field { "yes" } else { "no" },
                field.field_name
            );
        }
        Ok(())
    })
}
