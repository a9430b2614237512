//! Duplicates inside ECC itself: two customer numbers for one company. They are found with the
//! same index and scoring as the organizations (the VAT number, or name and address at or
//! above the link threshold), reported, and per `sync.ecc_duplicates` kept apart or mapped to
//! one organization. The earlier customer number is the primary.

use mlc_canonical::{alpha_output, Customer};
use serde::{Deserialize, Serialize};

use super::index::{
    name_key, same_address_keys, vat_key, Filing, IndexSizes, MatchSubject, RecordIndex,
    RecordIndexBuilder,
};
use super::organization::{customer_subject, parallel_map, MatchSettings, Scratch};
use super::score::{best_name_similarity, same_name_and_address, score, score_above, Evidence};

/// How many of the run's customers are looked at, at most, for the ones an organization's
/// name fits (the most shared blocking keys first).
const CLOSE_NAME_CANDIDATES: usize = 16;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EccDuplicate {
    /// The later customer number (internal form).
    pub customer_number: String,
    /// The customer it duplicates (internal form), itself no duplicate.
    pub duplicate_of: String,
    pub score: f64,
    /// "vat" or "name_and_address".
    pub rule: String,
    pub evidence: Evidence,
}

/// Every customer that duplicates an earlier one, in customer-number order.
pub fn find_ecc_duplicates(
    customers: &[Customer],
    settings: MatchSettings,
    threads: usize,
) -> Vec<EccDuplicate> {
    let mut builder = RunCustomersBuilder::with_capacity(customers.len());
    for customer in customers {
        builder.add(customer);
    }
    builder.finish().duplicates(settings, threads)
}

/// What the rules over a whole run know of one customer: its number (internal form) and its
/// match subject. A run writes these aside as it reads ECC, and builds [`RunCustomers`] from
/// them only when a rule asks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunCustomer {
    pub number: String,
    /// Without its customer number: [`RunCustomers`] keeps `number` once and gives each
    /// subject its display form back (at a million customers, 13 MB less in the index, half
    /// of it postings no rule over the run looks up).
    pub subject: MatchSubject,
}

impl RunCustomer {
    pub fn of(customer: &Customer) -> Self {
        let mut subject = customer_subject(customer);
        subject.customer_number.clear();
        RunCustomer {
            number: customer.customer_number.to_string(),
            subject,
        }
    }
}

/// Collects the customers of a run as they are read, one batch at a time.
pub struct RunCustomersBuilder {
    index: RecordIndexBuilder,
    /// Whether the customers' numbers are kept (see [`RunCustomers::numbered`]).
    numbered: bool,
    numbers: String,
    ends: Vec<u32>,
}

/// What a run's customers take in their index, counted in a first pass over them (they are
/// kept on disk and read twice): the index is then allocated once at its size, with no
/// growing vectors (see `postings`).
#[derive(Debug, Default)]
pub struct RunCustomerSizes {
    index: IndexSizes,
    numbers: usize,
    keys: Vec<u32>,
    /// The last number counted, and whether any came after one above it.
    last: String,
    out_of_order: bool,
}

impl RunCustomerSizes {
    /// Nothing counted yet, for an index filed as `filing` says: `Filing::Duplicates` for one
    /// built to search the duplicates alone, which no other rule may ask.
    pub fn filed(filing: Filing) -> Self {
        RunCustomerSizes {
            index: IndexSizes::filed(filing),
            ..RunCustomerSizes::default()
        }
    }

    pub fn add(&mut self, number: &str, subject: &MatchSubject) {
        if self.index.records() > 0 && number <= self.last.as_str() {
            self.out_of_order = true;
        }
        self.last.clear();
        self.last.push_str(number);
        RecordIndexBuilder::count(subject, &mut self.index, &mut self.keys);
        self.numbers += number.len();
    }

    /// Whether the index keeps the customers' numbers: always for the matcher; for the
    /// duplicates alone only when ECC read them out of number order, which their ranks need.
    /// Read in order, the duplicates are found by position, and the caller names them from
    /// where the customers are kept (14 MB less at a million customers).
    pub fn keeps_numbers(&self) -> bool {
        self.index.filing() == Filing::Everything || self.out_of_order
    }
}

impl RunCustomersBuilder {
    /// For the customers `sizes` counted, added in the same order with `add_subject`.
    pub fn counted(sizes: &RunCustomerSizes) -> Self {
        let numbered = sizes.keeps_numbers();
        RunCustomersBuilder {
            index: RecordIndexBuilder::counted(&sizes.index),
            numbered,
            numbers: String::with_capacity(if numbered { sizes.numbers } else { 0 }),
            ends: Vec::with_capacity(if numbered { sizes.index.records() } else { 0 }),
        }
    }

    pub fn with_capacity(customers: usize) -> Self {
        RunCustomersBuilder {
            index: RecordIndexBuilder::with_capacity(customers),
            numbered: true,
            numbers: String::with_capacity(customers * 10),
            ends: Vec::with_capacity(customers),
        }
    }

    pub fn add(&mut self, customer: &Customer) {
        let customer = RunCustomer::of(customer);
        self.add_subject(&customer.number, &customer.subject);
    }

    /// A customer by its number (internal form) and match subject, as [`RunCustomer`] keeps
    /// them (without the customer number in the subject).
    pub fn add_subject(&mut self, number: &str, subject: &MatchSubject) {
        let position = self.index.len() as i64;
        self.index.add(position, subject);
        if self.numbered {
            self.numbers.push_str(number);
            self.ends
                .push(u32::try_from(self.numbers.len()).unwrap_or(u32::MAX));
        }
    }

    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    pub fn finish(mut self) -> RunCustomers {
        self.numbers.shrink_to_fit();
        self.ends.shrink_to_fit();
        RunCustomers {
            index: self.index.finish(),
            numbered: self.numbered,
            numbers: self.numbers,
            ends: self.ends,
        }
    }
}

/// Every customer a run read, compact (their match subjects in a [`RecordIndex`], their numbers
/// in one string), for the rules that look at the whole run while it is planned batch by
/// batch: ECC duplicates, and an organization with exactly the name and address of one of
/// them. `default()` is a run without customers.
#[derive(Default)]
pub struct RunCustomers {
    index: RecordIndex,
    numbered: bool,
    numbers: String,
    ends: Vec<u32>,
}

impl RunCustomers {
    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Whether the customers' numbers are kept: always but in an index built for the
    /// duplicates alone from customers read in number order (see
    /// [`RunCustomerSizes::keeps_numbers`]), whose duplicates are found by position
    /// ([`RunCustomers::duplicate_positions`]).
    pub fn numbered(&self) -> bool {
        self.numbered
    }

    /// The customer number (internal form) of the customer read at `position`; only where
    /// the numbers are kept ([`RunCustomers::numbered`]).
    pub fn number(&self, position: usize) -> &str {
        let start = match position {
            0 => 0,
            _ => self.ends[position - 1] as usize,
        };
        &self.numbers[start..self.ends[position] as usize]
    }

    /// The match subject of the customer read at `position`, with its customer number.
    pub fn subject(&self, position: usize) -> MatchSubject {
        debug_assert!(self.numbered);
        let mut subject = self.index.record(position as u32).subject();
        subject.customer_number = alpha_output(self.number(position));
        subject
    }

    /// How many customers of the run are filed under `key` (a VAT number's or a domain's, see
    /// `index::vat_key`): more than one means the VAT number or domain is a group's, shared by
    /// its branches.
    pub fn customers_sharing(&self, key: u32) -> usize {
        self.index.posting_count(key)
    }

    /// Bytes held, for the benchmark's figures.
    pub fn heap_bytes(&self) -> usize {
        self.index.heap_bytes() + self.numbers.capacity() + self.ends.capacity() * 4
    }

    /// The customers (internal numbers, in the order read) with exactly the normalized name and
    /// address of `subject`.
    pub fn with_same_name_and_address(&self, subject: &MatchSubject) -> Vec<&str> {
        debug_assert_eq!(self.index.filing(), Filing::Everything);
        let mut keys = Vec::new();
        same_address_keys(subject, &mut keys);
        let mut positions: Vec<u32> = keys
            .iter()
            .flat_map(|key| self.index.postings(*key))
            .filter(|number| same_name_and_address(subject, &self.index.record(*number)))
            .collect();
        positions.sort_unstable();
        positions.dedup();
        positions
            .into_iter()
            .map(|number| self.number(self.index.record(number).id as usize))
            .collect()
    }

    /// The customers of the run whose name fits `subject`'s at least `floor` well (the name
    /// similarity with the word weights `weight`), with that similarity: the ones its fuzzy
    /// blocking keys find, and every one named exactly `subject` or one of `also_named`
    /// (normalized names), which a cut among many equally good candidates must not lose.
    pub fn with_close_name(
        &self,
        subject: &MatchSubject,
        also_named: &[&str],
        floor: f64,
        weight: &dyn Fn(&str) -> f64,
        scratch: &mut Scratch,
    ) -> Vec<(MatchSubject, f64)> {
        let mut numbers: Vec<u32> = self
            .index
            .candidates(
                subject,
                CLOSE_NAME_CANDIDATES,
                &mut scratch.keys,
                &mut scratch.found,
            )
            .into_iter()
            .map(|(number, _)| number)
            .collect();
        for name in [subject.name.as_str(), subject.alt_name.as_str()]
            .into_iter()
            .chain(also_named.iter().copied())
            .filter(|name| !name.is_empty())
        {
            numbers.extend(self.index.postings(name_key(name)));
        }
        numbers.sort_unstable();
        numbers.dedup();
        numbers
            .into_iter()
            .filter_map(|number| {
                let record = self.index.record(number);
                let name_score = best_name_similarity(subject, &record, weight);
                (name_score >= floor).then(|| (self.subject(record.id as usize), name_score))
            })
            .collect()
    }

    /// Every customer that duplicates an earlier one (by customer number), in customer-number
    /// order.
    pub fn duplicates(&self, settings: MatchSettings, threads: usize) -> Vec<EccDuplicate> {
        self.duplicate_positions(settings, threads)
            .into_iter()
            .map(|found| {
                let (number, of) = (self.number(found.position), self.number(found.of));
                found.named(number, of)
            })
            .collect()
    }

    /// The same by the customers' positions in the order read, for an index that does not
    /// keep their numbers.
    pub fn duplicate_positions(&self, settings: MatchSettings, threads: usize) -> Vec<DuplicateAt> {
        let count = self.len();
        let ranks = Ranks::of_run(self);
        // For each customer, its best earlier look-alike; kept only where there is one (a few
        // hundred at a million customers, where an answer per customer took 100 MB).
        let span = count.div_ceil(DUPLICATE_SPANS).max(1);
        let spans: Vec<std::ops::Range<usize>> = (0..count)
            .step_by(span)
            .map(|start| start..(start + span).min(count))
            .collect();
        let mut best_earlier: Vec<(usize, BestEarlier)> =
            parallel_map(&spans, threads, |span, scratch| {
                span.clone()
                    .filter_map(|position| {
                        self.best_earlier(position, &ranks, settings, scratch)
                            .map(|best| (position, best))
                    })
                    .collect::<Vec<_>>()
            })
            .into_iter()
            .flatten()
            .collect();
        best_earlier.sort_unstable_by_key(|(position, _)| *position);
        let best_of = |position: usize| {
            best_earlier
                .binary_search_by_key(&position, |(found, _)| *found)
                .ok()
                .map(|at| &best_earlier[at].1)
        };
        // Resolve chains so every duplicate points at a customer that is no duplicate itself.
        let mut primary_of: std::collections::HashMap<usize, usize> =
            std::collections::HashMap::new();
        let mut duplicates = Vec::new();
        for index in ranks.in_order(count) {
            let Some((other, score, rule, evidence)) = best_of(index) else {
                continue;
            };
            let primary = primary_of.get(other).copied().unwrap_or(*other);
            primary_of.insert(index, primary);
            duplicates.push(DuplicateAt {
                position: index,
                of: primary,
                score: *score,
                rule,
                evidence: evidence.clone(),
            });
        }
        duplicates
    }

    /// The customer read before `position` in customer-number order (`ranks`) that it most
    /// looks like, at or above the link threshold or by the same VAT number, if one does.
    fn best_earlier(
        &self,
        position: usize,
        ranks: &Ranks,
        settings: MatchSettings,
        scratch: &mut Scratch,
    ) -> Option<BestEarlier> {
        let index = &self.index;
        let subject = index.record(position as u32).subject();
        let mut best: Option<BestEarlier> = None;
        let mut consider =
            |other: usize, rule: &'static str, evidence: Evidence, effective: f64| {
                if other == position || ranks.rank(other) > ranks.rank(position) {
                    return;
                }
                if best
                    .as_ref()
                    .is_none_or(|(_, score, _, _)| effective > *score)
                {
                    best = Some((other, effective, rule, evidence));
                }
            };
        if !subject.vat.is_empty() {
            for number in index.postings(vat_key(&subject.vat)) {
                let record = index.record(number);
                if record.vat != subject.vat {
                    continue;
                }
                let evidence = score(&subject, &record);
                if evidence.name_score >= 0.5 {
                    consider(record.id as usize, "vat", evidence, 1.0);
                }
            }
        }
        for (number, _) in index.candidates(&subject, 48, &mut scratch.keys, &mut scratch.found) {
            let record = index.record(number);
            let other = record.id as usize;
            if other == position || ranks.rank(other) > ranks.rank(position) {
                continue;
            }
            let weight = |word: &str| index.word_weight(word);
            let Some(evidence) = score_above(&subject, &record, settings.link_threshold, &weight)
            else {
                continue;
            };
            if evidence.score >= settings.link_threshold {
                let effective = evidence.score;
                consider(record.id as usize, "name_and_address", evidence, effective);
            }
        }
        best
    }
}

/// A duplicate inside ECC by the positions of the two customers in the order read.
#[derive(Debug, Clone, PartialEq)]
pub struct DuplicateAt {
    pub position: usize,
    /// The customer it duplicates, itself no duplicate.
    pub of: usize,
    pub score: f64,
    pub rule: &'static str,
    pub evidence: Evidence,
}

impl DuplicateAt {
    /// With the two customers' numbers (internal form).
    pub fn named(self, number: &str, of: &str) -> EccDuplicate {
        EccDuplicate {
            customer_number: number.to_string(),
            duplicate_of: of.to_string(),
            score: self.score,
            rule: self.rule.to_string(),
            evidence: self.evidence,
        }
    }
}

/// Where each customer of a run stands in customer-number order. ECC reads customers in that
/// order, and then nothing is kept (8 MB at a million customers).
struct Ranks {
    /// By position, when the positions are not in customer-number order.
    ranks: Vec<u32>,
    /// The positions in customer-number order, in the same case.
    order: Vec<u32>,
}

impl Ranks {
    fn of_run(run: &RunCustomers) -> Self {
        let count = run.len();
        // Numbers are let go only when the customers were read in their order.
        if !run.numbered
            || (1..count).all(|position| run.number(position - 1) < run.number(position))
        {
            return Ranks {
                ranks: Vec::new(),
                order: Vec::new(),
            };
        }
        let mut order: Vec<u32> = (0..count as u32).collect();
        order.sort_by(|a, b| run.number(*a as usize).cmp(run.number(*b as usize)));
        let mut ranks = vec![0u32; count];
        for (rank, position) in order.iter().enumerate() {
            ranks[*position as usize] = rank as u32;
        }
        Ranks { ranks, order }
    }

    /// The rank of the customer at `position`.
    fn rank(&self, position: usize) -> u32 {
        self.ranks.get(position).copied().unwrap_or(position as u32)
    }

    /// The positions of `count` customers in customer-number order.
    fn in_order(&self, count: usize) -> impl Iterator<Item = usize> + '_ {
        let sorted = self.order.is_empty().then_some(0..count);
        sorted
            .into_iter()
            .flatten()
            .chain(self.order.iter().map(|position| *position as usize))
    }
}

/// A customer's best earlier look-alike: its position, the score that counts, the rule and
/// the evidence.
type BestEarlier = (usize, f64, &'static str, Evidence);

/// Pieces the customers are cut into to be searched for duplicates on several threads (enough
/// for `parallel_map` to use them from a thousand customers on, as it did per customer).
const DUPLICATE_SPANS: usize = 1024;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{customer, other_customer, stranger};
    use mlc_canonical::CustomerNumber;

    fn settings() -> MatchSettings {
        MatchSettings {
            link_threshold: 0.90,
            review_threshold: 0.70,
        }
    }

    #[test]
    fn a_second_number_for_the_same_company_is_reported_against_the_first() {
        let original = customer();
        let mut twin = other_customer(
            9001,
            "Mueller Maschinenbau GmbH",
            "Hauptstr.",
            "12",
            "70173",
            "Stuttgart",
        );
        twin.vat_number = None;
        let mut third = other_customer(
            9002,
            "Müller Maschinenbau",
            "Hauptstraße",
            "12",
            "70173",
            "Stuttgart",
        );
        third.vat_number = Some("DE 123 456 789".into());
        let stranger = stranger();
        let same_name_elsewhere = other_customer(
            9004,
            "Müller Maschinenbau GmbH",
            "Marienplatz",
            "1",
            "80331",
            "München",
        );
        let customers = vec![
            third.clone(),
            stranger,
            original.clone(),
            twin.clone(),
            same_name_elsewhere,
        ];
        let duplicates = find_ecc_duplicates(&customers, settings(), 1);
        assert_eq!(duplicates.len(), 2, "{duplicates:#?}");
        assert_eq!(duplicates[0].customer_number, twin.customer_number.as_str());
        assert_eq!(
            duplicates[0].duplicate_of,
            original.customer_number.as_str()
        );
        assert_eq!(duplicates[0].rule, "name_and_address");
        assert_eq!(
            duplicates[1].customer_number,
            third.customer_number.as_str()
        );
        assert_eq!(
            duplicates[1].duplicate_of,
            original.customer_number.as_str()
        );
        assert_eq!(duplicates[1].rule, "vat");
    }

    /// The run's customers indexed as a run does from its spill: counted, then added.
    fn counted_build(run: &[RunCustomer], filing: Filing) -> RunCustomers {
        let mut sizes = RunCustomerSizes::filed(filing);
        for customer in run {
            sizes.add(&customer.number, &customer.subject);
        }
        let mut builder = RunCustomersBuilder::counted(&sizes);
        for customer in run {
            builder.add_subject(&customer.number, &customer.subject);
        }
        builder.finish()
    }

    /// Thousands of customers, every seventh typed in again under a later number: each twin is
    /// found against its original, on one thread as on several.
    #[test]
    fn twins_among_thousands_are_found_alike_on_one_thread_and_on_several() {
        let words = [
            "Nord", "Sued", "Ost", "West", "Berg", "Tal", "Feld", "Hafen", "Markt",
        ];
        let trades = [
            "Logistik",
            "Maschinenbau",
            "Elektro",
            "Baustoffe",
            "Druckerei",
        ];
        let mut customers = Vec::new();
        let mut twins = Vec::new();
        for number in 0..3_000u32 {
            let name = format!(
                "{} {} {} GmbH",
                words[number as usize % words.len()],
                trades[(number as usize / words.len()) % trades.len()],
                number
            );
            let street = format!("{}straße", words[(number as usize / 7) % words.len()]);
            let postal = format!("{:05}", 10_000 + number * 7);
            let mut customer = other_customer(
                10_000 + number,
                &name,
                &street,
                &(number % 90 + 1).to_string(),
                &postal,
                "Berlin",
            );
            customer.vat_number = None;
            customer.phone = None;
            customer.email = None;
            if number % 7 == 0 {
                let mut twin = customer.clone();
                twin.customer_number =
                    CustomerNumber::from_internal(format!("{:010}", 90_000 + number));
                twin.customer_number_display = twin.customer_number.display();
                twins.push((
                    twin.customer_number.to_string(),
                    customer.customer_number.to_string(),
                ));
                customers.push(twin);
            }
            customers.push(customer);
        }
        let one = find_ecc_duplicates(&customers, settings(), 1);
        let several = find_ecc_duplicates(&customers, settings(), 2);
        assert_eq!(one, several);
        // Read in customer-number order, as ECC reads them (no ranks kept): the same.
        let mut in_order = customers.clone();
        in_order.sort_by(|a, b| a.customer_number.cmp(&b.customer_number));
        assert_eq!(find_ecc_duplicates(&in_order, settings(), 2), one);
        // Counted first, as a run builds them from its spill: the same.
        let run: Vec<RunCustomer> = customers.iter().map(RunCustomer::of).collect();
        let counted = counted_build(&run, Filing::Everything);
        assert_eq!(counted.duplicates(settings(), 2), one);
        // Filed for the duplicates alone: the same, in less memory.
        let for_duplicates = counted_build(&run, Filing::Duplicates);
        // Read out of number order (each twin before its original): the numbers are kept.
        assert!(for_duplicates.numbered());
        assert_eq!(for_duplicates.duplicates(settings(), 2), one);
        // Read in number order: found by position, named from the customers.
        let run_in_order: Vec<RunCustomer> = in_order.iter().map(RunCustomer::of).collect();
        let unnumbered = counted_build(&run_in_order, Filing::Duplicates);
        assert!(!unnumbered.numbered());
        let named: Vec<EccDuplicate> = unnumbered
            .duplicate_positions(settings(), 2)
            .into_iter()
            .map(|found| {
                let (number, of) = (
                    run_in_order[found.position].number.clone(),
                    run_in_order[found.of].number.clone(),
                );
                found.named(&number, &of)
            })
            .collect();
        assert_eq!(named, one);
        assert!(unnumbered.heap_bytes() < for_duplicates.heap_bytes());
        assert!(
            for_duplicates.heap_bytes() < counted.heap_bytes(),
            "{} bytes filed for the duplicates, {} for everything",
            for_duplicates.heap_bytes(),
            counted.heap_bytes()
        );
        let twin_subject = &run[0].subject;
        let mut plain = RunCustomersBuilder::with_capacity(0);
        for customer in &customers {
            plain.add(customer);
        }
        assert_eq!(
            counted.with_same_name_and_address(twin_subject),
            plain.finish().with_same_name_and_address(twin_subject)
        );
        let found: Vec<(String, String)> = one
            .iter()
            .map(|duplicate| {
                (
                    duplicate.customer_number.clone(),
                    duplicate.duplicate_of.clone(),
                )
            })
            .collect();
        twins.sort();
        assert_eq!(found, twins);
    }

    #[test]
    fn the_run_keeps_each_number_once_and_gives_it_back_with_the_subject() {
        let original = customer();
        let mut builder = RunCustomersBuilder::with_capacity(2);
        builder.add(&stranger());
        builder.add(&original);
        let run = builder.finish();
        let subject = run.subject(1);
        assert_eq!(subject, customer_subject(&original));
        assert_eq!(
            subject.customer_number,
            original.customer_number_display.as_str()
        );
        assert_eq!(run.number(1), original.customer_number.as_str());
        // Nothing is filed under the customer number: no rule over the run looks it up.
        assert_eq!(
            run.customers_sharing(crate::matching::index::customer_key(
                &subject.customer_number
            )),
            0
        );
        let weight = |_: &str| 1.0;
        let close = run.with_close_name(&subject, &[], 0.9, &weight, &mut Scratch::default());
        assert_eq!(close.len(), 1, "{close:?}");
        assert_eq!(close[0].0, subject);
    }

    #[test]
    fn no_customers_no_duplicates() {
        assert!(find_ecc_duplicates(&[], settings(), 0).is_empty());
    }
}
