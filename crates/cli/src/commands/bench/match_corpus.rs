//! The generated truth of `bench match`: ECC customers and the Pipedrive organizations a sales
//! team typed in before the connector came, with which organization truly is which customer.
//!
//! Written apart from the matcher on purpose: nothing here calls its normalization, so the
//! bench measures how the matcher copes with what people type, not how it agrees with itself.
//! What the corpus holds: a limited vocabulary (the same name recurs in other cities), branches
//! of one group sharing a name and a VAT number, typos, transliterations (ß/ss, ø/o,
//! Cyrillic/Latin), reordered words, abbreviations ("Intl", "Mfg", "&"/"und"/"and"), missing
//! address parts, and the other evidence a record carries: VAT numbers in any form, phone
//! numbers in national and international writing, e-mail and website domains (free mail too).
//! Everything is a pure function of the seed and the customer's position, so customers can be
//! generated in batches without holding them all.

use mlc_canonical::{Address, Customer, CustomerNumber, DisplayNumber, PaymentTerms};
use mlc_sync::existing::{ExistingOrganization, PipedriveAddress};
use serde_json::json;

use super::match_vocabulary::{
    ABBREVIATIONS, CITIES, CYRILLIC_STEMS, FORMS, FREE_MAIL, QUALIFIERS, STEMS, STREETS, TRADES,
};

/// The custom fields a generated organization may carry (40-character hash keys, as Pipedrive
/// names custom fields).
pub const NUMBER_KEY: &str = "e0c1b6a2d7f3948c5b1a0e9d8c7b6a5f4e3d2c1b";
pub const VAT_KEY: &str = "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678";
pub const PHONE_KEY: &str = "b2c3d4e5f60718293a4b5c6d7e8f901234567890";
pub const WEBSITE_KEY: &str = "c3d4e5f60718293a4b5c6d7e8f90123456789012";

/// SplitMix64: small, fast, deterministic.
pub struct Random(u64);

impl Random {
    pub fn new(seed: u64) -> Self {
        Random(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

/// A country as the corpus writes it: ISO code (ECC), English name (Pipedrive), calling code,
/// whether national numbers start with a trunk 0, top-level domain.
struct Country {
    code: &'static str,
    name: &'static str,
    calling_code: &'static str,
    trunk_zero: bool,
    tld: &'static str,
}

const COUNTRIES: &[Country] = &[
    Country {
        code: "DE",
        name: "Germany",
        calling_code: "49",
        trunk_zero: true,
        tld: "de",
    },
    Country {
        code: "AT",
        name: "Austria",
        calling_code: "43",
        trunk_zero: true,
        tld: "at",
    },
    Country {
        code: "CH",
        name: "Switzerland",
        calling_code: "41",
        trunk_zero: true,
        tld: "ch",
    },
    Country {
        code: "FR",
        name: "France",
        calling_code: "33",
        trunk_zero: true,
        tld: "fr",
    },
    Country {
        code: "NL",
        name: "Netherlands",
        calling_code: "31",
        trunk_zero: true,
        tld: "nl",
    },
    Country {
        code: "GB",
        name: "United Kingdom",
        calling_code: "44",
        trunk_zero: true,
        tld: "co.uk",
    },
    Country {
        code: "US",
        name: "United States",
        calling_code: "1",
        trunk_zero: false,
        tld: "com",
    },
    Country {
        code: "PL",
        name: "Poland",
        calling_code: "48",
        trunk_zero: false,
        tld: "pl",
    },
];

fn country(code: &str) -> &'static Country {
    COUNTRIES
        .iter()
        .find(|country| country.code == code)
        .unwrap_or(&COUNTRIES[0])
}

fn postal_code(city: &(&str, u32, &str), offset: u32) -> String {
    match city.2 {
        "DE" | "FR" | "US" => format!("{:05}", city.1 + offset),
        "AT" | "CH" => format!("{}", city.1 + offset),
        "NL" => format!(
            "{} {}",
            city.1 + offset,
            ["AB", "CD", "EF"][(offset % 3) as usize]
        ),
        "GB" => format!("M{} {}AA", city.1 / 1000, offset % 9 + 1),
        _ => format!("{:02}-{:03}", city.1, offset * 7 % 1000),
    }
}

/// What one company (and every branch of it) is: its name, VAT number and mail domain.
struct Identity {
    name: String,
    /// The VAT number's digits; the country prefix is the branch's country.
    vat_digits: Option<u64>,
    /// The company's own domain, without country suffix ("mueller-logistik"), if it has one.
    domain_stem: Option<String>,
    /// A free-mail domain the company writes from instead, if it does.
    free_mail: Option<&'static str>,
}

/// Lowercase ASCII letters of `text`, for the domain a company would register (the corpus's
/// own simple spelling, not the matcher's).
fn domain_stem(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars().flat_map(char::to_lowercase) {
        match c {
            'ä' => out.push_str("ae"),
            'ö' | 'ø' => out.push_str("oe"),
            'ü' => out.push_str("ue"),
            'ß' => out.push_str("ss"),
            'é' | 'è' => out.push('e'),
            c if c.is_ascii_alphanumeric() => out.push(c),
            ' ' | '&' | '-' if !out.ends_with('-') && !out.is_empty() => out.push('-'),
            _ => {}
        }
    }
    out.trim_end_matches('-').to_string()
}

fn identity(random: &mut Random) -> Identity {
    let (stem, latin) = if random.chance(4) {
        let (cyrillic, latin) = CYRILLIC_STEMS[random.below(CYRILLIC_STEMS.len())];
        (cyrillic.to_string(), latin.to_string())
    } else {
        let stem = random.pick(STEMS).to_string();
        (stem.clone(), stem)
    };
    let form = random.pick(FORMS);
    let trade = random.pick(TRADES);
    let (name, brand) = match random.below(10) {
        0..=2 => (format!("{stem} {trade} {form}"), format!("{latin} {trade}")),
        3..=6 => {
            let qualifier = random.pick(QUALIFIERS);
            (
                format!("{stem} {qualifier} {trade} {form}"),
                format!("{latin} {trade}"),
            )
        }
        7..=8 => {
            let qualifier = random.pick(QUALIFIERS);
            (
                format!("{stem} {qualifier} {form}"),
                format!("{latin} {qualifier}"),
            )
        }
        _ => {
            let partner = random.pick(STEMS);
            (
                format!("{stem} & {partner} {trade} {form}"),
                format!("{latin} {partner}"),
            )
        }
    };
    let vat_digits = random
        .chance(45)
        .then(|| random.next() % 900_000_000 + 100_000_000);
    let (domain_stem, free_mail) = match random.below(100) {
        // One domain per company: two companies of one name register two domains.
        0..=59 => (
            Some(format!(
                "{}-{}",
                self::domain_stem(&brand),
                random.below(100_000)
            )),
            None,
        ),
        60..=84 => (None, Some(random.pick(FREE_MAIL))),
        _ => (None, None),
    };
    Identity {
        name,
        vat_digits,
        domain_stem,
        free_mail,
    }
}

/// A phone number's parts: area code and subscriber number, without trunk prefix.
struct Phone {
    area: String,
    subscriber: String,
}

fn phone(random: &mut Random) -> Phone {
    let area_length = 2 + random.below(3);
    let area: String = std::iter::once(char::from(b'1' + random.below(9) as u8))
        .chain((1..area_length).map(|_| char::from(b'0' + random.below(10) as u8)))
        .collect();
    let subscriber: String = (0..6 + random.below(2))
        .map(|_| char::from(b'0' + random.below(10) as u8))
        .collect();
    Phone { area, subscriber }
}

/// How ECC holds a phone number: national writing (with the trunk 0 where the country has
/// one), sometimes international.
fn ecc_phone(random: &mut Random, phone: &Phone, country: &Country) -> String {
    let trunk = if country.trunk_zero { "0" } else { "" };
    match random.below(4) {
        0 => format!(
            "+{} {} {}",
            country.calling_code, phone.area, phone.subscriber
        ),
        _ => format!("{trunk}{} {}", phone.area, phone.subscriber),
    }
}

/// How a salesperson types the same number: any of the usual writings.
fn typed_phone(random: &mut Random, phone: &Phone, country: &Country) -> String {
    let trunk = if country.trunk_zero { "0" } else { "" };
    let calling = country.calling_code;
    let (area, subscriber) = (&phone.area, &phone.subscriber);
    match random.below(6) {
        0 => format!("+{calling} ({trunk}){area} {subscriber}"),
        1 => format!("00{calling} {area} {subscriber}"),
        2 => format!("+{calling}{area}{subscriber}"),
        3 => format!("{trunk}{area}/{subscriber}"),
        4 => {
            let (head, tail) = subscriber.split_at(subscriber.len() / 2);
            format!("{trunk}{area}-{head}-{tail}")
        }
        _ => format!("+{calling} {area} {subscriber}"),
    }
}

/// How a salesperson types a VAT number: compact, spaced, dotted, or without the country.
fn typed_vat(random: &mut Random, prefix: &str, digits: u64) -> String {
    let digits = digits.to_string();
    match random.below(4) {
        0 => format!("{prefix}{digits}"),
        1 => format!(
            "{prefix} {} {} {}",
            &digits[..3],
            &digits[3..6],
            &digits[6..]
        ),
        2 => digits,
        _ => format!(
            "{prefix}{}.{}.{}",
            &digits[..3],
            &digits[3..6],
            &digits[6..]
        ),
    }
}

/// One customer's own branch: its address and phone.
struct Branch {
    address: Address,
    phone: Option<Phone>,
}

fn branch(random: &mut Random) -> Branch {
    let city = CITIES[random.below(CITIES.len())];
    let offset = random.below(40) as u32;
    let house = if random.chance(15) {
        format!(
            "{}{}",
            1 + random.below(200),
            ["a", "b", "c"][random.below(3)]
        )
    } else {
        (1 + random.below(200)).to_string()
    };
    Branch {
        address: Address {
            street: random.pick(STREETS).to_string(),
            house_number: house,
            postal_code: postal_code(&city, offset),
            city: city.0.to_string(),
            region: String::new(),
            country: city.2.to_string(),
        },
        phone: random.chance(80).then(|| phone(random)),
    }
}

/// One customer of the corpus, the organization that truly is it (if the sales team typed it
/// in), and what a salesperson would have typed for it.
pub struct GeneratedCustomer {
    pub customer: Customer,
    pub organization: Option<ExistingOrganization>,
}

/// Customers come in blocks of this many; one block in ten is a group whose branches share the
/// name, the VAT number and the mail domain, each at its own address.
const GROUP_SIZE: usize = 4;
const GROUP_PERCENT: u64 = 10;

/// The generated corpus: `customers` ECC customers and `organizations` Pipedrive organizations,
/// the first of them hand-typed twins of customers (id = customer position + 1), the rest
/// other companies (ids after the customers').
#[derive(Debug, Clone, Copy)]
pub struct MatchCorpus {
    pub seed: u64,
    pub customers: usize,
    pub organizations: usize,
}

impl MatchCorpus {
    fn group_identity(&self, index: usize) -> Identity {
        let block = (index / GROUP_SIZE) as u64;
        let mut block_random = Random(self.seed ^ block.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x67);
        let grouped = block_random.chance(GROUP_PERCENT);
        if grouped {
            return identity(&mut block_random);
        }
        identity(&mut Random(
            self.seed ^ (index as u64).wrapping_mul(0x2545_f491_4f6c_dd1d),
        ))
    }

    /// Customer `index` (0-based) with its true organization, if it has one.
    pub fn customer(&self, index: usize) -> GeneratedCustomer {
        let identity = self.group_identity(index);
        let mut random = Random(self.seed ^ (index as u64).wrapping_mul(0x3c6e_f372_fe94_f82b));
        let branch = branch(&mut random);
        let country = country(&branch.address.country);
        let email = match (&identity.domain_stem, identity.free_mail) {
            (Some(stem), _) => Some(format!("info@{stem}.{}", country.tld)),
            (None, Some(free)) => Some(format!(
                "{}{}@{free}",
                domain_stem(&identity.name).replace('-', "."),
                index % 97
            )),
            (None, None) => None,
        };
        let number = index + 1;
        let customer = Customer {
            customer_number: CustomerNumber::from_internal(format!("{number:010}")),
            customer_number_display: DisplayNumber::new(number.to_string()),
            name: identity.name.clone(),
            name_parts: [
                identity.name.clone(),
                String::new(),
                String::new(),
                String::new(),
            ],
            account_group: "0001".into(),
            vat_number: identity
                .vat_digits
                .map(|digits| format!("{}{digits}", country.code)),
            deleted: false,
            blocked: false,
            billing_address: branch.address.clone(),
            shipping_address: None,
            email,
            phone: branch
                .phone
                .as_ref()
                .map(|phone| ecc_phone(&mut random, phone, country)),
            payment_terms: Some(PaymentTerms {
                code: "ZB30".into(),
                text: None,
            }),
            contacts: Vec::new(),
        };
        let organization = (index < self.organizations && random.chance(60)).then(|| {
            hand_typed_organization(&mut random, &customer, &identity, &branch, index as i64 + 1)
        });
        GeneratedCustomer {
            customer,
            organization,
        }
    }

    /// Organization `id` beyond the customers' twins: another company, with its own address
    /// and evidence, named from the same vocabulary (so its name may be a customer's).
    pub fn other_organization(&self, id: i64) -> ExistingOrganization {
        let mut random =
            Random(self.seed ^ (id as u64).wrapping_mul(0x7f4a_7c15_9e37_79b9) ^ 0xabcdef);
        let identity = identity(&mut random);
        let branch = branch(&mut random);
        let country = country(&branch.address.country);
        let address = &branch.address;
        let mut custom_fields = serde_json::Map::new();
        if let (Some(digits), true) = (identity.vat_digits, random.chance(40)) {
            custom_fields.insert(
                VAT_KEY.into(),
                json!(typed_vat(&mut random, country.code, digits)),
            );
        }
        if let (Some(phone), true) = (&branch.phone, random.chance(40)) {
            custom_fields.insert(
                PHONE_KEY.into(),
                json!(typed_phone(&mut random, phone, country)),
            );
        }
        if let (Some(stem), true) = (&identity.domain_stem, random.chance(40)) {
            custom_fields.insert(
                WEBSITE_KEY.into(),
                json!(format!("www.{stem}.{}", country.tld)),
            );
        }
        ExistingOrganization {
            id,
            name: identity.name.clone(),
            address: Some(PipedriveAddress {
                value: Some(format!(
                    "{} {}, {} {}",
                    address.street, address.house_number, address.postal_code, address.city
                )),
                route: Some(address.street.clone()),
                street_number: Some(address.house_number.clone()),
                postal_code: Some(address.postal_code.clone()),
                locality: Some(address.city.clone()),
                country: Some(country.name.to_string()),
                ..Default::default()
            }),
            custom_fields: custom_fields.into_iter().collect(),
            ..Default::default()
        }
    }
}

/// How a salesperson types a company ECC also holds: legal form dropped or another, umlauts
/// and ß spelled out or dropped, Cyrillic written in Latin letters, case changed, words
/// reordered or abbreviated, "&" written out, one typo.
pub fn hand_typed_name(random: &mut Random, name: &str) -> String {
    let mut words: Vec<String> = name.split(' ').map(str::to_string).collect();
    if random.chance(50) {
        let form_words = FORMS
            .iter()
            .find(|form| name.ends_with(*form))
            .map(|form| form.split(' ').count())
            .unwrap_or(0);
        words.truncate(words.len() - form_words.min(words.len() - 1));
        if random.chance(40) {
            words.push(
                random
                    .pick(&["GmbH", "Ltd", "AG", "Limited", "BV"])
                    .to_string(),
            );
        }
    }
    for word in words.iter_mut() {
        if let Some((_, latin)) = CYRILLIC_STEMS.iter().find(|(cyrillic, _)| cyrillic == word) {
            *word = latin.to_string();
        }
        if let Some((long, short)) = ABBREVIATIONS.iter().find(|(long, _)| long == word) {
            if random.chance(50) {
                *word = short.to_string();
            } else if random.chance(10) {
                *word = long.to_uppercase();
            }
        }
        if word == "&" && random.chance(40) {
            *word = random.pick(&["und", "and"]).to_string();
        }
    }
    let mut typed = words.join(" ");
    if random.chance(50) {
        typed = typed
            .replace('ü', "ue")
            .replace('ö', "oe")
            .replace('ä', "ae")
            .replace('ß', "ss")
            .replace('ø', "oe");
    } else if random.chance(15) {
        typed = typed
            .replace('ü', "u")
            .replace('ö', "o")
            .replace('ä', "a")
            .replace('ø', "o");
    }
    if random.chance(10) {
        typed = typed.to_uppercase();
    }
    if random.chance(8) {
        let mut parts: Vec<&str> = typed.split(' ').collect();
        if parts.len() >= 3 {
            parts.swap(0, 1);
        }
        typed = parts.join(" ");
    }
    if random.chance(10) {
        typed = with_typo(random, &typed);
    }
    typed
}

/// One letter of the longest word dropped, doubled or swapped with its neighbour.
fn with_typo(random: &mut Random, typed: &str) -> String {
    let longest = typed
        .split(' ')
        .max_by_key(|word| word.chars().count())
        .unwrap_or("")
        .to_string();
    let mut chars: Vec<char> = longest.chars().collect();
    if chars.len() <= 5 {
        return typed.to_string();
    }
    let at = 1 + random.below(chars.len() - 2);
    match random.below(3) {
        0 => {
            chars.remove(at);
        }
        1 => chars.insert(at, chars[at]),
        _ => chars.swap(at, at + 1),
    }
    typed.replacen(&longest, &chars.into_iter().collect::<String>(), 1)
}

fn hand_typed_organization(
    random: &mut Random,
    customer: &Customer,
    identity: &Identity,
    branch: &Branch,
    id: i64,
) -> ExistingOrganization {
    let address = &customer.billing_address;
    let country = country(&address.country);
    let street = if random.chance(60) {
        address.street.replace("straße", "str.")
    } else {
        address.street.replace("straße", "strasse")
    };
    let house = match address.house_number.find(|c: char| c.is_alphabetic()) {
        Some(position) if random.chance(50) => format!(
            "{} {}",
            &address.house_number[..position],
            address.house_number[position..].to_uppercase()
        ),
        _ => address.house_number.clone(),
    };
    // Which address parts the salesperson left out (one at most), or the whole address.
    let (mut street_typed, mut postal_typed, mut city_typed) = (
        Some(street),
        Some(address.postal_code.clone()),
        Some(address.city.clone()),
    );
    match random.below(20) {
        0 => street_typed = None,
        1 => postal_typed = None,
        2 => city_typed = None,
        _ => {}
    }
    let line = format!(
        "{} {house}, {} {}",
        street_typed.clone().unwrap_or_default(),
        postal_typed.clone().unwrap_or_default(),
        city_typed.clone().unwrap_or_default()
    );
    let pipedrive_address = match random.below(20) {
        0..=15 => Some(PipedriveAddress {
            value: Some(line),
            street_number: street_typed.as_ref().map(|_| house.clone()),
            route: street_typed.take(),
            postal_code: postal_typed.take(),
            locality: city_typed.take(),
            country: random.chance(70).then(|| country.name.to_string()),
            ..Default::default()
        }),
        16..=18 => Some(PipedriveAddress {
            value: Some(line),
            ..Default::default()
        }),
        _ => None,
    };
    let mut custom_fields = serde_json::Map::new();
    if random.chance(33) {
        custom_fields.insert(NUMBER_KEY.into(), json!(customer.customer_number_display));
    }
    if let (Some(digits), true) = (identity.vat_digits, random.chance(50)) {
        custom_fields.insert(
            VAT_KEY.into(),
            json!(typed_vat(random, country.code, digits)),
        );
    }
    if let (Some(phone), true) = (&branch.phone, random.chance(50)) {
        custom_fields.insert(PHONE_KEY.into(), json!(typed_phone(random, phone, country)));
    }
    if let (Some(stem), true) = (&identity.domain_stem, random.chance(40)) {
        let website = match random.below(3) {
            0 => format!("www.{stem}.{}", country.tld),
            1 => format!("https://www.{stem}.{}/", country.tld),
            _ => format!("{stem}.{}", country.tld),
        };
        custom_fields.insert(WEBSITE_KEY.into(), json!(website));
    }
    ExistingOrganization {
        id,
        name: hand_typed_name(random, &customer.name),
        address: pipedrive_address,
        custom_fields: custom_fields.into_iter().collect(),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn corpus() -> MatchCorpus {
        MatchCorpus {
            seed: 7,
            customers: 2_000,
            organizations: 2_000,
        }
    }

    #[test]
    fn the_corpus_is_the_same_for_the_same_seed_and_position() {
        let corpus = corpus();
        for index in [0, 17, 1_999] {
            let (a, b) = (corpus.customer(index), corpus.customer(index));
            assert_eq!(a.customer, b.customer);
            assert_eq!(a.organization, b.organization);
        }
    }

    #[test]
    fn the_corpus_holds_what_the_matcher_must_cope_with() {
        let corpus = corpus();
        let generated: Vec<GeneratedCustomer> = (0..corpus.customers)
            .map(|index| corpus.customer(index))
            .collect();
        let twins = generated
            .iter()
            .filter(|g| g.organization.is_some())
            .count();
        assert!((1_000..1_400).contains(&twins), "{twins} twins of 2,000");
        let names: Vec<&str> = generated.iter().map(|g| g.customer.name.as_str()).collect();
        let shared = names.windows(2).filter(|pair| pair[0] == pair[1]).count();
        assert!(shared > 50, "branches sharing one name: {shared}");
        let cyrillic = names
            .iter()
            .filter(|name| name.chars().any(|c| ('а'..='я').contains(&c)))
            .count();
        assert!(cyrillic > 20, "{cyrillic} Cyrillic names");
        let typed: Vec<&ExistingOrganization> = generated
            .iter()
            .filter_map(|g| g.organization.as_ref())
            .collect();
        let with = |key: &str| {
            typed
                .iter()
                .filter(|o| o.custom_fields.contains_key(key))
                .count()
        };
        assert!(with(VAT_KEY) > 100 && with(PHONE_KEY) > 200 && with(WEBSITE_KEY) > 100);
        assert!(typed
            .iter()
            .any(|o| o.name.contains("Intl") || o.name.contains("Mfg")));
        assert!(typed.iter().any(|o| o.address.is_none()));
        assert!(typed.iter().any(|o| o
            .address
            .as_ref()
            .is_some_and(|a| a.postal_code.is_none() && a.route.is_some())));
    }
}
