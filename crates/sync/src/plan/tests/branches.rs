//! The branches of one group: thousands of ECC customers where groups share one company name at
//! different addresses (in half the groups one VAT number too), a share of them typed into
//! Pipedrive by hand (the exact address, the name as a person writes it), the rest partly synced
//! before, beside organizations of other companies. The planner must duplicate none of the
//! hand-typed organizations and link none to another branch.

use std::collections::{BTreeMap, HashMap, HashSet};

use mlc_canonical::state::Action;
use mlc_canonical::Customer;
use proptest::prelude::RngExt;
use proptest::test_runner::{RngAlgorithm, TestRng};

use super::{organization_entry, World};
use crate::existing::{ExistingOrganization, PipedriveAddress};
use crate::map::country_name;
use crate::matching::{find_ecc_duplicates, MatchSettings};
use crate::plan::Operation;
use crate::testing::other_customer;

/// The fixed seed: the same world on every run.
const SEED: [u8; 32] = *b"mlc issue 12: branches, typed in";

const CUSTOMERS: usize = 3_000;
const HAND_TYPED_SHARE: f64 = 0.20;
/// Of the customers not typed in by hand, this share was synced (and linked) before.
const SYNCED_SHARE: f64 = 0.40;
/// Organizations of companies that are no ECC customer.
const OTHER_COMPANIES: usize = 1_000;
/// Of those, at the exact address of an ECC customer: another company of the same family in the
/// same building ("Kowalski Logistik" beside "Kowalski Handel").
const NEIGHBOURS: usize = 150;

const SYNCED_IDS: i64 = 100_000;
const HAND_TYPED_IDS: i64 = 200_000;
const OTHER_IDS: i64 = 300_000;

struct Country {
    code: &'static str,
    legal_forms: &'static [&'static str],
    /// City and the first digits of its postal codes.
    cities: &'static [(&'static str, &'static str)],
    streets: &'static [&'static str],
    /// How a postal code is written from the city's prefix and three random digits.
    postal_code: fn(&str, u32) -> String,
}

fn digits(prefix: &str, number: u32) -> String {
    format!("{prefix}{number:03}")
}

const COUNTRIES: &[Country] = &[
    Country {
        code: "DE",
        legal_forms: &["GmbH", "GmbH & Co. KG", "AG", "KG", "e.K."],
        cities: &[
            ("Stuttgart", "70"),
            ("München", "80"),
            ("Köln", "50"),
            ("Düsseldorf", "40"),
            ("Hamburg", "20"),
        ],
        streets: &[
            "Hauptstraße",
            "Königstraße",
            "Industriestraße",
            "Bahnhofstraße",
            "Am Markt",
            "Gartenweg",
            "Lindenallee",
            "Schillerstraße",
            "Goethestraße",
            "Kirchweg",
            "Bergstraße",
            "Waldstraße",
            "Mühlenweg",
            "Schulstraße",
            "Poststraße",
            "Rosenstraße",
            "Friedrichstraße",
            "Ringstraße",
        ],
        postal_code: digits,
    },
    Country {
        code: "PL",
        legal_forms: &["Sp. z o.o.", "S.A.", "Sp. j."],
        cities: &[
            ("Warszawa", "00"),
            ("Kraków", "30"),
            ("Łódź", "90"),
            ("Gdańsk", "80"),
        ],
        streets: &[
            "ul. Marszałkowska",
            "ul. Długa",
            "ul. Piotrkowska",
            "al. Jerozolimskie",
            "ul. Floriańska",
            "ul. Mickiewicza",
            "ul. Słowackiego",
            "ul. Kościuszki",
            "ul. Polna",
            "ul. Leśna",
            "ul. Ogrodowa",
            "ul. Krakowska",
        ],
        postal_code: |prefix, number| format!("{prefix}-{number:03}"),
    },
    Country {
        code: "GB",
        legal_forms: &["Ltd", "Limited", "PLC"],
        cities: &[("London", "EC1"), ("Manchester", "M1"), ("Leeds", "LS1")],
        streets: &[
            "High Street",
            "Station Road",
            "Church Lane",
            "Victoria Road",
            "Mill Lane",
            "King Street",
            "Queen Street",
            "Park Road",
            "Green Lane",
            "Manor Road",
            "London Road",
            "New Street",
        ],
        postal_code: |prefix, number| {
            let letters = ["AB", "BD", "EF", "GH", "JL"];
            format!(
                "{prefix} {}{}",
                number % 10,
                letters[number as usize % letters.len()]
            )
        },
    },
    Country {
        code: "ES",
        legal_forms: &["S.A.", "S.L."],
        cities: &[("Madrid", "28"), ("Barcelona", "08"), ("Valencia", "46")],
        streets: &[
            "Calle Mayor",
            "Gran Vía",
            "Calle de Alcalá",
            "Calle Real",
            "Avenida de la Constitución",
            "Calle del Sol",
            "Paseo del Prado",
            "Calle Nueva",
            "Calle de Toledo",
            "Avenida de América",
        ],
        postal_code: digits,
    },
    Country {
        code: "FR",
        legal_forms: &["SARL", "SAS", "S.A."],
        cities: &[("Paris", "75"), ("Lyon", "69"), ("Lille", "59")],
        streets: &[
            "Rue de la Paix",
            "Avenue Victor Hugo",
            "Boulevard Voltaire",
            "Rue de la République",
            "Rue Pasteur",
            "Rue Jean Jaurès",
            "Avenue Foch",
            "Rue du Moulin",
            "Place de la Gare",
            "Rue Nationale",
        ],
        postal_code: digits,
    },
    Country {
        code: "IT",
        legal_forms: &["S.r.l.", "S.p.A."],
        cities: &[("Milano", "20"), ("Roma", "00"), ("Torino", "10")],
        streets: &[
            "Via Roma",
            "Corso Italia",
            "Via Garibaldi",
            "Via Mazzini",
            "Via Dante",
            "Via Verdi",
            "Corso Vittorio Emanuele",
            "Via Cavour",
            "Via Marconi",
            "Piazza del Duomo",
        ],
        postal_code: digits,
    },
    Country {
        code: "NL",
        legal_forms: &["B.V.", "N.V."],
        cities: &[("Amsterdam", "10"), ("Rotterdam", "30")],
        streets: &[
            "Keizersgracht",
            "Damrak",
            "Coolsingel",
            "Herengracht",
            "Kerkstraat",
            "Dorpsstraat",
            "Stationsweg",
            "Molenweg",
            "Schoolstraat",
            "Marktplein",
        ],
        postal_code: |prefix, number| format!("{prefix}{:02} AB", number % 100),
    },
    Country {
        code: "CZ",
        legal_forms: &["s.r.o.", "a.s."],
        cities: &[("Praha", "11"), ("Brno", "60")],
        streets: &[
            "Národní",
            "Václavské náměstí",
            "Masarykova",
            "Husova",
            "Palackého",
            "Nádražní",
            "Školní",
            "Komenského",
            "Havlíčkova",
            "Jiráskova",
        ],
        postal_code: |prefix, number| format!("{prefix}{} {:02}", number % 10, number % 100),
    },
    Country {
        code: "HU",
        legal_forms: &["Kft.", "Zrt."],
        cities: &[("Budapest", "1"), ("Debrecen", "4")],
        streets: &[
            "Andrássy út",
            "Váci utca",
            "Kossuth Lajos utca",
            "Petőfi Sándor utca",
            "Rákóczi út",
            "Széchenyi utca",
            "Ady Endre utca",
            "Dózsa György út",
        ],
        postal_code: digits,
    },
    Country {
        code: "DK",
        legal_forms: &["A/S", "ApS"],
        cities: &[("København", "1"), ("Aarhus", "8")],
        streets: &[
            "Strøget",
            "Nørregade",
            "Vestergade",
            "Østergade",
            "Algade",
            "Søndergade",
            "Bredgade",
            "Kongensgade",
        ],
        postal_code: digits,
    },
    Country {
        code: "US",
        legal_forms: &["Inc.", "LLC", "Corp.", "Incorporated"],
        cities: &[("Chicago", "60"), ("Houston", "77"), ("Boston", "02")],
        streets: &[
            "Main Street",
            "Oak Avenue",
            "Park Boulevard",
            "Maple Street",
            "Washington Avenue",
            "Elm Street",
            "Lake Drive",
            "Cedar Lane",
            "Pine Street",
            "Market Street",
        ],
        postal_code: digits,
    },
    Country {
        code: "SE",
        legal_forms: &["AB"],
        cities: &[("Stockholm", "11"), ("Göteborg", "41")],
        streets: &[
            "Drottninggatan",
            "Kungsgatan",
            "Storgatan",
            "Sveavägen",
            "Vasagatan",
            "Järnvägsgatan",
            "Kyrkogatan",
            "Skolgatan",
        ],
        postal_code: digits,
    },
    Country {
        code: "FI",
        legal_forms: &["Oy", "Oyj"],
        cities: &[("Helsinki", "00"), ("Tampere", "33")],
        streets: &[
            "Mannerheimintie",
            "Hämeenkatu",
            "Aleksanterinkatu",
            "Kauppakatu",
            "Rautatienkatu",
            "Puistokatu",
            "Koulukatu",
            "Satamakatu",
        ],
        postal_code: digits,
    },
];

const SURNAMES: &[&str] = &[
    "Kowalski",
    "Nowak",
    "Müller",
    "Schmidt",
    "Schneider",
    "Fischer",
    "Weber",
    "Meyer",
    "Wagner",
    "Becker",
    "Hoffmann",
    "Schäfer",
    "Koch",
    "Richter",
    "Klein",
    "Wolf",
    "Schröder",
    "Neumann",
    "Zimmermann",
    "Braun",
    "Krüger",
    "Hartmann",
    "Lange",
    "Werner",
    "Krause",
    "Lehmann",
    "Köhler",
    "Smith",
    "Jones",
    "Taylor",
    "Brown",
    "Wilson",
    "Evans",
    "Thomas",
    "Roberts",
    "Walker",
    "Dupont",
    "Martin",
    "Bernard",
    "Dubois",
    "Lefebvre",
    "Moreau",
    "Rossi",
    "Russo",
    "Ferrari",
    "Esposito",
    "Bianchi",
    "Romano",
    "García",
    "Fernández",
    "López",
    "Martínez",
    "Sánchez",
    "Pérez",
    "Jansen",
    "de Vries",
    "van Dijk",
    "Bakker",
    "Visser",
    "Novák",
    "Svoboda",
    "Dvořák",
    "Nagy",
    "Kovács",
    "Tóth",
    "Szabó",
    "Hansen",
    "Nielsen",
    "Jensen",
    "Andersson",
    "Johansson",
    "Karlsson",
    "Virtanen",
    "Korhonen",
    "Mäkinen",
    "Wiśniewski",
    "Wójcik",
    "Kamiński",
    "Lewandowski",
    "Zieliński",
];

const TRADES: &[&str] = &[
    "Handel",
    "Maschinenbau",
    "Logistik",
    "Foods",
    "Consulting",
    "Elektrotechnik",
    "Bau",
    "Textil",
    "Medical",
    "Software",
    "Pharma",
    "Metall",
    "Agrar",
    "Energie",
    "Transport",
    "Druck",
    "Optik",
    "Holz",
    "Glas",
    "Chemie",
    "Automotive",
    "Packaging",
    "Trading",
    "Systems",
    "Services",
];

/// One ECC customer of the world and what Pipedrive holds for it.
struct Branch {
    customer: Customer,
    /// The organization a person typed in for it, if any.
    hand_typed: Option<i64>,
    /// The organization it is linked to from an earlier sync, if any.
    synced: Option<i64>,
}

/// What the generator built, for the assertions and the figures.
struct Generated {
    branches: Vec<Branch>,
    groups: usize,
    organizations: Vec<ExistingOrganization>,
    /// How each hand-typed name was written, by organization id (for failure messages).
    typed_names: HashMap<i64, String>,
}

fn pick<'a, T>(rng: &mut TestRng, items: &'a [T]) -> &'a T {
    &items[rng.random_range(0..items.len())]
}

/// A postal address of `country` no other customer has.
fn unique_address(
    rng: &mut TestRng,
    country: &Country,
    near: Option<&mlc_canonical::Address>,
    same_street: bool,
    used: &mut HashSet<(String, String, String, String)>,
) -> mlc_canonical::Address {
    loop {
        let (city, prefix) = *pick(rng, country.cities);
        let mut address = mlc_canonical::Address {
            street: pick(rng, country.streets).to_string(),
            house_number: rng.random_range(1..200u32).to_string(),
            postal_code: (country.postal_code)(prefix, rng.random_range(0..1000u32)),
            city: city.to_string(),
            region: String::new(),
            country: country.code.to_string(),
        };
        if rng.random_bool(0.15) {
            address.house_number.push(*pick(rng, &['a', 'b', 'c']));
        }
        if let Some(near) = near {
            // Another branch in the same city, or down the same street.
            address.city = near.city.clone();
            address.postal_code = near.postal_code.clone();
            if same_street {
                address.street = near.street.clone();
            }
        }
        let key = (
            address.street.clone(),
            address.house_number.clone(),
            address.postal_code.clone(),
            address.city.clone(),
        );
        if used.insert(key) {
            return address;
        }
    }
}

/// A legal form as a person types it: the final dot dropped, blanks after the inner dots, no
/// dots at all, written out or abbreviated, or left out.
fn typed_legal_form(rng: &mut TestRng, form: &str) -> String {
    match rng.random_range(0..7u32) {
        0 => form.strip_suffix('.').unwrap_or(form).to_string(),
        1 => {
            form.trim_end_matches('.')
                .replace('.', ". ")
                .replace(".  ", ". ")
                + if form.ends_with('.') { "." } else { "" }
        }
        2 => form.replace('.', ""),
        3 => match form {
            "Ltd" => "Limited".into(),
            "Limited" => "Ltd".into(),
            "Inc." => "Incorporated".into(),
            "Incorporated" => "Inc".into(),
            "Corp." => "Corporation".into(),
            "GmbH" => "Gmbh".into(),
            "AG" => "Aktiengesellschaft".into(),
            "Sp. z o.o." => "Spółka z o.o.".into(),
            other => other.to_string(),
        },
        4 => String::new(),
        _ => form.to_string(),
    }
}

fn title_case(text: &str) -> String {
    text.split(' ')
        .map(|word| {
            let mut chars = word.chars();
            match chars.next() {
                Some(first) => first
                    .to_uppercase()
                    .chain(chars.flat_map(char::to_lowercase))
                    .collect(),
                None => String::new(),
            }
        })
        .collect::<Vec<String>>()
        .join(" ")
}

/// The name as the sales team typed it: the legal form spelled their way, the case changed,
/// umlauts spelled out, stray blanks.
fn typed_name(rng: &mut TestRng, stem: &str, form: &str) -> String {
    let mut stem = stem.to_string();
    if rng.random_bool(0.2) {
        for (umlaut, spelled) in [("ä", "ae"), ("ö", "oe"), ("ü", "ue"), ("ß", "ss")] {
            stem = stem.replace(umlaut, spelled);
        }
    }
    let form = typed_legal_form(rng, form);
    let name = format!("{stem} {form}");
    let name = match rng.random_range(0..4u32) {
        0 => name.to_uppercase(),
        1 => name.to_lowercase(),
        2 => title_case(&name),
        _ => name,
    };
    match rng.random_range(0..4u32) {
        0 => format!("{name} "),
        1 => name.replace(' ', "  "),
        2 => format!(" {name}  "),
        _ => name,
    }
}

/// Pipedrive's address of a hand-typed organization: ECC's address, in a share of them written
/// differently (case, "Str." for "Straße", "12 A" for "12a", a country prefix on the postal
/// code, or typed into one line).
fn typed_address(rng: &mut TestRng, address: &mlc_canonical::Address) -> PipedriveAddress {
    let mut route = address.street.clone();
    let mut number = address.house_number.clone();
    let mut postal = address.postal_code.clone();
    let mut city = address.city.clone();
    if rng.random_bool(0.3) {
        match rng.random_range(0..5u32) {
            0 => route = route.to_uppercase(),
            1 => route = route.replace("straße", "str.").replace("Straße", "Str."),
            2 => {
                if number.ends_with(|c: char| c.is_ascii_alphabetic()) {
                    number.insert(number.len() - 1, ' ');
                    number = number.to_uppercase();
                } else {
                    number = format!(" {number}");
                }
            }
            3 => city = city.to_uppercase(),
            _ => {
                if address.country == "DE" {
                    postal = format!("D-{postal}");
                } else {
                    city = format!("{city} ");
                }
            }
        }
    }
    let country = country_name(&address.country).map(str::to_string);
    let one_line = format!("{route} {number}, {postal} {city}");
    // One-line addresses are parsed; only where the postal code is digits before the city.
    let parseable = ["DE", "PL", "ES", "FR", "IT", "FI"].contains(&address.country.as_str());
    if parseable && rng.random_bool(0.1) {
        return PipedriveAddress {
            value: Some(one_line),
            country,
            ..Default::default()
        };
    }
    PipedriveAddress {
        value: Some(one_line),
        route: Some(route),
        street_number: Some(number),
        postal_code: Some(postal),
        locality: Some(city),
        country,
        ..Default::default()
    }
}

fn generate() -> Generated {
    let mut rng = TestRng::from_seed(RngAlgorithm::ChaCha, &SEED);
    let mut used_addresses = HashSet::new();
    let mut used_stems = HashSet::new();
    let mut branches: Vec<Branch> = Vec::with_capacity(CUSTOMERS);
    let mut organizations = Vec::new();
    let mut typed_names = HashMap::new();
    let mut groups = 0;
    while branches.len() < CUSTOMERS {
        let (surname, trade) = loop {
            let stem = (*pick(&mut rng, SURNAMES), *pick(&mut rng, TRADES));
            if used_stems.insert(stem) {
                break stem;
            }
        };
        let country = pick(&mut rng, COUNTRIES);
        let form = *pick(&mut rng, country.legal_forms);
        let stem = format!("{surname} {trade}");
        let name = format!("{stem} {form}");
        let size = rng
            .random_range(2..=10usize)
            .min(CUSTOMERS - branches.len());
        // One legal entity: in half the groups every branch carries its VAT number.
        let vat_number = rng
            .random_bool(0.5)
            .then(|| format!("{}{:09}", country.code, groups));
        let mut first_address: Option<mlc_canonical::Address> = None;
        groups += 1;
        for _ in 0..size {
            let number = branches.len() as u32 + 1;
            let near = match rng.random_range(0..20u32) {
                0..=11 => None,
                12..=16 => first_address.as_ref().map(|address| (address, false)),
                _ => first_address.as_ref().map(|address| (address, true)),
            };
            let address = unique_address(
                &mut rng,
                country,
                near.map(|(address, _)| address),
                near.is_some_and(|(_, same_street)| same_street),
                &mut used_addresses,
            );
            first_address.get_or_insert_with(|| address.clone());
            let mut customer = other_customer(
                number,
                &name,
                &address.street,
                &address.house_number,
                &address.postal_code,
                &address.city,
            );
            customer.billing_address = address;
            customer.vat_number = vat_number.clone();
            let mut branch = Branch {
                customer,
                hand_typed: None,
                synced: None,
            };
            if rng.random_bool(HAND_TYPED_SHARE) {
                let id = HAND_TYPED_IDS + i64::from(number);
                let typed = typed_name(&mut rng, &stem, form);
                organizations.push(ExistingOrganization {
                    id,
                    name: typed.clone(),
                    address: Some(typed_address(&mut rng, &branch.customer.billing_address)),
                    ..Default::default()
                });
                typed_names.insert(id, typed);
                branch.hand_typed = Some(id);
            } else if rng.random_bool(SYNCED_SHARE) {
                branch.synced = Some(SYNCED_IDS + i64::from(number));
            }
            branches.push(branch);
        }
    }
    let mut other = 0;
    while other < OTHER_COMPANIES {
        let country = pick(&mut rng, COUNTRIES);
        let form = *pick(&mut rng, country.legal_forms);
        let trade = *pick(&mut rng, TRADES);
        let (surname, address) = if other < NEIGHBOURS {
            // In the building of an ECC customer, with its family name and another trade.
            let neighbour = &branches[rng.random_range(0..branches.len())].customer;
            let surname = SURNAMES
                .iter()
                .copied()
                .find(|surname| neighbour.name.starts_with(surname))
                .unwrap_or(SURNAMES[0]);
            (surname, neighbour.billing_address.clone())
        } else {
            let surname = *pick(&mut rng, SURNAMES);
            let address = unique_address(&mut rng, country, None, false, &mut used_addresses);
            (surname, address)
        };
        if used_stems.contains(&(surname, trade)) {
            // A company of an ECC group's name is that group's, not another company.
            continue;
        }
        organizations.push(ExistingOrganization {
            id: OTHER_IDS + other as i64,
            name: format!("{surname} {trade} {form}"),
            address: Some(typed_address(&mut rng, &address)),
            ..Default::default()
        });
        other += 1;
    }
    Generated {
        branches,
        groups,
        organizations,
        typed_names,
    }
}

/// What the plan did with the customers, counted.
#[derive(Default)]
struct Figures {
    customers: usize,
    groups: usize,
    hand_typed: usize,
    /// Of them, with a name not written as in ECC.
    typed_differently: usize,
    synced_before: usize,
    other_organizations: usize,
    hand_typed_linked: usize,
    hand_typed_reviewed: usize,
    hand_typed_created: usize,
    others_created: usize,
    others_reviewed: usize,
    others_skipped: usize,
    wrong_links: usize,
    review_reasons: BTreeMap<String, usize>,
}

impl Figures {
    fn summary(&self) -> String {
        format!(
            "{} customers in {} groups sharing a name; {} hand-typed ({} named differently than in ECC), {} synced before, {} organizations of other companies\n\
             hand-typed: {} linked, {} in review, {} created\n\
             the others: {} created, {} in review, {} unchanged\n\
             wrong links: {}\n\
             reviews by reason: {:?}",
            self.customers,
            self.groups,
            self.hand_typed,
            self.typed_differently,
            self.synced_before,
            self.other_organizations,
            self.hand_typed_linked,
            self.hand_typed_reviewed,
            self.hand_typed_created,
            self.others_created,
            self.others_reviewed,
            self.others_skipped,
            self.wrong_links,
            self.review_reasons,
        )
    }
}

#[test]
fn branches_sharing_a_name_are_never_duplicated_nor_linked_to_each_others_organizations() {
    let generated = generate();
    let customers: Vec<Customer> = generated
        .branches
        .iter()
        .map(|branch| branch.customer.clone())
        .collect();
    let mut world = World::new(customers.clone());
    for (index, branch) in generated.branches.iter().enumerate() {
        if let Some(id) = branch.synced {
            world = world.synced(index, id);
        }
    }
    for organization in &generated.organizations {
        world
            .organizations
            .insert(organization.id, organization.clone());
    }
    world.duplicates = find_ecc_duplicates(
        &customers,
        MatchSettings {
            link_threshold: 0.9,
            review_threshold: 0.30,
        },
        1,
    );
    let plan = world.plan();

    let mut figures = Figures {
        customers: customers.len(),
        groups: generated.groups,
        hand_typed: generated.typed_names.len(),
        typed_differently: generated
            .branches
            .iter()
            .filter_map(|branch| Some((branch.hand_typed?, &branch.customer.name)))
            .filter(|(id, name)| generated.typed_names[id] != **name)
            .count(),
        synced_before: generated
            .branches
            .iter()
            .filter(|branch| branch.synced.is_some())
            .count(),
        other_organizations: generated.organizations.len() - generated.typed_names.len(),
        ..Figures::default()
    };
    let mut failures = Vec::new();
    for branch in &generated.branches {
        let customer = &branch.customer;
        let entry = organization_entry(&plan, customer);
        let own = branch.hand_typed.or(branch.synced);
        if let Operation::Link { id, .. } = entry.operation {
            if Some(id) != own {
                figures.wrong_links += 1;
                failures.push(format!(
                    "customer {} ({:?}) linked to organization {id}, not its own {own:?}: {}",
                    customer.customer_number_display, customer.name, entry.reason
                ));
            }
        }
        if entry.action() == Action::Review {
            // The matcher's reason, or the planner's when the matcher would have linked.
            let reason = match entry
                .evidence
                .as_ref()
                .and_then(|evidence| evidence["reason"].as_str())
            {
                Some(reason) => reason.to_string(),
                None if entry.reason.contains("exactly the name and address") => {
                    "another customer's name and address".to_string()
                }
                None => "taken earlier in this run".to_string(),
            };
            *figures.review_reasons.entry(reason).or_default() += 1;
        }
        match (branch.hand_typed, entry.action()) {
            (Some(_), Action::Link) => figures.hand_typed_linked += 1,
            (Some(_), Action::Review) => figures.hand_typed_reviewed += 1,
            (Some(id), action) => {
                if action == Action::Create {
                    figures.hand_typed_created += 1;
                }
                failures.push(format!(
                    "customer {} ({:?}, typed in as {:?}, organization {id}): {action:?}, {}",
                    customer.customer_number_display,
                    customer.name,
                    generated.typed_names[&id],
                    entry.reason
                ));
            }
            (None, Action::Create) => figures.others_created += 1,
            (None, Action::Review) => figures.others_reviewed += 1,
            (None, Action::Skip) => figures.others_skipped += 1,
            (None, _) => {}
        }
    }
    let summary = figures.summary();
    println!("{summary}");
    assert!(
        failures.is_empty(),
        "{} of {} customers failed:\n{}\n{summary}",
        failures.len(),
        figures.customers,
        failures.join("\n")
    );
    assert_eq!(figures.hand_typed_created, 0, "duplicates: {summary}");
    assert_eq!(figures.wrong_links, 0, "{summary}");
    assert!(
        figures.customers >= 3_000 && figures.hand_typed >= 500,
        "{summary}"
    );
    // Most are linked outright; a review is the exception, not the rule.
    assert!(
        figures.hand_typed_linked * 10 >= figures.hand_typed * 9,
        "{summary}"
    );
}
