//! Wiring for `pipelog serve`: the store, the sync schedule, the HTTP server, and an ordered
//! shutdown (the server drains, the sync stops between pages, the store closes last).

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::TcpListener;

use crate::api::{self, Guards, ServerOptions, Shared};
use crate::auth::hash_password;
use crate::config::Settings;
use crate::demo::{CrmOptions, FakeOdoo};
use crate::domain::{Role, normalize_email};
use crate::projections::ViewTable;
use crate::store::{Store, StoreError};
use crate::sync::odoo::{OdooClient, OdooError, OdooSettings};
use crate::sync::schedule::{Schedule, ScheduleState, SyncJob, SyncTrigger, SystemClock, run_loop};
use crate::sync::{RunRequest, Syncer};

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Odoo(#[from] OdooError),
    #[error("cannot listen: {0}")]
    Listen(std::io::Error),
    #[error("{0}")]
    Demo(String),
}

/// The sign-in of the demo's admin.
pub const DEMO_ADMIN: &str = "admin@example.com";
/// Every demo account's password.
pub const DEMO_PASSWORD: &str = "demo";

struct LoggedSync(Syncer);

impl SyncJob for LoggedSync {
    async fn run(&self, request: RunRequest) -> Result<(), String> {
        self.0
            .run(request)
            .await
            .map(|_| ())
            .map_err(|error| error.to_string())
    }
}

/// How long the demo's pipelog has been running: the demo CRM's past is up to a year of
/// Odoo's tracking, and its last half year happens a week at a time (a day at a time in the
/// last four weeks), each step followed by a sync, before the server opens. So the demo knows
/// half a year as pipelog knows what it watched (expected closes and probabilities included),
/// and the half year before only as Odoo's chatter tells it.
pub const DEMO_WATCHED_DAYS: u32 = 182;
const DAY: jiff::SignedDuration = jiff::SignedDuration::from_hours(24);

/// How far the demo's clock moves on before its next sync, at `at`.
fn demo_step(at: jiff::Timestamp, now: jiff::Timestamp) -> jiff::SignedDuration {
    if now.duration_since(at) > DAY * 28 {
        DAY * 7
    } else {
        DAY
    }
}

/// A running demo CRM: a simulated Odoo on loopback that keeps changing.
pub struct Demo {
    pub url: String,
    fake: Arc<FakeOdoo>,
}

impl Demo {
    pub async fn start() -> Result<Demo, AppError> {
        let fake = FakeOdoo::new(CrmOptions {
            users: 24,
            opportunities: 600,
            partners: 150,
            seed: 2026,
            currencies: vec!["EUR".into(), "USD".into()],
            held_back_days: DEMO_WATCHED_DAYS,
            ..CrmOptions::default()
        });
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(AppError::Listen)?;
        let url = format!(
            "http://{}",
            listener.local_addr().map_err(AppError::Listen)?
        );
        tokio::spawn(crate::demo::serve(
            listener,
            fake.clone(),
            std::future::pending(),
        ));
        Ok(Demo { url, fake })
    }

    /// Lets the demo CRM's watched half year happen step by step, syncing after each, up to now;
    /// then keeps the CRM changing. Returns how many syncs ran. On a data file that has synced
    /// before, the demo's past has been watched already: it all happens at once, and one sync
    /// follows (syncing a past older than the file's would read as deletions).
    pub async fn catch_up(&self, syncer: &Syncer, watched_before: bool) -> Result<usize, AppError> {
        if watched_before {
            self.fake.crm().play_until(jiff::Timestamp::now());
        }
        let mut at = self.fake.crm().now();
        let mut syncs = 0;
        let mut caught_up = watched_before;
        loop {
            syncer
                .run(RunRequest::default())
                .await
                .map_err(|error| AppError::Demo(format!("a demo sync failed: {error}")))?;
            syncs += 1;
            if caught_up {
                break;
            }
            let now = jiff::Timestamp::now();
            let next = at.checked_add(demo_step(at, now)).unwrap_or(now);
            caught_up = next >= now;
            at = next.min(now);
            self.fake.crm().play_until(at);
        }
        let changing = self.fake.clone();
        // The demo pipeline keeps moving, so that history and freshness have something to show.
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(Duration::from_secs(45));
            ticks.tick().await;
            loop {
                ticks.tick().await;
                changing.crm().mutate(6);
            }
        });
        Ok(syncs)
    }

    pub fn settings(&self) -> OdooSettings {
        OdooSettings {
            timeout: Duration::from_secs(30),
            retries: 2,
            retry_backoff: Duration::from_millis(200),
            ..self.fake.admin_settings(&self.url)
        }
    }
}

/// Signs in every demo person (their email, password `demo`) and `admin@example.com` as admin.
/// Returns the sign-ins created, admin first.
pub fn create_demo_accounts(store: &Store) -> Result<Vec<String>, AppError> {
    let snapshot = store.read()?;
    let mut people = Vec::new();
    for profile in snapshot.views::<crate::projections::UserProfileView>(ViewTable::UserProfiles)? {
        if let Some(email) = profile.email.filter(|e| e.contains('@'))
            && profile.active
            && profile.employee_id.is_some()
        {
            people.push((normalize_email(&email), profile.name, Role::Member));
        }
    }
    people.insert(
        0,
        (
            DEMO_ADMIN.to_string(),
            "Demo Admin".to_string(),
            Role::Admin,
        ),
    );
    let hash = hash_password(DEMO_PASSWORD).map_err(|e| AppError::Demo(e.to_string()))?;
    let mut created = Vec::new();
    for (email, name, role) in people {
        if snapshot.login(&email)?.is_none() {
            crate::commands::register_account(
                store,
                crate::commands::NewAccount {
                    email: &email,
                    name: &name,
                    role,
                    approved: true,
                    password_hash: Some(&hash),
                    identity: None,
                    actor: "demo",
                    source: "demo",
                },
            )?;
        }
        created.push(email);
    }
    Ok(created)
}

pub struct ServeConfig {
    pub settings: Settings,
    pub options: ServerOptions,
    /// From [`setup_token_if_needed`].
    pub setup_token: Option<String>,
    /// Single sign-on, from `settings.sso` and the public base URL.
    pub sso: Option<Arc<crate::auth::oidc::SignOn>>,
}

/// How long the first-admin setup token works.
pub const SETUP_VALID_FOR: Duration = Duration::from_secs(30 * 60);

/// A one-time token for creating the first admin, when the data file has no approved admin yet.
pub fn setup_token_if_needed(store: &Store) -> Result<Option<String>, AppError> {
    let snapshot = store.read()?;
    for login in snapshot.views::<crate::projections::LoginView>(ViewTable::Logins)? {
        if login.role == Role::Admin && login.status == crate::projections::LoginStatus::Approved {
            return Ok(None);
        }
    }
    Ok(Some(crate::auth::new_session_token()))
}

/// Serves until `shutdown` completes, then stops in order.
pub async fn serve(
    store: Arc<Store>,
    config: ServeConfig,
    listener: TcpListener,
    odoo: Option<OdooSettings>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), AppError> {
    let store_for_load = store.clone();
    tokio::task::spawn_blocking(move || store_for_load.load_model(&mut |_| {}))
        .await
        .map_err(|e| AppError::Demo(e.to_string()))??;
    let trigger = Arc::new(SyncTrigger::default());
    let schedule_state = Arc::new(Mutex::new(ScheduleState::default()));
    let (stop_loop, loop_stopped) = tokio::sync::watch::channel(false);
    let mut sync_task = None;
    let mut stop_sync = None;
    let write_back = match &odoo {
        Some(settings) => Some(Arc::new(OdooClient::new(settings.clone())?)),
        None => None,
    };
    if let Some(client) = write_back.clone() {
        // Signs in ahead of the first write-back; also tells which web addresses this Odoo has.
        tokio::spawn(async move {
            if let Err(error) = client.session().await {
                tracing::debug!(%error, "the write-back client could not sign in yet");
            }
        });
    }
    if let Some(odoo) = odoo.clone() {
        let job = LoggedSync(Syncer::new(
            store.clone(),
            OdooClient::new(odoo)?,
            config.settings.sync.clone(),
        ));
        stop_sync = Some(job.0.stop_handle());
        let (trigger, state, schedule) = (
            trigger.clone(),
            schedule_state.clone(),
            config.settings.schedule.clone(),
        );
        trigger.request(RunRequest::default());
        sync_task = Some(tokio::spawn(async move {
            run_loop(
                &job,
                &schedule,
                &trigger,
                &state,
                &SystemClock,
                loop_stopped,
            )
            .await;
        }));
    }
    let store_at_stop = store.clone();
    let state = Arc::new(Shared {
        store,
        trigger,
        schedule: schedule_state,
        sync_configured: odoo.is_some(),
        odoo: write_back,
        options: config.options,
        metrics: api::RequestMetrics::default(),
        setup: Mutex::new(
            config
                .setup_token
                .map(|token| (token, std::time::Instant::now() + SETUP_VALID_FOR)),
        ),
        guards: Guards::default(),
        sso: config.sso,
    });
    let router = api::router(state);
    api::serve(
        listener,
        router,
        config.settings.server.limits.clone(),
        shutdown,
    )
    .await
    .map_err(AppError::Listen)?;
    tracing::info!("HTTP server drained; stopping the sync");
    if let Some(stop) = stop_sync {
        stop.store(true, Ordering::SeqCst);
    }
    let _ = stop_loop.send(true);
    if let Some(task) = sync_task {
        let _ = task.await;
    }
    save_model_snapshot(store_at_stop).await;
    Ok(())
}

/// Writes the model snapshot as the server stops, so that the next start replays nothing. A
/// failure only makes the next start slower: it is logged, not returned.
async fn save_model_snapshot(store: Arc<Store>) {
    match tokio::task::spawn_blocking(move || store.save_snapshot()).await {
        Ok(Ok(true)) => tracing::info!("model snapshot written"),
        Ok(Ok(false)) => {}
        Ok(Err(error)) => tracing::warn!(%error, "the model snapshot could not be written"),
        Err(error) => tracing::warn!(%error, "the model snapshot could not be written"),
    }
}

/// The schedule used when none is configured for the demo: a living demo syncs every minute.
pub fn demo_schedule() -> Schedule {
    Schedule::parse("* * * * *").expect("invariant: a valid literal cron expression")
}
