//! The crash harness: the real server, syncing and taking commands, killed with SIGKILL at random
//! moments, 50 times (`PIPELOG_CRASH_TRIALS=N` for a longer run, `PIPELOG_CRASH_SEED=S` for other
//! moments). After every kill: the file opens, `verify` is clean, every acknowledged command is in
//! the log, and a sync completes without duplicating anything.

mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use pipelog::demo::crm::Rng;
use pipelog::domain::Event;
use pipelog::store::ReadOnlyStore;
use support::{FakeServer, Pipelog, small_crm, start_server, text};

/// Kills in a normal run (and in CI).
const TRIALS: usize = 50;

fn from_env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn start(pipelog: &Pipelog) -> (std::process::Child, String) {
    start_server(pipelog.command(&["serve", "--listen", "127.0.0.1:0"]))
}

#[test]
fn killed_at_random_moments_nothing_acknowledged_is_lost_and_nothing_is_duplicated() {
    let server = FakeServer::start(small_crm());
    // Model snapshots every few pages, so that kills fall before, during and after writing one.
    let pipelog = Pipelog::new(
        &server.url,
        "schedule = \"* * * * * *\"\npage_size = 25\n\n[data]\nsnapshot_every_events = 40",
    );
    pipelog.add_admin("ops@example.com", "crash-test-password");
    assert!(pipelog.sync(&[]).status.success());
    let users: Vec<u64> = server
        .fake
        .crm()
        .table("res.users")
        .expect("users")
        .keys()
        .copied()
        .filter(|id| *id >= 10)
        .collect();

    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    let trials = from_env("PIPELOG_CRASH_TRIALS", TRIALS as u64) as usize;
    let mut rng = Rng::new(from_env("PIPELOG_CRASH_SEED", 99));
    // Acknowledged commands: position → (user, manager).
    let mut acknowledged: BTreeMap<u64, (u64, u64)> = BTreeMap::new();
    // Kills after which the file held a model snapshot that a replay confirmed.
    let mut kills_with_a_snapshot = 0;
    for trial in 0..trials {
        server.fake.crm().mutate(5);
        let (mut child, url) = start(&pipelog);
        let login = client
            .post(format!("{url}/api/auth/login"))
            .json(
                &serde_json::json!({"email": "ops@example.com", "password": "crash-test-password"}),
            )
            .send();
        if let Ok(response) = login
            && response.status() == 200
        {
            let cookie = support::session_cookie(&response);
            let kill_after = Duration::from_millis(rng.below(400));
            let started = Instant::now();
            while started.elapsed() < kill_after {
                let user = *rng.pick(&users);
                let manager = *rng.pick(&users);
                if user == manager {
                    continue;
                }
                let answer = client
                    .post(format!("{url}/api/users/{user}/manager"))
                    .header("cookie", &cookie)
                    .header(
                        "idempotency-key",
                        format!("trial-{trial}-{user}-{manager}-{}", rng.below(1 << 30)),
                    )
                    .json(&serde_json::json!({"manager": manager}))
                    .send();
                if let Ok(response) = answer
                    && response.status() == 200
                    && let Ok(body) = response.json::<serde_json::Value>()
                    && let Some(position) = body["positions"][0].as_u64()
                {
                    acknowledged.insert(position, (user, manager));
                }
            }
        }
        child.kill().expect("SIGKILL");
        child.wait().expect("reaped");

        // The file opens, every view matches a replay, and every acknowledged command is there.
        let verify = pipelog.run(&["verify"]);
        assert!(verify.status.success(), "trial {trial}: {}", text(&verify));
        if text(&verify).contains("matches a replay") {
            kills_with_a_snapshot += 1;
        }
        let store = ReadOnlyStore::open(pipelog.data()).expect("opens after a kill");
        let snapshot = store.read().expect("snapshot");
        for (position, (user, manager)) in &acknowledged {
            let event = snapshot
                .events_after(position - 1, 1)
                .expect("read")
                .pop()
                .expect("acknowledged event present");
            assert_eq!(
                event.event,
                Event::ManagerAssigned {
                    user_id: *user,
                    manager_id: Some(*manager)
                },
                "trial {trial}"
            );
        }
    }
    // A sync after all that completes, and a second one finds nothing new: nothing was duplicated.
    // (The simulated CRM deleted records in every trial, and the server reconciles only hourly: a
    // long run collects more deletions than the mass-delete guard lets through unconfirmed.)
    let after = pipelog.sync(&["--full", "--allow-mass-delete"]);
    assert!(after.status.success(), "{}", text(&after));
    let before = pipelog.status()["events"].as_u64().expect("events");
    assert!(pipelog.sync(&["--full"]).status.success());
    assert_eq!(
        pipelog.status()["events"].as_u64(),
        Some(before + 2),
        "only the run's own two events"
    );
    let store = ReadOnlyStore::open(pipelog.data()).expect("opens");
    let events = store
        .read()
        .expect("snapshot")
        .events_after(0, usize::MAX)
        .expect("events");
    let mut created: BTreeMap<String, u32> = BTreeMap::new();
    for envelope in &events {
        if envelope.event.type_name().ends_with("Created") {
            *created
                .entry(format!(
                    "{}/{}",
                    envelope.aggregate_type.as_str(),
                    envelope.aggregate_id
                ))
                .or_default() += 1;
        }
        if envelope.event.type_name().ends_with("Deleted") {
            created.remove(&format!(
                "{}/{}",
                envelope.aggregate_type.as_str(),
                envelope.aggregate_id
            ));
        }
    }
    assert!(
        created.values().all(|n| *n == 1),
        "a record created twice: {:?}",
        created.iter().filter(|(_, n)| **n > 1).collect::<Vec<_>>()
    );
    assert!(
        !acknowledged.is_empty(),
        "the harness acknowledged commands before killing"
    );
    assert!(
        kills_with_a_snapshot > 0,
        "no kill left a model snapshot behind"
    );
    eprintln!(
        "{trials} kills; {} acknowledged commands all found; {} events in the log; {kills_with_a_snapshot} kills left a model snapshot that verified",
        acknowledged.len(),
        events.len()
    );
}
