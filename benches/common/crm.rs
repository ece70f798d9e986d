//! The synthetic CRM and log of the scale benches: 2,000 users in a reporting tree, 100,000
//! opportunities, then random changes to them, deterministic from run to run.

use std::time::{Duration, Instant};

use pipelog::domain::{
    AccountRecord, EmployeeRecord, Event, FieldChange, LeadKind, NewEvent, OdooId,
    OpportunityRecord, StageRecord, TeamRecord, UserRecord,
};
use pipelog::store::{CommandBatch, Store};

pub const USERS: u64 = 2_000;
pub const OPPORTUNITIES: u64 = 100_000;
pub const ACCOUNTS: u64 = 20_000;
pub const BATCH: usize = 10_000;
pub const WON_STAGE: OdooId = 6;

/// A small deterministic generator (xorshift64*), so that every run measures the same data.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// The org chart: user 1 at the top, 4 VPs (~500 people each), 16 directors, 80 managers, the rest
/// sales reps. Returns each user's manager.
pub fn manager_of(user: OdooId) -> Option<OdooId> {
    match user {
        1 => None,
        2..=5 => Some(1),
        6..=21 => Some(2 + (user - 6) / 4),
        22..=101 => Some(6 + (user - 22) / 5),
        _ => Some(22 + (user - 102) % 80),
    }
}

pub fn setup_events() -> Vec<Event> {
    let mut events = Vec::new();
    for (id, name, sequence, is_won) in [
        (1, "New", 1, false),
        (2, "Qualified", 2, false),
        (3, "Proposition", 3, false),
        (4, "Negotiation", 4, false),
        (5, "Contract", 5, false),
        (WON_STAGE, "Won", 70, true),
    ] {
        events.push(Event::StageCreated {
            id,
            record: StageRecord {
                name: name.into(),
                sequence,
                is_won,
                fold: false,
                team_id: None,
            },
        });
    }
    for id in 1..=20 {
        events.push(Event::TeamCreated {
            id,
            record: TeamRecord {
                name: format!("Team {id}"),
                leader_id: None,
                active: true,
            },
        });
    }
    for id in 1..=ACCOUNTS {
        events.push(Event::AccountCreated {
            id,
            record: AccountRecord {
                name: format!("Account {id}"),
                city: Some(format!("City {}", id % 300)),
                country: Some("Belgium".into()),
                is_company: true,
                active: true,
            },
        });
    }
    for id in 1..=USERS {
        let email = format!("user{id}@example.com");
        events.push(Event::UserCreated {
            id,
            record: UserRecord {
                name: format!("User {id}"),
                login: email.clone(),
                email: Some(email.clone()),
                active: true,
                share: false,
                team_id: Some(1 + id % 20),
            },
        });
        events.push(Event::EmployeeCreated {
            id: id + 10_000,
            record: EmployeeRecord {
                name: format!("User {id}"),
                user_id: Some(id),
                manager_id: manager_of(id).map(|m| m + 10_000),
                work_email: Some(email),
                department: Some("Sales".into()),
                job_title: Some("Account Executive".into()),
                active: true,
            },
        });
    }
    events
}

pub fn opportunity(rng: &mut Rng) -> OpportunityRecord {
    OpportunityRecord {
        name: format!("Deal {}", rng.below(1_000_000)),
        kind: LeadKind::Opportunity,
        user_id: Some(22 + rng.below(USERS - 21)),
        team_id: Some(1 + rng.below(20)),
        account_id: Some(1 + rng.below(ACCOUNTS)),
        stage_id: Some(1 + rng.below(5)),
        expected_revenue: (1 + rng.below(200)) as i64 * 50_000,
        currency: if rng.below(10) == 0 {
            "EUR".into()
        } else {
            "USD".into()
        },
        probability: (10 * (1 + rng.below(9))) as f64,
        date_deadline: None,
        date_closed: None,
        active: true,
        lost_reason: None,
        prorated_revenue: None,
    }
}

pub fn change(field: &str, after: serde_json::Value) -> Vec<FieldChange> {
    vec![FieldChange {
        field: field.into(),
        before: serde_json::Value::Null,
        after,
    }]
}

pub fn update(rng: &mut Rng) -> Event {
    let id = 1 + rng.below(OPPORTUNITIES);
    match rng.below(10) {
        0..=3 => Event::OpportunityUpdated {
            id,
            changes: change("stage_id", serde_json::json!(1 + rng.below(6))),
        },
        4..=5 => Event::OpportunityUpdated {
            id,
            changes: change(
                "expected_revenue",
                serde_json::json!(rng.below(200) * 50_000),
            ),
        },
        6 => Event::OpportunityUpdated {
            id,
            changes: change("probability", serde_json::json!(rng.below(100) as f64)),
        },
        7 => Event::OpportunityAssigned {
            id,
            from: None,
            to: Some(22 + rng.below(USERS - 21)),
        },
        8 => Event::OpportunityArchived {
            id,
            lost_reason: None,
        },
        _ => Event::OpportunityRestored { id },
    }
}

/// The whole synthetic log, in batches of [`BATCH`] events.
pub fn log_batches(total: u64) -> impl Iterator<Item = Vec<Event>> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let setup = setup_events();
    let mut produced = 0u64;
    let mut next_opportunity = 1u64;
    let mut pending_setup = setup.into_iter();
    std::iter::from_fn(move || {
        if produced >= total {
            return None;
        }
        let mut batch = Vec::with_capacity(BATCH);
        while batch.len() < BATCH && produced < total {
            let event = if let Some(event) = pending_setup.next() {
                event
            } else if next_opportunity <= OPPORTUNITIES {
                next_opportunity += 1;
                Event::OpportunityCreated {
                    id: next_opportunity - 1,
                    record: opportunity(&mut rng),
                }
            } else {
                update(&mut rng)
            };
            batch.push(event);
            produced += 1;
        }
        Some(batch)
    })
}

pub fn append_log(store: &Store, total: u64) -> (u64, Duration) {
    let mut appended = 0u64;
    let started = Instant::now();
    for batch in log_batches(total) {
        appended += batch.len() as u64;
        store
            .append(CommandBatch::new(
                batch.into_iter().map(NewEvent::new).collect(),
            ))
            .expect("append");
    }
    (appended, started.elapsed())
}
