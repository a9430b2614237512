//! The WHERE clause of RFC_READ_TABLE (its OPTIONS table), which is ABAP source: built from
//! typed conditions, never from string concatenation of values. Every value becomes one ABAP
//! literal with its quotes doubled, and the clause is cut into lines of at most 72 characters at
//! token boundaries (a literal is never split), so no customer number or name can change the
//! clause's meaning.

use crate::error::EccError;

/// The longest OPTIONS line RFC_READ_TABLE takes (RFC_DB_OPT-TEXT is CHAR 72).
pub const MAX_LINE: usize = 72;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

impl Op {
    fn token(self) -> &'static str {
        match self {
            Op::Eq => "EQ",
            Op::Ne => "NE",
            Op::Gt => "GT",
            Op::Ge => "GE",
            Op::Lt => "LT",
            Op::Le => "LE",
        }
    }
}

/// A typed condition on table fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    Compare {
        field: String,
        op: Op,
        value: String,
    },
    In {
        field: String,
        values: Vec<String>,
    },
    And(Vec<Condition>),
    Or(Vec<Condition>),
}

impl Condition {
    pub fn compare(field: &str, op: Op, value: impl Into<String>) -> Self {
        Condition::Compare {
            field: field.to_string(),
            op,
            value: value.into(),
        }
    }

    pub fn eq(field: &str, value: impl Into<String>) -> Self {
        Condition::compare(field, Op::Eq, value)
    }

    pub fn is_in(field: &str, values: impl IntoIterator<Item = impl Into<String>>) -> Self {
        Condition::In {
            field: field.to_string(),
            values: values.into_iter().map(Into::into).collect(),
        }
    }

    /// All of `conditions`; an empty list is "no restriction".
    pub fn all(conditions: Vec<Condition>) -> Self {
        Condition::And(conditions)
    }

    /// The rows whose compound key `(k1, k2, ...)` sorts after `last`:
    /// `k1 GT v1 OR ( k1 EQ v1 AND ( k2 GT v2 OR ... ) )`.
    pub fn key_after(keys: &[&str], last: &[String]) -> Self {
        Self::key_bound(keys, last, Op::Gt)
    }

    /// The rows whose compound key sorts at or before `max`.
    pub fn key_at_most(keys: &[&str], max: &[String]) -> Self {
        Self::key_bound(keys, max, Op::Lt)
    }

    fn key_bound(keys: &[&str], values: &[String], strict: Op) -> Self {
        debug_assert_eq!(keys.len(), values.len());
        let last_index = keys.len().saturating_sub(1);
        let final_op = if strict == Op::Gt { Op::Gt } else { Op::Le };
        let mut condition =
            Condition::compare(keys[last_index], final_op, values[last_index].clone());
        for index in (0..last_index).rev() {
            condition = Condition::Or(vec![
                Condition::compare(keys[index], strict, values[index].clone()),
                Condition::And(vec![
                    Condition::eq(keys[index], values[index].clone()),
                    condition,
                ]),
            ]);
        }
        condition
    }

    /// The clause as ABAP tokens, each literal quoted and escaped.
    pub fn tokens(&self) -> Result<Vec<String>, EccError> {
        let mut tokens = Vec::new();
        self.push_tokens(&mut tokens)?;
        Ok(tokens)
    }

    fn push_tokens(&self, tokens: &mut Vec<String>) -> Result<(), EccError> {
        match self {
            Condition::Compare { field, op, value } => {
                tokens.push(field_name(field)?);
                tokens.push(op.token().to_string());
                tokens.push(literal(value)?);
            }
            Condition::In { field, values } => {
                if values.is_empty() {
                    // `IN ()` is not ABAP; an empty list matches nothing, which `field NE field`
                    // cannot express either, so the caller must not ask.
                    return Err(EccError::Config(format!(
                        "an empty IN list on field {field} (internal: nothing to read)"
                    )));
                }
                tokens.push(field_name(field)?);
                tokens.push("IN".to_string());
                tokens.push("(".to_string());
                for (index, value) in values.iter().enumerate() {
                    let mut token = literal(value)?;
                    if index + 1 < values.len() {
                        token.push(',');
                    }
                    tokens.push(token);
                }
                tokens.push(")".to_string());
            }
            Condition::And(parts) | Condition::Or(parts) => {
                let joiner = if matches!(self, Condition::And(_)) {
                    "AND"
                } else {
                    "OR"
                };
                let parts: Vec<&Condition> = parts.iter().filter(|part| !part.is_empty()).collect();
                let wrap = parts.len() > 1;
                if wrap {
                    tokens.push("(".to_string());
                }
                for (index, part) in parts.iter().enumerate() {
                    if index > 0 {
                        tokens.push(joiner.to_string());
                    }
                    part.push_tokens(tokens)?;
                }
                if wrap {
                    tokens.push(")".to_string());
                }
            }
        }
        Ok(())
    }

    /// An `And`/`Or` without parts restricts nothing.
    pub fn is_empty(&self) -> bool {
        match self {
            Condition::And(parts) | Condition::Or(parts) => parts.iter().all(Condition::is_empty),
            _ => false,
        }
    }

    /// The OPTIONS lines: tokens joined by spaces, cut at token boundaries so that no line is
    /// longer than 72 characters.
    pub fn to_lines(&self) -> Result<Vec<String>, EccError> {
        split_lines(&self.tokens()?)
    }
}

/// Packs tokens into lines of at most [`MAX_LINE`] characters.
pub fn split_lines(tokens: &[String]) -> Result<Vec<String>, EccError> {
    let mut lines = Vec::new();
    let mut line = String::new();
    let mut line_chars = 0;
    for token in tokens {
        let token_chars = token.chars().count();
        if token_chars > MAX_LINE {
            return Err(EccError::Config(format!(
                "a value in the WHERE clause is longer than {MAX_LINE} characters: {token}"
            )));
        }
        let needed = if line.is_empty() {
            token_chars
        } else {
            line_chars + 1 + token_chars
        };
        if needed > MAX_LINE {
            lines.push(std::mem::take(&mut line));
            line_chars = 0;
        }
        if !line.is_empty() {
            line.push(' ');
            line_chars += 1;
        }
        line.push_str(token);
        line_chars += token_chars;
    }
    if !line.is_empty() {
        lines.push(line);
    }
    Ok(lines)
}

/// An ABAP character literal: in quotes, each quote inside doubled. Control characters are
/// refused: no key or filter value ECC holds needs them, and a line break would end the line.
pub fn literal(value: &str) -> Result<String, EccError> {
    if let Some(bad) = value.chars().find(|c| c.is_control()) {
        return Err(EccError::Config(format!(
            "a WHERE value contains the control character U+{:04X}: {value:?}",
            bad as u32
        )));
    }
    Ok(format!("'{}'", value.replace('\'', "''")))
}

/// A field name as ABAP accepts it: letters, digits, `_` and the namespace `/`. Field names come
/// from our code, never from data; this is the guard that keeps it so.
fn field_name(name: &str) -> Result<String, EccError> {
    let valid = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_' || c == '/');
    if !valid {
        return Err(EccError::Config(format!(
            "`{name}` is not a table field name"
        )));
    }
    Ok(name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Reads OPTIONS lines back the way ABAP's tokenizer does: words, and quoted literals in
    /// which a doubled quote is one quote. Returns the literals unescaped, marked with a `'`.
    fn abap_tokens(lines: &[String]) -> Vec<String> {
        let mut tokens = Vec::new();
        for line in lines {
            let chars: Vec<char> = line.chars().collect();
            let mut index = 0;
            while index < chars.len() {
                let c = chars[index];
                if c == ' ' {
                    index += 1;
                } else if c == '\'' {
                    let mut value = String::from("'");
                    index += 1;
                    loop {
                        assert!(
                            index < chars.len(),
                            "literal runs past the end of line {line:?}"
                        );
                        if chars[index] == '\'' {
                            if index + 1 < chars.len() && chars[index + 1] == '\'' {
                                value.push('\'');
                                index += 2;
                                continue;
                            }
                            index += 1;
                            break;
                        }
                        value.push(chars[index]);
                        index += 1;
                    }
                    tokens.push(value);
                } else if c == '(' || c == ')' || c == ',' {
                    tokens.push(c.to_string());
                    index += 1;
                } else {
                    let start = index;
                    while index < chars.len() && !" (),'".contains(chars[index]) {
                        index += 1;
                    }
                    tokens.push(chars[start..index].iter().collect());
                }
            }
        }
        tokens
    }

    #[test]
    fn a_quote_in_a_value_stays_inside_its_literal() {
        let attack = "X' OR MANDT NE '";
        let lines = Condition::all(vec![
            Condition::eq("KUNNR", attack),
            Condition::eq("LOEVM", " "),
        ])
        .to_lines()
        .unwrap();
        let tokens = abap_tokens(&lines);
        assert_eq!(
            tokens,
            vec![
                "(",
                "KUNNR",
                "EQ",
                &format!("'{attack}"),
                "AND",
                "LOEVM",
                "EQ",
                "' ",
                ")"
            ]
        );
        assert_eq!(
            lines.join(" "),
            "( KUNNR EQ 'X'' OR MANDT NE ''' AND LOEVM EQ ' ' )"
        );
    }

    #[test]
    fn long_in_lists_are_cut_at_token_boundaries() {
        let numbers: Vec<String> = (0..40).map(|n| format!("{n:010}")).collect();
        let lines = Condition::is_in("KUNNR", numbers.clone())
            .to_lines()
            .unwrap();
        assert!(lines.len() > 5);
        for line in &lines {
            assert!(line.chars().count() <= MAX_LINE, "{line}");
        }
        let literals: Vec<String> = abap_tokens(&lines)
            .into_iter()
            .filter(|token| token.starts_with('\''))
            .map(|token| token[1..].to_string())
            .collect();
        assert_eq!(literals, numbers);
    }

    #[test]
    fn compound_key_paging_condition() {
        let condition = Condition::key_after(
            &["ADDRNUMBER", "CONSNUMBER"],
            &["0000000001".to_string(), "002".to_string()],
        );
        assert_eq!(
            condition.to_lines().unwrap().join(" "),
            "( ADDRNUMBER GT '0000000001' OR ( ADDRNUMBER EQ '0000000001' AND CONSNUMBER GT '002' ) )"
        );
        let upper = Condition::key_at_most(&["KUNNR"], &["0000000009".to_string()]);
        assert_eq!(upper.to_lines().unwrap(), vec!["KUNNR LE '0000000009'"]);
    }

    #[test]
    fn control_characters_and_bad_field_names_are_refused() {
        assert!(Condition::eq("NAME1", "a\nb").to_lines().is_err());
        assert!(Condition::eq("NAME1 OR X", "a").to_lines().is_err());
        assert!(Condition::eq("NAME1", "x".repeat(80)).to_lines().is_err());
    }

    proptest! {
        #[test]
        fn no_value_can_change_the_clause(
            values in proptest::collection::vec("[^\\p{Cc}]{0,30}", 1..12),
            name in "[^\\p{Cc}]{0,40}",
        ) {
            let condition = Condition::all(vec![
                Condition::is_in("KUNNR", values.clone()),
                Condition::eq("NAME1", name.clone()),
            ]);
            let lines = condition.to_lines().unwrap();
            for line in &lines {
                prop_assert!(line.chars().count() <= MAX_LINE, "line too long: {line:?}");
            }
            let mut expected = vec!["(".to_string(), "KUNNR".into(), "IN".into(), "(".into()];
            for (index, value) in values.iter().enumerate() {
                expected.push(format!("'{value}"));
                if index + 1 < values.len() {
                    expected.push(",".into());
                }
            }
            expected.extend([")".to_string(), "AND".into(), "NAME1".into(), "EQ".into(), format!("'{name}"), ")".into()]);
            prop_assert_eq!(abap_tokens(&lines), expected);
        }
    }
}
