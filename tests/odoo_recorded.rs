//! The responses recorded from a real Odoo 18 (`../shared/odoo/responses/`, and the change
//! tracking in `../shared/odoo/tracking/`): pipelog reads every record in them, and the simulated
//! Odoo answers every recorded JSON-RPC request with a response of the same shape.

mod support;

use std::path::PathBuf;

use pipelog::demo::CrmOptions;
use pipelog::sync::mapping::{Lookups, SyncModel, map_record};
use serde_json::Value;
use support::FakeServer;

fn recordings() -> Vec<(String, Value)> {
    let mut all = recordings_in("responses");
    assert!(
        all.len() >= 15,
        "expected the recorded files, found {}",
        all.len()
    );
    let tracking = recordings_in("tracking");
    assert!(!tracking.is_empty(), "expected the recorded tracking");
    all.extend(tracking);
    all
}

fn recordings_in(folder: &str) -> Vec<(String, Value)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/odoo")
        .join(folder);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|error| {
            panic!(
                "the recorded Odoo responses must be at {}: {error}",
                dir.display()
            )
        })
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).expect("readable");
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default();
            (name, serde_json::from_str(&text).expect("valid JSON"))
        })
        .collect()
}

fn calls(recording: &Value) -> Vec<Value> {
    recording["calls"].as_array().cloned().unwrap_or_default()
}

fn model_of(name: &str) -> Option<SyncModel> {
    SyncModel::ALL.into_iter().find(|m| m.odoo_name() == name)
}

#[test]
fn every_recorded_record_of_a_synced_model_maps() {
    let lookups = Lookups {
        default_currency: "USD".into(),
        ..Lookups::default()
    };
    let mut mapped = 0;
    for (file, recording) in recordings() {
        for call in calls(&recording) {
            let args = &call["request"]["body"]["params"]["args"];
            let method = args[4].as_str().unwrap_or_default();
            let Some(model) = args[3].as_str().and_then(model_of) else {
                continue;
            };
            if !matches!(method, "search_read" | "read") {
                continue;
            }
            let Some(records) = call["response"]["result"].as_array() else {
                continue;
            };
            for record in records {
                // Partial reads (a few fields) are not what a sync asks for; full ones must map.
                if model
                    .wanted_fields()
                    .iter()
                    .filter(|f| record.get(**f).is_some())
                    .count()
                    < 4
                {
                    continue;
                }
                map_record(model, record, &lookups)
                    .unwrap_or_else(|q| panic!("{file}: {q:?} in {record}"));
                mapped += 1;
            }
        }
    }
    assert!(mapped >= 150, "mapped {mapped} recorded records");
}

/// The JSON kind of a value, with Odoo's `false` standing for "empty" of any kind.
fn compatible(recorded: &Value, answered: &Value) -> bool {
    match (recorded, answered) {
        (Value::Bool(false), _) | (_, Value::Bool(false)) => true,
        (Value::Number(_), Value::Number(_))
        | (Value::String(_), Value::String(_))
        | (Value::Bool(_), Value::Bool(_)) => true,
        (Value::Null, Value::Null) => true,
        (Value::Array(a), Value::Array(b)) => match (a.first(), b.first()) {
            (Some(x), Some(y)) => compatible(x, y),
            _ => true,
        },
        (Value::Object(a), Value::Object(b)) => {
            a.keys().eq(b.keys()) && a.iter().all(|(k, v)| compatible(v, &b[k]))
        }
        _ => false,
    }
}

#[test]
fn the_simulated_odoo_answers_recorded_requests_in_the_same_shape() {
    let options = CrmOptions {
        users: 12,
        opportunities: 60,
        partners: 20,
        ..CrmOptions::default()
    };
    let server = FakeServer::start(options.clone());
    // Lifecycle experiments ran on a scratch copy of the database.
    // The recorded API key was replaced by a placeholder; the scratch server accepts that one.
    let scratch = FakeServer::start(CrmOptions {
        database: "salesdemo_scratch".into(),
        admin_api_key: Some("<API_KEY>".into()),
        ..options.clone()
    });
    // The change-tracking experiments ran on a database of their own.
    let mutated = FakeServer::start(CrmOptions {
        database: "salesmutate".into(),
        ..options
    });
    let (mut eligible, mut compared) = (0, 0);
    for (file, recording) in recordings() {
        for call in calls(&recording) {
            let request = &call["request"];
            let Some(path) = request["POST"].as_str() else {
                continue;
            };
            let note = call["note"].as_str().unwrap_or_default();
            if path.starts_with("/json/2/") {
                eligible += 1;
                let (status, _) = server.post(path, &request["body"]);
                assert_eq!(
                    Some(status as u64),
                    call["http_status"].as_u64(),
                    "{file}: {note}"
                );
                compared += 1;
                continue;
            }
            if path != "/jsonrpc" {
                continue; // XML-RPC and /json/1 are not part of what pipelog speaks.
            }
            eligible += 1;
            let args = &request["body"]["params"]["args"];
            let target = match args[0].as_str() {
                Some(db) if db.ends_with("_scratch") => &scratch,
                Some("salesmutate") => &mutated,
                _ => &server,
            };
            let (_, answer) = target.post(path, &request["body"]);
            let recorded = &call["response"];
            assert_eq!(
                recorded.get("error").is_some(),
                answer.get("error").is_some(),
                "{file}: {note}: {answer}"
            );
            if let Some(error) = recorded.get("error") {
                assert_eq!(
                    error["data"]["name"], answer["error"]["data"]["name"],
                    "{file}: {note}"
                );
                compared += 1;
                continue;
            }
            let (expected, got) = (&recorded["result"], &answer["result"]);
            // An empty list would pass any shape: the simulation must hold such records too.
            if expected.as_array().is_some_and(|a| !a.is_empty()) {
                assert!(
                    got.as_array().is_some_and(|a| !a.is_empty()),
                    "{file}: {note}: answered {got}"
                );
            }
            let same = match (expected, got) {
                // fields_get and version: the same keys, each described the same way.
                (Value::Object(a), Value::Object(b)) => {
                    a.keys().all(|k| b.contains_key(k)) && b.keys().all(|k| a.contains_key(k))
                }
                _ => compatible(expected, got),
            };
            assert!(
                same,
                "{file}: {note}:\n recorded {expected}\n answered {got}"
            );
            compared += 1;
        }
    }
    assert_eq!(compared, eligible);
    assert!(compared >= 80, "compared {compared} recorded calls");
}
