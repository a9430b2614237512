//! Organizations "the sales team typed by hand" before the connector came: the same companies
//! as some ECC customers, spelled differently, without the ECC customer number. The sync must
//! link them, not duplicate them.

use mlc_sim_ecc::TruthRecord;
use mlc_sim_pipedrive::{NewOrganization, SimHandle};
use serde_json::json;

/// One hand-typed organization and the ECC customer it stands for.
#[derive(Debug, Clone)]
pub struct HandTyped {
    pub customer_number: String,
    pub organization_id: u64,
    pub typed_name: String,
}

/// How a person types a company name they know: legal form dropped or written out, umlauts
/// spelled out, case changed. Deterministic by `variant`.
pub fn hand_typed_name(name: &str, variant: usize) -> String {
    match variant % 4 {
        0 => strip_last_word_if_legal_form(name),
        1 => name
            .replace('ü', "ue")
            .replace('ö', "oe")
            .replace('ä', "ae")
            .replace('ß', "ss")
            .replace('Ü', "Ue")
            .replace('Ö', "Oe")
            .replace('Ä', "Ae"),
        2 => name.to_uppercase(),
        _ => name
            .replace(" GmbH", " G.m.b.H.")
            .replace(" Ltd", " Limited"),
    }
}

fn strip_last_word_if_legal_form(name: &str) -> String {
    const FORMS: [&str; 10] = [
        "GmbH", "AG", "KG", "SARL", "SAS", "B.V.", "Ltd", "Ltd.", "Inc.", "LLC",
    ];
    let mut words: Vec<&str> = name.split_whitespace().collect();
    if words.len() > 1 && words.last().is_some_and(|word| FORMS.contains(word)) {
        words.pop();
    }
    words.join(" ")
}

/// Puts `count` hand-typed organizations into the simulator for clean, active customers that
/// are not deliberate duplicates.
pub(crate) fn type_in(
    truth: &[TruthRecord],
    pipedrive: &SimHandle,
    count: usize,
) -> anyhow::Result<Vec<HandTyped>> {
    let candidates = truth.iter().filter(|record| {
        record.dirty.is_none()
            && record.duplicate_of.is_none()
            && !record.customer.deleted
            && !record.customer.blocked
            && !record.customer.name.is_empty()
    });
    let mut typed = Vec::new();
    for (variant, record) in candidates.step_by(3).take(count).enumerate() {
        let customer = &record.customer;
        let address = &customer.billing_address;
        let typed_name = hand_typed_name(&customer.name, variant);
        let street = format!("{} {}", address.street, address.house_number);
        let organization_id = pipedrive
            .insert_organization(NewOrganization {
                name: typed_name.clone(),
                address: Some(json!({
                    "value": format!("{street}, {} {}", address.postal_code, address.city),
                    "route": address.street,
                    "street_number": address.house_number,
                    "postal_code": address.postal_code,
                    "locality": address.city,
                })),
                ..NewOrganization::default()
            })
            .map_err(|error| anyhow::anyhow!("typing in {typed_name}: {error}"))?;
        typed.push(HandTyped {
            customer_number: customer.customer_number.to_string(),
            organization_id,
            typed_name,
        });
    }
    Ok(typed)
}
