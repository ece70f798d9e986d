//! Finding hard deletes: Odoo keeps no trace of a deleted record, so the ids held are compared
//! with Odoo's, periodically and whenever a cheap count says they differ; a comparison that
//! would delete too much is refused.

use serde_json::json;

use super::*;

impl Syncer {
    /// Why the ids must be reconciled now: Odoo counts another number of records (archived
    /// ones included) than pipelog holds. `None` when the counts agree.
    pub(super) async fn count_differs(
        &self,
        model: SyncModel,
    ) -> Result<Option<String>, SyncError> {
        // Of the partners, pipelog holds only the deals' customers, so Odoo's count of contacts
        // says nothing, and counting just the held ones would send all their ids every sync. A
        // deleted customer changes no total: partners are reconciled periodically only.
        if model == SyncModel::Partner {
            return Ok(None);
        }
        let held = self.held_ids(model).await?;
        let remote = self.count(model, json!([])).await?;
        let held = held
            .into_iter()
            .filter(|id| !crate::migrate::is_legacy(model, *id))
            .count() as u64;
        Ok((remote != held).then(|| format!("Odoo holds {remote}, pipelog {held}")))
    }

    /// Ids pipelog holds that Odoo no longer has, and how many it holds.
    pub(super) async fn missing_ids(
        &self,
        model: SyncModel,
    ) -> Result<(Vec<OdooId>, usize), SyncError> {
        let held = self.held_ids(model).await?;
        let remote = self.search_ids(model, json!([])).await?;
        // Records the legacy migration made up (stages known by name only) are not Odoo's to delete.
        let missing: Vec<OdooId> = held
            .difference(&remote)
            .copied()
            .filter(|id| !crate::migrate::is_legacy(model, *id))
            .collect();
        Ok((missing, held.len()))
    }

    pub(super) async fn apply_deletions(
        &self,
        run: &mut Run,
        request: RunRequest,
        pending: Vec<(SyncModel, Vec<OdooId>, usize)>,
        reconciled: Vec<(SyncModel, Cursor)>,
    ) -> Result<(), SyncError> {
        if !request.allow_mass_delete {
            for (model, missing, held) in &pending {
                let share = if *held == 0 {
                    0.0
                } else {
                    missing.len() as f64 / *held as f64
                };
                if share > self.options.mass_delete_share {
                    return Err(SyncError::MassDelete {
                        model: model.odoo_name(),
                        would_delete: missing.len(),
                        held: *held,
                        percent: share * 100.0,
                        limit: self.options.mass_delete_share * 100.0,
                    });
                }
            }
        }
        let mut events = Vec::new();
        let mut updates = SourceUpdates::default();
        for (model, missing, _) in pending {
            run.counts
                .entry(model.odoo_name().to_string())
                .or_default()
                .deleted += missing.len() as u64;
            for id in missing {
                events.push(NewEvent::new(deletion(model, id)).with_metadata(run.metadata.clone()));
                updates.deletes.push(source_key(model, id));
            }
        }
        updates.cursors = reconciled
            .iter()
            .map(|(model, cursor)| cursor_entry(*model, cursor))
            .collect();
        self.append(run, events, updates).await
    }
}
