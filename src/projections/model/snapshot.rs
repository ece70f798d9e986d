//! The model's snapshot: what the fold keeps that cannot be derived again cheaply (every current
//! record, each deal's times, logins, overrides, the sync status, anomalies), encoded with
//! postcard. Indexes, totals and the hierarchy are derived again on load, exactly as a replay
//! derives them when it finishes; time lines are left out because the history view holds them.
//!
//! A model loaded from a snapshot at position P and then given the log after P equals the model
//! of a replay of the whole log (tested below and checked by `pipelog verify`). Pure: no I/O.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use super::{Anomaly, DealTimes, ReadModel, index_keys};
use crate::domain::{
    AccountRecord, EmployeeRecord, OdooId, OpportunityRecord, StageRecord, TeamRecord, UserRecord,
};
use crate::projections::views::{LoginView, SyncStatusView};

/// Version of the snapshot's shape. Bump it when [`Snapshot`] changes or when the fold gives the
/// same events another meaning: a snapshot of another version is discarded and the log replayed.
/// (A view schema change discards it too: the store keeps both versions with the snapshot.)
pub const MODEL_SNAPSHOT_VERSION: u32 = 1;

#[derive(Debug, thiserror::Error)]
#[error("the model snapshot cannot be read: {0}")]
pub struct SnapshotError(#[from] postcard::Error);

/// The fields of [`ReadModel`] a snapshot keeps, borrowed to encode.
#[derive(Serialize)]
struct SnapshotRef<'m> {
    last_position: u64,
    users: &'m BTreeMap<OdooId, UserRecord>,
    employees: &'m BTreeMap<OdooId, EmployeeRecord>,
    opportunities: &'m HashMap<OdooId, OpportunityRecord>,
    deal_times: &'m HashMap<OdooId, DealTimes>,
    accounts: &'m BTreeMap<OdooId, AccountRecord>,
    teams: &'m BTreeMap<OdooId, TeamRecord>,
    stages: &'m BTreeMap<OdooId, StageRecord>,
    logins: &'m BTreeMap<String, LoginView>,
    overrides: &'m BTreeMap<OdooId, OdooId>,
    sync: &'m SyncStatusView,
    anomalies_total: u64,
    recent_anomalies: &'m [Anomaly],
}

/// The same fields, owned to decode (same order: postcard is positional).
#[derive(Deserialize, PartialEq, Debug)]
struct Snapshot {
    last_position: u64,
    users: BTreeMap<OdooId, UserRecord>,
    employees: BTreeMap<OdooId, EmployeeRecord>,
    opportunities: HashMap<OdooId, OpportunityRecord>,
    deal_times: HashMap<OdooId, DealTimes>,
    accounts: BTreeMap<OdooId, AccountRecord>,
    teams: BTreeMap<OdooId, TeamRecord>,
    stages: BTreeMap<OdooId, StageRecord>,
    logins: BTreeMap<String, LoginView>,
    overrides: BTreeMap<OdooId, OdooId>,
    sync: SyncStatusView,
    anomalies_total: u64,
    recent_anomalies: Vec<Anomaly>,
}

impl ReadModel {
    /// The snapshot of this model as it stands (it should be settled: nothing pending).
    pub fn snapshot(&self) -> Vec<u8> {
        postcard::to_allocvec(&self.snapshot_ref())
            .expect("invariant: the model always encodes with postcard")
    }

    /// [`ReadModel::snapshot`], written to `out` as it is encoded (the store compresses it on
    /// the way, so that the whole encoding is never held at once).
    pub fn write_snapshot<W: std::io::Write>(&self, out: W) -> Result<W, SnapshotError> {
        Ok(postcard::to_io(&self.snapshot_ref(), out)?)
    }

    fn snapshot_ref(&self) -> SnapshotRef<'_> {
        SnapshotRef {
            last_position: self.last_position,
            users: &self.users,
            employees: &self.employees,
            opportunities: &self.opportunities,
            deal_times: &self.deal_times,
            accounts: &self.accounts,
            teams: &self.teams,
            stages: &self.stages,
            logins: &self.logins,
            overrides: &self.overrides,
            sync: &self.sync,
            anomalies_total: self.anomalies_total,
            recent_anomalies: &self.recent_anomalies,
        }
    }

    /// A model folding from a snapshot: like [`ReadModel::for_replay`], the events after the
    /// snapshot's position are applied next and [`ReadModel::finish_fold`] finishes it.
    pub fn replay_from_snapshot(bytes: &[u8]) -> Result<ReadModel, SnapshotError> {
        let kept: Snapshot = postcard::from_bytes(bytes)?;
        let mut model = ReadModel {
            last_position: kept.last_position,
            users: kept.users,
            employees: kept.employees,
            opportunities: kept.opportunities,
            deal_times: kept.deal_times,
            accounts: kept.accounts,
            teams: kept.teams,
            stages: kept.stages,
            logins: kept.logins,
            overrides: kept.overrides,
            sync: kept.sync,
            anomalies_total: kept.anomalies_total,
            recent_anomalies: kept.recent_anomalies,
            ..ReadModel::for_loading()
        };
        let mut ids: Vec<OdooId> = model.opportunities.keys().copied().collect();
        ids.sort_unstable();
        for id in ids {
            let keys = index_keys(model.opportunities.get(&id));
            model.reindex(id, [None; 4], keys);
            model.recontribute(id);
        }
        Ok(model)
    }

    /// Whether two snapshots hold the same state (encodings of maps differ in order only).
    pub fn same_snapshot(a: &[u8], b: &[u8]) -> Result<bool, SnapshotError> {
        let a: Snapshot = postcard::from_bytes(a)?;
        let b: Snapshot = postcard::from_bytes(b)?;
        Ok(a == b)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::projections::ViewTable;
    use crate::testing::{arb_batches, envelope};

    fn without_history(rows: Vec<crate::projections::ViewRow>) -> Vec<crate::projections::ViewRow> {
        rows.into_iter()
            .filter(|row| row.table != ViewTable::OpportunityHistory)
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        /// Whatever the log and wherever it is cut: a snapshot of the fold up to the cut, given
        /// the rest of the log, renders exactly the rows of a replay of the whole log (the history
        /// view aside: the store keeps it) and snapshots the same state.
        #[test]
        fn a_snapshot_and_the_rest_of_the_log_give_the_replay(batches in arb_batches(), cut in 0usize..64) {
            let events: Vec<_> = batches
                .into_iter()
                .flatten()
                .enumerate()
                .map(|(index, event)| envelope(index as u64 + 1, event))
                .collect();
            let cut = cut.min(events.len());
            let mut whole = ReadModel::for_replay();
            for event in &events {
                whole.apply(event);
            }
            let expected = whole.finish_replay();

            let mut before_cut = ReadModel::for_replay();
            for event in &events[..cut] {
                before_cut.apply(event);
            }
            before_cut.finish_fold();
            let mut resumed = ReadModel::replay_from_snapshot(&before_cut.snapshot()).expect("decodes");
            for event in &events[cut..] {
                resumed.apply(event);
            }
            resumed.finish_fold();
            prop_assert_eq!(resumed.last_position(), whole.last_position());
            prop_assert!(ReadModel::same_snapshot(&resumed.snapshot(), &whole.snapshot()).expect("decodes"));
            prop_assert_eq!(without_history(resumed.render_all()), without_history(expected));
        }
    }

    #[test]
    fn bytes_that_are_not_a_snapshot_are_refused() {
        assert!(ReadModel::replay_from_snapshot(&[0xff, 0xff, 0xff]).is_err());
    }
}
