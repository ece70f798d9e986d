//! The simulated CRM's data: its tables, its clock, and the writes that stamp `write_date`. The
//! models' fields are in `schema`, the generated records and the changes between syncs in
//! `generate`.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde_json::{Map, Value, json};

use super::past::HeldBackChanges;
pub use super::schema::*;

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
    /// About how many tracked changes each generated deal had before now (a past of up to a
    /// year in Odoo's chatter); 0 for none.
    pub history_changes: u32,
    /// The last days of that past held back, to happen as the server's clock passes them
    /// ([`Crm::play_until`]); the clock starts where they begin. 0: the past is all in at once.
    pub held_back_days: u32,
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
            history_changes: 4,
            held_back_days: 0,
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
pub(super) const FIRST_GENERATED_USER: u64 = 10;
/// Employee ids follow user ids (Odoo's demo has employees 2 and 6 for users 2 and 6).
pub(super) const EMPLOYEE_OFFSET: u64 = 0;

/// The simulated CRM.
#[derive(Debug, Clone)]
pub struct Crm {
    pub options: CrmOptions,
    pub tables: BTreeMap<String, BTreeMap<u64, Record>>,
    pub accounts: Vec<Account>,
    pub(super) rng: Rng,
    /// Microseconds since the epoch of the last write; strictly increasing, so every write is later.
    pub(super) last_write_micros: i64,
    /// Generated data is dated back, like a CRM that existed before pipelog was installed.
    pub(super) generating: bool,
    /// How far the server's clock is ahead of the real one (tests move it on).
    clock_offset_micros: i64,
    /// The chatter messages of each lead, in id order (Odoo's index on model and res_id).
    pub(super) messages_by_lead: BTreeMap<u64, Vec<u64>>,
    /// When it was generated: the "now" its past leads up to.
    pub(super) generated_at: i64,
    /// Changes of the generated past that have not happened yet.
    pub(super) held_back: HeldBackChanges,
}

pub fn format_datetime(micros: i64) -> String {
    Timestamp::from_microsecond(micros)
        .map(|t| t.strftime("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_else(|_| "1970-01-01 00:00:00".into())
}

impl Crm {
    pub fn generate(options: CrmOptions) -> Crm {
        let mut crm = Crm::generate_present(options);
        crm.generate_past();
        crm.generating = false;
        crm
    }

    /// Everything but the past: the records as they are now.
    pub(super) fn generate_present(options: CrmOptions) -> Crm {
        let mut crm = Crm {
            generated_at: Timestamp::now().as_microsecond(),
            rng: Rng::new(options.seed),
            options,
            tables: BTreeMap::new(),
            accounts: Vec::new(),
            last_write_micros: Timestamp::now().as_microsecond() - 400 * 86_400_000_000,
            generating: true,
            clock_offset_micros: 0,
            messages_by_lead: BTreeMap::new(),
            held_back: HeldBackChanges::new(),
        };
        for (model, _, _) in MODELS {
            crm.tables.insert((*model).to_string(), BTreeMap::new());
        }
        crm.generate_reference_data();
        crm.generate_people();
        crm.generate_partners();
        crm.generate_opportunities();
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

    /// Sets the server's clock to `micros`, or to the real clock if that is earlier.
    pub(super) fn set_clock(&mut self, micros: i64) {
        self.clock_offset_micros = (micros - Timestamp::now().as_microsecond()).min(0);
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

    pub(super) fn insert(&mut self, model: &str, id: u64, values: Record) {
        let micros = self.tick();
        self.insert_dated(model, id, values, micros);
    }

    /// Inserts a record created at `micros`, without moving the clock.
    pub(super) fn insert_dated(&mut self, model: &str, id: u64, mut values: Record, micros: i64) {
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
        let before = (model == "crm.lead" && !self.generating).then(|| record.clone());
        for (key, value) in values {
            record.insert(key, value);
        }
        record.insert("__write_micros".into(), json!(micros));
        if let Some(before) = before {
            let after = record.clone();
            let author = self.partner_of(Some(super::crm::ADMIN_UID));
            self.track(id, &before, &after, micros, author);
        }
        true
    }

    pub fn next_id(&self, model: &str) -> u64 {
        self.tables
            .get(model)
            .and_then(|t| t.keys().next_back().copied())
            .unwrap_or(0)
            + 1
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
}

/// A JSON object literal as a record; anything else becomes an empty record.
pub fn obj(value: Value) -> Record {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}
