//! The CRM records pipelog mirrors from Odoo, in pipelog's own shape.
//!
//! These are domain types, not wire types: Odoo's `false`-for-empty, many2one pairs and float money are
//! mapped away at the sync edge. Money is held in integer minor units so that sums are exact and do not
//! depend on the order in which they are added (replay must equal incremental, byte for byte).

use jiff::Timestamp;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};

use super::events::FieldChange;

/// An Odoo record id (`res.users`, `crm.lead`, ...). Odoo ids start at 1.
pub type OdooId = u64;

/// An amount in minor units (cents) of its currency.
pub type Cents = i64;

/// Declares a record struct together with the field-level diff and patch that events use, so that the
/// list of fields is written once and `changes_to`/`apply_change` can never disagree with the struct.
macro_rules! record {
    ($(#[$meta:meta])* pub struct $name:ident { $( $(#[$fmeta:meta])* pub $field:ident : $ty:ty, )* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        pub struct $name { $( $(#[$fmeta])* pub $field: $ty, )* }

        impl $name {
            /// Field-level differences from `self` to `next`, in declaration order.
            pub fn changes_to(&self, next: &Self) -> Vec<FieldChange> {
                let mut changes = Vec::new();
                $(
                    if self.$field != next.$field {
                        changes.push(FieldChange::new(stringify!($field), &self.$field, &next.$field));
                    }
                )*
                changes
            }

            /// Applies one field change. A field this version does not know (written by a newer
            /// pipelog) is ignored, so that additive changes decode both ways.
            pub fn apply_change(&mut self, change: &FieldChange) -> Result<(), serde_json::Error> {
                match change.field.as_str() {
                    $( stringify!($field) => self.$field = serde_json::from_value(change.after.clone())?, )*
                    _ => {}
                }
                Ok(())
            }
        }
    };
}

record! {
    /// A `res.users` record.
    pub struct UserRecord {
        pub name: String,
        pub login: String,
        pub email: Option<String>,
        pub active: bool,
        /// Portal and public users (`share = true`) never get a dashboard of their own.
        pub share: bool,
        pub team_id: Option<OdooId>,
    }
}

record! {
    /// An `hr.employee` record: the source of the reporting hierarchy.
    pub struct EmployeeRecord {
        pub name: String,
        pub user_id: Option<OdooId>,
        /// `parent_id`: this employee's manager, another employee.
        pub manager_id: Option<OdooId>,
        pub work_email: Option<String>,
        pub department: Option<String>,
        pub job_title: Option<String>,
        pub active: bool,
    }
}

/// Odoo's `crm.lead.type`: only opportunities count in the pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LeadKind {
    Lead,
    Opportunity,
}

record! {
    /// A `crm.lead` record (a lead or an opportunity).
    pub struct OpportunityRecord {
        pub name: String,
        pub kind: LeadKind,
        pub user_id: Option<OdooId>,
        pub team_id: Option<OdooId>,
        pub account_id: Option<OdooId>,
        pub stage_id: Option<OdooId>,
        pub expected_revenue: Cents,
        /// ISO currency code of `expected_revenue` (Odoo's `company_currency`).
        pub currency: String,
        /// 0 to 100.
        pub probability: f64,
        pub date_deadline: Option<Date>,
        pub date_closed: Option<Timestamp>,
        /// `false` means lost (Odoo archives lost opportunities).
        pub active: bool,
        pub lost_reason: Option<String>,
    }
}

record! {
    /// A `crm.stage` record.
    pub struct StageRecord {
        pub name: String,
        pub sequence: i64,
        pub is_won: bool,
        pub fold: bool,
        pub team_id: Option<OdooId>,
    }
}

record! {
    /// A `crm.team` record.
    pub struct TeamRecord {
        pub name: String,
        pub leader_id: Option<OdooId>,
        pub active: bool,
    }
}

record! {
    /// A `res.partner` record referenced by opportunities (a customer account).
    pub struct AccountRecord {
        pub name: String,
        pub city: Option<String>,
        pub country: Option<String>,
        pub is_company: bool,
        pub active: bool,
    }
}

impl OpportunityRecord {
    /// Expected revenue weighted by probability, rounded to whole cents. Computed per opportunity so that
    /// sums over many opportunities stay exact integers.
    pub fn weighted_revenue(&self) -> Cents {
        let probability = if self.probability.is_finite() {
            self.probability.clamp(0.0, 100.0)
        } else {
            0.0
        };
        (self.expected_revenue as f64 * probability / 100.0).round() as Cents
    }
}

/// Lower-cases an email for identity comparisons (emails are case-insensitive identities here).
pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// Whether a (normalized) email has someone before the `@` and somewhere after it.
pub fn is_email_address(email: &str) -> bool {
    email.contains('@') && !email.starts_with('@') && !email.ends_with('@')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opportunity() -> OpportunityRecord {
        OpportunityRecord {
            name: "Office chairs".into(),
            kind: LeadKind::Opportunity,
            user_id: Some(7),
            team_id: None,
            account_id: None,
            stage_id: Some(1),
            expected_revenue: 1_980_000,
            currency: "USD".into(),
            probability: 40.0,
            date_deadline: None,
            date_closed: None,
            active: true,
            lost_reason: None,
        }
    }

    #[test]
    fn changes_round_trip_through_apply() {
        let before = opportunity();
        let mut after = before.clone();
        after.stage_id = Some(4);
        after.probability = 100.0;
        after.user_id = None;
        let changes = before.changes_to(&after);
        assert_eq!(
            changes.iter().map(|c| c.field.as_str()).collect::<Vec<_>>(),
            ["user_id", "stage_id", "probability"]
        );
        let mut patched = before.clone();
        for change in &changes {
            patched.apply_change(change).expect("own change applies");
        }
        assert_eq!(patched, after);
    }

    #[test]
    fn unknown_fields_from_newer_versions_are_ignored() {
        let mut record = opportunity();
        let change = FieldChange::new("won_status", &"won", &"lost");
        record
            .apply_change(&change)
            .expect("unknown field is not an error");
        assert_eq!(record, opportunity());
    }

    #[test]
    fn a_change_of_the_wrong_type_is_an_error() {
        let mut record = opportunity();
        let change = FieldChange {
            field: "probability".into(),
            before: serde_json::json!(40.0),
            after: serde_json::json!("high"),
        };
        assert!(record.apply_change(&change).is_err());
    }

    #[test]
    fn weighted_revenue_rounds_per_opportunity_and_clamps() {
        let mut record = opportunity();
        record.expected_revenue = 1001;
        record.probability = 50.0;
        assert_eq!(record.weighted_revenue(), 501);
        record.probability = 250.0;
        assert_eq!(record.weighted_revenue(), 1001);
        record.probability = f64::NAN;
        assert_eq!(record.weighted_revenue(), 0);
    }
}
