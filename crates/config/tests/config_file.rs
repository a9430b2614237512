//! The config file as a user meets it: the template validates, mistakes are named with file,
//! line and key.

use mlc_config::{parse, TEMPLATE};

fn environment(name: &str) -> Option<String> {
    match name {
        "ECC_PASSWORD" | "PIPEDRIVE_API_TOKEN" | "MLC_ADMIN_TOKEN" => {
            Some(format!("value-of-{name}"))
        }
        _ => None,
    }
}

#[test]
fn the_template_validates_once_its_variables_are_set() {
    let config = parse("x.toml", TEMPLATE, &environment).expect("template validates");
    assert_eq!(config.ecc.client, "100");
    assert_eq!(config.pipedrive.connector_daily_budget(), 150_000);
    assert_eq!(config.ecc.password.expose(), "value-of-ECC_PASSWORD");
}

#[test]
fn secrets_do_not_print() {
    let config = parse("x.toml", TEMPLATE, &environment).unwrap();
    let printed = format!("{config:?}");
    assert!(!printed.contains("value-of-"), "a secret leaked: {printed}");
}

#[test]
fn an_unknown_key_is_named_with_its_line_and_nearest_key() {
    let text = TEMPLATE.replace("budget_share = 0.5", "budget_shar = 0.5");
    let error = parse("x.toml", &text, &environment).unwrap_err();
    let line = text
        .lines()
        .position(|line| line.starts_with("budget_shar"))
        .unwrap()
        + 1;
    assert_eq!(error.line, Some(line));
    assert_eq!(error.key, "budget_shar");
    assert_eq!(error.suggestion.as_deref(), Some("budget_share"));
    let message = error.to_string();
    assert!(message.contains(&format!("x.toml:{line}")), "{message}");
}

#[test]
fn a_missing_variable_is_named() {
    let error = parse("x.toml", TEMPLATE, &|name| {
        (name != "PIPEDRIVE_API_TOKEN").then(|| "x".to_string())
    })
    .unwrap_err();
    assert_eq!(error.key, "pipedrive.api_token");
    assert!(error.to_string().contains("PIPEDRIVE_API_TOKEN"), "{error}");
    assert!(error.line.is_some());
}

#[test]
fn a_bad_choice_suggests_the_nearest() {
    let text = TEMPLATE.replace("plan = \"growth\"", "plan = \"growht\"");
    let error = parse("x.toml", &text, &environment).unwrap_err();
    assert_eq!(error.key, "pipedrive.plan");
    assert_eq!(error.suggestion.as_deref(), Some("growth"));
}

#[test]
fn out_of_range_numbers_are_refused() {
    let text = TEMPLATE.replace("budget_share = 0.5", "budget_share = 1.5");
    let error = parse("x.toml", &text, &environment).unwrap_err();
    assert_eq!(error.key, "pipedrive.budget_share");
}

#[test]
fn the_template_mentions_every_key() {
    // Keys of the raw config, by table, as the user writes them.
    let keys = [
        "url",
        "secret_key_file",
        "transport",
        "base_url",
        "client",
        "user",
        "password",
        "language",
        "timezone",
        "company_code",
        "sales_organization",
        "distribution_channel",
        "division",
        "read_table_function",
        "rows_per_call",
        "timeout_secs",
        "retries",
        "delta_overlap_secs",
        "ca_file",
        "accept_invalid_certs",
        "dirty_records",
        "agent_token_file",
        "agent_listen",
        "agent_via",
        "agent_wait_secs",
        "in_list_size",
        "service_path",
        "customer_set",
        "contact_set",
        "changed_at_property",
        "expand_contacts",
        "page_size",
        "auth",
        "api_token",
        "plan",
        "seats",
        "budget_share",
        "daily_budget_tokens",
        "budget_timezone",
        "client_id",
        "client_secret",
        "redirect_uri",
        "authorize_url",
        "token_url",
        "connection",
        "schedule",
        "full_reconcile",
        "link_threshold",
        "review_threshold",
        "ecc_duplicates",
        "on_deleted",
        "on_blocked",
        "status_label",
        "max_failures",
        "defaults",
        "email_label",
        "phone_label",
        "default_owner_id",
        "field",
        "custom_field",
        "custom_field_key",
        "source",
        "template",
        "transforms",
        "enabled",
        "country",
        "account_group",
        "owner_id",
        "label_id",
        "listen",
        "admin_token",
        "webhook_user",
        "webhook_password",
        "webhook_hmac_secret",
        "public_url",
    ];
    for key in keys {
        assert!(
            TEMPLATE.contains(&format!("{key} =")),
            "template lacks `{key}`"
        );
    }
}

#[test]
fn plain_http_to_another_machine_is_refused_for_pipedrive_and_ecc() {
    let text = TEMPLATE.replace(
        "base_url = \"http://127.0.0.1:18002\"",
        "base_url = \"http://acme.pipedrive.com\"",
    );
    let error = parse("x.toml", &text, &environment)
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("pipedrive.base_url") && error.contains("in clear"),
        "{error}"
    );

    let text = TEMPLATE.replace(
        "base_url = \"http://127.0.0.1:18001\"",
        "base_url = \"http://ecc.acme.internal:8000\"",
    );
    let error = parse("x.toml", &text, &environment)
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("ecc.base_url") && error.contains("ecc.allow_http = true"),
        "{error}"
    );
    let allowed = text.replace("# allow_http = false", "allow_http = true");
    assert!(parse("x.toml", &allowed, &environment).is_ok());

    for loopback in [
        "http://localhost:18001",
        "http://127.0.0.2:18001",
        "http://[::1]:18001",
    ] {
        let text = TEMPLATE.replace("http://127.0.0.1:18001", loopback);
        assert!(parse("x.toml", &text, &environment).is_ok(), "{loopback}");
    }
    let text = TEMPLATE.replace("http://127.0.0.1:18002", "https://acme.pipedrive.com");
    assert!(parse("x.toml", &text, &environment).is_ok());
}
