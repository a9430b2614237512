//! Matching benchmark: ECC customers against existing Pipedrive organizations, generated
//! deterministically with realistic collisions (a limited vocabulary of company words, so the
//! same name recurs in other cities; hand-typed variants of legal form, umlauts, case, word
//! order, typos and address spelling).
//!
//! `cargo run --release -p mlc-sync --example match_bench` (100,000 x 100,000);
//! `-- --customers 1000000 --organizations 1000000` for the memory figure (customers are then
//! generated and matched in batches, so what stays in memory is the index).
//! Prints wall times, the index size, peak memory (VmHWM) and the accuracy against the truth.

use std::time::Instant;

use mlc_canonical::{Address, Customer, PaymentTerms};
use mlc_sync::existing::{ExistingOrganization, PipedriveAddress};
use mlc_sync::matching::{
    find_ecc_duplicates, MatchOutcome, MatchRule, MatchSettings, OrganizationMatcher,
};

const NUMBER_KEY: &str = "e0c1b6a2d7f3948c5b1a0e9d8c7b6a5f4e3d2c1b";

/// SplitMix64: small, fast, deterministic.
struct Random(u64);

impl Random {
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

const STEMS: &[&str] = &[
    "Müller",
    "Schmidt",
    "Schneider",
    "Fischer",
    "Weber",
    "Meyer",
    "Wagner",
    "Becker",
    "Schulz",
    "Hoffmann",
    "Schäfer",
    "Koch",
    "Bauer",
    "Richter",
    "Klein",
    "Wolf",
    "Schröder",
    "Neumann",
    "Schwarz",
    "Zimmermann",
    "Braun",
    "Krüger",
    "Hofmann",
    "Hartmann",
    "Lange",
    "Schmitt",
    "Werner",
    "Schmitz",
    "Krause",
    "Meier",
    "Lehmann",
    "Schmid",
    "Schulze",
    "Maier",
    "Köhler",
    "Herrmann",
    "König",
    "Walter",
    "Mayer",
    "Huber",
    "Kaiser",
    "Fuchs",
    "Peters",
    "Lang",
    "Scholz",
    "Möller",
    "Weiß",
    "Jung",
    "Hahn",
    "Schubert",
    "Vogel",
    "Friedrich",
    "Keller",
    "Günther",
    "Frank",
    "Berger",
    "Winkler",
    "Roth",
    "Beck",
    "Lorenz",
    "Baumann",
    "Franke",
    "Albrecht",
    "Schuster",
    "Simon",
    "Ludwig",
    "Böhm",
    "Winter",
    "Kraus",
    "Martin",
    "Dupont",
    "Durand",
    "Lefèvre",
    "Moreau",
    "Laurent",
    "Girard",
    "Bonnet",
    "Rousseau",
    "Blanc",
    "Guérin",
    "Jansen",
    "de Vries",
    "van Dijk",
    "Bakker",
    "Visser",
    "Smit",
    "Meijer",
    "de Boer",
    "Mulder",
    "Bos",
    "Smith",
    "Jones",
    "Taylor",
    "Brown",
    "Williams",
    "Wilson",
    "Johnson",
    "Davies",
    "Robinson",
    "Wright",
    "Kowalski",
    "Nowak",
    "Wiśniewski",
    "Wójcik",
    "Kamiński",
    "Lewandowski",
    "Zieliński",
    "Szymański",
    "Alpha",
    "Nordstern",
    "Sonnenhof",
    "Bergland",
    "Rheintal",
    "Alpen",
    "Hanse",
    "Elbe",
    "Isar",
    "Main",
    "Atlas",
    "Phoenix",
    "Orion",
    "Vega",
    "Delta",
    "Sigma",
    "Nova",
    "Apex",
    "Zenit",
    "Polaris",
];

const TRADES: &[&str] = &[
    "Maschinenbau",
    "Logistik",
    "Elektrotechnik",
    "Metallbau",
    "Kunststofftechnik",
    "Haustechnik",
    "Bauunternehmung",
    "Spedition",
    "Handel",
    "Feinmechanik",
    "Automation",
    "Anlagenbau",
    "Stahlbau",
    "Holzbau",
    "Druckerei",
    "Verpackung",
    "Lebensmittel",
    "Chemie",
    "Medizintechnik",
    "Software",
    "Engineering",
    "Industries",
    "Trading",
    "Systems",
    "Solutions",
    "Technologies",
    "Services",
    "Transports",
    "Distribution",
    "Manufacturing",
    "Électronique",
    "Mécanique",
    "Bouwbedrijf",
    "Techniek",
    "Installatie",
    "Budownictwo",
    "Elektronika",
    "Consulting",
    "Werkzeugbau",
    "Gießerei",
];

const QUALIFIERS: &[&str] = &[
    "Nord",
    "Süd",
    "West",
    "Ost",
    "International",
    "Hans",
    "Peter",
    "Klaus",
    "Jean",
    "Pierre",
    "Group",
    "Partner",
    "Söhne",
    "Brothers",
    "Rhein",
    "Ruhr",
    "Bayern",
    "Sachsen",
    "Europe",
    "Holding",
    "Service",
    "Vertrieb",
    "Werke",
    "Industrie",
    "Mitte",
    "Franken",
    "Schwaben",
    "Baltic",
    "Alpin",
    "Global",
];

const FORMS: &[&str] = &[
    "GmbH",
    "GmbH & Co. KG",
    "AG",
    "KG",
    "e.K.",
    "OHG",
    "SARL",
    "SA",
    "SAS",
    "B.V.",
    "N.V.",
    "Ltd.",
    "Limited",
    "PLC",
    "Inc.",
    "LLC",
    "Sp. z o.o.",
    "S.A.",
];

const CITIES: &[(&str, u32, &str)] = &[
    ("Stuttgart", 70173, "DE"),
    ("München", 80331, "DE"),
    ("Berlin", 10115, "DE"),
    ("Hamburg", 20095, "DE"),
    ("Köln", 50667, "DE"),
    ("Frankfurt am Main", 60311, "DE"),
    ("Düsseldorf", 40213, "DE"),
    ("Leipzig", 4109, "DE"),
    ("Dortmund", 44135, "DE"),
    ("Essen", 45127, "DE"),
    ("Bremen", 28195, "DE"),
    ("Dresden", 1067, "DE"),
    ("Hannover", 30159, "DE"),
    ("Nürnberg", 90402, "DE"),
    ("Duisburg", 47051, "DE"),
    ("Bochum", 44787, "DE"),
    ("Wuppertal", 42103, "DE"),
    ("Bielefeld", 33602, "DE"),
    ("Bonn", 53111, "DE"),
    ("Münster", 48143, "DE"),
    ("Karlsruhe", 76133, "DE"),
    ("Mannheim", 68159, "DE"),
    ("Augsburg", 86150, "DE"),
    ("Wiesbaden", 65183, "DE"),
    ("Wien", 1010, "AT"),
    ("Graz", 8010, "AT"),
    ("Linz", 4020, "AT"),
    ("Salzburg", 5020, "AT"),
    ("Zürich", 8001, "CH"),
    ("Basel", 4051, "CH"),
    ("Bern", 3011, "CH"),
    ("Genève", 1201, "CH"),
    ("Paris", 75001, "FR"),
    ("Lyon", 69001, "FR"),
    ("Marseille", 13001, "FR"),
    ("Lille", 59000, "FR"),
    ("Amsterdam", 1011, "NL"),
    ("Rotterdam", 3011, "NL"),
    ("Utrecht", 3511, "NL"),
    ("Eindhoven", 5611, "NL"),
    ("London", 1000, "GB"),
    ("Manchester", 2000, "GB"),
    ("Birmingham", 3000, "GB"),
    ("Leeds", 4000, "GB"),
    ("Chicago", 60601, "US"),
    ("Boston", 2108, "US"),
    ("Denver", 80202, "US"),
    ("Seattle", 98101, "US"),
    ("Warszawa", 11, "PL"),
    ("Kraków", 30, "PL"),
    ("Wrocław", 50, "PL"),
    ("Poznań", 60, "PL"),
];

const STREETS: &[&str] = &[
    "Hauptstraße",
    "Bahnhofstraße",
    "Industriestraße",
    "Gartenstraße",
    "Schulstraße",
    "Dorfstraße",
    "Bergstraße",
    "Lindenstraße",
    "Kirchstraße",
    "Waldstraße",
    "Ringstraße",
    "Mühlenweg",
    "Am Hafen",
    "Rue de la Paix",
    "Avenue Victor Hugo",
    "Rue du Commerce",
    "Keizersgracht",
    "Stationsweg",
    "High Street",
    "Station Road",
    "Main Street",
    "Church Lane",
    "Park Avenue",
    "ulica Długa",
    "Marktplatz",
    "Friedrichstraße",
    "Königsallee",
    "Goethestraße",
    "Schillerstraße",
    "Mozartstraße",
];

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

/// One generated company: what ECC holds.
fn company(random: &mut Random, number: usize) -> Customer {
    let stem = random.pick(STEMS);
    let form = random.pick(FORMS);
    let name = match random.below(10) {
        0..=2 => format!("{stem} {} {form}", random.pick(TRADES)),
        3..=6 => format!(
            "{stem} {} {} {form}",
            random.pick(QUALIFIERS),
            random.pick(TRADES)
        ),
        7..=8 => format!("{stem} {} {form}", random.pick(QUALIFIERS)),
        _ => format!(
            "{stem} & {} {} {form}",
            random.pick(STEMS),
            random.pick(TRADES)
        ),
    };
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
    Customer {
        customer_number: format!("{number:010}"),
        customer_number_display: number.to_string(),
        name: name.clone(),
        name_parts: [name, String::new(), String::new(), String::new()],
        account_group: "0001".into(),
        vat_number: random
            .chance(40)
            .then(|| format!("{}{:09}", city.2, random.next() % 1_000_000_000)),
        deleted: false,
        blocked: false,
        billing_address: Address {
            street: random.pick(STREETS).to_string(),
            house_number: house,
            postal_code: postal_code(&city, offset),
            city: city.0.to_string(),
            region: String::new(),
            country: city.2.to_string(),
        },
        shipping_address: None,
        email: None,
        phone: None,
        payment_terms: Some(PaymentTerms {
            code: "ZB30".into(),
            text: None,
        }),
        contacts: Vec::new(),
    }
}

/// How a salesperson types a company ECC also holds.
fn hand_typed_name(random: &mut Random, name: &str) -> String {
    let mut words: Vec<String> = name.split(' ').map(str::to_string).collect();
    // Legal form: dropped or another one.
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
    let mut typed = words.join(" ");
    if random.chance(50) {
        typed = typed
            .replace('ü', "ue")
            .replace('ö', "oe")
            .replace('ä', "ae")
            .replace('ß', "ss");
    } else if random.chance(10) {
        typed = typed.replace('ü', "u").replace('ö', "o").replace('ä', "a");
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
        // A typo: one letter of the longest word dropped.
        let longest = typed
            .split(' ')
            .max_by_key(|word| word.len())
            .unwrap_or("")
            .to_string();
        if longest.chars().count() > 5 {
            let mut chars: Vec<char> = longest.chars().collect();
            chars.remove(chars.len() / 2);
            typed = typed.replacen(&longest, &chars.into_iter().collect::<String>(), 1);
        }
    }
    typed
}

fn hand_typed_organization(
    random: &mut Random,
    customer: &Customer,
    id: i64,
    with_number: bool,
) -> ExistingOrganization {
    let address = &customer.billing_address;
    let street = address.street.replace("straße", "str.");
    let house = match address.house_number.find(|c: char| c.is_alphabetic()) {
        Some(position) if random.chance(50) => {
            format!(
                "{} {}",
                &address.house_number[..position],
                address.house_number[position..].to_uppercase()
            )
        }
        _ => address.house_number.clone(),
    };
    let pipedrive_address = match random.below(10) {
        0..=6 => Some(PipedriveAddress {
            value: Some(format!(
                "{street} {house}, {} {}",
                address.postal_code, address.city
            )),
            route: Some(street),
            street_number: Some(house),
            postal_code: Some(address.postal_code.clone()),
            locality: Some(address.city.clone()),
            country: mlc_sync::map::country_name(&address.country).map(str::to_string),
            ..Default::default()
        }),
        7 => Some(PipedriveAddress {
            value: Some(format!(
                "{street} {house}, {} {}",
                address.postal_code, address.city
            )),
            ..Default::default()
        }),
        _ => None,
    };
    let mut organization = ExistingOrganization {
        id,
        name: hand_typed_name(random, &customer.name),
        address: pipedrive_address,
        ..Default::default()
    };
    if with_number {
        organization.custom_fields.insert(
            NUMBER_KEY.into(),
            serde_json::json!(customer.customer_number_display),
        );
    }
    organization
}

fn other_organization(random: &mut Random, id: i64) -> ExistingOrganization {
    let company = company(random, 0);
    let address = &company.billing_address;
    ExistingOrganization {
        id,
        name: company.name.clone(),
        address: Some(PipedriveAddress {
            value: Some(format!(
                "{} {}, {} {}",
                address.street, address.house_number, address.postal_code, address.city
            )),
            route: Some(address.street.clone()),
            street_number: Some(address.house_number.clone()),
            postal_code: Some(address.postal_code.clone()),
            locality: Some(address.city.clone()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Customer `index` of the run, and the organization (id) that is truly it, if any.
/// 60% of the customers have a hand-typed organization, a third of those with the number.
fn generate(
    seed: u64,
    index: usize,
    organizations: usize,
) -> (Customer, Option<ExistingOrganization>) {
    let mut random = Random(seed ^ (index as u64).wrapping_mul(0x2545_f491_4f6c_dd1d));
    let customer = company(&mut random, index + 1);
    let counterpart = (index < organizations && random.chance(60)).then(|| {
        let with_number = random.chance(33);
        hand_typed_organization(&mut random, &customer, index as i64 + 1, with_number)
    });
    (customer, counterpart)
}

fn peak_memory_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|line| line.starts_with("VmHWM:"))
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

/// CPU seconds this process used so far (user + system), to tell the work from the waiting
/// when other processes share the cores.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The fields after the command name, which is in parentheses.
    let after = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |index: usize| {
        fields
            .get(index)
            .and_then(|field| field.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    (ticks(11) + ticks(12)) / 100.0
}

fn current_memory_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|line| line.starts_with("VmRSS:"))
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

#[derive(Default)]
struct Tally {
    link_external: usize,
    link_vat: usize,
    link_name: usize,
    review: usize,
    create: usize,
    with_truth: usize,
    linked_right: usize,
    linked_wrong: usize,
    review_with_truth: usize,
    missed: usize,
    review_reasons: std::collections::BTreeMap<String, usize>,
}

impl Tally {
    fn add(&mut self, outcome: &MatchOutcome, truth: Option<i64>) {
        if truth.is_some() {
            self.with_truth += 1;
        }
        match outcome {
            MatchOutcome::Link { evidence } => {
                match evidence.rule {
                    MatchRule::ExternalId => self.link_external += 1,
                    MatchRule::VatNumber => self.link_vat += 1,
                    _ => self.link_name += 1,
                }
                if truth == Some(evidence.pipedrive_id) {
                    self.linked_right += 1;
                } else {
                    self.linked_wrong += 1;
                }
            }
            MatchOutcome::Review { reason, .. } => {
                self.review += 1;
                let key = format!(
                    "{reason:?}{}",
                    if truth.is_some() {
                        " (has a twin)"
                    } else {
                        " (has none)"
                    }
                );
                *self.review_reasons.entry(key).or_default() += 1;
                if truth.is_some() {
                    self.review_with_truth += 1;
                }
            }
            MatchOutcome::Create { .. } => {
                self.create += 1;
                if truth.is_some() {
                    self.missed += 1;
                }
            }
        }
    }
}

fn argument(name: &str, default: usize) -> usize {
    let arguments: Vec<String> = std::env::args().collect();
    arguments
        .iter()
        .position(|argument| argument == name)
        .and_then(|position| arguments.get(position + 1))
        .and_then(|value| value.replace('_', "").parse().ok())
        .unwrap_or(default)
}

fn main() {
    let customers = argument("--customers", 100_000);
    let organizations = argument("--organizations", 100_000);
    let threads = argument("--threads", 2);
    let batch = 20_000;
    let seed = 0x6d6c_632d_7379_6e63;
    let settings = MatchSettings {
        link_threshold: 0.90,
        review_threshold: 0.70,
    };
    println!("match_bench: {customers} ECC customers x {organizations} existing organizations, {threads} threads");
    let baseline = current_memory_mb();

    // The index, built record by record as the list endpoint's pages arrive. Organization ids
    // 1..=customers are the hand-typed twins of customers; the rest are other companies.
    let started = Instant::now();
    let cpu_started = cpu_seconds();
    let mut builder = OrganizationMatcher::builder(settings, Some(NUMBER_KEY), None, organizations);
    let mut added = 0usize;
    for index in 0..customers.min(organizations) {
        if let (_, Some(organization)) = generate(seed, index, organizations) {
            builder.add_organization(&organization);
            added += 1;
        }
    }
    let mut random = Random(seed ^ 0xabcdef);
    let mut next_id = customers as i64 + 1;
    while added < organizations {
        builder.add_organization(&other_organization(&mut random, next_id));
        next_id += 1;
        added += 1;
    }
    let matcher = builder.finish();
    let build_secs = started.elapsed().as_secs_f64();
    let build_cpu = cpu_seconds() - cpu_started;
    println!(
        "index: {} organizations in {build_secs:.2} s wall, {build_cpu:.2} s CPU (generating them included); {:.1} MB held by the index; RSS {:.1} MB over the start",
        matcher.len(),
        matcher.heap_bytes() as f64 / 1_048_576.0,
        current_memory_mb() - baseline
    );

    // Matching, in batches so only the index stays in memory.
    let started = Instant::now();
    let cpu_started = cpu_seconds();
    let mut tally = Tally::default();
    let mut generate_secs = 0.0;
    let mut start = 0;
    while start < customers {
        let end = (start + batch).min(customers);
        let generated = Instant::now();
        let (batch_customers, truths): (Vec<Customer>, Vec<Option<i64>>) = (start..end)
            .map(|index| {
                let (customer, organization) = generate(seed, index, organizations);
                (customer, organization.map(|organization| organization.id))
            })
            .unzip();
        generate_secs += generated.elapsed().as_secs_f64();
        let outcomes = matcher.match_customers(&batch_customers, threads);
        for ((outcome, truth), customer) in outcomes.iter().zip(truths).zip(&batch_customers) {
            // MATCH_BENCH_SHOW=1 prints the first customers the matcher missed.
            if std::env::var("MATCH_BENCH_SHOW").is_ok()
                && truth.is_some()
                && matches!(outcome, MatchOutcome::Create { .. })
                && tally.missed < 6
            {
                println!(
                    "{} | {:?}\n  -> {}",
                    customer.name,
                    customer.billing_address,
                    serde_json::to_string(outcome).unwrap_or_default()
                );
            }
            tally.add(outcome, truth);
        }
        start = end;
    }
    let match_secs = started.elapsed().as_secs_f64() - generate_secs;
    let match_cpu = cpu_seconds() - cpu_started - generate_secs;
    println!(
        "match: {customers} customers in {match_secs:.2} s wall, {match_cpu:.2} s CPU on {threads} thread(s) ({:.0} per second; generating them took another {generate_secs:.2} s)",
        customers as f64 / match_secs
    );
    println!(
        "index + match: {:.2} s (target < 5 s for 100,000 x 100,000 on 2 cores)",
        build_secs + match_secs
    );
    println!(
        "outcomes: link {} (external id {}, vat {}, name+address {}), review {}, create {}",
        tally.link_external + tally.link_vat + tally.link_name,
        tally.link_external,
        tally.link_vat,
        tally.link_name,
        tally.review,
        tally.create
    );
    println!(
        "against the truth: {} customers have an organization: linked right {} ({:.1}%), linked wrong {}, review {}, missed (would create) {}",
        tally.with_truth,
        tally.linked_right,
        100.0 * tally.linked_right as f64 / tally.with_truth.max(1) as f64,
        tally.linked_wrong,
        tally.review_with_truth,
        tally.missed
    );
    println!("review reasons: {:?}", tally.review_reasons);
    println!(
        "peak memory (VmHWM) with the index and matching: {:.1} MB",
        peak_memory_mb()
    );
    drop(matcher);

    // Duplicates inside ECC: 2% near-duplicates added to the first customers (up to 100,000).
    let ecc_customers = customers.min(100_000);
    let mut ecc: Vec<Customer> = (0..ecc_customers)
        .map(|index| generate(seed, index, 0).0)
        .collect();
    let mut random = Random(seed ^ 0x1234);
    let twins = ecc_customers / 50;
    let mut planted = Vec::new();
    for twin in 0..twins {
        let original = ecc[random.below(ecc_customers)].clone();
        let mut copy = original.clone();
        copy.customer_number = format!("{:010}", 5_000_000 + twin);
        copy.customer_number_display = (5_000_000 + twin).to_string();
        copy.name = hand_typed_name(&mut random, &original.name);
        copy.billing_address.street = copy.billing_address.street.replace("straße", "str.");
        planted.push((
            copy.customer_number.clone(),
            original.customer_number.clone(),
        ));
        ecc.push(copy);
    }
    let started = Instant::now();
    let duplicates = find_ecc_duplicates(&ecc, settings, threads);
    let duplicate_secs = started.elapsed().as_secs_f64();
    let found_planted = planted
        .iter()
        .filter(|(copy, original)| {
            duplicates
                .iter()
                .any(|d| &d.customer_number == copy && &d.duplicate_of == original)
        })
        .count();
    println!(
        "ecc duplicates: {} customers ({} planted near-duplicates) in {duplicate_secs:.2} s: {} reported, {found_planted} of the planted found",
        ecc.len(),
        twins,
        duplicates.len()
    );
    println!(
        "peak memory (VmHWM) at the end: {:.1} MB (the duplicate search holds its customers and their index)",
        peak_memory_mb()
    );
}
