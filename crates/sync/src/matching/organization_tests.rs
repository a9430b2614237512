use super::*;
use crate::existing::PipedriveAddress;
use crate::testing::{customer, other_customer};
use serde_json::json;

const NUMBER_KEY: &str = "number-key";
const VAT_KEY: &str = "vat-key";

fn settings() -> MatchSettings {
    MatchSettings {
        link_threshold: 0.90,
        review_threshold: 0.70,
    }
}

fn organization(
    id: i64,
    name: &str,
    route: &str,
    number: &str,
    postal: &str,
    city: &str,
) -> ExistingOrganization {
    ExistingOrganization {
        id,
        name: name.into(),
        address: Some(PipedriveAddress {
            route: Some(route.into()),
            street_number: Some(number.into()),
            postal_code: Some(postal.into()),
            locality: Some(city.into()),
            country: Some("Germany".into()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn matcher(organizations: &[ExistingOrganization], links: &[(&str, i64)]) -> OrganizationMatcher {
    OrganizationMatcher::new(
        settings(),
        OrganizationEvidenceFields {
            customer_number: Some(NUMBER_KEY.into()),
            vat: Some(VAT_KEY.into()),
            ..Default::default()
        },
        organizations,
        links.iter().copied(),
    )
}

#[test]
fn a_hand_typed_organization_is_linked_with_its_evidence() {
    let typed = organization(
        10,
        "Mueller Maschinenbau GmbH",
        "Hauptstr.",
        "12",
        "70173",
        "Stuttgart",
    );
    let elsewhere = organization(
        11,
        "Müller Maschinenbau AG",
        "Marienplatz",
        "1",
        "80331",
        "München",
    );
    let outcome = matcher(&[typed, elsewhere], &[]).match_customer(&customer(), &[]);
    let MatchOutcome::Link { evidence } = outcome else {
        panic!("expected a link, got {outcome:?}");
    };
    assert_eq!(evidence.pipedrive_id, 10);
    assert_eq!(evidence.rule, MatchRule::SameNameAndAddress);
    assert!(evidence.score >= 0.9);
    assert!(evidence.details.agreed.contains(&"postal_code".to_string()));
}

#[test]
fn the_external_id_field_links_even_when_the_name_changed() {
    let mut renamed = organization(20, "Completely Different Name", "", "", "", "");
    renamed
        .custom_fields
        .insert(NUMBER_KEY.into(), json!("4711"));
    let outcome = matcher(&[renamed], &[]).match_customer(&customer(), &[]);
    assert!(
        matches!(outcome, MatchOutcome::Link { ref evidence } if evidence.rule == MatchRule::ExternalId && evidence.pipedrive_id == 20),
        "{outcome:?}"
    );
}

#[test]
fn the_vat_number_links_when_the_names_agree_and_reviews_when_they_do_not() {
    let mut by_vat = organization(30, "Müller MB", "", "", "", "");
    by_vat
        .custom_fields
        .insert(VAT_KEY.into(), json!("DE 123456789"));
    let outcome = matcher(&[by_vat.clone()], &[]).match_customer(&customer(), &[]);
    assert!(
        matches!(outcome, MatchOutcome::Link { ref evidence } if evidence.rule == MatchRule::VatNumber),
        "{outcome:?}"
    );
    by_vat.name = "Zeppelin Logistics".into();
    let outcome = matcher(&[by_vat], &[]).match_customer(&customer(), &[]);
    assert!(
        matches!(
            outcome,
            MatchOutcome::Review {
                reason: ReviewReason::VatNameMismatch,
                ..
            }
        ),
        "{outcome:?}"
    );
}

#[test]
fn an_organization_linked_to_another_customer_is_never_auto_linked() {
    let typed = organization(
        40,
        "Müller Maschinenbau GmbH & Co. KG",
        "Hauptstraße",
        "12",
        "70173",
        "Stuttgart",
    );
    let outcome = matcher(std::slice::from_ref(&typed), &[("0000000815", 40)])
        .match_customer(&customer(), &[]);
    assert!(
        matches!(outcome, MatchOutcome::Review { reason: ReviewReason::LinkedToAnotherCustomer, ref candidate, .. } if candidate.linked_to.as_deref() == Some("815")),
        "{outcome:?}"
    );
    // Its external-id field says the same without a link-table row.
    let mut numbered = typed;
    numbered
        .custom_fields
        .insert(NUMBER_KEY.into(), json!("815"));
    let outcome = matcher(&[numbered], &[]).match_customer(&customer(), &[]);
    assert!(
        matches!(
            outcome,
            MatchOutcome::Review {
                reason: ReviewReason::LinkedToAnotherCustomer,
                ..
            }
        ),
        "{outcome:?}"
    );
}

#[test]
fn two_equally_good_organizations_are_a_review_not_a_guess() {
    let first = organization(
        50,
        "Müller Maschinenbau",
        "Hauptstraße",
        "12",
        "70173",
        "Stuttgart",
    );
    let second = organization(
        51,
        "Mueller Maschinenbau GmbH",
        "Hauptstr",
        "12",
        "70173",
        "Stuttgart",
    );
    let outcome = matcher(&[first, second], &[]).match_customer(&customer(), &[]);
    assert!(
        matches!(
            outcome,
            MatchOutcome::Review {
                reason: ReviewReason::Ambiguous,
                other: Some(_),
                ..
            }
        ),
        "{outcome:?}"
    );
}

#[test]
fn the_middle_band_is_reviewed_and_the_low_band_created() {
    let no_address = ExistingOrganization {
        id: 60,
        name: "Müller Maschinenbau".into(),
        ..Default::default()
    };
    let outcome = matcher(&[no_address], &[]).match_customer(&customer(), &[]);
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
    let other_company = organization(
        61,
        "Müller Logistik GmbH",
        "Hauptstraße",
        "12",
        "70173",
        "Stuttgart",
    );
    let outcome = matcher(&[other_company], &[]).match_customer(&customer(), &[]);
    assert!(
        matches!(outcome, MatchOutcome::Create { .. }),
        "{outcome:?}"
    );
    let outcome = matcher(&[], &[]).match_customer(&customer(), &[]);
    assert_eq!(outcome, MatchOutcome::Create { nearest: None });
}

#[test]
fn a_middle_band_organization_of_another_customer_is_that_customers_not_a_review() {
    // No address: the name alone is a middle-band match; the organization carries another
    // customer's number, so it is most likely that customer's, and this one is created.
    let mut numbered = ExistingOrganization {
        id: 65,
        name: "Müller Maschinenbau".into(),
        ..Default::default()
    };
    numbered
        .custom_fields
        .insert(NUMBER_KEY.into(), json!("815"));
    let outcome = matcher(&[numbered], &[]).match_customer(&customer(), &[]);
    assert!(
        matches!(outcome, MatchOutcome::Create { nearest: Some(ref nearest) } if nearest.pipedrive_id == 65),
        "{outcome:?}"
    );
}

#[test]
fn common_words_weigh_less_than_rare_ones() {
    // "Elektrotechnik" is in every other name; the surnames tell the companies apart.
    let mut organizations: Vec<ExistingOrganization> = (0..200)
        .map(|n| {
            organization(
                100 + n,
                &format!("Firma{n} Elektrotechnik GmbH"),
                "Ring",
                "1",
                "10115",
                "Berlin",
            )
        })
        .collect();
    organizations.push(organization(
        1,
        "Hahn Elektrotechnik GmbH",
        "Hauptstraße",
        "12",
        "70173",
        "Stuttgart",
    ));
    let mut lang = customer();
    lang.name = "Lang Elektrotechnik GmbH".into();
    lang.vat_number = None;
    let outcome = matcher(&organizations, &[]).match_customer(&lang, &[]);
    assert!(
        matches!(outcome, MatchOutcome::Create { .. }),
        "{outcome:?}"
    );
    let mut hahn = lang.clone();
    hahn.name = "Hahn Elektrotechnik".into();
    let outcome = matcher(&organizations, &[]).match_customer(&hahn, &[]);
    assert!(
        matches!(outcome, MatchOutcome::Link { ref evidence } if evidence.pipedrive_id == 1),
        "{outcome:?}"
    );
}

/// `count` organizations named like a group's branches, each at its own street in Berlin
/// and linked to its own customer (0000009000 + n), ids from 500.
fn linked_branches(name: &str, count: i64) -> (Vec<ExistingOrganization>, Vec<(String, i64)>) {
    (0..count)
        .map(|n| {
            let branch = organization(500 + n, name, &format!("Ring {n}"), "1", "10115", "Berlin");
            (branch, (format!("{:010}", 9000 + n), 500 + n))
        })
        .unzip()
}

fn matcher_with_links(
    organizations: &[ExistingOrganization],
    links: &[(String, i64)],
) -> OrganizationMatcher {
    let links: Vec<(&str, i64)> = links
        .iter()
        .map(|(number, id)| (number.as_str(), *id))
        .collect();
    matcher(organizations, &links)
}

#[test]
fn the_same_name_at_the_same_address_is_linked_however_common_the_name() {
    let (mut organizations, links) = linked_branches("Kowalski Handel Sp. z o.o.", 30);
    organizations.push(organization(
        90,
        "KOWALSKI HANDEL SP. Z O.O ",
        "hauptstr.",
        "12",
        "70173",
        "STUTTGART",
    ));
    let mut branch = customer();
    branch.name = "Kowalski Handel Sp. z o.o.".into();
    branch.vat_number = None;
    let outcome = matcher_with_links(&organizations, &links).match_customer(&branch, &[]);
    let MatchOutcome::Link { evidence } = outcome else {
        panic!("expected a link, got {outcome:?}");
    };
    assert_eq!(evidence.pipedrive_id, 90);
    assert_eq!(evidence.rule, MatchRule::SameNameAndAddress);
    assert_eq!(evidence.score, 1.0);
}

#[test]
fn the_same_name_at_the_same_address_twice_or_taken_is_a_review_never_a_create() {
    let typed = |id| {
        organization(
            id,
            "Müller Maschinenbau",
            "Hauptstraße",
            "12",
            "70173",
            "Stuttgart",
        )
    };
    let outcome = matcher(&[typed(91), typed(92)], &[]).match_customer(&customer(), &[]);
    assert!(
        matches!(outcome, MatchOutcome::Review { reason: ReviewReason::Ambiguous, ref candidate, other: Some(ref other) }
            if candidate.rule == MatchRule::SameNameAndAddress && candidate.pipedrive_id == 91 && other.pipedrive_id == 92),
        "{outcome:?}"
    );
    let outcome = matcher(&[typed(91)], &[("0000000815", 91)]).match_customer(&customer(), &[]);
    assert!(
        matches!(outcome, MatchOutcome::Review { reason: ReviewReason::LinkedToAnotherCustomer, ref candidate, .. }
            if candidate.rule == MatchRule::SameNameAndAddress && candidate.linked_to.as_deref() == Some("815")),
        "{outcome:?}"
    );
    // A reviewer's rejection stands: the next rule decides without it.
    let outcome = matcher(&[typed(91)], &[]).match_customer(&customer(), &[91]);
    assert!(
        matches!(outcome, MatchOutcome::Create { nearest: None }),
        "{outcome:?}"
    );
}

#[test]
fn a_vat_number_the_branches_share_does_not_hide_the_organization_at_its_own_address() {
    let mut sibling = organization(
        96,
        "Müller Maschinenbau GmbH & Co. KG",
        "Königstraße",
        "3",
        "70173",
        "Stuttgart",
    );
    sibling
        .custom_fields
        .insert(VAT_KEY.into(), json!("DE 123456789"));
    let typed = organization(
        97,
        "MUELLER MASCHINENBAU GMBH",
        "Hauptstr.",
        "12",
        "70173",
        "Stuttgart",
    );
    let outcome =
        matcher(&[sibling.clone(), typed], &[("0000000815", 96)]).match_customer(&customer(), &[]);
    assert!(
        matches!(outcome, MatchOutcome::Link { ref evidence } if evidence.pipedrive_id == 97 && evidence.rule == MatchRule::SameNameAndAddress),
        "{outcome:?}"
    );
    // Without one at its address, the sibling at another street is another branch: the
    // shared VAT number counts for it, the street against, and the branch is created.
    let outcome = matcher(&[sibling], &[("0000000815", 96)]).match_customer(&customer(), &[]);
    let MatchOutcome::Create {
        nearest: Some(nearest),
    } = outcome
    else {
        panic!("{outcome:?}");
    };
    assert_eq!(nearest.pipedrive_id, 96);
    assert!(nearest.details.agreed.contains(&"vat".to_string()));
    assert!(nearest.details.disagreed.contains(&"street".to_string()));
}

#[test]
fn a_house_number_typed_into_the_street_field_is_the_same_address() {
    let typed = organization(
        93,
        "Müller Maschinenbau",
        "Hauptstr. 12",
        "",
        "D-70173",
        "Stuttgart",
    );
    let outcome = matcher(&[typed], &[]).match_customer(&customer(), &[]);
    assert!(
        matches!(outcome, MatchOutcome::Link { ref evidence } if evidence.rule == MatchRule::SameNameAndAddress),
        "{outcome:?}"
    );
    let next_door = organization(
        94,
        "Müller Maschinenbau",
        "Hauptstraße",
        "14",
        "70173",
        "Stuttgart",
    );
    let outcome = matcher(&[next_door], &[]).match_customer(&customer(), &[]);
    assert!(
        !matches!(outcome, MatchOutcome::Link { ref evidence } if evidence.rule == MatchRule::SameNameAndAddress),
        "{outcome:?}"
    );
}

#[test]
fn a_name_common_among_the_branches_never_pushes_its_own_address_under_the_review_band() {
    // Thirty branches make "kowalski" and "handel" common, so the word the salesperson
    // added weighs most; at the customer's own address that must not end in a create.
    let (mut organizations, links) = linked_branches("Kowalski Handel Sp. z o.o.", 30);
    organizations.push(organization(
        95,
        "Kowalski Handel Polska",
        "Hauptstraße",
        "12",
        "70173",
        "Stuttgart",
    ));
    let mut branch = customer();
    branch.name = "Kowalski Handel Sp. z o.o.".into();
    branch.vat_number = None;
    let outcome = matcher_with_links(&organizations, &links).match_customer(&branch, &[]);
    assert!(
        matches!(outcome, MatchOutcome::Review { reason: ReviewReason::MiddleBand, ref candidate, .. } if candidate.pipedrive_id == 95),
        "{outcome:?}"
    );
    // Elsewhere the weights still decide: the same typed name in another city is no match.
    organizations.pop();
    organizations.push(organization(
        95,
        "Kowalski Handel Polska",
        "Marktplatz",
        "1",
        "80331",
        "München",
    ));
    let outcome = matcher_with_links(&organizations, &links).match_customer(&branch, &[]);
    assert!(
        matches!(outcome, MatchOutcome::Create { .. }),
        "{outcome:?}"
    );
}

#[test]
fn a_rejected_candidate_is_not_proposed_again() {
    let typed = organization(
        70,
        "Mueller Maschinenbau GmbH",
        "Hauptstr.",
        "12",
        "70173",
        "Stuttgart",
    );
    let outcome = matcher(&[typed], &[]).match_customer(&customer(), &[70]);
    assert!(
        matches!(outcome, MatchOutcome::Create { nearest: None }),
        "{outcome:?}"
    );
}

#[test]
fn an_address_typed_into_one_line_is_understood() {
    let typed = ExistingOrganization {
        id: 80,
        name: "Müller Maschinenbau".into(),
        address: Some(PipedriveAddress {
            value: Some("Hauptstraße 12, 70173 Stuttgart".into()),
            ..Default::default()
        }),
        ..Default::default()
    };
    let outcome = matcher(&[typed], &[]).match_customer(&customer(), &[]);
    assert!(matches!(outcome, MatchOutcome::Link { .. }), "{outcome:?}");
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

    #[test]
    fn a_company_typed_differently_at_its_address_is_linked(
        words in proptest::collection::vec("[a-z]{4,10}", 1..4),
        form in proptest::sample::select(vec!["GmbH", "AG", "Ltd.", "Limited", "B.V.", "SARL", "Inc.", "GmbH & Co. KG"]),
        typed_form in proptest::sample::select(vec!["", "GmbH", "Ltd", "AG"]),
        shout in proptest::bool::ANY,
        reverse in proptest::bool::ANY,
    ) {
        let name = format!("{} {form}", words.join(" "));
        let mut typed_words = words.clone();
        if reverse {
            typed_words.reverse();
        }
        let mut typed = format!("{} {typed_form}", typed_words.join(" "));
        if shout {
            typed = typed.to_uppercase();
        }
        let ecc = other_customer(1, &name, "Hauptstraße", "12a", "70173", "Stuttgart");
        let organizations = vec![
            organization(7, &typed, "Hauptstr.", "12 A", "70173", "Stuttgart"),
            organization(8, "Zyxwv Qrstu GmbH", "Hauptstraße", "12a", "70173", "Stuttgart"),
        ];
        let outcome = matcher(&organizations, &[]).match_customer(&ecc, &[]);
        proptest::prop_assert!(matches!(outcome, MatchOutcome::Link { ref evidence } if evidence.pipedrive_id == 7), "{:?}", outcome);
    }

    #[test]
    fn companies_without_a_common_word_are_never_linked(
        first in proptest::collection::vec("[a-m]{5,9}", 1..3),
        second in proptest::collection::vec("[n-z]{5,9}", 1..3),
    ) {
        let ecc = other_customer(1, &format!("{} GmbH", first.join(" ")), "Hauptstraße", "12", "70173", "Stuttgart");
        let organizations = vec![organization(7, &format!("{} GmbH", second.join(" ")), "Hauptstraße", "12", "70173", "Stuttgart")];
        let outcome = matcher(&organizations, &[]).match_customer(&ecc, &[]);
        proptest::prop_assert!(matches!(outcome, MatchOutcome::Create { .. }), "{:?}", outcome);
    }
}

#[test]
fn many_customers_match_in_order_on_several_threads() {
    let organizations: Vec<ExistingOrganization> = (0..1_500)
        .map(|n| {
            organization(
                n,
                &format!("Firma{n} Handel"),
                "Ring",
                &n.to_string(),
                "10115",
                "Berlin",
            )
        })
        .collect();
    let customers: Vec<_> = (0..1_500u32)
        .map(|n| {
            other_customer(
                n + 1,
                &format!("Firma{n} Handel GmbH"),
                "Ring",
                &n.to_string(),
                "10115",
                "Berlin",
            )
        })
        .collect();
    let matcher = matcher(&organizations, &[]);
    let outcomes = matcher.match_customers(&customers, None, 2);
    for (n, outcome) in outcomes.iter().enumerate() {
        assert!(
            matches!(outcome, MatchOutcome::Link { evidence } if evidence.pipedrive_id == n as i64),
            "{n}: {outcome:?}"
        );
    }
}

/// A review the rules would ask for, its candidate with `probability` and `disagreed`.
fn doubted(reason: ReviewReason, probability: f64, disagreed: &[&str]) -> MatchOutcome {
    MatchOutcome::Review {
        reason,
        candidate: MatchEvidence {
            pipedrive_id: 7,
            rule: MatchRule::NameAndAddress,
            score: 0.85,
            details: Evidence {
                name_score: 1.0,
                agreed: vec!["name".into()],
                disagreed: disagreed.iter().map(|part| part.to_string()).collect(),
                ..Default::default()
            },
            linked_to: None,
            candidate_name: "maschinenbau mueller".into(),
            probability: Some(probability),
            probability_from: Some(ModelSource::Run),
            weights: Vec::new(),
            linked_on_probability: false,
        },
        other: None,
    }
}

#[test]
fn a_doubt_of_the_rules_the_runs_model_is_sure_about_is_a_link_that_says_so() {
    let outcome = settle_on_probability(
        doubted(ReviewReason::MiddleBand, 0.97, &[]),
        settings(),
        ModelSource::Run,
    );
    let MatchOutcome::Link { evidence } = outcome else {
        panic!("expected a link, got {outcome:?}");
    };
    assert!(evidence.linked_on_probability);
    assert_eq!(
        MatchOutcome::Link { evidence }.evidence_json()["evidence"]["linked_on_probability"],
        true
    );
}

#[test]
fn the_probability_never_overrules_a_contradiction_another_customer_or_the_defaults() {
    let stays_a_review = |outcome: MatchOutcome, source: ModelSource| {
        let settled = settle_on_probability(outcome.clone(), settings(), source);
        assert_eq!(settled, outcome);
    };
    // Below the link threshold.
    stays_a_review(
        doubted(ReviewReason::MiddleBand, 0.89, &[]),
        ModelSource::Run,
    );
    // A part against it.
    stays_a_review(
        doubted(ReviewReason::MiddleBand, 0.99, &["postal_code"]),
        ModelSource::Run,
    );
    // Not the rules' doubt but a conflict.
    for reason in [
        ReviewReason::LinkedToAnotherCustomer,
        ReviewReason::Ambiguous,
        ReviewReason::VatNameMismatch,
    ] {
        stays_a_review(doubted(reason, 0.99, &[]), ModelSource::Run);
    }
    // The organization carries another customer's number.
    let mut linked = doubted(ReviewReason::MiddleBand, 0.99, &[]);
    if let MatchOutcome::Review { candidate, .. } = &mut linked {
        candidate.linked_to = Some("815".into());
    }
    stays_a_review(linked, ModelSource::Run);
    // A small run's default model never decides.
    stays_a_review(
        doubted(ReviewReason::MiddleBand, 0.99, &[]),
        ModelSource::Defaults,
    );
}

/// The matcher as the engine builds it: the organizations counted in a first read, then added
/// with their link-table rows.
fn counted_matcher(
    organizations: &[ExistingOrganization],
    links: &[(&str, i64)],
) -> OrganizationMatcher {
    let fields = OrganizationEvidenceFields {
        customer_number: Some(NUMBER_KEY.into()),
        vat: Some(VAT_KEY.into()),
        ..Default::default()
    };
    let linked = |id: i64| {
        links
            .iter()
            .rev()
            .find(|(_, linked_id)| *linked_id == id)
            .map(|(number, _)| *number)
    };
    let mut sizes = OrganizationMatcher::sizes(fields);
    for organization in organizations {
        sizes.add(organization, linked(organization.id));
    }
    let mut builder = OrganizationMatcher::counted_builder(settings(), &sizes);
    for organization in organizations {
        builder.add_linked_organization(organization, linked(organization.id));
    }
    builder.finish()
}

#[test]
fn a_matcher_counted_first_decides_as_one_built_in_one_pass_with_its_links() {
    let mut same = organization(
        1,
        "Müller Maschinenbau GmbH",
        "Hauptstr.",
        "12",
        "70173",
        "Stuttgart",
    );
    same.custom_fields.insert(NUMBER_KEY.into(), json!("4711"));
    let mut relinked = organization(2, "Müller Maschinenbau", "Ring", "3", "10115", "Berlin");
    relinked
        .custom_fields
        .insert(NUMBER_KEY.into(), json!("815"));
    relinked
        .custom_fields
        .insert(VAT_KEY.into(), json!("DE 123456789"));
    let unnumbered = organization(
        3,
        "Mueller Maschinenbau KG",
        "Hauptstraße",
        "12",
        "70173",
        "Stuttgart",
    );
    let (mut organizations, branch_links) = linked_branches("Isar Holzbau GmbH", 6);
    organizations.extend([same, relinked, unnumbered]);
    let mut links: Vec<(&str, i64)> = branch_links
        .iter()
        .map(|(number, id)| (number.as_str(), *id))
        .collect();
    // The number its field holds (display form), another number, a link to an organization
    // Pipedrive no longer lists, and one for an organization without a field.
    links.extend([
        ("4711", 1),
        ("0000009000", 2),
        ("0000000042", 99),
        ("0000000777", 3),
    ]);

    let one_pass = matcher(&organizations, &links);
    let counted = counted_matcher(&organizations, &links);
    for organization in &organizations {
        assert_eq!(
            counted.linked_customer(organization.id),
            one_pass.linked_customer(organization.id),
            "organization {}",
            organization.id
        );
        assert_eq!(
            counted.subject_of(organization.id),
            one_pass.subject_of(organization.id)
        );
    }
    assert_eq!(counted.linked_customer(2), Some("9000"));
    let customers = [
        customer(),
        other_customer(815, "Müller Maschinenbau", "Ring", "3", "10115", "Berlin"),
        other_customer(9000, "Isar Holzbau GmbH", "Ring", "0", "10115", "Berlin"),
        other_customer(
            777,
            "Mueller Maschinenbau KG",
            "Hauptstraße",
            "12",
            "70173",
            "Stuttgart",
        ),
        other_customer(9100, "Isar Holzbau", "Ring", "4", "10115", "Berlin"),
    ];
    for customer in &customers {
        assert_eq!(
            counted.match_customer(customer, &[]),
            one_pass.match_customer(customer, &[]),
            "customer {}",
            customer.customer_number_display
        );
    }
    // Customer 815 still finds the organization its number is typed into, linked to 9000.
    assert!(
        matches!(
            counted.match_customer(&customers[1], &[]),
            MatchOutcome::Review { reason: ReviewReason::LinkedToAnotherCustomer, ref candidate, .. }
                if candidate.pipedrive_id == 2
        ),
        "{:?}",
        counted.match_customer(&customers[1], &[])
    );
}
