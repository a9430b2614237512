//! Changes to the customer master as SAP transactions make them: XD02/VAP2 edits and contact
//! deletions, XD01 creations and XD06 deletion flags write change documents (CDHDR/CDPOS,
//! object class DEBI, OBJECTID = KUNNR, UDATE/UTIME in the server's time zone); edits made only
//! in Business Address Services (ADRC, ADR2, ADR6) write no DEBI document, leave KNA1's
//! redundant copies stale, and write BAS's own (object class ADRESSE, OBJECTID = address group
//! and address number) unless the simulator runs with `--no-address-change-documents`.

use chrono::{Datelike, Timelike};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::generate;
use crate::model::*;
use crate::state::SimState;
use crate::vocabulary::{domain_slug, CONTACT_FUNCTIONS, COUNTRIES, CREATORS, PAYMENT_TERMS};

/// `POST /_sim/mutate`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct MutationRequest {
    /// Customers changed through XD02 (name, address, payment terms or phone): change documents.
    pub customers: usize,
    /// Contacts changed through VAP2 (name, department, function; sometimes the e-mail too).
    pub contacts: usize,
    /// Customers whose e-mail, phone or street is changed in BAS only: no DEBI change document,
    /// an ADRESSE one unless switched off.
    pub address_only: usize,
    pub seed: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactChange {
    pub contact_number: String,
    pub customer_number: String,
}

/// What a mutation changed, by kind, so tests can check the extraction against it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MutationReport {
    pub customers: Vec<String>,
    pub contacts: Vec<ContactChange>,
    pub address_only: Vec<String>,
    /// Sold-to customers whose shipping address changed because their ship-to party (KNVP WE)
    /// was edited: their truth moved, yet SAP writes no change document under their number.
    pub ship_to_affected: Vec<String>,
    /// CHANGENR of every change document written.
    pub change_numbers: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct CountRequest {
    pub count: usize,
    pub seed: Option<u64>,
}

/// The server's local date (YYYYMMDD) and time (HHMMSS) now.
pub fn local_now(state: &SimState) -> (u32, u32) {
    let now = state.now().with_timezone(&state.timezone);
    (
        now.year() as u32 * 10_000 + now.month() * 100 + now.day(),
        now.hour() * 10_000 + now.minute() * 100 + now.second(),
    )
}

fn key_kna1(client: &str, kunnr: &str) -> String {
    format!("{client}{kunnr:<10}")
}

struct DocumentWriter<'a> {
    data: &'a mut EccData,
    date: u32,
    time: u32,
}

impl DocumentWriter<'_> {
    fn write(
        &mut self,
        kunnr: &str,
        transaction: &'static str,
        change_indicator: &'static str,
        items: Vec<ChangeItem>,
        user: &'static str,
    ) -> String {
        self.write_for("DEBI", kunnr, transaction, change_indicator, items, user)
    }

    fn write_for(
        &mut self,
        object_class: &'static str,
        object_id: &str,
        transaction: &'static str,
        change_indicator: &'static str,
        items: Vec<ChangeItem>,
        user: &'static str,
    ) -> String {
        let change_number = self.data.next_change_number;
        self.data.next_change_number += 1;
        self.data.change_documents.push(ChangeDocument {
            object_class,
            object_id: object_id.into(),
            change_number,
            user,
            date: self.date,
            time: self.time,
            transaction,
            change_indicator,
            items,
        });
        numc(change_number, 10)
    }
}

fn item(
    table: &'static str,
    table_key: String,
    field: &'static str,
    old: &str,
    new: &str,
) -> ChangeItem {
    ChangeItem {
        table,
        table_key: table_key.into(),
        field,
        change_indicator: "U",
        value_new: new.into(),
        value_old: old.into(),
    }
}

fn country_of(customer: &CustomerMaster) -> &'static crate::vocabulary::Country {
    COUNTRIES
        .iter()
        .find(|country| country.code == customer.country)
        .unwrap_or(&COUNTRIES[0])
}

/// Picks `count` distinct customers that are neither one-time accounts nor dirty.
fn pick_customers(
    data: &EccData,
    rng: &mut ChaCha8Rng,
    count: usize,
    exclude: &[usize],
) -> Vec<usize> {
    let excluded: std::collections::HashSet<usize> = exclude.iter().copied().collect();
    // Dirty customers stay as they are: an edit could clean them and make their reason stale.
    let mut candidates: Vec<usize> = (0..data.customers.len())
        .filter(|index| {
            let customer = &data.customers[*index];
            !customer.one_time && customer.dirty.is_none() && !excluded.contains(index)
        })
        .collect();
    let count = count.min(candidates.len());
    let (chosen, _) = candidates.partial_shuffle(rng, count);
    chosen.to_vec()
}

pub fn mutate(state: &SimState, request: &MutationRequest) -> MutationReport {
    let (date, time) = local_now(state);
    let scope = state.scope.clone();
    let mut data = state.write_data();
    let client = data.client.clone();
    let mut rng = ChaCha8Rng::seed_from_u64(
        request.seed ^ 0x3u64.wrapping_shl(40) ^ data.next_change_number as u64,
    );
    let mut report = MutationReport::default();

    let chosen = pick_customers(&data, &mut rng, request.customers, &[]);
    for index in chosen.iter().copied() {
        let user = CREATORS[rng.gen_range(0..CREATORS.len())];
        let items = change_customer(&mut data, &mut rng, index, &client, &scope);
        let kunnr = data.customers[index].kunnr.to_string();
        let mut writer = DocumentWriter {
            data: &mut data,
            date,
            time,
        };
        report
            .change_numbers
            .push(writer.write(&kunnr, "XD02", "U", items, user));
        report.customers.push(kunnr);
    }

    let mut changed_contacts: Vec<u32> = Vec::new();
    let with_contacts: Vec<usize> = (0..data.customers.len())
        .filter(|index| {
            !data.customers[*index].contacts.is_empty() && data.customers[*index].dirty.is_none()
        })
        .collect();
    let mut attempts = 0;
    while changed_contacts.len() < request.contacts
        && !with_contacts.is_empty()
        && attempts < request.contacts * 20 + 100
    {
        attempts += 1;
        let customer_index = with_contacts[rng.gen_range(0..with_contacts.len())];
        let contact_index = rng.gen_range(0..data.customers[customer_index].contacts.len());
        let parnr = data.customers[customer_index].contacts[contact_index].parnr;
        if changed_contacts.contains(&parnr) {
            continue;
        }
        changed_contacts.push(parnr);
        let items = change_contact(&mut data, &mut rng, customer_index, contact_index, &client);
        let kunnr = data.customers[customer_index].kunnr.to_string();
        let mut writer = DocumentWriter {
            data: &mut data,
            date,
            time,
        };
        report
            .change_numbers
            .push(writer.write(&kunnr, "VAP2", "U", items, "MEIER"));
        report.contacts.push(ContactChange {
            contact_number: numc(parnr, 10),
            customer_number: kunnr,
        });
    }

    let chosen_address_only = pick_customers(&data, &mut rng, request.address_only, &chosen);
    for index in chosen_address_only.iter().copied() {
        let item = change_in_bas_only(&mut data.customers[index], &mut rng, &client);
        if state.options.address_change_documents() {
            let object_id = address_object_id(data.customers[index].address_number);
            let user = CREATORS[rng.gen_range(0..CREATORS.len())];
            let mut writer = DocumentWriter {
                data: &mut data,
                date,
                time,
            };
            report.change_numbers.push(writer.write_for(
                "ADRESSE",
                &object_id,
                "XD02",
                "U",
                vec![item],
                user,
            ));
        }
        report
            .address_only
            .push(data.customers[index].kunnr.to_string());
    }

    let edited_ship_tos: std::collections::HashSet<u32> = chosen
        .iter()
        .chain(&chosen_address_only)
        .filter(|index| data.customers[**index].account_group == "0002")
        .map(|index| *index as u32)
        .collect();
    if !edited_ship_tos.is_empty() {
        report.ship_to_affected = data
            .customers
            .iter()
            .filter(|customer| {
                customer.sales_areas.iter().any(|area| {
                    area.is_area(&scope.sales_area)
                        && area
                            .ship_to
                            .is_some_and(|ship_to| edited_ship_tos.contains(&ship_to))
                })
            })
            .map(|customer| customer.kunnr.to_string())
            .collect();
    }
    report
}

/// One XD02 edit; returns the CDPOS items SAP writes for it.
fn change_customer(
    data: &mut EccData,
    rng: &mut ChaCha8Rng,
    index: usize,
    client: &str,
    scope: &crate::truth::TruthScope,
) -> Vec<ChangeItem> {
    let kunnr = data.customers[index].kunnr.to_string();
    let key = key_kna1(client, &kunnr);
    let country = country_of(&data.customers[index]);
    let kind = rng.gen_range(0..4);
    let customer = &mut data.customers[index];
    match kind {
        1 => {
            let old_street = customer.kna1_street();
            let old_postal = customer.kna1_postal_code().to_string();
            let mut street = country.streets[rng.gen_range(0..country.streets.len())];
            if *street == *customer.street {
                street = country.streets[(country
                    .streets
                    .iter()
                    .position(|s| *s == street)
                    .unwrap_or(0)
                    + 1)
                    % country.streets.len()];
            }
            customer.street = street;
            customer.house_number = text(rng.gen_range(1..250).to_string());
            customer.stale_copy = None;
            let mut items = vec![item(
                "KNA1",
                key.clone(),
                "STRAS",
                &old_street,
                &customer.kna1_street(),
            )];
            if rng.gen_bool(0.5) && !customer.postal_code.is_empty() {
                let mut postal: String = customer.postal_code.to_string();
                let last = postal.pop().unwrap_or('0');
                postal.push(if last == '9' {
                    '0'
                } else {
                    char::from(last as u8 + 1)
                });
                customer.postal_code = text(postal);
                items.push(item(
                    "KNA1",
                    key,
                    "PSTLZ",
                    &old_postal,
                    customer.postal_code,
                ));
            }
            items
        }
        2 => {
            let effective = crate::truth::payment_terms(customer, scope).map(|terms| terms.code);
            let new_code = PAYMENT_TERMS
                .iter()
                .map(|(code, _, _)| *code)
                .filter(|code| Some(code.to_string()) != effective)
                .nth(rng.gen_range(0..PAYMENT_TERMS.len() - 1))
                .unwrap_or("ZB30");
            if let Some(area) = customer
                .sales_areas
                .iter_mut()
                .find(|area| area.is_area(&scope.sales_area))
            {
                let old = area.payment_terms();
                area.set_payment_terms(new_code);
                let table_key = format!(
                    "{client}{kunnr:<10}{}{}{}",
                    area.sales_org(),
                    area.channel(),
                    area.division()
                );
                return vec![item("KNVV", table_key, "ZTERM", old, new_code)];
            }
            if let Some(company) = customer
                .company_codes
                .iter_mut()
                .find(|company| company.company_code() == scope.company_code)
            {
                let old = company.payment_terms();
                company.set_payment_terms(new_code);
                let table_key = format!("{client}{kunnr:<10}{}", company.company_code());
                return vec![item("KNB1", table_key, "ZTERM", old, new_code)];
            }
            rename(customer, rng, country, key)
        }
        3 => {
            let old = customer.kna1_phone();
            let number: Text = text(format!(
                "{} {} {}",
                country.phone_prefix,
                rng.gen_range(20..999),
                rng.gen_range(100_000..9_999_999)
            ));
            match customer.phones.iter_mut().find(|phone| phone.default) {
                Some(phone) => phone.number = number,
                None => customer.phones.insert(
                    0,
                    Phone {
                        consnumber: 1 + customer
                            .phones
                            .iter()
                            .map(|p| p.consnumber)
                            .max()
                            .unwrap_or(0),
                        number,
                        extension: "",
                        country: country.code,
                        default: true,
                        mobile: false,
                        ..Default::default()
                    },
                ),
            }
            if let Some(stale) = &mut customer.stale_copy {
                stale.phone = text(
                    customer
                        .phones
                        .iter()
                        .find(|p| p.default)
                        .map(|p| truncate(p.number, 16))
                        .unwrap_or_default(),
                );
            }
            vec![item("KNA1", key, "TELF1", &old, &customer.kna1_phone())]
        }
        _ => rename(customer, rng, country, key),
    }
}

fn rename(
    customer: &mut CustomerMaster,
    rng: &mut ChaCha8Rng,
    country: &crate::vocabulary::Country,
    key: String,
) -> Vec<ChangeItem> {
    let old = customer.name[0].to_string();
    let stem = country.stems[rng.gen_range(0..country.stems.len())];
    let legal_form = country.legal_forms[rng.gen_range(0..country.legal_forms.len())];
    let mut new = truncate(&format!("{stem} {legal_form}"), ADRC_NAME_LENGTH);
    if new == old {
        new = truncate(&format!("{stem} Holding"), ADRC_NAME_LENGTH);
    }
    customer.name[0] = text(&new);
    // The change document is KNA1's: its copy of the line, 35 characters.
    let copy = |line: &str| truncate(line, KNA1_NAME_LENGTH);
    vec![item("KNA1", key, "NAME1", &copy(&old), &copy(&new))]
}

/// One VAP2 edit of a contact: always a KNVK field (logged under DEBI with TABNAME KNVK),
/// sometimes the e-mail as well (BAS, not logged).
fn change_contact(
    data: &mut EccData,
    rng: &mut ChaCha8Rng,
    customer_index: usize,
    contact_index: usize,
    client: &str,
) -> Vec<ChangeItem> {
    let country = country_of(&data.customers[customer_index]);
    let domain = data.customers[customer_index]
        .default_email()
        .and_then(|email| email.address.split('@').nth(1).map(str::to_string))
        .unwrap_or_else(|| {
            format!(
                "{}.{}",
                domain_slug(data.customers[customer_index].name[0]),
                country.top_level_domain
            )
        });
    let contact = &mut data.customers[customer_index].contacts[contact_index];
    let key = format!("{client}{}", numc(contact.parnr, 10));
    let items = match rng.gen_range(0..3) {
        0 => {
            let old = contact.last_name;
            let mut new = country.last_names[rng.gen_range(0..country.last_names.len())];
            if new == old {
                new = country.last_names[(country
                    .last_names
                    .iter()
                    .position(|n| *n == new)
                    .unwrap_or(0)
                    + 1)
                    % country.last_names.len()];
            }
            contact.last_name = new;
            vec![item("KNVK", key, "NAME1", old, new)]
        }
        1 => {
            let old = contact.department;
            let candidates: Vec<&'static str> = country
                .departments
                .iter()
                .copied()
                .filter(|d| *d != old)
                .collect();
            let new = candidates
                .get(rng.gen_range(0..candidates.len().max(1)))
                .copied()
                .unwrap_or("Zentrale");
            contact.department = new;
            vec![item("KNVK", key, "ABTPA", old, new)]
        }
        _ => {
            let old = contact.function;
            let candidates: Vec<&'static str> = CONTACT_FUNCTIONS
                .iter()
                .map(|(code, _, _)| *code)
                .filter(|code| *code != old)
                .collect();
            let new = candidates[rng.gen_range(0..candidates.len())];
            contact.function = new;
            vec![item("KNVK", key, "PAFKT", old, new)]
        }
    };
    if rng.gen_bool(0.5) {
        let address = format!(
            "{}.{}{}@{domain}",
            crate::vocabulary::local_part(contact.first_name),
            crate::vocabulary::local_part(contact.last_name),
            rng.gen_range(1..99)
        );
        set_default_email(&mut contact.emails, address);
    }
    items
}

fn set_default_email(emails: &mut Vec<Email>, address: String) {
    match emails.iter_mut().find(|email| email.default) {
        Some(email) => email.address = text(address),
        None => {
            let consnumber = 1 + emails.iter().map(|e| e.consnumber).max().unwrap_or(0);
            for email in emails.iter_mut() {
                email.default = false;
            }
            emails.push(Email {
                consnumber,
                address: text(address),
                default: true,
                ..Default::default()
            });
        }
    }
}

/// CDHDR-OBJECTID of a Business Address Services change document for an organization address
/// (object class ADRESSE, address type 1): the address group (CHAR 4; BP for the customer
/// master) followed by the address number.
pub fn address_object_id(address_number: u32) -> String {
    format!("{:<4}{}", "BP", numc(address_number, 10))
}

/// An edit in BAS only: e-mail (ADR6), phone (ADR2) or street (ADRC). KNA1 is not touched, and
/// no DEBI change document is written; the returned item is what BAS logs under ADRESSE.
fn change_in_bas_only(
    customer: &mut CustomerMaster,
    rng: &mut ChaCha8Rng,
    client: &str,
) -> ChangeItem {
    customer.freeze_kna1_copy();
    let country = country_of(customer);
    let address_number = numc(customer.address_number, 10);
    match rng.gen_range(0..3) {
        0 => {
            let domain = format!(
                "{}.{}",
                domain_slug(customer.name[0]),
                country.top_level_domain
            );
            let address = format!(
                "{}{}@{domain}",
                ["kontakt", "office", "service", "einkauf"][rng.gen_range(0..4)],
                rng.gen_range(1..99)
            );
            let old = customer
                .default_email()
                .map(|email| email.address.to_string())
                .unwrap_or_default();
            set_default_email(&mut customer.emails, address.clone());
            let consnumber = customer.default_email().map_or(1, |email| email.consnumber);
            let key = format!(
                "{client}{address_number}{:<10}00010101{}",
                "",
                numc(u32::from(consnumber), 3)
            );
            item("ADR6", key, "SMTP_ADDR", &old, &address)
        }
        1 => {
            let number: Text = text(format!(
                "0{} {}",
                rng.gen_range(20..999),
                rng.gen_range(100_000..9_999_999)
            ));
            let old = customer
                .default_phone()
                .map(|phone| phone.number.to_string())
                .unwrap_or_default();
            match customer.phones.iter_mut().find(|phone| phone.default) {
                Some(phone) => phone.number = number,
                None => customer.phones.insert(
                    0,
                    Phone {
                        consnumber: 1 + customer
                            .phones
                            .iter()
                            .map(|p| p.consnumber)
                            .max()
                            .unwrap_or(0),
                        number,
                        extension: "",
                        country: country.code,
                        default: true,
                        mobile: false,
                        ..Default::default()
                    },
                ),
            }
            let consnumber = customer.default_phone().map_or(1, |phone| phone.consnumber);
            let key = format!(
                "{client}{address_number}{:<10}00010101{}",
                "",
                numc(u32::from(consnumber), 3)
            );
            item("ADR2", key, "TEL_NUMBER", &old, number)
        }
        _ => {
            let street = country.streets[rng.gen_range(0..country.streets.len())];
            let house_number = (rng.gen_range(1..250) + 1).to_string();
            let old = customer.house_number.to_string();
            if *customer.house_number == *house_number && *customer.street == *street {
                customer.house_number = text(format!("{house_number}a"));
            } else {
                customer.house_number = text(house_number);
            }
            customer.street = street;
            let key = format!("{client}{address_number}00010101 ");
            item("ADRC", key, "HOUSE_NUM1", &old, customer.house_number)
        }
    }
}

/// XD01: `count` new customers created today, with an insert change document each.
pub fn create(state: &SimState, request: &CountRequest) -> Vec<String> {
    let (date, time) = local_now(state);
    let mut data = state.write_data();
    let seed = request
        .seed
        .unwrap_or(state.options.seed ^ (data.customers.len() as u64).wrapping_mul(0x9e37_79b9));
    let client = data.client.clone();
    let created =
        generate::create_customers(&mut data, &state.generation, seed, request.count, date);
    let mut numbers = Vec::with_capacity(created.len());
    for index in created {
        let kunnr = data.customers[index].kunnr.to_string();
        let items = vec![ChangeItem {
            table: "KNA1",
            table_key: key_kna1(&client, &kunnr).into(),
            field: "KEY",
            change_indicator: "I",
            value_new: "".into(),
            value_old: "".into(),
        }];
        let user = data.customers[index].created_by;
        let mut writer = DocumentWriter {
            data: &mut data,
            date,
            time,
        };
        writer.write(&kunnr, "XD01", "I", items, user);
        numbers.push(kunnr);
    }
    numbers
}

/// XD06: sets the central deletion flag on `count` customers, with a change document each.
pub fn delete(state: &SimState, request: &CountRequest) -> Vec<String> {
    let (date, time) = local_now(state);
    let mut data = state.write_data();
    let client = data.client.clone();
    let seed = request
        .seed
        .unwrap_or(state.options.seed ^ data.next_change_number as u64);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut candidates: Vec<usize> = (0..data.customers.len())
        .filter(|index| !data.customers[*index].deletion_flag && !data.customers[*index].one_time)
        .collect();
    let count = request.count.min(candidates.len());
    let (chosen, _) = candidates.partial_shuffle(&mut rng, count);
    let chosen = chosen.to_vec();
    let mut numbers = Vec::with_capacity(chosen.len());
    for index in chosen {
        data.customers[index].deletion_flag = true;
        let kunnr = data.customers[index].kunnr.to_string();
        let items = vec![item("KNA1", key_kna1(&client, &kunnr), "LOEVM", "", "X")];
        let mut writer = DocumentWriter {
            data: &mut data,
            date,
            time,
        };
        writer.write(&kunnr, "XD06", "U", items, "MEIER");
        numbers.push(kunnr);
    }
    numbers
}

/// VAP2 (or the contact persons of XD02): deletes `count` contact persons of customers that
/// are neither one-time accounts nor dirty. KNVK has no deletion flag: the row goes, with its
/// BAS person (ADRP, ADR6, ADR2), and a change document under the customer logs it (TABNAME
/// KNVK, CHNGIND 'D'), so a delta reads the customer again. Returns what was deleted.
pub fn delete_contacts(state: &SimState, request: &CountRequest) -> Vec<ContactChange> {
    let (date, time) = local_now(state);
    let mut data = state.write_data();
    let client = data.client.clone();
    let seed = request
        .seed
        .unwrap_or(state.options.seed ^ data.next_change_number as u64 ^ 0xC0A7);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut candidates: Vec<u32> = data
        .customers
        .iter()
        .filter(|customer| !customer.one_time && customer.dirty.is_none())
        .flat_map(|customer| customer.contacts.iter().map(|contact| contact.parnr))
        .collect();
    let count = request.count.min(candidates.len());
    let (chosen, _) = candidates.partial_shuffle(&mut rng, count);
    let mut chosen = chosen.to_vec();
    chosen.sort_unstable();
    let mut deleted = Vec::with_capacity(chosen.len());
    for parnr in chosen {
        let Some((customer_index, contact_index)) = data.find_contact(parnr) else {
            continue;
        };
        data.customers[customer_index]
            .contacts
            .remove(contact_index);
        let kunnr = data.customers[customer_index].kunnr.to_string();
        let items = vec![ChangeItem {
            table: "KNVK",
            table_key: format!("{client}{}", numc(parnr, 10)).into(),
            field: "KEY",
            change_indicator: "D",
            value_new: "".into(),
            value_old: "".into(),
        }];
        let mut writer = DocumentWriter {
            data: &mut data,
            date,
            time,
        };
        writer.write(&kunnr, "VAP2", "U", items, "MEIER");
        deleted.push(ContactChange {
            contact_number: numc(parnr, 10),
            customer_number: kunnr,
        });
    }
    data.rebuild_indexes();
    deleted
}

/// Sets the central posting block (KNA1-SPERR, XD05) on customers that are neither deleted nor
/// blocked yet; returns their KUNNRs.
pub fn block(state: &SimState, request: &CountRequest) -> Vec<String> {
    let (date, time) = local_now(state);
    let mut data = state.write_data();
    let client = data.client.clone();
    let seed = request
        .seed
        .unwrap_or(state.options.seed ^ data.next_change_number as u64 ^ 0xB10C);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut candidates: Vec<usize> = (0..data.customers.len())
        .filter(|index| {
            let customer = &data.customers[*index];
            !customer.deletion_flag
                && !customer.posting_block
                && !customer.blocks.any()
                && !customer.one_time
        })
        .collect();
    let count = request.count.min(candidates.len());
    let (chosen, _) = candidates.partial_shuffle(&mut rng, count);
    let chosen = chosen.to_vec();
    let mut numbers = Vec::with_capacity(chosen.len());
    for index in chosen {
        data.customers[index].posting_block = true;
        let kunnr = data.customers[index].kunnr.to_string();
        let items = vec![item("KNA1", key_kna1(&client, &kunnr), "SPERR", "", "X")];
        let mut writer = DocumentWriter {
            data: &mut data,
            date,
            time,
        };
        writer.write(&kunnr, "XD05", "U", items, "MEIER");
        numbers.push(kunnr);
    }
    numbers
}

/// XD02: the customer's account group changed (KNA1-KTOKD), with its DEBI change document.
/// Returns false when there is no such customer.
pub fn change_account_group(state: &SimState, kunnr: &str, account_group: &str) -> bool {
    let (date, time) = local_now(state);
    let mut data = state.write_data();
    let client = data.client.clone();
    let Some(index) = data.customer_index(kunnr) else {
        return false;
    };
    let group: &'static str = text(account_group);
    let old = std::mem::replace(&mut data.customers[index].account_group, group);
    let kunnr = data.customers[index].kunnr.to_string();
    let items = vec![item("KNA1", key_kna1(&client, &kunnr), "KTOKD", old, group)];
    let mut writer = DocumentWriter {
        data: &mut data,
        date,
        time,
    };
    writer.write(&kunnr, "XD02", "U", items, "MEIER");
    true
}
