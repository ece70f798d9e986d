//! The simulated Odoo's object methods: domains, ordering, paging, field rendering and the writes a
//! sync or an assignment makes, with Odoo's error names and messages.

use std::cmp::Ordering;

use serde_json::{Map, Value, json};

use super::crm::{
    Crm, FieldDef, FieldType, Record, WON_STAGE, default_order, format_datetime, model_fields, obj,
};

/// An error as Odoo reports it: the Python exception's name and its message.
#[derive(Debug, Clone, PartialEq)]
pub struct CallError {
    pub name: &'static str,
    pub message: String,
}

impl CallError {
    fn new(name: &'static str, message: impl Into<String>) -> Self {
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
fn param<'a>(
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

fn ids_of(value: Option<&Value>) -> Vec<u64> {
    match value {
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_u64).collect(),
        Some(Value::Number(n)) => n.as_u64().into_iter().collect(),
        _ => Vec::new(),
    }
}

fn usize_of(value: Option<&Value>) -> Option<usize> {
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
                crm.tables.get_mut(model).map(|t| t.remove(&id));
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

pub(super) fn visible_to(crm: &Crm, uid: u64, model: &str, id: u64) -> bool {
    let Some(record) = crm.table(model).and_then(|t| t.get(&id)) else {
        return false;
    };
    if model != "crm.lead" || crm.accounts.iter().any(|a| a.uid == uid && a.all_leads) {
        return true;
    }
    // Salesman, "own documents only": their own leads and unassigned ones.
    matches!(record.get("user_id"), None | Some(Value::Null))
        || record.get("user_id") == Some(&json!(uid))
}

/// What every search of one call shares: who asks, on which model, with which arguments.
struct Query<'a> {
    uid: u64,
    model: &'a str,
    fields: &'a [FieldDef],
    active_test: bool,
    args: &'a [Value],
    kwargs: &'a Map<String, Value>,
}

/// The ids the call's domain matches. With `paging` (the position of `offset` in the positional
/// arguments; `limit` and `order` follow it) the call's order, offset and limit apply; without,
/// every match in the model's default order.
fn search(crm: &Crm, query: &Query, paging: Option<usize>) -> Result<Vec<u64>, CallError> {
    let Query {
        uid,
        model,
        fields,
        active_test,
        args,
        kwargs,
    } = *query;
    let domain = param(args, kwargs, 0, "domain");
    let terms: Vec<Value> = match domain {
        Some(Value::Array(terms)) => terms.clone(),
        _ => Vec::new(),
    };
    let mentions_active = terms
        .iter()
        .any(|t| t.get(0).and_then(Value::as_str) == Some("active"));
    let filter_active =
        active_test && !mentions_active && fields.iter().any(|f| f.name == "active");
    let Some(table) = crm.table(model) else {
        return Ok(Vec::new());
    };
    let paged =
        |offset: usize, name: &str| paging.and_then(|at| param(args, kwargs, at + offset, name));
    let order = paged(2, "order")
        .and_then(Value::as_str)
        .unwrap_or(default_order(model))
        .to_string();
    let offset = usize_of(paged(0, "offset")).unwrap_or(0);
    let limit = usize_of(paged(1, "limit"));
    // Tables are kept in id order: keyset paging (`id > N`, `id asc`) starts at N and stops early,
    // as an index would, instead of scanning and sorting everything for every page.
    let by_id = order.trim().eq_ignore_ascii_case("id asc") || order.trim() == "id";
    let start = keyset_start(&terms);
    let enough = if by_id {
        limit.map(|l| l + offset)
    } else {
        None
    };
    let candidates: Box<dyn Iterator<Item = (&u64, &Record)>> = match id_list(&terms) {
        Some(ids) => Box::new(ids.into_iter().filter_map(|id| table.get_key_value(&id))),
        None => Box::new(table.range(start..)),
    };
    let mut matched = Vec::new();
    for (&id, record) in candidates {
        if enough.is_some_and(|n| matched.len() >= n) {
            break;
        }
        if filter_active && record.get("active") == Some(&json!(false)) {
            continue;
        }
        if !visible_to(crm, uid, model, id) {
            continue;
        }
        if evaluate(crm, model, record, &terms)? {
            matched.push(id);
        }
    }
    if !by_id {
        sort(crm, model, &mut matched, &order);
    }
    Ok(matched
        .into_iter()
        .skip(offset)
        .take(limit.unwrap_or(usize::MAX))
        .collect())
}

/// The ids of a top-level `["id", "in", [...]]` term (all terms ANDed), sorted.
fn id_list(terms: &[Value]) -> Option<Vec<u64>> {
    if terms.iter().any(|t| t.is_string()) {
        return None;
    }
    let term = terms.iter().find(|t| {
        t.get(0).and_then(Value::as_str) == Some("id")
            && t.get(1).and_then(Value::as_str) == Some("in")
    })?;
    let mut ids: Vec<u64> = term
        .get(2)?
        .as_array()?
        .iter()
        .filter_map(Value::as_u64)
        .collect();
    ids.sort_unstable();
    ids.dedup();
    Some(ids)
}

/// The first id a domain with a top-level `["id", ">", N]` (all terms ANDed) can match.
fn keyset_start(terms: &[Value]) -> u64 {
    if terms.iter().any(|t| t.is_string()) {
        return 0; // explicit operators: not a plain conjunction
    }
    terms
        .iter()
        .filter(|t| {
            t.get(0).and_then(Value::as_str) == Some("id")
                && t.get(1).and_then(Value::as_str) == Some(">")
        })
        .filter_map(|t| t.get(2).and_then(Value::as_u64))
        .max()
        .map_or(0, |n| n + 1)
}

/// Evaluates a domain in Polish notation, with the implicit AND between terms.
fn evaluate(crm: &Crm, model: &str, record: &Record, terms: &[Value]) -> Result<bool, CallError> {
    fn eval_at(
        crm: &Crm,
        model: &str,
        record: &Record,
        terms: &[Value],
        at: &mut usize,
    ) -> Result<bool, CallError> {
        let term = terms
            .get(*at)
            .ok_or_else(|| CallError::new("builtins.ValueError", "Invalid domain"))?;
        *at += 1;
        match term.as_str() {
            Some("&") => {
                Ok(eval_at(crm, model, record, terms, at)?
                    & eval_at(crm, model, record, terms, at)?)
            }
            Some("|") => {
                Ok(eval_at(crm, model, record, terms, at)?
                    | eval_at(crm, model, record, terms, at)?)
            }
            Some("!") => Ok(!eval_at(crm, model, record, terms, at)?),
            _ => leaf(crm, model, record, term),
        }
    }
    let mut at = 0;
    let mut result = true;
    while at < terms.len() {
        result &= eval_at(crm, model, record, terms, &mut at)?;
    }
    Ok(result)
}

fn leaf(crm: &Crm, model: &str, record: &Record, term: &Value) -> Result<bool, CallError> {
    let invalid = || CallError::new("builtins.ValueError", format!("Invalid leaf {term}"));
    let parts = term
        .as_array()
        .filter(|p| p.len() == 3)
        .ok_or_else(invalid)?;
    let path = parts[0].as_str().ok_or_else(invalid)?;
    let operator = parts[1].as_str().ok_or_else(invalid)?;
    let value = &parts[2];
    let (actual, ftype) = resolve(crm, model, record, path)?;
    let compare = |v: &Value| compare_values(&actual, v, ftype);
    Ok(match operator {
        "=" | "==" => {
            compare(value) == Some(Ordering::Equal) || (is_empty(&actual) && value == &json!(false))
        }
        "!=" | "<>" => {
            !(compare(value) == Some(Ordering::Equal)
                || (is_empty(&actual) && value == &json!(false)))
        }
        ">" => compare(value) == Some(Ordering::Greater),
        ">=" => matches!(compare(value), Some(Ordering::Greater | Ordering::Equal)),
        "<" => compare(value) == Some(Ordering::Less),
        "<=" => matches!(compare(value), Some(Ordering::Less | Ordering::Equal)),
        "in" => value
            .as_array()
            .is_some_and(|vs| vs.iter().any(|v| compare(v) == Some(Ordering::Equal))),
        "not in" => !value
            .as_array()
            .is_some_and(|vs| vs.iter().any(|v| compare(v) == Some(Ordering::Equal))),
        "ilike" | "like" => {
            let needle = value
                .as_str()
                .unwrap_or_default()
                .trim_matches('%')
                .to_lowercase();
            actual
                .as_str()
                .is_some_and(|s| s.to_lowercase().contains(&needle))
        }
        _ => {
            return Err(CallError::new(
                "builtins.ValueError",
                format!("Invalid operator {operator:?}"),
            ));
        }
    })
}

fn is_empty(value: &Value) -> bool {
    value.is_null() || value == &json!(false)
}

/// The stored value at `path` (one dot allowed: `stage_id.is_won`) and its field type.
fn resolve(
    crm: &Crm,
    model: &str,
    record: &Record,
    path: &str,
) -> Result<(Value, FieldType), CallError> {
    let (head, rest) = path
        .split_once('.')
        .map_or((path, None), |(h, r)| (h, Some(r)));
    let fields = model_fields(model).unwrap_or(&[]);
    let field = fields.iter().find(|f| f.name == head).ok_or_else(|| {
        CallError::new(
            "builtins.ValueError",
            format!("Invalid field {model}.{head} in leaf"),
        )
    })?;
    let value = stored_value(crm, model, record, field);
    match (rest, field.ftype) {
        (Some(rest), FieldType::Many2one(target)) => {
            let Some(related) = value
                .as_u64()
                .and_then(|id| crm.table(target).and_then(|t| t.get(&id)))
            else {
                return Ok((Value::Null, FieldType::Char));
            };
            resolve(crm, target, related, rest)
        }
        _ => Ok((value, field.ftype)),
    }
}

fn stored_value(crm: &Crm, model: &str, record: &Record, field: &FieldDef) -> Value {
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

/// Compares a stored value with a domain value. Datetimes in domains are whole seconds; the stored
/// `write_date` has microseconds, so `write_date > "…:50"` still matches a write at `…:50.4`.
fn compare_values(actual: &Value, wanted: &Value, ftype: FieldType) -> Option<Ordering> {
    if matches!(ftype, FieldType::Datetime)
        && let (Some(micros), Some(text)) = (actual.as_i64(), wanted.as_str())
    {
        return Some(micros.cmp(&parse_datetime_micros(text)?));
    }
    match (actual, wanted) {
        (Value::Number(a), Value::Number(b)) => a.as_f64()?.partial_cmp(&b.as_f64()?),
        (Value::String(a), Value::String(b)) => {
            Some(a.replace('T', " ").as_str().cmp(&b.replace('T', " ")))
        }
        (Value::Bool(a), Value::Bool(b)) => Some(a.cmp(b)),
        (Value::Null, Value::Bool(false)) => Some(Ordering::Equal),
        (Value::Bool(a), Value::Number(b)) => Some((*a as u64).cmp(&b.as_u64()?)),
        _ => None,
    }
}

fn parse_datetime_micros(text: &str) -> Option<i64> {
    let normalized = text.trim().replace('T', " ");
    let civil = jiff::civil::DateTime::strptime("%Y-%m-%d %H:%M:%S", &normalized)
        .or_else(|_| jiff::civil::DateTime::strptime("%Y-%m-%d", &normalized))
        .ok()?;
    civil
        .to_zoned_datetime(jiff::tz::TimeZone::UTC)
        .ok()
        .map(|z| z.timestamp().as_microsecond())
}

fn sort(crm: &Crm, model: &str, ids: &mut [u64], order: &str) {
    let fields = model_fields(model).unwrap_or(&[]);
    let keys: Vec<(FieldDef, bool)> = order
        .split(',')
        .filter_map(|part| {
            let mut words = part.split_whitespace();
            let name = words.next()?;
            let descending = words.next().is_some_and(|w| w.eq_ignore_ascii_case("desc"));
            fields
                .iter()
                .find(|f| f.name == name)
                .map(|f| (*f, descending))
        })
        .collect();
    let Some(table) = crm.table(model) else {
        return;
    };
    ids.sort_by(|a, b| {
        for (field, descending) in &keys {
            let left = stored_value(crm, model, &table[a], field);
            let right = stored_value(crm, model, &table[b], field);
            let ordering = match (left.is_null(), right.is_null()) {
                (true, true) => Ordering::Equal,
                (true, false) => Ordering::Less,
                (false, true) => Ordering::Greater,
                _ => compare_values(&left, &right, FieldType::Char).unwrap_or(Ordering::Equal),
            };
            let ordering = if *descending {
                ordering.reverse()
            } else {
                ordering
            };
            if ordering != Ordering::Equal {
                return ordering;
            }
        }
        a.cmp(b)
    });
}

fn display_name(crm: &Crm, model: &str, record: &Record) -> String {
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

fn many2one(crm: &Crm, target: &str, id: u64, load_names: bool) -> Value {
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

fn computed_x2many(crm: &Crm, model: &str, id: u64, record: &Record, field: &str) -> Vec<u64> {
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
fn render(crm: &Crm, model: &str, id: u64, fields: &[FieldDef], load_names: bool) -> Option<Value> {
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

fn web_record(crm: &Crm, model: &str, id: u64, spec: &Map<String, Value>) -> Option<Value> {
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
