//! Runs of the sync engine against the simulated Odoo, in process.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use super::{RunRequest, SyncError, SyncOptions, Syncer};
use crate::demo::{CrmOptions, FakeOdoo, serve};
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
    let fake = FakeOdoo::new(crm);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    tokio::spawn(serve(listener, fake.clone(), std::future::pending()));
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Arc::new(Store::open(&dir.path().join("sync.redb")).expect("store"));
    let options = SyncOptions {
        page_size,
        ..SyncOptions::default()
    };
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
