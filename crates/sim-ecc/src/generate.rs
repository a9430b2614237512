//! Deterministic generation of the customer master from a seed: multi-country companies with
//! legal forms and split names, BAS addresses and communication data, company-code and
//! sales-area data, ship-to parties, contacts, one-time customers, deletion flags and blocks,
//! near-duplicates and dirty rows.

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::model::*;
use crate::vocabulary::*;

#[derive(Debug, Clone)]
pub struct GenerationSettings {
    pub customers: usize,
    pub seed: u64,
    pub contacts_per_customer: usize,
    pub duplicate_rate: f64,
    pub dirty_rate: f64,
    pub client: String,
}

/// The reasons a dirty row carries in the truth.
pub const DIRTY_CONTROL_CHARACTER: &str = "control character in NAME1";
pub const DIRTY_INVALID_EMAIL: &str = "invalid e-mail";
pub const DIRTY_UNKNOWN_COUNTRY: &str = "unknown country code XX";
pub const DIRTY_EMPTY_NAME: &str = "empty name";
pub const DIRTY_FULL_WIDTH_NAME: &str = "name fills NAME1..NAME4 to full width";

pub fn generate(settings: &GenerationSettings) -> EccData {
    let mut data = EccData {
        client: settings.client.clone(),
        next_customer_number: FIRST_CUSTOMER_NUMBER,
        next_one_time_number: FIRST_ONE_TIME_NUMBER,
        next_contact_number: FIRST_CONTACT_NUMBER,
        next_address_number: FIRST_ADDRESS_NUMBER,
        next_person_number: FIRST_PERSON_NUMBER,
        next_change_number: FIRST_CHANGE_NUMBER,
        ..EccData::default()
    };
    data.customers.reserve(settings.customers);
    let mut rng = ChaCha8Rng::seed_from_u64(settings.seed);
    let mut generator = Generator {
        settings,
        limit: settings.customers,
        duplicate_candidates: Vec::new(),
    };
    while data.customers.len() < settings.customers {
        generator.add_customer(&mut data, &mut rng, None);
    }
    let vendor_contacts = (settings.customers / 20).max(1);
    for _ in 0..vendor_contacts {
        let country = &COUNTRIES[rng.gen_range(0..COUNTRIES.len())];
        let address_number = take(&mut data.next_address_number);
        let vendor = format!("{:010}", rng.gen_range(VENDOR_NUMBERS));
        let domain = format!(
            "{}.{}",
            domain_slug(pick(&mut rng, country.stems)),
            country.top_level_domain
        );
        let contact = generator.contact(&mut data, &mut rng, country, &domain, 20_100_101);
        data.vendor_contacts.push(VendorContact {
            vendor: text(vendor),
            address_number,
            contact,
        });
    }
    add_history(&mut data, settings.seed);
    let mut order: Vec<u32> = (0..data.customers.len() as u32).collect();
    order.shuffle(&mut ChaCha8Rng::seed_from_u64(
        settings.seed ^ 0x5eed_0dde_u64,
    ));
    data.storage_order = order;
    data.rebuild_indexes();
    data
}

/// Adds `count` customers created today (`created_on` as YYYYMMDD); returns their indices.
pub fn create_customers(
    data: &mut EccData,
    settings: &GenerationSettings,
    seed: u64,
    count: usize,
    created_on: u32,
) -> Vec<usize> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let first = data.customers.len();
    let mut generator = Generator {
        settings,
        limit: first + count,
        duplicate_candidates: Vec::new(),
    };
    while data.customers.len() < first + count {
        generator.add_customer(data, &mut rng, Some(created_on));
    }
    for index in first..data.customers.len() {
        data.storage_order.push(index as u32);
    }
    data.rebuild_indexes();
    (first..data.customers.len()).collect()
}

/// Past XD02 edits of some customers (a real client has years of change documents): the old
/// NAME1 as typed before, the new one as it stands. Numbered in time order, as SAP numbers them.
fn add_history(data: &mut EccData, seed: u64) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x0c4a_11e5);
    let mut documents = Vec::new();
    for customer in &data.customers {
        if customer.one_time || customer.name[0].is_empty() || !rng.gen_bool(0.05) {
            continue;
        }
        let created = customer.created_on;
        let date = loop {
            let candidate = random_date(&mut rng);
            if candidate > created {
                break candidate;
            }
            if created >= 20_251_228 {
                break 20_251_231;
            }
        };
        let old_name = customer.name[0].to_uppercase();
        documents.push(ChangeDocument {
            object_class: "DEBI",
            object_id: customer.kunnr.into(),
            change_number: 0,
            user: pick(&mut rng, CREATORS),
            date,
            time: rng.gen_range(7..19) * 10_000 + rng.gen_range(0..60) * 100 + rng.gen_range(0..60),
            transaction: "XD02",
            change_indicator: "U",
            items: vec![ChangeItem {
                table: "KNA1",
                table_key: format!("{}{:<10}", data.client, customer.kunnr).into(),
                field: "NAME1",
                change_indicator: "U",
                value_new: truncate(customer.name[0], KNA1_NAME_LENGTH).into(),
                value_old: truncate(&old_name, KNA1_NAME_LENGTH).into(),
            }],
        });
    }
    documents.sort_by_key(|document| (document.date, document.time));
    for mut document in documents {
        document.change_number = data.next_change_number;
        data.next_change_number += 1;
        data.change_documents.push(document);
    }
}

struct Generator<'a> {
    settings: &'a GenerationSettings,
    /// How many customers there will be in the end; a ship-to party is only added within it.
    limit: usize,
    duplicate_candidates: Vec<u32>,
}

fn take(counter: &mut u32) -> u32 {
    let value = *counter;
    *counter += 1;
    value
}

fn pick<T: Copy>(rng: &mut ChaCha8Rng, items: &[T]) -> T {
    items[rng.gen_range(0..items.len())]
}

fn random_date(rng: &mut ChaCha8Rng) -> u32 {
    let year = rng.gen_range(2005..=2025);
    let month = rng.gen_range(1..=12);
    let day = rng.gen_range(1..=28);
    year * 10_000 + month * 100 + day
}

impl Generator<'_> {
    /// Adds one customer (and its ship-to party when it gets one), or a near-duplicate of an
    /// earlier customer when the duplicate rate says so.
    fn add_customer(&mut self, data: &mut EccData, rng: &mut ChaCha8Rng, created_on: Option<u32>) {
        let created_on = created_on.unwrap_or_else(|| random_date(rng));
        let roll: f64 = rng.gen();
        if roll < self.settings.duplicate_rate && !self.duplicate_candidates.is_empty() {
            let original =
                self.duplicate_candidates[rng.gen_range(0..self.duplicate_candidates.len())];
            let duplicate = self.duplicate(data, rng, original as usize, created_on);
            push(data, duplicate);
            return;
        }
        let one_time = rng.gen_bool(0.01);
        let country = &COUNTRIES[rng.gen_range(0..COUNTRIES.len())];
        let mut customer = if one_time {
            self.one_time_customer(data, rng, country, created_on)
        } else {
            self.sold_to(data, rng, country, created_on)
        };
        let dirty_roll: f64 = rng.gen();
        if !one_time && dirty_roll < self.settings.dirty_rate {
            make_dirty(&mut customer, rng);
        }
        let wants_ship_to =
            !one_time && rng.gen_bool(0.08) && data.customers.len() + 2 <= self.limit;
        let index = push(data, customer);
        if customer_is_candidate(&data.customers[index]) {
            self.duplicate_candidates.push(index as u32);
        }
        if wants_ship_to {
            let ship_to = self.ship_to(data, rng, index, country, created_on);
            let ship_to_index = push(data, ship_to) as u32;
            for area in &mut data.customers[index].sales_areas {
                area.ship_to = Some(ship_to_index);
            }
        }
    }

    fn next_kunnr(data: &mut EccData) -> String {
        format!("{:010}", take(&mut data.next_customer_number))
    }

    fn sold_to(
        &mut self,
        data: &mut EccData,
        rng: &mut ChaCha8Rng,
        country: &'static Country,
        created_on: u32,
    ) -> CustomerMaster {
        let stem = pick(rng, country.stems);
        let legal_form = pick(rng, country.legal_forms);
        let full_name = if rng.gen_bool(0.25) {
            format!("{stem} {} {legal_form}", pick(rng, country.qualifiers))
        } else {
            format!("{stem} {legal_form}")
        };
        let mut name = split_name(&full_name);
        if rng.gen_bool(0.05) && name[1].is_empty() {
            name[1] = "Abt. Wareneingang";
        }
        let domain = format!("{}.{}", domain_slug(stem), country.top_level_domain);
        let kunnr = Self::next_kunnr(data);
        let mut customer = self.base(data, rng, country, kunnr, name, created_on);
        customer.emails = customer_emails(rng, &domain);
        customer.phones = phones(rng, country, 0.3);
        let mut side = side_rng(self.settings.seed, SIDE_CUSTOMER, customer.address_number);
        customer.inactive =
            inactive_communication(&mut side, country, &customer.emails, "info", &domain);
        // Some second name lines use ADRC's full 40 characters, which KNA1's 35-character copy
        // cuts: the name is ADRC's.
        if customer.name[1].is_empty() && customer.name[2].is_empty() && side.gen_bool(0.1) {
            customer.name[1] = text(pick(&mut side, LONG_NAME_LINES));
        }
        customer.vat = text(vat_number(rng, country));
        let contact_count = contact_count(rng, self.settings.contacts_per_customer);
        for _ in 0..contact_count {
            let contact = self.contact(data, rng, country, &domain, created_on);
            customer.contacts.push(contact);
        }
        customer
    }

    fn base(
        &mut self,
        data: &mut EccData,
        rng: &mut ChaCha8Rng,
        country: &'static Country,
        kunnr: String,
        name: [Text; 4],
        created_on: u32,
    ) -> CustomerMaster {
        let city = &country.cities[rng.gen_range(0..country.cities.len())];
        let deletion_flag = rng.gen_bool(0.03);
        let company_codes = company_codes(rng);
        let sales_areas = sales_areas(rng, &company_codes);
        CustomerMaster {
            kunnr: text(kunnr),
            address_number: take(&mut data.next_address_number),
            name,
            street: pick(rng, country.streets),
            house_number: text(house_number(rng, country)),
            postal_code: text(postal_code(rng, country, city)),
            city: city.name,
            region: city.region,
            country: country.code,
            language: country.language,
            account_group: "0001",
            one_time: false,
            created_on,
            created_by: pick(rng, CREATORS),
            deletion_flag,
            posting_block: rng.gen_bool(0.02),
            blocks: Blocks::new(
                if rng.gen_bool(0.02) { "01" } else { "" },
                if rng.gen_bool(0.01) { "01" } else { "" },
                if rng.gen_bool(0.01) { "02" } else { "" },
            ),
            vat: "",
            industry: pick(rng, &["", "MECH", "RETL", "CHEM", "TRAN", "FOOD"]),
            emails: Vec::new(),
            phones: Vec::new(),
            inactive: None,
            company_codes,
            sales_areas,
            contacts: Vec::new(),
            stale_copy: None,
            duplicate_of: None,
            dirty: None,
        }
    }

    fn one_time_customer(
        &mut self,
        data: &mut EccData,
        rng: &mut ChaCha8Rng,
        country: &'static Country,
        created_on: u32,
    ) -> CustomerMaster {
        let kunnr = format!("CPD{:05}", take(&mut data.next_one_time_number));
        let label = match country.language {
            "D" => "Einmalkunde",
            "F" => "Client occasionnel",
            _ => "One-time customer",
        };
        let name = split_name(&format!("{label} {}", country.code));
        let mut customer = self.base(data, rng, country, kunnr, name, created_on);
        customer.account_group = "CPD";
        customer.one_time = true;
        customer.street = "";
        customer.house_number = "";
        customer.postal_code = "";
        customer.city = "";
        customer.region = "";
        customer.deletion_flag = false;
        customer
    }

    fn ship_to(
        &mut self,
        data: &mut EccData,
        rng: &mut ChaCha8Rng,
        sold_to: usize,
        country: &'static Country,
        created_on: u32,
    ) -> CustomerMaster {
        let label = match country.language {
            "D" => "Lager",
            "F" => "Entrepôt",
            "N" => "Magazijn",
            "L" => "Magazyn",
            _ => "Warehouse",
        };
        let sold_to_name = data.customers[sold_to].name[0];
        let kunnr = Self::next_kunnr(data);
        let mut customer = self.base(
            data,
            rng,
            country,
            kunnr,
            [sold_to_name, "", "", ""],
            created_on,
        );
        customer.name[1] = text(truncate(
            &format!("{label} {}", customer.city),
            ADRC_NAME_LENGTH,
        ));
        // NAME1 is the sold-to's: so is a control character in it, and the truth says so.
        if data.customers[sold_to].dirty == Some(DIRTY_CONTROL_CHARACTER) {
            customer.dirty = Some(DIRTY_CONTROL_CHARACTER);
        }
        customer.account_group = "0002";
        customer.deletion_flag = false;
        customer.company_codes = data.customers[sold_to].company_codes.clone();
        customer.sales_areas = data.customers[sold_to].sales_areas.clone();
        customer.phones = phones(rng, country, 0.0);
        customer
    }

    fn duplicate(
        &mut self,
        data: &mut EccData,
        rng: &mut ChaCha8Rng,
        original_index: usize,
        created_on: u32,
    ) -> CustomerMaster {
        let original = data.customers[original_index].clone();
        let kunnr = Self::next_kunnr(data);
        let country = COUNTRIES
            .iter()
            .find(|country| country.code == original.country)
            .unwrap_or(&COUNTRIES[0]);
        let full_name = vary_name(
            rng,
            &original
                .name
                .iter()
                .map(|part| &**part)
                .collect::<Vec<_>>()
                .join(" "),
        );
        let mut duplicate = original.clone();
        duplicate.kunnr = text(kunnr);
        duplicate.address_number = take(&mut data.next_address_number);
        duplicate.name = split_name(&full_name);
        duplicate.created_on = created_on;
        duplicate.created_by = pick(rng, CREATORS);
        duplicate.deletion_flag = false;
        duplicate.stale_copy = None;
        let (street, house_number) = vary_address(original.street, original.house_number);
        duplicate.street = text(street);
        duplicate.house_number = text(house_number);
        duplicate.duplicate_of = Some(original_index as u32);
        for area in &mut duplicate.sales_areas {
            area.ship_to = None;
        }
        duplicate.phones = phones(rng, country, 0.5);
        duplicate.contacts.clear();
        if rng.gen_bool(0.5) {
            let domain = original
                .default_email()
                .and_then(|email| email.address.split('@').nth(1).map(str::to_string));
            let domain = domain.unwrap_or_else(|| {
                format!(
                    "{}.{}",
                    domain_slug(original.name[0]),
                    country.top_level_domain
                )
            });
            let contact = self.contact(data, rng, country, &domain, created_on);
            duplicate.contacts.push(contact);
        }
        duplicate
    }

    fn contact(
        &mut self,
        data: &mut EccData,
        rng: &mut ChaCha8Rng,
        country: &'static Country,
        domain: &str,
        created_on: u32,
    ) -> Contact {
        let first_name = pick(rng, country.first_names);
        let last_name = pick(rng, country.last_names);
        let email_count = match rng.gen_range(0..100) {
            0..=14 => 0,
            15..=79 => 1,
            80..=94 => 2,
            _ => 3,
        };
        let local = format!("{}.{}", local_part(first_name), local_part(last_name));
        let default_position = if email_count > 0 {
            rng.gen_range(0..email_count)
        } else {
            0
        };
        let emails: Vec<Email> = (0..email_count)
            .map(|position| {
                let address = match position {
                    0 => format!("{local}@{domain}"),
                    1 => format!(
                        "{}{}@{domain}",
                        &local_part(first_name)[..1],
                        local_part(last_name)
                    ),
                    _ => format!("{local}@gmail.com"),
                };
                Email {
                    consnumber: position as u16 + 1,
                    address: text(address),
                    default: position == default_position,
                    ..Default::default()
                }
            })
            .collect();
        let parnr = take(&mut data.next_contact_number);
        let prsnr = take(&mut data.next_person_number);
        let mut side = side_rng(self.settings.seed, SIDE_CONTACT, parnr);
        let private = private_address(&mut side, country, first_name, last_name, prsnr);
        let deletion_flag = side.gen_bool(0.03);
        Contact {
            parnr,
            prsnr,
            first_name,
            last_name,
            department: if rng.gen_bool(0.8) {
                pick(rng, country.departments)
            } else {
                ""
            },
            function: if rng.gen_bool(0.75) {
                pick(rng, CONTACT_FUNCTIONS).0
            } else {
                ""
            },
            sex: pick(rng, &["1", "2", ""]),
            language: country.language,
            created_on,
            phones: phones(rng, country, 0.5),
            inactive: inactive_communication(&mut side, country, &emails, &local, domain),
            emails,
            private,
            deletion_flag,
        }
    }
}

/// Side generators for what the simulator learnt later (private addresses, rows not in use):
/// seeded per record, so the data a seed gave before stays exactly as it was.
/// Second name lines of 36 to 40 characters: whole in ADRC, cut in KNA1.
const LONG_NAME_LINES: &[&str] = &[
    "Zweigniederlassung Vertrieb und Service",
    "Abteilung Einkauf und Materialwirtschaft",
    "Geschäftsbereich Industrie und Handwerk",
    "Purchasing and Supply Chain Department",
];

const SIDE_CONTACT: u64 = 0xc0_47ac7;
const SIDE_CUSTOMER: u64 = 0xc0_5700e;

fn side_rng(seed: u64, kind: u64, number: u32) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(
        seed.rotate_left(13) ^ kind ^ u64::from(number).wrapping_mul(0x9e37_79b9_7f4a_7c15),
    )
}

/// The private address (KNVK-ADRNP_2) a share of contact persons have, with a private e-mail and
/// a mobile or home phone: values that must never reach the CRM.
fn private_address(
    rng: &mut ChaCha8Rng,
    country: &'static Country,
    first_name: &str,
    last_name: &str,
    person_number: u32,
) -> Option<Box<PrivateAddress>> {
    if !rng.gen_bool(0.3) {
        return None;
    }
    let provider = pick(
        rng,
        &[
            "web.de",
            "gmx.net",
            "t-online.de",
            "outlook.com",
            "yahoo.com",
        ],
    );
    let address = format!(
        "{}{}{:02}@{provider}",
        local_part(first_name),
        local_part(last_name),
        rng.gen_range(1..99)
    );
    let number = format!(
        "01{}{} {}",
        rng.gen_range(5..8),
        rng.gen_range(0..10),
        rng.gen_range(1_000_000..9_999_999)
    );
    Some(Box::new(PrivateAddress {
        address_number: person_number + PRIVATE_ADDRESS_OFFSET,
        emails: vec![Email {
            consnumber: 1,
            address: text(address),
            default: true,
            ..Default::default()
        }],
        phones: vec![Phone {
            consnumber: 1,
            number: text(number),
            country: country.code,
            default: true,
            mobile: true,
            ..Default::default()
        }],
    }))
}

/// Rows not in use next to the ones in use, as systems collect them: an old e-mail flagged "not
/// used", one whose validity ended years ago, one valid only from far ahead, an old phone.
fn inactive_communication(
    rng: &mut ChaCha8Rng,
    country: &'static Country,
    emails: &[Email],
    local: &str,
    domain: &str,
) -> Option<Box<InactiveCommunication>> {
    let roll = rng.gen_range(0..100);
    if roll >= 20 {
        return None;
    }
    let next = emails
        .iter()
        .map(|email| email.consnumber)
        .max()
        .unwrap_or(0)
        + 1;
    let (address, validity) = match roll {
        0..=7 => (format!("alt.{local}@{domain}"), Validity::NotUsed),
        8..=13 => (
            format!("{local}.old@{domain}"),
            Validity::ExpiredOn(rng.gen_range(2015..2023) * 10_000 + 1231),
        ),
        _ => (
            format!("{local}.neu@{domain}"),
            Validity::ValidFrom(rng.gen_range(2090..2099) * 10_000 + 101),
        ),
    };
    let phones = if rng.gen_bool(0.5) {
        vec![Phone {
            consnumber: 9,
            number: text(format!(
                "0{} {}",
                rng.gen_range(20..999),
                rng.gen_range(100_000..9_999_999)
            )),
            country: country.code,
            validity: Validity::NotUsed,
            ..Default::default()
        }]
    } else {
        Vec::new()
    };
    Some(Box::new(InactiveCommunication {
        emails: vec![Email {
            consnumber: next,
            address: text(address),
            // A flagged row may still carry the default flag it had while it was in use.
            default: validity == Validity::NotUsed && rng.gen_bool(0.5),
            validity,
        }],
        phones,
    }))
}

fn push(data: &mut EccData, customer: CustomerMaster) -> usize {
    let index = data.customers.len();
    data.index_by_kunnr.insert(customer.kunnr, index as u32);
    data.customers.push(customer);
    index
}

fn customer_is_candidate(customer: &CustomerMaster) -> bool {
    customer.account_group == "0001" && customer.duplicate_of.is_none() && customer.dirty.is_none()
}

fn contact_count(rng: &mut ChaCha8Rng, per_customer: usize) -> usize {
    if per_customer == 0 || rng.gen_bool(0.1) {
        return 0;
    }
    rng.gen_range(1..=per_customer * 2 - 1)
}

/// Splits a name over NAME1..NAME4 at word boundaries, 35 characters per line (KNA1's width).
pub fn split_name(full_name: &str) -> [Text; 4] {
    let mut lines: [String; 4] = Default::default();
    let mut line = 0;
    for word in full_name.split(' ').filter(|word| !word.is_empty()) {
        let current = lines[line].chars().count();
        let needed = word.chars().count() + usize::from(current > 0);
        if current + needed > ADRC_NAME_LENGTH && current > 0 {
            if line == 3 {
                break;
            }
            line += 1;
        }
        if !lines[line].is_empty() {
            lines[line].push(' ');
        }
        lines[line].push_str(word);
        if lines[line].chars().count() > ADRC_NAME_LENGTH {
            lines[line] = truncate(&lines[line], ADRC_NAME_LENGTH);
        }
    }
    lines.map(text)
}

fn company_codes(rng: &mut ChaCha8Rng) -> Vec<CompanyData> {
    let mut codes = Vec::with_capacity(2);
    let first = if rng.gen_bool(0.9) {
        "1000"
    } else {
        pick(rng, &COMPANY_CODES[1..])
    };
    codes.push(company_data(rng, first));
    if rng.gen_bool(0.15) {
        let second = pick(rng, COMPANY_CODES);
        if second != first {
            codes.push(company_data(rng, second));
        }
    }
    codes
}

fn company_data(rng: &mut ChaCha8Rng, company_code: &'static str) -> CompanyData {
    let payment_terms = if rng.gen_bool(0.9) {
        pick(rng, PAYMENT_TERMS).0
    } else {
        ""
    };
    CompanyData::new(
        company_code,
        payment_terms,
        rng.gen_bool(0.01),
        rng.gen_bool(0.01),
    )
}

fn sales_areas(rng: &mut ChaCha8Rng, company_codes: &[CompanyData]) -> Vec<SalesData> {
    let mut areas = Vec::with_capacity(2);
    for (area_index, (sales_org, channel, _)) in SALES_AREAS.iter().enumerate() {
        if !company_codes
            .iter()
            .any(|code| code.company_code() == *sales_org)
        {
            continue;
        }
        let wanted = if (*sales_org, *channel) == ("1000", "10") {
            rng.gen_bool(0.92)
        } else {
            rng.gen_bool(0.3)
        };
        if !wanted {
            continue;
        }
        let payment_terms = if rng.gen_bool(0.7) {
            pick(rng, PAYMENT_TERMS).0
        } else {
            ""
        };
        let deletion_flag = rng.gen_bool(0.01);
        let order_block = if rng.gen_bool(0.02) { "01" } else { "" };
        let delivery_block = if rng.gen_bool(0.01) { "01" } else { "" };
        areas.push(SalesData::new(
            area_index,
            payment_terms,
            deletion_flag,
            Blocks::new(order_block, delivery_block, ""),
        ));
    }
    areas
}

fn house_number(rng: &mut ChaCha8Rng, country: &Country) -> String {
    let number: u32 = match country.code {
        "US" => rng.gen_range(100..9_999),
        _ => rng.gen_range(1..180),
    };
    match (country.code, rng.gen_range(0..10)) {
        ("DE" | "AT" | "NL", 0..=1) => format!("{number}{}", pick(rng, &["a", "b", "c"])),
        ("PL", 0..=2) => format!("{number}/{}", rng.gen_range(1..40)),
        _ => number.to_string(),
    }
}

fn postal_code(rng: &mut ChaCha8Rng, country: &Country, city: &City) -> String {
    let letters = b"ABDEFGHJLNPRSTUWXYZ";
    let letter = |rng: &mut ChaCha8Rng| letters[rng.gen_range(0..letters.len())] as char;
    match country.code {
        "GB" => format!(
            "{} {}{}{}",
            city.postal_prefix,
            rng.gen_range(1..10),
            letter(rng),
            letter(rng)
        ),
        "NL" => format!(
            "{}{:02} {}{}",
            city.postal_prefix,
            rng.gen_range(0..100),
            letter(rng),
            letter(rng)
        ),
        "PL" => format!("{}-{:03}", city.postal_prefix, rng.gen_range(1..1000)),
        _ => {
            let mut code = city.postal_prefix.to_string();
            while code.len() < country.postal_length {
                code.push(char::from(b'0' + rng.gen_range(0..10u8)));
            }
            code
        }
    }
}

fn vat_number(rng: &mut ChaCha8Rng, country: &Country) -> String {
    if country.vat_digits == 0 || rng.gen_bool(0.15) {
        return String::new();
    }
    let mut vat = country.vat_prefix.to_string();
    for _ in 0..country.vat_digits {
        vat.push(char::from(b'0' + rng.gen_range(0..10u8)));
    }
    vat
}

fn customer_emails(rng: &mut ChaCha8Rng, domain: &str) -> Vec<Email> {
    match rng.gen_range(0..100) {
        0..=19 => Vec::new(),
        20..=84 => vec![Email {
            consnumber: 1,
            address: text(format!("info@{domain}")),
            default: true,
            ..Default::default()
        }],
        85..=94 => vec![
            Email {
                consnumber: 1,
                address: text(format!("buchhaltung@{domain}")),
                default: false,
                ..Default::default()
            },
            Email {
                consnumber: 2,
                address: text(format!("info@{domain}")),
                default: true,
                ..Default::default()
            },
        ],
        _ => vec![
            Email {
                consnumber: 1,
                address: text(format!("office@{domain}")),
                default: false,
                ..Default::default()
            },
            Email {
                consnumber: 2,
                address: text(format!("sales@{domain}")),
                default: false,
                ..Default::default()
            },
        ],
    }
}

/// Zero to two phones; `extension_share` of them with an extension; national or international
/// format, as clerks type them.
fn phones(rng: &mut ChaCha8Rng, country: &'static Country, extension_share: f64) -> Vec<Phone> {
    let count = match rng.gen_range(0..10) {
        0 => 0,
        1..=7 => 1,
        _ => 2,
    };
    (0..count)
        .map(|position| {
            let mobile = position == 1;
            let area: u32 = rng.gen_range(20..999);
            let subscriber: u32 = rng.gen_range(100_000..9_999_999);
            let international = rng.gen_bool(0.4);
            let number = match (country.code, international) {
                ("US", false) => format!("({area}) 555-{:04}", subscriber % 10_000),
                ("US", true) => format!("+1 {area} 555 {:04}", subscriber % 10_000),
                (_, false) => format!("0{area} {subscriber}"),
                (_, true) => format!("{} {area} {subscriber}", country.phone_prefix),
            };
            let extension = if !mobile && rng.gen_bool(extension_share) {
                rng.gen_range(0..300).to_string()
            } else {
                String::new()
            };
            Phone {
                consnumber: position as u16 + 1,
                number: text(number),
                extension: text(extension),
                country: country.code,
                default: position == 0,
                mobile,
                ..Default::default()
            }
        })
        .collect()
}

/// How a clerk types an existing company again.
fn vary_name(rng: &mut ChaCha8Rng, name: &str) -> String {
    let swaps: &[(&str, &str)] = &[
        ("Ltd.", "Limited"),
        ("Limited", "Ltd"),
        ("GmbH & Co. KG", "GmbH & Co KG"),
        ("GmbH", "G.m.b.H."),
        ("Inc.", "Incorporated"),
        ("B.V.", "BV"),
        ("AG", "Aktiengesellschaft"),
        ("Sp. z o.o.", "Sp. z o. o."),
        ("SARL", "S.A.R.L."),
        ("&", "und"),
    ];
    let transliterated = transliterate(name);
    let mut varied = if transliterated != name && rng.gen_bool(0.7) {
        transliterated
    } else {
        name.to_string()
    };
    if let Some((from, to)) = swaps.iter().find(|(from, _)| varied.contains(from)) {
        if rng.gen_bool(0.7) || varied == name {
            varied = varied.replacen(from, to, 1);
        }
    }
    if varied.contains("ACME") {
        varied = varied.replace("ACME", "Acme");
    }
    if varied == name {
        varied = name.to_uppercase();
    }
    varied
}

fn vary_address(street: &str, house_number: &str) -> (String, String) {
    let abbreviations: &[(&str, &str)] = &[
        ("straße", "str."),
        ("Straße", "Str."),
        ("strasse", "str."),
        ("Street", "St."),
        ("Road", "Rd."),
        ("Avenue", "Ave."),
        ("Boulevard", "Bd"),
    ];
    let street = abbreviations
        .iter()
        .find(|(long, _)| street.contains(long))
        .map(|(long, short)| street.replacen(long, short, 1))
        .unwrap_or_else(|| street.to_string());
    let house_number = match house_number
        .char_indices()
        .find(|(_, c)| c.is_ascii_alphabetic())
    {
        Some((position, letter)) => format!(
            "{} {}",
            &house_number[..position],
            letter.to_ascii_uppercase()
        ),
        None => house_number.to_string(),
    };
    (street, house_number)
}

fn make_dirty(customer: &mut CustomerMaster, rng: &mut ChaCha8Rng) {
    match rng.gen_range(0..5) {
        0 => {
            let control = pick(rng, &["\t", "\n", "\u{7f}"]);
            let name = &customer.name[0];
            let middle = name
                .char_indices()
                .nth(name.chars().count() / 2)
                .map_or(name.len(), |(position, _)| position);
            customer.name[0] = text(truncate(
                &format!("{}{control}{}", &name[..middle], &name[middle..]),
                ADRC_NAME_LENGTH,
            ));
            customer.dirty = Some(DIRTY_CONTROL_CHARACTER);
        }
        1 => {
            let domain = customer
                .default_email()
                .and_then(|email| email.address.split('@').nth(1).map(str::to_string))
                .unwrap_or_else(|| "example.invalid".to_string());
            let bad = match rng.gen_range(0..4) {
                0 => format!("info@@{domain}"),
                1 => format!("info at {domain}"),
                2 => domain.clone(),
                _ => "buchhaltung@".to_string(),
            };
            customer.emails = vec![Email {
                consnumber: 1,
                address: text(bad),
                default: true,
                ..Default::default()
            }];
            customer.dirty = Some(DIRTY_INVALID_EMAIL);
        }
        2 => {
            customer.country = "XX";
            customer.region = "";
            customer.dirty = Some(DIRTY_UNKNOWN_COUNTRY);
        }
        3 => {
            customer.name = Default::default();
            customer.dirty = Some(DIRTY_EMPTY_NAME);
        }
        _ => {
            let filler =
                "Internationale Handelsgesellschaft für Maschinen, Anlagen und Ersatzteile";
            // Blank name parts joined in would start a line with spaces that trimming takes
            // away, and the lines would not be full.
            let full = format!(
                "{} {filler} {filler}",
                customer
                    .name
                    .iter()
                    .map(|p| &**p)
                    .filter(|part| !part.is_empty())
                    .collect::<Vec<_>>()
                    .join(" ")
            );
            let mut parts: [Text; 4] = Default::default();
            let mut characters = full.chars();
            for part in &mut parts {
                let line: String = characters.by_ref().take(ADRC_NAME_LENGTH).collect();
                *part = text(line.trim());
            }
            customer.name = parts;
            customer.dirty = Some(DIRTY_FULL_WIDTH_NAME);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(customers: usize) -> GenerationSettings {
        GenerationSettings {
            customers,
            seed: 7,
            contacts_per_customer: 2,
            duplicate_rate: 0.1,
            dirty_rate: 0.1,
            client: "100".into(),
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_data() {
        let first = generate(&settings(300));
        let second = generate(&settings(300));
        assert_eq!(first.customers.len(), 300);
        for (a, b) in first.customers.iter().zip(&second.customers) {
            assert_eq!(a.kunnr, b.kunnr);
            assert_eq!(a.name, b.name);
            assert_eq!(a.emails.len(), b.emails.len());
        }
        assert_eq!(first.storage_order, second.storage_order);
    }

    #[test]
    fn names_fit_adrc_and_split_at_words() {
        let data = generate(&settings(500));
        let mut longer_than_kna1 = 0;
        for customer in &data.customers {
            for part in &customer.name {
                assert!(part.chars().count() <= ADRC_NAME_LENGTH, "{part}");
                longer_than_kna1 += usize::from(part.chars().count() > KNA1_NAME_LENGTH);
            }
        }
        assert!(
            longer_than_kna1 > 5,
            "{longer_than_kna1} lines longer than KNA1's"
        );
        for line in LONG_NAME_LINES {
            let length = line.chars().count();
            assert!((36..=40).contains(&length), "{line}: {length}");
        }
        let split = split_name(
            "Schwäbische Hüttenwerke Vertriebsgesellschaft Süddeutschland GmbH & Co. KG",
        );
        assert_eq!(split[0], "Schwäbische Hüttenwerke");
        assert!(split[1].starts_with("Vertriebsgesellschaft"));
    }

    #[test]
    fn duplicates_point_at_an_earlier_original_and_differ_in_spelling() {
        let data = generate(&settings(400));
        let duplicates: Vec<_> = data
            .customers
            .iter()
            .filter(|c| c.duplicate_of.is_some())
            .collect();
        assert!(!duplicates.is_empty());
        for duplicate in duplicates {
            let original = &data.customers[duplicate.duplicate_of.unwrap() as usize];
            assert_ne!(original.kunnr, duplicate.kunnr);
            assert_ne!(original.name, duplicate.name, "{:?}", original.name);
            assert_eq!(original.postal_code, duplicate.postal_code);
        }
    }

    #[test]
    fn address_variants_change_formatting_only() {
        assert_eq!(
            vary_address("Hauptstraße", "12a"),
            ("Hauptstr.".to_string(), "12 A".to_string())
        );
        assert_eq!(
            vary_address("High Street", "7"),
            ("High St.".to_string(), "7".to_string())
        );
    }
}
