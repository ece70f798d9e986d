//! Pipeline aggregates: additive, per-currency integer totals.
//!
//! Every opportunity contributes one [`Contribution`]; an [`Aggregate`] is a sum of contributions.
//! Adding and removing contributions is exact (integers) and prunes empty entries, so an aggregate
//! kept up to date event by event is identical to one summed from scratch: the property that lets
//! incremental views equal a replay byte for byte.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::domain::{Cents, LeadKind, OdooId, OpportunityRecord, StageRecord};

/// Odoo's pipeline semantics: lost = archived; won = in a stage flagged `is_won`; open = the rest.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum DealStatus {
    Open,
    Won,
    Lost,
}

impl DealStatus {
    pub fn of(opportunity: &OpportunityRecord, stage: Option<&StageRecord>) -> DealStatus {
        DealStatus::from_flags(opportunity.active, stage.is_some_and(|stage| stage.is_won))
    }

    /// Lost when archived, else won in a won stage, else open.
    pub fn from_flags(active: bool, in_won_stage: bool) -> DealStatus {
        if !active {
            DealStatus::Lost
        } else if in_won_stage {
            DealStatus::Won
        } else {
            DealStatus::Open
        }
    }
}

/// Stage id used for opportunities that have no stage.
pub const NO_STAGE: OdooId = 0;

/// What one opportunity adds to its owner's (and everyone above them's) totals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contribution {
    pub owner: Option<OdooId>,
    pub currency: Arc<str>,
    pub status: DealStatus,
    pub stage_id: OdooId,
    pub value: Cents,
    pub weighted: Cents,
}

impl Contribution {
    /// `None` for leads: only `type = opportunity` counts in the pipeline.
    pub fn of(
        opportunity: &OpportunityRecord,
        stage: Option<&StageRecord>,
    ) -> Option<Contribution> {
        if opportunity.kind != LeadKind::Opportunity {
            return None;
        }
        let status = DealStatus::of(opportunity, stage);
        Some(Contribution {
            owner: opportunity.user_id,
            currency: opportunity.currency.as_str().into(),
            status,
            stage_id: opportunity.stage_id.unwrap_or(NO_STAGE),
            value: opportunity.expected_revenue,
            weighted: if status == DealStatus::Open {
                opportunity.weighted_revenue()
            } else {
                0
            },
        })
    }
}

/// Count and value of the active opportunities in one stage.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageTotals {
    pub count: i64,
    pub value: Cents,
}

/// Totals in one currency. Counts are signed only so that intermediate subtraction cannot wrap.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    pub open_count: i64,
    pub open_value: Cents,
    pub weighted_value: Cents,
    pub won_count: i64,
    pub won_value: Cents,
    pub lost_count: i64,
    pub lost_value: Cents,
    /// Active (open and won) opportunities by stage id, like Odoo's pipeline view.
    pub by_stage: BTreeMap<OdooId, StageTotals>,
}

impl Totals {
    fn is_empty(&self) -> bool {
        self.open_count == 0
            && self.open_value == 0
            && self.weighted_value == 0
            && self.won_count == 0
            && self.won_value == 0
            && self.lost_count == 0
            && self.lost_value == 0
            && self.by_stage.is_empty()
    }

    fn add_contribution(&mut self, c: &Contribution, sign: i64) {
        match c.status {
            DealStatus::Open => {
                self.open_count += sign;
                self.open_value += sign * c.value;
                self.weighted_value += sign * c.weighted;
            }
            DealStatus::Won => {
                self.won_count += sign;
                self.won_value += sign * c.value;
            }
            DealStatus::Lost => {
                self.lost_count += sign;
                self.lost_value += sign * c.value;
            }
        }
        if c.status != DealStatus::Lost {
            add_stage(
                &mut self.by_stage,
                c.stage_id,
                StageTotals {
                    count: 1,
                    value: c.value,
                },
                sign,
            );
        }
    }

    fn add_totals(&mut self, other: &Totals, sign: i64) {
        self.open_count += sign * other.open_count;
        self.open_value += sign * other.open_value;
        self.weighted_value += sign * other.weighted_value;
        self.won_count += sign * other.won_count;
        self.won_value += sign * other.won_value;
        self.lost_count += sign * other.lost_count;
        self.lost_value += sign * other.lost_value;
        for (&stage, &totals) in &other.by_stage {
            add_stage(&mut self.by_stage, stage, totals, sign);
        }
    }

    pub fn deal_count(&self) -> i64 {
        self.open_count + self.won_count + self.lost_count
    }

    /// Won ÷ (won + lost) by count; `None` when nothing is closed.
    pub fn win_rate_by_count(&self) -> Option<f64> {
        let closed = self.won_count + self.lost_count;
        (closed > 0).then(|| self.won_count as f64 / closed as f64)
    }

    /// Won ÷ (won + lost) by value; `None` when nothing of value is closed.
    pub fn win_rate_by_value(&self) -> Option<f64> {
        let closed = self.won_value + self.lost_value;
        (closed != 0).then(|| self.won_value as f64 / closed as f64)
    }

    /// The same totals without the per-stage breakdown (for team tables).
    pub fn summary(&self) -> Totals {
        Totals {
            by_stage: BTreeMap::new(),
            ..self.clone()
        }
    }
}

fn add_stage(
    by_stage: &mut BTreeMap<OdooId, StageTotals>,
    stage: OdooId,
    add: StageTotals,
    sign: i64,
) {
    let entry = by_stage.entry(stage).or_default();
    entry.count += sign * add.count;
    entry.value += sign * add.value;
    if entry.count == 0 && entry.value == 0 {
        by_stage.remove(&stage);
    }
}

/// The entry of `currency` in a per-currency map, made when missing. Looked up before it is
/// made: summing 100,000 deals then copies each currency's name once, not once per deal.
pub fn currency_entry<'a, V: Default>(
    map: &'a mut BTreeMap<String, V>,
    currency: &str,
) -> &'a mut V {
    if !map.contains_key(currency) {
        map.insert(currency.to_string(), V::default());
    }
    map.get_mut(currency).expect("inserted just above")
}

/// Totals per currency: amounts in different currencies are never added together.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Aggregate {
    pub by_currency: BTreeMap<String, Totals>,
}

impl Aggregate {
    pub fn is_empty(&self) -> bool {
        self.by_currency.is_empty()
    }

    pub fn add(&mut self, contribution: &Contribution, sign: i64) {
        let currency: &str = &contribution.currency;
        let totals = currency_entry(&mut self.by_currency, currency);
        totals.add_contribution(contribution, sign);
        if totals.is_empty() {
            self.by_currency.remove(currency);
        }
    }

    pub fn add_aggregate(&mut self, other: &Aggregate, sign: i64) {
        for (currency, other_totals) in &other.by_currency {
            let totals = self.by_currency.entry(currency.clone()).or_default();
            totals.add_totals(other_totals, sign);
            if totals.is_empty() {
                self.by_currency.remove(currency);
            }
        }
    }

    pub fn summary(&self) -> Aggregate {
        Aggregate {
            by_currency: self
                .by_currency
                .iter()
                .map(|(currency, totals)| (currency.clone(), totals.summary()))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::samples::{opportunity, stage};

    fn contribution(status: DealStatus, currency: &str, value: Cents) -> Contribution {
        Contribution {
            owner: Some(1),
            currency: currency.into(),
            status,
            stage_id: 3,
            value,
            weighted: value / 2,
        }
    }

    #[test]
    fn status_follows_odoo_semantics() {
        let won = stage("Won", 70, true);
        let new = stage("New", 1, false);
        let mut record = opportunity(Some(1), 1, 100);
        assert_eq!(DealStatus::of(&record, Some(&new)), DealStatus::Open);
        assert_eq!(DealStatus::of(&record, Some(&won)), DealStatus::Won);
        record.active = false;
        assert_eq!(DealStatus::of(&record, Some(&won)), DealStatus::Lost);
        assert_eq!(DealStatus::of(&record, None), DealStatus::Lost);
    }

    #[test]
    fn leads_contribute_nothing_and_only_open_deals_are_weighted() {
        let mut record = opportunity(Some(1), 1, 1000);
        let open = Contribution::of(&record, Some(&stage("New", 1, false))).expect("opportunity");
        assert_eq!(open.weighted, 500);
        let won = Contribution::of(&record, Some(&stage("Won", 9, true))).expect("opportunity");
        assert_eq!(won.weighted, 0);
        record.kind = LeadKind::Lead;
        assert_eq!(Contribution::of(&record, None), None);
    }

    #[test]
    fn adding_then_removing_leaves_nothing_behind() {
        let mut aggregate = Aggregate::default();
        let a = contribution(DealStatus::Open, "USD", 100);
        let b = contribution(DealStatus::Won, "EUR", 50);
        aggregate.add(&a, 1);
        aggregate.add(&b, 1);
        assert_eq!(aggregate.by_currency.len(), 2);
        assert_eq!(
            aggregate.by_currency["USD"].by_stage[&3],
            StageTotals {
                count: 1,
                value: 100
            }
        );
        aggregate.add(&a, -1);
        aggregate.add(&b, -1);
        assert_eq!(aggregate, Aggregate::default());
    }

    #[test]
    fn currencies_are_never_added_together() {
        let mut aggregate = Aggregate::default();
        aggregate.add(&contribution(DealStatus::Open, "USD", 100), 1);
        aggregate.add(&contribution(DealStatus::Open, "EUR", 70), 1);
        assert_eq!(aggregate.by_currency["USD"].open_value, 100);
        assert_eq!(aggregate.by_currency["EUR"].open_value, 70);
    }

    #[test]
    fn aggregates_merge_like_their_contributions() {
        let parts = [
            contribution(DealStatus::Open, "USD", 100),
            contribution(DealStatus::Won, "USD", 40),
            contribution(DealStatus::Lost, "USD", 60),
        ];
        let mut direct = Aggregate::default();
        let mut left = Aggregate::default();
        let mut right = Aggregate::default();
        for (i, part) in parts.iter().enumerate() {
            direct.add(part, 1);
            if i % 2 == 0 {
                left.add(part, 1)
            } else {
                right.add(part, 1)
            }
        }
        left.add_aggregate(&right, 1);
        assert_eq!(left, direct);
        let usd = &direct.by_currency["USD"];
        assert_eq!(usd.win_rate_by_count(), Some(0.5));
        assert_eq!(usd.win_rate_by_value(), Some(0.4));
        left.add_aggregate(&direct, -1);
        assert!(left.is_empty());
    }
}
