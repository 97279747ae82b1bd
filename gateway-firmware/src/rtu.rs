//! Modbus RTU framing: a frame ends after 3.5 character times of silence.
//!
//! Owns the receive buffer and the silence rule, as pure functions of byte
//! arrival times in microseconds. It must not look at frame contents: CRC,
//! unit id and function are [`crate::modbus`]'s. The 1.5-character
//! inter-byte rule is not enforced (a late byte simply joins the frame and
//! the CRC decides), as most slaves do.

use heapless::Vec;

/// Longest RTU frame (unit id + 253-byte PDU + CRC).
pub const MAX_FRAME_LEN: usize = 256;

/// The 3.5-character silence in microseconds for `baud` with 11-bit
/// characters; fixed at 1750 µs above 19200 baud, as the Modbus serial line
/// specification recommends.
pub const fn t35_us(baud: u32) -> u32 {
    if baud > 19_200 || baud == 0 {
        1_750
    } else {
        // 3.5 chars × 11 bits × 1e6 µs / baud, rounded up.
        38_500_000_u32.div_ceil(baud)
    }
}

/// Whether a frame whose last byte arrived at `last_byte_us` is complete at
/// `now_us`: the silence rule itself.
pub const fn silence_ended_frame(last_byte_us: u64, now_us: u64, t35_us: u32) -> bool {
    now_us.saturating_sub(last_byte_us) >= t35_us as u64
}

/// What the framer hands over at the end of a frame.
#[derive(Debug, PartialEq, Eq)]
pub enum Received<'a> {
    /// A whole frame (not yet checked).
    Frame(&'a [u8]),
    /// More than [`MAX_FRAME_LEN`] bytes arrived without a silence.
    Overrun,
}

/// Collects bytes into frames by the silence rule.
#[derive(Debug)]
pub struct RtuFramer {
    buf: Vec<u8, MAX_FRAME_LEN>,
    last_byte_us: u64,
    t35_us: u32,
    overrun: bool,
    handed_over: bool,
}

impl RtuFramer {
    /// A framer for a line whose 3.5-character time is `t35_us`.
    pub const fn new(t35_us: u32) -> Self {
        Self {
            buf: Vec::new(),
            last_byte_us: 0,
            t35_us,
            overrun: false,
            handed_over: false,
        }
    }

    /// Takes one byte that arrived at `at_us`. Call [`Self::poll`] with
    /// `at_us` first, so a frame that ended before this byte is handed over
    /// rather than extended.
    pub fn push(&mut self, byte: u8, at_us: u64) {
        if self.handed_over {
            self.buf.clear();
            self.overrun = false;
            self.handed_over = false;
        }
        if self.buf.push(byte).is_err() {
            self.overrun = true;
        }
        self.last_byte_us = at_us;
    }

    /// Hands over the frame if the line has been silent for 3.5 characters
    /// at `now_us`; each frame is handed over once.
    pub fn poll(&mut self, now_us: u64) -> Option<Received<'_>> {
        if self.handed_over
            || self.buf.is_empty()
            || !silence_ended_frame(self.last_byte_us, now_us, self.t35_us)
        {
            return None;
        }
        self.handed_over = true;
        Some(if self.overrun {
            Received::Overrun
        } else {
            Received::Frame(&self.buf)
        })
    }

    /// When the last byte of the current (or last handed-over) frame arrived.
    pub fn last_byte_us(&self) -> u64 {
        self.last_byte_us
    }

    /// When [`Self::poll`] will next have something, if bytes are pending.
    /// Saturates at `u64::MAX` rather than overflow for a clock that far on.
    pub fn deadline_us(&self) -> Option<u64> {
        (!self.handed_over && !self.buf.is_empty())
            .then(|| self.last_byte_us.saturating_add(u64::from(self.t35_us)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn t35_is_fixed_above_19200_and_scales_below() {
        assert_eq!(t35_us(115_200), 1_750);
        assert_eq!(t35_us(19_200), 2_006);
        assert_eq!(t35_us(9_600), 4_011);
    }

    #[test]
    fn silence_rule_boundary() {
        assert!(!silence_ended_frame(1_000, 2_749, 1_750));
        assert!(silence_ended_frame(1_000, 2_750, 1_750));
        // A clock that reads earlier than the byte never ends the frame.
        assert!(!silence_ended_frame(5_000, 1_000, 1_750));
    }

    #[test]
    fn frame_ends_only_after_silence_and_is_handed_over_once() {
        let mut f = RtuFramer::new(1_750);
        for (i, b) in [1u8, 2, 3].into_iter().enumerate() {
            assert_eq!(f.poll(i as u64 * 100), None);
            f.push(b, i as u64 * 100);
        }
        assert_eq!(f.deadline_us(), Some(200 + 1_750));
        assert_eq!(f.poll(1_949), None);
        assert_eq!(f.poll(1_950), Some(Received::Frame(&[1, 2, 3])));
        assert_eq!(f.poll(10_000), None);
        assert_eq!(f.deadline_us(), None);
        f.push(9, 20_000);
        assert_eq!(f.poll(30_000), Some(Received::Frame(&[9])));
    }

    #[test]
    fn a_gap_inside_a_frame_splits_it() {
        let mut f = RtuFramer::new(1_750);
        f.push(1, 0);
        assert_eq!(f.poll(1_800), Some(Received::Frame(&[1])));
        f.push(2, 1_800);
        assert_eq!(f.poll(3_600), Some(Received::Frame(&[2])));
    }

    /// Found by `properties::frames_are_the_bytes_between_silences`: a byte
    /// stamped within 3.5 characters of `u64::MAX` µs overflowed the
    /// deadline (a panic in debug builds, a deadline in the past in release).
    #[test]
    fn deadline_near_the_end_of_the_clock_saturates() {
        let mut f = RtuFramer::new(1_750);
        f.push(1, u64::MAX - 10);
        assert_eq!(f.deadline_us(), Some(u64::MAX));
        assert_eq!(f.poll(u64::MAX), None);
    }

    #[test]
    fn overrun_is_reported_then_the_next_frame_is_clean() {
        let mut f = RtuFramer::new(1_750);
        for i in 0..300u64 {
            f.push(i as u8, i);
        }
        assert_eq!(f.poll(10_000), Some(Received::Overrun));
        f.push(7, 20_000);
        assert_eq!(f.poll(30_000), Some(Received::Frame(&[7])));
    }
}

/// Property tests: arbitrary byte and time sequences against a model of
/// the silence rule.
#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    #[derive(Clone, Debug)]
    enum Step {
        /// A byte `gap_us` after the previous step.
        Byte(u8, u64),
        /// A poll `gap_us` after the previous step.
        Poll(u64),
    }

    fn gap() -> impl Strategy<Value = u64> {
        prop_oneof![8 => 0..4_000u64, 1 => any::<u64>()]
    }

    fn steps() -> impl Strategy<Value = std::vec::Vec<Step>> {
        let step = prop_oneof![
            3 => (any::<u8>(), gap()).prop_map(|(b, g)| Step::Byte(b, g)),
            1 => gap().prop_map(Step::Poll),
        ];
        proptest::collection::vec(step, 0..700)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1_000))]

        /// Any bytes at any times (the clock starting anywhere, even just
        /// short of `u64::MAX`): no panic, and what comes out is what went
        /// in, cut where the line was silent for 3.5 characters.
        #[test]
        fn frames_are_the_bytes_between_silences(
            start_us in prop_oneof![0..1_000_000u64, any::<u64>()],
            t35 in prop_oneof![Just(1_750u32), 1..5_000u32, any::<u32>()],
            steps in steps(),
        ) {
            let mut framer = RtuFramer::new(t35);
            let mut now = start_us;
            // The model: bytes since the last handover, and whether the
            // current frame was handed over.
            let mut pending = std::vec::Vec::new();
            let mut handed_over = false;
            let mut last_byte = 0u64;
            for step in steps {
                match step {
                    Step::Byte(byte, gap) => {
                        now = now.saturating_add(gap);
                        if handed_over {
                            pending.clear();
                            handed_over = false;
                        }
                        pending.push(byte);
                        last_byte = now;
                        framer.push(byte, now);
                    }
                    Step::Poll(gap) => {
                        now = now.saturating_add(gap);
                        let deadline = framer.deadline_us();
                        let due = !handed_over
                            && !pending.is_empty()
                            && now - last_byte >= u64::from(t35);
                        match framer.poll(now) {
                            Some(received) => {
                                prop_assert!(due);
                                prop_assert!(deadline.is_some_and(|d| d <= now));
                                if pending.len() > MAX_FRAME_LEN {
                                    prop_assert_eq!(received, Received::Overrun);
                                } else {
                                    prop_assert_eq!(received, Received::Frame(&pending));
                                }
                                handed_over = true;
                            }
                            None => {
                                prop_assert!(!due);
                                prop_assert!(deadline.is_none_or(|d| now < d || d == u64::MAX));
                            }
                        }
                        prop_assert_eq!(framer.poll(now), None, "handed over once");
                    }
                }
                prop_assert_eq!(framer.last_byte_us(), last_byte);
            }
        }
    }
}
