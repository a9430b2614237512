//! Which OData property holds which canonical field. Defaults fit the simulator's
//! ZMLC_CUSTOMER_SRV; `[ecc.odata.customer_properties]` and `[ecc.odata.contact_properties]`
//! override them one by one for a company's own Gateway service.

use std::collections::BTreeMap;

use mlc_config::OdataConfig;

use crate::error::EccError;

/// Canonical customer fields and their default properties.
pub const CUSTOMER_DEFAULTS: [(&str, &str); 31] = [
    ("customer_number", "CustomerNumber"),
    ("name1", "Name1"),
    ("name2", "Name2"),
    ("name3", "Name3"),
    ("name4", "Name4"),
    ("account_group", "AccountGroup"),
    ("vat_number", "VatRegNo"),
    ("deleted", "DeletionFlag"),
    ("blocked", ""),
    ("posting_block", "PostingBlock"),
    ("order_block", "OrderBlock"),
    ("delivery_block", "DeliveryBlock"),
    ("billing_block", "BillingBlock"),
    ("street", "Street"),
    ("house_number", "HouseNumber"),
    ("postal_code", "PostalCode"),
    ("city", "City"),
    ("region", "Region"),
    ("country", "Country"),
    ("email", "Email"),
    ("phone", "Phone"),
    ("payment_terms", "PaymentTerms"),
    ("payment_terms_text", "PaymentTermsText"),
    ("ship_to_street", "ShipToStreet"),
    ("ship_to_house_number", "ShipToHouseNumber"),
    ("ship_to_postal_code", "ShipToPostalCode"),
    ("ship_to_city", "ShipToCity"),
    ("ship_to_region", "ShipToRegion"),
    ("ship_to_country", "ShipToCountry"),
    ("created_on", "CreatedOn"),
    ("changed_at", "ChangedAt"),
];

/// Canonical contact fields and their default properties. `emails`, `phones` and `mobile_phones`
/// may be a collection, or text with several values separated by `;`.
pub const CONTACT_DEFAULTS: [(&str, &str); 10] = [
    ("contact_number", "ContactNumber"),
    // A contact flagged for deletion (KNVK-LOEVM) is left out, as a deleted contact.
    ("deleted", "DeletionFlag"),
    ("customer_number", "CustomerNumber"),
    ("first_name", "FirstName"),
    ("last_name", "LastName"),
    ("department", "Department"),
    ("function", "Function"),
    ("emails", "EmailList"),
    ("phones", "PhoneList"),
    ("mobile_phones", "MobileList"),
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PropertyMap {
    customer: BTreeMap<String, String>,
    contact: BTreeMap<String, String>,
}

impl PropertyMap {
    pub fn from_config(config: &OdataConfig) -> Result<Self, EccError> {
        let merge = |defaults: &[(&str, &str)], overrides: &BTreeMap<String, String>, key: &str| {
            let mut map: BTreeMap<String, String> = defaults
                .iter()
                .map(|(field, property)| (field.to_string(), property.to_string()))
                .collect();
            for (field, property) in overrides {
                if !map.contains_key(field) {
                    let known: Vec<&str> = defaults.iter().map(|(field, _)| *field).collect();
                    return Err(EccError::Config(format!(
                        "ecc.odata.{key}.{field} is not a canonical field; known: {}",
                        known.join(", ")
                    )));
                }
                map.insert(field.clone(), property.clone());
            }
            Ok(map)
        };
        let mut customer = merge(
            &CUSTOMER_DEFAULTS,
            &config.customer_properties,
            "customer_properties",
        )?;
        match &config.changed_at_property {
            Some(property) => {
                customer.insert("changed_at".into(), property.clone());
            }
            None => {
                customer.insert("changed_at".into(), String::new());
            }
        }
        let contact = merge(
            &CONTACT_DEFAULTS,
            &config.contact_properties,
            "contact_properties",
        )?;
        Ok(PropertyMap { customer, contact })
    }

    /// Every mapped customer field and its property, those the service has at all.
    pub fn customer_entries(&self) -> impl Iterator<Item = (&str, &str)> {
        self.customer
            .iter()
            .filter(|(_, property)| !property.is_empty())
            .map(|(field, property)| (field.as_str(), property.as_str()))
    }

    pub fn contact_entries(&self) -> impl Iterator<Item = (&str, &str)> {
        self.contact
            .iter()
            .filter(|(_, property)| !property.is_empty())
            .map(|(field, property)| (field.as_str(), property.as_str()))
    }

    /// The property of a canonical customer field; "" when the service has none.
    pub fn customer(&self, field: &str) -> &str {
        self.customer.get(field).map(String::as_str).unwrap_or("")
    }

    pub fn contact(&self, field: &str) -> &str {
        self.contact.get(field).map(String::as_str).unwrap_or("")
    }
}
