//! The simulated Odoo's change tracking: the chatter message and tracking values Odoo writes when
//! a tracked field of a lead changes (in the shapes recorded from Odoo 18: many2one as id plus
//! display name, money in `*_float`, booleans as 0/1, a selection by its label), the field list
//! `ir.model.fields` gives.

use serde_json::{Value, json};

use super::crm::{ADMIN_UID, Crm, Record, format_datetime, obj};

/// The tracked fields of `crm.lead` with the ids, types and tracking sequence recorded from
/// Odoo 18; the untracked ones `ir.model.fields` also lists with `tracking = 0`.
const LEAD_FIELDS: &[(u64, &str, &str, i64, &str)] = &[
    (3515, "user_id", "many2one", 100, "Salesperson"),
    (3517, "team_id", "many2one", 100, "Sales Team"),
    (3522, "active", "boolean", 100, "Active"),
    (3523, "type", "selection", 15, "Type"),
    (3525, "stage_id", "many2one", 100, "Stage"),
    (
        3528,
        "expected_revenue",
        "monetary",
        100,
        "Expected Revenue",
    ),
    (
        3530,
        "recurring_revenue",
        "monetary",
        100,
        "Recurring Revenues",
    ),
    (3544, "partner_id", "many2one", 10, "Customer"),
    (3546, "contact_name", "char", 30, "Contact Name"),
    (3550, "email_from", "char", 40, "Email"),
    (3569, "lost_reason_id", "many2one", 100, "Lost Reason"),
    (3532, "probability", "float", 0, "Probability"),
    (3533, "date_deadline", "date", 0, "Expected Closing"),
];

/// Subtypes of the messages (Odoo's "Stage Changed", "Opportunity Won", ...).
const NOTE_SUBTYPE: u64 = 2;

/// Where a many2one points, for the display name kept with its id.
fn relation(field: &str) -> Option<&'static str> {
    Some(match field {
        "user_id" => "res.users",
        "team_id" => "crm.team",
        "stage_id" => "crm.stage",
        "partner_id" => "res.partner",
        "lost_reason_id" => "crm.lost.reason",
        _ => return None,
    })
}

impl Crm {
    pub(super) fn generate_tracking_fields(&mut self) {
        for &(id, name, ttype, tracking, label) in LEAD_FIELDS {
            self.insert(
                "ir.model.fields",
                id,
                obj(
                    json!({"name": name, "model": "crm.lead", "ttype": ttype, "tracking": tracking,
                           "field_description": label}),
                ),
            );
        }
        self.named("mail.message.subtype", 1, "Discussions");
        self.named("mail.message.subtype", NOTE_SUBTYPE, "Note");
    }

    /// The message ids of these leads, in id order.
    pub(super) fn messages_of(&self, leads: &[u64]) -> Vec<u64> {
        let mut ids: Vec<u64> = leads
            .iter()
            .filter_map(|lead| self.messages_by_lead.get(lead))
            .flatten()
            .copied()
            .collect();
        ids.sort_unstable();
        ids
    }

    /// Records the tracked fields that differ between `before` and `after` of lead `lead` as one
    /// message at `micros` by `author` (a partner), as Odoo does at the end of a write.
    pub(super) fn track(
        &mut self,
        lead: u64,
        before: &Record,
        after: &Record,
        micros: i64,
        author: Option<u64>,
    ) {
        let changed: Vec<(u64, &str, &str)> = LEAD_FIELDS
            .iter()
            .filter(|(_, name, _, tracking, _)| {
                *tracking != 0 && before.get(*name) != after.get(*name)
            })
            .map(|(id, name, ttype, _, _)| (*id, *name, *ttype))
            .collect();
        if changed.is_empty() {
            return;
        }
        let message = self.next_id("mail.message");
        let date = format_datetime(micros);
        let mut value_ids = Vec::new();
        for (field_id, name, ttype) in changed {
            let value = self.tracking_value(field_id, name, ttype, before, after, message);
            let id = self.next_id("mail.tracking.value");
            self.insert_dated("mail.tracking.value", id, value, micros);
            value_ids.push(id);
        }
        // Odoo lists a message's tracking values newest first.
        value_ids.reverse();
        self.insert_dated(
            "mail.message",
            message,
            obj(
                json!({"model": "crm.lead", "res_id": lead, "date": date, "author_id": author,
                       "tracking_value_ids": value_ids, "message_type": "notification",
                       "subtype_id": NOTE_SUBTYPE, "body": ""}),
            ),
            micros,
        );
        self.messages_by_lead.entry(lead).or_default().push(message);
    }

    fn tracking_value(
        &self,
        field_id: u64,
        name: &str,
        ttype: &str,
        before: &Record,
        after: &Record,
        message: u64,
    ) -> Record {
        let mut value = obj(json!({
            "field_id": field_id, "mail_message_id": message, "currency_id": null,
            "old_value_integer": 0, "new_value_integer": 0, "old_value_float": 0.0, "new_value_float": 0.0,
            "old_value_char": null, "new_value_char": null, "old_value_text": null, "new_value_text": null,
            "old_value_datetime": null, "new_value_datetime": null,
        }));
        for (side, record) in [("old", before), ("new", after)] {
            let stored = record.get(name).cloned().unwrap_or(Value::Null);
            let key = |column: &str| format!("{side}_value_{column}");
            match ttype {
                "many2one" => {
                    let id = stored.as_u64();
                    value.insert(key("integer"), json!(id.unwrap_or(0)));
                    let display = id.and_then(|id| {
                        let target = relation(name)?;
                        let related = self.table(target)?.get(&id)?;
                        Some(super::render::display_name(self, target, related))
                    });
                    value.insert(key("char"), json!(display));
                }
                "monetary" | "float" => {
                    value.insert(key("float"), json!(stored.as_f64().unwrap_or(0.0)));
                    value.insert(
                        "currency_id".into(),
                        json!(record.get("__currency").cloned().unwrap_or(json!(1))),
                    );
                }
                "boolean" => {
                    value.insert(key("integer"), json!(u64::from(stored == json!(true))));
                }
                "selection" => {
                    let label = match stored.as_str() {
                        Some("opportunity") => json!("Opportunity"),
                        Some("lead") => json!("Lead"),
                        _ => Value::Null,
                    };
                    value.insert(key("char"), label);
                }
                _ => {
                    value.insert(key("char"), stored);
                }
            }
        }
        value
    }

    /// Deletes a record; a lead takes its chatter with it, as Odoo's `unlink` does.
    pub fn remove(&mut self, model: &str, id: u64) {
        self.tables.get_mut(model).map(|t| t.remove(&id));
        if model != "crm.lead" {
            return;
        }
        for message in self.messages_by_lead.remove(&id).unwrap_or_default() {
            let removed = self
                .tables
                .get_mut("mail.message")
                .and_then(|t| t.remove(&message));
            let values = removed
                .and_then(|m| m.get("tracking_value_ids").cloned())
                .unwrap_or_default();
            for value in values.as_array().into_iter().flatten() {
                if let (Some(value), Some(table)) =
                    (value.as_u64(), self.tables.get_mut("mail.tracking.value"))
                {
                    table.remove(&value);
                }
            }
        }
    }

    /// The partner a user writes as.
    pub(super) fn partner_of(&self, user: Option<u64>) -> Option<u64> {
        let user = user.unwrap_or(ADMIN_UID);
        self.tables["res.users"]
            .get(&user)
            .and_then(|u| u.get("partner_id"))
            .and_then(Value::as_u64)
    }
}
