//! The simulated Odoo's object methods: the calls a sync, a write-back or the web client makes
//! (search, read, write, the actions, `fields_get`, `read_group`), with Odoo's error names and
//! messages. Domains and ordering are in `search`, how records read in `render`.

use serde_json::{Map, Value, json};

use super::crm::*;
use super::render::*;
use super::search::*;

/// An error as Odoo reports it: the Python exception's name and its message.
#[derive(Debug, Clone, PartialEq)]
pub struct CallError {
    pub name: &'static str,
    pub message: String,
}

impl CallError {
    pub(super) fn new(name: &'static str, message: impl Into<String>) -> Self {
        CallError {
            name,
            message: message.into(),
        }
    }

    pub fn access_denied() -> Self {
        CallError::new("odoo.exceptions.AccessDenied", "Access Denied")
    }
}

/// Positional argument `index`, or keyword argument `name`.
pub(super) fn param<'a>(
    args: &'a [Value],
    kwargs: &'a Map<String, Value>,
    index: usize,
    name: &str,
) -> Option<&'a Value> {
    kwargs
        .get(name)
        .or_else(|| args.get(index))
        .filter(|v| !v.is_null())
}

pub(super) fn ids_of(value: Option<&Value>) -> Vec<u64> {
    match value {
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_u64).collect(),
        Some(Value::Number(n)) => n.as_u64().into_iter().collect(),
        _ => Vec::new(),
    }
}

pub(super) fn usize_of(value: Option<&Value>) -> Option<usize> {
    value.and_then(Value::as_u64).map(|n| n as usize)
}

/// Runs `model.method` for user `uid`, like `execute_kw`.
pub fn execute(
    crm: &mut Crm,
    uid: u64,
    model: &str,
    method: &str,
    args: &[Value],
    kwargs: &Map<String, Value>,
) -> Result<Value, CallError> {
    if method.starts_with('_') {
        return Err(CallError::new(
            "odoo.exceptions.AccessError",
            format!("Private methods (such as '{model}.{method}') cannot be called remotely."),
        ));
    }
    let fields = model_fields(model).ok_or_else(|| {
        CallError::new(
            "odoo.exceptions.UserError",
            format!("Object {model} doesn't exist"),
        )
    })?;
    let context = kwargs
        .get("context")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let active_test = context
        .get("active_test")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    let query = Query {
        uid,
        model,
        fields,
        active_test,
        args,
        kwargs,
    };
    let load_names = kwargs.get("load").is_none_or(|load| !load.is_null());
    match method {
        "search_read" => {
            let wanted = requested_fields(model, fields, param(args, kwargs, 1, "fields"))?;
            check_field_access(crm, uid, model, &wanted)?;
            let ids = search(crm, &query, Some(2))?;
            Ok(Value::Array(
                ids.iter()
                    .filter_map(|id| render(crm, model, *id, &wanted, load_names))
                    .collect(),
            ))
        }
        "search" => {
            let ids = search(crm, &query, Some(1))?;
            Ok(json!(ids))
        }
        "search_count" => {
            let ids = search(crm, &query, None)?;
            Ok(json!(ids.len()))
        }
        "read" => {
            let wanted = requested_fields(model, fields, param(args, kwargs, 1, "fields"))?;
            let ids = ids_of(param(args, kwargs, 0, "ids"));
            let visible: Vec<u64> = ids
                .into_iter()
                .filter(|id| visible_to(crm, uid, model, *id))
                .collect();
            Ok(Value::Array(
                visible
                    .iter()
                    .filter_map(|id| render(crm, model, *id, &wanted, load_names))
                    .collect(),
            ))
        }
        "fields_get" => Ok(fields_get(fields, param(args, kwargs, 0, "allfields"))),
        "write" => {
            let ids = ids_of(param(args, kwargs, 0, "ids"));
            let values = param(args, kwargs, 1, "vals")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            write(crm, uid, model, fields, &ids, values)?;
            Ok(json!(true))
        }
        "create" => {
            let values = param(args, kwargs, 0, "vals_list")
                .or_else(|| param(args, kwargs, 0, "vals"))
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            check_fields(model, fields, values.keys())?;
            let mut stored = Record::new();
            stored.insert("active".into(), json!(true));
            stored.extend(values);
            Ok(json!(crm.create(model, stored)))
        }
        "unlink" => {
            for id in ids_of(param(args, kwargs, 0, "ids")) {
                crm.remove(model, id);
            }
            Ok(json!(true))
        }
        "action_archive" | "action_unarchive" | "action_set_lost" | "action_set_won" => {
            for id in ids_of(param(args, kwargs, 0, "ids")) {
                let now = format_datetime(jiff::Timestamp::now().as_microsecond());
                let values = match method {
                    "action_archive" => json!({"active": false}),
                    "action_unarchive" => {
                        json!({"active": true, "lost_reason_id": null, "date_closed": null, "probability": 40.38})
                    }
                    "action_set_lost" => {
                        json!({"active": false, "probability": 0.0, "date_closed": now,
                                               "lost_reason_id": kwargs.get("lost_reason_id").cloned().unwrap_or(Value::Null)})
                    }
                    _ => json!({"stage_id": WON_STAGE, "probability": 100.0, "date_closed": now}),
                };
                crm.update(model, id, obj(values));
            }
            // Odoo's action_set_won returns True; the others return None.
            Ok(if method == "action_set_won" {
                json!(true)
            } else {
                Value::Null
            })
        }
        "has_group" if model == "res.users" => {
            let user = ids_of(param(args, kwargs, 0, "ids"))
                .first()
                .copied()
                .unwrap_or(uid);
            let group = param(args, kwargs, 1, "group_ext_id")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let account = crm.accounts.iter().find(|a| a.uid == user);
            Ok(json!(match group {
                "sales_team.group_sale_salesman_all_leads" | "sales_team.group_sale_manager" =>
                    account.is_some_and(|a| a.all_leads),
                "sales_team.group_sale_salesman" | "base.group_user" => true,
                _ => false,
            }))
        }
        "read_group" => read_group(crm, &query),
        "web_search_read" => {
            let spec = param(args, kwargs, 1, "specification")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            let ids = search(crm, &query, Some(2))?;
            let all = search(crm, &query, None)?;
            let records: Vec<Value> = ids
                .iter()
                .filter_map(|id| web_record(crm, model, *id, &spec))
                .collect();
            Ok(json!({"length": all.len(), "records": records}))
        }
        _ => Err(CallError::new(
            "builtins.AttributeError",
            format!("The method '{method}' does not exist on the model '{model}'"),
        )),
    }
}

fn requested_fields(
    model: &str,
    fields: &[FieldDef],
    requested: Option<&Value>,
) -> Result<Vec<FieldDef>, CallError> {
    let Some(Value::Array(names)) = requested else {
        return Ok(fields.to_vec());
    };
    let names: Vec<&str> = names.iter().filter_map(Value::as_str).collect();
    check_fields(model, fields, names.iter().copied())?;
    let mut wanted: Vec<FieldDef> = vec![fields[0]];
    wanted.extend(names.iter().filter_map(|name| {
        fields
            .iter()
            .find(|f| f.name == *name && f.name != "id")
            .copied()
    }));
    Ok(wanted)
}

fn check_fields<'a>(
    model: &str,
    fields: &[FieldDef],
    names: impl IntoIterator<Item = impl AsRef<str> + 'a>,
) -> Result<(), CallError> {
    for name in names {
        let name = name.as_ref();
        if !fields.iter().any(|f| f.name == name) {
            return Err(CallError::new(
                "builtins.ValueError",
                format!("Invalid field '{name}' on model '{model}'"),
            ));
        }
    }
    Ok(())
}

/// Fields restricted to a group, like HR's private fields for non-HR users.
fn check_field_access(
    crm: &Crm,
    uid: u64,
    model: &str,
    fields: &[FieldDef],
) -> Result<(), CallError> {
    let hr_officer = crm.accounts.iter().any(|a| a.uid == uid && a.all_leads);
    if model == "hr.employee" && !hr_officer && fields.iter().any(|f| f.name == "private_email") {
        return Err(CallError::new(
            "odoo.exceptions.AccessError",
            "The requested operation can not be completed due to security restrictions.\n\nDocument type: Employee (hr.employee)\nOperation: read\nUser: 6\nFields:\n- private_email (allowed for groups 'Employees / Officer: Manage all employees')",
        ));
    }
    Ok(())
}

fn fields_get(fields: &[FieldDef], requested: Option<&Value>) -> Value {
    let wanted: Option<Vec<&str>> = match requested {
        Some(Value::Array(names)) if !names.is_empty() => {
            Some(names.iter().filter_map(Value::as_str).collect())
        }
        _ => None,
    };
    let mut out = Map::new();
    for field in fields {
        if wanted.as_ref().is_some_and(|w| !w.contains(&field.name)) {
            continue;
        }
        let mut description = json!({"type": field.ftype.name(), "string": field.label, "store": field.store,
                                       "readonly": !field.store, "required": field.name == "name"});
        if let Some(relation) = field.ftype.relation() {
            description["relation"] = json!(relation);
        }
        if let FieldType::Selection(options) = field.ftype {
            description["selection"] =
                json!(options.iter().map(|(k, v)| [k, v]).collect::<Vec<_>>());
        }
        out.insert(field.name.into(), description);
    }
    Value::Object(out)
}

fn write(
    crm: &mut Crm,
    uid: u64,
    model: &str,
    fields: &[FieldDef],
    ids: &[u64],
    values: Map<String, Value>,
) -> Result<(), CallError> {
    check_fields(model, fields, values.keys())?;
    for id in ids {
        if crm.table(model).is_none_or(|t| !t.contains_key(id)) {
            return Err(CallError::new(
                "odoo.exceptions.MissingError",
                format!(
                    "Record does not exist or has been deleted.\n(Record: {model}({id},), User: {uid})"
                ),
            ));
        }
        if !visible_to(crm, uid, model, *id) {
            return Err(CallError::new(
                "odoo.exceptions.AccessError",
                format!("You are not allowed to modify '{model}' ({id}) records."),
            ));
        }
    }
    for &id in ids {
        let mut stored = values.clone();
        for (name, value) in values.iter() {
            if value == &json!(false)
                && fields
                    .iter()
                    .any(|f| f.name == name && !matches!(f.ftype, FieldType::Boolean))
            {
                stored.insert(name.clone(), Value::Null);
            }
        }
        if model == "crm.lead" && stored.contains_key("stage_id") {
            stored.insert(
                "date_last_stage_update".into(),
                json!(format_datetime(jiff::Timestamp::now().as_microsecond())),
            );
        }
        crm.update(model, id, stored);
    }
    Ok(())
}

fn read_group(crm: &Crm, query: &Query) -> Result<Value, CallError> {
    let ids = search(crm, query, None)?;
    let Query {
        model,
        fields,
        args,
        kwargs,
        ..
    } = *query;
    let domain_terms: Vec<Value> = param(args, kwargs, 0, "domain")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let aggregates: Vec<String> = param(args, kwargs, 1, "fields")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(|s| s.split(':').next().unwrap_or(s).to_string())
                .collect()
        })
        .unwrap_or_default();
    let group_by = match param(args, kwargs, 2, "groupby") {
        Some(Value::Array(items)) => items
            .first()
            .and_then(Value::as_str)
            .unwrap_or("id")
            .to_string(),
        Some(Value::String(s)) => s.clone(),
        _ => "id".into(),
    };
    let field = fields
        .iter()
        .find(|f| f.name == group_by)
        .copied()
        .ok_or_else(|| {
            CallError::new("builtins.ValueError", format!("Invalid field '{group_by}'"))
        })?;
    let table = crm.table(model).cloned().unwrap_or_default();
    let mut groups: Vec<(Value, Vec<u64>)> = Vec::new();
    for id in ids {
        let key = stored_value(crm, model, &table[&id], &field);
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, members)) => members.push(id),
            None => groups.push((key, vec![id])),
        }
    }
    let rows: Vec<Value> = groups
        .into_iter()
        .map(|(key, members)| {
            let mut row = Map::new();
            let label = match (field.ftype, key.as_u64()) {
                (FieldType::Many2one(target), Some(id)) => many2one(crm, target, id, true),
                _ if key.is_null() => json!(false),
                _ => key.clone(),
            };
            row.insert(group_by.clone(), label);
            row.insert(format!("{group_by}_count"), json!(members.len()));
            for aggregate in &aggregates {
                let Some(f) = fields.iter().find(|f| f.name == aggregate.as_str()) else {
                    continue;
                };
                let sum: f64 = members
                    .iter()
                    .filter_map(|id| stored_value(crm, model, &table[id], f).as_f64())
                    .sum();
                row.insert(aggregate.clone(), json!(sum));
            }
            // Odoo scopes each group's domain: the query's terms AND the group's own term.
            let group_term = json!([
                group_by,
                "=",
                if key.is_null() { json!(false) } else { key }
            ]);
            let mut scoped: Vec<Value> = vec![json!("&"); domain_terms.len()];
            scoped.extend(domain_terms.iter().cloned());
            scoped.push(group_term);
            row.insert("__domain".into(), Value::Array(scoped));
            Value::Object(row)
        })
        .collect();
    Ok(Value::Array(rows))
}
