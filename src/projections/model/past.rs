//! The read model's part in the history view: each deal's time line, kept as events arrive
//! (late ones included) and rendered as one row per deal.

use super::ReadModel;
use crate::domain::{EventEnvelope, OdooId};
use crate::projections::history::{Timeline, deal_of};
use crate::projections::rows::{RowKey, ViewRow, ViewTable};

impl ReadModel {
    /// Places a deal's event in its time line.
    pub(super) fn record_past(&mut self, envelope: &EventEnvelope) {
        let Some(id) = deal_of(&envelope.event) else {
            return;
        };
        if self.without_history {
            return;
        }
        self.timelines.record(id, envelope);
        if !self.replaying {
            self.pending.history.insert(id);
        }
    }

    pub fn timeline(&self, id: OdooId) -> Option<Timeline> {
        self.timelines.get(id)
    }

    /// The deals of `envelopes` whose time lines are not held: their history rows must be handed
    /// back ([`ReadModel::hold_timeline`]) before the envelopes are applied.
    pub fn timelines_to_hold(&self, envelopes: &[EventEnvelope]) -> Vec<OdooId> {
        let mut ids: Vec<OdooId> = envelopes
            .iter()
            .filter_map(|envelope| deal_of(&envelope.event))
            .filter(|&id| !self.timelines.holds(id))
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// Holds deal `id`'s time line from its history row.
    pub fn hold_timeline(&mut self, id: OdooId, row: &[u8]) -> Result<(), postcard::Error> {
        self.timelines.hold(id, row)
    }

    /// Lets go of the time lines whose rows are rendered: the history view holds them, and
    /// [`ReadModel::timelines_to_hold`] says which to hand back before the next write.
    pub fn release_timelines(&mut self) {
        self.timelines.release_packed();
    }

    /// The history row of deal `id`, its time line packed again once rendered.
    pub(super) fn pack_timeline_row(&mut self, id: OdooId) -> Option<ViewRow> {
        let bytes = self.timelines.pack(id)?;
        Some(timeline_row(id, bytes))
    }

    /// Every time line's row, in id order.
    pub(super) fn timeline_rows(&self) -> Vec<ViewRow> {
        self.timelines
            .ids()
            .into_iter()
            .filter_map(|id| Some(timeline_row(id, self.timelines.bytes(id)?)))
            .collect()
    }

    /// Every packed time line's row, in id order, moved out of the model (which then holds none).
    pub(super) fn take_timeline_rows(&mut self) -> Vec<ViewRow> {
        self.timelines
            .take_packed()
            .into_iter()
            .map(|(id, bytes)| timeline_row(id, bytes))
            .collect()
    }
}

fn timeline_row(id: OdooId, bytes: Vec<u8>) -> ViewRow {
    ViewRow {
        table: ViewTable::OpportunityHistory,
        key: RowKey::Id(id),
        value: Some(bytes),
    }
}
