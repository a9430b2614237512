//! `--odata-custom-service`: the same data as a company's own Gateway service would shape it.
//! Addresses sit in a complex type (`Address/City`, `ShipToAddress/City`), payment terms behind
//! a navigation (`ToPaymentTerms/PaymentTerms`), customer and contact
//! numbers come without leading zeros (Gateway's ALPHA output; keys and `$filter` literals are
//! converted back by ALPHA input, as Gateway does), and the last change is a date
//! (`ChangedOn`, Edm.DateTime with sap:display-format="Date") and a local time (`ChangedTime`,
//! Edm.Time) in two properties. JSON only.
//!
//! Values come from the flat service (`Context::customer_value`): each property here names the
//! flat property it shows.

use super::*;

/// A primitive property of the custom service and the flat property behind it.
struct Shown {
    name: &'static str,
    flat: &'static str,
    edm: &'static str,
    max_length: usize,
    date_only: bool,
}

const fn shown(name: &'static str, edm: &'static str, max_length: usize) -> Shown {
    Shown {
        name,
        flat: name,
        edm,
        max_length,
        date_only: false,
    }
}

const fn dated(name: &'static str) -> Shown {
    Shown {
        name,
        flat: name,
        edm: "Edm.DateTime",
        max_length: 0,
        date_only: true,
    }
}

static CUSTOMER: &[Shown] = &[
    shown("CustomerNumber", "Edm.String", 10),
    shown("Name1", "Edm.String", 40),
    shown("Name2", "Edm.String", 40),
    shown("Name3", "Edm.String", 40),
    shown("Name4", "Edm.String", 40),
    shown("Email", "Edm.String", 241),
    shown("Phone", "Edm.String", 41),
    shown("VatRegNo", "Edm.String", 20),
    shown("AccountGroup", "Edm.String", 4),
    shown("DeletionFlag", "Edm.Boolean", 0),
    shown("PostingBlock", "Edm.Boolean", 0),
    shown("OrderBlock", "Edm.String", 2),
    shown("DeliveryBlock", "Edm.String", 2),
    shown("BillingBlock", "Edm.String", 2),
    dated("CreatedOn"),
    dated("ChangedOn"),
    shown("ChangedTime", "Edm.Time", 0),
];

/// The members of the complex type `Address`; the flat property is the prefix and the name.
static ADDRESS: &[(&str, usize)] = &[
    ("Street", 60),
    ("HouseNumber", 10),
    ("PostalCode", 10),
    ("City", 40),
    ("Region", 3),
    ("Country", 3),
];

/// Complex properties of a customer: name and the prefix of their flat properties.
static COMPLEX: &[(&str, &str)] = &[("Address", ""), ("ShipToAddress", "ShipTo")];

/// The entity behind `ToPaymentTerms` (0..1: the terms of the service's sales area, else of its
/// company code; none when neither has any).
static TERMS: &[Shown] = &[
    shown("CustomerNumber", "Edm.String", 10),
    shown("PaymentTerms", "Edm.String", 4),
    shown("PaymentTermsText", "Edm.String", 30),
];

static CONTACT: &[Shown] = &[
    shown("ContactNumber", "Edm.String", 10),
    shown("DeletionFlag", "Edm.Boolean", 0),
    shown("CustomerNumber", "Edm.String", 10),
    shown("FirstName", "Edm.String", 35),
    shown("LastName", "Edm.String", 35),
    shown("Department", "Edm.String", 12),
    shown("Function", "Edm.String", 20),
    shown("EmailList", "Edm.String", 0),
    shown("PhoneList", "Edm.String", 0),
    shown("MobileList", "Edm.String", 0),
];

const TERMS_NAVIGATION: &str = "ToPaymentTerms";
const CONTACTS_NAVIGATION: &str = "ToContacts";

/// Whether the simulator plays the custom service.
pub(super) fn active(state: &SimState) -> bool {
    state.options.odata_custom_service
}

/// The flat property a custom property path shows, for `$filter` and `$orderby`:
/// `Address/City` → `City`, `ChangedOn` → `ChangedOn`.
pub(super) fn flat_property(set: EntitySet, path: &str) -> Option<&'static str> {
    match set {
        EntitySet::Contacts => CONTACT
            .iter()
            .find(|shown| shown.name == path)
            .map(|shown| shown.flat),
        EntitySet::Customers => {
            if let Some(shown) = CUSTOMER.iter().find(|shown| shown.name == path) {
                return Some(shown.flat);
            }
            let (complex, member) = path.split_once('/')?;
            let (_, prefix) = COMPLEX.iter().find(|(name, _)| *name == complex)?;
            let (member, _) = ADDRESS.iter().find(|(name, _)| *name == member)?;
            flat_address_property(prefix, member)
        }
    }
}

fn flat_address_property(prefix: &str, member: &str) -> Option<&'static str> {
    // The flat service's names, as 'static strs.
    const FLAT: &[&str] = &[
        "Street",
        "HouseNumber",
        "PostalCode",
        "City",
        "Region",
        "Country",
        "ShipToStreet",
        "ShipToHouseNumber",
        "ShipToPostalCode",
        "ShipToCity",
        "ShipToRegion",
        "ShipToCountry",
    ];
    let wanted = format!("{prefix}{member}");
    FLAT.iter().copied().find(|flat| *flat == wanted)
}

/// Whether a flat property holds a number Gateway shows without leading zeros.
pub(super) fn is_alpha_key(flat: &str) -> bool {
    matches!(flat, "CustomerNumber" | "ContactNumber")
}

/// ALPHA input: "4711" → "0000004711"; alphanumeric keys as they are.
pub(super) fn alpha_input(external: &str) -> String {
    mlc_canonical::alpha_input(external, 10).unwrap_or_else(|| external.to_string())
}

/// Which navigations a request expands.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Expand {
    contacts: bool,
    terms: bool,
}

pub(super) fn expand(set: EntitySet, options: &QueryOptions) -> Result<Expand, ODataError> {
    let mut expand = Expand::default();
    for name in options
        .get("$expand")
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|name| !name.is_empty())
    {
        match (set, name) {
            (EntitySet::Customers, CONTACTS_NAVIGATION) => expand.contacts = true,
            (EntitySet::Customers, TERMS_NAVIGATION) => expand.terms = true,
            _ => {
                return Err(bad_request(format!(
                    "Invalid $expand: navigation property '{name}' not found in type '{}'",
                    set.type_name()
                )))
            }
        }
    }
    Ok(expand)
}

/// The top-level names `$select` keeps; `None` keeps all. `Nav/Property` keeps the navigation.
pub(super) fn selection(
    set: EntitySet,
    options: &QueryOptions,
) -> Result<Option<Vec<String>>, ODataError> {
    let Some(text) = options.get("$select") else {
        return Ok(None);
    };
    let mut names = Vec::new();
    for path in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        if path == "*" {
            return Ok(None);
        }
        let first = path.split('/').next().unwrap_or(path);
        let known = match set {
            EntitySet::Customers => {
                CUSTOMER.iter().any(|shown| shown.name == first)
                    || COMPLEX.iter().any(|(name, _)| *name == first)
                    || [CONTACTS_NAVIGATION, TERMS_NAVIGATION].contains(&first)
            }
            EntitySet::Contacts => CONTACT.iter().any(|shown| shown.name == first),
        };
        if !known {
            return Err(bad_request(format!(
                "Invalid $select: property '{path}' not found in type '{NAMESPACE}.{}'",
                set.type_name()
            )));
        }
        names.push(first.to_string());
    }
    Ok(Some(names))
}

fn rendered(shown: &Shown, value: Value) -> serde_json::Value {
    match value {
        Value::Null => serde_json::Value::Null,
        Value::Bool(flag) => serde_json::Value::Bool(flag),
        Value::DateTime(ms) => serde_json::Value::String(format!("/Date({ms})/")),
        other if is_alpha_key(shown.flat) => {
            serde_json::Value::String(mlc_canonical::alpha_output(&other.as_text()))
        }
        other => serde_json::Value::String(other.as_text()),
    }
}

fn object_of(
    shown: &[Shown],
    value: impl Fn(&str) -> Value,
    type_name: &str,
    uri: Option<String>,
) -> serde_json::Map<String, serde_json::Value> {
    let mut object = serde_json::Map::new();
    let metadata = match uri {
        Some(uri) => {
            serde_json::json!({"id": uri, "uri": uri, "type": format!("{NAMESPACE}.{type_name}")})
        }
        None => serde_json::json!({"type": format!("{NAMESPACE}.{type_name}")}),
    };
    object.insert("__metadata".into(), metadata);
    for shown in shown {
        object.insert(shown.name.into(), rendered(shown, value(shown.flat)));
    }
    object
}

fn external_uri(base: &str, set: EntitySet, internal_key: &str) -> String {
    format!(
        "{base}{}('{}')",
        set.name(),
        mlc_canonical::alpha_output(internal_key)
    )
}

/// One entity as the custom service writes it in JSON.
pub(super) fn entity_json(
    context: &Context<'_>,
    entity: &Entity<'_>,
    expand: Expand,
    selection: Option<&[String]>,
    base: &str,
) -> serde_json::Value {
    let uri = external_uri(base, entity.set(), &entity.key());
    let mut object = match entity {
        Entity::Contact(customer, contact) => object_of(
            CONTACT,
            |flat| context.contact_value(customer, contact, flat),
            "ContactPerson",
            Some(uri.clone()),
        ),
        Entity::Customer(customer) => {
            let value = |flat: &str| context.customer_value(customer, flat);
            let mut object = object_of(CUSTOMER, value, "Customer", Some(uri.clone()));
            for (name, prefix) in COMPLEX {
                let mut address = serde_json::Map::new();
                address.insert(
                    "__metadata".into(),
                    serde_json::json!({"type": format!("{NAMESPACE}.Address")}),
                );
                for (member, _) in ADDRESS {
                    let flat = flat_address_property(prefix, member).unwrap_or("");
                    address.insert(
                        member.to_string(),
                        serde_json::Value::String(value(flat).as_text()),
                    );
                }
                object.insert(name.to_string(), serde_json::Value::Object(address));
            }
            let terms = if expand.terms {
                let scope = &context.state.scope;
                if crate::truth::payment_terms(customer, scope).is_some() {
                    serde_json::Value::Object(object_of(
                        TERMS,
                        value,
                        "CustomerPaymentTerms",
                        Some(format!("{uri}/{TERMS_NAVIGATION}")),
                    ))
                } else {
                    // An expanded 0..1 navigation without a target.
                    serde_json::Value::Null
                }
            } else {
                deferred(&uri, TERMS_NAVIGATION)
            };
            object.insert(TERMS_NAVIGATION.into(), terms);
            let contacts = if expand.contacts {
                let mut contacts: Vec<&Contact> = customer.contacts.iter().collect();
                contacts.sort_by_key(|contact| contact.parnr);
                let results: Vec<serde_json::Value> = contacts
                    .into_iter()
                    .map(|contact| {
                        entity_json(
                            context,
                            &Entity::Contact(customer, contact),
                            Expand::default(),
                            None,
                            base,
                        )
                    })
                    .collect();
                serde_json::json!({ "results": results })
            } else {
                deferred(&uri, CONTACTS_NAVIGATION)
            };
            object.insert(CONTACTS_NAVIGATION.into(), contacts);
            object
        }
    };
    if let Some(selection) = selection {
        object.retain(|name, _| name == "__metadata" || selection.iter().any(|kept| kept == name));
    }
    serde_json::Value::Object(object)
}

fn deferred(uri: &str, navigation: &str) -> serde_json::Value {
    serde_json::json!({"__deferred": {"uri": format!("{uri}/{navigation}")}})
}

fn property_xml(shown: &Shown, key: bool) -> String {
    let mut attributes = format!(
        "Name=\"{}\" Type=\"{}\" Nullable=\"{}\"",
        shown.name,
        shown.edm,
        if key { "false" } else { "true" }
    );
    if shown.edm == "Edm.String" && shown.max_length > 0 {
        attributes.push_str(&format!(" MaxLength=\"{}\"", shown.max_length));
    }
    match shown.edm {
        "Edm.DateTime" => attributes.push_str(" Precision=\"7\""),
        "Edm.Time" => attributes.push_str(" Precision=\"0\""),
        _ => {}
    }
    if shown.date_only {
        attributes.push_str(" sap:display-format=\"Date\"");
    }
    if is_alpha_key(shown.flat) {
        attributes.push_str(" sap:display-format=\"UpperCase\"");
    }
    format!("<Property {attributes} sap:creatable=\"false\" sap:updatable=\"false\"/>")
}

fn entity_type(name: &str, key: &str, shown: &[Shown], extra: &str) -> String {
    let properties: String = shown
        .iter()
        .map(|shown| property_xml(shown, shown.name == key))
        .collect();
    format!(
        "<EntityType Name=\"{name}\" sap:content-version=\"1\"><Key><PropertyRef Name=\"{key}\"/></Key>{properties}{extra}</EntityType>"
    )
}

fn association(name: &str, from: &str, to: &str, multiplicity: &str) -> String {
    format!(
        "<Association Name=\"{name}\" sap:content-version=\"1\"><End Type=\"{NAMESPACE}.{from}\" Multiplicity=\"1\" Role=\"FromRole_{name}\"/>\
<End Type=\"{NAMESPACE}.{to}\" Multiplicity=\"{multiplicity}\" Role=\"ToRole_{name}\"/></Association>"
    )
}

fn navigation(name: &str, association: &str) -> String {
    format!(
        "<NavigationProperty Name=\"{name}\" Relationship=\"{NAMESPACE}.{association}\" FromRole=\"FromRole_{association}\" ToRole=\"ToRole_{association}\"/>"
    )
}

/// The custom service's `$metadata`.
pub(super) fn metadata() -> String {
    let address_members: String = ADDRESS
        .iter()
        .map(|(member, length)| {
            format!("<Property Name=\"{member}\" Type=\"Edm.String\" MaxLength=\"{length}\"/>")
        })
        .collect();
    let complex_properties: String = COMPLEX
        .iter()
        .map(|(name, _)| {
            format!("<Property Name=\"{name}\" Type=\"{NAMESPACE}.Address\" Nullable=\"false\"/>")
        })
        .collect();
    let customer = entity_type(
        "Customer",
        "CustomerNumber",
        CUSTOMER,
        &format!(
            "{complex_properties}{}{}",
            navigation(CONTACTS_NAVIGATION, "CustomerToContacts"),
            navigation(TERMS_NAVIGATION, "CustomerToPaymentTerms")
        ),
    );
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\
<edmx:Edmx Version=\"1.0\" xmlns:edmx=\"http://schemas.microsoft.com/ado/2007/06/edmx\" \
xmlns:m=\"http://schemas.microsoft.com/ado/2007/08/dataservices/metadata\" xmlns:sap=\"http://www.sap.com/Protocols/SAPData\">\
<edmx:DataServices m:DataServiceVersion=\"2.0\"><Schema Namespace=\"{NAMESPACE}\" xml:lang=\"en\" sap:schema-version=\"1\" \
xmlns=\"http://schemas.microsoft.com/ado/2008/09/edm\">\
<ComplexType Name=\"Address\">{address_members}</ComplexType>{customer}{}{}{}{}\
<EntityContainer Name=\"{NAMESPACE}_Entities\" m:IsDefaultEntityContainer=\"true\" sap:supported-formats=\"json\">\
<EntitySet Name=\"CustomerSet\" EntityType=\"{NAMESPACE}.Customer\" sap:pageable=\"true\" sap:content-version=\"1\"/>\
<EntitySet Name=\"ContactPersonSet\" EntityType=\"{NAMESPACE}.ContactPerson\" sap:pageable=\"true\" sap:content-version=\"1\"/>\
<EntitySet Name=\"CustomerPaymentTermsSet\" EntityType=\"{NAMESPACE}.CustomerPaymentTerms\" sap:content-version=\"1\"/>\
</EntityContainer></Schema></edmx:DataServices></edmx:Edmx>",
        entity_type("ContactPerson", "ContactNumber", CONTACT, ""),
        entity_type("CustomerPaymentTerms", "CustomerNumber", TERMS, ""),
        association("CustomerToContacts", "Customer", "ContactPerson", "*"),
        association("CustomerToPaymentTerms", "Customer", "CustomerPaymentTerms", "0..1"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_into_the_complex_type_show_flat_properties() {
        assert_eq!(
            flat_property(EntitySet::Customers, "Address/City"),
            Some("City")
        );
        assert_eq!(
            flat_property(EntitySet::Customers, "ShipToAddress/PostalCode"),
            Some("ShipToPostalCode")
        );
        assert_eq!(
            flat_property(EntitySet::Customers, "ChangedOn"),
            Some("ChangedOn")
        );
        assert_eq!(flat_property(EntitySet::Customers, "City"), None);
        assert_eq!(flat_property(EntitySet::Customers, "Address/Nope"), None);
        assert_eq!(alpha_input("4711"), "0000004711");
        assert_eq!(alpha_input("CPD00001"), "CPD00001");
    }

    #[test]
    fn the_custom_metadata_is_well_formed_xml() {
        let xml = metadata();
        assert!(crate::soap::parse_document(&xml).is_ok());
        assert!(xml.contains("<ComplexType Name=\"Address\">"));
        assert!(xml.contains("Name=\"ChangedOn\" Type=\"Edm.DateTime\""));
    }
}
