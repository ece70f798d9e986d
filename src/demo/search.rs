//! The simulated Odoo's search: domains (Odoo's prefix notation, dotted paths, `active_test`),
//! record rules (a salesman sees his own leads), ordering and keyset paging.

use std::cmp::Ordering;

use serde_json::{Map, Value, json};

use super::crm::*;
use super::query::{CallError, param, usize_of};
use super::render::*;

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
pub(super) struct Query<'a> {
    pub(super) uid: u64,
    pub(super) model: &'a str,
    pub(super) fields: &'a [FieldDef],
    pub(super) active_test: bool,
    pub(super) args: &'a [Value],
    pub(super) kwargs: &'a Map<String, Value>,
}

/// The ids the call's domain matches. With `paging` (the position of `offset` in the positional
/// arguments; `limit` and `order` follow it) the call's order, offset and limit apply; without,
/// every match in the model's default order.
pub(super) fn search(
    crm: &Crm,
    query: &Query,
    paging: Option<usize>,
) -> Result<Vec<u64>, CallError> {
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
    // An index on (model, res_id), as Odoo's: a lead's messages without scanning them all.
    let by_lead = (model == "mail.message")
        .then(|| in_list(&terms, "res_id"))
        .flatten()
        .map(|leads| crm.messages_of(&leads));
    let candidates: Box<dyn Iterator<Item = (&u64, &Record)>> =
        match by_lead.or(in_list(&terms, "id")) {
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
    // Without paging (a count, a grouping) the order is nobody's concern, as in Odoo's SQL.
    if !by_id && paging.is_some() {
        sort(crm, model, &mut matched, &order);
    }
    Ok(matched
        .into_iter()
        .skip(offset)
        .take(limit.unwrap_or(usize::MAX))
        .collect())
}

/// The values of a top-level `[field, "in", [...]]` term (all terms ANDed), sorted.
pub(super) fn in_list(terms: &[Value], field: &str) -> Option<Vec<u64>> {
    if terms.iter().any(|t| t.is_string()) {
        return None;
    }
    let term = terms.iter().find(|t| {
        t.get(0).and_then(Value::as_str) == Some(field)
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
pub(super) fn keyset_start(terms: &[Value]) -> u64 {
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
pub(super) fn evaluate(
    crm: &Crm,
    model: &str,
    record: &Record,
    terms: &[Value],
) -> Result<bool, CallError> {
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

pub(super) fn leaf(
    crm: &Crm,
    model: &str,
    record: &Record,
    term: &Value,
) -> Result<bool, CallError> {
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

pub(super) fn is_empty(value: &Value) -> bool {
    value.is_null() || value == &json!(false) || value.as_array().is_some_and(Vec::is_empty)
}

/// The stored value at `path` (one dot allowed: `stage_id.is_won`) and its field type.
pub(super) fn resolve(
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

/// Compares a stored value with a domain value. Datetimes in domains are whole seconds; the stored
/// `write_date` has microseconds, so `write_date > "…:50"` still matches a write at `…:50.4`.
pub(super) fn compare_values(actual: &Value, wanted: &Value, ftype: FieldType) -> Option<Ordering> {
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

pub(super) fn parse_datetime_micros(text: &str) -> Option<i64> {
    let normalized = text.trim().replace('T', " ");
    let civil = jiff::civil::DateTime::strptime("%Y-%m-%d %H:%M:%S", &normalized)
        .or_else(|_| jiff::civil::DateTime::strptime("%Y-%m-%d", &normalized))
        .ok()?;
    civil
        .to_zoned_datetime(jiff::tz::TimeZone::UTC)
        .ok()
        .map(|z| z.timestamp().as_microsecond())
}

pub(super) fn sort(crm: &Crm, model: &str, ids: &mut [u64], order: &str) {
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
