//! The content hash is a stored fact: it must not move between runs, platforms or versions.
//! These tests pin known values; a change here means every installed connector re-pushes every
//! record, so it needs a new domain tag, not a new pinned value.

use mlc_canonical::{Address, ContactPerson, Customer, PaymentTerms};

const ORGANIZATION_HASH: &str = "51c9aad7cc6456ee8f79b1d1143ad5468c0f9624095b8e17aa32ca68791574a3";
const CONTACT_HASH: &str = "97df5b96c0f62da6ea151bc5f87ddb7d982ed9f96a185144a75fd7f486a05a1b";
const CONTENT_HASH: &str = "4e70b16dd3cfe6473ce29f4feb38cc113a9faacc4c547c66b1c4fc6144ad9c36";

fn mueller() -> Customer {
    Customer {
        customer_number: mlc_canonical::CustomerNumber::from_internal("0000004711"),
        customer_number_display: mlc_canonical::DisplayNumber::new("4711"),
        name: "Müller Maschinenbau GmbH & Co. KG".into(),
        name_parts: [
            "Müller Maschinenbau".into(),
            "GmbH & Co. KG".into(),
            String::new(),
            String::new(),
        ],
        account_group: "0001".into(),
        vat_number: Some("DE123456789".into()),
        deleted: false,
        blocked: false,
        billing_address: Address {
            street: "Hauptstraße".into(),
            house_number: "12".into(),
            postal_code: "70173".into(),
            city: "Stuttgart".into(),
            region: "BW".into(),
            country: "DE".into(),
        },
        shipping_address: None,
        email: Some("info@mueller-maschinenbau.de".into()),
        phone: Some("0711 123456".into()),
        payment_terms: Some(PaymentTerms {
            code: "ZB30".into(),
            text: Some("30 days net".into()),
        }),
        contacts: vec![ContactPerson {
            contact_number: "0000012345".into(),
            first_name: "Anna".into(),
            last_name: "Schmidt".into(),
            department: Some("Einkauf".into()),
            function: Some("Head of Purchasing".into()),
            emails: vec!["a.schmidt@mueller-maschinenbau.de".into()],
            phones: vec!["0711 123456-12".into()],
            mobile_phones: Vec::new(),
        }],
    }
}

#[test]
fn pinned_hashes_of_the_brief_example() {
    let customer = mueller();
    assert_eq!(customer.organization_hash().as_str(), ORGANIZATION_HASH);
    assert_eq!(customer.contacts[0].content_hash().as_str(), CONTACT_HASH);
    assert_eq!(customer.content_hash().as_str(), CONTENT_HASH);
}

#[test]
fn every_field_moves_the_hash() {
    let base = mueller();
    let base_hash = base.organization_hash();
    let mut changed = base.clone();
    changed.billing_address.postal_code = "70174".into();
    assert_ne!(changed.organization_hash(), base_hash);
    let mut changed = base.clone();
    changed.vat_number = None;
    assert_ne!(changed.organization_hash(), base_hash);
    let mut changed = base.clone();
    changed.blocked = true;
    assert_ne!(changed.organization_hash(), base_hash);
    let mut changed = base.clone();
    changed.shipping_address = Some(Address::default());
    assert_ne!(changed.organization_hash(), base_hash);
}

#[test]
fn a_contact_change_leaves_the_organization_hash_alone() {
    let base = mueller();
    let mut changed = base.clone();
    changed.contacts[0].emails.push("second@example.com".into());
    assert_eq!(changed.organization_hash(), base.organization_hash());
    assert_ne!(changed.content_hash(), base.content_hash());
}

#[test]
fn contact_order_does_not_matter_for_the_record_hash() {
    let mut base = mueller();
    let mut second = base.contacts[0].clone();
    second.contact_number = "0000012346".into();
    base.contacts.push(second);
    let mut reversed = base.clone();
    reversed.contacts.reverse();
    assert_eq!(base.content_hash(), reversed.content_hash());
}

#[test]
fn field_boundaries_are_part_of_the_hash() {
    let mut first = mueller();
    first.name_parts[0] = "ab".into();
    first.name_parts[1] = "c".into();
    let mut second = mueller();
    second.name_parts[0] = "a".into();
    second.name_parts[1] = "bc".into();
    assert_ne!(first.organization_hash(), second.organization_hash());
}

#[test]
fn json_shape_matches_the_brief() {
    let json = serde_json::to_value(mueller()).unwrap();
    for key in [
        "customer_number",
        "customer_number_display",
        "name",
        "name_parts",
        "account_group",
        "vat_number",
        "deleted",
        "blocked",
        "billing_address",
        "shipping_address",
        "email",
        "phone",
        "payment_terms",
        "contacts",
    ] {
        assert!(json.get(key).is_some(), "missing key {key}");
    }
    assert_eq!(json["billing_address"]["house_number"], "12");
    assert_eq!(json["contacts"][0]["contact_number"], "0000012345");
}
