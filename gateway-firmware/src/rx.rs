//! Received bytes on their way from a UART's receive interrupt to the main
//! loop, each stamped with its arrival time.
//!
//! The board keeps one [`RxQueue`] per UART behind a critical section; the
//! interrupt pushes, the main loop pops. A full queue drops the new byte and
//! counts it, so a loss is never silent.

use heapless::Deque;

/// A bounded queue of received bytes with their arrival times.
///
/// An entry keeps only the low 32 bits of its arrival time in microseconds
/// (8 bytes rather than 16); [`RxQueue::pop`] restores the full time, which
/// holds as long as a byte is popped within 35 minutes (2^31 µs) of arriving.
#[derive(Debug)]
pub struct RxQueue<const N: usize> {
    entries: Deque<(u8, u32), N>,
    dropped: u32,
}

impl<const N: usize> Default for RxQueue<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> RxQueue<N> {
    /// An empty queue (usable in a `static`).
    pub const fn new() -> Self {
        Self {
            entries: Deque::new(),
            dropped: 0,
        }
    }

    /// Queues `byte`, received at `at_us`; when the queue is full the byte
    /// is dropped and counted in [`RxQueue::dropped`].
    pub fn push(&mut self, byte: u8, at_us: u64) {
        if self.entries.push_back((byte, at_us as u32)).is_err() {
            self.dropped = self.dropped.wrapping_add(1);
        }
    }

    /// The oldest byte and its arrival time, given the time now (or a time
    /// read once for a batch). A byte stamped after `now_us` (it came after
    /// that read) counts as arrived at `now_us`: never half an hour ago,
    /// which would look like a long silence.
    pub fn pop(&mut self, now_us: u64) -> Option<(u8, u64)> {
        let (byte, at_low) = self.entries.pop_front()?;
        let age_us = (now_us as u32).wrapping_sub(at_low);
        let age_us = if age_us > u32::MAX / 2 { 0 } else { age_us };
        Some((byte, now_us.saturating_sub(u64::from(age_us))))
    }

    /// Counts a byte the UART lost before it could be queued (an overrun).
    pub fn count_lost(&mut self) {
        self.dropped = self.dropped.wrapping_add(1);
    }

    /// Whether no byte waits.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Bytes waiting.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Bytes lost since boot, because the queue was full or the UART
    /// overran (wrapping).
    pub fn dropped(&self) -> u32 {
        self.dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_come_out_in_order_with_their_arrival_times() {
        let mut queue = RxQueue::<4>::new();
        queue.push(0x11, 1_000);
        queue.push(0x22, 1_250);
        assert_eq!(queue.len(), 2);
        assert_eq!(queue.pop(2_000), Some((0x11, 1_000)));
        assert_eq!(queue.len(), 1);
        assert_eq!(queue.pop(2_000), Some((0x22, 1_250)));
        assert_eq!(queue.pop(2_000), None);
        assert!(queue.is_empty());
    }

    #[test]
    fn arrival_times_survive_the_wrap_of_their_low_32_bits() {
        let mut queue = RxQueue::<4>::new();
        let at = (5u64 << 32) - 3; // 3 µs before the low half wraps
        queue.push(0xAB, at);
        assert_eq!(queue.pop(at + 10), Some((0xAB, at)));
        // Popped much later (but within 2^31 µs) the time is still exact.
        queue.push(0xCD, at);
        assert_eq!(queue.pop(at + 2_000_000_000), Some((0xCD, at)));
    }

    #[test]
    fn a_byte_stamped_after_now_arrived_now() {
        let mut queue = RxQueue::<4>::new();
        queue.push(0x42, 10_500);
        assert_eq!(queue.pop(10_000), Some((0x42, 10_000)));
    }

    #[test]
    fn a_full_queue_drops_the_new_byte_and_counts_it() {
        let mut queue = RxQueue::<2>::new();
        for (i, byte) in [1u8, 2, 3, 4].into_iter().enumerate() {
            queue.push(byte, i as u64);
        }
        assert_eq!(queue.dropped(), 2);
        assert_eq!(queue.pop(10).map(|(b, _)| b), Some(1));
        assert_eq!(queue.pop(10).map(|(b, _)| b), Some(2));
        assert_eq!(queue.pop(10), None);
        queue.count_lost();
        assert_eq!(queue.dropped(), 3, "an overrun counts too");
    }
}
