//! The simulator's data model: one structured record per customer master (KNA1 with its KNB1,
//! KNVV, KNVP, KNVK and BAS entries), vendor contacts, customizing, and change documents.
//!
//! Tables are rendered from these records on demand (`rows.rs`), so every table stays consistent
//! with the others after a mutation, and the truth (`truth.rs`) is computed from the same records.
//! Values that come from the fixed vocabulary are `&'static str`, so a million customers stay
//! compact.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::vocabulary::{COMPANY_CODES, PAYMENT_TERMS, SALES_AREAS};

/// Text of the simulated database. It lives in a process-wide append-only arena: a million
/// customers hold tens of millions of short strings, and one allocation each would cost more
/// than the text itself. Arena text is never freed, which suits a simulator that serves its
/// data set for the life of the process (tests leak a few kilobytes per simulator).
pub type Text = &'static str;

const ARENA_CHUNK: usize = 1 << 20;

static ARENA: Mutex<Option<&'static mut [u8]>> = Mutex::new(None);

/// Copies `value` into the arena.
pub fn text(value: impl AsRef<str>) -> Text {
    let value = value.as_ref();
    if value.is_empty() {
        return "";
    }
    let length = value.len();
    if length > ARENA_CHUNK / 4 {
        return Box::leak(value.to_string().into_boxed_str());
    }
    let mut guard = ARENA
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let chunk = match guard.take() {
        Some(chunk) if chunk.len() >= length => chunk,
        _ => Box::leak(vec![0u8; ARENA_CHUNK].into_boxed_slice()),
    };
    let (used, rest) = chunk.split_at_mut(length);
    used.copy_from_slice(value.as_bytes());
    *guard = Some(rest);
    std::str::from_utf8(used).unwrap_or("")
}

/// Whether an ADR6/ADR2 row is in use: SAP keeps numbers flagged "not used" (FLG_NOUSE) and
/// numbers outside their validity (VALID_FROM/VALID_TO, "YYYYMMDDHHMMSS", blank = open).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Validity {
    #[default]
    Current,
    NotUsed,
    /// Valid until the end of this day (YYYYMMDD), long past.
    ExpiredOn(u32),
    /// Valid from the start of this day (YYYYMMDD), far ahead.
    ValidFrom(u32),
}

impl Validity {
    pub fn not_used_flag(self) -> &'static str {
        flag(self == Validity::NotUsed)
    }

    pub fn valid_from(self) -> String {
        match self {
            Validity::ValidFrom(date) => format!("{date:08}000000"),
            _ => String::new(),
        }
    }

    pub fn valid_to(self) -> String {
        match self {
            Validity::ExpiredOn(date) => format!("{date:08}235959"),
            _ => String::new(),
        }
    }
}

/// One e-mail address (ADR6 row).
#[derive(Debug, Clone, Default)]
pub struct Email {
    pub consnumber: u16,
    pub address: Text,
    pub default: bool,
    pub validity: Validity,
}

/// One telephone number (ADR2 row).
#[derive(Debug, Clone, Default)]
pub struct Phone {
    pub consnumber: u16,
    pub number: Text,
    pub extension: Text,
    pub country: &'static str,
    pub default: bool,
    pub mobile: bool,
    pub validity: Validity,
}

/// Communication rows that exist in ADR6/ADR2 but are not in use (`Validity` other than
/// `Current`): they are rendered into the tables, and the truth leaves them out.
#[derive(Debug, Clone, Default)]
pub struct InactiveCommunication {
    pub emails: Vec<Email>,
    pub phones: Vec<Phone>,
}

/// A contact person's private address (KNVK-ADRNP_2): e-mails and phones under its own
/// ADDRNUMBER with the person's PERSNUMBER. Never part of the truth.
#[derive(Debug, Clone)]
pub struct PrivateAddress {
    pub address_number: u32,
    pub emails: Vec<Email>,
    pub phones: Vec<Phone>,
}

/// Block codes (AUFSD, LIFSD, FAKSD) as small indices: a million customers stay compact.
pub const BLOCK_CODES: [&str; 3] = ["", "01", "02"];

fn block_index(code: &str) -> u8 {
    BLOCK_CODES
        .iter()
        .position(|known| *known == code)
        .unwrap_or(0) as u8
}

/// Payment-terms key as an index into `PAYMENT_TERMS`, 0 for none.
fn terms_index(code: &str) -> u8 {
    PAYMENT_TERMS
        .iter()
        .position(|(known, _, _)| *known == code)
        .map_or(0, |position| position as u8 + 1)
}

fn terms_code(index: u8) -> &'static str {
    if index == 0 {
        ""
    } else {
        PAYMENT_TERMS[index as usize - 1].0
    }
}

/// The order, delivery and billing blocks of a customer or sales area.
#[derive(Debug, Clone, Copy, Default)]
pub struct Blocks([u8; 3]);

impl Blocks {
    pub fn new(order: &str, delivery: &str, billing: &str) -> Self {
        Self([
            block_index(order),
            block_index(delivery),
            block_index(billing),
        ])
    }

    pub fn order(&self) -> &'static str {
        BLOCK_CODES[self.0[0] as usize]
    }

    pub fn delivery(&self) -> &'static str {
        BLOCK_CODES[self.0[1] as usize]
    }

    pub fn billing(&self) -> &'static str {
        BLOCK_CODES[self.0[2] as usize]
    }

    pub fn any(&self) -> bool {
        self.0.iter().any(|code| *code != 0)
    }
}

/// KNB1: the customer in one company code.
#[derive(Debug, Clone, Copy)]
pub struct CompanyData {
    company: u8,
    terms: u8,
    pub posting_block: bool,
    pub deletion_flag: bool,
}

impl CompanyData {
    pub fn new(
        company_code: &str,
        payment_terms: &str,
        posting_block: bool,
        deletion_flag: bool,
    ) -> Self {
        let company = COMPANY_CODES
            .iter()
            .position(|code| *code == company_code)
            .unwrap_or(0) as u8;
        Self {
            company,
            terms: terms_index(payment_terms),
            posting_block,
            deletion_flag,
        }
    }

    pub fn company_code(&self) -> &'static str {
        COMPANY_CODES[self.company as usize]
    }

    pub fn payment_terms(&self) -> &'static str {
        terms_code(self.terms)
    }

    pub fn set_payment_terms(&mut self, code: &str) {
        self.terms = terms_index(code);
    }

    pub fn reconciliation_account(&self) -> &'static str {
        "0000140000"
    }
}

/// KNVV: the customer in one sales area, with its ship-to partner (KNVP WE).
#[derive(Debug, Clone, Copy)]
pub struct SalesData {
    area: u8,
    terms: u8,
    pub deletion_flag: bool,
    pub blocks: Blocks,
    /// Index of the ship-to customer; `None` means the customer ships to itself.
    pub ship_to: Option<u32>,
}

impl SalesData {
    /// `area` is an index into `SALES_AREAS`.
    pub fn new(area: usize, payment_terms: &str, deletion_flag: bool, blocks: Blocks) -> Self {
        Self {
            area: area as u8,
            terms: terms_index(payment_terms),
            deletion_flag,
            blocks,
            ship_to: None,
        }
    }

    pub fn sales_org(&self) -> &'static str {
        SALES_AREAS[self.area as usize].0
    }

    pub fn channel(&self) -> &'static str {
        SALES_AREAS[self.area as usize].1
    }

    pub fn division(&self) -> &'static str {
        SALES_AREAS[self.area as usize].2
    }

    pub fn currency(&self) -> &'static str {
        if self.sales_org() == "3000" {
            "USD"
        } else {
            "EUR"
        }
    }

    pub fn payment_terms(&self) -> &'static str {
        terms_code(self.terms)
    }

    pub fn set_payment_terms(&mut self, code: &str) {
        self.terms = terms_index(code);
    }

    pub fn is_area(&self, area: &SalesArea) -> bool {
        self.sales_org() == area.sales_org
            && self.channel() == area.channel
            && self.division() == area.division
    }
}

/// A sales area as configured (e.g. 1000-10-00).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SalesArea {
    pub sales_org: String,
    pub channel: String,
    pub division: String,
}

/// A KNVK contact person with its BAS person (ADRP) and communication data (ADR6/ADR2).
#[derive(Debug, Clone)]
pub struct Contact {
    pub parnr: u32,
    pub prsnr: u32,
    pub first_name: &'static str,
    pub last_name: &'static str,
    /// KNVK-ABTPA (free text, CHAR 12).
    pub department: &'static str,
    /// KNVK-PAFKT, "" when not maintained.
    pub function: &'static str,
    /// ADRP-SEX: '1' male, '2' female, ' ' unknown.
    pub sex: &'static str,
    pub language: &'static str,
    pub created_on: u32,
    /// Work e-mails and phones in use (ADDRNUMBER = the customer's, PERSNUMBER = PRSNR).
    pub emails: Vec<Email>,
    pub phones: Vec<Phone>,
    /// Work rows not in use (flagged or out of validity).
    pub inactive: Option<Box<InactiveCommunication>>,
    /// KNVK-ADRNP_2 with its rows, for a share of contacts.
    pub private: Option<Box<PrivateAddress>>,
    /// KNVK-LOEVM.
    pub deletion_flag: bool,
}

/// A contact person of a vendor: KNVK with LIFNR set and KUNNR blank.
#[derive(Debug, Clone)]
pub struct VendorContact {
    pub vendor: Text,
    pub address_number: u32,
    pub contact: Contact,
}

/// KNA1 address copies that went stale because the address was changed in BAS only.
#[derive(Debug, Clone)]
pub struct StaleKna1Copy {
    pub street: Text,
    pub city: &'static str,
    pub postal_code: Text,
    pub phone: Text,
}

#[derive(Debug, Clone)]
pub struct CustomerMaster {
    /// KUNNR in internal form, trimmed ("0000100042" or "CPD0000001").
    pub kunnr: Text,
    pub address_number: u32,
    /// NAME1..NAME4, identical in KNA1 and ADRC (generated to fit KNA1's 35 characters).
    pub name: [Text; 4],
    pub street: Text,
    pub house_number: Text,
    pub postal_code: Text,
    pub city: &'static str,
    pub region: &'static str,
    pub country: &'static str,
    pub language: &'static str,
    pub account_group: &'static str,
    pub one_time: bool,
    pub created_on: u32,
    pub created_by: &'static str,
    pub deletion_flag: bool,
    pub posting_block: bool,
    pub blocks: Blocks,
    pub vat: Text,
    pub industry: &'static str,
    pub emails: Vec<Email>,
    pub phones: Vec<Phone>,
    /// The company's own rows not in use (flagged or out of validity).
    pub inactive: Option<Box<InactiveCommunication>>,
    pub company_codes: Vec<CompanyData>,
    pub sales_areas: Vec<SalesData>,
    pub contacts: Vec<Contact>,
    pub stale_copy: Option<Box<StaleKna1Copy>>,
    pub duplicate_of: Option<u32>,
    pub dirty: Option<&'static str>,
}

impl CustomerMaster {
    /// The default e-mail: FLGDEFAULT = 'X', else the lowest CONSNUMBER.
    pub fn default_email(&self) -> Option<&Email> {
        default_entry(
            &self.emails,
            |email| email.default,
            |email| email.consnumber,
        )
    }

    pub fn default_phone(&self) -> Option<&Phone> {
        default_entry(
            &self.phones,
            |phone| phone.default,
            |phone| phone.consnumber,
        )
    }

    /// KNA1-STRAS: street and house number as the redundant KNA1 copy holds it (35 chars).
    pub fn kna1_street(&self) -> String {
        if let Some(stale) = &self.stale_copy {
            return stale.street.to_string();
        }
        street_line(self.street, self.house_number)
    }

    pub fn kna1_city(&self) -> &str {
        self.stale_copy
            .as_ref()
            .map_or(self.city, |stale| stale.city)
    }

    pub fn kna1_postal_code(&self) -> &str {
        self.stale_copy
            .as_ref()
            .map_or(self.postal_code, |stale| stale.postal_code)
    }

    pub fn kna1_phone(&self) -> String {
        if let Some(stale) = &self.stale_copy {
            return stale.phone.to_string();
        }
        self.default_phone()
            .map(|phone| truncate(phone.number, 16))
            .unwrap_or_default()
    }

    /// Freezes the KNA1 copies before a change made in BAS only, which does not update them.
    pub fn freeze_kna1_copy(&mut self) {
        if self.stale_copy.is_none() {
            self.stale_copy = Some(Box::new(StaleKna1Copy {
                street: text(self.kna1_street()),
                city: self.city,
                postal_code: self.postal_code,
                phone: text(self.kna1_phone()),
            }));
        }
    }

    pub fn sort_field(&self) -> String {
        let upper: String = self.name[0]
            .chars()
            .filter(|c| !c.is_control())
            .collect::<String>()
            .to_uppercase();
        truncate(upper.trim(), 10)
    }
}

pub fn default_entry<T>(
    entries: &[T],
    is_default: impl Fn(&T) -> bool,
    consnumber: impl Fn(&T) -> u16,
) -> Option<&T> {
    entries
        .iter()
        .find(|entry| is_default(entry))
        .or_else(|| entries.iter().min_by_key(|entry| consnumber(entry)))
}

/// Entries with the default first, then by CONSNUMBER.
pub fn default_first<T>(
    entries: &[T],
    is_default: impl Fn(&T) -> bool,
    consnumber: impl Fn(&T) -> u16,
) -> Vec<&T> {
    let mut ordered: Vec<&T> = entries.iter().collect();
    ordered.sort_by_key(|entry| consnumber(entry));
    if let Some(position) = ordered.iter().position(|entry| is_default(entry)) {
        let default = ordered.remove(position);
        ordered.insert(0, default);
    }
    ordered
}

pub fn street_line(street: &str, house_number: &str) -> String {
    let line = if house_number.is_empty() {
        street.to_string()
    } else {
        format!("{street} {house_number}")
    };
    truncate(&line, 35)
}

/// A name line in BAS (ADRC-NAME1..NAME4), where the customer's name is kept.
pub const ADRC_NAME_LENGTH: usize = 40;
/// KNA1-NAME1..NAME4: the shorter copies of the ADRC lines, cut at 35 characters.
pub const KNA1_NAME_LENGTH: usize = 35;

pub fn truncate(text: &str, length: usize) -> String {
    text.chars().take(length).collect()
}

/// A change document: CDHDR with its CDPOS items.
#[derive(Debug, Clone)]
pub struct ChangeDocument {
    /// CDHDR-OBJECTCLAS: DEBI for the customer master, ADRESSE for Business Address Services.
    pub object_class: &'static str,
    pub object_id: Box<str>,
    pub change_number: u32,
    pub user: &'static str,
    pub date: u32,
    pub time: u32,
    pub transaction: &'static str,
    pub change_indicator: &'static str,
    pub items: Vec<ChangeItem>,
}

#[derive(Debug, Clone)]
pub struct ChangeItem {
    pub table: &'static str,
    pub table_key: Box<str>,
    pub field: &'static str,
    pub change_indicator: &'static str,
    pub value_new: Box<str>,
    pub value_old: Box<str>,
}

/// The contact numbers (PARNR) one customer's contacts span.
#[derive(Debug, Clone, Copy)]
pub struct ContactRange {
    pub first_contact: u32,
    pub last_contact: u32,
    pub customer: u32,
}

// Number ranges of the simulated client: where each kind of number starts, in one place.

/// KUNNR of customers with internal numbering (account group 0001), written 10 digits wide.
pub const FIRST_CUSTOMER_NUMBER: u32 = 100_000;
/// KUNNR of one-time customers (account group CPD): `CPD00001`, ...
pub const FIRST_ONE_TIME_NUMBER: u32 = 1;
/// Contact persons (PARNR) and their BAS persons (PRSNR, ADRP-PERSNUMBER) are numbered
/// together, so a contact's person number is always its contact number plus
/// [`PERSON_NUMBER_OFFSET`].
pub const FIRST_CONTACT_NUMBER: u32 = 1;
pub const FIRST_PERSON_NUMBER: u32 = 500_000;
/// PRSNR = PARNR + this offset for every contact.
pub const PERSON_NUMBER_OFFSET: u32 = FIRST_PERSON_NUMBER - FIRST_CONTACT_NUMBER;
/// ADRNR of customers' and vendor contacts' addresses.
pub const FIRST_ADDRESS_NUMBER: u32 = 10_000;
/// ADRNR of contacts' private addresses (KNVK-ADRNP_2): the person number plus this offset, a
/// range of its own so the other numbers stay as they were.
pub const PRIVATE_ADDRESS_OFFSET: u32 = 3_000_000_000;
/// CHANGENR of change documents.
pub const FIRST_CHANGE_NUMBER: u32 = 1;
/// LIFNR of the vendors whose contact persons share the contact tables with customers'.
pub const VENDOR_NUMBERS: std::ops::Range<u32> = 300_000..350_000;

/// Everything the simulated ECC client holds.
#[derive(Debug, Default)]
pub struct EccData {
    pub client: String,
    /// TTZCU-TZONESYS: the system's time zone as SAP names it (TTZZ), e.g. "CET".
    pub system_time_zone: &'static str,
    pub customers: Vec<CustomerMaster>,
    pub vendor_contacts: Vec<VendorContact>,
    pub change_documents: Vec<ChangeDocument>,
    pub index_by_kunnr: HashMap<Text, u32>,
    /// Physical row order of customer-level tables: a seeded permutation of the customers,
    /// with customers created later appended, as a heap table would.
    pub storage_order: Vec<u32>,
    /// Position of each customer in `storage_order`.
    pub storage_rank: Vec<u32>,
    /// The contact numbers of each customer with contacts, in number order.
    pub contact_ranges: Vec<ContactRange>,
    /// Customer indices sorted by KUNNR, for BAPIs and OData, which read in key order.
    pub key_order: Vec<u32>,
    pub next_customer_number: u32,
    pub next_one_time_number: u32,
    pub next_contact_number: u32,
    pub next_address_number: u32,
    pub next_person_number: u32,
    pub next_change_number: u32,
}

impl EccData {
    pub fn customer_index(&self, kunnr: &str) -> Option<usize> {
        self.index_by_kunnr
            .get(kunnr.trim())
            .map(|index| *index as usize)
    }

    /// Rebuilds the key order and the storage ranks after customers were added.
    pub fn rebuild_indexes(&mut self) {
        self.rebuild_key_order();
        let mut rank = vec![0u32; self.customers.len()];
        for (position, index) in self.storage_order.iter().enumerate() {
            rank[*index as usize] = position as u32;
        }
        self.storage_rank = rank;
        self.contact_ranges = self
            .customers
            .iter()
            .enumerate()
            .filter_map(|(index, customer)| {
                let first = customer
                    .contacts
                    .iter()
                    .map(|contact| contact.parnr)
                    .min()?;
                let last = customer
                    .contacts
                    .iter()
                    .map(|contact| contact.parnr)
                    .max()?;
                Some(ContactRange {
                    first_contact: first,
                    last_contact: last,
                    customer: index as u32,
                })
            })
            .collect();
        debug_assert!(self
            .contact_ranges
            .windows(2)
            .all(|pair| pair[0].last_contact < pair[1].first_contact));
        debug_assert!(self
            .customers
            .iter()
            .flat_map(|customer| &customer.contacts)
            .all(|contact| contact.prsnr - contact.parnr == PERSON_NUMBER_OFFSET));
        debug_assert!(self
            .customers
            .windows(2)
            .all(|pair| pair[0].address_number < pair[1].address_number));
    }

    fn rebuild_key_order(&mut self) {
        let mut order: Vec<u32> = (0..self.customers.len() as u32).collect();
        order.sort_by(|a, b| {
            self.customers[*a as usize]
                .kunnr
                .cmp(self.customers[*b as usize].kunnr)
        });
        self.key_order = order;
    }

    pub fn customers_in_key_order(&self) -> impl Iterator<Item = &CustomerMaster> + '_ {
        self.key_order
            .iter()
            .map(|index| &self.customers[*index as usize])
    }

    pub fn contact_count(&self) -> usize {
        self.customers
            .iter()
            .map(|customer| customer.contacts.len())
            .sum()
    }

    pub fn find_contact(&self, parnr: u32) -> Option<(usize, usize)> {
        self.customers
            .iter()
            .enumerate()
            .find_map(|(customer_index, customer)| {
                customer
                    .contacts
                    .iter()
                    .position(|contact| contact.parnr == parnr)
                    .map(|contact_index| (customer_index, contact_index))
            })
    }
}

/// SAP's name (table TTZZ) of the zone an IANA name stands for; "UTC" for one it does not know.
pub fn sap_time_zone(iana: &str) -> &'static str {
    match iana {
        "Europe/Berlin" | "Europe/Vienna" | "Europe/Zurich" | "Europe/Paris"
        | "Europe/Amsterdam" | "Europe/Brussels" | "Europe/Rome" | "Europe/Madrid"
        | "Europe/Warsaw" | "Europe/Prague" | "Europe/Stockholm" | "Europe/Copenhagen"
        | "Europe/Oslo" => "CET",
        "Europe/London" | "Europe/Dublin" => "GMTUK",
        "Europe/Helsinki" | "Europe/Athens" | "Europe/Bucharest" | "Europe/Sofia" => "EET",
        "America/New_York" | "America/Detroit" | "America/Toronto" => "EST",
        "America/Chicago" => "CST",
        "America/Denver" => "MST",
        "America/Los_Angeles" => "PST",
        "Asia/Tokyo" => "JAPAN",
        "Asia/Kolkata" => "INDIA",
        _ => "UTC",
    }
}

/// DATS as stored: "YYYYMMDD", or "00000000" for none.
pub fn dats(date: u32) -> String {
    format!("{date:08}")
}

pub fn tims(time: u32) -> String {
    format!("{time:06}")
}

pub fn numc(value: u32, width: usize) -> String {
    format!("{value:0width$}")
}

pub fn flag(set: bool) -> &'static str {
    if set {
        "X"
    } else {
        ""
    }
}
