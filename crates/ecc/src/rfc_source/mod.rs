//! Customers read table by table with RFC_READ_TABLE: KNA1 pages by key range drive the read;
//! for each page the dependent tables (KNB1, KNVV, KNVP, KNVK, ADRC, ADR6, ADR2, ADRP) are read
//! by the same key range or by IN-lists of address and person numbers, joined, and assembled.
//! Deltas come from ERDAT (new), CDHDR object class DEBI (changed, contacts included) and the
//! Business Address Services classes ADRESSE/ADRESSE2/ADRESSE3 (addresses, e-mails, phones).

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use chrono_tz::Tz;
use mlc_config::sections::ecc::DirtyRecordPolicy;
use mlc_config::CustomerSelection;
use mlc_config::EccConfig;
use tokio::sync::OnceCell;

use crate::assemble::{assemble_customer, CustomerTables};
use crate::delta::{sap_date, sap_date_time, sap_time, DeltaCursor};
use crate::error::EccError;
use crate::rfc::table_reader::{KeyPager, Row, TableRead, TableReader};
use crate::rfc::where_clause::{Condition, Op};
use crate::source::{
    distinct_numbers, CheckLine, CustomerSource, ExtractBatch, ExtractedCustomer, FullRead,
};

mod time_zone;
pub use time_zone::time_zone_check;

/// The tables the extraction reads, for `check` and for the agent's allow-list.
pub const TABLES_READ: [&str; 13] = [
    "KNA1", "KNB1", "KNVV", "KNVP", "KNVK", "ADRC", "ADR6", "ADR2", "ADRP", "TVZBT", "TPFKT",
    "CDHDR", "TTZCU",
];

/// The first key field of each table in `TABLES_READ`, asked for by the NO_DATA probe of `check`.
const PROBE_FIELDS: [&str; 13] = [
    "KUNNR",
    "KUNNR",
    "KUNNR",
    "KUNNR",
    "PARNR",
    "ADDRNUMBER",
    "ADDRNUMBER",
    "ADDRNUMBER",
    "PERSNUMBER",
    "SPRAS",
    "SPRAS",
    "OBJECTCLAS",
    "TZONESYS",
];

/// Change-document object classes of Business Address Services: organization addresses
/// (address type 1), private addresses of persons (type 2) and persons at a company's address
/// (type 3). BAS writes them where the system logs address changes; DEBI documents do not cover
/// ADRC, ADR6 or ADR2.
pub const ADDRESS_OBJECT_CLASSES: [&str; 3] = ["ADRESSE", "ADRESSE2", "ADRESSE3"];

/// The address and person numbers in a BAS change document's OBJECTID. The layout is the
/// address or person group (CHAR 4) followed by the 10-digit number(s); every run of digits
/// whose length is a multiple of ten is read as such numbers, so the parse does not depend on
/// the group's width or on whether a person number follows the address number.
pub fn numbers_in_object_id(object_id: &str) -> Vec<String> {
    let mut numbers = Vec::new();
    for run in object_id.split(|c: char| !c.is_ascii_digit()) {
        if run.is_empty() || run.len() % 10 != 0 {
            continue;
        }
        numbers.extend(
            run.as_bytes()
                .chunks(10)
                .map(|chunk| String::from_utf8_lossy(chunk).into_owned()),
        );
    }
    numbers
}

const KNA1_FIELDS: [&str; 15] = [
    "NAME1", "NAME2", "NAME3", "NAME4", "KTOKD", "STCEG", "LOEVM", "SPERR", "AUFSD", "LIFSD",
    "FAKSD", "ADRNR", "ERDAT", "XCPDK", "LAND1",
];

/// SAP's one-letter language key (SPRAS) for an ISO code; one letter is taken as it is.
pub fn sap_language_key(language: &str) -> String {
    let language = language.trim().to_ascii_uppercase();
    if language.chars().count() == 1 {
        return language;
    }
    let key = match language.as_str() {
        "EN" => "E",
        "DE" => "D",
        "FR" => "F",
        "ES" => "S",
        "IT" => "I",
        "NL" => "N",
        "PT" => "P",
        "DA" => "K",
        "SV" => "V",
        "FI" => "U",
        "NO" => "O",
        "PL" => "L",
        "CS" => "C",
        "HU" => "H",
        "TR" => "T",
        "RU" => "R",
        "JA" => "J",
        "ZH" => "1",
        "KO" => "3",
        "EL" => "G",
        "SK" => "Q",
        "SL" => "5",
        "HR" => "6",
        "RO" => "4",
        "BG" => "W",
        "UK" => "8",
        _ => "E",
    };
    key.to_string()
}

/// The parts of `[ecc]` the assembly needs.
#[derive(Debug, Clone)]
pub struct ReadSettings {
    pub company_code: String,
    pub sales_organization: String,
    pub distribution_channel: String,
    pub division: String,
    pub language_key: String,
    pub policy: DirtyRecordPolicy,
    pub timezone: Tz,
    pub overlap: Duration,
    pub selection: CustomerSelection,
}

impl ReadSettings {
    pub fn from_config(config: &EccConfig) -> Self {
        ReadSettings {
            company_code: config.company_code.clone(),
            sales_organization: config.sales_organization.clone(),
            distribution_channel: config.distribution_channel.clone(),
            division: config.division.clone(),
            language_key: sap_language_key(&config.language),
            policy: config.dirty_records,
            timezone: config.timezone,
            overlap: config.delta_overlap,
            selection: config.select.clone(),
        }
    }
}

/// Which customers a page covers: a key range of KNA1 (full read) or a list of numbers.
enum Scope<'a> {
    Range {
        after: Option<&'a str>,
        upper: Option<&'a str>,
    },
    Numbers(&'a [String]),
}

pub struct RfcSource {
    reader: Arc<TableReader>,
    settings: ReadSettings,
    /// "soap-rfc" or "agent".
    label: String,
    texts: OnceCell<(HashMap<String, String>, HashMap<String, String>)>,
}

fn group_by(rows: Vec<Row>, field: &str) -> HashMap<String, Vec<Row>> {
    let mut grouped: HashMap<String, Vec<Row>> = HashMap::new();
    for row in rows {
        let key = row.value(field).to_string();
        grouped.entry(key).or_default().push(row);
    }
    grouped
}

fn group_by_address_and_person(rows: Vec<Row>) -> HashMap<(String, String), Vec<Row>> {
    let mut grouped: HashMap<(String, String), Vec<Row>> = HashMap::new();
    for row in rows {
        let address = row.value("ADDRNUMBER").to_string();
        let person = row.value("PERSNUMBER").to_string();
        grouped.entry((address, person)).or_default().push(row);
    }
    grouped
}

fn index_by(rows: Vec<Row>, field: &str) -> HashMap<String, Row> {
    rows.into_iter()
        .map(|row| (row.value(field).to_string(), row))
        .collect()
}

fn field_values(rows: &[Row], field: &str) -> Vec<String> {
    let set: BTreeSet<String> = rows
        .iter()
        .filter_map(|row| row.get(field).filter(|value| !value.is_empty()))
        .map(str::to_string)
        .collect();
    set.into_iter().collect()
}

impl RfcSource {
    pub fn new(reader: Arc<TableReader>, settings: ReadSettings, label: &str) -> Self {
        RfcSource {
            reader,
            settings,
            label: label.to_string(),
            texts: OnceCell::new(),
        }
    }

    pub fn reader(&self) -> &Arc<TableReader> {
        &self.reader
    }

    fn kna1_read(&self, filter: Condition) -> TableRead {
        TableRead {
            table: "KNA1",
            keys: &["KUNNR"],
            fields: KNA1_FIELDS.to_vec(),
            filter,
        }
    }

    /// Payment-term texts (TVZBT) and contact function texts (TPFKT) in the configured language,
    /// read once.
    async fn texts(&self) -> Result<&(HashMap<String, String>, HashMap<String, String>), EccError> {
        self.texts
            .get_or_try_init(|| async {
                let language = Condition::eq("SPRAS", self.settings.language_key.clone());
                let payment = TableRead {
                    table: "TVZBT",
                    keys: &["SPRAS", "ZTERM"],
                    fields: vec!["VTEXT"],
                    filter: language.clone(),
                };
                let function = TableRead {
                    table: "TPFKT",
                    keys: &["SPRAS", "PAFKT"],
                    fields: vec!["VTEXT"],
                    filter: language,
                };
                let (payment, function) = futures::try_join!(
                    self.reader.read_all(&payment),
                    self.reader.read_all(&function)
                )?;
                let texts = |rows: Vec<Row>, key: &str| -> HashMap<String, String> {
                    rows.into_iter()
                        .map(|row| (row.value(key).to_string(), row.value("VTEXT").to_string()))
                        .collect()
                };
                Ok((texts(payment, "ZTERM"), texts(function, "PAFKT")))
            })
            .await
    }

    /// The customers whose address (KNA1-ADRNR) or whose contact's person (KNVK-PRSNR) is one of
    /// `numbers`. A contact's private address number matches neither and needs no re-read:
    /// private data is never extracted.
    async fn owners_of_addresses(
        &self,
        numbers: &BTreeSet<String>,
    ) -> Result<BTreeSet<String>, EccError> {
        if numbers.is_empty() {
            return Ok(BTreeSet::new());
        }
        let numbers: Vec<String> = numbers.iter().cloned().collect();
        let by_address = TableRead {
            table: "KNA1",
            keys: &["KUNNR"],
            fields: vec!["ADRNR"],
            filter: Condition::all(vec![]),
        };
        let by_person = TableRead {
            table: "KNVK",
            keys: &["PARNR"],
            fields: vec!["KUNNR", "PRSNR"],
            filter: Condition::all(vec![]),
        };
        let (customers, contacts) = futures::try_join!(
            self.reader.read_in(&by_address, "ADRNR", &numbers),
            self.reader.read_in(&by_person, "PRSNR", &numbers),
        )?;
        Ok(customers
            .iter()
            .chain(&contacts)
            .map(|row| row.value("KUNNR"))
            .filter(|number| !number.is_empty())
            .map(str::to_string)
            .collect())
    }

    /// KNVP's ship-to partners (PARVW WE) in the configured sales area: KUNNR ships to KUNN2.
    fn ship_to_partners(&self) -> TableRead {
        let settings = &self.settings;
        TableRead {
            table: "KNVP",
            keys: &["KUNNR", "VKORG", "VTWEG", "SPART", "PARVW", "PARZA"],
            fields: vec!["KUNN2"],
            filter: Condition::all(vec![
                Condition::eq("VKORG", settings.sales_organization.clone()),
                Condition::eq("VTWEG", settings.distribution_channel.clone()),
                Condition::eq("SPART", settings.division.clone()),
                Condition::eq("PARVW", "WE"),
            ]),
        }
    }

    /// The customers whose ship-to partner (KNVP, PARVW = WE, in the configured sales area) is
    /// one of `numbers`: a customer's shipping address is its ship-to partner's address, and a
    /// change to that partner writes change documents for the partner only.
    async fn sold_to_of_ship_to(
        &self,
        numbers: &BTreeSet<String>,
    ) -> Result<BTreeSet<String>, EccError> {
        if numbers.is_empty() {
            return Ok(BTreeSet::new());
        }
        let numbers: Vec<String> = numbers.iter().cloned().collect();
        let rows = self
            .reader
            .read_in(&self.ship_to_partners(), "KUNN2", &numbers)
            .await?;
        Ok(rows
            .iter()
            .map(|row| row.value("KUNNR"))
            .filter(|number| !number.is_empty())
            .map(str::to_string)
            .collect())
    }

    /// Reads `read` for the customers of `scope`: by the KNA1 key range, or by IN-lists.
    async fn read_scoped(
        &self,
        read: TableRead,
        field: &'static str,
        scope: &Scope<'_>,
    ) -> Result<Vec<Row>, EccError> {
        match scope {
            Scope::Range { after, upper } => {
                let mut bounds = vec![read.filter.clone()];
                if let Some(upper) = upper {
                    bounds.push(Condition::compare(field, Op::Le, *upper));
                }
                match after {
                    Some(after) => bounds.push(Condition::compare(field, Op::Gt, *after)),
                    None => bounds.push(Condition::compare(field, Op::Ne, " ")),
                }
                let read = TableRead {
                    filter: Condition::all(bounds),
                    ..read
                };
                self.reader.read_all(&read).await
            }
            Scope::Numbers(numbers) => self.reader.read_in(&read, field, numbers).await,
        }
    }

    /// Reads everything the customers of `kna1` need and assembles them.
    async fn complete(&self, kna1: Vec<Row>, scope: Scope<'_>) -> Result<ExtractBatch, EccError> {
        if kna1.is_empty() {
            return Ok(ExtractBatch::default());
        }
        let settings = &self.settings;
        let sales_area = vec![
            Condition::eq("VKORG", settings.sales_organization.clone()),
            Condition::eq("VTWEG", settings.distribution_channel.clone()),
            Condition::eq("SPART", settings.division.clone()),
        ];
        let address_numbers = field_values(&kna1, "ADRNR");
        let knb1 = TableRead {
            table: "KNB1",
            keys: &["KUNNR", "BUKRS"],
            fields: vec!["ZTERM", "LOEVM", "SPERR"],
            filter: Condition::eq("BUKRS", settings.company_code.clone()),
        };
        let knvv = TableRead {
            table: "KNVV",
            keys: &["KUNNR", "VKORG", "VTWEG", "SPART"],
            fields: vec!["ZTERM", "LOEVM", "AUFSD", "LIFSD", "FAKSD"],
            filter: Condition::all(sales_area),
        };
        let knvp = self.ship_to_partners();
        let knvk = TableRead {
            table: "KNVK",
            keys: &["PARNR"],
            fields: vec![
                "KUNNR", "NAMEV", "NAME1", "ABTPA", "PAFKT", "PRSNR", "LOEVM",
            ],
            filter: Condition::all(vec![]),
        };
        let adrc = TableRead {
            table: "ADRC",
            keys: &["ADDRNUMBER", "DATE_FROM", "NATION"],
            fields: vec![
                "NAME1",
                "NAME2",
                "NAME3",
                "NAME4",
                "STREET",
                "HOUSE_NUM1",
                "POST_CODE1",
                "CITY1",
                "REGION",
                "COUNTRY",
            ],
            filter: Condition::eq("NATION", " "),
        };
        let communication =
            |table: &'static str, fields: Vec<&'static str>, filter: Condition| TableRead {
                table,
                keys: &["ADDRNUMBER", "PERSNUMBER", "DATE_FROM", "CONSNUMBER"],
                fields,
                filter,
            };
        let in_use = ["FLGDEFAULT", "FLG_NOUSE", "VALID_FROM", "VALID_TO"];
        let email_fields = [in_use.as_slice(), &["SMTP_ADDR"]].concat();
        let phone_fields = [in_use.as_slice(), &["TEL_NUMBER", "TEL_EXTENS", "R3_USER"]].concat();
        // Everything under the customers' own address numbers: PERSNUMBER blank is the
        // company's, a contact's PRSNR its work data. Never by PERSNUMBER alone: the same
        // person's private rows sit under KNVK-ADRNP_2 with that PERSNUMBER.
        let emails_read = communication("ADR6", email_fields, Condition::all(vec![]));
        let phones_read = communication("ADR2", phone_fields, Condition::all(vec![]));
        let (knb1, knvv, knvp, knvk, adrc_rows, emails, phones, texts) = futures::try_join!(
            self.read_scoped(knb1, "KUNNR", &scope),
            self.read_scoped(knvv, "KUNNR", &scope),
            self.read_scoped(knvp, "KUNNR", &scope),
            self.read_scoped(knvk, "KUNNR", &scope),
            self.reader.read_in(&adrc, "ADDRNUMBER", &address_numbers),
            self.reader
                .read_in(&emails_read, "ADDRNUMBER", &address_numbers),
            self.reader
                .read_in(&phones_read, "ADDRNUMBER", &address_numbers),
            self.texts(),
        )?;

        let mut tables = CustomerTables {
            company_code: index_by(knb1, "KUNNR"),
            sales_area: index_by(knvv, "KUNNR"),
            emails: group_by_address_and_person(emails),
            phones: group_by_address_and_person(phones),
            server_now: self
                .cursor_at(Utc::now())
                .server_time
                .format("%Y%m%d%H%M%S")
                .to_string(),
            payment_texts: texts.0.clone(),
            function_texts: texts.1.clone(),
            ..CustomerTables::default()
        };
        for row in &kna1 {
            tables.address_number.insert(
                row.value("KUNNR").to_string(),
                row.value("ADRNR").to_string(),
            );
        }
        tables.addresses = index_by(adrc_rows, "ADDRNUMBER");
        let mut ship_to = group_by(knvp, "KUNNR");
        for partners in ship_to.values_mut() {
            partners.sort_by(|a, b| a.get("PARZA").cmp(&b.get("PARZA")));
        }
        let ship_to_numbers: Vec<String> = ship_to
            .values()
            .filter_map(|partners| partners.first())
            .filter_map(|partner| partner.get("KUNN2").map(str::to_string))
            .filter(|number| !number.is_empty() && !tables.address_number.contains_key(number))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        tables.ship_to = ship_to;
        // Vendor contacts carry no KUNNR; they were never in the scope.
        let contacts: Vec<Row> = knvk
            .into_iter()
            .filter(|row| row.get("KUNNR").is_some_and(|number| !number.is_empty()))
            .collect();
        let person_numbers = field_values(&contacts, "PRSNR");
        let persons = TableRead {
            table: "ADRP",
            keys: &["PERSNUMBER", "DATE_FROM", "NATION"],
            fields: vec!["NAME_FIRST", "NAME_LAST"],
            filter: Condition::eq("NATION", " "),
        };
        let ship_to_read = TableRead {
            table: "KNA1",
            keys: &["KUNNR"],
            fields: vec!["ADRNR"],
            filter: Condition::all(vec![]),
        };
        let (ship_to_kna1, person_rows) = futures::try_join!(
            self.reader
                .read_in(&ship_to_read, "KUNNR", &ship_to_numbers),
            self.reader.read_in(&persons, "PERSNUMBER", &person_numbers),
        )?;
        let ship_to_addresses = field_values(&ship_to_kna1, "ADRNR");
        for row in ship_to_kna1 {
            tables.address_number.insert(
                row.value("KUNNR").to_string(),
                row.value("ADRNR").to_string(),
            );
        }
        let missing_addresses: Vec<String> = ship_to_addresses
            .into_iter()
            .filter(|number| !tables.addresses.contains_key(number))
            .collect();
        let more_addresses = self
            .reader
            .read_in(&adrc, "ADDRNUMBER", &missing_addresses)
            .await?;
        tables
            .addresses
            .extend(index_by(more_addresses, "ADDRNUMBER"));
        tables.contacts = group_by(contacts, "KUNNR");
        tables.persons = index_by(person_rows, "PERSNUMBER");

        let read_at = Utc::now();
        let source = format!("{}:KNA1", self.label);
        // Sized once: growing by doubling left up to half of a page's records unused, and held
        // the old and the new buffer at once while it copied.
        let mut batch = ExtractBatch {
            records: Vec::with_capacity(kna1.len()),
            ..ExtractBatch::default()
        };
        for row in &kna1 {
            let (customer, problems) = assemble_customer(row, &tables, settings.policy);
            match customer {
                Some(mut customer) => {
                    // Outside `[ecc.select]` now (read by number, or by a condition the KNA1
                    // WHERE clause cannot hold): treated like a customer flagged for deletion.
                    let number = &customer.customer_number;
                    if !selected(
                        &settings.selection,
                        row,
                        tables.company_code.contains_key(number.as_str()),
                        tables.sales_area.contains_key(number.as_str()),
                    ) {
                        customer.deleted = true;
                    }
                    batch.records.push(ExtractedCustomer {
                        customer,
                        source: source.clone(),
                        read_at,
                        problems,
                    })
                }
                None => batch.rejected.extend(problems),
            }
        }
        Ok(batch)
    }
}

#[async_trait::async_trait]
impl CustomerSource for RfcSource {
    fn start_full(self: Arc<Self>) -> Box<dyn FullRead> {
        Box::new(RfcFullRead {
            source: self,
            pager: KeyPager::default(),
        })
    }

    async fn customers(&self, numbers: &[String]) -> Result<ExtractBatch, EccError> {
        let numbers = distinct_numbers(numbers);
        let mut kna1 = self
            .reader
            .read_in(&self.kna1_read(Condition::all(vec![])), "KUNNR", &numbers)
            .await?;
        kna1.sort_by(|a, b| a.get("KUNNR").cmp(&b.get("KUNNR")));
        self.complete(kna1, Scope::Numbers(&numbers)).await
    }

    async fn changed_since(
        &self,
        since: &DeltaCursor,
    ) -> Result<(Vec<String>, DeltaCursor), EccError> {
        // The window ends at the server's time (its `Date` header), not ours: change documents
        // carry the server's clock. Taken before the reads, converted after their answers.
        let asked_at = Utc::now();
        let window = since.window_start(self.settings.overlap);
        let date = sap_date(&window);
        let time = sap_time(&window);
        let in_window = Condition::Or(vec![
            Condition::compare("UDATE", Op::Gt, date.clone()),
            Condition::all(vec![
                Condition::eq("UDATE", date.clone()),
                Condition::compare("UTIME", Op::Ge, time),
            ]),
        ]);
        let documents = |classes: Condition| TableRead {
            table: "CDHDR",
            keys: &["OBJECTCLAS", "OBJECTID", "CHANGENR"],
            fields: vec!["UDATE", "UTIME"],
            filter: Condition::all(vec![classes, in_window.clone()]),
        };
        let changes = documents(Condition::eq("OBJECTCLAS", "DEBI"));
        let address_changes = documents(Condition::Or(
            ADDRESS_OBJECT_CLASSES
                .iter()
                .map(|class| Condition::eq("OBJECTCLAS", *class))
                .collect(),
        ));
        let created = self.kna1_read(Condition::compare("ERDAT", Op::Ge, date));
        let created = TableRead {
            fields: vec!["ERDAT"],
            ..created
        };
        let (change_rows, address_rows, created_rows) = futures::try_join!(
            self.reader.read_all(&changes),
            self.reader.read_all(&address_changes),
            self.reader.read_all(&created)
        )?;

        let window_start = window;
        let next_time = self.cursor_at(asked_at).server_time.max(since.server_time);
        let mut next = DeltaCursor::at(next_time);
        let next_window = next.window_start(self.settings.overlap);
        let mut numbers = BTreeSet::new();
        // Returns the document's object id when it was not returned before; remembers what the
        // next window will read again.
        let take = |row: &Row, id: String, next: &mut DeltaCursor| -> bool {
            let stamp = sap_date_time(row.value("UDATE"), row.value("UTIME"));
            let new = !since.seen_changes.contains(&id);
            if stamp.is_some_and(|stamp| stamp >= next_window && stamp >= window_start) {
                next.seen_changes.push(id);
            }
            new
        };
        for row in &change_rows {
            let object = row.value("OBJECTID").to_string();
            let id = format!("{object}/{}", row.value("CHANGENR"));
            if take(row, id, &mut next) {
                numbers.insert(object);
            }
        }
        let mut address_numbers = BTreeSet::new();
        for row in &address_rows {
            let class = row.value("OBJECTCLAS");
            let object = row.value("OBJECTID");
            let id = format!("{class}:{object}/{}", row.value("CHANGENR"));
            if take(row, id, &mut next) {
                address_numbers.extend(numbers_in_object_id(object));
            }
        }
        numbers.extend(self.owners_of_addresses(&address_numbers).await?);
        let next_window_day = sap_date(&next.window_start(self.settings.overlap));
        for row in &created_rows {
            let number = row.value("KUNNR").to_string();
            if !since.seen_new.contains(&number) {
                numbers.insert(number.clone());
            }
            if row
                .get("ERDAT")
                .is_some_and(|day| day >= next_window_day.as_str())
            {
                next.seen_new.push(number);
            }
        }
        numbers.remove("");
        numbers.extend(self.sold_to_of_ship_to(&numbers).await?);
        Ok((numbers.into_iter().collect(), next))
    }

    fn cursor_at(&self, ours: chrono::DateTime<Utc>) -> DeltaCursor {
        let skew = self.reader.transport().clock_skew();
        DeltaCursor::on_server_clock(ours, skew, self.settings.timezone)
    }

    async fn check(&self) -> Vec<CheckLine> {
        let mut lines = Vec::new();
        let endpoint = self.reader.transport().endpoint();
        match self.reader.probe("KNA1", &["KUNNR"]).await {
            Ok(_) => {
                lines.push(CheckLine::passed("ecc reachable", endpoint.clone()));
                lines.push(CheckLine::passed(
                    "ecc logon",
                    format!(
                        "read function {}",
                        self.reader.function().unwrap_or_default()
                    ),
                ));
            }
            Err(error @ (EccError::Unreachable { .. } | EccError::AgentUnavailable(_))) => {
                lines.push(CheckLine::failed("ecc reachable", error.to_string()));
                return lines;
            }
            Err(error @ EccError::LogonFailed { .. }) => {
                lines.push(CheckLine::passed("ecc reachable", endpoint.clone()));
                lines.push(CheckLine::failed("ecc logon", error.to_string()));
                return lines;
            }
            Err(EccError::NotAuthorized { .. } | EccError::TableNotAvailable { .. }) => {
                lines.push(CheckLine::passed("ecc reachable", endpoint.clone()));
                lines.push(CheckLine::passed(
                    "ecc logon",
                    "logged on; see the table lines",
                ));
            }
            Err(error) => {
                lines.push(CheckLine::passed("ecc reachable", endpoint.clone()));
                lines.push(CheckLine::failed("ecc logon", error.to_string()));
                return lines;
            }
        }
        for (table, key) in TABLES_READ.iter().zip(PROBE_FIELDS) {
            let name = format!("ecc table {table}");
            match self.reader.probe(table, &[key]).await {
                Ok(fields) => lines.push(CheckLine::passed(
                    name,
                    format!("readable ({fields} fields)"),
                )),
                // TTZCU only names the zone; the time zone line asks RFC_SYSTEM_INFO instead.
                Err(error @ EccError::NotAuthorized { .. }) if *table == "TTZCU" => lines.push(
                    CheckLine::passed(name, format!("{error}; see the time zone line")),
                ),
                Err(error) => lines.push(CheckLine::failed(name, error.to_string())),
            }
        }
        lines.push(crate::server_clock::clock_check(
            self.reader.transport().clock_skew(),
            self.settings.overlap,
        ));
        let zone = TableRead {
            table: "TTZCU",
            keys: &["CLIENT"],
            fields: vec!["TZONESYS"],
            filter: Condition::all(vec![]),
        };
        match self.reader.read_all(&zone).await {
            Ok(rows) => match rows.first().and_then(|row| row.get("TZONESYS")) {
                Some(system_zone) => {
                    lines.push(time_zone_check(system_zone, self.settings.timezone))
                }
                None => lines.push(CheckLine::failed(
                    "ecc time zone",
                    "TTZCU has no row: the system's time zone is not maintained (STZAC)",
                )),
            },
            // Without S_TABU_NAM for TTZCU, RFC_SYSTEM_INFO still tells the server's offset.
            Err(error) => {
                let line = match self
                    .reader
                    .transport()
                    .call(&crate::rfc::system_info::call())
                    .await
                {
                    Ok(reply) => crate::rfc::system_info::time_zone_check(
                        &reply,
                        self.settings.timezone,
                        Utc::now(),
                        &error.to_string(),
                    ),
                    Err(_) => CheckLine::failed("ecc time zone", error.to_string()),
                };
                lines.push(line);
            }
        }
        lines
    }

    fn calls(&self) -> u64 {
        self.reader.calls()
    }

    fn batch_size(&self) -> usize {
        self.reader.rows_per_call()
    }
}

/// `[ecc.select]` as a KNA1 condition: account groups, countries and the creation date. The
/// company-code and sales-area conditions need KNB1/KNVV and are checked by [`selected`].
pub fn selection_condition(selection: &CustomerSelection) -> Condition {
    let mut conditions = Vec::new();
    if !selection.account_groups.is_empty() {
        conditions.push(Condition::is_in("KTOKD", selection.account_groups.clone()));
    }
    for group in &selection.exclude_account_groups {
        conditions.push(Condition::compare("KTOKD", Op::Ne, group.clone()));
    }
    if !selection.countries.is_empty() {
        conditions.push(Condition::is_in("LAND1", selection.countries.clone()));
    }
    if let Some(day) = &selection.created_after {
        conditions.push(Condition::compare("ERDAT", Op::Gt, day.clone()));
    }
    Condition::all(conditions)
}

/// Whether the customer of this KNA1 row is in `[ecc.select]`, given whether it has KNB1 data
/// in the configured company code and KNVV data in the configured sales area.
pub fn selected(
    selection: &CustomerSelection,
    kna1: &Row,
    in_company_code: bool,
    in_sales_area: bool,
) -> bool {
    let field = |name: &str| kna1.get(name).map(|value| value.trim()).unwrap_or("");
    let group = field("KTOKD");
    (selection.account_groups.is_empty() || selection.account_groups.iter().any(|g| g == group))
        && !selection.exclude_account_groups.iter().any(|g| g == group)
        && (selection.countries.is_empty()
            || selection.countries.iter().any(|c| c == field("LAND1")))
        && selection
            .created_after
            .as_ref()
            .is_none_or(|day| field("ERDAT") > day.as_str())
        && (!selection.only_with_company_code || in_company_code)
        && (!selection.only_with_sales_area || in_sales_area)
}

/// The full read: KNA1 by key ranges, each range completed with its dependent tables.
struct RfcFullRead {
    source: Arc<RfcSource>,
    pager: KeyPager,
}

#[async_trait::async_trait]
impl FullRead for RfcFullRead {
    async fn next_batch(&mut self) -> Result<Option<ExtractBatch>, EccError> {
        let read = self
            .source
            .kna1_read(selection_condition(&self.source.settings.selection));
        // A failed page ends the read (the stream stops at its error); the next read starts over.
        let Some(page) = self.source.reader.next_page(&read, &mut self.pager).await? else {
            return Ok(None);
        };
        let lower = page.lower.as_ref().and_then(|key| key.first().cloned());
        let upper = page.upper.as_ref().and_then(|key| key.first().cloned());
        let scope = Scope::Range {
            after: lower.as_deref(),
            upper: upper.as_deref(),
        };
        let batch = self.source.complete(page.rows, scope).await?;
        Ok(Some(batch))
    }
}

#[cfg(test)]
mod tests;
