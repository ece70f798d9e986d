//! How a sync run reads in the log.

use crate::domain::ModelSyncCounts;

/// Per-model counts in words for the log, e.g. `crm.lead: 600 fetched, 2 updated; res.users: 28
/// fetched` (zeros left out).
pub(super) fn describe_counts(
    counts: &std::collections::BTreeMap<String, ModelSyncCounts>,
) -> String {
    counts
        .iter()
        .map(|(model, c)| {
            let parts: Vec<String> = [
                (c.fetched, "fetched"),
                (c.created, "created"),
                (c.updated, "updated"),
                (c.deleted, "deleted"),
                (c.quarantined, "quarantined"),
            ]
            .iter()
            .filter(|(n, _)| *n > 0)
            .map(|(n, what)| format!("{n} {what}"))
            .collect();
            let mut parts = if parts.is_empty() {
                "nothing".to_string()
            } else {
                parts.join(", ")
            };
            if let Some(why) = &c.reconciled {
                parts.push_str(&format!(" (ids reconciled: {why})"));
            }
            format!("{model}: {parts}")
        })
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_read_as_words_in_the_log() {
        let mut counts = std::collections::BTreeMap::new();
        counts.insert(
            "crm.lead".to_string(),
            ModelSyncCounts {
                fetched: 600,
                created: 598,
                updated: 2,
                deleted: 1,
                quarantined: 0,
                reconciled: Some("Odoo holds 599, pipelog 600".into()),
            },
        );
        counts.insert("crm.stage".to_string(), ModelSyncCounts::default());
        assert_eq!(
            describe_counts(&counts),
            "crm.lead: 600 fetched, 598 created, 2 updated, 1 deleted (ids reconciled: Odoo holds 599, pipelog 600); crm.stage: nothing"
        );
    }
}
