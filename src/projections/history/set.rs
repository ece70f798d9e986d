//! What readers hold: every deal's time line, with the versions' times and currencies in columns.

use std::collections::HashMap;
use std::sync::Arc;

use crate::domain::OdooId;

use super::{DealState, Timeline, Version};

/// Every deal's time line, as readers hold it, with every version's time also in one column
/// (time line after time line): finding the version in effect at a moment for 100,000 deals
/// then reads one contiguous array instead of touching every deal's versions.
#[derive(Debug, Default)]
pub struct TimelineSet {
    timelines: Vec<Timeline>,
    times: Vec<i64>,
    /// Where each time line's versions begin in `times`; one more at the end.
    starts: Vec<usize>,
    /// Each version's currency, as an index into `currencies`, beside `times`: the facts of a
    /// moment then need no look into each deal's own texts.
    currency_column: Vec<usize>,
    /// Every currency any version has, once.
    currencies: Vec<Arc<str>>,
    /// The earliest version of any deal: where known history begins.
    pub known_from: Option<i64>,
    /// The earliest first read of any deal: probability and expected close are known from then.
    pub first_read_at: Option<i64>,
}

/// One deal's state at a moment, as [`TimelineSet::states_at`] finds it.
pub struct StateAt<'a> {
    /// Which time line: an index into the set.
    pub index: usize,
    pub state: DealState,
    pub currency: &'a Arc<str>,
}

impl TimelineSet {
    /// `timelines` in id order.
    pub fn new(timelines: Vec<Timeline>) -> TimelineSet {
        let total = timelines.iter().map(|t| t.versions.len()).sum();
        let mut times = Vec::with_capacity(total);
        let mut starts = Vec::with_capacity(timelines.len() + 1);
        let mut currency_column = Vec::with_capacity(total);
        let mut currencies: Vec<Arc<str>> = Vec::new();
        let mut known: HashMap<&str, usize> = HashMap::new();
        let earliest = |held: Option<i64>, next: Option<i64>| match (held, next) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let (mut known_from, mut first_read_at) = (None, None);
        for timeline in &timelines {
            starts.push(times.len());
            times.extend(timeline.versions.iter().map(|v| v.at));
            for version in &timeline.versions {
                let currency = timeline.currency(&version.state);
                let index = *known.entry(currency).or_insert_with(|| {
                    currencies.push(currency.into());
                    currencies.len() - 1
                });
                currency_column.push(index);
            }
            known_from = earliest(known_from, timeline.versions.first().map(|v| v.at));
            first_read_at = earliest(first_read_at, timeline.untracked_known_from());
        }
        starts.push(times.len());
        TimelineSet {
            timelines,
            times,
            starts,
            currency_column,
            currencies,
            known_from,
            first_read_at,
        }
    }

    /// The version of the `index`th time line in effect at `at`: the last one at or before it.
    pub fn at(&self, index: usize, at: i64) -> Option<&Version> {
        self.offset(index, at)
            .map(|offset| &self.timelines[index].versions[offset])
    }

    /// [`TimelineSet::at`] with the version's currency.
    pub fn at_with_currency(&self, index: usize, at: i64) -> Option<(&Version, &Arc<str>)> {
        let offset = self.offset(index, at)?;
        Some((
            &self.timelines[index].versions[offset],
            self.currency(index, offset),
        ))
    }

    /// The state of every deal that has a version at `at`, in id order, with its currency.
    ///
    /// The versions are found from the times column first and only then read, in one tight pass:
    /// each deal's versions lie elsewhere in memory, and reads that do not wait on each other
    /// overlap, where reading each as its deal comes up would wait for them one by one.
    pub fn states_at(&self, at: i64) -> Vec<StateAt<'_>> {
        let found: Vec<(usize, usize)> = (0..self.timelines.len())
            .filter_map(|index| Some((index, self.offset(index, at)?)))
            .collect();
        found
            .into_iter()
            .map(|(index, offset)| StateAt {
                index,
                state: self.timelines[index].versions[offset].state,
                currency: self.currency(index, offset),
            })
            .collect()
    }

    /// The currency of the `offset`th version of the `index`th time line.
    fn currency(&self, index: usize, offset: usize) -> &Arc<str> {
        &self.currencies[self.currency_column[self.starts[index] + offset]]
    }

    fn offset(&self, index: usize, at: i64) -> Option<usize> {
        let (start, end) = (self.starts[index], self.starts[index + 1]);
        self.times[start..end]
            .partition_point(|&t| t <= at)
            .checked_sub(1)
    }

    pub fn position(&self, id: OdooId) -> Option<usize> {
        self.timelines.binary_search_by_key(&id, |t| t.id).ok()
    }
}

impl std::ops::Deref for TimelineSet {
    type Target = [Timeline];

    fn deref(&self) -> &[Timeline] {
        &self.timelines
    }
}
