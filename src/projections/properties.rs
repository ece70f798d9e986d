//! Property tests of the fold: random event sequences in random batches.

use std::collections::BTreeSet;

use proptest::prelude::*;

use super::*;
use crate::domain::OdooId;
use crate::testing::{
    Harness, arb_batches, brute_force_managers, brute_force_sees, brute_force_totals,
};

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    /// Replaying the log from empty yields, byte for byte, the rows written batch by batch.
    #[test]
    fn replay_equals_incremental(batches in arb_batches()) {
        let mut h = Harness::default();
        for batch in batches {
            h.given(batch);
        }
        h.assert_replay_matches();
    }

    /// A rebuild's finish gives the same rows as a plain one, and holds no time lines after it:
    /// the writer hands back the rows of the deals it touches next, as after any write.
    #[test]
    fn moving_time_lines_into_their_rows_changes_no_row(batches in arb_batches()) {
        let log: Vec<_> = batches
            .into_iter()
            .flatten()
            .enumerate()
            .map(|(index, event)| crate::testing::envelope(index as u64 + 1, event))
            .collect();
        let fold = || {
            let mut model = ReadModel::for_replay();
            for envelope in &log {
                model.apply(envelope);
            }
            model
        };
        let copied = fold().finish_replay();
        let mut releasing = fold();
        prop_assert_eq!(releasing.finish_replay_releasing_timelines(), copied);
        let deals: Vec<OdooId> = log.iter().filter_map(|e| history::deal_of(&e.event)).collect();
        prop_assert_eq!(releasing.timelines_to_hold(&log).len(), deals.iter().collect::<BTreeSet<_>>().len());
    }

    /// The hierarchy, every access row, every opportunity's viewers and every user's figures agree
    /// with a brute-force walk over the raw records.
    #[test]
    fn views_equal_brute_force(batches in arb_batches()) {
        let mut h = Harness::default();
        for batch in batches {
            h.given(batch);
        }
        let model = &h.model;
        let managers = brute_force_managers(model);
        let effective: std::collections::BTreeMap<OdooId, OdooId> =
            model.hierarchy().manager_of.iter().map(|(u, (m, _))| (*u, *m)).collect();
        prop_assert_eq!(&effective, &managers);

        let users: Vec<OdooId> = model.users().keys().copied().collect();
        for &viewer in &users {
            let expected: Vec<OdooId> =
                users.iter().copied().filter(|&owner| brute_force_sees(&managers, viewer, owner)).collect();
            prop_assert_eq!(&h.access(viewer).visible_users, &expected, "access of {}", viewer);

            let totals = brute_force_totals(model, |owner| {
                owner.is_some_and(|o| model.users().contains_key(&o) && brute_force_sees(&managers, viewer, o))
            });
            prop_assert_eq!(&h.metrics(viewer).visible.by_currency, &totals, "metrics of {}", viewer);
        }
        let all = brute_force_totals(model, |_| true);
        prop_assert_eq!(&h.metrics(EVERYTHING).visible.by_currency, &all);

        for &id in model.opportunities().keys() {
            let view = h.opportunity(id).expect("every opportunity has a row");
            let expected: Vec<OdooId> = match view.salesperson.as_ref() {
                Some(owner) => users.iter().copied().filter(|&v| brute_force_sees(&managers, v, owner.id)).collect(),
                None => Vec::new(),
            };
            prop_assert_eq!(&view.visible_to, &expected, "viewers of opportunity {}", id);
        }
        let rows: BTreeSet<OdooId> = h
            .tables
            .keys()
            .filter(|(table, _)| *table == ViewTable::UserProfiles)
            .filter_map(|(_, key)| match key { RowKey::Id(id) => Some(*id), RowKey::Name(_) => None })
            .collect();
        prop_assert_eq!(rows, users.iter().copied().collect::<BTreeSet<_>>(), "one profile per user, none left over");
    }
}
