//! `$filter` of the OData service: the expression grammar Gateway accepts here (`eq`, `ne`,
//! `gt`, `ge`, `lt`, `le`, `and`, `or`, `not`, parentheses, `startswith`, `endswith`, `substringof`,
//! `datetime'...'` literals), parsed against an entity set's properties and evaluated per
//! entity.

use super::*;

#[derive(Debug, Clone, PartialEq)]
enum FilterToken {
    Word(String),
    Literal(Value),
    Open,
    Close,
    Comma,
}

#[derive(Debug, Clone)]
pub(super) enum Expression {
    Property(&'static str),
    Literal(Value),
    Call(String, Vec<Expression>),
    Compare(String, Box<Expression>, Box<Expression>),
    And(Box<Expression>, Box<Expression>),
    Or(Box<Expression>, Box<Expression>),
    Not(Box<Expression>),
}

fn parse_datetime_literal(text: &str) -> Option<i64> {
    for format in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(parsed) = NaiveDateTime::parse_from_str(text, format) {
            return Some(parsed.and_utc().timestamp_millis());
        }
    }
    None
}

fn tokenize_filter(text: &str) -> Result<Vec<FilterToken>, String> {
    let characters: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut index = 0;
    let read_quoted = |index: &mut usize| -> Result<String, String> {
        let mut literal = String::new();
        *index += 1;
        loop {
            match characters.get(*index) {
                None => return Err("unterminated string literal".into()),
                Some('\'') if characters.get(*index + 1) == Some(&'\'') => {
                    literal.push('\'');
                    *index += 2;
                }
                Some('\'') => {
                    *index += 1;
                    return Ok(literal);
                }
                Some(other) => {
                    literal.push(*other);
                    *index += 1;
                }
            }
        }
    };
    while index < characters.len() {
        match characters[index] {
            ' ' => index += 1,
            '(' => {
                tokens.push(FilterToken::Open);
                index += 1;
            }
            ')' => {
                tokens.push(FilterToken::Close);
                index += 1;
            }
            ',' => {
                tokens.push(FilterToken::Comma);
                index += 1;
            }
            '\'' => tokens.push(FilterToken::Literal(Value::Str(read_quoted(&mut index)?))),
            c if c.is_alphanumeric() || c == '_' || c == '-' || c == '.' || c == ':' => {
                let start = index;
                // A property path into a complex type (`Address/City`) is one word.
                while index < characters.len()
                    && (characters[index].is_alphanumeric() || "_-.:/".contains(characters[index]))
                {
                    index += 1;
                }
                let word: String = characters[start..index].iter().collect();
                if characters.get(index) == Some(&'\'') && word == "datetime" {
                    let literal = read_quoted(&mut index)?;
                    let ms = parse_datetime_literal(&literal)
                        .ok_or_else(|| format!("invalid datetime literal '{literal}'"))?;
                    tokens.push(FilterToken::Literal(Value::DateTime(ms)));
                } else if characters.get(index) == Some(&'\'') {
                    return Err(format!("unsupported literal type {word}"));
                } else if word.chars().all(|c| c.is_ascii_digit() || c == '-')
                    && word.chars().any(|c| c.is_ascii_digit())
                {
                    tokens.push(FilterToken::Literal(Value::Int(
                        word.parse().map_err(|_| format!("invalid number {word}"))?,
                    )));
                } else {
                    tokens.push(match word.as_str() {
                        "true" => FilterToken::Literal(Value::Bool(true)),
                        "false" => FilterToken::Literal(Value::Bool(false)),
                        "null" => FilterToken::Literal(Value::Null),
                        _ => FilterToken::Word(word),
                    });
                }
            }
            other => return Err(format!("unexpected character '{other}'")),
        }
    }
    Ok(tokens)
}

struct FilterParser {
    tokens: Vec<FilterToken>,
    position: usize,
    set: EntitySet,
    /// The custom service: its property paths, and numbers compared after ALPHA input.
    custom: bool,
}

impl FilterParser {
    fn peek_word(&self, word: &str) -> bool {
        matches!(self.tokens.get(self.position), Some(FilterToken::Word(w)) if w == word)
    }

    fn or(&mut self) -> Result<Expression, String> {
        let mut left = self.and()?;
        while self.peek_word("or") {
            self.position += 1;
            left = Expression::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expression, String> {
        let mut left = self.unary()?;
        while self.peek_word("and") {
            self.position += 1;
            left = Expression::And(Box::new(left), Box::new(self.unary()?));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expression, String> {
        if self.peek_word("not") {
            self.position += 1;
            return Ok(Expression::Not(Box::new(self.unary()?)));
        }
        let left = self.operand()?;
        if let Some(FilterToken::Word(word)) = self.tokens.get(self.position) {
            if matches!(word.as_str(), "eq" | "ne" | "gt" | "ge" | "lt" | "le") {
                let operator = word.clone();
                self.position += 1;
                let right = self.operand()?;
                let (left, right) = if self.custom {
                    let converted_left = alpha_compared(left.clone(), &right);
                    (converted_left, alpha_compared(right, &left))
                } else {
                    (left, right)
                };
                return Ok(Expression::Compare(
                    operator,
                    Box::new(left),
                    Box::new(right),
                ));
            }
        }
        Ok(left)
    }

    fn operand(&mut self) -> Result<Expression, String> {
        let token = self
            .tokens
            .get(self.position)
            .cloned()
            .ok_or("unexpected end of $filter")?;
        self.position += 1;
        match token {
            FilterToken::Open => {
                let inner = self.or()?;
                if self.tokens.get(self.position) != Some(&FilterToken::Close) {
                    return Err("missing ')'".into());
                }
                self.position += 1;
                Ok(inner)
            }
            FilterToken::Literal(value) => Ok(Expression::Literal(value)),
            FilterToken::Word(word)
                if self.tokens.get(self.position) == Some(&FilterToken::Open) =>
            {
                if !matches!(
                    word.as_str(),
                    "substringof" | "startswith" | "endswith" | "tolower" | "toupper" | "trim"
                ) {
                    return Err(format!("unknown function '{word}'"));
                }
                self.position += 1;
                let mut arguments = vec![self.or()?];
                loop {
                    match self.tokens.get(self.position) {
                        Some(FilterToken::Comma) => {
                            self.position += 1;
                            arguments.push(self.or()?);
                        }
                        Some(FilterToken::Close) => {
                            self.position += 1;
                            break;
                        }
                        _ => return Err(format!("missing ')' after arguments of {word}")),
                    }
                }
                let expected = if matches!(word.as_str(), "tolower" | "toupper" | "trim") {
                    1
                } else {
                    2
                };
                if arguments.len() != expected {
                    return Err(format!("{word} takes {expected} arguments"));
                }
                Ok(Expression::Call(word, arguments))
            }
            FilterToken::Word(word) => {
                let property = resolve_property(self.set, &word, self.custom).ok_or_else(|| {
                    format!(
                        "Property '{word}' not found in type '{NAMESPACE}.{}'",
                        self.set.type_name()
                    )
                })?;
                Ok(Expression::Property(property))
            }
            other => Err(format!("unexpected {other:?}")),
        }
    }
}

/// A string literal compared with a number Gateway shows without leading zeros, converted back
/// (ALPHA input) as Gateway does, so `CustomerNumber eq '4711'` finds "0000004711".
fn alpha_compared(literal: Expression, other: &Expression) -> Expression {
    match (literal, other) {
        (Expression::Literal(Value::Str(text)), Expression::Property(flat))
            if custom::is_alpha_key(flat) =>
        {
            Expression::Literal(Value::Str(custom::alpha_input(&text)))
        }
        (literal, _) => literal,
    }
}

pub(super) fn parse_filter(text: &str, set: EntitySet, custom: bool) -> Result<Expression, String> {
    let tokens = tokenize_filter(text)?;
    let mut parser = FilterParser {
        tokens,
        position: 0,
        set,
        custom,
    };
    let expression = parser.or()?;
    if parser.position != parser.tokens.len() {
        return Err(format!(
            "unexpected token at position {}",
            parser.position + 1
        ));
    }
    Ok(expression)
}

pub(super) fn evaluate(
    expression: &Expression,
    entity: &Entity<'_>,
    context: &Context<'_>,
) -> Result<Value, String> {
    Ok(match expression {
        Expression::Property(name) => entity.value(context, name),
        Expression::Literal(value) => value.clone(),
        Expression::And(left, right) => Value::Bool(
            truthy(&evaluate(left, entity, context)?) && truthy(&evaluate(right, entity, context)?),
        ),
        Expression::Or(left, right) => Value::Bool(
            truthy(&evaluate(left, entity, context)?) || truthy(&evaluate(right, entity, context)?),
        ),
        Expression::Not(inner) => Value::Bool(!truthy(&evaluate(inner, entity, context)?)),
        Expression::Call(function, arguments) => {
            let values: Vec<Value> = arguments
                .iter()
                .map(|argument| evaluate(argument, entity, context))
                .collect::<Result<_, _>>()?;
            let text = |index: usize| values[index].as_text();
            match function.as_str() {
                "substringof" => Value::Bool(text(1).contains(&text(0))),
                "startswith" => Value::Bool(text(0).starts_with(&text(1))),
                "endswith" => Value::Bool(text(0).ends_with(&text(1))),
                "tolower" => Value::Str(text(0).to_lowercase()),
                "toupper" => Value::Str(text(0).to_uppercase()),
                _ => Value::Str(text(0).trim().to_string()),
            }
        }
        Expression::Compare(operator, left, right) => {
            let left = evaluate(left, entity, context)?;
            let right = evaluate(right, entity, context)?;
            let ordering = match (&left, &right) {
                (Value::Str(a), Value::Str(b)) => a.cmp(b),
                (Value::DateTime(a), Value::DateTime(b)) => a.cmp(b),
                (Value::Int(a), Value::Int(b)) => a.cmp(b),
                (Value::Bool(a), Value::Bool(b)) => a.cmp(b),
                (Value::Null, Value::Null) => std::cmp::Ordering::Equal,
                (Value::Null, _) | (_, Value::Null) => return Ok(Value::Bool(operator == "ne")),
                (a, b) => {
                    return Err(format!(
                        "operator '{operator}' incompatible with operand types {a:?} and {b:?}"
                    ))
                }
            };
            Value::Bool(match operator.as_str() {
                "eq" => ordering.is_eq(),
                "ne" => ordering.is_ne(),
                "gt" => ordering.is_gt(),
                "ge" => ordering.is_ge(),
                "lt" => ordering.is_lt(),
                _ => ordering.is_le(),
            })
        }
    })
}

pub(super) fn truthy(value: &Value) -> bool {
    matches!(value, Value::Bool(true))
}
