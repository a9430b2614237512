//! Canonical records from joined table rows, following the conventions written down in
//! `mlc_canonical::record` (the ECC simulator's truth follows the same ones). Pure: rows in,
//! records and data problems out.

use std::collections::HashMap;

use mlc_canonical::{
    record::join_name_parts, Address, ContactPerson, Customer, CustomerNumber, PaymentTerms,
};
use mlc_config::sections::ecc::DirtyRecordPolicy;
use serde::{Deserialize, Serialize};

use crate::quality::{
    control_character, is_known_country, is_plausible_email, without_control_characters,
};
use crate::rfc::table_reader::Row;

/// A value ECC should not hold, found in one record: which customer, which field, why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataProblem {
    pub customer_number: String,
    /// Canonical field, e.g. `email`, `billing_address.country`, `contacts[0000012345].emails`.
    pub field: String,
    pub reason: String,
}

/// The rows that belong to one page of customers, indexed for the join.
#[derive(Debug, Default)]
pub struct CustomerTables {
    /// KNB1 of the configured company code, by KUNNR.
    pub company_code: HashMap<String, Row>,
    /// KNVV of the configured sales area, by KUNNR.
    pub sales_area: HashMap<String, Row>,
    /// KNVP ship-to partners (PARVW WE) of the configured sales area, by KUNNR, by PARZA.
    pub ship_to: HashMap<String, Vec<Row>>,
    /// KNA1-ADRNR of every customer the page refers to (its own and its ship-to parties).
    pub address_number: HashMap<String, String>,
    /// ADRC, NATION blank, by ADDRNUMBER.
    pub addresses: HashMap<String, Row>,
    /// ADR6/ADR2 under the customers' own address numbers, by (ADDRNUMBER, PERSNUMBER): PERSNUMBER
    /// blank is the company's own, KNVK-PRSNR a contact's work data. A contact's private rows
    /// (under KNVK-ADRNP_2) are never read, so they cannot be here.
    pub emails: HashMap<(String, String), Vec<Row>>,
    pub phones: HashMap<(String, String), Vec<Row>>,
    /// The server's local time "YYYYMMDDHHMMSS", against which VALID_FROM/VALID_TO are checked.
    pub server_now: String,
    /// KNVK rows with KUNNR set, by KUNNR.
    pub contacts: HashMap<String, Vec<Row>>,
    /// ADRP by PERSNUMBER.
    pub persons: HashMap<String, Row>,
    /// TVZBT-VTEXT by ZTERM, TPFKT-VTEXT by PAFKT, in the configured language.
    pub payment_texts: HashMap<String, String>,
    pub function_texts: HashMap<String, String>,
}

fn value<'a>(row: &'a Row, field: &str) -> &'a str {
    row.value(field)
}

fn optional(text: &str) -> Option<String> {
    let trimmed = text.trim();
    (!trimmed.is_empty()).then(|| trimmed.to_string())
}

/// Whether an ADR6/ADR2 row is in use: not flagged "not used" (FLG_NOUSE) and valid at
/// `server_now` (VALID_FROM/VALID_TO are "YYYYMMDDHHMMSS" in the server's time, blank = open).
fn in_use(row: &Row, server_now: &str) -> bool {
    if value(row, "FLG_NOUSE") == "X" {
        return false;
    }
    let valid_from = value(row, "VALID_FROM").trim();
    let valid_to = value(row, "VALID_TO").trim();
    let open = |stamp: &str| stamp.is_empty() || stamp.bytes().all(|byte| byte == b'0');
    (open(valid_from) || valid_from <= server_now) && (open(valid_to) || valid_to >= server_now)
}

/// The rows in use ordered as the conventions want: the default first, then by CONSNUMBER.
fn ordered<'a>(rows: Option<&'a Vec<Row>>, server_now: &str) -> Vec<&'a Row> {
    let mut ordered: Vec<&Row> = rows
        .into_iter()
        .flatten()
        .filter(|row| in_use(row, server_now))
        .collect();
    ordered.sort_by(|a, b| {
        let default_a = value(a, "FLGDEFAULT") != "X";
        let default_b = value(b, "FLGDEFAULT") != "X";
        (default_a, value(a, "CONSNUMBER")).cmp(&(default_b, value(b, "CONSNUMBER")))
    });
    ordered
}

fn phone_of(row: &Row) -> Option<String> {
    let number = value(row, "TEL_NUMBER").trim();
    if number.is_empty() {
        return None;
    }
    let extension = value(row, "TEL_EXTENS").trim();
    Some(if extension.is_empty() {
        number.to_string()
    } else {
        format!("{number}-{extension}")
    })
}

fn address_of(row: Option<&Row>) -> Address {
    let Some(row) = row else {
        return Address::default();
    };
    Address {
        street: value(row, "STREET").to_string(),
        house_number: value(row, "HOUSE_NUM1").to_string(),
        postal_code: value(row, "POST_CODE1").to_string(),
        city: value(row, "CITY1").to_string(),
        region: value(row, "REGION").to_string(),
        country: value(row, "COUNTRY").to_string(),
    }
}

/// Builds the customer of one KNA1 row. Returns `None` for the record when it is dirty and the
/// policy is to skip; the problems are returned either way.
pub fn assemble_customer(
    kna1: &Row,
    tables: &CustomerTables,
    policy: DirtyRecordPolicy,
) -> (Option<Customer>, Vec<DataProblem>) {
    let customer_number = value(kna1, "KUNNR").to_string();
    let address_number = value(kna1, "ADRNR");
    let address = tables.addresses.get(address_number);
    // The name as SAP shows it: ADRC's lines of 40 characters; KNA1 keeps copies cut at 35,
    // read only for a customer without its ADRC row.
    let name_row = address.unwrap_or(kna1);
    let name_parts =
        ["NAME1", "NAME2", "NAME3", "NAME4"].map(|field| value(name_row, field).to_string());
    let billing_address = address_of(address);
    let own = (address_number.to_string(), String::new());
    let email = ordered(tables.emails.get(&own), &tables.server_now)
        .first()
        .and_then(|row| optional(value(row, "SMTP_ADDR")));
    let phone = ordered(tables.phones.get(&own), &tables.server_now)
        .first()
        .and_then(|row| phone_of(row));

    let sales_terms = tables
        .sales_area
        .get(&customer_number)
        .and_then(|row| optional(value(row, "ZTERM")));
    let company_terms = tables
        .company_code
        .get(&customer_number)
        .and_then(|row| optional(value(row, "ZTERM")));
    let payment_terms = sales_terms.or(company_terms).map(|code| PaymentTerms {
        text: tables
            .payment_texts
            .get(&code)
            .cloned()
            .and_then(|text| optional(&text)),
        code,
    });

    let shipping_address = tables.ship_to.get(&customer_number).and_then(|partners| {
        let partner = partners.first()?;
        let ship_to = value(partner, "KUNN2");
        if ship_to.is_empty() || ship_to == customer_number {
            return None;
        }
        let ship_to_address = tables.address_number.get(ship_to)?;
        Some(address_of(tables.addresses.get(ship_to_address)))
    });

    let mut contacts: Vec<ContactPerson> = tables
        .contacts
        .get(&customer_number)
        .map(|rows| {
            // A contact flagged for deletion (KNVK-LOEVM) is a deleted contact.
            rows.iter()
                .filter(|row| value(row, "LOEVM").is_empty())
                .map(|row| assemble_contact(row, address_number, tables))
                .collect()
        })
        .unwrap_or_default();
    contacts.sort_by(|a, b| a.contact_number.cmp(&b.contact_number));

    // Flags count at every level read: KNA1, KNB1 of the company code, KNVV of the sales area.
    let company = tables.company_code.get(&customer_number);
    let area = tables.sales_area.get(&customer_number);
    let set = |row: Option<&Row>, field: &str| row.is_some_and(|row| !value(row, field).is_empty());
    let deleted = set(Some(kna1), "LOEVM") || set(company, "LOEVM") || set(area, "LOEVM");
    let blocked = ["SPERR", "AUFSD", "LIFSD", "FAKSD"]
        .iter()
        .any(|field| set(Some(kna1), field))
        || set(company, "SPERR")
        || ["AUFSD", "LIFSD", "FAKSD"]
            .iter()
            .any(|field| set(area, field));
    let customer_number = CustomerNumber::from_internal(customer_number);
    let mut customer = Customer {
        customer_number_display: customer_number.display(),
        name: join_name_parts(&name_parts),
        name_parts,
        account_group: value(kna1, "KTOKD").to_string(),
        vat_number: optional(value(kna1, "STCEG")),
        deleted,
        blocked,
        billing_address,
        shipping_address,
        email,
        phone,
        payment_terms,
        contacts,
        customer_number,
    };
    let problems = inspect(&mut customer, policy == DirtyRecordPolicy::Clean);
    if !problems.is_empty() && policy == DirtyRecordPolicy::Skip {
        return (None, problems);
    }
    (Some(customer), problems)
}

/// A contact of the customer whose address number is `address_number`: its work e-mails and
/// phones are the rows under that address with the contact's PERSNUMBER.
fn assemble_contact(knvk: &Row, address_number: &str, tables: &CustomerTables) -> ContactPerson {
    let person_number = value(knvk, "PRSNR");
    let person = tables.persons.get(person_number);
    let (first_name, last_name) = match person {
        Some(person) => (
            value(person, "NAME_FIRST").to_string(),
            value(person, "NAME_LAST").to_string(),
        ),
        None => (
            value(knvk, "NAMEV").to_string(),
            value(knvk, "NAME1").to_string(),
        ),
    };
    let work = (address_number.to_string(), person_number.to_string());
    let (emails, phones) = if person_number.is_empty() {
        // Without a BAS person there is no work communication to read.
        (Vec::new(), Vec::new())
    } else {
        (
            ordered(tables.emails.get(&work), &tables.server_now)
                .into_iter()
                .filter_map(|row| optional(value(row, "SMTP_ADDR")))
                .collect(),
            ordered(tables.phones.get(&work), &tables.server_now),
        )
    };
    // R3_USER '2' (mobile) and '3' (default mobile) are mobile phones; blank and '1' landlines.
    let (mobile, landline): (Vec<&Row>, Vec<&Row>) = phones
        .into_iter()
        .partition(|row| matches!(value(row, "R3_USER"), "2" | "3"));
    ContactPerson {
        contact_number: value(knvk, "PARNR").to_string(),
        first_name,
        last_name,
        department: optional(value(knvk, "ABTPA")),
        // The TPFKT text; a code without a text in the configured language gives none.
        function: optional(value(knvk, "PAFKT"))
            .and_then(|code| tables.function_texts.get(&code).cloned())
            .and_then(|text| optional(&text)),
        emails,
        phones: landline.into_iter().filter_map(phone_of).collect(),
        mobile_phones: mobile.into_iter().filter_map(phone_of).collect(),
    }
}

/// Finds values ECC should not hold; with `clean`, repairs them in place (control characters
/// removed, implausible e-mails dropped). Unknown countries are reported and kept.
pub fn inspect(customer: &mut Customer, clean: bool) -> Vec<DataProblem> {
    let mut found = Findings {
        clean,
        problems: Vec::new(),
    };
    for (index, part) in customer.name_parts.iter_mut().enumerate() {
        found.text(|| format!("name_parts[{index}]"), part);
    }
    if clean {
        customer.name = join_name_parts(&customer.name_parts);
    }
    if customer.name.is_empty() {
        found.report(
            "name".into(),
            "the name is empty (NAME1..NAME4 blank)".into(),
        );
    } else if customer
        .name_parts
        .iter()
        .all(|part| part.chars().count() >= NEARLY_FULL_NAME_LINE)
    {
        found.report(
            "name".into(),
            "the name fills NAME1..NAME4 to full width: it was probably cut off".into(),
        );
    }
    found.address("billing_address", &mut customer.billing_address);
    if let Some(shipping) = customer.shipping_address.as_mut() {
        found.address("shipping_address", shipping);
    }
    if let Some(vat) = customer.vat_number.as_mut() {
        found.text(|| "vat_number".into(), vat);
    }
    if let Some(phone) = customer.phone.as_mut() {
        found.text(|| "phone".into(), phone);
    }
    if let Some(email) = customer.email.clone() {
        if !is_plausible_email(&email) {
            found.report("email".into(), format!("not an e-mail address: {email:?}"));
            if clean {
                customer.email = None;
            }
        }
    }
    for contact in &mut customer.contacts {
        let number = &contact.contact_number;
        let prefix = || format!("contacts[{number}]");
        found.text(
            || format!("{}.first_name", prefix()),
            &mut contact.first_name,
        );
        found.text(|| format!("{}.last_name", prefix()), &mut contact.last_name);
        if let Some(department) = contact.department.as_mut() {
            found.text(|| format!("{}.department", prefix()), department);
        }
        if let Some(function) = contact.function.as_mut() {
            found.text(|| format!("{}.function", prefix()), function);
        }
        for phone in &mut contact.phones {
            found.text(|| format!("{}.phones", prefix()), phone);
        }
        let mut kept = Vec::new();
        for email in &contact.emails {
            if is_plausible_email(email) {
                kept.push(email.clone());
            } else {
                found.report(
                    format!("{}.emails", prefix()),
                    format!("not an e-mail address: {email:?}"),
                );
            }
        }
        if clean {
            contact.emails = kept;
        }
    }
    let number = &customer.customer_number;
    found
        .problems
        .into_iter()
        .map(|(field, reason)| DataProblem {
            customer_number: number.to_string(),
            field,
            reason,
        })
        .collect()
}

/// A name line at least this long in every one of NAME1..NAME4 (40 characters each in ADRC)
/// means the name ran out of room.
const NEARLY_FULL_NAME_LINE: usize = 38;

struct Findings {
    clean: bool,
    problems: Vec<(String, String)>,
}

impl Findings {
    fn report(&mut self, field: String, reason: String) {
        self.problems.push((field, reason));
    }

    /// Reports (and with `clean` removes) a control character in `text`. The field's name is
    /// made only then: most records have none, and naming every field of every record read
    /// cost a tenth of assembling it.
    fn text(&mut self, field: impl FnOnce() -> String, text: &mut String) {
        if let Some(bad) = control_character(text) {
            self.report(
                field(),
                format!("control character U+{:04X} in {text:?}", bad as u32),
            );
            if self.clean {
                *text = without_control_characters(text);
            }
        }
    }

    fn address(&mut self, prefix: &str, address: &mut Address) {
        self.text(|| format!("{prefix}.street"), &mut address.street);
        self.text(
            || format!("{prefix}.house_number"),
            &mut address.house_number,
        );
        self.text(|| format!("{prefix}.postal_code"), &mut address.postal_code);
        self.text(|| format!("{prefix}.city"), &mut address.city);
        self.text(|| format!("{prefix}.region"), &mut address.region);
        if !address.country.is_empty() && !is_known_country(&address.country) {
            self.report(
                format!("{prefix}.country"),
                format!("unknown country code {:?}", address.country),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(pairs: &[(&str, &str)]) -> Row {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn own(address_number: &str) -> (String, String) {
        (address_number.to_string(), String::new())
    }

    fn sample_tables() -> CustomerTables {
        let mut tables = CustomerTables::default();
        tables.addresses.insert(
            "0000000100".into(),
            row(&[
                ("NAME1", "Müller Maschinenbau"),
                ("NAME2", "GmbH & Co. KG Zweigwerk Stuttgart-Vaihingen"),
                ("STREET", "Hauptstraße"),
                ("HOUSE_NUM1", "12"),
                ("POST_CODE1", "70173"),
                ("CITY1", "Stuttgart"),
                ("REGION", "BW"),
                ("COUNTRY", "DE"),
            ]),
        );
        tables.addresses.insert(
            "0000000200".into(),
            row(&[
                ("STREET", "Werkstraße"),
                ("CITY1", "Ulm"),
                ("COUNTRY", "DE"),
            ]),
        );
        tables
            .address_number
            .insert("0000004712".into(), "0000000200".into());
        tables.server_now = "20261203120000".into();
        tables.emails.insert(
            own("0000000100"),
            vec![
                row(&[("CONSNUMBER", "001"), ("SMTP_ADDR", "first@x.de")]),
                row(&[
                    ("CONSNUMBER", "002"),
                    ("FLGDEFAULT", "X"),
                    ("SMTP_ADDR", "info@x.de"),
                ]),
            ],
        );
        tables.phones.insert(
            own("0000000100"),
            vec![row(&[("CONSNUMBER", "001"), ("TEL_NUMBER", "0711 123456")])],
        );
        tables
            .sales_area
            .insert("0000004711".into(), row(&[("ZTERM", "")]));
        tables
            .company_code
            .insert("0000004711".into(), row(&[("ZTERM", "ZB30")]));
        tables
            .payment_texts
            .insert("ZB30".into(), "30 days net".into());
        tables
            .ship_to
            .insert("0000004711".into(), vec![row(&[("KUNN2", "0000004712")])]);
        tables.contacts.insert(
            "0000004711".into(),
            vec![row(&[
                ("PARNR", "0000012345"),
                ("KUNNR", "0000004711"),
                ("ABTPA", "Einkauf"),
                ("PAFKT", "01"),
                ("PRSNR", "P1"),
            ])],
        );
        tables.persons.insert(
            "P1".into(),
            row(&[("NAME_FIRST", "Anna"), ("NAME_LAST", "Schmidt")]),
        );
        tables.phones.insert(
            ("0000000100".into(), "P1".into()),
            vec![
                row(&[("CONSNUMBER", "002"), ("TEL_NUMBER", "0711 99")]),
                row(&[
                    ("CONSNUMBER", "001"),
                    ("TEL_NUMBER", "0711 123456"),
                    ("TEL_EXTENS", "12"),
                ]),
                row(&[
                    ("CONSNUMBER", "003"),
                    ("TEL_NUMBER", "0171 555123"),
                    ("R3_USER", "2"),
                ]),
            ],
        );
        tables
            .function_texts
            .insert("01".into(), "Head of Purchasing".into());
        tables
    }

    fn kna1() -> Row {
        row(&[
            ("KUNNR", "0000004711"),
            ("NAME1", "Müller Maschinenbau"),
            ("NAME2", "GmbH & Co. KG Zweigwerk Stuttgart-Va"),
            ("KTOKD", "0001"),
            ("STCEG", "DE123456789"),
            ("ADRNR", "0000000100"),
            ("AUFSD", "01"),
        ])
    }

    #[test]
    fn a_customer_follows_the_canonical_conventions() {
        let (customer, problems) =
            assemble_customer(&kna1(), &sample_tables(), DirtyRecordPolicy::Skip);
        assert!(problems.is_empty(), "{problems:?}");
        let customer = customer.unwrap();
        assert_eq!(customer.customer_number_display.as_str(), "4711");
        // ADRC's 40-character line, not KNA1's copy cut at 35.
        assert_eq!(
            customer.name,
            "Müller Maschinenbau GmbH & Co. KG Zweigwerk Stuttgart-Vaihingen"
        );
        // A customer without its ADRC row keeps KNA1's name.
        let mut without_address = sample_tables();
        without_address.addresses.remove("0000000100");
        let (fallback, _) = assemble_customer(&kna1(), &without_address, DirtyRecordPolicy::Clean);
        assert_eq!(
            fallback.unwrap().name,
            "Müller Maschinenbau GmbH & Co. KG Zweigwerk Stuttgart-Va"
        );
        assert!(customer.blocked && !customer.deleted);
        assert_eq!(customer.email.as_deref(), Some("info@x.de"));
        assert_eq!(customer.phone.as_deref(), Some("0711 123456"));
        assert_eq!(customer.payment_terms.as_ref().unwrap().code, "ZB30");
        assert_eq!(
            customer.payment_terms.as_ref().unwrap().text.as_deref(),
            Some("30 days net")
        );
        assert_eq!(customer.shipping_address.as_ref().unwrap().city, "Ulm");
        assert_eq!(customer.billing_address.house_number, "12");
        let contact = &customer.contacts[0];
        assert_eq!(
            (contact.first_name.as_str(), contact.last_name.as_str()),
            ("Anna", "Schmidt")
        );
        assert_eq!(contact.function.as_deref(), Some("Head of Purchasing"));
        assert_eq!(contact.phones, vec!["0711 123456-12", "0711 99"]);
        assert_eq!(contact.mobile_phones, vec!["0171 555123"]);
    }

    #[test]
    fn a_dirty_record_is_reported_and_skipped_or_cleaned() {
        let mut tables = sample_tables();
        tables.emails.insert(
            own("0000000100"),
            vec![row(&[("FLGDEFAULT", "X"), ("SMTP_ADDR", "info(at)x.de")])],
        );
        if let Some(address) = tables.addresses.get_mut("0000000100") {
            *address = address
                .fields()
                .map(|(name, value)| match name {
                    "NAME1" => (name, "Müller\u{7}Maschinenbau"),
                    _ => (name, value),
                })
                .collect();
        }
        let dirty = kna1();
        let (skipped, problems) = assemble_customer(&dirty, &tables, DirtyRecordPolicy::Skip);
        assert!(skipped.is_none());
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems
            .iter()
            .all(|problem| problem.customer_number == "0000004711"));
        assert!(problems.iter().any(|problem| problem.field == "email"));
        let (cleaned, _) = assemble_customer(&dirty, &tables, DirtyRecordPolicy::Clean);
        let cleaned = cleaned.unwrap();
        assert_eq!(cleaned.name_parts[0], "Müller Maschinenbau");
        assert_eq!(cleaned.email, None);
    }

    #[test]
    fn rows_flagged_not_used_or_out_of_validity_are_left_out() {
        let mut tables = sample_tables();
        let work = ("0000000100".to_string(), "P1".to_string());
        tables.emails.insert(
            work.clone(),
            vec![
                row(&[
                    ("CONSNUMBER", "001"),
                    ("FLGDEFAULT", "X"),
                    ("FLG_NOUSE", "X"),
                    ("SMTP_ADDR", "old@x.de"),
                ]),
                row(&[
                    ("CONSNUMBER", "002"),
                    ("VALID_TO", "20191231235959"),
                    ("SMTP_ADDR", "expired@x.de"),
                ]),
                row(&[
                    ("CONSNUMBER", "003"),
                    ("VALID_FROM", "20900101000000"),
                    ("SMTP_ADDR", "future@x.de"),
                ]),
                row(&[
                    ("CONSNUMBER", "004"),
                    ("VALID_FROM", "20200101000000"),
                    ("VALID_TO", "20991231235959"),
                    ("SMTP_ADDR", "anna@x.de"),
                ]),
                row(&[("CONSNUMBER", "005"), ("SMTP_ADDR", "a.schmidt@x.de")]),
            ],
        );
        tables.emails.insert(
            own("0000000100"),
            vec![
                row(&[
                    ("CONSNUMBER", "001"),
                    ("FLGDEFAULT", "X"),
                    ("FLG_NOUSE", "X"),
                    ("SMTP_ADDR", "old-info@x.de"),
                ]),
                row(&[("CONSNUMBER", "002"), ("SMTP_ADDR", "info@x.de")]),
            ],
        );
        let (customer, _) = assemble_customer(&kna1(), &tables, DirtyRecordPolicy::Skip);
        let customer = customer.unwrap();
        assert_eq!(customer.email.as_deref(), Some("info@x.de"));
        assert_eq!(
            customer.contacts[0].emails,
            vec!["anna@x.de", "a.schmidt@x.de"]
        );
    }

    #[test]
    fn a_contact_reads_only_rows_under_its_customers_address() {
        let mut tables = sample_tables();
        // The same person under another address number is its private address (KNVK-ADRNP_2),
        // or another company's: not this contact's work data.
        tables.emails.insert(
            ("3000500001".into(), "P1".into()),
            vec![row(&[("CONSNUMBER", "001"), ("SMTP_ADDR", "anna@web.de")])],
        );
        tables.emails.insert(
            ("0000000100".into(), "P1".into()),
            vec![row(&[("CONSNUMBER", "001"), ("SMTP_ADDR", "anna@x.de")])],
        );
        let (customer, _) = assemble_customer(&kna1(), &tables, DirtyRecordPolicy::Skip);
        assert_eq!(customer.unwrap().contacts[0].emails, vec!["anna@x.de"]);
    }

    #[test]
    fn flags_count_in_the_company_code_the_sales_area_and_on_contacts() {
        let clean = |tables: &CustomerTables| {
            let kna1: Row = kna1()
                .fields()
                .filter(|(name, _)| *name != "AUFSD")
                .collect();
            assemble_customer(&kna1, tables, DirtyRecordPolicy::Skip)
                .0
                .unwrap()
        };
        let customer = clean(&sample_tables());
        assert!(!customer.deleted && !customer.blocked);
        assert_eq!(customer.contacts.len(), 1);

        for (company, area, deleted, blocked) in [
            (("LOEVM", "X"), ("", ""), true, false),
            (("SPERR", "X"), ("", ""), false, true),
            (("", ""), ("LOEVM", "X"), true, false),
            (("", ""), ("AUFSD", "01"), false, true),
            (("", ""), ("LIFSD", "01"), false, true),
            (("", ""), ("FAKSD", "02"), false, true),
        ] {
            let mut tables = sample_tables();
            tables
                .company_code
                .insert("0000004711".into(), row(&[("ZTERM", "ZB30"), company]));
            tables
                .sales_area
                .insert("0000004711".into(), row(&[("ZTERM", ""), area]));
            let customer = clean(&tables);
            assert_eq!(
                (customer.deleted, customer.blocked),
                (deleted, blocked),
                "KNB1 {company:?} KNVV {area:?}"
            );
        }

        let mut tables = sample_tables();
        let contact = &mut tables.contacts.get_mut("0000004711").unwrap()[0];
        *contact = contact.fields().chain([("LOEVM", "X")]).collect();
        assert!(clean(&tables).contacts.is_empty());
    }
}
