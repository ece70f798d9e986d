//! What one write transaction writes: the planned events with their positions and versions,
//! the source records and cursors, the view rows (bumping the facts generation when facts
//! change) and the checkpoints. The writer lock and the read model are `Store`'s.

use std::ops::Bound;

use super::*;

/// A batch of commands checked and given positions, ready to be written.
pub(super) struct Planned {
    pub(super) results: Vec<Result<Appended, StoreError>>,
    pub(super) envelopes: Vec<EventEnvelope>,
    /// Aggregate → its version after this transaction.
    pub(super) versions: BTreeMap<String, u64>,
    /// Command id → the outcome to answer when the command is sent again.
    pub(super) commands: Vec<(String, StoredCommand)>,
}

/// Checks command ids and expected versions and assigns positions. Only reads the file and touches
/// no in-memory state, so a failure here leaves nothing to undo.
pub(super) fn plan_events(
    txn: &WriteTransaction,
    batches: Vec<CommandBatch>,
) -> Result<Planned, StoreError> {
    let events = txn.open_table(EVENTS)?;
    let versions = txn.open_table(AGGREGATES)?;
    let commands = txn.open_table(COMMANDS)?;
    let mut next_position = events.last()?.map(|(key, _)| key.value() + 1).unwrap_or(1);
    let recorded_at = Timestamp::now();
    let mut seen_commands: BTreeMap<String, StoredCommand> = BTreeMap::new();
    let mut planned = Planned {
        results: Vec::with_capacity(batches.len()),
        envelopes: Vec::new(),
        versions: BTreeMap::new(),
        commands: Vec::new(),
    };
    for batch in batches {
        if let Some(command_id) = &batch.command_id {
            let first = match seen_commands.get(command_id) {
                Some(first) => Some(first.clone()),
                None => commands
                    .get(command_id.as_str())?
                    .map(|stored| StoredCommand::decode(command_id, stored.value()))
                    .transpose()?,
            };
            if let Some(first) = first {
                planned
                    .results
                    .push(first.replay(command_id, &batch.fingerprint));
                continue;
            }
        }
        let mut batch_versions: BTreeMap<String, u64> = BTreeMap::new();
        let mut conflict = None;
        let mut new_versions = Vec::with_capacity(batch.events.len());
        for new in &batch.events {
            let key = new.event.aggregate().to_string();
            let current = match batch_versions
                .get(&key)
                .or_else(|| planned.versions.get(&key))
            {
                Some(version) => *version,
                None => match versions.get(key.as_str())? {
                    Some(stored) => aggregates::version_of(stored.value()).map_err(|reason| {
                        StoreError::Damaged(format!("aggregate {key}: {reason}"))
                    })?,
                    None => 0,
                },
            };
            if !version_matches(new.expected_version, current) {
                conflict = Some(StoreError::Conflict {
                    aggregate: key,
                    expected: ExpectedVersionText(new.expected_version),
                    actual: current,
                });
                break;
            }
            batch_versions.insert(key, current + 1);
            new_versions.push(current + 1);
        }
        if let Some(conflict) = conflict {
            planned.results.push(Err(conflict));
            continue;
        }
        let mut appended = Appended {
            positions: Vec::new(),
            versions: new_versions,
            replayed: false,
        };
        for (new, &aggregate_version) in batch.events.into_iter().zip(&appended.versions) {
            planned
                .envelopes
                .push(envelope(new, next_position, aggregate_version, recorded_at));
            appended.positions.push(next_position);
            next_position += 1;
        }
        planned.versions.extend(batch_versions);
        if let Some(command_id) = batch.command_id {
            let stored = StoredCommand {
                appended: appended.clone(),
                fingerprint: batch.fingerprint,
            };
            seen_commands.insert(command_id.clone(), stored.clone());
            planned.commands.push((command_id, stored));
        }
        planned.results.push(Ok(appended));
    }
    Ok(planned)
}

/// Writes planned events with their per-aggregate index, versions, command outcomes and counts.
/// A new dictionary, when one is due, is trained after the events are in (see `codec`).
pub(super) fn write_events(
    txn: &WriteTransaction,
    planned: &Planned,
    packers: &mut Packers,
) -> Result<(), StoreError> {
    if planned.envelopes.is_empty() && planned.commands.is_empty() {
        return Ok(());
    }
    let mut packer = packers.packer(txn, Corpus::Events)?;
    let mut events = txn.open_table(EVENTS)?;
    // Positions only grow, so they go in through a cursor at the table's end: redb then packs
    // whole leaves instead of splitting each full one in half, which left the log's pages a
    // third empty.
    let mut at_end = events.upper_bound_mut(Bound::<u64>::Unbounded)?;
    let mut by_aggregate = aggregates::Appended::default();
    let mut type_counts: BTreeMap<&'static str, u64> = BTreeMap::new();
    let mut json = Vec::new();
    let mut stored = Vec::new();
    for envelope in &planned.envelopes {
        json.clear();
        serde_json::to_writer(&mut json, envelope)
            .map_err(|error| StoreError::Encode(error.to_string()))?;
        packer.pack(&[], &json, &mut stored)?;
        at_end.insert_before(envelope.position, stored.as_slice())?;
        by_aggregate.add(envelope);
        *type_counts.entry(envelope.event.type_name()).or_default() += 1;
    }
    at_end.close()?;
    drop(events);
    by_aggregate.write(txn)?;
    let mut commands = txn.open_table(COMMANDS)?;
    for (command_id, stored) in &planned.commands {
        let json =
            serde_json::to_vec(stored).map_err(|error| StoreError::Encode(error.to_string()))?;
        commands.insert(command_id.as_str(), json.as_slice())?;
    }
    let mut counts = txn.open_table(EVENT_TYPE_COUNTS)?;
    for (type_name, added) in type_counts {
        let current = counts.get(type_name)?.map(|v| v.value()).unwrap_or(0);
        counts.insert(type_name, current + added)?;
    }
    drop((commands, counts));
    packers.train_if_due(txn, Corpus::Events)?;
    Ok(())
}

/// Hands the model the history rows of the deals `envelopes` touch whose time lines it let go of
/// after the last write (see `HeldTimelines`).
pub(super) fn hold_timelines(
    txn: &WriteTransaction,
    envelopes: &[EventEnvelope],
    model: &mut ReadModel,
) -> Result<(), StoreError> {
    let wanted = model.timelines_to_hold(envelopes);
    if wanted.is_empty() {
        return Ok(());
    }
    let rows = txn.open_table(tables::LIVE_HISTORY)?;
    let mut unpacker = codec::writing(txn)?;
    for id in wanted {
        if let Some(row) = rows.get(id)? {
            let corrupt = |reason: String| StoreError::CorruptView {
                table: ViewTable::OpportunityHistory.name(),
                key: id.to_string(),
                reason,
            };
            let unpacked = unpacker
                .json(Corpus::History, row.value())
                .map_err(corrupt)?;
            model
                .hold_timeline(id, &unpacked)
                .map_err(|error| corrupt(error.to_string()))?;
        }
    }
    Ok(())
}

/// Below this many events a write folds them on its own thread: starting a second one costs more.
pub(super) const PARALLEL_FOLD_EVENTS: usize = 256;

/// Writes the events and source records while the model folds them and renders the rows that
/// changed: the two touch nothing in common, so large batches (a sync's pages) do both at once.
pub(super) fn write_and_fold(
    txn: &WriteTransaction,
    planned: &Planned,
    sources: &SourceUpdates,
    model: &mut ReadModel,
    packers: &mut Packers,
) -> Result<Vec<ViewRow>, StoreError> {
    hold_timelines(txn, &planned.envelopes, model)?;
    let fold = |model: &mut ReadModel| {
        for envelope in &planned.envelopes {
            model.apply(envelope);
        }
        let rows = model.settle();
        model.release_timelines();
        rows
    };
    let mut write = || {
        write_events(txn, planned, packers)?;
        write_sources(txn, sources, packers)
    };
    if planned.envelopes.len() < PARALLEL_FOLD_EVENTS {
        write()?;
        return Ok(fold(model));
    }
    std::thread::scope(|scope| {
        let folding = scope.spawn(|| fold(model));
        let written = write();
        let rows = folding
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        written.map(|()| rows)
    })
}

/// Writes a batch's view rows and checkpoints, and commits.
pub(super) fn finish(
    txn: WriteTransaction,
    rows: &[ViewRow],
    position: u64,
    packers: &mut Packers,
) -> Result<(), StoreError> {
    write_rows(&txn, rows, Generation::Live, packers)?;
    for corpus in Corpus::VIEWS {
        if rows
            .iter()
            .any(|row| Corpus::of_view(row.table, VIEW_SCHEMA_VERSION) == Some(corpus))
        {
            packers.train_if_due(&txn, corpus)?;
        }
    }
    write_checkpoints(&txn, position)?;
    txn.commit()?;
    Ok(())
}

pub(super) fn write_sources(
    txn: &WriteTransaction,
    sources: &SourceUpdates,
    packers: &mut Packers,
) -> Result<(), StoreError> {
    if sources.is_empty() {
        return Ok(());
    }
    let mut packer = packers.packer(txn, Corpus::Sources)?;
    let mut records = txn.open_table(SOURCE_RECORDS)?;
    let mut value = Vec::new();
    for record in &sources.upserts {
        packer.pack(&record.checksum.to_le_bytes(), &record.raw, &mut value)?;
        records.insert(record.key.as_str(), value.as_slice())?;
    }
    for key in &sources.deletes {
        records.remove(key.as_str())?;
    }
    let mut cursors = txn.open_table(SYNC_CURSORS)?;
    for (model, cursor) in &sources.cursors {
        cursors.insert(model.as_str(), cursor.as_slice())?;
    }
    drop((records, cursors));
    if !sources.upserts.is_empty() {
        packers.train_if_due(txn, Corpus::Sources)?;
    }
    Ok(())
}

pub(super) fn version_matches(expected: ExpectedVersion, current: u64) -> bool {
    match expected {
        ExpectedVersion::Any => true,
        ExpectedVersion::NoStream => current == 0,
        ExpectedVersion::Exactly(version) => current == version,
    }
}

pub(super) fn envelope(
    new: NewEvent,
    position: u64,
    aggregate_version: u64,
    recorded_at: Timestamp,
) -> EventEnvelope {
    let AggregateRef { kind, id } = new.event.aggregate();
    EventEnvelope {
        position,
        event_id: Uuid::now_v7(),
        schema_version: EVENT_SCHEMA_VERSION,
        aggregate_type: kind,
        aggregate_id: id,
        aggregate_version,
        recorded_at,
        effective_at: new.effective_at,
        metadata: new.metadata,
        event: new.event,
    }
}

/// Marks that this transaction changes the opportunity facts (see `META_FACTS_GENERATION`).
pub(super) fn bump_facts_generation(txn: &WriteTransaction) -> Result<(), StoreError> {
    let mut meta = txn.open_table(META)?;
    let next = (read::facts_generation_in(&meta)? + 1).to_string();
    meta.insert(tables::META_FACTS_GENERATION, next.as_str())?;
    Ok(())
}

/// Writes (or deletes) view rows in the given generation of the view tables.
pub(super) fn write_rows(
    txn: &WriteTransaction,
    rows: &[ViewRow],
    generation: Generation,
    packers: &mut Packers,
) -> Result<(), StoreError> {
    let mut start = 0;
    while start < rows.len() {
        let table = rows[start].table;
        let end = start
            + rows[start..]
                .iter()
                .take_while(|row| row.table == table)
                .count();
        write_table_rows(txn, table, &rows[start..end], generation, packers)?;
        start = end;
    }
    Ok(())
}

pub(super) fn write_table_rows(
    txn: &WriteTransaction,
    table: ViewTable,
    rows: &[ViewRow],
    generation: Generation,
    packers: &mut Packers,
) -> Result<(), StoreError> {
    // Rows written to the copy a rebuild fills are not seen until the swap, which bumps it.
    let shared = matches!(
        table,
        ViewTable::OpportunityFacts | ViewTable::OpportunityHistory
    );
    if shared && generation == Generation::Live && !rows.is_empty() {
        bump_facts_generation(txn)?;
    }
    let mut packer = match Corpus::of_view(table, VIEW_SCHEMA_VERSION) {
        Some(corpus) => Some(packers.packer(txn, corpus)?),
        None => None,
    };
    let mut packed = Vec::new();
    match view_definition(table, generation) {
        ViewDefinition::ById(definition) => {
            let mut open = txn.open_table(definition)?;
            for row in rows {
                let RowKey::Id(id) = row.key else { continue };
                match (&row.value, &mut packer) {
                    (Some(bytes), Some(packer)) => {
                        packer.pack(&[], bytes, &mut packed)?;
                        open.insert(id, packed.as_slice())?
                    }
                    (Some(bytes), None) => open.insert(id, bytes.as_slice())?,
                    (None, _) => open.remove(id)?,
                };
            }
        }
        ViewDefinition::ByName(definition) => {
            let mut open = txn.open_table(definition)?;
            for row in rows {
                let RowKey::Name(name) = &row.key else {
                    continue;
                };
                match &row.value {
                    Some(bytes) => open.insert(name.as_str(), bytes.as_slice())?,
                    None => open.remove(name.as_str())?,
                };
            }
        }
    }
    Ok(())
}

pub(super) fn write_checkpoints(txn: &WriteTransaction, position: u64) -> Result<(), StoreError> {
    let mut checkpoints = txn.open_table(CHECKPOINTS)?;
    for projection in PROJECTIONS {
        checkpoints.insert(projection, position)?;
    }
    Ok(())
}
