//! Configuration: defaults < TOML file < `PIPELOG_*` environment variables < command-line flags.
//! Secrets may come from a file (`*_FILE`) and are never printed (`Secret`'s Debug is redacted).

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

mod sso;

pub use sso::{DEFAULT_SCOPES, SsoSection};

use crate::auth::oidc::SsoSettings;
use crate::queries::history::StaleRules;
use crate::sync::SyncOptions;
use crate::sync::odoo::{OdooSettings, ProtocolChoice, Secret};
use crate::sync::schedule::Schedule;

pub const DEFAULT_SCHEDULE: &str = "*/5 * * * *";

/// The TOML file, as written by people: every key optional, unknown keys refused.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    #[serde(default)]
    pub odoo: OdooSection,
    #[serde(default)]
    pub sync: SyncSection,
    #[serde(default)]
    pub server: ServerSection,
    #[serde(default)]
    pub history: HistorySection,
    #[serde(default)]
    pub sso: SsoSection,
    #[serde(default)]
    pub data: DataSection,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataSection {
    /// Events a write lets pass before it writes the model snapshot again.
    pub snapshot_every_events: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistorySection {
    /// Days without a change after which an open deal is stale.
    pub stale_after_days: Option<u32>,
    /// The same per stage, by the stage's name.
    pub stale_after_days_by_stage: Option<std::collections::BTreeMap<String, u32>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSection {
    /// Reverse proxies (addresses or CIDR ranges) whose `Forwarded`/`X-Forwarded-For` are believed.
    pub trusted_proxies: Option<Vec<String>>,
    /// Open connections at most (default: what the open-file limit leaves room for).
    pub max_connections: Option<usize>,
    pub max_connections_per_address: Option<usize>,
    /// How long a client may take to send a request's headers, and to keep an idle connection.
    pub header_timeout_seconds: Option<u64>,
    /// How long a client may take to send a request's body.
    pub body_timeout_seconds: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OdooSection {
    pub url: Option<String>,
    pub database: Option<String>,
    pub login: Option<String>,
    /// Password or API key. Prefer `password_file`.
    pub password: Option<Secret>,
    pub password_file: Option<PathBuf>,
    pub protocol: Option<ProtocolChoice>,
    pub timeout_seconds: Option<u64>,
    pub retries: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncSection {
    /// Cron expression (5 fields, or 6 with seconds), in UTC.
    pub schedule: Option<String>,
    pub page_size: Option<usize>,
    pub overlap_seconds: Option<u64>,
    /// Refuse a reconcile that would delete more than this percentage of a model's records.
    pub mass_delete_percent: Option<f64>,
    pub reconcile_every_minutes: Option<u64>,
    pub default_currency: Option<String>,
    /// Deals whose past a scheduled sync reads from Odoo's change tracking at most.
    pub history_deals_per_run: Option<usize>,
    /// Pages asked of Odoo at once during a long read.
    pub requests_in_flight: Option<usize>,
}

/// Values from flags and the environment (already merged by the command line parser), which win
/// over the file.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub odoo_url: Option<String>,
    pub odoo_database: Option<String>,
    pub odoo_login: Option<String>,
    pub odoo_protocol: Option<ProtocolChoice>,
    pub schedule: Option<String>,
}

/// Everything a sync and the server need, validated.
#[derive(Debug)]
pub struct Settings {
    /// `None` when no Odoo URL is configured.
    pub odoo: Option<OdooSettings>,
    pub sync: SyncOptions,
    pub schedule: Schedule,
    pub server: ServerSettings,
    pub stale: StaleRules,
    /// `None` when no single sign-on issuer is configured.
    pub sso: Option<SsoSettings>,
    /// Events a write lets pass before it writes the model snapshot again.
    pub snapshot_every_events: u64,
}

/// How the server protects itself from slow or greedy clients, and whom it believes about addresses.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    pub trusted_proxies: Vec<ipnet::IpNet>,
    pub limits: crate::api::ConnectionLimits,
}

fn server_settings(
    server: ServerSection,
    env: &dyn Fn(&str) -> Option<String>,
    problems: &mut Vec<String>,
) -> ServerSettings {
    let proxies = match env("PIPELOG_TRUSTED_PROXIES") {
        Some(list) => list
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect(),
        None => server.trusted_proxies.unwrap_or_default(),
    };
    let mut trusted_proxies = Vec::new();
    for proxy in proxies {
        let parsed = proxy
            .parse::<ipnet::IpNet>()
            .or_else(|_| proxy.parse::<std::net::IpAddr>().map(ipnet::IpNet::from));
        match parsed {
            Ok(net) => trusted_proxies.push(net),
            Err(_) => problems.push(format!(
                "server.trusted_proxies: {proxy:?} is not an address or a CIDR range (e.g. 10.0.0.1 or 10.0.0.0/8)"
            )),
        }
    }
    let defaults = crate::api::ConnectionLimits::default();
    let seconds =
        |value: Option<u64>, default: Duration, name: &str, problems: &mut Vec<String>| match value
        {
            Some(0) => {
                problems.push(format!("server.{name} must be at least 1"));
                default
            }
            Some(n) => Duration::from_secs(n),
            None => default,
        };
    let limits = crate::api::ConnectionLimits {
        max_connections: server.max_connections.or(defaults.max_connections),
        per_address: server
            .max_connections_per_address
            .unwrap_or(defaults.per_address),
        header_timeout: seconds(
            server.header_timeout_seconds,
            defaults.header_timeout,
            "header_timeout_seconds",
            problems,
        ),
        body_timeout: seconds(
            server.body_timeout_seconds,
            defaults.body_timeout,
            "body_timeout_seconds",
            problems,
        ),
    };
    if limits.max_connections == Some(0) || limits.per_address == 0 {
        problems.push(
            "server.max_connections and max_connections_per_address must be at least 1".into(),
        );
    }
    ServerSettings {
        trusted_proxies,
        limits,
    }
}

fn stale_rules(history: HistorySection, problems: &mut Vec<String>) -> StaleRules {
    let defaults = StaleRules::default();
    let mut check = |name: &str, days: u32| {
        if !(1..=3_650).contains(&days) {
            problems.push(format!(
                "history.{name} {days} must be between 1 and 3650 days"
            ));
        }
        days
    };
    let days = check(
        "stale_after_days",
        history.stale_after_days.unwrap_or(defaults.days),
    );
    let by_stage = history
        .stale_after_days_by_stage
        .unwrap_or_default()
        .into_iter()
        .map(|(stage, days)| {
            let days = check(&format!("stale_after_days_by_stage.{stage:?}"), days);
            (stage, days)
        })
        .collect();
    StaleRules { days, by_stage }
}

impl ConfigFile {
    pub fn load(path: &Path) -> Result<ConfigFile, Vec<String>> {
        let text = std::fs::read_to_string(path)
            .map_err(|error| vec![format!("cannot read {}: {error}", path.display())])?;
        toml::from_str(&text).map_err(|error| vec![format!("{}: {error}", path.display())])
    }
}

/// Reads an environment variable, or the file named by `NAME_FILE`.
pub(crate) fn env_secret(
    env: &dyn Fn(&str) -> Option<String>,
    name: &str,
    problems: &mut Vec<String>,
) -> Option<Secret> {
    if let Some(value) = env(name).filter(|v| !v.is_empty()) {
        return Some(Secret::new(value));
    }
    let file = env(&format!("{name}_FILE"))?;
    read_secret_file(Path::new(&file), problems)
}

pub(crate) fn read_secret_file(path: &Path, problems: &mut Vec<String>) -> Option<Secret> {
    match std::fs::read_to_string(path) {
        Ok(text) => Some(Secret::new(text.trim_end_matches(['\n', '\r']))),
        Err(error) => {
            problems.push(format!(
                "cannot read the secret file {}: {error}",
                path.display()
            ));
            None
        }
    }
}

/// Merges and validates; reports every problem at once.
pub fn resolve(
    file: ConfigFile,
    overrides: &Overrides,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Settings, Vec<String>> {
    let mut problems = Vec::new();
    let odoo = file.odoo;
    let url = overrides.odoo_url.clone().or(odoo.url);
    let secret = env_secret(env, "PIPELOG_ODOO_PASSWORD", &mut problems)
        .or(odoo.password)
        .or_else(|| {
            odoo.password_file
                .as_deref()
                .and_then(|path| read_secret_file(path, &mut problems))
        });
    let odoo_settings = url.map(|url| {
        let database = overrides.odoo_database.clone().or(odoo.database).unwrap_or_default();
        let login = overrides.odoo_login.clone().or(odoo.login).unwrap_or_default();
        if database.is_empty() {
            problems.push("odoo.database (PIPELOG_ODOO_DB) is required when an Odoo URL is set".into());
        }
        if login.is_empty() {
            problems.push("odoo.login (PIPELOG_ODOO_LOGIN) is required when an Odoo URL is set".into());
        }
        if secret.as_ref().is_none_or(Secret::is_empty) {
            problems.push("an Odoo password or API key is required: set PIPELOG_ODOO_PASSWORD, PIPELOG_ODOO_PASSWORD_FILE or odoo.password_file".into());
        }
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            problems.push(format!("odoo.url {url:?} must start with http:// or https://"));
        }
        OdooSettings {
            url,
            database,
            login,
            secret: secret.clone().unwrap_or_default(),
            protocol: overrides.odoo_protocol.or(odoo.protocol).unwrap_or_default(),
            timeout: Duration::from_secs(odoo.timeout_seconds.unwrap_or(60).max(1)),
            retries: odoo.retries.unwrap_or(3),
            retry_backoff: Duration::from_millis(500),
        }
    });

    let server = server_settings(file.server, env, &mut problems);
    let stale = stale_rules(file.history, &mut problems);
    let sso = sso::sso_settings(file.sso, env, &mut problems);
    let snapshot_every_events = file
        .data
        .snapshot_every_events
        .unwrap_or(crate::store::SNAPSHOT_EVERY_EVENTS);
    if snapshot_every_events == 0 {
        problems.push("data.snapshot_every_events must be at least 1".into());
    }
    let sync = file.sync;
    let defaults = SyncOptions::default();
    let page_size = sync.page_size.unwrap_or(defaults.page_size);
    if !(10..=10_000).contains(&page_size) {
        problems.push(format!(
            "sync.page_size {page_size} must be between 10 and 10000"
        ));
    }
    let requests_in_flight = sync
        .requests_in_flight
        .unwrap_or(defaults.requests_in_flight);
    if !(1..=16).contains(&requests_in_flight) {
        problems.push(format!(
            "sync.requests_in_flight {requests_in_flight} must be between 1 and 16"
        ));
    }
    let percent = sync
        .mass_delete_percent
        .unwrap_or(defaults.mass_delete_share * 100.0);
    if !(0.0..=100.0).contains(&percent) {
        problems.push(format!(
            "sync.mass_delete_percent {percent} must be between 0 and 100"
        ));
    }
    let pattern = overrides
        .schedule
        .clone()
        .or(sync.schedule)
        .unwrap_or_else(|| DEFAULT_SCHEDULE.into());
    let schedule = Schedule::parse(&pattern)
        .map_err(|error| problems.push(error.to_string()))
        .ok();
    let options = SyncOptions {
        page_size,
        overlap: sync
            .overlap_seconds
            .map(Duration::from_secs)
            .unwrap_or(defaults.overlap),
        mass_delete_share: percent / 100.0,
        reconcile_every: sync
            .reconcile_every_minutes
            .map(|m| Duration::from_secs(m * 60))
            .unwrap_or(defaults.reconcile_every),
        default_currency: sync.default_currency.unwrap_or(defaults.default_currency),
        history_per_run: sync
            .history_deals_per_run
            .unwrap_or(defaults.history_per_run)
            .max(1),
        requests_in_flight,
    };
    match (problems.is_empty(), schedule) {
        (true, Some(schedule)) => Ok(Settings {
            odoo: odoo_settings,
            sync: options,
            schedule,
            server,
            stale,
            sso,
            snapshot_every_events,
        }),
        _ => Err(problems),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn flags_and_env_win_over_the_file() {
        let file: ConfigFile = toml::from_str(
            r#"
            [odoo]
            url = "http://file:8069"
            database = "filedb"
            login = "filelogin"
            password = "from-file"
            [sync]
            schedule = "0 * * * *"
            mass_delete_percent = 25
            "#,
        )
        .expect("parses");
        let overrides = Overrides {
            odoo_database: Some("flagdb".into()),
            ..Overrides::default()
        };
        let env = |name: &str| (name == "PIPELOG_ODOO_PASSWORD").then(|| "from-env".to_string());
        let settings = resolve(file, &overrides, &env).expect("valid");
        let odoo = settings.odoo.expect("odoo configured");
        assert_eq!(
            (
                odoo.url.as_str(),
                odoo.database.as_str(),
                odoo.login.as_str()
            ),
            ("http://file:8069", "flagdb", "filelogin")
        );
        assert_eq!(odoo.secret.expose(), "from-env");
        assert_eq!(settings.schedule.pattern(), "0 * * * *");
        assert_eq!(settings.sync.mass_delete_share, 0.25);
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let file: ConfigFile = toml::from_str(
            "[odoo]\nurl = \"ftp://x\"\n[sync]\nschedule = \"often\"\npage_size = 1\nrequests_in_flight = 0",
        )
        .expect("parses");
        let problems = resolve(file, &Overrides::default(), &no_env).expect_err("invalid");
        assert_eq!(problems.len(), 7, "{problems:#?}");
        assert!(
            problems.iter().any(|p| p.contains("requests_in_flight 0")),
            "{problems:#?}"
        );
    }

    #[test]
    fn unknown_keys_are_refused_and_secrets_never_print() {
        assert!(toml::from_str::<ConfigFile>("[odoo]\npasword = \"typo\"").is_err());
        let file: ConfigFile = toml::from_str("[odoo]\npassword = \"hunter2\"").expect("parses");
        assert!(!format!("{file:?}").contains("hunter2"));
    }

    #[test]
    fn secrets_can_come_from_a_file() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("secret");
        std::fs::write(&path, "s3cret\n").expect("write");
        let env =
            |name: &str| (name == "PIPELOG_ODOO_PASSWORD_FILE").then(|| path.display().to_string());
        let overrides = Overrides {
            odoo_url: Some("http://x".into()),
            odoo_database: Some("d".into()),
            odoo_login: Some("l".into()),
            ..Overrides::default()
        };
        let settings = resolve(ConfigFile::default(), &overrides, &env).expect("valid");
        assert_eq!(settings.odoo.expect("odoo").secret.expose(), "s3cret");
    }
}

/// A commented configuration file with every key and its default, for `pipelog config example`.
pub const EXAMPLE: &str = r#"# pipelog configuration. Precedence: these values < PIPELOG_* environment variables < flags.
# Unknown keys are refused, so a typo is an error, not a silent default.

[odoo]
# Base URL of Odoo (env PIPELOG_ODOO_URL). Without it, pipelog serves what it holds and does not sync.
# url = "https://odoo.example.com"
# database = "production"              # env PIPELOG_ODOO_DB
# login = "pipelog-sync@example.com"   # env PIPELOG_ODOO_LOGIN; needs Sales "All Documents" rights
# The password or API key: prefer a file readable only by pipelog (env PIPELOG_ODOO_PASSWORD_FILE),
# or PIPELOG_ODOO_PASSWORD. It is never printed.
# password_file = "/etc/pipelog/odoo-secret"
# protocol = "auto"                    # auto (JSON-2 on Odoo 19+, JSON-RPC before), jsonrpc, json2
# timeout_seconds = 60
# retries = 3                          # transient failures only (timeouts, 5xx, truncated answers)

[sync]
# schedule = "*/5 * * * *"             # cron, UTC; 6 fields for seconds
# page_size = 2000
# overlap_seconds = 300                # re-read window behind the last write_date seen
# mass_delete_percent = 10             # refuse a reconcile that would delete more of a model
# reconcile_every_minutes = 60         # how often ids are compared to find hard deletes
# history_deals_per_run = 20000        # deals whose past one scheduled sync reads from Odoo's chatter
# requests_in_flight = 3               # pages asked of Odoo at once; 1 for a server with one worker
# default_currency = "USD"             # for opportunities whose currency Odoo does not say

[server]
# Reverse proxies whose Forwarded / X-Forwarded-For headers name the client (env
# PIPELOG_TRUSTED_PROXIES, comma-separated); from anyone else those headers are ignored.
# trusted_proxies = ["127.0.0.1", "10.0.0.0/8"]
# max_connections = 4000               # default: the open-file limit less room for the data file
# max_connections_per_address = 256
# header_timeout_seconds = 10          # to send a request's headers; also how long an idle connection stays
# body_timeout_seconds = 30            # to send a request's body

[sso]
# Single sign-on through OpenID Connect (Microsoft Entra ID, Google Workspace, Keycloak, Okta, ...).
# Without an issuer, people sign in with email and password only. See README "Sign in with Microsoft".
# issuer = "https://login.microsoftonline.com/<tenant-id>/v2.0"   # env PIPELOG_SSO_ISSUER
# client_id = "00000000-0000-0000-0000-000000000000"            # env PIPELOG_SSO_CLIENT_ID
# The client secret: prefer a file readable only by pipelog (env PIPELOG_SSO_CLIENT_SECRET_FILE),
# or PIPELOG_SSO_CLIENT_SECRET. It is never printed.
# client_secret_file = "/etc/pipelog/sso-secret"
# redirect_url = "https://pipeline.example.com/api/auth/sso/callback"   # default: --base-url + that path
# scopes = ["openid", "email", "profile"]
# allowed_domains = ["example.com"]    # emails allowed to sign in; for Entra ID, your verified domains
# allowed_tenants = ["<tenant-id>"]    # required with the organizations or common issuer
# require_approval = true              # a new account made by single sign-on waits for an admin
# label = "Sign in with Microsoft"     # the button's text
# password_sign_in = true              # false: only admins may still sign in with a password
# microsoft = true                     # Entra ID's rules; default: whether the issuer is login.microsoftonline.com
# key_refetch_seconds = 60             # least time between fetches of the provider's keys

[data]
# A start loads the model snapshot and folds the events after it instead of replaying the whole
# log; a clean stop writes one, and so does every write this many events after the last.
# snapshot_every_events = 100000

[history]
# stale_after_days = 30                # an open deal with no change for this long is stale
# stale_after_days_by_stage = { "Proposition" = 14 }   # the same per stage, by its name in Odoo
"#;

#[cfg(test)]
mod example_tests {
    use super::*;

    #[test]
    fn the_example_parses_and_uncommented_it_still_parses() {
        let file: ConfigFile = toml::from_str(EXAMPLE).expect("the example parses");
        assert!(file.odoo.url.is_none());
        let uncommented: String = EXAMPLE
            .lines()
            .map(|line| {
                line.strip_prefix("# ")
                    .filter(|rest| rest.contains(" = "))
                    .unwrap_or(line)
            })
            .collect::<Vec<_>>()
            .join("\n");
        let file: ConfigFile = toml::from_str(&uncommented).expect("every documented key exists");
        assert_eq!(file.sync.page_size, Some(2000));
        assert_eq!(file.odoo.login.as_deref(), Some("pipelog-sync@example.com"));
        assert_eq!(file.server.max_connections_per_address, Some(256));
        assert_eq!(file.history.stale_after_days, Some(30));
        assert_eq!(
            file.sso.scopes.as_deref(),
            Some(&DEFAULT_SCOPES.map(String::from)[..])
        );
        let mut problems = Vec::new();
        let stale = stale_rules(file.history, &mut problems);
        assert_eq!(
            (stale.days_for(Some("proposition")), stale.days_for(None)),
            (14, 30)
        );
        assert!(problems.is_empty(), "{problems:?}");
        let zero: ConfigFile = toml::from_str("[history]\nstale_after_days = 0").expect("parses");
        stale_rules(zero.history, &mut problems);
        assert_eq!(problems.len(), 1, "{problems:?}");
    }

    #[test]
    fn trusted_proxies_are_addresses_or_ranges() {
        let file: ConfigFile = toml::from_str(
            "[server]\ntrusted_proxies = [\"127.0.0.1\", \"10.0.0.0/8\", \"proxy\"]",
        )
        .expect("parses");
        let problems = resolve(file, &Overrides::default(), &|_| None).expect_err("invalid");
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("\"proxy\""));
        let env = |name: &str| {
            (name == "PIPELOG_TRUSTED_PROXIES").then(|| "::1, 192.168.0.0/16".to_string())
        };
        let settings = resolve(ConfigFile::default(), &Overrides::default(), &env).expect("valid");
        assert_eq!(settings.server.trusted_proxies.len(), 2);
    }
}
