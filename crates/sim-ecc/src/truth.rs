//! The expected canonical record of every customer, computed from the simulator's own data
//! model by the conventions at the top of `mlc_canonical::record` (never by extraction code).

use mlc_canonical::record::join_name_parts;
use mlc_canonical::{Address, ContactPerson, Customer, CustomerNumber, PaymentTerms};
use serde::{Deserialize, Serialize};

use crate::model::*;
use crate::rows::{function_text, payment_terms_text};

/// One line of `GET /_sim/truth`: the canonical customer plus what the simulator knows about it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TruthRecord {
    #[serde(flatten)]
    pub customer: Customer,
    /// KUNNR of the customer this one deliberately duplicates.
    pub duplicate_of: Option<String>,
    /// Why this record is deliberately bad; the canonical part is what ECC holds.
    pub dirty: Option<String>,
}

/// The organization-level view the truth assumes: company code, sales area and language key.
#[derive(Debug, Clone)]
pub struct TruthScope {
    pub company_code: String,
    pub sales_area: SalesArea,
    /// SPRAS, e.g. "E".
    pub language: String,
}

fn optional(text: &str) -> Option<String> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        None
    } else {
        Some(trimmed.to_string())
    }
}

pub fn phone_text(phone: &Phone) -> String {
    let number = phone.number.trim();
    let extension = phone.extension.trim();
    if extension.is_empty() {
        number.to_string()
    } else {
        format!("{number}-{extension}")
    }
}

pub fn billing_address(customer: &CustomerMaster) -> Address {
    Address {
        street: customer.street.trim().to_string(),
        house_number: customer.house_number.trim().to_string(),
        postal_code: customer.postal_code.trim().to_string(),
        city: customer.city.trim().to_string(),
        region: customer.region.trim().to_string(),
        country: customer.country.trim().to_string(),
    }
}

/// KNVV-ZTERM of the scope's sales area, else KNB1-ZTERM of its company code.
pub fn payment_terms(customer: &CustomerMaster, scope: &TruthScope) -> Option<PaymentTerms> {
    let from_sales_area = customer
        .sales_areas
        .iter()
        .find(|area| area.is_area(&scope.sales_area))
        .map(|area| area.payment_terms())
        .filter(|code| !code.is_empty());
    let from_company = || {
        customer
            .company_codes
            .iter()
            .find(|company| company.company_code() == scope.company_code)
            .map(|company| company.payment_terms())
            .filter(|code| !code.is_empty())
    };
    let code = from_sales_area.or_else(from_company)?;
    Some(PaymentTerms {
        code: code.to_string(),
        text: payment_terms_text(code, &scope.language).map(str::to_string),
    })
}

/// The ADRC address of the KNVP WE partner in the scope's sales area, when another customer.
pub fn shipping_address(
    data: &EccData,
    customer: &CustomerMaster,
    scope: &TruthScope,
) -> Option<Address> {
    let area = customer
        .sales_areas
        .iter()
        .find(|area| area.is_area(&scope.sales_area))?;
    let ship_to = &data.customers[area.ship_to? as usize];
    if ship_to.kunnr == customer.kunnr {
        return None;
    }
    Some(billing_address(ship_to))
}

pub fn contact_record(contact: &Contact, scope: &TruthScope) -> ContactPerson {
    let emails = default_first(&contact.emails, |e| e.default, |e| e.consnumber)
        .into_iter()
        .map(|email| email.address.trim().to_string())
        .collect();
    let (mobile_phones, phones): (Vec<&Phone>, Vec<&Phone>) =
        default_first(&contact.phones, |p| p.default, |p| p.consnumber)
            .into_iter()
            .partition(|phone| phone.mobile);
    ContactPerson {
        contact_number: numc(contact.parnr, 10),
        first_name: contact.first_name.trim().to_string(),
        last_name: contact.last_name.trim().to_string(),
        department: optional(contact.department),
        function: optional(contact.function)
            .and_then(|code| function_text(&code, &scope.language).map(str::to_string)),
        emails,
        phones: phones.into_iter().map(phone_text).collect(),
        mobile_phones: mobile_phones.into_iter().map(phone_text).collect(),
    }
}

/// KNB1 of the scope's company code.
fn company_data<'a>(customer: &'a CustomerMaster, scope: &TruthScope) -> Option<&'a CompanyData> {
    customer
        .company_codes
        .iter()
        .find(|company| company.company_code() == scope.company_code)
}

/// KNVV of the scope's sales area.
fn sales_data<'a>(customer: &'a CustomerMaster, scope: &TruthScope) -> Option<&'a SalesData> {
    customer
        .sales_areas
        .iter()
        .find(|area| area.is_area(&scope.sales_area))
}

/// Flagged for deletion centrally (KNA1-LOEVM), in the scope's company code (KNB1-LOEVM) or in
/// its sales area (KNVV-LOEVM).
pub fn deleted(customer: &CustomerMaster, scope: &TruthScope) -> bool {
    customer.deletion_flag
        || company_data(customer, scope).is_some_and(|company| company.deletion_flag)
        || sales_data(customer, scope).is_some_and(|area| area.deletion_flag)
}

/// The posting block of KNA1 or of the scope's company code (KNB1-SPERR).
pub fn posting_block(customer: &CustomerMaster, scope: &TruthScope) -> bool {
    customer.posting_block || company_data(customer, scope).is_some_and(|c| c.posting_block)
}

/// The order, delivery and billing block: KNA1's, else the scope's sales area's (KNVV).
pub fn blocks(customer: &CustomerMaster, scope: &TruthScope) -> [&'static str; 3] {
    let area = sales_data(customer, scope).map(|area| area.blocks);
    let pick = |central: &'static str, of_area: fn(&Blocks) -> &'static str| {
        if central.is_empty() {
            area.as_ref().map_or("", of_area)
        } else {
            central
        }
    };
    [
        pick(customer.blocks.order(), Blocks::order),
        pick(customer.blocks.delivery(), Blocks::delivery),
        pick(customer.blocks.billing(), Blocks::billing),
    ]
}

/// Blocked centrally, in the scope's company code or in its sales area.
pub fn blocked(customer: &CustomerMaster, scope: &TruthScope) -> bool {
    posting_block(customer, scope) || blocks(customer, scope).iter().any(|code| !code.is_empty())
}

pub fn customer_record(data: &EccData, customer: &CustomerMaster, scope: &TruthScope) -> Customer {
    let name_parts: [String; 4] =
        std::array::from_fn(|index| customer.name[index].trim().to_string());
    Customer {
        customer_number: CustomerNumber::from_internal(customer.kunnr),
        customer_number_display: CustomerNumber::from_internal(customer.kunnr).display(),
        name: join_name_parts(&name_parts),
        name_parts,
        account_group: customer.account_group.to_string(),
        vat_number: optional(customer.vat),
        deleted: deleted(customer, scope),
        blocked: blocked(customer, scope),
        billing_address: billing_address(customer),
        shipping_address: shipping_address(data, customer, scope),
        email: customer
            .default_email()
            .and_then(|email| optional(email.address)),
        phone: customer
            .default_phone()
            .map(phone_text)
            .filter(|phone| !phone.is_empty()),
        payment_terms: payment_terms(customer, scope),
        // A contact flagged for deletion (KNVK-LOEVM) is a deleted contact.
        contacts: customer
            .contacts
            .iter()
            .filter(|contact| !contact.deletion_flag)
            .map(|contact| contact_record(contact, scope))
            .collect(),
    }
}

pub fn truth_record(data: &EccData, customer: &CustomerMaster, scope: &TruthScope) -> TruthRecord {
    TruthRecord {
        customer: customer_record(data, customer, scope),
        duplicate_of: customer
            .duplicate_of
            .map(|index| data.customers[index as usize].kunnr.to_string()),
        dirty: customer.dirty.map(str::to_string),
    }
}

/// Every customer's truth, in key order.
pub fn truth(data: &EccData, scope: &TruthScope) -> Vec<TruthRecord> {
    data.customers_in_key_order()
        .map(|customer| truth_record(data, customer, scope))
        .collect()
}

/// The e-mail addresses and phones (as a record would show them) that ECC holds but no record
/// may contain: private rows under KNVK-ADRNP_2 and rows not in use. Values that also appear in
/// use somewhere (a shared switchboard number) are left out, so a finding is a real leak.
pub fn hidden_communication(data: &EccData) -> Vec<String> {
    let contacts = data
        .customers
        .iter()
        .flat_map(|customer| &customer.contacts)
        .chain(data.vendor_contacts.iter().map(|vendor| &vendor.contact));
    let mut hidden = std::collections::BTreeSet::new();
    let mut in_use = std::collections::BTreeSet::new();
    let add =
        |emails: &[Email], phones: &[Phone], into: &mut std::collections::BTreeSet<String>| {
            into.extend(emails.iter().map(|email| email.address.trim().to_string()));
            into.extend(phones.iter().map(phone_text));
        };
    for customer in &data.customers {
        add(&customer.emails, &customer.phones, &mut in_use);
        if let Some(inactive) = &customer.inactive {
            add(&inactive.emails, &inactive.phones, &mut hidden);
        }
    }
    for contact in contacts {
        add(&contact.emails, &contact.phones, &mut in_use);
        if let Some(inactive) = &contact.inactive {
            add(&inactive.emails, &inactive.phones, &mut hidden);
        }
        if let Some(private) = &contact.private {
            add(&private.emails, &private.phones, &mut hidden);
        }
    }
    hidden.difference(&in_use).cloned().collect()
}
