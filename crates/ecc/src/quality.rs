//! Checks of values ECC should never have accepted (control characters, impossible e-mail
//! addresses, unknown country codes) and how such a value is cleaned when the config says so.

/// ISO 3166-1 alpha-2 codes, as SAP's T005 holds them for real countries.
const COUNTRIES: &str = "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS XK YE YT ZA ZM ZW";

pub fn is_known_country(code: &str) -> bool {
    code.len() == 2 && COUNTRIES.split(' ').any(|known| known == code)
}

/// The first control character in `value`, if any (tabs and line breaks included: no CHAR field
/// of the customer master may hold them).
pub fn control_character(value: &str) -> Option<char> {
    value.chars().find(|c| c.is_control())
}

/// Control characters removed, runs of blanks left by them folded, ends trimmed.
pub fn without_control_characters(value: &str) -> String {
    let replaced: String = value
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    replaced.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A plausible SMTP address: one `@`, a local part, a domain with a dot and no empty label, no
/// blanks. This is what a CRM will accept, not the full RFC 5322 grammar.
pub fn is_plausible_email(address: &str) -> bool {
    let Some((local, domain)) = address.split_once('@') else {
        return false;
    };
    if local.is_empty()
        || domain.contains('@')
        || address.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return false;
    }
    let labels: Vec<&str> = domain.split('.').collect();
    labels.len() >= 2
        && labels.iter().all(|label| {
            !label.is_empty()
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_alphanumeric() || c == '-')
        })
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        assert!(is_plausible_email("a.schmidt@mueller-maschinenbau.de"));
        assert!(is_plausible_email("info@müller.de"));
        assert!(!is_plausible_email("a.schmidt@mueller"));
        assert!(!is_plausible_email("a schmidt@x.de"));
        assert!(!is_plausible_email("@x.de"));
        assert!(!is_plausible_email("a@@x.de"));
        assert!(!is_plausible_email("a@x..de"));
    }

    #[test]
    fn countries_and_control_characters() {
        assert!(is_known_country("DE"));
        assert!(!is_known_country("XX"));
        assert!(!is_known_country("D"));
        assert_eq!(control_character("ab\u{7}c"), Some('\u{7}'));
        assert_eq!(
            without_control_characters("Müller\u{0} GmbH\t"),
            "Müller GmbH"
        );
    }
}
