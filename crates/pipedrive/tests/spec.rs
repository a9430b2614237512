//! The client's facts against Pipedrive's OpenAPI documents: the token cost table is the spec's
//! `x-token-cost`, and the request check used by the other tests catches what Pipedrive
//! refuses (so a request that passes it is one Pipedrive takes).

mod support;

use mlc_pipedrive::{token_cost, OPERATION_COSTS};
use reqwest::Method;
use serde_json::json;

#[test]
fn the_token_cost_table_is_the_spec_s_x_token_cost() {
    let Some(specs) = support::spec::load() else {
        return;
    };
    let spec_costs = specs.token_costs();
    let mut problems = Vec::new();
    for cost in OPERATION_COSTS {
        match spec_costs
            .iter()
            .find(|(method, template, _)| method == cost.method && template == cost.path_template)
        {
            Some((_, _, spec_cost)) if *spec_cost == u64::from(cost.tokens) => {}
            Some((_, _, spec_cost)) => problems.push(format!(
                "{} {}: table {} tokens, spec {spec_cost}",
                cost.method, cost.path_template, cost.tokens
            )),
            None => problems.push(format!(
                "{} {}: not in the spec",
                cost.method, cost.path_template
            )),
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    // The figures the budget arithmetic of the brief relies on.
    assert_eq!(token_cost(&Method::POST, "/api/v2/organizations"), 5);
    assert_eq!(token_cost(&Method::GET, "/api/v2/organizations"), 10);
}

#[test]
fn the_request_check_catches_what_pipedrive_refuses() {
    let Some(specs) = support::spec::load() else {
        return;
    };
    let ok =
        json!({"name": "A", "custom_fields": {"c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00": "1"}});
    assert_eq!(
        specs.check_request("POST", "/api/v2/organizations", &[], Some(&ok)),
        Vec::<String>::new()
    );
    let root_level_custom = json!({"name": "A", "c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00": "1"});
    assert!(!specs
        .check_request(
            "POST",
            "/api/v2/organizations",
            &[],
            Some(&root_level_custom)
        )
        .is_empty());
    let boolean_label = json!({"name": "A", "emails": [{"value": "a@b.de", "label": true}]});
    assert!(!specs
        .check_request("POST", "/api/v2/persons", &[], Some(&boolean_label))
        .is_empty());
    let string_owner = json!({"owner_id": "1"});
    assert!(!specs
        .check_request("PATCH", "/api/v2/organizations/5", &[], Some(&string_owner))
        .is_empty());
    let nameless = json!({"owner_id": 1});
    assert!(!specs
        .check_request("POST", "/api/v2/organizations", &[], Some(&nameless))
        .is_empty());
    let unknown_query = vec![("start".to_string(), "0".to_string())];
    assert!(!specs
        .check_request("GET", "/api/v2/organizations", &unknown_query, None)
        .is_empty());
    let bad_fields = vec![
        ("term".to_string(), "x".to_string()),
        ("fields".to_string(), "name,vat".to_string()),
    ];
    assert!(!specs
        .check_request("GET", "/api/v2/organizations/search", &bad_fields, None)
        .is_empty());
    assert!(!specs
        .check_request("GET", "/api/v2/organisations", &[], None)
        .is_empty());
}
