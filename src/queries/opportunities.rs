//! Opportunity lists (filters, search, sort, pages, CSV) and one opportunity with its history.

use std::collections::{BTreeMap, HashMap};

use jiff::Timestamp;
use jiff::civil::Date;
use serde::Serialize;

use super::{QueryError, amount};
use crate::auth::Viewer;
use crate::domain::{Event, LeadKind, OdooId};
use crate::projections::{DealStatus, NO_STAGE, NamedRef, OpportunityFact, OpportunityView};
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

/// Which outcomes a list shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusFilter {
    Is(DealStatus),
    /// Open or won: what the pipeline-by-stage chart counts.
    Active,
    /// Won or lost: what the win rates count.
    Closed,
}

impl StatusFilter {
    pub fn parse(text: &str) -> Option<StatusFilter> {
        Some(match text {
            "open" => StatusFilter::Is(DealStatus::Open),
            "won" => StatusFilter::Is(DealStatus::Won),
            "lost" => StatusFilter::Is(DealStatus::Lost),
            "active" => StatusFilter::Active,
            "closed" => StatusFilter::Closed,
            _ => return None,
        })
    }

    fn admits(self, status: DealStatus) -> bool {
        match self {
            StatusFilter::Is(wanted) => status == wanted,
            StatusFilter::Active => status != DealStatus::Lost,
            StatusFilter::Closed => status != DealStatus::Open,
        }
    }
}

/// Whose deals a list shows, beyond a person or a reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OwnerFilter {
    /// No salesperson.
    Unassigned,
    /// A salesperson outside the hierarchy: in no report row of the everything dashboard.
    Outside,
}

impl OwnerFilter {
    pub fn parse(text: &str) -> Option<OwnerFilter> {
        match text {
            "unassigned" => Some(OwnerFilter::Unassigned),
            "outside" => Some(OwnerFilter::Outside),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct OpportunityFilter {
    pub stage: Option<OdooId>,
    /// Only this person's own opportunities.
    pub salesperson: Option<OdooId>,
    /// Everything within this person's reach (them and their subtree): a dashboard's drill-down.
    pub user: Option<OdooId>,
    pub team: Option<OdooId>,
    /// Only opportunities in this currency (ISO code).
    pub currency: Option<String>,
    pub status: Option<StatusFilter>,
    pub owner: Option<OwnerFilter>,
    /// Only opportunities without an expected close.
    pub no_expected_close: bool,
    /// Expected closing date range.
    pub close_from: Option<Date>,
    pub close_to: Option<Date>,
    /// Range of the UTC day it was won or lost: narrows closed deals only (open deals stay).
    pub closed_from: Option<Date>,
    pub closed_to: Option<Date>,
    /// Case-insensitive text in the name, the account or the salesperson.
    pub text: Option<String>,
    /// Leads are left out unless asked for: the pipeline is opportunities.
    pub include_leads: bool,
    /// The deals as they were at this moment (see `queries::history`); now when `None`.
    pub as_of: Option<Timestamp>,
    pub sort: SortKey,
    pub descending: bool,
    /// 1-based.
    pub page: usize,
    pub per_page: usize,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OpportunityPage {
    pub items: Vec<OpportunityView>,
    pub total: usize,
    pub page: usize,
    pub per_page: usize,
    /// Per currency, over everything the filters select (every page): never added across
    /// currencies.
    pub totals: BTreeMap<String, ListTotals>,
}

/// What a list holds in one currency.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ListTotals {
    pub count: i64,
    /// Expected revenue, in cents.
    pub value_cents: i64,
    /// Weighted expected revenue (open opportunities only), in cents.
    pub weighted_cents: i64,
}

/// Per-currency totals of `facts`.
pub fn totals_of<'a>(
    facts: impl IntoIterator<Item = &'a OpportunityFact>,
) -> BTreeMap<String, ListTotals> {
    let mut totals: BTreeMap<String, ListTotals> = BTreeMap::new();
    for fact in facts {
        let entry = crate::projections::currency_entry(&mut totals, &fact.currency);
        entry.count += 1;
        entry.value_cents += fact.expected_revenue;
        entry.weighted_cents += fact.weighted_revenue;
    }
    totals
}

fn admits(fact: &OpportunityFact, filter: &OpportunityFilter) -> bool {
    let within = |day: Option<Date>, from: Option<Date>, to: Option<Date>| {
        (from.is_none() && to.is_none())
            || day.is_some_and(|day| from.is_none_or(|f| day >= f) && to.is_none_or(|t| day <= t))
    };
    (filter.include_leads || fact.kind == LeadKind::Opportunity)
        && filter
            .stage
            .is_none_or(|s| fact.stage.unwrap_or(NO_STAGE) == s)
        && filter
            .salesperson
            .is_none_or(|s| fact.salesperson == Some(s))
        && filter.team.is_none_or(|t| fact.team == Some(t))
        && filter
            .currency
            .as_deref()
            .is_none_or(|c| fact.currency.eq_ignore_ascii_case(c))
        && filter.status.is_none_or(|s| s.admits(fact.status))
        && within(fact.date_deadline, filter.close_from, filter.close_to)
        && (!filter.no_expected_close || fact.date_deadline.is_none())
        && super::in_closing_period(fact, filter.closed_from, filter.closed_to)
}

/// Every match in list order: only ids while the facts sufficed, else the decoded views.
enum Found {
    Ids(Vec<OdooId>, Option<Timestamp>),
    Views(Vec<OpportunityView>),
}

impl Found {
    fn page(
        self,
        snapshot: &Snapshot,
        start: usize,
        count: usize,
    ) -> Result<Vec<OpportunityView>, QueryError> {
        match self {
            Found::Ids(ids, as_of) => {
                let start = start.min(ids.len());
                let end = start.saturating_add(count).min(ids.len());
                views_of(snapshot, &ids[start..end], as_of)
            }
            Found::Views(views) => Ok(views.into_iter().skip(start).take(count).collect()),
        }
    }
}

/// The views of `ids`, now or as they were at a moment.
fn views_of(
    snapshot: &Snapshot,
    ids: &[OdooId],
    as_of: Option<Timestamp>,
) -> Result<Vec<OpportunityView>, QueryError> {
    match as_of {
        Some(at) => super::history::views_as_of(snapshot, ids, at),
        None => Ok(snapshot.opportunities(ids)?),
    }
}

/// Filters (text included) and sorts on the compact facts; decodes full views only for a sort by
/// name or salesperson, or for the page finally shown. Also gives the totals of every match.
fn find(
    snapshot: &Snapshot,
    viewer: &Viewer,
    filter: &OpportunityFilter,
) -> Result<(Found, usize, BTreeMap<String, ListTotals>), QueryError> {
    let within_user = match filter.user {
        Some(user) if viewer.sees_user(user) => Some(
            snapshot
                .access(user)?
                .map(|access| access.visible_users)
                .unwrap_or_default(),
        ),
        Some(_) => return Err(QueryError::NotFound),
        None => None,
    };
    let in_the_hierarchy = match filter.owner {
        Some(OwnerFilter::Outside) => Some(super::team_table::in_the_hierarchy(snapshot)?),
        _ => None,
    };
    let owner_admitted = |owner: Option<OdooId>| match (filter.owner, owner) {
        (None, _) => true,
        (Some(OwnerFilter::Unassigned), owner) => owner.is_none(),
        (Some(OwnerFilter::Outside), None) => false,
        (Some(OwnerFilter::Outside), Some(owner)) => in_the_hierarchy
            .as_ref()
            .is_some_and(|members| !members.contains(&owner)),
    };
    let all = match filter.as_of {
        Some(at) => super::history::facts_as_of(snapshot, at, filter.text.is_some())?.facts,
        None => snapshot.opportunity_facts()?,
    };
    let needle = filter.text.as_ref().map(|text| text.to_lowercase());
    let mut facts: Vec<&OpportunityFact> = all
        .iter()
        .filter(|fact| {
            viewer.sees_owner(fact.salesperson)
                && owner_admitted(fact.salesperson)
                && within_user.as_ref().is_none_or(|owners| {
                    fact.salesperson
                        .is_some_and(|owner| owners.binary_search(&owner).is_ok())
                })
                && admits(fact, filter)
                && needle.as_deref().is_none_or(|needle| fact.mentions(needle))
        })
        .collect();
    let totals = totals_of(facts.iter().copied());
    let total = facts.len();
    let by_facts = matches!(
        filter.sort,
        SortKey::ExpectedClose | SortKey::Revenue | SortKey::Stage
    );
    if by_facts {
        let stages: std::collections::HashMap<OdooId, i64> = snapshot
            .stages()?
            .into_iter()
            .map(|stage| (stage.id, stage.sequence))
            .collect();
        let stage_order = |fact: &OpportunityFact| {
            fact.stage
                .and_then(|id| stages.get(&id).map(|sequence| (*sequence, id)))
        };
        facts.sort_by(|a, b| {
            let order = match filter.sort {
                SortKey::Revenue => a.expected_revenue.cmp(&b.expected_revenue),
                SortKey::Stage => stage_order(a).cmp(&stage_order(b)),
                _ => a.date_deadline.cmp(&b.date_deadline),
            };
            // Deals without an expected close come last either way: a date sort is about dates.
            let undated_last = match filter.sort {
                SortKey::ExpectedClose => a.date_deadline.is_none().cmp(&b.date_deadline.is_none()),
                _ => std::cmp::Ordering::Equal,
            };
            undated_last
                .then(directed(order, filter.descending))
                .then(a.id.cmp(&b.id))
        });
    }
    let ids: Vec<OdooId> = facts.iter().map(|fact| fact.id).collect();
    if by_facts {
        return Ok((Found::Ids(ids, filter.as_of), total, totals));
    }
    let mut views = views_of(snapshot, &ids, filter.as_of)?;
    let name = |view: &OpportunityView| view.name.to_lowercase();
    let salesperson = |view: &OpportunityView| view.salesperson.as_ref().map(|s| s.name.clone());
    views.sort_by(|a, b| {
        let order = match filter.sort {
            SortKey::Salesperson => salesperson(a).cmp(&salesperson(b)),
            _ => name(a).cmp(&name(b)),
        };
        directed(order, filter.descending).then(a.id.cmp(&b.id))
    });
    Ok((Found::Views(views), total, totals))
}

fn directed(order: std::cmp::Ordering, descending: bool) -> std::cmp::Ordering {
    if descending { order.reverse() } else { order }
}

/// One page of the visible opportunities that match, in order; `total` counts only what the
/// viewer can see.
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
    let (found, total, totals) = find(snapshot, viewer, filter)?;
    let start = (filter.page - 1).saturating_mul(filter.per_page);
    Ok(OpportunityPage {
        items: found.page(snapshot, start, filter.per_page)?,
        total,
        page: filter.page,
        per_page: filter.per_page,
        totals,
    })
}

/// Every visible opportunity that matches, in order (what a CSV export holds); paging is ignored.
pub fn all_opportunities(
    snapshot: &Snapshot,
    viewer: &Viewer,
    filter: &OpportunityFilter,
) -> Result<Vec<OpportunityView>, QueryError> {
    find(snapshot, viewer, filter)?
        .0
        .page(snapshot, 0, usize::MAX)
}

/// A spreadsheet runs a cell that starts with one of these as a formula (`=HYPERLINK(...)` in a
/// lead's name would), so such text gets a leading apostrophe, as OWASP recommends for CSV.
fn neutralise_formula(text: &str) -> std::borrow::Cow<'_, str> {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}").into()
    } else {
        text.into()
    }
}

/// The rows as CSV: the same query, every page.
pub fn to_csv(items: &[OpportunityView]) -> String {
    fn field(text: &str) -> String {
        let text = neutralise_formula(text);
        if text.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", text.replace('"', "\"\""))
        } else {
            text.into_owned()
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
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct HistoryEntry {
    pub position: u64,
    /// When it happened at the source (Odoo's `write_date`), else when pipelog recorded it.
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub recorded_at: Timestamp,
    pub source: Option<String>,
    /// Who made the change: the author in Odoo's chatter for a tracked change, else the account
    /// or process that recorded it.
    pub actor: Option<String>,
    pub event: String,
    /// Field-level changes: `{field, before, after}`.
    #[schema(value_type = Vec<Object>)]
    pub changes: Vec<serde_json::Value>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OpportunityDetail {
    pub opportunity: OpportunityView,
    /// The opportunity's version (its events so far): send it back as `If-Match` with a command,
    /// so that a change made meanwhile is refused instead of overwritten. Also the `ETag`.
    pub version: u64,
    /// The salesperson's managers, nearest first, with their names.
    pub managers: Vec<NamedRef>,
    pub history: Vec<HistoryEntry>,
    /// The deal in Odoo's web client; `null` when no Odoo is configured.
    pub odoo_url: Option<String>,
}

/// Names for the ids a history mentions (stages, people, teams), read once per detail.
struct Names<'s> {
    snapshot: &'s Snapshot,
    stages: HashMap<OdooId, String>,
    teams: HashMap<OdooId, String>,
}

impl<'s> Names<'s> {
    fn new(snapshot: &'s Snapshot) -> Result<Names<'s>, QueryError> {
        Ok(Names {
            snapshot,
            stages: snapshot
                .stages()?
                .into_iter()
                .map(|s| (s.id, s.name))
                .collect(),
            teams: snapshot
                .teams()?
                .into_iter()
                .map(|t| (t.id, t.name))
                .collect(),
        })
    }

    fn person(&self, id: OdooId) -> Result<Option<String>, QueryError> {
        Ok(self.snapshot.profile(id)?.map(|p| p.name))
    }

    /// The name behind an id-valued field, when it has one.
    fn of(&self, field: &str, value: &serde_json::Value) -> Result<Option<String>, QueryError> {
        let Some(id) = value.as_u64() else {
            return Ok(None);
        };
        Ok(match field {
            "stage_id" => self.stages.get(&id).cloned(),
            "team_id" => self.teams.get(&id).cloned(),
            "user_id" => self.person(id)?,
            _ => None,
        })
    }

    /// `{field, before, after}`, with `before_name`/`after_name` for ids that have a name.
    fn change(
        &self,
        field: &str,
        before: &serde_json::Value,
        after: &serde_json::Value,
    ) -> Result<serde_json::Value, QueryError> {
        let mut change = serde_json::json!({"field": field, "before": before, "after": after});
        if let Some(name) = self.of(field, before)? {
            change["before_name"] = serde_json::Value::String(name);
        }
        if let Some(name) = self.of(field, after)? {
            change["after_name"] = serde_json::Value::String(name);
        }
        Ok(change)
    }
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
    let names = Names::new(snapshot)?;
    let mut managers = Vec::with_capacity(opportunity.manager_chain.len());
    for &manager in &opportunity.manager_chain {
        managers.push(NamedRef {
            id: manager,
            name: names
                .person(manager)?
                .unwrap_or_else(|| format!("user {manager}")),
        });
    }
    let id_json = |id: Option<OdooId>| serde_json::json!(id);
    let mut history = Vec::new();
    for envelope in snapshot.aggregate_events(&format!("opportunity/{id}"))? {
        let mut actor = envelope.metadata.actor.clone();
        let changes = match &envelope.event {
            Event::OpportunityChangeRecorded {
                changes, author, ..
            } => {
                actor = author.clone().or(actor);
                changes
                    .iter()
                    .map(|c| names.change(&c.field, &c.before, &c.after))
                    .collect::<Result<Vec<_>, _>>()?
            }
            Event::OpportunityUpdated { changes, .. } => changes
                .iter()
                .map(|c| names.change(&c.field, &c.before, &c.after))
                .collect::<Result<Vec<_>, _>>()?,
            Event::OpportunityAssigned { from, to, .. } => {
                vec![names.change("user_id", &id_json(*from), &id_json(*to))?]
            }
            Event::OpportunityStageChanged { from, to, .. } => {
                vec![names.change("stage_id", &id_json(*from), &id_json(*to))?]
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
            actor,
            event: envelope.event.type_name().to_string(),
            changes,
        });
    }
    // The past imported from Odoo's tracking arrives after the deal's first read: shown in the
    // order it happened.
    history.sort_by_key(|entry| (entry.at, entry.position));
    Ok(OpportunityDetail {
        version: snapshot.aggregate_version(&format!("opportunity/{id}"))?,
        opportunity,
        managers,
        history,
        odoo_url: None,
    })
}

#[cfg(test)]
mod tests {
    use super::neutralise_formula;

    #[test]
    fn cells_a_spreadsheet_would_run_as_formulas_get_an_apostrophe() {
        for risky in ["=HYPERLINK(\"x\")", "+1", "-1+2", "@SUM(A1)", "\tx", "\rx"] {
            assert_eq!(neutralise_formula(risky), format!("'{risky}"));
        }
        for plain in ["Office chairs", "a=b", "", "100 - 20"] {
            assert_eq!(neutralise_formula(plain), plain);
        }
    }
}
