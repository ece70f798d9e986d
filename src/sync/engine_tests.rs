//! Runs of the sync engine against the simulated Odoo, in process.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use super::{RunRequest, SyncError, SyncOptions, Syncer};
use crate::demo::{CrmOptions, FakeOdoo, Fault, FaultKind, FaultedMethod, Workload, serve};
use crate::domain::{Event, EventEnvelope, OdooId};
use crate::store::Store;
use crate::sync::odoo::OdooClient;

struct Setup {
    _dir: tempfile::TempDir,
    store: Arc<Store>,
    syncer: Syncer,
    fake: Arc<FakeOdoo>,
}

async fn setup(crm: CrmOptions, page_size: usize) -> Setup {
    let options = SyncOptions {
        page_size,
        ..SyncOptions::default()
    };
    setup_with(crm, options).await
}

async fn setup_with(crm: CrmOptions, options: SyncOptions) -> Setup {
    let fake = FakeOdoo::new(crm);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    tokio::spawn(serve(listener, fake.clone(), std::future::pending()));
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Arc::new(Store::open(&dir.path().join("sync.redb")).expect("store"));
    let client = OdooClient::new(fake.admin_settings(&url)).expect("client");
    Setup {
        _dir: dir,
        syncer: Syncer::new(store.clone(), client, options),
        store,
        fake,
    }
}

fn whole_log(store: &Store) -> Vec<EventEnvelope> {
    store
        .read()
        .expect("snapshot")
        .events_after(0, usize::MAX)
        .expect("events")
}

fn crm(opportunities: usize, partners: usize) -> CrmOptions {
    CrmOptions {
        users: 12,
        opportunities,
        partners,
        seed: 5,
        ..CrmOptions::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opportunities_bring_the_partners_they_refer_to_and_no_others() {
    let setup = setup(crm(300, 80), 7).await;
    let report = setup
        .syncer
        .run(RunRequest {
            full: true,
            allow_mass_delete: false,
            ..RunRequest::default()
        })
        .await
        .expect("sync");

    let mut account_created_at: BTreeMap<OdooId, u64> = BTreeMap::new();
    let mut referenced: BTreeSet<OdooId> = BTreeSet::new();
    for envelope in whole_log(&setup.store) {
        match &envelope.event {
            Event::AccountCreated { id, .. } => {
                assert!(
                    account_created_at.insert(*id, envelope.position).is_none(),
                    "account {id} created twice"
                );
            }
            Event::OpportunityCreated { id, record } => {
                if let Some(account) = record.account_id {
                    referenced.insert(account);
                    let created = account_created_at.get(&account);
                    assert!(
                        created.is_some_and(|at| *at < envelope.position),
                        "opportunity {id} at {} came before its account {account} ({created:?})",
                        envelope.position
                    );
                }
            }
            _ => {}
        }
    }
    assert!(!referenced.is_empty());
    let held: BTreeSet<OdooId> = account_created_at.keys().copied().collect();
    assert_eq!(held, referenced, "exactly the referenced partners are held");
    assert_eq!(
        report.counts["res.partner"].created,
        referenced.len() as u64
    );
    assert!(setup.store.verify(&mut |_| {}).expect("verify").is_clean());

    // Nothing changed: a second full run reads everything again and appends nothing.
    let again = setup
        .syncer
        .run(RunRequest {
            full: true,
            allow_mass_delete: false,
            ..RunRequest::default()
        })
        .await
        .expect("resync");
    assert_eq!(again.events, 0);
    // Of Odoo's contacts, only those deals refer to are ever read: with the deals the first
    // time, then (the held ones) by id.
    let contacts = setup
        .fake
        .crm()
        .table("res.partner")
        .map(|t| t.len())
        .unwrap_or(0);
    assert!(contacts > referenced.len(), "the CRM has other contacts");
    for run in [&report, &again] {
        assert_eq!(run.counts["res.partner"].fetched, referenced.len() as u64);
    }
    // A customer renamed in Odoo: the next sync reads that one partner, and nothing else.
    let renamed = *referenced.iter().next().expect("a customer");
    setup.fake.crm().update(
        "res.partner",
        renamed,
        crate::demo::crm::obj(serde_json::json!({"name": "Renamed Ltd"})),
    );
    let incremental = setup
        .syncer
        .run(RunRequest::default())
        .await
        .expect("incremental");
    let partners = &incremental.counts["res.partner"];
    assert_eq!((partners.fetched, partners.updated), (1, 1), "{partners:?}");
}

/// Each call costs a real server a worker's time: partners come a page of them per call (not a
/// call per page of deals), and each deal's create date comes with its page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_sync_reads_partners_a_page_at_a_time_and_create_dates_with_the_deals() {
    let quiet = CrmOptions {
        history_changes: 0,
        ..crm(300, 80)
    };
    let setup = setup(quiet, 7).await;
    setup.syncer.run(full_run()).await.expect("sync");
    let referenced: BTreeSet<OdooId> = setup
        .store
        .with_model(|model| {
            model
                .opportunities()
                .values()
                .filter_map(|o| o.account_id)
                .collect()
        })
        .expect("model");
    let partner_pages = referenced.len().div_ceil(7);
    let lead_pages = odoo_lead_ids(&setup.fake).len().div_ceil(7);
    // A fresh file holds no partner before the run, so all come with the deals: a page of them
    // per call, and at most one short call per group of pages that wait for them together.
    let partner_reads = setup.fake.calls_to("res.partner", "search_read") as usize;
    let bound = partner_pages + lead_pages.div_ceil(4) + 1;
    assert!(
        partner_reads <= bound && partner_reads < lead_pages,
        "{partner_reads} partner reads for {} partners in {lead_pages} pages of deals",
        referenced.len()
    );
    let lead_reads = setup.fake.calls_to("crm.lead", "search_read") as usize;
    assert!(
        lead_reads <= lead_pages + 2,
        "{lead_reads} lead reads for {lead_pages} pages"
    );
    // Where each deal's history begins is still its create date in Odoo.
    let created: BTreeMap<OdooId, Option<jiff::Timestamp>> = setup
        .fake
        .crm()
        .table("crm.lead")
        .expect("leads")
        .iter()
        .map(|(id, lead)| {
            let at = lead["create_date"]
                .as_str()
                .and_then(crate::sync::odoo::wire::parse_datetime);
            (*id, at)
        })
        .collect();
    let begins: BTreeMap<OdooId, Option<jiff::Timestamp>> = whole_log(&setup.store)
        .into_iter()
        .filter_map(|e| match e.event {
            Event::OpportunityHistoryBegins { id, .. } => Some((id, e.effective_at)),
            _ => None,
        })
        .collect();
    assert_eq!(begins, created);
    assert!(created.values().all(Option::is_some));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_run_ends_between_pages_with_whole_pages_committed() {
    // Far more pages than the queues between the stages hold, so a stage that failed to stop
    // the others would leave them blocked for ever.
    let setup = setup(crm(400, 40), 3).await;
    let stop = setup.syncer.stop_handle();
    let run = setup.syncer.run(RunRequest {
        full: true,
        allow_mass_delete: false,
        ..RunRequest::default()
    });
    let stopper = async {
        loop {
            let opportunities = setup.store.with_model(|model| model.opportunities().len());
            if opportunities.is_ok_and(|held| held > 0) {
                stop.store(true, std::sync::atomic::Ordering::SeqCst);
                return;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    };
    let (outcome, ()) = tokio::time::timeout(Duration::from_secs(60), async {
        tokio::join!(run, stopper)
    })
    .await
    .expect("the run ends once stopped");
    assert!(
        matches!(outcome, Err(SyncError::Stopped)),
        "{:?}",
        outcome.map(|report| report.events)
    );
    let held = setup
        .store
        .with_model(|model| model.opportunities().len())
        .expect("model");
    assert!(held > 0 && held < 400, "{held} opportunities held");
    assert!(setup.store.verify(&mut |_| {}).expect("verify").is_clean());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_method_that_returns_nothing_is_not_an_error() {
    let setup = setup(crm(20, 5), 50).await;
    let archived = setup
        .syncer
        .client()
        .call(
            "crm.lead",
            "action_archive",
            crate::sync::odoo::Call::on(vec![1]),
        )
        .await
        .expect("an answer without result is a success");
    assert_eq!(archived, serde_json::Value::Null);
}

fn full_run() -> RunRequest {
    RunRequest {
        full: true,
        allow_mass_delete: false,
        ..RunRequest::default()
    }
}

/// Ids in ascending order.
fn odoo_lead_ids(fake: &FakeOdoo) -> Vec<OdooId> {
    let ids: BTreeSet<OdooId> = fake
        .crm()
        .table("crm.lead")
        .map(|leads| leads.keys().copied().collect())
        .unwrap_or_default();
    ids.into_iter().collect()
}

fn held_lead_ids(store: &Store) -> Vec<OdooId> {
    let ids: BTreeSet<OdooId> = store
        .with_model(|model| model.opportunities().keys().copied().collect())
        .expect("model");
    ids.into_iter().collect()
}

/// Many pages of opportunities, and no chatter to read after them.
fn paged_crm() -> CrmOptions {
    CrmOptions {
        history_changes: 0,
        ..crm(400, 80)
    }
}

/// A server of `workers` workers taking `per_call` per answer.
fn slow_server(workers: usize, per_call: u64) -> Option<Workload> {
    Some(Workload {
        workers,
        per_call: Duration::from_millis(per_call),
        per_record: Duration::ZERO,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pasts_messages_are_asked_for_only_when_odoo_had_chatter() {
    let options = SyncOptions {
        page_size: 20,
        ..SyncOptions::default()
    };
    let quiet = setup_with(paged_crm(), options.clone()).await;
    quiet.syncer.run(full_run()).await.expect("sync");
    assert_eq!(
        quiet.fake.calls_to("mail.message", "search_read"),
        1,
        "no chatter: only the news past the watermark are asked for"
    );
    // Changes made in Odoo after that come in through the watermark, once.
    quiet.fake.crm().mutate(30);
    quiet.syncer.run(RunRequest::default()).await.expect("sync");
    assert_eq!(held_lead_ids(&quiet.store), odoo_lead_ids(&quiet.fake));
    assert!(quiet.store.verify(&mut |_| {}).expect("verify").is_clean());

    let chatty = setup_with(crm(400, 80), options).await;
    chatty.syncer.run(full_run()).await.expect("sync");
    assert!(
        chatty.fake.calls_to("mail.message", "search_read") > 400 / 20,
        "a page of pasts asks for its messages"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_read_at_once_arrive_in_id_order_within_the_bound() {
    for in_flight in [1, 4] {
        let options = SyncOptions {
            page_size: 20,
            requests_in_flight: in_flight,
            ..SyncOptions::default()
        };
        let setup = setup_with(paged_crm(), options).await;
        setup.fake.set_workload(slow_server(8, 5));
        setup.syncer.run(full_run()).await.expect("sync");
        assert_eq!(held_lead_ids(&setup.store), odoo_lead_ids(&setup.fake));
        let created: Vec<OdooId> = whole_log(&setup.store)
            .iter()
            .filter_map(|envelope| match &envelope.event {
                Event::OpportunityCreated { id, .. } => Some(*id),
                _ => None,
            })
            .collect();
        assert!(
            created.is_sorted(),
            "{in_flight} in flight: opportunities are appended in id order"
        );
        // As many calls at once as allowed, and never more.
        assert_eq!(
            setup.fake.peak_calls_at_once(),
            in_flight as u64,
            "{in_flight} in flight"
        );
        assert!(setup.store.verify(&mut |_| {}).expect("verify").is_clean());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fault_among_pages_read_at_once_leaves_whole_pages_in_order_and_the_next_run_recovers() {
    for kind in [
        FaultKind::ServerError,
        FaultKind::Truncated,
        FaultKind::DropPage,
    ] {
        let options = SyncOptions {
            page_size: 20,
            requests_in_flight: 4,
            ..SyncOptions::default()
        };
        let setup = setup_with(paged_crm(), options).await;
        setup.fake.set_workload(slow_server(4, 10));
        // The fault starts once the first opportunities are committed: midway through the reads.
        let faulted = async {
            loop {
                if !held_lead_ids(&setup.store).is_empty() {
                    setup.fake.inject(Fault {
                        kind,
                        after: 0,
                        count: 10_000,
                        delay_ms: 0,
                        only: Some(FaultedMethod::SearchRead),
                    });
                    return;
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        };
        let (outcome, ()) = tokio::join!(setup.syncer.run(full_run()), faulted);
        assert!(outcome.is_err(), "{kind:?}: the run fails");
        let odoo = odoo_lead_ids(&setup.fake);
        let held = held_lead_ids(&setup.store);
        assert!(
            !held.is_empty() && held.len() < odoo.len(),
            "{kind:?}: {} of {} held",
            held.len(),
            odoo.len()
        );
        assert_eq!(held.len() % 20, 0, "{kind:?}: whole pages only");
        assert_eq!(
            held,
            odoo[..held.len()],
            "{kind:?}: the first pages, in order"
        );
        assert!(setup.store.verify(&mut |_| {}).expect("verify").is_clean());

        setup.fake.clear_faults();
        setup.syncer.run(full_run()).await.expect("the next run");
        assert_eq!(held_lead_ids(&setup.store), odoo, "{kind:?}: recovered");
        assert!(setup.store.verify(&mut |_| {}).expect("verify").is_clean());
    }
}
