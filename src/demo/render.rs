//! How the simulated Odoo's records read: stored values in Odoo's shapes (`false` for empty,
//! many2one pairs or bare ids), display names, computed relations, and the web client's specs.

use serde_json::{Map, Value, json};

use super::crm::*;
use super::query::ids_of;

pub(super) fn stored_value(crm: &Crm, model: &str, record: &Record, field: &FieldDef) -> Value {
    match field.name {
        "write_date" => record.get("__write_micros").cloned().unwrap_or(Value::Null),
        "company_currency" => record.get("__currency").cloned().unwrap_or(json!(1)),
        "prorated_revenue" => {
            let expected = record
                .get("expected_revenue")
                .and_then(Value::as_f64)
                .unwrap_or(0.0);
            let probability = record
                .get("probability")
                .and_then(Value::as_f64)
                .unwrap_or(0.0);
            // Stored rounded to the cent, as Odoo's monetary fields are.
            let cents =
                crate::domain::prorated_cents((expected * 100.0).round() as i64, probability);
            json!(cents as f64 / 100.0)
        }
        "display_name" => json!(display_name(crm, model, record)),
        _ => record.get(field.name).cloned().unwrap_or(Value::Null),
    }
}

pub(super) fn display_name(crm: &Crm, model: &str, record: &Record) -> String {
    let name = record
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    if model == "res.partner"
        && let Some(parent) = record.get("parent_id").and_then(Value::as_u64)
        && let Some(parent_name) = crm
            .table("res.partner")
            .and_then(|t| t.get(&parent))
            .and_then(|p| p.get("name"))
            .and_then(Value::as_str)
    {
        return format!("{parent_name}, {name}");
    }
    name
}

pub(super) fn many2one(crm: &Crm, target: &str, id: u64, load_names: bool) -> Value {
    if !load_names {
        return json!(id);
    }
    let name = crm
        .table(target)
        .and_then(|t| t.get(&id))
        .map(|r| display_name(crm, target, r))
        .unwrap_or_default();
    json!([id, name])
}

pub(super) fn computed_x2many(
    crm: &Crm,
    model: &str,
    id: u64,
    record: &Record,
    field: &str,
) -> Vec<u64> {
    let filter = |target: &str, key: &str| -> Vec<u64> {
        crm.table(target)
            .map(|t| {
                t.iter()
                    .filter(|(_, r)| r.get(key) == Some(&json!(id)))
                    .map(|(i, _)| *i)
                    .collect()
            })
            .unwrap_or_default()
    };
    match (model, field) {
        ("res.users", "employee_ids") => filter("hr.employee", "user_id"),
        ("res.users", "crm_team_ids") => record
            .get("sale_team_id")
            .and_then(Value::as_u64)
            .into_iter()
            .collect(),
        ("hr.employee", "child_ids") => filter("hr.employee", "parent_id"),
        ("crm.team", "member_ids" | "crm_team_member_ids") => filter("res.users", "sale_team_id"),
        ("res.users", "groups_id") => {
            let all_leads = crm.accounts.iter().any(|a| a.uid == id && a.all_leads);
            if all_leads {
                vec![1, 7, 8, 13, 14]
            } else {
                vec![1, 7, 8, 13]
            }
        }
        _ => record
            .get(field)
            .map(|v| ids_of(Some(v)))
            .unwrap_or_default(),
    }
}

/// A record in `read` format: `false` for every empty value, many2one as `[id, name]` (or a bare
/// id with `load: None`), datetimes as whole-second UTC strings.
pub(super) fn render(
    crm: &Crm,
    model: &str,
    id: u64,
    fields: &[FieldDef],
    load_names: bool,
) -> Option<Value> {
    let record = crm.table(model)?.get(&id)?;
    let mut out = Map::new();
    for field in fields {
        let value = stored_value(crm, model, record, field);
        let rendered = match field.ftype {
            _ if field.ftype.is_x2many() => {
                json!(computed_x2many(crm, model, id, record, field.name))
            }
            FieldType::Many2one(target) => match value.as_u64() {
                Some(related) => many2one(crm, target, related, load_names),
                None => json!(false),
            },
            FieldType::Datetime if field.name == "write_date" => value
                .as_i64()
                .map(|m| json!(format_datetime(m)))
                .unwrap_or(json!(false)),
            FieldType::Float | FieldType::Monetary => json!(value.as_f64().unwrap_or(0.0)),
            _ if value.is_null() => json!(false),
            _ => value,
        };
        out.insert(field.name.into(), rendered);
    }
    Some(Value::Object(out))
}

pub(super) fn web_record(
    crm: &Crm,
    model: &str,
    id: u64,
    spec: &Map<String, Value>,
) -> Option<Value> {
    let record = crm.table(model)?.get(&id)?;
    let fields = model_fields(model)?;
    let mut out = Map::new();
    out.insert("id".into(), json!(id));
    for (name, sub) in spec {
        let Some(field) = fields.iter().find(|f| f.name == name) else {
            continue;
        };
        let value = stored_value(crm, model, record, field);
        let rendered = match (field.ftype, value.as_u64()) {
            (FieldType::Many2one(target), Some(related)) => {
                let sub_spec = sub
                    .get("fields")
                    .and_then(Value::as_object)
                    .cloned()
                    .unwrap_or_default();
                let mut nested =
                    web_record(crm, target, related, &sub_spec).unwrap_or(json!({"id": related}));
                let target_record = crm.table(target).and_then(|t| t.get(&related));
                nested["display_name"] = json!(
                    target_record
                        .map(|r| display_name(crm, target, r))
                        .unwrap_or_default()
                );
                nested
            }
            (FieldType::Many2one(_), None) => json!(false),
            _ if value.is_null() => json!(false),
            _ => value,
        };
        out.insert(name.clone(), rendered);
    }
    Some(Value::Object(out))
}
