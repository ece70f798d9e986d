//! What one unauthenticated (or lowly) client can do to the real `pipelog serve`, and what it can no
//! longer do: fill the disk through sign-up, hold sockets until the server stops answering, reuse
//! an idempotency key, lock people out through the sign-in throttle, take memory with backups,
//! smuggle formulas into CSV, pass the Origin check by DNS rebinding, or get an error that is not
//! JSON. All traffic stays on loopback; every loop is bounded in count and time.

mod support;

use std::io::{Read, Write};
use std::net::{IpAddr, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

use pipelog::demo::{Fault, FaultKind, FaultedMethod};
use serde_json::{Value, json};
use support::{FakeServer, Pipelog, Running, session_cookie, small_crm};

/// `pipelog serve --demo` on a fresh data file with `config` as its configuration, under an
/// open-file limit of `files`.
fn demo(dir: &std::path::Path, config: &str, files: u32) -> Running {
    let config_path = dir.join("pipelog.toml");
    std::fs::write(&config_path, config).expect("config");
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg(format!("ulimit -n {files} && exec \"$0\" \"$@\""))
        .arg(env!("CARGO_BIN_EXE_pipelog"))
        .arg("--data")
        .arg(dir.join("demo.redb"))
        .args(["serve", "--demo", "--listen", "127.0.0.1:0"])
        .env("PIPELOG_CONFIG", &config_path);
    for (name, _) in std::env::vars() {
        if name.starts_with("PIPELOG_") && name != "PIPELOG_CONFIG" {
            command.env_remove(name);
        }
    }
    Running::start(command)
}

fn client_from(address: &str) -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(20))
        .local_address(address.parse::<IpAddr>().expect("address"))
        .build()
        .expect("client")
}

fn client() -> reqwest::blocking::Client {
    client_from("127.0.0.1")
}

fn sign_in(client: &reqwest::blocking::Client, url: &str, email: &str, password: &str) -> String {
    let response = client
        .post(format!("{url}/api/auth/login"))
        .json(&json!({"email": email, "password": password}))
        .send()
        .expect("login");
    assert_eq!(response.status(), 200, "{email} signs in");
    session_cookie(&response)
}

fn error_code(response: reqwest::blocking::Response) -> (u16, String) {
    let status = response.status().as_u16();
    let content_type = response.headers()["content-type"]
        .to_str()
        .expect("ascii")
        .to_string();
    assert!(
        content_type.starts_with("application/json"),
        "{status}: {content_type}"
    );
    let body: Value = response.json().expect("json error");
    let code = body["error"]["code"]
        .as_str()
        .expect("error.code")
        .to_string();
    assert!(body["error"]["message"].is_string(), "{body}");
    (status, code)
}

#[test]
fn sign_up_is_bounded_validated_throttled_and_the_accounts_list_is_paged() {
    let dir = tempfile::tempdir().expect("dir");
    let server = demo(dir.path(), "", 4096);
    let url = &server.url;
    let http = client();
    let signup = |http: &reqwest::blocking::Client, email: &str, name: &str| {
        http.post(format!("{url}/api/auth/signup"))
            .json(&json!({"email": email, "name": name, "password": "long enough"}))
            .send()
            .expect("signup")
    };
    // A name of a few KB, a body over the sign-in limit, an email with markup in it.
    let (status, _) = error_code(signup(&http, "big@example.com", &"x".repeat(3_000)));
    assert_eq!(status, 400);
    let (status, code) = error_code(signup(&http, "huge@example.com", &"x".repeat(200_000)));
    assert_eq!((status, code.as_str()), (413, "payload_too_large"));
    let (status, _) = error_code(signup(&http, "<script>alert(1)</script>@x.y", "Mallory"));
    assert_eq!(status, 400);

    // Five sign-ups an hour from one address; a sixth waits. Another address still may.
    for n in 0..5 {
        assert_eq!(
            signup(&http, &format!("new{n}@example.com"), "New").status(),
            202
        );
    }
    let refused = signup(&http, "new5@example.com", "New");
    assert!(refused.headers().contains_key("retry-after"));
    assert_eq!(error_code(refused), (429, "throttled".to_string()));
    let elsewhere = client_from("127.0.0.2");
    assert_eq!(signup(&elsewhere, "new6@example.com", "New").status(), 202);

    let admin = sign_in(&http, url, "admin@example.com", "demo");
    let page: Value = http
        .get(format!("{url}/api/admin/accounts?per_page=3"))
        .header("cookie", &admin)
        .send()
        .expect("accounts")
        .json()
        .expect("json");
    assert_eq!(page["accounts"].as_array().expect("list").len(), 3);
    assert!(page["total"].as_u64().expect("total") > 20, "{page}");
    assert_eq!(page["accounts"][0]["status"], "pending", "waiting first");
    let pending: Value = http
        .get(format!(
            "{url}/api/admin/accounts?status=pending&per_page=200"
        ))
        .header("cookie", &admin)
        .send()
        .expect("accounts")
        .json()
        .expect("json");
    assert_eq!(pending["total"], 6, "{pending}");
}

/// Opens `count` connections that send half a request's headers and then nothing.
fn half_open(address: &str, count: usize) -> Vec<TcpStream> {
    (0..count)
        .filter_map(|_| {
            let mut stream = TcpStream::connect(address).ok()?;
            stream
                .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
                .ok()?;
            Some(stream)
        })
        .collect()
}

/// Whether the server closed `stream` within `within` (a read ends, with or without an answer).
fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    stream.set_read_timeout(Some(within)).expect("read timeout");
    let mut buffer = [0u8; 4096];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(error)
                if matches!(
                    error.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return false;
            }
            Err(_) => return true,
        }
    }
}

#[test]
fn slow_and_greedy_clients_are_cut_off_and_healthz_keeps_answering() {
    let dir = tempfile::tempdir().expect("dir");
    let server = demo(
        dir.path(),
        "[server]\nmax_connections_per_address = 64\nheader_timeout_seconds = 2\nbody_timeout_seconds = 2\n",
        400,
    );
    let address = server.address();
    // One client holds far more sockets than the server may open files.
    let mut held = half_open(&address, 600);
    assert!(held.len() > 500, "the kernel accepted the connections");
    let monitor = client_from("127.0.0.2");
    let health = monitor
        .get(format!("{}/healthz", server.url))
        .send()
        .expect("healthz answers while one client holds hundreds of sockets");
    assert_eq!(health.status(), 200);
    // Half-sent headers are cut off after the header timeout (2 s here).
    assert!(
        closed_within(&mut held[0], Duration::from_secs(6)),
        "a connection that never finishes its headers is closed"
    );
    drop(held);

    // An idle keep-alive connection is closed too. (Until the server has seen the sockets above
    // close, a new one may get only a health-only slot, which closes after one answer, or no slot
    // at all, which the server closes unanswered: both mean "try again shortly".)
    let mut idle = None;
    for _ in 0..50 {
        let mut stream = TcpStream::connect(&address).expect("connect");
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            .expect("request");
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        let mut head = [0u8; 1024];
        let n = match stream.read(&mut head) {
            Ok(n) if n > 0 => n,
            Ok(_) | Err(_) => {
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
        };
        let head = String::from_utf8_lossy(&head[..n]).to_lowercase();
        assert!(head.starts_with("http/1.1 200"), "{head}");
        if !head.contains("connection: close") {
            idle = Some(stream);
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut idle = idle.expect("a regular connection once the held sockets are gone");
    let started = Instant::now();
    assert!(closed_within(&mut idle, Duration::from_secs(8)));
    assert!(
        started.elapsed() >= Duration::from_millis(1_500),
        "closed before the idle timeout"
    );

    // A body that stops halfway gets 408 once the body timeout passes.
    let mut slow = TcpStream::connect(&address).expect("connect");
    slow.write_all(
        b"POST /api/auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"email\":",
    )
    .expect("partial body");
    slow.set_read_timeout(Some(Duration::from_secs(8)))
        .expect("timeout");
    let mut answer = String::new();
    let _ = slow.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("\"timeout\""), "{answer}");
}

#[test]
fn idempotency_keys_are_scoped_bound_to_their_request_and_checked_after_permissions() {
    let odoo = FakeServer::start(small_crm());
    let (_pipelog, server) = Pipelog::sync_and_serve(
        &odoo,
        &[
            ("boss@example.com", "boss-password"),
            ("other@example.com", "other-password"),
        ],
    );
    let url = server.url.clone();
    let http = client();
    let boss = sign_in(&http, &url, "boss@example.com", "boss-password");
    let other = sign_in(&http, &url, "other@example.com", "other-password");
    let leads: Vec<u64> = odoo
        .fake
        .crm()
        .table("crm.lead")
        .expect("leads")
        .iter()
        .filter(|(_, lead)| lead["user_id"].as_u64().is_some_and(|u| u != 11))
        .map(|(id, _)| *id)
        .take(2)
        .collect();
    let assign = |cookie: &str, key: &str, lead: u64, salesperson: u64| {
        http.post(format!("{url}/api/opportunities/{lead}/assign"))
            .header("cookie", cookie)
            .header("idempotency-key", key)
            .json(&json!({"salesperson": salesperson}))
            .send()
            .expect("assign")
    };
    assert_eq!(assign(&boss, "k1", leads[0], 11).status(), 200);
    let replay: Value = assign(&boss, "k1", leads[0], 11).json().expect("json");
    assert_eq!(replay["replayed"], true);
    // The same key with another body, or for another opportunity: 422, nothing done.
    assert_eq!(
        error_code(assign(&boss, "k1", leads[0], 12)),
        (422, "idempotency_key_reused".to_string())
    );
    assert_eq!(error_code(assign(&boss, "k1", leads[1], 11)).0, 422);
    // Another caller's key is another key: it does its own work.
    let theirs: Value = assign(&other, "k1", leads[1], 12).json().expect("json");
    assert_eq!(theirs["replayed"], false, "{theirs}");
    assert_eq!(
        odoo.fake.crm().table("crm.lead").expect("leads")[&leads[1]]["user_id"],
        json!(12)
    );

    // Two requests with one key at once: the second is told to wait, and Odoo is written once.
    odoo.fake.inject(Fault {
        kind: FaultKind::Latency,
        after: 0,
        count: 1,
        delay_ms: 1_500,
        only: Some(FaultedMethod::Write),
    });
    // Writes only: the server's own syncs may read from Odoo meanwhile.
    let writes_before = odoo.fake.calls_of(FaultedMethod::Write);
    let (first, second) = std::thread::scope(|scope| {
        let first = scope.spawn(|| assign(&boss, "k2", leads[1], 11).status().as_u16());
        std::thread::sleep(Duration::from_millis(300));
        let second = assign(&boss, "k2", leads[1], 11);
        (first.join().expect("first"), error_code(second))
    });
    assert_eq!(first, 200);
    assert_eq!(second, (409, "in_progress".to_string()));
    assert_eq!(
        odoo.fake.calls_of(FaultedMethod::Write) - writes_before,
        1,
        "one write to Odoo"
    );
}

#[test]
fn a_salesperson_gets_no_replay_of_a_reassignment_they_may_not_make() {
    let dir = tempfile::tempdir().expect("dir");
    let server = demo(dir.path(), "", 4096);
    let http = client();
    let admin = sign_in(&http, &server.url, "admin@example.com", "demo");
    let accounts: Value = http
        .get(format!("{}/api/admin/accounts?per_page=200", server.url))
        .header("cookie", &admin)
        .send()
        .expect("accounts")
        .json()
        .expect("json");
    // Someone who manages nobody.
    let mut seller = None;
    for account in accounts["accounts"].as_array().expect("accounts") {
        let Some(id) = account["user_id"].as_u64() else {
            continue;
        };
        let dashboard: Value = http
            .get(format!("{}/api/dashboard?user={id}", server.url))
            .header("cookie", &admin)
            .send()
            .expect("dashboard")
            .json()
            .expect("json");
        let reports = dashboard["team_table"]
            .as_array()
            .expect("team table")
            .iter()
            .filter(|row| row["kind"] == "report")
            .count();
        if reports == 0 {
            seller = Some((id, account["email"].as_str().expect("email").to_string()));
            break;
        }
    }
    let (seller_id, email) = seller.expect("a salesperson without reports");
    let cookie = sign_in(&http, &server.url, &email, "demo");
    let mine: Value = http
        .get(format!("{}/api/opportunities?per_page=1", server.url))
        .header("cookie", &cookie)
        .send()
        .expect("list")
        .json()
        .expect("json");
    let lead = mine["items"][0]["id"].as_u64().expect("one of theirs");
    let assign = |cookie: &str| {
        http.post(format!("{}/api/opportunities/{lead}/assign", server.url))
            .header("cookie", cookie)
            .header("idempotency-key", "shared-key")
            .json(&json!({"salesperson": seller_id}))
            .send()
            .expect("assign")
    };
    assert_eq!(assign(&admin).status(), 200, "the admin may");
    assert_eq!(
        error_code(assign(&cookie)).0,
        403,
        "the same key proves nothing"
    );
}

#[test]
fn the_sign_in_throttle_slows_pairs_not_accounts_and_believes_only_trusted_proxies() {
    let dir = tempfile::tempdir().expect("dir");
    let server = demo(
        dir.path(),
        "[server]\ntrusted_proxies = [\"127.0.0.1\"]\n",
        4096,
    );
    let login = |from: &str, forwarded: Option<&str>, password: &str| {
        let mut request = client_from(from)
            .post(format!("{}/api/auth/login", server.url))
            .json(&json!({"email": "admin@example.com", "password": password}));
        if let Some(forwarded) = forwarded {
            request = request.header("x-forwarded-for", forwarded);
        }
        request.send().expect("login").status().as_u16()
    };
    // Through the trusted proxy, the forwarded address is the client.
    for _ in 0..6 {
        assert!([401, 429].contains(&login("127.0.0.1", Some("203.0.113.5"), "wrong")));
    }
    assert_eq!(
        login("127.0.0.1", Some("203.0.113.5"), "demo"),
        429,
        "that pair waits"
    );
    assert_eq!(
        login("127.0.0.1", Some("198.51.100.8"), "demo"),
        200,
        "the account is not locked for its owner elsewhere"
    );
    // From an untrusted peer the header is ignored: the peer is the client.
    for _ in 0..6 {
        assert!([401, 429].contains(&login("127.0.0.2", Some("192.0.2.1"), "wrong")));
    }
    assert_eq!(login("127.0.0.2", Some("192.0.2.2"), "demo"), 429);
    assert_eq!(login("127.0.0.3", None, "demo"), 200);
}

fn resident_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

#[test]
fn backups_stream_without_holding_the_file_in_memory_two_at_a_time() {
    let odoo = FakeServer::start(pipelog::demo::CrmOptions {
        users: 40,
        opportunities: 12_000,
        partners: 2_000,
        seed: 3,
        ..pipelog::demo::CrmOptions::default()
    });
    let (pipelog, server) =
        Pipelog::sync_and_serve(&odoo, &[("boss@example.com", "boss-password")]);
    let file_bytes = std::fs::metadata(pipelog.data()).expect("data file").len();
    assert!(
        // Compressed and compacted after its first sync, 12,000 deals with their history take
        // about 30 MB: a download holding it whole would grow by three times the limit below.
        file_bytes > 20_000_000,
        "a file large enough to see: {file_bytes}"
    );
    let url = server.url.clone();
    let http = client();
    let cookie = sign_in(&http, &url, "boss@example.com", "boss-password");
    let download = || {
        http.get(format!("{url}/api/admin/backup"))
            .header("cookie", &cookie)
            .send()
            .expect("backup")
    };
    // A first download fills redb's page cache (bounded at 32 MiB), which a start from the model
    // snapshot leaves cold: what is measured is what a download holds beyond it.
    let mut warm_up = download();
    assert_eq!(warm_up.status(), 200);
    std::io::copy(&mut warm_up, &mut std::io::sink()).expect("downloads");
    // The server's resident memory while one download is read slowly, against the file's size.
    let before = resident_kib(server.child.id());
    let mut streamed = download();
    assert_eq!(streamed.status(), 200);
    let length: u64 = streamed.headers()["content-length"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("length");
    let mut received = 0u64;
    let mut most = before;
    let mut chunk = vec![0u8; 256 * 1024];
    loop {
        let n = streamed.read(&mut chunk).expect("read");
        if n == 0 {
            break;
        }
        received += n as u64;
        most = most.max(resident_kib(server.child.id()));
    }
    assert_eq!(received, length);
    let grew_kib = most.saturating_sub(before);
    eprintln!("resident memory grew by {grew_kib} KiB during a {file_bytes}-byte download");
    assert!(
        grew_kib * 1024 < file_bytes / 3,
        "resident memory grew by {grew_kib} KiB for a {file_bytes}-byte file"
    );
    // Two downloads may run at once; a third is told to come back.
    let a = download();
    let b = download();
    let third = download();
    assert_eq!((a.status().as_u16(), b.status().as_u16()), (200, 200));
    assert_eq!(error_code(third), (503, "unavailable".to_string()));
    drop((a, b));
}

#[test]
fn csv_exports_neutralise_formulas() {
    let odoo = FakeServer::start(small_crm());
    let lead = {
        let mut crm = odoo.fake.crm();
        let id = *crm
            .table("crm.lead")
            .expect("leads")
            .iter()
            .find(|(_, lead)| lead["type"] == "opportunity" && lead["active"] == true)
            .expect("an opportunity")
            .0;
        crm.update(
            "crm.lead",
            id,
            pipelog::demo::crm::obj(json!({"name": "=HYPERLINK(\"https://evil.example\",\"x\")"})),
        );
        id
    };
    let (_pipelog, server) =
        Pipelog::sync_and_serve(&odoo, &[("boss@example.com", "boss-password")]);
    let url = server.url.clone();
    let http = client();
    let cookie = sign_in(&http, &url, "boss@example.com", "boss-password");
    let csv = http
        .get(format!("{url}/api/opportunities?per_page=500"))
        .header("cookie", &cookie)
        .header("accept", "text/csv")
        .send()
        .expect("csv")
        .text()
        .expect("text");
    let row = csv
        .lines()
        .find(|line| line.starts_with(&format!("{lead},")))
        .expect("the lead's row");
    assert!(
        row.contains("\"'=HYPERLINK(\"\"https://evil.example\"\",\"\"x\"\")\""),
        "{row}"
    );
}

#[test]
fn origins_are_compared_by_scheme_host_and_port_without_a_base_url() {
    let dir = tempfile::tempdir().expect("dir");
    let server = demo(dir.path(), "", 4096);
    let http = client();
    let login = |host: &str, origin: &str| {
        http.post(format!("{}/api/auth/login", server.url))
            .header("host", host)
            .header("origin", origin)
            .json(&json!({"email": "admin@example.com", "password": "demo"}))
            .send()
            .expect("login")
            .status()
            .as_u16()
    };
    assert_eq!(
        login("evil.example", "http://evil.example"),
        403,
        "DNS rebinding"
    );
    let own = server.url.clone();
    assert_eq!(
        login(&server.address(), &own.replace("http://", "https://")),
        403
    );
    assert_eq!(login(&server.address(), &own), 200);
}

#[test]
fn every_error_is_json_data_is_not_cached_logs_have_no_colour_and_bad_flags_create_nothing() {
    let dir = tempfile::tempdir().expect("dir");
    let server = demo(dir.path(), "", 4096);
    let url = &server.url;
    let http = client();
    let admin = sign_in(&http, url, "admin@example.com", "demo");
    let big = http
        .post(format!("{url}/api/users/1/manager"))
        .header("cookie", &admin)
        .header("content-type", "application/json")
        .body(format!("{{\"manager\": {}}}", " ".repeat(100_000)))
        .send()
        .expect("big");
    assert_eq!(
        big.headers()["connection"],
        "close",
        "the unread body ends the connection, and the answer says so"
    );
    let (status, code) = error_code(big);
    assert_eq!((status, code.as_str()), (413, "payload_too_large"));
    let (status, _) = error_code(
        http.get(format!("{url}/api/opportunities/%ff"))
            .header("cookie", &admin)
            .send()
            .expect("bad path"),
    );
    assert_eq!(status, 400);
    let (status, code) = error_code(
        http.get(format!("{url}/api/nothing-here"))
            .send()
            .expect("404"),
    );
    assert_eq!((status, code.as_str()), (404, "not_found"));
    let (status, _) = error_code(http.delete(format!("{url}/api/me")).send().expect("405"));
    assert_eq!(status, 405);
    let (status, code) = error_code(
        http.post(format!("{url}/api/auth/login"))
            .header("content-type", "text/plain")
            .body("{}")
            .send()
            .expect("415"),
    );
    assert_eq!((status, code.as_str()), (415, "unsupported_media_type"));
    let me = http
        .get(format!("{url}/api/me"))
        .header("cookie", &admin)
        .send()
        .expect("me");
    assert_eq!(me.headers()["cache-control"], "no-store");

    // Logs into a file carry no colour codes.
    let log = dir.path().join("serve.log");
    let data = dir.path().join("logs.redb");
    let mut logged = Command::new(env!("CARGO_BIN_EXE_pipelog"))
        .arg("--data")
        .arg(&data)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("PIPELOG_LOG", "info")
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log file"))
        .spawn()
        .expect("starts");
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::fs::read_to_string(&log).map_or(true, |text| !text.contains("accepting connections"))
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = logged.kill();
    let _ = logged.wait();
    let text = std::fs::read_to_string(&log).expect("log");
    assert!(text.contains("accepting connections"), "{text}");
    assert!(!text.contains('\u{1b}'), "no ANSI escapes: {text:?}");

    // A listen address that is not one fails before any data file exists.
    let untouched = dir.path().join("untouched.redb");
    let output = Command::new(env!("CARGO_BIN_EXE_pipelog"))
        .arg("--data")
        .arg(&untouched)
        .args(["serve", "--listen", "notanaddr"])
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("cannot listen on \"notanaddr\""),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(!untouched.exists(), "no data file was created");
}
