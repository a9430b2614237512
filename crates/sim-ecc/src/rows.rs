//! Renders the ECC tables from the data model: one `RowRef` per table row, whose field values
//! are what the database holds (trimmed; padding happens when a WA row is built).
//!
//! Rows come in the physical order of the simulated database: customer-level tables follow the
//! seeded `storage_order`, not the key.

use std::borrow::Cow;

use crate::model::*;
use crate::vocabulary::{CONTACT_FUNCTIONS, PAYMENT_TERMS};

#[derive(Clone, Copy)]
pub enum RowRef<'a> {
    Kna1(&'a CustomerMaster),
    Knb1(&'a CustomerMaster, &'a CompanyData),
    Knvv(&'a CustomerMaster, &'a SalesData),
    Knvp {
        customer: &'a CustomerMaster,
        area: &'a SalesData,
        function: &'static str,
        counter: u32,
        partner: &'a str,
        contact: u32,
    },
    Knvk {
        customer: &'a str,
        vendor: &'a str,
        contact: &'a Contact,
    },
    Adrc {
        customer: &'a CustomerMaster,
        international: bool,
    },
    Adr2 {
        address_number: u32,
        person: u32,
        phone: &'a Phone,
    },
    Adr6 {
        address_number: u32,
        person: u32,
        email: &'a Email,
    },
    Adrp(&'a Contact),
    Tvzbt {
        language: &'static str,
        code: &'static str,
        text: &'static str,
    },
    Tpfkt {
        language: &'static str,
        code: &'static str,
        text: &'static str,
    },
    /// TTZCU, the client's one row of time-zone customizing.
    Ttzcu(&'static str),
    Cdhdr(&'a ChangeDocument),
    Cdpos(&'a ChangeDocument, &'a ChangeItem),
}

fn b(text: &str) -> Cow<'_, str> {
    Cow::Borrowed(text)
}

fn o<'a>(text: String) -> Cow<'a, str> {
    Cow::Owned(text)
}

fn address_number(number: u32) -> String {
    numc(number, 10)
}

fn person_number(number: u32) -> String {
    if number == 0 {
        String::new()
    } else {
        numc(number, 10)
    }
}

impl<'a> RowRef<'a> {
    /// The value of `field` in this row; "" for a field of the table that is not populated.
    pub fn value(&self, client: &'a str, field: &str) -> Cow<'a, str> {
        if matches!(field, "MANDT" | "CLIENT" | "MANDANT") {
            return b(client);
        }
        match *self {
            RowRef::Kna1(c) => kna1(c, field),
            RowRef::Knb1(c, d) => match field {
                "KUNNR" => b(c.kunnr),
                "BUKRS" => b(d.company_code()),
                "ERDAT" => o(dats(c.created_on)),
                "ERNAM" => b(c.created_by),
                "SPERR" => b(flag(d.posting_block)),
                "LOEVM" => b(flag(d.deletion_flag)),
                "AKONT" => b(d.reconciliation_account()),
                "ZTERM" => b(d.payment_terms()),
                "ZUAWA" => b("001"),
                "ZWELS" => b("CU"),
                _ => b(""),
            },
            RowRef::Knvv(c, s) => match field {
                "KUNNR" => b(c.kunnr),
                "VKORG" => b(s.sales_org()),
                "VTWEG" => b(s.channel()),
                "SPART" => b(s.division()),
                "ERNAM" => b(c.created_by),
                "ERDAT" => o(dats(c.created_on)),
                "LOEVM" => b(flag(s.deletion_flag)),
                "AUFSD" => b(s.blocks.order()),
                "LIFSD" => b(s.blocks.delivery()),
                "FAKSD" => b(s.blocks.billing()),
                "WAERS" => b(s.currency()),
                "ZTERM" => b(s.payment_terms()),
                "KALKS" => b("1"),
                "VSBED" => b("01"),
                "INCO1" => b(if c.country == "DE" { "DAP" } else { "EXW" }),
                "INCO2" => b(c.city),
                "KTGRD" => b("01"),
                "ANTLF" | "UEBTO" | "UNTTO" => b(delivery_terms(c)[match field {
                    "ANTLF" => 0,
                    "UEBTO" => 1,
                    _ => 2,
                }]),
                _ => b(""),
            },
            RowRef::Knvp {
                customer,
                area,
                function,
                counter,
                partner,
                contact,
            } => match field {
                "KUNNR" => b(customer.kunnr),
                "VKORG" => b(area.sales_org()),
                "VTWEG" => b(area.channel()),
                "SPART" => b(area.division()),
                "PARVW" => b(function),
                "PARZA" => o(numc(counter, 3)),
                "KUNN2" => b(partner),
                "PARNR" => o(if contact == 0 {
                    String::new()
                } else {
                    numc(contact, 10)
                }),
                "DEFPA" => b(""),
                _ => b(""),
            },
            RowRef::Knvk {
                customer,
                vendor,
                contact,
            } => match field {
                "PARNR" => o(numc(contact.parnr, 10)),
                "KUNNR" => b(customer),
                "LIFNR" => b(vendor),
                "NAMEV" => b(contact.first_name),
                "NAME1" => b(contact.last_name),
                "ABTPA" => b(contact.department),
                "PAFKT" => b(contact.function),
                "PARGE" => b(contact.sex),
                "PARLA" => b(contact.language),
                "ANRED" => b(match contact.sex {
                    "1" => "Mr.",
                    "2" => "Ms.",
                    _ => "",
                }),
                "TELF1" => o(
                    default_entry(&contact.phones, |p| p.default, |p| p.consnumber)
                        .map(|phone| truncate(phone.number, 16))
                        .unwrap_or_default(),
                ),
                "PRSNR" => o(person_number(contact.prsnr)),
                "ADRNP_2" => o(contact
                    .private
                    .as_ref()
                    .map(|private| address_number(private.address_number))
                    .unwrap_or_default()),
                "LOEVM" => b(flag(contact.deletion_flag)),
                "ERDAT" => o(dats(contact.created_on)),
                "ERNAM" => b("MEIER"),
                "SORTL" => o(truncate(&contact.last_name.to_uppercase(), 10)),
                _ => b(""),
            },
            RowRef::Adrc {
                customer,
                international,
            } => adrc(customer, international, field),
            RowRef::Adr2 {
                address_number: number,
                person,
                phone,
            } => match field {
                "ADDRNUMBER" => o(address_number(number)),
                "PERSNUMBER" => o(person_number(person)),
                "DATE_FROM" => b("00010101"),
                "CONSNUMBER" => o(numc(u32::from(phone.consnumber), 3)),
                "COUNTRY" => b(phone.country),
                "FLGDEFAULT" => b(flag(phone.default)),
                "FLG_NOUSE" => b(phone.validity.not_used_flag()),
                "VALID_FROM" => o(phone.validity.valid_from()),
                "VALID_TO" => o(phone.validity.valid_to()),
                "HOME_FLAG" => b("X"),
                "TEL_NUMBER" => b(phone.number),
                "TEL_EXTENS" => b(phone.extension),
                "TELNR_LONG" => o(truncate(&international_number(phone), 30)),
                "TELNR_CALL" => o(truncate(&call_number(phone), 30)),
                "R3_USER" => b(match (phone.mobile, phone.default) {
                    (false, false) => "",
                    (false, true) => "1",
                    (true, false) => "2",
                    (true, true) => "3",
                }),
                _ => b(""),
            },
            RowRef::Adr6 {
                address_number: number,
                person,
                email,
            } => match field {
                "ADDRNUMBER" => o(address_number(number)),
                "PERSNUMBER" => o(person_number(person)),
                "DATE_FROM" => b("00010101"),
                "CONSNUMBER" => o(numc(u32::from(email.consnumber), 3)),
                "FLGDEFAULT" => b(flag(email.default)),
                "FLG_NOUSE" => b(email.validity.not_used_flag()),
                "VALID_FROM" => o(email.validity.valid_from()),
                "VALID_TO" => o(email.validity.valid_to()),
                "HOME_FLAG" => b("X"),
                "SMTP_ADDR" => b(email.address),
                "SMTP_SRCH" => o(truncate(&email.address.to_uppercase(), 20)),
                _ => b(""),
            },
            RowRef::Adrp(contact) => match field {
                "PERSNUMBER" => o(person_number(contact.prsnr)),
                "DATE_FROM" => b("00010101"),
                "NATION" => b(""),
                "DATE_TO" => b("99991231"),
                "NAME_FIRST" => b(contact.first_name),
                "NAME_LAST" => b(contact.last_name),
                "NAME_TEXT" => o(format!("{} {}", contact.first_name, contact.last_name)),
                "SEX" => b(contact.sex),
                "LANGU" => b(contact.language),
                "SORT1" => o(truncate(&contact.last_name.to_uppercase(), 20)),
                "SORT2" => o(truncate(&contact.first_name.to_uppercase(), 20)),
                "TITLE" => b(match contact.sex {
                    "1" => "0002",
                    "2" => "0001",
                    _ => "",
                }),
                _ => b(""),
            },
            RowRef::Tvzbt {
                language,
                code,
                text,
            } => match field {
                "SPRAS" => b(language),
                "ZTERM" => b(code),
                "VTEXT" => b(text),
                _ => b(""),
            },
            RowRef::Tpfkt {
                language,
                code,
                text,
            } => match field {
                "SPRAS" => b(language),
                "PAFKT" => b(code),
                "VTEXT" => b(text),
                _ => b(""),
            },
            RowRef::Ttzcu(zone) => match field {
                "FLAGACTIVE" => b("X"),
                "TZONESYS" | "TZONEDEF" => b(zone),
                _ => b(""),
            },
            RowRef::Cdhdr(document) => cdhdr(document, field),
            RowRef::Cdpos(document, item) => match field {
                "CHANGENR" => o(numc(document.change_number, 10)),
                "TABNAME" => b(item.table),
                "TABKEY" => b(&item.table_key),
                "FNAME" => b(item.field),
                "CHNGIND" => b(item.change_indicator),
                "VALUE_NEW" => b(&item.value_new),
                "VALUE_OLD" => b(&item.value_old),
                _ => cdhdr(document, field),
            },
        }
    }
}

/// KNVV's packed delivery terms of a customer (ANTLF, UEBTO, UNTTO), as numbers: an
/// underdelivery tolerance of 10 % or more is what RFC_READ_TABLE cannot write in UNTTO's three
/// digits ("*.0").
pub fn delivery_terms(c: &CustomerMaster) -> [&'static str; 3] {
    const TERMS: [[&str; 3]; 4] = [
        ["0", "0.0", "0.0"],
        ["9", "5.0", "2.5"],
        ["1", "2.5", "10.0"],
        ["3", "9.9", "5.0"],
    ];
    TERMS[c.address_number as usize % TERMS.len()]
}

fn kna1<'a>(c: &'a CustomerMaster, field: &str) -> Cow<'a, str> {
    match field {
        "KUNNR" => b(c.kunnr),
        "LAND1" => b(c.country),
        // KNA1 holds copies of the ADRC name lines, cut at 35 characters.
        "NAME1" | "NAME2" | "NAME3" | "NAME4" => {
            let index = usize::from(field.as_bytes()[4] - b'1');
            o(truncate(c.name[index], KNA1_NAME_LENGTH))
        }
        "ORT01" => b(c.kna1_city()),
        "PSTLZ" => b(c.kna1_postal_code()),
        "REGIO" => b(c.region),
        "SORTL" => o(c.sort_field()),
        "STRAS" => o(c.kna1_street()),
        "TELF1" => o(c.kna1_phone()),
        "XCPDK" => b(flag(c.one_time)),
        "ADRNR" => o(address_number(c.address_number)),
        "MCOD1" => o(truncate(&c.name[0].to_uppercase(), 25)),
        "MCOD2" => o(truncate(&c.name[1].to_uppercase(), 25)),
        "MCOD3" => o(truncate(&c.kna1_city().to_uppercase(), 25)),
        "ANRED" => b(if c.one_time { "" } else { "Company" }),
        "AUFSD" => b(c.blocks.order()),
        "LIFSD" => b(c.blocks.delivery()),
        "FAKSD" => b(c.blocks.billing()),
        "BRSCH" => b(c.industry),
        "ERDAT" => o(dats(c.created_on)),
        "ERNAM" => b(c.created_by),
        "KTOKD" => b(c.account_group),
        "LOEVM" => b(flag(c.deletion_flag)),
        "SPERR" => b(flag(c.posting_block)),
        "SPRAS" => b(c.language),
        "STCEG" => b(c.vat),
        "STKZU" => b(flag(!c.vat.is_empty())),
        _ => b(""),
    }
}

fn adrc<'a>(c: &'a CustomerMaster, international: bool, field: &str) -> Cow<'a, str> {
    match field {
        "ADDRNUMBER" => o(address_number(c.address_number)),
        "DATE_FROM" => b("00010101"),
        "NATION" => b(if international { "I" } else { "" }),
        "DATE_TO" => b("99991231"),
        "TITLE" => b(if c.one_time { "" } else { "0003" }),
        "NAME1" | "NAME2" | "NAME3" | "NAME4" => {
            let index = usize::from(field.as_bytes()[4] - b'1');
            if international {
                let latin = crate::vocabulary::transliterate(c.name[index]).to_uppercase();
                o(truncate(&latin, ADRC_NAME_LENGTH))
            } else {
                b(c.name[index])
            }
        }
        "CITY1" => b(c.city),
        "POST_CODE1" => b(c.postal_code),
        "STREET" => b(c.street),
        "HOUSE_NUM1" => b(c.house_number),
        "COUNTRY" => b(c.country),
        "LANGU" => b(c.language),
        "REGION" => b(c.region),
        "SORT1" => o(c.sort_field()),
        "DEFLT_COMM" => b(if c.emails.is_empty() { "" } else { "INT" }),
        "TEL_NUMBER" => o(c
            .default_phone()
            .map(|p| p.number.to_string())
            .unwrap_or_default()),
        "TEL_EXTENS" => o(c
            .default_phone()
            .map(|p| p.extension.to_string())
            .unwrap_or_default()),
        "TIME_ZONE" => b(match c.country {
            "US" => "CST",
            "GB" => "UTC",
            _ => "CET",
        }),
        _ => b(""),
    }
}

fn cdhdr<'a>(document: &'a ChangeDocument, field: &str) -> Cow<'a, str> {
    match field {
        "OBJECTCLAS" => b(document.object_class),
        "OBJECTID" => b(&document.object_id),
        "CHANGENR" => o(numc(document.change_number, 10)),
        "USERNAME" => b(document.user),
        "UDATE" => o(dats(document.date)),
        "UTIME" => o(tims(document.time)),
        "TCODE" => b(document.transaction),
        "CHANGE_IND" => b(document.change_indicator),
        "LANGU" => b("E"),
        _ => b(""),
    }
}

/// ADR2-TELNR_LONG as SAP fills it: the country's dialling code (from ADR2-COUNTRY, unless the
/// clerk typed one), the number without its trunk 0, and "-" and the extension.
pub fn international_number(phone: &Phone) -> String {
    let number = phone.number.trim();
    let national = if number.starts_with('+') {
        number.to_string()
    } else {
        let prefix = crate::vocabulary::COUNTRIES
            .iter()
            .find(|country| country.code == phone.country)
            .map_or("", |country| country.phone_prefix);
        let without_trunk = number.strip_prefix('0').unwrap_or(number);
        if prefix.is_empty() {
            without_trunk.to_string()
        } else {
            format!("{prefix} {without_trunk}")
        }
    };
    let extension = phone.extension.trim();
    if extension.is_empty() {
        national
    } else {
        format!("{national}-{extension}")
    }
}

/// ADR2-TELNR_CALL: the complete number as digits after "+", for finding a caller.
fn call_number(phone: &Phone) -> String {
    let long = international_number(phone);
    let digits: String = long.chars().filter(|c| c.is_ascii_digit()).collect();
    if long.starts_with('+') {
        format!("+{digits}")
    } else {
        digits
    }
}

/// Whether a customer has an international address version (NATION 'I') in ADRC, as some do.
fn has_international_version(customer: &CustomerMaster) -> bool {
    customer.address_number % 20 == 7 && !customer.one_time
}

/// Calls `visit` for every row of `table` in physical order until it returns false.
/// `customers` restricts the customer-level rows to a subset (already in physical order).
pub fn scan<'a>(data: &'a EccData, table: &str, visit: &mut dyn FnMut(RowRef<'a>) -> bool) {
    scan_customers(data, table, None, visit);
}

/// Like `scan`, but visits only the customer-level rows of `subset` (customer indices, in
/// physical order); rows not tied to a customer (vendor contacts, customizing, change
/// documents) are all visited. The caller still applies its WHERE clause to every row.
pub fn scan_customers<'a>(
    data: &'a EccData,
    table: &str,
    subset: Option<&[u32]>,
    visit: &mut dyn FnMut(RowRef<'a>) -> bool,
) {
    let order: &[u32] = subset.unwrap_or(&data.storage_order);
    let customers = || order.iter().map(|index| &data.customers[*index as usize]);
    match table {
        "KNA1" => {
            for customer in customers() {
                if !visit(RowRef::Kna1(customer)) {
                    return;
                }
            }
        }
        "KNB1" => {
            for customer in customers() {
                for company in &customer.company_codes {
                    if !visit(RowRef::Knb1(customer, company)) {
                        return;
                    }
                }
            }
        }
        "KNVV" => {
            for customer in customers() {
                for area in &customer.sales_areas {
                    if !visit(RowRef::Knvv(customer, area)) {
                        return;
                    }
                }
            }
        }
        "KNVP" => {
            for customer in customers() {
                for area in &customer.sales_areas {
                    let ship_to = area.ship_to.map_or(customer.kunnr, |index| {
                        &*data.customers[index as usize].kunnr
                    });
                    for (function, partner) in [
                        ("AG", customer.kunnr),
                        ("RE", customer.kunnr),
                        ("RG", customer.kunnr),
                        ("WE", ship_to),
                    ] {
                        let row = RowRef::Knvp {
                            customer,
                            area,
                            function,
                            counter: 0,
                            partner,
                            contact: 0,
                        };
                        if !visit(row) {
                            return;
                        }
                    }
                    for (counter, contact) in customer.contacts.iter().enumerate() {
                        let row = RowRef::Knvp {
                            customer,
                            area,
                            function: "AP",
                            counter: counter as u32,
                            partner: "",
                            contact: contact.parnr,
                        };
                        if !visit(row) {
                            return;
                        }
                    }
                }
            }
        }
        "KNVK" => {
            for customer in customers() {
                for contact in &customer.contacts {
                    if !visit(RowRef::Knvk {
                        customer: customer.kunnr,
                        vendor: "",
                        contact,
                    }) {
                        return;
                    }
                }
            }
            for vendor in &data.vendor_contacts {
                if !visit(RowRef::Knvk {
                    customer: "",
                    vendor: vendor.vendor,
                    contact: &vendor.contact,
                }) {
                    return;
                }
            }
        }
        "ADRC" => {
            for customer in customers() {
                if !visit(RowRef::Adrc {
                    customer,
                    international: false,
                }) {
                    return;
                }
                if has_international_version(customer)
                    && !visit(RowRef::Adrc {
                        customer,
                        international: true,
                    })
                {
                    return;
                }
            }
        }
        "ADR2" | "ADR6" => {
            let phones = table == "ADR2";
            let mut emit = |address_number: u32,
                            person: u32,
                            emails: &'a [Email],
                            phone_list: &'a [Phone]|
             -> bool {
                if phones {
                    phone_list.iter().all(|phone| {
                        visit(RowRef::Adr2 {
                            address_number,
                            person,
                            phone,
                        })
                    })
                } else {
                    emails.iter().all(|email| {
                        visit(RowRef::Adr6 {
                            address_number,
                            person,
                            email,
                        })
                    })
                }
            };
            // Under each address: the rows in use, then those flagged or out of validity; a
            // contact's private rows sit under its own address number (KNVK-ADRNP_2).
            let mut emit_all = |address_number: u32,
                                person: u32,
                                emails: &'a [Email],
                                phone_list: &'a [Phone],
                                inactive: Option<&'a InactiveCommunication>|
             -> bool {
                emit(address_number, person, emails, phone_list)
                    && inactive.is_none_or(|inactive| {
                        emit(address_number, person, &inactive.emails, &inactive.phones)
                    })
            };
            let contacts = order
                .iter()
                .map(|index| &data.customers[*index as usize])
                .flat_map(|customer| {
                    customer
                        .contacts
                        .iter()
                        .map(move |contact| (customer.address_number, contact))
                });
            let vendors = data
                .vendor_contacts
                .iter()
                .map(|vendor| (vendor.address_number, &vendor.contact));
            for customer in customers() {
                if !emit_all(
                    customer.address_number,
                    0,
                    &customer.emails,
                    &customer.phones,
                    customer.inactive.as_deref(),
                ) {
                    return;
                }
            }
            for (address_number, contact) in contacts.chain(vendors) {
                let work = emit_all(
                    address_number,
                    contact.prsnr,
                    &contact.emails,
                    &contact.phones,
                    contact.inactive.as_deref(),
                );
                let private = work
                    && contact.private.as_deref().is_none_or(|private| {
                        emit_all(
                            private.address_number,
                            contact.prsnr,
                            &private.emails,
                            &private.phones,
                            None,
                        )
                    });
                if !private {
                    return;
                }
            }
        }
        "ADRP" => {
            for customer in customers() {
                for contact in &customer.contacts {
                    if !visit(RowRef::Adrp(contact)) {
                        return;
                    }
                }
            }
            for vendor in &data.vendor_contacts {
                if !visit(RowRef::Adrp(&vendor.contact)) {
                    return;
                }
            }
        }
        "TVZBT" => {
            for (code, english, german) in PAYMENT_TERMS {
                for (language, text) in [("E", english), ("D", german)] {
                    if let Some(text) = text {
                        if !visit(RowRef::Tvzbt {
                            language,
                            code,
                            text,
                        }) {
                            return;
                        }
                    }
                }
            }
        }
        "TPFKT" => {
            for (code, english, german) in CONTACT_FUNCTIONS {
                for (language, text) in [("E", english), ("D", german)] {
                    if !visit(RowRef::Tpfkt {
                        language,
                        code,
                        text,
                    }) {
                        return;
                    }
                }
            }
        }
        "TTZCU" => {
            visit(RowRef::Ttzcu(data.system_time_zone));
        }
        "CDHDR" => {
            for document in &data.change_documents {
                if !visit(RowRef::Cdhdr(document)) {
                    return;
                }
            }
        }
        "CDPOS" => {
            for document in &data.change_documents {
                for item in &document.items {
                    if !visit(RowRef::Cdpos(document, item)) {
                        return;
                    }
                }
            }
        }
        _ => {}
    }
}

/// TVZBT text of a payment-terms key in a language (SPRAS), if ECC has one.
pub fn payment_terms_text(code: &str, language: &str) -> Option<&'static str> {
    PAYMENT_TERMS
        .iter()
        .find(|(key, _, _)| *key == code)
        .and_then(|(_, english, german)| match language {
            "D" => *german,
            _ => *english,
        })
}

/// TPFKT text of a contact function in a language (SPRAS).
pub fn function_text(code: &str, language: &str) -> Option<&'static str> {
    CONTACT_FUNCTIONS
        .iter()
        .find(|(key, _, _)| *key == code)
        .map(|(_, english, german)| match language {
            "D" => *german,
            _ => *english,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generate::{generate, GenerationSettings};
    use crate::schema::TABLES;

    #[test]
    fn every_value_fits_its_field_and_numbers_are_digits() {
        let data = generate(&GenerationSettings {
            customers: 400,
            seed: 3,
            contacts_per_customer: 3,
            duplicate_rate: 0.1,
            dirty_rate: 0.1,
            client: "100".into(),
        });
        let mut data = data;
        data.change_documents.push(ChangeDocument {
            object_class: "DEBI",
            object_id: "0000100000".into(),
            change_number: 1,
            user: "MEIER",
            date: 20260101,
            time: 120000,
            transaction: "XD02",
            change_indicator: "U",
            items: vec![ChangeItem {
                table: "KNA1",
                table_key: "1000000100000".into(),
                field: "NAME1",
                change_indicator: "U",
                value_new: "Neu GmbH".into(),
                value_old: "Alt GmbH".into(),
            }],
        });
        for table in TABLES {
            let mut rows = 0;
            scan(&data, table.name, &mut |row| {
                rows += 1;
                for field in table.fields {
                    let value = row.value("100", field.name);
                    // A packed value is a number; RFC_READ_TABLE fits it into the row.
                    if let crate::schema::FieldType::Packed(_) = field.field_type {
                        assert!(
                            value.parse::<f64>().is_ok(),
                            "{}-{} = {value:?}",
                            table.name,
                            field.name
                        );
                        continue;
                    }
                    assert!(
                        value.chars().count() <= field.length,
                        "{}-{} = {value:?}",
                        table.name,
                        field.name
                    );
                    if field.field_type != crate::schema::FieldType::Char {
                        assert!(
                            value.chars().all(|c| c.is_ascii_digit()),
                            "{}-{} = {value:?}",
                            table.name,
                            field.name
                        );
                    }
                }
                true
            });
            assert!(rows > 0, "{} has rows", table.name);
        }
    }
}
