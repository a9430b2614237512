//! Per connection, which conditions are active, so each is sent once when it begins and once
//! when it ends, however many runs show it in between. Pure.

use std::collections::BTreeSet;

use crate::condition::Condition;

/// The conditions a connection's operator has been told about and not yet told are resolved.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AlertState {
    active: BTreeSet<Condition>,
}

/// What to send after a run: conditions that began, and conditions that ended (resolved).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    pub raised: Vec<Condition>,
    pub cleared: Vec<Condition>,
}

impl Changes {
    pub fn is_empty(&self) -> bool {
        self.raised.is_empty() && self.cleared.is_empty()
    }
}

impl AlertState {
    pub fn new() -> Self {
        AlertState::default()
    }

    /// The conditions told and not yet resolved.
    pub fn active(&self) -> &BTreeSet<Condition> {
        &self.active
    }

    /// Takes the conditions the last run showed; returns those that began (not active before)
    /// and those that ended (active before, not now), each in order.
    pub fn update(&mut self, now_active: &BTreeSet<Condition>) -> Changes {
        let raised = now_active.difference(&self.active).copied().collect();
        let cleared = self.active.difference(now_active).copied().collect();
        self.active.clone_from(now_active);
        Changes { raised, cleared }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_condition_is_raised_once_and_cleared_once() {
        let mut state = AlertState::new();
        let failed = BTreeSet::from([Condition::RunFailed]);
        assert_eq!(state.update(&failed).raised, [Condition::RunFailed]);
        assert!(state.update(&failed).is_empty());
        assert!(state.update(&failed).is_empty());
        let ok = BTreeSet::new();
        assert_eq!(
            state.update(&ok),
            Changes {
                raised: vec![],
                cleared: vec![Condition::RunFailed]
            }
        );
        assert!(state.update(&ok).is_empty());
        assert_eq!(state.update(&failed).raised, [Condition::RunFailed]);
    }

    #[test]
    fn one_condition_can_end_while_another_begins() {
        let mut state = AlertState::new();
        state.update(&BTreeSet::from([Condition::RunFailed]));
        let changes = state.update(&BTreeSet::from([Condition::ParkedRecords]));
        assert_eq!(changes.raised, [Condition::ParkedRecords]);
        assert_eq!(changes.cleared, [Condition::RunFailed]);
        assert_eq!(state.active(), &BTreeSet::from([Condition::ParkedRecords]));
    }

    fn condition() -> impl Strategy<Value = Condition> {
        prop_oneof![
            Just(Condition::RunFailed),
            Just(Condition::Forbidden),
            Just(Condition::BudgetShareUsed),
            (1u32..4).prop_map(Condition::FailedRunsInARow),
            Just(Condition::ParkedRecords),
        ]
    }

    proptest! {
        /// Whatever the runs show, a condition's messages alternate: raised, cleared, raised...
        /// never raised twice without a clear between, never cleared without a raise before;
        /// and what is active is what the last run showed.
        #[test]
        fn raising_twice_never_sends_twice(
            runs in prop::collection::vec(prop::collection::btree_set(condition(), 0..4), 0..40),
        ) {
            let mut state = AlertState::new();
            let mut told = BTreeSet::new();
            for shown in &runs {
                let changes = state.update(shown);
                for condition in &changes.raised {
                    prop_assert!(told.insert(*condition), "{:?} raised twice", condition);
                }
                for condition in &changes.cleared {
                    prop_assert!(told.remove(condition), "{:?} cleared unraised", condition);
                }
                prop_assert_eq!(&told, shown);
                prop_assert_eq!(state.active(), shown);
                let again = state.update(shown);
                prop_assert!(again.is_empty(), "the same run again sent {:?}", again);
            }
        }
    }
}
