//! What every section's validation uses: typed readers of raw values that substitute `${VAR}`,
//! check ranges and choices, and turn every problem into a `ConfigError` naming the file, the
//! line and the key, with the nearest valid word for a typo.

use toml::Spanned;

use crate::env::{substitute, SubstitutionError};
use crate::error::ConfigError;
use crate::secret::Secret;

/// What every section's validation needs: where the file is, its text (for lines), and the
/// environment for `${VAR}`.
pub struct Validator<'a> {
    file: &'a str,
    text: &'a str,
    lookup: &'a dyn Fn(&str) -> Option<String>,
}

impl<'a> Validator<'a> {
    /// A validator for the config `text` of `file`, looking `${VAR}` up with `lookup`.
    pub fn new(file: &'a str, text: &'a str, lookup: &'a dyn Fn(&str) -> Option<String>) -> Self {
        Validator { file, text, lookup }
    }

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

    /// A URL that carries credentials: `https://`, or `http://` only to this machine (a
    /// simulator, a tunnel, an agent on loopback) or when `http_allowed_by` names a key the
    /// user set to allow it. Anything else would send a password or token in clear.
    pub fn credential_url(
        &self,
        key: &str,
        value: &Option<Spanned<String>>,
        text: &str,
        http_allowed_by: Option<(&str, bool)>,
    ) -> Result<url::Url, ConfigError> {
        let span = value.as_ref().map(|value| value.span());
        let Ok(url) = url::Url::parse(text) else {
            return Err(self.error(key, span, format!("`{text}` is not a URL")));
        };
        let allowed = http_allowed_by.is_some_and(|(_, allowed)| allowed);
        match url.scheme() {
            "https" => Ok(url),
            "http" if allowed || is_loopback(&url) => Ok(url),
            "http" => {
                let escape = http_allowed_by
                    .map(|(escape_key, _)| {
                        format!(" (or, inside a network you trust, set {escape_key} = true)")
                    })
                    .unwrap_or_default();
                Err(self.error(
                    key,
                    span,
                    format!(
                        "`{text}` is plain http to another machine, which would send the \
                         credentials in clear: use https://{escape}"
                    ),
                ))
            }
            other => Err(self.error(
                key,
                span,
                format!("`{text}`: the scheme `{other}` is not supported, use https://"),
            )),
        }
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

/// True for a URL whose host is this machine: `localhost`, 127.0.0.0/8 or `[::1]`.
pub fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(address)) => address.is_loopback(),
        Some(url::Host::Ipv6(address)) => address.is_loopback(),
        None => false,
    }
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

pub(crate) fn line_of(text: &str, byte_offset: usize) -> usize {
    text[..byte_offset.min(text.len())]
        .bytes()
        .filter(|byte| *byte == b'\n')
        .count()
        + 1
}
