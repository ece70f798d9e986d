//! `serve`: checks the flags, listens, opens the file, starts the demo CRM if asked, serves.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use pipelog::store::Store;
use pipelog::sync::Syncer;
use pipelog::sync::odoo::OdooClient;

use super::shutdown_signal;
use crate::OdooArgs;

pub(crate) fn serve(
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
    let sso = match settings.sso.clone() {
        Some(sso) => {
            let sign_on = pipelog::auth::oidc::SignOn::new(sso, base_url.as_deref())?;
            println!(
                "single sign-on through {} (register the redirect URL {} with it)",
                sign_on.settings().issuer,
                sign_on.redirect_url()
            );
            Some(Arc::new(sign_on))
        }
        None => None,
    };
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
    store.set_snapshot_every(settings.snapshot_every_events);
    runtime.block_on(async {
        let odoo_settings = if demo {
            let running = Demo::start().await?;
            let odoo = running.settings();
            settings.schedule = app::demo_schedule();
            let syncer = Syncer::new(store.clone(), OdooClient::new(odoo.clone())?, settings.sync.clone());
            let watched_before = store.read()?.sync_status()?.last_success_at.is_some();
            if !watched_before {
                println!("DEMO MODE: syncing the demo CRM's last {} days as they happen, a week (then a day) at a time ...", app::DEMO_WATCHED_DAYS);
            }
            let started = std::time::Instant::now();
            let syncs = running.catch_up(&syncer, watched_before).await.context("the demo's first syncs failed")?;
            println!("  {syncs} {} in {:.1} s", if syncs == 1 { "sync" } else { "syncs" }, started.elapsed().as_secs_f64());
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
            stale_rules: settings.stale.clone(),
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
        let config = ServeConfig { settings, options, setup_token, sso };
        app::serve(store.clone(), config, listener, odoo_settings, shutdown_signal()).await?;
        println!("pipelog stopped cleanly");
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}
