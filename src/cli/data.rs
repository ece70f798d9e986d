//! Commands that move data in or out of the file: `user add`, `backup`, `export-events`,
//! `import-events`, `migrate-legacy`.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use pipelog::store::Store;

use super::open_read_only;

pub(crate) fn user_add(
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
            password_hash: Some(&hash),
            identity: None,
            actor: "cli",
            source: "cli",
        },
    )?;
    println!("added {email} ({})", if admin { "admin" } else { "member" });
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn backup(path: &Path, out: &Path) -> anyhow::Result<ExitCode> {
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

pub(crate) fn export_events(path: &Path, out: &Path) -> anyhow::Result<ExitCode> {
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

pub(crate) fn migrate_legacy(path: &Path, file: &Path, currency: &str) -> anyhow::Result<ExitCode> {
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

pub(crate) fn import_events(path: &Path, input: &Path) -> anyhow::Result<ExitCode> {
    let file =
        std::fs::File::open(input).with_context(|| format!("cannot open {}", input.display()))?;
    let store = Store::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let imported = store.import_events(&mut std::io::BufReader::new(file))?;
    println!("imported {imported} events and rebuilt the views");
    Ok(ExitCode::SUCCESS)
}
