//! A set of Odoo ids asked about once per deal or per version, hundreds of thousands of times
//! in one answer.

use crate::domain::OdooId;

/// Ids above this are held only as a sorted list: a bitmap of them would pass 2 MiB.
const BITMAP_LIMIT: OdooId = 1 << 24;

/// A set of ids: a bitmap, since Odoo numbers its records from 1 and the ids a question
/// asks about (users, stages) stay small, and the sorted ids for those past the bitmap's
/// limit and for going through them in order.
#[derive(Debug, Clone, Default)]
pub(crate) struct IdSet {
    bits: Vec<u64>,
    sorted: Vec<OdooId>,
}

impl IdSet {
    pub(crate) fn new(ids: impl IntoIterator<Item = OdooId>) -> IdSet {
        let mut sorted: Vec<OdooId> = ids.into_iter().collect();
        sorted.sort_unstable();
        sorted.dedup();
        let small = sorted.partition_point(|&id| id < BITMAP_LIMIT);
        let words = sorted[..small]
            .last()
            .map_or(0, |&max| max as usize / 64 + 1);
        let mut bits = vec![0u64; words];
        for &id in &sorted[..small] {
            bits[id as usize / 64] |= 1 << (id % 64);
        }
        IdSet { bits, sorted }
    }

    pub(crate) fn contains(&self, id: OdooId) -> bool {
        if id < BITMAP_LIMIT {
            self.bits
                .get(id as usize / 64)
                .is_some_and(|word| word & (1 << (id % 64)) != 0)
        } else {
            self.sorted.binary_search(&id).is_ok()
        }
    }

    /// In id order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = OdooId> + '_ {
        self.sorted.iter().copied()
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn holds_exactly_its_ids(
            ids in proptest::collection::vec(
                prop_oneof![0..300u64, (BITMAP_LIMIT - 70)..(BITMAP_LIMIT + 70), any::<u64>()],
                0..40,
            ),
            probes in proptest::collection::vec(
                prop_oneof![0..300u64, (BITMAP_LIMIT - 70)..(BITMAP_LIMIT + 70), any::<u64>()],
                0..80,
            ),
        ) {
            let set = IdSet::new(ids.iter().copied());
            for probe in probes.iter().chain(&ids) {
                prop_assert_eq!(set.contains(*probe), ids.contains(probe), "id {}", probe);
            }
            let mut expected = ids.clone();
            expected.sort_unstable();
            expected.dedup();
            prop_assert_eq!(set.iter().collect::<Vec<_>>(), expected);
        }
    }
}
