//! The evidence beside name and address, as the matcher uses it with and without the run's
//! other customers: VAT numbers and domains a group shares, phone lines, postal codes.

use serde_json::json;

use super::calibration::ModelSource;
use super::duplicates::{RunCustomers, RunCustomersBuilder};
use super::organization::{
    MatchOutcome, MatchSettings, OrganizationEvidenceFields, OrganizationMatcher, ReviewReason,
};
use crate::existing::{ExistingOrganization, PipedriveAddress};
use crate::testing::{customer, other_customer};
use mlc_canonical::Customer;

const VAT_KEY: &str = "vat-key";
const PHONE_KEY: &str = "phone-key";
const WEBSITE_KEY: &str = "website-key";

fn matcher(organizations: &[ExistingOrganization]) -> OrganizationMatcher {
    OrganizationMatcher::new(
        MatchSettings {
            link_threshold: 0.90,
            review_threshold: 0.70,
        },
        OrganizationEvidenceFields {
            vat: Some(VAT_KEY.into()),
            phone: Some(PHONE_KEY.into()),
            website: Some(WEBSITE_KEY.into()),
            ..Default::default()
        },
        organizations,
        std::iter::empty(),
    )
}

fn run_of(customers: &[Customer]) -> RunCustomers {
    let mut builder = RunCustomersBuilder::with_capacity(customers.len());
    for customer in customers {
        builder.add(customer);
    }
    builder.finish()
}

/// The test customer's company typed in by name only, with the given custom fields.
fn typed_without_address(fields: &[(&str, &str)]) -> ExistingOrganization {
    ExistingOrganization {
        id: 40,
        name: "Mueller Maschinenbau".into(),
        custom_fields: fields
            .iter()
            .map(|(key, value)| (key.to_string(), json!(value)))
            .collect(),
        ..Default::default()
    }
}

/// Another branch of the test customer's group: same name, VAT number and domain, elsewhere.
fn branch() -> Customer {
    let mut branch = customer();
    branch.customer_number = mlc_canonical::CustomerNumber::from_internal("0000004712");
    branch.customer_number_display = mlc_canonical::DisplayNumber::new("4712");
    branch.billing_address.street = "Königstraße".into();
    branch.billing_address.postal_code = "80331".into();
    branch.billing_address.city = "München".into();
    branch.phone = Some("089 998877".into());
    branch
}

#[test]
fn a_vat_number_without_an_address_links_only_the_one_customer_of_the_run_that_has_it() {
    let matcher = matcher(&[typed_without_address(&[(VAT_KEY, "DE 123.456.789")])]);
    let alone = run_of(&[customer()]);
    let outcome = matcher.match_customer_in_run(&customer(), &[], &alone);
    assert!(
        matches!(outcome, MatchOutcome::Link { ref evidence } if evidence.pipedrive_id == 40),
        "{outcome:?}"
    );
    // Two branches of one group share the VAT number: it says which company, not which branch.
    let group = run_of(&[customer(), branch()]);
    let outcome = matcher.match_customer_in_run(&customer(), &[], &group);
    assert!(
        matches!(outcome, MatchOutcome::Review { ref candidate, .. } if candidate.pipedrive_id == 40),
        "{outcome:?}"
    );
}

#[test]
fn a_domain_counts_like_a_vat_number_and_free_mail_not_at_all() {
    let matcher = matcher(&[typed_without_address(&[(
        WEBSITE_KEY,
        "https://www.mueller-maschinenbau.de/",
    )])]);
    let outcome = matcher.match_customer_in_run(&customer(), &[], &run_of(&[customer()]));
    let MatchOutcome::Link { evidence } = outcome else {
        panic!("{outcome:?}");
    };
    assert!(evidence.details.agreed.contains(&"domain".to_string()));
    let mut free_mail = customer();
    free_mail.email = Some("mueller.maschinenbau@gmail.com".into());
    let outcome = matcher.match_customer_in_run(&free_mail, &[], &run_of(&[free_mail.clone()]));
    assert!(
        matches!(
            outcome,
            MatchOutcome::Review {
                reason: ReviewReason::MiddleBand,
                ..
            }
        ),
        "{outcome:?}"
    );
}

#[test]
fn without_an_address_the_phone_line_tells_namesakes_apart() {
    // The same line, however it is written, places the organization at the customer.
    let same_line = matcher(&[typed_without_address(&[(PHONE_KEY, "+49 (0)711 12 34 56")])]);
    let outcome = same_line.match_customer(&customer(), &[]);
    let MatchOutcome::Link { evidence } = outcome else {
        panic!("{outcome:?}");
    };
    assert!(evidence.details.agreed.contains(&"phone".to_string()));
    // Another line and nothing else to go by: another company of that name.
    let other_line = matcher(&[typed_without_address(&[(PHONE_KEY, "030 5556667")])]);
    let outcome = other_line.match_customer(&customer(), &[]);
    assert!(
        matches!(outcome, MatchOutcome::Create { .. }),
        "{outcome:?}"
    );
}

#[test]
fn a_postal_code_alone_links_only_when_no_other_customer_of_the_run_has_the_name_there() {
    let postal_only = ExistingOrganization {
        id: 41,
        name: "Müller Maschinenbau".into(),
        address: Some(PipedriveAddress {
            postal_code: Some("70173".into()),
            locality: Some("Stuttgart".into()),
            ..Default::default()
        }),
        ..Default::default()
    };
    let matcher = matcher(&[postal_only]);
    let mut customer = customer();
    customer.phone = None;
    let outcome = matcher.match_customer_in_run(&customer, &[], &run_of(&[customer.clone()]));
    assert!(
        matches!(outcome, MatchOutcome::Link { ref evidence } if evidence.pipedrive_id == 41),
        "{outcome:?}"
    );
    let mut namesake = customer.clone();
    namesake.customer_number = mlc_canonical::CustomerNumber::from_internal("0000009999");
    namesake.billing_address.street = "Lindenstraße".into();
    namesake.vat_number = None;
    let run = run_of(&[customer.clone(), namesake]);
    let outcome = matcher.match_customer_in_run(&customer, &[], &run);
    assert!(
        matches!(
            outcome,
            MatchOutcome::Review {
                reason: ReviewReason::Ambiguous,
                ..
            }
        ),
        "{outcome:?}"
    );
}

#[test]
fn another_vat_number_or_a_different_house_number_on_the_same_street_counts_against() {
    let mut neighbour = ExistingOrganization {
        id: 42,
        name: "Müller Maschinenbau".into(),
        address: Some(PipedriveAddress {
            route: Some("Hauptstr.".into()),
            street_number: Some("14".into()),
            postal_code: Some("70173".into()),
            locality: Some("Stuttgart".into()),
            ..Default::default()
        }),
        ..Default::default()
    };
    let outcome = matcher(&[neighbour.clone()]).match_customer(&customer(), &[]);
    let MatchOutcome::Review { candidate, .. } = outcome else {
        panic!("{outcome:?}");
    };
    assert!(candidate
        .details
        .disagreed
        .contains(&"house_number".to_string()));
    neighbour
        .custom_fields
        .insert(VAT_KEY.into(), json!("DE999999999"));
    let outcome = matcher(&[neighbour]).match_customer(&customer(), &[]);
    assert!(
        matches!(outcome, MatchOutcome::Create { .. }),
        "{outcome:?}"
    );
}

#[test]
fn a_name_only_organization_is_weighed_against_the_customers_of_the_run_whose_name_fits_it() {
    let typed = ExistingOrganization {
        id: 43,
        name: "Schmitz Maschinenbau".into(),
        ..Default::default()
    };
    let matcher = matcher(&[typed]);
    let schmidt = other_customer(
        5001,
        "Schmidt Maschinenbau GmbH",
        "Ring",
        "1",
        "50667",
        "Köln",
    );
    let schmitz = other_customer(
        5002,
        "Schmitz Maschinenbau AG",
        "Allee",
        "2",
        "40210",
        "Düsseldorf",
    );
    let probability = |customer: &Customer, run: &RunCustomers| {
        let outcome = matcher.match_customer_in_run(customer, &[], run);
        let pair = match &outcome {
            MatchOutcome::Link { evidence } => evidence,
            MatchOutcome::Review { candidate, .. } => candidate,
            MatchOutcome::Create { nearest } => nearest.as_ref().expect("a nearest organization"),
        };
        assert_eq!(pair.pipedrive_id, 43, "{outcome:?}");
        assert_eq!(
            pair.probability_from,
            Some(ModelSource::Defaults),
            "a run too small for its own model"
        );
        pair.probability.expect("every pair carries a probability")
    };
    let alone = probability(&schmidt, &run_of(std::slice::from_ref(&schmidt)));
    let both = run_of(&[schmidt.clone(), schmitz.clone()]);
    let beside_the_namesake = probability(&schmidt, &both);
    // Another customer has exactly the organization's name: it is most likely that one's.
    assert!(
        beside_the_namesake < alone / 5.0,
        "{beside_the_namesake} beside Schmitz, {alone} alone"
    );
    let the_namesake = probability(&schmitz, &both);
    assert!(the_namesake > 5.0 * beside_the_namesake, "{the_namesake}");
    // Two customers of one name halve it.
    let mut branch = schmitz.clone();
    branch.customer_number = mlc_canonical::CustomerNumber::from_internal("0000005003");
    branch.customer_number_display = mlc_canonical::DisplayNumber::new("5003");
    let shared = probability(&schmitz, &run_of(&[schmitz.clone(), branch]));
    let unique = probability(&schmitz, &run_of(std::slice::from_ref(&schmitz)));
    assert!(
        (shared - unique / 2.0).abs() < 1e-9,
        "{shared} shared, {unique} unique"
    );
}
