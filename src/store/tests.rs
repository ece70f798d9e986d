//! Store tests on temporary files.

use std::os::unix::fs::PermissionsExt;

use proptest::prelude::*;
use redb::ReadableTable;

use super::*;
use crate::domain::samples::{opportunity, stage, user};
use crate::domain::{Event, ExpectedVersion, NewEvent};
use crate::projections::{DealStatus, EVERYTHING};
use crate::testing::arb_batches;

pub(super) fn temp_store() -> (tempfile::TempDir, PathBuf, Store) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("pipelog.redb");
    let store = Store::open(&path).expect("opens");
    (dir, path, store)
}

pub(super) fn events(events: Vec<Event>) -> CommandBatch {
    CommandBatch::new(events.into_iter().map(NewEvent::new).collect())
}

pub(super) fn seed(store: &Store) {
    store
        .append(events(vec![
            Event::StageCreated {
                id: 1,
                record: stage("New", 1, false),
            },
            Event::UserCreated {
                id: 7,
                record: user("Ann", "ann@example.com"),
            },
            Event::OpportunityCreated {
                id: 100,
                record: opportunity(Some(7), 1, 5_000),
            },
        ]))
        .expect("appends");
}

pub(super) fn no_progress(_: ReplayProgress) {}

#[test]
fn a_new_file_is_private_and_empty_but_complete() {
    let (_dir, path, store) = temp_store();
    let mode = std::fs::metadata(&path)
        .expect("metadata")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let read = store.read().expect("snapshot");
    assert_eq!(read.last_position().expect("position"), 0);
    assert!(read.metrics(EVERYTHING).expect("read").is_some());
    assert!(store.verify(&mut no_progress).expect("verifies").is_clean());
}

#[test]
fn appends_get_gapless_positions_and_views_in_the_same_commit() {
    let (_dir, _path, store) = temp_store();
    seed(&store);
    let appended = store
        .append(events(vec![Event::OpportunityArchived {
            id: 100,
            lost_reason: None,
        }]))
        .expect("appends");
    assert_eq!(appended.positions, vec![4]);
    assert_eq!(
        appended.versions,
        vec![2],
        "second event of opportunity/100"
    );
    let read = store.read().expect("snapshot");
    let logged = read.events_after(0, 100).expect("events");
    assert_eq!(
        logged.iter().map(|e| e.position).collect::<Vec<_>>(),
        vec![1, 2, 3, 4]
    );
    assert_eq!(
        read.opportunity(100).expect("read").map(|o| o.status),
        Some(DealStatus::Lost)
    );
    assert_eq!(
        read.checkpoints()
            .expect("checkpoints")
            .values()
            .copied()
            .collect::<Vec<_>>(),
        vec![4; 4]
    );
    assert_eq!(
        read.events_by_type()
            .expect("counts")
            .get("OpportunityArchived"),
        Some(&1)
    );
}

#[test]
fn data_survives_reopening() {
    let (_dir, path, store) = temp_store();
    seed(&store);
    drop(store);
    let store = Store::open(&path).expect("reopens");
    let read = store.read().expect("snapshot");
    assert_eq!(read.last_position().expect("position"), 3);
    assert_eq!(
        read.profile(7).expect("read").map(|p| p.name),
        Some("Ann".to_string())
    );
    store
        .append(events(vec![Event::UserDeleted { id: 7 }]))
        .expect("appends after reopen");
    assert_eq!(
        store
            .read()
            .expect("snapshot")
            .last_position()
            .expect("position"),
        4
    );
    assert!(store.verify(&mut no_progress).expect("verifies").is_clean());
}

#[test]
fn a_version_conflict_writes_nothing() {
    let (_dir, _path, store) = temp_store();
    seed(&store);
    let stale = CommandBatch::new(vec![
        NewEvent::new(Event::UserDeleted { id: 7 }),
        NewEvent::new(Event::OpportunityDeleted { id: 100 }).expecting(ExpectedVersion::Exactly(5)),
    ]);
    let error = store.append(stale).expect_err("conflicts");
    assert!(error.is_conflict());
    assert_eq!(
        error.to_string(),
        "version conflict on opportunity/100: expected version 5, current version is 1"
    );
    let read = store.read().expect("snapshot");
    assert_eq!(read.last_position().expect("position"), 3);
    assert!(read.profile(7).expect("read").is_some());

    let fresh =
        NewEvent::new(Event::OpportunityDeleted { id: 100 }).expecting(ExpectedVersion::Exactly(1));
    store
        .append(CommandBatch::new(vec![fresh]))
        .expect("the right version appends");
    let again = NewEvent::new(Event::UserCreated {
        id: 7,
        record: user("x", "x@x"),
    })
    .expecting(ExpectedVersion::NoStream);
    assert!(
        store
            .append(CommandBatch::new(vec![again]))
            .expect_err("stream exists")
            .is_conflict()
    );
}

#[test]
fn a_repeated_command_id_returns_the_first_outcome_and_appends_nothing() {
    let (_dir, path, store) = temp_store();
    seed(&store);
    let command = || events(vec![Event::OpportunityRestored { id: 100 }]).with_command_id("req-1");
    let first = store.append(command()).expect("appends");
    let second = store.append(command()).expect("replays");
    assert!(!first.replayed && second.replayed);
    assert_eq!(first.positions, second.positions);
    drop(store);
    let store = Store::open(&path).expect("reopens");
    let third = store.append(command()).expect("replays after reopen");
    assert!(third.replayed);
    assert_eq!(third.positions, first.positions);
    assert_eq!(
        store
            .read()
            .expect("snapshot")
            .last_position()
            .expect("position"),
        4
    );
}

#[test]
fn a_planned_append_sees_the_model_it_appends_to_and_writes_the_sources() {
    let (_dir, _path, store) = temp_store();
    seed(&store);
    let key = "crm.lead/101".to_string();
    let mut seen = None;
    let appended = store
        .append_planned(|model| {
            seen = model.opportunities().get(&100).map(|o| o.expected_revenue);
            let batch = events(vec![Event::OpportunityCreated {
                id: 101,
                record: opportunity(Some(7), 1, 2_500),
            }]);
            let sources = SourceUpdates {
                upserts: vec![SourceRecord {
                    key: key.clone(),
                    checksum: 42,
                    raw: b"{}".to_vec(),
                }],
                ..SourceUpdates::default()
            };
            (batch, sources)
        })
        .expect("appends");
    assert_eq!(seen, Some(5_000), "the plan saw the seeded opportunity");
    assert_eq!(appended.positions, vec![4]);
    let read = store.read().expect("snapshot");
    assert_eq!(read.source_checksums(&[key]).expect("read"), vec![Some(42)]);
    assert!(read.opportunity(101).expect("read").is_some());
    assert!(store.verify(&mut no_progress).expect("verifies").is_clean());
}

#[test]
fn group_commit_keeps_commands_independent() {
    let (_dir, _path, store) = temp_store();
    seed(&store);
    let ok = events(vec![Event::OpportunityArchived {
        id: 100,
        lost_reason: None,
    }]);
    let conflicting = CommandBatch::new(vec![
        NewEvent::new(Event::UserDeleted { id: 7 }).expecting(ExpectedVersion::NoStream),
    ]);
    let also_ok = events(vec![Event::OpportunityRestored { id: 100 }]).with_command_id("c");
    let repeat = events(vec![Event::OpportunityRestored { id: 100 }]).with_command_id("c");
    let results = store
        .append_group(vec![ok, conflicting, also_ok, repeat])
        .expect("commits");
    assert_eq!(
        results[0].as_ref().map(|a| a.positions.clone()).ok(),
        Some(vec![4])
    );
    assert!(results[1].as_ref().is_err_and(|e| e.is_conflict()));
    assert_eq!(
        results[2].as_ref().map(|a| a.positions.clone()).ok(),
        Some(vec![5])
    );
    assert!(
        results[3]
            .as_ref()
            .is_ok_and(|a| a.replayed && a.positions == vec![5])
    );
    assert!(store.verify(&mut no_progress).expect("verifies").is_clean());
}

#[test]
fn an_interrupted_write_leaves_no_trace() {
    let (_dir, path, store) = temp_store();
    seed(&store);
    {
        let txn = store.begin_write().expect("write txn");
        let mut log = txn.open_table(EVENTS).expect("events");
        log.insert(4, b"{half an event".as_slice()).expect("insert");
        // Dropped without commit, as when the process dies mid-transaction.
    }
    drop(store);
    let store = Store::open(&path).expect("reopens");
    assert_eq!(
        store
            .read()
            .expect("snapshot")
            .last_position()
            .expect("position"),
        3
    );
    assert!(store.verify(&mut no_progress).expect("verifies").is_clean());
}

#[test]
fn a_file_from_a_newer_format_is_refused() {
    let (_dir, path, store) = temp_store();
    {
        let txn = store.begin_write().expect("write txn");
        txn.open_table(META)
            .expect("meta")
            .insert(META_FORMAT_VERSION, "99")
            .expect("insert");
        txn.commit().expect("commit");
    }
    drop(store);
    let error = Store::open(&path).err().expect("refused");
    assert!(
        matches!(
            error,
            StoreError::NewerFormat {
                found: 99,
                supported: FORMAT_VERSION,
                ..
            }
        ),
        "{error}"
    );
    assert!(error.to_string().contains("upgrade pipelog"));
}

#[test]
fn a_second_open_of_the_same_file_is_refused_plainly() {
    let (_dir, path, _store) = temp_store();
    let error = Store::open(&path).err().expect("refused");
    assert!(matches!(error, StoreError::AlreadyOpen { .. }), "{error}");
}

#[test]
fn read_only_handles_work_beside_the_writer_and_follow_its_commits() {
    let (_dir, path, store) = temp_store();
    seed(&store);
    let reader = ReadOnlyStore::open(&path).expect("opens beside the writer");
    assert_eq!(
        reader
            .read()
            .expect("snapshot")
            .status()
            .expect("status")
            .opportunities,
        1
    );
    store
        .append(events(vec![Event::OpportunityCreated {
            id: 101,
            record: opportunity(None, 1, 1),
        }]))
        .expect("appends");
    let status = reader.read().expect("snapshot").status().expect("status");
    assert_eq!((status.events, status.opportunities), (4, 2));
    assert!(
        reader
            .verify(&mut no_progress)
            .expect("verifies")
            .is_clean()
    );
}

#[test]
fn read_only_open_of_a_missing_file_says_so() {
    let dir = tempfile::tempdir().expect("temp dir");
    let error = ReadOnlyStore::open(&dir.path().join("nope.redb"))
        .err()
        .expect("refused");
    assert!(matches!(error, StoreError::Missing { .. }), "{error}");
}

#[test]
fn verify_reports_a_tampered_view_and_rebuild_repairs_it() {
    let (_dir, _path, store) = temp_store();
    seed(&store);
    {
        let txn = store.begin_write().expect("write txn");
        let ViewDefinition::ById(definition) =
            view_definition(ViewTable::Opportunities, Generation::Live)
        else {
            unreachable!("opportunities are keyed by id")
        };
        let mut table = txn.open_table(definition).expect("table");
        let stored = table.get(100).expect("get").expect("row").value().to_vec();
        let unpacked = codec::writing(&txn)
            .expect("unpacker")
            .json(codec::Corpus::Deals, &stored)
            .expect("unpacks")
            .into_owned();
        let mut view: crate::projections::OpportunityView =
            crate::projections::decode(&unpacked).expect("decodes");
        view.name = "Tampered".into();
        // Stored as a row written before any dictionary: its tag, then postcard.
        let mut bytes = vec![codec::PLAIN];
        bytes.extend(postcard::to_allocvec(&view).expect("encodes"));
        table.insert(100, bytes.as_slice()).expect("insert");
        table.insert(999, bytes.as_slice()).expect("insert");
        drop(table);
        // A row gone before another one (the figures of everyone, id 0, before Ann's) and the
        // last row of a table.
        for (view, id) in [
            (ViewTable::DashboardMetrics, EVERYTHING),
            (ViewTable::Stages, 1),
        ] {
            let ViewDefinition::ById(definition) = view_definition(view, Generation::Live) else {
                unreachable!("keyed by id")
            };
            let mut table = txn.open_table(definition).expect("table");
            assert!(table.remove(id).expect("removes").is_some());
        }
        txn.commit().expect("commit");
    }
    let report = store.verify(&mut no_progress).expect("verifies");
    let text: Vec<String> = report.differences.iter().map(ToString::to_string).collect();
    assert_eq!(report.differences.len(), 4, "{text:?}");
    assert!(
        text[0].contains("opportunity_view 100: differs")
            && text[0].contains("name: live \"Tampered\""),
        "{text:?}"
    );
    assert!(
        text[1].contains("opportunity_view 999: in the live view but not in the log"),
        "{text:?}"
    );
    assert_eq!(text[2], "dashboard_metrics 0: missing from the live view");
    assert_eq!(text[3], "stages 1: missing from the live view");

    let rebuilt = store.rebuild(&mut no_progress).expect("rebuilds");
    assert_eq!(rebuilt.events, 3);
    assert!(store.verify(&mut no_progress).expect("verifies").is_clean());
    assert_eq!(
        store
            .read()
            .expect("snapshot")
            .opportunity(100)
            .expect("read")
            .map(|o| o.name),
        Some("Deal".into())
    );
    store
        .append(events(vec![Event::OpportunityDeleted { id: 100 }]))
        .expect("appends after rebuild");
    assert!(store.verify(&mut no_progress).expect("verifies").is_clean());
}

#[test]
fn readers_keep_their_snapshot_while_writes_go_on() {
    let (_dir, _path, store) = temp_store();
    seed(&store);
    let before = store.read().expect("snapshot");
    store
        .append(events(vec![Event::OpportunityDeleted { id: 100 }]))
        .expect("appends");
    assert!(before.opportunity(100).expect("read").is_some());
    assert_eq!(before.last_position().expect("position"), 3);
    assert!(
        store
            .read()
            .expect("snapshot")
            .opportunity(100)
            .expect("read")
            .is_none()
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Through the real store: whatever is appended, in whatever batches, a replay of the log
    /// finds exactly the live views.
    #[test]
    fn live_views_always_verify(batches in arb_batches()) {
        let (_dir, _path, store) = temp_store();
        for batch in batches {
            store.append(events(batch)).expect("appends");
        }
        let report = store.verify(&mut no_progress).expect("verifies");
        prop_assert!(report.is_clean(), "{:?}", report.differences.iter().map(ToString::to_string).collect::<Vec<_>>());
    }
}

#[test]
fn after_a_failed_write_the_file_is_reopened_and_the_model_reloaded() {
    let (_dir, _path, store) = temp_store();
    seed(&store);
    {
        // As a failed commit leaves it: the model ahead of the file (an event the file never got).
        let mut writer = store.writer.lock().expect("writer");
        let ahead = crate::testing::envelope(
            4,
            Event::UserCreated {
                id: 8,
                record: user("Ghost", "ghost@example.com"),
            },
        );
        writer.model.as_mut().expect("loaded").apply(&ahead);
        let failure = StoreError::Unavailable {
            cause: "No space left on device (os error 28)".into(),
        };
        store.mark_failed(&mut writer, &failure);
    }
    // A read reopens the file; the next append folds from the file, not from the stale model.
    assert_eq!(
        store
            .read()
            .expect("reads")
            .last_position()
            .expect("position"),
        3
    );
    store
        .append(events(vec![Event::UserCreated {
            id: 9,
            record: user("Bo", "bo@example.com"),
        }]))
        .expect("appends after the reopen");
    let read = store.read().expect("reads");
    assert_eq!(read.last_position().expect("position"), 4);
    let profiles = read
        .views::<crate::projections::UserProfileView>(ViewTable::UserProfiles)
        .expect("profiles");
    assert!(
        profiles.iter().all(|profile| profile.name != "Ghost"),
        "{profiles:?}"
    );
    assert!(store.verify(&mut no_progress).expect("verifies").is_clean());
}

#[test]
fn decoded_facts_are_shared_within_a_generation_and_never_stale() {
    let (_dir, _path, store) = temp_store();
    seed(&store);
    let first = store.read().expect("snapshot");
    let facts = first.opportunity_facts().expect("facts");
    let again = store
        .read()
        .expect("snapshot")
        .opportunity_facts()
        .expect("facts");
    assert!(
        Arc::ptr_eq(&facts, &again),
        "no write between: decoded once"
    );
    // A change of a deal: the next snapshot sees it, the older one keeps what it saw.
    store
        .append(events(vec![Event::OpportunityUpdated {
            id: 100,
            changes: vec![crate::domain::FieldChange {
                field: "expected_revenue".into(),
                before: serde_json::json!(5_000),
                after: serde_json::json!(7_000),
            }],
        }]))
        .expect("appends");
    let changed = store
        .read()
        .expect("snapshot")
        .opportunity_facts()
        .expect("facts");
    assert_eq!(changed[0].expected_revenue, 7_000);
    assert_eq!(
        first.opportunity_facts().expect("facts")[0].expected_revenue,
        5_000
    );
    // A write that touches no deal keeps the generation; a rebuild starts a new one.
    store
        .append(events(vec![Event::UserCreated {
            id: 8,
            record: user("Bob", "bob@example.com"),
        }]))
        .expect("appends");
    let unchanged = store
        .read()
        .expect("snapshot")
        .opportunity_facts()
        .expect("facts");
    assert!(Arc::ptr_eq(&changed, &unchanged));
    store.rebuild(&mut no_progress).expect("rebuilds");
    let rebuilt = store
        .read()
        .expect("snapshot")
        .opportunity_facts()
        .expect("facts");
    assert!(
        !Arc::ptr_eq(&changed, &rebuilt),
        "the swapped tables are read again"
    );
    assert_eq!(*rebuilt, *changed);
}

#[test]
fn free_pages_worth_giving_back_are_given_back_unless_a_read_is_in_progress() {
    let (_dir, path, store) = temp_store();
    seed(&store);
    assert_eq!(
        store.compact_if_worthwhile().expect("checks"),
        None,
        "nothing is free yet"
    );
    let blob = vec![7u8; 1024 * 1024];
    let keys: Vec<String> = (0..40).map(|i| format!("{i:064}")).collect();
    for key in &keys {
        store.put_session(key, &blob).expect("writes");
    }
    for key in &keys {
        store.delete_session(key).expect("deletes");
    }
    let held = store.read().expect("reads");
    assert_eq!(
        store.compact_if_worthwhile().expect("checks"),
        None,
        "a read in progress keeps the pages where they are"
    );
    drop(held);
    let (before, after) = store
        .compact_if_worthwhile()
        .expect("compacts")
        .expect("40 MiB free is worth giving back");
    assert!(
        after + 30 * 1024 * 1024 < before,
        "{before} → {after} bytes"
    );
    assert_eq!(std::fs::metadata(&path).expect("file").len(), after);
    assert!(store.verify(&mut no_progress).expect("verifies").is_clean());
    assert_eq!(store.compact_if_worthwhile().expect("checks"), None);
}

#[test]
fn a_rebuild_writes_its_views_in_whole_pages() {
    let (_dir, _path, store) = temp_store();
    seed(&store);
    // Deals arriving in scattered id order, a batch at a time, as a sync writes them: their view
    // rows land in pages split in half. A rebuild writes fresh tables in key order, which redb
    // fills page after page, so no repack is needed after it. (10,007 is prime: the ids never
    // repeat.)
    let ids: Vec<u64> = (1..=5_000u64).map(|i| 1_000 + i * 7_919 % 10_007).collect();
    for batch in ids.chunks(100) {
        store
            .append(events(
                batch
                    .iter()
                    .map(|&id| Event::OpportunityCreated {
                        id,
                        record: opportunity(Some(7), 1, id as i64 * 100),
                    })
                    .collect(),
            ))
            .expect("appends");
    }
    let room = |store: &Store| {
        let sizes = store.read().expect("reads").table_sizes().expect("sizes");
        let view = sizes
            .iter()
            .find(|table| table.name == "opportunity_view_v1")
            .expect("the opportunity view")
            .clone();
        (view.fragmented_bytes, view.page_bytes, view.entries)
    };
    let (before, before_pages, _) = room(&store);
    assert!(
        before * 4 > before_pages,
        "scattered writes leave room: {before} of {before_pages} bytes"
    );
    store.rebuild(&mut no_progress).expect("rebuilds");
    let (after, after_pages, entries) = room(&store);
    assert_eq!(entries, 5_001);
    assert!(
        after * 10 < after_pages,
        "{after} bytes of {after_pages} unused after the rebuild"
    );
    assert!(store.verify(&mut no_progress).expect("verifies").is_clean());
}
