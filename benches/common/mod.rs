//! Shared by the benches: the `BENCH <name> <value> <unit>` line and settings from the
//! environment.

#![allow(dead_code)]

pub mod crm;
pub mod sqlite_views;

pub fn bench(name: &str, value: f64, unit: &str) {
    println!("BENCH {name} {value:.3} {unit}");
}

/// The number in `text` between the first `before` and the next `after` (a figure in a
/// command's output).
pub fn number_between(text: &str, before: &str, after: &str) -> f64 {
    let start = text.find(before).expect("field in the output") + before.len();
    let rest = &text[start..];
    rest[..rest.find(after).expect("field end")]
        .trim()
        .parse()
        .expect("a number")
}

/// A number from the environment, or `default` when it is unset or not a number.
pub fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The simulated Odoo served on a loopback port of its own, with the runtime serving it (keep it
/// alive as long as the server is needed), and its URL.
pub fn serve_fake_odoo(
    fake: &std::sync::Arc<pipelog::demo::FakeOdoo>,
) -> (tokio::runtime::Runtime, String) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    runtime.spawn(pipelog::demo::serve(
        listener,
        fake.clone(),
        std::future::pending(),
    ));
    (runtime, url)
}

/// The CRM the sync benches read: 2,000 users, `opportunities` deals, 20,000 partners in two
/// currencies, and about `history_changes` tracked changes a deal in Odoo's chatter.
pub fn synced_crm(opportunities: usize, history_changes: u32) -> pipelog::demo::CrmOptions {
    pipelog::demo::CrmOptions {
        users: 2_000,
        opportunities,
        partners: 20_000,
        seed: 11,
        currencies: vec!["USD".into(), "EUR".into()],
        history_changes,
        ..pipelog::demo::CrmOptions::default()
    }
}
