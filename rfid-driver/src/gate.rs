//! Gate logic at one dock door: deduplicate raw tag reads and decide the
//! direction of travel. Pure: reads and `now_ms` in, [`GatePass`]es out.
//!
//! A gate has an *outside* and an *inside* antenna. Every read of an EPC
//! joins that EPC's open *track* if the track saw it within `window_ms`;
//! otherwise it starts a new track. A track closes into one [`GatePass`] once
//! the EPC has been silent for `window_ms`.
//!
//! Direction: a tag read fewer than twice at either antenna is
//! [`Direction::Unknown`] (a pass-by outside, a tag standing inside near the
//! door, or a single fringe read from the far antenna). Seen at both: the
//! antenna that saw it first and the one that saw it last decide — outside
//! first and inside last is [`Direction::In`], the reverse [`Direction::Out`].
//! When first and last point the same way or tie (a tag that lingered, or
//! reads in the same millisecond), RSSI breaks the tie: the tag passed the
//! antenna where its signal peaked first. When the order says one direction
//! and the RSSI peaks the other (sparse reads from the far antenna's fringe),
//! the pass is `Unknown`: a wrong booking is worse than none. Equal peaks
//! with an undecided order stay `Unknown` too.
//!
//! Memory is bounded: at most `N` tracks (a `heapless::Vec`). When a new EPC
//! arrives and all `N` are open, the track heard least recently is closed
//! early and its pass returned to the caller at once, with
//! `closed_early: true`, and counted in [`GateStats::closed_early`]. Nothing is
//! dropped silently. [`Gate<128>`] takes under 16 KiB.

use core::cmp::Ordering;

use crate::text::EpcBytes;

/// Direction of travel through the door.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Outside → inside: a receipt.
    In,
    /// Inside → outside: an issue.
    Out,
    /// Not decidable: seen at one side only, or no clear order.
    Unknown,
}

/// Settings of one gate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GateConfig {
    /// Reads of one EPC less than this apart are one pass; this much silence closes it.
    pub window_ms: u32,
    /// Antenna port facing the yard.
    pub outside_antenna: u8,
    /// Antenna port facing the hall.
    pub inside_antenna: u8,
}

impl Default for GateConfig {
    /// 2 s window, antenna 1 outside, antenna 2 inside.
    fn default() -> Self {
        Self {
            window_ms: 2000,
            outside_antenna: 1,
            inside_antenna: 2,
        }
    }
}

/// One tag's passage through the gate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GatePass {
    pub epc: EpcBytes,
    pub direction: Direction,
    pub first_seen_ms: u64,
    pub last_seen_ms: u64,
    /// Raw reads merged into this pass (saturating).
    pub reads: u16,
    /// Strongest RSSI seen, dBm.
    pub peak_rssi_dbm: i8,
    /// The antenna that heard the tag last (heard last by both at once: the
    /// one with the stronger peak RSSI, inside if equal): where the tag
    /// ended up, also for an `Unknown` pass.
    pub last_antenna: u8,
    /// Closed before its window ran out because the table was full.
    pub closed_early: bool,
}

/// Counters of one gate (saturating).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct GateStats {
    /// Reads from the outside or inside antenna.
    pub reads: u32,
    /// Reads merged into an open track (duplicates).
    pub deduplicated: u32,
    /// Reads from antennas that belong to neither side, ignored.
    pub foreign_antenna: u32,
    /// Passes closed.
    pub passes: u32,
    /// Passes closed early because the table was full.
    pub closed_early: u32,
}

/// What one antenna saw of one track; times are offsets from the track's start.
/// Reads each antenna must have of a tag before its order counts.
const MIN_READS_PER_SIDE: u16 = 2;

#[derive(Debug, Clone, Copy, Default)]
struct SideTrack {
    seen: bool,
    reads: u16,
    peak_rssi: i8,
    first_off: u32,
    last_off: u32,
    peak_off: u32,
}

impl SideTrack {
    fn add(&mut self, off: u32, rssi: i8) {
        if !self.seen {
            *self = SideTrack {
                seen: true,
                reads: 1,
                peak_rssi: rssi,
                first_off: off,
                last_off: off,
                peak_off: off,
            };
            return;
        }
        self.reads = self.reads.saturating_add(1);
        self.last_off = self.last_off.max(off);
        self.first_off = self.first_off.min(off);
        if rssi > self.peak_rssi {
            self.peak_rssi = rssi;
            self.peak_off = off;
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Track {
    first_ms: u64,
    last_off: u32,
    key: u32,
    outside: SideTrack,
    inside: SideTrack,
    reads: u16,
    epc: EpcBytes,
}

impl Track {
    fn last_ms(&self) -> u64 {
        self.first_ms.saturating_add(u64::from(self.last_off))
    }

    fn direction(&self) -> Direction {
        let (o, i) = (&self.outside, &self.inside);
        // One read at an antenna may be a fringe read from the far side.
        if o.reads < MIN_READS_PER_SIDE || i.reads < MIN_READS_PER_SIDE {
            return Direction::Unknown;
        }
        let by_order = match (o.first_off.cmp(&i.first_off), o.last_off.cmp(&i.last_off)) {
            (Ordering::Less, Ordering::Less) => Direction::In,
            (Ordering::Greater, Ordering::Greater) => Direction::Out,
            _ => Direction::Unknown,
        };
        let by_rssi = match o.peak_off.cmp(&i.peak_off) {
            Ordering::Less => Direction::In,
            Ordering::Greater => Direction::Out,
            Ordering::Equal => Direction::Unknown,
        };
        match (by_order, by_rssi) {
            (d, Direction::Unknown) | (Direction::Unknown, d) => d,
            (a, b) if a == b => a,
            // Order and signal disagree: better no direction than a wrong booking.
            _ => Direction::Unknown,
        }
    }

    fn close(&self, closed_early: bool, config: &GateConfig) -> GatePass {
        let (o, i) = (&self.outside, &self.inside);
        let ended_outside = match (o.seen, i.seen) {
            (true, true) => (o.last_off, o.peak_rssi) > (i.last_off, i.peak_rssi),
            (seen_outside, _) => seen_outside,
        };
        let peak = match (o.seen, i.seen) {
            (true, true) => o.peak_rssi.max(i.peak_rssi),
            (true, false) => o.peak_rssi,
            _ => i.peak_rssi,
        };
        GatePass {
            epc: self.epc,
            direction: self.direction(),
            first_seen_ms: self.first_ms,
            last_seen_ms: self.last_ms(),
            reads: self.reads,
            peak_rssi_dbm: peak,
            last_antenna: if ended_outside {
                config.outside_antenna
            } else {
                config.inside_antenna
            },
            closed_early,
        }
    }
}

/// FNV-1a over the EPC, to skip most byte comparisons in the table scan.
fn key(epc: &[u8]) -> u32 {
    epc.iter().fold(0x811c_9dc5u32, |h, &b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

/// One dock door's gate with room for `N` open tracks.
#[derive(Debug, Clone)]
pub struct Gate<const N: usize> {
    config: GateConfig,
    tracks: heapless::Vec<Track, N>,
    stats: GateStats,
}

fn bump(counter: &mut u32) {
    *counter = counter.saturating_add(1);
}

impl<const N: usize> Gate<N> {
    /// An empty gate.
    pub fn new(config: GateConfig) -> Self {
        Self {
            config,
            tracks: heapless::Vec::new(),
            stats: GateStats::default(),
        }
    }

    /// The gate's settings.
    pub fn config(&self) -> GateConfig {
        self.config
    }

    /// Changes the dedup window (e.g. from a holding register); open tracks keep going.
    pub fn set_window_ms(&mut self, window_ms: u32) {
        self.config.window_ms = window_ms;
    }

    /// The counters.
    pub fn stats(&self) -> GateStats {
        self.stats
    }

    /// EPCs with an open track.
    pub fn in_view(&self) -> usize {
        self.tracks.len()
    }

    /// One raw read at `at_ms`. Returns a pass when one had to close now: the
    /// same EPC's previous pass (its window had run out but [`Gate::poll`] was
    /// not called yet), or the least recently heard track when the table was
    /// full (`closed_early`).
    pub fn observe(
        &mut self,
        at_ms: u64,
        antenna: u8,
        rssi_dbm: i8,
        epc: &EpcBytes,
    ) -> Option<GatePass> {
        let outside = if antenna == self.config.outside_antenna {
            true
        } else if antenna == self.config.inside_antenna {
            false
        } else {
            bump(&mut self.stats.foreign_antenna);
            return None;
        };
        bump(&mut self.stats.reads);
        let k = key(epc.as_bytes());
        let window = u64::from(self.config.window_ms);
        let mut closed = None;
        if let Some(idx) = self.tracks.iter().position(|t| t.key == k && t.epc == *epc) {
            let t = &mut self.tracks[idx];
            if at_ms <= t.last_ms().saturating_add(window) {
                bump(&mut self.stats.deduplicated);
                // Reads arriving out of order (earlier than the track start) count at its start.
                let off = u32::try_from(at_ms.saturating_sub(t.first_ms)).unwrap_or(u32::MAX);
                t.last_off = t.last_off.max(off);
                t.reads = t.reads.saturating_add(1);
                if outside {
                    t.outside.add(off, rssi_dbm);
                } else {
                    t.inside.add(off, rssi_dbm);
                }
                return None;
            }
            closed = Some(self.take(idx, false));
        } else if self.tracks.is_full() {
            let oldest = self
                .tracks
                .iter()
                .enumerate()
                .min_by_key(|(_, t)| t.last_ms())
                .map(|(i, _)| i);
            if let Some(i) = oldest {
                bump(&mut self.stats.closed_early);
                closed = Some(self.take(i, true));
            }
        }
        let mut track = Track {
            first_ms: at_ms,
            last_off: 0,
            key: k,
            outside: SideTrack::default(),
            inside: SideTrack::default(),
            reads: 1,
            epc: *epc,
        };
        if outside {
            track.outside.add(0, rssi_dbm);
        } else {
            track.inside.add(0, rssi_dbm);
        }
        // Room was made above when the table was full (N ≥ 1); with N = 0 the
        // read is closed at once as its own pass rather than lost.
        if let Err(track) = self.tracks.push(track) {
            bump(&mut self.stats.passes);
            bump(&mut self.stats.closed_early);
            return Some(track.close(true, &self.config));
        }
        closed
    }

    fn take(&mut self, idx: usize, early: bool) -> GatePass {
        bump(&mut self.stats.passes);
        self.tracks.swap_remove(idx).close(early, &self.config)
    }

    /// The next pass whose EPC has been silent for the window by `now_ms`,
    /// oldest first; call until `None`.
    pub fn poll(&mut self, now_ms: u64) -> Option<GatePass> {
        let window = u64::from(self.config.window_ms);
        let (idx, _) = self
            .tracks
            .iter()
            .enumerate()
            .filter(|(_, t)| t.last_ms().saturating_add(window) <= now_ms)
            .min_by_key(|(_, t)| t.last_ms())?;
        Some(self.take(idx, false))
    }

    /// When the next track will close if no read extends it.
    pub fn next_deadline_ms(&self) -> Option<u64> {
        let window = u64::from(self.config.window_ms);
        self.tracks
            .iter()
            .map(|t| t.last_ms().saturating_add(window))
            .min()
    }
}

#[cfg(test)]
mod tests;
