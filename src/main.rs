//! The `pipelog` command line: parses arguments and calls into the library. Errors are reported
//! here, once, with their context.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use std::sync::Arc;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use pipelog::config::{ConfigFile, Overrides, Settings, resolve};
use pipelog::projections::ViewTable;
use pipelog::store::{ReadOnlyStore, ReplayProgress, Snapshot, StatusReport, Store};
use pipelog::sync::odoo::{OdooClient, ProtocolChoice};
use pipelog::sync::{RunRequest, Syncer};

/// pipelog: your Odoo sales pipeline, as an append-only event log with live dashboards.
///
/// Everything lives in one data file (--data). Copy it while pipelog is stopped to back it up.
#[derive(Parser)]
#[command(name = "pipelog", version, about, long_about)]
struct Cli {
    /// The data file (created with mode 0600 when missing).
    #[arg(
        long,
        global = true,
        env = "PIPELOG_DATA",
        default_value = "./pipelog.redb"
    )]
    data: PathBuf,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Show what the data file holds: events by type, opportunities, users, the last sync.
    /// Works beside a running server.
    Status {
        /// Print machine-readable JSON.
        #[arg(long)]
        json: bool,
    },
    /// Replay the whole event log into fresh views and swap them in atomically.
    Rebuild,
    /// Run the server: the JSON API, the sync schedule, on one data file (Ctrl-C or SIGTERM stops
    /// it cleanly).
    Serve {
        /// Address to listen on.
        #[arg(long, env = "PIPELOG_LISTEN", default_value = "127.0.0.1:8080")]
        listen: String,
        /// Run on a built-in demo CRM that keeps changing (no Odoo needed); every demo person signs
        /// in with their email and the password "demo", admin@example.com is an admin.
        #[arg(long)]
        demo: bool,
        /// Mark cookies Secure (when served over HTTPS, directly or behind a proxy).
        #[arg(long, env = "PIPELOG_SECURE_COOKIES")]
        secure_cookies: bool,
        /// Public base URL (e.g. https://pipeline.example.com), checked against Origin headers.
        #[arg(long, env = "PIPELOG_BASE_URL")]
        base_url: Option<String>,
        #[command(flatten)]
        odoo: OdooArgs,
    },
    /// Copy the data file consistently to OUT (works beside a running server). The copy opens with
    /// `pipelog serve --data OUT`. Sessions are not copied.
    Backup { out: PathBuf },
    /// Write the whole event log to OUT as NDJSON, one stored event per line ("-" for stdout).
    ExportEvents { out: PathBuf },
    /// Load an NDJSON export into an empty data file and rebuild the views from it.
    ImportEvents { input: PathBuf },
    /// Give free space in the data file back to the file system (stop the server first).
    Compact,
    /// Import the legacy system's `data_lake_serving` collection (a mongoexport dump: JSON array or
    /// one document per line) as historical events; running it again imports nothing new.
    MigrateLegacy {
        file: PathBuf,
        /// The currency of legacy amounts (the old system did not record one).
        #[arg(long, default_value = "USD")]
        currency: String,
    },
    /// Print a commented example configuration, or check one.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Manage sign-in accounts.
    #[command(subcommand)]
    User(UserCommand),
    /// Run one sync from Odoo now (changes since the last sync; --full reads everything).
    ///
    /// The Odoo password or API key comes from PIPELOG_ODOO_PASSWORD, PIPELOG_ODOO_PASSWORD_FILE
    /// or the config file, never from a flag.
    Sync {
        /// Read every record, not only those changed since the last sync, and look for deletions.
        #[arg(long)]
        full: bool,
        /// Confirm that Odoo really lost many records: lets the sync delete more than the
        /// configured share of a model.
        #[arg(long)]
        allow_mass_delete: bool,
        /// Keep running: sync now, then on the schedule (sync.schedule, default every 5 minutes)
        /// until Ctrl-C or SIGTERM.
        #[arg(long)]
        schedule: bool,
        #[command(flatten)]
        odoo: OdooArgs,
    },
    /// Replay the log into scratch views and compare them with the live ones; exits 1 on any
    /// difference. Works beside a running server.
    Verify {
        /// Print machine-readable JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Print a commented configuration file with every key and its default.
    Example,
    /// Check the configuration (file, environment, flags) and report every problem at once.
    Check {
        #[command(flatten)]
        odoo: OdooArgs,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Add an approved account. The password is read from standard input (or asked for on a
    /// terminal), never from a flag.
    Add {
        email: String,
        /// Display name (defaults to the part of the email before @).
        #[arg(long)]
        name: Option<String>,
        /// Make the account an admin (sees everything, manages accounts).
        #[arg(long)]
        admin: bool,
    },
}

/// Where to find Odoo; each flag also reads its environment variable.
#[derive(Args, Clone)]
struct OdooArgs {
    /// TOML configuration file (see the README for its keys).
    #[arg(long, env = "PIPELOG_CONFIG")]
    config: Option<PathBuf>,
    /// Odoo's base URL, e.g. https://odoo.example.com
    #[arg(long, env = "PIPELOG_ODOO_URL")]
    odoo_url: Option<String>,
    /// Odoo database name.
    #[arg(long, env = "PIPELOG_ODOO_DB")]
    odoo_db: Option<String>,
    /// Odoo login of the sync account (needs Sales "All Documents" rights or better).
    #[arg(long, env = "PIPELOG_ODOO_LOGIN")]
    odoo_login: Option<String>,
    /// Which Odoo API to speak: auto picks JSON-2 on Odoo 19+ and JSON-RPC before.
    #[arg(long, env = "PIPELOG_ODOO_PROTOCOL", value_enum)]
    odoo_protocol: Option<ProtocolChoice>,
}

impl OdooArgs {
    fn settings(&self) -> anyhow::Result<Settings> {
        let file = match &self.config {
            Some(path) => ConfigFile::load(path).map_err(problems)?,
            None => ConfigFile::default(),
        };
        let overrides = Overrides {
            odoo_url: self.odoo_url.clone(),
            odoo_database: self.odoo_db.clone(),
            odoo_login: self.odoo_login.clone(),
            odoo_protocol: self.odoo_protocol,
            schedule: None,
        };
        resolve(file, &overrides, &|name| std::env::var(name).ok()).map_err(problems)
    }
}

fn problems(list: Vec<String>) -> anyhow::Error {
    anyhow::anyhow!("invalid configuration:\n  - {}", list.join("\n  - "))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The server reports what it does; one-shot commands stay quiet unless something is wrong.
    init_logging(if matches!(cli.command, Command::Serve { .. }) {
        "info"
    } else {
        "warn"
    });
    match run(cli) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Status { json } => status(&cli.data, json),
        Command::Rebuild => rebuild(&cli.data),
        Command::Serve {
            listen,
            demo,
            secure_cookies,
            base_url,
            odoo,
        } => serve(&cli.data, &listen, demo, secure_cookies, base_url, &odoo),
        Command::User(UserCommand::Add { email, name, admin }) => {
            user_add(&cli.data, &email, name, admin)
        }
        Command::Backup { out } => backup(&cli.data, &out),
        Command::MigrateLegacy { file, currency } => migrate_legacy(&cli.data, &file, &currency),
        Command::Config(ConfigCommand::Example) => {
            print!("{}", pipelog::config::EXAMPLE);
            Ok(ExitCode::SUCCESS)
        }
        Command::Config(ConfigCommand::Check { odoo }) => match odoo.settings() {
            Ok(settings) => {
                match &settings.odoo {
                    Some(odoo) => println!(
                        "configuration is valid: Odoo {} database {:?} as {:?}; schedule {:?}",
                        odoo.url,
                        odoo.database,
                        odoo.login,
                        settings.schedule.pattern()
                    ),
                    None => println!(
                        "configuration is valid; no Odoo is configured, so pipelog will not sync"
                    ),
                }
                Ok(ExitCode::SUCCESS)
            }
            Err(error) => {
                eprintln!("{error:#}");
                Ok(ExitCode::from(1))
            }
        },
        Command::ExportEvents { out } => export_events(&cli.data, &out),
        Command::ImportEvents { input } => import_events(&cli.data, &input),
        Command::Compact => {
            let store = Store::open(&cli.data)
                .with_context(|| format!("cannot open {}", cli.data.display()))?;
            let (before, after) = store.compact()?;
            println!(
                "compacted {}: {before} bytes before, {after} after",
                cli.data.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Sync {
            full,
            allow_mass_delete,
            schedule,
            odoo,
        } => {
            let request = RunRequest {
                full,
                allow_mass_delete,
            };
            if schedule {
                sync_on_schedule(&cli.data, request, &odoo)
            } else {
                sync(&cli.data, request, &odoo)
            }
        }
        Command::Verify { json } => verify(&cli.data, json),
    }
}

/// Opens the file read-only. A file left behind by a crash is first recovered by opening it as the
/// writer (redb's own repair), which only works when no other process has it open.
fn open_read_only(path: &Path) -> anyhow::Result<ReadOnlyStore> {
    match ReadOnlyStore::open(path) {
        Err(pipelog::store::StoreError::NeedsRecovery { .. }) => {
            eprintln!(
                "{} was not closed cleanly; recovering it first",
                path.display()
            );
            drop(Store::open(path).with_context(|| format!("cannot recover {}", path.display()))?);
            ReadOnlyStore::open(path).with_context(|| format!("cannot open {}", path.display()))
        }
        other => other.with_context(|| format!("cannot open {}", path.display())),
    }
}

#[derive(serde::Serialize)]
struct StatusOutput {
    data_file: PathBuf,
    #[serde(flatten)]
    report: StatusReport,
    /// Users whose manager data formed a cycle (the cycle was cut).
    manager_cycles: Vec<u64>,
}

fn status(path: &Path, json: bool) -> anyhow::Result<ExitCode> {
    let store = open_read_only(path)?;
    let snapshot = store.read()?;
    let output = StatusOutput {
        data_file: path.to_path_buf(),
        report: snapshot.status()?,
        manager_cycles: users_in_manager_cycles(&snapshot)?,
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&output)?);
        return Ok(ExitCode::SUCCESS);
    }
    let report = &output.report;
    let mut out = std::io::stdout().lock();
    writeln!(out, "data file      {}", path.display())?;
    writeln!(
        out,
        "events         {} (last position {})",
        report.events, report.last_position
    )?;
    writeln!(
        out,
        "opportunities  {} (and {} leads)",
        report.opportunities, report.leads
    )?;
    writeln!(
        out,
        "users          {} ({} sign-in accounts)",
        report.users, report.logins
    )?;
    match &report.last_sync {
        Some(run) => writeln!(out, "last sync      {}", describe_run(run))?,
        None => writeln!(out, "last sync      never")?,
    }
    if !output.manager_cycles.is_empty() {
        writeln!(
            out,
            "manager cycles cut for users {:?}: fix the managers in Odoo",
            output.manager_cycles
        )?;
    }
    if !report.events_by_type.is_empty() {
        writeln!(out, "events by type")?;
        for (name, count) in &report.events_by_type {
            writeln!(out, "  {name:<26} {count}")?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn describe_run(run: &pipelog::projections::SyncRunView) -> String {
    use pipelog::projections::SyncOutcome;
    let took = run
        .duration_ms
        .map(|ms| format!(" in {:.1} s", ms as f64 / 1000.0))
        .unwrap_or_default();
    match &run.outcome {
        SyncOutcome::Running => format!("running since {}", run.started_at),
        SyncOutcome::Succeeded {
            warnings,
            quarantined,
            ..
        } => format!(
            "succeeded {}{took}{}{}",
            run.started_at,
            if warnings.is_empty() {
                String::new()
            } else {
                format!("; {} warnings", warnings.len())
            },
            if quarantined.is_empty() {
                String::new()
            } else {
                format!("; {} records quarantined", quarantined.len())
            },
        ),
        SyncOutcome::Failed { reason } => format!("FAILED {}{took}: {reason}", run.started_at),
    }
}

fn users_in_manager_cycles(snapshot: &Snapshot) -> anyhow::Result<Vec<u64>> {
    let mut users = Vec::new();
    for profile in
        snapshot.views::<pipelog::projections::UserProfileView>(ViewTable::UserProfiles)?
    {
        if profile.in_manager_cycle {
            users.push(profile.user_id);
        }
    }
    Ok(users)
}

fn print_progress(progress: ReplayProgress) {
    if progress.events_total == 0 {
        return;
    }
    let seconds = progress.elapsed.as_secs_f64().max(1e-9);
    eprintln!(
        "replayed {}/{} events ({:.0}%), {:.0} events/s",
        progress.events_done,
        progress.events_total,
        100.0 * progress.events_done as f64 / progress.events_total as f64,
        progress.events_done as f64 / seconds,
    );
}

fn rebuild(path: &Path) -> anyhow::Result<ExitCode> {
    let store = Store::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let report = store.rebuild(&mut print_progress)?;
    println!(
        "rebuilt the views from {} events ({} rows) in {:.2} s: {:.0} events/s; peak memory {}",
        report.events,
        report.rows,
        report.total_seconds,
        report.events_per_second(),
        peak_memory().unwrap_or_else(|| "unknown".into()),
    );
    Ok(ExitCode::SUCCESS)
}

fn verify(path: &Path, json: bool) -> anyhow::Result<ExitCode> {
    let store = open_read_only(path)?;
    let report = store.verify(&mut print_progress)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        for difference in &report.differences {
            println!("{difference}");
        }
        for problem in &report.problems {
            println!("{problem}");
        }
        if report.is_clean() {
            println!(
                "verified {} events: all {} view rows match a replay of the log",
                report.events, report.rows_checked
            );
        } else {
            println!(
                "{} differences and {} other problems: run `pipelog rebuild` to rebuild the views from the log",
                report.differences.len(),
                report.problems.len()
            );
        }
    }
    Ok(if report.is_clean() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Logs go to stderr, human-readable, or JSON with `PIPELOG_LOG_FORMAT=json`; `PIPELOG_LOG` sets
/// the level (e.g. `PIPELOG_LOG=pipelog=debug`).
fn init_logging(default_level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("PIPELOG_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    if std::env::var("PIPELOG_LOG_FORMAT").is_ok_and(|f| f == "json") {
        tracing_subscriber::fmt()
            .json()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .init();
        return;
    }
    // Colour codes only for a person at a terminal, never into a file or a pipe.
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .init();
}

/// The store and a syncer for one-shot and scheduled syncs from the command line.
fn open_syncer(path: &Path, odoo: &OdooArgs) -> anyhow::Result<(Syncer, Settings)> {
    let settings = odoo.settings()?;
    let odoo_settings = settings
        .odoo
        .clone()
        .context("no Odoo is configured: set PIPELOG_ODOO_URL (or --odoo-url, or odoo.url in the config file)")?;
    let store =
        Arc::new(Store::open(path).with_context(|| format!("cannot open {}", path.display()))?);
    let syncer = Syncer::new(
        store,
        OdooClient::new(odoo_settings)?,
        settings.sync.clone(),
    );
    Ok((syncer, settings))
}

fn sync(path: &Path, request: RunRequest, odoo: &OdooArgs) -> anyhow::Result<ExitCode> {
    let (syncer, _) = open_syncer(path, odoo)?;
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    match runtime.block_on(syncer.run(request)) {
        Ok(report) => {
            println!(
                "sync completed in {:.1} s: {} events",
                report.duration_ms as f64 / 1000.0,
                report.events
            );
            for (model, counts) in &report.counts {
                println!(
                    "  {model:<12} fetched {:>7}  created {:>6}  updated {:>6}  deleted {:>5}  quarantined {:>4}",
                    counts.fetched,
                    counts.created,
                    counts.updated,
                    counts.deleted,
                    counts.quarantined
                );
            }
            for warning in &report.warnings {
                println!("warning: {warning}");
            }
            for record in &report.quarantined {
                println!(
                    "quarantined: {} {} ({})",
                    record.model,
                    record.id.map(|id| id.to_string()).unwrap_or("?".into()),
                    record.reason
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(error) => {
            eprintln!("sync failed: {error}");
            Ok(ExitCode::from(1))
        }
    }
}

fn serve(
    path: &Path,
    listen: &str,
    demo: bool,
    secure_cookies: bool,
    base_url: Option<String>,
    odoo: &OdooArgs,
) -> anyhow::Result<ExitCode> {
    use pipelog::app::{self, Demo, ServeConfig};
    let mut settings = odoo.settings()?;
    if let Some(base) = &base_url {
        let parsed = reqwest::Url::parse(base)
            .ok()
            .filter(|url| matches!(url.scheme(), "http" | "https") && url.host_str().is_some());
        anyhow::ensure!(
            parsed.is_some(),
            "--base-url {base:?} must be an http:// or https:// address, e.g. https://pipeline.example.com"
        );
    }
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    // Listening comes first: a mistyped address or a port in use leaves no data file behind.
    let listener = runtime.block_on(async {
        tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| {
                format!("cannot listen on {listen:?} (expected HOST:PORT, e.g. 127.0.0.1:8080)")
            })
    })?;
    let store =
        Arc::new(Store::open(path).with_context(|| format!("cannot open {}", path.display()))?);
    runtime.block_on(async {
        let odoo_settings = if demo {
            let running = Demo::start().await?;
            let odoo = running.settings();
            settings.schedule = app::demo_schedule();
            let syncer = Syncer::new(store.clone(), OdooClient::new(odoo.clone())?, settings.sync.clone());
            syncer.run(RunRequest::default()).await.context("the first demo sync failed")?;
            let demo_store = store.clone();
            let accounts = tokio::task::spawn_blocking(move || app::create_demo_accounts(&demo_store)).await??;
            println!("DEMO MODE: a built-in demo CRM stands in for Odoo; nothing here is real data.");
            println!("  sign in as {} / {} (admin), or as any demo person with password {}:", app::DEMO_ADMIN, app::DEMO_PASSWORD, app::DEMO_PASSWORD);
            for email in accounts.iter().skip(1).take(12) {
                println!("    {email}");
            }
            if accounts.len() > 13 {
                println!("    ... and {} more (see /api/team once signed in)", accounts.len() - 13);
            }
            Some(odoo)
        } else {
            if settings.odoo.is_none() {
                println!("no Odoo configured (PIPELOG_ODOO_URL): serving what the data file holds, without syncing");
            }
            settings.odoo.clone()
        };
        let options = pipelog::api::ServerOptions {
            secure_cookies,
            base_url,
            demo,
            stale_after: std::time::Duration::from_secs(30 * 60),
            listen: Some(listener.local_addr()?),
            trusted_proxies: settings.server.trusted_proxies.clone(),
        };
        let setup_token = if demo { None } else { app::setup_token_if_needed(&store)? };
        if let Some(token) = &setup_token {
            println!(
                "no admin yet: within 30 minutes, create one at\n  http://{addr}/#/setup?token={token}\nor with\n  curl -H 'content-type: application/json' -d '{{\"token\":\"{token}\",\"email\":\"you@example.com\",\"name\":\"You\",\"password\":\"...\"}}' http://{addr}/api/setup\n  (or stop the server and run: pipelog user add you@example.com --admin)",
                addr = listener.local_addr()?
            );
        }
        // Last, so that everything above is on screen once the address is.
        println!("pipelog listening on http://{}", listener.local_addr()?);
        let config = ServeConfig { settings, options, setup_token };
        app::serve(store.clone(), config, listener, odoo_settings, shutdown_signal()).await?;
        println!("pipelog stopped cleanly");
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

fn user_add(
    path: &Path,
    email: &str,
    name: Option<String>,
    admin: bool,
) -> anyhow::Result<ExitCode> {
    use pipelog::domain::{Role, is_email_address, normalize_email};
    let email = normalize_email(email);
    if !is_email_address(&email) {
        anyhow::bail!("{email:?} is not an email address");
    }
    let password = if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        let first = rpassword::prompt_password(format!("password for {email}: "))?;
        let second = rpassword::prompt_password("again: ")?;
        anyhow::ensure!(first == second, "the two passwords differ");
        first
    } else {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)?;
        line.trim_end_matches(['\n', '\r']).to_string()
    };
    pipelog::auth::check_new_password(&password)?;
    let store = Store::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    if store.read()?.login(&email)?.is_some() {
        anyhow::bail!("an account {email} exists already");
    }
    let hash = pipelog::auth::hash_password(&password)?;
    let role = if admin { Role::Admin } else { Role::Member };
    let name = name.unwrap_or_else(|| email.split('@').next().unwrap_or(&email).to_string());
    pipelog::commands::register_account(
        &store,
        pipelog::commands::NewAccount {
            email: &email,
            name: &name,
            role,
            approved: true,
            password_hash: &hash,
            actor: "cli",
            source: "cli",
        },
    )?;
    println!("added {email} ({})", if admin { "admin" } else { "member" });
    Ok(ExitCode::SUCCESS)
}

fn backup(path: &Path, out: &Path) -> anyhow::Result<ExitCode> {
    let report = open_read_only(path)?
        .backup(out)
        .with_context(|| format!("cannot write the backup {}", out.display()))?;
    println!(
        "backed up {} events to {} ({} bytes)",
        report.events,
        out.display(),
        report.bytes
    );
    Ok(ExitCode::SUCCESS)
}

fn export_events(path: &Path, out: &Path) -> anyhow::Result<ExitCode> {
    let store = open_read_only(path)?;
    let written = if out.as_os_str() == "-" {
        store.export_events(&mut std::io::stdout().lock())?
    } else {
        let file = std::fs::File::create(out)
            .with_context(|| format!("cannot create {}", out.display()))?;
        let mut writer = std::io::BufWriter::new(file);
        let written = store.export_events(&mut writer)?;
        writer.flush()?;
        written
    };
    eprintln!("exported {written} events");
    Ok(ExitCode::SUCCESS)
}

fn migrate_legacy(path: &Path, file: &Path, currency: &str) -> anyhow::Result<ExitCode> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let store = Store::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let report = pipelog::migrate::migrate(&store, &text, currency)?;
    println!(
        "read {} documents; {} events appended",
        report.documents, report.events
    );
    for (entity, counts) in &report.by_entity {
        println!(
            "  {entity:<12} imported {:>6}  already imported {:>6}  skipped {:>5}",
            counts.imported, counts.already_imported, counts.skipped
        );
    }
    for reason in &report.skipped {
        println!("  skipped: {reason}");
    }
    let snapshot = store.read()?;
    let status = snapshot.status()?;
    println!(
        "views built: {} users, {} opportunities, {} leads",
        status.users, status.opportunities, status.leads
    );
    Ok(ExitCode::SUCCESS)
}

fn import_events(path: &Path, input: &Path) -> anyhow::Result<ExitCode> {
    let file =
        std::fs::File::open(input).with_context(|| format!("cannot open {}", input.display()))?;
    let store = Store::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let imported = store.import_events(&mut std::io::BufReader::new(file))?;
    println!("imported {imported} events and rebuilt the views");
    Ok(ExitCode::SUCCESS)
}

/// A sync the schedule loop runs, reporting each outcome on stdout.
struct ScheduledSync(Syncer);

impl pipelog::sync::schedule::SyncJob for ScheduledSync {
    async fn run(&self, request: RunRequest) -> Result<(), String> {
        match self.0.run(request).await {
            Ok(report) => {
                println!(
                    "{} sync completed in {:.1} s: {} events",
                    jiff::Timestamp::now(),
                    report.duration_ms as f64 / 1000.0,
                    report.events
                );
                Ok(())
            }
            Err(error) => {
                println!("{} sync failed: {error}", jiff::Timestamp::now());
                Err(error.to_string())
            }
        }
    }
}

fn sync_on_schedule(path: &Path, first: RunRequest, odoo: &OdooArgs) -> anyhow::Result<ExitCode> {
    use pipelog::sync::schedule::{ScheduleState, SyncTrigger, SystemClock, run_loop};
    let (syncer, settings) = open_syncer(path, odoo)?;
    let job = ScheduledSync(syncer);
    let stop = job.0.stop_handle();
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async {
        let (shutdown, listening) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            shutdown_signal().await;
            eprintln!("stopping: a running sync ends at its next page");
            stop.store(true, std::sync::atomic::Ordering::SeqCst);
            let _ = shutdown.send(true);
        });
        let trigger = SyncTrigger::default();
        trigger.request(first);
        println!(
            "syncing now, then on schedule {:?} (UTC); Ctrl-C stops",
            settings.schedule.pattern()
        );
        let state = std::sync::Mutex::new(ScheduleState::default());
        run_loop(
            &job,
            &settings.schedule,
            &trigger,
            &state,
            &SystemClock,
            listening,
        )
        .await;
    });
    Ok(ExitCode::SUCCESS)
}

/// Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let mut terminate =
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(signal) => signal,
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
}

/// The process's peak resident memory, from /proc (Linux).
fn peak_memory() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(format!("{} MiB", kib / 1024))
}
