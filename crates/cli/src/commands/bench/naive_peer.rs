//! `bench naive-peer`: the same load done as workflow tools (Zapier, Make) do it, beside
//! ml-connector's run of it in the same bench run, on the same simulator and plan: for each
//! customer a search by name (`GET /api/v2/organizations/search`, exact match), then an update
//! of the hit or a create, one record at a time. Both go through the same client and governor,
//! so neither is paced better than the other; the difference is the method (an index read
//! once and writes in parallel, against a search per record and one call at a time).

use std::time::Instant;

use anyhow::Context;
use mlc_canonical::Customer;
use mlc_engine::{NoProgress, RunMode, RunOptions};
use mlc_pipedrive::{
    AddressWrite, CustomFieldResolver, EntityKind, OrganizationWrite, PipedriveClient, SearchField,
};
use mlc_sync::map::CUSTOMER_NUMBER_FIELD;
use mlc_testbed::{Testbed, TestbedOptions};
use serde_json::{json, Value};

use super::round;

/// What one side spent on the load.
struct LoadFigures {
    organizations: u64,
    tokens: u64,
    wall_secs: f64,
}

impl LoadFigures {
    fn tokens_per_org(&self) -> f64 {
        self.tokens as f64 / self.organizations.max(1) as f64
    }
}

fn testbed_options(customers: usize, plan: &str, seed: u64) -> TestbedOptions {
    let mut options = TestbedOptions::new(customers, seed);
    options.plan = plan.to_string();
    // Organizations only: workflow recipes of this kind sync companies.
    options.contacts_per_customer = 0;
    options.dirty_rate = 0.0;
    options.duplicate_rate = 0.0;
    options
}

pub(super) async fn run(customers: usize, plan: &str, seed: u64) -> anyhow::Result<Value> {
    let connector = connector_load(customers, plan, seed).await?;
    let naive = naive_load(customers, plan, seed).await?;
    Ok(json!({
        "name": "naive-peer",
        "metrics": {
            "customers": customers,
            "plan": plan,
            "tokens_per_org": round(naive.tokens_per_org()),
            "wall_secs": round(naive.wall_secs),
            "organizations": naive.organizations,
            "connector_tokens_per_org": round(connector.tokens_per_org()),
            "connector_wall_secs": round(connector.wall_secs),
            "tokens_ratio_to_connector": round(naive.tokens_per_org() / connector.tokens_per_org().max(1e-9)),
            "wall_ratio_to_connector": round(naive.wall_secs / connector.wall_secs.max(1e-9)),
        }
    }))
}

/// ml-connector's first sync of the load.
async fn connector_load(customers: usize, plan: &str, seed: u64) -> anyhow::Result<LoadFigures> {
    let testbed = Testbed::start(testbed_options(customers, plan, seed)).await?;
    let engine = testbed.engine().await?;
    testbed.setup(&engine).await?;
    let started = Instant::now();
    let summary = engine
        .run(&RunOptions::new(RunMode::Delta), &NoProgress)
        .await
        .context("ml-connector's load")?;
    let wall_secs = started.elapsed().as_secs_f64();
    let organizations = summary
        .counts
        .iter()
        .filter(|(action, _)| {
            matches!(
                action,
                mlc_store::Action::Create | mlc_store::Action::Link | mlc_store::Action::Update
            )
        })
        .map(|(_, count)| *count)
        .sum();
    testbed.shutdown().await;
    Ok(LoadFigures {
        organizations,
        tokens: summary.tokens_used,
        wall_secs,
    })
}

/// The workflow tool's way: search by name, then update or create, one customer at a time.
async fn naive_load(customers: usize, plan: &str, seed: u64) -> anyhow::Result<LoadFigures> {
    let testbed = Testbed::start(testbed_options(customers, plan, seed)).await?;
    let engine = testbed.engine().await?;
    testbed.setup(&engine).await?;
    let client = engine.client().clone();
    let number_key = CustomFieldResolver::new(client.clone())
        .key(EntityKind::Organization, CUSTOMER_NUMBER_FIELD)
        .await
        .context("the customer number field")?;
    let truth = testbed.truth();
    let tokens_before = client.governor().tokens_charged();
    let started = Instant::now();
    let mut organizations = 0;
    for record in &truth {
        write_one(&client, &number_key, &record.customer).await?;
        organizations += 1;
    }
    let wall_secs = started.elapsed().as_secs_f64();
    let tokens = client.governor().tokens_charged() - tokens_before;
    testbed.shutdown().await;
    Ok(LoadFigures {
        organizations,
        tokens,
        wall_secs,
    })
}

async fn write_one(
    client: &PipedriveClient,
    number_key: &str,
    customer: &Customer,
) -> anyhow::Result<()> {
    let address = &customer.billing_address;
    let write = OrganizationWrite {
        name: Some(customer.name.clone()),
        address: Some(AddressWrite {
            value: format!(
                "{} {}, {} {}",
                address.street, address.house_number, address.postal_code, address.city
            ),
            route: Some(address.street.clone()),
            street_number: Some(address.house_number.clone()),
            postal_code: Some(address.postal_code.clone()),
            locality: Some(address.city.clone()),
            country: Some(address.country.clone()),
            ..AddressWrite::default()
        }),
        custom_fields: [(
            number_key.to_string(),
            json!(customer.customer_number_display),
        )]
        .into_iter()
        .collect(),
        ..OrganizationWrite::default()
    };
    let hits = client
        .search_organizations(&customer.name, &[SearchField::Name], true)
        .await
        .with_context(|| {
            format!(
                "searching for customer {}",
                customer.customer_number_display
            )
        })?;
    match hits.first() {
        Some(hit) => {
            client
                .update_organization(hit.item.id, &write)
                .await
                .with_context(|| format!("updating organization {}", hit.item.id))?;
        }
        None => {
            client.create_organization(&write).await.with_context(|| {
                format!("creating customer {}", customer.customer_number_display)
            })?;
        }
    }
    Ok(())
}
