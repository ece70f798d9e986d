//! Each deal's past as a time line of states, in the order of the source's effective time.
//!
//! Owns the history view: one row per deal ever seen (deleted ones included, because the past
//! still holds them), each a list of versions. A version is the deal's state right after one
//! event, placed by the event's effective time (Odoo's `write_date` or tracking `date`), not by
//! when pipelog recorded it. An event that arrives late is inserted where its time puts it and
//! the versions after it are folded again, so a time line does not depend on arrival order.
//! Pure: no I/O, no clock.
//!
//! Every version records which fields its event set. Folding again after an insertion keeps
//! those fields and takes the others from the new predecessor: that is exactly replaying the
//! events in time order, without keeping the events themselves.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::domain::{Event, EventEnvelope, FieldChange, OdooId, OpportunityRecord};

mod held;
mod set;
mod state;

pub use held::HeldTimelines;
pub use set::{StateAt, TimelineSet};
pub use state::{DealState, changed_fields, field, utc_day};
use state::{merge, set_field, state_of};

/// What made a version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Cause {
    /// The sync read the record (first read or a changed field).
    Sync,
    /// A change Odoo tracked in its chatter; `author` indexes `texts` (0 for none).
    Tracking { author: u16 },
    /// Where the deal's known past begins (its creation, rebuilt from the tracking).
    HistoryBegins,
    /// A command through pipelog; `actor` indexes `texts` (0 for none).
    Pipelog { actor: u16 },
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Version {
    /// Effective time, microseconds since the epoch.
    pub at: i64,
    pub position: u64,
    /// A read of the whole record: after tracked changes of the same instant, which the record
    /// read then already holds.
    pub snapshot: bool,
    /// The fields this version's event set ([`field`] bits).
    pub set: u16,
    pub cause: Cause,
    pub state: DealState,
}

impl Version {
    fn order(&self) -> (i64, bool, u64) {
        (self.at, self.snapshot, self.position)
    }
}

/// One deal's past.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Timeline {
    pub id: OdooId,
    /// The newest name in time.
    pub name: String,
    /// Which event gave that name, so that an older one arriving late does not take its place.
    name_order: (i64, bool, u64),
    pub versions: Vec<Version>,
    /// Currencies, lost reasons, authors: each once.
    pub texts: Vec<String>,
}

/// Microseconds since the epoch, the resolution history keeps.
pub fn micros(at: Timestamp) -> i64 {
    at.as_microsecond()
}

pub fn timestamp(micros: i64) -> Timestamp {
    Timestamp::from_microsecond(micros).unwrap_or(Timestamp::UNIX_EPOCH)
}

/// The deal whose time line an event belongs in, if any: the aggregate of every opportunity
/// event (one list of them, checked by the compiler, in `Event::aggregate`).
pub fn deal_of(event: &Event) -> Option<OdooId> {
    let aggregate = event.aggregate();
    (aggregate.kind == crate::domain::AggregateKind::Opportunity)
        .then(|| aggregate.id.parse().ok())
        .flatten()
}

impl Timeline {
    pub fn new(id: OdooId) -> Timeline {
        Timeline {
            id,
            name_order: (i64::MIN, false, 0),
            ..Timeline::default()
        }
    }

    pub fn text(&self, index: u16) -> Option<&str> {
        (index > 0)
            .then(|| self.texts.get(usize::from(index) - 1))
            .flatten()
            .map(String::as_str)
    }

    pub fn currency(&self, state: &DealState) -> &str {
        self.text(state.currency).unwrap_or("")
    }

    fn intern(&mut self, text: &str) -> u16 {
        if let Some(found) = self.texts.iter().position(|held| held == text) {
            return found as u16 + 1;
        }
        if self.texts.len() >= usize::from(u16::MAX) - 1 {
            return 0;
        }
        self.texts.push(text.to_string());
        self.texts.len() as u16
    }

    /// When pipelog first read the deal: probability and expected close are known from then.
    pub fn untracked_known_from(&self) -> Option<i64> {
        self.versions
            .iter()
            .find(|v| v.state.untracked_known)
            .map(|v| v.at)
    }

    /// Records one event of this deal; an event that is not about a deal changes nothing.
    pub fn record(&mut self, envelope: &EventEnvelope) {
        let at = micros(envelope.occurred_at());
        let (snapshot, cause, edit): (bool, Cause, Edit) = match &envelope.event {
            Event::OpportunityCreated { record, .. } => {
                (true, Cause::Sync, Edit::Whole(record, true))
            }
            Event::OpportunityHistoryBegins { record, .. } => {
                (false, Cause::HistoryBegins, Edit::Whole(record, false))
            }
            Event::OpportunityUpdated { changes, .. } => {
                (false, Cause::Sync, Edit::Fields(changes))
            }
            Event::OpportunityChangeRecorded {
                changes, author, ..
            } => {
                let author = author.as_deref().map_or(0, |a| self.intern(a));
                (false, Cause::Tracking { author }, Edit::Fields(changes))
            }
            Event::OpportunityArchived { lost_reason, .. } => (
                false,
                self.pipelog_or_sync(envelope),
                Edit::Lost(lost_reason.as_deref()),
            ),
            Event::OpportunityRestored { .. } => {
                (false, self.pipelog_or_sync(envelope), Edit::Restored)
            }
            Event::OpportunityAssigned { to, .. } => {
                (false, self.pipelog_or_sync(envelope), Edit::Owner(*to))
            }
            Event::OpportunityStageChanged { to, .. } => {
                (false, self.pipelog_or_sync(envelope), Edit::Stage(*to))
            }
            Event::OpportunityDeleted { .. } => (false, Cause::Sync, Edit::Deleted),
            _ => return,
        };
        let order = (at, snapshot, envelope.position);
        let mut version = Version {
            at,
            position: envelope.position,
            snapshot,
            set: 0,
            cause,
            state: DealState::default(),
        };
        let name = self.apply(&mut version, edit);
        if let Some(name) = name
            && order >= self.name_order
        {
            self.name = name;
            self.name_order = order;
        }
        let index = self.versions.partition_point(|v| v.order() <= order);
        self.versions.insert(index, version);
        self.refold_from(index);
    }

    fn pipelog_or_sync(&mut self, envelope: &EventEnvelope) -> Cause {
        let metadata = &envelope.metadata;
        match (metadata.source.as_deref(), &metadata.actor) {
            (Some("odoo"), _) | (_, None) => Cause::Sync,
            (_, Some(actor)) if actor == "sync" => Cause::Sync,
            (_, Some(actor)) => Cause::Pipelog {
                actor: self.intern(actor),
            },
        }
    }

    /// Sets what the event sets on `version.state` (which then holds only those fields) and
    /// returns a new name, if the event gives one.
    fn apply(&mut self, version: &mut Version, edit: Edit) -> Option<String> {
        use field::*;
        let state = &mut version.state;
        match edit {
            Edit::Whole(record, known) => {
                let (currency, lost) = (
                    self.intern(&record.currency),
                    record.lost_reason.as_deref().map_or(0, |r| self.intern(r)),
                );
                let state = &mut version.state;
                *state = state_of(record, currency, lost);
                state.untracked_known = known;
                version.set = ALL;
                return Some(record.name.clone());
            }
            Edit::Fields(changes) => {
                let mut name = None;
                for change in changes {
                    if change.field == "name" {
                        name = serde_json::from_value(change.after.clone()).ok();
                        continue;
                    }
                    let text = match change.field.as_str() {
                        "currency" | "lost_reason" => change.after.as_str().map(|t| self.intern(t)),
                        _ => None,
                    };
                    if let Some(bit) = set_field(&mut version.state, change, text) {
                        version.set |= bit;
                    }
                }
                return name;
            }
            Edit::Lost(reason) => {
                let lost = reason.map_or(0, |r| self.intern(r));
                let state = &mut version.state;
                state.active = false;
                state.lost_reason = lost;
                version.set = ACTIVE | LOST_REASON;
            }
            Edit::Restored => {
                state.active = true;
                state.lost_reason = 0;
                version.set = ACTIVE | LOST_REASON;
            }
            Edit::Owner(to) => {
                state.user_id = to;
                version.set = OWNER;
            }
            Edit::Stage(to) => {
                state.stage_id = to;
                version.set = STAGE;
            }
            Edit::Deleted => {
                state.exists = false;
                version.set = EXISTS;
            }
        }
        None
    }

    /// Folds the versions from `start` on again: each keeps the fields it set and takes the
    /// rest from the version before it.
    fn refold_from(&mut self, start: usize) {
        for index in start..self.versions.len() {
            let previous = index
                .checked_sub(1)
                .map(|i| self.versions[i].state)
                .unwrap_or_default();
            let version = &mut self.versions[index];
            version.state = merge(previous, version.state, version.set);
        }
    }
}

enum Edit<'a> {
    Whole(&'a OpportunityRecord, bool),
    Fields(&'a [FieldChange]),
    Lost(Option<&'a str>),
    Restored,
    Owner(Option<OdooId>),
    Stage(Option<OdooId>),
    Deleted,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Cents;
    use crate::domain::samples::opportunity;
    use crate::testing::envelope;

    pub(super) fn at(position: u64, event: Event, seconds: i64) -> EventEnvelope {
        let mut envelope = envelope(position, event);
        envelope.effective_at = Some(Timestamp::from_second(seconds).expect("valid"));
        envelope
    }

    fn revenue(cents: i64) -> Event {
        Event::OpportunityChangeRecorded {
            id: 9,
            changes: vec![FieldChange::new("expected_revenue", &0i64, &cents)],
            message_id: 1,
            author_id: None,
            author: Some("Ann".into()),
        }
    }

    fn second(seconds: i64) -> i64 {
        seconds * 1_000_000
    }

    #[test]
    fn a_late_event_is_placed_by_its_time_and_later_versions_fold_again() {
        let read = opportunity(Some(1), 3, 900);
        let mut begun = read.clone();
        begun.stage_id = Some(1);
        begun.expected_revenue = 100;
        let mut timeline = Timeline::new(9);
        // The order a first sync with history import writes: the read, then its past.
        timeline.record(&at(
            1,
            Event::OpportunityCreated {
                id: 9,
                record: read.clone(),
            },
            100,
        ));
        timeline.record(&at(
            2,
            Event::OpportunityHistoryBegins {
                id: 9,
                record: begun,
                first_read_at: None,
                gaps: Vec::new(),
            },
            10,
        ));
        timeline.record(&at(3, revenue(500), 50));
        timeline.record(&at(4, revenue(900), 100));
        let states: Vec<(i64, Cents, bool)> = timeline
            .versions
            .iter()
            .map(|v| (v.at, v.state.expected_revenue, v.state.untracked_known))
            .collect();
        assert_eq!(
            states,
            vec![
                (second(10), 100, false),
                (second(50), 500, false),
                (second(100), 900, false),
                (second(100), 900, true),
            ],
            "tracked changes of the read's instant come before the read"
        );
        let set = TimelineSet::new(vec![timeline.clone()]);
        assert_eq!(
            set.at(0, second(49)).map(|v| v.state.expected_revenue),
            Some(100)
        );
        assert_eq!(set.at(0, second(9)), None, "before the past begins");
        assert_eq!(
            set.at(0, second(100)).map(|v| v.state.stage_id),
            Some(Some(3))
        );
        assert_eq!(timeline.untracked_known_from(), Some(second(100)));
        assert_eq!(
            timeline.text(match timeline.versions[1].cause {
                Cause::Tracking { author } => author,
                _ => 0,
            }),
            Some("Ann")
        );
    }

    #[test]
    fn every_arrival_order_gives_the_same_time_line() {
        let mut won = opportunity(Some(2), 4, 700);
        won.name = "Renamed".into();
        let events = [
            at(
                1,
                Event::OpportunityCreated {
                    id: 9,
                    record: opportunity(Some(1), 3, 900),
                },
                20,
            ),
            at(2, revenue(300), 30),
            at(
                3,
                Event::OpportunityArchived {
                    id: 9,
                    lost_reason: Some("Price".into()),
                },
                40,
            ),
            at(4, Event::OpportunityRestored { id: 9 }, 50),
            at(5, Event::OpportunityCreated { id: 9, record: won }, 60),
            at(6, Event::OpportunityDeleted { id: 9 }, 70),
        ];
        let fold = |order: &[usize]| {
            let mut timeline = Timeline::new(9);
            for &index in order {
                timeline.record(&events[index]);
            }
            let states: Vec<(i64, DealState)> =
                timeline.versions.iter().map(|v| (v.at, v.state)).collect();
            let texts: Vec<(i64, String, Option<String>)> = timeline
                .versions
                .iter()
                .map(|v| {
                    (
                        v.at,
                        timeline.currency(&v.state).to_string(),
                        timeline.text(v.state.lost_reason).map(str::to_string),
                    )
                })
                .collect();
            (
                states
                    .iter()
                    .map(|(a, s)| (*a, s.expected_revenue, s.active, s.exists, s.user_id))
                    .collect::<Vec<_>>(),
                texts,
                timeline.name.clone(),
            )
        };
        let in_order = fold(&[0, 1, 2, 3, 4, 5]);
        assert_eq!(fold(&[5, 4, 3, 2, 1, 0]), in_order);
        assert_eq!(fold(&[2, 0, 5, 1, 4, 3]), in_order);
        assert_eq!(in_order.2, "Renamed");
        let lost = &in_order.1[2];
        assert_eq!(lost.2.as_deref(), Some("Price"));
        assert_eq!(
            in_order.0.last().map(|s| s.3),
            Some(false),
            "deleted at the end"
        );
    }
}
