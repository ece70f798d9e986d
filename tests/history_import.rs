//! The real `pipelog` binary importing Odoo's change tracking from the simulated Odoo over
//! HTTP: a year of past on the first sync that replays, in time order, to Odoo's records; nothing
//! twice; one event per later change; gaps kept; a backlog read in bounded runs or at once.

mod support;

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;
use pipelog::demo::CrmOptions;
use pipelog::demo::crm::{Crm, obj};
use pipelog::domain::{Event, EventEnvelope, OpportunityRecord};
use pipelog::store::ReadOnlyStore;
use serde_json::{Value, json};
use support::{FakeServer, Pipelog, small_crm, text};

fn succeed(output: std::process::Output) -> String {
    let all = text(&output);
    assert!(output.status.success(), "{all}");
    all
}

/// Every event in the file, in log order.
fn log(pipelog: &Pipelog) -> Vec<EventEnvelope> {
    let store = ReadOnlyStore::open(pipelog.data()).expect("opens");
    let snapshot = store.read().expect("snapshot");
    let mut all = Vec::new();
    loop {
        let after = all.last().map_or(0, |e: &EventEnvelope| e.position);
        let page = snapshot.events_after(after, 10_000).expect("events");
        if page.is_empty() {
            return all;
        }
        all.extend(page);
    }
}

/// Each deal's events.
fn by_deal(log: &[EventEnvelope]) -> BTreeMap<u64, Vec<EventEnvelope>> {
    let mut deals: BTreeMap<u64, Vec<EventEnvelope>> = BTreeMap::new();
    for envelope in log {
        if let Some(id) = deal_of(&envelope.event) {
            deals.entry(id).or_default().push(envelope.clone());
        }
    }
    deals
}

fn deal_of(event: &Event) -> Option<u64> {
    match event {
        Event::OpportunityCreated { id, .. }
        | Event::OpportunityUpdated { id, .. }
        | Event::OpportunityArchived { id, .. }
        | Event::OpportunityRestored { id }
        | Event::OpportunityDeleted { id }
        | Event::OpportunityHistoryBegins { id, .. }
        | Event::OpportunityChangeRecorded { id, .. } => Some(*id),
        _ => None,
    }
}

/// One deal's state over time, the slow way: its events sorted by when they happened at the
/// source (a first read after the tracked changes of the same second), each applied in turn.
/// Returns the state before the first read and the final one.
fn replay_in_time_order(
    events: &[EventEnvelope],
) -> (Option<OpportunityRecord>, Option<OpportunityRecord>) {
    let mut sorted: Vec<&EventEnvelope> = events.iter().collect();
    sorted.sort_by_key(|e| {
        let snapshot = matches!(e.event, Event::OpportunityCreated { .. });
        (e.occurred_at(), snapshot, e.position)
    });
    let mut state: Option<OpportunityRecord> = None;
    let mut before_first_read = None;
    for envelope in sorted {
        match &envelope.event {
            Event::OpportunityHistoryBegins { record, .. } => state = Some(record.clone()),
            Event::OpportunityCreated { record, .. } => {
                before_first_read = state.take();
                state = Some(record.clone());
            }
            Event::OpportunityUpdated { changes, .. }
            | Event::OpportunityChangeRecorded { changes, .. } => {
                let record = state.as_mut().expect("a change after the deal began");
                for change in changes {
                    record.apply_change(change).expect("applies");
                }
            }
            Event::OpportunityArchived { lost_reason, .. } => {
                let record = state.as_mut().expect("exists");
                record.active = false;
                record.lost_reason = lost_reason.clone();
            }
            Event::OpportunityRestored { .. } => {
                let record = state.as_mut().expect("exists");
                record.active = true;
                record.lost_reason = None;
            }
            Event::OpportunityDeleted { .. } => state = None,
            _ => {}
        }
    }
    (before_first_read, state)
}

/// The tracked fields of a deal as pipelog holds them: stage, salesperson, team, customer,
/// expected revenue in cents, active, type.
type Tracked = (
    Option<u64>,
    Option<u64>,
    Option<u64>,
    Option<u64>,
    i64,
    bool,
    String,
);

fn tracked(record: &OpportunityRecord) -> Tracked {
    (
        record.stage_id,
        record.user_id,
        record.team_id,
        record.account_id,
        record.expected_revenue,
        record.active,
        format!("{:?}", record.kind).to_lowercase(),
    )
}

fn odoo_tracked(lead: &serde_json::Map<String, Value>) -> Tracked {
    (
        lead["stage_id"].as_u64(),
        lead["user_id"].as_u64(),
        lead["team_id"].as_u64(),
        lead["partner_id"].as_u64(),
        (lead["expected_revenue"].as_f64().unwrap_or(0.0) * 100.0).round() as i64,
        lead["active"] != json!(false),
        lead["type"].as_str().unwrap_or("lead").to_string(),
    )
}

/// The simulated Odoo's messages of leads that change a field pipelog holds, by id.
fn held_field_messages(crm: &Crm) -> BTreeSet<u64> {
    let fields = crm.table("ir.model.fields").expect("fields");
    let held = [
        "stage_id",
        "user_id",
        "team_id",
        "partner_id",
        "expected_revenue",
        "active",
        "lost_reason_id",
        "type",
    ];
    crm.table("mail.tracking.value")
        .expect("tracking")
        .values()
        .filter(|value| {
            value["field_id"]
                .as_u64()
                .and_then(|f| fields.get(&f))
                .and_then(|f| f["name"].as_str())
                .is_some_and(|name| held.contains(&name))
        })
        .filter_map(|value| value["mail_message_id"].as_u64())
        .collect()
}

fn recorded_messages(log: &[EventEnvelope]) -> Vec<u64> {
    log.iter()
        .filter_map(|e| match &e.event {
            Event::OpportunityChangeRecorded { message_id, .. } => Some(*message_id),
            _ => None,
        })
        .collect()
}

#[test]
fn the_first_sync_imports_a_year_of_odoo_s_past_that_replays_to_odoo_s_records() {
    let server = FakeServer::start(small_crm());
    // A stage changed behind Odoo's back (by SQL): no tracking value says so.
    let fixed = 5;
    {
        let mut crm = server.fake.crm();
        let lead = crm
            .tables
            .get_mut("crm.lead")
            .and_then(|t| t.get_mut(&fixed))
            .expect("lead");
        let stage = lead["stage_id"].as_u64().unwrap_or(1);
        lead.insert("stage_id".into(), json!(if stage == 3 { 2 } else { 3 }));
    }
    let pipelog = Pipelog::new(&server.url, "page_size = 40");
    let out = succeed(pipelog.sync(&[]));
    assert!(out.contains("importing Odoo's change history"), "{out}");
    let log = log(&pipelog);
    let deals = by_deal(&log);
    let crm = server.fake.crm();
    let leads = crm.table("crm.lead").expect("leads");
    assert_eq!(deals.len(), leads.len());

    // One event per tracked message that changes a field pipelog holds, each once.
    let recorded = recorded_messages(&log);
    let unique: BTreeSet<u64> = recorded.iter().copied().collect();
    assert_eq!(recorded.len(), unique.len(), "no message twice");
    assert_eq!(unique, held_field_messages(&crm));
    assert!(
        recorded.len() > leads.len(),
        "a year of past: {} changes",
        recorded.len()
    );

    let now = Timestamp::now();
    let mut oldest = now;
    for (id, events) in &deals {
        let lead = &leads[id];
        let (before_first_read, last) = replay_in_time_order(events);
        let last = last.expect("the deal exists");
        assert_eq!(tracked(&last), odoo_tracked(lead), "deal {id}");
        let begins = events
            .iter()
            .find(|e| matches!(e.event, Event::OpportunityHistoryBegins { .. }))
            .expect("where history begins");
        let created = lead["create_date"].as_str().expect("create_date");
        assert_eq!(
            begins
                .effective_at
                .map(|t| t.strftime("%Y-%m-%d %H:%M:%S").to_string()),
            Some(created.to_string()),
            "deal {id} begins at its creation"
        );
        oldest = oldest.min(begins.occurred_at());
        let Event::OpportunityHistoryBegins { gaps, .. } = &begins.event else {
            unreachable!()
        };
        let before = before_first_read.expect("a past before the first read");
        if *id == fixed {
            assert_eq!(gaps.len(), 1, "{gaps:?}");
            assert_eq!(gaps[0].field, "stage_id");
            assert_eq!(gaps[0].found, json!(lead["stage_id"]));
            assert_ne!(before.stage_id, last.stage_id, "the record wins");
        } else if gaps.is_empty() {
            // The tracked past leads exactly to what the sync read.
            assert_eq!(tracked(&before), tracked(&last), "deal {id}");
        }
    }
    let days = |t: Timestamp| now.duration_since(t).as_secs() / 86_400;
    assert!(
        (200..=366).contains(&days(oldest)),
        "history begins {} days ago",
        days(oldest)
    );
    drop(crm);

    // A second sync adds nothing.
    let before = by_deal(&self::log(&pipelog));
    succeed(pipelog.sync(&[]));
    assert_eq!(by_deal(&self::log(&pipelog)), before);
}

#[test]
fn a_change_in_odoo_after_the_first_sync_is_one_event_and_a_new_deal_brings_its_past() {
    let server = FakeServer::start(small_crm());
    let pipelog = Pipelog::new(&server.url, "page_size = 40");
    succeed(pipelog.sync(&[]));
    let deal = 7;
    let new_deal = {
        let mut crm = server.fake.crm();
        crm.advance_clock(std::time::Duration::from_secs(60));
        let stage = crm.table("crm.lead").expect("leads")[&deal]["stage_id"]
            .as_u64()
            .unwrap_or(1);
        crm.update(
            "crm.lead",
            deal,
            obj(json!({"stage_id": if stage == 2 { 3 } else { 2 }})),
        );
        let new_deal = crm.create(
            "crm.lead",
            obj(
                json!({"name": "Later deal", "type": "opportunity", "stage_id": 1, "user_id": 2,
                       "expected_revenue": 1000.0, "probability": 10.0, "active": true}),
            ),
        );
        crm.advance_clock(std::time::Duration::from_secs(60));
        crm.update(
            "crm.lead",
            new_deal,
            obj(json!({"expected_revenue": 2500.0})),
        );
        new_deal
    };
    let before = by_deal(&log(&pipelog));
    succeed(pipelog.sync(&[]));
    let after = by_deal(&log(&pipelog));
    let added = |id: u64| after[&id].len() - before.get(&id).map_or(0, Vec::len);
    assert_eq!(added(deal), 1, "{:?}", &after[&deal]);
    for (id, events) in &after {
        if *id != deal && *id != new_deal {
            assert_eq!(Some(events), before.get(id), "deal {id} did not change");
        }
    }
    let kinds: Vec<&str> = after[&new_deal]
        .iter()
        .map(|e| e.event.type_name())
        .collect();
    assert_eq!(
        kinds,
        [
            "OpportunityCreated",
            "OpportunityHistoryBegins",
            "OpportunityChangeRecorded"
        ],
        "its change before the first read is its past"
    );
    let (_, last) = replay_in_time_order(&after[&new_deal]);
    assert_eq!(last.map(|r| r.expected_revenue), Some(250_000));
}

#[test]
fn a_backlog_of_pasts_comes_in_bounded_runs_or_at_once_with_a_backfill() {
    let server = FakeServer::start(CrmOptions {
        opportunities: 30,
        ..small_crm()
    });
    let pipelog = Pipelog::new(&server.url, "page_size = 10\nhistory_deals_per_run = 15");
    succeed(pipelog.sync(&[]));
    let begun = |pipelog: &Pipelog| {
        pipelog.status()["events_by_type"]["OpportunityHistoryBegins"]
            .as_u64()
            .unwrap_or(0)
    };
    assert_eq!(begun(&pipelog), 30, "the first sync reads every past");
    {
        let mut crm = server.fake.crm();
        for n in 0..40 {
            crm.create(
                "crm.lead",
                obj(
                    json!({"name": format!("Imported {n}"), "type": "opportunity", "stage_id": 1,
                           "expected_revenue": 100.0, "probability": 10.0, "active": true}),
                ),
            );
        }
    }
    let out = succeed(pipelog.sync(&[]));
    assert_eq!(begun(&pipelog), 45);
    assert!(
        out.contains("the history of 25 deals is still to be read"),
        "{out}"
    );
    let status = pipelog.status();
    let warnings = status["last_sync"]["outcome"]["succeeded"]["warnings"].to_string();
    assert!(warnings.contains("--backfill-history"), "{status}");
    succeed(pipelog.sync(&["--backfill-history"]));
    assert_eq!(begun(&pipelog), 70);
    succeed(pipelog.sync(&[]));
    assert_eq!(begun(&pipelog), 70, "each deal's past once");
}
