//! What a rule reads from a canonical record: the named sources of a customer and of a
//! contact person ("name", "billing_address.city", "emails", "status"...), and templates over
//! them. Reading never fails: a source the record lacks is absent, and the rule's target
//! decides whether that is an error.

use mlc_canonical::{Address, ContactPerson, Customer};

use super::StatusStates;

/// A value read from a canonical record before it becomes JSON.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum SourceValue {
    Absent,
    Text(String),
    List(Vec<String>),
    /// E-mails or phones where some carry their own label (a contact's mobile numbers).
    Labelled(Vec<(String, Option<&'static str>)>),
    Address(Address),
}

impl SourceValue {
    pub(super) fn text(value: &str) -> SourceValue {
        SourceValue::Text(value.to_string())
    }

    pub(super) fn optional(value: Option<&str>) -> SourceValue {
        match value {
            Some(text) => SourceValue::Text(text.to_string()),
            None => SourceValue::Absent,
        }
    }

    /// The value as one line of text, for templates.
    pub(super) fn as_text(&self) -> String {
        match self {
            SourceValue::Absent => String::new(),
            SourceValue::Text(text) => text.clone(),
            SourceValue::List(items) => items.join(", "),
            SourceValue::Labelled(items) => items
                .iter()
                .map(|(item, _)| item.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            SourceValue::Address(address) => address_line(address, None),
        }
    }
}

/// "Hauptstraße 12, 70173 Stuttgart, Germany": the address as one line, for `value`.
pub(super) fn address_line(address: &Address, country: Option<&str>) -> String {
    let street = [address.street.trim(), address.house_number.trim()]
        .into_iter()
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    let place = [address.postal_code.trim(), address.city.trim()]
        .into_iter()
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    let country = country.unwrap_or(address.country.trim());
    [street.as_str(), place.as_str(), country]
        .into_iter()
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join(", ")
}

fn address_part(address: Option<&Address>, part: &str) -> SourceValue {
    let Some(address) = address else {
        return SourceValue::Absent;
    };
    let value = match part {
        "street" => &address.street,
        "house_number" => &address.house_number,
        "postal_code" => &address.postal_code,
        "city" => &address.city,
        "region" => &address.region,
        "country" => &address.country,
        _ => return SourceValue::Absent,
    };
    SourceValue::text(value)
}

/// The lifecycle status of a customer: "deleted", "blocked", or "" when active.
pub fn customer_status(customer: &Customer) -> &'static str {
    if customer.deleted {
        "deleted"
    } else if customer.blocked {
        "blocked"
    } else {
        ""
    }
}

/// The status the "status" source writes: only the states whose policy is `field`.
fn written_status(customer: &Customer, states: StatusStates) -> &'static str {
    if customer.deleted && states.deleted {
        "deleted"
    } else if customer.blocked && states.blocked {
        "blocked"
    } else {
        ""
    }
}

pub(super) fn organization_source(
    customer: &Customer,
    states: StatusStates,
    source: &str,
) -> SourceValue {
    if let Some(part) = source.strip_prefix("billing_address.") {
        return address_part(Some(&customer.billing_address), part);
    }
    if let Some(part) = source.strip_prefix("shipping_address.") {
        return address_part(customer.shipping_address.as_ref(), part);
    }
    match source {
        "customer_number" => SourceValue::text(customer.customer_number.as_str()),
        "customer_number_display" => SourceValue::text(customer.customer_number_display.as_str()),
        "name" => SourceValue::text(&customer.name),
        "name_parts" => SourceValue::List(
            customer
                .name_parts
                .iter()
                .filter(|part| !part.trim().is_empty())
                .cloned()
                .collect(),
        ),
        "name_1" => SourceValue::text(&customer.name_parts[0]),
        "name_2" => SourceValue::text(&customer.name_parts[1]),
        "name_3" => SourceValue::text(&customer.name_parts[2]),
        "name_4" => SourceValue::text(&customer.name_parts[3]),
        "account_group" => SourceValue::text(&customer.account_group),
        "vat_number" => SourceValue::optional(customer.vat_number.as_deref()),
        "email" => SourceValue::optional(customer.email.as_deref()),
        "phone" => SourceValue::optional(customer.phone.as_deref()),
        "billing_address" => SourceValue::Address(customer.billing_address.clone()),
        "shipping_address" => match &customer.shipping_address {
            Some(address) => SourceValue::Address(address.clone()),
            None => SourceValue::Absent,
        },
        "payment_terms.code" => SourceValue::optional(
            customer
                .payment_terms
                .as_ref()
                .map(|terms| terms.code.as_str()),
        ),
        "payment_terms.text" => SourceValue::optional(
            customer
                .payment_terms
                .as_ref()
                .and_then(|terms| terms.text.as_deref()),
        ),
        "status" => SourceValue::text(written_status(customer, states)),
        _ => SourceValue::Absent,
    }
}

pub(super) fn person_source(
    customer: &Customer,
    contact: &ContactPerson,
    source: &str,
) -> SourceValue {
    match source {
        "contact_number" => SourceValue::text(&contact.contact_number),
        "contact_number_display" => SourceValue::Text(contact.contact_number_display()),
        "first_name" => SourceValue::text(&contact.first_name),
        "last_name" => SourceValue::text(&contact.last_name),
        "full_name" => SourceValue::Text(contact.full_name()),
        "department" => SourceValue::optional(contact.department.as_deref()),
        "function" => SourceValue::optional(contact.function.as_deref()),
        "emails" => SourceValue::List(contact.emails.clone()),
        // Landlines with the map's phone label, then mobile numbers labelled "mobile".
        "phones" => SourceValue::Labelled(
            contact
                .phones
                .iter()
                .map(|phone| (phone.clone(), None))
                .chain(
                    contact
                        .mobile_phones
                        .iter()
                        .map(|phone| (phone.clone(), Some(MOBILE_LABEL))),
                )
                .collect(),
        ),
        "mobile_phones" => SourceValue::List(contact.mobile_phones.clone()),
        "email" => SourceValue::optional(contact.emails.first().map(String::as_str)),
        "phone" => SourceValue::optional(
            contact
                .phones
                .first()
                .or(contact.mobile_phones.first())
                .map(String::as_str),
        ),
        "customer_number" => SourceValue::text(customer.customer_number.as_str()),
        "customer_number_display" => SourceValue::text(customer.customer_number_display.as_str()),
        // A contact read from ECC exists there; only `map_deleted_contact` says otherwise.
        "status" => SourceValue::text(""),
        _ => SourceValue::Absent,
    }
}

/// Pipedrive's label for a mobile phone entry.
const MOBILE_LABEL: &str = "mobile";

/// Replaces `{field}` placeholders; `{{` and `}}` are literal braces.
pub(super) fn fill_template(template: &str, lookup: &dyn Fn(&str) -> SourceValue) -> String {
    let mut out = String::new();
    let mut chars = template.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                out.push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                out.push('}');
            }
            '{' => {
                let mut name = String::new();
                for inner in chars.by_ref() {
                    if inner == '}' {
                        break;
                    }
                    name.push(inner);
                }
                out.push_str(&lookup(name.trim()).as_text());
            }
            other => out.push(other),
        }
    }
    out
}
