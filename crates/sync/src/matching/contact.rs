//! The evidence beside name and address, normalized for comparison: VAT numbers (with or
//! without the country prefix, blanks or dots), phone numbers (to their E.164 parts, from
//! national or international writing) and the registrable domain of an e-mail address or a
//! website (free-mail domains say nothing about the company and are dropped).
//!
//! Phone numbers are normalized here, not with a full numbering-plan library: the matcher needs
//! only "is this the same line", for a few hundred thousand numbers per run in well under a
//! second, and the country calling code plus the national number without its trunk prefix
//! answers that.

/// VAT number as compared: letters and digits, uppercase, without the two-letter country
/// prefix ("DE 123.456.789", "de123456789" and "123456789" → "123456789"), so a number typed
/// without its prefix still agrees. The country is compared on its own.
pub fn normalize_vat(vat: &str) -> String {
    let compact: String = vat
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_uppercase())
        .collect();
    let bytes = compact.as_bytes();
    let has_prefix = bytes.len() > 4
        && bytes[0].is_ascii_alphabetic()
        && bytes[1].is_ascii_alphabetic()
        && bytes[2..].iter().any(u8::is_ascii_digit);
    if has_prefix {
        compact[2..].to_string()
    } else {
        compact
    }
}

/// A country's calling code and whether its national numbers begin with a trunk "0" that the
/// international form drops (Italy keeps its 0, so it is listed without one).
struct Dialing {
    iso: &'static str,
    english: &'static str,
    calling_code: &'static str,
    trunk_zero: bool,
}

const DIALING: &[Dialing] = &[
    dial("DE", "germany", "49", true),
    dial("AT", "austria", "43", true),
    dial("CH", "switzerland", "41", true),
    dial("LI", "liechtenstein", "423", false),
    dial("FR", "france", "33", true),
    dial("BE", "belgium", "32", true),
    dial("NL", "netherlands", "31", true),
    dial("LU", "luxembourg", "352", false),
    dial("GB", "united kingdom", "44", true),
    dial("IE", "ireland", "353", true),
    dial("US", "united states", "1", false),
    dial("CA", "canada", "1", false),
    dial("PL", "poland", "48", false),
    dial("CZ", "czechia", "420", false),
    dial("SK", "slovakia", "421", true),
    dial("HU", "hungary", "36", false),
    dial("IT", "italy", "39", false),
    dial("ES", "spain", "34", false),
    dial("PT", "portugal", "351", false),
    dial("DK", "denmark", "45", false),
    dial("SE", "sweden", "46", true),
    dial("NO", "norway", "47", false),
    dial("FI", "finland", "358", true),
    dial("SI", "slovenia", "386", true),
    dial("HR", "croatia", "385", true),
    dial("RO", "romania", "40", true),
    dial("BG", "bulgaria", "359", true),
    dial("GR", "greece", "30", false),
    dial("TR", "turkey", "90", true),
    dial("RU", "russia", "7", false),
    dial("UA", "ukraine", "380", true),
    dial("CN", "china", "86", true),
    dial("JP", "japan", "81", true),
    dial("IN", "india", "91", true),
    dial("AU", "australia", "61", true),
    dial("BR", "brazil", "55", true),
    dial("MX", "mexico", "52", false),
    dial("ZA", "south africa", "27", true),
];

const fn dial(
    iso: &'static str,
    english: &'static str,
    calling_code: &'static str,
    trunk_zero: bool,
) -> Dialing {
    Dialing {
        iso,
        english,
        calling_code,
        trunk_zero,
    }
}

/// The dialing rules of a country given as ISO code ("DE") or folded English name ("germany").
fn dialing(country: &str) -> Option<&'static Dialing> {
    DIALING
        .iter()
        .find(|dialing| dialing.english == country || dialing.iso.eq_ignore_ascii_case(country))
}

/// A phone number as compared: the country calling code ("" when the number was written
/// nationally and the country is unknown) and the national significant number.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PhoneNumber {
    pub calling_code: String,
    pub national: String,
}

impl PhoneNumber {
    /// One string for the index: "49 71112345" or " 71112345".
    pub fn key(&self) -> String {
        if self.national.is_empty() {
            return String::new();
        }
        format!("{} {}", self.calling_code, self.national)
    }

    pub fn from_key(key: &str) -> PhoneNumber {
        let (calling_code, national) = key.split_once(' ').unwrap_or(("", key));
        PhoneNumber {
            calling_code: calling_code.to_string(),
            national: national.to_string(),
        }
    }

    /// The E.164 form ("+4971112345") when the calling code is known.
    pub fn e164(&self) -> Option<String> {
        (!self.calling_code.is_empty()).then(|| format!("+{}{}", self.calling_code, self.national))
    }
}

/// Whether two numbers are the same line: the same national number, in the same country when
/// both know theirs.
pub fn same_phone(a: &PhoneNumber, b: &PhoneNumber) -> bool {
    a.national == b.national
        && (a.calling_code.is_empty()
            || b.calling_code.is_empty()
            || a.calling_code == b.calling_code)
}

/// Normalizes a phone number as people write it ("+49 (0)711 123456", "0049 711/123456",
/// "0711-12 34 56") to its E.164 parts; `country` (ISO code or folded English name) places a
/// nationally written number. `None` when it has too few or too many digits to be a number.
pub fn normalize_phone(raw: &str, country: &str) -> Option<PhoneNumber> {
    // "(0)" is the trunk prefix written beside the international form; it is not dialled.
    let cleaned = raw.replace("(0)", "");
    let trimmed = cleaned.trim_start();
    let international_plus = trimmed.starts_with('+');
    let digits: String = trimmed.chars().filter(char::is_ascii_digit).collect();
    let international = if international_plus {
        Some(digits.as_str())
    } else {
        digits.strip_prefix("00")
    };
    let number = match international {
        Some(rest) => {
            let dialing = DIALING
                .iter()
                .filter(|dialing| rest.starts_with(dialing.calling_code))
                .max_by_key(|dialing| dialing.calling_code.len());
            match dialing {
                Some(dialing) => PhoneNumber {
                    calling_code: dialing.calling_code.to_string(),
                    national: rest[dialing.calling_code.len()..].to_string(),
                },
                // A calling code not in the table: the number is kept whole, as its own key.
                None => PhoneNumber {
                    calling_code: "?".into(),
                    national: rest.to_string(),
                },
            }
        }
        None => match dialing(country) {
            Some(dialing) => {
                let national = if dialing.trunk_zero {
                    digits.strip_prefix('0').unwrap_or(&digits)
                } else if dialing.calling_code == "1" {
                    digits.strip_prefix('1').unwrap_or(&digits)
                } else {
                    &digits
                };
                PhoneNumber {
                    calling_code: dialing.calling_code.to_string(),
                    national: national.to_string(),
                }
            }
            None => PhoneNumber {
                calling_code: String::new(),
                national: digits.strip_prefix('0').unwrap_or(&digits).to_string(),
            },
        },
    };
    (6..=14).contains(&number.national.len()).then_some(number)
}

/// Domains anyone can write from: they say nothing about which company it is.
const FREE_MAIL: &[&str] = &[
    "gmail.com",
    "googlemail.com",
    "yahoo.com",
    "yahoo.de",
    "yahoo.fr",
    "yahoo.co.uk",
    "hotmail.com",
    "hotmail.de",
    "hotmail.fr",
    "outlook.com",
    "outlook.de",
    "live.com",
    "live.de",
    "msn.com",
    "aol.com",
    "icloud.com",
    "me.com",
    "gmx.de",
    "gmx.net",
    "gmx.at",
    "gmx.ch",
    "web.de",
    "t-online.de",
    "freenet.de",
    "arcor.de",
    "posteo.de",
    "mailbox.org",
    "proton.me",
    "protonmail.com",
    "orange.fr",
    "wanadoo.fr",
    "free.fr",
    "laposte.net",
    "libero.it",
    "btinternet.com",
    "mail.ru",
    "yandex.ru",
    "wp.pl",
    "o2.pl",
    "onet.pl",
    "interia.pl",
    "seznam.cz",
    "bluewin.ch",
    "chello.at",
];

/// Second-level labels under which a country registers domains ("co.uk", "com.au").
const SECOND_LEVELS: &[&str] = &["co", "com", "org", "net", "ac", "gov", "or", "gv"];

/// The registrable domain of a host ("www.shop.mueller.co.uk" → "mueller.co.uk").
fn registrable(host: &str) -> Option<String> {
    let host = host.trim_matches('.').to_ascii_lowercase();
    let labels: Vec<&str> = host.split('.').filter(|label| !label.is_empty()).collect();
    if labels.len() < 2
        || labels
            .iter()
            .any(|label| !label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
    {
        return None;
    }
    let top = labels[labels.len() - 1];
    let second = labels[labels.len() - 2];
    let keep = if top.len() == 2 && SECOND_LEVELS.contains(&second) && labels.len() >= 3 {
        3
    } else {
        2
    };
    let domain = labels[labels.len() - keep..].join(".");
    (!FREE_MAIL.contains(&domain.as_str())).then_some(domain)
}

/// The company's domain from an e-mail address; `None` for free mail or no address.
pub fn email_domain(email: &str) -> Option<String> {
    let (_, host) = email.trim().rsplit_once('@')?;
    registrable(host)
}

/// The company's domain from a website as typed ("https://www.mueller.de/kontakt",
/// "www.mueller.de", "mueller.de"); `None` when it is not a host name.
pub fn website_domain(website: &str) -> Option<String> {
    let trimmed = website.trim();
    let without_scheme = trimmed.split_once("://").map_or(trimmed, |(_, rest)| rest);
    let host = without_scheme.split(['/', '?', '#']).next().unwrap_or("");
    let host = host.rsplit_once('@').map_or(host, |(_, host)| host);
    let host = host.split(':').next().unwrap_or("");
    registrable(host)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_vat_number_is_the_same_in_any_writing() {
        for typed in [
            "DE123456789",
            "DE 123 456 789",
            "de123.456.789",
            "123456789",
            " DE-123456789 ",
        ] {
            assert_eq!(normalize_vat(typed), "123456789", "{typed}");
        }
        assert_eq!(normalize_vat("ATU12345678"), "U12345678");
        assert_eq!(normalize_vat("GB 123 4567 89"), "123456789");
        assert_eq!(normalize_vat(""), "");
    }

    #[test]
    fn phone_numbers_in_national_and_international_writing_agree() {
        let expected = PhoneNumber {
            calling_code: "49".into(),
            national: "711123456".into(),
        };
        for typed in [
            "0711 123456",
            "+49 711 123456",
            "+49 (0)711 123456",
            "0049 711/123456",
            "+49711123456",
            "0711-123-456",
        ] {
            assert_eq!(
                normalize_phone(typed, "DE"),
                Some(expected.clone()),
                "{typed}"
            );
        }
        assert_eq!(
            normalize_phone("0711 123456", "germany"),
            Some(expected.clone())
        );
        assert_eq!(expected.e164().as_deref(), Some("+49711123456"));
        // The same digits in Austria are another line.
        let vienna = normalize_phone("0711 123456", "AT").expect("a number");
        assert!(!same_phone(&expected, &vienna));
        // Without a country the national number still agrees with the international one.
        let unplaced = normalize_phone("0711 123456", "").expect("a number");
        assert!(same_phone(&expected, &unplaced));
        // Italy keeps its leading 0 in the international form.
        assert_eq!(
            normalize_phone("02 1234 5678", "IT")
                .and_then(|phone| phone.e164())
                .as_deref(),
            Some("+390212345678")
        );
        assert_eq!(
            normalize_phone("(312) 555-0123", "US")
                .and_then(|phone| phone.e164())
                .as_deref(),
            Some("+13125550123")
        );
        assert_eq!(normalize_phone("n/a", "DE"), None);
        assert_eq!(normalize_phone("112", "DE"), None);
    }

    #[test]
    fn company_domains_come_from_mail_and_websites_but_not_free_mail() {
        assert_eq!(
            email_domain("info@mueller-logistik.de").as_deref(),
            Some("mueller-logistik.de")
        );
        assert_eq!(
            email_domain("Sales@Shop.Mueller.CO.UK").as_deref(),
            Some("mueller.co.uk")
        );
        assert_eq!(email_domain("hans.mueller@gmail.com"), None);
        assert_eq!(email_domain("mueller@web.de"), None);
        assert_eq!(email_domain("no address"), None);
        for typed in [
            "www.mueller.de",
            "https://www.mueller.de/kontakt",
            "mueller.de",
            "http://mueller.de:8080?x=1",
        ] {
            assert_eq!(
                website_domain(typed).as_deref(),
                Some("mueller.de"),
                "{typed}"
            );
        }
        assert_eq!(website_domain("www.gmail.com"), None);
        assert_eq!(website_domain("Müller GmbH"), None);
    }

    proptest! {
        #[test]
        fn any_writing_of_a_german_number_is_the_same_line(area in "[1-9][0-9]{1,3}", subscriber in "[0-9]{5,8}", style in 0usize..5) {
            let typed = match style {
                0 => format!("0{area} {subscriber}"),
                1 => format!("+49 {area} {subscriber}"),
                2 => format!("+49 (0){area}/{subscriber}"),
                3 => format!("0049{area}{subscriber}"),
                _ => format!("0{area}-{subscriber}"),
            };
            let canonical = normalize_phone(&format!("+49{area}{subscriber}"), "").expect("a number");
            let normalized = normalize_phone(&typed, "DE").expect("a number");
            prop_assert!(same_phone(&normalized, &canonical));
            prop_assert_eq!(normalized.e164(), canonical.e164());
        }

        #[test]
        fn vat_prefix_and_separators_never_matter(digits in "[0-9]{9}", prefix in "(DE|AT|FR|NL)?", separator in "[ .]?") {
            let typed = format!("{prefix}{}{separator}{}{separator}{}", &digits[..3], &digits[3..6], &digits[6..]);
            prop_assert_eq!(normalize_vat(&typed), digits);
        }
    }
}
