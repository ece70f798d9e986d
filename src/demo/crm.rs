//! The simulated CRM's data: models, fields, generated records and the changes made between syncs.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde_json::{Map, Value, json};

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

/// One record, as stored: values in Odoo's JSON shapes except that relations are bare ids
/// (or null) and datetimes keep microseconds (`write_date` as `__write_micros`).
pub type Record = Map<String, Value>;

/// Who may call the simulated server.
#[derive(Debug, Clone)]
pub struct Account {
    pub uid: u64,
    pub login: String,
    pub password: String,
    pub api_key: Option<String>,
    /// Sales "All Documents": sees every lead, not just their own and unassigned ones.
    pub all_leads: bool,
}

#[derive(Debug, Clone)]
pub struct CrmOptions {
    /// Internal sales users (the hierarchy), besides admin, OdooBot and a portal user.
    pub users: usize,
    pub opportunities: usize,
    pub partners: usize,
    pub seed: u64,
    /// Currencies used by opportunities; the first is the company currency.
    pub currencies: Vec<String>,
    /// The Odoo major version to behave as (18: JSON-RPC only; 19: JSON-2 too).
    pub version: u32,
    pub database: String,
    pub admin_password: String,
    pub admin_api_key: Option<String>,
}

impl Default for CrmOptions {
    fn default() -> Self {
        CrmOptions {
            users: 20,
            opportunities: 200,
            partners: 60,
            seed: 42,
            currencies: vec!["USD".into()],
            version: 18,
            database: "salesdemo".into(),
            admin_password: "admin".into(),
            admin_api_key: None,
        }
    }
}

/// A deterministic random source (xorshift64*): the same seed gives the same CRM.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next_u64() % n }
    }

    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

pub const ADMIN_UID: u64 = 2;
pub const DEMO_UID: u64 = 6;
pub const WON_STAGE: u64 = 4;
const FIRST_GENERATED_USER: u64 = 10;
/// Employee ids follow user ids (Odoo's demo has employees 2 and 6 for users 2 and 6).
const EMPLOYEE_OFFSET: u64 = 0;

const FIRST_NAMES: &[&str] = &[
    "Ann", "Bob", "Chloé", "Dmitri", "Eva", "Farid", "Grace", "Hiro", "Inès", "Jonas", "Kara",
    "Luis", "Maya", "Noah", "Olga", "Pieter", "Quinn", "Rosa", "Sven", "Tariq", "Uma", "Victor",
    "Wen", "Ximena", "Yusuf", "Zoë",
];
const LAST_NAMES: &[&str] = &[
    "Adams", "Berg", "Costa", "Dubois", "Evans", "Fischer", "García", "Hansen", "Ito", "Jansen",
    "Kowalski", "Larsen", "Moreau", "Nakamura", "Olsen", "Peeters", "Rossi", "Schmidt", "Tanaka",
    "Umar", "Vargas", "Weber",
];
const CITIES: &[(&str, u64)] = &[
    ("Brussels", 1),
    ("Antwerp", 1),
    ("Paris", 2),
    ("Lyon", 2),
    ("Berlin", 3),
    ("Munich", 3),
    ("London", 4),
    ("Leeds", 4),
    ("New York", 5),
    ("Austin", 5),
    ("Madrid", 6),
    ("Lisbon", 7),
];
const COMPANY_WORDS: &[&str] = &[
    "Azure", "Deco", "Gemini", "Lumber", "Ready", "Wood", "Nordic", "Atlas", "Vertex", "Harbor",
    "Summit", "Pioneer", "Crystal", "Orbit", "Cedar", "Falcon",
];
const COMPANY_KINDS: &[&str] = &[
    "Interior",
    "Addict",
    "Furniture",
    "Corner",
    "Mat",
    "Systems",
    "Logistics",
    "Labs",
];
const DEALS: &[&str] = &[
    "Office chairs",
    "Open space design",
    "Conference room",
    "Desks renewal",
    "Reception area",
    "Furnish a 60m² office",
    "Lounge sofas",
    "Storage cabinets",
    "Standing desks",
    "Meeting pods",
];

/// The simulated CRM.
#[derive(Debug, Clone)]
pub struct Crm {
    pub options: CrmOptions,
    pub tables: BTreeMap<String, BTreeMap<u64, Record>>,
    pub accounts: Vec<Account>,
    rng: Rng,
    /// Microseconds since the epoch of the last write; strictly increasing, so every write is later.
    last_write_micros: i64,
    /// Generated data is dated back, like a CRM that existed before pipelog was installed.
    generating: bool,
    /// How far the server's clock is ahead of the real one (tests move it on).
    clock_offset_micros: i64,
}

pub fn format_datetime(micros: i64) -> String {
    Timestamp::from_microsecond(micros)
        .map(|t| t.strftime("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_else(|_| "1970-01-01 00:00:00".into())
}

impl Crm {
    pub fn generate(options: CrmOptions) -> Crm {
        let mut crm = Crm {
            rng: Rng::new(options.seed),
            options,
            tables: BTreeMap::new(),
            accounts: Vec::new(),
            last_write_micros: Timestamp::now().as_microsecond() - 400 * 86_400_000_000,
            generating: true,
            clock_offset_micros: 0,
        };
        for (model, _, _) in MODELS {
            crm.tables.insert((*model).to_string(), BTreeMap::new());
        }
        crm.generate_reference_data();
        crm.generate_people();
        crm.generate_partners();
        crm.generate_opportunities();
        crm.generating = false;
        crm
    }

    /// The server's clock: what it stamps writes with and sends as the HTTP `Date`.
    pub fn now(&self) -> Timestamp {
        Timestamp::from_microsecond(Timestamp::now().as_microsecond() + self.clock_offset_micros)
            .unwrap_or_else(|_| Timestamp::now())
    }

    /// Moves the server's clock on (time passing without waiting for it).
    pub fn advance_clock(&mut self, by: std::time::Duration) {
        self.clock_offset_micros += by.as_micros() as i64;
    }

    /// A write timestamp: now, or just after the last one if the clock has not moved on.
    pub fn tick(&mut self) -> i64 {
        let now = self.now().as_microsecond();
        // Generated history is spread out, a minute per record, like a CRM in use for weeks.
        self.last_write_micros = if self.generating {
            self.last_write_micros + 60_000_000
        } else {
            now.max(self.last_write_micros + 1)
        };
        self.last_write_micros
    }

    pub fn table(&self, model: &str) -> Option<&BTreeMap<u64, Record>> {
        self.tables.get(storage_model(model))
    }

    fn insert(&mut self, model: &str, id: u64, mut values: Record) {
        let micros = self.tick();
        values.insert("id".into(), json!(id));
        values.insert("create_date".into(), json!(format_datetime(micros)));
        values.insert("__write_micros".into(), json!(micros));
        if let Some(table) = self.tables.get_mut(model) {
            table.insert(id, values);
        }
    }

    /// Creates a record with the next free id and returns the id.
    pub fn create(&mut self, model: &str, values: Record) -> u64 {
        let id = self.next_id(model);
        self.insert(model, id, values);
        id
    }

    /// Updates fields of one record and bumps its `write_date`. Returns false for unknown ids.
    pub fn update(&mut self, model: &str, id: u64, values: Record) -> bool {
        let micros = self.tick();
        self.update_stamped(model, id, values, micros)
    }

    /// Updates fields of one record with `write_date` set to `micros`: as a transaction that
    /// started then (Odoo stamps a write with its transaction's start) commits now.
    pub fn update_stamped(&mut self, model: &str, id: u64, values: Record, micros: i64) -> bool {
        let Some(record) = self.tables.get_mut(model).and_then(|t| t.get_mut(&id)) else {
            return false;
        };
        for (key, value) in values {
            record.insert(key, value);
        }
        record.insert("__write_micros".into(), json!(micros));
        true
    }

    pub fn next_id(&self, model: &str) -> u64 {
        self.tables
            .get(model)
            .and_then(|t| t.keys().next_back().copied())
            .unwrap_or(0)
            + 1
    }

    fn named(&mut self, model: &str, id: u64, name: &str) {
        self.insert(model, id, obj(json!({"name": name, "active": true})));
    }

    fn generate_reference_data(&mut self) {
        self.named("res.company", 1, "YourCompany");
        for (i, code) in self.options.currencies.clone().iter().enumerate() {
            self.named("res.currency", i as u64 + 1, code);
        }
        for (id, name) in [
            (1, "Belgium"),
            (2, "France"),
            (3, "Germany"),
            (4, "United Kingdom"),
            (5, "United States"),
            (6, "Spain"),
            (7, "Portugal"),
        ] {
            self.named("res.country", id, name);
        }
        self.named("hr.department", 1, "Management");
        self.named("hr.department", 2, "Management / Sales");
        for (id, name) in [
            (1, "Too expensive"),
            (2, "We don't have people/skills"),
            (3, "Not enough stock"),
        ] {
            self.named("crm.lost.reason", id, name);
        }
        for (id, name) in [
            (1, "Product"),
            (2, "Software"),
            (3, "Services"),
            (4, "Information"),
        ] {
            self.named("crm.tag", id, name);
        }
        for (id, name, sequence, is_won) in [
            (1, "New", 1, false),
            (2, "Qualified", 2, false),
            (3, "Proposition", 3, false),
            (WON_STAGE, "Won", 70, true),
        ] {
            self.insert(
                "crm.stage",
                id,
                obj(json!({"name": name, "sequence": sequence, "is_won": is_won, "fold": false, "team_id": null})),
            );
        }
    }

    fn person_name(&mut self) -> String {
        let first = *self.rng.pick(FIRST_NAMES);
        let last = *self.rng.pick(LAST_NAMES);
        format!("{first} {last}")
    }

    /// An active internal user with their partner record.
    fn add_user(&mut self, id: u64, name: &str, login: &str, email: &str, team: Option<u64>) {
        let (active, share) = (true, false);
        let partner = self.next_id("res.partner");
        self.insert(
            "res.partner",
            partner,
            obj(json!({"name": name, "email": email, "active": active, "is_company": false, "parent_id": 1,
                       "commercial_partner_id": 1, "city": null, "country_id": null, "user_id": null, "type": "contact"})),
        );
        self.insert(
            "res.users",
            id,
            obj(json!({"name": name, "login": login, "email": email, "active": active, "share": share,
                       "partner_id": partner, "company_id": 1, "sale_team_id": team, "login_date": null})),
        );
    }

    fn add_employee(
        &mut self,
        id: u64,
        name: &str,
        user: Option<u64>,
        manager: Option<u64>,
        email: &str,
        title: &str,
    ) {
        self.insert(
            "hr.employee",
            id,
            obj(json!({"name": name, "user_id": user, "parent_id": manager, "coach_id": manager, "work_email": email,
                       "department_id": 2, "job_title": title, "active": true, "company_id": 1})),
        );
    }

    /// Admin, OdooBot, a portal user, the "demo" salesman and a hierarchy several levels deep:
    /// a head of sales, regional directors, team managers (one of whom has no login), salespeople.
    fn generate_people(&mut self) {
        self.insert(
            "res.partner",
            1,
            obj(json!({"name": "YourCompany", "is_company": true, "active": true, "parent_id": null,
                       "commercial_partner_id": 1, "email": "info@yourcompany.example.com", "city": "Brussels",
                       "country_id": 1, "user_id": null, "type": "contact"})),
        );
        self.add_user(1, "OdooBot", "__system__", "odoobot@example.com", None);
        self.update("res.users", 1, obj(json!({"active": false})));
        self.add_user(
            ADMIN_UID,
            "Mitchell Admin",
            "admin",
            "admin@yourcompany.example.com",
            Some(1),
        );
        self.add_user(3, "Joel Willis", "portal", "joel.willis@example.com", None);
        self.update("res.users", 3, obj(json!({"share": true})));
        self.accounts.push(Account {
            uid: ADMIN_UID,
            login: "admin".into(),
            password: self.options.admin_password.clone(),
            api_key: self.options.admin_api_key.clone(),
            all_leads: true,
        });

        let total = self.options.users.max(4) as u64;
        let teams = (total / 8).max(1);
        for team in 1..=teams {
            let name = if team == 1 {
                "Sales".to_string()
            } else {
                format!(
                    "Sales {}",
                    self.rng
                        .pick(&["Europe", "Americas", "Benelux", "Nordics", "Iberia", "DACH"])
                )
            };
            self.insert(
                "crm.team",
                team,
                obj(json!({"name": name, "user_id": null, "active": true, "company_id": 1, "use_leads": true, "use_opportunities": true, "sequence": team})),
            );
        }
        self.add_employee(
            EMPLOYEE_OFFSET + ADMIN_UID,
            "Mitchell Admin",
            Some(ADMIN_UID),
            None,
            "admin@yourcompany.example.com",
            "Chief Executive Officer",
        );

        // Levels: 1 head, ~sqrt directors, managers, then salespeople spread over managers.
        let head = FIRST_GENERATED_USER;
        let directors = ((total as f64).sqrt() / 2.0).ceil().max(1.0) as u64;
        let managers = (total / 6).max(directors);
        let mut managers_list = Vec::new();
        for offset in 0..total {
            let id = head + offset;
            let name = self.person_name();
            let email = format!(
                "{}.{}@yourcompany.example.com",
                name.split(' ').next().unwrap_or("user").to_lowercase(),
                id
            );
            let team = 1 + offset % teams;
            let (manager_employee, title) = if offset == 0 {
                (Some(EMPLOYEE_OFFSET + ADMIN_UID), "Head of Sales")
            } else if offset <= directors {
                (Some(EMPLOYEE_OFFSET + head), "Sales Director")
            } else if offset <= directors + managers {
                (
                    Some(EMPLOYEE_OFFSET + head + 1 + (offset - 1) % directors),
                    "Sales Manager",
                )
            } else {
                let manager = if managers_list.is_empty() {
                    head
                } else {
                    *self.rng.pick(&managers_list)
                };
                (Some(EMPLOYEE_OFFSET + manager), "Account Executive")
            };
            if title == "Sales Manager" {
                managers_list.push(id);
            }
            self.add_user(id, &name, &email, &email, Some(team));
            self.add_employee(
                EMPLOYEE_OFFSET + id,
                &name,
                Some(id),
                manager_employee,
                &email,
                title,
            );
            if title == "Sales Manager" && offset % 3 == 0 {
                self.update("crm.team", team, obj(json!({"user_id": id})));
            }
        }
        // A team lead with no Odoo login sits between a director and their people, like Odoo's demo
        // "Jeffrey Kelly": the hierarchy must pass through them.
        let orphan_lead = self
            .next_id("hr.employee")
            .max(EMPLOYEE_OFFSET + head + total + 100);
        self.add_employee(
            orphan_lead,
            "Jeffrey Kelly",
            None,
            Some(EMPLOYEE_OFFSET + head + 1),
            "jeffrey.kelly@yourcompany.example.com",
            "Team Lead",
        );
        if let Some(&last_manager) = managers_list.last() {
            self.update(
                "hr.employee",
                EMPLOYEE_OFFSET + last_manager,
                obj(json!({"parent_id": orphan_lead, "coach_id": orphan_lead})),
            );
        }
        // The recorded demo salesman: sees only his own leads.
        self.add_user(
            DEMO_UID,
            "Marc Demo",
            "demo",
            "mark.brown23@example.com",
            Some(1),
        );
        self.add_employee(
            EMPLOYEE_OFFSET + DEMO_UID,
            "Marc Demo",
            Some(DEMO_UID),
            Some(EMPLOYEE_OFFSET + head),
            "mark.brown23@example.com",
            "Account Executive",
        );
        self.accounts.push(Account {
            uid: DEMO_UID,
            login: "demo".into(),
            password: "demo".into(),
            api_key: None,
            all_leads: false,
        });
    }

    pub fn salespeople(&self) -> Vec<u64> {
        self.tables["res.users"]
            .iter()
            .filter(|(id, user)| {
                **id >= FIRST_GENERATED_USER
                    || **id == DEMO_UID
                    || (**id == ADMIN_UID && user["active"] == json!(true))
            })
            .map(|(id, _)| *id)
            .collect()
    }

    fn generate_partners(&mut self) {
        for _ in 0..self.options.partners {
            let id = self.next_id("res.partner");
            let (city, country) = *self.rng.pick(CITIES);
            let company = self.rng.chance(70);
            let name = if company {
                format!(
                    "{} {}",
                    self.rng.pick(COMPANY_WORDS),
                    self.rng.pick(COMPANY_KINDS)
                )
            } else {
                self.person_name()
            };
            let active = !self.rng.chance(3);
            self.insert(
                "res.partner",
                id,
                obj(json!({"name": name, "is_company": company, "active": active, "parent_id": null,
                           "commercial_partner_id": id, "email": format!("contact{id}@example.com"), "city": city,
                           "country_id": country, "user_id": null, "type": "contact"})),
            );
        }
    }

    fn generate_opportunities(&mut self) {
        let salespeople = self.salespeople();
        let partners: Vec<u64> = self.tables["res.partner"]
            .keys()
            .copied()
            .filter(|id| *id > 1)
            .collect();
        let teams = self.tables["crm.team"].len() as u64;
        for id in 1..=self.options.opportunities as u64 {
            let owner = if self.rng.chance(8) {
                None
            } else {
                Some(*self.rng.pick(&salespeople))
            };
            let record = self.new_opportunity(owner, &partners, teams);
            self.insert("crm.lead", id, record);
        }
    }

    fn new_opportunity(&mut self, owner: Option<u64>, partners: &[u64], teams: u64) -> Record {
        let now = Timestamp::now();
        let kind = if self.rng.chance(80) {
            "opportunity"
        } else {
            "lead"
        };
        let stage = 1 + self.rng.below(4);
        let revenue = (1 + self.rng.below(120)) as f64 * 500.0;
        let lost = stage != WON_STAGE && self.rng.chance(12);
        let probability = if stage == WON_STAGE {
            100.0
        } else if lost {
            0.0
        } else {
            [10.0, 30.0, 60.0][(stage - 1) as usize % 3]
        };
        let currency_count = self.options.currencies.len() as u64;
        let currency = if currency_count > 1 && self.rng.chance(30) {
            2 + self.rng.below(currency_count - 1)
        } else {
            1
        };
        let deadline_days = self.rng.below(240) as i64 - 60;
        let deadline = now
            .to_zoned_datetime(jiff::tz::TimeZone::UTC)
            .date()
            .saturating_add(jiff::Span::new().days(deadline_days));
        let closed = (stage == WON_STAGE || lost).then(|| {
            let days_ago = self.rng.below(300) as i64;
            format_datetime((now - jiff::Span::new().hours(24 * days_ago)).as_microsecond())
        });
        let partner =
            (!partners.is_empty() && self.rng.chance(85)).then(|| *self.rng.pick(partners));
        let priority = ["0", "1", "2", "3"][self.rng.below(4) as usize];
        let deal = *self.rng.pick(DEALS);
        obj(json!({
            "name": format!("{deal} #{}", self.rng.below(10_000)),
            "type": kind,
            "user_id": owner,
            "team_id": owner.map(|_| 1 + self.rng.below(teams.max(1))),
            "partner_id": partner,
            "stage_id": stage,
            "expected_revenue": revenue,
            "recurring_revenue": 0.0,
            "probability": probability,
            "automated_probability": probability,
            "date_deadline": if self.rng.chance(85) { Value::String(deadline.to_string()) } else { Value::Null },
            "date_closed": closed,
            "date_open": format_datetime(now.as_microsecond()),
            "date_last_stage_update": format_datetime(now.as_microsecond()),
            "active": !lost,
            "lost_reason_id": if lost && self.rng.chance(40) { Some(1 + self.rng.below(3)) } else { None },
            "company_id": 1,
            "__currency": currency,
            "partner_name": null,
            "contact_name": null,
            "email_from": format!("buyer{}@example.com", self.rng.below(9_999)),
            "country_id": null,
            "city": null,
            "priority": priority,
            "tag_ids": [1 + self.rng.below(4)],
        }))
    }

    /// Makes `count` random changes of the kinds a sales team makes between two syncs: stage moves,
    /// wins, losses, restores, reassignments, new deals, deletions, manager changes and renames.
    pub fn mutate(&mut self, count: usize) -> Vec<String> {
        let mut done = Vec::new();
        let salespeople = self.salespeople();
        let partners: Vec<u64> = self.tables["res.partner"]
            .keys()
            .copied()
            .filter(|id| *id > 1)
            .collect();
        let teams = self.tables["crm.team"].len() as u64;
        for _ in 0..count {
            let leads: Vec<u64> = self.tables["crm.lead"].keys().copied().collect();
            let Some(&lead) = (!leads.is_empty()).then(|| self.rng.pick(&leads)) else {
                break;
            };
            let now = format_datetime(Timestamp::now().as_microsecond());
            let description = match self.rng.below(100) {
                0..=29 => {
                    let stage = 1 + self.rng.below(3);
                    self.update(
                        "crm.lead",
                        lead,
                        obj(json!({"stage_id": stage, "date_last_stage_update": now})),
                    );
                    format!("crm.lead {lead}: stage {stage}")
                }
                30..=41 => {
                    self.update("crm.lead", lead, obj(json!({"stage_id": WON_STAGE, "probability": 100.0, "date_closed": now, "active": true})));
                    format!("crm.lead {lead}: won")
                }
                42..=51 => {
                    let reason = 1 + self.rng.below(3);
                    self.update("crm.lead", lead, obj(json!({"active": false, "probability": 0.0, "date_closed": now, "lost_reason_id": reason})));
                    format!("crm.lead {lead}: lost")
                }
                52..=56 => {
                    self.update("crm.lead", lead, obj(json!({"active": true, "probability": 40.38, "date_closed": null, "lost_reason_id": null})));
                    format!("crm.lead {lead}: restored")
                }
                57..=66 => {
                    let owner = *self.rng.pick(&salespeople);
                    self.update("crm.lead", lead, obj(json!({"user_id": owner})));
                    format!("crm.lead {lead}: assigned to {owner}")
                }
                67..=76 => {
                    let revenue = (1 + self.rng.below(120)) as f64 * 500.0;
                    self.update("crm.lead", lead, obj(json!({"expected_revenue": revenue})));
                    format!("crm.lead {lead}: revenue {revenue}")
                }
                77..=86 => {
                    let id = self.next_id("crm.lead");
                    let owner = Some(*self.rng.pick(&salespeople));
                    let record = self.new_opportunity(owner, &partners, teams);
                    self.insert("crm.lead", id, record);
                    format!("crm.lead {id}: created")
                }
                87..=90 => {
                    self.tables.get_mut("crm.lead").map(|t| t.remove(&lead));
                    format!("crm.lead {lead}: deleted")
                }
                91..=95 => {
                    let employees: Vec<u64> = self.tables["hr.employee"]
                        .keys()
                        .copied()
                        .filter(|id| *id > EMPLOYEE_OFFSET + FIRST_GENERATED_USER + 1)
                        .collect();
                    let managers: Vec<u64> = self.tables["hr.employee"]
                        .iter()
                        .filter(|(_, e)| e["job_title"] == json!("Sales Manager"))
                        .map(|(id, _)| *id)
                        .collect();
                    if employees.is_empty() || managers.is_empty() {
                        continue;
                    }
                    let employee = *self.rng.pick(&employees);
                    let manager = *self.rng.pick(&managers);
                    if employee == manager {
                        continue;
                    }
                    self.update("hr.employee", employee, obj(json!({"parent_id": manager})));
                    format!("hr.employee {employee}: manager {manager}")
                }
                _ => {
                    if partners.is_empty() {
                        continue;
                    }
                    let partner = *self.rng.pick(&partners);
                    let name = format!(
                        "{} {}",
                        self.rng.pick(COMPANY_WORDS),
                        self.rng.pick(COMPANY_KINDS)
                    );
                    self.update("res.partner", partner, obj(json!({"name": name})));
                    format!("res.partner {partner}: renamed")
                }
            };
            done.push(description);
        }
        done
    }
}

/// A JSON object literal as a record; anything else becomes an empty record.
pub fn obj(value: Value) -> Record {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}
