//! The real `pipelog` binary on temporary data files: status, verify, rebuild and their errors.

use std::path::Path;
use std::process::{Command, Output};

use pipelog::domain::{Event, LeadKind, NewEvent, OpportunityRecord, StageRecord, UserRecord};
use pipelog::store::{CommandBatch, Store};

fn pipelog(data: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pipelog"))
        .arg("--data")
        .arg(data)
        .args(args)
        .output()
        .expect("pipelog runs")
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn seeded(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("pipelog.redb");
    let store = Store::open(&path).expect("store");
    let events = vec![
        Event::StageCreated {
            id: 1,
            record: StageRecord {
                name: "New".into(),
                sequence: 1,
                is_won: false,
                fold: false,
                team_id: None,
            },
        },
        Event::UserCreated {
            id: 5,
            record: UserRecord {
                name: "Ann".into(),
                login: "ann@example.com".into(),
                email: Some("ann@example.com".into()),
                active: true,
                share: false,
                team_id: None,
            },
        },
        Event::OpportunityCreated {
            id: 9,
            record: OpportunityRecord {
                name: "Chairs".into(),
                kind: LeadKind::Opportunity,
                user_id: Some(5),
                team_id: None,
                account_id: None,
                stage_id: Some(1),
                expected_revenue: 120_000,
                currency: "EUR".into(),
                probability: 30.0,
                date_deadline: None,
                date_closed: None,
                active: true,
                lost_reason: None,
                prorated_revenue: None,
            },
        },
    ];
    store
        .append(CommandBatch::new(
            events.into_iter().map(NewEvent::new).collect(),
        ))
        .expect("append");
    path
}

#[test]
fn help_lists_every_command_with_a_line_each() {
    let output = Command::new(env!("CARGO_BIN_EXE_pipelog"))
        .arg("--help")
        .output()
        .expect("runs");
    let help = text(&output);
    assert!(output.status.success());
    for command in ["status", "rebuild", "verify"] {
        assert!(
            help.lines()
                .any(|line| line.trim_start().starts_with(command)),
            "{command} in {help}"
        );
    }
    assert!(help.contains("PIPELOG_DATA"));
}

#[test]
fn status_json_counts_what_the_file_holds() {
    let dir = tempfile::tempdir().expect("dir");
    let data = seeded(dir.path());
    let output = pipelog(&data, &["status", "--json"]);
    assert!(output.status.success(), "{}", text(&output));
    let status: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    assert_eq!(status["events"], 3);
    assert_eq!(status["last_position"], 3);
    assert_eq!(status["opportunities"], 1);
    assert_eq!(status["users"], 1);
    assert_eq!(status["events_by_type"]["OpportunityCreated"], 1);
    assert_eq!(status["last_sync"], serde_json::Value::Null);

    // Where the bytes go: every table, its entries, its bytes within the file's.
    let tables = status["tables"].as_array().expect("tables");
    let table = |name: &str| {
        tables
            .iter()
            .find(|t| t["name"] == name)
            .unwrap_or_else(|| panic!("{name} in {tables:?}"))
    };
    assert_eq!(table("events_v1")["entries"], 3);
    let bytes = |t: &serde_json::Value, key: &str| t[key].as_u64().expect("bytes");
    let events = table("events_v1");
    assert!(bytes(events, "stored_bytes") > 0);
    assert!(bytes(events, "stored_bytes") <= bytes(events, "page_bytes"));
    let in_tables: u64 = tables.iter().map(|t| bytes(t, "page_bytes")).sum();
    let file_bytes = std::fs::metadata(&data).expect("size").len();
    assert_eq!(status["file_bytes"], file_bytes);
    assert!(
        in_tables > 0 && in_tables <= file_bytes,
        "{in_tables} of {file_bytes}"
    );
    let largest_first: Vec<u64> = tables.iter().map(|t| bytes(t, "page_bytes")).collect();
    assert!(largest_first.windows(2).all(|pair| pair[0] >= pair[1]));

    let text_output = pipelog(&data, &["status"]);
    let shown = text(&text_output);
    assert!(
        shown.contains("data file size") && shown.contains("events_v1"),
        "{shown}"
    );
}

#[test]
fn status_works_beside_a_process_that_holds_the_file_for_writing() {
    let dir = tempfile::tempdir().expect("dir");
    let data = seeded(dir.path());
    let _writer = Store::open(&data).expect("the writer holds the file");
    let output = pipelog(&data, &["status", "--json"]);
    assert!(output.status.success(), "{}", text(&output));
    let rebuild = pipelog(&data, &["rebuild"]);
    assert_eq!(rebuild.status.code(), Some(2));
    assert!(
        text(&rebuild).contains("in use by another pipelog process"),
        "{}",
        text(&rebuild)
    );
}

#[test]
fn verify_finds_a_tampered_view_and_rebuild_repairs_it() {
    let dir = tempfile::tempdir().expect("dir");
    let data = seeded(dir.path());
    let clean = pipelog(&data, &["verify"]);
    assert!(clean.status.success(), "{}", text(&clean));
    assert!(text(&clean).contains("verified 3 events"));

    {
        let db = redb::Database::open(&data).expect("raw open");
        let txn = db.begin_write().expect("txn");
        let definition: redb::TableDefinition<u64, &[u8]> =
            redb::TableDefinition::new("opportunity_view_v1");
        txn.open_table(definition)
            .expect("table")
            .remove(9)
            .expect("remove");
        txn.commit().expect("commit");
    }
    let dirty = pipelog(&data, &["verify"]);
    assert_eq!(dirty.status.code(), Some(1), "{}", text(&dirty));
    assert!(
        text(&dirty).contains("opportunity_view 9: missing from the live view"),
        "{}",
        text(&dirty)
    );

    let rebuild = pipelog(&data, &["rebuild"]);
    assert!(rebuild.status.success(), "{}", text(&rebuild));
    assert!(
        text(&rebuild).contains("rebuilt the views from 3 events"),
        "{}",
        text(&rebuild)
    );
    assert!(pipelog(&data, &["verify"]).status.success());
}

#[test]
fn a_missing_or_foreign_file_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("dir");
    let missing = pipelog(&dir.path().join("absent.redb"), &["status"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        text(&missing).contains("there is no data file"),
        "{}",
        text(&missing)
    );

    let foreign = dir.path().join("notes.txt");
    std::fs::write(&foreign, "hello, this is not a database").expect("write");
    let output = pipelog(&foreign, &["status"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output).starts_with("error: cannot open"),
        "{}",
        text(&output)
    );
}
