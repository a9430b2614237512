//! Normalization of company names and addresses for matching: Unicode folded, umlauts expanded
//! (ä → ae) with an umlaut-stripped variant beside it, accents folded, punctuation and case
//! ignored, legal forms stripped, token order ignored.

use std::collections::HashSet;
use std::sync::OnceLock;

use unicode_normalization::char::{decompose_compatible, is_combining_mark};

/// How umlauts are folded: German writes "Müller" also as "Mueller", but people without the
/// letter on their keyboard type "Muller"; both forms are compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UmlautFolding {
    /// ä → ae, ö → oe, ü → ue.
    Expand,
    /// ä → a, ö → o, ü → u.
    Strip,
}

/// Lowercase ASCII-folded text: letters and digits kept, everything else a space. Letters of
/// other scripts are kept lowercased.
pub fn fold(text: &str, umlauts: UmlautFolding) -> String {
    let text = join_dotted_abbreviations(text);
    let mut out = String::with_capacity(text.len());
    for c in text.chars().flat_map(char::to_lowercase) {
        match c {
            'ä' | 'ö' | 'ü' => {
                out.push(match c {
                    'ä' => 'a',
                    'ö' => 'o',
                    _ => 'u',
                });
                if umlauts == UmlautFolding::Expand {
                    out.push('e');
                }
            }
            'ß' => out.push_str("ss"),
            'æ' => out.push_str("ae"),
            'œ' => out.push_str("oe"),
            'ø' => out.push_str(match umlauts {
                UmlautFolding::Expand => "oe",
                UmlautFolding::Strip => "o",
            }),
            'а'..='я' | 'ё' | 'є' | 'і' | 'ї' | 'ґ' => out.push_str(cyrillic_to_latin(c)),
            'ł' => out.push('l'),
            'đ' | 'ð' => out.push('d'),
            'þ' => out.push_str("th"),
            'ı' => out.push('i'),
            c if c.is_ascii_alphanumeric() => out.push(c),
            c if c.is_ascii() => out.push(' '),
            c => {
                let mut pushed_any = false;
                decompose_compatible(c, |part| {
                    if is_combining_mark(part) {
                        return;
                    }
                    if part.is_alphanumeric() {
                        out.extend(part.to_lowercase());
                        pushed_any = true;
                    }
                });
                if !pushed_any {
                    out.push(' ');
                }
            }
        }
    }
    out
}

/// A lowercase Cyrillic letter in Latin letters, as Russian and Ukrainian names are commonly
/// written in the West ("Кузнецов" → "kuznetsov", "Захаров" → "zakharov").
fn cyrillic_to_latin(c: char) -> &'static str {
    match c {
        'а' => "a",
        'б' => "b",
        'в' => "v",
        'г' | 'ґ' => "g",
        'д' => "d",
        'е' | 'ё' | 'э' | 'є' => "e",
        'ж' => "zh",
        'з' => "z",
        'и' | 'і' => "i",
        'ї' => "yi",
        'й' | 'ы' => "y",
        'к' => "k",
        'л' => "l",
        'м' => "m",
        'н' => "n",
        'о' => "o",
        'п' => "p",
        'р' => "r",
        'с' => "s",
        'т' => "t",
        'у' => "u",
        'ф' => "f",
        'х' => "kh",
        'ц' => "ts",
        'ч' => "ch",
        'ш' => "sh",
        'щ' => "shch",
        'ю' => "yu",
        'я' => "ya",
        // The hard and soft signs have no sound of their own.
        _ => "",
    }
}

/// "G.m.b.H." → "GmbH", "B.V." → "BV", "o.o" → "oo": a word made of single letters joined by
/// dots is one abbreviation, whether it is written with the dots or without them, and with the
/// final dot or without it. Without this the dots would split it into letters that match no
/// legal form.
fn join_dotted_abbreviations(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.contains('.') {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    for (index, word) in text.split(' ').enumerate() {
        if index > 0 {
            out.push(' ');
        }
        if is_dotted_abbreviation(word) {
            out.extend(word.chars().filter(|c| *c != '.'));
        } else {
            out.push_str(word);
        }
    }
    std::borrow::Cow::Owned(out)
}

fn is_dotted_abbreviation(word: &str) -> bool {
    let word = word.strip_suffix('.').unwrap_or(word);
    let chars: Vec<char> = word.chars().collect();
    // Letter, dot, letter (, dot, letter ...): at least two letters, the dot only between them.
    chars.len() >= 3
        && chars.len() % 2 == 1
        && chars.iter().enumerate().all(|(position, c)| {
            if position % 2 == 0 {
                c.is_alphabetic()
            } else {
                *c == '.'
            }
        })
}

/// The words of folded text.
pub fn tokens(folded: &str) -> impl Iterator<Item = &str> {
    folded.split(' ').filter(|token| !token.is_empty())
}

/// Legal forms as written; they are folded and tokenized like names, so "Sp. z o.o." becomes
/// the token sequence `sp z o o`, and stripped from the end of a name (repeatedly: "GmbH & Co.
/// KG" is one form, "Holding GmbH" keeps "holding").
const LEGAL_FORMS: &[&str] = &[
    "GmbH & Co. KGaA",
    "GmbH & Co. KG",
    "GmbH & Co. OHG",
    "GmbH & Co",
    "AG & Co. KGaA",
    "AG & Co. KG",
    "UG (haftungsbeschränkt) & Co. KG",
    "UG (haftungsbeschränkt)",
    "Gesellschaft mit beschränkter Haftung",
    "Aktiengesellschaft",
    "Kommanditgesellschaft",
    "GbR",
    "PartG mbB",
    "PartG",
    "gGmbH",
    "GmbH",
    "GesmbH",
    "Ges.m.b.H.",
    "mbH",
    "AG",
    "KGaA",
    "KG",
    "OHG",
    "OG",
    "e.K.",
    "e.Kfm.",
    "e.Kfr.",
    "e.V.",
    "eG",
    "UG",
    "SE",
    "& Co.",
    "& Cie",
    "Co.",
    "Ltd.",
    "Limited",
    "Pty Ltd",
    "Pty",
    "Pte. Ltd.",
    "Pte",
    "Sdn. Bhd.",
    "LLC",
    "L.L.C.",
    "LLP",
    "LP",
    "Inc.",
    "Incorporated",
    "Corp.",
    "Corporation",
    "PLC",
    "Company",
    "SARL",
    "S.à r.l.",
    "Sàrl",
    "S.A.R.L.",
    "SA",
    "S.A.",
    "SAS",
    "S.A.S.",
    "SASU",
    "EURL",
    "SNC",
    "SCI",
    "B.V.",
    "BV",
    "N.V.",
    "NV",
    "V.O.F.",
    "VOF",
    "C.V.",
    "Sp. z o.o.",
    "Sp.z o.o.",
    "Spółka z o.o.",
    "Spółka z ograniczoną odpowiedzialnością",
    "Spółka Akcyjna",
    "Spółka jawna",
    "Spółka komandytowa",
    "Sp. j.",
    "Sp. k.",
    "S.A. de C.V.",
    "BVBA",
    "SPRL",
    "CVBA",
    "S.p.A.",
    "SpA",
    "S.r.l.",
    "Srl",
    "S.n.c.",
    "S.L.",
    "SL",
    "S.L.U.",
    "S.A.U.",
    "AB",
    "HB",
    "KB",
    "A/S",
    "AS",
    "ASA",
    "ApS",
    "I/S",
    "Oy",
    "Oyj",
    "Kft.",
    "Zrt.",
    "Nyrt.",
    "s.r.o.",
    "spol. s r.o.",
    "a.s.",
    "OÜ",
    "UAB",
    "SIA",
    "d.o.o.",
    "d.d.",
    "S.R.L.",
    "Lda.",
    "Ltda.",
    "S.C.",
];

/// Words that carry no identity: "Smith & Sons" and "Smith and Sons" are the same.
const STOP_WORDS: &[&str] = &["and", "und", "et", "the", "der", "die", "das"];

/// Abbreviations people type for words of company names, and the word they stand for: "ACME
/// Intl Mfg" is "ACME International Manufacturing".
const ABBREVIATIONS: &[(&str, &str)] = &[
    ("intl", "international"),
    ("mfg", "manufacturing"),
    ("bros", "brothers"),
    ("svcs", "services"),
    ("svc", "service"),
];

/// The word an abbreviation stands for, or the word itself.
fn expand_abbreviation(word: &str) -> &str {
    ABBREVIATIONS
        .iter()
        .find(|(short, _)| *short == word)
        .map_or(word, |(_, long)| long)
}

struct LegalForms {
    /// Each form's words joined by one space ("gmbh co kg").
    sequences: HashSet<String>,
    /// Each form's letters run together ("gmbhcokg", "spzoo", "sa"), for forms typed as
    /// single letters with blanks between them ("S. A.", "G. m. b. H.", "s. r. o.").
    compact: HashSet<String>,
    /// The most words a form in `sequences` has.
    longest: usize,
    /// The one-word forms of six letters or more ("limited", "gesellschaft"), which people
    /// also mistype ("Limiited", "Limitde").
    long_words: Vec<String>,
}

impl LegalForms {
    /// How many of the last `words` are a legal form, if any are (the longest form wins).
    fn at_end(&self, words: &[&str]) -> Option<usize> {
        // A name keeps at least one word.
        if words.len() < 2 {
            return None;
        }
        let available = words.len() - 1;
        // Words of one or two letters at the end may spell a form letter by letter.
        let short_run = words[1..]
            .iter()
            .rev()
            .take_while(|word| word.chars().count() <= 2)
            .count();
        let mut tail_text = String::new();
        for length in (1..=available.min(self.longest.max(short_run))).rev() {
            let tail = &words[words.len() - length..];
            if length <= self.longest {
                tail_text.clear();
                for (index, word) in tail.iter().enumerate() {
                    if index > 0 {
                        tail_text.push(' ');
                    }
                    tail_text.push_str(word);
                }
                if self.sequences.contains(tail_text.as_str()) {
                    return Some(length);
                }
            }
            if length > 1 && length <= short_run && self.compact.contains(&tail.concat()) {
                return Some(length);
            }
        }
        let last = words[words.len() - 1];
        let mistyped_form = last.len() >= 6
            && self
                .long_words
                .iter()
                .any(|form| within_one_edit(last, form));
        mistyped_form.then_some(1)
    }
}

/// Whether `a` becomes `b` by one letter inserted, deleted, replaced, or two neighbours
/// swapped (Damerau-Levenshtein distance at most 1). Jaro-Winkler misses some of these: a
/// letter dropped near the start of a long word ("dstribution") scores under 0.87.
pub fn within_one_edit(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a == b {
        return true;
    }
    let (shorter, longer) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    if longer.len() - shorter.len() > 1 {
        return false;
    }
    let prefix = shorter
        .iter()
        .zip(longer)
        .take_while(|(x, y)| x == y)
        .count();
    if shorter.len() == longer.len() {
        // One replaced, or the two at `prefix` swapped.
        let rest_equal = |from: usize| shorter[from..] == longer[from..];
        return rest_equal(prefix + 1)
            || (prefix + 1 < shorter.len()
                && shorter[prefix] == longer[prefix + 1]
                && shorter[prefix + 1] == longer[prefix]
                && rest_equal(prefix + 2));
    }
    // One inserted into the longer at `prefix`.
    shorter[prefix..] == longer[prefix + 1..]
}

fn legal_forms() -> &'static LegalForms {
    static FORMS: OnceLock<LegalForms> = OnceLock::new();
    FORMS.get_or_init(|| {
        let mut sequences = HashSet::new();
        let mut compact = HashSet::new();
        for form in LEGAL_FORMS {
            for folding in [UmlautFolding::Expand, UmlautFolding::Strip] {
                let folded = fold(form, folding);
                let sequence: Vec<String> = tokens(&folded).map(str::to_string).collect();
                // "Ltd." and "L.t.d." alike: also the letters run together ("e k" → "ek").
                if sequence.len() > 1 && sequence.iter().all(|token| token.len() <= 2) {
                    sequences.insert(sequence.concat());
                }
                sequences.insert(sequence.join(" "));
                compact.insert(sequence.concat());
            }
        }
        let longest = sequences
            .iter()
            .map(|form| form.split(' ').count())
            .max()
            .unwrap_or(1);
        let long_words = sequences
            .iter()
            .filter(|form| !form.contains(' ') && form.len() >= 6)
            .cloned()
            .collect();
        LegalForms {
            sequences,
            compact,
            longest,
            long_words,
        }
    })
}

/// A company name ready to compare: its distinctive words, sorted and unique, joined by one
/// space (`key`), and the legal form that was stripped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NormalizedName {
    pub key: String,
    pub legal_form: String,
}

impl NormalizedName {
    pub fn tokens(&self) -> impl Iterator<Item = &str> {
        tokens(&self.key)
    }
}

fn without_stop_words<'a>(words: &[&'a str]) -> Vec<&'a str> {
    words
        .iter()
        .copied()
        .filter(|word| !STOP_WORDS.contains(word))
        .collect()
}

/// Normalizes a company name under one umlaut folding.
pub fn normalize_name(name: &str, umlauts: UmlautFolding) -> NormalizedName {
    let folded = fold(name, umlauts);
    let mut words: Vec<&str> = tokens(&folded).map(expand_abbreviation).collect();
    let forms = legal_forms();
    let mut stripped: Vec<&str> = Vec::new();
    // Strip legal forms from the end, longest first, as long as a word remains.
    while let Some(length) = forms.at_end(&words) {
        let tail = &words[words.len() - length..];
        stripped.splice(0..0, tail.iter().copied());
        words.truncate(words.len() - length);
    }
    let mut distinctive = without_stop_words(&words);
    if distinctive.is_empty() {
        // "The Limited": the legal form is the name.
        words.extend(stripped.iter().copied());
        stripped.clear();
        distinctive = without_stop_words(&words);
    }
    if distinctive.is_empty() {
        distinctive = words;
    }
    distinctive.sort_unstable();
    distinctive.dedup();
    NormalizedName {
        key: distinctive.join(" "),
        legal_form: stripped.join(" "),
    }
}

/// The name under both umlaut foldings; the second only when it differs from the first.
pub fn name_variants(name: &str) -> (NormalizedName, Option<NormalizedName>) {
    let expanded = normalize_name(name, UmlautFolding::Expand);
    let has_umlaut = name
        .chars()
        .any(|c| matches!(c, 'ä' | 'ö' | 'ü' | 'Ä' | 'Ö' | 'Ü' | 'ø' | 'Ø'));
    if !has_umlaut {
        return (expanded, None);
    }
    let stripped = normalize_name(name, UmlautFolding::Strip);
    if stripped.key == expanded.key {
        (expanded, None)
    } else {
        (expanded, Some(stripped))
    }
}

/// Postal code as compared: letters and digits, uppercase, without a country prefix ("D-70173"
/// → "70173", "SW1A 1AA" → "SW1A1AA").
pub fn normalize_postal_code(postal_code: &str) -> String {
    let trimmed = postal_code.trim();
    let without_prefix = match trimmed.split_once('-') {
        Some((prefix, rest))
            if (1..=3).contains(&prefix.len())
                && prefix.chars().all(|c| c.is_ascii_alphabetic())
                && rest.trim_start().starts_with(|c: char| c.is_ascii_digit()) =>
        {
            rest
        }
        _ => trimmed,
    };
    without_prefix
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// City as compared: folded words joined by one space.
pub fn normalize_city(city: &str) -> String {
    tokens(&fold(city, UmlautFolding::Expand))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Street as compared: folded, the common street words shortened ("straße", "strasse", "str."
/// → "str"; "street" → "st"), written together ("Haupt Str." and "Hauptstraße" → "hauptstr").
pub fn normalize_street(street: &str) -> String {
    let folded = fold(street, UmlautFolding::Expand);
    let mut out = String::new();
    for word in tokens(&folded) {
        let word = if let Some(stem) = word.strip_suffix("strasse") {
            format!("{stem}str")
        } else {
            match word {
                "street" => "st".to_string(),
                "road" => "rd".to_string(),
                "avenue" => "ave".to_string(),
                "boulevard" => "blvd".to_string(),
                "platz" => "pl".to_string(),
                "weg" => "weg".to_string(),
                other => other.to_string(),
            }
        };
        out.push_str(&word);
    }
    out
}

/// House number as compared: letters and digits only, lowercase ("12 A" → "12a").
pub fn normalize_house_number(number: &str) -> String {
    number
        .chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// Splits "Hauptstraße 12a" (or "123 Main St") into street and house number, for addresses
/// typed into one field.
pub fn split_street_and_number(line: &str) -> (String, String) {
    let words: Vec<&str> = line.split_whitespace().collect();
    if words.is_empty() {
        return (String::new(), String::new());
    }
    // "6 A": a number and its letter, no street.
    if words.len() == 2
        && looks_like_house_number(words[0])
        && words[1].len() == 1
        && words[1].chars().all(|c| c.is_ascii_alphabetic())
    {
        return (String::new(), words.join(" "));
    }
    if words[0].starts_with(|c: char| c.is_ascii_digit()) && words.len() > 1 {
        return (words[1..].join(" "), words[0].to_string());
    }
    // Only a number: the street was left out.
    if words.len() == 1 && looks_like_house_number(words[0]) {
        return (String::new(), words[0].to_string());
    }
    match words
        .iter()
        .position(|word| word.starts_with(|c: char| c.is_ascii_digit()))
    {
        Some(position) if position > 0 => {
            (words[..position].join(" "), words[position..].join(" "))
        }
        _ => (line.trim().to_string(), String::new()),
    }
}

/// Parses a one-line address as people type it ("Hauptstraße 12, 70173 Stuttgart, Germany")
/// into street, house number, postal code and city, as far as it can be told.
pub fn parse_address_line(line: &str) -> ParsedAddress {
    let segments: Vec<&str> = line
        .split([',', '\n'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    let mut parsed = ParsedAddress::default();
    let mut rest = segments.as_slice();
    if let Some((first, others)) = rest.split_first() {
        let starts_with_postal = first
            .split_whitespace()
            .next()
            .is_some_and(looks_like_postal_code);
        let postal_code_follows = others.iter().any(|segment| {
            let words: Vec<&str> = segment.split_whitespace().collect();
            postal_code_in(&words).is_some()
        });
        if !starts_with_postal || others.is_empty() || postal_code_follows {
            let (street, number) = split_street_and_number(first);
            parsed.street = street;
            parsed.house_number = number;
            rest = others;
        }
    }
    for segment in rest {
        let words: Vec<&str> = segment.split_whitespace().collect();
        if let Some((position, length)) = postal_code_in(&words) {
            if parsed.postal_code.is_empty() {
                parsed.postal_code = words[position..position + length].join(" ");
                let city: Vec<&str> = words
                    .iter()
                    .enumerate()
                    .filter(|(index, _)| !(position..position + length).contains(index))
                    .map(|(_, word)| *word)
                    .collect();
                if parsed.city.is_empty() {
                    parsed.city = city.join(" ");
                }
                continue;
            }
        }
        if parsed.city.is_empty() {
            parsed.city = segment.to_string();
        }
    }
    parsed
}

fn looks_like_postal_code(word: &str) -> bool {
    let digits = word.chars().filter(char::is_ascii_digit).count();
    digits >= 3 && word.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

/// "12", "12a", "7-9": a house number, not a street.
fn looks_like_house_number(word: &str) -> bool {
    word.len() <= 8
        && word.starts_with(|c: char| c.is_ascii_digit())
        && word.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

/// Where the postal code is among a segment's words, and how many words it takes: one ("70173",
/// "00-950"), or two for the Dutch ("1031 EF") and British ("SW1A 1AA") forms.
fn postal_code_in(words: &[&str]) -> Option<(usize, usize)> {
    let letters = |word: &str, count: usize| {
        word.len() == count && word.chars().all(|c| c.is_ascii_alphabetic())
    };
    for (position, pair) in words.windows(2).enumerate() {
        let (first, second) = (pair[0], pair[1]);
        let dutch =
            first.len() == 4 && first.chars().all(|c| c.is_ascii_digit()) && letters(second, 2);
        let british_outward = (2..=4).contains(&first.len())
            && first.starts_with(|c: char| c.is_ascii_alphabetic())
            && first.chars().any(|c| c.is_ascii_digit())
            && first.chars().all(|c| c.is_ascii_alphanumeric());
        let british_inward = second.len() == 3
            && second.starts_with(|c: char| c.is_ascii_digit())
            && letters(&second[1..], 2);
        if dutch || (british_outward && british_inward) {
            return Some((position, 2));
        }
    }
    words
        .iter()
        .position(|word| looks_like_postal_code(word))
        .map(|position| (position, 1))
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParsedAddress {
    pub street: String,
    pub house_number: String,
    pub postal_code: String,
    pub city: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn key(name: &str) -> String {
        normalize_name(name, UmlautFolding::Expand).key
    }

    #[test]
    fn legal_forms_are_stripped() {
        assert_eq!(
            key("Müller Maschinenbau GmbH & Co. KG"),
            "maschinenbau mueller"
        );
        assert_eq!(key("Mueller Maschinenbau GmbH"), "maschinenbau mueller");
        assert_eq!(key("ACME Ltd."), "acme");
        assert_eq!(key("Acme Limited"), "acme");
        assert_eq!(key("Kowalski Sp. z o.o."), "kowalski");
        assert_eq!(key("Rossi S.p.A."), "rossi");
        assert_eq!(key("Jansen B.V."), "jansen");
        assert_eq!(key("Hansen A/S"), "hansen");
        assert_eq!(key("Peter Maier e.K."), "maier peter");
        assert_eq!(key("Dupont SARL"), "dupont");
        assert_eq!(key("Dupont S.à r.l."), "dupont");
        assert_eq!(key("Volvo AB"), "volvo");
        assert_eq!(key("Nokia Oyj"), "nokia");
        assert_eq!(key("Widget Corp."), "widget");
        assert_eq!(key("Widget Inc"), "widget");
        assert_eq!(key("Schmidt GmbH & Co KG"), "schmidt");
        assert_eq!(
            key("Zürcher Feinmechanik G.m.b.H."),
            key("Zürcher Feinmechanik GmbH")
        );
        assert_eq!(
            key("Bäckerei Möller G.m.b.H. & Co. KG"),
            "baeckerei moeller"
        );
        assert_eq!(key("Jansen BV"), key("Jansen B.V."));
        assert_eq!(
            normalize_name("Müller GmbH & Co. KG", UmlautFolding::Expand).legal_form,
            "gmbh co kg"
        );
    }

    #[test]
    fn legal_forms_without_the_final_dot_or_with_blanks_inside_are_stripped() {
        for typed in [
            "Kowalski Handel Sp. z o.o",
            "KOWALSKI HANDEL SP. Z O.O.",
            "Kowalski Handel sp. z o. o.",
            "Kowalski Handel Sp.z o.o.",
            "Kowalski Handel Sp z oo",
            "Kowalski Handel Spółka z o.o.",
            "  Kowalski   Handel  Sp. z o.o.  ",
        ] {
            assert_eq!(key(typed), "handel kowalski", "{typed}");
        }
        for (typed, stem) in [
            ("Iberia Foods S. A.", "foods iberia"),
            ("Iberia Foods S.A", "foods iberia"),
            ("Müller G.m.b.H", "mueller"),
            ("Müller G. m. b. H.", "mueller"),
            ("Müller Gmbh", "mueller"),
            ("Müller G.m.b.H&Co.KG", "mueller"),
            ("Rossi S.R.L", "rossi"),
            ("Rossi S. r. l.", "rossi"),
            ("Rossi S. p. A.", "rossi"),
            ("Jansen B.V", "jansen"),
            ("Jansen B. V.", "jansen"),
            ("Jansen N.V", "jansen"),
            ("Hansen A / S", "hansen"),
            ("Novak s.r.o", "novak"),
            ("Novak s. r. o.", "novak"),
            ("Novak spol. s r.o.", "novak"),
            ("Kovacs KFT", "kovacs"),
            ("Dupont S. A. S.", "dupont"),
            ("Peter Maier e. K.", "maier peter"),
            ("Widget L.L.C", "widget"),
            ("Widget Incorporated", "widget"),
            ("ACME LIMITED ", "acme"),
            ("Acme Co., Ltd.", "acme"),
            ("Siemens Aktiengesellschaft", "siemens"),
        ] {
            assert_eq!(key(typed), stem, "{typed}");
        }
    }

    #[test]
    fn a_mistyped_long_legal_form_is_still_stripped() {
        assert_eq!(key("Gross Sued Limiited"), "gross sued");
        assert_eq!(key("Braun Chemie Limitde"), "braun chemie");
        // A short word one letter from a form is a name word ("Ag" is a form, "Agi" is not).
        assert_eq!(key("Hans Agi"), "agi hans");
    }

    #[test]
    fn one_edit_apart_means_one_letter_added_dropped_replaced_or_swapped() {
        for (a, b) in [
            ("distribution", "dstribution"),
            ("verpackung", "verppackung"),
            ("solutions", "soltuions"),
            ("techniek", "tecchniek"),
            ("limited", "limitde"),
            ("abc", "abc"),
            ("abc", "abd"),
        ] {
            assert!(within_one_edit(a, b), "{a} {b}");
            assert!(within_one_edit(b, a), "{b} {a}");
        }
        for (a, b) in [
            ("distribution", "dstributon"),
            ("abcd", "badc"),
            ("abc", "abcde"),
        ] {
            assert!(!within_one_edit(a, b), "{a} {b}");
        }
    }

    #[test]
    fn a_name_that_is_only_a_legal_form_keeps_its_word() {
        assert_eq!(key("GmbH"), "gmbh");
        assert_eq!(key("The Limited"), "limited");
    }

    #[test]
    fn umlauts_accents_case_punctuation_and_order_are_ignored() {
        assert_eq!(key("Müller"), key("MUELLER"));
        assert_eq!(key("Société Générale"), key("societe generale"));
        assert_eq!(key("Smith & Sons"), key("Smith and Sons"));
        assert_eq!(key("Bau-Service Nord"), key("Nord Bau Service"));
        assert_eq!(key("Straßenbau Groß"), "gross strassenbau");
        let (expanded, stripped) = name_variants("Müller GmbH");
        assert_eq!(expanded.key, "mueller");
        assert_eq!(stripped.unwrap().key, "muller");
        assert_eq!(name_variants("Muller GmbH").1, None);
    }

    #[test]
    fn other_scripts_survive_folding() {
        assert_eq!(key("Łódź Żywiec"), "lodz zywiec");
        assert_eq!(key("Ørsted A/S"), "oersted");
        assert_eq!(
            name_variants("Møller A/S")
                .1
                .map(|name| name.key)
                .as_deref(),
            Some("moller")
        );
        assert!(!key("Αθήνα").is_empty());
    }

    #[test]
    fn cyrillic_names_read_as_their_latin_spelling() {
        assert_eq!(key("ООО Кузнецов Логистик"), key("OOO Kuznetsov Logistik"));
        assert_eq!(key("Захаров Handel GmbH"), "handel zakharov");
        assert_eq!(key("Щукин"), "shchukin");
    }

    #[test]
    fn abbreviations_read_as_the_words_they_stand_for() {
        assert_eq!(
            key("Acme Intl Mfg Inc."),
            key("ACME International Manufacturing")
        );
        assert_eq!(key("Smith Bros & Co"), key("Smith Brothers and Co"));
    }

    #[test]
    fn addresses_normalize() {
        assert_eq!(normalize_postal_code("D-70173"), "70173");
        assert_eq!(normalize_postal_code("sw1a 1aa"), "SW1A1AA");
        assert_eq!(normalize_street("Hauptstraße"), "hauptstr");
        assert_eq!(normalize_street("Haupt Str."), "hauptstr");
        assert_eq!(normalize_street("Hauptstrasse"), "hauptstr");
        assert_eq!(normalize_street("Main Street"), "mainst");
        assert_eq!(normalize_house_number("12 A"), "12a");
        assert_eq!(normalize_house_number("12a"), "12a");
        assert_eq!(normalize_city("Frankfurt am Main"), "frankfurt am main");
        assert_eq!(normalize_city("MÜNCHEN"), "muenchen");
    }

    #[test]
    fn one_line_addresses_are_split() {
        let parsed = parse_address_line("Hauptstraße 12 a, 70173 Stuttgart, Germany");
        assert_eq!(parsed.street, "Hauptstraße");
        assert_eq!(parsed.house_number, "12 a");
        assert_eq!(parsed.postal_code, "70173");
        assert_eq!(parsed.city, "Stuttgart");
        let us = parse_address_line("123 Main St, Sunnyvale, CA 94085");
        assert_eq!(us.street, "Main St");
        assert_eq!(us.house_number, "123");
        assert_eq!(us.city, "Sunnyvale");
        assert_eq!(us.postal_code, "94085");
        let city_only = parse_address_line("Stuttgart");
        assert_eq!(city_only.street, "Stuttgart");
        let dutch = parse_address_line("Keizersgracht 144, 1031 EF Amsterdam");
        assert_eq!(
            (
                dutch.street.as_str(),
                dutch.postal_code.as_str(),
                dutch.city.as_str()
            ),
            ("Keizersgracht", "1031 EF", "Amsterdam")
        );
        let british = parse_address_line("5 Church Lane, M2 5AA Manchester");
        assert_eq!(
            (
                british.house_number.as_str(),
                british.postal_code.as_str(),
                british.city.as_str()
            ),
            ("5", "M2 5AA", "Manchester")
        );
        // The street left out, the number typed.
        let number_and_letter = parse_address_line(" 6 A, 30-119 Kraków");
        assert_eq!(
            (
                number_and_letter.street.as_str(),
                number_and_letter.house_number.as_str()
            ),
            ("", "6 A")
        );
        let british_without_street = parse_address_line(" 122, M1 2AA London");
        assert_eq!(
            (
                british_without_street.house_number.as_str(),
                british_without_street.postal_code.as_str(),
                british_without_street.city.as_str()
            ),
            ("122", "M1 2AA", "London")
        );
        let no_street = parse_address_line(" 190, 80237 Denver");
        assert_eq!(
            (
                no_street.street.as_str(),
                no_street.house_number.as_str(),
                no_street.postal_code.as_str()
            ),
            ("", "190", "80237")
        );
    }

    /// Legal forms as ECC holds them; `with_dots` and `with_case` spell them as people type.
    const TYPED_FORMS: &[&str] = &[
        "GmbH",
        "G.m.b.H.",
        "AG",
        "KG",
        "GmbH & Co. KG",
        "UG (haftungsbeschränkt)",
        "e.K.",
        "Sp. z o.o.",
        "S.A.",
        "SA",
        "S.r.l.",
        "S.p.A.",
        "SARL",
        "S.A.S.",
        "B.V.",
        "N.V.",
        "A/S",
        "ApS",
        "AB",
        "Oy",
        "Oyj",
        "s.r.o.",
        "a.s.",
        "d.o.o.",
        "Kft.",
        "Ltd.",
        "Limited",
        "Inc.",
        "Incorporated",
        "Corp.",
        "LLC",
        "PLC",
        "Pty Ltd",
    ];

    /// The same form written out and abbreviated.
    const SYNONYMS: &[(&str, &str)] = &[
        ("Limited", "Ltd"),
        ("Incorporated", "Inc."),
        ("Corporation", "Corp"),
        ("Company", "Co."),
        ("Spółka z o.o.", "Sp. z o.o."),
        ("Gesellschaft mit beschränkter Haftung", "GmbH"),
        ("Aktiengesellschaft", "AG"),
    ];

    /// 0: as written; 1: without the final dot; 2: a blank after every inner dot ("S. A.");
    /// 3: without any dot ("Sp z oo").
    fn with_dots(form: &str, dots: u8) -> String {
        match dots {
            1 => form.strip_suffix('.').unwrap_or(form).to_string(),
            2 => {
                form.trim_end_matches('.')
                    .replace('.', ". ")
                    .replace(".  ", ". ")
                    + if form.ends_with('.') { "." } else { "" }
            }
            3 => form.replace('.', ""),
            _ => form.to_string(),
        }
    }

    /// 0: as written; 1: all caps; 2: all lowercase; 3: title case ("Gmbh", "Sp. Z O.o.").
    fn with_case(name: &str, case: u8) -> String {
        match case {
            1 => name.to_uppercase(),
            2 => name.to_lowercase(),
            3 => name
                .split(' ')
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
                .join(" "),
            _ => name.to_string(),
        }
    }

    /// 0: as written; 1: a trailing blank; 2: blanks around; 3: every blank doubled.
    fn with_blanks(name: &str, blanks: u8) -> String {
        match blanks {
            1 => format!("{name} "),
            2 => format!("  {name}\t "),
            3 => name.replace(' ', "  "),
            _ => name.to_string(),
        }
    }

    proptest! {
        #[test]
        fn keys_are_sorted_unique_lowercase_words(name in "[A-Za-zÄÖÜäöüßéè&.,' -]{0,40}") {
            let normalized = key(&name);
            let words: Vec<&str> = normalized.split(' ').filter(|w| !w.is_empty()).collect();
            prop_assert_eq!(words.join(" "), normalized.clone());
            let mut sorted = words.clone();
            sorted.sort_unstable();
            sorted.dedup();
            prop_assert_eq!(sorted, words);
            prop_assert!(normalized.chars().all(|c| c == ' ' || c.is_ascii_lowercase() || c.is_ascii_digit()));
        }

        #[test]
        fn case_and_punctuation_never_matter(name in "[A-Za-z]{1,12}( [A-Za-z]{1,12}){0,3}") {
            let shouted = name.to_uppercase();
            let punctuated = name.replace(' ', ", ");
            prop_assert_eq!(key(&shouted), key(&name));
            prop_assert_eq!(key(&punctuated), key(&name));
        }

        #[test]
        fn word_order_never_matters(words in proptest::collection::vec("[a-z]{2,10}", 1..5)) {
            // Legal forms are stripped from the end only ("Oy Aa" is not "Aa Oy", "Gm Bh" is a
            // GmbH, "Bh Gm" is not).
            let forward = words.join(" ");
            let mut reversed = words.clone();
            reversed.reverse();
            let reversed = reversed.join(" ");
            let strips_nothing = |name: &str| normalize_name(name, UmlautFolding::Expand).legal_form.is_empty();
            prop_assume!(strips_nothing(&forward) && strips_nothing(&reversed));
            prop_assert_eq!(key(&forward), key(&reversed));
        }

        #[test]
        fn a_legal_form_suffix_never_matters(stem in "[A-Z][a-z]{3,10} [A-Z][a-z]{3,10}",
                                             form in proptest::sample::select(vec!["GmbH", "AG", "Ltd.", "Limited", "Inc.", "B.V.", "S.A.", "Sp. z o.o.", "GmbH & Co. KG", "SARL", "LLC", "Oy"])) {
            prop_assert_eq!(key(&format!("{stem} {form}")), key(&stem));
        }

        #[test]
        fn a_legal_form_as_people_type_it_never_matters(
            stem in "[A-Z][a-z]{3,10} [A-Z][a-z]{3,10}",
            form in proptest::sample::select(TYPED_FORMS.to_vec()),
            dots in 0u8..4,
            case in 0u8..4,
            blanks in 0u8..4,
        ) {
            prop_assume!(key(&stem).split(' ').count() == 2);
            let typed = with_blanks(&with_case(&format!("{stem} {}", with_dots(form, dots)), case), blanks);
            prop_assert_eq!(key(&typed), key(&stem), "{:?}", typed);
        }

        #[test]
        fn a_legal_form_written_out_or_abbreviated_never_matters(
            stem in "[A-Z][a-z]{3,10} [A-Z][a-z]{3,10}",
            (long, short) in proptest::sample::select(SYNONYMS.to_vec()),
        ) {
            prop_assert_eq!(key(&format!("{stem} {long}")), key(&format!("{stem} {short}")));
        }

        #[test]
        fn folding_never_panics_and_is_ascii_for_latin(text in "\\PC{0,60}") {
            let _ = fold(&text, UmlautFolding::Expand);
            let _ = parse_address_line(&text);
            let _ = normalize_postal_code(&text);
        }
    }
}
