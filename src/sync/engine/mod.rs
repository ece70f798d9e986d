//! One sync run: fetch every model from Odoo page by page, turn changes into events, commit whole
//! pages with their source records (a transaction takes every page waiting, so a fast Odoo gets
//! fewer, larger commits), then (when due) reconcile ids to find hard deletes.
//!
//! Failure leaves the views consistent: pages already committed stay (they are whole), cursors only
//! advance when a model was read completely, and deletions are appended only at the very end, after
//! every model was read and the mass-delete guard agreed.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

use super::apply::{Applied, source_key};
use super::mapping::{Lookups, SyncModel};
use super::odoo::{Call, OdooClient, OdooError};
use super::plan::deletion;
use crate::domain::{Event, Metadata, ModelSyncCounts, NewEvent, OdooId, QuarantinedRecord};
use crate::projections::ReadModel;
use crate::store::{CommandBatch, SourceUpdates, Store, StoreError};

mod history;
mod log;
mod pages;
mod reconcile;

/// The Sales group whose members see every lead, not only their own.
pub const ALL_LEADS_GROUP: &str = "sales_team.group_sale_salesman_all_leads";

/// How many quarantined records a run lists (all are counted).
const QUARANTINE_LISTED: usize = 100;

#[derive(Debug, Clone)]
pub struct SyncOptions {
    pub page_size: usize,
    /// Re-read this far behind the watermark: Odoo stamps `write_date` at a transaction's start and
    /// truncates it to the second, so a late commit can land behind a watermark already taken.
    pub overlap: Duration,
    /// A reconcile that would delete more than this share of a model's records is refused.
    pub mass_delete_share: f64,
    pub reconcile_every: Duration,
    /// For opportunities whose currency Odoo does not say.
    pub default_currency: String,
    /// Deals whose past a scheduled sync reads at most: a backlog (a file from before pipelog
    /// read Odoo's change tracking) drains over several syncs, or at once with a backfill.
    pub history_per_run: usize,
    /// Calls made to Odoo at once, at most: pages of a long read, the partners they refer to,
    /// the chatter of the next deals. A production Odoo runs several workers; one request at a
    /// time leaves them idle.
    pub requests_in_flight: usize,
}

impl Default for SyncOptions {
    fn default() -> Self {
        SyncOptions {
            page_size: 2_000,
            overlap: Duration::from_secs(300),
            mass_delete_share: 0.10,
            reconcile_every: Duration::from_secs(3_600),
            default_currency: "USD".into(),
            history_per_run: 20_000,
            requests_in_flight: 3,
        }
    }
}

/// What one run was asked to do.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunRequest {
    /// Read everything, not only what changed, and reconcile ids.
    pub full: bool,
    /// An admin confirmed that a large deletion is expected.
    pub allow_mass_delete: bool,
    /// Read the past of every deal that has none yet from Odoo's change tracking in this run,
    /// however many (a scheduled sync reads a bounded number).
    pub backfill_history: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Odoo(#[from] OdooError),
    #[error("storage: {0}")]
    Store(#[from] StoreError),
    #[error(
        "the reconcile would delete {would_delete} of {held} {model} records ({percent:.0}%, more than the {limit:.0}% allowed); nothing was deleted. If Odoo really lost them, run `pipelog sync --allow-mass-delete`"
    )]
    MassDelete {
        model: &'static str,
        would_delete: usize,
        held: usize,
        percent: f64,
        limit: f64,
    },
    #[error(
        "a page of {model} went missing: {remaining} records after id {after} were not received; the next sync retries"
    )]
    PageMissing {
        model: &'static str,
        after: OdooId,
        remaining: u64,
    },
    #[error(
        "stopped: pipelog is shutting down; the next sync continues from the last page committed"
    )]
    Stopped,
    #[error("internal: {0}")]
    Internal(String),
}

/// What a finished run did.
#[derive(Debug, Clone, Serialize)]
pub struct SyncReport {
    pub run_id: Uuid,
    pub counts: BTreeMap<String, ModelSyncCounts>,
    pub warnings: Vec<String>,
    pub quarantined: Vec<QuarantinedRecord>,
    pub duration_ms: u64,
    pub events: u64,
}

/// Per-model progress kept between runs.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Cursor {
    /// Where the next read starts, less the overlap, as Odoo formats a datetime: the server's
    /// clock before the last read began, or (from a server without a `Date`) the newest
    /// `write_date` read.
    watermark: Option<String>,
    last_reconcile_at: Option<Timestamp>,
}

pub struct Syncer {
    store: Arc<Store>,
    client: OdooClient,
    options: SyncOptions,
    /// Set on shutdown: a running sync stops between pages, never inside a transaction.
    stop: Arc<std::sync::atomic::AtomicBool>,
}

/// Runs a store call off the async threads.
async fn blocking<T: Send + 'static>(
    store: &Arc<Store>,
    work: impl FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, SyncError> {
    let store = store.clone();
    tokio::task::spawn_blocking(move || work(&store))
        .await
        .map_err(|error| SyncError::Internal(error.to_string()))?
        .map_err(SyncError::from)
}

fn held_ids(model: &ReadModel, kind: SyncModel) -> BTreeSet<OdooId> {
    match kind {
        SyncModel::Stage => model.stages().keys().copied().collect(),
        SyncModel::Team => model.teams().keys().copied().collect(),
        SyncModel::User => model.users().keys().copied().collect(),
        SyncModel::Employee => model.employees().keys().copied().collect(),
        SyncModel::Lead => model.opportunities().keys().copied().collect(),
        SyncModel::Partner => model.accounts().keys().copied().collect(),
    }
}

/// The state of one run as it goes.
struct Run {
    metadata: Metadata,
    counts: BTreeMap<String, ModelSyncCounts>,
    warnings: Vec<String>,
    quarantined: Vec<QuarantinedRecord>,
    events: u64,
    /// The partners held when the run began: the partner pass refreshes those (the ones deals
    /// bring along in this run are read with them).
    partners_held_before: BTreeSet<OdooId>,
}

impl Run {
    fn absorb(&mut self, applied: Applied) {
        for (model, counts) in applied.counts {
            self.counts
                .entry(model.to_string())
                .or_default()
                .add(&counts);
        }
        let room = QUARANTINE_LISTED.saturating_sub(self.quarantined.len());
        self.quarantined
            .extend(applied.quarantined.into_iter().take(room));
        self.events += applied.events;
    }
}

/// The fields read of `model`, when Odoo has it.
fn fields_of(installed: &[(SyncModel, Vec<String>)], model: SyncModel) -> Option<&[String]> {
    installed
        .iter()
        .find(|(kind, _)| *kind == model)
        .map(|(_, fields)| fields.as_slice())
}

impl Syncer {
    pub fn new(store: Arc<Store>, client: OdooClient, options: SyncOptions) -> Syncer {
        Syncer {
            store,
            client: client.limit_in_flight(options.requests_in_flight),
            options,
            stop: Arc::default(),
        }
    }

    /// A handle that stops a running sync between pages.
    pub fn stop_handle(&self) -> Arc<std::sync::atomic::AtomicBool> {
        self.stop.clone()
    }

    fn check_stop(&self) -> Result<(), SyncError> {
        if self.stop.load(std::sync::atomic::Ordering::SeqCst) {
            Err(SyncError::Stopped)
        } else {
            Ok(())
        }
    }

    pub fn client(&self) -> &OdooClient {
        &self.client
    }

    /// Runs one sync and records its start and outcome as events.
    pub async fn run(&self, request: RunRequest) -> Result<SyncReport, SyncError> {
        let started = Instant::now();
        let deferred = self.store.defer_snapshots();
        let run_id = Uuid::now_v7();
        let metadata = Metadata {
            actor: Some("sync".into()),
            source: Some("odoo".into()),
            correlation_id: Some(run_id),
            causation_id: None,
        };
        let start = NewEvent::new(Event::SyncStarted {
            run_id,
            full: request.full,
        })
        .with_metadata(metadata.clone());
        blocking(&self.store, move |store| {
            store.append(CommandBatch::new(vec![start]))
        })
        .await?;
        let mut run = Run {
            metadata: metadata.clone(),
            counts: BTreeMap::new(),
            warnings: Vec::new(),
            quarantined: Vec::new(),
            events: 0,
            partners_held_before: BTreeSet::new(),
        };
        let outcome = self.sync_all(&mut run, request).await;
        let duration_ms = started.elapsed().as_millis() as u64;
        let finish = match &outcome {
            Ok(()) => Event::SyncCompleted {
                run_id,
                counts: run.counts.clone(),
                duration_ms,
                warnings: run.warnings.clone(),
                quarantined: run.quarantined.clone(),
            },
            Err(error) => Event::SyncFailed {
                run_id,
                reason: error.to_string(),
                duration_ms,
            },
        };
        let finish = NewEvent::new(finish).with_metadata(metadata);
        let recorded = blocking(&self.store, move |store| {
            store.append(CommandBatch::new(vec![finish]))
        })
        .await;
        drop(deferred);
        let snapshot = blocking(&self.store, |store| store.save_snapshot_if_due()).await;
        if let Err(error) = snapshot {
            // Only the next start is slower for it.
            tracing::warn!(%error, "the model snapshot could not be written");
        }
        if run.events > 0 {
            let store = self.store.clone();
            // A panic there is the only failure, and the run's outcome stands without it.
            let _ =
                tokio::task::spawn_blocking(move || store.give_back_free_pages_if_grown()).await;
        }
        // When the run failed because the store did (a full disk), recording that fails too: the
        // run's own error says what happened, so it wins.
        match (&outcome, recorded) {
            (Err(_), Err(error)) => {
                tracing::warn!(error = %error, "the failed sync could not be recorded")
            }
            (Ok(()), Err(error)) => return Err(error),
            (_, Ok(_)) => {}
        }
        match outcome {
            Ok(()) => {
                let total =
                    run.counts
                        .values()
                        .fold(ModelSyncCounts::default(), |mut total, counts| {
                            total.add(counts);
                            total
                        });
                tracing::info!(
                    run = %run_id,
                    duration_ms,
                    events = run.events,
                    fetched = total.fetched,
                    created = total.created,
                    updated = total.updated,
                    deleted = total.deleted,
                    quarantined = total.quarantined,
                    models = %log::describe_counts(&run.counts),
                    "sync completed"
                );
                Ok(SyncReport {
                    run_id,
                    counts: run.counts,
                    warnings: run.warnings,
                    quarantined: run.quarantined,
                    duration_ms,
                    events: run.events,
                })
            }
            Err(error) => {
                tracing::warn!(run = %run_id, duration_ms, error = %error, "sync failed");
                Err(error)
            }
        }
    }

    async fn sync_all(&self, run: &mut Run, request: RunRequest) -> Result<(), SyncError> {
        let session = self.client.session().await?;
        // The questions a run starts with are asked at once: each costs Odoo a round trip.
        // The next reads start from the server's clock before this one began, less the overlap,
        // not from the newest record: after a burst of writes, a quiet Odoo then costs nothing.
        // Without a `Date`, from the newest `write_date` read, as before.
        let (access, lookups, installed, read_began) = tokio::join!(
            self.check_access(session.uid),
            self.lookups(),
            self.installed_fields(),
            self.client.server_clock(),
        );
        run.warnings.extend(access);
        let lookups = Arc::new(lookups?);
        let (installed, not_installed) = installed?;
        run.warnings.extend(not_installed);
        let read_began = read_began.unwrap_or(None);
        let now = Timestamp::now();
        run.partners_held_before = self.held_ids(SyncModel::Partner).await?;
        let mut pending_deletes: Vec<(SyncModel, Vec<OdooId>, usize)> = Vec::new();
        let mut reconciled = Vec::new();
        for (model, fields) in &installed {
            let model = *model;
            let cursor = self.cursor(model).await?;
            let due = request.full
                || cursor.last_reconcile_at.is_none_or(|at| {
                    now.duration_since(at).as_secs_f64()
                        >= self.options.reconcile_every.as_secs_f64()
                });
            let since = if request.full {
                None
            } else {
                cursor.watermark.clone()
            };
            // Opportunities bring the partners they refer to along, so each is rendered once
            // with its account's name.
            let partner_fields = match model {
                SyncModel::Lead => fields_of(&installed, SyncModel::Partner),
                _ => None,
            };
            let newest = self
                .fetch_model(
                    run,
                    model,
                    fields,
                    partner_fields,
                    &lookups,
                    since.as_deref(),
                )
                .await?;
            if model == SyncModel::Partner {
                self.fetch_referenced_partners(run, fields, &lookups)
                    .await?;
            }
            let mut next = cursor.clone();
            next.watermark = match (read_began, newest, cursor.watermark) {
                (Some(clock), _, _) => Some(crate::sync::odoo::wire::format_datetime(clock)),
                (None, Some(newest), Some(old)) => Some(newest.max(old)),
                (None, newest, old) => newest.or(old),
            };
            // Hard deletes leave no trace in Odoo; a count that differs from what is held shows
            // there were some (one round trip), so the ids are compared at once, not only when due.
            let reconcile = if request.full {
                Some("a full sync".to_string())
            } else if due {
                Some("the periodic check".to_string())
            } else {
                self.count_differs(model).await?
            };
            if let Some(why) = reconcile {
                run.counts
                    .entry(model.odoo_name().to_string())
                    .or_default()
                    .reconciled = Some(why);
                let (missing, held) = self.missing_ids(model).await?;
                pending_deletes.push((model, missing, held));
                next.last_reconcile_at = Some(now);
                reconciled.push((model, next));
            } else {
                self.save_cursor(model, &next).await?;
            }
        }
        self.apply_deletions(run, request, pending_deletes, reconciled)
            .await?;
        // After the deletions: a deal Odoo no longer has needs no past.
        if installed.iter().any(|(model, _)| *model == SyncModel::Lead) {
            self.import_history(run, request, &lookups).await?;
        }
        Ok(())
    }

    /// The fields to read of every model Odoo has, in the order a sync visits them, and a
    /// warning for each model whose module is not installed (it is skipped).
    async fn installed_fields(
        &self,
    ) -> Result<(Vec<(SyncModel, Vec<String>)>, Vec<String>), SyncError> {
        let probes = join_all(SyncModel::ALL.map(|model| self.probe_fields(model))).await;
        let mut installed = Vec::new();
        let mut warnings = Vec::new();
        for (model, probe) in SyncModel::ALL.into_iter().zip(probes) {
            match probe {
                Ok(fields) => installed.push((model, fields)),
                Err(OdooError::Server { name, .. }) if name == "odoo.exceptions.UserError" => {
                    warnings.push(format!(
                        "{} is not installed in Odoo; skipped",
                        model.odoo_name()
                    ));
                }
                Err(other) => return Err(other.into()),
            }
        }
        Ok((installed, warnings))
    }

    /// A warning when the sync account cannot see every lead.
    async fn check_access(&self, uid: OdooId) -> Option<String> {
        let call = Call::on(vec![uid]).param("group_ext_id", json!(ALL_LEADS_GROUP));
        match self.client.call("res.users", "has_group", call).await {
            Ok(Value::Bool(false)) => {
                let login = &self.client.settings().login;
                Some(format!(
                    "the sync account {login:?} lacks Sales \"All Documents\" rights: it sees only its own and unassigned leads, so every total is short. Give it Sales / Administrator or \"All Documents\""
                ))
            }
            _ => None,
        }
    }

    /// Names of currencies, countries, departments and lost reasons, by id.
    async fn lookups(&self) -> Result<Lookups, SyncError> {
        let mut lookups = Lookups {
            default_currency: self.options.default_currency.clone(),
            ..Lookups::default()
        };
        let models = [
            "res.currency",
            "res.country",
            "hr.department",
            "crm.lost.reason",
        ];
        let answers = join_all(models.map(|model| {
            let call = Call::new()
                .param("domain", json!([]))
                .param("fields", json!(["name"]))
                .param("context", json!({"active_test": false}));
            self.client.call(model, "search_read", call)
        }))
        .await;
        for (target, answer) in [
            &mut lookups.currencies,
            &mut lookups.countries,
            &mut lookups.departments,
            &mut lookups.lost_reasons,
        ]
        .into_iter()
        .zip(answers)
        {
            match answer {
                Ok(Value::Array(records)) => {
                    for record in records {
                        if let (Some(id), Some(name)) =
                            (record["id"].as_u64(), record["name"].as_str())
                        {
                            target.insert(id, name.to_string());
                        }
                    }
                }
                Ok(_) => {}
                // A missing module (no HR, say) just means no names from it.
                Err(OdooError::Server { .. } | OdooError::AccessRights { .. }) => {}
                Err(other) => return Err(other.into()),
            }
        }
        Ok(lookups)
    }

    /// The wanted fields this server has (`fields_get` silently leaves out unknown names, while
    /// `search_read` fails on them).
    async fn probe_fields(&self, model: SyncModel) -> Result<Vec<String>, OdooError> {
        let call = Call::new()
            .param("allfields", json!(model.wanted_fields()))
            .param("attributes", json!(["type"]));
        let present = self
            .client
            .call(model.odoo_name(), "fields_get", call)
            .await?;
        Ok(model
            .wanted_fields()
            .iter()
            .filter(|name| present.get(**name).is_some())
            .map(|name| name.to_string())
            .collect())
    }

    async fn cursor(&self, model: SyncModel) -> Result<Cursor, SyncError> {
        let bytes = blocking(&self.store, move |store| {
            store.read()?.sync_cursor(model.odoo_name())
        })
        .await?;
        Ok(bytes
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default())
    }

    async fn save_cursor(&self, model: SyncModel, cursor: &Cursor) -> Result<(), SyncError> {
        let updates = SourceUpdates {
            cursors: vec![cursor_entry(model, cursor)],
            ..SourceUpdates::default()
        };
        blocking(&self.store, move |store| {
            store.append_with_sources(CommandBatch::default(), updates)
        })
        .await?;
        Ok(())
    }

    /// Appends a run's events with their source records and cursors, in one transaction.
    async fn append(
        &self,
        run: &mut Run,
        events: Vec<NewEvent>,
        updates: SourceUpdates,
    ) -> Result<(), SyncError> {
        run.events += events.len() as u64;
        let batch = CommandBatch::new(events);
        blocking(&self.store, move |store| {
            store.append_with_sources(batch, updates)
        })
        .await?;
        Ok(())
    }

    async fn held_ids(&self, kind: SyncModel) -> Result<BTreeSet<OdooId>, SyncError> {
        blocking(&self.store, move |store| {
            store.with_model(|read| held_ids(read, kind))
        })
        .await
    }

    /// The ids of `model`'s records that match `domain`, archived ones included (ids only).
    async fn search_ids(
        &self,
        model: SyncModel,
        domain: Value,
    ) -> Result<BTreeSet<OdooId>, SyncError> {
        let call = Call::new()
            .param("domain", domain)
            .param("order", json!("id asc"))
            .param("context", json!({"active_test": false}));
        Ok(self
            .client
            .call(model.odoo_name(), "search", call)
            .await?
            .as_array()
            .map(|ids| ids.iter().filter_map(Value::as_u64).collect())
            .unwrap_or_default())
    }

    /// How many records of `model` match `domain`, archived too.
    async fn count(&self, model: SyncModel, domain: Value) -> Result<u64, SyncError> {
        let call = Call::new()
            .param("domain", domain)
            .param("context", json!({"active_test": false}));
        let answer = self
            .client
            .call(model.odoo_name(), "search_count", call)
            .await?;
        answer.as_u64().ok_or_else(|| {
            SyncError::Odoo(OdooError::Malformed {
                what: format!("{}.search_count", model.odoo_name()),
                reason: format!("not a count: {answer}"),
            })
        })
    }

    /// `ids` in pages of the page size, to be asked for by id.
    fn id_pages(&self, ids: &[OdooId]) -> Vec<Vec<OdooId>> {
        ids.chunks(self.options.page_size.max(1))
            .map(<[OdooId]>::to_vec)
            .collect()
    }
}

fn cursor_entry(model: SyncModel, cursor: &Cursor) -> (String, Vec<u8>) {
    (
        model.odoo_name().to_string(),
        serde_json::to_vec(cursor).unwrap_or_default(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mass_delete_message_says_what_to_do() {
        let error = SyncError::MassDelete {
            model: "crm.lead",
            would_delete: 40,
            held: 100,
            percent: 40.0,
            limit: 10.0,
        };
        let text = error.to_string();
        assert!(
            text.contains("40 of 100 crm.lead") && text.contains("--allow-mass-delete"),
            "{text}"
        );
    }

    #[test]
    fn cursors_round_trip() {
        let cursor = Cursor {
            watermark: Some("2026-11-26 21:27:15".into()),
            last_reconcile_at: None,
        };
        let (model, bytes) = cursor_entry(SyncModel::Lead, &cursor);
        assert_eq!(model, "crm.lead");
        let back: Cursor = serde_json::from_slice(&bytes).expect("decodes");
        assert_eq!(back.watermark, cursor.watermark);
    }
}
