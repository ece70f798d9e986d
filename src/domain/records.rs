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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
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
        /// Odoo's stored `prorated_revenue` (expected revenue × probability, rounded to the cent
        /// as Odoo stores it); `None` when the server has no such field.
        #[serde(default)]
        pub prorated_revenue: Option<Cents>,
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
    /// Expected revenue weighted by probability, in cents: Odoo's own `prorated_revenue` where the
    /// server has it (its reports sum those), else computed per opportunity as Odoo computes it,
    /// so that sums over many opportunities stay exact integers and equal Odoo's.
    pub fn weighted_revenue(&self) -> Cents {
        weighted_cents(
            self.expected_revenue,
            self.probability,
            self.prorated_revenue,
        )
    }
}

/// Odoo's stored `prorated_revenue` where there is one, else the expected revenue (cents) at a
/// probability (percent, clamped to 0–100) as Odoo computes it.
pub fn weighted_cents(expected: Cents, probability: f64, prorated: Option<Cents>) -> Cents {
    prorated.unwrap_or_else(|| {
        let probability = if probability.is_finite() {
            probability.clamp(0.0, 100.0)
        } else {
            0.0
        };
        prorated_cents(expected, probability)
    })
}

/// Odoo's `prorated_revenue` of an expected revenue (cents) at a probability (percent): the
/// amount in currency units times the probability over 100, rounded half-up to the cent the way
/// Odoo's `float_round` does it. Its epsilon (2^-52 of the value's magnitude) pushes an x.xx5
/// that binary floating point holds as x.xx4999… up, where a plain round would go down.
pub fn prorated_cents(expected: Cents, probability: f64) -> Cents {
    let units = expected as f64 / 100.0 * probability / 100.0;
    let normalized = units / 0.01;
    if normalized == 0.0 || !normalized.is_finite() {
        return 0;
    }
    let epsilon = 2f64.powf(normalized.abs().log2() - 52.0);
    (normalized + normalized.signum() * epsilon).round() as Cents
}

/// Lower-cases an email for identity comparisons (emails are case-insensitive identities here).
pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// The longest email address (RFC 5321: a path of 256 octets less the angle brackets).
pub const MAX_EMAIL_LENGTH: usize = 254;

/// Whether a (normalized) email is an address in the shape mail systems accept: a dot-atom local
/// part of at most 64 octets (RFC 5322 `atext`, letters beyond ASCII allowed as RFC 6531 does),
/// `@`, and a domain of letter-digit-hyphen labels of at most 63 octets each, 254 octets in all.
/// Quoted local parts and address literals are refused: nobody signs up with them, and they are
/// where markup hides.
pub fn is_email_address(email: &str) -> bool {
    let Some((local, domain)) = email.rsplit_once('@') else {
        return false;
    };
    let atext = |c: char| c.is_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c);
    let label_ok = |label: &str| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label.chars().all(|c| c.is_alphanumeric() || c == '-')
    };
    email.len() <= MAX_EMAIL_LENGTH
        && !local.is_empty()
        && local.len() <= 64
        && local
            .split('.')
            .all(|atom| !atom.is_empty() && atom.chars().all(atext))
        && domain.split('.').all(label_ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_addresses_are_checked_for_shape_and_length() {
        for good in [
            "ann@example.com",
            "ann.lee+crm@sales.example.co.uk",
            "o'neil@example.ie",
            "admin@localhost",
            "jos\u{e9}@exempl\u{e9}.fr",
        ] {
            assert!(is_email_address(good), "{good}");
        }
        let long_local = format!("{}@example.com", "a".repeat(65));
        let long_label = format!("ann@{}.com", "a".repeat(64));
        let long_total = format!("ann@{}.com", vec!["a".repeat(60); 5].join("."));
        for bad in [
            "<script>alert(1)</script>@x.y",
            "ann@ex ample.com",
            "\"ann\"@example.com",
            "ann@[127.0.0.1]",
            "@example.com",
            "ann@",
            "ann",
            ".ann@example.com",
            "ann..lee@example.com",
            "ann@-example.com",
            "ann@example..com",
            "ann@exa_mple.com",
            long_local.as_str(),
            long_label.as_str(),
            long_total.as_str(),
        ] {
            assert!(!is_email_address(bad), "{bad}");
        }
    }

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
            prorated_revenue: None,
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
    fn prorated_revenue_rounds_half_up_as_odoo_does() {
        // 2.675 is 2.67499999… in binary: Python's round(2.675, 2) gives 2.67, Odoo's float_round 2.68.
        assert_eq!(prorated_cents(535, 50.0), 268);
        assert_eq!(prorated_cents(201, 50.0), 101, "1.005 → 1.01");
        assert_eq!(prorated_cents(1001, 50.0), 501, "5.005 → 5.01");
        assert_eq!(prorated_cents(100, 33.33), 33, "0.3333 → 0.33");
        assert_eq!(prorated_cents(1_234_500, 33.47), 413_187);
        assert_eq!(prorated_cents(0, 50.0), 0);
        assert_eq!(
            prorated_cents(-535, 50.0),
            -268,
            "half-up away from zero, as Odoo"
        );
    }

    #[test]
    fn odoo_s_stored_prorated_revenue_is_the_weighted_value() {
        let mut record = crate::domain::samples::opportunity(Some(1), 1, 1001);
        record.probability = 50.0;
        assert_eq!(record.weighted_revenue(), 501);
        record.prorated_revenue = Some(500);
        assert_eq!(record.weighted_revenue(), 500, "what Odoo stored wins");
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
