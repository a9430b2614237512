//! Property-based fuzzing of the config loader: whatever a user (or an editor gone wrong) puts
//! in the file, `parse` answers with a config or an error naming the file, never a panic. The
//! case budget comes from `MLC_FUZZ_CASES` (default 256, what CI runs).

use mlc_config::{parse, TEMPLATE};
use proptest::prelude::*;

fn cases() -> u32 {
    std::env::var("MLC_FUZZ_CASES")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(256)
}

fn environment(name: &str) -> Option<String> {
    (name != "UNSET").then(|| format!("value-of-{name}"))
}

/// The template with one line replaced by arbitrary text, or cut short.
fn edited_template() -> impl Strategy<Value = String> {
    let lines: Vec<&'static str> = TEMPLATE.lines().collect();
    let count = lines.len();
    (0..count, "[ -~]{0,60}", any::<bool>()).prop_map(move |(index, replacement, cut)| {
        let mut edited: Vec<String> = lines.iter().map(|line| line.to_string()).collect();
        if cut {
            edited.truncate(index);
        } else {
            edited[index] = replacement;
        }
        edited.join("\n")
    })
}

/// A value of a key the template has, set to something odd.
fn odd_value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("-1".to_string()),
        Just("9223372036854775807".to_string()),
        Just("1e308".to_string()),
        Just("nan".to_string()),
        Just("\"\"".to_string()),
        Just("\"${UNSET}\"".to_string()),
        Just("\"${\"".to_string()),
        Just("[]".to_string()),
        Just("{}".to_string()),
        "\"[^\"\\\\]{0,30}\"",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn arbitrary_text_gives_a_config_or_an_error_naming_the_file(text in "(?s).{0,300}") {
        if let Err(error) = parse("fuzz.toml", &text, &environment) {
            prop_assert!(error.to_string().contains("fuzz.toml"), "{}", error);
        }
    }

    #[test]
    fn an_edited_template_gives_a_config_or_an_error_naming_the_file(text in edited_template()) {
        if let Err(error) = parse("fuzz.toml", &text, &environment) {
            prop_assert!(error.to_string().contains("fuzz.toml"), "{}", error);
        }
    }

    #[test]
    fn an_odd_value_for_any_key_is_an_error_naming_the_key_or_accepted(
        line in 0usize..400,
        value in odd_value(),
    ) {
        let lines: Vec<&str> = TEMPLATE.lines().collect();
        let Some((index, key)) = lines
            .iter()
            .enumerate()
            .cycle()
            .skip(line % lines.len())
            .take(lines.len())
            .find_map(|(index, text)| {
                let (key, _) = text.split_once(" = ")?;
                (!key.starts_with('#') && !key.contains(' ')).then_some((index, key.trim()))
            })
        else {
            return Ok(());
        };
        let mut edited: Vec<String> = lines.iter().map(|line| line.to_string()).collect();
        edited[index] = format!("{key} = {value}");
        if let Err(error) = parse("fuzz.toml", &edited.join("\n"), &environment) {
            let message = error.to_string();
            prop_assert!(message.contains("fuzz.toml"), "{}", message);
            prop_assert!(message.contains(key), "the error does not name the key {}: {}", key, message);
        }
    }

    #[test]
    fn an_odd_alerts_value_is_an_error_naming_the_key_or_accepted(
        key in prop::sample::select(ALERTS_KEYS.to_vec()),
        value in odd_value(),
    ) {
        let lines: Vec<String> = ALERTS_TABLE
            .lines()
            .map(|line| match line.split_once(" = ") {
                Some((written, _)) if written == key => format!("{key} = {value}"),
                _ => line.to_string(),
            })
            .collect();
        let text = format!("{TEMPLATE}\n{}\n", lines.join("\n"));
        if let Err(error) = parse("fuzz.toml", &text, &environment) {
            let message = error.to_string();
            prop_assert!(message.contains("fuzz.toml"), "{}", message);
            prop_assert!(message.contains(key), "the error does not name the key {}: {}", key, message);
        }
    }

    #[test]
    fn any_smtp_url_gives_a_config_or_an_error_that_hides_the_password(
        url in "(smtps?|http|)(://)?([a-z@:%/]{0,8}\\$\\{PASSWORD\\}@)?[ -~]{0,30}",
    ) {
        let text = ALERTS_TABLE.replace("smtps://mlc:${PASSWORD}@mail.example.com", &url);
        let lookup = |name: &str| (name == "PASSWORD").then(|| "pass/w@rd?#%".to_string());
        if let Err(error) = parse("fuzz.toml", &format!("{TEMPLATE}\n{text}\n"), &|name| {
            lookup(name).or_else(|| environment(name))
        }) {
            let message = format!("{error} {error:?}");
            prop_assert!(!message.contains("pass/w@rd"), "{}", message);
            prop_assert!(message.contains("fuzz.toml"), "{}", message);
        }
    }
}

const ALERTS_TABLE: &str = r#"[alerts]
webhook_url = "https://hooks.example.com/services/T0/B0/x"
smtp_url = "smtps://mlc:${PASSWORD}@mail.example.com"
email_from = "ml-connector <alerts@example.com>"
email_to = ["sap-team@example.com"]
failed_runs_in_a_row = 3"#;

const ALERTS_KEYS: [&str; 5] = [
    "webhook_url",
    "smtp_url",
    "email_from",
    "email_to",
    "failed_runs_in_a_row",
];
