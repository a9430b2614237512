//! A customer's organization: created only after a lookup, linked to the one typed in by hand,
//! reviewed when unsure, never shared by two customers; deleted, blocked and duplicate
//! customers follow their policies.

use super::*;

#[test]
fn a_new_customer_without_a_match_is_created_with_its_persons() {
    let plan = World::new(vec![customer()]).plan();
    let organization = &plan.entries[0];
    assert_eq!(organization.action(), Action::Create);
    assert_eq!(organization.tokens, 5);
    let Operation::Create {
        body,
        organization: None,
    } = &organization.operation
    else {
        panic!("{organization:?}");
    };
    assert_eq!(
        body.create_body()["custom_fields"][key_for(CUSTOMER_NUMBER_FIELD)],
        "4711"
    );
    assert!(organization.pushed_hash.is_some());
    let persons = person_entries(&plan);
    assert_eq!(persons.len(), 1);
    assert_eq!(persons[0].action(), Action::Create);
    assert_eq!(
        persons[0].operation,
        match &persons[0].operation {
            Operation::Create { body, .. } => Operation::Create {
                body: body.clone(),
                organization: Some(OrganizationRef::CreatedInThisRun {
                    customer_number: "0000004711".into()
                }),
            },
            other => panic!("{other:?}"),
        }
    );
    assert!(
        persons[0].pushed_hash.is_none(),
        "hashed by the executor once org_id is known"
    );
    assert_eq!(plan.write_tokens(), 10);
    assert_eq!(plan.counts().get(&Action::Create), Some(&2));
}

#[test]
fn an_unlinked_customer_waits_for_the_index_instead_of_being_created() {
    let mut world = World::new(vec![customer()]);
    world.with_index = false;
    let plan = world.plan();
    assert_eq!(plan.entries[0].action(), Action::Deferred);
    assert!(plan.needs_index());
    assert!(!actions(&plan).contains(&Action::Create));
}

#[test]
fn a_hand_typed_organization_is_linked_and_given_the_ecc_values() {
    let mut world = World::new(vec![customer()]);
    world.organizations.insert(
        50,
        ExistingOrganization {
            id: 50,
            name: "Mueller Maschinenbau".into(),
            address: Some(PipedriveAddress {
                value: Some("Hauptstr. 12, 70173 Stuttgart".into()),
                ..Default::default()
            }),
            custom_fields: [("salesperson-field".to_string(), json!("keep me"))]
                .into_iter()
                .collect(),
            label_ids: vec![3],
            ..Default::default()
        },
    );
    world.persons.insert(
        501,
        ExistingPerson {
            id: 501,
            name: "A. Schmidt".into(),
            org_id: Some(50),
            emails: vec![ContactEntry {
                value: "a.schmidt@mueller-maschinenbau.de".into(),
                label: None,
                primary: true,
            }],
            ..Default::default()
        },
    );
    let plan = world.plan();
    let organization = &plan.entries[0];
    assert_eq!(organization.action(), Action::Link, "{organization:#?}");
    let Operation::Link {
        id: 50,
        changes,
        diffed: true,
    } = &organization.operation
    else {
        panic!()
    };
    let body = changes.patch_body();
    assert_eq!(
        body["custom_fields"][key_for(CUSTOMER_NUMBER_FIELD)],
        "4711"
    );
    assert!(body["custom_fields"].get("salesperson-field").is_none());
    assert!(body.get("label_ids").is_none(), "labels untouched: {body}");
    assert_eq!(organization.tokens, 5);
    assert_eq!(organization.evidence.as_ref().unwrap()["decision"], "link");
    let person = &plan.entries[1];
    assert_eq!(person.action(), Action::Link, "{person:#?}");
    assert!(matches!(person.operation, Operation::Link { id: 501, .. }));
}

#[test]
fn reviews_pending_accepted_and_rejected() {
    let mut world = World::new(vec![customer()]);
    world.organizations.insert(
        60,
        ExistingOrganization {
            id: 60,
            name: "Müller Maschinenbau".into(),
            ..Default::default()
        },
    );
    let plan = world.plan();
    assert_eq!(plan.entries[0].action(), Action::Review);
    assert!(matches!(
        plan.entries[0].operation,
        Operation::Review { id: 60, .. }
    ));
    assert_eq!(
        plan.entries[1].action(),
        Action::Deferred,
        "persons wait for their organization"
    );

    let review = |status| ReviewItem {
        id: 1,
        connection: "default".into(),
        kind: EntityKind::Organization,
        ecc_key: "0000004711".into(),
        pipedrive_id: 60,
        score: 0.85,
        evidence: json!({}),
        status,
        created_at: Utc::now(),
        decided_at: None,
    };
    let key = (EntityKind::Organization, "0000004711".to_string());
    world
        .known
        .reviews
        .insert(key.clone(), vec![review(ReviewStatus::Pending)]);
    let plan = world.plan();
    assert_eq!(plan.entries[0].action(), Action::Review);
    assert_eq!(
        plan.entries[0].operation,
        Operation::AwaitReview,
        "already queued"
    );
    // Neither it nor its contacts ask for the matcher or the persons of organizations: a run
    // builds neither for them, and plans them the same.
    let waiting = world.customers[0].clone();
    assert!(!may_need_matcher(
        &CustomerRecord::new(&waiting),
        &world.known,
        Utc::now()
    ));
    assert!(!may_need_persons_of(
        &waiting,
        &waiting.contacts[0],
        &world.known
    ));
    world.with_matcher = false;
    world.with_persons_of = false;
    assert_eq!(world.plan(), plan);
    world.with_matcher = true;
    world.with_persons_of = true;

    world
        .known
        .reviews
        .insert(key.clone(), vec![review(ReviewStatus::Accepted)]);
    let accepted = world.customers[0].clone();
    assert!(!may_need_matcher(
        &CustomerRecord::new(&accepted),
        &world.known,
        Utc::now()
    ));
    assert!(may_need_persons_of(
        &accepted,
        &accepted.contacts[0],
        &world.known
    ));
    let plan = world.plan();
    assert_eq!(plan.entries[0].action(), Action::Link);
    assert!(matches!(
        plan.entries[0].operation,
        Operation::Link { id: 60, .. }
    ));

    world
        .known
        .reviews
        .insert(key, vec![review(ReviewStatus::Rejected)]);
    assert!(may_need_matcher(
        &CustomerRecord::new(&world.customers[0]),
        &world.known,
        Utc::now()
    ));
    let plan = world.plan();
    assert_eq!(
        plan.entries[0].action(),
        Action::Create,
        "{:?}",
        plan.entries[0]
    );
}

#[test]
fn deleted_or_blocked_before_it_was_ever_synced_is_not_created() {
    for (deleted, blocked) in [(true, false), (false, true)] {
        let mut gone = customer();
        gone.deleted = deleted;
        gone.blocked = blocked;
        let plan = World::new(vec![gone]).plan();
        assert!(
            actions(&plan).iter().all(|action| *action == Action::Skip),
            "{plan:#?}"
        );
        assert!(plan.entries[0].reason.contains("before it was ever synced"));
        assert!(!plan.writes_anything());
    }
}

#[test]
fn the_deletion_and_block_policies() {
    let deleted = |policy: LifecyclePolicy| {
        let mut world = World::new(vec![customer()]).synced(0, 7);
        world.organizations.get_mut(&7).unwrap().label_ids = vec![3];
        world.customers[0].deleted = true;
        world.settings.on_deleted = policy;
        world.plan()
    };
    // leave: nothing lifecycle-specific happens; an otherwise unchanged record is skipped.
    let plan = deleted(LifecyclePolicy::Leave);
    assert_eq!(
        plan.entries[0].action(),
        Action::Skip,
        "{:?}",
        plan.entries[0]
    );

    // label: the status label joins the salesperson's labels.
    let plan = deleted(LifecyclePolicy::Label);
    assert_eq!(
        plan.entries[0].action(),
        Action::Label,
        "{:?}",
        plan.entries[0]
    );
    let Operation::Label { changes, .. } = &plan.entries[0].operation else {
        panic!()
    };
    assert_eq!(changes.get("label_ids"), Some(&json!([3, STATUS_LABEL])));

    // delete: the organization is deleted, its persons left alone.
    let plan = deleted(LifecyclePolicy::Delete);
    assert_eq!(plan.entries[0].action(), Action::Delete);
    assert_eq!(plan.entries[0].operation, Operation::Delete { id: 7 });
    assert_eq!(plan.entries[0].tokens, 3);
    assert_eq!(plan.entries[1].action(), Action::Skip);

    // field (the template's on_blocked): "ECC Status" says so.
    let mut world = World::new(vec![customer()]).synced(0, 7);
    world.customers[0].blocked = true;
    let plan = world.plan();
    assert_eq!(plan.entries[0].action(), Action::Update);
    let Operation::Update { changes, .. } = &plan.entries[0].operation else {
        panic!()
    };
    assert_eq!(
        changes.get(&format!("custom_fields.{}", key_for("ECC Status"))),
        Some(&json!("blocked"))
    );
    assert_eq!(changes.len(), 1);

    // Unblocked again: the field is cleared; a label is taken off again.
    let mut world = World::new(vec![customer()]).synced(0, 7);
    world
        .organizations
        .get_mut(&7)
        .unwrap()
        .custom_fields
        .insert(key_for("ECC Status"), json!("blocked"));
    world.organizations.get_mut(&7).unwrap().label_ids = vec![3, STATUS_LABEL];
    world
        .known
        .organization_states
        .get_mut("0000004711")
        .unwrap()
        .pushed_hash = Some("old".into());
    let plan = world.plan();
    let Operation::Update { changes, .. } = &plan.entries[0].operation else {
        panic!("{:?}", plan.entries[0])
    };
    assert_eq!(
        changes.get(&format!("custom_fields.{}", key_for("ECC Status"))),
        Some(&Value::Null)
    );
    assert_eq!(changes.get("label_ids"), Some(&json!([3])));
}

#[test]
fn the_label_policy_without_its_label_is_an_error_not_a_guess() {
    let mut world = World::new(vec![customer()]).synced(0, 7);
    world.customers[0].deleted = true;
    world.settings.status_label_id = None;
    let plan = world.plan();
    assert_eq!(plan.entries[0].action(), Action::Error);
    assert!(plan.entries[0].reason.contains("status label"));
}

#[test]
fn two_customers_never_take_one_organization_in_the_same_run() {
    let first = customer();
    let mut second = other_customer(
        4712,
        "Müller Maschinenbau",
        "Hauptstraße",
        "12",
        "70173",
        "Stuttgart",
    );
    second.billing_address.country = "DE".into();
    let mut world = World::new(vec![first, second.clone()]);
    world.organizations.insert(
        80,
        ExistingOrganization {
            id: 80,
            name: "Müller Maschinenbau GmbH".into(),
            address: Some(PipedriveAddress {
                value: Some("Hauptstraße 12, 70173 Stuttgart".into()),
                ..Default::default()
            }),
            ..Default::default()
        },
    );
    let plan = world.plan();
    assert_eq!(plan.entries[0].action(), Action::Link);
    let second_entry = organization_entry(&plan, &second);
    assert_eq!(second_entry.action(), Action::Review, "{second_entry:#?}");
}

#[test]
fn the_branch_down_the_street_is_not_linked_to_the_organization_typed_in_for_another() {
    let name = "Kowalski Handel Sp. z o.o.";
    let down_the_street = other_customer(1, name, "ul. Długa", "10", "00-950", "Warszawa");
    let typed_in_for = other_customer(2, name, "ul. Długa", "12", "00-950", "Warszawa");
    let mut world = World::new(vec![down_the_street.clone(), typed_in_for.clone()]);
    world.organizations.insert(
        70,
        ExistingOrganization {
            id: 70,
            name: "KOWALSKI HANDEL SP. Z O.O ".into(),
            address: Some(PipedriveAddress {
                route: Some("UL. DŁUGA".into()),
                street_number: Some("12".into()),
                postal_code: Some("00-950".into()),
                locality: Some("Warszawa".into()),
                ..Default::default()
            }),
            ..Default::default()
        },
    );
    let plan = world.plan();
    let typed = organization_entry(&plan, &typed_in_for);
    assert!(
        matches!(typed.operation, Operation::Link { id: 70, .. }),
        "{typed:?}"
    );
    assert!(
        typed.reason.contains("SameNameAndAddress"),
        "{}",
        typed.reason
    );
    // Planned first, one name on one street, it still is not that branch: the other house
    // number keeps it out of the link band, and the organization is left for a reviewer.
    let other = organization_entry(&plan, &down_the_street);
    assert!(
        matches!(other.operation, Operation::Review { id: 70, .. }),
        "{other:?}"
    );
}

#[test]
fn ecc_duplicates_are_mapped_to_one_or_kept_apart() {
    let primary = customer();
    let mut twin = other_customer(
        9001,
        "Mueller Maschinenbau GmbH",
        "Hauptstr.",
        "12",
        "70173",
        "Stuttgart",
    );
    twin.contacts = vec![];
    let duplicates = find_ecc_duplicates(
        &[primary.clone(), twin.clone()],
        MatchSettings {
            link_threshold: 0.9,
            review_threshold: 0.7,
        },
        1,
    );
    assert_eq!(duplicates.len(), 1);

    // map-to-one, primary already linked: the twin is linked to the same organization.
    let mut world = World::new(vec![primary.clone(), twin.clone()]).synced(0, 7);
    world.duplicates = duplicates.clone();
    world.settings.ecc_duplicates = EccDuplicatePolicy::MapToOne;
    let plan = world.plan();
    let entry = organization_entry(&plan, &twin);
    assert_eq!(entry.action(), Action::Link);
    assert!(
        matches!(entry.operation, Operation::Link { id: 7, ref changes, .. } if changes.is_empty())
    );

    // map-to-one, primary created in this run: the twin waits for it.
    let mut world = World::new(vec![primary.clone(), twin.clone()]);
    world.duplicates = duplicates.clone();
    world.settings.ecc_duplicates = EccDuplicatePolicy::MapToOne;
    let plan = world.plan();
    assert_eq!(organization_entry(&plan, &primary).action(), Action::Create);
    assert_eq!(organization_entry(&plan, &twin).action(), Action::Deferred);

    // keep-apart: the twin gets its own organization, not a review against the primary's.
    let mut world = World::new(vec![primary, twin.clone()]).synced(0, 7);
    world.duplicates = duplicates;
    let plan = world.plan();
    let entry = organization_entry(&plan, &twin);
    assert_eq!(entry.action(), Action::Create, "{entry:#?}");
    assert_eq!(plan.ecc_duplicates.len(), 1);
}
