//! The dashboard in a real headless browser (Debian's Chromium, driven by playwright-core from
//! `tests/browser/`): sign-in as a salesperson, a manager and an admin, each seeing exactly their
//! reach with the page's numbers equal to the API's; drill-down to a timeline; reassignment;
//! approval; CSV export; dark mode on a phone. Screenshots go to `target/screenshots/`.
//! Needs `chromium` and `npm ci --prefix tests/browser` (`.ci/run` installs both).

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn the_dashboard_shows_each_person_their_reach_in_a_real_browser() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let scripts = root.join("tests/browser");
    assert!(
        scripts.join("node_modules/playwright-core").exists(),
        "browser tests need their driver: run `npm ci --prefix tests/browser` (and install chromium)"
    );
    let dir = tempfile::tempdir().expect("dir");
    let mut server = Command::new(env!("CARGO_BIN_EXE_pipelog"))
        .arg("--data")
        .arg(dir.path().join("browser.redb"))
        .args(["serve", "--demo", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("starts");
    let mut lines = BufReader::new(server.stdout.take().expect("stdout")).lines();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut url = None;
    while url.is_none() && Instant::now() < deadline {
        match lines.next() {
            Some(Ok(line)) => {
                url = line
                    .strip_prefix("pipelog listening on ")
                    .map(str::to_string)
            }
            _ => break,
        }
    }
    std::thread::spawn(move || for _ in lines {});
    let url = url.expect("the server printed its address");
    let shots = root.join("target/screenshots");
    let output = Command::new("node")
        .arg("dashboard.mjs")
        .arg(&url)
        .arg(&shots)
        .current_dir(&scripts)
        .output();
    let _ = server.kill();
    let _ = server.wait();
    let output = output.expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    eprintln!("browser results: {stdout}");
    let results: serde_json::Value = serde_json::from_str(stdout.trim()).expect("results");
    assert!(results["totals"]["salesperson"].as_u64() < results["totals"]["admin"].as_u64());
    assert!(shots.join("phone-dark.png").exists());
}
