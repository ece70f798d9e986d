//! The simulated CRM's generated records (reference data, a sales organisation with managers,
//! customers, a year of opportunities) and the changes it makes between syncs, deterministic for a
//! seed.

use serde_json::{Value, json};

use super::crm::{
    ADMIN_UID, Account, Crm, DEMO_UID, EMPLOYEE_OFFSET, FIRST_GENERATED_USER, Record, WON_STAGE,
    format_datetime, obj,
};

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

impl Crm {
    pub(super) fn named(&mut self, model: &str, id: u64, name: &str) {
        self.insert(model, id, obj(json!({"name": name, "active": true})));
    }

    pub(super) fn generate_reference_data(&mut self) {
        self.named("res.company", 1, "YourCompany");
        self.generate_tracking_fields();
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

    pub(super) fn person_name(&mut self) -> String {
        let first = *self.rng.pick(FIRST_NAMES);
        let last = *self.rng.pick(LAST_NAMES);
        format!("{first} {last}")
    }

    /// An active internal user with their partner record.
    pub(super) fn add_user(
        &mut self,
        id: u64,
        name: &str,
        login: &str,
        email: &str,
        team: Option<u64>,
    ) {
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

    pub(super) fn add_employee(
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
    pub(super) fn generate_people(&mut self) {
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

    pub(super) fn generate_partners(&mut self) {
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

    /// Who a new deal may go to: the salespeople, the customers (not the company itself) and how
    /// many teams there are.
    fn deal_parties(&self) -> (Vec<u64>, Vec<u64>, u64) {
        let partners = self.tables["res.partner"]
            .keys()
            .copied()
            .filter(|id| *id > 1)
            .collect();
        (
            self.salespeople(),
            partners,
            self.tables["crm.team"].len() as u64,
        )
    }

    pub(super) fn generate_opportunities(&mut self) {
        let (salespeople, partners, teams) = self.deal_parties();
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

    pub(super) fn new_opportunity(
        &mut self,
        owner: Option<u64>,
        partners: &[u64],
        teams: u64,
    ) -> Record {
        let now = self.now();
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
        let (salespeople, partners, teams) = self.deal_parties();
        for _ in 0..count {
            let leads: Vec<u64> = self.tables["crm.lead"].keys().copied().collect();
            let Some(&lead) = (!leads.is_empty()).then(|| self.rng.pick(&leads)) else {
                break;
            };
            let now = format_datetime(self.now().as_microsecond());
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
                    self.remove("crm.lead", lead);
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
