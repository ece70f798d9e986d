//! Sync planning, pure: what pipelog holds and what Odoo sent become events. Unchanged records
//! produce nothing; changes carry field-level before/after values and Odoo's `write_date`.

use jiff::Timestamp;

use super::mapping::{SyncModel, SyncedRecord};
use crate::domain::{Event, Metadata, NewEvent, OdooId, OpportunityRecord};

/// The events that turn `current` (what pipelog holds, if anything) into `fetched`.
pub fn plan_change(
    id: OdooId,
    current: Option<&SyncedRecord>,
    fetched: SyncedRecord,
    effective_at: Option<Timestamp>,
    metadata: &Metadata,
) -> Vec<NewEvent> {
    let events = match (current, fetched) {
        (Some(SyncedRecord::Opportunity(old)), SyncedRecord::Opportunity(new)) => {
            opportunity_change(id, old, &new)
        }
        (Some(current), fetched) => updated(id, current, &fetched).into_iter().collect(),
        (None, fetched) => vec![created(id, fetched)],
    };
    events
        .into_iter()
        .map(|event| {
            NewEvent::new(event)
                .effective_at(effective_at)
                .with_metadata(metadata.clone())
        })
        .collect()
}

/// Odoo's lost/restore is an `active` flip: it becomes Archived/Restored, and whatever else changed
/// becomes an Updated after it.
fn opportunity_change(id: OdooId, old: &OpportunityRecord, new: &OpportunityRecord) -> Vec<Event> {
    let mut events = Vec::new();
    let mut after_flip = old.clone();
    if old.active && !new.active {
        events.push(Event::OpportunityArchived {
            id,
            lost_reason: new.lost_reason.clone(),
        });
        after_flip.active = false;
        after_flip.lost_reason = new.lost_reason.clone();
    } else if !old.active && new.active {
        events.push(Event::OpportunityRestored { id });
        after_flip.active = true;
        after_flip.lost_reason = None;
    }
    let changes = after_flip.changes_to(new);
    if !changes.is_empty() {
        events.push(Event::OpportunityUpdated { id, changes });
    }
    events
}

fn created(id: OdooId, record: SyncedRecord) -> Event {
    match record {
        SyncedRecord::Stage(record) => Event::StageCreated { id, record },
        SyncedRecord::Team(record) => Event::TeamCreated { id, record },
        SyncedRecord::User(record) => Event::UserCreated { id, record },
        SyncedRecord::Employee(record) => Event::EmployeeCreated { id, record },
        SyncedRecord::Opportunity(record) => Event::OpportunityCreated { id, record },
        SyncedRecord::Account(record) => Event::AccountCreated { id, record },
    }
}

fn updated(id: OdooId, current: &SyncedRecord, fetched: &SyncedRecord) -> Option<Event> {
    let event = match (current, fetched) {
        (SyncedRecord::Stage(a), SyncedRecord::Stage(b)) => Event::StageUpdated {
            id,
            changes: a.changes_to(b),
        },
        (SyncedRecord::Team(a), SyncedRecord::Team(b)) => Event::TeamUpdated {
            id,
            changes: a.changes_to(b),
        },
        (SyncedRecord::User(a), SyncedRecord::User(b)) => Event::UserUpdated {
            id,
            changes: a.changes_to(b),
        },
        (SyncedRecord::Employee(a), SyncedRecord::Employee(b)) => Event::EmployeeUpdated {
            id,
            changes: a.changes_to(b),
        },
        (SyncedRecord::Account(a), SyncedRecord::Account(b)) => Event::AccountUpdated {
            id,
            changes: a.changes_to(b),
        },
        (SyncedRecord::Opportunity(a), SyncedRecord::Opportunity(b)) => Event::OpportunityUpdated {
            id,
            changes: a.changes_to(b),
        },
        // Both sides come from the same model, so the kinds always agree.
        _ => return Some(created(id, fetched.clone())),
    };
    let empty = match &event {
        Event::StageUpdated { changes, .. }
        | Event::TeamUpdated { changes, .. }
        | Event::UserUpdated { changes, .. }
        | Event::EmployeeUpdated { changes, .. }
        | Event::AccountUpdated { changes, .. }
        | Event::OpportunityUpdated { changes, .. } => changes.is_empty(),
        _ => false,
    };
    (!empty).then_some(event)
}

/// The event for a record that Odoo no longer has.
pub fn deletion(model: SyncModel, id: OdooId) -> Event {
    match model {
        SyncModel::Stage => Event::StageDeleted { id },
        SyncModel::Team => Event::TeamDeleted { id },
        SyncModel::User => Event::UserDeleted { id },
        SyncModel::Employee => Event::EmployeeDeleted { id },
        SyncModel::Lead => Event::OpportunityDeleted { id },
        SyncModel::Partner => Event::AccountDeleted { id },
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::domain::samples::opportunity;
    use crate::projections::ReadModel;
    use crate::testing::envelope;

    fn plan(current: Option<&OpportunityRecord>, fetched: &OpportunityRecord) -> Vec<Event> {
        let current = current.cloned().map(SyncedRecord::Opportunity);
        plan_change(
            9,
            current.as_ref(),
            SyncedRecord::Opportunity(fetched.clone()),
            None,
            &Metadata::default(),
        )
        .into_iter()
        .map(|e| e.event)
        .collect()
    }

    #[test]
    fn an_unchanged_record_plans_nothing() {
        let record = opportunity(Some(1), 1, 100);
        assert!(plan(Some(&record), &record).is_empty());
    }

    #[test]
    fn losing_is_an_archive_with_the_reason_then_the_other_changes() {
        let old = opportunity(Some(1), 1, 100);
        let mut new = old.clone();
        new.active = false;
        new.lost_reason = Some("Too expensive".into());
        new.probability = 0.0;
        let events = plan(Some(&old), &new);
        assert_eq!(
            events[0],
            Event::OpportunityArchived {
                id: 9,
                lost_reason: Some("Too expensive".into())
            }
        );
        let Event::OpportunityUpdated { changes, .. } = &events[1] else {
            panic!("an update")
        };
        assert_eq!(
            changes.iter().map(|c| c.field.as_str()).collect::<Vec<_>>(),
            ["probability"]
        );
        assert_eq!(events.len(), 2);
    }

    #[test]
    fn a_new_record_is_created() {
        let record = opportunity(None, 2, 5);
        assert_eq!(
            plan(None, &record),
            vec![Event::OpportunityCreated { id: 9, record }]
        );
    }

    fn arb_opportunity() -> impl Strategy<Value = OpportunityRecord> {
        (
            any::<bool>(),
            prop::option::of(1u64..4),
            prop::option::of("[a-z]{1,3}"),
            0i64..1000,
            prop::option::of(1u64..5),
        )
            .prop_map(|(active, stage, reason, cents, owner)| {
                let mut record = opportunity(owner, stage.unwrap_or(1), cents);
                record.active = active;
                record.stage_id = stage;
                record.lost_reason = reason;
                record
            })
    }

    proptest! {
        /// Whatever pipelog held, applying the planned events yields exactly what Odoo sent.
        #[test]
        fn applying_the_plan_reaches_the_fetched_record(old in arb_opportunity(), new in arb_opportunity()) {
            let mut model = ReadModel::default();
            model.apply(&envelope(1, Event::OpportunityCreated { id: 9, record: old.clone() }));
            for (i, event) in plan(Some(&old), &new).into_iter().enumerate() {
                model.apply(&envelope(i as u64 + 2, event));
            }
            prop_assert_eq!(model.opportunity(9), Some(&new));
        }
    }
}
