//! A compact, read-only index of records to match against: Pipedrive organizations (or ECC
//! customers, to find duplicates inside ECC). Built once per run from the list endpoint, it
//! answers "which records could be this company?" through blocking keys, never all pairs.
//!
//! Compactness is the point (a million records in well under 300 MB): every record's
//! normalized strings live in one byte arena, a record is 24 bytes, and the blocking keys are
//! (32-bit key hash, record number) pairs sorted by key in six bytes each
//! ([`super::postings`]), searched by binary search. A hash collision only adds a candidate the
//! scorer then rejects. Besides the fuzzy keys, each
//! record is filed under its exact name and address, so the same company typed in at the same
//! address is found however common its name is.

use serde::{Deserialize, Serialize};

use super::contact::{email_domain, normalize_phone, normalize_vat, website_domain};
use super::normalize::{
    name_variants, normalize_city, normalize_house_number, normalize_postal_code, normalize_street,
    NormalizedName,
};
use super::postings::{KeyCounts, Postings, PostingsBuilder};

/// What the matcher compares: a company's normalized name and address, and its exact keys.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MatchSubject {
    /// Sorted distinctive words, umlauts expanded ("maschinenbau mueller").
    pub name: String,
    /// The same with umlauts stripped, when it differs ("maschinenbau muller").
    pub alt_name: String,
    pub postal_code: String,
    pub city: String,
    pub street: String,
    pub house_number: String,
    /// The country's English name, folded ("germany"), or "" when unknown.
    pub country: String,
    /// VAT number, uppercase letters and digits, without the country prefix.
    pub vat: String,
    /// Phone number as "calling code, blank, national number" (`PhoneNumber::key`), or "".
    pub phone: String,
    /// The company's own internet domain (from its e-mail address or website; never free
    /// mail), or "".
    pub domain: String,
    /// The ECC customer number (display form) the record carries or is linked to.
    pub customer_number: String,
}

impl MatchSubject {
    /// A subject from raw parts; everything is normalized here.
    #[allow(clippy::too_many_arguments)]
    pub fn from_parts(
        name: &str,
        street: &str,
        house_number: &str,
        postal_code: &str,
        city: &str,
        country: &str,
        vat: Option<&str>,
        customer_number: Option<&str>,
    ) -> Self {
        let (primary, alternative): (NormalizedName, Option<NormalizedName>) = name_variants(name);
        MatchSubject {
            name: primary.key,
            alt_name: alternative.map(|name| name.key).unwrap_or_default(),
            postal_code: normalize_postal_code(postal_code),
            city: normalize_city(city),
            street: normalize_street(street),
            house_number: normalize_house_number(house_number),
            country: normalize_country(country),
            vat: vat.map(normalize_vat).unwrap_or_default(),
            phone: String::new(),
            domain: String::new(),
            customer_number: customer_number
                .map(mlc_canonical::alpha_output)
                .unwrap_or_default(),
        }
    }

    /// With a phone number as typed, placed by the subject's country when written nationally
    /// (or by `country`, an ISO code, when given).
    pub fn with_phone(mut self, phone: Option<&str>, country: &str) -> Self {
        let country = if country.is_empty() {
            self.country.as_str()
        } else {
            country
        };
        self.phone = phone
            .and_then(|phone| normalize_phone(phone, country))
            .map(|phone| phone.key())
            .unwrap_or_default();
        self
    }

    /// With the company's domain from an e-mail address or a website, whichever is the
    /// company's own (free mail is not).
    pub fn with_domain(mut self, email: Option<&str>, website: Option<&str>) -> Self {
        self.domain = website
            .and_then(website_domain)
            .or_else(|| email.and_then(email_domain))
            .unwrap_or_default();
        self
    }
}

/// A country code or name as one folded name: "DE", "Germany", "Deutschland"? Only codes and
/// English names are recognised; anything else is kept folded.
pub fn normalize_country(country: &str) -> String {
    let trimmed = country.trim();
    if trimmed.len() == 2 {
        if let Some(name) = crate::map::country_name(trimmed) {
            return normalize_city(name);
        }
    }
    normalize_city(trimmed)
}

const NAME: usize = 0;
const ALT_NAME: usize = 1;
const POSTAL: usize = 2;
const CITY: usize = 3;
const STREET: usize = 4;
const NUMBER: usize = 5;
const COUNTRY: usize = 6;
const CUSTOMER: usize = 7;
const VAT: usize = 8;
const PHONE: usize = 9;
const DOMAIN: usize = 10;
const PARTS: usize = 11;

/// Where one record's strings sit in the arena (each at most 255 bytes).
#[derive(Debug, Clone, Copy)]
struct Entry {
    start: u32,
    lengths: [u8; PARTS],
}

/// The records' ids by record number. A run's customers are filed by their position, which is
/// their id too: then none are kept (8 bytes a record, 8 MB at a million customers).
#[derive(Debug, Clone, Default)]
struct Ids(Vec<i64>);

impl Ids {
    fn push(&mut self, number: u32, id: i64) {
        if self.0.is_empty() {
            if id == i64::from(number) {
                return;
            }
            self.0.extend(0..i64::from(number));
        }
        self.0.push(id);
    }

    fn get(&self, number: u32) -> i64 {
        self.0
            .get(number as usize)
            .copied()
            .unwrap_or(i64::from(number))
    }

    /// Whether each record's id is above the one before it (so it is when each is its number).
    fn ascend(&self) -> bool {
        self.0.windows(2).all(|pair| pair[0] < pair[1])
    }

    /// The number of the record with `id` among `records`, when the ids ascend.
    fn search(&self, id: i64, records: usize) -> Option<u32> {
        if self.0.is_empty() {
            return u32::try_from(id)
                .ok()
                .filter(|number| (*number as usize) < records);
        }
        self.0.binary_search(&id).ok().map(|number| number as u32)
    }

    /// (id, record number) of every record, sorted by id.
    fn in_order(&self, records: usize) -> Vec<(i64, u32)> {
        let mut by_id: Vec<(i64, u32)> = (0..records as u32)
            .map(|number| (self.get(number), number))
            .collect();
        by_id.sort_unstable();
        by_id
    }

    fn heap_bytes(&self) -> usize {
        self.0.capacity() * std::mem::size_of::<i64>()
    }
}

/// A record of the index, read back for scoring.
#[derive(Debug, Clone, Copy)]
pub struct IndexedRecord<'a> {
    pub id: i64,
    pub name: &'a str,
    pub alt_name: &'a str,
    pub postal_code: &'a str,
    pub city: &'a str,
    pub street: &'a str,
    pub house_number: &'a str,
    pub country: &'a str,
    pub customer_number: &'a str,
    pub vat: &'a str,
    pub phone: &'a str,
    pub domain: &'a str,
}

impl IndexedRecord<'_> {
    /// The subject this record was indexed from (its strings as stored, at most 255 bytes each).
    pub fn subject(&self) -> MatchSubject {
        MatchSubject {
            name: self.name.to_string(),
            alt_name: self.alt_name.to_string(),
            postal_code: self.postal_code.to_string(),
            city: self.city.to_string(),
            street: self.street.to_string(),
            house_number: self.house_number.to_string(),
            country: self.country.to_string(),
            vat: self.vat.to_string(),
            phone: self.phone.to_string(),
            domain: self.domain.to_string(),
            customer_number: self.customer_number.to_string(),
        }
    }

    fn parts(&self) -> [&str; PARTS] {
        [
            self.name,
            self.alt_name,
            self.postal_code,
            self.city,
            self.street,
            self.house_number,
            self.country,
            self.customer_number,
            self.vat,
            self.phone,
            self.domain,
        ]
    }
}

/// Blocking key kinds, as the first byte hashed.
const KEY_TOKEN: u8 = b't';
const KEY_NAME: u8 = b'n';
const KEY_PAIR: u8 = b'p';
const KEY_WORD_INITIAL: u8 = b'i';
const KEY_POSTAL_PREFIX: u8 = b'z';
const KEY_CUSTOMER: u8 = b'x';
const KEY_VAT: u8 = b'v';
const KEY_SAME_ADDRESS: u8 = b'a';
const KEY_PHONE: u8 = b'f';
const KEY_NAME_POSTAL: u8 = b'c';
const KEY_DOMAIN: u8 = b'd';

/// A name-token key shared by more records than this is too common to block on ("mueller" in
/// a German customer base); the pair and postal keys still find those records.
pub const COMMON_KEY_LIMIT: usize = 400;

fn key_hash(kind: u8, parts: &[&str]) -> u32 {
    // FNV-1a, 32 bit: fast, and a collision only costs a rejected candidate.
    let mut hash: u32 = 0x811c_9dc5;
    let mut feed = |byte: u8| {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(0x0100_0193);
    };
    feed(kind);
    for (index, part) in parts.iter().enumerate() {
        if index > 0 {
            feed(0x1f);
        }
        for byte in part.bytes() {
            feed(byte);
        }
    }
    hash
}

fn prefix(token: &str, chars: usize) -> &str {
    match token.char_indices().nth(chars) {
        Some((end, _)) => &token[..end],
        None => token,
    }
}

/// The fuzzy blocking keys of a subject: the whole name (rare, so it weighs most), each name
/// word, each pair of its first words (their first four letters, so a typo further in still
/// meets), its first two words each with the other's initial, and postal code + the
/// first three letters of each word.
pub fn fuzzy_keys(subject: &MatchSubject, keys: &mut Vec<u32>) {
    for name in [subject.name.as_str(), subject.alt_name.as_str()] {
        if name.is_empty() {
            continue;
        }
        keys.push(key_hash(KEY_NAME, &[name]));
        let words: Vec<&str> = name.split(' ').filter(|word| !word.is_empty()).collect();
        for word in &words {
            if word.chars().count() >= 2 {
                keys.push(key_hash(KEY_TOKEN, &[word]));
            }
            if !subject.postal_code.is_empty() {
                keys.push(key_hash(
                    KEY_POSTAL_PREFIX,
                    &[&subject.postal_code, prefix(word, 3)],
                ));
            }
        }
        let head = &words[..words.len().min(5)];
        for (index, first) in head.iter().enumerate() {
            for second in &head[index + 1..] {
                keys.push(key_hash(KEY_PAIR, &[prefix(first, 4), prefix(second, 4)]));
            }
        }
        // A word with the initial of another: a typo in the other word ("Isar Hlzbau") or in
        // its first letters still meets ("isar" + "h").
        let first_words = &words[..words.len().min(2)];
        for (index, first) in first_words.iter().enumerate() {
            for second in &first_words[index + 1..] {
                keys.push(key_hash(KEY_WORD_INITIAL, &[first, prefix(second, 1)]));
                keys.push(key_hash(KEY_WORD_INITIAL, &[second, prefix(first, 1)]));
            }
        }
    }
    keys.sort_unstable();
    keys.dedup();
}

/// The keys of the distinct name words of a subject (both umlaut foldings).
fn word_keys(subject: &MatchSubject, keys: &mut Vec<u32>) {
    for name in [subject.name.as_str(), subject.alt_name.as_str()] {
        for word in name.split(' ').filter(|word| !word.is_empty()) {
            keys.push(key_hash(KEY_TOKEN, &[word]));
        }
    }
    keys.sort_unstable();
    keys.dedup();
}

/// Street and house number run together ("hauptstr" + "12a" → "hauptstr12a"), so a number
/// typed into the street field is the same address as one in its own field.
pub fn street_with_number(street: &str, house_number: &str) -> String {
    format!("{street}{house_number}")
}

/// The keys under which a record is found by its exact name and address (one per spelling of
/// its name: umlauts expanded and stripped); none when its name, street, postal code or city is
/// missing. The keys only narrow the search: `score::same_name_and_address` decides.
pub fn same_address_keys(subject: &MatchSubject, keys: &mut Vec<u32>) {
    if subject.street.is_empty() || subject.postal_code.is_empty() || subject.city.is_empty() {
        return;
    }
    let street = street_with_number(&subject.street, &subject.house_number);
    for name in [subject.name.as_str(), subject.alt_name.as_str()] {
        if !name.is_empty() {
            keys.push(key_hash(
                KEY_SAME_ADDRESS,
                &[name, &street, &subject.postal_code, &subject.city],
            ));
        }
    }
    keys.sort_unstable();
    keys.dedup();
}

/// The key of a whole normalized name: how many customers of a run share it tells how many of
/// them an organization of that name could be.
pub fn name_key(name: &str) -> u32 {
    key_hash(KEY_NAME, &[name])
}

pub fn customer_key(customer_number: &str) -> u32 {
    key_hash(KEY_CUSTOMER, &[customer_number])
}

pub fn vat_key(vat: &str) -> u32 {
    key_hash(KEY_VAT, &[vat])
}

/// The key of a phone number: its national number only, so a number written nationally
/// without a known country meets its international writing.
pub fn phone_key(phone: &str) -> u32 {
    let national = phone
        .split_once(' ')
        .map_or(phone, |(_, national)| national);
    key_hash(KEY_PHONE, &[national])
}

pub fn domain_key(domain: &str) -> u32 {
    key_hash(KEY_DOMAIN, &[domain])
}

/// The key of a name in a postal code: how many customers of a run share it tells whether a
/// postal code alone places an organization at this customer.
pub fn name_postal_key(name: &str, postal_code: &str) -> u32 {
    key_hash(KEY_NAME_POSTAL, &[name, postal_code])
}

/// The keys of a subject's other evidence (VAT number, phone, domain), under which a record is
/// found however its name was typed.
pub fn evidence_keys(subject: &MatchSubject, keys: &mut Vec<u32>) {
    if !subject.vat.is_empty() {
        keys.push(vat_key(&subject.vat));
    }
    if !subject.phone.is_empty() {
        keys.push(phone_key(&subject.phone));
    }
    if !subject.domain.is_empty() {
        keys.push(domain_key(&subject.domain));
    }
    if !subject.name.is_empty() && !subject.postal_code.is_empty() {
        keys.push(name_postal_key(&subject.name, &subject.postal_code));
    }
}

/// A hasher for keys that already are hashes: one multiply spreads them over the table.
#[derive(Default, Clone, Copy)]
pub struct KeyHasher(u64);

impl std::hash::Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 = (self.0 ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3);
        }
    }

    fn write_u32(&mut self, value: u32) {
        self.0 = u64::from(value).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

type KeyMap<V> = std::collections::HashMap<u32, V, std::hash::BuildHasherDefault<KeyHasher>>;

/// Which keys an index files its records under.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Filing {
    /// Every key the matcher looks up.
    #[default]
    Everything,
    /// The keys the search for duplicates inside ECC looks up (fuzzy and evidence keys), for
    /// an index built for that search alone: no exact name-and-address keys (about 7 MB at a
    /// million customers) and no customer numbers.
    Duplicates,
}

/// The keys a record is filed under in the postings.
fn posting_keys(subject: &MatchSubject, filing: Filing, keys: &mut Vec<u32>) {
    fuzzy_keys(subject, keys);
    if filing == Filing::Everything {
        same_address_keys(subject, keys);
        if !subject.customer_number.is_empty() {
            keys.push(customer_key(&subject.customer_number));
        }
    }
    evidence_keys(subject, keys);
}

/// A subject's strings in the order the arena keeps them.
fn subject_parts(subject: &MatchSubject) -> [&String; PARTS] {
    [
        &subject.name,
        &subject.alt_name,
        &subject.postal_code,
        &subject.city,
        &subject.street,
        &subject.house_number,
        &subject.country,
        &subject.customer_number,
        &subject.vat,
        &subject.phone,
        &subject.domain,
    ]
}

/// What records take in an index, counted before it is built (see
/// [`RecordIndexBuilder::count`]).
#[derive(Debug, Clone, Default)]
pub struct IndexSizes {
    filing: Filing,
    records: usize,
    arena_bytes: usize,
    keys: KeyCounts,
}

impl IndexSizes {
    /// Nothing counted yet, for an index that files its records as `filing` says.
    pub fn filed(filing: Filing) -> Self {
        IndexSizes {
            filing,
            ..IndexSizes::default()
        }
    }

    pub fn filing(&self) -> Filing {
        self.filing
    }

    pub fn records(&self) -> usize {
        self.records
    }
}

/// Collects records, then freezes them into a `RecordIndex`.
#[derive(Default)]
pub struct RecordIndexBuilder {
    filing: Filing,
    entries: Vec<Entry>,
    ids: Ids,
    arena: String,
    postings: PostingsBuilder,
    scratch: Vec<u32>,
    /// Records per name word (by its key), for the word weights.
    word_counts: KeyMap<u32>,
}

fn clip(text: &str) -> &str {
    if text.len() <= 255 {
        return text;
    }
    let mut end = 255;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// The subject with the customer number a link-table row gives it (internal or display form
/// in `linked`), when that is not the number it holds already.
fn relinked(subject: &MatchSubject, linked: Option<&str>) -> Option<MatchSubject> {
    let linked = mlc_canonical::alpha_output(linked?);
    (linked != clip(&subject.customer_number)).then(|| MatchSubject {
        customer_number: linked,
        ..subject.clone()
    })
}

impl RecordIndexBuilder {
    pub fn with_capacity(records: usize) -> Self {
        RecordIndexBuilder {
            filing: Filing::Everything,
            entries: Vec::with_capacity(records),
            ids: Ids::default(),
            arena: String::with_capacity(records * 48),
            postings: PostingsBuilder::default(),
            scratch: Vec::new(),
            word_counts: KeyMap::default(),
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Adds a record; returns its number in the index.
    pub fn add(&mut self, id: i64, subject: &MatchSubject) -> u32 {
        let number = u32::try_from(self.entries.len()).expect("fewer than 4 billion records");
        let start = u32::try_from(self.arena.len()).expect("the arena stays below 4 GiB");
        let mut lengths = [0u8; PARTS];
        for (slot, part) in subject_parts(subject).into_iter().enumerate() {
            let clipped = clip(part);
            self.arena.push_str(clipped);
            lengths[slot] = clipped.len() as u8;
        }
        self.entries.push(Entry { start, lengths });
        self.ids.push(number, id);
        let mut keys = std::mem::take(&mut self.scratch);
        keys.clear();
        word_keys(subject, &mut keys);
        for key in &keys {
            *self.word_counts.entry(*key).or_default() += 1;
        }
        keys.clear();
        posting_keys(subject, self.filing, &mut keys);
        for key in &keys {
            self.postings.push(*key, number);
        }
        self.scratch = keys;
        number
    }

    /// Counts what `add` will file `subject` under into `sizes` (a first pass over records
    /// kept on disk, for [`RecordIndexBuilder::counted`]).
    pub fn count(subject: &MatchSubject, sizes: &mut IndexSizes, keys: &mut Vec<u32>) {
        keys.clear();
        posting_keys(subject, sizes.filing, keys);
        for key in keys.iter() {
            sizes.keys.count(*key);
        }
        sizes.records += 1;
        sizes.arena_bytes += subject_parts(subject)
            .iter()
            .map(|part| clip(part).len())
            .sum::<usize>();
    }

    /// The same for a record [`RecordIndexBuilder::add_linked`] will add with `linked`.
    pub fn count_linked(
        subject: &MatchSubject,
        linked: Option<&str>,
        sizes: &mut IndexSizes,
        keys: &mut Vec<u32>,
    ) {
        match relinked(subject, linked) {
            Some(relinked) => RecordIndexBuilder::count(&relinked, sizes, keys),
            None => RecordIndexBuilder::count(subject, sizes, keys),
        }
    }

    /// Adds a record whose customer number is `linked` (a link-table row: the link table wins
    /// over the number in the record's custom field). `apply_links` gives the same record,
    /// filed under the field's number as well, which no lookup by number takes (it compares
    /// the record's number). Returns its number in the index.
    pub fn add_linked(&mut self, id: i64, subject: &MatchSubject, linked: Option<&str>) -> u32 {
        match relinked(subject, linked) {
            Some(relinked) => self.add(id, &relinked),
            None => self.add(id, subject),
        }
    }

    /// A builder for the records `sizes` counted, added in the same order: the arena and the
    /// postings are allocated once at their size, and the postings placed straight into their
    /// buckets.
    pub fn counted(sizes: &IndexSizes) -> Self {
        RecordIndexBuilder {
            filing: sizes.filing,
            entries: Vec::with_capacity(sizes.records),
            ids: Ids::default(),
            arena: String::with_capacity(sizes.arena_bytes),
            postings: PostingsBuilder::counted(&sizes.keys),
            scratch: Vec::new(),
            word_counts: KeyMap::default(),
        }
    }

    /// Applies link-table rows `(id, customer number)`: the link table wins over the number in
    /// a record's custom field.
    pub fn apply_links(&mut self, links: &[(i64, String)]) {
        if links.is_empty() {
            return;
        }
        if self.ids.ascend() {
            for (id, customer_number) in links {
                if let Some(number) = self.ids.search(*id, self.entries.len()) {
                    self.set_customer_number(number, customer_number);
                }
            }
            return;
        }
        let by_id = self.ids.in_order(self.entries.len());
        for (id, customer_number) in links {
            if let Ok(position) = by_id.binary_search_by_key(id, |(known, _)| *known) {
                self.set_customer_number(by_id[position].1, customer_number);
            }
        }
    }

    fn set_customer_number(&mut self, number: u32, customer_number: &str) {
        let Some(entry) = self.entries.get(number as usize).copied() else {
            return;
        };
        let record = RecordIndex::read(&self.arena, &entry, self.ids.get(number));
        if record.customer_number == customer_number {
            return;
        }
        // The record's strings are written again at the end of the arena with the new number;
        // the old bytes stay unused (links are few next to the records).
        let mut parts: Vec<String> = record.parts().iter().map(|part| part.to_string()).collect();
        parts[CUSTOMER] = customer_number.to_string();
        let start = u32::try_from(self.arena.len()).expect("the arena stays below 4 GiB");
        let mut lengths = [0u8; PARTS];
        for (slot, part) in parts.iter().enumerate() {
            let clipped = clip(part);
            self.arena.push_str(clipped);
            lengths[slot] = clipped.len() as u8;
        }
        self.entries[number as usize] = Entry { start, lengths };
        self.postings.push(customer_key(customer_number), number);
    }

    pub fn finish(mut self) -> RecordIndex {
        self.arena.shrink_to_fit();
        self.entries.shrink_to_fit();
        // Records added in the order of their ids (the customers of a run by position, the
        // organizations as the list endpoint pages them) are searched as they are: no
        // directory from id to number (16 bytes a record).
        let by_id = if self.ids.ascend() {
            Vec::new()
        } else {
            self.ids.in_order(self.entries.len())
        };
        self.word_counts.shrink_to_fit();
        self.ids.0.shrink_to_fit();
        RecordIndex {
            filing: self.filing,
            entries: self.entries,
            ids: self.ids,
            arena: self.arena,
            postings: self.postings.finish(),
            by_id,
            word_counts: self.word_counts,
        }
    }
}

/// The frozen index.
#[derive(Debug, Default)]
pub struct RecordIndex {
    filing: Filing,
    entries: Vec<Entry>,
    ids: Ids,
    arena: String,
    postings: Postings,
    /// (id, record number), sorted; empty when the records' ids ascend with their numbers.
    by_id: Vec<(i64, u32)>,
    word_counts: KeyMap<u32>,
}

impl RecordIndex {
    fn read<'a>(arena: &'a str, entry: &Entry, id: i64) -> IndexedRecord<'a> {
        let mut parts: [&str; PARTS] = [""; PARTS];
        let mut offset = entry.start as usize;
        for (slot, length) in entry.lengths.iter().enumerate() {
            let end = offset + *length as usize;
            parts[slot] = &arena[offset..end];
            offset = end;
        }
        IndexedRecord {
            id,
            name: parts[NAME],
            alt_name: parts[ALT_NAME],
            postal_code: parts[POSTAL],
            city: parts[CITY],
            street: parts[STREET],
            house_number: parts[NUMBER],
            country: parts[COUNTRY],
            customer_number: parts[CUSTOMER],
            vat: parts[VAT],
            phone: parts[PHONE],
            domain: parts[DOMAIN],
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn filing(&self) -> Filing {
        self.filing
    }

    pub fn record(&self, number: u32) -> IndexedRecord<'_> {
        RecordIndex::read(
            &self.arena,
            &self.entries[number as usize],
            self.ids.get(number),
        )
    }

    /// The record number of an id, if the index holds it.
    pub fn number_of(&self, id: i64) -> Option<u32> {
        if self.by_id.is_empty() {
            return self.ids.search(id, self.entries.len());
        }
        self.by_id
            .binary_search_by(|(known, _)| known.cmp(&id))
            .ok()
            .map(|position| self.by_id[position].1)
    }

    /// The record numbers under one key.
    pub fn postings(&self, key: u32) -> impl Iterator<Item = u32> + '_ {
        self.postings.numbers(key).iter().copied()
    }

    pub fn posting_count(&self, key: u32) -> usize {
        self.postings.range(key).len()
    }

    /// Candidate records for a subject by its fuzzy keys and its other evidence (VAT number,
    /// phone, domain), each with the weight of the keys it
    /// shares (rarer keys weigh more), heaviest first, at most `limit`.
    pub fn candidates(
        &self,
        subject: &MatchSubject,
        limit: usize,
        keys: &mut Vec<u32>,
        found: &mut Vec<u64>,
    ) -> Vec<(u32, u32)> {
        keys.clear();
        found.clear();
        fuzzy_keys(subject, keys);
        evidence_keys(subject, keys);
        for key in keys.iter() {
            let numbers = self.postings.numbers(*key);
            if numbers.len() > COMMON_KEY_LIMIT {
                continue;
            }
            // A key few records share says more than one many share.
            let weight = 64 / (1 + u64::from(usize::BITS - numbers.len().leading_zeros()));
            found.extend(
                numbers
                    .iter()
                    .map(|number| (u64::from(*number) << 32) | weight),
            );
        }
        found.sort_unstable();
        let mut counted: Vec<(u32, u32)> = Vec::new();
        for entry in found.iter() {
            let number = (entry >> 32) as u32;
            let weight = (entry & 0xffff_ffff) as u32;
            match counted.last_mut() {
                Some((last, total)) if *last == number => *total += weight,
                _ => counted.push((number, weight)),
            }
        }
        if counted.len() > limit {
            counted.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
            // Records as good as the last one kept are kept too (up to twice the limit): a
            // common name must not lose its true match to an arbitrary cut among equals.
            let cutoff = counted[limit - 1].1;
            let kept = counted
                .iter()
                .take(limit * 2)
                .take_while(|(_, weight)| *weight >= cutoff)
                .count()
                .max(limit);
            counted.truncate(kept);
        }
        counted
    }

    /// How much a name word tells apart: ln((records + 1) / (records with the word + 1)) + 1,
    /// so a word every tenth company has weighs little and a rare surname much.
    pub fn word_weight(&self, word: &str) -> f64 {
        let with_word = self
            .word_counts
            .get(&key_hash(KEY_TOKEN, &[word]))
            .copied()
            .unwrap_or(0);
        ((self.entries.len() as f64 + 1.0) / (with_word as f64 + 1.0)).ln() + 1.0
    }

    /// Bytes held, for the benchmark's figures.
    pub fn heap_bytes(&self) -> usize {
        self.entries.capacity() * std::mem::size_of::<Entry>()
            + self.arena.capacity()
            + self.ids.heap_bytes()
            + self.postings.heap_bytes()
            + self.by_id.capacity() * std::mem::size_of::<(i64, u32)>()
            + self.word_counts.capacity() * 16
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subject(name: &str) -> MatchSubject {
        MatchSubject::from_parts(name, "Hauptstr.", "1", "10115", "Berlin", "DE", None, None)
    }

    /// Ids in the order added, searched with and without a directory from id to number, with
    /// one record's customer number set by a link.
    fn index_of(ids: &[i64]) -> RecordIndex {
        let mut builder = RecordIndexBuilder::with_capacity(ids.len());
        for id in ids {
            builder.add(*id, &subject(&format!("Firma {id}")));
        }
        builder.apply_links(&[(ids[1], "4711".to_string())]);
        builder.finish()
    }

    #[test]
    fn records_are_found_by_id_whether_their_ids_ascend_or_not() {
        for (ids, missing) in [
            (vec![3i64, 8, 20, 21, 400], vec![0, 4, 22, 401]),
            (vec![20, 3, 400, 8, 21], vec![0, 4, 22, 401]),
            // Each id its number (a run's customers): no ids are kept.
            (vec![0, 1, 2, 3, 4], vec![-1, 5, 400]),
            // The first ids their numbers, then not.
            (vec![0, 1, 7, 9, 12], vec![-1, 2, 8, 13]),
            (vec![0, 1, 9, 3, 7], vec![-1, 2, 4, 8, 10]),
        ] {
            let index = index_of(&ids);
            assert_eq!(index.by_id.is_empty(), ids.windows(2).all(|w| w[0] < w[1]));
            let numbered = ids.iter().enumerate().all(|(n, id)| *id == n as i64);
            assert_eq!(index.ids.0.is_empty(), numbered, "{ids:?}");
            for id in &ids {
                let number = index.number_of(*id).expect("an added id");
                assert_eq!(index.record(number).id, *id);
                assert_eq!(
                    index.record(number).name,
                    subject(&format!("Firma {id}")).name
                );
            }
            for missing in missing {
                assert_eq!(index.number_of(missing), None, "{ids:?} {missing}");
            }
            let linked = index.number_of(ids[1]).unwrap();
            assert_eq!(index.record(linked).customer_number, "4711");
            assert_eq!(
                index.postings(customer_key("4711")).collect::<Vec<_>>(),
                vec![linked]
            );
        }
    }
}
