//! Schemathesis, an OpenAPI fuzzer, against the real `pipelog serve --demo` signed in as its
//! admin: generated requests for every operation must never get a 5xx, and every answer must
//! conform to the document (status codes, content types, schemas). Bounded in examples and time.
//!
//! It needs the `st` command: `.ci/run` installs it (pip, in `target/schemathesis`); elsewhere set
//! `PIPELOG_SCHEMATHESIS` to its path or put it on `PATH`. Without it the test says so and passes,
//! except under CI, where it fails.

mod support;

use std::path::PathBuf;
use std::process::Command;

use support::{Running, session_cookie};

fn schemathesis() -> Option<PathBuf> {
    if let Ok(path) = std::env::var("PIPELOG_SCHEMATHESIS") {
        return Some(PathBuf::from(path));
    }
    let installed = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/schemathesis/bin/st");
    if installed.exists() {
        return Some(installed);
    }
    Command::new("st")
        .arg("--version")
        .output()
        .ok()
        .filter(|output| output.status.success())
        .map(|_| PathBuf::from("st"))
}

#[test]
fn generated_requests_get_no_server_error_and_conforming_answers() {
    let Some(st) = schemathesis() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must run schemathesis: .ci/run installs it into target/schemathesis"
        );
        eprintln!("schemathesis is not installed (see this file's doc); not run");
        return;
    };
    let dir = tempfile::tempdir().expect("dir");
    let server = Running::demo(&dir.path().join("demo.redb"));
    let url = server.url.clone();
    let login = reqwest::blocking::Client::new()
        .post(format!("{url}/api/auth/login"))
        .json(&serde_json::json!({"email": "admin@example.com", "password": "demo"}))
        .send()
        .expect("login");
    let cookie = session_cookie(&login);
    let output = Command::new(&st)
        .args(["run", &format!("{url}/api/openapi.json")])
        .args(["--header", &format!("Cookie: {cookie}")])
        .args([
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
        ])
        // Signing out would leave the rest of the run without a session.
        .args(["--exclude-path", "/api/auth/logout"])
        .args(["--max-examples", "8", "--seed", "2026", "--max-time", "60"])
        .args(["--no-color", "--request-timeout", "20"])
        .output()
        .expect("schemathesis runs");
    drop(server);
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "schemathesis found problems:\n{report}"
    );
    let summary = report
        .lines()
        .find(|line| line.contains(" generated, "))
        .unwrap_or_default()
        .to_string();
    eprintln!("schemathesis: {}", summary.trim());
    assert!(
        summary.contains("passed") && !summary.contains("failed"),
        "{report}"
    );
}
