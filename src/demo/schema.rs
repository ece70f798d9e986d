//! The simulated Odoo's models and their fields, with the types `fields_get` reports: what
//! the server knows of, not what it holds.

use std::collections::BTreeMap;

/// The type of a field, as `fields_get` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    Char,
    Integer,
    Float,
    Monetary,
    Boolean,
    Date,
    Datetime,
    Selection(&'static [(&'static str, &'static str)]),
    Many2one(&'static str),
    One2many(&'static str),
    Many2many(&'static str),
}

impl FieldType {
    pub fn name(self) -> &'static str {
        match self {
            FieldType::Char => "char",
            FieldType::Integer => "integer",
            FieldType::Float => "float",
            FieldType::Monetary => "monetary",
            FieldType::Boolean => "boolean",
            FieldType::Date => "date",
            FieldType::Datetime => "datetime",
            FieldType::Selection(_) => "selection",
            FieldType::Many2one(_) => "many2one",
            FieldType::One2many(_) => "one2many",
            FieldType::Many2many(_) => "many2many",
        }
    }

    pub fn relation(self) -> Option<&'static str> {
        match self {
            FieldType::Many2one(r) | FieldType::One2many(r) | FieldType::Many2many(r) => Some(r),
            _ => None,
        }
    }

    pub fn is_x2many(self) -> bool {
        matches!(self, FieldType::One2many(_) | FieldType::Many2many(_))
    }
}

#[derive(Debug, Clone, Copy)]
pub struct FieldDef {
    pub name: &'static str,
    pub label: &'static str,
    pub ftype: FieldType,
    /// Stored in the database (computed fields are not).
    pub store: bool,
}

const fn field(name: &'static str, label: &'static str, ftype: FieldType) -> FieldDef {
    FieldDef {
        name,
        label,
        ftype,
        store: true,
    }
}

const fn computed(name: &'static str, label: &'static str, ftype: FieldType) -> FieldDef {
    FieldDef {
        name,
        label,
        ftype,
        store: false,
    }
}

use FieldType::*;

const LEAD_TYPES: &[(&str, &str)] = &[("lead", "Lead"), ("opportunity", "Opportunity")];
const PRIORITIES: &[(&str, &str)] = &[
    ("0", "Low"),
    ("1", "Medium"),
    ("2", "High"),
    ("3", "Very High"),
];
const PARTNER_TYPES: &[(&str, &str)] = &[("contact", "Contact"), ("invoice", "Invoice Address")];

const COMMON: [FieldDef; 3] = [
    field("id", "ID", Integer),
    field("create_date", "Created on", Datetime),
    field("write_date", "Last Updated on", Datetime),
];

pub const USERS: &[FieldDef] = &[
    computed("name", "Name", Char),
    field("login", "Login", Char),
    computed("email", "Email", Char),
    field("active", "Active", Boolean),
    field("share", "Share User", Boolean),
    field("partner_id", "Related Partner", Many2one("res.partner")),
    field("company_id", "Company", Many2one("res.company")),
    computed("employee_ids", "Related employee", One2many("hr.employee")),
    field("sale_team_id", "User Sales Team", Many2one("crm.team")),
    computed("crm_team_ids", "Sales Teams", Many2many("crm.team")),
    computed("login_date", "Latest authentication", Datetime),
    computed("groups_id", "Groups", Many2many("res.groups")),
];

pub const EMPLOYEES: &[FieldDef] = &[
    field("name", "Employee Name", Char),
    field("user_id", "User", Many2one("res.users")),
    field("parent_id", "Manager", Many2one("hr.employee")),
    field("coach_id", "Coach", Many2one("hr.employee")),
    field("work_email", "Work Email", Char),
    field("department_id", "Department", Many2one("hr.department")),
    field("job_title", "Job Title", Char),
    field("active", "Active", Boolean),
    field("company_id", "Company", Many2one("res.company")),
    computed("child_ids", "Direct subordinates", One2many("hr.employee")),
    field("job_id", "Job Position", Many2one("hr.job")),
    field("departure_date", "Departure Date", Date),
    field("private_email", "Private Email", Char),
];

/// The public subset of employees that any internal user may read.
pub const PUBLIC_EMPLOYEES: &[FieldDef] = &[
    field("name", "Employee Name", Char),
    field("user_id", "User", Many2one("res.users")),
    field("parent_id", "Manager", Many2one("hr.employee.public")),
    field("work_email", "Work Email", Char),
    field("department_id", "Department", Many2one("hr.department")),
    field("job_title", "Job Title", Char),
    field("active", "Active", Boolean),
];

pub const LEADS: &[FieldDef] = &[
    field("name", "Opportunity", Char),
    field("type", "Type", Selection(LEAD_TYPES)),
    field("user_id", "Salesperson", Many2one("res.users")),
    field("team_id", "Sales Team", Many2one("crm.team")),
    field("partner_id", "Customer", Many2one("res.partner")),
    field("stage_id", "Stage", Many2one("crm.stage")),
    field("expected_revenue", "Expected Revenue", Monetary),
    field("prorated_revenue", "Prorated Revenue", Monetary),
    field("recurring_revenue", "Recurring Revenues", Monetary),
    field("probability", "Probability", Float),
    field("automated_probability", "Automated Probability", Float),
    field("date_deadline", "Expected Closing", Date),
    field("date_closed", "Closed Date", Datetime),
    field("date_open", "Assignment Date", Datetime),
    field("date_last_stage_update", "Last Stage Update", Datetime),
    field("active", "Active", Boolean),
    field("lost_reason_id", "Lost Reason", Many2one("crm.lost.reason")),
    field("company_id", "Company", Many2one("res.company")),
    computed("company_currency", "Currency", Many2one("res.currency")),
    field("partner_name", "Company Name", Char),
    field("contact_name", "Contact Name", Char),
    field("email_from", "Email", Char),
    field("country_id", "Country", Many2one("res.country")),
    field("city", "City", Char),
    field("priority", "Priority", Selection(PRIORITIES)),
    field("tag_ids", "Tags", Many2many("crm.tag")),
    field("description", "Notes", Char),
];

pub const STAGES: &[FieldDef] = &[
    field("name", "Stage Name", Char),
    field("sequence", "Sequence", Integer),
    field("is_won", "Is Won Stage?", Boolean),
    field("fold", "Folded in Pipeline", Boolean),
    field("team_id", "Sales Team", Many2one("crm.team")),
];

pub const TEAMS: &[FieldDef] = &[
    field("name", "Sales Team", Char),
    field("user_id", "Team Leader", Many2one("res.users")),
    computed("member_ids", "Salespersons", Many2many("res.users")),
    field("active", "Active", Boolean),
    field("company_id", "Company", Many2one("res.company")),
    field("use_leads", "Leads", Boolean),
    field("use_opportunities", "Pipeline", Boolean),
    field("alias_name", "Alias Name", Char),
    computed(
        "crm_team_member_ids",
        "Sales Team Members",
        One2many("crm.team.member"),
    ),
];

pub const PARTNERS: &[FieldDef] = &[
    field("name", "Name", Char),
    computed("display_name", "Display Name", Char),
    field("city", "City", Char),
    field("country_id", "Country", Many2one("res.country")),
    field("is_company", "Is a Company", Boolean),
    field("parent_id", "Related Company", Many2one("res.partner")),
    field(
        "commercial_partner_id",
        "Commercial Entity",
        Many2one("res.partner"),
    ),
    field("email", "Email", Char),
    field("active", "Active", Boolean),
    field("user_id", "Salesperson", Many2one("res.users")),
    field("type", "Address Type", Selection(PARTNER_TYPES)),
];

pub const MODEL_FIELDS: &[FieldDef] = &[
    field("name", "Field Name", Char),
    field("model", "Model Name", Char),
    field("ttype", "Field Type", Char),
    field("tracking", "Enable Ordered Tracking", Integer),
    field("field_description", "Field Label", Char),
];

const MESSAGE_TYPES: &[(&str, &str)] = &[
    ("email", "Incoming Email"),
    ("comment", "Comment"),
    ("notification", "System notification"),
];

pub const MESSAGES: &[FieldDef] = &[
    field("model", "Related Document Model", Char),
    field("res_id", "Related Document ID", Integer),
    field("date", "Date", Datetime),
    field("author_id", "Author", Many2one("res.partner")),
    // A one2many in Odoo; the simulation keeps the ids on the message, as an index would.
    field(
        "tracking_value_ids",
        "Tracking values",
        One2many("mail.tracking.value"),
    ),
    field("message_type", "Type", Selection(MESSAGE_TYPES)),
    field("subtype_id", "Subtype", Many2one("mail.message.subtype")),
    field("body", "Contents", Char),
];

pub const TRACKING_VALUES: &[FieldDef] = &[
    field("field_id", "Field", Many2one("ir.model.fields")),
    // JSON in Odoo: what is left of a field that was removed.
    field("field_info", "Removed field information", Char),
    field("old_value_integer", "Old Value Integer", Integer),
    field("old_value_float", "Old Value Float", Float),
    field("old_value_char", "Old Value Char", Char),
    field("old_value_text", "Old Value Text", Char),
    field("old_value_datetime", "Old Value DateTime", Datetime),
    field("new_value_integer", "New Value Integer", Integer),
    field("new_value_float", "New Value Float", Float),
    field("new_value_char", "New Value Char", Char),
    field("new_value_text", "New Value Text", Char),
    field("new_value_datetime", "New Value Datetime", Datetime),
    field("currency_id", "Currency", Many2one("res.currency")),
    field("mail_message_id", "Message ID", Many2one("mail.message")),
    computed("display_name", "Display Name", Char),
    field("create_uid", "Created by", Many2one("res.users")),
    field("write_uid", "Last Updated by", Many2one("res.users")),
];

pub const NAMED: &[FieldDef] = &[
    field("name", "Name", Char),
    field("active", "Active", Boolean),
];

/// The models the simulation knows, with their fields and Odoo's default order.
pub const MODELS: &[(&str, &[FieldDef], &str)] = &[
    ("res.users", USERS, "name, id"),
    ("hr.employee", EMPLOYEES, "name, id"),
    ("crm.lead", LEADS, "priority desc, id desc"),
    ("crm.stage", STAGES, "sequence, name, id"),
    ("crm.team", TEAMS, "sequence, id desc"),
    ("res.partner", PARTNERS, "complete_name, id desc"),
    ("res.currency", NAMED, "name, id"),
    ("res.country", NAMED, "name, id"),
    ("res.company", NAMED, "name, id"),
    ("hr.department", NAMED, "name, id"),
    ("crm.lost.reason", NAMED, "name, id"),
    ("crm.tag", NAMED, "name, id"),
    ("hr.job", NAMED, "name, id"),
    ("res.groups", NAMED, "name, id"),
    ("hr.employee.public", PUBLIC_EMPLOYEES, "name, id"),
    ("ir.model.fields", MODEL_FIELDS, "name"),
    ("mail.message", MESSAGES, "id desc"),
    ("mail.tracking.value", TRACKING_VALUES, "id desc"),
    ("mail.message.subtype", NAMED, "sequence, id"),
];

/// Models that read another model's records (Odoo's SQL views over the same table).
pub fn storage_model(model: &str) -> &str {
    match model {
        "hr.employee.public" => "hr.employee",
        other => other,
    }
}

/// Every field of `model` (the common ones first), built once: domains look them up per record.
pub fn model_fields(model: &str) -> Option<&'static [FieldDef]> {
    static ALL: std::sync::OnceLock<BTreeMap<&'static str, Vec<FieldDef>>> =
        std::sync::OnceLock::new();
    let all = ALL.get_or_init(|| {
        MODELS
            .iter()
            .map(|(name, fields, _)| {
                let mut all: Vec<FieldDef> = COMMON.to_vec();
                all.extend_from_slice(fields);
                (*name, all)
            })
            .collect()
    });
    all.get(model).map(Vec::as_slice)
}

pub fn default_order(model: &str) -> &'static str {
    MODELS
        .iter()
        .find(|(name, _, _)| *name == model)
        .map(|(_, _, order)| *order)
        .unwrap_or("id")
}
