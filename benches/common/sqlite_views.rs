//! The SQLite peer's views, kept in the same transaction as its log, as pipelog keeps its own: a
//! denormalized opportunity row (the record as JSON, with its owner, stage and contribution), the
//! dashboard figures of every user over their whole reach (per currency and status, adjusted by
//! each change along the owner's manager chain), and a history row per opportunity version. The
//! reporting tree is the synthetic CRM's, known in advance (pipelog derives its own from the
//! events); records other than opportunities are kept as JSON rows.

use pipelog::domain::{Event, OdooId, OpportunityRecord};
use rusqlite::{OptionalExtension, Transaction, params};

use super::crm::{WON_STAGE, manager_of};

pub const SCHEMA: &str = "
    CREATE TABLE records (kind TEXT NOT NULL, id INTEGER NOT NULL, body BLOB NOT NULL, PRIMARY KEY (kind, id));
    CREATE TABLE opportunities (id INTEGER PRIMARY KEY, body BLOB NOT NULL, owner INTEGER, stage INTEGER,
        currency TEXT NOT NULL, status TEXT NOT NULL, value INTEGER NOT NULL, weighted INTEGER NOT NULL);
    CREATE INDEX opportunities_owner ON opportunities (owner);
    CREATE TABLE metrics (user INTEGER NOT NULL, currency TEXT NOT NULL, status TEXT NOT NULL,
        deals INTEGER NOT NULL, value INTEGER NOT NULL, weighted INTEGER NOT NULL,
        PRIMARY KEY (user, currency, status));
    CREATE TABLE history (opportunity INTEGER NOT NULL, position INTEGER NOT NULL, body BLOB NOT NULL,
        PRIMARY KEY (opportunity, position));";

/// What one opportunity adds to the figures of its owner's reach.
struct Contribution {
    owner: Option<OdooId>,
    currency: String,
    status: &'static str,
    value: i64,
    weighted: i64,
}

fn contribution(record: &OpportunityRecord) -> Contribution {
    let status = if !record.active {
        "lost"
    } else if record.stage_id == Some(WON_STAGE) {
        "won"
    } else {
        "open"
    };
    Contribution {
        owner: record.user_id,
        currency: record.currency.clone(),
        status,
        value: record.expected_revenue,
        weighted: if status == "open" {
            record.weighted_revenue()
        } else {
            0
        },
    }
}

/// The owner and every manager above them.
fn reach_of(owner: OdooId) -> impl Iterator<Item = OdooId> {
    std::iter::successors(Some(owner), |&user| manager_of(user))
}

fn add(txn: &Transaction, share: &Contribution, sign: i64) {
    let Some(owner) = share.owner else { return };
    let mut upsert = txn
        .prepare_cached(
            "INSERT INTO metrics VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (user, currency, status)
             DO UPDATE SET deals = deals + excluded.deals, value = value + excluded.value,
             weighted = weighted + excluded.weighted",
        )
        .expect("prepare");
    for user in reach_of(owner) {
        upsert
            .execute(params![
                user,
                share.currency,
                share.status,
                sign,
                sign * share.value,
                sign * share.weighted
            ])
            .expect("metrics");
    }
}

fn save(txn: &Transaction, id: OdooId, position: u64, record: &OpportunityRecord) {
    let body = serde_json::to_vec(record).expect("json");
    let share = contribution(record);
    txn.prepare_cached(
        "INSERT INTO opportunities VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT (id) DO UPDATE SET
         body = excluded.body, owner = excluded.owner, stage = excluded.stage, currency = excluded.currency,
         status = excluded.status, value = excluded.value, weighted = excluded.weighted",
    )
    .expect("prepare")
    .execute(params![
        id,
        body,
        record.user_id,
        record.stage_id,
        share.currency,
        share.status,
        share.value,
        share.weighted
    ])
    .expect("opportunity");
    txn.prepare_cached("INSERT INTO history VALUES (?1, ?2, ?3)")
        .expect("prepare")
        .execute(params![id, position, body])
        .expect("history");
    add(txn, &share, 1);
}

fn load(txn: &Transaction, id: OdooId) -> Option<OpportunityRecord> {
    let body: Option<Vec<u8>> = txn
        .prepare_cached("SELECT body FROM opportunities WHERE id = ?1")
        .expect("prepare")
        .query_row(params![id], |row| row.get(0))
        .optional()
        .expect("select");
    body.map(|body| serde_json::from_slice(&body).expect("a stored record"))
}

fn record(txn: &Transaction, kind: &str, id: OdooId, record: &impl serde::Serialize) {
    txn.prepare_cached("INSERT OR REPLACE INTO records VALUES (?1, ?2, ?3)")
        .expect("prepare")
        .execute(params![kind, id, serde_json::to_vec(record).expect("json")])
        .expect("record");
}

/// Applies one event of the synthetic log to the views.
pub fn apply(txn: &Transaction, position: u64, event: &Event) {
    let changed = |id: OdooId, change: &dyn Fn(&mut OpportunityRecord)| {
        let Some(mut current) = load(txn, id) else {
            return;
        };
        add(txn, &contribution(&current), -1);
        change(&mut current);
        save(txn, id, position, &current);
    };
    match event {
        Event::OpportunityCreated { id, record } => save(txn, *id, position, record),
        Event::OpportunityUpdated { id, changes } => changed(*id, &|record| {
            for change in changes {
                record
                    .apply_change(change)
                    .expect("a change of the right type");
            }
        }),
        Event::OpportunityAssigned { id, to, .. } => changed(*id, &|record| record.user_id = *to),
        Event::OpportunityArchived { id, lost_reason } => changed(*id, &|record| {
            record.active = false;
            record.lost_reason = lost_reason.clone();
        }),
        Event::OpportunityRestored { id } => changed(*id, &|record| record.active = true),
        Event::StageCreated { id, record: stage } => record(txn, "stage", *id, stage),
        Event::TeamCreated { id, record: team } => record(txn, "team", *id, team),
        Event::AccountCreated {
            id,
            record: account,
        } => record(txn, "account", *id, account),
        Event::UserCreated { id, record: user } => record(txn, "user", *id, user),
        Event::EmployeeCreated {
            id,
            record: employee,
        } => record(txn, "employee", *id, employee),
        other => panic!("the synthetic log has no {}", other.type_name()),
    }
}
