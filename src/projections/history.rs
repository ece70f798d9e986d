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
use jiff::civil::Date;
use serde::{Deserialize, Serialize};

use crate::domain::{
    Cents, Event, EventEnvelope, FieldChange, LeadKind, OdooId, OpportunityRecord,
};

/// The fields a version can set, one bit each.
pub mod field {
    pub const OWNER: u16 = 1;
    pub const TEAM: u16 = 1 << 1;
    pub const STAGE: u16 = 1 << 2;
    pub const ACCOUNT: u16 = 1 << 3;
    pub const CURRENCY: u16 = 1 << 4;
    pub const EXPECTED: u16 = 1 << 5;
    pub const PROBABILITY: u16 = 1 << 6;
    pub const PRORATED: u16 = 1 << 7;
    pub const DEADLINE: u16 = 1 << 8;
    pub const CLOSED: u16 = 1 << 9;
    pub const ACTIVE: u16 = 1 << 10;
    pub const LOST_REASON: u16 = 1 << 11;
    pub const KIND: u16 = 1 << 12;
    pub const EXISTS: u16 = 1 << 13;
    /// Whether probability and expected close are known (see [`super::DealState::untracked_known`]).
    pub const KNOWN: u16 = 1 << 14;
    pub const ALL: u16 = (1 << 15) - 1;

    /// Field names as the log writes them, with their bit; `name` is kept on the time line.
    pub const NAMES: [(&str, u16); 13] = [
        ("user_id", OWNER),
        ("team_id", TEAM),
        ("stage_id", STAGE),
        ("account_id", ACCOUNT),
        ("currency", CURRENCY),
        ("expected_revenue", EXPECTED),
        ("probability", PROBABILITY),
        ("prorated_revenue", PRORATED),
        ("date_deadline", DEADLINE),
        ("date_closed", CLOSED),
        ("active", ACTIVE),
        ("lost_reason", LOST_REASON),
        ("kind", KIND),
    ];
}

/// A deal as it was at one moment: the fields history questions ask about. Strings (currency,
/// lost reason) are indexes into the time line's `texts`, so a version is small and `Copy`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct DealState {
    pub exists: bool,
    pub opportunity: bool,
    pub user_id: Option<OdooId>,
    pub team_id: Option<OdooId>,
    pub stage_id: Option<OdooId>,
    pub account_id: Option<OdooId>,
    pub currency: u16,
    pub expected_revenue: Cents,
    pub probability: f64,
    pub prorated_revenue: Option<Cents>,
    pub date_deadline: Option<Date>,
    /// The UTC day it was won or lost, as Odoo says.
    pub closed_on: Option<Date>,
    pub active: bool,
    /// 0 for none, else 1 + an index into `texts`.
    pub lost_reason: u16,
    /// Probability and expected close are known: pipelog had read the deal by then. Before
    /// that, the state comes from Odoo's tracking, which never records those two fields.
    pub untracked_known: bool,
}

impl DealState {
    /// Expected revenue weighted by probability, as the live views compute it.
    pub fn weighted_revenue(&self) -> Cents {
        crate::domain::weighted_cents(
            self.expected_revenue,
            self.probability,
            self.prorated_revenue,
        )
    }
}

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
    #[serde(skip)]
    name_order: (i64, bool, u64),
    pub versions: Vec<Version>,
    /// Currencies, lost reasons, authors: each once.
    pub texts: Vec<String>,
}

/// Every deal's time line, as readers hold it, with every version's time also in one column
/// (time line after time line): finding the version in effect at a moment for 100,000 deals
/// then reads one contiguous array instead of touching every deal's versions.
#[derive(Debug, Default)]
pub struct TimelineSet {
    timelines: Vec<Timeline>,
    times: Vec<i64>,
    /// Where each time line's versions begin in `times`; one more at the end.
    starts: Vec<usize>,
    /// The earliest version of any deal: where known history begins.
    pub known_from: Option<i64>,
    /// The earliest first read of any deal: probability and expected close are known from then.
    pub first_read_at: Option<i64>,
}

impl TimelineSet {
    /// `timelines` in id order.
    pub fn new(timelines: Vec<Timeline>) -> TimelineSet {
        let total = timelines.iter().map(|t| t.versions.len()).sum();
        let mut times = Vec::with_capacity(total);
        let mut starts = Vec::with_capacity(timelines.len() + 1);
        let earliest = |held: Option<i64>, next: Option<i64>| match (held, next) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let (mut known_from, mut first_read_at) = (None, None);
        for timeline in &timelines {
            starts.push(times.len());
            times.extend(timeline.versions.iter().map(|v| v.at));
            known_from = earliest(known_from, timeline.versions.first().map(|v| v.at));
            first_read_at = earliest(first_read_at, timeline.untracked_known_from());
        }
        starts.push(times.len());
        TimelineSet {
            timelines,
            times,
            starts,
            known_from,
            first_read_at,
        }
    }

    /// The version of the `index`th time line in effect at `at`, as [`Timeline::at`].
    pub fn at(&self, index: usize, at: i64) -> Option<&Version> {
        let (start, end) = (self.starts[index], self.starts[index + 1]);
        let after = self.times[start..end].partition_point(|&t| t <= at);
        after
            .checked_sub(1)
            .map(|offset| &self.timelines[index].versions[offset])
    }

    pub fn position(&self, id: OdooId) -> Option<usize> {
        self.timelines.binary_search_by_key(&id, |t| t.id).ok()
    }
}

impl std::ops::Deref for TimelineSet {
    type Target = [Timeline];

    fn deref(&self) -> &[Timeline] {
        &self.timelines
    }
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

    /// The state in effect at `at` (microseconds), `None` before the time line begins.
    pub fn at(&self, at: i64) -> Option<&Version> {
        let after = self.versions.partition_point(|v| v.at <= at);
        after.checked_sub(1).map(|index| &self.versions[index])
    }

    /// When pipelog first read the deal: probability and expected close are known from then.
    pub fn untracked_known_from(&self) -> Option<i64> {
        self.versions
            .iter()
            .find(|v| v.state.untracked_known)
            .map(|v| v.at)
    }

    /// Records one event of this deal. Returns false for events that are not about deals.
    pub fn record(&mut self, envelope: &EventEnvelope) -> bool {
        let at = micros(envelope.occurred_at());
        let actor = envelope.metadata.actor.clone();
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
                self.pipelog_or_sync(envelope, &actor),
                Edit::Lost(lost_reason.as_deref()),
            ),
            Event::OpportunityRestored { .. } => (
                false,
                self.pipelog_or_sync(envelope, &actor),
                Edit::Restored,
            ),
            Event::OpportunityAssigned { to, .. } => (
                false,
                self.pipelog_or_sync(envelope, &actor),
                Edit::Owner(*to),
            ),
            Event::OpportunityStageChanged { to, .. } => (
                false,
                self.pipelog_or_sync(envelope, &actor),
                Edit::Stage(*to),
            ),
            Event::OpportunityDeleted { .. } => (false, Cause::Sync, Edit::Deleted),
            _ => return false,
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
        true
    }

    fn pipelog_or_sync(&mut self, envelope: &EventEnvelope, actor: &Option<String>) -> Cause {
        match (envelope.metadata.source.as_deref(), actor) {
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

fn state_of(record: &OpportunityRecord, currency: u16, lost_reason: u16) -> DealState {
    DealState {
        exists: true,
        opportunity: record.kind == LeadKind::Opportunity,
        user_id: record.user_id,
        team_id: record.team_id,
        stage_id: record.stage_id,
        account_id: record.account_id,
        currency,
        expected_revenue: record.expected_revenue,
        probability: record.probability,
        prorated_revenue: record.prorated_revenue,
        date_deadline: record.date_deadline,
        closed_on: record.date_closed.map(utc_day),
        active: record.active,
        lost_reason,
        untracked_known: true,
    }
}

pub fn utc_day(at: Timestamp) -> Date {
    at.to_zoned_datetime(jiff::tz::TimeZone::UTC).date()
}

/// Sets one changed field; `None` for a field history does not hold or a value it cannot read
/// (the live views report those as anomalies).
fn set_field(state: &mut DealState, change: &FieldChange, text: Option<u16>) -> Option<u16> {
    fn read<T: serde::de::DeserializeOwned>(change: &FieldChange) -> Option<T> {
        serde_json::from_value(change.after.clone()).ok()
    }
    match change.field.as_str() {
        "user_id" => state.user_id = read(change)?,
        "team_id" => state.team_id = read(change)?,
        "stage_id" => state.stage_id = read(change)?,
        "account_id" => state.account_id = read(change)?,
        "currency" => state.currency = text?,
        "expected_revenue" => state.expected_revenue = read(change)?,
        "probability" => state.probability = read(change)?,
        "prorated_revenue" => state.prorated_revenue = read(change)?,
        "date_deadline" => state.date_deadline = read(change)?,
        "date_closed" => state.closed_on = read::<Option<Timestamp>>(change)?.map(utc_day),
        "active" => state.active = read(change)?,
        "lost_reason" => {
            let reason: Option<String> = read(change)?;
            state.lost_reason = if reason.is_some() { text? } else { 0 };
        }
        "kind" => state.opportunity = read::<LeadKind>(change)? == LeadKind::Opportunity,
        _ => return None,
    }
    field::NAMES
        .iter()
        .find(|(name, _)| *name == change.field)
        .map(|(_, bit)| *bit)
}

/// `own`'s fields where `set` says so, `previous`'s elsewhere.
fn merge(previous: DealState, own: DealState, set: u16) -> DealState {
    use field::*;
    let pick = |bit: u16| set & bit != 0;
    DealState {
        exists: if pick(EXISTS) {
            own.exists
        } else {
            previous.exists
        },
        opportunity: if pick(KIND) {
            own.opportunity
        } else {
            previous.opportunity
        },
        user_id: if pick(OWNER) {
            own.user_id
        } else {
            previous.user_id
        },
        team_id: if pick(TEAM) {
            own.team_id
        } else {
            previous.team_id
        },
        stage_id: if pick(STAGE) {
            own.stage_id
        } else {
            previous.stage_id
        },
        account_id: if pick(ACCOUNT) {
            own.account_id
        } else {
            previous.account_id
        },
        currency: if pick(CURRENCY) {
            own.currency
        } else {
            previous.currency
        },
        expected_revenue: if pick(EXPECTED) {
            own.expected_revenue
        } else {
            previous.expected_revenue
        },
        probability: if pick(PROBABILITY) {
            own.probability
        } else {
            previous.probability
        },
        prorated_revenue: if pick(PRORATED) {
            own.prorated_revenue
        } else {
            previous.prorated_revenue
        },
        date_deadline: if pick(DEADLINE) {
            own.date_deadline
        } else {
            previous.date_deadline
        },
        closed_on: if pick(CLOSED) {
            own.closed_on
        } else {
            previous.closed_on
        },
        active: if pick(ACTIVE) {
            own.active
        } else {
            previous.active
        },
        lost_reason: if pick(LOST_REASON) {
            own.lost_reason
        } else {
            previous.lost_reason
        },
        untracked_known: if pick(KNOWN) {
            own.untracked_known
        } else {
            previous.untracked_known
        },
    }
}

/// The fields that differ between two states, as names of the log's fields.
pub fn changed_fields(before: &DealState, after: &DealState) -> u16 {
    use field::*;
    let mut changed = 0;
    let mut differs = |bit: u16, yes: bool| {
        if yes {
            changed |= bit;
        }
    };
    differs(OWNER, before.user_id != after.user_id);
    differs(TEAM, before.team_id != after.team_id);
    differs(STAGE, before.stage_id != after.stage_id);
    differs(ACCOUNT, before.account_id != after.account_id);
    differs(CURRENCY, before.currency != after.currency);
    differs(EXPECTED, before.expected_revenue != after.expected_revenue);
    differs(PROBABILITY, before.probability != after.probability);
    differs(PRORATED, before.prorated_revenue != after.prorated_revenue);
    differs(DEADLINE, before.date_deadline != after.date_deadline);
    differs(CLOSED, before.closed_on != after.closed_on);
    differs(ACTIVE, before.active != after.active);
    differs(LOST_REASON, before.lost_reason != after.lost_reason);
    differs(KIND, before.opportunity != after.opportunity);
    differs(EXISTS, before.exists != after.exists);
    changed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::samples::opportunity;
    use crate::testing::envelope;

    fn at(position: u64, event: Event, seconds: i64) -> EventEnvelope {
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
        assert_eq!(
            timeline.at(second(49)).map(|v| v.state.expected_revenue),
            Some(100)
        );
        assert_eq!(timeline.at(second(9)), None, "before the past begins");
        assert_eq!(
            timeline.at(second(100)).map(|v| v.state.stage_id),
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
