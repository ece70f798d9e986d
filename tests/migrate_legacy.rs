//! `pipelog migrate-legacy` on a mongoexport dump with Extended JSON, raw Odoo values and broken
//! documents: a report, historical events, views, no duplicates on a second run, and a normal sync
//! afterwards.

mod support;

use std::path::PathBuf;

use pipelog::store::ReadOnlyStore;
use support::{FakeServer, Pipelog, small_crm, text};

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/legacy_data_lake_serving.ndjson")
}

#[test]
fn migrates_once_reports_what_it_skipped_and_a_sync_continues_from_there() {
    let server = FakeServer::start(small_crm());
    let pipelog = Pipelog::new(&server.url, "");
    let first = pipelog.run(&[
        "migrate-legacy",
        fixture().to_str().expect("utf-8"),
        "--currency",
        "EUR",
    ]);
    let report = text(&first);
    assert!(first.status.success(), "{report}");
    assert!(report.contains("read 12 documents"), "{report}");
    assert!(report.contains("user         imported      3"), "{report}");
    assert!(report.contains("account      imported      2"), "{report}");
    assert!(
        report.contains("opportunity  imported      3  already imported      0  skipped     2"),
        "{report}"
    );
    assert!(report.contains("line 11: not JSON"), "{report}");
    assert!(
        report.contains("unknown entity_type \"invoice\""),
        "{report}"
    );
    assert!(
        report.contains("expected_revenue 1000000000000000000000000000000 is not plausible")
            || report.contains("is not plausible"),
        "{report}"
    );

    let store = ReadOnlyStore::open(pipelog.data()).expect("opens");
    let snapshot = store.read().expect("snapshot");
    let won = snapshot.opportunity(101).expect("read").expect("row");
    assert_eq!(won.status, pipelog::projections::DealStatus::Won);
    assert_eq!(
        (won.expected_revenue, won.currency.as_str()),
        (3_000_000, "EUR")
    );
    let bob = snapshot.profile(11).expect("read").expect("profile");
    assert_eq!(
        bob.manager_id,
        Some(10),
        "the legacy manager id named an employee"
    );
    let ann = snapshot.profile(10).expect("read").expect("profile");
    assert_eq!(ann.manager_id, Some(2));
    let history = snapshot
        .aggregate_events("opportunity/100")
        .expect("history");
    assert_eq!(history[0].metadata.source.as_deref(), Some("migration"));
    assert_eq!(history[0].occurred_at().to_string(), "2025-03-01T08:00:00Z");
    drop(snapshot);
    drop(store);

    let events = pipelog.status()["events"].as_u64().expect("events");
    let second = pipelog.run(&[
        "migrate-legacy",
        fixture().to_str().expect("utf-8"),
        "--currency",
        "EUR",
    ]);
    assert!(
        text(&second).contains("0 events appended"),
        "{}",
        text(&second)
    );
    assert_eq!(
        pipelog.status()["events"].as_u64(),
        Some(events),
        "nothing imported the second time"
    );
    assert!(pipelog.run(&["verify"]).status.success());

    // A normal sync continues: records the migration created are updated, never created again, and
    // the stages only the legacy data knew are not deleted.
    let sync = pipelog.sync(&["--full"]);
    assert!(sync.status.success(), "{}", text(&sync));
    let store = ReadOnlyStore::open(pipelog.data()).expect("opens");
    let all = store
        .read()
        .expect("snapshot")
        .events_after(0, usize::MAX)
        .expect("events");
    let creates_of_100 = all
        .iter()
        .filter(|e| e.aggregate_id == "100" && e.event.type_name() == "OpportunityCreated")
        .count();
    assert_eq!(creates_of_100, 1);
    assert!(
        all.iter().all(|e| e.event.type_name() != "StageDeleted"),
        "legacy stages survive the reconcile"
    );
}
