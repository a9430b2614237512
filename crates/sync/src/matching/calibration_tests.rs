use super::*;

fn evidence(name_score: f64, agreed: &[&str], disagreed: &[&str]) -> Evidence {
    Evidence {
        name_score,
        agreed: agreed.iter().map(|part| part.to_string()).collect(),
        disagreed: disagreed.iter().map(|part| part.to_string()).collect(),
        ..Default::default()
    }
}

fn alone() -> PairContext {
    PairContext {
        customers_with_the_name: 1,
        vat_shared: false,
        domain_shared: false,
        this_customers: false,
        another_customers: false,
    }
}

fn level_name(vector: &ComparisonVector, comparison: usize) -> Option<&'static str> {
    vector
        .level(comparison)
        .map(|level| LEVELS[comparison][level])
}

#[test]
fn the_strongest_address_disagreement_decides_the_address_level() {
    let at_the_door = ComparisonVector::of(
        &evidence(1.0, &["postal_code", "city", "street", "house_number"], &[]),
        alone(),
    );
    assert_eq!(
        level_name(&at_the_door, ADDRESS),
        Some("same_street_and_number")
    );
    assert_eq!(level_name(&at_the_door, NAME), Some("exact_unique"));
    let next_door = ComparisonVector::of(
        &evidence(1.0, &["postal_code", "city", "street"], &["house_number"]),
        alone(),
    );
    assert_eq!(level_name(&next_door, ADDRESS), Some("other_house_number"));
    let abroad = ComparisonVector::of(
        &evidence(0.93, &["postal_code"], &["country", "street"]),
        alone(),
    );
    assert_eq!(level_name(&abroad, ADDRESS), Some("another_country"));
    assert_eq!(level_name(&abroad, NAME), Some("from_0_90"));
    let nowhere = ComparisonVector::of(&evidence(0.5, &[], &[]), alone());
    assert_eq!(level_name(&nowhere, ADDRESS), Some("not_compared"));
    assert_eq!(level_name(&nowhere, VAT), None);
    assert_eq!(level_name(&nowhere, OWNER), Some("free"));
}

#[test]
fn a_name_many_customers_share_and_a_groups_vat_number_are_their_own_levels() {
    let context = PairContext {
        customers_with_the_name: 5,
        vat_shared: true,
        another_customers: true,
        ..alone()
    };
    // At the same street, the name's level says how many share it.
    let vector = ComparisonVector::of(&evidence(1.0, &["street", "vat"], &["phone"]), context);
    assert_eq!(level_name(&vector, NAME), Some("exact_shared_by_4_or_more"));
    assert_eq!(vector.name_sharers(), None);
    // Placed nowhere (a group's VAT number fits all its branches): the name is exact, and the
    // rivals' adjustment counts the four other customers the organization could be.
    let vector = ComparisonVector::of(&evidence(1.0, &["vat"], &["phone"]), context);
    assert!(vector.is_unplaced());
    assert_eq!(level_name(&vector, NAME), Some("exact_unique"));
    let vector = vector.with_rivals(NameRivals {
        exact: 4,
        ..NameRivals::default()
    });
    assert_eq!(vector.name_sharers(), Some(5));
    assert_eq!(level_name(&vector, VAT), Some("same_shared"));
    assert_eq!(level_name(&vector, PHONE), Some("different"));
    assert_eq!(level_name(&vector, OWNER), Some("another_customer"));
}

/// A small deterministic generator (xorshift), so the test data is the same every run.
struct Xorshift(u64);

impl Xorshift {
    fn unit(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }

    fn level(&mut self, distribution: &[f64]) -> usize {
        let mut draw = self.unit();
        for (level, share) in distribution.iter().enumerate() {
            if draw < *share {
                return level;
            }
            draw -= share;
        }
        distribution.len() - 1
    }
}

/// Pairs drawn from a known model (name, address, phone, owner compared; 40% true): what EM
/// must find again without being told which pairs are true.
fn known_population(pairs: usize) -> Vec<(ComparisonVector, bool)> {
    let m_name = [0.80, 0.01, 0.01, 0.10, 0.04, 0.02, 0.02];
    let u_name = [0.05, 0.02, 0.03, 0.05, 0.05, 0.10, 0.70];
    let m_address = [0.70, 0.02, 0.20, 0.04, 0.01, 0.01, 0.01, 0.005, 0.005];
    let u_address = [0.02, 0.02, 0.10, 0.10, 0.06, 0.30, 0.20, 0.05, 0.15];
    let m_phone = [0.9, 0.1];
    let u_phone = [0.05, 0.95];
    let m_owner = [0.02, 0.96, 0.02];
    let u_owner = [0.001, 0.80, 0.199];
    let mut random = Xorshift(0x9e37_79b9_7f4a_7c15);
    let mut drawn = Vec::with_capacity(pairs);
    for _ in 0..pairs {
        let is_true = random.unit() < 0.4;
        let (name, address, phone, owner) = if is_true {
            (&m_name[..], &m_address[..], &m_phone[..], &m_owner[..])
        } else {
            (&u_name[..], &u_address[..], &u_phone[..], &u_owner[..])
        };
        let mut vector = ComparisonVector::default();
        vector.set(NAME, Some(random.level(name)));
        vector.set(ADDRESS, Some(random.level(address)));
        if random.unit() < 0.5 {
            vector.set(PHONE, Some(random.level(phone)));
        }
        vector.set(OWNER, Some(random.level(owner)));
        drawn.push((vector, is_true));
    }
    drawn
}

#[test]
fn em_finds_probabilities_that_mean_what_they_say() {
    let population = known_population(40_000);
    let mut pairs = ProposedPairs::default();
    for (vector, is_true) in &population {
        // The rules' view is a noisy start: right four times in five.
        let noisy = if (vector.level(NAME) == Some(0)) == *is_true {
            if *is_true {
                RuleView::Linked
            } else {
                RuleView::Created
            }
        } else {
            RuleView::Reviewed
        };
        pairs.add(*vector, noisy);
    }
    let model = MatchModel::estimate(&pairs).expect("enough pairs to estimate");
    assert!((model.lambda() - 0.4).abs() < 0.03, "λ {}", model.lambda());
    // By band of the estimated probability, the share of true pairs is about the band.
    let mut bands = [(0usize, 0usize, 0.0f64); 10];
    for (vector, is_true) in &population {
        let probability = model.probability(vector);
        let band = &mut bands[((probability * 10.0) as usize).min(9)];
        band.0 += 1;
        band.1 += usize::from(*is_true);
        band.2 += probability;
    }
    for (band, (pairs, true_pairs, probability_sum)) in bands.iter().enumerate() {
        if *pairs < 500 {
            continue;
        }
        let share = *true_pairs as f64 / *pairs as f64;
        let mean = probability_sum / *pairs as f64;
        assert!(
            (share - mean).abs() < 0.06,
            "band {band}: {pairs} pairs, {share:.3} true, mean probability {mean:.3}"
        );
    }
}

#[test]
fn the_weights_say_which_evidence_is_for_and_which_against() {
    let model = model_of_known_population();
    let mut vector = ComparisonVector::default();
    vector.set(NAME, Some(0));
    vector.set(ADDRESS, Some(5));
    let explained = model.explain(&vector);
    let weight_of = |comparison: &str| {
        explained
            .iter()
            .find(|weighted| weighted.comparison == comparison)
            .map(|weighted| weighted.weight)
    };
    assert!(
        weight_of("name").is_some_and(|weight| weight > 2.0),
        "{explained:?}"
    );
    assert!(
        weight_of("address").is_some_and(|weight| weight < -2.0),
        "{explained:?}"
    );
    assert_eq!(weight_of("vat"), None, "not compared, so not weighed");
}

#[test]
fn too_few_proposals_get_the_default_model_and_say_so() {
    let population = known_population(MIN_PAIRS_TO_ESTIMATE - 1);
    let mut pairs = ProposedPairs::default();
    for (vector, _) in &population {
        pairs.add(*vector, RuleView::Reviewed);
    }
    assert_eq!(MatchModel::estimate(&pairs), None);
    let model = MatchModel::estimate_or_defaults(&pairs);
    assert_eq!(model.source(), ModelSource::Defaults);
    assert_eq!(model.estimated_from(), (MIN_PAIRS_TO_ESTIMATE - 1, 0));
    assert_eq!(model.to_json()["estimated_from"], "defaults");
    let enough = model_of_known_population();
    assert_eq!(enough.source(), ModelSource::Run);
    assert_eq!(enough.to_json()["estimated_from"], "run");
}

#[test]
fn the_default_model_has_a_probability_for_every_level() {
    for (comparison, levels) in DEFAULT_M_U.iter().enumerate() {
        assert_eq!(
            levels.len(),
            LEVELS[comparison].len(),
            "{}",
            COMPARISONS[comparison]
        );
        let (m, u): (f64, f64) = levels
            .iter()
            .fold((0.0, 0.0), |(m, u), level| (m + level.0, u + level.1));
        assert!(
            (m - 1.0).abs() < 1e-9 && (u - 1.0).abs() < 1e-9,
            "{}: {m} {u}",
            COMPARISONS[comparison]
        );
    }
}

#[test]
fn the_default_model_is_sure_where_the_rules_link_and_doubtful_where_they_create() {
    let model = MatchModel::defaults();
    let probability = |agreed: &[&str], disagreed: &[&str], name_score: f64| {
        model.probability(&ComparisonVector::of(
            &evidence(name_score, agreed, disagreed),
            alone(),
        ))
    };
    let at_the_door = ["postal_code", "city", "street", "house_number"];
    assert!(probability(&at_the_door, &[], 1.0) > 0.99);
    assert!(probability(&["postal_code", "city"], &[], 1.0) > 0.9);
    assert!(probability(&["vat"], &[], 1.0) > 0.99);
    assert!(probability(&["phone"], &[], 0.96) > 0.95);
    assert!(probability(&["domain"], &[], 0.91) > 0.95);
    // Nothing but the name: likely, not sure.
    let name_only = probability(&[], &[], 1.0);
    assert!((0.6..0.95).contains(&name_only), "{name_only}");
    // Against.
    assert!(probability(&[], &[], 0.7) < 0.05);
    assert!(probability(&["postal_code", "city"], &["street"], 0.85) < 0.05);
    assert!(
        probability(
            &["postal_code", "city", "street"],
            &["house_number", "phone"],
            0.96
        ) < 0.05
    );
}

#[test]
fn an_unplaced_pair_of_a_name_k_customers_share_is_one_in_k() {
    let model = model_of_known_population();
    let name_only = evidence(1.0, &[], &[]);
    let unique = ComparisonVector::of(&name_only, alone());
    assert_eq!(unique.name_sharers(), None);
    let shared = unique.with_rivals(NameRivals {
        exact: 3,
        ..NameRivals::default()
    });
    assert_eq!(shared.name_sharers(), Some(4));
    assert_eq!(level_name(&shared, NAME), Some("exact_unique"));
    let ratio = model.probability(&shared) / model.probability(&unique);
    assert!((ratio - 0.25).abs() < 1e-9, "{ratio}");
    let explained = model.explain(&shared);
    assert!(
        explained
            .iter()
            .any(|weighted| weighted.comparison == "name_shared" && weighted.weight < 0.0),
        "{explained:?}"
    );
    // At its address the name's sharers do not matter: the address tells the branches apart.
    let placed = ComparisonVector::of(
        &evidence(1.0, &["postal_code", "street", "house_number"], &[]),
        PairContext {
            customers_with_the_name: 4,
            ..alone()
        },
    );
    assert!(!placed.is_unplaced());
    let placed = placed.with_rivals(NameRivals {
        exact: 3,
        ..NameRivals::default()
    });
    assert_eq!(placed.name_sharers(), None);
    assert_eq!(level_name(&placed, NAME), Some("exact_shared_by_4_or_more"));
}

#[test]
fn a_close_name_is_little_likely_the_organization_of_a_customer_whose_name_it_is_exactly() {
    let model = model_of_known_population();
    let close = ComparisonVector::of(&evidence(0.96, &[], &[]), alone());
    assert_eq!(level_name(&close, NAME), Some("from_0_95"));
    assert!(close.is_unplaced());
    let alone_probability = model.probability(&close);
    // Another customer has exactly the organization's name: the organization is most likely
    // that customer's.
    let outdone = close.with_rivals(NameRivals {
        exact: 1,
        ..NameRivals::default()
    });
    let outdone_probability = model.probability(&outdone);
    assert!(
        outdone_probability < alone_probability / 5.0,
        "{outdone_probability} against {alone_probability} alone"
    );
    // Another customer it fits as closely halves it.
    let tied = close.with_rivals(NameRivals {
        from_0_95: 1,
        ..NameRivals::default()
    });
    let ratio = model.probability(&tied) / alone_probability;
    assert!((ratio - 0.5).abs() < 1e-9, "{ratio}");
}

/// The model EM finds for the known population, started from the truth.
fn model_of_known_population() -> MatchModel {
    let population = known_population(20_000);
    let mut pairs = ProposedPairs::default();
    for (vector, is_true) in &population {
        pairs.add(
            *vector,
            if *is_true {
                RuleView::Linked
            } else {
                RuleView::Created
            },
        );
    }
    MatchModel::estimate(&pairs).expect("enough pairs to estimate")
}
