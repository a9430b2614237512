//! The WHERE subset RFC_READ_TABLE accepts in its OPTIONS table: comparisons (=, EQ, <>, NE,
//! <, LT, >, GT, <=, LE, >=, GE), LIKE with % and _, IN ( ... ), BETWEEN, IS NULL, AND, OR,
//! NOT and parentheses, with literals in single quotes where '' stands for a quote.
//!
//! OPTIONS lines are tokenized one by one and their tokens joined: a literal or a word may not
//! continue on the next line, as in ABAP's dynamic WHERE. A line over 72 characters, an unknown
//! field or a syntax error is refused; the caller turns that into OPTION_NOT_VALID.

use crate::schema::{FieldType, TableDef};

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Literal(String),
    Operator(&'static str),
    Open,
    Close,
    Comma,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Comparison {
    Eq,
    Ne,
    Lt,
    Gt,
    Le,
    Ge,
}

/// A parsed condition; literals are held converted to their column's type (`literal_value`),
/// IN lists sorted.
#[derive(Debug, Clone)]
pub enum Condition {
    Compare {
        field: usize,
        op: Comparison,
        value: String,
    },
    Like {
        field: usize,
        pattern: Vec<char>,
        negated: bool,
    },
    In {
        field: usize,
        values: Vec<String>,
        negated: bool,
    },
    Between {
        field: usize,
        low: String,
        high: String,
        negated: bool,
    },
    IsNull {
        negated: bool,
    },
    And(Box<Condition>, Box<Condition>),
    Or(Box<Condition>, Box<Condition>),
    Not(Box<Condition>),
}

/// A parsed WHERE clause over one table; field references are indices into the table's fields.
#[derive(Debug, Clone)]
pub struct WhereClause {
    pub condition: Option<Condition>,
}

pub const MAX_LINE_LENGTH: usize = 72;

pub fn parse(table: &'static TableDef, lines: &[String]) -> Result<WhereClause, String> {
    let mut tokens = Vec::new();
    for (number, line) in lines.iter().enumerate() {
        let length = line.chars().count();
        if length > MAX_LINE_LENGTH {
            return Err(format!(
                "OPTIONS line {} has {length} characters, more than {MAX_LINE_LENGTH}",
                number + 1
            ));
        }
        tokenize(line, &mut tokens)
            .map_err(|error| format!("OPTIONS line {}: {error}", number + 1))?;
    }
    let mut parser = Parser {
        tokens,
        position: 0,
        table,
    };
    if parser.tokens.is_empty() {
        return Ok(WhereClause { condition: None });
    }
    let condition = parser.or_expression()?;
    if parser.position != parser.tokens.len() {
        return Err(format!(
            "unexpected {:?} after the condition",
            parser.tokens[parser.position]
        ));
    }
    Ok(WhereClause {
        condition: Some(condition),
    })
}

/// Open SQL's dynamic WHERE wants blanks (or the line's start or end) around operators and
/// parentheses: `LAND1='FR'` and `('DE')` are OPTION_NOT_VALID on ECC.
fn spaced(characters: &[char], start: usize, width: usize) -> Result<(), String> {
    let blank = |position: Option<&char>| position.is_none_or(|c| c.is_whitespace());
    let before = start.checked_sub(1).and_then(|index| characters.get(index));
    if blank(before) && blank(characters.get(start + width)) {
        return Ok(());
    }
    let token: String = characters[start..start + width].iter().collect();
    Err(format!(
        "`{token}` needs a blank on both sides in {:?}",
        characters.iter().collect::<String>()
    ))
}

fn tokenize(line: &str, tokens: &mut Vec<Token>) -> Result<(), String> {
    let characters: Vec<char> = line.chars().collect();
    let mut index = 0;
    while index < characters.len() {
        let character = characters[index];
        match character {
            ' ' | '\t' => index += 1,
            '\'' => {
                let mut literal = String::new();
                index += 1;
                loop {
                    match characters.get(index) {
                        None => return Err("literal not closed on its line".into()),
                        Some('\'') if characters.get(index + 1) == Some(&'\'') => {
                            literal.push('\'');
                            index += 2;
                        }
                        Some('\'') => {
                            index += 1;
                            break;
                        }
                        Some(other) => {
                            literal.push(*other);
                            index += 1;
                        }
                    }
                }
                tokens.push(Token::Literal(literal));
            }
            '(' => {
                spaced(&characters, index, 1)?;
                tokens.push(Token::Open);
                index += 1;
            }
            ')' => {
                spaced(&characters, index, 1)?;
                tokens.push(Token::Close);
                index += 1;
            }
            ',' => {
                tokens.push(Token::Comma);
                index += 1;
            }
            '=' => {
                spaced(&characters, index, 1)?;
                tokens.push(Token::Operator("EQ"));
                index += 1;
            }
            '<' | '>' => {
                let next = characters.get(index + 1).copied();
                let (operator, width) = match (character, next) {
                    ('<', Some('>')) => ("NE", 2),
                    ('<', Some('=')) => ("LE", 2),
                    ('>', Some('=')) => ("GE", 2),
                    ('<', _) => ("LT", 1),
                    _ => ("GT", 1),
                };
                spaced(&characters, index, width)?;
                tokens.push(Token::Operator(operator));
                index += width;
            }
            c if c.is_alphanumeric() || c == '_' || c == '/' || c == '-' || c == '~' => {
                let start = index;
                while index < characters.len() {
                    let c = characters[index];
                    if c.is_alphanumeric() || c == '_' || c == '/' || c == '-' || c == '~' {
                        index += 1;
                    } else {
                        break;
                    }
                }
                let word: String = characters[start..index]
                    .iter()
                    .collect::<String>()
                    .to_uppercase();
                tokens.push(match word.as_str() {
                    "EQ" | "NE" | "LT" | "GT" | "LE" | "GE" => {
                        Token::Operator(match word.as_str() {
                            "EQ" => "EQ",
                            "NE" => "NE",
                            "LT" => "LT",
                            "GT" => "GT",
                            "LE" => "LE",
                            _ => "GE",
                        })
                    }
                    _ => Token::Word(word),
                });
            }
            other => return Err(format!("unexpected character {other:?}")),
        }
    }
    Ok(())
}

struct Parser {
    tokens: Vec<Token>,
    position: usize,
    table: &'static TableDef,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.position)
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.position).cloned();
        self.position += 1;
        token
    }

    fn is_keyword(&self, keyword: &str) -> bool {
        matches!(self.peek(), Some(Token::Word(word)) if word == keyword)
    }

    fn expect_keyword(&mut self, keyword: &str) -> Result<(), String> {
        if self.is_keyword(keyword) {
            self.position += 1;
            Ok(())
        } else {
            Err(format!("expected {keyword}, found {:?}", self.peek()))
        }
    }

    fn or_expression(&mut self) -> Result<Condition, String> {
        let mut left = self.and_expression()?;
        while self.is_keyword("OR") {
            self.position += 1;
            let right = self.and_expression()?;
            left = Condition::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and_expression(&mut self) -> Result<Condition, String> {
        let mut left = self.not_expression()?;
        while self.is_keyword("AND") {
            self.position += 1;
            let right = self.not_expression()?;
            left = Condition::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn not_expression(&mut self) -> Result<Condition, String> {
        if self.is_keyword("NOT") {
            self.position += 1;
            return Ok(Condition::Not(Box::new(self.not_expression()?)));
        }
        if self.peek() == Some(&Token::Open) {
            self.position += 1;
            let inner = self.or_expression()?;
            if self.next() != Some(Token::Close) {
                return Err("missing )".into());
            }
            return Ok(inner);
        }
        self.condition()
    }

    fn literal(&mut self) -> Result<String, String> {
        match self.next() {
            Some(Token::Literal(value)) => Ok(value),
            Some(Token::Word(word)) if word.chars().all(|c| c.is_ascii_digit()) => Ok(word),
            other => Err(format!("expected a literal, found {other:?}")),
        }
    }

    fn field(&mut self) -> Result<usize, String> {
        match self.next() {
            Some(Token::Word(word)) => {
                let name = word.rsplit('~').next().unwrap_or(&word).to_string();
                let position = self
                    .table
                    .fields
                    .iter()
                    .position(|field| field.name == name)
                    .ok_or_else(|| format!("unknown field {name} in table {}", self.table.name))?;
                Ok(position)
            }
            other => Err(format!("expected a field name, found {other:?}")),
        }
    }

    fn condition(&mut self) -> Result<Condition, String> {
        let field = self.field()?;
        let negated = if self.is_keyword("NOT") {
            self.position += 1;
            true
        } else {
            false
        };
        match self.next() {
            Some(Token::Operator(operator)) if !negated => {
                let op = match operator {
                    "EQ" => Comparison::Eq,
                    "NE" => Comparison::Ne,
                    "LT" => Comparison::Lt,
                    "GT" => Comparison::Gt,
                    "LE" => Comparison::Le,
                    _ => Comparison::Ge,
                };
                let value = literal_value(self.table, field, &self.literal()?);
                Ok(Condition::Compare { field, op, value })
            }
            Some(Token::Word(word)) if word == "LIKE" => {
                let pattern = self.literal()?.chars().collect();
                Ok(Condition::Like {
                    field,
                    pattern,
                    negated,
                })
            }
            Some(Token::Word(word)) if word == "IN" => {
                if self.next() != Some(Token::Open) {
                    return Err("expected ( after IN".into());
                }
                let mut values = vec![self.literal()?];
                loop {
                    match self.next() {
                        Some(Token::Comma) => values.push(self.literal()?),
                        Some(Token::Close) => break,
                        other => {
                            return Err(format!("expected , or ) in IN list, found {other:?}"))
                        }
                    }
                }
                let mut values: Vec<String> = values
                    .iter()
                    .map(|value| literal_value(self.table, field, value))
                    .collect();
                values.sort();
                values.dedup();
                Ok(Condition::In {
                    field,
                    values,
                    negated,
                })
            }
            Some(Token::Word(word)) if word == "BETWEEN" => {
                let low = literal_value(self.table, field, &self.literal()?);
                self.expect_keyword("AND")?;
                let high = literal_value(self.table, field, &self.literal()?);
                Ok(Condition::Between {
                    field,
                    low,
                    high,
                    negated,
                })
            }
            Some(Token::Word(word)) if word == "IS" && !negated => {
                let negated = if self.is_keyword("NOT") {
                    self.position += 1;
                    true
                } else {
                    false
                };
                self.expect_keyword("NULL")?;
                Ok(Condition::IsNull { negated })
            }
            other => Err(format!(
                "expected an operator after {}, found {other:?}",
                self.table.fields[field].name
            )),
        }
    }
}

/// The value as the database compares it: CHAR without trailing blanks, NUMC/DATS/TIMS padded.
pub fn normalize(field_type: FieldType, length: usize, value: &str) -> String {
    match field_type {
        FieldType::Char => value.trim_end_matches(' ').to_string(),
        // Compared as numbers: fixed decimals, zero-padded, so text order is numeric order for
        // the non-negative values the simulator holds.
        FieldType::Packed(_) => format!("{:020.6}", value.trim().parse::<f64>().unwrap_or(0.0)),
        _ => {
            let mut padded = String::with_capacity(length);
            crate::schema::FieldDef {
                name: "",
                field_type,
                length,
                key: false,
                text: "",
            }
            .pad(value, &mut padded);
            padded
        }
    }
}

/// Inclusive bounds a clause puts on one field, as far as its top-level ANDs tell.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KeyBounds {
    pub low: Option<String>,
    pub high: Option<String>,
}

impl KeyBounds {
    fn raise_low(&mut self, value: String) {
        if self.low.as_ref().is_none_or(|low| value > *low) {
            self.low = Some(value);
        }
    }

    fn lower_high(&mut self, value: String) {
        if self.high.as_ref().is_none_or(|high| value < *high) {
            self.high = Some(value);
        }
    }
}

impl WhereClause {
    /// Bounds on `field` implied by the clause (a superset of the matching rows: `>` is taken
    /// as `>=`, an OR as the hull of its sides), or `None` when it does not restrict the field. Used to read only the
    /// candidate rows of a large table, as a database would through its primary index.
    /// The only values `field` can take in a matching row, when the clause lists them (EQ or IN
    /// under ANDs, ORs of such lists); `None` otherwise.
    pub fn exact_values(&self, table: &TableDef, field: &str) -> Option<Vec<String>> {
        let position = table
            .fields
            .iter()
            .position(|definition| definition.name == field)?;
        exact_values_of(self.condition.as_ref()?, position)
    }

    pub fn bounds(&self, table: &TableDef, field: &str) -> Option<KeyBounds> {
        let position = table
            .fields
            .iter()
            .position(|definition| definition.name == field)?;
        let bounds = bounds_of(self.condition.as_ref()?, position);
        (bounds.low.is_some() || bounds.high.is_some()).then_some(bounds)
    }

    /// Evaluates the clause against a row; `value(i)` gives the value of the table's field i.
    pub fn matches(&self, table: &TableDef, value: &mut dyn FnMut(usize) -> String) -> bool {
        match &self.condition {
            None => true,
            Some(condition) => evaluate(condition, table, value),
        }
    }
}

fn exact_values_of(condition: &Condition, position: usize) -> Option<Vec<String>> {
    match condition {
        Condition::And(left, right) => {
            exact_values_of(left, position).or_else(|| exact_values_of(right, position))
        }
        Condition::Or(left, right) => {
            let mut values = exact_values_of(left, position)?;
            values.extend(exact_values_of(right, position)?);
            values.sort();
            values.dedup();
            Some(values)
        }
        Condition::Compare {
            field,
            op: Comparison::Eq,
            value,
        } if *field == position => Some(vec![value.clone()]),
        Condition::In {
            field,
            values,
            negated: false,
        } if *field == position => Some(values.clone()),
        _ => None,
    }
}

/// Bounds on one field implied by a condition: ANDs intersect, ORs take the hull of both sides
/// (unbounded when either side is), anything else leaves the field unbounded.
fn bounds_of(condition: &Condition, position: usize) -> KeyBounds {
    let mut bounds = KeyBounds::default();
    match condition {
        Condition::And(left, right) => {
            let (left, right) = (bounds_of(left, position), bounds_of(right, position));
            for low in [left.low, right.low].into_iter().flatten() {
                bounds.raise_low(low);
            }
            for high in [left.high, right.high].into_iter().flatten() {
                bounds.lower_high(high);
            }
        }
        Condition::Or(left, right) => {
            let (left, right) = (bounds_of(left, position), bounds_of(right, position));
            bounds.low = left.low.zip(right.low).map(|(a, b)| a.min(b));
            bounds.high = left.high.zip(right.high).map(|(a, b)| a.max(b));
        }
        Condition::Compare { field, op, value } if *field == position => {
            let value = value.clone();
            match op {
                Comparison::Eq => {
                    bounds.raise_low(value.clone());
                    bounds.lower_high(value);
                }
                Comparison::Gt | Comparison::Ge => bounds.raise_low(value),
                Comparison::Lt | Comparison::Le => bounds.lower_high(value),
                Comparison::Ne => {}
            }
        }
        Condition::Between {
            field,
            low,
            high,
            negated: false,
        } if *field == position => {
            bounds.raise_low(low.clone());
            bounds.lower_high(high.clone());
        }
        Condition::In {
            field,
            values,
            negated: false,
        } if *field == position && !values.is_empty() => {
            if let (Some(low), Some(high)) = (values.first(), values.last()) {
                bounds.raise_low(low.clone());
                bounds.lower_high(high.clone());
            }
        }
        _ => {}
    }
    bounds
}

fn field_value(table: &TableDef, field: usize, value: &mut dyn FnMut(usize) -> String) -> String {
    let definition = &table.fields[field];
    normalize(definition.field_type, definition.length, &value(field))
}

fn literal_value(table: &TableDef, field: usize, literal: &str) -> String {
    let definition = &table.fields[field];
    match definition.field_type {
        FieldType::Char => literal.trim_end_matches(' ').to_string(),
        FieldType::Packed(_) => normalize(definition.field_type, definition.length, literal),
        // Open SQL converts the literal to the column's type: '42' on a NUMC 10 is '0000000042'.
        _ if literal.trim().chars().all(|c| c.is_ascii_digit()) => {
            normalize(definition.field_type, definition.length, literal)
        }
        _ => literal.to_string(),
    }
}

fn evaluate(
    condition: &Condition,
    table: &TableDef,
    value: &mut dyn FnMut(usize) -> String,
) -> bool {
    match condition {
        Condition::And(left, right) => {
            evaluate(left, table, value) && evaluate(right, table, value)
        }
        Condition::Or(left, right) => evaluate(left, table, value) || evaluate(right, table, value),
        Condition::Not(inner) => !evaluate(inner, table, value),
        Condition::IsNull { negated } => *negated,
        Condition::Compare {
            field,
            op,
            value: literal,
        } => {
            let actual = field_value(table, *field, value);
            let ordering = actual.as_str().cmp(literal.as_str());
            match op {
                Comparison::Eq => ordering.is_eq(),
                Comparison::Ne => ordering.is_ne(),
                Comparison::Lt => ordering.is_lt(),
                Comparison::Gt => ordering.is_gt(),
                Comparison::Le => ordering.is_le(),
                Comparison::Ge => ordering.is_ge(),
            }
        }
        Condition::Like {
            field,
            pattern,
            negated,
        } => {
            let actual: Vec<char> = field_value(table, *field, value).chars().collect();
            like(&actual, pattern) != *negated
        }
        Condition::In {
            field,
            values,
            negated,
        } => {
            let actual = field_value(table, *field, value);
            values.binary_search(&actual).is_ok() != *negated
        }
        Condition::Between {
            field,
            low,
            high,
            negated,
        } => {
            let actual = field_value(table, *field, value);
            (actual >= *low && actual <= *high) != *negated
        }
    }
}

/// SQL LIKE: % any sequence, _ one character. Trailing blanks of the pattern are ignored, as
/// for CHAR comparisons.
fn like(value: &[char], pattern: &[char]) -> bool {
    let mut pattern_end = pattern.len();
    while pattern_end > 0 && pattern[pattern_end - 1] == ' ' {
        pattern_end -= 1;
    }
    let pattern = &pattern[..pattern_end];
    let (mut v, mut p) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while v < value.len() {
        if p < pattern.len() && (pattern[p] == '_' || pattern[p] == value[v]) {
            v += 1;
            p += 1;
        } else if p < pattern.len() && pattern[p] == '%' {
            star = Some((p, v));
            p += 1;
        } else if let Some((star_p, star_v)) = star {
            p = star_p + 1;
            v = star_v + 1;
            star = Some((star_p, star_v + 1));
        } else {
            return false;
        }
    }
    while p < pattern.len() && pattern[p] == '%' {
        p += 1;
    }
    p == pattern.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::KNA1;
    use proptest::prelude::*;

    fn lines(text: &[&str]) -> Vec<String> {
        text.iter().map(|line| line.to_string()).collect()
    }

    fn row(name: &str, country: &str, kunnr: &str) -> impl FnMut(usize) -> String {
        let (name, country, kunnr) = (name.to_string(), country.to_string(), kunnr.to_string());
        move |field| match KNA1.fields[field].name {
            "NAME1" => name.clone(),
            "LAND1" => country.clone(),
            "KUNNR" => kunnr.clone(),
            _ => String::new(),
        }
    }

    fn check(clause: &[&str], name: &str, country: &str) -> bool {
        parse(&KNA1, &lines(clause))
            .unwrap()
            .matches(&KNA1, &mut row(name, country, "0000100001"))
    }

    #[test]
    fn quotes_in_literals_are_doubled() {
        assert!(check(&["NAME1 = 'O''Brien Ltd.'"], "O'Brien Ltd.", "GB"));
        assert!(!check(&["NAME1 = 'O''Brien'"], "O'Brien Ltd.", "GB"));
    }

    #[test]
    fn in_between_like_and_not_work() {
        assert!(check(&["LAND1 IN ( 'DE', 'AT' )"], "X", "AT"));
        assert!(check(&["LAND1 NOT IN ( 'DE' , 'AT' )"], "X", "FR"));
        assert!(check(
            &["KUNNR BETWEEN '0000100000' AND '0000100005'"],
            "X",
            "DE"
        ));
        assert!(check(&["NAME1 LIKE 'M_ller%'"], "Müller GmbH", "DE"));
        assert!(!check(&["NOT NAME1 LIKE '%GmbH'"], "Müller GmbH", "DE"));
        assert!(check(
            &["( LAND1 EQ 'DE' OR LAND1 EQ 'AT' )", "AND NAME1 <> ' '"],
            "A",
            "DE"
        ));
        assert!(check(&["LOEVM EQ ' '"], "A", "DE"));
    }

    #[test]
    fn errors_are_refused() {
        assert!(parse(&KNA1, &lines(&[&format!("NAME1 = '{}'", "x".repeat(70))])).is_err());
        assert!(parse(&KNA1, &lines(&["NOSUCHFIELD = 'A'"])).is_err());
        assert!(parse(&KNA1, &lines(&["NAME1 = 'A"])).is_err());
        assert!(parse(&KNA1, &lines(&["NAME1 = 'split", "literal'"])).is_err());
        assert!(parse(&KNA1, &lines(&["NAME1 = 'A' AND"])).is_err());
        assert!(parse(&KNA1, &lines(&["NAME1 'A'"])).is_err());
    }

    #[test]
    fn bounds_follow_ands_and_ors() {
        let clause = parse(
            &KNA1,
            &lines(&[
                "KUNNR GE '0000100010' AND KUNNR LT '0000100020'",
                "AND LAND1 = 'DE'",
            ]),
        )
        .unwrap();
        let bounds = clause.bounds(&KNA1, "KUNNR").unwrap();
        assert_eq!(bounds.low.as_deref(), Some("0000100010"));
        assert_eq!(bounds.high.as_deref(), Some("0000100020"));
        let clause = parse(&KNA1, &lines(&["KUNNR IN ( '0000100005', '0000100001' )"])).unwrap();
        assert_eq!(
            clause.bounds(&KNA1, "KUNNR").unwrap().low.as_deref(),
            Some("0000100001")
        );
        let clause = parse(&KNA1, &lines(&["KUNNR = '0000100001' OR LAND1 = 'DE'"])).unwrap();
        assert!(clause.bounds(&KNA1, "KUNNR").is_none());
        let paging = [
            "( KUNNR GT '0000100010' OR ( KUNNR EQ '0000100010'",
            "AND LAND1 GT 'DE' ) ) AND KUNNR LE '0000100020'",
        ];
        let bounds = parse(&KNA1, &lines(&paging))
            .unwrap()
            .bounds(&KNA1, "KUNNR")
            .unwrap();
        assert_eq!(bounds.low.as_deref(), Some("0000100010"));
        assert_eq!(bounds.high.as_deref(), Some("0000100020"));
    }

    proptest! {
        #[test]
        fn any_quoted_literal_round_trips(text in "[ -~äöüß]{0,30}") {
            let quoted = text.trim_end().replace('\'', "''");
            let clause = format!("NAME1 = '{quoted}'");
            prop_assume!(clause.chars().count() <= 72);
            let parsed = parse(&KNA1, &[clause]).unwrap();
            prop_assert!(parsed.matches(&KNA1, &mut row(text.trim_end(), "DE", "1")));
        }

        #[test]
        fn like_percent_matches_every_prefix(text in "[a-z]{0,12}", cut in 0usize..12) {
            let cut = cut.min(text.len());
            let pattern: Vec<char> = format!("{}%", &text[..cut]).chars().collect();
            let value: Vec<char> = text.chars().collect();
            prop_assert!(like(&value, &pattern));
        }
    }
}
