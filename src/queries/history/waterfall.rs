//! The waterfall: what the open pipeline of a closing window was at one moment, what moved it, and
//! what it was at a later moment.
//!
//! Each deal's changes between the two moments are taken one at a time, in time order, and each
//! change is split into steps in a fixed order: existence, reach (owner or team), outcome, expected
//! close, value. A step moves the deal's share of the window (count 1 and its expected revenue, in
//! its currency, while it is open, in reach and expected to close in the window) and that
//! difference goes to the step's bar. A deal that moves several ways is in several bars, each with
//! its own share, and the shares add up: opening + every bar = closing, per currency, by count and
//! by value, exactly.

use std::collections::BTreeMap;

use jiff::Timestamp;
use jiff::civil::Date;
use serde::Serialize;

use super::super::QueryError;
use super::super::drill::Drill;
use super::{Boundaries, Lookups, Scope};
use crate::auth::Viewer;
use crate::domain::{Cents, OdooId};
use crate::projections::history::{DealState, Timeline, TimelineSet, micros, timestamp};
use crate::projections::{DealStatus, currency_entry};
use crate::store::Snapshot;

#[derive(Debug, Clone)]
pub struct WaterfallQuery {
    /// Someone within the viewer's reach (default: the viewer; everything for admins).
    pub user: Option<OdooId>,
    /// Only deals of this sales team (at each moment).
    pub team: Option<OdooId>,
    /// The opening moment.
    pub from: Timestamp,
    /// The closing moment.
    pub to: Timestamp,
    /// The closing window: deals expected to close from this day to that one, both included.
    pub close_from: Date,
    pub close_to: Date,
}

/// Why a deal's share of the window changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Movement {
    /// The deal was created (or became an opportunity) open, in reach and in the window.
    Created,
    /// Its expected close moved into the window.
    PulledIn,
    /// Its expected close was first known (pipelog's first read): before, it was not known.
    FirstKnown,
    ValueIncreased,
    /// A lost deal was restored.
    Restored,
    /// A won deal was opened again.
    Reopened,
    /// Its owner or team changed to someone within reach.
    MovedIn,
    ValueDecreased,
    /// Its expected close moved out of the window.
    PushedOut,
    Won,
    Lost,
    /// Its owner or team changed to someone outside the reach.
    MovedOut,
    /// Deleted in Odoo (or turned back into a lead).
    Removed,
}

impl Movement {
    pub const ALL: [Movement; 13] = [
        Movement::Created,
        Movement::PulledIn,
        Movement::FirstKnown,
        Movement::ValueIncreased,
        Movement::Restored,
        Movement::Reopened,
        Movement::MovedIn,
        Movement::ValueDecreased,
        Movement::PushedOut,
        Movement::Won,
        Movement::Lost,
        Movement::MovedOut,
        Movement::Removed,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Movement::Created => "created",
            Movement::PulledIn => "pulled_in",
            Movement::FirstKnown => "first_known",
            Movement::ValueIncreased => "value_increased",
            Movement::Restored => "restored",
            Movement::Reopened => "reopened",
            Movement::MovedIn => "moved_in",
            Movement::ValueDecreased => "value_decreased",
            Movement::PushedOut => "pushed_out",
            Movement::Won => "won",
            Movement::Lost => "lost",
            Movement::MovedOut => "moved_out",
            Movement::Removed => "removed",
        }
    }

    pub fn parse(text: &str) -> Option<Movement> {
        Movement::ALL.into_iter().find(|m| m.name() == text)
    }
}

/// One bar: the signed change it brings, in one currency.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct WaterfallBar {
    /// A movement, or `opening` / `closing`.
    pub bar: String,
    /// Signed: a bar that takes deals out of the window is negative.
    pub count: i64,
    pub value_cents: Cents,
    /// The `/api/history/waterfall/deals` query that lists exactly these deals.
    pub drill: String,
}

#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct WaterfallCurrency {
    pub opening: WaterfallBar,
    /// Every movement with a share, in the order of [`Movement`].
    pub movements: Vec<WaterfallBar>,
    pub closing: WaterfallBar,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct WaterfallReport {
    pub user_id: Option<OdooId>,
    #[schema(value_type = String, format = DateTime)]
    pub from: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub to: Timestamp,
    #[schema(value_type = String, format = Date)]
    pub close_from: Date,
    #[schema(value_type = String, format = Date)]
    pub close_to: Date,
    pub currencies: BTreeMap<String, WaterfallCurrency>,
    /// Where known history begins; partial when the opening reaches before it.
    pub history: Boundaries,
    pub partial: bool,
}

/// A deal as it stood at one end of the waterfall.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DealMoment {
    pub exists: bool,
    pub status: Option<DealStatus>,
    pub stage: Option<String>,
    pub salesperson: Option<String>,
    pub expected_revenue_cents: Cents,
    pub currency: String,
    #[schema(value_type = Option<String>, format = Date)]
    pub date_deadline: Option<Date>,
    /// Its share of the window then.
    pub in_window: bool,
}

/// One deal's share of a bar, with how it stood at both moments.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct WaterfallDeal {
    pub id: OdooId,
    pub name: String,
    pub count: i64,
    pub value_cents: Cents,
    pub before: DealMoment,
    pub after: DealMoment,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct WaterfallDeals {
    pub bar: String,
    pub currency: String,
    /// Equal to the bar.
    pub count: i64,
    pub value_cents: Cents,
    pub deals: Vec<WaterfallDeal>,
}

/// Which deals count, and what a deal's share of the closing window is in a state.
struct Window<'a> {
    scope: Scope,
    days: (Date, Date),
    lookups: &'a Lookups,
}

impl Window<'_> {
    fn in_reach(&self, state: &DealState) -> bool {
        self.scope.holds(self.lookups, state)
    }

    fn share<'t>(&self, timeline: &'t Timeline, state: &DealState) -> Option<(&'t str, Cents)> {
        let (from, to) = self.days;
        let in_window = state.exists
            && state.opportunity
            && self.lookups.status(state) == DealStatus::Open
            && self.in_reach(state)
            && state.untracked_known
            && state
                .date_deadline
                .is_some_and(|day| day >= from && day <= to);
        in_window.then(|| (timeline.currency(state), state.expected_revenue))
    }
}

/// A signed share moved in one currency by one movement.
struct Moved<'t> {
    movement: Movement,
    currency: &'t str,
    count: i64,
    value: Cents,
}

/// Every share `timeline`'s deal moved between the two moments, in order.
fn movements<'t>(
    window: &Window<'_>,
    timeline: &'t Timeline,
    from: i64,
    to: i64,
    moved: &mut Vec<Moved<'t>>,
) {
    let start = timeline.versions.partition_point(|v| v.at <= from);
    let end = timeline.versions.partition_point(|v| v.at <= to);
    let mut state = start
        .checked_sub(1)
        .map(|i| timeline.versions[i].state)
        .unwrap_or_default();
    for version in &timeline.versions[start..end] {
        let next = version.state;
        for step in Step::ALL {
            let after = step.take(state, next);
            let (before_share, after_share) = (
                window.share(timeline, &state),
                window.share(timeline, &after),
            );
            if before_share != after_share {
                let movement = step.movement(window, &state, &after, after_share.is_some());
                if let Some((currency, value)) = before_share {
                    push(moved, movement, currency, -1, -value);
                }
                if let Some((currency, value)) = after_share {
                    push(moved, movement, currency, 1, value);
                }
            }
            state = after;
        }
    }
}

/// Adds a share, netting it with the one before when both are the same movement in the same
/// currency (a value change is one share, not an exit and an entry).
fn push<'t>(
    moved: &mut Vec<Moved<'t>>,
    movement: Movement,
    currency: &'t str,
    count: i64,
    value: Cents,
) {
    if let Some(last) = moved.last_mut()
        && last.movement == movement
        && last.currency == currency
        && count == 1
        && last.count == -1
    {
        last.count += count;
        last.value += value;
        return;
    }
    moved.push(Moved {
        movement,
        currency,
        count,
        value,
    });
}

#[derive(Clone, Copy)]
enum Step {
    Existence,
    Reach,
    Outcome,
    ExpectedClose,
    Value,
}

impl Step {
    const ALL: [Step; 5] = [
        Step::Existence,
        Step::Reach,
        Step::Outcome,
        Step::ExpectedClose,
        Step::Value,
    ];

    /// `state` with this step's fields taken from `next`.
    fn take(self, state: DealState, next: DealState) -> DealState {
        match self {
            // A deal that comes into being comes with all it is.
            Step::Existence if !state.exists && next.exists => next,
            Step::Existence => DealState {
                exists: next.exists,
                opportunity: next.opportunity,
                ..state
            },
            Step::Reach => DealState {
                user_id: next.user_id,
                team_id: next.team_id,
                ..state
            },
            Step::Outcome => DealState {
                active: next.active,
                stage_id: next.stage_id,
                ..state
            },
            Step::ExpectedClose => DealState {
                date_deadline: next.date_deadline,
                untracked_known: next.untracked_known,
                ..state
            },
            Step::Value => next,
        }
    }

    fn movement(
        self,
        window: &Window<'_>,
        before: &DealState,
        after: &DealState,
        entered: bool,
    ) -> Movement {
        match (self, entered) {
            (Step::Existence, true) => Movement::Created,
            (Step::Existence, false) => Movement::Removed,
            (Step::Reach, true) => Movement::MovedIn,
            (Step::Reach, false) => Movement::MovedOut,
            (Step::Outcome, true) => match window.lookups.status(before) {
                DealStatus::Won => Movement::Reopened,
                _ => Movement::Restored,
            },
            (Step::Outcome, false) => match window.lookups.status(after) {
                DealStatus::Won => Movement::Won,
                _ => Movement::Lost,
            },
            (Step::ExpectedClose, _) if !before.untracked_known => Movement::FirstKnown,
            (Step::ExpectedClose, true) => Movement::PulledIn,
            (Step::ExpectedClose, false) => Movement::PushedOut,
            (Step::Value, _) => {
                if after.expected_revenue >= before.expected_revenue {
                    Movement::ValueIncreased
                } else {
                    Movement::ValueDecreased
                }
            }
        }
    }
}

fn check(query: &WaterfallQuery) -> Result<(), QueryError> {
    if query.from >= query.to {
        return Err(QueryError::BadInput("from must be before to".into()));
    }
    if query.close_from > query.close_to {
        return Err(QueryError::BadInput(
            "close_from must not be after close_to".into(),
        ));
    }
    Ok(())
}

/// Shares per deal, for the report and the drill-down lists alike.
struct Walk<'a> {
    window: Window<'a>,
    from: i64,
    to: i64,
}

impl<'a> Walk<'a> {
    fn new(
        snapshot: &Snapshot,
        viewer: &Viewer,
        query: &WaterfallQuery,
        lookups: &'a Lookups,
    ) -> Result<Walk<'a>, QueryError> {
        check(query)?;
        Ok(Walk {
            window: Window {
                scope: Scope::of(snapshot, viewer, query.user, query.team)?,
                days: (query.close_from, query.close_to),
                lookups,
            },
            from: micros(query.from),
            to: micros(query.to),
        })
    }

    fn state_at(timelines: &TimelineSet, index: usize, at: i64) -> DealState {
        timelines.at(index, at).map(|v| v.state).unwrap_or_default()
    }
}

fn drill_base(query: &WaterfallQuery, subject: Option<OdooId>) -> Drill {
    Drill::scoped(subject, query.team)
        .with("from", query.from)
        .with("to", query.to)
        .with("close_from", query.close_from)
        .with("close_to", query.close_to)
}

pub fn waterfall(
    snapshot: &Snapshot,
    viewer: &Viewer,
    query: &WaterfallQuery,
) -> Result<WaterfallReport, QueryError> {
    let lookups = Lookups::of(snapshot)?;
    let walk = Walk::new(snapshot, viewer, query, &lookups)?;
    let timelines = snapshot.timelines()?;
    let base = drill_base(query, walk.window.scope.subject);
    let mut currencies: BTreeMap<String, WaterfallCurrency> = BTreeMap::new();
    let mut bars: BTreeMap<(String, Movement), (i64, Cents)> = BTreeMap::new();
    let mut moved = Vec::new();
    let mut boundaries = Boundaries::default();
    let (known_from, first_read_at) = (timelines.known_from, timelines.first_read_at);
    for (index, timeline) in timelines.iter().enumerate() {
        let opening = Walk::state_at(&timelines, index, walk.from);
        if opening.exists && !opening.untracked_known && walk.window.in_reach(&opening) {
            boundaries.deals_partial += 1;
        }
        let ends = [
            (walk.window.share(timeline, &opening), true),
            (
                walk.window
                    .share(timeline, &Walk::state_at(&timelines, index, walk.to)),
                false,
            ),
        ];
        for (share, is_opening) in ends {
            if let Some((currency, value)) = share {
                let figures = currency_entry(&mut currencies, currency);
                let bar = if is_opening {
                    &mut figures.opening
                } else {
                    &mut figures.closing
                };
                bar.count += 1;
                bar.value_cents += value;
            }
        }
        moved.clear();
        movements(&walk.window, timeline, walk.from, walk.to, &mut moved);
        for share in &moved {
            let bar = bars
                .entry((share.currency.to_string(), share.movement))
                .or_default();
            bar.0 += share.count;
            bar.1 += share.value;
        }
    }
    for ((currency, movement), (count, value)) in bars {
        let figures = currencies.entry(currency.clone()).or_default();
        figures.movements.push(WaterfallBar {
            bar: movement.name().into(),
            count,
            value_cents: value,
            drill: base
                .clone()
                .with("bar", movement.name())
                .with("currency", &currency)
                .query(),
        });
    }
    for (currency, figures) in currencies.iter_mut() {
        for (bar, name) in [
            (&mut figures.opening, "opening"),
            (&mut figures.closing, "closing"),
        ] {
            bar.bar = name.into();
            bar.drill = base
                .clone()
                .with("bar", name)
                .with("currency", currency)
                .query();
        }
    }
    boundaries.known_from = known_from.map(timestamp);
    boundaries.first_read_at = first_read_at.map(timestamp);
    boundaries.before_known_history = known_from.is_none_or(|known| walk.from < known);
    Ok(WaterfallReport {
        user_id: walk.window.scope.subject,
        from: query.from,
        to: query.to,
        close_from: query.close_from,
        close_to: query.close_to,
        currencies,
        partial: boundaries.partial(),
        history: boundaries,
    })
}

/// Which bar a drill-down lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bar {
    Opening,
    Closing,
    Movement(Movement),
}

impl Bar {
    pub fn parse(text: &str) -> Option<Bar> {
        match text {
            "opening" => Some(Bar::Opening),
            "closing" => Some(Bar::Closing),
            other => Movement::parse(other).map(Bar::Movement),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Bar::Opening => "opening",
            Bar::Closing => "closing",
            Bar::Movement(movement) => movement.name(),
        }
    }
}

/// The deals behind one bar, in one currency, largest share first: their shares add up to it.
pub fn waterfall_deals(
    snapshot: &Snapshot,
    viewer: &Viewer,
    query: &WaterfallQuery,
    bar: Bar,
    currency: &str,
) -> Result<WaterfallDeals, QueryError> {
    let lookups = Lookups::of(snapshot)?.with_names(snapshot)?;
    let walk = Walk::new(snapshot, viewer, query, &lookups)?;
    let timelines = snapshot.timelines()?;
    let mut deals = Vec::new();
    let mut moved = Vec::new();
    for (index, timeline) in timelines.iter().enumerate() {
        let (opening, closing) = (
            Walk::state_at(&timelines, index, walk.from),
            Walk::state_at(&timelines, index, walk.to),
        );
        let share = |state: &DealState| {
            walk.window
                .share(timeline, state)
                .filter(|(c, _)| c.eq_ignore_ascii_case(currency))
                .map(|(_, value)| (1, value))
        };
        let (count, value) = match bar {
            Bar::Opening => share(&opening).unwrap_or_default(),
            Bar::Closing => share(&closing).unwrap_or_default(),
            Bar::Movement(movement) => {
                moved.clear();
                movements(&walk.window, timeline, walk.from, walk.to, &mut moved);
                moved
                    .iter()
                    .filter(|m| m.movement == movement && m.currency.eq_ignore_ascii_case(currency))
                    .fold((0, 0), |(c, v), m| (c + m.count, v + m.value))
            }
        };
        if count == 0 && value == 0 {
            continue;
        }
        deals.push(WaterfallDeal {
            id: timeline.id,
            name: timeline.name.clone(),
            count,
            value_cents: value,
            before: moment(&walk.window, timeline, &opening),
            after: moment(&walk.window, timeline, &closing),
        });
    }
    deals.sort_by(|a, b| {
        b.value_cents
            .abs()
            .cmp(&a.value_cents.abs())
            .then(a.id.cmp(&b.id))
    });
    Ok(WaterfallDeals {
        bar: bar.name().into(),
        currency: currency.to_uppercase(),
        count: deals.iter().map(|d| d.count).sum(),
        value_cents: deals.iter().map(|d| d.value_cents).sum(),
        deals,
    })
}

fn moment(window: &Window<'_>, timeline: &Timeline, state: &DealState) -> DealMoment {
    let lookups = window.lookups;
    DealMoment {
        exists: state.exists,
        status: state.exists.then(|| lookups.status(state)),
        stage: state.stage_id.map(|s| lookups.stage_name(s)),
        salesperson: state.user_id.map(|u| lookups.user_name(u)),
        expected_revenue_cents: state.expected_revenue,
        currency: timeline.currency(state).to_string(),
        date_deadline: state.date_deadline.filter(|_| state.untracked_known),
        in_window: window.share(timeline, state).is_some(),
    }
}
