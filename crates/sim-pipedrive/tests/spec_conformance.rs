//! Every operation the simulator serves, driven over HTTP, with every answer (successes and
//! refusals) validated against Pipedrive's OpenAPI documents.

mod common;

use common::Api;
use serde_json::{json, Value};

const ORGS: &str = "/api/v2/organizations";
const ORG: &str = "/api/v2/organizations/{id}";
const PERSONS: &str = "/api/v2/persons";
const PERSON: &str = "/api/v2/persons/{id}";

#[tokio::test]
async fn every_operation_answers_as_the_documents_describe() {
    let sim = common::spawn_with(|options| options.plan = "unlimited".to_string()).await;
    let api = Api::new(&sim.base_url(), sim.api_token());

    // --- custom fields through v2 and v1 ---
    let created = api
        .post(
            "/api/v2/organizationFields",
            &[],
            &json!({"field_name": "ECC Customer Number", "field_type": "varchar"}),
        )
        .await;
    assert_eq!(created.status, 200, "{}", created.text);
    let ecc_key = created.json()["data"]["field_code"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(ecc_key.len(), 40);
    assert!(ecc_key.bytes().all(|byte| byte.is_ascii_hexdigit()));
    let tier = api
        .post("/api/v2/organizationFields", &[], &json!({"field_name": "Tier", "field_type": "enum", "options": [{"label": "A"}, {"label": "B"}]}))
        .await
        .json();
    let tier_key = tier["data"]["field_code"].as_str().unwrap().to_string();
    let tier_a = tier["data"]["options"][0]["id"].as_u64().unwrap();
    let v1_field = api
        .post("/v1/organizationFields", &[], &json!({"name": "Regions", "field_type": "set", "options": [{"label": "North"}, {"label": "South"}]}))
        .await;
    assert_eq!(v1_field.status, 200, "{}", v1_field.text);
    let v1_field = v1_field.json()["data"].clone();
    let regions_key = v1_field["key"].as_str().unwrap().to_string();
    let regions_id = v1_field["id"].as_u64().unwrap().to_string();
    let north = v1_field["options"][0]["id"].as_u64().unwrap();
    let person_field = api
        .post(
            "/api/v2/personFields",
            &[],
            &json!({"field_name": "ECC Contact Number", "field_type": "varchar"}),
        )
        .await
        .json();
    let contact_key = person_field["data"]["field_code"]
        .as_str()
        .unwrap()
        .to_string();

    let listed = api
        .get(
            "/api/v2/organizationFields",
            &[],
            &[(
                "include_fields",
                "ui_visibility,important_fields,required_fields",
            )],
        )
        .await;
    assert!(listed.json()["data"]
        .as_array()
        .unwrap()
        .iter()
        .any(|field| field["field_code"] == ecc_key.as_str()));
    let paged = api
        .get("/api/v2/organizationFields", &[], &[("limit", "2")])
        .await
        .json();
    let cursor = paged["additional_data"]["next_cursor"]
        .as_str()
        .unwrap()
        .to_string();
    api.get("/api/v2/organizationFields", &[], &[("cursor", &cursor)])
        .await;
    api.get(
        "/api/v2/organizationFields/{field_code}",
        &[("field_code", &ecc_key)],
        &[],
    )
    .await;
    api.get(
        "/api/v2/organizationFields/{field_code}",
        &[("field_code", "address")],
        &[],
    )
    .await;
    assert_eq!(
        api.get(
            "/api/v2/organizationFields/{field_code}",
            &[("field_code", "0000000000000000000000000000000000000000")],
            &[]
        )
        .await
        .status,
        404
    );
    assert_eq!(
        api.patch(
            "/api/v2/organizationFields/{field_code}",
            &[("field_code", &ecc_key)],
            &json!({"field_name": "ECC Customer No"})
        )
        .await
        .status,
        200
    );
    assert_eq!(
        api.patch(
            "/api/v2/organizationFields/{field_code}",
            &[("field_code", &ecc_key)],
            &json!({"field_type": "text"})
        )
        .await
        .status,
        400
    );
    let added = api
        .post(
            "/api/v2/organizationFields/{field_code}/options",
            &[("field_code", &tier_key)],
            &json!([{"label": "C"}]),
        )
        .await;
    let tier_c = added.json()["data"][0]["id"].as_u64().unwrap();
    api.patch(
        "/api/v2/organizationFields/{field_code}/options",
        &[("field_code", &tier_key)],
        &json!([{"id": tier_c, "label": "C-tier"}]),
    )
    .await;
    let removed = api
        .call(
            reqwest::Method::DELETE,
            "/api/v2/organizationFields/{field_code}/options",
            &[("field_code", &tier_key)],
            &[],
            Some(&json!([{"id": tier_c}])),
        )
        .await;
    assert_eq!(removed.status, 200);
    assert_eq!(
        api.post(
            "/api/v2/organizationFields",
            &[],
            &json!({"field_name": "No type"})
        )
        .await
        .status,
        400
    );
    assert_eq!(
        api.post(
            "/api/v2/organizationFields",
            &[],
            &json!({"field_name": "Bad", "field_type": "enum"})
        )
        .await
        .status,
        400
    );
    api.get("/api/v2/personFields", &[], &[]).await;
    api.get(
        "/api/v2/personFields/{field_code}",
        &[("field_code", &contact_key)],
        &[],
    )
    .await;
    api.patch(
        "/api/v2/personFields/{field_code}",
        &[("field_code", &contact_key)],
        &json!({"ui_visibility": {"add_visible_flag": true}}),
    )
    .await;
    let person_enum = api
        .post(
            "/api/v2/personFields",
            &[],
            &json!({"field_name": "Role", "field_type": "enum", "options": [{"label": "Buyer"}]}),
        )
        .await
        .json();
    let role_key = person_enum["data"]["field_code"]
        .as_str()
        .unwrap()
        .to_string();
    let added = api
        .post(
            "/api/v2/personFields/{field_code}/options",
            &[("field_code", &role_key)],
            &json!([{"label": "Payer"}]),
        )
        .await
        .json();
    let payer = added["data"][0]["id"].as_u64().unwrap();
    api.patch(
        "/api/v2/personFields/{field_code}/options",
        &[("field_code", &role_key)],
        &json!([{"id": payer, "label": "Payer 2"}]),
    )
    .await;
    api.call(
        reqwest::Method::DELETE,
        "/api/v2/personFields/{field_code}/options",
        &[("field_code", &role_key)],
        &[],
        Some(&json!([{"id": payer}])),
    )
    .await;

    let v1_list = api
        .get(
            "/v1/organizationFields",
            &[],
            &[("start", "0"), ("limit", "3")],
        )
        .await
        .json();
    assert_eq!(
        v1_list["additional_data"]["pagination"]["more_items_in_collection"],
        true
    );
    api.get("/v1/organizationFields/{id}", &[("id", &regions_id)], &[])
        .await;
    assert_eq!(
        api.get("/v1/organizationFields/{id}", &[("id", "999999")], &[])
            .await
            .status,
        404
    );
    let renamed = api.put("/v1/organizationFields/{id}", &[("id", &regions_id)], &json!({"name": "Sales regions", "options": [{"id": north, "label": "North"}, {"label": "East"}]})).await;
    assert_eq!(
        renamed.json()["data"]["options"].as_array().unwrap().len(),
        2
    );
    assert_eq!(
        api.post(
            "/v1/organizationFields",
            &[],
            &json!({"field_type": "varchar"})
        )
        .await
        .status,
        400
    );
    api.get("/v1/personFields", &[], &[]).await;
    let v1_person_field = api
        .post(
            "/v1/personFields",
            &[],
            &json!({"name": "Shoe size", "field_type": "double"}),
        )
        .await
        .json();
    let shoe_id = v1_person_field["data"]["id"].as_u64().unwrap().to_string();
    api.get("/v1/personFields/{id}", &[("id", &shoe_id)], &[])
        .await;
    api.put(
        "/v1/personFields/{id}",
        &[("id", &shoe_id)],
        &json!({"name": "Shoe size EU"}),
    )
    .await;

    // --- organizations ---
    let org = api
        .post(ORGS, &[], &json!({
            "name": "Müller Maschinenbau GmbH",
            "address": {"value": "Hauptstraße 12, 70173 Stuttgart", "route": "Hauptstraße", "street_number": "12", "postal_code": "70173", "locality": "Stuttgart", "country": "Germany"},
            "label_ids": [1],
            "custom_fields": {ecc_key.clone(): "4711", tier_key.clone(): tier_a, regions_key.clone(): [north]}
        }))
        .await;
    assert_eq!(org.status, 200, "{}", org.text);
    let org = org.json()["data"].clone();
    let org_id = org["id"].as_u64().unwrap().to_string();
    assert_eq!(org["custom_fields"][&ecc_key], "4711");
    let add_time = org["add_time"].as_str().unwrap();
    assert!(
        add_time.ends_with('Z') && add_time.len() == 20,
        "no milliseconds: {add_time}"
    );
    let bare = api
        .post(ORGS, &[], &json!({"name": "Bare Org AG"}))
        .await
        .json();
    assert_eq!(bare["data"]["address"], Value::Null);
    let bare_id = bare["data"]["id"].as_u64().unwrap().to_string();

    let patched = api
        .patch(
            ORG,
            &[("id", &org_id)],
            &json!({"address": {"value": "Königstraße 1, Stuttgart"}}),
        )
        .await
        .json();
    assert_eq!(
        patched["data"]["address"]["value"],
        "Königstraße 1, Stuttgart"
    );
    assert_eq!(
        patched["data"]["address"]["route"],
        Value::Null,
        "a PATCH with only value nulls the other parts"
    );
    api.get(
        ORG,
        &[("id", &org_id)],
        &[
            ("include_fields", "people_count"),
            ("include_option_labels", "true"),
        ],
    )
    .await;
    api.get(ORG, &[("id", &org_id)], &[("custom_fields", &ecc_key)])
        .await;
    api.get(ORGS, &[], &[("limit", "1")]).await;
    let sorted = api
        .get(
            ORGS,
            &[],
            &[
                ("sort_by", "update_time"),
                ("sort_direction", "desc"),
                ("updated_since", "2000-01-01T00:00:00Z"),
                ("owner_id", "1"),
            ],
        )
        .await
        .json();
    assert_eq!(sorted["data"].as_array().unwrap().len(), 2);
    let first_page = api.get(ORGS, &[], &[("limit", "1")]).await.json();
    let cursor = first_page["additional_data"]["next_cursor"]
        .as_str()
        .unwrap()
        .to_string();
    let second = api
        .get(ORGS, &[], &[("limit", "1"), ("cursor", &cursor)])
        .await
        .json();
    assert_eq!(
        second["data"][0]["id"].as_u64().unwrap().to_string(),
        bare_id
    );
    assert_eq!(second["additional_data"]["next_cursor"], Value::Null);

    // Invalid requests, as Pipedrive refuses them.
    let missing_name = api.post(ORGS, &[], &json!({"owner_id": 1})).await;
    assert_eq!(missing_name.status, 400);
    assert_eq!(missing_name.json()["code"], "ERR_SCHEMA_VALIDATION_FAILED");
    let root_custom = api
        .post(ORGS, &[], &json!({"name": "X", ecc_key.clone(): "1"}))
        .await;
    assert_eq!(root_custom.status, 400);
    assert!(root_custom.json()["error"]
        .as_str()
        .unwrap()
        .contains("is not allowed"));
    assert_eq!(api.post(ORGS, &[], &json!({"name": "X", "custom_fields": {"ffffffffffffffffffffffffffffffffffffffff": "1"}})).await.status, 400);
    assert_eq!(
        api.post(ORGS, &[], &json!({"name": "X", "owner_id": "1"}))
            .await
            .status,
        400,
        "numbers are never strings"
    );
    assert_eq!(
        api.post(
            ORGS,
            &[],
            &json!({"name": "X", "custom_fields": {tier_key.clone(): tier_a.to_string()}})
        )
        .await
        .status,
        400,
        "option ids are numbers"
    );
    assert_eq!(
        api.post(
            ORGS,
            &[],
            &json!({"name": "X", "custom_fields": {regions_key.clone(): []}})
        )
        .await
        .status,
        400,
        "set is cleared with null"
    );
    assert_eq!(
        api.post(ORGS, &[], &json!({"title": "X"})).await.status,
        400
    );
    assert_eq!(
        api.post(ORGS, &[], &json!({"name": "X", "visible_to": 2}))
            .await
            .status,
        400
    );
    assert_eq!(
        api.patch(
            ORG,
            &[("id", &org_id)],
            &json!({"address": {"route": "Only route"}})
        )
        .await
        .status,
        400
    );
    assert_eq!(api.get(ORGS, &[], &[("limit", "501")]).await.status, 400);
    assert_eq!(api.get(ORGS, &[], &[("sort_by", "name")]).await.status, 400);
    assert_eq!(
        api.get(ORGS, &[], &[("updated_since", "yesterday")])
            .await
            .status,
        400
    );
    assert_eq!(api.get(ORG, &[("id", "987654")], &[]).await.status, 404);
    assert_eq!(api.get(ORG, &[("id", "abc")], &[]).await.status, 400);

    // --- persons ---
    let person = api
        .post(PERSONS, &[], &json!({
            "name": "Anna Schmidt", "org_id": org_id.parse::<u64>().unwrap(),
            "emails": [{"value": "a.schmidt@example.com", "label": "work"}, {"value": "anna@example.com", "label": "home"}],
            "phones": [{"value": "0711 123456-12", "primary": true, "label": "mobile"}],
            "custom_fields": {contact_key.clone(): "12345"}
        }))
        .await;
    assert_eq!(person.status, 200, "{}", person.text);
    let person = person.json()["data"].clone();
    assert_eq!(person["first_name"], "Anna");
    assert_eq!(
        person["emails"][0]["primary"], true,
        "the first value becomes primary"
    );
    let person_id = person["id"].as_u64().unwrap().to_string();
    let loner = api
        .post(PERSONS, &[], &json!({"name": "Lone Person"}))
        .await
        .json();
    assert_eq!(loner["data"]["org_id"], Value::Null);
    let loner_id = loner["data"]["id"].as_u64().unwrap().to_string();
    api.get(PERSON, &[("id", &person_id)], &[]).await;
    api.patch(
        PERSON,
        &[("id", &person_id)],
        &json!({"phones": [{"value": "+49 711 1"}], "marketing_status": "subscribed"}),
    )
    .await;
    let by_org = api.get(PERSONS, &[], &[("org_id", &org_id)]).await.json();
    assert_eq!(by_org["data"].as_array().unwrap().len(), 1);
    api.get(PERSONS, &[], &[("sort_by", "add_time"), ("limit", "500")])
        .await;
    assert_eq!(
        api.post(
            PERSONS,
            &[],
            &json!({"name": "Y", "emails": [{"value": "y@example.com", "label": true}]})
        )
        .await
        .status,
        400,
        "labels are strings"
    );
    assert_eq!(api.post(PERSONS, &[], &json!({"name": "Y", "emails": [{"value": "a@x", "primary": true}, {"value": "b@x", "primary": true}]})).await.status, 400);
    assert_eq!(
        api.post(PERSONS, &[], &json!({"name": "Y", "org_id": 999999}))
            .await
            .status,
        400
    );
    assert_eq!(
        api.post(PERSONS, &[], &json!({"first_name": "Y", "last_name": "Z"}))
            .await
            .status,
        400
    );
    assert_eq!(
        api.patch(PERSON, &[("id", "999999")], &json!({"name": "Z"}))
            .await
            .status,
        404
    );

    // --- search ---
    let found = api
        .get("/api/v2/organizations/search", &[], &[("term", "müller")])
        .await
        .json();
    assert_eq!(
        found["data"]["items"][0]["item"]["id"]
            .as_u64()
            .unwrap()
            .to_string(),
        org_id
    );
    let by_custom = api
        .get(
            "/api/v2/organizations/search",
            &[],
            &[
                ("term", "4711"),
                ("fields", "custom_fields"),
                ("exact_match", "true"),
            ],
        )
        .await
        .json();
    assert_eq!(by_custom["data"]["items"].as_array().unwrap().len(), 1);
    api.get("/api/v2/organizations/search", &[], &[("term", "bare")])
        .await;
    let people = api
        .get(
            "/api/v2/persons/search",
            &[],
            &[("term", "schmidt"), ("organization_id", &org_id)],
        )
        .await
        .json();
    assert_eq!(
        people["data"]["items"][0]["item"]["emails"][0],
        "a.schmidt@example.com"
    );
    api.get("/api/v2/persons/search", &[], &[("term", "lone")])
        .await;
    let by_field = api
        .get(
            "/api/v2/itemSearch/field",
            &[],
            &[
                ("term", "4711"),
                ("entity_type", "organization"),
                ("field", &ecc_key),
            ],
        )
        .await
        .json();
    assert_eq!(
        by_field["data"][0]["id"].as_u64().unwrap().to_string(),
        org_id
    );
    let case_sensitive = api
        .get(
            "/api/v2/itemSearch/field",
            &[],
            &[
                ("term", "müller maschinenbau gmbh"),
                ("entity_type", "organization"),
                ("field", "name"),
            ],
        )
        .await
        .json();
    assert_eq!(
        case_sensitive["data"].as_array().unwrap().len(),
        0,
        "field search is case sensitive"
    );
    let beginning = api
        .get(
            "/api/v2/itemSearch/field",
            &[],
            &[
                ("term", "Müller"),
                ("entity_type", "organization"),
                ("field", "name"),
                ("match", "beginning"),
            ],
        )
        .await
        .json();
    assert_eq!(beginning["data"].as_array().unwrap().len(), 1);
    api.get(
        "/api/v2/itemSearch/field",
        &[],
        &[
            ("term", "12345"),
            ("entity_type", "person"),
            ("field", &contact_key),
        ],
    )
    .await;
    assert_eq!(
        api.get(
            "/api/v2/itemSearch/field",
            &[],
            &[
                ("term", "4711"),
                ("entity_type", "company"),
                ("field", &ecc_key)
            ]
        )
        .await
        .status,
        400
    );
    assert_eq!(
        api.get(
            "/api/v2/itemSearch/field",
            &[],
            &[("term", "4711"), ("entity_type", "organization")]
        )
        .await
        .status,
        400
    );
    assert_eq!(
        api.get("/api/v2/organizations/search", &[], &[("term", "m")])
            .await
            .status,
        400
    );
    assert_eq!(
        api.get(
            "/api/v2/organizations/search",
            &[],
            &[("term", "mü"), ("fields", "phone")]
        )
        .await
        .status,
        400
    );
    assert_eq!(
        api.get(
            "/api/v2/persons/search",
            &[],
            &[("term", "an"), ("exact_match", "1")]
        )
        .await
        .status,
        400
    );

    // --- users, webhooks ---
    let me = api.get("/v1/users/me", &[], &[]).await.json();
    assert!(me["data"]["company_id"].is_u64());
    let hook = api
        .post("/v1/webhooks", &[], &json!({"subscription_url": "http://127.0.0.1:9/hook", "event_action": "*", "event_object": "organization", "name": "sync", "http_auth_user": "u", "http_auth_password": "p"}))
        .await;
    assert_eq!(hook.status, 201, "{}", hook.text);
    let hook_id = hook.json()["data"]["id"].as_u64().unwrap().to_string();
    api.get("/v1/webhooks", &[], &[]).await;
    assert_eq!(api.post("/v1/webhooks", &[], &json!({"subscription_url": "not a url", "event_action": "*", "event_object": "*", "name": "x"})).await.status, 400);
    assert_eq!(
        api.delete("/v1/webhooks/{id}", &[("id", &hook_id)], &[])
            .await
            .status,
        200
    );
    assert_eq!(
        api.delete("/v1/webhooks/{id}", &[("id", &hook_id)], &[])
            .await
            .status,
        404
    );

    // --- merge and delete ---
    let merged = api
        .put(
            "/v1/organizations/{id}/merge",
            &[("id", &bare_id)],
            &json!({"merge_with_id": org_id.parse::<u64>().unwrap()}),
        )
        .await;
    assert_eq!(
        merged.json()["data"]["id"].as_u64().unwrap().to_string(),
        org_id
    );
    assert_eq!(
        api.put(
            "/v1/organizations/{id}/merge",
            &[("id", &bare_id)],
            &json!({"merge_with_id": 1})
        )
        .await
        .status,
        404
    );
    let merged_person = api
        .put(
            "/v1/persons/{id}/merge",
            &[("id", &loner_id)],
            &json!({"merge_with_id": person_id.parse::<u64>().unwrap()}),
        )
        .await;
    assert_eq!(merged_person.status, 200, "{}", merged_person.text);
    assert_eq!(
        api.put("/v1/persons/{id}/merge", &[("id", &person_id)], &json!({}))
            .await
            .status,
        400
    );
    let deleted = api.delete(PERSON, &[("id", &person_id)], &[]).await.json();
    assert_eq!(
        deleted["data"]["id"].as_u64().unwrap().to_string(),
        person_id
    );
    api.delete(ORG, &[("id", &org_id)], &[]).await;
    assert_eq!(api.delete(ORG, &[("id", &org_id)], &[]).await.status, 404);
    let gone = api.get(ORG, &[("id", &org_id)], &[]).await.json();
    assert_eq!(
        gone["data"]["is_deleted"], true,
        "a deleted organization is still readable, marked deleted"
    );
    assert_eq!(
        api.get(ORGS, &[], &[]).await.json()["data"]
            .as_array()
            .unwrap()
            .len(),
        0,
        "deleted: gone from lists"
    );
    assert_eq!(
        api.get("/api/v2/organizations/search", &[], &[("term", "müller")])
            .await
            .json()["data"]["items"]
            .as_array()
            .unwrap()
            .len(),
        0
    );

    // --- field deletion ---
    api.delete(
        "/api/v2/organizationFields/{field_code}",
        &[("field_code", &tier_key)],
        &[],
    )
    .await;
    api.delete(
        "/api/v2/personFields/{field_code}",
        &[("field_code", &role_key)],
        &[],
    )
    .await;
    assert_eq!(
        api.delete(
            "/api/v2/organizationFields/{field_code}",
            &[("field_code", "name")],
            &[]
        )
        .await
        .status,
        400
    );
    api.delete("/v1/organizationFields/{id}", &[("id", &regions_id)], &[])
        .await;
    api.delete("/v1/personFields/{id}", &[("id", &shoe_id)], &[])
        .await;
    let bulk_a = api
        .post(
            "/v1/organizationFields",
            &[],
            &json!({"name": "Temp A", "field_type": "text"}),
        )
        .await
        .json()["data"]["id"]
        .as_u64()
        .unwrap();
    let bulk_b = api
        .post(
            "/v1/personFields",
            &[],
            &json!({"name": "Temp B", "field_type": "date"}),
        )
        .await
        .json()["data"]["id"]
        .as_u64()
        .unwrap();
    api.delete(
        "/v1/organizationFields",
        &[],
        &[("ids", &bulk_a.to_string())],
    )
    .await;
    api.delete("/v1/personFields", &[], &[("ids", &bulk_b.to_string())])
        .await;

    // --- auth ---
    let anonymous = Api {
        api_token: None,
        ..Api::new(&sim.base_url(), "")
    };
    let refused = anonymous.get(ORGS, &[], &[]).await;
    assert_eq!(refused.status, 401);
    assert_eq!(refused.json()["error"], "unauthorized access");
    let wrong = Api::new(&sim.base_url(), "wrong-token");
    assert_eq!(wrong.get("/v1/users/me", &[], &[]).await.status, 401);
    let by_query = reqwest::get(format!(
        "{}/api/v2/organizations?api_token={}",
        sim.base_url(),
        sim.api_token()
    ))
    .await
    .unwrap();
    assert_eq!(
        by_query.status(),
        200,
        "the api_token query parameter works"
    );

    // Every operation in the cost table was answered successfully at least once and checked.
    if mlc_spec_check::load().is_some() {
        let checked = api.checked.lock().unwrap();
        for (method, route, _) in mlc_sim_pipedrive::TOKEN_COSTS {
            let ok = checked
                .keys()
                .any(|key| key.starts_with(&format!("{method} {route} 2")));
            assert!(
                ok,
                "{method} {route} was not exercised with a successful answer"
            );
        }
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn the_cost_table_matches_the_documents() {
    let Some(specs) = mlc_spec_check::load() else {
        return;
    };
    for (method, route, cost) in mlc_sim_pipedrive::TOKEN_COSTS {
        let operation = specs
            .operation(method, route)
            .map(|(_, operation)| operation)
            .unwrap_or_else(|| panic!("{method} {route} is not in the documents"));
        let documented = operation["x-token-cost"]
            .as_u64()
            .unwrap_or_else(|| panic!("{method} {route} has no x-token-cost"));
        assert_eq!(u64::from(*cost), documented, "{method} {route}");
    }
    for (document, prefix) in [(&specs.v2, "/api/v2"), (&specs.v1, "/v1")] {
        for path in [
            "/organizations",
            "/persons",
            "/organizationFields",
            "/personFields",
        ] {
            if let Some(item) = document["paths"].get(path) {
                for method in ["get", "post"] {
                    if let Some(operation) = item.get(method) {
                        let route = format!("{prefix}{path}");
                        assert_eq!(
                            mlc_sim_pipedrive::token_cost(&method.to_uppercase(), &route).map(u64::from),
                            operation["x-token-cost"].as_u64(),
                            "{method} {route} is documented with a cost the simulator does not charge"
                        );
                    }
                }
            }
        }
    }
}

#[tokio::test]
async fn the_scope_table_matches_the_documents() {
    let Some(specs) = mlc_spec_check::load() else {
        return;
    };
    for (method, route, scopes) in mlc_sim_pipedrive::OPERATION_SCOPES {
        let (_, operation) = specs
            .operation(method, route)
            .unwrap_or_else(|| panic!("{method} {route} is not in the documents"));
        let security = operation
            .get("security")
            .and_then(|security| security.as_array())
            .unwrap_or_else(|| panic!("{method} {route} names no security"));
        let documented: Vec<&str> = security
            .iter()
            .filter_map(|scheme| scheme.get("oauth2"))
            .filter_map(|scopes| scopes.as_array())
            .flatten()
            .filter_map(|scope| scope.as_str())
            .collect();
        assert_eq!(&documented, scopes, "{method} {route}");
    }
    assert_eq!(
        mlc_sim_pipedrive::OPERATION_SCOPES.len(),
        mlc_sim_pipedrive::TOKEN_COSTS.len(),
        "every operation served has its scopes"
    );
}

#[tokio::test]
async fn the_validator_catches_a_wrong_answer() {
    let Some(specs) = mlc_spec_check::load() else {
        return;
    };
    let wrong = r#"{"success": true, "data": {"id": "7", "name": "X"}}"#;
    let problems = specs.check_response("GET", ORG, 200, "application/json", wrong);
    assert!(
        problems.iter().any(|problem| problem.contains("data.id")),
        "{problems:?}"
    );
    let undocumented = specs.check_response("GET", ORG, 418, "application/json", "{}");
    assert!(!undocumented.is_empty());
}
