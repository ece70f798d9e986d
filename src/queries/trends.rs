//! The dashboard's time series: the open pipeline by expected closing month (with overdue and
//! undated buckets) and won revenue by closing month, each bucket with its drill-down query.

use std::collections::BTreeMap;

use jiff::civil::Date;
use serde::Serialize;

use super::dashboard::{Reach, facts_in, subject};
use super::drill::Drill;
use super::{DashboardQuery, QueryError, amount};
use crate::auth::Viewer;
use crate::domain::{Cents, OdooId};
use crate::projections::DealStatus;
use crate::store::Snapshot;

#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct MonthFigure {
    /// `YYYY-MM`; `overdue` and `none` for those buckets.
    pub month: String,
    pub count: i64,
    pub value: f64,
    pub value_cents: Cents,
    /// Weighted value (forecast only).
    pub weighted: f64,
    pub weighted_cents: Cents,
    /// The `/api/opportunities` query that lists exactly these deals.
    pub drill: String,
}

#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct CurrencyTrends {
    /// Open opportunities by expected closing month, from this month on, every month shown.
    pub forecast: Vec<MonthFigure>,
    /// Open opportunities expected to close before today (`month`: `overdue`).
    pub overdue: Option<MonthFigure>,
    /// Open opportunities without an expected close (`month`: `none`).
    pub no_expected_close: Option<MonthFigure>,
    /// Won opportunities by closing month, every month from the first to the last.
    pub won: Vec<MonthFigure>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TrendsReport {
    pub user_id: Option<OdooId>,
    pub currencies: BTreeMap<String, CurrencyTrends>,
}

/// One bucket of a trend: which deals it holds and the query that lists them.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Bucket {
    /// Open, expected to close before today.
    Overdue,
    /// Open, expected close not set.
    Undated,
    /// Open, expected to close in this month (from today on, for the current month).
    Forecast(Date),
    /// Won in this month (within the period).
    Won(Date),
}

impl Bucket {
    fn drill(self, base: &Drill, query: &DashboardQuery, today: Date) -> Drill {
        let open = base.clone().with("status", "open");
        match self {
            Bucket::Overdue => open.with("close_to", today.yesterday().unwrap_or(today)),
            Bucket::Undated => open.with("no_expected_close", true),
            Bucket::Forecast(month) => open
                .with("close_from", today.max(month))
                .with("close_to", month.last_of_month()),
            Bucket::Won(month) => base
                .clone()
                .with("status", "won")
                .with("closed_from", query.from.map_or(month, |f| f.max(month)))
                .with(
                    "closed_to",
                    query
                        .to
                        .map_or(month.last_of_month(), |t| t.min(month.last_of_month())),
                ),
        }
    }

    fn label(self) -> String {
        match self {
            Bucket::Overdue => "overdue".into(),
            Bucket::Undated => "none".into(),
            Bucket::Forecast(month) | Bucket::Won(month) => {
                format!("{:04}-{:02}", month.year(), month.month())
            }
        }
    }
}

/// Every month from `first` to `last` (first days of months), both included.
fn months_between(first: Date, last: Date) -> Vec<Date> {
    let mut months = Vec::new();
    let mut month = first.first_of_month();
    while month <= last {
        months.push(month);
        match month.checked_add(jiff::Span::new().months(1)) {
            Ok(next) => month = next,
            Err(_) => break,
        }
    }
    months
}

/// The open pipeline by expected closing month (every month from this one to the last with a
/// deal, empty ones included), with what is overdue and what has no expected close beside it;
/// and won revenue by closing month (every month from the first to the last with a win). Over the
/// reach of `query.user` (the viewer by default), narrowed like the dashboard, the period
/// included. Sums every opportunity in reach, so the dashboard loads it after its headline figures.
pub fn trends(
    snapshot: &Snapshot,
    viewer: &Viewer,
    query: &DashboardQuery,
    today: Date,
) -> Result<TrendsReport, QueryError> {
    let subject = subject(viewer, query.user)?;
    query.check_period()?;
    let facts = facts_in(snapshot, &Reach::of(snapshot, subject)?, query)?;
    let base = Drill::of(subject, query);
    let mut buckets: BTreeMap<(String, Bucket), MonthFigure> = BTreeMap::new();
    for fact in facts.iter() {
        if fact.kind != crate::domain::LeadKind::Opportunity {
            continue;
        }
        let bucket = match (fact.status, fact.date_deadline, fact.closed_on) {
            (DealStatus::Open, None, _) => Bucket::Undated,
            (DealStatus::Open, Some(day), _) if day < today => Bucket::Overdue,
            (DealStatus::Open, Some(day), _) => Bucket::Forecast(day.first_of_month()),
            (DealStatus::Won, _, Some(day)) => Bucket::Won(day.first_of_month()),
            _ => continue,
        };
        let figure = buckets
            .entry((fact.currency.to_string(), bucket))
            .or_default();
        figure.count += 1;
        figure.value_cents += fact.expected_revenue;
        figure.weighted_cents += fact.weighted_revenue;
    }
    // Empty months between the first and the last, so that the months are evenly spaced.
    let currencies_seen: Vec<String> = buckets.keys().map(|(c, _)| c.clone()).collect();
    for currency in currencies_seen {
        let months = |won: bool| {
            buckets
                .keys()
                .filter_map(|(c, b)| match (c == &currency, b, won) {
                    (true, Bucket::Forecast(m), false) | (true, Bucket::Won(m), true) => Some(*m),
                    _ => None,
                })
                .collect::<Vec<_>>()
        };
        let (forecast, won) = (months(false), months(true));
        let mut missing = Vec::new();
        if let Some(&last) = forecast.iter().max() {
            missing.extend(
                months_between(today, last)
                    .into_iter()
                    .map(Bucket::Forecast),
            );
        }
        if let (Some(&first), Some(&last)) = (won.iter().min(), won.iter().max()) {
            missing.extend(months_between(first, last).into_iter().map(Bucket::Won));
        }
        for bucket in missing {
            buckets.entry((currency.clone(), bucket)).or_default();
        }
    }
    let mut currencies: BTreeMap<String, CurrencyTrends> = BTreeMap::new();
    for ((currency, bucket), mut figure) in buckets {
        figure.month = bucket.label();
        figure.value = amount(figure.value_cents);
        figure.weighted = amount(figure.weighted_cents);
        figure.drill = bucket
            .drill(&base.clone().with("currency", &currency), query, today)
            .query();
        let trends = currencies.entry(currency).or_default();
        match bucket {
            Bucket::Overdue => trends.overdue = Some(figure),
            Bucket::Undated => trends.no_expected_close = Some(figure),
            Bucket::Forecast(_) => trends.forecast.push(figure),
            Bucket::Won(_) => trends.won.push(figure),
        }
    }
    Ok(TrendsReport {
        user_id: subject,
        currencies,
    })
}
