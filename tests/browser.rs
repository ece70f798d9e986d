//! The dashboard in a real headless browser (Debian's Chromium, driven by playwright-core from
//! `tests/browser/`), against the real binary:
//! - in demo mode: sign-in as a salesperson, a manager and an admin, each seeing exactly their reach
//!   with the page's numbers equal to the API's; shared filters; drill-down from cards, charts and
//!   the team table; a timeline; reassignment; a sign-up and its approval; a manager override;
//!   verify; CSV export;
//!   dark mode on a phone;
//! - the history pages in demo mode: the waterfall adds up and each bar opens its deals, the
//!   trend's columns open the lists as of their instant, the dashboard as of a past day reconciles,
//!   a manager's feed stays within reach; phones and desktops, light and dark;
//! - synced from the simulated Odoo: the first admin created through the setup link, their numbers
//!   equal the API's, and how fast they show
//!   (Performance API). `PIPELOG_BROWSER_OPPORTUNITIES` sets the size (default 5,000); the figure in
//!   the README comes from `PIPELOG_BROWSER_OPPORTUNITIES=100000 cargo test --release --test browser`.
//!
//! Screenshots go to `target/screenshots/`. Needs `chromium` and `npm ci --prefix tests/browser`
//! (`.ci/run` installs both).

mod support;

use std::path::PathBuf;
use std::process::{Child, Command};

use support::{FakeServer, Pipelog, start_server, start_server_with_preamble};

fn scripts() -> PathBuf {
    let scripts = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    assert!(
        scripts.join("node_modules/playwright-core").exists(),
        "browser tests need their driver: run `npm ci --prefix tests/browser` (and install chromium)"
    );
    scripts
}

fn screenshots() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/screenshots")
}

/// Runs a browser script with `args`, stops `server`, and returns the JSON the script printed.
fn run_script(script: &str, args: &[&str], mut server: Child) -> serde_json::Value {
    let output = Command::new("node")
        .arg(script)
        .args(args)
        .current_dir(scripts())
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
    eprintln!("browser results ({script}): {stdout}");
    serde_json::from_str(stdout.trim()).expect("results")
}

#[test]
fn the_dashboard_shows_each_person_their_reach_in_a_real_browser() {
    scripts();
    let dir = tempfile::tempdir().expect("dir");
    let mut serve = Command::new(env!("CARGO_BIN_EXE_pipelog"));
    serve
        .arg("--data")
        .arg(dir.path().join("browser.redb"))
        .args(["serve", "--demo", "--listen", "127.0.0.1:0"]);
    let (server, url) = start_server(serve);
    let shots = screenshots();
    let shots_arg = shots.to_string_lossy();
    let results = run_script("dashboard.mjs", &[&url, &shots_arg], server);
    assert!(results["totals"]["salesperson"].as_u64() < results["totals"]["admin"].as_u64());
    for screen in ["desktop", "phone"] {
        for scheme in ["light", "dark"] {
            let shot = shots.join(format!("dashboard-{screen}-{scheme}.png"));
            assert!(shot.exists(), "{} was taken", shot.display());
        }
    }
}

#[test]
fn the_history_pages_add_up_and_open_their_deals_in_a_real_browser() {
    scripts();
    let dir = tempfile::tempdir().expect("dir");
    let mut serve = Command::new(env!("CARGO_BIN_EXE_pipelog"));
    serve
        .arg("--data")
        .arg(dir.path().join("history.redb"))
        .args(["serve", "--demo", "--listen", "127.0.0.1:0"]);
    let (server, url) = start_server(serve);
    let shots = screenshots();
    let shots_arg = shots.to_string_lossy();
    let results = run_script("history.mjs", &[&url, &shots_arg], server);
    assert!(results["bars"].as_u64() > Some(4), "{results}");
    assert!(results["columns"].as_u64() > Some(2), "{results}");
    for screen in ["desktop", "phone"] {
        for scheme in ["light", "dark"] {
            for page in ["history", "activity", "risk", "velocity"] {
                let shot = shots.join(format!("{page}-{screen}-{scheme}.png"));
                assert!(shot.exists(), "{} was taken", shot.display());
            }
        }
    }
}

#[test]
fn the_dashboard_synced_from_the_simulated_odoo_shows_its_numbers_quickly() {
    scripts();
    let opportunities: usize = std::env::var("PIPELOG_BROWSER_OPPORTUNITIES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(5_000);
    let fake = FakeServer::start(pipelog::demo::CrmOptions {
        users: (opportunities / 50).clamp(20, 2_000),
        opportunities,
        partners: (opportunities / 5).max(20),
        seed: 11,
        ..Default::default()
    });
    let pipelog = Pipelog::new(&fake.url, "schedule = \"0 0 1 1 *\"");
    let synced = pipelog.sync(&[]);
    assert!(synced.status.success(), "{}", support::text(&synced));
    // No admin yet: the server prints a one-time setup link, which the script follows.
    let (server, url, preamble) =
        start_server_with_preamble(pipelog.command(&["serve", "--listen", "127.0.0.1:0"]));
    let setup = preamble
        .iter()
        .find_map(|line| {
            line.trim()
                .strip_prefix("http://")?
                .split_once("/#/setup?token=")
        })
        .map(|(_, token)| token.to_string())
        .expect("a setup link");
    let shots = screenshots();
    let shots_arg = shots.to_string_lossy();
    let results = run_script(
        "scale.mjs",
        &[&url, &shots_arg, "ops@example.com", "ops-password", &setup],
        server,
    );
    assert!(
        results["opportunities"].as_u64() >= Some(opportunities as u64 / 2),
        "{results}"
    );
    for figure in [
        "dashboard_load_ms_median",
        "dashboard_navigation_ms_median",
        "team_dashboard_navigation_ms_median",
        "period_dashboard_navigation_ms_median",
        "opportunities_navigation_ms_median",
    ] {
        assert!(results[figure].as_f64().is_some(), "{figure}: {results}");
    }
}
