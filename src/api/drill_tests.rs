//! The drill-down contract, on random event logs: every figure of `/api/dashboard` and
//! `/api/dashboard/trends` (cards, stages, team rows, top performers, months), for several viewers
//! and random team, stage and period filters, equals the `totals` of the list its `drill` query
//! selects, per currency, by count and by value in integer cents.

use proptest::prelude::*;
use serde_json::Value;

use super::tests::{App, account, app, append, get, session};
use crate::domain::{Event, Role};
use crate::testing::arb_batches;

/// Count, value and weighted value (cents) of `currency` in the list `drill` selects.
async fn listed(app: &App, cookie: &str, drill: &str, currency: &str) -> (i64, i64, i64) {
    let answer = get(
        app,
        cookie,
        &format!("/api/opportunities?{drill}&per_page=1"),
    )
    .await;
    assert_eq!(
        answer.status,
        axum::http::StatusCode::OK,
        "{drill}: {}",
        answer.text
    );
    let totals = &answer.body["totals"];
    let others: Vec<&String> = totals
        .as_object()
        .map(|t| t.keys().filter(|c| *c != currency).collect())
        .unwrap_or_default();
    assert!(
        others.is_empty(),
        "{drill} lists other currencies: {others:?}"
    );
    let field = |name: &str| totals[currency][name].as_i64().unwrap_or(0);
    (
        field("count"),
        field("value_cents"),
        field("weighted_cents"),
    )
}

fn int(value: &Value) -> i64 {
    value
        .as_i64()
        .unwrap_or_else(|| panic!("not an integer: {value}"))
}

/// Checks one currency's figures (a card set, or a team row) against their drills.
async fn check_figures(app: &App, cookie: &str, currency: &str, f: &Value) -> Result<(), String> {
    let drill = &f["drill"];
    let text = |name: &str| drill[name].as_str().unwrap_or_default().to_string();
    let open = listed(app, cookie, &text("open"), currency).await;
    let want = (
        int(&f["active_opportunities"]),
        int(&f["pipeline_cents"]),
        int(&f["weighted_pipeline_cents"]),
    );
    if open != want {
        return Err(format!(
            "open {currency}: list {open:?}, figures {want:?} ({})",
            text("open")
        ));
    }
    let won = listed(app, cookie, &text("won"), currency).await;
    if (won.0, won.1) != (int(&f["won_count"]), int(&f["won_cents"])) {
        return Err(format!("won {currency}: list {won:?}, figures {f}"));
    }
    let lost = listed(app, cookie, &text("lost"), currency).await;
    if (lost.0, lost.1) != (int(&f["lost_count"]), int(&f["lost_cents"])) {
        return Err(format!("lost {currency}: list {lost:?}, figures {f}"));
    }
    let closed = listed(app, cookie, &text("closed"), currency).await;
    if closed.0 != won.0 + lost.0 || closed.1 != won.1 + lost.1 {
        return Err(format!("closed {currency}: {closed:?} is not won + lost"));
    }
    let active = listed(app, cookie, &text("active"), currency).await;
    if active.0 != open.0 + won.0 || active.1 != open.1 + won.1 {
        return Err(format!("active {currency}: {active:?} is not open + won"));
    }
    for stage in f["by_stage"].as_array().into_iter().flatten() {
        let drill = stage["drill"].as_str().unwrap_or_default();
        let got = listed(app, cookie, drill, currency).await;
        if (got.0, got.1) != (int(&stage["count"]), int(&stage["value_cents"])) {
            return Err(format!("stage {currency}: list {got:?}, figure {stage}"));
        }
    }
    Ok(())
}

async fn check_viewer(app: &App, cookie: &str, filters: &str) -> Result<(), String> {
    let dashboard = get(app, cookie, &format!("/api/dashboard?{filters}")).await;
    if dashboard.status != axum::http::StatusCode::OK {
        return Ok(()); // a viewer without an Odoo user has no dashboard
    }
    let body = dashboard.body;
    for (currency, figures) in body["currencies"].as_object().into_iter().flatten() {
        check_figures(app, cookie, currency, figures).await?;
    }
    let rows = body["team_table"].as_array().cloned().unwrap_or_default();
    for row in &rows {
        for (currency, figures) in row["currencies"].as_object().into_iter().flatten() {
            check_figures(app, cookie, currency, figures)
                .await
                .map_err(|e| format!("team row {} {}: {e}", row["kind"], row["user_id"]))?;
        }
    }
    check_rows_add_up(&body["currencies"], &rows)?;
    for performer in body["top_performers"].as_array().into_iter().flatten() {
        let currency = performer["currency"].as_str().unwrap_or_default();
        let drill = performer["drill"].as_str().unwrap_or_default();
        let got = listed(app, cookie, drill, currency).await;
        if (got.0, got.1) != (int(&performer["won_count"]), int(&performer["won_cents"])) {
            return Err(format!("performer: list {got:?}, figure {performer}"));
        }
    }
    let trends = get(app, cookie, &format!("/api/dashboard/trends?{filters}"))
        .await
        .body;
    for (currency, series) in trends["currencies"].as_object().into_iter().flatten() {
        for kind in ["forecast", "won"] {
            let months: Vec<(i64, i64)> = series[kind]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|m| {
                    let (y, mo) = m["month"].as_str()?.split_once('-')?;
                    Some((y.parse().ok()?, mo.parse().ok()?))
                })
                .collect();
            let index = |(y, m): (i64, i64)| y * 12 + m;
            if months.windows(2).any(|w| index(w[1]) != index(w[0]) + 1) {
                return Err(format!("{kind} {currency}: months skip one: {months:?}"));
            }
            let now = jiff::Timestamp::now()
                .to_zoned_datetime(jiff::tz::TimeZone::UTC)
                .date();
            if kind == "forecast"
                && months
                    .first()
                    .is_some_and(|&first| first != (now.year() as i64, now.month() as i64))
            {
                return Err(format!(
                    "the forecast starts at {:?}, not this month",
                    months[0]
                ));
            }
        }
        let buckets = ["overdue", "no_expected_close"]
            .iter()
            .filter(|kind| !series[**kind].is_null())
            .map(|kind| (kind, &series[*kind]));
        let months = ["forecast", "won"].iter().flat_map(|kind| {
            series[*kind]
                .as_array()
                .into_iter()
                .flatten()
                .map(move |m| (kind, m))
        });
        for (kind, month) in months.chain(buckets) {
            let drill = month["drill"].as_str().unwrap_or_default();
            let got = listed(app, cookie, drill, currency).await;
            let want = (
                int(&month["count"]),
                int(&month["value_cents"]),
                int(&month["weighted_cents"]),
            );
            // Won deals have no weighted value; the open buckets have.
            let matches = if *kind == "won" {
                (got.0, got.1) == (want.0, want.1)
            } else {
                got == want
            };
            if !matches {
                return Err(format!(
                    "{kind} month {currency}: list {got:?}, figure {month}"
                ));
            }
        }
    }
    Ok(())
}

/// Per currency, the team table's rows add up to its total row, and the total row is the cards:
/// every count and amount, in cents.
fn check_rows_add_up(cards: &Value, rows: &[Value]) -> Result<(), String> {
    const FIELDS: [&str; 7] = [
        "active_opportunities",
        "pipeline_cents",
        "weighted_pipeline_cents",
        "won_count",
        "won_cents",
        "lost_count",
        "lost_cents",
    ];
    let totals: Vec<&Value> = rows.iter().filter(|r| r["kind"] == "total").collect();
    let [total] = totals.as_slice() else {
        return Err(format!("{} total rows", totals.len()));
    };
    let currencies = |v: &Value| -> Vec<String> {
        v.as_object()
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default()
    };
    if currencies(&total["currencies"]) != currencies(cards) {
        return Err(format!(
            "total row currencies differ from the cards: {total}"
        ));
    }
    for currency in currencies(cards) {
        for field in FIELDS {
            let card = int(&cards[&currency][field]);
            let in_total = int(&total["currencies"][&currency][field]);
            let summed: i64 = rows
                .iter()
                .filter(|r| r["kind"] != "total")
                .map(|r| r["currencies"][&currency][field].as_i64().unwrap_or(0))
                .sum();
            if card != in_total || summed != in_total {
                return Err(format!(
                    "{currency} {field}: cards {card}, total row {in_total}, rows add up to {summed}"
                ));
            }
        }
    }
    Ok(())
}

/// Dashboard filters: maybe a team, maybe a stage (0: none), maybe a closing period.
fn arb_filters() -> impl Strategy<Value = String> {
    (
        prop::option::of(1u64..3),
        prop::option::of(0u64..5),
        prop::option::of((0i64..730, 0i64..200)),
    )
        .prop_map(|(team, stage, period)| {
            let mut parts = Vec::new();
            if let Some(team) = team {
                parts.push(format!("team={team}"));
            }
            if let Some(stage) = stage {
                parts.push(format!("stage={stage}"));
            }
            if let Some((start, length)) = period {
                let day = |offset: i64| {
                    jiff::civil::date(2025, 1, 1)
                        .checked_add(jiff::Span::new().days(offset))
                        .expect("date")
                };
                parts.push(format!("from={}&to={}", day(start), day(start + length)));
            }
            parts.join("&")
        })
}

async fn check_drills(batches: Vec<Vec<Event>>, filters: Vec<String>) -> Result<(), TestCaseError> {
    let app = app();
    for batch in batches {
        append(&app.store, batch);
    }
    account(&app.store, "boss@example.com", Role::Admin, true);
    let mut cookies = vec![session(&app, "boss@example.com").await];
    // Up to three Odoo users as viewers: whoever has an email gets an approved member account.
    let emails: Vec<String> = app
        .store
        .with_model(|m| m.users().values().filter_map(|u| u.email.clone()).collect())
        .expect("model");
    for email in emails.iter().take(3) {
        let normalized = crate::domain::normalize_email(email);
        if app
            .store
            .read()
            .expect("read")
            .login(&normalized)
            .expect("login")
            .is_some()
        {
            continue;
        }
        account(&app.store, &normalized, Role::Member, true);
        cookies.push(session(&app, &normalized).await);
    }
    for cookie in &cookies {
        for filter in &filters {
            check_viewer(&app, cookie, filter)
                .await
                .map_err(|e| TestCaseError::fail(format!("filters {filter:?}: {e}")))?;
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn every_figure_equals_the_totals_of_the_list_behind_it(
        batches in arb_batches(),
        filters in prop::collection::vec(arb_filters(), 1..4),
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(check_drills(batches, filters))?;
    }
}
