//! Rendering: the view rows of a settled read model. Reads the model's state, changes nothing;
//! `settle` renders what went stale, `render_all` everything (for a rebuild and for verify).

use std::collections::BTreeMap;

use super::{ReadModel, SYNC_STATUS_KEY, is_active_admin};
use crate::domain::OdooId;
use crate::projections::metrics::{Aggregate, DealStatus};
use crate::projections::rows::{RowKey, ViewRow, ViewTable};
use crate::projections::views::{
    AccessView, AccountRef, EVERYTHING, LinkedLogin, LoginView, MetricsView, NamedRef,
    OpportunityFact, OpportunityView, Performer, StageRef, TeamMemberMetrics, UserProfileView,
};

impl ReadModel {
    pub(super) fn login_by_user(&self) -> BTreeMap<OdooId, &LoginView> {
        let mut by_user = BTreeMap::new();
        for (email, login) in &self.logins {
            if let Some(&user) = self.users_by_email.get(email) {
                by_user.entry(user).or_insert(login);
            }
        }
        by_user
    }

    fn profile(&self, user: OdooId, logins: &BTreeMap<OdooId, &LoginView>) -> UserProfileView {
        let record = &self.users[&user];
        let employee_id = self.hierarchy.employee_of.get(&user).copied();
        let employee = employee_id.and_then(|e| self.employees.get(&e));
        let manager = self.hierarchy.manager_of.get(&user);
        let direct_reports = self.hierarchy.direct_reports(user).to_vec();
        UserProfileView {
            user_id: user,
            name: record.name.clone(),
            login: record.login.clone(),
            email: record.email.clone(),
            active: record.active,
            employee_id,
            team_id: record.team_id,
            job_title: employee.and_then(|e| e.job_title.clone()),
            department: employee.and_then(|e| e.department.clone()),
            manager_id: manager.map(|(m, _)| *m),
            manager_source: manager.map(|(_, source)| *source),
            is_manager: !direct_reports.is_empty(),
            direct_reports,
            subtree: self.hierarchy.subtree(user).to_vec(),
            in_manager_cycle: self.hierarchy.in_broken_cycle(user),
            login_account: logins.get(&user).map(|login| LinkedLogin {
                email: login.email.clone(),
                role: login.role,
                status: login.status,
            }),
        }
    }

    fn access(&self, user: OdooId, logins: &BTreeMap<OdooId, &LoginView>) -> AccessView {
        let mut visible_users = self.hierarchy.subtree(user).to_vec();
        if let Err(at) = visible_users.binary_search(&user) {
            visible_users.insert(at, user);
        }
        AccessView {
            user_id: user,
            everything: logins
                .get(&user)
                .is_some_and(|login| is_active_admin(login)),
            visible_users,
        }
    }

    fn metrics(&self, user: OdooId) -> MetricsView {
        let mut members = self.hierarchy.subtree(user).to_vec();
        members.push(user);
        let visible = self.visible.get(&user).cloned().unwrap_or_default();
        MetricsView {
            user_id: user,
            own: self.own.get(&user).cloned().unwrap_or_default(),
            team: self.team(self.hierarchy.direct_reports(user).iter().copied()),
            unassigned: Aggregate::default(),
            outside: Aggregate::default(),
            top_performers: self.top_performers(&visible, members),
            visible,
        }
    }

    /// A user's profile and access rows.
    pub(super) fn user_rows(
        &self,
        user: OdooId,
        logins: &BTreeMap<OdooId, &LoginView>,
    ) -> [ViewRow; 2] {
        [
            ViewRow::encode(
                ViewTable::UserProfiles,
                RowKey::Id(user),
                &self.profile(user, logins),
            ),
            ViewRow::encode(
                ViewTable::UserAccess,
                RowKey::Id(user),
                &self.access(user, logins),
            ),
        ]
    }

    pub(super) fn metrics_row(&self, user: OdooId) -> ViewRow {
        ViewRow::encode(
            ViewTable::DashboardMetrics,
            RowKey::Id(user),
            &self.metrics(user),
        )
    }

    /// The login row of `email`; `None` when there is no such account.
    pub(super) fn login_row(&self, email: &str) -> ViewRow {
        let key = RowKey::Name(email.to_string());
        match self.login_view(email) {
            Some(login) => ViewRow::encode(ViewTable::Logins, key, &login),
            None => ViewRow::delete(ViewTable::Logins, key),
        }
    }

    pub(super) fn everything_row(&self) -> ViewRow {
        let roots: Vec<OdooId> = self
            .users
            .iter()
            .filter(|(id, user)| !user.share && self.hierarchy.manager(**id).is_none())
            .filter(|(id, _)| {
                self.visible.contains_key(id) || !self.hierarchy.direct_reports(**id).is_empty()
            })
            .map(|(id, _)| *id)
            .collect();
        let in_a_row: std::collections::HashSet<OdooId> = roots
            .iter()
            .flat_map(|root| std::iter::once(root).chain(self.hierarchy.subtree(*root).iter()))
            .copied()
            .collect();
        let mut outside = Aggregate::default();
        let mut unassigned = self.everything.clone();
        // A salesperson pipelog holds no user for counts as none, as in the opportunity facts.
        for (owner, own) in self.own.iter().filter(|(o, _)| self.users.contains_key(o)) {
            unassigned.add_aggregate(own, -1);
            if !in_a_row.contains(owner) {
                outside.add_aggregate(own, 1);
            }
        }
        let view = MetricsView {
            user_id: EVERYTHING,
            own: Aggregate::default(),
            team: self.team(roots.into_iter()),
            unassigned,
            outside,
            top_performers: self
                .top_performers(&self.everything, self.users.keys().copied().collect()),
            visible: self.everything.clone(),
        };
        ViewRow::encode(ViewTable::DashboardMetrics, RowKey::Id(EVERYTHING), &view)
    }

    fn team(&self, members: impl Iterator<Item = OdooId>) -> Vec<TeamMemberMetrics> {
        members
            .map(|user_id| TeamMemberMetrics {
                user_id,
                totals: self
                    .visible
                    .get(&user_id)
                    .map(Aggregate::summary)
                    .unwrap_or_default(),
            })
            .collect()
    }

    fn top_performers(&self, reach: &Aggregate, members: Vec<OdooId>) -> Vec<Performer> {
        Performer::rank(reach, members, |user| self.own.get(&user))
    }

    /// The full view and its compact facts, written (or deleted) together.
    pub(super) fn opportunity_rows(&self, id: OdooId) -> [ViewRow; 2] {
        match (self.opportunity_view(id), self.opportunity_fact(id)) {
            (Some(view), Some(fact)) => [
                ViewRow::encode(ViewTable::Opportunities, RowKey::Id(id), &view),
                ViewRow::encode(ViewTable::OpportunityFacts, RowKey::Id(id), &fact),
            ],
            _ => [
                ViewRow::delete(ViewTable::Opportunities, RowKey::Id(id)),
                ViewRow::delete(ViewTable::OpportunityFacts, RowKey::Id(id)),
            ],
        }
    }

    pub fn opportunity_fact(&self, id: OdooId) -> Option<OpportunityFact> {
        let record = self.opportunities.get(&id)?;
        let stage = record.stage_id.and_then(|s| self.stages.get(&s));
        let status = DealStatus::of(record, stage);
        Some(OpportunityFact {
            id,
            kind: record.kind,
            status,
            salesperson: record.user_id.filter(|u| self.users.contains_key(u)),
            team: record.team_id,
            stage: record.stage_id,
            currency: record.currency.as_str().into(),
            expected_revenue: record.expected_revenue,
            weighted_revenue: if status == DealStatus::Open {
                record.weighted_revenue()
            } else {
                0
            },
            date_deadline: record.date_deadline,
            closed_on: record.date_closed.map(crate::projections::history::utc_day),
            search: OpportunityFact::search_text(
                [
                    Some(record.name.as_str()),
                    record
                        .account_id
                        .and_then(|a| self.accounts.get(&a))
                        .map(|a| a.name.as_str()),
                    record
                        .user_id
                        .and_then(|u| self.users.get(&u))
                        .map(|u| u.name.as_str()),
                ]
                .into_iter()
                .flatten(),
            ),
        })
    }

    pub fn opportunity_view(&self, id: OdooId) -> Option<OpportunityView> {
        let record = self.opportunities.get(&id)?;
        let stage = record
            .stage_id
            .and_then(|s| self.stages.get(&s).map(|stage| (s, stage)));
        let owner = record
            .user_id
            .and_then(|u| self.users.get(&u).map(|user| (u, user)));
        let manager_chain = owner
            .map(|(u, _)| self.hierarchy.chain(u).to_vec())
            .unwrap_or_default();
        let mut visible_to: Vec<OdooId> = owner
            .map(|(u, _)| u)
            .into_iter()
            .chain(manager_chain.iter().copied())
            .collect();
        visible_to.sort_unstable();
        let status = DealStatus::of(record, stage.map(|(_, s)| s));
        Some(OpportunityView {
            id,
            name: record.name.clone(),
            kind: record.kind,
            status,
            stage: stage.map(|(id, s)| StageRef {
                id,
                name: s.name.clone(),
                sequence: s.sequence,
                is_won: s.is_won,
            }),
            expected_revenue: record.expected_revenue,
            weighted_revenue: if status == DealStatus::Open {
                record.weighted_revenue()
            } else {
                0
            },
            currency: record.currency.clone(),
            probability: record.probability,
            date_deadline: record.date_deadline,
            date_closed: record.date_closed,
            lost_reason: record.lost_reason.clone(),
            salesperson: owner.map(|(id, user)| NamedRef {
                id,
                name: user.name.clone(),
            }),
            manager_chain,
            team: record.team_id.and_then(|t| {
                self.teams.get(&t).map(|team| NamedRef {
                    id: t,
                    name: team.name.clone(),
                })
            }),
            account: record.account_id.and_then(|a| {
                self.accounts.get(&a).map(|account| AccountRef {
                    id: a,
                    name: account.name.clone(),
                    city: account.city.clone(),
                    country: account.country.clone(),
                })
            }),
            visible_to,
        })
    }

    fn login_view(&self, email: &str) -> Option<LoginView> {
        let mut login = self.logins.get(email)?.clone();
        login.user_id = self.users_by_email.get(email).copied();
        Some(login)
    }

    pub(super) fn team_row(&self, id: OdooId) -> ViewRow {
        match self.teams.get(&id) {
            Some(team) => ViewRow::encode(
                ViewTable::Teams,
                RowKey::Id(id),
                &NamedRef {
                    id,
                    name: team.name.clone(),
                },
            ),
            None => ViewRow::delete(ViewTable::Teams, RowKey::Id(id)),
        }
    }

    pub(super) fn stage_row(&self, id: OdooId) -> ViewRow {
        match self.stages.get(&id) {
            Some(stage) => ViewRow::encode(
                ViewTable::Stages,
                RowKey::Id(id),
                &StageRef {
                    id,
                    name: stage.name.clone(),
                    sequence: stage.sequence,
                    is_won: stage.is_won,
                },
            ),
            None => ViewRow::delete(ViewTable::Stages, RowKey::Id(id)),
        }
    }

    pub(super) fn sync_row(&self) -> ViewRow {
        ViewRow::encode(
            ViewTable::SyncStatus,
            RowKey::Name(SYNC_STATUS_KEY.into()),
            &self.sync,
        )
    }

    /// Every view row of the current state, sorted by table and key: what a rebuild writes and what
    /// verify compares against. Call on a settled model.
    pub fn render_all(&self) -> Vec<ViewRow> {
        let mut rows = self.render_all_but_history();
        rows.extend(self.timeline_rows());
        rows.sort_by(|a, b| (a.table, &a.key).cmp(&(b.table, &b.key)));
        rows
    }

    /// Every row but the history view's, in no particular order.
    pub(super) fn render_all_but_history(&self) -> Vec<ViewRow> {
        let logins = self.login_by_user();
        let mut rows = Vec::with_capacity(self.opportunities.len() + 3 * self.users.len() + 2);
        for &user in self.users.keys() {
            rows.extend(self.user_rows(user, &logins));
            rows.push(self.metrics_row(user));
        }
        rows.push(self.everything_row());
        let mut opportunities: Vec<OdooId> = self.opportunities.keys().copied().collect();
        opportunities.sort_unstable();
        for id in opportunities {
            rows.extend(self.opportunity_rows(id));
        }
        rows.extend(self.logins.keys().map(|email| self.login_row(email)));
        for &id in self.stages.keys() {
            rows.push(self.stage_row(id));
        }
        for &id in self.teams.keys() {
            rows.push(self.team_row(id));
        }
        if self.sync.runs_total > 0 || !self.sync.recent_runs.is_empty() {
            rows.push(self.sync_row());
        }
        rows
    }
}
