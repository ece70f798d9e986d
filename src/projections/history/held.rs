//! What the writer holds of each deal's time line, packed as the history view stores it
//! (postcard), except the ones a batch is changing, which are unpacked while it runs and packed
//! again when its rows are rendered. A version takes about 150 bytes decoded and 70 packed.
//!
//! The store lets go of every packed time line after each write and hands back, before the next,
//! the rows of the deals that write touches ([`HeldTimelines::hold`]): the view has them already,
//! so a writer's memory does not grow with the history (a first sync that imported a million
//! changes from Odoo's tracking held 40 MB of them). A replay holds them all until it is finished.
//!
//! Readers never see this: they decode the view rows (see `set`). Pure: no I/O.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use crate::domain::{EventEnvelope, OdooId};

use super::Timeline;

fn encode(timeline: &Timeline) -> Vec<u8> {
    postcard::to_allocvec(timeline).expect("invariant: time lines always encode with postcard")
}

fn decode(bytes: &[u8]) -> Timeline {
    postcard::from_bytes(bytes).expect("invariant: a time line packed here always decodes")
}

/// Time lines of deals, deleted deals included.
#[derive(Debug, Clone, Default)]
pub struct HeldTimelines {
    /// The view rows' bytes.
    packed: HashMap<OdooId, Box<[u8]>>,
    /// Time lines changed since they were last packed.
    open: HashMap<OdooId, Timeline>,
}

impl HeldTimelines {
    /// Places an event of deal `id` in its time line (unpacking it first if needed). A deal not
    /// held gets a new time line: the store hands back the rows of deals a write touches first.
    pub fn record(&mut self, id: OdooId, envelope: &EventEnvelope) {
        let timeline = match self.open.entry(id) {
            Entry::Occupied(open) => open.into_mut(),
            Entry::Vacant(slot) => {
                let timeline = self
                    .packed
                    .remove(&id)
                    .map_or_else(|| Timeline::new(id), |packed| decode(&packed));
                slot.insert(timeline)
            }
        };
        timeline.record(envelope);
    }

    /// Whether deal `id`'s time line is held, open or packed.
    pub fn holds(&self, id: OdooId) -> bool {
        self.open.contains_key(&id) || self.packed.contains_key(&id)
    }

    /// Holds deal `id`'s time line as its history row stores it, unpacked: it is held because a
    /// write is about to change it. Bytes that do not decode as a time line are refused, and
    /// nothing is held.
    pub fn hold(&mut self, id: OdooId, bytes: &[u8]) -> Result<(), postcard::Error> {
        let timeline: Timeline = postcard::from_bytes(bytes)?;
        self.packed.remove(&id);
        self.open.insert(id, timeline);
        Ok(())
    }

    /// Lets go of every packed time line (their rows hold them); open ones stay.
    pub fn release_packed(&mut self) {
        self.packed = HashMap::new();
    }

    /// Every packed time line, in id order, moved out: afterwards only open ones are held.
    pub fn take_packed(&mut self) -> Vec<(OdooId, Vec<u8>)> {
        let mut packed: Vec<(OdooId, Vec<u8>)> = std::mem::take(&mut self.packed)
            .into_iter()
            .map(|(id, bytes)| (id, bytes.into_vec()))
            .collect();
        packed.sort_unstable_by_key(|&(id, _)| id);
        packed
    }

    /// The time line of deal `id`, decoded.
    pub fn get(&self, id: OdooId) -> Option<Timeline> {
        match self.open.get(&id) {
            Some(open) => Some(open.clone()),
            None => self.packed.get(&id).map(|packed| decode(packed)),
        }
    }

    /// Packs deal `id`'s time line if it is open, and returns its view row's bytes.
    pub fn pack(&mut self, id: OdooId) -> Option<Vec<u8>> {
        if let Some(open) = self.open.remove(&id) {
            let bytes = encode(&open);
            self.packed.insert(id, bytes.as_slice().into());
            return Some(bytes);
        }
        self.packed.get(&id).map(|packed| packed.to_vec())
    }

    /// Packs every open time line.
    pub fn pack_all(&mut self) {
        for (id, open) in std::mem::take(&mut self.open) {
            self.packed.insert(id, encode(&open).into_boxed_slice());
        }
    }

    /// The view row's bytes of deal `id`'s time line, packed or not.
    pub fn bytes(&self, id: OdooId) -> Option<Vec<u8>> {
        match self.open.get(&id) {
            Some(open) => Some(encode(open)),
            None => self.packed.get(&id).map(|packed| packed.to_vec()),
        }
    }

    /// Every deal with a time line held, in id order.
    pub fn ids(&self) -> Vec<OdooId> {
        let mut ids: Vec<OdooId> = self
            .packed
            .keys()
            .chain(self.open.keys())
            .copied()
            .collect();
        ids.sort_unstable();
        ids
    }

    /// Time lines not packed now.
    pub fn open_count(&self) -> usize {
        self.open.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::samples::opportunity;
    use crate::domain::{Event, FieldChange};
    use crate::projections::history::tests::at;

    fn renamed(position: u64, name: &str, seconds: i64) -> EventEnvelope {
        at(
            position,
            Event::OpportunityUpdated {
                id: 9,
                changes: vec![FieldChange::new("name", &"", &name)],
            },
            seconds,
        )
    }

    /// The events of one deal in the order a sync writes them: the read, a rename, then a past
    /// that comes late (older in time than both), then a newer rename.
    fn events() -> Vec<EventEnvelope> {
        let mut past = opportunity(Some(1), 3, 900);
        past.name = "Old name".into();
        vec![
            at(
                1,
                Event::OpportunityCreated {
                    id: 9,
                    record: opportunity(Some(1), 3, 900),
                },
                100,
            ),
            renamed(2, "Renamed", 200),
            at(
                3,
                Event::OpportunityHistoryBegins {
                    id: 9,
                    record: past,
                    first_read_at: None,
                    gaps: Vec::new(),
                },
                10,
            ),
            renamed(4, "Renamed again", 300),
        ]
    }

    #[test]
    fn packing_between_any_two_events_changes_nothing() {
        let events = events();
        let mut whole = Timeline::new(9);
        for event in &events {
            whole.record(event);
        }
        for pack_after in 0..events.len() {
            let mut held = HeldTimelines::default();
            for (index, event) in events.iter().enumerate() {
                held.record(9, event);
                if index == pack_after {
                    held.pack_all();
                    assert_eq!(held.open_count(), 0);
                }
            }
            assert_eq!(
                held.get(9).as_ref(),
                Some(&whole),
                "packed after {pack_after}"
            );
            assert_eq!(held.bytes(9), Some(encode(&whole)));
            assert_eq!(held.pack(9), Some(encode(&whole)));
            assert_eq!(
                held.get(9).map(|t| t.name),
                Some("Renamed again".to_string())
            );
        }
    }

    #[test]
    fn a_late_older_name_does_not_replace_the_newest_after_packing() {
        let mut held = HeldTimelines::default();
        held.record(9, &renamed(1, "Newest", 500));
        held.pack_all();
        held.record(9, &renamed(2, "Older", 100));
        assert_eq!(held.get(9).map(|t| t.name), Some("Newest".to_string()));
        assert_eq!(held.ids(), vec![9]);
        assert_eq!(held.get(10), None);
        assert_eq!(held.pack(10), None);
    }

    #[test]
    fn a_time_line_let_go_and_held_again_from_its_row_goes_on_as_if_always_held() {
        let events = events();
        let mut whole = HeldTimelines::default();
        for event in &events {
            whole.record(9, event);
        }
        for release_after in 0..events.len() {
            let mut held = HeldTimelines::default();
            for (index, event) in events.iter().enumerate() {
                held.record(9, event);
                if index == release_after {
                    let row = held.pack(9).expect("a recorded time line has a row");
                    held.release_packed();
                    assert!(!held.holds(9));
                    held.hold(9, &row).expect("its own row decodes");
                }
            }
            assert_eq!(held.get(9), whole.get(9), "let go after {release_after}");
        }
    }

    #[test]
    fn bytes_that_are_not_a_time_line_are_refused() {
        let mut held = HeldTimelines::default();
        assert!(held.hold(9, &[0xff; 3]).is_err());
        assert!(!held.holds(9));
    }
}
