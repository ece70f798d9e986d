//! Odoo's value shapes, read defensively: `false` for every empty value, many2one as
//! `[id, "display name"]` (or a bare id with `load: None`), UTC datetimes without zone or fraction,
//! money as JSON floats.

use jiff::Timestamp;
use jiff::civil::{Date, DateTime};
use serde_json::Value;

/// Why a field could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("field {field}: {reason}")]
pub struct ValueError {
    pub field: String,
    pub reason: String,
}

fn bad(field: &str, reason: impl Into<String>) -> ValueError {
    ValueError {
        field: field.to_string(),
        reason: reason.into(),
    }
}

fn is_empty(value: Option<&Value>) -> bool {
    matches!(value, None | Some(Value::Null) | Some(Value::Bool(false)))
}

/// A char or selection field: `false` means empty.
pub fn text(record: &Value, field: &str) -> Result<Option<String>, ValueError> {
    let value = record.get(field);
    if is_empty(value) {
        return Ok(None);
    }
    match value {
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(bad(field, format!("expected text, got {other}"))),
        None => Ok(None),
    }
}

pub fn required_text(record: &Value, field: &str) -> Result<String, ValueError> {
    text(record, field)?.ok_or_else(|| bad(field, "is empty"))
}

pub fn boolean(record: &Value, field: &str, default: bool) -> Result<bool, ValueError> {
    match record.get(field) {
        None | Some(Value::Null) => Ok(default),
        Some(Value::Bool(b)) => Ok(*b),
        Some(other) => Err(bad(field, format!("expected true or false, got {other}"))),
    }
}

/// A many2one: `false`, `[id, "name"]`, or a bare id. The display name is never parsed.
pub fn many2one(record: &Value, field: &str) -> Result<Option<u64>, ValueError> {
    many2one_value(record.get(field), field)
}

/// A many2one's value (bare id, `[id, name]`, or `false`) as its id.
pub fn many2one_value(value: Option<&Value>, field: &str) -> Result<Option<u64>, ValueError> {
    if is_empty(value) {
        return Ok(None);
    }
    let id = match value {
        Some(Value::Array(pair)) => pair.first().and_then(Value::as_u64),
        Some(Value::Number(n)) => n.as_u64(),
        _ => None,
    };
    match id {
        Some(0) | None => Err(bad(
            field,
            format!("expected [id, name], got {}", value.unwrap_or(&Value::Null)),
        )),
        Some(id) => Ok(Some(id)),
    }
}

/// The record's id, which must be a positive integer.
pub fn id(record: &Value) -> Result<u64, ValueError> {
    match record.get("id").and_then(Value::as_u64) {
        Some(0) | None => Err(bad("id", "missing or not a positive integer")),
        Some(id) => Ok(id),
    }
}

pub fn number(record: &Value, field: &str) -> Result<f64, ValueError> {
    match record.get(field) {
        None | Some(Value::Null) | Some(Value::Bool(false)) => Ok(0.0),
        Some(Value::Number(n)) => n
            .as_f64()
            .filter(|f| f.is_finite())
            .ok_or_else(|| bad(field, "is not a finite number")),
        Some(other) => Err(bad(field, format!("expected a number, got {other}"))),
    }
}

pub fn integer(record: &Value, field: &str) -> Result<i64, ValueError> {
    let value = number(record, field)?;
    if value.fract() != 0.0 || value.abs() > 1e15 {
        return Err(bad(field, format!("expected an integer, got {value}")));
    }
    Ok(value as i64)
}

/// Largest amount accepted, in currency units: beyond it a value is an error, not a deal.
const ABSURD_AMOUNT: f64 = 1e13;

/// A monetary amount in integer cents.
pub fn cents(record: &Value, field: &str) -> Result<i64, ValueError> {
    let amount = number(record, field)?;
    if amount.abs() > ABSURD_AMOUNT {
        return Err(bad(field, format!("amount {amount} is not plausible")));
    }
    Ok((amount * 100.0).round() as i64)
}

/// A probability in percent, 0 to 100.
pub fn percent(record: &Value, field: &str) -> Result<f64, ValueError> {
    let value = number(record, field)?;
    if !(0.0..=100.0).contains(&value) {
        return Err(bad(field, format!("{value} is not between 0 and 100")));
    }
    Ok(value)
}

/// A datetime: `"YYYY-MM-DD HH:MM:SS"` in UTC.
pub fn datetime(record: &Value, field: &str) -> Result<Option<Timestamp>, ValueError> {
    let Some(text) = text(record, field)? else {
        return Ok(None);
    };
    parse_datetime(&text)
        .map(Some)
        .ok_or_else(|| bad(field, format!("{text:?} is not a UTC datetime")))
}

pub fn parse_datetime(text: &str) -> Option<Timestamp> {
    let civil = DateTime::strptime("%Y-%m-%d %H:%M:%S", text.replace('T', " ").trim()).ok()?;
    civil
        .to_zoned_datetime(jiff::tz::TimeZone::UTC)
        .ok()
        .map(|z| z.timestamp())
}

/// Formats a timestamp the way Odoo's domains expect.
pub fn format_datetime(at: Timestamp) -> String {
    at.strftime("%Y-%m-%d %H:%M:%S").to_string()
}

pub fn date(record: &Value, field: &str) -> Result<Option<Date>, ValueError> {
    let Some(text) = text(record, field)? else {
        return Ok(None);
    };
    text.parse::<Date>()
        .map(Some)
        .map_err(|_| bad(field, format!("{text:?} is not a date")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn empty_values_are_false_in_odoo() {
        let record =
            json!({"city": false, "partner_id": false, "date_deadline": false, "email": ""});
        assert_eq!(text(&record, "city"), Ok(None));
        assert_eq!(text(&record, "email"), Ok(None));
        assert_eq!(many2one(&record, "partner_id"), Ok(None));
        assert_eq!(date(&record, "date_deadline"), Ok(None));
        assert_eq!(text(&record, "absent"), Ok(None));
    }

    #[test]
    fn many2one_takes_the_id_and_ignores_the_computed_name() {
        let record =
            json!({"partner_id": [3, "YourCompany, Mitchell Admin"], "stage_id": 4, "bad": ["x"]});
        assert_eq!(many2one(&record, "partner_id"), Ok(Some(3)));
        assert_eq!(many2one(&record, "stage_id"), Ok(Some(4)));
        assert!(many2one(&record, "bad").is_err());
    }

    #[test]
    fn datetimes_are_utc_without_fraction() {
        let record = json!({"write_date": "2026-11-26 21:27:15", "bad": "yesterday"});
        let at = datetime(&record, "write_date")
            .expect("parses")
            .expect("present");
        assert_eq!(at.to_string(), "2026-11-26T21:27:15Z");
        assert_eq!(format_datetime(at), "2026-11-26 21:27:15");
        assert!(datetime(&record, "bad").is_err());
    }

    #[test]
    fn money_becomes_cents_and_absurd_values_are_refused() {
        let record = json!({"a": 19800.0, "b": 0.1, "c": 1e20, "d": "lots", "p": 250.0});
        assert_eq!(cents(&record, "a"), Ok(1_980_000));
        assert_eq!(cents(&record, "b"), Ok(10));
        assert!(cents(&record, "c").is_err());
        assert!(cents(&record, "d").is_err());
        assert!(percent(&record, "p").is_err());
    }
}
