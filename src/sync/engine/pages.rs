//! Reading one model: its pages fetched, prepared and committed as three overlapping stages, and
//! the partners that opportunities refer to brought along. Only the run in `engine` calls in here.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::{Run, SyncError, Syncer, blocking};
use crate::domain::OdooId;
use crate::sync::apply::{Page, Prepared, commit, prepare};
use crate::sync::mapping::{Lookups, SyncModel};
use crate::sync::odoo::Call;
use crate::sync::odoo::wire::{self, format_datetime, parse_datetime};

/// Pages fetched ahead of the ones being prepared, and prepared batches waiting to commit: enough
/// to keep Odoo and pipelog busy at the same time, few enough to bound memory (a page of leads is
/// a few megabytes of JSON values).
const PAGES_AHEAD: usize = 16;
const BATCHES_AHEAD: usize = 2;

/// A commit takes every page already waiting, up to about this many records. When Odoo answers
/// faster than pipelog applies, fewer and larger transactions (each rewrites the touched managers'
/// metrics once, not once per page) let the sync keep up; when Odoo is the slower side, every page
/// commits on its own as soon as it arrives.
const RECORDS_PER_COMMIT: usize = 20_000;

impl Syncer {
    /// A `search_read` of one page, in id order, with every record Odoo has (archived too).
    pub(super) fn search_call(&self, domain: Value, fields: &[impl serde::Serialize]) -> Call {
        Call::new()
            .param("domain", domain)
            .param("fields", json!(fields))
            .param("limit", json!(self.options.page_size))
            .param("order", json!("id asc"))
            .param("context", json!({"active_test": false}))
            // Bare ids for many2one: twice as fast, and pipelog never reads display names.
            .param("load", Value::Null)
    }

    /// Reads every record of `model` changed since `since` (all when `None`) and applies it, in
    /// three stages joined by short queues so that Odoo's time and pipelog's overlap: fetching
    /// pages, preparing them (checksums, mapping), and committing them (planning against the held
    /// records, appending). Returns the newest `write_date` seen.
    pub(super) async fn fetch_model(
        &self,
        run: &mut Run,
        model: SyncModel,
        fields: &[String],
        partner_fields: Option<&[String]>,
        lookups: &Arc<Lookups>,
        since: Option<&str>,
    ) -> Result<Option<String>, SyncError> {
        run.counts.entry(model.odoo_name().to_string()).or_default();
        let partners_held_before = match model {
            SyncModel::Partner => std::mem::take(&mut run.partners_held_before),
            _ => BTreeSet::new(),
        };
        let (pages, arrivals) = mpsc::channel(PAGES_AHEAD);
        let (ready, waiting) = mpsc::channel(BATCHES_AHEAD);
        let fetch = async {
            match model {
                // Contacts are many and few are customers of a deal: only those held are read.
                SyncModel::Partner => {
                    self.fetch_held_partners(&partners_held_before, fields, since, pages)
                        .await
                }
                _ => {
                    self.fetch_pages(model, fields, partner_fields, since, pages)
                        .await
                }
            }
        };
        let (fetched, prepared, committed) = tokio::join!(
            fetch,
            self.prepare_arrivals(arrivals, ready, lookups),
            self.commit_prepared(run, waiting),
        );
        // A stage that fails drops its queue, which stops the stages before it; its own error is
        // the one that says what happened.
        committed?;
        prepared?;
        fetched
    }

    /// Sends `model`'s pages, keyset-paged by id, each preceded by the partners its records refer
    /// to that pipelog has not seen (when `partner_fields` is given).
    async fn fetch_pages(
        &self,
        model: SyncModel,
        fields: &[String],
        partner_fields: Option<&[String]>,
        since: Option<&str>,
        pages: mpsc::Sender<Page>,
    ) -> Result<Option<String>, SyncError> {
        let base = self.changed_since(since);
        let mut known_partners = match partner_fields {
            Some(_) => self.held_ids(SyncModel::Partner).await?,
            None => BTreeSet::new(),
        };
        let mut last_id = 0;
        let mut newest: Option<String> = None;
        let mut page = self.fetch_page(model, &base, 0, fields).await?;
        loop {
            let records = into_records(page);
            if records.is_empty() {
                break;
            }
            let full_page = records.len() >= self.options.page_size;
            for record in &records {
                if let Some(id) = record["id"].as_u64() {
                    last_id = last_id.max(id);
                }
                note_newest(&mut newest, record);
            }
            let unseen: Vec<OdooId> = match partner_fields {
                Some(_) => records
                    .iter()
                    .filter_map(|record| wire::many2one(record, "partner_id").ok().flatten())
                    .filter(|id| known_partners.insert(*id))
                    .collect(),
                None => Vec::new(),
            };
            // The next page is asked for while this one's partners are: two requests in flight.
            let (partners, next) = tokio::join!(
                async {
                    match partner_fields {
                        Some(fields) => self.fetch_partners(unseen, fields).await,
                        None => Ok(Vec::new()),
                    }
                },
                async {
                    if full_page {
                        Some(self.fetch_page(model, &base, last_id, fields).await)
                    } else {
                        None
                    }
                }
            );
            let lead_page = Page {
                model,
                records,
                referenced: false,
            };
            for page in partners?.into_iter().chain([lead_page]) {
                if pages.send(page).await.is_err() {
                    // The applying side stopped on an error of its own, which is reported.
                    return Ok(newest);
                }
            }
            match next {
                Some(next) => page = next?,
                None => break,
            }
        }
        self.check_nothing_left(model, base, last_id).await?;
        Ok(newest)
    }

    /// The `write_date` condition of an incremental read: from `since` less the overlap.
    fn changed_since(&self, since: Option<&str>) -> Vec<Value> {
        since
            .and_then(parse_datetime)
            .map(|since| {
                let from =
                    since - jiff::SignedDuration::from_secs(self.options.overlap.as_secs() as i64);
                json!(["write_date", ">=", format_datetime(from)])
            })
            .into_iter()
            .collect()
    }

    /// The partners of `held` that changed since `since` (all of them without it): their ids
    /// first (a `search`, ids only, cheap even over hundreds of thousands of contacts), then those
    /// records by id. Partners no deal refers to are never read; the ones that deals bring along
    /// are read with them.
    async fn fetch_held_partners(
        &self,
        held: &BTreeSet<OdooId>,
        fields: &[String],
        since: Option<&str>,
        pages: mpsc::Sender<Page>,
    ) -> Result<Option<String>, SyncError> {
        let changed = self
            .search_ids(SyncModel::Partner, json!(self.changed_since(since)))
            .await?;
        let wanted: Vec<OdooId> = changed.intersection(held).copied().collect();
        let mut newest: Option<String> = None;
        for chunk in wanted.chunks(self.options.page_size) {
            self.check_stop()?;
            let records = self.partners_by_id(chunk, fields).await?;
            for record in &records {
                note_newest(&mut newest, record);
            }
            let page = Page {
                model: SyncModel::Partner,
                records,
                referenced: false,
            };
            if pages.send(page).await.is_err() {
                return Ok(newest);
            }
        }
        Ok(newest)
    }

    /// One page of `model`: records matching `base` with an id above `after`.
    async fn fetch_page(
        &self,
        model: SyncModel,
        base: &[Value],
        after: OdooId,
        fields: &[String],
    ) -> Result<Value, SyncError> {
        self.check_stop()?;
        let mut domain = base.to_vec();
        domain.push(json!(["id", ">", after]));
        Ok(self
            .client
            .call(
                model.odoo_name(),
                "search_read",
                self.search_call(json!(domain), fields),
            )
            .await?)
    }

    /// A short or empty page normally ends the read; make sure it was not a page lost on the way.
    async fn check_nothing_left(
        &self,
        model: SyncModel,
        mut domain: Vec<Value>,
        last_id: OdooId,
    ) -> Result<(), SyncError> {
        domain.push(json!(["id", ">", last_id]));
        let call = Call::new()
            .param("domain", json!(domain))
            .param("context", json!({"active_test": false}));
        let remaining = self
            .client
            .call(model.odoo_name(), "search_count", call)
            .await?
            .as_u64()
            .unwrap_or(0);
        if remaining > 0 {
            return Err(SyncError::PageMissing {
                model: model.odoo_name(),
                after: last_id,
                remaining,
            });
        }
        Ok(())
    }

    /// Prepares pages as they arrive, each batch taking whatever whole pages are already waiting.
    async fn prepare_arrivals(
        &self,
        mut arrivals: mpsc::Receiver<Page>,
        ready: mpsc::Sender<Prepared>,
        lookups: &Arc<Lookups>,
    ) -> Result<(), SyncError> {
        while let Some(first) = arrivals.recv().await {
            let mut records = first.records.len();
            let mut pages = vec![first];
            while records < RECORDS_PER_COMMIT {
                let Ok(page) = arrivals.try_recv() else { break };
                records += page.records.len();
                pages.push(page);
            }
            let lookups = lookups.clone();
            let prepared =
                blocking(&self.store, move |store| prepare(store, pages, &lookups)).await?;
            if ready.send(prepared).await.is_err() {
                break;
            }
        }
        Ok(())
    }

    /// Commits prepared batches as they arrive, merging those already waiting. Returns when the
    /// preparing side is done, or at the first failure.
    async fn commit_prepared(
        &self,
        run: &mut Run,
        mut waiting: mpsc::Receiver<Prepared>,
    ) -> Result<(), SyncError> {
        while let Some(mut batch) = waiting.recv().await {
            while batch.len() < RECORDS_PER_COMMIT {
                let Ok(more) = waiting.try_recv() else { break };
                batch.merge(more);
            }
            self.commit(run, batch).await?;
        }
        Ok(())
    }

    /// The partners with these ids, as Odoo returns them.
    async fn partners_by_id(
        &self,
        ids: &[OdooId],
        fields: &[String],
    ) -> Result<Vec<Value>, SyncError> {
        let domain = json!([["id", "in", ids]]);
        let page = self
            .client
            .call(
                SyncModel::Partner.odoo_name(),
                "search_read",
                self.search_call(domain, fields),
            )
            .await?;
        Ok(into_records(page))
    }

    /// Partners by id, as pages marked as referenced.
    async fn fetch_partners(
        &self,
        ids: Vec<OdooId>,
        fields: &[String],
    ) -> Result<Vec<Page>, SyncError> {
        let mut pages = Vec::new();
        for chunk in ids.chunks(self.options.page_size) {
            pages.push(Page {
                model: SyncModel::Partner,
                records: self.partners_by_id(chunk, fields).await?,
                referenced: true,
            });
        }
        Ok(pages)
    }

    /// Partners referenced by opportunities but still not held (their opportunities came in an
    /// earlier run, or through a migration).
    pub(super) async fn fetch_referenced_partners(
        &self,
        run: &mut Run,
        fields: &[String],
        lookups: &Arc<Lookups>,
    ) -> Result<(), SyncError> {
        let missing: Vec<OdooId> = blocking(&self.store, |store| {
            store.with_model(|model| {
                let referenced: BTreeSet<OdooId> = model
                    .opportunities()
                    .values()
                    .filter_map(|o| o.account_id)
                    .collect();
                referenced
                    .into_iter()
                    .filter(|id| !model.accounts().contains_key(id))
                    .collect()
            })
        })
        .await?;
        for page in self.fetch_partners(missing, fields).await? {
            let lookups = lookups.clone();
            let batch = blocking(&self.store, move |store| {
                prepare(store, vec![page], &lookups)
            })
            .await?;
            self.commit(run, batch).await?;
        }
        Ok(())
    }

    /// Plans a prepared batch against the held records and commits it, off the async threads.
    async fn commit(&self, run: &mut Run, batch: Prepared) -> Result<(), SyncError> {
        self.check_stop()?;
        let metadata = run.metadata.clone();
        let applied = blocking(&self.store, move |store| commit(store, batch, &metadata)).await?;
        run.absorb(applied);
        Ok(())
    }
}

pub(super) fn into_records(page: Value) -> Vec<Value> {
    match page {
        Value::Array(records) => records,
        _ => Vec::new(),
    }
}

/// Keeps the newest `write_date` read so far (Odoo's format sorts as text).
fn note_newest(newest: &mut Option<String>, record: &Value) {
    if let Some(written) = record["write_date"].as_str()
        && newest.as_deref().is_none_or(|held| written > held)
    {
        *newest = Some(written.to_string());
    }
}
