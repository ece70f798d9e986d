//! What readers hold: every deal's time line, with the versions' times in one column.

use crate::domain::OdooId;

use super::{Timeline, Version};

/// Every deal's time line, as readers hold it, with every version's time also in one column
/// (time line after time line): finding the version in effect at a moment for 100,000 deals
/// then reads one contiguous array instead of touching every deal's versions.
#[derive(Debug, Default)]
pub struct TimelineSet {
    timelines: Vec<Timeline>,
    times: Vec<i64>,
    /// Where each time line's versions begin in `times`; one more at the end.
    starts: Vec<usize>,
    /// The earliest version of any deal: where known history begins.
    pub known_from: Option<i64>,
    /// The earliest first read of any deal: probability and expected close are known from then.
    pub first_read_at: Option<i64>,
}

impl TimelineSet {
    /// `timelines` in id order.
    pub fn new(timelines: Vec<Timeline>) -> TimelineSet {
        let total = timelines.iter().map(|t| t.versions.len()).sum();
        let mut times = Vec::with_capacity(total);
        let mut starts = Vec::with_capacity(timelines.len() + 1);
        let earliest = |held: Option<i64>, next: Option<i64>| match (held, next) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let (mut known_from, mut first_read_at) = (None, None);
        for timeline in &timelines {
            starts.push(times.len());
            times.extend(timeline.versions.iter().map(|v| v.at));
            known_from = earliest(known_from, timeline.versions.first().map(|v| v.at));
            first_read_at = earliest(first_read_at, timeline.untracked_known_from());
        }
        starts.push(times.len());
        TimelineSet {
            timelines,
            times,
            starts,
            known_from,
            first_read_at,
        }
    }

    /// The version of the `index`th time line in effect at `at`, as [`Timeline::at`].
    pub fn at(&self, index: usize, at: i64) -> Option<&Version> {
        let (start, end) = (self.starts[index], self.starts[index + 1]);
        let after = self.times[start..end].partition_point(|&t| t <= at);
        after
            .checked_sub(1)
            .map(|offset| &self.timelines[index].versions[offset])
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
