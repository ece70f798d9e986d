//! A full disk and a read-only data directory: pipelog says so plainly, keeps answering reads,
//! never corrupts the file, and works again once space (or write access) returns. Uses a small
//! tmpfs mount, so it needs root (as in CI).

mod support;

use std::path::Path;
use std::process::Command;

use support::{FakeServer, Pipelog, text};

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

struct Mount(std::path::PathBuf);

impl Mount {
    fn tmpfs(path: &Path, size: &str) -> Mount {
        std::fs::create_dir_all(path).expect("mount point");
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(path)
            .status()
            .expect("mount runs");
        assert!(status.success(), "mount a tmpfs at {}", path.display());
        Mount(path.to_path_buf())
    }

    fn remount(&self, options: &str) {
        let status = Command::new("mount")
            .args(["-o", &format!("remount,{options}")])
            .arg(&self.0)
            .status()
            .expect("mount runs");
        assert!(status.success(), "remount {options}");
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// A simulated CRM too big for a 1.5 MB tmpfs, and pipelog with its data file on that tmpfs.
/// `None` when not root (mounting needs it).
fn on_a_small_disk(seed: u64, sync_config: &str) -> Option<(FakeServer, Pipelog, Mount)> {
    if !is_root() {
        eprintln!("skipped: mounting a tmpfs needs root");
        return None;
    }
    let server = FakeServer::start(pipelog::demo::CrmOptions {
        users: 40,
        opportunities: 3_000,
        partners: 300,
        seed,
        ..Default::default()
    });
    let mut pipelog = Pipelog::new(&server.url, sync_config);
    let mount = Mount::tmpfs(&pipelog.dir.path().join("small"), "1500k");
    pipelog.data = mount.0.join("pipelog.redb");
    Some((server, pipelog, mount))
}

#[test]
fn a_full_disk_and_a_read_only_directory_fail_plainly_and_recover() {
    let Some((_server, pipelog, mount)) =
        on_a_small_disk(3, "page_size = 200\n\n[data]\nsnapshot_every_events = 500")
    else {
        return;
    };

    // The first full sync does not fit.
    let full = pipelog.sync(&[]);
    assert!(!full.status.success());
    let said = text(&full);
    assert!(
        said.contains("No space left on device") || said.contains("os error 28"),
        "{said}"
    );
    // Reads still work, and what was committed is consistent.
    let status = pipelog.run(&["status", "--json"]);
    assert!(status.status.success(), "{}", text(&status));
    let verify = pipelog.run(&["verify"]);
    assert!(verify.status.success(), "{}", text(&verify));

    // Space returns: the next sync completes.
    mount.remount("size=64m");
    let again = pipelog.sync(&["--full"]);
    assert!(again.status.success(), "{}", text(&again));
    assert!(pipelog.run(&["verify"]).status.success());
    let events = pipelog.status()["events"].as_u64().expect("events");

    // A read-only directory: writing fails with a clear message, reading works.
    mount.remount("ro");
    let refused = pipelog.sync(&[]);
    assert!(!refused.status.success());
    assert!(
        text(&refused).contains("Read-only file system") || text(&refused).contains("os error 30"),
        "{}",
        text(&refused)
    );
    let status = pipelog.run(&["status", "--json"]);
    assert!(
        status.status.success(),
        "reads work on a read-only directory: {}",
        text(&status)
    );
    mount.remount("rw");
    assert!(pipelog.sync(&[]).status.success());
    assert!(pipelog.status()["events"].as_u64().expect("events") >= events);
    assert!(pipelog.run(&["verify"]).status.success());
}

/// The same full disk under a running server: the failed sync is reported, reads go on, and once
/// space returns the next sync succeeds without a restart.
#[test]
fn a_running_server_recovers_from_a_full_disk_without_a_restart() {
    use std::time::{Duration, Instant};

    use serde_json::{Value, json};

    let Some((_server, pipelog, mount)) = on_a_small_disk(
        4,
        "page_size = 200\nschedule = \"0 0 1 1 *\"\n\n[data]\nsnapshot_every_events = 500",
    ) else {
        return;
    };
    pipelog.add_admin("ops@example.com", "ops-password");
    let (mut child, url) =
        support::start_server(pipelog.command(&["serve", "--listen", "127.0.0.1:0"]));
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client");
    let signed_in = client
        .post(format!("{url}/api/auth/login"))
        .json(&json!({"email": "ops@example.com", "password": "ops-password"}))
        .send()
        .expect("login");
    assert_eq!(signed_in.status(), 200);
    let cookie = support::session_cookie(&signed_in);
    let get = |path: &str| -> (u16, Value) {
        let response = client
            .get(format!("{url}{path}"))
            .header("cookie", &cookie)
            .send()
            .expect("request");
        let status = response.status().as_u16();
        (status, response.json().unwrap_or(Value::Null))
    };
    // Starts a sync and waits for it to finish; returns the health report's sync part.
    let sync_and_wait = || -> Value {
        let finished_before = get("/healthz").1["sync"]["last_finished_at"].clone();
        let started = client
            .post(format!("{url}/api/sync"))
            .header("cookie", &cookie)
            .json(&json!({"full": true}))
            .send()
            .expect("sync now");
        assert!(started.status().is_success(), "{}", started.status());
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let (_, health) = get("/healthz");
            let sync = &health["sync"];
            if sync["running"] == false && sync["last_finished_at"] != finished_before {
                return health;
            }
            assert!(
                Instant::now() < deadline,
                "the sync did not finish: {health}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    };

    let full = sync_and_wait();
    let error = full["sync"]["last_error"].as_str().unwrap_or_default();
    assert!(
        error.contains("No space left on device") || error.contains("os error 28"),
        "{full}"
    );
    assert_eq!(full["store"], "ok", "reads go on: {full}");
    let (status, _) = get("/api/dashboard");
    assert_eq!(status, 200, "the dashboard still answers");

    mount.remount("size=64m");
    let again = sync_and_wait();
    assert_eq!(again["sync"]["last_error"], Value::Null, "{again}");
    assert_eq!(again["sync"]["consecutive_failures"], 0, "{again}");
    let (status, opportunities) = get("/api/opportunities?per_page=1");
    assert_eq!(status, 200);
    let total = opportunities["total"].as_u64().expect("total");
    assert!(
        total > 1_000,
        "the synced opportunities are served: {total}"
    );

    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    assert!(child.wait().expect("waits").success());
    let verify = pipelog.run(&["verify"]);
    assert!(verify.status.success(), "{}", text(&verify));
}
