//! `ml-connector check`: validates the config, then reaches the store, ECC and Pipedrive, and
//! prints one table of results. Exit 1 when any check fails, 2 when the config is bad.

use crate::exit::CliError;
use crate::Cli;

/// Validate the config and test the connections to the store, ECC and Pipedrive.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Example:\n  ml-connector check -c ml-connector.toml\n\nEach line says what was checked, ok or FAIL, and what was found. For ECC it probes\nevery table the extraction reads, so an SAP admin sees which authorization is missing."
)]
pub struct CheckArgs {}

/// One line of the check table, whichever part it comes from.
struct Line {
    subject: String,
    ok: bool,
    detail: String,
}

pub fn run(cli: &Cli, _args: &CheckArgs) -> Result<(), CliError> {
    let config = super::load_config(cli)?;
    let runtime = crate::runtime()?;
    let lines = runtime.block_on(async {
        let mut lines = vec![Line {
            subject: "config".into(),
            ok: true,
            detail: format!("{} is valid", config.source),
        }];
        let store = match mlc_store::open(&config.store.url, None).await {
            Ok(store) => {
                lines.push(Line {
                    subject: "store".into(),
                    ok: true,
                    detail: format!(
                        "{} ({}), migrations applied",
                        mlc_store::redact_url(&config.store.url),
                        store.backend()
                    ),
                });
                Some(store)
            }
            Err(error) => {
                lines.push(Line {
                    subject: "store".into(),
                    ok: false,
                    detail: error.to_string(),
                });
                None
            }
        };
        for line in mlc_ecc::check_lines(&config.ecc).await {
            lines.push(Line {
                subject: line.name,
                ok: line.ok,
                detail: line.detail,
            });
        }
        match store {
            Some(store) => {
                for line in mlc_pipedrive::check_lines(
                    &config.pipedrive,
                    mlc_engine::pipedrive_storage(store),
                )
                .await
                {
                    lines.push(Line {
                        subject: line.subject,
                        ok: line.ok,
                        detail: line.detail,
                    });
                }
            }
            None => lines.push(Line {
                subject: "pipedrive".into(),
                ok: false,
                detail: "not checked: the store is needed for the token ledger and OAuth tokens"
                    .into(),
            }),
        }
        lines
    });
    let mut table = comfy_table::Table::new();
    table.load_preset(comfy_table::presets::UTF8_BORDERS_ONLY);
    table.set_header(["check", "result", "detail"]);
    for line in &lines {
        table.add_row([
            line.subject.as_str(),
            if line.ok { "ok" } else { "FAIL" },
            line.detail.as_str(),
        ]);
    }
    println!("{table}");
    let failed = lines.iter().filter(|line| !line.ok).count();
    if failed > 0 {
        return Err(CliError::failed(anyhow::anyhow!(
            "{failed} of {} checks failed",
            lines.len()
        )));
    }
    println!("all {} checks passed", lines.len());
    Ok(())
}
