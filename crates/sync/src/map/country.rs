//! ISO 3166-1 alpha-2 country codes (as SAP's LAND1 holds them) to the English names Pipedrive
//! shows in an address: the EU and EEA, Switzerland, the UK, North America, Australia and the
//! main trading partners of a European mid-market company.

const COUNTRY_NAMES: &[(&str, &str)] = &[
    ("AD", "Andorra"),
    ("AE", "United Arab Emirates"),
    ("AR", "Argentina"),
    ("AT", "Austria"),
    ("AU", "Australia"),
    ("BA", "Bosnia and Herzegovina"),
    ("BE", "Belgium"),
    ("BG", "Bulgaria"),
    ("BR", "Brazil"),
    ("BY", "Belarus"),
    ("CA", "Canada"),
    ("CH", "Switzerland"),
    ("CL", "Chile"),
    ("CN", "China"),
    ("CO", "Colombia"),
    ("CY", "Cyprus"),
    ("CZ", "Czechia"),
    ("DE", "Germany"),
    ("DK", "Denmark"),
    ("EE", "Estonia"),
    ("EG", "Egypt"),
    ("ES", "Spain"),
    ("FI", "Finland"),
    ("FR", "France"),
    ("GB", "United Kingdom"),
    ("GR", "Greece"),
    ("HK", "Hong Kong"),
    ("HR", "Croatia"),
    ("HU", "Hungary"),
    ("ID", "Indonesia"),
    ("IE", "Ireland"),
    ("IL", "Israel"),
    ("IN", "India"),
    ("IS", "Iceland"),
    ("IT", "Italy"),
    ("JP", "Japan"),
    ("KR", "South Korea"),
    ("LI", "Liechtenstein"),
    ("LT", "Lithuania"),
    ("LU", "Luxembourg"),
    ("LV", "Latvia"),
    ("MA", "Morocco"),
    ("MC", "Monaco"),
    ("MD", "Moldova"),
    ("ME", "Montenegro"),
    ("MK", "North Macedonia"),
    ("MT", "Malta"),
    ("MX", "Mexico"),
    ("MY", "Malaysia"),
    ("NL", "Netherlands"),
    ("NO", "Norway"),
    ("NZ", "New Zealand"),
    ("PH", "Philippines"),
    ("PL", "Poland"),
    ("PT", "Portugal"),
    ("RO", "Romania"),
    ("RS", "Serbia"),
    ("RU", "Russia"),
    ("SA", "Saudi Arabia"),
    ("SE", "Sweden"),
    ("SG", "Singapore"),
    ("SI", "Slovenia"),
    ("SK", "Slovakia"),
    ("SM", "San Marino"),
    ("TH", "Thailand"),
    ("TN", "Tunisia"),
    ("TR", "Türkiye"),
    ("TW", "Taiwan"),
    ("UA", "Ukraine"),
    ("US", "United States"),
    ("VA", "Vatican City"),
    ("VN", "Vietnam"),
    ("ZA", "South Africa"),
];

/// The English name of an ISO country code ("DE" → "Germany"); `None` for a code not in the
/// table, which the map reports as a data error rather than writing a code Pipedrive would show
/// as a name.
pub fn country_name(code: &str) -> Option<&'static str> {
    let code = code.trim();
    COUNTRY_NAMES
        .binary_search_by(|(known, _)| known.cmp(&code.to_ascii_uppercase().as_str()))
        .ok()
        .map(|index| COUNTRY_NAMES[index].1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_sorted_so_binary_search_finds_every_code() {
        for window in COUNTRY_NAMES.windows(2) {
            assert!(
                window[0].0 < window[1].0,
                "{} before {}",
                window[0].0,
                window[1].0
            );
        }
        for (code, name) in COUNTRY_NAMES {
            assert_eq!(country_name(code), Some(*name));
        }
    }

    #[test]
    fn eu_eea_and_the_simulator_countries_are_known() {
        let required = [
            "AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE",
            "IT", "LV", "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE", "IS",
            "LI", "NO", "CH", "GB", "US", "CA", "AU",
        ];
        for code in required {
            assert!(country_name(code).is_some(), "{code} has no name");
        }
        assert_eq!(country_name("de"), Some("Germany"));
        assert_eq!(country_name("XX"), None);
    }
}
