//! Operations on the real binary: backups (beside a running writer too), export and import of the
//! event log reproducing identical views, import refusing broken input, compaction.

mod support;

use std::path::Path;

use pipelog::projections::ViewTable;
use pipelog::store::{ReadOnlyStore, Store};
use support::{FakeServer, Pipelog, small_crm, text};

/// Every view table's rows, in key order.
type ViewRows = Vec<(ViewTable, Vec<(pipelog::projections::RowKey, Vec<u8>)>)>;

fn all_rows(path: &Path) -> ViewRows {
    let store = ReadOnlyStore::open(path).expect("opens");
    let snapshot = store.read().expect("snapshot");
    ViewTable::ALL
        .iter()
        .map(|table| (*table, snapshot.rows(*table).expect("rows")))
        .collect()
}

fn synced() -> (FakeServer, Pipelog) {
    let server = FakeServer::start(small_crm());
    // Model snapshots as the syncs write, so that copies carry one.
    let pipelog = Pipelog::new(&server.url, "\n[data]\nsnapshot_every_events = 50");
    assert!(pipelog.sync(&[]).status.success());
    server.fake.crm().mutate(30);
    assert!(pipelog.sync(&["--full"]).status.success());
    (server, pipelog)
}

#[test]
fn export_then_import_into_an_empty_file_reproduces_identical_views() {
    let (_server, pipelog) = synced();
    let export = pipelog.dir.path().join("events.ndjson");
    let exported = pipelog.run(&["export-events", export.to_str().expect("utf-8")]);
    assert!(exported.status.success(), "{}", text(&exported));
    let lines = std::fs::read_to_string(&export)
        .expect("export")
        .lines()
        .count();
    assert_eq!(
        lines as u64,
        pipelog.status()["events"].as_u64().expect("events")
    );

    let copy = pipelog.dir.path().join("imported.redb");
    let imported = std::process::Command::new(env!("CARGO_BIN_EXE_pipelog"))
        .arg("--data")
        .arg(&copy)
        .args(["import-events", export.to_str().expect("utf-8")])
        .output()
        .expect("runs");
    assert!(imported.status.success(), "{}", text(&imported));
    assert_eq!(
        all_rows(pipelog.data()),
        all_rows(&copy),
        "identical views, row for row"
    );
    let again = std::process::Command::new(env!("CARGO_BIN_EXE_pipelog"))
        .arg("--data")
        .arg(&copy)
        .args(["import-events", export.to_str().expect("utf-8")])
        .output()
        .expect("runs");
    assert!(text(&again).contains("not empty"), "{}", text(&again));
}

#[test]
fn import_names_the_line_of_a_gap_a_repeat_or_garbage() {
    let (_server, pipelog) = synced();
    let mut export = Vec::new();
    ReadOnlyStore::open(pipelog.data())
        .expect("opens")
        .export_events(&mut export)
        .expect("export");
    let lines: Vec<&str> = std::str::from_utf8(&export)
        .expect("utf-8")
        .lines()
        .collect();
    let cases = [
        (
            [lines[0], lines[2]].join("\n"),
            "line 2: position 3 leaves a gap",
        ),
        (
            [lines[0], lines[1], lines[1]].join("\n"),
            "line 3: position 2 repeats",
        ),
        ([lines[0], "{\"not\": \"an event\"}"].join("\n"), "line 2:"),
    ];
    for (i, (input, expected)) in cases.iter().enumerate() {
        let dir = tempfile::tempdir().expect("dir");
        let store = Store::open(&dir.path().join(format!("case{i}.redb"))).expect("store");
        let error = store
            .import_events(&mut input.as_bytes())
            .expect_err("refused");
        assert!(error.to_string().contains(expected), "{error}");
    }
}

#[test]
fn backups_are_consistent_even_beside_a_running_writer_and_open_as_data_files() {
    let (_server, pipelog) = synced();
    let writer = Store::open(pipelog.data()).expect("the writer holds the file");
    let out = pipelog.dir.path().join("backup.redb");
    let backup = pipelog.run(&["backup", out.to_str().expect("utf-8")]);
    assert!(backup.status.success(), "{}", text(&backup));
    drop(writer);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&out)
            .expect("backup")
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
    let verify = std::process::Command::new(env!("CARGO_BIN_EXE_pipelog"))
        .arg("--data")
        .arg(&out)
        .arg("verify")
        .output()
        .expect("runs");
    assert!(verify.status.success(), "{}", text(&verify));
    assert!(
        text(&verify).contains("matches a replay"),
        "the copy carries the model snapshot: {}",
        text(&verify)
    );
    assert_eq!(all_rows(pipelog.data()), all_rows(&out));
    let refuse = pipelog.run(&["backup", out.to_str().expect("utf-8")]);
    assert!(
        !refuse.status.success(),
        "never overwrites an existing file"
    );

    let compact = pipelog.run(&["compact"]);
    assert!(compact.status.success(), "{}", text(&compact));
    assert!(pipelog.run(&["verify"]).status.success());
}
