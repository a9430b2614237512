//! Fixtures shared by the unit tests: a customer as in the brief, a sync config with the
//! template's defaults, field keys as `setup` would have created them, and a record's state.

use std::time::Duration;

use mlc_canonical::state::{EntityKind, RecordState};
use mlc_canonical::{
    Address, ContactPerson, Customer, CustomerNumber, DisplayNumber, PaymentTerms,
};
use mlc_config::sections::sync::{
    ContactDeletedPolicy, EccDuplicatePolicy, LifecyclePolicy, PipedriveDeletedPolicy,
};
use mlc_config::{MappingConfig, Schedule, SyncConfig};

use crate::map::{FieldKeys, FieldMap, FieldMapSpec};

/// The store's state of a record of connection "default" that has never failed; tests set
/// what they are about with struct update syntax.
pub fn record_state(kind: EntityKind, ecc_key: &str) -> RecordState {
    RecordState {
        connection: "default".into(),
        kind,
        ecc_key: ecc_key.into(),
        customer_number: None,
        pushed_hash: None,
        pipedrive_verified: None,
        last_seen_at: None,
        last_run_id: None,
        failures: 0,
        retry_after: None,
        parked: false,
        last_error: None,
    }
}

pub fn sync_config() -> SyncConfig {
    SyncConfig {
        connection: "default".into(),
        schedule: Schedule::Every(Duration::from_secs(300)),
        full_reconcile: None,
        link_threshold: 0.90,
        review_threshold: 0.70,
        ecc_duplicates: EccDuplicatePolicy::KeepApart,
        on_deleted: LifecyclePolicy::Label,
        on_blocked: LifecyclePolicy::Field,
        on_pipedrive_deleted: PipedriveDeletedPolicy::Recreate,
        on_contact_deleted: ContactDeletedPolicy::Field,
        status_label: "ECC: deleted or blocked".into(),
        max_failures: 5,
        drift: mlc_config::DriftConfig::default(),
    }
}

/// A 40-character key derived from the field name, as Pipedrive's random ones look.
pub fn key_for(name: &str) -> String {
    let mut key = String::new();
    for (index, byte) in name.bytes().cycle().take(40).enumerate() {
        key.push(char::from_digit(((byte as usize + index) % 16) as u32, 16).unwrap());
    }
    key
}

pub fn field_keys(spec: &FieldMapSpec) -> FieldKeys {
    let mut keys = FieldKeys::default();
    for field in spec.required_custom_fields() {
        let target = match field.kind {
            mlc_canonical::state::EntityKind::Organization => &mut keys.organization,
            mlc_canonical::state::EntityKind::Person => &mut keys.person,
        };
        target.insert(field.name.clone(), key_for(&field.name));
    }
    keys
}

pub fn field_map_with(mapping: &MappingConfig, sync: &SyncConfig) -> FieldMap {
    let spec = FieldMapSpec::from_config(mapping, sync);
    spec.resolve(&field_keys(&spec))
        .expect("every field resolves")
}

pub fn field_map() -> FieldMap {
    field_map_with(&MappingConfig::default(), &sync_config())
}

pub fn contact(number: &str, first: &str, last: &str, email: &str) -> ContactPerson {
    ContactPerson {
        contact_number: number.into(),
        first_name: first.into(),
        last_name: last.into(),
        department: Some("Einkauf".into()),
        function: Some("Head of Purchasing".into()),
        emails: if email.is_empty() {
            vec![]
        } else {
            vec![email.into()]
        },
        phones: vec!["0711 123456-12".into()],
        mobile_phones: Vec::new(),
    }
}

/// The brief's example customer.
pub fn customer() -> Customer {
    Customer {
        customer_number: CustomerNumber::from_internal("0000004711"),
        customer_number_display: DisplayNumber::new("4711"),
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
        contacts: vec![contact(
            "0000012345",
            "Anna",
            "Schmidt",
            "a.schmidt@mueller-maschinenbau.de",
        )],
    }
}

/// A customer with another number, name and address.
pub fn other_customer(
    number: u32,
    name: &str,
    street: &str,
    house: &str,
    postal: &str,
    city: &str,
) -> Customer {
    let mut customer = customer();
    customer.customer_number = CustomerNumber::from_internal(format!("{number:010}"));
    customer.customer_number_display = customer.customer_number.display();
    customer.name = name.into();
    customer.name_parts = [name.into(), String::new(), String::new(), String::new()];
    customer.vat_number = None;
    customer.billing_address.street = street.into();
    customer.billing_address.house_number = house.into();
    customer.billing_address.postal_code = postal.into();
    customer.billing_address.city = city.into();
    customer.contacts = vec![];
    customer
}

/// A company unlike `customer()` in name and address.
pub fn stranger() -> Customer {
    other_customer(
        9003,
        "Schmidt Logistik GmbH",
        "Hafenstraße",
        "1",
        "20457",
        "Hamburg",
    )
}
