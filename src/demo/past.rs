//! The simulated CRM's past: up to a year of changes to every generated lead, as Odoo's chatter
//! keeps them. Its last days can be held back, to happen as the server's clock passes them
//! ([`Crm::play_until`]): a client that syncs along the way (the demo's pipelog) then knows that
//! part as if it had been running, including what Odoo never tracks (probability, expected close).

use std::collections::VecDeque;

use jiff::civil::Date;
use serde_json::{Value, json};

use super::crm::{Crm, Record, WON_STAGE, format_datetime};
use super::search::parse_datetime_micros;

const DAY: i64 = 86_400_000_000;

/// A change to a lead held back until the clock passes it.
#[derive(Debug, Clone)]
pub(super) struct HeldBack {
    at: i64,
    lead: u64,
    /// The lead as it was (`None`: it is created then) and as it becomes.
    before: Option<Record>,
    after: Record,
}

/// Held-back changes in the order they happen.
pub(super) type HeldBackChanges = VecDeque<HeldBack>;

/// Odoo's default probability of a stage, as the generated leads have it.
fn stage_probability(stage: u64) -> f64 {
    if stage >= WON_STAGE {
        100.0
    } else {
        [10.0, 30.0, 60.0][(stage.max(1) - 1) as usize % 3]
    }
}

/// A lead's expected close, if it has one.
fn deadline_of(record: &Record) -> Option<Date> {
    record
        .get("date_deadline")
        .and_then(Value::as_str)
        .and_then(|text| text.parse::<Date>().ok())
}

/// An amount as sales people quote it: a multiple of 500, at least 500.
fn in_steps_of_500(amount: f64) -> f64 {
    (amount / 500.0).round().max(1.0) * 500.0
}

impl Crm {
    /// Gives every generated lead a past: created some time in the last year, then stage moves
    /// forward and back, value changes, reassignments, conversions, lost-then-restored episodes
    /// and expected closes that slip, ending in the lead as generated (won or lost at its closing
    /// date). About one lead in fifty has its last stage change made without tracking, like a fix
    /// by SQL. With `held_back_days`, what falls in those last days is held back and the clock
    /// set back to where they begin.
    pub(super) fn generate_past(&mut self) {
        let changes = self.options.history_changes;
        if changes == 0 {
            return;
        }
        let now = self.generated_at;
        let cutoff = (self.options.held_back_days > 0)
            .then(|| now - i64::from(self.options.held_back_days) * DAY);
        let (salespeople, teams) = (self.salespeople(), self.tables["crm.team"].len() as u64);
        let leads: Vec<u64> = self.tables["crm.lead"].keys().copied().collect();
        let mut held = Vec::new();
        for lead in leads {
            let current = self.tables["crm.lead"][&lead].clone();
            let closed = current
                .get("date_closed")
                .and_then(Value::as_str)
                .and_then(parse_datetime_micros);
            let end = closed.unwrap_or(now - self.rng.below(7) as i64 * DAY - 3_600_000_000);
            let start = (end - (7 + self.rng.below(300)) as i64 * DAY).max(now - 365 * DAY);
            let start = start.min(end - DAY);
            let history = self.walk(&current, start, end, changes, &salespeople, teams);
            match cutoff {
                Some(cutoff) if end > cutoff => {
                    self.hold_back(lead, start, cutoff, history, &mut held)
                }
                _ => {
                    for (at, before, after) in &history {
                        self.track_as_owner(lead, before, after, *at);
                    }
                    self.date_lead(lead, start, end);
                }
            }
        }
        held.sort_by_key(|change| change.at);
        self.held_back = held.into();
        if let Some(cutoff) = cutoff {
            self.set_clock(cutoff);
        }
    }

    /// A lead's walk from `start` to `end`: each change as (when, before, after), the first
    /// change's `before` the lead as created, the last change's `after` the lead as generated.
    fn walk(
        &mut self,
        current: &Record,
        start: i64,
        end: i64,
        changes: u32,
        salespeople: &[u64],
        teams: u64,
    ) -> Vec<(i64, Record, Record)> {
        let mut state = current.clone();
        state.insert("stage_id".into(), json!(1));
        state.insert("probability".into(), json!(stage_probability(1)));
        state.insert("automated_probability".into(), json!(stage_probability(1)));
        state.insert("active".into(), json!(true));
        state.insert("lost_reason_id".into(), Value::Null);
        state.insert("date_closed".into(), Value::Null);
        // The expected close first given, up to ten weeks before the one it ends at: the walk's
        // slips and pulls move it from there, and the last change lands on the generated one.
        if let Some(last) = deadline_of(current) {
            let earlier = -(self.rng.below(71) as i64);
            let first = last.saturating_add(jiff::Span::new().days(earlier));
            state.insert("date_deadline".into(), json!(first.to_string()));
        }
        if current.get("type") == Some(&json!("opportunity")) && self.rng.chance(30) {
            state.insert("type".into(), json!("lead"));
        }
        if self.rng.chance(50) {
            let revenue = current["expected_revenue"].as_f64().unwrap_or(0.0);
            let factor = 0.6 + self.rng.below(80) as f64 / 100.0;
            state.insert(
                "expected_revenue".into(),
                json!(in_steps_of_500(revenue * factor)),
            );
        }
        if !salespeople.is_empty() && self.rng.chance(20) {
            state.insert("user_id".into(), json!(*self.rng.pick(salespeople)));
            state.insert("team_id".into(), json!(1 + self.rng.below(teams.max(1))));
        }
        let steps = self.rng.below(2 * changes as u64 + 1) as usize;
        let mut times: Vec<i64> = (0..steps)
            .map(|_| start + 1 + self.rng.below((end - start - 1).max(1) as u64) as i64)
            .collect();
        times.sort_unstable();
        let mut history = Vec::new();
        for at in times {
            let before = state.clone();
            self.random_step(&mut state, salespeople, teams, at);
            history.push((at, before, state.clone()));
        }
        let mut last = state.clone();
        for (key, value) in current {
            last.insert(key.clone(), value.clone());
        }
        if self.rng.chance(2) {
            // The last stage change left no trace in the chatter.
            state.insert("stage_id".into(), current["stage_id"].clone());
        }
        history.push((end, state, last));
        history
    }

    /// Keeps what happened to `lead` up to `cutoff` (in its record and its chatter) and holds
    /// the rest back; a lead created after `cutoff` does not exist yet.
    fn hold_back(
        &mut self,
        lead: u64,
        start: i64,
        cutoff: i64,
        history: Vec<(i64, Record, Record)>,
        held: &mut Vec<HeldBack>,
    ) {
        let Some(created) = history.first().map(|(_, before, _)| before.clone()) else {
            return;
        };
        let mut record = None;
        if start > cutoff {
            if let Some(table) = self.tables.get_mut("crm.lead") {
                table.remove(&lead);
            }
            held.push(HeldBack {
                at: start,
                lead,
                before: None,
                after: created,
            });
        } else {
            record = Some((start, created));
        }
        for (at, before, after) in history {
            if at <= cutoff {
                self.track_as_owner(lead, &before, &after, at);
                record = Some((at, after));
            } else {
                held.push(HeldBack {
                    at,
                    lead,
                    before: Some(before),
                    after,
                });
            }
        }
        if let Some((written, state)) = record {
            if let Some(stored) = self
                .tables
                .get_mut("crm.lead")
                .and_then(|t| t.get_mut(&lead))
            {
                *stored = state;
            }
            self.date_lead(lead, start, written);
        }
    }

    /// Makes every held-back change due by `until` happen, each at its own time, and moves the
    /// clock on to `until` (never past the real one). Returns how many happened.
    pub fn play_until(&mut self, until: jiff::Timestamp) -> usize {
        let until = until.as_microsecond();
        let mut played = 0;
        while let Some(change) = self.held_back.pop_front() {
            if change.at > until {
                self.held_back.push_front(change);
                break;
            }
            self.last_write_micros = self.last_write_micros.max(change.at);
            let Some(table) = self.tables.get_mut("crm.lead") else {
                break;
            };
            let created = table
                .get(&change.lead)
                .and_then(|held| held.get("create_date"))
                .cloned()
                .unwrap_or_else(|| json!(format_datetime(change.at)));
            let mut after = change.after;
            after.insert("id".into(), json!(change.lead));
            after.insert("create_date".into(), created);
            after.insert("__write_micros".into(), json!(change.at));
            table.insert(change.lead, after.clone());
            if let Some(before) = change.before {
                self.track_as_owner(change.lead, &before, &after, change.at);
            }
            played += 1;
        }
        if until > self.now().as_microsecond() {
            self.set_clock(until);
        }
        played
    }

    /// When the next held-back change happens, if any is left.
    #[cfg(test)]
    fn next_held_back(&self) -> Option<jiff::Timestamp> {
        self.held_back
            .front()
            .and_then(|change| jiff::Timestamp::from_microsecond(change.at).ok())
    }

    /// Records a change in the chatter as written by the lead's salesperson.
    fn track_as_owner(&mut self, lead: u64, before: &Record, after: &Record, at: i64) {
        let author = self.partner_of(after.get("user_id").and_then(Value::as_u64));
        self.track(lead, before, after, at, author);
    }

    fn date_lead(&mut self, lead: u64, created: i64, written: i64) {
        if let Some(record) = self
            .tables
            .get_mut("crm.lead")
            .and_then(|t| t.get_mut(&lead))
        {
            record.insert("create_date".into(), json!(format_datetime(created)));
            record.insert("__write_micros".into(), json!(written));
        }
    }

    /// One change a salesperson makes to an open deal at `at`.
    fn random_step(&mut self, state: &mut Record, salespeople: &[u64], teams: u64, at: i64) {
        let stage = state["stage_id"].as_u64().unwrap_or(1);
        let open = state["active"] == json!(true);
        match self.rng.below(100) {
            0..=39 => {
                // Forward mostly, sometimes back; never to won before the end.
                let next = if stage > 1 && self.rng.chance(25) {
                    stage - 1
                } else {
                    (stage + 1).min(WON_STAGE - 1)
                };
                state.insert("stage_id".into(), json!(next));
                if open {
                    state.insert("probability".into(), json!(stage_probability(next)));
                    state.insert(
                        "automated_probability".into(),
                        json!(stage_probability(next)),
                    );
                }
            }
            40..=60 => {
                let revenue = state["expected_revenue"].as_f64().unwrap_or(500.0);
                let factor = 0.7 + self.rng.below(60) as f64 / 100.0;
                state.insert(
                    "expected_revenue".into(),
                    json!(in_steps_of_500(revenue * factor)),
                );
            }
            61..=72 if !salespeople.is_empty() => {
                state.insert("user_id".into(), json!(*self.rng.pick(salespeople)));
                state.insert("team_id".into(), json!(1 + self.rng.below(teams.max(1))));
            }
            73..=77 => {
                state.insert("active".into(), json!(!open));
                let reason = (open && self.rng.chance(50)).then(|| 1 + self.rng.below(3));
                state.insert("lost_reason_id".into(), json!(reason));
                let (probability, closed) = if open {
                    (0.0, json!(format_datetime(at)))
                } else {
                    (stage_probability(stage), Value::Null)
                };
                state.insert("probability".into(), json!(probability));
                state.insert("date_closed".into(), closed);
            }
            78..=91 => {
                // The expected close slips, mostly later, sometimes earlier.
                if let Some(deadline) = deadline_of(state).filter(|_| open) {
                    let days = if self.rng.chance(70) {
                        7 + self.rng.below(24) as i64
                    } else {
                        -(7 + self.rng.below(8) as i64)
                    };
                    let moved = deadline.saturating_add(jiff::Span::new().days(days));
                    state.insert("date_deadline".into(), json!(moved.to_string()));
                }
            }
            _ => {
                state.insert("type".into(), json!("opportunity"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use jiff::{SignedDuration, Timestamp};

    use super::*;
    use crate::demo::CrmOptions;

    /// The same CRM twice, its past given at once and with its last `days` held back.
    fn twins(days: u32) -> (Crm, Crm) {
        let present = Crm::generate_present(CrmOptions {
            opportunities: 150,
            ..CrmOptions::default()
        });
        let finish = |held_back_days: u32| {
            let mut crm = present.clone();
            crm.options.held_back_days = held_back_days;
            crm.generate_past();
            crm.generating = false;
            crm
        };
        (finish(0), finish(days))
    }

    /// Every tracking message as (lead, date, author, its values without ids), sorted.
    fn chatter(crm: &Crm) -> Vec<(u64, String, Value, Vec<Record>)> {
        let values = &crm.tables["mail.tracking.value"];
        let mut messages: Vec<_> = crm.tables["mail.message"]
            .values()
            .map(|message| {
                let mut tracked: Vec<Record> = message["tracking_value_ids"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|id| values.get(&id.as_u64()?))
                    .map(|value| {
                        let mut value = value.clone();
                        value.remove("id");
                        value.remove("mail_message_id");
                        value
                    })
                    .collect();
                tracked.sort_by_key(|value| value["field_id"].as_u64());
                (
                    message["res_id"].as_u64().unwrap_or(0),
                    message["date"].as_str().unwrap_or("").to_string(),
                    message["author_id"].clone(),
                    tracked,
                )
            })
            .collect();
        messages.sort_by(|a, b| {
            (a.0, &a.1)
                .cmp(&(b.0, &b.1))
                .then(a.3.len().cmp(&b.3.len()))
        });
        messages
    }

    fn written(record: &Record) -> i64 {
        record["__write_micros"].as_i64().unwrap_or(i64::MAX)
    }

    #[test]
    fn a_past_held_back_then_played_a_week_at_a_time_ends_as_the_past_given_at_once() {
        let (whole, mut held) = twins(90);
        let cutoff = held.now().as_microsecond();
        let ninety_days_ago = Timestamp::now() - SignedDuration::from_hours(24 * 90);
        assert!((cutoff - ninety_days_ago.as_microsecond()).abs() < 60_000_000);
        assert!(held.tables["crm.lead"].len() < whole.tables["crm.lead"].len());
        assert!(
            held.tables["crm.lead"]
                .values()
                .all(|lead| written(lead) <= cutoff),
            "nothing after the clock has happened"
        );
        let before_cutoff: Vec<_> = chatter(&whole)
            .into_iter()
            .filter(|message| parse_datetime_micros(&message.1).is_some_and(|at| at <= cutoff))
            .collect();
        assert_eq!(chatter(&held), before_cutoff, "the chatter up to the clock");

        let mut at = held.now();
        let mut played = 0;
        while held.next_held_back().is_some() {
            at = (at + SignedDuration::from_hours(24 * 7)).min(Timestamp::now());
            let due = held
                .held_back
                .iter()
                .filter(|c| c.at <= at.as_microsecond())
                .count();
            assert_eq!(held.play_until(at), due);
            played += due;
            assert!(held.now() >= at - SignedDuration::from_secs(1));
            assert!(
                held.tables["crm.lead"]
                    .values()
                    .all(|lead| written(lead) <= at.as_microsecond())
            );
        }
        assert!(played > 0);
        assert_eq!(held.tables["crm.lead"], whole.tables["crm.lead"]);
        assert_eq!(chatter(&held), chatter(&whole));
        assert!((Timestamp::now() - held.now()).abs() < SignedDuration::from_secs(60));
    }

    #[test]
    fn the_watched_past_moves_expected_closes_both_ways_and_probabilities_with_stages() {
        let (_, held) = twins(180);
        let (mut later, mut earlier, mut probabilities) = (0, 0, 0);
        for change in held.held_back.iter() {
            let Some(before) = &change.before else {
                continue;
            };
            match (deadline_of(before), deadline_of(&change.after)) {
                (Some(a), Some(b)) if b > a => later += 1,
                (Some(a), Some(b)) if b < a => earlier += 1,
                _ => {}
            }
            if before["probability"] != change.after["probability"] {
                probabilities += 1;
            }
        }
        assert!(
            later > 10 && earlier > 3,
            "{later} slips, {earlier} pulled in"
        );
        assert!(probabilities > 10, "{probabilities}");
    }
}
