//! The real `pipelog serve --demo`: starts, syncs the demo CRM, serves the API with sign-in, stops
//! cleanly on SIGTERM, and keeps sessions and data across a restart. And `pipelog user add`.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::text;

struct Server {
    child: Child,
    url: String,
}

impl Server {
    fn start(data: &std::path::Path) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_pipelog"))
            .args(["--data"])
            .arg(data)
            .args(["serve", "--demo", "--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("starts");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut url = None;
        let mut banner = String::new();
        while url.is_none() && Instant::now() < deadline {
            let Some(Ok(line)) = lines.next() else { break };
            banner.push_str(&line);
            banner.push('\n');
            url = line
                .strip_prefix("pipelog listening on ")
                .map(str::to_string);
        }
        let url = url.unwrap_or_else(|| panic!("no listening line in:\n{banner}"));
        assert!(
            banner.contains("DEMO MODE") && banner.contains("admin@example.com / demo"),
            "{banner}"
        );
        std::thread::spawn(move || for _ in lines {});
        Server { child, url }
    }

    fn stop(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill runs");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().expect("waits") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the server did not stop within 30 s of SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client")
}

fn sign_in(client: &reqwest::blocking::Client, url: &str, email: &str) -> String {
    let response = client
        .post(format!("{url}/api/auth/login"))
        .json(&serde_json::json!({"email": email, "password": "demo"}))
        .send()
        .expect("login");
    assert_eq!(response.status(), 200);
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .expect("ascii")
        .to_string();
    cookie.split(';').next().expect("pair").to_string()
}

#[test]
fn demo_serves_signs_in_stops_cleanly_and_keeps_sessions_across_restarts() {
    let dir = tempfile::tempdir().expect("dir");
    let data = dir.path().join("demo.redb");
    let server = Server::start(&data);
    let client = client();
    let health: serde_json::Value = client
        .get(format!("{}/healthz", server.url))
        .send()
        .expect("health")
        .json()
        .expect("json");
    assert_eq!(health["status"], "ok");
    assert_eq!(health["sync"]["configured"], true);

    let admin = sign_in(&client, &server.url, "admin@example.com");
    let dashboard: serde_json::Value = client
        .get(format!("{}/api/dashboard", server.url))
        .header("cookie", &admin)
        .send()
        .expect("dashboard")
        .json()
        .expect("json");
    assert!(
        dashboard["currencies"]["EUR"]["active_opportunities"]
            .as_i64()
            .is_some_and(|n| n > 0),
        "{dashboard}"
    );

    // A salesperson sees fewer opportunities than the admin.
    let team: serde_json::Value = client
        .get(format!("{}/api/team", server.url))
        .header("cookie", &admin)
        .send()
        .expect("team")
        .json()
        .expect("json");
    assert!(
        team["team"].as_array().is_some_and(|t| !t.is_empty()),
        "{team}"
    );
    let total = |url: &str, cookie: &str| -> u64 {
        let page: serde_json::Value = client
            .get(format!("{url}/api/opportunities"))
            .header("cookie", cookie)
            .send()
            .expect("list")
            .json()
            .expect("json");
        page["total"].as_u64().expect("total")
    };
    let all = total(&server.url, &admin);
    let seller = sign_in(&client, &server.url, "mark.brown23@example.com");
    let own = total(&server.url, &seller);
    assert!(own > 0 && own < all, "salesperson {own} of {all}");

    let status = server.stop();
    assert!(status.success(), "clean exit on SIGTERM: {status}");

    let again = Server::start(&data);
    let me = client
        .get(format!("{}/api/me", again.url))
        .header("cookie", &admin)
        .send()
        .expect("me");
    assert_eq!(me.status(), 200, "the session survived the restart");
    assert!(
        total(&again.url, &admin) > 0,
        "the data survived the restart"
    );
    let verify = Command::new(env!("CARGO_BIN_EXE_pipelog"))
        .arg("--data")
        .arg(&data)
        .arg("verify")
        .output()
        .expect("verify");
    assert!(
        verify.status.success(),
        "verify beside the running server: {}",
        text(&verify)
    );
    assert!(again.stop().success());
}

#[test]
fn user_add_reads_the_password_from_stdin_and_refuses_weak_or_duplicate_accounts() {
    let dir = tempfile::tempdir().expect("dir");
    let data = dir.path().join("users.redb");
    let add = |email: &str, password: &str| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_pipelog"))
            .arg("--data")
            .arg(&data)
            .args(["user", "add", email, "--admin"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("runs");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(format!("{password}\n").as_bytes())
            .expect("write");
        child.wait_with_output().expect("output")
    };
    let ok = add("Root@Example.com", "a-long-password");
    assert!(ok.status.success(), "{}", text(&ok));
    assert!(text(&ok).contains("added root@example.com (admin)"));
    let duplicate = add("root@example.com", "another-password");
    assert!(
        text(&duplicate).contains("exists already"),
        "{}",
        text(&duplicate)
    );
    let weak = add("weak@example.com", "short");
    assert!(
        text(&weak).contains("at least 8 characters"),
        "{}",
        text(&weak)
    );
    let bad = add("not-an-email", "a-long-password");
    assert!(
        text(&bad).contains("is not an email address"),
        "{}",
        text(&bad)
    );
    let status = Command::new(env!("CARGO_BIN_EXE_pipelog"))
        .arg("--data")
        .arg(&data)
        .args(["status", "--json"])
        .output()
        .expect("status");
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).expect("json");
    assert_eq!(status["logins"], 1);
    assert!(
        !std::fs::read(&data)
            .expect("file")
            .windows(15)
            .any(|w| w == b"a-long-password"),
        "no plain password in the file"
    );
}
