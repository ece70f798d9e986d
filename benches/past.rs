//! History questions at scale, in process: 2,000 users in a reporting tree, 100,000 opportunities
//! and about 1,000,000 events spread over two years, appended through the store as syncs would
//! (in effective-time order, 10,000 events per transaction). For the top manager it times the
//! pipeline as of a date, a waterfall over a quarter, a 365-point daily trend and a year of
//! velocity, each against a naive replay of the log up to the moment (read every event, fold
//! those effective by then, sum the open pipeline in reach) in the same run. Also prints what the
//! history view adds to the file and to memory, and the append rate with it.
//!
//! `cargo bench --bench past`; `PIPELOG_BENCH_OPPORTUNITIES=N` and `PIPELOG_BENCH_EVENTS=N` shrink
//! it, `PIPELOG_BENCH_ROUNDS=N` sets the timed runs per question (default 9).

mod common;

use std::collections::HashMap;
use std::time::Instant;

use common::{bench, env_number};
use jiff::Timestamp;
use jiff::civil::Date;
use pipelog::auth::{Viewer, resolve_viewer};
use pipelog::domain::{
    EmployeeRecord, Event, EventEnvelope, LeadKind, NewEvent, OdooId, OpportunityRecord, Role,
    StageRecord, UserRecord,
};
use pipelog::projections::ViewTable;
use pipelog::projections::history::{Timeline, utc_day};
use pipelog::queries::history::{
    Every, RangeQuery, TrendQuery, WaterfallQuery, facts_as_of, trend, velocity, waterfall,
};
use pipelog::queries::{DashboardQuery, dashboard};
use pipelog::store::{CommandBatch, Snapshot, Store};

const DAY: i64 = 86_400;
const USERS: u64 = 2_000;
const WON: OdooId = 5;

/// A small deterministic generator (xorshift), so every run appends the same log.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn day_of(seconds: i64) -> Date {
    utc_day(Timestamp::from_second(seconds).expect("valid"))
}

/// The setup: stages, users in a tree of ten reports each under user 1, their employees, and a
/// login for the top manager.
fn setup() -> Vec<NewEvent> {
    let mut events = Vec::new();
    for (id, name, won) in [
        (1, "New", false),
        (2, "Qualified", false),
        (3, "Proposition", false),
        (4, "Negotiation", false),
        (WON, "Won", true),
    ] {
        events.push(Event::StageCreated {
            id,
            record: StageRecord {
                name: name.into(),
                sequence: id as i64,
                is_won: won,
                fold: false,
                team_id: None,
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
                email: Some(email),
                active: true,
                share: false,
                team_id: None,
            },
        });
        let manager = (id > 1).then(|| ((id - 2) / 10 + 1) * 10);
        events.push(Event::EmployeeCreated {
            id: id * 10,
            record: EmployeeRecord {
                name: format!("User {id}"),
                user_id: Some(id),
                manager_id: manager,
                work_email: None,
                department: None,
                job_title: None,
                active: true,
            },
        });
    }
    events.push(Event::UserRegistered {
        email: "user1@example.com".into(),
        name: "Top".into(),
        role: Role::Member,
        approved: true,
    });
    events.into_iter().map(NewEvent::new).collect()
}

/// The deals' lives: each created at a random moment of the two years, then changed at
/// increasing moments (stage moves forward and back, value changes, slipped closes,
/// reassignments, wins, losses, restores).
fn deals(opportunities: u64, events: u64, start: i64, random: &mut Random) -> Vec<(i64, Event)> {
    let per_deal = (events / opportunities.max(1)).max(1);
    let span = 730 * DAY;
    let mut log = Vec::with_capacity(events as usize);
    for id in 1..=opportunities {
        let mut at = start + random.below(span as u64 / 2) as i64;
        let mut record = OpportunityRecord {
            name: format!("Deal {id}"),
            kind: LeadKind::Opportunity,
            user_id: Some(1 + random.below(USERS)),
            team_id: Some(1 + random.below(5)),
            account_id: None,
            stage_id: Some(1),
            expected_revenue: 100 * (1_000 + random.below(90_000) as i64),
            currency: if random.below(3) == 0 { "EUR" } else { "USD" }.into(),
            probability: 20.0,
            date_deadline: Some(day_of(at + 60 * DAY)),
            date_closed: None,
            active: true,
            lost_reason: None,
            prorated_revenue: None,
        };
        log.push((
            at,
            Event::OpportunityCreated {
                id,
                record: record.clone(),
            },
        ));
        let mut made = 1;
        while made < per_deal {
            at += 1 + random.below(span as u64 / per_deal / 2) as i64;
            let before = record.clone();
            match random.below(10) {
                0..=2 => {
                    let stage = record.stage_id.unwrap_or(1);
                    record.stage_id = Some(if random.below(4) == 0 {
                        stage.saturating_sub(1).max(1)
                    } else {
                        (stage + 1).min(4)
                    });
                    record.probability = 20.0 * record.stage_id.unwrap_or(1) as f64;
                }
                3 | 4 => record.expected_revenue += 100 * (random.below(20_000) as i64 - 8_000),
                5 => {
                    record.date_deadline = record.date_deadline.and_then(|d| {
                        d.checked_add(jiff::Span::new().days(1 + random.below(45) as i64))
                            .ok()
                    })
                }
                6 => record.user_id = Some(1 + random.below(USERS)),
                7 => {
                    record.stage_id = Some(WON);
                    record.date_closed = Timestamp::from_second(at).ok();
                }
                8 => {
                    record.active = false;
                    record.lost_reason = Some("Price".into());
                }
                _ => {
                    record.active = true;
                    record.lost_reason = None;
                    if record.stage_id == Some(WON) {
                        record.stage_id = Some(3);
                        record.date_closed = None;
                    }
                }
            }
            let changes = before.changes_to(&record);
            // A move that changed nothing (a restore of an open deal) is drawn again.
            if !changes.is_empty() {
                log.push((at, Event::OpportunityUpdated { id, changes }));
                made += 1;
            }
        }
    }
    log.sort_by_key(|(at, _)| *at);
    log
}

/// The naive peer: every event of the log read and decoded, those effective by `at` folded into
/// each deal's record, and the open pipeline of the top manager's reach summed per currency.
fn naive_open_pipeline(
    snapshot: &Snapshot,
    at: Timestamp,
    reach: &[OdooId],
    won: OdooId,
) -> HashMap<String, (i64, i64)> {
    let mut deals: HashMap<OdooId, OpportunityRecord> = HashMap::new();
    let mut after = 0;
    let mut effective: Vec<EventEnvelope> = Vec::new();
    loop {
        let page = snapshot.events_after(after, 50_000).expect("events");
        let Some(last) = page.last() else { break };
        after = last.position;
        effective.extend(page.into_iter().filter(|e| e.occurred_at() <= at));
    }
    effective.sort_by_key(|e| {
        (
            e.occurred_at(),
            matches!(e.event, Event::OpportunityCreated { .. }),
            e.position,
        )
    });
    for envelope in effective {
        match envelope.event {
            Event::OpportunityCreated { id, record } => {
                deals.insert(id, record);
            }
            Event::OpportunityUpdated { id, changes } => {
                if let Some(record) = deals.get_mut(&id) {
                    for change in &changes {
                        let _ = record.apply_change(change);
                    }
                }
            }
            _ => {}
        }
    }
    let mut totals: HashMap<String, (i64, i64)> = HashMap::new();
    for record in deals.values() {
        let open =
            record.active && record.stage_id != Some(won) && record.kind == LeadKind::Opportunity;
        if open
            && record
                .user_id
                .is_some_and(|u| reach.binary_search(&u).is_ok())
        {
            let entry = totals.entry(record.currency.clone()).or_default();
            entry.0 += 1;
            entry.1 += record.expected_revenue;
        }
    }
    totals
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Runs `work` `rounds` times and returns the median in milliseconds.
fn timed<T>(rounds: usize, mut work: impl FnMut(usize) -> T) -> (f64, T) {
    let mut times = Vec::with_capacity(rounds);
    let mut last = None;
    for round in 0..rounds {
        let started = Instant::now();
        last = Some(work(round));
        times.push(started.elapsed().as_secs_f64() * 1_000.0);
    }
    (median(times), last.expect("at least one round"))
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn main() {
    let opportunities = env_number("PIPELOG_BENCH_OPPORTUNITIES", 100_000) as u64;
    let events = env_number("PIPELOG_BENCH_EVENTS", 1_000_000) as u64;
    let rounds = env_number("PIPELOG_BENCH_ROUNDS", 9).max(1);
    let now = Timestamp::now().as_second();
    let start = now - 730 * DAY;
    let mut random = Random(0x9e37_79b9_7f4a_7c15);
    let log = deals(opportunities, events, start, &mut random);
    println!(
        "# {USERS} users, {opportunities} opportunities, {} deal events over two years",
        log.len()
    );

    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("past.redb");
    let store = Store::open(&path).expect("store");
    store.append(CommandBatch::new(setup())).expect("setup");
    let appending = Instant::now();
    for chunk in log.chunks(10_000) {
        let batch = chunk
            .iter()
            .map(|(at, event)| {
                NewEvent::new(event.clone()).effective_at(Timestamp::from_second(*at).ok())
            })
            .collect();
        store.append(CommandBatch::new(batch)).expect("appends");
    }
    let append_seconds = appending.elapsed().as_secs_f64();
    bench(
        "past_append_events_per_second",
        log.len() as f64 / append_seconds,
        "events/s",
    );

    // The history view's own share of that: folding the same events into time lines alone.
    let folding = Instant::now();
    let mut timelines: HashMap<OdooId, Timeline> = HashMap::new();
    for (position, (at, event)) in log.iter().enumerate() {
        let envelope = EventEnvelope {
            position: position as u64 + 1,
            event_id: uuid::Uuid::nil(),
            schema_version: 1,
            aggregate_type: event.aggregate().kind,
            aggregate_id: String::new(),
            aggregate_version: 1,
            recorded_at: Timestamp::from_second(*at).expect("valid"),
            effective_at: None,
            metadata: Default::default(),
            event: event.clone(),
        };
        if let Some(id) = pipelog::projections::history::deal_of(event) {
            timelines
                .entry(id)
                .or_insert_with(|| Timeline::new(id))
                .record(&envelope);
        }
    }
    bench(
        "past_timeline_fold_events_per_second",
        log.len() as f64 / folding.elapsed().as_secs_f64(),
        "events/s",
    );
    drop(timelines);

    let file_bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    let snapshot = store.read().expect("read");
    let history_bytes: usize = snapshot
        .rows(ViewTable::OpportunityHistory)
        .expect("rows")
        .iter()
        .map(|(_, bytes)| bytes.len())
        .sum();
    bench("past_file_bytes", file_bytes as f64, "bytes");
    bench(
        "past_history_view_bytes_per_event",
        history_bytes as f64 / log.len() as f64,
        "bytes/event",
    );

    let viewer: Viewer = resolve_viewer(&snapshot, "user1@example.com")
        .expect("resolves")
        .expect("approved");
    let reach: Vec<OdooId> = snapshot
        .access(1)
        .expect("access")
        .map(|a| a.visible_users)
        .unwrap_or_default();
    let rss_before = rss_kib();
    let decoding = Instant::now();
    let held = snapshot.timelines().expect("timelines");
    bench(
        "past_first_question_decode_ms",
        decoding.elapsed().as_secs_f64() * 1_000.0,
        "ms",
    );
    let versions: usize = held.iter().map(|t| t.versions.len()).sum();
    bench(
        "past_decoded_memory_mib",
        (rss_kib().saturating_sub(rss_before)) as f64 / 1024.0,
        "MiB",
    );
    println!("# {} time lines, {versions} versions", held.len());

    let moment = |round: usize| {
        Timestamp::from_second(start + 200 * DAY + (round as i64 * 37 % 500) * DAY).expect("valid")
    };
    let (as_of_ms, report) = timed(rounds, |round| {
        dashboard(
            &snapshot,
            &viewer,
            &DashboardQuery {
                as_of: Some(moment(round)),
                ..DashboardQuery::default()
            },
        )
        .expect("dashboard")
    });
    bench("past_as_of_dashboard_ms", as_of_ms, "ms");
    let (facts_ms, _) = timed(rounds, |round| {
        facts_as_of(&snapshot, moment(round), false)
            .expect("facts")
            .facts
            .len()
    });
    bench("past_as_of_facts_ms", facts_ms, "ms");
    let (naive_ms, naive) = timed(3, |round| {
        naive_open_pipeline(&snapshot, moment(round * 3), &reach, WON)
    });
    bench("past_naive_replay_as_of_ms", naive_ms, "ms");
    bench("past_as_of_speedup", naive_ms / as_of_ms, "x");
    // Same answer as the naive replay, per currency, at the last moment both asked.
    let last = moment(6);
    let ours = dashboard(
        &snapshot,
        &viewer,
        &DashboardQuery {
            as_of: Some(last),
            ..DashboardQuery::default()
        },
    )
    .expect("dashboard");
    let naive_last = naive_open_pipeline(&snapshot, last, &reach, WON);
    for (currency, (count, cents)) in &naive_last {
        let figures = &ours.currencies[currency];
        assert_eq!(
            (figures.active_opportunities, figures.pipeline_cents),
            (*count, *cents),
            "as of {last} in {currency}"
        );
    }
    drop((report, naive));

    let quarter = |round: usize| {
        let to = moment(round);
        let from = to - jiff::SignedDuration::from_hours(24 * 7);
        let first = utc_day(to);
        WaterfallQuery {
            user: None,
            team: None,
            from,
            to,
            close_from: first,
            close_to: first.checked_add(jiff::Span::new().days(90)).expect("date"),
        }
    };
    let (waterfall_ms, _) = timed(rounds, |round| {
        waterfall(&snapshot, &viewer, &quarter(round)).expect("waterfall")
    });
    bench("past_waterfall_ms", waterfall_ms, "ms");
    bench(
        "past_waterfall_speedup_over_two_naive_replays",
        2.0 * naive_ms / waterfall_ms,
        "x",
    );

    let today = utc_day(Timestamp::now());
    let year_ago = today
        .checked_sub(jiff::Span::new().days(364))
        .expect("date");
    let (trend_ms, series) = timed(rounds, |_| {
        trend(
            &snapshot,
            &viewer,
            &TrendQuery {
                user: None,
                team: None,
                from: year_ago,
                to: today,
                every: Every::Day,
            },
        )
        .expect("trend")
    });
    let points = series.currencies.values().map(Vec::len).max().unwrap_or(0);
    bench("past_daily_trend_ms", trend_ms, "ms");
    bench("past_daily_trend_points", points as f64, "points");
    bench(
        "past_trend_speedup_over_naive_replays",
        points as f64 * naive_ms / trend_ms,
        "x",
    );

    let year = RangeQuery {
        user: None,
        team: None,
        from: Timestamp::from_second(now - 365 * DAY).expect("valid"),
        to: Timestamp::from_second(now).expect("valid"),
    };
    let (velocity_ms, speeds) = timed(rounds, |_| {
        velocity(&snapshot, &viewer, &year).expect("velocity")
    });
    bench("past_velocity_ms", velocity_ms, "ms");
    bench(
        "past_velocity_speedup_over_naive_replay",
        naive_ms / velocity_ms,
        "x",
    );
    println!(
        "# velocity: {} stages, sales cycle median {:?} days; open deals now {}",
        speeds.stages.len(),
        speeds.sales_cycle.median_days,
        ours.currencies
            .values()
            .map(|f| f.active_opportunities)
            .sum::<i64>()
    );
}
