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
        self.timelines.record(id, envelope);
        if !self.replaying {
            self.pending.history.insert(id);
        }
    }

    pub fn timeline(&self, id: OdooId) -> Option<Timeline> {
        self.timelines.get(id)
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
}

fn timeline_row(id: OdooId, bytes: Vec<u8>) -> ViewRow {
    ViewRow {
        table: ViewTable::OpportunityHistory,
        key: RowKey::Id(id),
        value: Some(bytes),
    }
}
