//! Reading a config file: TOML into `RawConfig` (unknown keys refused, with line and nearest key),
//! then validation into `Config`.

use std::path::Path;

use toml::Spanned;

use crate::env::{substitute, SubstitutionError};
use crate::error::ConfigError;
use crate::secret::Secret;
use crate::{sections, Config, RawConfig};

/// Reads and validates the config file at `path`, with `${VAR}` taken from the process
/// environment.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|error| ConfigError {
        file: file.clone(),
        line: None,
        key: String::new(),
        message: format!(
            "cannot read the config file: {error} (write one with `ml-connector init`)"
        ),
        suggestion: None,
    })?;
    parse(&file, &text, &|name| std::env::var(name).ok())
}

/// Validates config `text` (named `file` in messages), looking variables up with `lookup`.
pub fn parse(
    file: &str,
    text: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigError> {
    let raw: RawConfig = toml::from_str(text).map_err(|error| toml_error(file, text, &error))?;
    let validator = Validator { file, text, lookup };
    Ok(Config {
        source: file.to_string(),
        store: sections::store::validate(raw.store, &validator)?,
        ecc: sections::ecc::validate(raw.ecc, &validator)?,
        pipedrive: sections::pipedrive::validate(raw.pipedrive, &validator)?,
        sync: sections::sync::validate(raw.sync, &validator)?,
        mapping: sections::mapping::validate(raw.mapping, &validator)?,
        server: sections::server::validate(raw.server, &validator)?,
    })
}

/// Turns a TOML/serde error into one that names the line and key, with a suggestion for an
/// unknown key.
fn toml_error(file: &str, text: &str, error: &toml::de::Error) -> ConfigError {
    let line = error.span().map(|span| line_of(text, span.start));
    let message = error.message().trim().to_string();
    let mut key = String::new();
    let mut suggestion = None;
    if let Some(unknown) = quoted_after(&message, "unknown field ") {
        key = unknown.clone();
        let expected = backticked(&message).into_iter().skip(1).collect::<Vec<_>>();
        suggestion = nearest(&unknown, &expected);
    }
    ConfigError {
        file: file.to_string(),
        line,
        key,
        message,
        suggestion,
    }
}

fn quoted_after(message: &str, prefix: &str) -> Option<String> {
    let start = message.find(prefix)? + prefix.len();
    backticked(&message[start..]).into_iter().next()
}

fn backticked(message: &str) -> Vec<String> {
    message
        .split('`')
        .enumerate()
        .filter(|(index, _)| index % 2 == 1)
        .map(|(_, part)| part.to_string())
        .collect()
}

/// The candidate closest to `word`, if it is close enough to be a plausible typo.
pub(crate) fn nearest(word: &str, candidates: &[String]) -> Option<String> {
    candidates
        .iter()
        .map(|candidate| (strsim::jaro_winkler(word, candidate), candidate))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, candidate)| candidate.clone())
}

fn line_of(text: &str, byte_offset: usize) -> usize {
    text[..byte_offset.min(text.len())]
        .bytes()
        .filter(|byte| *byte == b'\n')
        .count()
        + 1
}

/// What every section's validation needs: where the file is, its text (for lines), and the
/// environment for `${VAR}`.
pub struct Validator<'a> {
    file: &'a str,
    text: &'a str,
    lookup: &'a dyn Fn(&str) -> Option<String>,
}

impl Validator<'_> {
    /// An error about `key`, at the place of `span` when there is one.
    pub fn error(
        &self,
        key: &str,
        span: Option<std::ops::Range<usize>>,
        message: impl Into<String>,
    ) -> ConfigError {
        ConfigError {
            file: self.file.to_string(),
            line: span.map(|span| line_of(self.text, span.start)),
            key: key.to_string(),
            message: message.into(),
            suggestion: None,
        }
    }

    /// A string value with `${VAR}` substituted.
    pub fn text(&self, key: &str, value: &Spanned<String>) -> Result<String, ConfigError> {
        substitute(value.get_ref(), self.lookup).map_err(|error| {
            let message = match error {
                SubstitutionError::Missing(name) => {
                    format!("environment variable `{name}` is not set")
                }
                SubstitutionError::BadName(name) => {
                    format!("`${{{name}}}` is not a valid variable name (letters, digits, _)")
                }
                SubstitutionError::Unclosed => "`${` without a closing `}`".to_string(),
            };
            self.error(key, Some(value.span()), message)
        })
    }

    /// An optional string value: absent, or present and substituted.
    pub fn optional_text(
        &self,
        key: &str,
        value: &Option<Spanned<String>>,
    ) -> Result<Option<String>, ConfigError> {
        value
            .as_ref()
            .map(|value| self.text(key, value))
            .transpose()
    }

    /// A required string value; `hint` tells the user what to put there.
    pub fn required_text(
        &self,
        key: &str,
        value: &Option<Spanned<String>>,
        hint: &str,
    ) -> Result<String, ConfigError> {
        match value {
            Some(value) => self.text(key, value),
            None => Err(self.error(key, None, format!("is required: {hint}"))),
        }
    }

    pub fn secret(
        &self,
        key: &str,
        value: &Option<Spanned<String>>,
    ) -> Result<Option<Secret>, ConfigError> {
        Ok(self.optional_text(key, value)?.map(Secret::new))
    }

    /// One of `choices`, with a suggestion for a near miss.
    pub fn choice<'c>(
        &self,
        key: &str,
        value: &Spanned<String>,
        choices: &[&'c str],
    ) -> Result<&'c str, ConfigError> {
        let text = self.text(key, value)?;
        if let Some(found) = choices.iter().find(|choice| **choice == text) {
            return Ok(found);
        }
        let candidates: Vec<String> = choices.iter().map(|choice| choice.to_string()).collect();
        let mut error = self.error(
            key,
            Some(value.span()),
            format!("`{text}` is not one of {}", choices.join(", ")),
        );
        error.suggestion = nearest(&text, &candidates);
        Err(error)
    }

    /// A number within `range`.
    pub fn number_in<T>(
        &self,
        key: &str,
        value: &Spanned<T>,
        range: std::ops::RangeInclusive<T>,
    ) -> Result<T, ConfigError>
    where
        T: PartialOrd + Copy + std::fmt::Display,
    {
        let number = *value.get_ref();
        if range.contains(&number) {
            return Ok(number);
        }
        Err(self.error(
            key,
            Some(value.span()),
            format!(
                "{number} is out of range ({} to {})",
                range.start(),
                range.end()
            ),
        ))
    }
}
