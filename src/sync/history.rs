//! Odoo's change tracking into a deal's past, pure: chatter messages (`mail.message`) with their
//! tracking values (`mail.tracking.value`) become the deal's state at creation and one event per
//! message. Never talks to Odoo and never touches the store.
//!
//! A message splits three ways against what pipelog holds of the deal ([`DealTimes`]):
//! - dated at or before pipelog's first read of the deal: the past, rebuilt by walking back from
//!   the record first read (an [`Event::OpportunityHistoryBegins`] at the creation, then one
//!   [`Event::OpportunityChangeRecorded`] per message, history only);
//! - dated after the first read but not after the newest change the record holds: the sync saw
//!   that change already, as a field change of its own, so it is skipped (one change, one event:
//!   whichever path saw it first);
//! - dated later than everything the record holds: news, recorded as a change the current views
//!   apply (the next sync's comparison then finds nothing left of it).

use std::collections::HashMap;

use jiff::Timestamp;
use serde_json::{Value, json};

use super::mapping::Lookups;
use super::odoo::wire;
use crate::domain::{
    Event, FieldChange, HistoryGap, Metadata, NewEvent, OdooId, OpportunityRecord,
};
use crate::projections::DealTimes;

/// One chatter message of a lead with its tracked changes, in pipelog's fields.
#[derive(Debug, Clone, PartialEq)]
pub struct TrackedMessage {
    pub id: OdooId,
    pub lead: OdooId,
    pub date: Timestamp,
    pub author_id: Option<OdooId>,
    pub author: Option<String>,
    pub changes: Vec<FieldChange>,
}

/// The `mail.message` fields read.
pub const MESSAGE_FIELDS: &[&str] = &["res_id", "date", "author_id", "tracking_value_ids"];

/// The `mail.tracking.value` fields read: which value column holds a change depends on the
/// field's type.
pub const VALUE_FIELDS: &[&str] = &[
    "field_id",
    "old_value_char",
    "new_value_char",
    "old_value_integer",
    "new_value_integer",
    "old_value_float",
    "new_value_float",
    "old_value_datetime",
    "new_value_datetime",
    "mail_message_id",
];

/// The pipelog field a tracked `crm.lead` field is held in, and how its values read. Tracked
/// fields pipelog does not hold (recurring revenue, contact details) are left out.
fn held_field(odoo_field: &str) -> Option<(&'static str, ValueColumn)> {
    Some(match odoo_field {
        "stage_id" => ("stage_id", ValueColumn::Id),
        "user_id" => ("user_id", ValueColumn::Id),
        "team_id" => ("team_id", ValueColumn::Id),
        "partner_id" => ("account_id", ValueColumn::Id),
        "expected_revenue" => ("expected_revenue", ValueColumn::Cents),
        "active" => ("active", ValueColumn::Flag),
        "lost_reason_id" => ("lost_reason", ValueColumn::LostReason),
        "type" => ("kind", ValueColumn::Kind),
        _ => return None,
    })
}

#[derive(Debug, Clone, Copy)]
enum ValueColumn {
    /// many2one: the id in `*_integer` (0 for none), the display name in `*_char`.
    Id,
    /// monetary: `*_float`, held in cents.
    Cents,
    /// boolean: 0/1 in `*_integer`.
    Flag,
    /// The lost reason is held by name: the current name of the id, else the name at the time.
    LostReason,
    /// The lead type, a selection: Odoo tracks its label (`Opportunity`) in `*_char`.
    Kind,
}

impl ValueColumn {
    fn read(self, value: &Value, side: &str, lookups: &Lookups) -> Result<Value, String> {
        let column = |kind: &str| format!("{side}_value_{kind}");
        let integer = |value: &Value| value[column("integer")].as_i64().unwrap_or(0);
        Ok(match self {
            ValueColumn::Id => match integer(value) {
                id if id > 0 => json!(id),
                _ => Value::Null,
            },
            ValueColumn::Cents => {
                json!(wire::cents(value, &column("float")).map_err(|e| e.to_string())?)
            }
            ValueColumn::Flag => json!(integer(value) != 0),
            ValueColumn::LostReason => {
                let id = integer(value);
                let by_id = (id > 0)
                    .then(|| lookups.lost_reasons.get(&(id as OdooId)).cloned())
                    .flatten();
                match by_id.or_else(|| value[column("char")].as_str().map(str::to_string)) {
                    Some(name) if id > 0 => json!(name),
                    _ => Value::Null,
                }
            }
            ValueColumn::Kind => match value[column("char")].as_str() {
                Some(text) if text.eq_ignore_ascii_case("opportunity") => json!("opportunity"),
                Some(text) if text.eq_ignore_ascii_case("lead") => json!("lead"),
                // An empty type reads as a lead, as the sync maps it.
                None | Some("") => json!("lead"),
                Some(other) => return Err(format!("unknown lead type {other:?}")),
            },
        })
    }
}

/// One tracking value as a change of a pipelog field, or `None` for a field pipelog does not
/// hold. `fields` maps `ir.model.fields` ids to Odoo field names.
pub fn tracked_change(
    value: &Value,
    fields: &HashMap<OdooId, String>,
    lookups: &Lookups,
) -> Result<Option<FieldChange>, String> {
    let field_id = wire::many2one(value, "field_id").map_err(|e| e.to_string())?;
    let Some(odoo_field) = field_id.and_then(|id| fields.get(&id)) else {
        return Ok(None);
    };
    let Some((field, column)) = held_field(odoo_field) else {
        return Ok(None);
    };
    Ok(Some(FieldChange {
        field: field.to_string(),
        before: column.read(value, "old", lookups)?,
        after: column.read(value, "new", lookups)?,
    }))
}

/// What one lead's messages become.
#[derive(Debug, Default, PartialEq)]
pub struct PlannedHistory {
    pub events: Vec<NewEvent>,
    /// Messages of the past, and messages that were news.
    pub past: usize,
    pub news: usize,
}

/// The events for a lead whose past is not imported yet: where its history begins, its past
/// messages, then the news. `first_read` is the record pipelog first read (the past is walked
/// back from it); `created_at` is Odoo's `create_date`.
pub fn plan_past(
    id: OdooId,
    first_read: &OpportunityRecord,
    times: &DealTimes,
    created_at: Option<Timestamp>,
    messages: &[TrackedMessage],
    metadata: &Metadata,
) -> PlannedHistory {
    let first_read_at = times.first_read_at.or(times.current_at);
    let (past, later): (Vec<&TrackedMessage>, Vec<&TrackedMessage>) = messages
        .iter()
        .filter(|m| !m.changes.is_empty())
        .partition(|m| first_read_at.is_none_or(|first| m.date <= first));
    let (initial, gaps) = walk_back(first_read, &past, first_read_at);
    let oldest = past.first().map(|m| m.date);
    // A create_date after the oldest tracked change cannot be (an import that kept old chatter):
    // history begins with what is known.
    let begins = match (created_at, oldest) {
        (Some(created), Some(oldest)) => Some(created.min(oldest)),
        (created, oldest) => created.or(oldest),
    };
    let mut planned = PlannedHistory {
        past: past.len(),
        ..PlannedHistory::default()
    };
    planned.events.push(
        NewEvent::new(Event::OpportunityHistoryBegins {
            id,
            record: initial,
            first_read_at,
            gaps,
        })
        .effective_at(begins.or(first_read_at))
        .with_metadata(metadata.clone()),
    );
    planned
        .events
        .extend(past.iter().map(|m| change_event(m, metadata)));
    let news = plan_news(times, &later, metadata);
    planned.news = news.len();
    planned.events.extend(news);
    planned
}

/// The events for messages of a lead whose past is imported: only the news; the rest the
/// current record holds already.
pub fn plan_news(
    times: &DealTimes,
    messages: &[&TrackedMessage],
    metadata: &Metadata,
) -> Vec<NewEvent> {
    let mut times = *times;
    let mut events = Vec::new();
    for message in messages {
        if message.changes.is_empty() || !times.is_news(message.date) {
            continue;
        }
        times.changed_at(message.date);
        events.push(change_event(message, metadata));
    }
    events
}

fn change_event(message: &TrackedMessage, metadata: &Metadata) -> NewEvent {
    NewEvent::new(Event::OpportunityChangeRecorded {
        id: message.lead,
        changes: message.changes.clone(),
        message_id: message.id,
        author_id: message.author_id,
        author: message.author.clone(),
    })
    .effective_at(Some(message.date))
    .with_metadata(metadata.clone())
}

/// The record as it was before the oldest of `past` (in date order), and the places where a
/// tracked value does not lead to the one found next.
fn walk_back(
    first_read: &OpportunityRecord,
    past: &[&TrackedMessage],
    first_read_at: Option<Timestamp>,
) -> (OpportunityRecord, Vec<HistoryGap>) {
    if past.is_empty() {
        // Nothing to walk back (most deals of a first sync without chatter): no JSON round trip.
        return (first_read.clone(), Vec::new());
    }
    let mut state = serde_json::to_value(first_read).unwrap_or(Value::Null);
    // When each field's current value in `state` was found: the first read, or a change.
    let mut found_at: HashMap<String, Option<Timestamp>> = HashMap::new();
    let mut gaps = Vec::new();
    for message in past.iter().rev() {
        for change in message.changes.iter().rev() {
            let found = state.get(&change.field).cloned().unwrap_or(Value::Null);
            if found != change.after {
                gaps.push(HistoryGap {
                    field: change.field.clone(),
                    tracked: change.after.clone(),
                    found,
                    after: Some(message.date),
                    before: found_at
                        .get(&change.field)
                        .copied()
                        .unwrap_or(first_read_at),
                });
            }
            state[change.field.as_str()] = change.before.clone();
            found_at.insert(change.field.clone(), Some(message.date));
        }
    }
    gaps.reverse();
    // Every value came from a record or a tracked change of the right type; one that does not
    // decode (a tracked value of an odd type) keeps the record first read.
    let initial = serde_json::from_value(state).unwrap_or_else(|_| first_read.clone());
    (initial, gaps)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::domain::samples::opportunity;

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(1_700_000_000 + seconds).expect("valid")
    }

    fn fields() -> HashMap<OdooId, String> {
        [
            (3522, "active"),
            (3528, "expected_revenue"),
            (3569, "lost_reason_id"),
            (3530, "recurring_revenue"),
            (3525, "stage_id"),
            (3517, "team_id"),
            (3515, "user_id"),
            (3523, "type"),
        ]
        .into_iter()
        .map(|(id, name)| (id, name.to_string()))
        .collect()
    }

    fn message(id: OdooId, date: i64, changes: Vec<FieldChange>) -> TrackedMessage {
        TrackedMessage {
            id,
            lead: 9,
            date: at(date),
            author_id: Some(3),
            author: Some("Mitchell Admin".into()),
            changes,
        }
    }

    fn stage(before: u64, after: u64) -> FieldChange {
        FieldChange::new("stage_id", &Some(before), &Some(after))
    }

    fn times(first: i64, current: i64) -> DealTimes {
        DealTimes {
            current_at: Some(at(current)),
            first_read_at: Some(at(first)),
            history_from: None,
        }
    }

    #[test]
    fn recorded_tracking_values_read_in_pipelog_s_fields() {
        // As recorded from Odoo 18 (tracking/mail.tracking.value.json).
        let lookups = Lookups::default();
        let stage_move = json!({"id": 16, "field_id": 3525, "old_value_char": "New", "new_value_char": "Proposition",
            "old_value_integer": 1, "new_value_integer": 3, "old_value_float": 0.0, "new_value_float": 0.0,
            "old_value_datetime": false, "new_value_datetime": false, "currency_id": false, "mail_message_id": 199});
        let revenue = json!({"id": 17, "field_id": 3528, "old_value_char": false, "new_value_char": false,
            "old_value_integer": 0, "new_value_integer": 0, "old_value_float": 40000.0, "new_value_float": 12345.0,
            "currency_id": 1, "mail_message_id": 199});
        let lost = json!({"id": 19, "field_id": 3522, "old_value_char": false, "new_value_char": false,
            "old_value_integer": 1, "new_value_integer": 0, "old_value_float": 0.0, "new_value_float": 0.0});
        let recurring =
            json!({"id": 40, "field_id": 3530, "old_value_float": 0.0, "new_value_float": 10.0});
        let change = |v: &Value| tracked_change(v, &fields(), &lookups).expect("reads");
        assert_eq!(change(&stage_move), Some(stage(1, 3)));
        assert_eq!(
            change(&revenue),
            Some(FieldChange::new("expected_revenue", &4_000_000, &1_234_500))
        );
        assert_eq!(
            change(&lost),
            Some(FieldChange::new("active", &true, &false))
        );
        assert_eq!(change(&recurring), None, "not a field pipelog holds");
        let unknown_field = json!({"id": 41, "field_id": 1, "old_value_integer": 1});
        assert_eq!(change(&unknown_field), None);
    }

    #[test]
    fn a_lost_reason_reads_by_its_current_name_and_none_is_null() {
        let lookups = Lookups {
            lost_reasons: HashMap::from([(1, "Too expensive".to_string())]),
            ..Lookups::default()
        };
        let value = json!({"field_id": 3569, "old_value_integer": 0, "old_value_char": false,
            "new_value_integer": 1, "new_value_char": "Pricey"});
        assert_eq!(
            tracked_change(&value, &fields(), &lookups).expect("reads"),
            Some(FieldChange::new(
                "lost_reason",
                &None::<String>,
                &Some("Too expensive".to_string())
            ))
        );
    }

    #[test]
    fn the_past_is_walked_back_from_the_first_read_and_news_is_applied() {
        let mut first_read = opportunity(Some(2), 3, 1_234_500);
        first_read.active = true;
        let messages = vec![
            message(
                1,
                10,
                vec![
                    stage(1, 2),
                    FieldChange::new("expected_revenue", &4_000_000, &1_234_500),
                ],
            ),
            message(2, 20, vec![stage(2, 3)]),
            // Seen by the sync already (after the first read, not after the record's newest).
            message(3, 40, vec![stage(3, 4)]),
            message(4, 60, vec![stage(4, 2)]),
        ];
        let planned = plan_past(
            9,
            &first_read,
            &times(30, 50),
            Some(at(5)),
            &messages,
            &Metadata::default(),
        );
        assert_eq!((planned.past, planned.news), (2, 1));
        let kinds: Vec<&str> = planned.events.iter().map(|e| e.event.type_name()).collect();
        assert_eq!(
            kinds,
            [
                "OpportunityHistoryBegins",
                "OpportunityChangeRecorded",
                "OpportunityChangeRecorded",
                "OpportunityChangeRecorded"
            ]
        );
        let Event::OpportunityHistoryBegins {
            record,
            gaps,
            first_read_at,
            ..
        } = &planned.events[0].event
        else {
            panic!("history begins")
        };
        assert_eq!(planned.events[0].effective_at, Some(at(5)));
        assert_eq!(*first_read_at, Some(at(30)));
        assert_eq!(record.stage_id, Some(1));
        assert_eq!(record.expected_revenue, 4_000_000);
        assert_eq!(record.probability, first_read.probability, "untracked");
        assert!(gaps.is_empty());
        let dates: Vec<_> = planned.events.iter().map(|e| e.effective_at).collect();
        assert_eq!(dates[1..], [Some(at(10)), Some(at(20)), Some(at(60))]);
    }

    #[test]
    fn where_tracking_and_the_record_disagree_the_record_wins_and_the_gap_is_kept() {
        // Tracking says the stage became 3; the record says 4 (changed by SQL, untracked).
        let first_read = opportunity(Some(2), 4, 100);
        let messages = vec![message(1, 10, vec![stage(1, 3)])];
        let planned = plan_past(
            9,
            &first_read,
            &times(30, 30),
            Some(at(0)),
            &messages,
            &Metadata::default(),
        );
        let Event::OpportunityHistoryBegins { record, gaps, .. } = &planned.events[0].event else {
            panic!("history begins")
        };
        assert_eq!(record.stage_id, Some(1));
        assert_eq!(
            gaps,
            &[HistoryGap {
                field: "stage_id".into(),
                tracked: json!(3),
                found: json!(4),
                after: Some(at(10)),
                before: Some(at(30)),
            }]
        );
    }

    #[test]
    fn a_deal_without_tracking_begins_at_its_creation_as_first_read() {
        let first_read = opportunity(Some(2), 2, 100);
        let planned = plan_past(
            9,
            &first_read,
            &times(30, 30),
            Some(at(1)),
            &[],
            &Metadata::default(),
        );
        assert_eq!(planned.events.len(), 1);
        assert_eq!(planned.events[0].effective_at, Some(at(1)));
        let Event::OpportunityHistoryBegins { record, .. } = &planned.events[0].event else {
            panic!("history begins")
        };
        assert_eq!(record, &first_read);
    }

    fn arb_step() -> impl Strategy<Value = (u8, u64)> {
        (0u8..4, 1u64..6)
    }

    proptest! {
        /// Whatever the tracked past, replaying where history begins and its changes in order
        /// reaches the record first read (the record wins at the first read where a gap is).
        #[test]
        fn replaying_the_rebuilt_past_reaches_the_first_read(
            steps in prop::collection::vec(arb_step(), 0..12),
            gap_at in prop::option::of(0usize..12),
        ) {
            let mut truth = opportunity(Some(1), 1, 100);
            let mut messages = Vec::new();
            for (i, (field, value)) in steps.iter().enumerate() {
                let before = truth.clone();
                match field {
                    0 => truth.stage_id = Some(*value),
                    1 => truth.user_id = Some(*value),
                    2 => truth.expected_revenue = *value as i64 * 100,
                    _ => truth.active = !truth.active,
                }
                let changes = before.changes_to(&truth);
                if gap_at == Some(i) {
                    continue; // changed without a trace
                }
                messages.push(message(i as u64 + 1, i as i64 * 10, changes));
            }
            let planned = plan_past(9, &truth, &times(1_000, 1_000), Some(at(-1)), &messages, &Metadata::default());
            let mut replayed = None;
            for event in &planned.events {
                match &event.event {
                    Event::OpportunityHistoryBegins { record, .. } => replayed = Some(record.clone()),
                    Event::OpportunityChangeRecorded { changes, .. } => {
                        let record = replayed.as_mut().expect("begins first");
                        for change in changes {
                            record.apply_change(change).expect("applies");
                        }
                    }
                    other => prop_assert!(false, "unexpected {other:?}"),
                }
            }
            let replayed = replayed.expect("begins");
            let Event::OpportunityHistoryBegins { gaps, .. } = &planned.events[0].event else {
                unreachable!()
            };
            // The record wins: what the replay misses is exactly what the gaps name.
            let mut mended = replayed.clone();
            for gap in gaps.iter().filter(|g| g.before == Some(at(1_000))) {
                mended.apply_change(&FieldChange { field: gap.field.clone(), before: gap.tracked.clone(), after: gap.found.clone() }).expect("applies");
            }
            prop_assert_eq!(&mended, &truth);
            if gap_at.is_none_or(|g| g >= steps.len()) {
                prop_assert!(gaps.is_empty());
                prop_assert_eq!(replayed, truth);
            }
        }
    }
}
