//! Property-based fuzzing of every parser of what ECC sends, and of the WHERE-clause writer
//! whose output is ABAP: whatever comes in, a clear error or a value, never a panic or a hang.
//!
//! The case budget comes from `MLC_FUZZ_CASES` (default 256, what CI runs); a long run:
//! `MLC_FUZZ_CASES=100000 cargo test -p mlc-ecc --release --test fuzz`. A failing case that
//! proptest finds is kept under `tests/fuzz.proptest-regressions` and replayed first.

use mlc_ecc::agent::allow::AllowList;
use mlc_ecc::odata::json::{parse_collection, parse_date, parse_error};
use mlc_ecc::rfc::soap::parse_response;
use mlc_ecc::rfc::where_clause::{Condition, Op, MAX_LINE};
use mlc_ecc::rfc::RfcCall;
use proptest::prelude::*;

fn cases() -> u32 {
    std::env::var("MLC_FUZZ_CASES")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(256)
}

const SOAP_REPLY: &str = r#"<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/"><SOAP-ENV:Body><rfc:RFC_READ_TABLE.Response xmlns:rfc="urn:sap-com:document:sap:rfc:functions"><DATA><item><WA>0000004711|Müller &amp; Co</WA></item><item><WA>0000004712|X</WA></item></DATA><FIELDS><item><FIELDNAME>KUNNR</FIELDNAME><OFFSET>000000</OFFSET><LENGTH>000010</LENGTH></item></FIELDS></rfc:RFC_READ_TABLE.Response></SOAP-ENV:Body></SOAP-ENV:Envelope>"#;

const ODATA_PAGE: &str = r#"{"d":{"results":[{"Kunnr":"0000004711","Name1":"Müller","Erdat":"/Date(1700000000000)/","ToContacts":{"results":[{"Parnr":"0000012345"}]}}],"__count":"91","__next":"https://ecc/sap/opu/odata/sap/Z_SRV/CustomerSet?$skiptoken=100"}}"#;

/// A document and an edit of it: cut at a point, a span replaced by arbitrary text.
fn mutated(document: &'static str) -> impl Strategy<Value = String> {
    (0..=document.len(), 0usize..40, ".{0,40}").prop_map(move |(cut, span, insert)| {
        let mut at = cut.min(document.len());
        while !document.is_char_boundary(at) {
            at -= 1;
        }
        let mut end = (at + span).min(document.len());
        while !document.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}{insert}{}", &document[..at], &document[end..])
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn the_soap_reader_never_panics_on_arbitrary_text(xml in ".{0,400}") {
        let _ = parse_response("RFC_READ_TABLE", &xml);
    }

    #[test]
    fn the_soap_reader_never_panics_on_a_damaged_reply(xml in mutated(SOAP_REPLY)) {
        let _ = parse_response("RFC_READ_TABLE", &xml);
    }

    #[test]
    fn the_soap_reader_refuses_deep_nesting_instead_of_overflowing_the_stack(depth in 40usize..200_000) {
        let xml = format!(
            "<Envelope><Body>{}{}</Body></Envelope>",
            "<a>".repeat(depth),
            "</a>".repeat(depth)
        );
        let error = parse_response("RFC_READ_TABLE", &xml).expect_err("refused");
        prop_assert!(error.to_string().contains("nested"), "{}", error);
    }

    #[test]
    fn the_odata_reader_never_panics_on_arbitrary_text(body in ".{0,400}") {
        let _ = parse_collection("CustomerSet", &body);
        let _ = parse_error(&body);
    }

    #[test]
    fn the_odata_reader_never_panics_on_a_damaged_page(body in mutated(ODATA_PAGE)) {
        let _ = parse_collection("CustomerSet", &body);
        let _ = parse_error(&body);
    }

    #[test]
    fn odata_dates_never_panic(text in "(/Date\\()?-?[0-9]{0,25}([+-][0-9]{0,6})?(\\)/)?|.{0,30}") {
        let _ = parse_date(&text);
    }

    /// The agent's allow-list judges anything a connector (or an attacker holding its token)
    /// sends: no panic, and what passes is a plain read of an allowed table.
    #[test]
    fn the_allow_list_never_panics_and_passes_only_plain_reads(
        table in "KNA1|USR02|[A-Z0-9~/]{1,8}",
        lines in proptest::collection::vec("[A-Z0-9 '()=<>~,@-]{0,72}", 0..4),
        path in "/sap/opu/odata/[a-zA-Z0-9%./?=&$-]{0,60}",
    ) {
        let allow = AllowList::default();
        let call = RfcCall::new("RFC_READ_TABLE").import("QUERY_TABLE", table.clone()).table(
            "OPTIONS",
            lines.iter().map(|line| vec![("TEXT".to_string(), line.clone())]).collect(),
        );
        if allow.check_rfc(&call).is_ok() {
            prop_assert!(table == "KNA1");
            for line in &lines {
                let outside_literals: String = line.split('\'').step_by(2).collect();
                prop_assert!(!outside_literals.contains('~') && !outside_literals.contains('@'), "{:?}", line);
                prop_assert!(!outside_literals.contains("SELECT"), "{:?}", line);
            }
        }
        if allow.check_odata(&path).is_ok() {
            let path_only = path.split('?').next().unwrap_or_default();
            let decoded = percent_encoding::percent_decode_str(path_only).decode_utf8_lossy().to_string();
            prop_assert!(!decoded.split('/').any(|segment| segment == ".."), "{}", path);
        }
    }

    /// The WHERE clause is ABAP source: every value is one literal that reads back as itself,
    /// and no line is longer than RFC_READ_TABLE takes.
    #[test]
    fn a_where_value_is_one_literal_that_reads_back_as_itself(
        value in ".{0,80}",
        others in proptest::collection::vec("[^\\p{Cc}]{0,12}", 1..8),
    ) {
        let compare = Condition::compare("NAME1", Op::Eq, value.clone());
        let listed = Condition::all(vec![
            Condition::compare("KUNNR", Op::Gt, value.clone()),
            Condition::is_in("LAND1", others.clone()),
        ]);
        for condition in [compare, listed] {
            let Ok(lines) = condition.to_lines() else {
                // Refused: a control character, or a literal longer than a line.
                let literal_chars = 2 + value.chars().count() + value.matches('\'').count();
                prop_assert!(
                    value.chars().any(char::is_control) || literal_chars > MAX_LINE,
                    "refused a plain value {:?}", value
                );
                continue;
            };
            for line in &lines {
                prop_assert!(line.chars().count() <= MAX_LINE, "{:?}", line);
            }
            let tokens = abap_tokens(&lines).map_err(TestCaseError::fail)?;
            let literals: Vec<&String> = tokens.iter().filter_map(|token| match token {
                Token::Literal(text) => Some(text),
                Token::Word(_) => None,
            }).collect();
            prop_assert_eq!(literals[0], &value);
            // Outside literals only field names, operators, parentheses and commas.
            for token in &tokens {
                if let Token::Word(word) = token {
                    prop_assert!(
                        ["NAME1", "KUNNR", "LAND1", "EQ", "GT", "IN", "AND", "(", ")", ","]
                            .contains(&word.as_str()),
                        "unexpected ABAP outside a literal: {:?} in {:?}", word, lines
                    );
                }
            }
        }
    }
}

#[derive(Debug)]
enum Token {
    Word(String),
    Literal(String),
}

/// Reads OPTIONS lines as ABAP does: a literal runs from `'` to the next single `'` (a doubled
/// quote is one quote) and never spans lines; words are separated by blanks, with `(`, `)` and
/// `,` standing alone.
fn abap_tokens(lines: &[String]) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    for line in lines {
        let mut chars = line.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                ' ' => {}
                '(' | ')' | ',' => tokens.push(Token::Word(c.to_string())),
                '\'' => {
                    let mut text = String::new();
                    loop {
                        match chars.next() {
                            Some('\'') if chars.peek() == Some(&'\'') => {
                                chars.next();
                                text.push('\'');
                            }
                            Some('\'') => break,
                            Some(other) => text.push(other),
                            None => return Err(format!("a literal spans lines: {line:?}")),
                        }
                    }
                    tokens.push(Token::Literal(text));
                }
                _ => {
                    let mut word = c.to_string();
                    while let Some(next) = chars.peek() {
                        if matches!(next, ' ' | '(' | ')' | ',' | '\'') {
                            break;
                        }
                        word.push(*next);
                        chars.next();
                    }
                    tokens.push(Token::Word(word));
                }
            }
        }
    }
    Ok(tokens)
}
