//! The config file as a user meets it: the template validates, mistakes are named with file,
//! line and key.

use mlc_config::{parse, ContactDeletedPolicy, SmtpSecurity, TEMPLATE};

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
fn contacts_deleted_in_ecc_follow_on_contact_deleted() {
    let config = parse("x.toml", TEMPLATE, &environment).unwrap();
    assert_eq!(config.sync.on_contact_deleted, ContactDeletedPolicy::Field);
    let without = TEMPLATE.replace("on_contact_deleted = \"field\"\n", "");
    assert_ne!(without, TEMPLATE);
    let config = parse("x.toml", &without, &environment).unwrap();
    assert_eq!(
        config.sync.on_contact_deleted,
        ContactDeletedPolicy::Field,
        "field is the default"
    );
    for (value, policy) in [
        ("leave", ContactDeletedPolicy::Leave),
        ("field", ContactDeletedPolicy::Field),
        ("delete", ContactDeletedPolicy::Delete),
    ] {
        let text = TEMPLATE.replace(
            "on_contact_deleted = \"field\"",
            &format!("on_contact_deleted = \"{value}\""),
        );
        let config = parse("x.toml", &text, &environment).unwrap();
        assert_eq!(config.sync.on_contact_deleted, policy, "{value}");
    }
    // `label` is a customer policy: a person has no status label.
    let text = TEMPLATE.replace(
        "on_contact_deleted = \"field\"",
        "on_contact_deleted = \"delte\"",
    );
    let error = parse("x.toml", &text, &environment).unwrap_err();
    assert_eq!(error.key, "sync.on_contact_deleted");
    assert_eq!(error.suggestion.as_deref(), Some("delete"));
    assert!(error.line.is_some());
    let text = TEMPLATE.replace(
        "on_contact_deleted = \"field\"",
        "on_contact_deleted = \"label\"",
    );
    let error = parse("x.toml", &text, &environment).unwrap_err();
    assert_eq!(error.key, "sync.on_contact_deleted");
    assert!(
        error.to_string().contains("leave, field, delete"),
        "{error}"
    );
}

/// The template with its `[ecc.select]` lines uncommented and `replace` applied to them.
fn with_selection(replace: &[(&str, &str)]) -> String {
    let mut text = TEMPLATE.to_string();
    for key in [
        "account_groups",
        "exclude_account_groups",
        "countries",
        "only_with_company_code",
        "only_with_sales_area",
        "created_after",
    ] {
        text = text.replacen(&format!("# {key} = "), &format!("{key} = "), 1);
    }
    for (from, to) in replace {
        text = text.replacen(from, to, 1);
    }
    text
}

#[test]
fn the_selection_of_the_template_validates_once_uncommented() {
    let everything = parse("x.toml", TEMPLATE, &environment).unwrap();
    assert!(everything.ecc.select.is_everything());
    let config = parse("x.toml", &with_selection(&[]), &environment).unwrap();
    let select = &config.ecc.select;
    assert_eq!(select.account_groups, vec!["0001"]);
    assert_eq!(select.exclude_account_groups, vec!["CPD"]);
    assert_eq!(select.countries, vec!["DE", "AT", "CH"]);
    assert!(select.only_with_company_code && select.only_with_sales_area);
    assert_eq!(select.created_after.as_deref(), Some("20200101"));
}

#[test]
fn a_bad_selection_value_is_named() {
    for (from, to, key) in [
        (
            "created_after = \"2020-01-01\"",
            "created_after = \"01.01.2020\"",
            "ecc.select.created_after",
        ),
        (
            "countries = [\"DE\", \"AT\", \"CH\"]",
            "countries = [\"DE'\"]",
            "ecc.select.countries",
        ),
        (
            "account_groups = [\"0001\"]",
            "account_groups = [\"00001\"]",
            "ecc.select.account_groups",
        ),
    ] {
        let text = with_selection(&[(from, to)]);
        let error = parse("x.toml", &text, &environment).unwrap_err();
        assert_eq!(error.key, key, "{error}");
        assert!(error.line.is_some(), "{error}");
    }
    let text = with_selection(&[("only_with_sales_area = true", "only_with_sale_area = true")]);
    let error = parse("x.toml", &text, &environment).unwrap_err();
    assert_eq!(
        error.suggestion.as_deref(),
        Some("only_with_sales_area"),
        "{error}"
    );
}

#[test]
fn out_of_range_numbers_are_refused() {
    let text = TEMPLATE.replace("budget_share = 0.5", "budget_share = 1.5");
    let error = parse("x.toml", &text, &environment).unwrap_err();
    assert_eq!(error.key, "pipedrive.budget_share");
}

#[test]
fn burst_limit_and_audit_retention_have_defaults_and_are_checked() {
    let config = parse("x.toml", TEMPLATE, &environment).unwrap();
    assert_eq!(config.pipedrive.burst_limit, None);
    assert_eq!(
        config.pipedrive.burst_limit(),
        40,
        "growth with an API token"
    );
    assert_eq!(config.audit.keep_days, 90);

    let text = TEMPLATE
        .replace("# burst_limit = 100", "burst_limit = 100000")
        .replace("keep_days = 90", "keep_days = 30");
    let config = parse("x.toml", &text, &environment).unwrap();
    assert_eq!(config.pipedrive.burst_limit(), 100_000);
    assert_eq!(config.audit.keep_days, 30);

    let text = TEMPLATE.replace("# burst_limit = 100", "burst_limit = 0");
    let error = parse("x.toml", &text, &environment).unwrap_err();
    assert_eq!(error.key, "pipedrive.burst_limit");
    let text = TEMPLATE.replace("keep_days = 90", "keep_days = 0");
    let error = parse("x.toml", &text, &environment).unwrap_err();
    assert_eq!(error.key, "audit.keep_days");
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
        "account_groups",
        "exclude_account_groups",
        "countries",
        "only_with_company_code",
        "only_with_sales_area",
        "created_after",
        "service_path",
        "customer_set",
        "contact_set",
        "changed_at_property",
        "changed_time_property",
        "expand_contacts",
        "page_size",
        "auth",
        "api_token",
        "plan",
        "seats",
        "burst_limit",
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
        "on_pipedrive_deleted",
        "on_contact_deleted",
        "status_label",
        "max_failures",
        "keep_days",
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
        "webhook_url",
        "smtp_url",
        "email_from",
        "email_to",
        "failed_runs_in_a_row",
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

/// The template with an `[alerts]` table of these lines appended.
fn with_alerts(lines: &str) -> String {
    format!("{TEMPLATE}\n[alerts]\n{lines}\n")
}

fn alerts_environment(name: &str) -> Option<String> {
    match name {
        "SMTP_PASSWORD" => Some("hunter2/secret@x".to_string()),
        "WEBHOOK" => Some("https://hooks.slack.com/services/T0/B0/tokentokentoken".to_string()),
        _ => environment(name),
    }
}

#[test]
fn without_an_alerts_table_there_is_no_channel() {
    let config = parse("x.toml", TEMPLATE, &environment).unwrap();
    assert!(config.alerts.webhook_url.is_none());
    assert!(config.alerts.email.is_none());
    assert_eq!(config.alerts.failed_runs_in_a_row, 3);
}

#[test]
fn the_commented_alerts_table_of_the_template_validates_once_uncommented() {
    let start = TEMPLATE
        .find("# [alerts]")
        .expect("the template has an [alerts] table");
    let (before, table) = TEMPLATE.split_at(start);
    let uncommented: String = table
        .lines()
        .map(|line| {
            let line = line.strip_prefix("# ").unwrap_or(line);
            if line.starts_with('[') || line.contains(" = ") {
                line.to_string()
            } else {
                format!("# {line}")
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    let text = format!("{before}{uncommented}");
    let config = parse("x.toml", &text, &|name| match name {
        "MLC_ALERT_WEBHOOK_URL" => Some("https://hooks.slack.com/services/T0/B0/x".to_string()),
        _ => alerts_environment(name),
    })
    .unwrap_or_else(|error| panic!("{error}"));
    let email = config.alerts.email.expect("e-mail alerts");
    assert_eq!(email.smtp.host, "mail.example.com");
    assert_eq!(email.smtp.port, 587);
    assert_eq!(email.smtp.security, SmtpSecurity::StartTls);
    let login = email.smtp.login.expect("a login");
    assert_eq!(login.user, "alerts@example.com");
    assert_eq!(login.password.expose(), "hunter2/secret@x");
    assert_eq!(email.to, ["sap-team@example.com"]);
    assert!(config.alerts.webhook_url.is_some());
}

#[test]
fn smtp_urls_choose_the_security_and_the_port() {
    let cases = [
        ("smtp://mail.example.com", SmtpSecurity::StartTls, 587),
        (
            "smtp://mail.example.com:25?tls=required",
            SmtpSecurity::StartTls,
            25,
        ),
        ("smtps://mail.example.com", SmtpSecurity::ImplicitTls, 465),
        ("smtp://127.0.0.1:2525?tls=none", SmtpSecurity::Plain, 2525),
        ("smtp://[::1]:2525?tls=none", SmtpSecurity::Plain, 2525),
    ];
    for (url, security, port) in cases {
        let text = with_alerts(&format!(
            "smtp_url = \"{url}\"\nemail_from = \"a@example.com\"\nemail_to = [\"b@example.com\"]"
        ));
        let config = parse("x.toml", &text, &alerts_environment)
            .unwrap_or_else(|error| panic!("{url}: {error}"));
        let smtp = config.alerts.email.expect("e-mail alerts").smtp;
        assert_eq!((smtp.security, smtp.port), (security, port), "{url}");
        assert!(smtp.login.is_none(), "{url}");
    }
}

#[test]
fn a_bad_alerts_key_or_value_is_named() {
    let error = parse(
        "x.toml",
        &with_alerts("failed_runs_in_row = 3"),
        &environment,
    )
    .unwrap_err();
    assert_eq!(error.key, "failed_runs_in_row");
    assert_eq!(error.suggestion.as_deref(), Some("failed_runs_in_a_row"));

    let error = parse(
        "x.toml",
        &with_alerts("failed_runs_in_a_row = 0"),
        &environment,
    )
    .unwrap_err();
    assert_eq!(error.key, "alerts.failed_runs_in_a_row");
    assert!(error.line.is_some());

    let error = parse(
        "x.toml",
        &with_alerts("email_to = \"b@example.com\""),
        &environment,
    )
    .unwrap_err();
    assert_eq!(error.key, "alerts.email_to", "{error}");

    let error = parse(
        "x.toml",
        &with_alerts("smtp_url = \"smtp://mail.example.com\"\nemail_from = \"a@example.com\""),
        &environment,
    )
    .unwrap_err();
    assert_eq!(error.key, "alerts.email_to", "{error}");

    let error = parse(
        "x.toml",
        &with_alerts("email_to = [\"b@example.com\"]"),
        &environment,
    )
    .unwrap_err();
    assert_eq!(error.key, "alerts.email_to");
    assert!(error.message.contains("alerts.smtp_url"), "{error}");

    let error = parse(
        "x.toml",
        &with_alerts("smtp_url = \"smtp://x\"\nemail_from = \"a@example.com\"\nemail_to = []"),
        &environment,
    )
    .unwrap_err();
    assert_eq!(error.key, "alerts.email_to");
}

#[test]
fn plain_alerts_to_another_machine_are_refused() {
    let error = parse(
        "x.toml",
        &with_alerts("webhook_url = \"http://hooks.example.com/services/T0/B0/token\""),
        &environment,
    )
    .unwrap_err();
    assert_eq!(error.key, "alerts.webhook_url");
    assert!(error.message.contains("in clear"), "{error}");
    assert!(!error.to_string().contains("B0/token"), "{error}");
    assert!(parse(
        "x.toml",
        &with_alerts("webhook_url = \"http://127.0.0.1:9000/hook\""),
        &environment
    )
    .is_ok());

    let error = parse(
        "x.toml",
        &with_alerts(
            "smtp_url = \"smtp://u:${SMTP_PASSWORD}@mail.example.com?tls=none\"\n\
             email_from = \"a@example.com\"\nemail_to = [\"b@example.com\"]",
        ),
        &alerts_environment,
    )
    .unwrap_err();
    assert_eq!(error.key, "alerts.smtp_url");
    assert!(error.message.contains("in clear"), "{error}");
}

#[test]
fn alert_secrets_never_show_in_errors_or_debug() {
    let broken = [
        "smtp_url = \"smtp://u:${SMTP_PASSWORD}@mail.example.com/path\"",
        "smtp_url = \"smtp://u:${SMTP_PASSWORD}@mail.example.com?tls=opportunistic\"",
        "smtp_url = \"smtp://u:${SMTP_PASSWORD}@mail.example.com:99999\"",
        "smtp_url = \"ftp://u:${SMTP_PASSWORD}@mail.example.com\"",
        "smtp_url = \"smtp://u:${SMTP_PASSWORD}@mail.example.com\"",
        "webhook_url = \"https://hooks slack.com/${WEBHOOK}\"",
        "webhook_url = \"ftp://${WEBHOOK}\"",
    ];
    for lines in broken {
        let error = parse("x.toml", &with_alerts(lines), &alerts_environment).unwrap_err();
        let shown = format!("{error} {error:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(!shown.contains("tokentoken"), "{shown}");
        assert!(error.key.starts_with("alerts."), "{shown}");
    }

    let text = with_alerts(
        "webhook_url = \"${WEBHOOK}\"\n\
         smtp_url = \"smtps://u:${SMTP_PASSWORD}@mail.example.com\"\n\
         email_from = \"a@example.com\"\nemail_to = [\"b@example.com\"]",
    );
    let config = parse("x.toml", &text, &alerts_environment).unwrap();
    let printed = format!("{config:?}");
    assert!(!printed.contains("hunter2"), "{printed}");
    assert!(!printed.contains("tokentoken"), "{printed}");
}

#[test]
fn a_password_from_the_environment_needs_no_escaping_and_a_whole_url_is_taken_as_is() {
    let with_url = |url: &str| {
        with_alerts(&format!(
            "smtp_url = \"{url}\"\nemail_from = \"a@example.com\"\nemail_to = [\"b@example.com\"]"
        ))
    };
    let lookup = |name: &str| match name {
        "SMTP_PASSWORD" => Some("p@ss/w:rd?#%41".to_string()),
        "SMTP_URL" => Some("smtps://mlc:p%40ss@mail.example.com:2465".to_string()),
        _ => environment(name),
    };

    let text = with_url("smtp://alerts%40example.com:${SMTP_PASSWORD}@mail.example.com");
    let config = parse("x.toml", &text, &lookup).unwrap_or_else(|error| panic!("{error}"));
    let login = config.alerts.email.unwrap().smtp.login.unwrap();
    assert_eq!(login.user, "alerts@example.com");
    assert_eq!(login.password.expose(), "p@ss/w:rd?#%41");

    let config = parse("x.toml", &with_url("${SMTP_URL}"), &lookup).unwrap();
    let smtp = config.alerts.email.unwrap().smtp;
    assert_eq!(
        (smtp.security, smtp.port),
        (SmtpSecurity::ImplicitTls, 2465)
    );
    assert_eq!(smtp.login.unwrap().password.expose(), "p@ss");
}

#[test]
fn drift_policies_are_read_per_field_group_and_a_wrong_one_is_named() {
    use mlc_config::DriftPolicy;
    let defaults = parse("x.toml", TEMPLATE, &environment).unwrap();
    assert_eq!(defaults.sync.drift, mlc_config::DriftConfig::default());
    let text = TEMPLATE
        .replace("address = \"enforce\"", "address = \"flag\"")
        .replace("phones = \"enforce\"", "phones = \"ignore\"")
        .replace(
            "# custom = { \"ECC Payment Terms\" = \"flag\" }",
            "custom = { \"ECC Payment Terms\" = \"ignore\" }",
        )
        .replace("max_reasserts_per_day = 3", "max_reasserts_per_day = 5");
    let config = parse("x.toml", &text, &environment).unwrap();
    let drift = &config.sync.drift;
    assert_eq!(drift.name, DriftPolicy::Enforce);
    assert_eq!(drift.address, DriftPolicy::Flag);
    assert_eq!(drift.phones, DriftPolicy::Ignore);
    assert_eq!(
        drift.custom.get("ECC Payment Terms"),
        Some(&DriftPolicy::Ignore)
    );
    assert_eq!(drift.max_reasserts_per_day, 5);

    let wrong = TEMPLATE.replace("name = \"enforce\"", "name = \"fight\"");
    let error = parse("x.toml", &wrong, &environment).unwrap_err();
    assert_eq!(error.key, "sync.drift.name", "{error}");
}
