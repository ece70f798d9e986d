//! A data file written by an earlier pipelog (format 1, view schema 8, before model snapshots):
//! it opens, is upgraded in place once (its views rebuilt, a model snapshot written), verifies
//! clean, keeps its log byte for byte and its sign-in accounts, has its aggregates' rows moved
//! over exactly (format 2), and the next start replays nothing.
//!
//! The fixture was written by pipelog at commit 84eaee0: three syncs of a small simulated CRM
//! (with a year of tracked changes, and changes between the syncs), `pipelog user add
//! admin@example.com --admin` with the password below, then `pipelog compact`.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use pipelog::projections::EVERYTHING;
use pipelog::store::{ReadOnlyStore, Store};
use support::{pipelog_command, session_cookie, start_server, text};

const FIXTURE: &str = "tests/fixtures/format1_views8.redb";
const ADMIN: &str = "admin@example.com";
const PASSWORD: &str = "fixture-password-1";

fn copy_of_the_fixture(dir: &Path) -> PathBuf {
    let data = dir.join("old.redb");
    std::fs::copy(Path::new(env!("CARGO_MANIFEST_DIR")).join(FIXTURE), &data).expect("copies");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    data
}

fn exported(data: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    ReadOnlyStore::open(data)
        .expect("opens")
        .export_events(&mut out)
        .expect("exports");
    out
}

/// What the admin's dashboard sums: every deal, per currency and status.
fn everything_totals(data: &Path) -> pipelog::projections::Aggregate {
    ReadOnlyStore::open(data)
        .expect("opens")
        .read()
        .expect("reads")
        .metrics(EVERYTHING)
        .expect("decodes")
        .expect("present")
        .visible
}

fn stop(mut child: std::process::Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().expect("waits").is_none() {
        assert!(Instant::now() < deadline, "no stop within 30 s of SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_file_of_the_previous_format_is_upgraded_once_and_keeps_everything() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = copy_of_the_fixture(dir.path());
    let config = dir.path().join("pipelog.toml");
    std::fs::write(&config, "").expect("config");
    let log_before = exported(&data);
    let totals_before = everything_totals(&data);
    let verify = pipelog_command(&data, &config, &["verify"])
        .output()
        .expect("runs");
    assert!(
        text(&verify).contains("view schema is not"),
        "before the upgrade its views are of the old schema: {}",
        text(&verify)
    );

    // A server opens it, upgrades it, and its account signs in with its old password.
    let (child, url) = start_server(pipelog_command(
        &data,
        &config,
        &["serve", "--listen", "127.0.0.1:0"],
    ));
    let client = reqwest::blocking::Client::new();
    let login = client
        .post(format!("{url}/api/auth/login"))
        .json(&serde_json::json!({"email": ADMIN, "password": PASSWORD}))
        .send()
        .expect("answers");
    assert_eq!(login.status(), 200);
    let me = client
        .get(format!("{url}/api/me"))
        .header("cookie", session_cookie(&login))
        .send()
        .expect("answers");
    assert_eq!(me.status(), 200);
    stop(child);

    let verify = pipelog_command(&data, &config, &["verify"])
        .output()
        .expect("runs");
    let report = text(&verify);
    assert!(verify.status.success(), "{report}");
    // The sign-in is the one event the server added.
    assert!(report.contains("verified 448 events"), "{report}");
    assert!(
        report.contains("model snapshot at position 448: matches a replay"),
        "{report}"
    );
    let log_after = exported(&data);
    assert!(
        log_after.starts_with(&log_before),
        "the log is kept byte for byte"
    );
    assert_eq!(log_after.iter().filter(|&&b| b == b'\n').count(), 448);
    let totals_after = everything_totals(&data);
    assert_eq!(totals_after, totals_before, "every total, per currency");

    // Upgraded once: the next open rebuilds nothing and folds no event.
    let store = Store::open(&data).expect("opens");
    let mut folded = None;
    store
        .load_model(&mut |progress| folded = Some(progress.events_total))
        .expect("loads");
    assert_eq!(folded, Some(0));
    assert_eq!(
        store
            .with_model(|model| model.last_position())
            .expect("model"),
        448
    );

    // Format 2: one row per aggregate, its events' positions and version moved over exactly.
    let read = store.read().expect("reads");
    assert_eq!(read.format_version().expect("format"), Some(2));
    let tables: Vec<String> = read
        .table_sizes()
        .expect("sizes")
        .into_iter()
        .map(|size| size.name)
        .collect();
    assert!(tables.contains(&"aggregates_v1".to_string()), "{tables:?}");
    assert!(
        !tables
            .iter()
            .any(|name| name.starts_with("aggregate_events")),
        "{tables:?}"
    );
    let mut by_aggregate: std::collections::BTreeMap<String, Vec<(u64, u64)>> = Default::default();
    for line in String::from_utf8(log_after).expect("utf-8").lines() {
        let event: serde_json::Value = serde_json::from_str(line).expect("json");
        let key = format!(
            "{}/{}",
            event["aggregate_type"].as_str().expect("type"),
            event["aggregate_id"].as_str().expect("id")
        );
        let position = event["position"].as_u64().expect("position");
        let version = event["aggregate_version"].as_u64().expect("version");
        by_aggregate
            .entry(key)
            .or_default()
            .push((position, version));
    }
    for (key, events) in &by_aggregate {
        let read_back: Vec<u64> = read
            .aggregate_events(key)
            .expect("reads")
            .iter()
            .map(|event| event.position)
            .collect();
        let positions: Vec<u64> = events.iter().map(|(position, _)| *position).collect();
        assert_eq!(read_back, positions, "{key}");
        let last_version = events.last().map(|(_, version)| *version);
        assert_eq!(
            Some(read.aggregate_version(key).expect("version")),
            last_version,
            "{key}"
        );
    }
}
