//! `ml-connector extract`: reads ECC and prints canonical customers, one JSON object per line
//! (or a table), writing nothing anywhere. Data problems go to stderr.

use std::io::Write;

use chrono::{DateTime, NaiveDate, NaiveDateTime};
use futures::StreamExt;
use mlc_ecc::{DeltaCursor, ExtractBatch, Extractor};

use crate::exit::CliError;
use crate::Cli;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ExtractFormat {
    /// One canonical customer as JSON per line.
    Jsonl,
    /// A short table for people.
    Table,
}

/// Read ECC and print canonical customers; writes nothing anywhere.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Examples:\n  ml-connector extract --full > customers.jsonl\n  ml-connector extract --customer 4711 --customer 4712 --format table\n  ml-connector extract --since 2026-11-26T08:00:00"
)]
pub struct ExtractArgs {
    /// Only this customer (with or without leading zeros); repeat for several.
    #[arg(long = "customer", value_name = "KUNNR", conflicts_with_all = ["since", "full"])]
    pub customers: Vec<String>,
    /// Only customers created or changed since TIME: server-local "YYYY-MM-DDTHH:MM:SS" or a
    /// date, or RFC 3339 with a zone ("2026-11-26T07:00:00Z").
    #[arg(long, value_name = "TIME", conflicts_with = "full")]
    pub since: Option<String>,
    /// Every customer (the default without --customer or --since).
    #[arg(long)]
    pub full: bool,
    #[arg(long, value_enum, default_value_t = ExtractFormat::Jsonl)]
    pub format: ExtractFormat,
}

/// Reads `--since` in the SAP server's zone unless it names its own.
pub fn parse_since(text: &str, server_zone: chrono_tz::Tz) -> Result<DeltaCursor, String> {
    let text = text.trim();
    if let Ok(instant) = DateTime::parse_from_rfc3339(text) {
        return Ok(DeltaCursor::from_utc(instant.to_utc(), server_zone));
    }
    if let Ok(local) = NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S") {
        return Ok(DeltaCursor::at(local));
    }
    if let Ok(day) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(DeltaCursor::at(day.and_time(chrono::NaiveTime::MIN)));
    }
    Err(format!(
        "--since {text:?} is not a time: use 2026-11-26T08:00:00 (SAP server time), 2026-11-26, or 2026-11-26T07:00:00Z"
    ))
}

pub fn run(cli: &Cli, args: &ExtractArgs) -> Result<(), CliError> {
    let config = super::load_config(cli)?;
    let mut numbers = Vec::new();
    for number in &args.customers {
        let internal = mlc_canonical::alpha_input(number, 10).ok_or_else(|| {
            CliError::usage(anyhow::anyhow!(
                "--customer {number:?} is longer than a customer number (10 characters)"
            ))
        })?;
        numbers.push(internal);
    }
    let since = match &args.since {
        Some(text) => Some(
            parse_since(text, config.ecc.timezone)
                .map_err(|message| CliError::usage(anyhow::anyhow!(message)))?,
        ),
        None => None,
    };
    let runtime = crate::runtime()?;
    runtime.block_on(async {
        let extractor = Extractor::connect(&config.ecc)
            .await
            .map_err(CliError::failed)?;
        let mut printer = Printer::new(args.format);
        if !numbers.is_empty() {
            let batch = extractor
                .customers(&numbers)
                .await
                .map_err(CliError::failed)?;
            printer.batch(&batch)?;
            for number in &numbers {
                let found = batch
                    .records
                    .iter()
                    .any(|record| record.customer.customer_number.as_str() == number)
                    || batch
                        .rejected
                        .iter()
                        .any(|problem| &problem.customer_number == number);
                if !found {
                    eprintln!("customer {number}: not found in ECC");
                }
            }
        } else {
            let mut batches = match &since {
                Some(cursor) => extractor.delta(cursor).boxed(),
                None => extractor.full().boxed(),
            };
            while let Some(batch) = batches.next().await {
                printer.batch(&batch.map_err(CliError::failed)?)?;
            }
        }
        printer.finish(extractor.calls())
    })
}

struct Printer {
    format: ExtractFormat,
    out: std::io::BufWriter<std::io::Stdout>,
    records: usize,
    rejected_customers: std::collections::BTreeSet<String>,
    table_header: bool,
}

impl Printer {
    fn new(format: ExtractFormat) -> Self {
        Printer {
            format,
            out: std::io::BufWriter::new(std::io::stdout()),
            records: 0,
            rejected_customers: Default::default(),
            table_header: false,
        }
    }

    fn write(&mut self, line: &str) -> Result<(), CliError> {
        match writeln!(self.out, "{line}") {
            Ok(()) => Ok(()),
            // A closed pipe (`| head`) ends the output quietly.
            Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
            Err(error) => Err(CliError::failed(anyhow::anyhow!(
                "cannot write to stdout: {error}"
            ))),
        }
    }

    fn batch(&mut self, batch: &ExtractBatch) -> Result<(), CliError> {
        for record in &batch.records {
            self.records += 1;
            let line = match self.format {
                ExtractFormat::Jsonl => {
                    serde_json::to_string(&record.customer).map_err(|error| {
                        CliError::failed(anyhow::anyhow!("cannot encode a record: {error}"))
                    })?
                }
                ExtractFormat::Table => {
                    if !self.table_header {
                        self.table_header = true;
                        self.write(&format!(
                            "{:<10}  {:<40}  {:<20}  {:<3}  {:<30}  {:>8}  {}",
                            "customer", "name", "city", "cty", "email", "contacts", "status"
                        ))?;
                    }
                    let customer = &record.customer;
                    let status = match (customer.deleted, customer.blocked) {
                        (true, _) => "deleted",
                        (false, true) => "blocked",
                        _ => "",
                    };
                    format!(
                        "{:<10}  {:<40}  {:<20}  {:<3}  {:<30}  {:>8}  {}",
                        customer.customer_number_display,
                        clip(&customer.name, 40),
                        clip(&customer.billing_address.city, 20),
                        customer.billing_address.country,
                        clip(customer.email.as_deref().unwrap_or(""), 30),
                        customer.contacts.len(),
                        status
                    )
                }
            };
            self.write(&line)?;
            for problem in &record.problems {
                eprintln!(
                    "customer {}: {}: {} (cleaned)",
                    problem.customer_number, problem.field, problem.reason
                );
            }
        }
        for problem in &batch.rejected {
            self.rejected_customers
                .insert(problem.customer_number.clone());
            eprintln!(
                "customer {}: {}: {} (left out)",
                problem.customer_number, problem.field, problem.reason
            );
        }
        Ok(())
    }

    fn finish(mut self, calls: u64) -> Result<(), CliError> {
        let _ = self.out.flush();
        eprintln!(
            "{} customers extracted, {} left out for data problems, {calls} calls to ECC",
            self.records,
            self.rejected_customers.len()
        );
        Ok(())
    }
}

fn clip(text: &str, width: usize) -> String {
    let mut clipped: String = text
        .chars()
        .filter(|c| !c.is_control())
        .take(width)
        .collect();
    if text.chars().count() > width {
        clipped.pop();
        clipped.push('…');
    }
    clipped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_is_server_local_unless_it_names_a_zone() {
        let zone: chrono_tz::Tz = "Europe/Berlin".parse().unwrap();
        assert_eq!(
            parse_since("2026-11-26T08:00:00", zone)
                .unwrap()
                .server_time
                .to_string(),
            "2026-11-26 08:00:00"
        );
        assert_eq!(
            parse_since("2026-11-26T07:00:00Z", zone)
                .unwrap()
                .server_time
                .to_string(),
            "2026-11-26 08:00:00"
        );
        assert_eq!(
            parse_since("2026-11-26", zone)
                .unwrap()
                .server_time
                .to_string(),
            "2026-11-26 00:00:00"
        );
        assert!(parse_since("yesterday", zone).is_err());
    }
}
