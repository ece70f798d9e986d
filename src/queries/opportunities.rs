//! Opportunity lists (filters, search, sort, pages, CSV) and one opportunity with its history.

use jiff::Timestamp;
use jiff::civil::Date;
use serde::Serialize;

use super::{QueryError, amount};
use crate::auth::Viewer;
use crate::domain::{Event, LeadKind, OdooId};
use crate::projections::{DealStatus, OpportunityView, ViewTable};
use crate::store::Snapshot;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SortKey {
    #[default]
    ExpectedClose,
    Revenue,
    Name,
    Stage,
    Salesperson,
}

impl SortKey {
    pub fn parse(text: &str) -> Option<(SortKey, bool)> {
        let (descending, name) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let key = match name {
            "expected_close" | "date_deadline" => SortKey::ExpectedClose,
            "revenue" | "expected_revenue" => SortKey::Revenue,
            "name" => SortKey::Name,
            "stage" => SortKey::Stage,
            "salesperson" => SortKey::Salesperson,
            _ => return None,
        };
        Some((key, descending))
    }
}

#[derive(Debug, Clone, Default)]
pub struct OpportunityFilter {
    pub stage: Option<OdooId>,
    pub salesperson: Option<OdooId>,
    pub team: Option<OdooId>,
    pub status: Option<DealStatus>,
    pub close_from: Option<Date>,
    pub close_to: Option<Date>,
    /// Case-insensitive text in the name, the account or the salesperson.
    pub text: Option<String>,
    /// Leads are left out unless asked for: the pipeline is opportunities.
    pub include_leads: bool,
    pub sort: SortKey,
    pub descending: bool,
    /// 1-based.
    pub page: usize,
    pub per_page: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct OpportunityPage {
    pub items: Vec<OpportunityView>,
    pub total: usize,
    pub page: usize,
    pub per_page: usize,
}

fn matches(view: &OpportunityView, filter: &OpportunityFilter) -> bool {
    (filter.include_leads || view.kind == LeadKind::Opportunity)
        && filter
            .stage
            .is_none_or(|s| view.stage.as_ref().is_some_and(|v| v.id == s))
        && filter
            .salesperson
            .is_none_or(|s| view.salesperson.as_ref().is_some_and(|v| v.id == s))
        && filter
            .team
            .is_none_or(|t| view.team.as_ref().is_some_and(|v| v.id == t))
        && filter.status.is_none_or(|s| view.status == s)
        && filter
            .close_from
            .is_none_or(|from| view.date_deadline.is_some_and(|d| d >= from))
        && filter
            .close_to
            .is_none_or(|to| view.date_deadline.is_some_and(|d| d <= to))
        && filter.text.as_ref().is_none_or(|text| {
            let needle = text.to_lowercase();
            view.name.to_lowercase().contains(&needle)
                || view
                    .account
                    .as_ref()
                    .is_some_and(|a| a.name.to_lowercase().contains(&needle))
                || view
                    .salesperson
                    .as_ref()
                    .is_some_and(|s| s.name.to_lowercase().contains(&needle))
        })
}

/// Every visible opportunity that matches, in order; `total` counts only what the viewer can see.
pub fn list_opportunities(
    snapshot: &Snapshot,
    viewer: &Viewer,
    filter: &OpportunityFilter,
) -> Result<OpportunityPage, QueryError> {
    if filter.per_page == 0 || filter.per_page > 1_000 {
        return Err(QueryError::BadInput(
            "per_page must be between 1 and 1000".into(),
        ));
    }
    if filter.page == 0 {
        return Err(QueryError::BadInput("page starts at 1".into()));
    }
    let mut found = Vec::new();
    for view in snapshot.views::<OpportunityView>(ViewTable::Opportunities)? {
        if viewer.sees(&view) && matches(&view, filter) {
            found.push(view);
        }
    }
    found.sort_by(|a, b| {
        let order = match filter.sort {
            SortKey::ExpectedClose => a.date_deadline.cmp(&b.date_deadline),
            SortKey::Revenue => a.expected_revenue.cmp(&b.expected_revenue),
            SortKey::Name => a.name.to_lowercase().cmp(&b.name.to_lowercase()),
            SortKey::Stage => a
                .stage
                .as_ref()
                .map(|s| (s.sequence, s.id))
                .cmp(&b.stage.as_ref().map(|s| (s.sequence, s.id))),
            SortKey::Salesperson => a
                .salesperson
                .as_ref()
                .map(|s| s.name.clone())
                .cmp(&b.salesperson.as_ref().map(|s| s.name.clone())),
        };
        let order = if filter.descending {
            order.reverse()
        } else {
            order
        };
        order.then(a.id.cmp(&b.id))
    });
    let total = found.len();
    let items = found
        .into_iter()
        .skip((filter.page - 1) * filter.per_page)
        .take(filter.per_page)
        .collect();
    Ok(OpportunityPage {
        items,
        total,
        page: filter.page,
        per_page: filter.per_page,
    })
}

/// The rows as CSV: the same query, every page.
pub fn to_csv(items: &[OpportunityView]) -> String {
    fn field(text: &str) -> String {
        if text.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", text.replace('"', "\"\""))
        } else {
            text.to_string()
        }
    }
    let mut out = String::from(
        "id,name,stage,status,expected_revenue,currency,probability,expected_close,salesperson,team,account,city,country\n",
    );
    for o in items {
        let status = match o.status {
            DealStatus::Open => "open",
            DealStatus::Won => "won",
            DealStatus::Lost => "lost",
        };
        let row = [
            o.id.to_string(),
            field(&o.name),
            field(o.stage.as_ref().map(|s| s.name.as_str()).unwrap_or("")),
            status.to_string(),
            format!("{:.2}", amount(o.expected_revenue)),
            field(&o.currency),
            o.probability.to_string(),
            o.date_deadline.map(|d| d.to_string()).unwrap_or_default(),
            field(
                o.salesperson
                    .as_ref()
                    .map(|s| s.name.as_str())
                    .unwrap_or(""),
            ),
            field(o.team.as_ref().map(|t| t.name.as_str()).unwrap_or("")),
            field(o.account.as_ref().map(|a| a.name.as_str()).unwrap_or("")),
            field(
                o.account
                    .as_ref()
                    .and_then(|a| a.city.as_deref())
                    .unwrap_or(""),
            ),
            field(
                o.account
                    .as_ref()
                    .and_then(|a| a.country.as_deref())
                    .unwrap_or(""),
            ),
        ];
        out.push_str(&row.join(","));
        out.push('\n');
    }
    out
}

/// One step in an opportunity's history.
#[derive(Debug, Clone, Serialize)]
pub struct HistoryEntry {
    pub position: u64,
    /// When it happened at the source (Odoo's `write_date`), else when pipelog recorded it.
    pub at: Timestamp,
    pub recorded_at: Timestamp,
    pub source: Option<String>,
    pub actor: Option<String>,
    pub event: String,
    /// Field-level changes: `{field, before, after}`.
    pub changes: Vec<serde_json::Value>,
}

#[derive(Debug, Clone, Serialize)]
pub struct OpportunityDetail {
    pub opportunity: OpportunityView,
    pub history: Vec<HistoryEntry>,
}

pub fn opportunity_detail(
    snapshot: &Snapshot,
    viewer: &Viewer,
    id: OdooId,
) -> Result<OpportunityDetail, QueryError> {
    let opportunity = snapshot
        .opportunity(id)?
        .filter(|o| viewer.sees(o))
        .ok_or(QueryError::NotFound)?;
    let mut history = Vec::new();
    for envelope in snapshot.aggregate_events(&format!("opportunity/{id}"))? {
        let changes = match &envelope.event {
            Event::OpportunityUpdated { changes, .. } => changes
                .iter()
                .map(
                    |c| serde_json::json!({"field": c.field, "before": c.before, "after": c.after}),
                )
                .collect(),
            Event::OpportunityAssigned { from, to, .. } => {
                vec![serde_json::json!({"field": "user_id", "before": from, "after": to})]
            }
            Event::OpportunityStageChanged { from, to, .. } => {
                vec![serde_json::json!({"field": "stage_id", "before": from, "after": to})]
            }
            Event::OpportunityArchived { lost_reason, .. } => vec![
                serde_json::json!({"field": "active", "before": true, "after": false, "lost_reason": lost_reason}),
            ],
            Event::OpportunityRestored { .. } => {
                vec![serde_json::json!({"field": "active", "before": false, "after": true})]
            }
            _ => Vec::new(),
        };
        history.push(HistoryEntry {
            position: envelope.position,
            at: envelope.occurred_at(),
            recorded_at: envelope.recorded_at,
            source: envelope.metadata.source.clone(),
            actor: envelope.metadata.actor.clone(),
            event: envelope.event.type_name().to_string(),
            changes,
        });
    }
    Ok(OpportunityDetail {
        opportunity,
        history,
    })
}
