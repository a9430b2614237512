//! How alike two companies are: a name similarity (token-set Jaro-Winkler over the normalized
//! names) scaled by the other evidence: the address (postal code and house number strong, city
//! weak; a different house number on the same street, another street or another country
//! against), the VAT number, the phone number and the company's internet domain (for when
//! they agree, against when both have one and they differ).
//!
//! The other evidence can only confirm or contradict the name, never make up for it: two
//! different companies in one building stay apart, and one company typed twice with the same
//! address comes together.

use serde::{Deserialize, Serialize};

use super::contact::{same_phone, PhoneNumber};
use super::index::{street_with_number, IndexedRecord, MatchSubject};
use super::normalize::within_one_edit;

/// Name similarity with every word weighted by its length (no index at hand).
pub fn name_similarity(a: &str, b: &str) -> f64 {
    name_similarity_weighted(a, b, &|word: &str| word.chars().count() as f64)
}

/// How alike two normalized names are: each word against its closest counterpart (Jaro-Winkler
/// of at least 0.88 counts), weighted by `weight` (the index gives rare words more weight than
/// common ones such as "maschinenbau", as Splink's term-frequency adjustment does), in both
/// directions, combined as their harmonic mean so an extra distinctive word costs. Names that
/// agree word for word, or only in their spacing, score 1 or nearly.
pub fn name_similarity_weighted(a: &str, b: &str, weight: &dyn Fn(&str) -> f64) -> f64 {
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    if a == b {
        return 1.0;
    }
    if a.replace(' ', "") == b.replace(' ', "") {
        return 0.98;
    }
    let forward = directional_similarity(a, b, weight);
    let backward = directional_similarity(b, a, weight);
    if forward + backward == 0.0 {
        return 0.0;
    }
    2.0 * forward * backward / (forward + backward)
}

/// Jaro-Winkler as `strsim::jaro_winkler` computes it, without its allocation for the common
/// case of short ASCII words (normalized names are folded to ASCII); anything else goes to
/// strsim.
pub fn jaro_winkler(a: &str, b: &str) -> f64 {
    const MAX: usize = 64;
    let (a_bytes, b_bytes) = (a.as_bytes(), b.as_bytes());
    if !a.is_ascii() || !b.is_ascii() || a_bytes.len() > MAX || b_bytes.len() > MAX {
        return strsim::jaro_winkler(a, b);
    }
    let (a_len, b_len) = (a_bytes.len(), b_bytes.len());
    if a_len == 0 && b_len == 0 {
        return 1.0;
    }
    if a_len == 0 || b_len == 0 {
        return 0.0;
    }
    let search_range = (a_len.max(b_len) / 2).saturating_sub(1);
    let mut a_flags = [false; MAX];
    let mut b_flags = [false; MAX];
    let mut matches = 0usize;
    for (i, a_byte) in a_bytes.iter().enumerate() {
        let low = i.saturating_sub(search_range);
        let high = b_len.min(i + search_range + 1);
        for j in low..high {
            if !b_flags[j] && b_bytes[j] == *a_byte {
                a_flags[i] = true;
                b_flags[j] = true;
                matches += 1;
                break;
            }
        }
    }
    if matches == 0 {
        return 0.0;
    }
    let mut transpositions = 0usize;
    let mut k = 0usize;
    for i in 0..a_len {
        if !a_flags[i] {
            continue;
        }
        while !b_flags[k] {
            k += 1;
        }
        if a_bytes[i] != b_bytes[k] {
            transpositions += 1;
        }
        k += 1;
    }
    transpositions /= 2;
    let matches = matches as f64;
    let jaro = (matches / a_len as f64
        + matches / b_len as f64
        + (matches - transpositions as f64) / matches)
        / 3.0;
    if jaro <= 0.7 {
        return jaro;
    }
    let prefix = a_bytes
        .iter()
        .zip(b_bytes)
        .take(4)
        .take_while(|(x, y)| x == y)
        .count();
    jaro + 0.1 * prefix as f64 * (1.0 - jaro)
}

/// A word counts as found in another name from this similarity on.
const CLOSE_WORD: f64 = 0.88;

/// How alike `word` is to its closest word in `to`: Jaro-Winkler, or for words of eight
/// letters or more one edit apart (a letter dropped, doubled, replaced or swapped, which
/// Jaro-Winkler scores low near a word's start) 1 - 1/length.
fn closest_word(word: &str, to: &str) -> f64 {
    let length = word.chars().count() as f64;
    let mut best: f64 = 0.0;
    for other in to.split(' ') {
        if word == other {
            return 1.0;
        }
        // Words of very different length are not typos of each other.
        let other_length = other.chars().count() as f64;
        if (length - other_length).abs() > 3.0 {
            continue;
        }
        let mut similarity = jaro_winkler(word, other);
        let longer = length.max(other_length);
        if similarity < CLOSE_WORD && longer >= 8.0 && within_one_edit(word, other) {
            similarity = 1.0 - 1.0 / longer;
        }
        best = best.max(similarity);
    }
    best
}

/// Share of `from`'s weight that has a close word in `to`.
fn directional_similarity(from: &str, to: &str, weight: &dyn Fn(&str) -> f64) -> f64 {
    let mut total = 0.0;
    let mut matched = 0.0;
    for word in from.split(' ') {
        let word_weight = weight(word);
        total += word_weight;
        let best = closest_word(word, to);
        if best >= CLOSE_WORD {
            matched += word_weight * best;
        }
    }
    if total == 0.0 {
        0.0
    } else {
        matched / total
    }
}

/// Whether every word of one name has a close word in the other: they differ only by words one
/// of them adds ("kowalski handel" and "handel kowalski polska").
fn one_name_within_the_other(a: &str, b: &str) -> bool {
    let within = |from: &str, to: &str| {
        !from.is_empty()
            && !to.is_empty()
            && from
                .split(' ')
                .all(|word| closest_word(word, to) >= CLOSE_WORD)
    };
    within(a, b) || within(b, a)
}

/// Which parts of two records were compared, and what they said.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    pub name_score: f64,
    /// The address factor the name score was multiplied by (0.85 when nothing could be
    /// compared).
    pub address_factor: f64,
    pub score: f64,
    /// Parts both records have and that agree ("postal_code", "city", "street", "vat",
    /// "phone", "domain", ...): the evidence for the pair.
    pub agreed: Vec<String>,
    /// Parts both records have and that disagree: the evidence against.
    pub disagreed: Vec<String>,
}

/// The parts of an address; when one of them disagrees the address is not the same.
pub const ADDRESS_PARTS: &[&str] = &["postal_code", "city", "street", "house_number", "country"];

/// The parts that place a record at one site of a company, not just at the company: its
/// street, postal code or phone line. The VAT number, the domain and the city are the whole
/// company's (every branch of a group shares them).
pub const SITE_PARTS: &[&str] = &["street", "postal_code", "phone"];

impl Evidence {
    /// Whether some part agrees that places the pair at one site: without it a link could join
    /// a customer to the organization of another branch of its group.
    pub fn places_the_site(&self) -> bool {
        self.agreed
            .iter()
            .any(|part| SITE_PARTS.contains(&part.as_str()))
    }

    /// Whether any part of the address disagrees.
    pub fn address_disagrees(&self) -> bool {
        self.disagreed
            .iter()
            .any(|part| ADDRESS_PARTS.contains(&part.as_str()))
    }
}

const BASELINE: f64 = 0.85;

fn close(a: &str, b: &str, threshold: f64) -> bool {
    a == b || jaro_winkler(a, b) >= threshold
}

/// The score of `record` as a match for `subject`, with its evidence.
pub fn score(subject: &MatchSubject, record: &IndexedRecord<'_>) -> Evidence {
    let by_length = |word: &str| word.chars().count() as f64;
    score_above(subject, record, 0.0, &by_length).unwrap_or_default()
}

/// The score, or `None` when the address alone already keeps it below `floor` (the name can
/// only lower it further): most candidates of a common name are elsewhere, and this spares
/// their name comparison.
///
/// At the same address, when one name only adds words to the other, the word weights may
/// raise the name score but never lower it below the plain comparison (words weighted by their
/// length): the words both share are common when many ECC customers share the name (the
/// branches of one group), and that must not make the hand-typed organization of one of them
/// look like another company. Where each name has a word the other lacks ("Hahn
/// Elektrotechnik", "Lang Elektrotechnik"), the weights decide as everywhere.
pub fn score_above(
    subject: &MatchSubject,
    record: &IndexedRecord<'_>,
    floor: f64,
    weight: &dyn Fn(&str) -> f64,
) -> Option<Evidence> {
    let mut evidence = Evidence::default();
    let factor = address_factor(subject, record, &mut evidence);
    if factor < floor {
        return None;
    }
    let mut name_score = best_name_similarity(subject, record, weight);
    if name_score < 1.0 && same_address(subject, record) && only_words_added(subject, record) {
        let by_length = |word: &str| word.chars().count() as f64;
        name_score = name_score.max(best_name_similarity(subject, record, &by_length));
    }
    if name_score >= 0.999 {
        evidence.agreed.insert(0, "name".into());
    }
    evidence.name_score = name_score;
    evidence.address_factor = factor;
    evidence.score = (name_score * factor).clamp(0.0, 1.0);
    debug_assert!((0.0..=1.0).contains(&evidence.score));
    Some(evidence)
}

/// Whether both name the same company exactly: a spelling of one name (umlauts expanded or
/// stripped) is a spelling of the other, after normalization (legal form, case, punctuation,
/// blanks and word order do not count).
pub fn same_name(subject: &MatchSubject, record: &IndexedRecord<'_>) -> bool {
    let theirs = [record.name, record.alt_name];
    [subject.name.as_str(), subject.alt_name.as_str()]
        .iter()
        .any(|spelling| !spelling.is_empty() && theirs.contains(spelling))
}

/// Whether both are at one address: street and house number (also when one side typed the
/// number into the street field), postal code and city agree after normalization, all known on
/// both sides; and their countries, when both have one, agree.
pub fn same_address(subject: &MatchSubject, record: &IndexedRecord<'_>) -> bool {
    let known = |street: &str, postal: &str, city: &str| {
        !street.is_empty() && !postal.is_empty() && !city.is_empty()
    };
    known(&subject.street, &subject.postal_code, &subject.city)
        && known(record.street, record.postal_code, record.city)
        && subject.postal_code == record.postal_code
        && subject.city == record.city
        && street_with_number(&subject.street, &subject.house_number)
            == street_with_number(record.street, record.house_number)
        && (subject.country.is_empty()
            || record.country.is_empty()
            || subject.country == record.country)
}

/// The same company at the same address: the evidence of the same-address rule.
pub fn same_name_and_address(subject: &MatchSubject, record: &IndexedRecord<'_>) -> bool {
    same_address(subject, record) && same_name(subject, record)
}

/// Whether, in some umlaut spelling of each, one name only adds words to the other.
fn only_words_added(subject: &MatchSubject, record: &IndexedRecord<'_>) -> bool {
    let ours = [subject.name.as_str(), subject.alt_name.as_str()];
    let theirs = [record.name, record.alt_name];
    ours.iter()
        .any(|a| theirs.iter().any(|b| one_name_within_the_other(a, b)))
}

/// The name similarity over both umlaut spellings of each side, the best of them.
pub fn best_name_similarity(
    subject: &MatchSubject,
    record: &IndexedRecord<'_>,
    weight: &dyn Fn(&str) -> f64,
) -> f64 {
    let mut name_score = name_similarity_weighted(&subject.name, record.name, weight);
    if name_score < 1.0 && (!subject.alt_name.is_empty() || !record.alt_name.is_empty()) {
        let subject_alt = if subject.alt_name.is_empty() {
            &subject.name
        } else {
            &subject.alt_name
        };
        let record_alt = if record.alt_name.is_empty() {
            record.name
        } else {
            record.alt_name
        };
        for (a, b) in [
            (subject_alt.as_str(), record.name),
            (subject.name.as_str(), record_alt),
            (subject_alt.as_str(), record_alt),
        ] {
            name_score = name_score.max(name_similarity_weighted(a, b, weight));
        }
    }
    name_score
}

/// What the address and the other evidence say: 0.85 when nothing can be compared, more for
/// each part that agrees, less for each that disagrees (a different street, house number, VAT
/// number or country most of all). The address alone never lifts it above 1; a VAT number,
/// phone or domain that agrees may, up to 1.15, so a name typed with a typo among agreeing
/// numbers still links.
fn address_factor(
    subject: &MatchSubject,
    record: &IndexedRecord<'_>,
    evidence: &mut Evidence,
) -> f64 {
    let mut factor = BASELINE;
    // What one part adds to the factor, noted as evidence for or against.
    let mut compare = |name: &str, agrees: Option<bool>, bonus: f64, penalty: f64| match agrees {
        Some(true) => {
            evidence.agreed.push(name.to_string());
            bonus
        }
        Some(false) => {
            evidence.disagreed.push(name.to_string());
            -penalty
        }
        None => 0.0,
    };
    let both = |a: &str, b: &str| !a.is_empty() && !b.is_empty();
    let postal = both(&subject.postal_code, record.postal_code)
        .then(|| subject.postal_code == record.postal_code);
    factor += compare("postal_code", postal, 0.07, 0.15);
    let city = both(&subject.city, record.city).then(|| close(&subject.city, record.city, 0.93));
    factor += compare("city", city, 0.06, 0.10);
    // "Hauptstr. 12" in the street field is "Hauptstr." with the number 12.
    let number_in_either_field = both(&subject.street, record.street)
        && street_with_number(&subject.street, &subject.house_number)
            == street_with_number(record.street, record.house_number);
    let street = both(&subject.street, record.street)
        .then(|| number_in_either_field || close(&subject.street, record.street, 0.93));
    factor += compare("street", street, 0.06, 0.35);
    if street == Some(true) {
        let number = if number_in_either_field {
            (!subject.house_number.is_empty() || !record.house_number.is_empty()).then_some(true)
        } else {
            both(&subject.house_number, record.house_number)
                .then(|| subject.house_number == record.house_number)
        };
        factor += compare("house_number", number, 0.03, 0.25);
    }
    let country = both(&subject.country, record.country).then(|| subject.country == record.country);
    factor += compare("country", country, 0.0, 0.40);
    factor = factor.min(1.0);
    let vat = both(&subject.vat, record.vat).then(|| subject.vat == record.vat);
    factor += compare("vat", vat, 0.10, 0.35);
    let phone = both(&subject.phone, record.phone).then(|| {
        same_phone(
            &PhoneNumber::from_key(&subject.phone),
            &PhoneNumber::from_key(record.phone),
        )
    });
    // A company has many lines (a branch's own, the head office's): a different number says
    // little beside an address, the same number much. Without an address to compare, the line
    // and the domain are what tell two companies of one name apart, so a difference there
    // counts much against.
    let address_compared = postal.is_some() || city.is_some() || street.is_some();
    let unplaced_penalty = if address_compared { 0.0 } else { 0.17 };
    factor += compare("phone", phone, 0.10, 0.03 + unplaced_penalty);
    let domain = both(&subject.domain, record.domain).then(|| subject.domain == record.domain);
    factor += compare("domain", domain, 0.06, 0.05 + unplaced_penalty);
    factor.clamp(0.0, 1.15)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matching::index::{MatchSubject, RecordIndexBuilder};
    use proptest::prelude::*;

    fn subject(name: &str, street: &str, number: &str, postal: &str, city: &str) -> MatchSubject {
        MatchSubject::from_parts(name, street, number, postal, city, "DE", None, None)
    }

    fn score_of(a: &MatchSubject, b: &MatchSubject) -> Evidence {
        let mut builder = RecordIndexBuilder::default();
        builder.add(1, b);
        let index = builder.finish();
        score(a, &index.record(0))
    }

    #[test]
    fn the_same_company_spelled_differently_scores_high() {
        let ecc = subject(
            "Müller Maschinenbau GmbH & Co. KG",
            "Hauptstraße",
            "12a",
            "70173",
            "Stuttgart",
        );
        let typed = subject(
            "Mueller Maschinenbau GmbH",
            "Hauptstr.",
            "12 A",
            "70173",
            "Stuttgart",
        );
        let evidence = score_of(&ecc, &typed);
        assert!(evidence.score >= 0.99, "{evidence:?}");
        assert!(evidence.agreed.contains(&"house_number".to_string()));

        let acme = subject("ACME Ltd.", "Main Street", "5", "SW1A 1AA", "London");
        let acme_typed = subject("Acme Limited", "Main St", "5", "SW1A1AA", "LONDON");
        assert!(score_of(&acme, &acme_typed).score >= 0.99);

        let umlaut_dropped = subject(
            "Muller Maschinenbau",
            "Hauptstraße",
            "12a",
            "70173",
            "Stuttgart",
        );
        assert!(score_of(&ecc, &umlaut_dropped).score >= 0.95);

        let reordered = subject(
            "Maschinenbau Müller KG",
            "Hauptstraße",
            "12a",
            "70173",
            "Stuttgart",
        );
        assert!(score_of(&ecc, &reordered).score >= 0.99);

        let typo = subject(
            "Müller Maschinebau",
            "Hauptstraße",
            "12a",
            "70173",
            "Stuttgart",
        );
        assert!(
            score_of(&ecc, &typo).score >= 0.9,
            "{:?}",
            score_of(&ecc, &typo)
        );
    }

    #[test]
    fn different_companies_in_the_same_city_stay_apart() {
        let a = subject(
            "Müller Maschinenbau GmbH",
            "Hauptstraße",
            "12",
            "70173",
            "Stuttgart",
        );
        let other_trade = subject(
            "Müller Logistik GmbH",
            "Hauptstraße",
            "12",
            "70173",
            "Stuttgart",
        );
        assert!(
            score_of(&a, &other_trade).score < 0.70,
            "{:?}",
            score_of(&a, &other_trade)
        );
        let same_name_other_street = subject(
            "Müller Maschinenbau AG",
            "Königstraße",
            "3",
            "70173",
            "Stuttgart",
        );
        let evidence = score_of(&a, &same_name_other_street);
        assert!(evidence.score < 0.70, "{evidence:?}");
        assert!(evidence.disagreed.contains(&"street".to_string()));
        let other_city = subject(
            "Müller Maschinenbau GmbH",
            "Hauptstraße",
            "12",
            "80331",
            "München",
        );
        assert!(score_of(&a, &other_city).score < 0.70);
    }

    #[test]
    fn missing_address_leaves_the_name_to_decide_cautiously() {
        let a = subject(
            "Müller Maschinenbau GmbH",
            "Hauptstraße",
            "12",
            "70173",
            "Stuttgart",
        );
        let no_address = subject("Müller Maschinenbau", "", "", "", "");
        let evidence = score_of(&a, &no_address);
        assert!((0.70..0.90).contains(&evidence.score), "{evidence:?}");
        let city_only = subject("Mueller Maschinenbau", "", "", "", "Stuttgart");
        assert!(score_of(&a, &city_only).score >= 0.90);
    }

    fn same_name_and_address_of(a: &MatchSubject, b: &MatchSubject) -> (bool, bool) {
        let mut builder = RecordIndexBuilder::default();
        builder.add(1, b);
        let index = builder.finish();
        let record = index.record(0);
        (same_name(a, &record), same_address(a, &record))
    }

    #[test]
    fn the_same_name_and_address_survive_how_people_type_them() {
        let ecc = subject(
            "Müller Maschinenbau GmbH",
            "Hauptstraße",
            "12a",
            "70173",
            "Stuttgart",
        );
        for typed in [
            subject(
                "MUELLER MASCHINENBAU GMBH ",
                "HAUPTSTRASSE",
                "12 A",
                "D-70173",
                "STUTTGART",
            ),
            subject(
                "Muller Maschinenbau",
                "Hauptstr. 12a",
                "",
                "70173",
                "stuttgart",
            ),
            subject(
                "maschinenbau müller g.m.b.h",
                "Haupt-Str.",
                "12a",
                "70173",
                " Stuttgart ",
            ),
        ] {
            assert_eq!(
                same_name_and_address_of(&ecc, &typed),
                (true, true),
                "{typed:?}"
            );
        }
        let next_door = subject(
            "Müller Maschinenbau",
            "Hauptstraße",
            "14",
            "70173",
            "Stuttgart",
        );
        assert_eq!(same_name_and_address_of(&ecc, &next_door), (true, false));
        let no_street = subject("Müller Maschinenbau", "", "", "70173", "Stuttgart");
        assert_eq!(same_name_and_address_of(&ecc, &no_street), (true, false));
        let abroad = MatchSubject::from_parts(
            "Müller Maschinenbau",
            "Hauptstraße",
            "12a",
            "70173",
            "Stuttgart",
            "AT",
            None,
            None,
        );
        assert_eq!(same_name_and_address_of(&ecc, &abroad), (true, false));
        let logistics = subject(
            "Müller Logistik",
            "Hauptstraße",
            "12a",
            "70173",
            "Stuttgart",
        );
        assert_eq!(same_name_and_address_of(&ecc, &logistics), (false, true));
    }

    #[test]
    fn another_country_is_a_strong_no() {
        let a = MatchSubject::from_parts("Jansen B.V.", "", "", "", "", "NL", None, None);
        let b = MatchSubject::from_parts("Jansen BV", "", "", "", "", "Belgium", None, None);
        assert!(score_of(&a, &b).score < 0.70);
        let c = MatchSubject::from_parts("Jansen BV", "", "", "", "", "Netherlands", None, None);
        assert!(score_of(&a, &c).score >= 0.80);
    }

    proptest! {
        #[test]
        fn scores_are_symmetric_in_names_and_bounded(a in "[a-z]{2,8}( [a-z]{2,8}){0,3}", b in "[a-z]{2,8}( [a-z]{2,8}){0,3}") {
            let forward = name_similarity(&a, &b);
            let backward = name_similarity(&b, &a);
            prop_assert!((0.0..=1.0).contains(&forward));
            prop_assert!((forward - backward).abs() < 1e-9);
            prop_assert_eq!(name_similarity(&a, &a), 1.0);
        }

        #[test]
        fn the_fast_jaro_winkler_is_strsims(a in "[a-z ]{0,20}", b in "[a-z ]{0,20}", c in "\\PC{0,8}") {
            prop_assert_eq!(jaro_winkler(&a, &b), strsim::jaro_winkler(&a, &b));
            prop_assert_eq!(jaro_winkler(&a, &c), strsim::jaro_winkler(&a, &c));
        }

        #[test]
        fn house_number_formatting_never_matters(number in 1u32..500, letter in "[a-f]", spaced in any::<bool>()) {
            let compact = format!("{number}{letter}");
            let written = if spaced { format!("{number} {}", letter.to_uppercase()) } else { compact.to_uppercase() };
            let a = subject("Acme GmbH", "Ringstraße", &compact, "10115", "Berlin");
            let b = subject("ACME GmbH", "Ringstr.", &written, "10115", "Berlin");
            prop_assert!(score_of(&a, &b).score >= 0.99);
        }
    }
}
