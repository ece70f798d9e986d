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
        self.timelines
            .entry(id)
            .or_insert_with(|| Timeline::new(id))
            .record(envelope);
        if !self.replaying {
            self.pending.history.insert(id);
        }
    }

    pub fn timeline(&self, id: OdooId) -> Option<&Timeline> {
        self.timelines.get(&id)
    }

    pub(super) fn timeline_row(&self, id: OdooId) -> Option<ViewRow> {
        let timeline = self.timelines.get(&id)?;
        Some(ViewRow::encode(
            ViewTable::OpportunityHistory,
            RowKey::Id(id),
            timeline,
        ))
    }

    /// Every time line's row, in id order.
    pub(super) fn timeline_rows(&self) -> Vec<ViewRow> {
        let mut ids: Vec<OdooId> = self.timelines.keys().copied().collect();
        ids.sort_unstable();
        ids.into_iter()
            .filter_map(|id| self.timeline_row(id))
            .collect()
    }
}
