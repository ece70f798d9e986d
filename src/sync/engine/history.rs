//! Odoo's change tracking into the log: each deal's past (read once per deal, by deal, when the
//! deal is first read or by a backfill), then every newer tracked change (by message id, from a
//! watermark). Only chatter messages of `crm.lead` and their tracking values are read, page by
//! page, and each page commits on its own: a stopped run resumes where it stopped.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use futures_util::future::join_all;
use futures_util::{StreamExt, stream};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::*;
use crate::domain::{FieldChange, OpportunityRecord};
use crate::projections::DealTimes;
use crate::sync::history::{
    MESSAGE_FIELDS, TrackedMessage, VALUE_FIELDS, plan_news, plan_past, tracked_change,
};
use crate::sync::odoo::wire;

use super::pages::into_records;

/// The cursor's name in the store: not an Odoo model pipelog mirrors, the messages it reads.
const CURSOR: &str = "mail.message";
/// The name the run's counts use: `fetched` counts the tracking values read, `created` the deals
/// whose past came in, `updated` the tracked changes recorded (past and news).
pub const COUNTS: &str = "mail.tracking.value";

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct HistoryCursor {
    /// The newest `mail.message` id whose tracked changes were taken in.
    last_message: u64,
    /// Whether the first import of every deal's past finished; until then each run reads all
    /// the pasts still missing, not a bounded number.
    #[serde(default)]
    pasts_done: bool,
}

/// The messages of one page with their tracking values read and mapped, by lead.
type ByLead = BTreeMap<OdooId, Vec<TrackedMessage>>;

/// What reading some tracking values came to, for the run's counts: read while other pages are,
/// added to the run in order.
#[derive(Default)]
struct Tally {
    values: u64,
    quarantined: Vec<QuarantinedRecord>,
}

impl Tally {
    fn merge(&mut self, other: Tally) {
        self.values += other.values;
        self.quarantined.extend(other.quarantined);
    }

    fn add_to(self, run: &mut Run) {
        let counts = run.counts.entry(COUNTS.to_string()).or_default();
        counts.fetched += self.values;
        counts.quarantined += self.quarantined.len() as u64;
        let room = QUARANTINE_LISTED.saturating_sub(run.quarantined.len());
        run.quarantined
            .extend(self.quarantined.into_iter().take(room));
    }
}

impl Syncer {
    /// Imports the past of the deals that have none yet, then the tracked changes newer than
    /// the watermark. A server whose tracking cannot be read gets a warning and no history.
    pub(super) async fn import_history(
        &self,
        run: &mut Run,
        request: RunRequest,
        lookups: &Arc<Lookups>,
    ) -> Result<(), SyncError> {
        let fields = match self.tracked_fields().await {
            Ok(fields) => fields,
            Err(error) => {
                run.warnings.push(format!(
                    "Odoo's change tracking could not be read ({error}): deals' history starts at pipelog's first read"
                ));
                return Ok(());
            }
        };
        // Taken (and kept) before the first pasts are read: whatever is newer comes through the
        // watermark, and the rule in `sync::history` keeps anything read both ways from counting
        // twice.
        let mut cursor = match self.history_cursor().await? {
            Some(cursor) => cursor,
            None => {
                let cursor = HistoryCursor {
                    last_message: self.newest_message().await?,
                    pasts_done: false,
                };
                self.save_history_cursor(&cursor).await?;
                cursor
            }
        };
        let unlimited = !cursor.pasts_done || request.full || request.backfill_history;
        let chatter = cursor.last_message > 0;
        let all_read = self
            .import_pasts(run, &fields, lookups, unlimited, chatter)
            .await?;
        if all_read && !cursor.pasts_done {
            cursor.pasts_done = true;
            self.save_history_cursor(&cursor).await?;
        }
        self.import_news(run, &fields, lookups, cursor).await
    }

    async fn save_history_cursor(&self, cursor: &HistoryCursor) -> Result<(), SyncError> {
        let updates = SourceUpdates {
            cursors: vec![history_cursor_entry(cursor)],
            ..SourceUpdates::default()
        };
        blocking(&self.store, move |store| {
            store.append_with_sources(CommandBatch::default(), updates)
        })
        .await?;
        Ok(())
    }

    /// Odoo's tracked fields of `crm.lead`, by `ir.model.fields` id.
    async fn tracked_fields(&self) -> Result<HashMap<OdooId, String>, OdooError> {
        let call = Call::new()
            .param(
                "domain",
                json!([["model", "=", "crm.lead"], ["tracking", "!=", 0]]),
            )
            .param("fields", json!(["name", "ttype"]));
        let answer = self
            .client
            .call("ir.model.fields", "search_read", call)
            .await?;
        Ok(answer
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|field| Some((field["id"].as_u64()?, field["name"].as_str()?.to_string())))
            .collect())
    }

    async fn history_cursor(&self) -> Result<Option<HistoryCursor>, SyncError> {
        let bytes = blocking(&self.store, |store| store.read()?.sync_cursor(CURSOR)).await?;
        Ok(bytes.and_then(|b| serde_json::from_slice(&b).ok()))
    }

    /// The newest chatter message of a lead with tracking values (0 when there is none).
    async fn newest_message(&self) -> Result<u64, SyncError> {
        let call = Call::new()
            .param("domain", json!(message_domain()))
            .param("order", json!("id desc"))
            .param("limit", json!(1));
        let answer = self.client.call("mail.message", "search", call).await?;
        Ok(answer
            .as_array()
            .and_then(|ids| ids.first())
            .and_then(Value::as_u64)
            .unwrap_or(0))
    }

    /// The pasts of deals that have none yet, a page of deals at a time. Returns whether none
    /// is left. Without `chatter` (no tracked message of a lead existed at the watermark) the
    /// messages are not asked for: any a past could hold is newer than the watermark, and comes
    /// in through it in this same run (one change is one event whichever way it comes).
    async fn import_pasts(
        &self,
        run: &mut Run,
        fields: &HashMap<OdooId, String>,
        lookups: &Arc<Lookups>,
        unlimited: bool,
        chatter: bool,
    ) -> Result<bool, SyncError> {
        let waiting: Vec<OdooId> = blocking(&self.store, |store| {
            store.with_model(|model| {
                let mut ids: Vec<OdooId> = model
                    .opportunities()
                    .keys()
                    .filter(|id| {
                        model
                            .deal_times(**id)
                            .is_none_or(|t| t.history_from.is_none())
                    })
                    .copied()
                    .collect();
                ids.sort_unstable();
                ids
            })
        })
        .await?;
        let total = waiting.len();
        let now = if unlimited {
            total
        } else {
            total.min(self.options.history_per_run)
        };
        if now < total {
            run.warnings.push(format!(
                "the history of {} deals is still to be read from Odoo: it comes in over the next syncs, or at once with `pipelog sync --backfill-history`",
                total - now
            ));
        }
        run.counts.entry(COUNTS.to_string()).or_default();
        if now > 0 {
            tracing::info!(deals = now, "reading Odoo's change history");
        }
        let mut done = 0;
        // The chatter of the next pages of deals is read while one page commits (the reading
        // side runs beside the committing one, so neither waits for the other); the commits stay
        // in order, so a stopped run leaves a prefix of whole pages.
        let in_flight = self.options.requests_in_flight.max(1);
        let (arrive, arrived) = mpsc::channel(in_flight);
        let reading = async {
            let arrive = arrive;
            let mut reads = stream::iter(self.id_pages(&waiting[..now]))
                .map(|chunk| async move {
                    self.check_stop()?;
                    let messages = async {
                        if chatter {
                            self.messages(message_domain_of(&chunk), fields, lookups)
                                .await
                        } else {
                            Ok((ByLead::new(), Tally::default()))
                        }
                    };
                    let (created, messages) = tokio::join!(self.create_dates(&chunk), messages);
                    Ok::<_, SyncError>((chunk, created?, messages?))
                })
                .buffered(in_flight);
            while let Some(read) = reads.next().await {
                let failed = read.is_err();
                if arrive.send(read).await.is_err() || failed {
                    break;
                }
            }
        };
        let committing = async {
            // Owned here, like `arrive` above: a failed commit closes the queue, which stops
            // the reading side instead of leaving it waiting to send.
            let mut arrived = arrived;
            while let Some(read) = arrived.recv().await {
                let (chunk, created, (messages, tally)) = read?;
                tally.add_to(run);
                let first_reads = self.first_reads(chunk.clone()).await?;
                let metadata = tracking_metadata(&run.metadata);
                let appended = self
                    .append_pasts(chunk, created, messages, first_reads, metadata)
                    .await?;
                let counts = run.counts.entry(COUNTS.to_string()).or_default();
                counts.created += appended.0;
                counts.updated += appended.1 + appended.2;
                run.events += appended.0 + appended.1 + appended.2;
                done += appended.0 as usize;
                tracing::info!(
                    deals = done,
                    of = now,
                    changes = appended.1,
                    "importing Odoo's change history"
                );
            }
            Ok::<_, SyncError>(())
        };
        let ((), committed) = tokio::join!(reading, committing);
        committed?;
        Ok(now == total)
    }

    /// Appends the pasts of one page of deals (skipping those deleted meanwhile, or whose past
    /// came in another way): how many deals, past changes and news.
    async fn append_pasts(
        &self,
        chunk: Vec<OdooId>,
        created: HashMap<OdooId, jiff::Timestamp>,
        messages: ByLead,
        first_reads: HashMap<OdooId, OpportunityRecord>,
        metadata: Metadata,
    ) -> Result<(u64, u64, u64), SyncError> {
        blocking(&self.store, move |store| {
            let mut past = (0, 0, 0);
            store.append_planned(|model| {
                let mut events = Vec::new();
                for id in chunk {
                    let (Some(current), Some(times)) =
                        (model.opportunity(id), model.deal_times(id))
                    else {
                        continue; // deleted meanwhile
                    };
                    if times.history_from.is_some() {
                        continue;
                    }
                    let first_read = first_reads.get(&id).unwrap_or(current);
                    let lead_messages = messages.get(&id).map(Vec::as_slice).unwrap_or(&[]);
                    let planned = plan_past(
                        id,
                        first_read,
                        times,
                        created.get(&id).copied(),
                        lead_messages,
                        &metadata,
                    );
                    past.0 += 1;
                    past.1 += planned.past as u64;
                    past.2 += planned.news as u64;
                    events.extend(planned.events);
                }
                (CommandBatch::new(events), SourceUpdates::default())
            })?;
            Ok(past)
        })
        .await
    }

    /// Tracked changes in messages newer than the cursor, a page of messages at a time; each
    /// page commits with the cursor moved past it.
    async fn import_news(
        &self,
        run: &mut Run,
        fields: &HashMap<OdooId, String>,
        lookups: &Arc<Lookups>,
        mut cursor: HistoryCursor,
    ) -> Result<(), SyncError> {
        loop {
            self.check_stop()?;
            let (page, full_page) = self
                .message_page(message_domain(), cursor.last_message)
                .await?;
            let Some(last) = page.iter().filter_map(|m| m["id"].as_u64()).max() else {
                break;
            };
            let (by_lead, tally) = self.tracked_messages(page, fields, lookups).await?;
            tally.add_to(run);
            cursor.last_message = last;
            let cursors = vec![history_cursor_entry(&cursor)];
            let metadata = tracking_metadata(&run.metadata);
            let news = blocking(&self.store, move |store| {
                let mut news = 0;
                store.append_planned(|model| {
                    let mut events = Vec::new();
                    for (lead, messages) in &by_lead {
                        // A deal whose past is not in yet takes these with it when it is.
                        let Some(times) =
                            model.deal_times(*lead).filter(|t| t.history_from.is_some())
                        else {
                            continue;
                        };
                        let messages: Vec<&TrackedMessage> = messages.iter().collect();
                        events.extend(plan_news(times, &messages, &metadata));
                    }
                    news = events.len() as u64;
                    let sources = SourceUpdates {
                        cursors,
                        ..SourceUpdates::default()
                    };
                    (CommandBatch::new(events), sources)
                })?;
                Ok(news)
            })
            .await?;
            run.counts.entry(COUNTS.to_string()).or_default().updated += news;
            run.events += news;
            if !full_page {
                break;
            }
        }
        Ok(())
    }

    /// Odoo's `create_date` of these leads: from the records as last read (the lead pages ask for
    /// it), and from Odoo only for those whose record does not hold it (read before it was asked
    /// for, or from a server without the field); each call is a worker's time on a real server.
    async fn create_dates(
        &self,
        ids: &[OdooId],
    ) -> Result<HashMap<OdooId, jiff::Timestamp>, SyncError> {
        let wanted = ids.to_vec();
        let mut created = blocking(&self.store, move |store| {
            let snapshot = store.read()?;
            let mut held = HashMap::new();
            for id in wanted {
                let key = source_key(SyncModel::Lead, id);
                let Some(raw) = snapshot.source_record(&key)? else {
                    continue;
                };
                if let Some(at) = serde_json::from_slice::<CreateDate>(&raw)
                    .ok()
                    .and_then(|lead| lead.create_date.as_str().and_then(wire::parse_datetime))
                {
                    held.insert(id, at);
                }
            }
            Ok(held)
        })
        .await?;
        let missing: Vec<OdooId> = ids
            .iter()
            .copied()
            .filter(|id| !created.contains_key(id))
            .collect();
        if missing.is_empty() {
            return Ok(created);
        }
        let leads = self
            .records_by_id("crm.lead", &missing, &["create_date"])
            .await?;
        created.extend(leads.iter().filter_map(|lead| {
            let at = wire::datetime(lead, "create_date").ok().flatten()?;
            Some((lead["id"].as_u64()?, at))
        }));
        Ok(created)
    }

    /// The record first read of each lead whose record changed since (the past is walked back
    /// from the first read, where the log's first snapshot of the deal sits).
    async fn first_reads(
        &self,
        ids: Vec<OdooId>,
    ) -> Result<HashMap<OdooId, OpportunityRecord>, SyncError> {
        blocking(&self.store, move |store| {
            let changed: Vec<OdooId> = store.with_model(|model| {
                ids.iter()
                    .copied()
                    .filter(|id| {
                        model
                            .deal_times(*id)
                            .is_some_and(|t: &DealTimes| t.first_read_at != t.current_at)
                    })
                    .collect()
            })?;
            let snapshot = store.read()?;
            let mut first = HashMap::new();
            for id in changed {
                let events = snapshot.aggregate_events(&format!("opportunity/{id}"))?;
                let created = events.into_iter().rev().find_map(|e| match e.event {
                    Event::OpportunityCreated { record, .. } => Some(record),
                    _ => None,
                });
                if let Some(record) = created {
                    first.insert(id, record);
                }
            }
            Ok(first)
        })
        .await
    }

    /// Every message matching `domain` with its tracked changes, by lead, paged by id.
    async fn messages(
        &self,
        domain: Vec<Value>,
        fields: &HashMap<OdooId, String>,
        lookups: &Arc<Lookups>,
    ) -> Result<(ByLead, Tally), SyncError> {
        let mut by_lead = ByLead::new();
        let mut tally = Tally::default();
        let mut after = 0;
        loop {
            let (page, full_page) = self.message_page(domain.clone(), after).await?;
            let Some(last) = page.iter().filter_map(|m| m["id"].as_u64()).max() else {
                break;
            };
            after = last;
            let (messages, page_tally) = self.tracked_messages(page, fields, lookups).await?;
            tally.merge(page_tally);
            for (lead, messages) in messages {
                by_lead.entry(lead).or_default().extend(messages);
            }
            if !full_page {
                break;
            }
        }
        Ok((by_lead, tally))
    }

    /// One page of the messages matching `domain` after message `after`, in id order, and
    /// whether it was full (more may follow).
    async fn message_page(
        &self,
        mut domain: Vec<Value>,
        after: u64,
    ) -> Result<(Vec<Value>, bool), SyncError> {
        domain.push(json!(["id", ">", after]));
        let call = self.search_call(json!(domain), MESSAGE_FIELDS);
        let page = into_records(
            self.client
                .call("mail.message", "search_read", call)
                .await?,
        );
        let full = page.len() >= self.options.page_size;
        Ok((page, full))
    }

    /// Messages with their tracking values read (by id, a page at a time) and their authors
    /// named, mapped to pipelog's fields, by lead in date order.
    async fn tracked_messages(
        &self,
        messages: Vec<Value>,
        fields: &HashMap<OdooId, String>,
        lookups: &Arc<Lookups>,
    ) -> Result<(ByLead, Tally), SyncError> {
        let value_ids: Vec<OdooId> = messages
            .iter()
            .filter_map(|m| m["tracking_value_ids"].as_array())
            .flatten()
            .filter_map(Value::as_u64)
            .collect();
        let value_ids = self.id_pages(&value_ids);
        let (pages, authors) = tokio::join!(
            join_all(value_ids.iter().map(|chunk| self.records_by_id(
                "mail.tracking.value",
                chunk,
                VALUE_FIELDS
            ))),
            self.partner_names(&messages),
        );
        let authors = authors?;
        let mut tally = Tally::default();
        let mut changes: HashMap<OdooId, Vec<(OdooId, FieldChange)>> = HashMap::new();
        for page in pages {
            let values = page?;
            tally.values += values.len() as u64;
            for value in values {
                let Some(message) = wire::many2one(&value, "mail_message_id").ok().flatten() else {
                    continue;
                };
                match tracked_change(&value, fields, lookups) {
                    Ok(Some(change)) => changes
                        .entry(message)
                        .or_default()
                        .push((value["id"].as_u64().unwrap_or(0), change)),
                    Ok(None) => {}
                    Err(reason) => tally.quarantined.push(QuarantinedRecord {
                        model: COUNTS.to_string(),
                        id: value["id"].as_u64(),
                        reason,
                    }),
                }
            }
        }
        let mut by_lead = ByLead::new();
        for message in messages {
            let (Some(id), Some(lead)) = (message["id"].as_u64(), message["res_id"].as_u64())
            else {
                continue;
            };
            let Some(date) = wire::datetime(&message, "date").ok().flatten() else {
                continue;
            };
            let author_id = wire::many2one(&message, "author_id").ok().flatten();
            let mut values = changes.remove(&id).unwrap_or_default();
            values.sort_by_key(|(value, _)| *value);
            by_lead.entry(lead).or_default().push(TrackedMessage {
                id,
                lead,
                date,
                author_id,
                author: author_id.and_then(|a| authors.get(&a).cloned()),
                changes: values.into_iter().map(|(_, change)| change).collect(),
            });
        }
        for messages in by_lead.values_mut() {
            messages.sort_by_key(|m| (m.date, m.id));
        }
        Ok((by_lead, tally))
    }

    /// The names of the messages' authors (partners).
    async fn partner_names(
        &self,
        messages: &[Value],
    ) -> Result<HashMap<OdooId, String>, SyncError> {
        let ids: BTreeSet<OdooId> = messages
            .iter()
            .filter_map(|m| wire::many2one(m, "author_id").ok().flatten())
            .collect();
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let ids: Vec<OdooId> = ids.into_iter().collect();
        let partners = self.records_by_id("res.partner", &ids, &["name"]).await?;
        Ok(partners
            .iter()
            .filter_map(|p| Some((p["id"].as_u64()?, p["name"].as_str()?.to_string())))
            .collect())
    }
}

/// The one field of a held lead record that its past needs (the rest is skipped unparsed).
#[derive(serde::Deserialize)]
struct CreateDate {
    #[serde(default)]
    create_date: Value,
}

/// Chatter messages of leads that carry tracking values.
fn message_domain() -> Vec<Value> {
    vec![
        json!(["model", "=", "crm.lead"]),
        json!(["tracking_value_ids", "!=", false]),
    ]
}

fn message_domain_of(leads: &[OdooId]) -> Vec<Value> {
    let mut domain = message_domain();
    domain.push(json!(["res_id", "in", leads]));
    domain
}

fn history_cursor_entry(cursor: &HistoryCursor) -> (String, Vec<u8>) {
    (
        CURSOR.to_string(),
        serde_json::to_vec(cursor).unwrap_or_default(),
    )
}

fn tracking_metadata(run: &Metadata) -> Metadata {
    Metadata {
        source: Some("odoo_tracking".into()),
        ..run.clone()
    }
}
