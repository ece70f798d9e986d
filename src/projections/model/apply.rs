//! Applying one event to the read model: what it changes in the records, the indexes and the
//! running totals, and what it leaves stale for `settle`. No I/O.

use super::*;

impl ReadModel {
    /// Applies one event. Never fails: what cannot be applied is recorded as an anomaly.
    pub fn apply(&mut self, envelope: &EventEnvelope) {
        self.last_position = envelope.position;
        let position = envelope.position;
        self.record_past(envelope);
        match &envelope.event {
            Event::UserCreated { id, record } => {
                self.change_user(*id, |slot| *slot = Some(record.clone()))
            }
            Event::UserUpdated { id, changes } => {
                if let Err(message) = patch(&mut self.users, *id, changes) {
                    self.anomaly(position, message);
                }
                self.user_touched(*id);
            }
            Event::UserDeleted { id } => self.change_user(*id, |slot| *slot = None),

            Event::EmployeeCreated { id, record } => {
                self.employees.insert(*id, record.clone());
                self.pending.hierarchy = true;
            }
            Event::EmployeeUpdated { id, changes } => {
                if let Err(message) = patch(&mut self.employees, *id, changes) {
                    self.anomaly(position, message);
                }
                self.pending.hierarchy = true;
            }
            Event::EmployeeDeleted { id } => {
                self.employees.remove(id);
                self.pending.hierarchy = true;
            }

            Event::OpportunityCreated { id, record } => {
                let times = self.deal_times.entry(*id).or_default();
                times.first_read_at.get_or_insert(envelope.occurred_at());
                times.changed_at(envelope.occurred_at());
                self.change_opportunity(*id, |slot| *slot = Some(record.clone()))
            }
            Event::OpportunityUpdated { id, changes } => {
                self.deal_changed_at(*id, envelope);
                self.patch_opportunity(position, *id, changes);
            }
            Event::OpportunityDeleted { id } => {
                self.deal_times.remove(id);
                self.change_opportunity(*id, |slot| *slot = None)
            }
            Event::OpportunityArchived { id, lost_reason } => {
                self.deal_changed_at(*id, envelope);
                self.edit_opportunity(position, *id, |o| {
                    o.active = false;
                    o.lost_reason = lost_reason.clone();
                })
            }
            Event::OpportunityRestored { id } => {
                self.deal_changed_at(*id, envelope);
                self.edit_opportunity(position, *id, |o| {
                    o.active = true;
                    o.lost_reason = None;
                })
            }
            Event::OpportunityAssigned { id, to, .. } => {
                self.deal_changed_at(*id, envelope);
                self.edit_opportunity(position, *id, |o| o.user_id = *to)
            }
            Event::OpportunityStageChanged { id, to, .. } => {
                self.deal_changed_at(*id, envelope);
                self.edit_opportunity(position, *id, |o| o.stage_id = *to)
            }
            // The past is kept in the log for history questions; the current record is the one
            // the sync read.
            Event::OpportunityHistoryBegins { id, .. } => {
                if let Some(times) = self.deal_times.get_mut(id) {
                    times.history_from = Some(envelope.occurred_at());
                } else {
                    self.anomaly(position, format!("history of unknown opportunity {id}"));
                }
            }
            Event::OpportunityChangeRecorded { id, changes, .. } => {
                let at = envelope.occurred_at();
                let news = self.deal_times.get(id).is_some_and(|t| t.is_news(at));
                if news {
                    self.deal_changed_at(*id, envelope);
                    self.patch_opportunity(position, *id, changes);
                }
            }

            Event::AccountCreated { id, record } => {
                self.accounts.insert(*id, record.clone());
                self.touch_indexed(Indexed::Account, *id);
            }
            Event::AccountUpdated { id, changes } => {
                if let Err(message) = patch(&mut self.accounts, *id, changes) {
                    self.anomaly(position, message);
                }
                self.touch_indexed(Indexed::Account, *id);
            }
            Event::AccountDeleted { id } => {
                self.accounts.remove(id);
                self.touch_indexed(Indexed::Account, *id);
            }

            Event::TeamCreated { id, record } => {
                self.teams.insert(*id, record.clone());
                self.touch_indexed(Indexed::Team, *id);
                self.pending.teams.insert(*id);
            }
            Event::TeamUpdated { id, changes } => {
                if let Err(message) = patch(&mut self.teams, *id, changes) {
                    self.anomaly(position, message);
                }
                self.touch_indexed(Indexed::Team, *id);
                self.pending.teams.insert(*id);
            }
            Event::TeamDeleted { id } => {
                self.teams.remove(id);
                self.touch_indexed(Indexed::Team, *id);
                self.pending.teams.insert(*id);
            }

            Event::StageCreated { id, record } => {
                self.stages.insert(*id, record.clone());
                self.stage_touched(*id);
            }
            Event::StageUpdated { id, changes } => {
                if let Err(message) = patch(&mut self.stages, *id, changes) {
                    self.anomaly(position, message);
                }
                self.stage_touched(*id);
            }
            Event::StageDeleted { id } => {
                self.stages.remove(id);
                self.stage_touched(*id);
            }

            Event::UserRegistered {
                email,
                name,
                role,
                approved,
            } => {
                let key = normalize_email(email);
                if self.logins.contains_key(&key) {
                    self.anomaly(
                        position,
                        format!("login {key} registered twice; kept the first"),
                    );
                } else {
                    let status = if *approved {
                        LoginStatus::Approved
                    } else {
                        LoginStatus::Pending
                    };
                    let login = LoginView {
                        email: key.clone(),
                        name: name.clone(),
                        role: *role,
                        status,
                        registered_at: envelope.recorded_at,
                        last_login_at: None,
                        user_id: None,
                        external_identity: None,
                    };
                    self.logins.insert(key.clone(), login);
                    self.pending.logins.insert(key);
                }
            }
            Event::UserApproved { email } => self.edit_login(position, email, |login| {
                login.status = LoginStatus::Approved
            }),
            Event::UserDisabled { email } => self.edit_login(position, email, |login| {
                login.status = LoginStatus::Disabled
            }),
            Event::UserRoleChanged { email, role } => {
                self.edit_login(position, email, |login| login.role = *role)
            }
            Event::ExternalIdentityLinked { email, identity } => {
                self.edit_login(position, email, |login| {
                    login.external_identity = Some(identity.clone())
                })
            }
            Event::UserLoggedIn { email, .. } => {
                let at = envelope.recorded_at;
                self.edit_login(position, email, |login| login.last_login_at = Some(at))
            }
            Event::SignupExpired { email } => {
                let key = normalize_email(email);
                match self.logins.get(&key).map(|login| login.status) {
                    Some(LoginStatus::Pending) => {
                        self.logins.remove(&key);
                        self.pending.logins.insert(key);
                    }
                    Some(_) => self.anomaly(
                        position,
                        format!("login {key} expired as a sign-up, but it is not pending; kept"),
                    ),
                    None => self.anomaly(position, format!("login {key} is not registered")),
                }
            }
            Event::ManagerAssigned {
                user_id,
                manager_id,
            } => {
                match manager_id {
                    Some(manager) => self.overrides.insert(*user_id, *manager),
                    None => self.overrides.remove(user_id),
                };
                self.pending.hierarchy = true;
            }

            Event::SyncStarted { run_id, full } => {
                // A run still marked running when the next starts was cut short (the process died).
                for run in &mut self.sync.recent_runs {
                    if run.outcome == SyncOutcome::Running {
                        run.outcome = SyncOutcome::Failed {
                            reason: "interrupted".into(),
                        };
                    }
                }
                self.sync.runs_total += 1;
                self.sync.recent_runs.insert(
                    0,
                    SyncRunView {
                        run_id: *run_id,
                        full: *full,
                        started_at: envelope.recorded_at,
                        finished_at: None,
                        duration_ms: None,
                        outcome: SyncOutcome::Running,
                    },
                );
                self.sync.recent_runs.truncate(SyncStatusView::RECENT_RUNS);
                self.pending.sync = true;
            }
            Event::SyncCompleted {
                run_id,
                counts,
                duration_ms,
                warnings,
                quarantined,
            } => {
                let outcome = SyncOutcome::Succeeded {
                    counts: counts.clone(),
                    warnings: warnings.clone(),
                    quarantined: quarantined.clone(),
                };
                self.finish_sync_run(envelope, *run_id, *duration_ms, outcome);
                self.sync.last_success_at = Some(envelope.recorded_at);
            }
            Event::SyncFailed {
                run_id,
                reason,
                duration_ms,
            } => {
                let outcome = SyncOutcome::Failed {
                    reason: reason.clone(),
                };
                self.finish_sync_run(envelope, *run_id, *duration_ms, outcome);
                self.sync.last_failure_at = Some(envelope.recorded_at);
                self.sync.failures_total += 1;
            }
        }
    }

    fn anomaly(&mut self, position: u64, message: String) {
        self.anomalies_total += 1;
        self.recent_anomalies.push(Anomaly { position, message });
        if self.recent_anomalies.len() > RECENT_ANOMALIES {
            self.recent_anomalies.remove(0);
        }
    }

    fn change_user(&mut self, id: OdooId, change: impl FnOnce(&mut Option<UserRecord>)) {
        let mut slot = self.users.remove(&id);
        change(&mut slot);
        if let Some(record) = slot {
            self.users.insert(id, record);
        }
        self.user_touched(id);
    }

    fn user_touched(&mut self, id: OdooId) {
        self.pending.hierarchy = true;
        // The salesperson's name is denormalized into their opportunities.
        if let Some(owned) = self.by_owner.get(&id) {
            self.pending.opportunities.extend(owned.iter().copied());
        }
    }

    fn deal_changed_at(&mut self, id: OdooId, envelope: &EventEnvelope) {
        if let Some(times) = self.deal_times.get_mut(&id) {
            times.changed_at(envelope.occurred_at());
        }
    }

    fn patch_opportunity(&mut self, position: u64, id: OdooId, changes: &[FieldChange]) {
        let mut result = Ok(());
        self.edit_opportunity(position, id, |record| {
            result = patch_record(record, id, changes)
        });
        if let Err(message) = result {
            self.anomaly(position, message);
        }
    }

    fn edit_opportunity(
        &mut self,
        position: u64,
        id: OdooId,
        edit: impl FnOnce(&mut OpportunityRecord),
    ) {
        // Edited in place: updates are most of a log, and records are too big to move around.
        let Some(record) = self.opportunities.get_mut(&id) else {
            self.anomaly(position, format!("opportunity {id} is unknown"));
            return;
        };
        let before = index_keys(Some(record));
        edit(record);
        let after = index_keys(Some(record));
        self.opportunity_changed(id, before, after);
    }

    fn change_opportunity(
        &mut self,
        id: OdooId,
        change: impl FnOnce(&mut Option<OpportunityRecord>),
    ) {
        let mut slot = self.opportunities.remove(&id);
        let before = index_keys(slot.as_ref());
        change(&mut slot);
        let after = index_keys(slot.as_ref());
        if let Some(record) = slot {
            self.opportunities.insert(id, record);
        }
        self.opportunity_changed(id, before, after);
    }

    fn opportunity_changed(
        &mut self,
        id: OdooId,
        before: [Option<OdooId>; 4],
        after: [Option<OdooId>; 4],
    ) {
        self.reindex(id, before, after);
        self.recontribute(id);
        if !self.replaying {
            self.pending.opportunities.insert(id);
        }
    }

    pub(super) fn reindex(
        &mut self,
        id: OdooId,
        old: [Option<OdooId>; 4],
        new: [Option<OdooId>; 4],
    ) {
        let indexes = [
            &mut self.by_owner,
            &mut self.by_stage,
            &mut self.by_team,
            &mut self.by_account,
        ];
        for (index, (old_key, new_key)) in indexes.into_iter().zip(old.into_iter().zip(new)) {
            if old_key == new_key {
                continue;
            }
            if let Some(key) = old_key
                && let Some(members) = index.get_mut(&key)
            {
                members.remove(&id);
                if members.is_empty() {
                    index.remove(&key);
                }
            }
            if let Some(key) = new_key {
                index.entry(key).or_default().insert(id);
            }
        }
    }

    /// Re-derives one opportunity's contribution and moves the difference through every total.
    pub(super) fn recontribute(&mut self, id: OdooId) {
        let new = self
            .opportunities
            .get(&id)
            .and_then(|o| Contribution::of(o, o.stage_id.and_then(|s| self.stages.get(&s))));
        let old = self.contributions.remove(&id);
        if old != new {
            if let Some(old) = &old {
                self.add_contribution(old, -1);
            }
            if let Some(new) = &new {
                self.add_contribution(new, 1);
            }
        }
        if let Some(new) = new {
            self.contributions.insert(id, new);
        }
    }

    fn add_contribution(&mut self, contribution: &Contribution, sign: i64) {
        self.everything.add(contribution, sign);
        self.pending.everything = true;
        let Some(owner) = contribution.owner else {
            return;
        };
        add_to(&mut self.own, owner, |a| a.add(contribution, sign));
        // While the hierarchy is stale, `settle` re-sums every reach from `own`; until then the
        // old chain would put the difference in the wrong places.
        if self.replaying || self.pending.hierarchy || !self.users.contains_key(&owner) {
            return;
        }
        self.pending.metrics.insert(owner);
        let ReadModel {
            hierarchy,
            visible,
            pending,
            ..
        } = self;
        for &member in std::iter::once(&owner).chain(hierarchy.chain(owner)) {
            add_to(visible, member, |a| a.add(contribution, sign));
            pending.metrics.insert(member);
        }
    }

    fn touch_indexed(&mut self, which: Indexed, id: OdooId) {
        let index = match which {
            Indexed::Account => &self.by_account,
            Indexed::Team => &self.by_team,
        };
        if let Some(members) = index.get(&id) {
            self.pending.opportunities.extend(members.iter().copied());
        }
    }

    /// A stage's `is_won` decides won versus open for every opportunity in it.
    fn stage_touched(&mut self, id: OdooId) {
        self.pending.stages.insert(id);
        let members: Vec<OdooId> = self
            .by_stage
            .get(&id)
            .map(|m| m.iter().copied().collect())
            .unwrap_or_default();
        for opportunity in members {
            self.recontribute(opportunity);
            self.pending.opportunities.insert(opportunity);
        }
    }

    fn edit_login(&mut self, position: u64, email: &str, edit: impl FnOnce(&mut LoginView)) {
        let key = normalize_email(email);
        match self.logins.get_mut(&key) {
            Some(login) => {
                edit(login);
                self.pending.logins.insert(key);
            }
            None => self.anomaly(position, format!("login {key} is not registered")),
        }
    }

    fn finish_sync_run(
        &mut self,
        envelope: &EventEnvelope,
        run_id: uuid::Uuid,
        duration_ms: u64,
        outcome: SyncOutcome,
    ) {
        let finished_at = envelope.recorded_at;
        match self
            .sync
            .recent_runs
            .iter_mut()
            .find(|run| run.run_id == run_id)
        {
            Some(run) => {
                run.finished_at = Some(finished_at);
                run.duration_ms = Some(duration_ms);
                run.outcome = outcome;
            }
            None => {
                self.sync.recent_runs.insert(
                    0,
                    SyncRunView {
                        run_id,
                        full: false,
                        started_at: finished_at,
                        finished_at: Some(finished_at),
                        duration_ms: Some(duration_ms),
                        outcome,
                    },
                );
                self.sync.recent_runs.truncate(SyncStatusView::RECENT_RUNS);
            }
        }
        self.pending.sync = true;
    }
}
