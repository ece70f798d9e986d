//! From Odoo records (wire shapes) to pipelog's domain records. A record that cannot be read is
//! quarantined with the reason, never half-applied.

use std::collections::HashMap;

use serde::Serialize;
use serde_json::Value;

use super::odoo::wire::{self, ValueError};
use crate::domain::{
    AccountRecord, EmployeeRecord, LeadKind, OdooId, OpportunityRecord, QuarantinedRecord,
    StageRecord, TeamRecord, UserRecord,
};

/// The Odoo models pipelog syncs, in the order a sync visits them (partners last: only those that
/// opportunities reference are synced).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum SyncModel {
    Stage,
    Team,
    User,
    Employee,
    Lead,
    Partner,
}

impl SyncModel {
    pub const ALL: [SyncModel; 6] = [
        SyncModel::Stage,
        SyncModel::Team,
        SyncModel::User,
        SyncModel::Employee,
        SyncModel::Lead,
        SyncModel::Partner,
    ];

    pub fn odoo_name(self) -> &'static str {
        match self {
            SyncModel::Stage => "crm.stage",
            SyncModel::Team => "crm.team",
            SyncModel::User => "res.users",
            SyncModel::Employee => "hr.employee",
            SyncModel::Lead => "crm.lead",
            SyncModel::Partner => "res.partner",
        }
    }

    /// Fields pipelog reads; those a server lacks (found with `fields_get`) are not requested.
    pub fn wanted_fields(self) -> &'static [&'static str] {
        match self {
            SyncModel::Stage => &[
                "name",
                "sequence",
                "is_won",
                "fold",
                "team_id",
                "write_date",
            ],
            SyncModel::Team => &["name", "user_id", "active", "write_date"],
            SyncModel::User => &[
                "name",
                "login",
                "email",
                "active",
                "share",
                "sale_team_id",
                "write_date",
            ],
            SyncModel::Employee => &[
                "name",
                "user_id",
                "parent_id",
                "work_email",
                "department_id",
                "job_title",
                "active",
                "write_date",
            ],
            SyncModel::Lead => &[
                "name",
                "type",
                "user_id",
                "team_id",
                "partner_id",
                "stage_id",
                "expected_revenue",
                "company_currency",
                "probability",
                "prorated_revenue",
                "date_deadline",
                "date_closed",
                "active",
                "lost_reason_id",
                // Where a deal's known history begins when Odoo tracked nothing of it; read with
                // the page, it saves a call per page of deals when the past is imported.
                "create_date",
                "write_date",
            ],
            SyncModel::Partner => &[
                "name",
                "city",
                "country_id",
                "is_company",
                "active",
                "write_date",
            ],
        }
    }

    /// Whether the model has an `active` field (stages do not).
    pub fn has_active(self) -> bool {
        self != SyncModel::Stage
    }
}

/// Names of small related records, fetched once per sync (with `load: None`, many2one values
/// arrive as bare ids).
#[derive(Debug, Clone, Default)]
pub struct Lookups {
    pub currencies: HashMap<OdooId, String>,
    pub countries: HashMap<OdooId, String>,
    pub departments: HashMap<OdooId, String>,
    pub lost_reasons: HashMap<OdooId, String>,
    /// Used when an opportunity's currency cannot be told.
    pub default_currency: String,
}

impl Lookups {
    fn name(map: &HashMap<OdooId, String>, id: Option<OdooId>) -> Option<String> {
        id.and_then(|id| map.get(&id).cloned())
    }
}

/// One mapped record.
#[derive(Debug, Clone, PartialEq)]
pub enum SyncedRecord {
    Stage(StageRecord),
    Team(TeamRecord),
    User(UserRecord),
    Employee(EmployeeRecord),
    Opportunity(OpportunityRecord),
    Account(AccountRecord),
}

/// Maps one Odoo record; the id and the source's `write_date` come along.
pub fn map_record(
    model: SyncModel,
    raw: &Value,
    lookups: &Lookups,
) -> Result<(OdooId, SyncedRecord, Option<jiff::Timestamp>), QuarantinedRecord> {
    let quarantine = |id: Option<OdooId>, error: ValueError| QuarantinedRecord {
        model: model.odoo_name().to_string(),
        id,
        reason: error.to_string(),
    };
    let id = wire::id(raw).map_err(|e| quarantine(None, e))?;
    let write_date = wire::datetime(raw, "write_date").map_err(|e| quarantine(Some(id), e))?;
    let record = map_fields(model, raw, lookups).map_err(|e| quarantine(Some(id), e))?;
    Ok((id, record, write_date))
}

fn map_fields(
    model: SyncModel,
    raw: &Value,
    lookups: &Lookups,
) -> Result<SyncedRecord, ValueError> {
    Ok(match model {
        SyncModel::Stage => SyncedRecord::Stage(StageRecord {
            name: wire::required_text(raw, "name")?,
            sequence: wire::integer(raw, "sequence")?,
            is_won: wire::boolean(raw, "is_won", false)?,
            fold: wire::boolean(raw, "fold", false)?,
            team_id: wire::many2one(raw, "team_id")?,
        }),
        SyncModel::Team => SyncedRecord::Team(TeamRecord {
            name: wire::required_text(raw, "name")?,
            leader_id: wire::many2one(raw, "user_id")?,
            active: wire::boolean(raw, "active", true)?,
        }),
        SyncModel::User => SyncedRecord::User(UserRecord {
            name: wire::text(raw, "name")?.unwrap_or_default(),
            login: wire::required_text(raw, "login")?,
            email: wire::text(raw, "email")?,
            active: wire::boolean(raw, "active", true)?,
            share: wire::boolean(raw, "share", false)?,
            team_id: wire::many2one(raw, "sale_team_id")?,
        }),
        SyncModel::Employee => SyncedRecord::Employee(EmployeeRecord {
            name: wire::text(raw, "name")?.unwrap_or_default(),
            user_id: wire::many2one(raw, "user_id")?,
            manager_id: wire::many2one(raw, "parent_id")?,
            work_email: wire::text(raw, "work_email")?,
            department: Lookups::name(&lookups.departments, wire::many2one(raw, "department_id")?),
            job_title: wire::text(raw, "job_title")?,
            active: wire::boolean(raw, "active", true)?,
        }),
        SyncModel::Lead => {
            let kind = match wire::text(raw, "type")?.as_deref() {
                Some("opportunity") => LeadKind::Opportunity,
                Some("lead") | None => LeadKind::Lead,
                Some(other) => {
                    return Err(ValueError {
                        field: "type".into(),
                        reason: format!("unknown lead type {other:?}"),
                    });
                }
            };
            let currency = Lookups::name(
                &lookups.currencies,
                wire::many2one(raw, "company_currency")?,
            )
            .unwrap_or_else(|| lookups.default_currency.clone());
            SyncedRecord::Opportunity(OpportunityRecord {
                name: wire::text(raw, "name")?.unwrap_or_default(),
                kind,
                user_id: wire::many2one(raw, "user_id")?,
                team_id: wire::many2one(raw, "team_id")?,
                account_id: wire::many2one(raw, "partner_id")?,
                stage_id: wire::many2one(raw, "stage_id")?,
                expected_revenue: wire::cents(raw, "expected_revenue")?,
                currency,
                probability: wire::percent(raw, "probability")?,
                date_deadline: wire::date(raw, "date_deadline")?,
                date_closed: wire::datetime(raw, "date_closed")?,
                active: wire::boolean(raw, "active", true)?,
                lost_reason: Lookups::name(
                    &lookups.lost_reasons,
                    wire::many2one(raw, "lost_reason_id")?,
                ),
                // Only where the server has the field (it is then always in the answer).
                prorated_revenue: raw
                    .get("prorated_revenue")
                    .map(|_| wire::cents(raw, "prorated_revenue"))
                    .transpose()?,
            })
        }
        SyncModel::Partner => SyncedRecord::Account(AccountRecord {
            name: wire::text(raw, "name")?.unwrap_or_default(),
            city: wire::text(raw, "city")?,
            country: Lookups::name(&lookups.countries, wire::many2one(raw, "country_id")?),
            is_company: wire::boolean(raw, "is_company", false)?,
            active: wire::boolean(raw, "active", true)?,
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn lookups() -> Lookups {
        Lookups {
            currencies: HashMap::from([(1, "USD".to_string())]),
            lost_reasons: HashMap::from([(1, "Too expensive".to_string())]),
            default_currency: "EUR".into(),
            ..Lookups::default()
        }
    }

    #[test]
    fn a_recorded_lead_maps_with_ids_only() {
        let raw = json!({"id": 14, "name": "Open Space Design", "type": "opportunity", "user_id": [2, "Mitchell Admin"],
            "team_id": [1, "Sales"], "partner_id": [3, "YourCompany, Mitchell Admin"], "stage_id": [1, "New"],
            "expected_revenue": 11000.0, "company_currency": [1, "USD"], "probability": 0.0, "date_deadline": "2026-12-09",
            "date_closed": "2026-11-26 21:30:55", "active": false, "lost_reason_id": [1, "Too expensive"],
            "write_date": "2026-11-26 21:30:55"});
        let (id, record, write_date) = map_record(SyncModel::Lead, &raw, &lookups()).expect("maps");
        assert_eq!(id, 14);
        assert_eq!(
            write_date.map(|t| t.to_string()),
            Some("2026-11-26T21:30:55Z".to_string())
        );
        let SyncedRecord::Opportunity(o) = record else {
            panic!("an opportunity")
        };
        assert_eq!(
            (o.user_id, o.account_id, o.stage_id),
            (Some(2), Some(3), Some(1))
        );
        assert_eq!(
            (o.expected_revenue, o.currency.as_str(), o.active),
            (1_100_000, "USD", false)
        );
        assert_eq!(o.lost_reason.as_deref(), Some("Too expensive"));
        assert_eq!(o.prorated_revenue, None, "a server without the field");
    }

    #[test]
    fn odoo_s_prorated_revenue_is_read_as_the_weighted_value() {
        // As recorded from Odoo 18 (crm.lead.json): 40,000 at 10 % stored as 4000.0.
        let raw = json!({"id": 9, "name": "Quote", "type": "opportunity", "expected_revenue": 40000.0,
            "probability": 10.0, "prorated_revenue": 4000.0, "active": true, "write_date": false});
        let (_, record, _) = map_record(SyncModel::Lead, &raw, &lookups()).expect("maps");
        let SyncedRecord::Opportunity(o) = record else {
            panic!("an opportunity")
        };
        assert_eq!(o.prorated_revenue, Some(400_000));
        let stored_differently = json!({"id": 9, "type": "opportunity", "expected_revenue": 10.01,
            "probability": 50.0, "prorated_revenue": 5.0, "write_date": false});
        let (_, record, _) =
            map_record(SyncModel::Lead, &stored_differently, &lookups()).expect("maps");
        let SyncedRecord::Opportunity(o) = record else {
            panic!("an opportunity")
        };
        assert_eq!(
            o.weighted_revenue(),
            500,
            "Odoo's stored value, not a recomputation (501)"
        );
    }

    #[test]
    fn malformed_records_are_quarantined_with_the_reason() {
        let missing_id = json!({"name": "x"});
        let error = map_record(SyncModel::Team, &missing_id, &lookups()).expect_err("quarantined");
        assert_eq!(error.id, None);
        let absurd =
            json!({"id": 5, "type": "opportunity", "expected_revenue": 1e30, "write_date": false});
        let error = map_record(SyncModel::Lead, &absurd, &lookups()).expect_err("quarantined");
        assert_eq!(error.id, Some(5));
        assert!(
            error.reason.contains("expected_revenue"),
            "{}",
            error.reason
        );
        let wrong_type = json!({"id": 6, "name": "Sales", "active": "yes"});
        assert!(map_record(SyncModel::Team, &wrong_type, &lookups()).is_err());
    }
}
