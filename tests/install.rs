//! install.sh into a temporary prefix: the binary, the hardened unit, the data directory; running it
//! twice is safe; uninstall keeps the data.

use std::path::Path;
use std::process::Command;

fn install(root: &Path, args: &[&str]) -> std::process::Output {
    let user = std::env::var("USER")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "root".into());
    Command::new("bash")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("install.sh"))
        .args(args)
        .env("PREFIX", root.join("usr"))
        .env("DATA_DIR", root.join("data"))
        .env("CONFIG_DIR", root.join("etc"))
        .env("SYSTEMD_DIR", root.join("systemd"))
        .env("SERVICE_USER", user)
        .output()
        .expect("install.sh runs")
}

#[test]
fn install_is_idempotent_hardened_and_uninstall_keeps_the_data() {
    if Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() != "0")
        .unwrap_or(true)
    {
        eprintln!("skipped: install.sh --systemd sets file owners, which needs root");
        return;
    }
    let root = tempfile::tempdir().expect("dir");
    let binary = env!("CARGO_BIN_EXE_pipelog");
    for _ in 0..2 {
        let output = install(root.path(), &["--binary", binary, "--systemd"]);
        assert!(
            output.status.success(),
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    assert!(root.path().join("usr/bin/pipelog").exists());
    let unit = std::fs::read_to_string(root.path().join("systemd/pipelog.service")).expect("unit");
    for line in [
        "ProtectSystem=strict",
        "Restart=on-failure",
        "NoNewPrivileges=true",
    ] {
        assert!(unit.contains(line), "{line} in\n{unit}");
    }
    assert!(unit.contains(&format!(
        "ReadWritePaths={}",
        root.path().join("data").display()
    )));
    let config =
        std::fs::read_to_string(root.path().join("etc/pipelog.toml")).expect("example config");
    assert!(config.contains("[odoo]"));
    std::fs::write(root.path().join("data/pipelog.redb"), b"precious").expect("data");

    let output = install(root.path(), &["--uninstall"]);
    assert!(output.status.success());
    assert!(!root.path().join("usr/bin/pipelog").exists());
    assert!(!root.path().join("systemd/pipelog.service").exists());
    assert_eq!(
        std::fs::read(root.path().join("data/pipelog.redb")).expect("kept"),
        b"precious"
    );
    let help = install(root.path(), &["--bogus"]);
    assert_eq!(help.status.code(), Some(2));
}
