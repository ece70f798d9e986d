//! What the read model knows of each deal's time line: when the current record last changed at
//! the source, when pipelog first read it, and where its known past begins. Decides whether a
//! change Odoo tracked is news for the current record or history only.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// One deal's times.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DealTimes {
    /// The effective time of the newest change applied to the current record.
    pub current_at: Option<Timestamp>,
    /// When pipelog first read the deal: fields Odoo does not track are known from then on.
    pub first_read_at: Option<Timestamp>,
    /// Where the deal's known past begins (its creation in Odoo), once its history came in.
    pub history_from: Option<Timestamp>,
}

impl DealTimes {
    /// A tracked change is news for the current record only when it is later than everything
    /// the record already reflects. One at or before that time was seen by the sync already
    /// (Odoo writes the chatter message in the same transaction as the change, so the record
    /// read after it holds it), or is part of the past before pipelog's first read: either way
    /// applying it again would roll the record back.
    pub fn is_news(&self, at: Timestamp) -> bool {
        self.current_at.is_none_or(|current| at > current)
    }

    pub fn changed_at(&mut self, at: Timestamp) {
        self.current_at = Some(self.current_at.map_or(at, |current| current.max(at)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::samples::opportunity;
    use crate::domain::{Event, FieldChange};
    use crate::projections::ReadModel;
    use crate::testing::envelope;

    fn effective(position: u64, event: Event, seconds: i64) -> crate::domain::EventEnvelope {
        let mut envelope = envelope(position, event);
        envelope.effective_at = Some(at(seconds));
        envelope
    }

    fn stage_change(stage: u64) -> Event {
        Event::OpportunityChangeRecorded {
            id: 9,
            changes: vec![FieldChange::new("stage_id", &Some(1u64), &Some(stage))],
            message_id: stage,
            author_id: None,
            author: None,
        }
    }

    #[test]
    fn the_past_is_kept_for_history_and_only_news_changes_the_record() {
        let mut model = ReadModel::default();
        let read = opportunity(Some(1), 3, 100);
        model.apply(&effective(
            1,
            Event::OpportunityCreated {
                id: 9,
                record: read.clone(),
            },
            100,
        ));
        let mut past = read.clone();
        past.stage_id = Some(1);
        model.apply(&effective(
            2,
            Event::OpportunityHistoryBegins {
                id: 9,
                record: past,
                first_read_at: Some(at(100)),
                gaps: Vec::new(),
            },
            10,
        ));
        model.apply(&effective(3, stage_change(2), 50));
        model.apply(&effective(4, stage_change(3), 100));
        assert_eq!(
            model.opportunity(9),
            Some(&read),
            "the past does not roll the record back"
        );
        let times = model.deal_times(9).expect("times");
        assert_eq!(times.history_from, Some(at(10)));
        assert_eq!(
            (times.first_read_at, times.current_at),
            (Some(at(100)), Some(at(100)))
        );

        model.apply(&effective(5, stage_change(4), 150));
        assert_eq!(
            model.opportunity(9).and_then(|o| o.stage_id),
            Some(4),
            "news applies"
        );
        assert_eq!(
            model.deal_times(9).and_then(|t| t.current_at),
            Some(at(150))
        );
        model.apply(&effective(6, Event::OpportunityDeleted { id: 9 }, 160));
        assert_eq!(model.deal_times(9), None);
    }

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(seconds).expect("valid")
    }

    #[test]
    fn only_a_change_later_than_the_record_is_news() {
        let mut times = DealTimes::default();
        assert!(times.is_news(at(5)), "nothing applied yet");
        times.changed_at(at(10));
        assert!(!times.is_news(at(9)));
        assert!(
            !times.is_news(at(10)),
            "the same second is already in the record"
        );
        assert!(times.is_news(at(11)));
        times.changed_at(at(7));
        assert_eq!(times.current_at, Some(at(10)), "never moves back");
    }
}
