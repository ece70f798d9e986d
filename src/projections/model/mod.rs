//! The read model: a pure fold of the event log into the state every view is rendered from.
//!
//! `apply` takes one event and records what it made stale; `settle` finishes a batch (re-deriving the
//! hierarchy when it may have changed) and returns the view rows to write. Neither does I/O. Because
//! views are rendered from the whole settled state, not patched event by event, the order in which
//! views are produced cannot matter, and replaying the log in one batch yields exactly the rows that
//! incremental batches wrote. This file holds the state and `settle`; `apply` the fold of one
//! event, `render` turns the state into rows, `past` keeps each deal's time line.

mod apply;
mod known;
mod past;
mod render;
mod snapshot;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::domain::{
    AccountRecord, EmployeeRecord, Event, EventEnvelope, FieldChange, OdooId, OpportunityRecord,
    Role, StageRecord, TeamRecord, UserRecord, normalize_email,
};

pub use known::DealTimes;
pub use snapshot::{MODEL_SNAPSHOT_VERSION, SnapshotError};

use super::hierarchy::{Hierarchy, users_by_email};
use super::history::HeldTimelines;
use super::metrics::{Aggregate, Contribution};
use super::rows::{RowKey, ViewRow, ViewTable};
use super::views::{LoginStatus, LoginView, SyncOutcome, SyncRunView, SyncStatusView};

/// How many recent anomalies (events that could not be applied as written) are kept for reports.
const RECENT_ANOMALIES: usize = 20;

type Index = BTreeMap<OdooId, BTreeSet<OdooId>>;

/// What the events applied since the last `settle` made stale.
#[derive(Debug, Default, Clone)]
struct Pending {
    hierarchy: bool,
    opportunities: BTreeSet<OdooId>,
    metrics: BTreeSet<OdooId>,
    everything: bool,
    logins: BTreeSet<String>,
    sync: bool,
    stages: BTreeSet<OdooId>,
    history: BTreeSet<OdooId>,
    teams: BTreeSet<OdooId>,
}

/// Something in the log that could not be applied as written (an update of an unknown record, a
/// value of the wrong type). Replay skips it the same way every time.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Anomaly {
    pub position: u64,
    pub message: String,
}

#[derive(Debug, Default, Clone)]
pub struct ReadModel {
    users: BTreeMap<OdooId, UserRecord>,
    employees: BTreeMap<OdooId, EmployeeRecord>,
    opportunities: HashMap<OdooId, OpportunityRecord>,
    deal_times: HashMap<OdooId, DealTimes>,
    /// Every deal ever seen, deleted ones included: the past still holds them.
    timelines: HeldTimelines,
    accounts: BTreeMap<OdooId, AccountRecord>,
    teams: BTreeMap<OdooId, TeamRecord>,
    stages: BTreeMap<OdooId, StageRecord>,
    logins: BTreeMap<String, LoginView>,
    overrides: BTreeMap<OdooId, OdooId>,
    sync: SyncStatusView,

    hierarchy: Hierarchy,
    users_by_email: BTreeMap<String, OdooId>,
    contributions: HashMap<OdooId, Contribution>,
    own: HashMap<OdooId, Aggregate>,
    visible: HashMap<OdooId, Aggregate>,
    everything: Aggregate,
    by_owner: Index,
    by_stage: Index,
    by_team: Index,
    by_account: Index,
    /// Users that have rows in the user-keyed views, to delete the rows of users that went away.
    rendered_users: BTreeSet<OdooId>,

    pending: Pending,
    /// Folding a whole log: nothing is rendered until `finish_replay`, so nothing is tracked.
    replaying: bool,
    /// Folding for a writer whose history view is written already: time lines are not kept.
    without_history: bool,
    anomalies_total: u64,
    recent_anomalies: Vec<Anomaly>,
    last_position: u64,
}

impl ReadModel {
    /// A model for folding a whole log, finished by [`ReadModel::finish_replay`]. It skips the
    /// bookkeeping that incremental batches need, which `finish_replay` derives in one pass.
    pub fn for_replay() -> ReadModel {
        ReadModel {
            replaying: true,
            ..ReadModel::default()
        }
    }

    /// A model for folding a whole log whose views are written already (a writer's load): like
    /// [`ReadModel::for_replay`], but it keeps no time lines, which the history view holds. A
    /// model folded so must not render history rows.
    pub fn for_loading() -> ReadModel {
        ReadModel {
            without_history: true,
            ..ReadModel::for_replay()
        }
    }

    pub fn last_position(&self) -> u64 {
        self.last_position
    }

    pub fn hierarchy(&self) -> &Hierarchy {
        &self.hierarchy
    }

    pub fn anomalies_total(&self) -> u64 {
        self.anomalies_total
    }

    pub fn recent_anomalies(&self) -> &[Anomaly] {
        &self.recent_anomalies
    }

    pub fn opportunity(&self, id: OdooId) -> Option<&OpportunityRecord> {
        self.opportunities.get(&id)
    }

    /// When each deal's current record last changed, was first read, and where its past begins.
    pub fn deal_times(&self, id: OdooId) -> Option<&DealTimes> {
        self.deal_times.get(&id)
    }

    pub fn user(&self, id: OdooId) -> Option<&UserRecord> {
        self.users.get(&id)
    }

    pub fn users(&self) -> &BTreeMap<OdooId, UserRecord> {
        &self.users
    }

    pub fn opportunities(&self) -> &HashMap<OdooId, OpportunityRecord> {
        &self.opportunities
    }

    pub fn stages(&self) -> &BTreeMap<OdooId, StageRecord> {
        &self.stages
    }

    pub fn accounts(&self) -> &BTreeMap<OdooId, AccountRecord> {
        &self.accounts
    }

    pub fn teams(&self) -> &BTreeMap<OdooId, TeamRecord> {
        &self.teams
    }

    pub fn employees(&self) -> &BTreeMap<OdooId, EmployeeRecord> {
        &self.employees
    }

    /// Admin overrides of the Odoo manager: user → manager.
    pub fn manager_overrides(&self) -> &BTreeMap<OdooId, OdooId> {
        &self.overrides
    }

    pub fn logins(&self) -> &BTreeMap<String, LoginView> {
        &self.logins
    }

    /// Finishes a batch: re-derives what the batch made stale and returns the view rows to write,
    /// sorted by table and key.
    pub fn settle(&mut self) -> Vec<ViewRow> {
        let pending = std::mem::take(&mut self.pending);
        let mut rows = Vec::new();
        let mut opportunities = pending.opportunities;
        let all_users = pending.hierarchy;
        if pending.hierarchy {
            opportunities.extend(self.rederive_hierarchy());
        }

        let mut users = BTreeSet::new();
        for email in &pending.logins {
            if let Some(&user) = self.users_by_email.get(email) {
                users.insert(user);
            }
        }
        let mut metrics: BTreeSet<OdooId> = pending.metrics;
        if all_users {
            for gone in self
                .rendered_users
                .difference(&self.users.keys().copied().collect())
            {
                for table in [
                    ViewTable::UserProfiles,
                    ViewTable::UserAccess,
                    ViewTable::DashboardMetrics,
                ] {
                    rows.push(ViewRow::delete(table, RowKey::Id(*gone)));
                }
            }
            users = self.users.keys().copied().collect();
            metrics = users.clone();
            self.rendered_users = users.clone();
        }
        let logins = self.login_by_user();
        for &user in users.iter().filter(|u| self.users.contains_key(u)) {
            rows.extend(self.user_rows(user, &logins));
        }
        for &user in metrics.iter().filter(|u| self.users.contains_key(u)) {
            rows.push(self.metrics_row(user));
        }
        if pending.everything || all_users {
            rows.push(self.everything_row());
        }
        for id in opportunities {
            rows.extend(self.opportunity_rows(id));
        }
        // Every login when all users were re-derived, and always the pending ones: an expired
        // sign-up is no longer in `logins`, but its row must go.
        let mut login_keys = pending.logins;
        if all_users {
            login_keys.extend(self.logins.keys().cloned());
        }
        rows.extend(login_keys.iter().map(|email| self.login_row(email)));
        if pending.sync {
            rows.push(self.sync_row());
        }
        for id in pending.stages {
            rows.push(self.stage_row(id));
        }
        for id in pending.teams {
            rows.push(self.team_row(id));
        }
        rows.extend(
            pending
                .history
                .iter()
                .filter_map(|&id| self.pack_timeline_row(id)),
        );
        rows.sort_by(|a, b| (a.table, &a.key).cmp(&(b.table, &b.key)));
        rows.dedup_by(|a, b| a.table == b.table && a.key == b.key);
        rows
    }

    /// Recomputes the hierarchy and every reach; returns the opportunities whose manager chain changed.
    fn rederive_hierarchy(&mut self) -> BTreeSet<OdooId> {
        let new = Hierarchy::compute(&self.users, &self.employees, &self.overrides);
        let mut stale = BTreeSet::new();
        let candidates: BTreeSet<OdooId> = self
            .rendered_users
            .iter()
            .chain(self.users.keys())
            .copied()
            .collect();
        for user in candidates {
            if self.hierarchy.chain(user) != new.chain(user)
                && let Some(owned) = self.by_owner.get(&user)
            {
                stale.extend(owned.iter().copied());
            }
        }
        self.hierarchy = new;
        self.users_by_email = users_by_email(&self.users);
        self.visible.clear();
        for user in self.hierarchy.bottom_up(self.users.keys()) {
            let mut reach = self.own.get(&user).cloned().unwrap_or_default();
            for report in self.hierarchy.direct_reports(user) {
                if let Some(report_reach) = self.visible.get(report) {
                    reach.add_aggregate(report_reach, 1);
                }
            }
            if !reach.is_empty() {
                self.visible.insert(user, reach);
            }
        }
        stale
    }

    /// Finishes a full replay: derives everything once and returns every row. Afterwards the model
    /// continues incrementally.
    pub fn finish_replay(&mut self) -> Vec<ViewRow> {
        self.finish_fold();
        self.render_all()
    }

    /// Like [`ReadModel::finish_replay`], but each time line moves into its row instead of being
    /// copied, and the model holds none afterwards, as after [`ReadModel::release_timelines`]:
    /// for a rebuild or a verify, which hold every row at once.
    pub fn finish_replay_releasing_timelines(&mut self) -> Vec<ViewRow> {
        self.finish_fold();
        let mut rows = self.render_all_but_history();
        rows.extend(self.take_timeline_rows());
        rows.sort_by(|a, b| (a.table, &a.key).cmp(&(b.table, &b.key)));
        rows
    }

    /// Finishes a full replay without rendering: for a model whose views are written already.
    pub fn finish_fold(&mut self) {
        self.pending = Pending::default();
        self.replaying = false;
        self.without_history = false;
        self.rederive_hierarchy();
        self.rendered_users = self.users.keys().copied().collect();
        self.timelines.pack_all();
    }
}

/// Key of the single row of the sync status view.
pub const SYNC_STATUS_KEY: &str = "sync";

#[derive(Clone, Copy)]
enum Indexed {
    Account,
    Team,
}

fn is_active_admin(login: &LoginView) -> bool {
    login.role == Role::Admin && login.status == LoginStatus::Approved
}

fn index_keys(record: Option<&OpportunityRecord>) -> [Option<OdooId>; 4] {
    record.map_or([None; 4], |r| {
        [r.user_id, r.stage_id, r.team_id, r.account_id]
    })
}

fn add_to(map: &mut HashMap<OdooId, Aggregate>, key: OdooId, change: impl FnOnce(&mut Aggregate)) {
    let aggregate = map.entry(key).or_default();
    change(aggregate);
    if aggregate.is_empty() {
        map.remove(&key);
    }
}

/// A record type that field-level changes can be applied to.
trait Patchable {
    fn apply_change(&mut self, change: &FieldChange) -> Result<(), serde_json::Error>;
}

macro_rules! patchable {
    ($($record:ty),*) => {
        $(impl Patchable for $record {
            fn apply_change(&mut self, change: &FieldChange) -> Result<(), serde_json::Error> {
                <$record>::apply_change(self, change)
            }
        })*
    };
}
patchable!(
    UserRecord,
    EmployeeRecord,
    OpportunityRecord,
    AccountRecord,
    TeamRecord,
    StageRecord
);

fn patch<R: Patchable>(
    records: &mut BTreeMap<OdooId, R>,
    id: OdooId,
    changes: &[FieldChange],
) -> Result<(), String> {
    let mut slot = records.remove(&id);
    let result = patch_slot(&mut slot, id, changes);
    if let Some(record) = slot {
        records.insert(id, record);
    }
    result
}

fn patch_slot<R: Patchable>(
    slot: &mut Option<R>,
    id: OdooId,
    changes: &[FieldChange],
) -> Result<(), String> {
    match slot {
        Some(record) => patch_record(record, id, changes),
        None => Err(format!("update of unknown record {id}")),
    }
}

/// Applies every change it can; a change of the wrong type is skipped and reported.
fn patch_record<R: Patchable>(
    record: &mut R,
    id: OdooId,
    changes: &[FieldChange],
) -> Result<(), String> {
    let mut failures = Vec::new();
    for change in changes {
        if let Err(error) = record.apply_change(change) {
            failures.push(format!("{}: {error}", change.field));
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(format!("record {id}: skipped {}", failures.join(", ")))
    }
}
