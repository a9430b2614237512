//! `ml-connector demo`: the whole product on the built-in simulators in one command. ECC with a
//! few thousand customers (near-duplicates and dirty rows among them), a Pipedrive whose sales
//! team typed some of those companies by hand earlier, an embedded SQLite store; setup, a first
//! sync, changes in ECC, a delta sync, a full reconciliation, and the audit trail of one record.

use std::time::Instant;

use anyhow::Context;
use mlc_engine::{NoProgress, RunMode, RunOptions, RunSummary, SyncEngine};
use mlc_sim_ecc::MutationRequest;
use mlc_store::{Action, AuditQuery};
use mlc_testbed::{Testbed, TestbedOptions};

use crate::exit::CliError;

/// Run a whole sync on the built-in simulators and show what happened.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Example:\n  ml-connector demo\n  ml-connector demo --customers 500 --plan lite\n\nThe state store and config of the demo are kept in a folder it names at the end,\nso `ml-connector runs -c FOLDER/ml-connector.toml` and `audit` work on them afterwards."
)]
pub struct DemoArgs {
    /// Customers in the simulated ECC.
    #[arg(long, default_value_t = 2000)]
    pub customers: usize,
    #[arg(long, default_value_t = 1)]
    pub contacts_per_customer: usize,
    /// Organizations the sales team typed by hand before (other spelling, no ECC number).
    #[arg(long, default_value_t = 120)]
    pub hand_typed: usize,
    /// Pipedrive plan of the simulated company: lite, growth, premium, ultimate.
    #[arg(long, default_value = "ultimate")]
    pub plan: String,
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
}

pub fn run(args: &DemoArgs) -> Result<(), CliError> {
    let runtime = crate::runtime()?;
    runtime.block_on(demo(args)).map_err(CliError::failed)
}

async fn demo(args: &DemoArgs) -> anyhow::Result<()> {
    let mut options = TestbedOptions::new(args.customers, args.seed);
    options.contacts_per_customer = args.contacts_per_customer;
    options.hand_typed = args.hand_typed;
    options.plan = args.plan.clone();
    let started = Instant::now();
    let testbed = Testbed::start(options).await?;
    let truth = testbed.truth();
    let duplicates = truth
        .iter()
        .filter(|record| record.duplicate_of.is_some())
        .count();
    let dirty = truth.iter().filter(|record| record.dirty.is_some()).count();
    println!("ml-connector demo");
    println!(
        "  ECC simulator        {}  {} customers ({duplicates} near-duplicates, {dirty} dirty rows), {} contact(s) each",
        testbed.ecc.base_url(),
        truth.len(),
        args.contacts_per_customer
    );
    println!(
        "  Pipedrive simulator  {}  plan {}, {} organizations typed by hand by the sales team",
        testbed.pipedrive.base_url(),
        args.plan,
        testbed.hand_typed.len()
    );
    let folder = testbed.directory.path().to_path_buf();
    std::fs::write(folder.join("ml-connector.toml"), &testbed.config_text)
        .context("writing the demo config")?;

    let engine = testbed.engine().await?;
    let fields = testbed.setup(&engine).await?;
    println!(
        "\n1. setup: {} custom fields ready ({} created), e.g. \"{}\" = {}",
        fields.len(),
        fields.iter().filter(|field| field.created).count(),
        fields[0].name,
        fields[0].key
    );

    let first = timed_run(&engine, RunMode::Delta).await?;
    println!("\n2. first sync ({:.1} s)", first.0);
    print_counts(&first.1);
    let links = testbed
        .store
        .links("testbed", mlc_store::EntityKind::Organization)
        .await?;
    let hand_linked = testbed
        .hand_typed
        .iter()
        .filter(|typed| {
            links.iter().any(|link| {
                link.ecc_key == typed.customer_number
                    && link.pipedrive_id == typed.organization_id as i64
            })
        })
        .count();
    println!(
        "   hand-typed organizations linked instead of duplicated: {hand_linked} of {}",
        testbed.hand_typed.len()
    );
    let reviews = testbed.store.reviews("testbed", None).await?;
    if let Some(review) = reviews.first() {
        println!(
            "   queued for review: {} pair(s), e.g. customer {} ~ organization {} (score {:.2})",
            reviews.len(),
            mlc_canonical::alpha_output(&review.ecc_key),
            review.pipedrive_id,
            review.score
        );
    }
    print_tokens(&testbed, &first.1, first.0, &args.plan);

    let second = timed_run(&engine, RunMode::Delta).await?;
    println!(
        "\n3. second sync, nothing changed in ECC ({:.1} s): {} Pipedrive tokens",
        second.0, second.1.tokens_used
    );

    let report = testbed.ecc.mutate(&MutationRequest {
        customers: 25,
        contacts: 25,
        address_only: 10,
        seed: args.seed,
    });
    let created = testbed.ecc.create(5);
    let deleted = testbed.ecc.delete(3);
    println!(
        "\n4. in ECC: {} customers and {} contacts changed (change documents), {} addresses changed in BAS only (ADRESSE change documents, no DEBI one), {} customers created, {} flagged for deletion",
        report.customers.len(),
        report.contacts.len(),
        report.address_only.len(),
        created.len(),
        deleted.len()
    );
    let third = timed_run(&engine, RunMode::Delta).await?;
    println!("\n5. delta sync ({:.1} s)", third.0);
    print_counts(&third.1);
    println!("   tokens: {}", third.1.tokens_used);

    let fourth = timed_run(&engine, RunMode::Full).await?;
    println!(
        "\n6. full reconciliation ({:.1} s): compares content hashes (catches what no change document says)",
        fourth.0
    );
    print_counts(&fourth.1);
    println!("   tokens: {}", fourth.1.tokens_used);

    let updated = testbed
        .store
        .audit(&AuditQuery {
            run_id: Some(third.1.run_id),
            action: Some(Action::Update),
            kind: Some(mlc_store::EntityKind::Organization),
            ..AuditQuery::default()
        })
        .await?;
    let example = updated
        .first()
        .map(|event| event.customer_number.clone())
        .or_else(|| report.customers.first().cloned());
    if let Some(number) = &example {
        println!(
            "\n7. why does Pipedrive show this for customer {}? (ml-connector audit --customer {})",
            mlc_canonical::alpha_output(number),
            mlc_canonical::alpha_output(number)
        );
        let mut events = testbed
            .store
            .audit(&AuditQuery {
                customer_number: Some(number.clone()),
                kind: Some(mlc_store::EntityKind::Organization),
                ..AuditQuery::default()
            })
            .await?;
        events.reverse();
        for event in events {
            println!(
                "   run {:>2}  {:<8} {:<7} {}{}",
                event.run_id,
                event.source,
                event.action.as_str(),
                event.outcome,
                event
                    .error
                    .map(|error| format!(" ({error})"))
                    .unwrap_or_default()
            );
        }
    }
    let kept = testbed.directory.path().to_path_buf();
    println!(
        "\ndone in {:.0} s. The demo's config and state store stay in {}",
        started.elapsed().as_secs_f64(),
        kept.display()
    );
    println!(
        "  ml-connector runs -c {0}/ml-connector.toml\n  ml-connector audit -c {0}/ml-connector.toml --action review",
        kept.display()
    );
    let Testbed {
        ecc,
        pipedrive,
        directory,
        ..
    } = testbed;
    // Keep the folder: the user may look at the runs and the audit trail afterwards.
    let _ = directory.keep();
    ecc.shutdown().await;
    pipedrive.shutdown().await;
    Ok(())
}

async fn timed_run(engine: &SyncEngine, mode: RunMode) -> anyhow::Result<(f64, RunSummary)> {
    let started = Instant::now();
    let summary = engine
        .run(&RunOptions::new(mode), &NoProgress)
        .await
        .context("sync run")?;
    Ok((started.elapsed().as_secs_f64(), summary))
}

fn print_counts(summary: &RunSummary) {
    let counts: Vec<String> = summary
        .counts
        .iter()
        .map(|(action, count)| format!("{action} {count}"))
        .collect();
    println!(
        "   run {} {}: read {} customers; {}",
        summary.run_id,
        summary.status.as_str(),
        summary.customers_read,
        counts.join(", ")
    );
    if !summary.rejected.is_empty() {
        let example = &summary.rejected[0];
        println!(
            "   kept out as dirty: {} record(s), e.g. customer {}: {}: {}",
            summary.rejected.len(),
            mlc_canonical::alpha_output(&example.customer_number),
            example.field,
            example.reason
        );
    }
}

/// Tokens against the physical minimum (5 a create plus the index pages) and wall time against
/// what the plan's burst limit allows.
fn print_tokens(testbed: &Testbed, summary: &RunSummary, seconds: f64, plan: &str) {
    let stats = testbed.pipedrive.state().stats();
    let creates = stats.count("POST", "/api/v2/organizations", 200)
        + stats.count("POST", "/api/v2/persons", 200);
    let patches = stats.count("PATCH", "/api/v2/organizations/{id}", 200)
        + stats.count("PATCH", "/api/v2/persons/{id}", 200);
    let minimum = 5 * (creates + patches) + summary.index_tokens;
    println!(
        "   tokens: {} used; the minimum for {} creates and {} updates plus the index is {} ({:.1}%)",
        summary.tokens_used,
        creates,
        patches,
        minimum,
        100.0 * summary.tokens_used as f64 / minimum.max(1) as f64
    );
    let burst_per_second = match plan {
        "lite" => 10.0,
        "growth" => 20.0,
        "premium" => 50.0,
        _ => 60.0,
    };
    let requests: u64 = stats.requests.iter().map(|entry| entry.count).sum();
    println!(
        "   wall time {seconds:.1} s for {requests} requests; the {plan} burst limit allows {:.1} s; 429 answers: {}",
        requests as f64 / burst_per_second,
        stats.count_status(429)
    );
}
