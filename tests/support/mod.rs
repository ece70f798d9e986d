//! Shared by the end-to-end tests: a simulated Odoo on loopback and the real `pipelog` binary.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

use pipelog::demo::{CrmOptions, FakeOdoo, serve};
use tokio::sync::oneshot;

/// A simulated Odoo served on an ephemeral loopback port for as long as this value lives.
pub struct FakeServer {
    pub url: String,
    pub fake: Arc<FakeOdoo>,
    stop: Option<oneshot::Sender<()>>,
    runtime: tokio::runtime::Runtime,
}

impl FakeServer {
    pub fn start(options: CrmOptions) -> FakeServer {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let fake = FakeOdoo::new(options);
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let (stop, stopped) = oneshot::channel::<()>();
        let served = fake.clone();
        runtime.spawn(async move {
            let _ = serve(listener, served, async {
                let _ = stopped.await;
            })
            .await;
        });
        FakeServer {
            url,
            fake,
            stop: Some(stop),
            runtime,
        }
    }

    /// Sends a raw JSON-RPC body and returns the decoded answer.
    pub fn post(&self, path: &str, body: &serde_json::Value) -> (u16, serde_json::Value) {
        let url = format!("{}{}", self.url, path);
        let body = body.clone();
        self.runtime.block_on(async move {
            let client = reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client");
            let response = client.post(url).json(&body).send().await.expect("request");
            let status = response.status().as_u16();
            let value = response.json().await.unwrap_or(serde_json::Value::Null);
            (status, value)
        })
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// The real binary on `data` with the configuration file `config`, and no `PIPELOG_*` setting
/// from the environment the tests run in.
pub fn pipelog_command(data: &Path, config: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_pipelog"));
    for (name, _) in std::env::vars() {
        if name.starts_with("PIPELOG_") {
            command.env_remove(name);
        }
    }
    command
        .arg("--data")
        .arg(data)
        .args(args)
        .env("PIPELOG_CONFIG", config);
    command
}

/// A temporary data file and config for the real binary, pointed at a fake server.
pub struct Pipelog {
    pub dir: tempfile::TempDir,
    pub data: PathBuf,
    pub config: PathBuf,
    pub url: String,
    pub login: String,
    pub password: String,
}

impl Pipelog {
    pub fn new(url: &str, extra_config: &str) -> Pipelog {
        let dir = tempfile::tempdir().expect("temp dir");
        let data = dir.path().join("pipelog.redb");
        let config = dir.path().join("pipelog.toml");
        std::fs::write(
            &config,
            format!("[odoo]\ndatabase = \"salesdemo\"\ntimeout_seconds = 5\nretries = 1\n\n[sync]\n{extra_config}\n"),
        )
        .expect("config");
        Pipelog {
            dir,
            data,
            config,
            url: url.to_string(),
            login: "admin".into(),
            password: "admin".into(),
        }
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = pipelog_command(&self.data, &self.config, args);
        command
            .env("PIPELOG_ODOO_URL", &self.url)
            .env("PIPELOG_ODOO_LOGIN", &self.login)
            .env("PIPELOG_ODOO_PASSWORD", &self.password);
        command
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("pipelog runs")
    }

    pub fn sync(&self, args: &[&str]) -> Output {
        let mut all = vec!["sync"];
        all.extend_from_slice(args);
        self.run(&all)
    }

    pub fn status(&self) -> serde_json::Value {
        let output = self.run(&["status", "--json"]);
        assert!(output.status.success(), "{}", text(&output));
        serde_json::from_slice(&output.stdout).expect("status json")
    }

    pub fn data(&self) -> &Path {
        &self.data
    }
}

pub fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

pub fn small_crm() -> CrmOptions {
    CrmOptions {
        users: 12,
        opportunities: 150,
        partners: 40,
        seed: 7,
        ..CrmOptions::default()
    }
}

/// Starts `command` (a `pipelog serve --listen 127.0.0.1:0`) and waits for its address. Returns the
/// child and the base URL; the rest of its output is drained in the background.
pub fn start_server(command: Command) -> (std::process::Child, String) {
    let (child, url, _) = start_server_with_preamble(command);
    (child, url)
}

/// [`start_server`], also returning what the server printed before its address (the first-admin
/// setup link, for one).
pub fn start_server_with_preamble(
    mut command: Command,
) -> (std::process::Child, String, Vec<String>) {
    use std::io::{BufRead, BufReader};
    use std::time::{Duration, Instant};
    let mut child = command
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("starts");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut preamble = Vec::new();
    while Instant::now() < deadline {
        let Some(Ok(line)) = lines.next() else { break };
        if let Some(url) = line.strip_prefix("pipelog listening on ") {
            let url = url.to_string();
            std::thread::spawn(move || for _ in lines {});
            return (child, url, preamble);
        }
        preamble.push(line);
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("the server did not start");
}

impl Pipelog {
    /// Adds an approved admin account through `pipelog user add`, the password on stdin.
    pub fn add_admin(&self, email: &str, password: &str) {
        add_account(self.command(&["user", "add", email, "--admin"]), password);
    }
}

/// Runs `add` (a `pipelog user add ...`) with `password` on its stdin, and checks it succeeded.
pub fn add_account(mut add: Command, password: &str) {
    use std::io::Write;
    let mut add = add
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("runs");
    add.stdin
        .take()
        .expect("stdin")
        .write_all(format!("{password}\n").as_bytes())
        .expect("write");
    assert!(add.wait().expect("waits").success());
}

/// The `name=value` pair of a sign-in answer's session cookie, to send back as `cookie`.
pub fn session_cookie(response: &reqwest::blocking::Response) -> String {
    response.headers()["set-cookie"]
        .to_str()
        .expect("ascii")
        .split(';')
        .next()
        .expect("pair")
        .to_string()
}

/// A running `pipelog serve`, killed when dropped.
pub struct Running {
    pub child: std::process::Child,
    pub url: String,
}

impl Running {
    /// Starts `command` (a `pipelog serve --listen 127.0.0.1:0`) as [`start_server`] does.
    pub fn start(command: Command) -> Running {
        let (child, url) = start_server(command);
        Running { child, url }
    }

    /// `pipelog serve --demo` on the data file `data` (a fresh one makes a fresh demo).
    pub fn demo(data: &Path) -> Running {
        let mut command = Command::new(env!("CARGO_BIN_EXE_pipelog"));
        command
            .arg("--data")
            .arg(data)
            .args(["serve", "--demo", "--listen", "127.0.0.1:0"]);
        Running::start(command)
    }

    /// `HOST:PORT`.
    pub fn address(&self) -> String {
        self.url.trim_start_matches("http://").to_string()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Pipelog {
    /// Syncs from the simulated Odoo once, then serves the data file (no scheduled syncs).
    pub fn sync_and_serve(odoo: &FakeServer, admins: &[(&str, &str)]) -> (Pipelog, Running) {
        let pipelog = Pipelog::new(&odoo.url, "schedule = \"0 0 1 1 *\"");
        for (email, password) in admins {
            pipelog.add_admin(email, password);
        }
        let synced = pipelog.sync(&[]);
        assert!(synced.status.success(), "{}", text(&synced));
        let server = Running::start(pipelog.command(&["serve", "--listen", "127.0.0.1:0"]));
        (pipelog, server)
    }
}
