//! The real `pipelog` binary syncing from the simulated Odoo over HTTP: first load, no-change
//! resync, incremental changes, hard deletes, every injected fault, the mass-delete guard,
//! quarantine, manager cycles, JSON-2, rights warnings and secrets.

mod support;

use std::collections::BTreeMap;

use pipelog::demo::crm::{Crm, WON_STAGE, obj};
use pipelog::demo::{CrmOptions, Fault, FaultKind, FaultedMethod};
use pipelog::projections::DealStatus;
use pipelog::store::ReadOnlyStore;
use serde_json::json;
use support::{FakeServer, Pipelog, small_crm, text};

/// What a lead shows: stage, salesperson, status, expected revenue and weighted value in cents.
type Shown = (Option<u64>, Option<u64>, DealStatus, i64, i64);

/// Every lead in the simulated Odoo, as pipelog should show it; the weighted value is Odoo's
/// stored `prorated_revenue` (rounded half-up to the cent) for open deals.
fn expected_leads(crm: &Crm) -> BTreeMap<u64, Shown> {
    crm.table("crm.lead")
        .expect("leads")
        .iter()
        .map(|(id, lead)| {
            let stage = lead["stage_id"].as_u64();
            let status = if lead["active"] == json!(false) {
                DealStatus::Lost
            } else if stage == Some(WON_STAGE) {
                DealStatus::Won
            } else {
                DealStatus::Open
            };
            let cents = (lead["expected_revenue"].as_f64().unwrap_or(0.0) * 100.0).round() as i64;
            let probability = lead["probability"].as_f64().unwrap_or(0.0);
            // Only open deals are weighted (a won or lost one is no longer a forecast).
            let weighted = match status {
                DealStatus::Open => pipelog::domain::prorated_cents(cents, probability),
                _ => 0,
            };
            (
                *id,
                (stage, lead["user_id"].as_u64(), status, cents, weighted),
            )
        })
        .collect()
}

fn held_leads(pipelog: &Pipelog) -> BTreeMap<u64, Shown> {
    let store = ReadOnlyStore::open(pipelog.data()).expect("opens");
    let snapshot = store.read().expect("snapshot");
    snapshot
        .rows(pipelog::projections::ViewTable::Opportunities)
        .expect("rows")
        .into_iter()
        .map(|(_, bytes)| {
            let view: pipelog::projections::OpportunityView =
                pipelog::projections::decode(&bytes).expect("decodes");
            (
                view.id,
                (
                    view.stage.map(|s| s.id),
                    view.salesperson.map(|s| s.id),
                    view.status,
                    view.expected_revenue,
                    view.weighted_revenue,
                ),
            )
        })
        .collect()
}

fn assert_mirrors(server: &FakeServer, pipelog: &Pipelog) {
    let expected = expected_leads(&server.fake.crm());
    let held = held_leads(pipelog);
    assert_eq!(held.len(), expected.len(), "same number of leads");
    assert_eq!(held, expected);
    let verify = pipelog.run(&["verify"]);
    assert!(verify.status.success(), "{}", text(&verify));
}

fn succeed(output: std::process::Output) -> String {
    let all = text(&output);
    assert!(output.status.success(), "{all}");
    all
}

fn event_count(pipelog: &Pipelog, event_type: &str) -> u64 {
    pipelog.status()["events_by_type"][event_type]
        .as_u64()
        .unwrap_or(0)
}

/// Every lead id the simulated Odoo holds.
fn lead_ids(server: &FakeServer) -> Vec<u64> {
    server
        .fake
        .crm()
        .table("crm.lead")
        .expect("leads")
        .keys()
        .copied()
        .collect()
}

/// Deletes leads in the simulated Odoo the way a hard delete does: without a trace.
fn hard_delete_leads(server: &FakeServer, ids: &[u64]) {
    let mut crm = server.fake.crm();
    if let Some(leads) = crm.tables.get_mut("crm.lead") {
        for id in ids {
            leads.remove(id);
        }
    }
}

#[test]
fn first_load_no_change_resync_and_incremental_changes() {
    let server = FakeServer::start(small_crm());
    let pipelog = Pipelog::new(&server.url, "page_size = 40");
    let first = succeed(pipelog.sync(&[]));
    assert!(first.contains("sync completed"), "{first}");
    assert_mirrors(&server, &pipelog);
    let status = pipelog.status();
    let users = server
        .fake
        .crm()
        .table("res.users")
        .map(|t| t.len())
        .unwrap_or(0) as u64;
    assert_eq!(status["users"], users);

    // Nothing changed in Odoo: the only new events are the sync run's own two.
    let before = status["events"].as_u64().expect("events");
    succeed(pipelog.sync(&[]));
    assert_eq!(pipelog.status()["events"].as_u64(), Some(before + 2));

    let changes = server.fake.crm().mutate(40);
    assert_eq!(changes.len(), 40);
    succeed(pipelog.sync(&[]));
    assert_mirrors(&server, &pipelog);
    assert!(
        event_count(&pipelog, "OpportunityUpdated") + event_count(&pipelog, "OpportunityArchived")
            > 0
    );
}

/// The admin's open pipeline per currency, in cents, as the API's figures are summed: every
/// total a hard delete must leave.
fn open_pipeline(pipelog: &Pipelog) -> BTreeMap<String, i64> {
    let store = ReadOnlyStore::open(pipelog.data()).expect("opens");
    let snapshot = store.read().expect("snapshot");
    let everything = snapshot
        .metrics(pipelog::projections::EVERYTHING)
        .expect("read")
        .expect("metrics");
    everything
        .visible
        .by_currency
        .iter()
        .map(|(currency, totals)| (currency.clone(), totals.open_value))
        .collect()
}

#[test]
fn a_hard_delete_leaves_every_total_at_the_next_incremental_sync() {
    let server = FakeServer::start(small_crm());
    let pipelog = Pipelog::new(&server.url, "");
    succeed(pipelog.sync(&[]));
    // Two open opportunities, with their currency and value as pipelog holds them.
    let open_leads: Vec<(u64, String, i64)> = {
        let store = ReadOnlyStore::open(pipelog.data()).expect("opens");
        let snapshot = store.read().expect("snapshot");
        snapshot
            .opportunity_facts()
            .expect("facts")
            .iter()
            .filter(|f| {
                f.status == DealStatus::Open && f.kind == pipelog::domain::LeadKind::Opportunity
            })
            .take(2)
            .map(|f| (f.id, f.currency.to_string(), f.expected_revenue))
            .collect()
    };
    assert_eq!(open_leads.len(), 2);
    let before = open_pipeline(&pipelog);
    hard_delete_leads(
        &server,
        &open_leads.iter().map(|(id, _, _)| *id).collect::<Vec<_>>(),
    );
    // An ordinary incremental sync (the periodic reconcile is an hour away): the count differs,
    // so the ids are compared at once.
    let report = succeed(pipelog.sync(&[]));
    assert!(report.contains("deleted     2"), "{report}");
    assert_eq!(event_count(&pipelog, "OpportunityDeleted"), 2);
    assert_mirrors(&server, &pipelog);
    let mut expected = before.clone();
    for (_, currency, cents) in &open_leads {
        *expected.entry(currency.clone()).or_default() -= cents;
    }
    expected.retain(|_, cents| *cents != 0);
    assert_eq!(
        open_pipeline(&pipelog),
        expected,
        "the deleted deals left the totals"
    );
    let last = &pipelog.status()["last_sync"];
    let why = last["outcome"]["succeeded"]["counts"]["crm.lead"]["reconciled"].as_str();
    assert!(
        why.is_some_and(|w| w.contains("Odoo holds")),
        "the status says why: {last}"
    );

    // Counts that agree cost one call per model and compare no ids: for partners, those held
    // (the deals' customers) are counted, not every contact in Odoo.
    succeed(pipelog.sync(&[]));
    let last = &pipelog.status()["last_sync"];
    let counts = last["outcome"]["succeeded"]["counts"]
        .as_object()
        .expect("counts");
    assert!(counts.contains_key("res.partner"), "{last}");
    for (model, count) in counts {
        assert!(count["reconciled"].is_null(), "{model}: {last}");
    }

    // The comparison fails after the count differed: nothing is deleted, and the next sync does it.
    let victim = lead_ids(&server)[0];
    hard_delete_leads(&server, &[victim]);
    // Every retry of the id comparison fails (the count and the reads still answer).
    server.fake.inject(Fault {
        kind: FaultKind::ServerError,
        after: 0,
        count: 100,
        delay_ms: 0,
        only: Some(FaultedMethod::Search),
    });
    let failed = pipelog.sync(&[]);
    assert_eq!(failed.status.code(), Some(1), "{}", text(&failed));
    assert_eq!(
        event_count(&pipelog, "OpportunityDeleted"),
        2,
        "nothing deleted on failure"
    );
    server.fake.clear_faults();
    succeed(pipelog.sync(&[]));
    assert_eq!(event_count(&pipelog, "OpportunityDeleted"), 3);
    assert_mirrors(&server, &pipelog);
}

/// How many records of `model` the last sync read.
fn fetched(pipelog: &Pipelog, model: &str) -> u64 {
    let last = &pipelog.status()["last_sync"];
    last["outcome"]["succeeded"]["counts"][model]["fetched"]
        .as_u64()
        .unwrap_or_else(|| panic!("no counts for {model}: {last}"))
}

#[test]
fn after_a_burst_of_writes_a_quiet_odoo_is_read_from_its_clock_not_its_newest_write() {
    let server = FakeServer::start(small_crm());
    let pipelog = Pipelog::new(&server.url, "");
    succeed(pipelog.sync(&[]));
    // A burst: every lead written at once (an import, a mass edit, the daily probability cron).
    let ids = lead_ids(&server);
    for (n, id) in ids.iter().enumerate() {
        server.fake.crm().update(
            "crm.lead",
            *id,
            obj(json!({"probability": 10.0 + n as f64 % 80.0})),
        );
    }
    succeed(pipelog.sync(&[]));
    assert_eq!(
        fetched(&pipelog, "crm.lead"),
        ids.len() as u64,
        "the burst is read"
    );
    // Nothing changes from then on. The next sync may read the burst once more (it was written
    // within the overlap before the read that saw it); after that nothing is read, because the
    // overlap trails the time of the last read, not the newest write. (Following the newest
    // write, every sync would read all of them again, for as long as nothing newer is written.)
    let ten_minutes = std::time::Duration::from_secs(600);
    server.fake.crm().advance_clock(ten_minutes);
    succeed(pipelog.sync(&[]));
    server.fake.crm().advance_clock(ten_minutes);
    succeed(pipelog.sync(&[]));
    assert_eq!(
        fetched(&pipelog, "crm.lead"),
        0,
        "a quiet Odoo costs nothing"
    );
    assert_mirrors(&server, &pipelog);

    // A slow transaction: it started 30 s before that read (Odoo stamps its start) and commits
    // after it. The overlap behind the read's clock still finds it, as one change.
    let updates = event_count(&pipelog, "OpportunityUpdated");
    {
        let mut crm = server.fake.crm();
        let started = crm.now().as_microsecond() - 30_000_000;
        crm.update_stamped(
            "crm.lead",
            ids[0],
            obj(json!({"expected_revenue": 12_345.0})),
            started,
        );
    }
    succeed(pipelog.sync(&[]));
    assert_eq!(event_count(&pipelog, "OpportunityUpdated"), updates + 1);
    assert_mirrors(&server, &pipelog);
}

#[test]
fn hard_deletes_are_found_by_reconcile_and_mass_deletes_need_confirmation() {
    let server = FakeServer::start(small_crm());
    let pipelog = Pipelog::new(&server.url, "");
    succeed(pipelog.sync(&[]));
    let ids = lead_ids(&server);
    hard_delete_leads(&server, &ids[..3]);
    let report = succeed(pipelog.sync(&["--full"]));
    assert!(report.contains("deleted     3"), "{report}");
    assert_eq!(event_count(&pipelog, "OpportunityDeleted"), 3);
    assert_mirrors(&server, &pipelog);

    // Odoo "loses" a third of the leads: refused, nothing deleted, status says why.
    hard_delete_leads(&server, &ids[3..60]);
    let refused = pipelog.sync(&["--full"]);
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused));
    assert!(
        text(&refused).contains("--allow-mass-delete"),
        "{}",
        text(&refused)
    );
    assert_eq!(event_count(&pipelog, "OpportunityDeleted"), 3);
    let last = &pipelog.status()["last_sync"];
    assert!(
        last["outcome"]["failed"]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("would delete 57")),
        "{last}"
    );

    succeed(pipelog.sync(&["--full", "--allow-mass-delete"]));
    assert_eq!(event_count(&pipelog, "OpportunityDeleted"), 60);
    assert_mirrors(&server, &pipelog);
}

#[test]
fn every_injected_fault_fails_cleanly_and_the_next_sync_recovers() {
    for kind in [
        FaultKind::ServerError,
        FaultKind::Truncated,
        FaultKind::AuthFailure,
        FaultKind::DropPage,
    ] {
        let server = FakeServer::start(small_crm());
        let pipelog = Pipelog::new(&server.url, "page_size = 30");
        succeed(pipelog.sync(&[]));
        server.fake.crm().mutate(30);
        let deletes_before = event_count(&pipelog, "OpportunityDeleted");
        // Let a few calls through first, so that the failure comes midway through the run.
        server.fake.inject(Fault {
            kind,
            after: 8,
            count: 50,
            delay_ms: 0,
            only: None,
        });
        let failed = pipelog.sync(&["--full"]);
        assert_eq!(failed.status.code(), Some(1), "{kind:?}: {}", text(&failed));
        let status = pipelog.status();
        assert!(
            status["last_sync"]["outcome"]["failed"].is_object(),
            "{kind:?}: {status}"
        );
        assert_eq!(
            event_count(&pipelog, "OpportunityDeleted"),
            deletes_before,
            "{kind:?}: no deletions on failure"
        );
        let verify = pipelog.run(&["verify"]);
        assert!(
            verify.status.success(),
            "{kind:?}: views stay consistent: {}",
            text(&verify)
        );

        server.fake.clear_faults();
        succeed(pipelog.sync(&["--full"]));
        assert_mirrors(&server, &pipelog);
    }
}

#[test]
fn transient_faults_are_retried() {
    let server = FakeServer::start(small_crm());
    let pipelog = Pipelog::new(&server.url, "");
    server.fake.inject(Fault {
        kind: FaultKind::ServerError,
        after: 3,
        count: 1,
        delay_ms: 0,
        only: None,
    });
    server.fake.inject(Fault {
        kind: FaultKind::Truncated,
        after: 6,
        count: 1,
        delay_ms: 0,
        only: None,
    });
    succeed(pipelog.sync(&[]));
    assert_mirrors(&server, &pipelog);
}

#[test]
fn malformed_records_are_quarantined_not_fatal() {
    let server = FakeServer::start(small_crm());
    let id = {
        let mut crm = server.fake.crm();
        crm.create(
            "crm.lead",
            obj(json!({"name": "Broken", "type": "opportunity", "active": true, "expected_revenue": 1e300, "probability": 10.0})),
        )
    };
    let pipelog = Pipelog::new(&server.url, "");
    let report = succeed(pipelog.sync(&[]));
    assert!(
        report.contains(&format!("quarantined: crm.lead {id}")),
        "{report}"
    );
    let status = pipelog.status();
    let quarantined = &status["last_sync"]["outcome"]["succeeded"]["quarantined"];
    assert_eq!(quarantined[0]["id"], id, "{status}");
    assert!(!held_leads(&pipelog).contains_key(&id));
}

#[test]
fn manager_cycles_in_odoo_are_cut_and_reported() {
    let server = FakeServer::start(small_crm());
    {
        let mut crm = server.fake.crm();
        crm.update("hr.employee", 11, obj(json!({"parent_id": 12})));
        crm.update("hr.employee", 12, obj(json!({"parent_id": 11})));
    }
    let pipelog = Pipelog::new(&server.url, "");
    succeed(pipelog.sync(&[]));
    let cycles = pipelog.status()["manager_cycles"].clone();
    assert_eq!(cycles, json!([11, 12]));
    assert!(pipelog.run(&["verify"]).status.success());
}

#[test]
fn odoo_19_is_spoken_to_over_json_2_with_an_api_key() {
    let key = "0123456789abcdef0123456789abcdef01234567";
    let server = FakeServer::start(CrmOptions {
        version: 19,
        admin_api_key: Some(key.into()),
        ..small_crm()
    });
    let mut pipelog = Pipelog::new(&server.url, "");
    pipelog.password = key.into();
    succeed(pipelog.sync(&[]));
    assert_mirrors(&server, &pipelog);

    pipelog.password = "revoked-key-0000".into();
    let refused = pipelog.sync(&[]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        text(&refused).contains("refused the credentials"),
        "{}",
        text(&refused)
    );
    assert!(!text(&refused).contains("revoked-key-0000"));
}

#[test]
fn a_sync_account_without_all_documents_rights_is_warned_about() {
    let server = FakeServer::start(small_crm());
    let mut pipelog = Pipelog::new(&server.url, "");
    pipelog.login = "demo".into();
    pipelog.password = "demo".into();
    let report = succeed(pipelog.sync(&[]));
    assert!(
        report.contains("lacks Sales \"All Documents\" rights"),
        "{report}"
    );
    let warnings = &pipelog.status()["last_sync"]["outcome"]["succeeded"]["warnings"];
    assert!(
        warnings[0]
            .as_str()
            .is_some_and(|w| w.contains("All Documents")),
        "{warnings}"
    );
}

#[test]
fn wrong_settings_say_what_to_fix_and_never_print_the_secret() {
    let server = FakeServer::start(small_crm());
    let mut pipelog = Pipelog::new(&server.url, "");
    pipelog.password = "sup3r-secret-pw".into();
    let refused = pipelog.sync(&[]);
    assert_eq!(refused.status.code(), Some(1));
    let all = text(&refused);
    assert!(
        all.contains("refused the credentials of \"admin\""),
        "{all}"
    );
    assert!(!all.contains("sup3r-secret-pw"));
    let status = pipelog.run(&["status", "--json"]);
    assert!(!text(&status).contains("sup3r-secret-pw"));
    let log = std::fs::read(pipelog.data()).expect("data file");
    assert!(
        !log.windows(15).any(|w| w == b"sup3r-secret-pw"),
        "the secret is not in the data file"
    );

    let mut wrong_db = Pipelog::new(&server.url, "");
    std::fs::write(
        &wrong_db.config,
        "[odoo]\ndatabase = \"nosuchdb\"\nretries = 0\n",
    )
    .expect("config");
    wrong_db.password = "admin".into();
    let output = wrong_db.sync(&[]);
    assert!(
        text(&output).contains("no database \"nosuchdb\""),
        "{}",
        text(&output)
    );

    let unreachable = Pipelog::new("http://127.0.0.1:9", "");
    let output = unreachable.sync(&[]);
    assert!(
        text(&output).contains("cannot reach Odoo at http://127.0.0.1:9"),
        "{}",
        text(&output)
    );
}

#[test]
fn an_assignment_made_in_odoo_is_one_event_and_stable() {
    let server = FakeServer::start(small_crm());
    let pipelog = Pipelog::new(&server.url, "");
    succeed(pipelog.sync(&[]));
    let lead = *server
        .fake
        .crm()
        .table("crm.lead")
        .expect("leads")
        .keys()
        .next()
        .expect("a lead");
    server
        .fake
        .crm()
        .update("crm.lead", lead, obj(json!({"user_id": 11})));
    let before = event_count(&pipelog, "OpportunityUpdated");
    succeed(pipelog.sync(&[]));
    succeed(pipelog.sync(&[]));
    assert_eq!(event_count(&pipelog, "OpportunityUpdated"), before + 1);
    let store = ReadOnlyStore::open(pipelog.data()).expect("opens");
    let view = store
        .read()
        .expect("snapshot")
        .opportunity(lead)
        .expect("read")
        .expect("row");
    assert_eq!(view.salesperson.map(|s| s.id), Some(11));
}

#[test]
fn a_slow_odoo_times_out_with_a_clear_error() {
    let server = FakeServer::start(small_crm());
    let pipelog = Pipelog::new(&server.url, "");
    std::fs::write(
        &pipelog.config,
        "[odoo]\ndatabase = \"salesdemo\"\ntimeout_seconds = 1\nretries = 0\n",
    )
    .expect("config");
    server.fake.inject(Fault {
        kind: FaultKind::Latency,
        after: 2,
        count: 5,
        delay_ms: 2_500,
        only: None,
    });
    let output = pipelog.sync(&[]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output).contains("did not answer within 1 s"),
        "{}",
        text(&output)
    );
    assert!(pipelog.status()["last_sync"]["outcome"]["failed"].is_object());
}
