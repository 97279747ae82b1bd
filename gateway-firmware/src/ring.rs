//! The event ring: gate events waiting for the server's acknowledgement.
//!
//! Owns sequence numbering (from 1, gapless over stored events) and the
//! acknowledge rule (events with `seq <= ack` are freed). A full ring refuses
//! the new event, never overwrites a waiting one; the caller counts the
//! refusal in `EVENTS_OVERFLOWED`. It must not know about Modbus.

use gateway_registers::EventRecord;
use heapless::Deque;

/// Events the gateway holds at most (about 48 bytes each).
pub const EVENT_CAPACITY: usize = 256;

/// Why an acknowledgement was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AckError {
    /// The sequence number was never assigned.
    PastNewest {
        /// Newest sequence number assigned so far.
        newest_seq: u32,
    },
}

/// A gate event before it has a sequence number.
pub type NewEvent = EventRecord;

/// The ring itself.
#[derive(Debug)]
pub struct EventRing {
    events: Deque<EventRecord, EVENT_CAPACITY>,
    newest_seq: u32,
}

impl Default for EventRing {
    fn default() -> Self {
        Self::new()
    }
}

impl EventRing {
    /// An empty ring; the first event gets sequence number 1.
    pub const fn new() -> Self {
        Self {
            events: Deque::new(),
            newest_seq: 0,
        }
    }

    /// Stores `event` with the next sequence number and returns it, or
    /// returns `None` (and stores nothing, assigns no number) when full.
    /// The `seq` field of `event` is ignored.
    pub fn push(&mut self, mut event: NewEvent) -> Option<u32> {
        if self.events.is_full() {
            return None;
        }
        let seq = self.newest_seq.wrapping_add(1).max(1);
        event.seq = seq;
        // Cannot fail: fullness was checked above.
        self.events.push_back(event).ok()?;
        self.newest_seq = seq;
        Some(seq)
    }

    /// Frees every event with `seq <= ack_seq`; returns how many.
    pub fn acknowledge(&mut self, ack_seq: u32) -> Result<usize, AckError> {
        if ack_seq > self.newest_seq {
            return Err(AckError::PastNewest {
                newest_seq: self.newest_seq,
            });
        }
        let mut freed = 0;
        while self.events.front().is_some_and(|e| e.seq <= ack_seq) {
            self.events.pop_front();
            freed += 1;
        }
        Ok(freed)
    }

    /// The `index`-th oldest waiting event.
    pub fn get(&self, index: usize) -> Option<&EventRecord> {
        self.events.iter().nth(index)
    }

    /// Events waiting.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// No events waiting.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// Sequence number of the oldest waiting event, 0 when empty.
    pub fn oldest_seq(&self) -> u32 {
        self.events.front().map_or(0, |e| e.seq)
    }

    /// Newest sequence number assigned, 0 before the first.
    pub fn newest_seq(&self) -> u32 {
        self.newest_seq
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use gateway_registers::{Direction, EPC_MAX_WORDS};

    pub(crate) fn event(tag: u16) -> NewEvent {
        let mut epc = [0; EPC_MAX_WORDS];
        epc[5] = tag;
        EventRecord {
            seq: 0,
            timestamp_ms: u32::from(tag),
            gate: 0,
            direction: Direction::In,
            antenna: 1,
            rssi_dbm: -50,
            epc_words: 6,
            epc,
        }
    }

    #[test]
    fn sequence_starts_at_one_and_ack_frees_up_to_it() {
        let mut ring = EventRing::new();
        assert_eq!((ring.oldest_seq(), ring.newest_seq()), (0, 0));
        for tag in 1..=5 {
            assert_eq!(ring.push(event(tag)), Some(u32::from(tag)));
        }
        assert_eq!(ring.acknowledge(3), Ok(3));
        assert_eq!((ring.len(), ring.oldest_seq()), (2, 4));
        assert_eq!(ring.get(0).map(|e| e.epc[5]), Some(4));
        // A repeated or older acknowledgement frees nothing.
        assert_eq!(ring.acknowledge(3), Ok(0));
        assert_eq!(ring.acknowledge(0), Ok(0));
        assert_eq!(
            ring.acknowledge(6),
            Err(AckError::PastNewest { newest_seq: 5 })
        );
        assert_eq!(ring.acknowledge(5), Ok(2));
        assert!(ring.is_empty());
        assert_eq!(ring.oldest_seq(), 0);
        assert_eq!(ring.push(event(6)), Some(6));
    }

    #[test]
    fn a_full_ring_refuses_without_using_a_sequence_number() {
        let mut ring = EventRing::new();
        for i in 0..EVENT_CAPACITY {
            assert!(ring.push(event(i as u16)).is_some());
        }
        assert_eq!(ring.push(event(0)), None);
        assert_eq!(ring.newest_seq(), EVENT_CAPACITY as u32);
        assert_eq!(ring.acknowledge(1), Ok(1));
        assert_eq!(ring.push(event(0)), Some(EVENT_CAPACITY as u32 + 1));
    }
}
