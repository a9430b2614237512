//! What every section's validation uses: typed readers of raw values that substitute `${VAR}`,
//! check ranges and choices, and turn every problem into a `ConfigError` naming the file, the
//! line and the key, with the nearest valid word for a typo.

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use toml::Spanned;

use crate::env::{substitute, SubstitutionError};
use crate::error::ConfigError;
use crate::secret::Secret;

/// Everything but RFC 3986's unreserved characters: what a value inserted into a URL's user,
/// password, host or port must have encoded.
const URL_COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

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
        self.substituted(key, value, self.lookup)
    }

    /// A URL with `${VAR}` substituted: a variable that is the whole value is taken as it is,
    /// one inside the URL (a password) is inserted percent-encoded, so a password from the
    /// environment needs no escaping whatever characters it holds.
    pub fn url_text(&self, key: &str, value: &Spanned<String>) -> Result<String, ConfigError> {
        let written = value.get_ref().trim();
        let whole_variable = written
            .strip_prefix("${")
            .and_then(|rest| rest.strip_suffix('}'))
            .is_some_and(|name| !name.contains(['$', '{', '}']));
        if whole_variable {
            return self.text(key, value);
        }
        let encoded = |name: &str| {
            (self.lookup)(name).map(|found| utf8_percent_encode(&found, URL_COMPONENT).to_string())
        };
        self.substituted(key, value, &encoded)
    }

    fn substituted(
        &self,
        key: &str,
        value: &Spanned<String>,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<String, ConfigError> {
        substitute(value.get_ref(), lookup).map_err(|error| {
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
        // Schemes the URL standard does not know (smtp://) keep an IPv4 address as a name.
        Some(url::Host::Domain(name)) => {
            name.eq_ignore_ascii_case("localhost")
                || name
                    .parse::<std::net::Ipv4Addr>()
                    .is_ok_and(|address| address.is_loopback())
        }
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

#[cfg(test)]
mod tests {
    use super::is_loopback;

    #[test]
    fn loopback_hosts_are_this_machine_whatever_the_scheme() {
        for url in [
            "http://127.0.0.1:8080",
            "http://localhost",
            "http://[::1]:1",
            "smtp://127.0.0.2:2525",
            "smtp://LOCALHOST:25",
            "smtp://[::1]:2525",
        ] {
            assert!(is_loopback(&url::Url::parse(url).unwrap()), "{url}");
        }
        for url in [
            "http://10.0.0.1",
            "smtp://192.168.1.1:25",
            "smtp://mail.example.com",
            "smtp://127.0.0.1.example.com",
        ] {
            assert!(!is_loopback(&url::Url::parse(url).unwrap()), "{url}");
        }
    }
}
