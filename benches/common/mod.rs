//! Shared by the benches: the `BENCH <name> <value> <unit>` line and settings from the
//! environment.

#![allow(dead_code)]

pub mod crm;
pub mod sqlite_views;

pub fn bench(name: &str, value: f64, unit: &str) {
    println!("BENCH {name} {value:.3} {unit}");
}

/// A number from the environment, or `default` when it is unset or not a number.
pub fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
