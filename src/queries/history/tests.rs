//! History answers on random logs shaped like a sync's (a deal's past imported after its first
//! read, live changes in time order), checked against a brute-force replay of the events
//! effective up to each moment, for an admin and for managers whose reach is written out by hand.

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;
use jiff::civil::Date;
use proptest::prelude::*;

use super::*;
use crate::auth::{Viewer, resolve_viewer};
use crate::domain::samples::{employee, stage, user};
use crate::domain::{
    Cents, Event, EventEnvelope, LeadKind, NewEvent, OpportunityRecord, Role, TeamRecord,
};
use crate::queries::{DashboardQuery, dashboard};
use crate::store::{CommandBatch, Store};

const DAY: i64 = 86_400;
const START: i64 = 1_700_000_000;
const WON_STAGE: OdooId = 4;

/// Who each user reaches, by hand: 2 and 3 report to 1, 4 to 2; 5 stands alone; 6 owns deals but
/// pipelog holds no such user.
fn reach_of(user: OdooId) -> Vec<OdooId> {
    match user {
        1 => vec![1, 2, 3, 4],
        2 => vec![2, 4],
        other => vec![other],
    }
}

#[derive(Debug, Clone)]
enum Move {
    Revenue(i64),
    Deadline(Option<i64>),
    Probability(u8),
    Owner(Option<OdooId>),
    Team(Option<OdooId>),
    Stage(OdooId),
    Lost,
    Restored,
    Deleted,
}

fn arb_move() -> impl Strategy<Value = Move> {
    prop_oneof![
        3 => (1i64..9_000).prop_map(|v| Move::Revenue(v * 100 + 7)),
        2 => prop::option::of(0i64..500).prop_map(Move::Deadline),
        1 => (0u8..=100).prop_map(Move::Probability),
        2 => prop::option::of(1u64..7).prop_map(Move::Owner),
        1 => prop::option::of(1u64..3).prop_map(Move::Team),
        3 => (1u64..5).prop_map(Move::Stage),
        1 => Just(Move::Lost),
        1 => Just(Move::Restored),
        1 => Just(Move::Deleted),
    ]
}

/// One deal's life: created on `day`, its past (tracked moves) before the first read when it was
/// imported, and live moves after; gaps in hours.
#[derive(Debug, Clone)]
struct Deal {
    id: OdooId,
    day: i64,
    imported: bool,
    euro: bool,
    owner: Option<OdooId>,
    past: Vec<(i64, Move)>,
    live: Vec<(i64, Move, bool)>,
    /// Where the imported past lands in the log, after the first read.
    delay: usize,
}

fn arb_deal(id: OdooId) -> impl Strategy<Value = Deal> {
    (
        0i64..400,
        any::<bool>(),
        any::<bool>(),
        prop::option::of(1u64..7),
        prop::collection::vec((1i64..400, arb_move()), 0..5),
        prop::collection::vec((1i64..600, arb_move(), any::<bool>()), 0..6),
        0usize..40,
    )
        .prop_map(
            move |(day, imported, euro, owner, past, live, delay)| Deal {
                id,
                day,
                imported,
                euro,
                owner,
                past: past
                    .into_iter()
                    .filter(|(_, m)| {
                        !matches!(m, Move::Deleted | Move::Probability(_) | Move::Deadline(_))
                    })
                    .collect(),
                live,
                delay,
            },
        )
}

fn arb_deals() -> impl Strategy<Value = Vec<Deal>> {
    (1usize..10).prop_flat_map(|n| (1..=n as u64).map(arb_deal).collect::<Vec<_>>())
}

fn changes(record: &mut OpportunityRecord, step: &Move, at: i64) -> Event {
    let before = record.clone();
    match step {
        Move::Revenue(v) => record.expected_revenue = *v,
        Move::Deadline(days) => record.date_deadline = days.map(|d| day_of(START + d * DAY)),
        Move::Probability(p) => record.probability = f64::from(*p),
        Move::Owner(o) => record.user_id = *o,
        Move::Team(t) => record.team_id = *t,
        Move::Stage(s) => {
            record.stage_id = Some(*s);
            record.date_closed =
                (*s == WON_STAGE).then(|| Timestamp::from_second(at).expect("valid"));
        }
        Move::Lost => {
            record.active = false;
            record.lost_reason = Some("Price".into());
        }
        Move::Restored => {
            record.active = true;
            record.lost_reason = None;
        }
        Move::Deleted => return Event::OpportunityDeleted { id: 0 },
    }
    Event::OpportunityUpdated {
        id: 0,
        changes: before.changes_to(record),
    }
}

fn day_of(seconds: i64) -> Date {
    crate::projections::history::utc_day(Timestamp::from_second(seconds).expect("valid"))
}

fn with_id(event: Event, id: OdooId) -> Event {
    match event {
        Event::OpportunityUpdated { changes, .. } => Event::OpportunityUpdated { id, changes },
        Event::OpportunityDeleted { .. } => Event::OpportunityDeleted { id },
        other => other,
    }
}

/// Events at their effective seconds.
type Timed = Vec<(i64, Event)>;

/// The events of a log, each at its effective second, in the order a sync appends them.
fn log_of(deals: &[Deal]) -> Vec<(i64, Event)> {
    let mut live: Vec<(i64, OdooId, Event)> = Vec::new();
    let mut pasts: Vec<(OdooId, usize, Timed)> = Vec::new();
    for deal in deals {
        let created = START + deal.day * DAY;
        let mut record = OpportunityRecord {
            name: format!("Deal {}", deal.id),
            kind: LeadKind::Opportunity,
            user_id: deal.owner,
            team_id: Some(1),
            account_id: None,
            stage_id: Some(1),
            expected_revenue: 10_000 * deal.id as Cents,
            currency: if deal.euro { "EUR" } else { "USD" }.into(),
            probability: 40.0,
            date_deadline: Some(day_of(created + 60 * DAY)),
            date_closed: None,
            active: true,
            lost_reason: None,
            prorated_revenue: None,
        };
        let mut at = created;
        let mut past = Vec::new();
        if deal.imported {
            past.push((
                at,
                Event::OpportunityHistoryBegins {
                    id: deal.id,
                    record: record.clone(),
                    first_read_at: None,
                    gaps: Vec::new(),
                },
            ));
            for (hours, step) in &deal.past {
                at += hours * 3600;
                let Event::OpportunityUpdated { changes, .. } = changes(&mut record, step, at)
                else {
                    continue;
                };
                past.push((
                    at,
                    Event::OpportunityChangeRecorded {
                        id: deal.id,
                        changes,
                        message_id: at as u64,
                        author_id: None,
                        author: Some("Ann".into()),
                    },
                ));
            }
            at += 3600;
        }
        live.push((
            at,
            deal.id,
            Event::OpportunityCreated {
                id: deal.id,
                record: record.clone(),
            },
        ));
        for (hours, step, tracked) in &deal.live {
            at += hours * 3600;
            let event = with_id(changes(&mut record, step, at), deal.id);
            let deleted = matches!(event, Event::OpportunityDeleted { .. });
            let event = match event {
                Event::OpportunityUpdated { changes, .. } if *tracked => {
                    Event::OpportunityChangeRecorded {
                        id: deal.id,
                        changes,
                        message_id: at as u64,
                        author_id: None,
                        author: None,
                    }
                }
                other => other,
            };
            live.push((at, deal.id, event));
            if deleted {
                break;
            }
        }
        pasts.push((deal.id, deal.delay, past));
    }
    live.sort_by_key(|(at, id, _)| (*at, *id));
    let mut log: Vec<(i64, Event)> = live.into_iter().map(|(at, _, e)| (at, e)).collect();
    for (id, delay, past) in pasts {
        let read = log
            .iter()
            .position(|(_, e)| matches!(e, Event::OpportunityCreated { id: i, .. } if *i == id))
            .unwrap_or(0);
        let at = (read + 1 + delay).min(log.len());
        log.splice(at..at, past);
    }
    log
}

fn store_of(log: &[(i64, Event)]) -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(&dir.path().join("pipelog.redb")).expect("opens");
    let mut setup = vec![
        Event::StageCreated {
            id: 1,
            record: stage("New", 1, false),
        },
        Event::StageCreated {
            id: 2,
            record: stage("Qualified", 2, false),
        },
        Event::StageCreated {
            id: 3,
            record: stage("Proposal", 3, false),
        },
        Event::StageCreated {
            id: WON_STAGE,
            record: stage("Won", 4, true),
        },
        Event::TeamCreated {
            id: 1,
            record: TeamRecord {
                name: "East".into(),
                leader_id: None,
                active: true,
            },
        },
        Event::TeamCreated {
            id: 2,
            record: TeamRecord {
                name: "West".into(),
                leader_id: None,
                active: true,
            },
        },
        Event::UserRegistered {
            email: "admin@example.com".into(),
            name: "Admin".into(),
            role: Role::Admin,
            approved: true,
        },
    ];
    for id in 1..=5u64 {
        let email = format!("u{id}@example.com");
        setup.push(Event::UserCreated {
            id,
            record: user(&format!("User {id}"), &email),
        });
        let manager = match id {
            2 | 3 => Some(10),
            4 => Some(20),
            _ => None,
        };
        setup.push(Event::EmployeeCreated {
            id: id * 10,
            record: employee(&format!("User {id}"), Some(id), manager),
        });
        setup.push(Event::UserRegistered {
            email,
            name: format!("User {id}"),
            role: Role::Member,
            approved: true,
        });
    }
    store
        .append(CommandBatch::new(
            setup.into_iter().map(NewEvent::new).collect(),
        ))
        .expect("setup");
    for chunk in log.chunks(7) {
        let events = chunk
            .iter()
            .map(|(at, event)| {
                NewEvent::new(event.clone())
                    .effective_at(Some(Timestamp::from_second(*at).expect("valid")))
            })
            .collect();
        store.append(CommandBatch::new(events)).expect("appends");
    }
    (dir, store)
}

fn viewer(store: &Store, email: &str) -> Viewer {
    resolve_viewer(&store.read().expect("read"), email)
        .expect("resolves")
        .expect("approved")
}

/// A deal's facts as the brute force sees them: (id, status, owner, team, stage, currency,
/// value, weighted, expected close, closed on).
type Row = (
    OdooId,
    DealStatus,
    Option<OdooId>,
    Option<OdooId>,
    Option<OdooId>,
    String,
    Cents,
    Cents,
    Option<Date>,
    Option<Date>,
);

/// Replays only the events effective at or before `at`, in time order (a first read after the
/// tracked changes of its instant), the slow, obvious way.
fn brute_force(log: &[EventEnvelope], at: Timestamp) -> Vec<Row> {
    let mut events: Vec<&EventEnvelope> = log
        .iter()
        .filter(|e| deal_of_event(&e.event).is_some() && e.occurred_at() <= at)
        .collect();
    events.sort_by_key(|e| {
        (
            e.occurred_at(),
            matches!(e.event, Event::OpportunityCreated { .. }),
            e.position,
        )
    });
    let mut deals: BTreeMap<OdooId, (OpportunityRecord, bool)> = BTreeMap::new();
    for envelope in events {
        let Some(id) = deal_of_event(&envelope.event) else {
            continue;
        };
        match &envelope.event {
            Event::OpportunityHistoryBegins { record, .. } => {
                deals.insert(id, (record.clone(), false));
            }
            Event::OpportunityCreated { record, .. } => {
                deals.insert(id, (record.clone(), true));
            }
            Event::OpportunityUpdated { changes, .. }
            | Event::OpportunityChangeRecorded { changes, .. } => {
                if let Some((record, _)) = deals.get_mut(&id) {
                    for change in changes {
                        record.apply_change(change).expect("applies");
                    }
                }
            }
            Event::OpportunityDeleted { .. } => {
                deals.remove(&id);
            }
            _ => {}
        }
    }
    deals
        .into_iter()
        .map(|(id, (record, known))| {
            let status = if !record.active {
                DealStatus::Lost
            } else if record.stage_id == Some(WON_STAGE) {
                DealStatus::Won
            } else {
                DealStatus::Open
            };
            let weighted = if status == DealStatus::Open && known {
                crate::domain::prorated_cents(record.expected_revenue, record.probability)
            } else {
                0
            };
            (
                id,
                status,
                record.user_id.filter(|u| *u <= 5),
                record.team_id,
                record.stage_id,
                record.currency.clone(),
                record.expected_revenue,
                weighted,
                record.date_deadline.filter(|_| known),
                record.date_closed.map(crate::projections::history::utc_day),
            )
        })
        .collect()
}

fn deal_of_event(event: &Event) -> Option<OdooId> {
    crate::projections::history::deal_of(event)
}

fn rows_of(facts: &[OpportunityFact]) -> Vec<Row> {
    facts
        .iter()
        .map(|f| {
            (
                f.id,
                f.status,
                f.salesperson,
                f.team,
                f.stage,
                f.currency.to_string(),
                f.expected_revenue,
                f.weighted_revenue,
                f.date_deadline,
                f.closed_on,
            )
        })
        .collect()
}

fn log_envelopes(store: &Store) -> Vec<EventEnvelope> {
    store
        .read()
        .expect("read")
        .events_after(0, usize::MAX)
        .expect("events")
}

fn moments(log: &[(i64, Event)], picks: &[u16]) -> Vec<Timestamp> {
    let mut seconds: Vec<i64> = log.iter().map(|(at, _)| *at).collect();
    seconds.sort_unstable();
    let mut chosen = vec![START - DAY, START + 2_000 * DAY];
    for pick in picks {
        if let Some(&at) = seconds.get(usize::from(*pick) % seconds.len().max(1)) {
            chosen.extend([at - 1, at, at + 1]);
        }
    }
    chosen
        .into_iter()
        .map(|s| Timestamp::from_second(s).expect("valid"))
        .collect()
}

fn in_reach(user: Option<OdooId>, row: &Row) -> bool {
    user.is_none_or(|u| row.2.is_some_and(|owner| reach_of(u).contains(&owner)))
}

/// Per currency: count and value of open deals in reach expected to close in the window.
fn window_of(
    rows: &[Row],
    user: Option<OdooId>,
    window: (Date, Date),
) -> BTreeMap<String, (i64, Cents)> {
    let mut totals: BTreeMap<String, (i64, Cents)> = BTreeMap::new();
    for row in rows
        .iter()
        .filter(|r| in_reach(user, r) && r.1 == DealStatus::Open)
    {
        if row.8.is_some_and(|d| d >= window.0 && d <= window.1) {
            let entry = totals.entry(row.5.clone()).or_default();
            entry.0 += 1;
            entry.1 += row.6;
        }
    }
    totals
}

const VIEWERS: [(&str, Option<OdooId>); 4] = [
    ("admin@example.com", None),
    ("u1@example.com", Some(1)),
    ("u2@example.com", Some(2)),
    ("u5@example.com", Some(5)),
];

fn check_as_of(store: &Store, log: &[(i64, Event)], picks: &[u16]) -> Result<(), TestCaseError> {
    let envelopes = log_envelopes(store);
    let snapshot = store.read().expect("read");
    for at in moments(log, picks) {
        let expected = brute_force(&envelopes, at);
        let as_of = facts_as_of(&snapshot, at, false).expect("as of");
        prop_assert_eq!(rows_of(&as_of.facts), expected.clone(), "as of {}", at);
        for (email, user) in VIEWERS {
            let viewer = viewer(store, email);
            let report = dashboard(
                &snapshot,
                &viewer,
                &DashboardQuery {
                    as_of: Some(at),
                    ..DashboardQuery::default()
                },
            )
            .expect("dashboard");
            let mut want: BTreeMap<String, (i64, Cents, Cents)> = BTreeMap::new();
            for row in expected
                .iter()
                .filter(|r| in_reach(user, r) && r.1 == DealStatus::Open)
            {
                let entry = want.entry(row.5.clone()).or_default();
                entry.0 += 1;
                entry.1 += row.6;
                entry.2 += row.7;
            }
            let got: BTreeMap<String, (i64, Cents, Cents)> = report
                .currencies
                .iter()
                .map(|(c, f)| {
                    (
                        c.clone(),
                        (
                            f.active_opportunities,
                            f.pipeline_cents,
                            f.weighted_pipeline_cents,
                        ),
                    )
                })
                .filter(|(_, v)| *v != (0, 0, 0))
                .collect();
            prop_assert_eq!(got, want, "{} as of {}", email, at);
        }
    }
    Ok(())
}

/// Lists (pages and the CSV's rows) as of a moment and the activity feed hold only what was within
/// reach then: owned at that moment (for the feed, just before or just after the change) by
/// someone the viewer reaches now.
fn check_nothing_leaks(
    store: &Store,
    log: &[(i64, Event)],
    picks: &[u16],
) -> Result<(), TestCaseError> {
    let envelopes = log_envelopes(store);
    let snapshot = store.read().expect("read");
    for (email, user) in VIEWERS.into_iter().filter(|(_, user)| user.is_some()) {
        let viewer = viewer(store, email);
        for at in moments(log, picks) {
            let expected: Vec<OdooId> = brute_force(&envelopes, at)
                .into_iter()
                .filter(|row| in_reach(user, row))
                .map(|row| row.0)
                .collect();
            let filter = crate::queries::OpportunityFilter {
                as_of: Some(at),
                include_leads: true,
                per_page: 1_000,
                page: 1,
                ..crate::queries::OpportunityFilter::default()
            };
            let mut listed: Vec<OdooId> =
                crate::queries::list_opportunities(&snapshot, &viewer, &filter)
                    .expect("list")
                    .items
                    .iter()
                    .map(|o| o.id)
                    .collect();
            listed.sort_unstable();
            prop_assert_eq!(&listed, &expected, "{} lists as of {}", email, at);
            let mut exported: Vec<OdooId> =
                crate::queries::all_opportunities(&snapshot, &viewer, &filter)
                    .expect("csv rows")
                    .iter()
                    .map(|o| o.id)
                    .collect();
            exported.sort_unstable();
            prop_assert_eq!(&exported, &expected, "{} exports as of {}", email, at);
        }
        let feed = activity(
            &snapshot,
            &viewer,
            &ActivityQuery {
                user: None,
                own_only: false,
                page: 1,
                per_page: 500,
            },
        )
        .expect("feed");
        for item in &feed.items {
            let owned = |moment: Timestamp| {
                brute_force(&envelopes, moment)
                    .iter()
                    .any(|row| row.0 == item.opportunity_id && in_reach(user, row))
            };
            let just_before = item.at - jiff::SignedDuration::from_micros(1);
            prop_assert!(
                owned(item.at) || owned(just_before),
                "{} sees a change of deal {} at {}",
                email,
                item.opportunity_id,
                item.at
            );
        }
    }
    Ok(())
}

fn check_now_is_live(store: &Store) -> Result<(), TestCaseError> {
    let snapshot = store.read().expect("read");
    let later = Timestamp::from_second(START + 5_000 * DAY).expect("valid");
    for (email, _) in VIEWERS {
        let viewer = viewer(store, email);
        let live = dashboard(&snapshot, &viewer, &DashboardQuery::default()).expect("live");
        let past = dashboard(
            &snapshot,
            &viewer,
            &DashboardQuery {
                as_of: Some(later),
                ..DashboardQuery::default()
            },
        )
        .expect("as of");
        let strip = |value: serde_json::Value| {
            let text = value.to_string();
            let cleaned = text
                .replace(&format!("&as_of={}", urlencode(&later.to_string())), "")
                .replace(&format!("as_of={}&", urlencode(&later.to_string())), "")
                .replace(&format!("as_of={}", urlencode(&later.to_string())), "");
            serde_json::from_str::<serde_json::Value>(&cleaned).expect("json")
        };
        prop_assert_eq!(
            strip(json(&past.currencies)),
            json(&live.currencies),
            "{}",
            email
        );
        prop_assert_eq!(
            strip(json(&past.team_table)),
            json(&live.team_table),
            "{}",
            email
        );
    }
    Ok(())
}

fn json(value: &impl serde::Serialize) -> serde_json::Value {
    serde_json::to_value(value).expect("json")
}

fn urlencode(text: &str) -> String {
    text.replace(':', "%3A")
}

fn check_waterfall(
    store: &Store,
    log: &[(i64, Event)],
    picks: &[u16],
) -> Result<(), TestCaseError> {
    let envelopes = log_envelopes(store);
    let snapshot = store.read().expect("read");
    let times = moments(log, picks);
    for pair in times.windows(2) {
        let (from, to) = if pair[0] < pair[1] {
            (pair[0], pair[1])
        } else {
            (pair[1], pair[0])
        };
        if from == to {
            continue;
        }
        let window = (day_of(START + 30 * DAY), day_of(START + 300 * DAY));
        for (email, user) in VIEWERS {
            let viewer = viewer(store, email);
            let query = WaterfallQuery {
                user: None,
                team: None,
                from,
                to,
                close_from: window.0,
                close_to: window.1,
            };
            let report = waterfall(&snapshot, &viewer, &query).expect("waterfall");
            let opening = window_of(&brute_force(&envelopes, from), user, window);
            let closing = window_of(&brute_force(&envelopes, to), user, window);
            let currencies: BTreeSet<&String> = opening.keys().chain(closing.keys()).collect();
            for currency in currencies {
                let figures = report.currencies.get(currency).cloned().unwrap_or_default();
                let want_open = opening.get(currency).copied().unwrap_or_default();
                let want_close = closing.get(currency).copied().unwrap_or_default();
                prop_assert_eq!(
                    (figures.opening.count, figures.opening.value_cents),
                    want_open,
                    "opening {} {}",
                    email,
                    currency
                );
                prop_assert_eq!(
                    (figures.closing.count, figures.closing.value_cents),
                    want_close,
                    "closing {} {}",
                    email,
                    currency
                );
                let moved = figures
                    .movements
                    .iter()
                    .fold((0, 0), |(c, v), bar| (c + bar.count, v + bar.value_cents));
                prop_assert_eq!(
                    (want_open.0 + moved.0, want_open.1 + moved.1),
                    want_close,
                    "opening + movements = closing, {} {}",
                    email,
                    currency
                );
                for bar in figures
                    .movements
                    .iter()
                    .chain([&figures.opening, &figures.closing])
                {
                    let which = Bar::parse(&bar.bar).expect("a bar");
                    let deals = waterfall_deals(&snapshot, &viewer, &query, which, currency)
                        .expect("deals");
                    let listed = deals
                        .deals
                        .iter()
                        .fold((0, 0), |(c, v), d| (c + d.count, v + d.value_cents));
                    prop_assert_eq!(
                        listed,
                        (bar.count, bar.value_cents),
                        "{} {} {}",
                        bar.bar,
                        email,
                        currency
                    );
                    prop_assert_eq!((deals.count, deals.value_cents), listed);
                }
            }
        }
    }
    Ok(())
}

fn check_trend(store: &Store) -> Result<(), TestCaseError> {
    let envelopes = log_envelopes(store);
    let snapshot = store.read().expect("read");
    for every in [Every::Day, Every::Week, Every::Month] {
        let (from, to) = match every {
            Every::Day => (day_of(START + 20 * DAY), day_of(START + 80 * DAY)),
            _ => (day_of(START - 10 * DAY), day_of(START + 700 * DAY)),
        };
        for (email, user) in VIEWERS {
            let viewer = viewer(store, email);
            let report = trend(
                &snapshot,
                &viewer,
                &TrendQuery {
                    user: None,
                    team: None,
                    from,
                    to,
                    every,
                },
            )
            .expect("trend");
            for (currency, points) in &report.currencies {
                for point in points {
                    let rows = brute_force(&envelopes, point.at);
                    let mine = rows
                        .iter()
                        .filter(|r| in_reach(user, r) && &r.5 == currency);
                    let open = mine
                        .clone()
                        .filter(|r| r.1 == DealStatus::Open)
                        .fold((0, 0, 0), |(c, v, w), r| (c + 1, v + r.6, w + r.7));
                    let won = mine
                        .filter(|r| {
                            r.1 == DealStatus::Won
                                && r.9.is_some_and(|d| d >= point.start && d <= point.end)
                        })
                        .fold((0, 0), |(c, v), r| (c + 1, v + r.6));
                    prop_assert_eq!(
                        (point.open_count, point.open_cents, point.weighted_cents),
                        open,
                        "{} {} open at {}",
                        email,
                        currency,
                        point.at
                    );
                    prop_assert_eq!(
                        (point.won_count, point.won_cents),
                        won,
                        "{} {} won {}..{}",
                        email,
                        currency,
                        point.start,
                        point.end
                    );
                }
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    #[test]
    fn as_of_equals_a_replay_of_what_was_effective_then(deals in arb_deals(), picks in prop::collection::vec(any::<u16>(), 4)) {
        let log = log_of(&deals);
        let (_dir, store) = store_of(&log);
        check_as_of(&store, &log, &picks)?;
        check_now_is_live(&store)?;
        check_nothing_leaks(&store, &log, &picks)?;
    }

    #[test]
    fn the_waterfall_adds_up_and_every_bar_lists_its_deals(deals in arb_deals(), picks in prop::collection::vec(any::<u16>(), 3)) {
        let log = log_of(&deals);
        let (_dir, store) = store_of(&log);
        check_waterfall(&store, &log, &picks)?;
    }

    #[test]
    fn a_trend_point_equals_the_pipeline_as_of_its_instant(deals in arb_deals()) {
        let log = log_of(&deals);
        let (_dir, store) = store_of(&log);
        check_trend(&store)?;
    }

    #[test]
    fn history_does_not_depend_on_the_order_events_arrived_in(deals in arb_deals(), seed in any::<u64>(), picks in prop::collection::vec(any::<u16>(), 4)) {
        let log = log_of(&deals);
        let mut shuffled = log.clone();
        // A deterministic shuffle from the seed: any arrival order must give the same past.
        let mut state = seed | 1;
        for i in (1..shuffled.len()).rev() {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            shuffled.swap(i, (state % (i as u64 + 1)) as usize);
        }
        let (_a, first) = store_of(&log);
        let (_b, second) = store_of(&shuffled);
        let (one, other) = (first.read().expect("read"), second.read().expect("read"));
        for at in moments(&log, &picks) {
            let a = facts_as_of(&one, at, false).expect("as of");
            let b = facts_as_of(&other, at, false).expect("as of");
            prop_assert_eq!(rows_of(&a.facts), rows_of(&b.facts), "as of {}", at);
        }
    }
}

/// One deal by hand: created in New (day 0, closing day 60), to Qualified (day 10), closing
/// slips to day 90 (day 20) and to day 100 (day 30), back to New (day 40), to Qualified (day 45),
/// won (day 50). A second deal stays untouched in Proposal since day 5.
fn walked_log() -> Timed {
    let at = |day: i64| START + day * DAY;
    let mut record = OpportunityRecord {
        name: "Walked".into(),
        kind: LeadKind::Opportunity,
        user_id: Some(4),
        team_id: Some(1),
        account_id: None,
        stage_id: Some(1),
        expected_revenue: 500_000,
        currency: "USD".into(),
        probability: 50.0,
        date_deadline: Some(day_of(at(60))),
        date_closed: None,
        active: true,
        lost_reason: None,
        prorated_revenue: None,
    };
    let mut log = vec![(
        at(0),
        Event::OpportunityCreated {
            id: 1,
            record: record.clone(),
        },
    )];
    for (day, step) in [
        (10, Move::Stage(2)),
        (20, Move::Deadline(Some(90))),
        (30, Move::Deadline(Some(100))),
        (40, Move::Stage(1)),
        (45, Move::Stage(2)),
        (50, Move::Stage(WON_STAGE)),
    ] {
        log.push((at(day), with_id(changes(&mut record, &step, at(day)), 1)));
    }
    let mut idle = record.clone();
    idle.stage_id = Some(3);
    idle.date_closed = None;
    idle.date_deadline = Some(day_of(at(20)));
    idle.name = "Idle".into();
    log.insert(
        1,
        (
            at(5),
            Event::OpportunityCreated {
                id: 2,
                record: idle,
            },
        ),
    );
    log
}

/// Entered, moved on, went back, won, still there, median days in the stage.
type StageOutcome = (u64, u64, u64, u64, u64, Option<f64>);

#[test]
fn slips_stale_deals_and_velocity_follow_the_deal_s_walk() {
    let log = walked_log();
    let (_dir, store) = store_of(&log);
    let snapshot = store.read().expect("read");
    let at = |day: i64| Timestamp::from_second(START + day * DAY).expect("valid");
    for (email, sees) in [
        ("admin@example.com", true),
        ("u2@example.com", true),
        ("u5@example.com", false),
    ] {
        let viewer = viewer(&store, email);
        let slips = slipped(
            &snapshot,
            &viewer,
            &RangeQuery {
                user: None,
                team: None,
                from: at(-1),
                to: at(70),
            },
        )
        .expect("slipped");
        let people: Vec<(Option<OdooId>, u64, u64, i64)> = slips
            .people
            .iter()
            .map(|p| (p.user_id, p.deals, p.slips, p.days))
            .collect();
        let overdue: Vec<OdooId> = slips.overdue.iter().map(|d| d.id).collect();
        if sees {
            assert_eq!(
                people,
                vec![(Some(4), 1, 2, 40)],
                "{email}: two slips, 30 + 10 days"
            );
            assert_eq!(
                overdue,
                vec![2],
                "{email}: the idle deal's close (day 20) has passed by day 70"
            );
        } else {
            assert!(
                people.is_empty() && overdue.is_empty(),
                "{email} sees nothing of user 4's deals"
            );
        }

        let rules = StaleRules {
            days: 30,
            by_stage: [("proposal".to_string(), 90)].into(),
        };
        let stale_at = |day: i64| {
            stale(
                &snapshot,
                &viewer,
                &StaleQuery {
                    user: None,
                    team: None,
                    now: at(day),
                },
                &rules,
            )
            .expect("stale")
            .deals
            .iter()
            .map(|d| (d.id, d.days_without_change))
            .collect::<Vec<_>>()
        };
        assert_eq!(
            stale_at(60),
            Vec::<(OdooId, i64)>::new(),
            "{email}: Proposal allows 90 days"
        );
        assert_eq!(
            stale_at(95),
            if sees { vec![(2, 90)] } else { Vec::new() },
            "{email}"
        );

        let velocity_to = |day: i64| {
            let report = velocity(
                &snapshot,
                &viewer,
                &RangeQuery {
                    user: None,
                    team: None,
                    from: at(-1),
                    to: at(day),
                },
            )
            .expect("velocity");
            let by_stage: BTreeMap<OdooId, StageOutcome> = report
                .stages
                .iter()
                .map(|s| {
                    (
                        s.stage_id,
                        (
                            s.entered,
                            s.moved_on,
                            s.went_back,
                            s.won,
                            s.still_there,
                            s.time_in_stage.median_days,
                        ),
                    )
                })
                .collect();
            (report, by_stage)
        };
        let (report, by_stage) = velocity_to(70);
        if sees {
            // New: entered twice (day 0, day 40), moved on twice, stays of 10 and 5 days.
            assert_eq!(
                by_stage.get(&1),
                Some(&(2, 2, 0, 0, 0, Some(7.5))),
                "{email}"
            );
            // Qualified: entered twice, went back once, won once; stays of 30 and 5 days.
            assert_eq!(
                by_stage.get(&2),
                Some(&(2, 0, 1, 1, 0, Some(17.5))),
                "{email}"
            );
            assert_eq!(
                by_stage.get(&3),
                Some(&(1, 0, 0, 0, 1, None)),
                "{email}: still in Proposal"
            );
            assert_eq!(report.sales_cycle.median_days, Some(50.0));
            // A range that ends on day 42, back in New: what came after does not count.
            let (until_42, outcome) = velocity_to(42);
            assert_eq!(
                outcome.get(&1),
                Some(&(2, 1, 0, 0, 1, Some(10.0))),
                "{email}: New again on day 40, still there on day 42"
            );
            assert_eq!(
                outcome.get(&2),
                Some(&(1, 0, 1, 0, 0, Some(30.0))),
                "{email}"
            );
            assert_eq!(until_42.sales_cycle.count, 0, "{email}: won on day 50");
            let months = &report.win_rate["USD"];
            assert_eq!(
                (
                    months.len(),
                    months[0].won_count,
                    months[0].win_rate_by_count
                ),
                (1, 1, Some(1.0))
            );
        } else {
            assert!(
                report.stages.is_empty() && report.sales_cycle.count == 0,
                "{email}"
            );
        }
    }
}

#[test]
fn a_date_reads_as_the_end_of_its_day_and_a_range_starts_at_its_beginning() {
    let at = |text: &str| text.parse::<Timestamp>().expect("valid");
    assert_eq!(
        parse_moment("2026-03-01"),
        Some(at("2026-03-01T23:59:59.999999Z"))
    );
    assert_eq!(
        parse_range_start("2026-03-01"),
        Some(at("2026-02-28T23:59:59.999999Z"))
    );
    assert_eq!(
        parse_moment("2026-03-01T10:00:00Z"),
        Some(at("2026-03-01T10:00:00Z"))
    );
    assert_eq!(
        parse_range_start("2026-03-01T10:00:00Z"),
        Some(at("2026-03-01T10:00:00Z"))
    );
    assert_eq!(parse_moment("yesterday"), None);
    assert_eq!(parse_moment("2026-02-30"), None);
}
