//! Reading a config file: TOML into `RawConfig` (unknown keys refused, with line and nearest key),
//! then validation into `Config`.

use std::path::Path;

use crate::error::ConfigError;
use crate::validator::{line_of, nearest, Validator};
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
    let validator = Validator::new(file, text, lookup);
    Ok(Config {
        source: file.to_string(),
        store: sections::store::validate(raw.store, &validator)?,
        ecc: sections::ecc::validate(raw.ecc, &validator)?,
        pipedrive: sections::pipedrive::validate(raw.pipedrive, &validator)?,
        sync: sections::sync::validate(raw.sync, &validator)?,
        audit: sections::audit::validate(raw.audit, &validator)?,
        mapping: sections::mapping::validate(raw.mapping, &validator)?,
        server: sections::server::validate(raw.server, &validator)?,
        alerts: sections::alerts::validate(raw.alerts, &validator)?,
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
    } else if let Some(span) = error.span() {
        // A value of the wrong type: serde names the type, the file's line names the key.
        key = key_at(text, span.start).unwrap_or_default();
    }
    ConfigError {
        file: file.to_string(),
        line,
        key,
        message,
        suggestion,
    }
}

/// The dotted key written on the line holding `byte_offset` (`table.key` under a `[table]`
/// header), when that line is a `key = value` line.
fn key_at(text: &str, byte_offset: usize) -> Option<String> {
    let offset = byte_offset.min(text.len());
    let line_start = text[..offset].rfind('\n').map_or(0, |index| index + 1);
    let line = text[line_start..].lines().next()?;
    let (key, _) = line.split_once('=')?;
    let key = key.trim();
    let bare = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.');
    if key.is_empty() || !key.chars().all(bare) {
        return None;
    }
    let table = text[..line_start].lines().rev().find_map(|earlier| {
        let earlier = earlier.trim();
        let header = earlier.strip_prefix('[')?.split(']').next()?;
        Some(header.trim_matches(|c| c == '[' || c == ' ').to_string())
    });
    Some(match table {
        Some(table) if !table.is_empty() => format!("{table}.{key}"),
        _ => key.to_string(),
    })
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
