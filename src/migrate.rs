//! Migration from the legacy system's MongoDB collection `data_lake_serving` (a `mongoexport` dump:
//! a JSON array or one document per line, Extended JSON included) into the event log.
//!
//! Each document becomes events marked with source `migration` and its raw record is kept. Every
//! document is one command whose id derives from the document, so running the migration twice
//! imports nothing the second time. Broken documents are skipped and reported, never fatal.

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::domain::{
    AccountRecord, EmployeeRecord, Event, LeadKind, Metadata, NewEvent, OdooId, OpportunityRecord,
    StageRecord, TeamRecord, UserRecord,
};
use crate::store::{CommandBatch, SourceRecord, SourceUpdates, Store, StoreError};
use crate::sync::mapping::SyncModel;

/// Legacy stages are known by name only; they get ids from here up, which no Odoo uses, and a
/// reconcile never deletes them.
pub const LEGACY_STAGE_BASE: OdooId = 1 << 40;

/// Employees of legacy users without an employee id get `LEGACY_EMPLOYEE_BASE + user id`.
pub const LEGACY_EMPLOYEE_BASE: OdooId = 1 << 41;

#[derive(Debug, Clone, Default, Serialize)]
pub struct EntityReport {
    pub imported: u64,
    pub already_imported: u64,
    pub skipped: u64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct MigrationReport {
    pub documents: u64,
    pub by_entity: BTreeMap<String, EntityReport>,
    /// Why documents were skipped (the first 50).
    pub skipped: Vec<String>,
    pub events: u64,
}

const SKIPS_LISTED: usize = 50;

/// Extended JSON (`{"$oid": …}`, `{"$date": …}`, `{"$numberLong": …}`, …) to plain JSON.
pub fn plain(value: Value) -> Value {
    match value {
        Value::Object(map) if map.len() == 1 => {
            let (key, inner) = map
                .iter()
                .next()
                .map(|(k, v)| (k.clone(), v.clone()))
                .unwrap_or_default();
            match (key.as_str(), inner) {
                ("$oid", Value::String(id)) => Value::String(id),
                ("$date", Value::String(text)) => Value::String(text),
                ("$date", Value::Number(millis)) => millis_to_text(millis.as_i64()),
                ("$date", Value::Object(long)) => millis_to_text(
                    long.get("$numberLong")
                        .and_then(Value::as_str)
                        .and_then(|s| s.parse().ok()),
                ),
                ("$numberLong" | "$numberInt", Value::String(n)) => {
                    n.parse::<i64>().map(Value::from).unwrap_or(Value::Null)
                }
                ("$numberDouble" | "$numberDecimal", Value::String(n)) => {
                    n.parse::<f64>().map(Value::from).unwrap_or(Value::Null)
                }
                (_, inner) => {
                    let mut map = Map::new();
                    map.insert(key, plain(inner));
                    Value::Object(map)
                }
            }
        }
        Value::Object(map) => Value::Object(map.into_iter().map(|(k, v)| (k, plain(v))).collect()),
        Value::Array(items) => Value::Array(items.into_iter().map(plain).collect()),
        other => other,
    }
}

fn millis_to_text(millis: Option<i64>) -> Value {
    millis
        .and_then(|m| Timestamp::from_millisecond(m).ok())
        .map(|t| Value::String(t.to_string()))
        .unwrap_or(Value::Null)
}

/// The documents of a dump: a JSON array, or one document per line. A line that does not parse
/// is reported by number and skipped.
pub fn documents(text: &str) -> (Vec<Value>, Vec<String>) {
    let trimmed = text.trim_start();
    if trimmed.starts_with('[') {
        return match serde_json::from_str::<Vec<Value>>(trimmed) {
            Ok(docs) => (docs.into_iter().map(plain).collect(), Vec::new()),
            Err(error) => (
                Vec::new(),
                vec![format!("the file is not a valid JSON array: {error}")],
            ),
        };
    }
    let mut docs = Vec::new();
    let mut broken = Vec::new();
    for (number, line) in (1u64..).zip(text.lines()) {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Value>(line) {
            Ok(doc) => docs.push(plain(doc)),
            Err(error) => broken.push(format!("line {number}: not JSON ({error})")),
        }
    }
    (docs, broken)
}

/// A value that may be plain, Odoo-raw (`false`, `[id, name]`), or text.
fn id_of(value: Option<&Value>) -> Option<OdooId> {
    match value? {
        Value::Number(n) => n.as_u64().filter(|id| *id > 0),
        Value::String(s) => s.trim().parse().ok().filter(|id: &u64| *id > 0),
        Value::Array(pair) => id_of(pair.first()),
        _ => None,
    }
}

fn text_of(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Value::Array(pair) => pair.get(1).and_then(Value::as_str).map(str::to_string),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn number_of(value: Option<&Value>) -> Option<f64> {
    match value? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
    .filter(|n| n.is_finite())
}

struct Document {
    entity: String,
    key: String,
    data: Value,
    at: Option<Timestamp>,
}

fn document(doc: &Value) -> Result<Document, String> {
    let entity = doc
        .get("entity_type")
        .and_then(Value::as_str)
        .ok_or("no entity_type")?
        .to_string();
    if !matches!(entity.as_str(), "user" | "opportunity" | "account") {
        return Err(format!("unknown entity_type {entity:?}"));
    }
    let data = doc
        .get("data")
        .filter(|d| d.is_object())
        .ok_or("no data object")?
        .clone();
    let key = text_of(doc.get("serving_id"))
        .or_else(|| text_of(doc.get("_id")))
        .ok_or("no serving_id or _id")?;
    let at = doc
        .get("last_aggregated")
        .and_then(Value::as_str)
        .and_then(|t| t.parse().ok());
    Ok(Document {
        entity,
        key,
        data,
        at,
    })
}

/// Runs the migration; `default_currency` stands in for the currency the legacy data never had.
pub fn migrate(
    store: &Store,
    text: &str,
    default_currency: &str,
) -> Result<MigrationReport, StoreError> {
    let (docs, broken) = documents(text);
    let mut report = MigrationReport {
        documents: docs.len() as u64 + broken.len() as u64,
        skipped: broken,
        ..MigrationReport::default()
    };
    let mut parsed = Vec::new();
    for (index, doc) in docs.iter().enumerate() {
        match document(doc) {
            Ok(document) => parsed.push(document),
            Err(reason) => report
                .skipped
                .push(format!("document {}: {reason}", index + 1)),
        }
    }
    // Users first (the hierarchy needs every employee), then accounts, then opportunities.
    parsed.sort_by_key(|d| match d.entity.as_str() {
        "user" => 0,
        "account" => 1,
        _ => 2,
    });
    let employee_of: BTreeMap<OdooId, OdooId> = parsed
        .iter()
        .filter(|d| d.entity == "user")
        .filter_map(|d| {
            Some((
                id_of(d.data.get("odoo_user_id"))?,
                id_of(d.data.get("odoo_employee_id"))?,
            ))
        })
        .collect();
    let employees: BTreeSet<OdooId> = employee_of.values().copied().collect();
    let existing_stages: BTreeMap<String, OdooId> = store.with_model(|m| {
        m.stages()
            .iter()
            .filter(|(id, _)| **id >= LEGACY_STAGE_BASE)
            .map(|(id, s)| (s.name.to_lowercase(), *id))
            .collect()
    })?;
    let mut stages = existing_stages;
    let mut teams: BTreeSet<OdooId> = store.with_model(|m| m.teams().keys().copied().collect())?;
    for doc in parsed {
        let entry = report.by_entity.entry(doc.entity.clone()).or_default();
        let planned = match doc.entity.as_str() {
            "user" => user_events(&doc.data, &employee_of, &employees, &mut teams),
            "account" => account_events(&doc.data),
            _ => opportunity_events(&doc.data, &mut stages, default_currency),
        };
        let events = match planned {
            Ok(events) => events,
            Err(reason) => {
                entry.skipped += 1;
                if report.skipped.len() < SKIPS_LISTED {
                    report
                        .skipped
                        .push(format!("{} {}: {reason}", doc.entity, doc.key));
                }
                continue;
            }
        };
        let metadata = Metadata {
            actor: Some("migrate-legacy".into()),
            source: Some("migration".into()),
            ..Metadata::default()
        };
        let count = events.len() as u64;
        let batch = CommandBatch::new(
            events
                .into_iter()
                .map(|e| {
                    NewEvent::new(e)
                        .effective_at(doc.at)
                        .with_metadata(metadata.clone())
                })
                .collect(),
        )
        .with_command_id(format!("migration:{}:{}", doc.entity, doc.key));
        let raw = serde_json::to_vec(&doc.data).unwrap_or_default();
        let source = SourceRecord {
            key: format!("legacy/{}/{}", doc.entity, doc.key),
            checksum: 0,
            raw,
        };
        let appended = store.append_with_sources(
            batch,
            SourceUpdates {
                upserts: vec![source],
                ..SourceUpdates::default()
            },
        )?;
        if appended.replayed {
            entry.already_imported += 1;
        } else {
            entry.imported += 1;
            report.events += count;
        }
    }
    Ok(report)
}

fn user_events(
    data: &Value,
    employee_of: &BTreeMap<OdooId, OdooId>,
    employees: &BTreeSet<OdooId>,
    teams: &mut BTreeSet<OdooId>,
) -> Result<Vec<Event>, String> {
    let user = id_of(data.get("odoo_user_id")).ok_or("no odoo_user_id")?;
    let email = text_of(data.get("email")).filter(|e| e.contains('@'));
    let name = text_of(data.get("name"))
        .or_else(|| email.clone())
        .ok_or("neither name nor email")?;
    let team = id_of(data.get("team_id"));
    let mut events = Vec::new();
    if let Some(team) = team
        && teams.insert(team)
    {
        let name = text_of(data.get("team_name")).unwrap_or_else(|| format!("Team {team}"));
        events.push(Event::TeamCreated {
            id: team,
            record: TeamRecord {
                name,
                leader_id: None,
                active: true,
            },
        });
    }
    let record = UserRecord {
        name: name.clone(),
        login: email.clone().unwrap_or_else(|| format!("user{user}")),
        email: email.clone(),
        active: true,
        share: false,
        team_id: team,
    };
    events.push(Event::UserCreated { id: user, record });
    // The legacy manager id may name the manager's employee or their user: accept either.
    let manager = id_of(data.get("manager_odoo_id")).map(|m| {
        if employees.contains(&m) {
            m
        } else {
            employee_of
                .get(&m)
                .copied()
                .unwrap_or(LEGACY_EMPLOYEE_BASE + m)
        }
    });
    let employee = employee_of
        .get(&user)
        .copied()
        .unwrap_or(LEGACY_EMPLOYEE_BASE + user);
    let record = EmployeeRecord {
        name,
        user_id: Some(user),
        manager_id: manager,
        work_email: email,
        department: None,
        job_title: None,
        active: true,
    };
    events.push(Event::EmployeeCreated {
        id: employee,
        record,
    });
    Ok(events)
}

fn account_events(data: &Value) -> Result<Vec<Event>, String> {
    let id = id_of(data.get("id")).ok_or("no id")?;
    let name = text_of(data.get("name")).ok_or("no name")?;
    let record = AccountRecord {
        name,
        city: text_of(data.get("city")),
        country: None,
        is_company: true,
        active: true,
    };
    Ok(vec![Event::AccountCreated { id, record }])
}

fn opportunity_events(
    data: &Value,
    stages: &mut BTreeMap<String, OdooId>,
    currency: &str,
) -> Result<Vec<Event>, String> {
    let id = id_of(data.get("id")).ok_or("no id")?;
    let name = text_of(data.get("name")).unwrap_or_else(|| format!("Opportunity {id}"));
    let revenue = number_of(data.get("expected_revenue")).unwrap_or(0.0);
    if revenue.abs() > 1e13 {
        return Err(format!("expected_revenue {revenue} is not plausible"));
    }
    let probability = number_of(data.get("probability")).unwrap_or(0.0);
    if !(0.0..=100.0).contains(&probability) {
        return Err(format!(
            "probability {probability} is not between 0 and 100"
        ));
    }
    let deadline = text_of(data.get("date_deadline"))
        .and_then(|d| d.get(..10).and_then(|day| day.parse().ok()));
    let mut events = Vec::new();
    let stage_id = match text_of(data.get("stage_name")) {
        Some(stage) => {
            let next = LEGACY_STAGE_BASE + stages.len() as u64;
            let key = stage.to_lowercase();
            let id = *stages.entry(key.clone()).or_insert_with(|| {
                events.push(Event::StageCreated {
                    id: next,
                    record: StageRecord {
                        name: stage.clone(),
                        sequence: 1_000 + next as i64 % 1_000,
                        is_won: key == "won",
                        fold: false,
                        team_id: None,
                    },
                });
                next
            });
            Some(id)
        }
        None => None,
    };
    let record = OpportunityRecord {
        name,
        kind: LeadKind::Opportunity,
        user_id: id_of(data.get("salesperson_id")),
        team_id: None,
        account_id: id_of(data.get("partner_id")),
        stage_id,
        expected_revenue: (revenue * 100.0).round() as i64,
        currency: currency.to_string(),
        probability,
        date_deadline: deadline,
        date_closed: None,
        active: true,
        lost_reason: None,
        prorated_revenue: None,
    };
    events.push(Event::OpportunityCreated { id, record });
    Ok(events)
}

/// Legacy stages live outside Odoo's ids; a reconcile must not take them for deletions.
pub fn is_legacy(model: SyncModel, id: OdooId) -> bool {
    match model {
        SyncModel::Stage => id >= LEGACY_STAGE_BASE,
        SyncModel::Employee => id >= LEGACY_EMPLOYEE_BASE,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn extended_json_becomes_plain_json() {
        let doc = json!({"_id": {"$oid": "5f1"}, "n": {"$numberLong": "42"}, "d": {"$date": {"$numberLong": "0"}}, "x": {"$numberDouble": "1.5"}});
        assert_eq!(
            plain(doc),
            json!({"_id": "5f1", "n": 42, "d": "1970-01-01T00:00:00Z", "x": 1.5})
        );
    }

    #[test]
    fn values_may_be_plain_or_odoo_raw() {
        assert_eq!(id_of(Some(&json!([7, "Ann"]))), Some(7));
        assert_eq!(id_of(Some(&json!(false))), None);
        assert_eq!(id_of(Some(&json!("12"))), Some(12));
        assert_eq!(text_of(Some(&json!([3, "Won"]))), Some("Won".into()));
        assert_eq!(text_of(Some(&json!(false))), None);
    }

    #[test]
    fn lines_that_do_not_parse_are_reported_by_number() {
        let (docs, broken) = documents("{\"a\": 1}\n{broken\n\n{\"b\": 2}\n");
        assert_eq!(docs.len(), 2);
        assert_eq!(broken.len(), 1);
        assert!(broken[0].starts_with("line 2:"));
    }
}
