//! A full disk and a read-only data directory: pipelog says so plainly, keeps answering reads,
//! never corrupts the file, and works again once space (or write access) returns. Uses a small
//! tmpfs mount, so it needs root (as in CI).

mod support;

use std::path::Path;
use std::process::Command;

use support::{FakeServer, Pipelog, text};

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

struct Mount(std::path::PathBuf);

impl Mount {
    fn tmpfs(path: &Path, size: &str) -> Mount {
        std::fs::create_dir_all(path).expect("mount point");
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(path)
            .status()
            .expect("mount runs");
        assert!(status.success(), "mount a tmpfs at {}", path.display());
        Mount(path.to_path_buf())
    }

    fn remount(&self, options: &str) {
        let status = Command::new("mount")
            .args(["-o", &format!("remount,{options}")])
            .arg(&self.0)
            .status()
            .expect("mount runs");
        assert!(status.success(), "remount {options}");
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

fn data_on(pipelog: &mut Pipelog, mount: &Mount) {
    pipelog.data = mount.0.join("pipelog.redb");
}

#[test]
fn a_full_disk_and_a_read_only_directory_fail_plainly_and_recover() {
    if !is_root() {
        eprintln!("skipped: mounting a tmpfs needs root");
        return;
    }
    let server = FakeServer::start(pipelog::demo::CrmOptions {
        users: 40,
        opportunities: 3_000,
        partners: 300,
        seed: 3,
        ..Default::default()
    });
    let mut pipelog = Pipelog::new(&server.url, "page_size = 200");
    let mount = Mount::tmpfs(&pipelog.dir.path().join("small"), "1500k");
    data_on(&mut pipelog, &mount);

    // The first full sync does not fit.
    let full = pipelog.sync(&[]);
    assert!(!full.status.success());
    let said = text(&full);
    assert!(
        said.contains("No space left on device") || said.contains("os error 28"),
        "{said}"
    );
    // Reads still work, and what was committed is consistent.
    let status = pipelog.run(&["status", "--json"]);
    assert!(status.status.success(), "{}", text(&status));
    let verify = pipelog.run(&["verify"]);
    assert!(verify.status.success(), "{}", text(&verify));

    // Space returns: the next sync completes.
    mount.remount("size=64m");
    let again = pipelog.sync(&["--full"]);
    assert!(again.status.success(), "{}", text(&again));
    assert!(pipelog.run(&["verify"]).status.success());
    let events = pipelog.status()["events"].as_u64().expect("events");

    // A read-only directory: writing fails with a clear message, reading works.
    mount.remount("ro");
    let refused = pipelog.sync(&[]);
    assert!(!refused.status.success());
    assert!(
        text(&refused).contains("Read-only file system") || text(&refused).contains("os error 30"),
        "{}",
        text(&refused)
    );
    let status = pipelog.run(&["status", "--json"]);
    assert!(
        status.status.success(),
        "reads work on a read-only directory: {}",
        text(&status)
    );
    mount.remount("rw");
    assert!(pipelog.sync(&[]).status.success());
    assert!(pipelog.status()["events"].as_u64().expect("events") >= events);
    assert!(pipelog.run(&["verify"]).status.success());
}
