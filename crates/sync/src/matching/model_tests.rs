use super::*;

/// A small deterministic generator (splitmix64), so the synthetic pairs are the same on every
/// run.
struct Random(u64);

impl Random {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A level drawn from `probabilities`.
    fn level(&mut self, probabilities: &[f64]) -> usize {
        let mut draw = self.next();
        for (level, probability) in probabilities.iter().enumerate() {
            if draw < *probability {
                return level;
            }
            draw -= probability;
        }
        probabilities.len() - 1
    }
}

/// A known model, different enough from the defaults that recovering it is not a start
/// position left alone.
fn known_model() -> ([Vec<f64>; 5], [Vec<f64>; 5], f64) {
    let m = [
        vec![0.70, 0.15, 0.08, 0.05, 0.02],
        vec![0.45, 0.10, 0.20, 0.10, 0.02, 0.03, 0.04, 0.02, 0.04],
        vec![0.80, 0.15, 0.05],
        vec![0.75, 0.25],
        vec![0.60, 0.30, 0.10],
    ];
    let u = [
        vec![0.02, 0.03, 0.05, 0.20, 0.70],
        vec![0.01, 0.01, 0.08, 0.25, 0.10, 0.30, 0.10, 0.05, 0.10],
        vec![0.02, 0.18, 0.80],
        vec![0.05, 0.95],
        vec![0.03, 0.27, 0.70],
    ];
    (m, u, 0.08)
}

/// `count` pairs drawn from the known model; each comparison other than the name is missing
/// in a third of the pairs.
fn synthetic_pairs(count: usize) -> PairCounts {
    let (m, u, lambda) = known_model();
    let mut random = Random(17);
    let mut pairs = PairCounts::default();
    for _ in 0..count {
        let table = if random.next() < lambda { &m } else { &u };
        let mut vector = ComparisonVector::default();
        for (comparison, levels) in table.iter().enumerate() {
            let missing = comparison != NAME && random.next() < 1.0 / 3.0;
            let level = (!missing).then(|| random.level(levels));
            vector = vector.set(comparison, level);
        }
        pairs.add(vector, None);
    }
    pairs
}

#[test]
fn em_recovers_known_m_and_u_from_synthetic_pairs() {
    let pairs = synthetic_pairs(200_000);
    let model = MatchModel::for_pairs(&pairs);
    assert!(
        matches!(model.source(), ModelSource::Estimated { candidate_pairs, .. } if candidate_pairs == 200_000),
        "{:?}",
        model.source()
    );
    let (m, u, lambda) = known_model();
    assert!(
        (model.lambda() - lambda).abs() < 0.01,
        "λ {}",
        model.lambda()
    );
    for (comparison, levels) in LEVELS.iter().enumerate() {
        for level in 0..levels.len() {
            let (want_m, got_m) = (m[comparison][level], model.m(comparison, level));
            let (want_u, got_u) = (u[comparison][level], model.u(comparison, level));
            assert!(
                (want_m - got_m).abs() < 0.03 && (want_u - got_u).abs() < 0.01,
                "{} {}: m {got_m:.3} (want {want_m}), u {got_u:.3} (want {want_u})",
                COMPARISONS[comparison],
                LEVELS[comparison][level]
            );
        }
    }
}

#[test]
fn a_small_run_is_scored_by_the_defaults() {
    let pairs = synthetic_pairs(MIN_PAIRS_TO_ESTIMATE - 1);
    let model = MatchModel::for_pairs(&pairs);
    assert_eq!(
        model.source(),
        ModelSource::Defaults {
            candidate_pairs: MIN_PAIRS_TO_ESTIMATE - 1
        }
    );
    let defaults = MatchModel::defaults();
    let vector = ComparisonVector::default().with_name(0.97);
    assert_eq!(model.probability(&vector), defaults.probability(&vector));
    assert!(model.source().describe().contains("built-in defaults"));
    let estimated = MatchModel::for_pairs(&synthetic_pairs(MIN_PAIRS_TO_ESTIMATE * 5));
    assert!(matches!(estimated.source(), ModelSource::Estimated { .. }));
}

#[test]
fn the_posterior_is_the_prior_plus_the_weights_of_what_was_compared() {
    let model = MatchModel::defaults();
    let name_only = ComparisonVector::default().with_name(1.0);
    let expected_bits = (model.lambda() / (1.0 - model.lambda())).log2()
        + (model.m(NAME, 0) / model.u(NAME, 0)).log2();
    assert!((model.match_weight(&name_only) - expected_bits).abs() < 1e-9);
    let odds = model.lambda() * model.m(NAME, 0) / ((1.0 - model.lambda()) * model.u(NAME, 0));
    assert!((model.probability(&name_only) - odds / (1.0 + odds)).abs() < 1e-9);

    // What was not compared weighs nothing.
    let with_missing_phone = name_only.with_phone(None);
    assert_eq!(
        model.match_weight(&with_missing_phone),
        model.match_weight(&name_only)
    );
    // Agreement raises it, disagreement lowers it.
    let same_site = name_only.with_address(AddressComparison {
        postal_code: Some(true),
        street: Some(true),
        house_number: Some(true),
        ..AddressComparison::default()
    });
    let other_street = name_only.with_address(AddressComparison {
        postal_code: Some(true),
        street: Some(false),
        ..AddressComparison::default()
    });
    assert!(model.probability(&same_site) > model.probability(&name_only));
    assert!(model.probability(&other_street) < model.probability(&name_only));
    assert!(model.probability(&same_site) > 0.99);
    // The explanation lists exactly the compared levels, heaviest first, with their signs.
    let explained = model.explain(&same_site.with_vat(Some(false), false));
    let names: Vec<&str> = explained.iter().map(|part| part.name.as_str()).collect();
    assert_eq!(names.len(), 3, "{explained:?}");
    assert!(names.contains(&"vat") && names.contains(&"address") && names.contains(&"name"));
    assert!(explained
        .windows(2)
        .all(|pair| pair[0].weight.abs() >= pair[1].weight.abs()));
    let vat = explained.iter().find(|part| part.name == "vat").unwrap();
    assert_eq!(vat.level, "different");
    assert!(vat.weight < 0.0);
}

#[test]
fn no_level_decides_alone() {
    let model = MatchModel::defaults();
    for (comparison, levels) in LEVELS.iter().enumerate() {
        for level in 0..levels.len() {
            let bits = (model.m(comparison, level) / model.u(comparison, level))
                .log2()
                .abs();
            assert!(bits <= (1.0 / PROBABILITY_FLOOR).log2() + 1e-9, "{bits}");
        }
    }
}

#[test]
fn address_levels_put_the_strongest_against_first() {
    let level = |address: AddressComparison| {
        LEVELS[ADDRESS][ComparisonVector::default()
            .with_address(address)
            .level(ADDRESS)
            .unwrap()]
    };
    let everything = AddressComparison {
        postal_code: Some(true),
        city: Some(true),
        street: Some(true),
        house_number: Some(true),
        country: Some(true),
    };
    assert_eq!(level(everything), "same_street_and_number");
    assert_eq!(
        level(AddressComparison {
            country: Some(false),
            ..everything
        }),
        "another_country"
    );
    assert_eq!(
        level(AddressComparison {
            house_number: Some(false),
            ..everything
        }),
        "other_house_number"
    );
    assert_eq!(
        level(AddressComparison {
            street: None,
            house_number: None,
            ..everything
        }),
        "same_postal_code"
    );
    assert_eq!(
        ComparisonVector::default()
            .with_address(AddressComparison::default())
            .level(ADDRESS),
        None
    );
}
