//! The customers of a run as the rules over the whole run see them: each one's number and match
//! subject. They are written aside while ECC is read and indexed ([`RunCustomers`]) only when a
//! rule asks: the matcher, once a batch has a customer to match, and the search for duplicates
//! inside ECC, unless the same customers were searched before. A full reconciliation of a
//! million linked customers that ECC did not change builds neither (about 280 MB at a million).
//!
//! The search indexes them for itself (filed for the duplicates alone) and lets that index go:
//! a full reconciliation after a day of edits searches again, and kept for a matcher that no
//! batch may ask for, the index stayed resident through the rest of the run (380 MB at a
//! million). A matcher that is asked for indexes them again from the same spill.
//!
//! The duplicates of a run that read every customer are kept in the store with a fingerprint of
//! what they were found from: the customers' numbers and subjects in the order read, the score
//! thresholds and this version. The next such run with the same fingerprint takes them from
//! there. A delta reads too few customers for that to pay, and searches its own.

use std::collections::HashMap;
use std::sync::Mutex;

use mlc_canonical::Customer;
use mlc_store::StateStore;
use mlc_sync::matching::{
    EccDuplicate, Filing, MatchSettings, RunCustomer, RunCustomerSizes, RunCustomers,
    RunCustomersBuilder,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::sync::OnceCell;

use super::spill::{Spill, SpillBatches};
use super::SyncError;

/// Where the last whole run's ECC duplicates are kept, by connection.
const DUPLICATES_STREAM: &str = "ecc-duplicates";

/// Changes with any change to how duplicates are found that the thresholds do not show.
const DUPLICATES_VERSION: &str = "1";

/// Customers read back from the spill at a time while they are indexed.
const BUILD_BATCH: usize = 4096;

/// The run's customers as they are read: written to a spill, their bytes hashed.
pub(super) struct RunCustomersWriter {
    spill: Spill<RunCustomer>,
    digest: Sha256,
    line: Vec<u8>,
}

impl RunCustomersWriter {
    pub(super) fn new() -> Result<Self, SyncError> {
        Ok(RunCustomersWriter {
            spill: Spill::new("the run's customers")?,
            digest: Sha256::new(),
            line: Vec::new(),
        })
    }

    pub(super) fn add(&mut self, customer: &Customer) -> Result<(), SyncError> {
        self.line.clear();
        serde_json::to_writer(&mut self.line, &RunCustomer::of(customer)).map_err(|error| {
            SyncError::Setup(format!(
                "cannot write customer {} aside: {error}",
                customer.customer_number_display
            ))
        })?;
        self.digest.update(&self.line);
        self.digest.update(b"\n");
        self.spill.push_json(&self.line)
    }

    pub(super) fn finish(self) -> Result<LazyRunCustomers, SyncError> {
        Ok(LazyRunCustomers {
            count: self.spill.len(),
            spill: Mutex::new(self.spill.into_batches(BUILD_BATCH)?),
            built: OnceCell::new(),
            digest: hex::encode(self.digest.finalize()),
        })
    }
}

/// The run's customers, indexed the first time a rule asks.
pub(super) struct LazyRunCustomers {
    count: usize,
    /// Read again for each index built from it, and to name the duplicates of one built
    /// without numbers.
    spill: Mutex<SpillBatches<RunCustomer>>,
    built: OnceCell<RunCustomers>,
    /// SHA-256 of the customers' lines, in the order read.
    digest: String,
}

impl LazyRunCustomers {
    /// The index, if a rule asked for it.
    pub(super) fn built(&self) -> Option<&RunCustomers> {
        self.built.get()
    }

    /// The index: read back from the spill and built the first time.
    pub(super) async fn get(&self) -> Result<&RunCustomers, SyncError> {
        self.built
            .get_or_try_init(|| async { self.build(Filing::Everything) })
            .await
    }

    /// An index built from the spill for the caller alone, filed as `filing` says.
    fn build(&self, filing: Filing) -> Result<RunCustomers, SyncError> {
        let mut batches = self.spill.lock().unwrap_or_else(|e| e.into_inner());
        // Read twice: once to count what the index takes, so it is allocated once at its size
        // (a growing postings vector doubled to 270 MB of capacity at a million customers,
        // beside the copy it grew from), then to fill it.
        batches.rewind()?;
        let mut sizes = RunCustomerSizes::filed(filing);
        for_each_customer(&mut batches, |customer| {
            sizes.add(&customer.number, &customer.subject)
        })?;
        batches.rewind()?;
        let mut builder = RunCustomersBuilder::counted(&sizes);
        for_each_customer(&mut batches, |customer| {
            builder.add_subject(&customer.number, &customer.subject)
        })?;
        let customers = builder.finish();
        tracing::debug!(
            customers = customers.len(),
            ?filing,
            held_bytes = customers.heap_bytes(),
            "the run's customers indexed"
        );
        Ok(customers)
    }

    /// The duplicates among these customers: with the matcher's index if a batch asked for it
    /// already, else with one built for them alone and let go (see the module's comment).
    async fn search_duplicates(
        &self,
        settings: MatchSettings,
    ) -> Result<Vec<EccDuplicate>, SyncError> {
        if let Some(customers) = self.built() {
            return Ok(customers.duplicates(settings, 2));
        }
        let customers = self.build(Filing::Duplicates)?;
        if customers.numbered() {
            return Ok(customers.duplicates(settings, 2));
        }
        let found = customers.duplicate_positions(settings, 2);
        drop(customers);
        // Read in number order, the index kept no numbers: they are read back from the spill.
        let mut wanted: Vec<usize> = found
            .iter()
            .flat_map(|duplicate| [duplicate.position, duplicate.of])
            .collect();
        wanted.sort_unstable();
        wanted.dedup();
        let mut numbers: HashMap<usize, String> = HashMap::with_capacity(wanted.len());
        {
            let mut batches = self.spill.lock().unwrap_or_else(|e| e.into_inner());
            batches.rewind()?;
            let mut position = 0;
            for_each_customer(&mut batches, |customer| {
                if wanted.binary_search(&position).is_ok() {
                    numbers.insert(position, customer.number.clone());
                }
                position += 1;
            })?;
        }
        found
            .into_iter()
            .map(|duplicate| {
                let (Some(number), Some(of)) =
                    (numbers.get(&duplicate.position), numbers.get(&duplicate.of))
                else {
                    return Err(SyncError::Setup(format!(
                        "the run's customers at positions {} and {} were not read back",
                        duplicate.position, duplicate.of
                    )));
                };
                Ok(duplicate.named(number, of))
            })
            .collect()
    }

    /// What the duplicates among these customers under `settings` are found from.
    fn fingerprint(&self, settings: MatchSettings) -> String {
        let mut digest = Sha256::new();
        digest.update(format!(
            "{DUPLICATES_VERSION} {} {} {} {} {}",
            env!("CARGO_PKG_VERSION"),
            settings.link_threshold.to_bits(),
            settings.review_threshold.to_bits(),
            self.count,
            self.digest
        ));
        hex::encode(digest.finalize())
    }
}

/// Every customer of the spill from where `batches` stands.
fn for_each_customer(
    batches: &mut SpillBatches<RunCustomer>,
    mut each: impl FnMut(&RunCustomer),
) -> Result<(), SyncError> {
    loop {
        let batch = batches.next_batch()?;
        if batch.is_empty() {
            return Ok(());
        }
        batch.iter().for_each(&mut each);
    }
}

/// The duplicates of a whole run, as kept in the store.
#[derive(Deserialize)]
struct KeptDuplicates {
    fingerprint: String,
    duplicates: Vec<EccDuplicate>,
}

/// The same, to be kept.
#[derive(Serialize)]
struct ToKeep<'a> {
    fingerprint: &'a str,
    duplicates: &'a [EccDuplicate],
}

/// The duplicates inside ECC among the run's customers, and whether they were taken from the
/// store. `whole` says the run read every customer: its duplicates are kept, and taken from
/// the store when the fingerprint is the same.
pub(super) async fn ecc_duplicates(
    store: &dyn StateStore,
    connection: &str,
    customers: &LazyRunCustomers,
    settings: MatchSettings,
    whole: bool,
) -> Result<(Vec<EccDuplicate>, bool), SyncError> {
    if customers.count < 2 {
        return Ok((Vec::new(), false));
    }
    if !whole {
        return Ok((customers.search_duplicates(settings).await?, false));
    }
    let fingerprint = customers.fingerprint(settings);
    let kept = store.cursor(connection, DUPLICATES_STREAM).await?;
    if let Some(kept) = &kept {
        match serde_json::from_str::<KeptDuplicates>(&kept.value) {
            Ok(kept) if kept.fingerprint == fingerprint => return Ok((kept.duplicates, true)),
            Ok(_) => {}
            Err(error) => {
                tracing::warn!(%error, "the ECC duplicates kept in the store cannot be read; searching again");
            }
        }
    }
    let duplicates = customers.search_duplicates(settings).await?;
    let value = serde_json::to_string(&ToKeep {
        fingerprint: &fingerprint,
        duplicates: &duplicates,
    })
    .map_err(|error| SyncError::Setup(format!("cannot keep the ECC duplicates: {error}")))?;
    // Another run may have kept its own meanwhile: either is right for its customers, and the
    // next run compares fingerprints again.
    if let Err(error) = store
        .advance_cursor(
            connection,
            DUPLICATES_STREAM,
            kept.map(|kept| kept.version),
            &value,
        )
        .await
    {
        tracing::info!(%error, "the ECC duplicates were not kept");
    }
    Ok((duplicates, false))
}

#[cfg(test)]
mod tests {
    use mlc_canonical::{Address, CustomerNumber};
    use mlc_sync::matching::find_ecc_duplicates;

    use super::*;

    fn company(number: u32, name: &str, street: &str, postal_code: &str) -> Customer {
        let customer_number = CustomerNumber::from_internal(format!("{number:010}"));
        Customer {
            customer_number_display: customer_number.display(),
            customer_number,
            name: name.into(),
            name_parts: [name.into(), String::new(), String::new(), String::new()],
            account_group: "0001".into(),
            vat_number: None,
            deleted: false,
            blocked: false,
            billing_address: Address {
                street: street.into(),
                house_number: "1".into(),
                postal_code: postal_code.into(),
                city: "Berlin".into(),
                region: String::new(),
                country: "DE".into(),
            },
            shipping_address: None,
            email: None,
            phone: None,
            payment_terms: None,
            contacts: Vec::new(),
        }
    }

    /// 300 companies, every tenth with a twin under a later number.
    fn customers_with_twins() -> Vec<Customer> {
        let trades = ["Logistik", "Elektro", "Baustoffe", "Druckerei", "Holzbau"];
        let mut customers: Vec<Customer> = (0..300u32)
            .map(|at| {
                company(
                    1_000 + at,
                    &format!(
                        "{} {} {at} GmbH",
                        ["Nord", "Sued", "Ost"][at as usize % 3],
                        trades[at as usize % 5]
                    ),
                    &format!("Weg {at}"),
                    &format!("{:05}", 10_000 + at * 3),
                )
            })
            .collect();
        let twins: Vec<Customer> = customers
            .iter()
            .step_by(10)
            .enumerate()
            .map(|(at, original)| {
                let mut twin = original.clone();
                twin.customer_number = CustomerNumber::from_internal(format!("{:010}", 5_000 + at));
                twin.customer_number_display = twin.customer_number.display();
                twin
            })
            .collect();
        customers.extend(twins);
        customers
    }

    fn settings() -> MatchSettings {
        MatchSettings {
            link_threshold: 0.90,
            review_threshold: 0.70,
        }
    }

    async fn searched_from_a_spill(customers: &[Customer]) -> Vec<EccDuplicate> {
        let mut writer = RunCustomersWriter::new().expect("a spill");
        for customer in customers {
            writer.add(customer).expect("written aside");
        }
        writer
            .finish()
            .expect("read back")
            .search_duplicates(settings())
            .await
            .expect("searched")
    }

    #[tokio::test]
    async fn duplicates_found_by_position_are_named_from_the_spill_as_a_search_with_numbers_names_them(
    ) {
        let settings = settings();
        // Read in number order: the index keeps no numbers.
        let in_order = customers_with_twins();
        let expected = find_ecc_duplicates(&in_order, settings, 2);
        assert_eq!(expected.len(), 30, "{expected:#?}");
        assert_eq!(searched_from_a_spill(&in_order).await, expected);
        // Out of order: it keeps them.
        let mut shuffled = in_order.clone();
        shuffled.reverse();
        shuffled.swap(3, 100);
        let expected = find_ecc_duplicates(&shuffled, settings, 2);
        assert_eq!(expected.len(), 30);
        assert_eq!(searched_from_a_spill(&shuffled).await, expected);
    }

    #[tokio::test]
    async fn the_matcher_indexes_the_customers_again_after_the_search_let_its_index_go() {
        let customers = customers_with_twins();
        let mut writer = RunCustomersWriter::new().expect("a spill");
        for customer in &customers {
            writer.add(customer).expect("written aside");
        }
        let lazy = writer.finish().expect("read back");
        let found = lazy.search_duplicates(settings()).await.expect("searched");
        assert_eq!(found.len(), 30);
        assert!(lazy.built().is_none(), "the search's own index is let go");
        let indexed = lazy.get().await.expect("indexed again from the spill");
        assert_eq!(indexed.len(), customers.len());
        assert!(indexed.numbered());
        // Searched again with the matcher's index, the same duplicates.
        assert_eq!(
            lazy.search_duplicates(settings()).await.expect("searched"),
            found
        );
    }
}
