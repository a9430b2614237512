use mlc_canonical::Address;
use mlc_config::sections::sync::ContactDeletedPolicy;
use mlc_config::{
    FieldRule, FieldTarget, LabelRule, MappingConfig, OwnerRule, Transform, ValueSource,
};
use serde_json::{json, Value};

use super::*;
use crate::existing::{ContactEntry, ExistingPerson};
use crate::testing::{customer, field_map, field_map_with, key_for, sync_config};

fn custom_key(name: &str) -> String {
    format!("custom_fields.{}", key_for(name))
}

#[test]
fn the_default_map_writes_the_brief_fields() {
    let mapped = field_map().map_organization(&customer()).expect("maps");
    assert_eq!(
        mapped.get("name"),
        Some(&json!("Müller Maschinenbau GmbH & Co. KG"))
    );
    assert_eq!(
        mapped.get("address"),
        Some(&json!({
            "value": "Hauptstraße 12, 70173 Stuttgart, Germany",
            "route": "Hauptstraße", "street_number": "12", "postal_code": "70173",
            "locality": "Stuttgart", "admin_area_level_1": "BW", "country": "Germany"
        }))
    );
    assert_eq!(
        mapped.get(&custom_key(CUSTOMER_NUMBER_FIELD)),
        Some(&json!("4711"))
    );
    assert_eq!(
        mapped.get(&custom_key("ECC VAT Number")),
        Some(&json!("DE123456789"))
    );
    assert_eq!(
        mapped.get(&custom_key("ECC Account Group")),
        Some(&json!("0001"))
    );
    assert_eq!(
        mapped.get(&custom_key("ECC Payment Terms")),
        Some(&json!("ZB30"))
    );
    assert_eq!(
        mapped.get(&custom_key("ECC Payment Terms Text")),
        Some(&json!("30 days net"))
    );
    assert_eq!(
        mapped.get(&custom_key("ECC Shipping Address")),
        Some(&Value::Null)
    );
    // on_blocked = "field" in the template: the status field is owned, empty while active.
    assert_eq!(mapped.get(&custom_key(STATUS_FIELD)), Some(&Value::Null));
    // Nothing the map does not own.
    assert!(mapped.get("owner_id").is_none());
    assert!(mapped.get("label_ids").is_none());
    assert_eq!(
        field_map().customer_number_key(),
        Some(key_for(CUSTOMER_NUMBER_FIELD).as_str())
    );
}

#[test]
fn a_contacts_mobile_numbers_follow_its_landlines_labelled_mobile() {
    let customer = customer();
    let mut contact = customer.contacts[0].clone();
    contact.mobile_phones.push("0171 5551234".into());
    let mapped = field_map().map_person(&customer, &contact).expect("maps");
    assert_eq!(
        mapped.get("phones"),
        Some(&json!([
            {"value": "0711 123456-12", "primary": true, "label": "work"},
            {"value": "0171 5551234", "primary": false, "label": "mobile"}
        ]))
    );
    contact.phones.clear();
    let mapped = field_map().map_person(&customer, &contact).expect("maps");
    assert_eq!(
        mapped.get("phones"),
        Some(&json!([{"value": "0171 5551234", "primary": true, "label": "mobile"}]))
    );
}

#[test]
fn the_default_person_has_name_labelled_emails_and_contact_number() {
    let customer = customer();
    let mut contact = customer.contacts[0].clone();
    contact.emails.push("anna@example.com".into());
    let mapped = field_map().map_person(&customer, &contact).expect("maps");
    assert_eq!(mapped.get("name"), Some(&json!("Anna Schmidt")));
    assert_eq!(
        mapped.get("emails"),
        Some(&json!([
            {"value": "a.schmidt@mueller-maschinenbau.de", "primary": true, "label": "work"},
            {"value": "anna@example.com", "primary": false, "label": "work"}
        ]))
    );
    assert_eq!(
        mapped.get(&custom_key(CONTACT_NUMBER_FIELD)),
        Some(&json!("12345"))
    );
    assert_eq!(
        mapped.get(&custom_key("ECC Department")),
        Some(&json!("Einkauf"))
    );
    assert_eq!(
        mapped.get(&custom_key("ECC Function")),
        Some(&json!("Head of Purchasing"))
    );
    let existing = ExistingPerson {
        id: 1,
        name: "Anna Schmidt".into(),
        emails: vec![
            ContactEntry {
                value: "a.schmidt@mueller-maschinenbau.de".into(),
                label: Some("work".into()),
                primary: true,
            },
            ContactEntry {
                value: "anna@example.com".into(),
                label: Some("work".into()),
                primary: false,
            },
        ],
        phones: vec![ContactEntry {
            value: "0711 123456-12".into(),
            label: Some("work".into()),
            primary: true,
        }],
        custom_fields: [
            (key_for(CONTACT_NUMBER_FIELD), json!("12345")),
            (key_for("ECC Department"), json!("Einkauf")),
            (key_for("ECC Function"), json!("Head of Purchasing")),
        ]
        .into_iter()
        .collect(),
        ..Default::default()
    };
    assert!(diff(&mapped, &existing, &[]).is_empty());
}

#[test]
fn the_shipping_address_goes_to_an_address_custom_field() {
    let mut customer = customer();
    customer.shipping_address = Some(Address {
        street: "Industriestraße".into(),
        house_number: "5".into(),
        postal_code: "8001".into(),
        city: "Zürich".into(),
        region: "ZH".into(),
        country: "CH".into(),
    });
    let spec = FieldMapSpec::from_config(&MappingConfig::default(), &sync_config());
    let shipping = spec
        .required_custom_fields()
        .into_iter()
        .find(|field| field.name == "ECC Shipping Address")
        .unwrap();
    assert_eq!(shipping.field_type, "address");
    let mapped = field_map().map_organization(&customer).unwrap();
    let address = mapped.get(&custom_key("ECC Shipping Address")).unwrap();
    assert_eq!(
        address["value"],
        "Industriestraße 5, 8001 Zürich, Switzerland"
    );
    assert_eq!(address["country"], "Switzerland");
}

#[test]
fn dirty_values_are_data_errors_not_panics() {
    let mut dirty = customer();
    dirty.name = "A".repeat(300);
    dirty.billing_address.country = "XX".into();
    dirty.vat_number = Some("DE\u{7}123".into());
    let problems = field_map().map_organization(&dirty).unwrap_err();
    let fields: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
    assert!(fields.contains(&"name"), "{problems:?}");
    assert!(fields.contains(&"address"), "{problems:?}");
    assert!(
        fields.contains(&"custom field \"ECC VAT Number\""),
        "{problems:?}"
    );
    assert!(problems.iter().any(|p| p.message.contains("at most 255")));
    assert!(problems
        .iter()
        .any(|p| p.message.contains("unknown country code `XX`")));

    let mut empty_name = customer();
    empty_name.name = "  ".into();
    assert!(field_map().map_organization(&empty_name).is_err());

    let mut bad_email = customer();
    bad_email.contacts[0].emails = vec!["not-an-address".into()];
    let problems = field_map()
        .map_person(&bad_email, &bad_email.contacts[0])
        .unwrap_err();
    assert_eq!(problems[0].field, "emails");
}

#[test]
fn configured_rules_replace_defaults_add_fields_and_disable() {
    let mut mapping = MappingConfig::default();
    mapping.tables.insert(
        "terms".into(),
        [("ZB30".to_string(), "Net 30".to_string())]
            .into_iter()
            .collect(),
    );
    mapping.organization = vec![
        FieldRule {
            target: FieldTarget::Standard("name".into()),
            source: ValueSource::Template("{name} ({customer_number_display})".into()),
            transforms: vec![],
            enabled: true,
        },
        FieldRule {
            target: FieldTarget::CustomByName("ECC Payment Terms Text".into()),
            source: ValueSource::Field("payment_terms.code".into()),
            transforms: vec![Transform::Table("terms".into())],
            enabled: true,
        },
        FieldRule {
            target: FieldTarget::CustomByName("Country".into()),
            source: ValueSource::Field("billing_address.country".into()),
            transforms: vec![Transform::CountryName, Transform::Upper],
            enabled: true,
        },
        FieldRule {
            target: FieldTarget::CustomByKey("0123456789abcdef0123456789abcdef01234567".into()),
            source: ValueSource::Field("customer_number".into()),
            transforms: vec![Transform::AlphaOutput],
            enabled: true,
        },
        FieldRule {
            target: FieldTarget::CustomByName("ECC VAT Number".into()),
            source: ValueSource::Field("vat_number".into()),
            transforms: vec![],
            enabled: false,
        },
    ];
    let map = field_map_with(&mapping, &sync_config());
    let mapped = map.map_organization(&customer()).unwrap();
    assert_eq!(
        mapped.get("name"),
        Some(&json!("Müller Maschinenbau GmbH & Co. KG (4711)"))
    );
    assert_eq!(
        mapped.get(&custom_key("ECC Payment Terms Text")),
        Some(&json!("Net 30"))
    );
    assert_eq!(mapped.get(&custom_key("Country")), Some(&json!("GERMANY")));
    assert_eq!(
        mapped.get("custom_fields.0123456789abcdef0123456789abcdef01234567"),
        Some(&json!("4711"))
    );
    assert!(mapped.get(&custom_key("ECC VAT Number")).is_none());
}

#[test]
fn persons_carry_the_status_field_only_when_on_contact_deleted_writes_it() {
    let person_status = |spec: &FieldMapSpec| {
        spec.required_custom_fields()
            .into_iter()
            .find(|field| field.kind == EntityKind::Person && field.name == STATUS_FIELD)
    };
    // field (the default): `setup` creates "ECC Status" for persons; a contact that is read
    // says nothing there, a deleted one says "deleted".
    let spec = FieldMapSpec::from_config(&MappingConfig::default(), &sync_config());
    assert_eq!(
        person_status(&spec).map(|field| field.field_type),
        Some("varchar".to_string())
    );
    let customer = customer();
    let map = field_map();
    let read = map.map_person(&customer, &customer.contacts[0]).unwrap();
    assert_eq!(read.get(&custom_key(STATUS_FIELD)), Some(&Value::Null));
    let deleted = map.map_deleted_contact().unwrap();
    assert_eq!(
        deleted.owned_fields().collect::<Vec<_>>(),
        vec![custom_key(STATUS_FIELD).as_str()]
    );
    assert_eq!(
        deleted.get(&custom_key(STATUS_FIELD)),
        Some(&json!(CONTACT_DELETED_STATUS))
    );

    // leave and delete write no person status: nothing to create, nothing mapped.
    for policy in [ContactDeletedPolicy::Leave, ContactDeletedPolicy::Delete] {
        let mut sync = sync_config();
        sync.on_contact_deleted = policy;
        let spec = FieldMapSpec::from_config(&MappingConfig::default(), &sync);
        assert_eq!(person_status(&spec), None, "{policy:?}");
        let map = field_map_with(&MappingConfig::default(), &sync);
        assert!(map.map_deleted_contact().unwrap().is_empty(), "{policy:?}");
        let read = map.map_person(&customer, &customer.contacts[0]).unwrap();
        assert!(read.get(&custom_key(STATUS_FIELD)).is_none(), "{policy:?}");
    }

    // A rule of [mapping] renames the field and transforms the status like any value.
    let mapping = MappingConfig {
        person: vec![
            FieldRule {
                target: FieldTarget::CustomByName(STATUS_FIELD.into()),
                source: ValueSource::Field("status".into()),
                transforms: vec![],
                enabled: false,
            },
            FieldRule {
                target: FieldTarget::CustomByName("Status in SAP".into()),
                source: ValueSource::Field("status".into()),
                transforms: vec![Transform::Upper],
                enabled: true,
            },
        ],
        ..MappingConfig::default()
    };
    let deleted = field_map_with(&mapping, &sync_config())
        .map_deleted_contact()
        .unwrap();
    assert_eq!(
        deleted.owned_fields().collect::<Vec<_>>(),
        vec![custom_key("Status in SAP").as_str()]
    );
    assert_eq!(
        deleted.get(&custom_key("Status in SAP")),
        Some(&json!("DELETED"))
    );
}

#[test]
fn the_vat_rule_reads_the_field_the_map_writes_the_vat_number_to() {
    assert_eq!(
        field_map().vat_number_key(),
        Some(key_for("ECC VAT Number").as_str())
    );

    let mut mapping = MappingConfig {
        organization: vec![
            FieldRule {
                target: FieldTarget::CustomByName("ECC VAT Number".into()),
                source: ValueSource::Field("vat_number".into()),
                transforms: vec![],
                enabled: false,
            },
            FieldRule {
                target: FieldTarget::CustomByName("USt-IdNr.".into()),
                source: ValueSource::Field("vat_number".into()),
                transforms: vec![],
                enabled: true,
            },
        ],
        ..MappingConfig::default()
    };
    let renamed = field_map_with(&mapping, &sync_config());
    assert_eq!(
        renamed.vat_number_key(),
        Some(key_for("USt-IdNr.").as_str())
    );

    mapping.organization.truncate(1);
    let without = field_map_with(&mapping, &sync_config());
    assert_eq!(without.vat_number_key(), None);
}

#[test]
fn owner_and_labels_follow_the_rules() {
    let mapping = MappingConfig {
        default_owner_id: Some(1),
        owner_rules: vec![OwnerRule {
            country: Some("CH".into()),
            account_group: None,
            owner_id: 9,
        }],
        label_rules: vec![
            LabelRule {
                country: Some("DE".into()),
                account_group: None,
                label_id: 4,
            },
            LabelRule {
                country: None,
                account_group: Some("CPD".into()),
                label_id: 5,
            },
        ],
        ..MappingConfig::default()
    };
    let map = field_map_with(&mapping, &sync_config());
    let german = map.map_organization(&customer()).unwrap();
    assert_eq!(german.get("owner_id"), Some(&json!(1)));
    assert_eq!(german.get("label_ids"), Some(&json!([4])));
    let mut swiss = customer();
    swiss.billing_address.country = "CH".into();
    swiss.account_group = "CPD".into();
    let swiss = map.map_organization(&swiss).unwrap();
    assert_eq!(swiss.get("owner_id"), Some(&json!(9)));
    assert_eq!(swiss.get("label_ids"), Some(&json!([5])));
    assert_eq!(map.managed_label_ids(), &[4, 5]);
}

#[test]
fn an_unknown_custom_field_name_is_named_for_setup() {
    let spec = FieldMapSpec::from_config(&MappingConfig::default(), &sync_config());
    let unknown = spec.resolve(&FieldKeys::default()).unwrap_err();
    assert!(unknown
        .iter()
        .any(|field| field.name == CUSTOMER_NUMBER_FIELD));
    assert!(unknown[0].to_string().contains("ml-connector setup"));
}

#[test]
fn the_mapped_hash_changes_only_with_mapped_content() {
    let map = field_map();
    let base = map.map_organization(&customer()).unwrap().content_hash();
    let mut unmapped_change = customer();
    unmapped_change.email = Some("other@example.com".into());
    assert_eq!(
        map.map_organization(&unmapped_change)
            .unwrap()
            .content_hash(),
        base
    );
    let mut mapped_change = customer();
    mapped_change.billing_address.postal_code = "70174".into();
    assert_ne!(
        map.map_organization(&mapped_change).unwrap().content_hash(),
        base
    );
}

#[test]
fn emails_are_plausible_or_not() {
    assert!(is_plausible_email("a.b@example.co.uk"));
    assert!(!is_plausible_email("a@b"));
    assert!(!is_plausible_email("a b@example.com"));
    assert!(!is_plausible_email("a@@example.com"));
    assert!(!is_plausible_email("@example.com"));
}
