//! Words the generator builds customers from, per country: company stems and legal forms in the
//! country's own letters, cities with postal codes and SAP region codes, streets, people's names,
//! departments, and the customizing texts (payment terms, contact functions).

pub struct City {
    pub name: &'static str,
    pub postal_prefix: &'static str,
    /// SAP region code (T005S) or "" where the country has none in this system.
    pub region: &'static str,
}

pub struct Country {
    pub code: &'static str,
    /// Language key (SPRAS) of customers in this country.
    pub language: &'static str,
    pub phone_prefix: &'static str,
    pub vat_prefix: &'static str,
    pub vat_digits: usize,
    pub postal_length: usize,
    pub top_level_domain: &'static str,
    pub stems: &'static [&'static str],
    pub qualifiers: &'static [&'static str],
    pub legal_forms: &'static [&'static str],
    pub cities: &'static [City],
    pub streets: &'static [&'static str],
    pub first_names: &'static [&'static str],
    pub last_names: &'static [&'static str],
    pub departments: &'static [&'static str],
}

const fn city(name: &'static str, postal_prefix: &'static str, region: &'static str) -> City {
    City {
        name,
        postal_prefix,
        region,
    }
}

pub static COUNTRIES: &[Country] = &[
    Country {
        code: "DE",
        language: "D",
        phone_prefix: "+49",
        vat_prefix: "DE",
        vat_digits: 9,
        postal_length: 5,
        top_level_domain: "de",
        stems: &[
            "Müller Maschinenbau",
            "Schäfer Werkzeugbau",
            "Krüger Feinkost",
            "Weiß Elektrotechnik",
            "Hoffmann Logistik",
            "Günther Präzisionsteile",
            "Köhler Kunststofftechnik",
            "Schröder Metallverarbeitung",
            "Bäckerei Möller",
            "Groß & Söhne Armaturen",
            "Fränkische Stahlhandel",
            "Schwäbische Hüttenwerke",
            "Jäger Gerätebau",
            "Lührs Spedition",
            "Becker Büroausstattung",
            "Wöhrle Antriebstechnik",
            "Dürr Oberflächentechnik",
            "Rheinische Druckguss",
            "Sächsische Textilwerke",
            "Bayerische Brauereibedarf",
        ],
        qualifiers: &[
            "Vertriebsgesellschaft Süddeutschland",
            "Werkzeug- und Formenbau",
            "Niederlassung Nord",
            "Industrie- und Handelsgesellschaft",
            "Zweigniederlassung München",
        ],
        legal_forms: &["GmbH", "AG", "GmbH & Co. KG", "KG", "e.K.", "OHG"],
        cities: &[
            city("Stuttgart", "70", "08"),
            city("München", "80", "09"),
            city("Berlin", "10", "11"),
            city("Hamburg", "20", "02"),
            city("Köln", "50", "05"),
            city("Düsseldorf", "40", "05"),
            city("Nürnberg", "90", "09"),
            city("Frankfurt am Main", "60", "06"),
            city("Leipzig", "04", "14"),
            city("Würzburg", "97", "09"),
            city("Lüneburg", "21", "03"),
            city("Göttingen", "37", "03"),
            city("Saarbrücken", "66", "10"),
            city("Jena", "07", "16"),
        ],
        streets: &[
            "Hauptstraße",
            "Bahnhofstraße",
            "Industriestraße",
            "Gartenstraße",
            "Schloßallee",
            "Mühlenweg",
            "Am Güterbahnhof",
            "Königstraße",
            "Lindenstraße",
            "Zeppelinstraße",
        ],
        first_names: &[
            "Anna", "Jürgen", "Sabine", "Thomas", "Jörg", "Bärbel", "Stefan", "Ute", "Klaus",
            "Käthe", "Michael", "Sören", "Monika", "Frank",
        ],
        last_names: &[
            "Schmidt",
            "Müller",
            "Schäfer",
            "Weiß",
            "Köhler",
            "Groß",
            "Fuchs",
            "Brückner",
            "Lößner",
            "Zimmermann",
            "Wagner",
            "Hübner",
        ],
        departments: &[
            "Einkauf",
            "Vertrieb",
            "Buchhaltung",
            "Geschäftsl.",
            "Logistik",
            "IT",
        ],
    },
    Country {
        code: "AT",
        language: "D",
        phone_prefix: "+43",
        vat_prefix: "ATU",
        vat_digits: 8,
        postal_length: 4,
        top_level_domain: "at",
        stems: &[
            "Österreichische Kälteanlagen",
            "Wiener Stahlbau",
            "Grünberger Holzwerke",
            "Tiroler Seilbahntechnik",
            "Kärntner Bürobedarf",
            "Steirische Gießerei Pölzl",
            "Salzburger Möbelwerkstätte",
            "Vorarlberger Stickerei Hämmerle",
        ],
        qualifiers: &[
            "Handelsgesellschaft",
            "Niederlassung Linz",
            "Betriebsgesellschaft",
        ],
        legal_forms: &["GmbH", "AG", "KG", "GmbH & Co KG", "OG"],
        cities: &[
            city("Wien", "10", "09"),
            city("Graz", "80", "06"),
            city("Linz", "40", "04"),
            city("Salzburg", "50", "05"),
            city("Innsbruck", "60", "07"),
            city("Klagenfurt am Wörthersee", "90", "02"),
            city("Dornbirn", "68", "08"),
        ],
        streets: &[
            "Mariahilfer Straße",
            "Hauptplatz",
            "Landstraßer Hauptstraße",
            "Dorfstraße",
            "Bahnhofgürtel",
        ],
        first_names: &[
            "Johann", "Maria", "Wolfgang", "Theresia", "Günter", "Brigitte", "Lukas",
        ],
        last_names: &[
            "Gruber",
            "Huber",
            "Bauer",
            "Wagner",
            "Pölzl",
            "Hämmerle",
            "Strauß",
        ],
        departments: &["Einkauf", "Verkauf", "Rechnungsw.", "Technik"],
    },
    Country {
        code: "CH",
        language: "D",
        phone_prefix: "+41",
        vat_prefix: "CHE",
        vat_digits: 9,
        postal_length: 4,
        top_level_domain: "ch",
        stems: &[
            "Zürcher Feinmechanik",
            "Horlogerie Genève",
            "Berner Käserei",
            "Basler Chemiehandel",
            "Luzerner Präzisionsoptik",
            "Brüder Näf Uhrenbestandteile",
            "Société Vaudoise d'Électricité",
        ],
        qualifiers: &["Vertrieb Schweiz", "Succursale Lausanne"],
        legal_forms: &["AG", "GmbH", "SA", "Sàrl"],
        cities: &[
            city("Zürich", "80", "ZH"),
            city("Genève", "12", "GE"),
            city("Bern", "30", "BE"),
            city("Basel", "40", "BS"),
            city("Luzern", "60", "LU"),
            city("Lausanne", "10", "VD"),
        ],
        streets: &[
            "Bahnhofstrasse",
            "Rue du Rhône",
            "Seestrasse",
            "Marktgasse",
            "Avenue de la Gare",
        ],
        first_names: &[
            "Urs",
            "Régula",
            "Beat",
            "Françoise",
            "Reto",
            "Käthi",
            "Jean-Luc",
        ],
        last_names: &[
            "Näf", "Müller", "Meier", "Brunner", "Favre", "Rochat", "Zürcher",
        ],
        departments: &["Einkauf", "Achats", "Finanzen", "Produktion"],
    },
    Country {
        code: "FR",
        language: "F",
        phone_prefix: "+33",
        vat_prefix: "FR",
        vat_digits: 11,
        postal_length: 5,
        top_level_domain: "fr",
        stems: &[
            "Société Générale d'Équipements",
            "Ateliers Bérard",
            "Électricité Dubois",
            "Boulangerie Lefèvre",
            "Transports Gaël Côté",
            "Fonderie de l'Aisne",
            "Mécanique Hénault",
            "Verrerie Champenoise",
            "Laboratoires Pérignon",
        ],
        qualifiers: &[
            "Établissement de Lyon",
            "Division Industrielle",
            "Agence Île-de-France",
        ],
        legal_forms: &["SARL", "SA", "SAS", "EURL"],
        cities: &[
            city("Paris", "75", "75"),
            city("Lyon", "69", "69"),
            city("Marseille", "13", "13"),
            city("Besançon", "25", "25"),
            city("Orléans", "45", "45"),
            city("Nîmes", "30", "30"),
            city("Saint-Étienne", "42", "42"),
            city("Reims", "51", "51"),
        ],
        streets: &[
            "Rue de la République",
            "Avenue des Champs-Élysées",
            "Boulevard Haussmann",
            "Rue du Général de Gaulle",
            "Place de l'Église",
            "Chemin des Prés",
        ],
        first_names: &[
            "Jean",
            "Hélène",
            "François",
            "Amélie",
            "Jérôme",
            "Céline",
            "Gaël",
            "Noël",
        ],
        last_names: &[
            "Dubois",
            "Lefèvre",
            "Bérard",
            "Côté",
            "Hénault",
            "Moreau",
            "Girard",
            "Lemaître",
        ],
        departments: &["Achats", "Comptabilité", "Direction", "Logistique"],
    },
    Country {
        code: "NL",
        language: "N",
        phone_prefix: "+31",
        vat_prefix: "NL",
        vat_digits: 9,
        postal_length: 4,
        top_level_domain: "nl",
        stems: &[
            "Van der Berg Techniek",
            "De Vries Handel",
            "Jansen Logistiek",
            "Bakker & Zonen",
            "Van 't Hoff Kunststoffen",
            "Dijkstra Installatietechniek",
            "IJsselmeer Scheepsbouw",
        ],
        qualifiers: &["Vestiging Rotterdam", "Groothandel Nederland"],
        legal_forms: &["B.V.", "N.V.", "V.O.F."],
        cities: &[
            city("Amsterdam", "10", ""),
            city("Rotterdam", "30", ""),
            city("Utrecht", "35", ""),
            city("Eindhoven", "56", ""),
            city("Groningen", "97", ""),
            city("'s-Hertogenbosch", "52", ""),
        ],
        streets: &[
            "Keizersgracht",
            "Dorpsstraat",
            "Kerkstraat",
            "Stationsweg",
            "Havenkade",
        ],
        first_names: &["Jan", "Femke", "Pieter", "Sanne", "Joost", "Anouk", "Daan"],
        last_names: &[
            "de Vries",
            "van der Berg",
            "Jansen",
            "Bakker",
            "Visser",
            "van 't Hoff",
            "Dijkstra",
        ],
        departments: &["Inkoop", "Verkoop", "Administr."],
    },
    Country {
        code: "GB",
        language: "E",
        phone_prefix: "+44",
        vat_prefix: "GB",
        vat_digits: 9,
        postal_length: 0,
        top_level_domain: "co.uk",
        stems: &[
            "ACME",
            "Smith & Sons",
            "Thames Valley Supplies",
            "Northern Rail Components",
            "Highland Distillery Equipment",
            "Oxford Scientific Instruments",
            "Pennine Plastics",
            "Cotswold Timber",
        ],
        qualifiers: &["Engineering Services", "Holdings"],
        legal_forms: &["Ltd.", "PLC", "LLP", "Limited"],
        cities: &[
            city("London", "EC1A", ""),
            city("Manchester", "M1", ""),
            city("Birmingham", "B1", ""),
            city("Leeds", "LS1", ""),
            city("Glasgow", "G1", ""),
            city("Bristol", "BS1", ""),
        ],
        streets: &[
            "High Street",
            "Station Road",
            "Church Lane",
            "Victoria Road",
            "King's Road",
        ],
        first_names: &[
            "James", "Olivia", "Oliver", "Amelia", "Harry", "Siobhan", "George",
        ],
        last_names: &[
            "Smith", "Jones", "Taylor", "O'Brien", "Williams", "Brown", "Evans",
        ],
        departments: &["Purchasing", "Accounts", "Operations", "Management"],
    },
    Country {
        code: "US",
        language: "E",
        phone_prefix: "+1",
        vat_prefix: "",
        vat_digits: 0,
        postal_length: 5,
        top_level_domain: "com",
        stems: &[
            "Acme Tools",
            "Great Lakes Fabrication",
            "Lone Star Industrial Supply",
            "Pacific Coast Packaging",
            "Midwest Hydraulics",
            "Empire State Office Solutions",
            "Rocky Mountain Instruments",
        ],
        qualifiers: &["Distribution Center", "Manufacturing Division"],
        legal_forms: &["Inc.", "LLC", "Corp."],
        cities: &[
            city("Chicago", "606", "IL"),
            city("Houston", "770", "TX"),
            city("New York", "100", "NY"),
            city("San Francisco", "941", "CA"),
            city("Denver", "802", "CO"),
            city("Detroit", "482", "MI"),
        ],
        streets: &[
            "Main Street",
            "Oak Avenue",
            "Industrial Parkway",
            "5th Avenue",
            "Elm Street",
        ],
        first_names: &[
            "John", "Mary", "Robert", "Jennifer", "Michael", "Linda", "David",
        ],
        last_names: &[
            "Johnson",
            "Miller",
            "Davis",
            "Garcia",
            "Rodriguez",
            "Wilson",
            "Anderson",
        ],
        departments: &["Procurement", "Finance", "Sales", "Operations"],
    },
    Country {
        code: "PL",
        language: "L",
        phone_prefix: "+48",
        vat_prefix: "PL",
        vat_digits: 10,
        postal_length: 5,
        top_level_domain: "pl",
        stems: &[
            "Łódzkie Zakłady Mechaniczne",
            "Przedsiębiorstwo Handlowe Wiśniewski",
            "Gdańska Stocznia Jachtowa",
            "Śląskie Huty Szkła",
            "Kraków Pośrednictwo Żeglugowe",
            "Zakład Produkcyjny Kościuszko",
        ],
        qualifiers: &["Oddział w Poznaniu", "Hurtownia Materiałów Budowlanych"],
        legal_forms: &["Sp. z o.o.", "S.A.", "Sp. j."],
        cities: &[
            city("Warszawa", "00", ""),
            city("Kraków", "30", ""),
            city("Łódź", "90", ""),
            city("Gdańsk", "80", ""),
            city("Wrocław", "50", ""),
            city("Poznań", "60", ""),
        ],
        streets: &[
            "ul. Marszałkowska",
            "ul. Piotrkowska",
            "ul. Długa",
            "al. Jerozolimskie",
            "ul. Świętojańska",
        ],
        first_names: &[
            "Łukasz",
            "Agnieszka",
            "Paweł",
            "Małgorzata",
            "Wojciech",
            "Zofia",
            "Michał",
        ],
        last_names: &[
            "Wiśniewski",
            "Kowalska",
            "Nowak",
            "Wójcik",
            "Kamiński",
            "Żółkiewska",
            "Dąbrowski",
        ],
        departments: &["Zakupy", "Księgowość", "Sprzedaż"],
    },
];

/// Payment terms in TVZBT: (ZTERM, English text, German text). A code with no text at all is
/// included deliberately: ECC allows it, and the truth then has `text: None`.
pub static PAYMENT_TERMS: &[(&str, Option<&str>, Option<&str>)] = &[
    (
        "0001",
        Some("Pay immediately w/o deduction"),
        Some("Sofort zahlbar ohne Abzug"),
    ),
    (
        "ZB14",
        Some("14 days 2%, 30 days net"),
        Some("14 Tage 2%, 30 Tage netto"),
    ),
    ("ZB30", Some("30 days net"), Some("30 Tage netto")),
    ("ZB60", Some("60 days net"), Some("60 Tage netto")),
    ("NT10", Some("10 days net"), Some("10 Tage netto")),
    ("Z999", None, None),
];

/// Contact person functions (TPFK) with TPFKT texts: (PAFKT, English, German).
pub static CONTACT_FUNCTIONS: &[(&str, &str, &str)] = &[
    ("01", "Executive Board", "Vorstand"),
    ("02", "Head of Purchasing", "Einkaufsleiter"),
    ("03", "Purchasing Manager", "Einkäufer"),
    ("04", "Sales Manager", "Verkaufsleiter"),
    ("05", "Head of Accounting", "Leiter Buchhaltung"),
    ("06", "IT Manager", "IT-Leiter"),
    ("10", "Assistant", "Assistenz"),
];

/// Company codes and the sales areas (VKORG, VTWEG, SPART) customers are extended to.
pub static COMPANY_CODES: &[&str] = &["1000", "2000", "3000"];
pub static SALES_AREAS: &[(&str, &str, &str)] = &[
    ("1000", "10", "00"),
    ("1000", "20", "00"),
    ("2000", "10", "00"),
    ("3000", "10", "00"),
];

pub static CREATORS: &[&str] = &["MEIER", "SCHULZE", "WF-BATCH", "MIGRATION", "HOFFMANN_K"];

/// Transliteration a clerk typing a duplicate on an ASCII keyboard would use.
pub fn transliterate(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 4);
    for character in text.chars() {
        match character {
            'ä' => out.push_str("ae"),
            'ö' => out.push_str("oe"),
            'ü' => out.push_str("ue"),
            'Ä' => out.push_str("Ae"),
            'Ö' => out.push_str("Oe"),
            'Ü' => out.push_str("Ue"),
            'ß' => out.push_str("ss"),
            'é' | 'è' | 'ê' | 'ë' => out.push('e'),
            'É' => out.push('E'),
            'à' | 'â' => out.push('a'),
            'ç' => out.push('c'),
            'î' | 'ï' => out.push('i'),
            'ô' | 'ó' => out.push('o'),
            'û' => out.push('u'),
            'ł' => out.push('l'),
            'Ł' => out.push('L'),
            'ś' => out.push('s'),
            'Ś' => out.push('S'),
            'ą' => out.push('a'),
            'ę' => out.push('e'),
            'ż' | 'ź' => out.push('z'),
            'Ż' => out.push('Z'),
            'ń' => out.push('n'),
            'ć' => out.push('c'),
            other => out.push(other),
        }
    }
    out
}

/// A lowercase ASCII slug for e-mail domains: "Müller Maschinenbau" → "mueller-maschinenbau".
pub fn domain_slug(text: &str) -> String {
    let mut slug = String::new();
    for character in transliterate(text).chars() {
        if character.is_ascii_alphanumeric() {
            slug.push(character.to_ascii_lowercase());
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
    }
    slug.trim_end_matches('-').chars().take(40).collect()
}

pub fn local_part(text: &str) -> String {
    transliterate(text)
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .map(|c| c.to_ascii_lowercase())
        .collect()
}
