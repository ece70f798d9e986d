//! A deal's state at one moment and the fields an event sets on it: reading a changed field,
//! merging a version with the one before it, and which fields differ between two states. Pure.

use jiff::Timestamp;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};

use crate::domain::{Cents, FieldChange, LeadKind, OdooId, OpportunityRecord};

/// The fields a version can set, one bit each.
pub mod field {
    pub const OWNER: u16 = 1;
    pub const TEAM: u16 = 1 << 1;
    pub const STAGE: u16 = 1 << 2;
    pub const ACCOUNT: u16 = 1 << 3;
    pub const CURRENCY: u16 = 1 << 4;
    pub const EXPECTED: u16 = 1 << 5;
    pub const PROBABILITY: u16 = 1 << 6;
    pub const PRORATED: u16 = 1 << 7;
    pub const DEADLINE: u16 = 1 << 8;
    pub const CLOSED: u16 = 1 << 9;
    pub const ACTIVE: u16 = 1 << 10;
    pub const LOST_REASON: u16 = 1 << 11;
    pub const KIND: u16 = 1 << 12;
    pub const EXISTS: u16 = 1 << 13;
    /// Whether probability and expected close are known (see [`super::DealState::untracked_known`]).
    pub const KNOWN: u16 = 1 << 14;
    pub const ALL: u16 = (1 << 15) - 1;

    /// Field names as the log writes them, with their bit; `name` is kept on the time line.
    pub const NAMES: [(&str, u16); 13] = [
        ("user_id", OWNER),
        ("team_id", TEAM),
        ("stage_id", STAGE),
        ("account_id", ACCOUNT),
        ("currency", CURRENCY),
        ("expected_revenue", EXPECTED),
        ("probability", PROBABILITY),
        ("prorated_revenue", PRORATED),
        ("date_deadline", DEADLINE),
        ("date_closed", CLOSED),
        ("active", ACTIVE),
        ("lost_reason", LOST_REASON),
        ("kind", KIND),
    ];
}

/// A deal as it was at one moment: the fields history questions ask about. Strings (currency,
/// lost reason) are indexes into the time line's `texts`, so a version is small and `Copy`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct DealState {
    pub exists: bool,
    pub opportunity: bool,
    pub user_id: Option<OdooId>,
    pub team_id: Option<OdooId>,
    pub stage_id: Option<OdooId>,
    pub account_id: Option<OdooId>,
    pub currency: u16,
    pub expected_revenue: Cents,
    pub probability: f64,
    pub prorated_revenue: Option<Cents>,
    pub date_deadline: Option<Date>,
    /// The UTC day it was won or lost, as Odoo says.
    pub closed_on: Option<Date>,
    pub active: bool,
    /// 0 for none, else 1 + an index into `texts`.
    pub lost_reason: u16,
    /// Probability and expected close are known: pipelog had read the deal by then. Before
    /// that, the state comes from Odoo's tracking, which never records those two fields.
    pub untracked_known: bool,
}

impl DealState {
    /// Expected revenue weighted by probability, as the live views compute it.
    pub fn weighted_revenue(&self) -> Cents {
        crate::domain::weighted_cents(
            self.expected_revenue,
            self.probability,
            self.prorated_revenue,
        )
    }
}

pub(super) fn state_of(record: &OpportunityRecord, currency: u16, lost_reason: u16) -> DealState {
    DealState {
        exists: true,
        opportunity: record.kind == LeadKind::Opportunity,
        user_id: record.user_id,
        team_id: record.team_id,
        stage_id: record.stage_id,
        account_id: record.account_id,
        currency,
        expected_revenue: record.expected_revenue,
        probability: record.probability,
        prorated_revenue: record.prorated_revenue,
        date_deadline: record.date_deadline,
        closed_on: record.date_closed.map(utc_day),
        active: record.active,
        lost_reason,
        untracked_known: true,
    }
}

pub fn utc_day(at: Timestamp) -> Date {
    at.to_zoned_datetime(jiff::tz::TimeZone::UTC).date()
}

/// Sets one changed field; `None` for a field history does not hold or a value it cannot read
/// (the live views report those as anomalies).
pub(super) fn set_field(
    state: &mut DealState,
    change: &FieldChange,
    text: Option<u16>,
) -> Option<u16> {
    fn read<T: serde::de::DeserializeOwned>(change: &FieldChange) -> Option<T> {
        serde_json::from_value(change.after.clone()).ok()
    }
    match change.field.as_str() {
        "user_id" => state.user_id = read(change)?,
        "team_id" => state.team_id = read(change)?,
        "stage_id" => state.stage_id = read(change)?,
        "account_id" => state.account_id = read(change)?,
        "currency" => state.currency = text?,
        "expected_revenue" => state.expected_revenue = read(change)?,
        "probability" => state.probability = read(change)?,
        "prorated_revenue" => state.prorated_revenue = read(change)?,
        "date_deadline" => state.date_deadline = read(change)?,
        "date_closed" => state.closed_on = read::<Option<Timestamp>>(change)?.map(utc_day),
        "active" => state.active = read(change)?,
        "lost_reason" => {
            let reason: Option<String> = read(change)?;
            state.lost_reason = if reason.is_some() { text? } else { 0 };
        }
        "kind" => state.opportunity = read::<LeadKind>(change)? == LeadKind::Opportunity,
        _ => return None,
    }
    field::NAMES
        .iter()
        .find(|(name, _)| *name == change.field)
        .map(|(_, bit)| *bit)
}

/// `own`'s fields where `set` says so, `previous`'s elsewhere.
pub(super) fn merge(previous: DealState, own: DealState, set: u16) -> DealState {
    use field::*;
    let pick = |bit: u16| set & bit != 0;
    DealState {
        exists: if pick(EXISTS) {
            own.exists
        } else {
            previous.exists
        },
        opportunity: if pick(KIND) {
            own.opportunity
        } else {
            previous.opportunity
        },
        user_id: if pick(OWNER) {
            own.user_id
        } else {
            previous.user_id
        },
        team_id: if pick(TEAM) {
            own.team_id
        } else {
            previous.team_id
        },
        stage_id: if pick(STAGE) {
            own.stage_id
        } else {
            previous.stage_id
        },
        account_id: if pick(ACCOUNT) {
            own.account_id
        } else {
            previous.account_id
        },
        currency: if pick(CURRENCY) {
            own.currency
        } else {
            previous.currency
        },
        expected_revenue: if pick(EXPECTED) {
            own.expected_revenue
        } else {
            previous.expected_revenue
        },
        probability: if pick(PROBABILITY) {
            own.probability
        } else {
            previous.probability
        },
        prorated_revenue: if pick(PRORATED) {
            own.prorated_revenue
        } else {
            previous.prorated_revenue
        },
        date_deadline: if pick(DEADLINE) {
            own.date_deadline
        } else {
            previous.date_deadline
        },
        closed_on: if pick(CLOSED) {
            own.closed_on
        } else {
            previous.closed_on
        },
        active: if pick(ACTIVE) {
            own.active
        } else {
            previous.active
        },
        lost_reason: if pick(LOST_REASON) {
            own.lost_reason
        } else {
            previous.lost_reason
        },
        untracked_known: if pick(KNOWN) {
            own.untracked_known
        } else {
            previous.untracked_known
        },
    }
}

/// The fields that differ between two states, as names of the log's fields.
pub fn changed_fields(before: &DealState, after: &DealState) -> u16 {
    use field::*;
    let mut changed = 0;
    let mut differs = |bit: u16, yes: bool| {
        if yes {
            changed |= bit;
        }
    };
    differs(OWNER, before.user_id != after.user_id);
    differs(TEAM, before.team_id != after.team_id);
    differs(STAGE, before.stage_id != after.stage_id);
    differs(ACCOUNT, before.account_id != after.account_id);
    differs(CURRENCY, before.currency != after.currency);
    differs(EXPECTED, before.expected_revenue != after.expected_revenue);
    differs(PROBABILITY, before.probability != after.probability);
    differs(PRORATED, before.prorated_revenue != after.prorated_revenue);
    differs(DEADLINE, before.date_deadline != after.date_deadline);
    differs(CLOSED, before.closed_on != after.closed_on);
    differs(ACTIVE, before.active != after.active);
    differs(LOST_REASON, before.lost_reason != after.lost_reason);
    differs(KIND, before.opportunity != after.opportunity);
    differs(EXISTS, before.exists != after.exists);
    changed
}
