//! Reading one model: its pages fetched (several at once when Odoo has the workers), prepared and
//! committed as three overlapping stages, in id order, and the partners that opportunities refer
//! to brought along. Only the run in `engine` calls in here.

use std::collections::BTreeSet;
use std::sync::Arc;

use futures_util::{StreamExt, TryStreamExt, stream};
use serde_json::value::RawValue;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::{Run, SyncError, Syncer, blocking};
use crate::domain::OdooId;
use crate::sync::apply::{Page, Prepared, WireRecord, commit, prepare};
use crate::sync::mapping::{Lookups, SyncModel};
use crate::sync::odoo::Call;
use crate::sync::odoo::wire::{format_datetime, parse_datetime};

/// Pages fetched ahead of the ones being prepared, and prepared batches waiting to commit: enough
/// to keep Odoo and pipelog busy at the same time, few enough to bound memory (a page of leads
/// waits as its JSON text, about a megabyte; the requests in flight hold as much again).
const PAGES_AHEAD: usize = 4;
const BATCHES_AHEAD: usize = 2;

/// A commit takes every page already waiting, up to about this many records. When Odoo answers
/// faster than pipelog applies, fewer and larger transactions (each rewrites the touched managers'
/// metrics once, not once per page) let the sync keep up; when Odoo is the slower side, every page
/// commits on its own as soon as it arrives. Each batch waiting holds its records three times
/// (raw, mapped, planned), which bounds it.
const RECORDS_PER_COMMIT: usize = 10_000;

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

    /// Sends `model`'s pages in id order, each group of pages preceded by the partners its
    /// records refer to that pipelog has not seen (when `partner_fields` is given). Returns the
    /// newest `write_date` seen.
    async fn fetch_pages(
        &self,
        model: SyncModel,
        fields: &[String],
        partner_fields: Option<&[String]>,
        since: Option<&str>,
        pages: mpsc::Sender<Page>,
    ) -> Result<Option<String>, SyncError> {
        let base = self.changed_since(since);
        let in_flight = self.options.requests_in_flight.max(1);
        let (read, arrivals) = mpsc::channel(in_flight);
        let reading = self.read_in_id_order(model, &base, fields, read);
        let (grouped, groups) = mpsc::channel(1);
        let mut newest: Option<String> = None;
        // Which group brings a partner is decided in id order, so it always comes before the
        // first opportunity that refers to it.
        let grouping = async {
            // Owned here, like the queues below, so that either side stopping stops the other.
            let (mut arrivals, grouped) = (arrivals, grouped);
            let mut known_partners = match partner_fields {
                Some(_) => self.held_ids(SyncModel::Partner).await?,
                None => BTreeSet::new(),
            };
            let mut group = PageGroup::default();
            while let Some(records) = arrivals.recv().await {
                for record in &records {
                    note_newest(&mut newest, record);
                }
                if partner_fields.is_some() {
                    group.unseen.extend(
                        records
                            .iter()
                            .filter_map(|record| record.partner_id)
                            .filter(|id| known_partners.insert(*id)),
                    );
                }
                group.pages.push(records);
                let full = partner_fields.is_none() || group.is_full(self.options.page_size);
                if full && grouped.send(std::mem::take(&mut group)).await.is_err() {
                    return Ok(());
                }
            }
            if !group.pages.is_empty() {
                let _ = grouped.send(group).await;
            }
            Ok::<_, SyncError>(())
        };
        // A group's partners are asked for while the next pages are read.
        let forwarding = async {
            let mut groups = groups;
            while let Some(group) = groups.recv().await {
                let partners = match partner_fields {
                    Some(fields) if !group.unseen.is_empty() => {
                        self.fetch_partners(group.unseen, fields).await?
                    }
                    _ => Vec::new(),
                };
                let leads = group.pages.into_iter().map(|records| Page {
                    model,
                    records,
                    referenced: false,
                });
                for page in partners.into_iter().chain(leads) {
                    if pages.send(page).await.is_err() {
                        // The applying side stopped on an error of its own, which is reported.
                        return Ok(());
                    }
                }
            }
            Ok::<_, SyncError>(())
        };
        // Any side that fails drops its end of a queue, which stops the others; the failure is
        // the one reported.
        let (read, grouped, forwarded) = tokio::join!(reading, grouping, forwarding);
        forwarded?;
        grouped?;
        read?;
        Ok(newest)
    }

    /// Reads the records of `model` matching `base`, in id order, into `out`. The first page is
    /// keyset-paged; when it is full and several requests may be in flight, the ids of the rest
    /// are searched (ids only: cheap) and read as id ranges of a page each, several at once, and
    /// sent in order. Records created meanwhile are read by keyset after the last id searched.
    async fn read_in_id_order(
        &self,
        model: SyncModel,
        base: &[Value],
        fields: &[String],
        out: mpsc::Sender<Vec<WireRecord>>,
    ) -> Result<(), SyncError> {
        let page_size = self.options.page_size;
        let mut last_id = 0;
        let mut first = true;
        loop {
            let records = self.fetch_page(model, base, last_id, fields).await?;
            let full_page = records.len() >= page_size;
            last_id = records
                .iter()
                .filter_map(|record| record.id)
                .fold(last_id, OdooId::max);
            if records.is_empty() {
                break;
            }
            if out.send(records).await.is_err() {
                return Ok(());
            }
            if !full_page {
                break;
            }
            if std::mem::take(&mut first) && self.options.requests_in_flight > 1 {
                match self.read_ranges(model, base, fields, last_id, &out).await? {
                    Some(searched_up_to) => last_id = searched_up_to,
                    None => return Ok(()),
                }
            }
        }
        self.check_nothing_left(model, base.to_vec(), last_id).await
    }

    /// Reads every record above `after` that a `search` finds now, a page-sized id range per
    /// request, `requests_in_flight` at once, sending them in id order. Returns the last id
    /// searched, or `None` when the receiving side stopped.
    async fn read_ranges(
        &self,
        model: SyncModel,
        base: &[Value],
        fields: &[String],
        after: OdooId,
        out: &mpsc::Sender<Vec<WireRecord>>,
    ) -> Result<Option<OdooId>, SyncError> {
        let mut domain = base.to_vec();
        domain.push(json!(["id", ">", after]));
        let ids: Vec<OdooId> = self
            .search_ids(model, json!(domain))
            .await?
            .into_iter()
            .collect();
        let ranges = id_ranges(after, &ids, self.options.page_size);
        let mut ranges = stream::iter(ranges)
            .map(|range| self.fetch_range(model, base, range, fields))
            .buffered(self.options.requests_in_flight);
        while let Some(records) = ranges.next().await {
            if out.send(records?).await.is_err() {
                return Ok(None);
            }
        }
        Ok(Some(ids.last().copied().unwrap_or(after)))
    }

    /// The records of one id range. Fewer than the search found are fine when the rest were
    /// deleted meanwhile; a count tells that apart from a page lost on the way.
    async fn fetch_range(
        &self,
        model: SyncModel,
        base: &[Value],
        range: IdRange,
        fields: &[String],
    ) -> Result<Vec<WireRecord>, SyncError> {
        self.check_stop()?;
        let mut domain = base.to_vec();
        domain.push(json!(["id", ">", range.after]));
        domain.push(json!(["id", "<=", range.last]));
        // No limit: records that came to match since the search belong to the range too.
        let call = self
            .search_call(json!(domain), fields)
            .param("limit", Value::Null);
        let records = self.search_read(model.odoo_name(), call).await?;
        if records.len() < range.searched {
            let count = self.count(model, json!(domain)).await?;
            if count > records.len() as u64 {
                return Err(SyncError::PageMissing {
                    model: model.odoo_name(),
                    after: range.after,
                    remaining: count - records.len() as u64,
                });
            }
        }
        Ok(records)
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
        let mut chunks = std::pin::pin!(self.partners_by_id(&wanted, fields));
        while let Some(records) = chunks.next().await {
            let records = records?;
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
    ) -> Result<Vec<WireRecord>, SyncError> {
        self.check_stop()?;
        let mut domain = base.to_vec();
        domain.push(json!(["id", ">", after]));
        let call = self.search_call(json!(domain), fields);
        self.search_read(model.odoo_name(), call).await
    }

    /// A `search_read`, its records kept as the JSON text Odoo sent.
    async fn search_read(&self, model: &str, call: Call) -> Result<Vec<WireRecord>, SyncError> {
        let records: Vec<Box<RawValue>> = self.client.call_as(model, "search_read", call).await?;
        Ok(records.into_iter().map(WireRecord::new).collect())
    }

    /// The records of `model` with these ids (archived too), as a page.
    async fn page_by_id(
        &self,
        model: &str,
        ids: &[OdooId],
        fields: &[String],
    ) -> Result<Vec<WireRecord>, SyncError> {
        let call = self.search_call(json!([["id", "in", ids]]), fields);
        self.search_read(model, call).await
    }

    /// A short or empty page normally ends the read; make sure it was not a page lost on the way.
    async fn check_nothing_left(
        &self,
        model: SyncModel,
        mut domain: Vec<Value>,
        last_id: OdooId,
    ) -> Result<(), SyncError> {
        domain.push(json!(["id", ">", last_id]));
        let remaining = self.count(model, json!(domain)).await?;
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

    /// The records of `model` with these ids (archived too), as Odoo returns them.
    pub(super) async fn records_by_id(
        &self,
        model: &str,
        ids: &[OdooId],
        fields: &[impl serde::Serialize],
    ) -> Result<Vec<Value>, SyncError> {
        let call = self.search_call(json!([["id", "in", ids]]), fields);
        let page = self.client.call(model, "search_read", call).await?;
        Ok(into_records(page))
    }

    /// Partners by id, as pages marked as referenced.
    async fn fetch_partners(
        &self,
        ids: Vec<OdooId>,
        fields: &[String],
    ) -> Result<Vec<Page>, SyncError> {
        self.partners_by_id(&ids, fields)
            .map_ok(|records| Page {
                model: SyncModel::Partner,
                records,
                referenced: true,
            })
            .try_collect()
            .await
    }

    /// The records of these partners in id order, a page of them per call, several at once.
    fn partners_by_id<'a>(
        &'a self,
        ids: &[OdooId],
        fields: &'a [String],
    ) -> impl futures_util::Stream<Item = Result<Vec<WireRecord>, SyncError>> + 'a {
        stream::iter(self.id_pages(ids))
            .map(move |chunk| async move {
                self.check_stop()?;
                self.page_by_id(SyncModel::Partner.odoo_name(), &chunk, fields)
                    .await
            })
            .buffered(self.options.requests_in_flight.max(1))
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

/// Pages of opportunities waiting for the partners they bring. A call per page of deals would
/// ask a real server for a few partners each time (a worker's time per call); pages wait
/// together until their new partners fill a page, or until `PAGES_PER_PARTNER_READ` of them
/// wait.
#[derive(Default)]
struct PageGroup {
    pages: Vec<Vec<WireRecord>>,
    unseen: Vec<OdooId>,
}

/// Pages that wait at most for their partners together (each holds its records as JSON text).
const PAGES_PER_PARTNER_READ: usize = 4;

impl PageGroup {
    fn is_full(&self, page_size: usize) -> bool {
        self.unseen.len() >= page_size || self.pages.len() >= PAGES_PER_PARTNER_READ
    }
}

/// Ids above `after` and up to `last`, of which a search found `searched`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct IdRange {
    after: OdooId,
    last: OdooId,
    searched: usize,
}

/// Splits searched ids (ascending, all above `after`) into contiguous ranges of `per_range` ids:
/// together they cover every id from `after` to the last one, so a record that comes to match
/// between the search and the read still falls in one.
fn id_ranges(after: OdooId, ids: &[OdooId], per_range: usize) -> Vec<IdRange> {
    let mut from = after;
    ids.chunks(per_range.max(1))
        .filter_map(|chunk| {
            let last = *chunk.last()?;
            let range = IdRange {
                after: from,
                last,
                searched: chunk.len(),
            };
            from = last;
            Some(range)
        })
        .collect()
}

pub(super) fn into_records(page: Value) -> Vec<Value> {
    match page {
        Value::Array(records) => records,
        _ => Vec::new(),
    }
}

/// Keeps the newest `write_date` read so far (Odoo's format sorts as text).
fn note_newest(newest: &mut Option<String>, record: &WireRecord) {
    if let Some(written) = record.write_date.as_deref()
        && newest.as_deref().is_none_or(|held| written > held)
    {
        *newest = Some(written.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_ranges_cover_every_id_from_the_start_to_the_last_searched() {
        let ids = [5, 6, 9, 20, 21, 40, 41];
        let ranges = id_ranges(3, &ids, 3);
        assert_eq!(
            ranges,
            vec![
                IdRange {
                    after: 3,
                    last: 9,
                    searched: 3
                },
                IdRange {
                    after: 9,
                    last: 40,
                    searched: 3
                },
                IdRange {
                    after: 40,
                    last: 41,
                    searched: 1
                },
            ]
        );
        assert!(id_ranges(3, &[], 3).is_empty());
    }
}
