//! The `pipelog` command line: parses arguments and calls into the library. Errors are reported
//! here, once, with their context. The commands' bodies live in `cli`.

mod cli;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use pipelog::config::{ConfigFile, Overrides, Settings, resolve};
use pipelog::store::Store;
use pipelog::sync::RunRequest;
use pipelog::sync::odoo::ProtocolChoice;

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
        /// Read the past of every deal that has none yet from Odoo's change tracking (its
        /// chatter) in this run. The first sync of a data file does this by itself; later syncs
        /// read the past of new deals, and of at most `sync.history_deals_per_run` (20,000) older ones per run.
        #[arg(long)]
        backfill_history: bool,
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

/// Tunes glibc's malloc for a sync, unless the environment tunes it (`MALLOC_ARENA_MAX`,
/// `MALLOC_MMAP_THRESHOLD_`, `GLIBC_TUNABLES`):
/// - two arenas: a sync parses Odoo's pages on the async threads and frees them on the store's;
///   with an arena per thread, what one thread freed stayed with it, and a first sync's resident
///   memory grew to half again its live data (412 MiB for 100,000 deals with 930,980 tracked
///   changes; 321 MiB capped);
/// - blocks from 256 KiB up (answers from Odoo, pages of records, encoded batches) in mappings of
///   their own, given back when freed: left to grow, the threshold rose to tens of megabytes and
///   those blocks fragmented the heap (336 against 306 MiB on the same sync, no slower).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn tune_malloc() {
    let set = |name: &str| std::env::var_os(name).is_some();
    if set("GLIBC_TUNABLES") {
        return;
    }
    // SAFETY: called first thing in `main`, before any other thread exists; `mallopt` only
    // changes the allocator's tuning, and a refusal (0) leaves it as it was.
    unsafe {
        if !set("MALLOC_ARENA_MAX") {
            libc::mallopt(libc::M_ARENA_MAX, 2);
        }
        if !set("MALLOC_MMAP_THRESHOLD_") {
            libc::mallopt(libc::M_MMAP_THRESHOLD, 256 * 1024);
        }
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn tune_malloc() {}

fn main() -> ExitCode {
    tune_malloc();
    let cli = Cli::parse();
    // The server reports what it does; one-shot commands stay quiet unless something is wrong,
    // except for the progress of a long import of Odoo's change history.
    init_logging(match cli.command {
        Command::Serve { .. } => "info",
        Command::Sync { .. } => "warn,pipelog::sync::engine::history=info",
        _ => "warn",
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
        Command::Status { json } => cli::inspect::status(&cli.data, json),
        Command::Rebuild => cli::inspect::rebuild(&cli.data),
        Command::Serve {
            listen,
            demo,
            secure_cookies,
            base_url,
            odoo,
        } => cli::serve::serve(&cli.data, &listen, demo, secure_cookies, base_url, &odoo),
        Command::User(UserCommand::Add { email, name, admin }) => {
            cli::data::user_add(&cli.data, &email, name, admin)
        }
        Command::Backup { out } => cli::data::backup(&cli.data, &out),
        Command::MigrateLegacy { file, currency } => {
            cli::data::migrate_legacy(&cli.data, &file, &currency)
        }
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
                if let Some(sso) = &settings.sso {
                    println!(
                        "single sign-on through {} as client {:?}{}",
                        sso.issuer,
                        sso.client_id,
                        if sso.password_sign_in {
                            ""
                        } else {
                            "; password sign-in for admins only"
                        }
                    );
                }
                Ok(ExitCode::SUCCESS)
            }
            Err(error) => {
                eprintln!("{error:#}");
                Ok(ExitCode::from(1))
            }
        },
        Command::ExportEvents { out } => cli::data::export_events(&cli.data, &out),
        Command::ImportEvents { input } => cli::data::import_events(&cli.data, &input),
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
            backfill_history,
            schedule,
            odoo,
        } => {
            let request = RunRequest {
                full,
                allow_mass_delete,
                backfill_history,
            };
            if schedule {
                cli::sync::sync_on_schedule(&cli.data, request, &odoo)
            } else {
                cli::sync::sync(&cli.data, request, &odoo)
            }
        }
        Command::Verify { json } => cli::inspect::verify(&cli.data, json),
    }
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
