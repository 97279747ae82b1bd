//! Gate tests: pallets through the door with duplicates and dropped reads,
//! pass-bys, a full table, and property tests.

use std::vec::Vec;

use proptest::prelude::*;

use super::*;

/// Deterministic xorshift, so the simulated reads are the same every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn epc(n: u32) -> EpcBytes {
    let mut b = [0x30, 0x74, 0x25, 0x7B, 0xF7, 0x19, 0x4E, 0x40, 0, 0, 0, 0];
    b[8..].copy_from_slice(&n.to_be_bytes());
    EpcBytes::new(&b).expect("12 bytes")
}

const OUTSIDE: u8 = 1;
const INSIDE: u8 = 2;

/// A raw read as the reader delivers it.
#[derive(Clone, Copy)]
struct Read {
    at_ms: u64,
    antenna: u8,
    rssi: i8,
    tag: u32,
}

/// A pallet of `tags` crossing the door in `duration_ms`, starting at
/// `start_ms`. The tags travel from 0.5 m in front of the outside antenna
/// (position 0) to 0.5 m behind the inside antenna (position 1); each antenna
/// reads up to 0.8 away, strongest when close, so both read the tag in the
/// doorway. Tags sit at different depths on the pallet (±0.1). Each tag is
/// read 3–55 times; 10 % of reads are dropped.
fn pallet(rng: &mut Rng, tags: u32, inbound: bool, start_ms: u64, duration_ms: u64) -> Vec<Read> {
    let mut reads = Vec::new();
    for tag in 0..tags {
        let copies = 3 + rng.below(53);
        let depth = (rng.below(200) as f64 - 100.0) / 1000.0;
        for _ in 0..copies {
            let t = rng.below(duration_ms);
            if rng.below(10) == 0 {
                continue; // dropped
            }
            let travelled = t as f64 / duration_ms as f64; // 0..1 of the way
            let mut pos = -0.5 + 2.0 * travelled + depth;
            if !inbound {
                pos = 1.0 - pos;
            }
            let antenna = if rng.below(2) == 0 { OUTSIDE } else { INSIDE };
            let dist = if antenna == OUTSIDE {
                pos.abs()
            } else {
                (1.0 - pos).abs()
            };
            if dist > 0.8 {
                continue; // out of this antenna's range
            }
            let noise = rng.below(5) as f64 - 2.0;
            let rssi = (-40.0 - 35.0 * dist + noise) as i8;
            reads.push(Read {
                at_ms: start_ms + t,
                antenna,
                rssi,
                tag,
            });
        }
    }
    reads.sort_by_key(|r| r.at_ms);
    reads
}

/// Feeds reads in time order, polling as time passes, then waits for all to close.
fn run<const N: usize>(gate: &mut Gate<N>, reads: &[Read]) -> Vec<GatePass> {
    let mut passes = Vec::new();
    for r in reads {
        while let Some(p) = gate.poll(r.at_ms) {
            passes.push(p);
        }
        if let Some(p) = gate.observe(r.at_ms, r.antenna, r.rssi, &epc(r.tag)) {
            passes.push(p);
        }
    }
    let end = reads.last().map_or(0, |r| r.at_ms) + 100_000;
    while let Some(p) = gate.poll(end) {
        passes.push(p);
    }
    passes
}

fn opposite(d: Direction) -> Direction {
    match d {
        Direction::In => Direction::Out,
        Direction::Out => Direction::In,
        Direction::Unknown => Direction::Unknown,
    }
}

fn tag_of(p: &GatePass) -> u32 {
    let b = p.epc.as_bytes();
    u32::from_be_bytes([b[8], b[9], b[10], b[11]])
}

#[test]
fn pallet_of_60_tags_in_then_out() {
    for seed in 1..=20u64 {
        pallet_in_then_out(seed);
    }
}

fn pallet_in_then_out(seed: u64) {
    let mut rng = Rng(0x5eed_1234_abcd_0001 ^ seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let mut gate: Gate<128> = Gate::new(GateConfig::default());
    // A forklift crosses the 3 m gate in 1.5 s.
    let mut reads = pallet(&mut rng, 60, true, 10_000, 1500);
    let out = pallet(&mut rng, 60, false, 60_000, 1500);
    reads.extend_from_slice(&out);
    let passes = run(&mut gate, &reads);
    let (inbound, outbound): (Vec<_>, Vec<_>) =
        passes.iter().partition(|p| p.first_seen_ms < 30_000);
    for (group, expected, lo, hi) in [
        (&inbound, Direction::In, 0, 30_000),
        (&outbound, Direction::Out, 30_000, u64::MAX),
    ] {
        let mut seen: Vec<u32> = group.iter().copied().map(tag_of).collect();
        seen.sort_unstable();
        // Every tag read at least once (a few may be missed entirely by the air) passes exactly once.
        let mut read: Vec<u32> = reads
            .iter()
            .filter(|r| (lo..hi).contains(&r.at_ms))
            .map(|r| r.tag)
            .collect();
        read.sort_unstable();
        read.dedup();
        assert!(
            read.len() >= 58,
            "seed {seed}: only {} tags read",
            read.len()
        );
        assert_eq!(seen, read, "seed {seed}: one pass per tag read, none lost");
        let mut eligible = 0;
        let mut decided = 0;
        for p in group.iter() {
            let tag = tag_of(p);
            let mine: Vec<(u64, u8, i8)> = reads
                .iter()
                .filter(|r| r.tag == tag && (lo..hi).contains(&r.at_ms))
                .map(|r| (r.at_ms, r.antenna, r.rssi))
                .collect();
            // Never a wrong direction.
            assert_ne!(
                p.direction,
                opposite(expected),
                "seed {seed} tag {tag}: {mine:?}"
            );
            let at = |a: u8| mine.iter().filter(|r| r.1 == a).count();
            // The antenna of the latest read (the strongest side on a tie).
            let latest = mine.iter().map(|r| r.0).max().expect("a pass has reads");
            let mut ended = mine.iter().filter(|r| r.0 == latest).map(|r| r.1);
            let first = ended.next().expect("a latest read");
            if ended.all(|a| a == first) {
                assert_eq!(p.last_antenna, first, "seed {seed} tag {tag}: {mine:?}");
            }
            if at(OUTSIDE) >= 2 && at(INSIDE) >= 2 {
                eligible += 1;
                decided += usize::from(p.direction == expected);
            } else {
                assert_eq!(
                    p.direction,
                    Direction::Unknown,
                    "seed {seed} tag {tag}: too few reads to tell"
                );
            }
        }
        std::eprintln!("seed {seed} {expected:?}: {decided} of {eligible} tags with 2+ reads per antenna decided");
        assert!(
            decided * 10 >= eligible * 9,
            "seed {seed}: {decided} of {eligible} decided"
        );
    }
    let total: u32 = passes.iter().map(|p| u32::from(p.reads)).sum();
    assert_eq!(
        total as usize,
        reads.len(),
        "every raw read counted in a pass"
    );
    let stats = gate.stats();
    assert_eq!(stats.passes as usize, passes.len());
    assert_eq!(stats.closed_early, 0);
    assert_eq!(stats.deduplicated as usize, reads.len() - passes.len());
    assert!(passes.iter().all(|p| !p.closed_early));
}

#[test]
fn duplicates_from_3_to_55_are_one_pass() {
    for copies in [3u32, 10, 55] {
        let mut gate: Gate<8> = Gate::new(GateConfig::default());
        let reads: Vec<Read> = (0..copies)
            .map(|i| Read {
                at_ms: 1000 + u64::from(i) * 30,
                antenna: if 2 * i < copies { OUTSIDE } else { INSIDE },
                rssi: -50,
                tag: 7,
            })
            .collect();
        let passes = run(&mut gate, &reads);
        assert_eq!(passes.len(), 1, "{copies} copies");
        assert_eq!(u32::from(passes[0].reads), copies);
        // Three reads cannot give two at each antenna.
        let direction = if copies >= 4 {
            Direction::In
        } else {
            Direction::Unknown
        };
        assert_eq!(passes[0].direction, direction);
        assert_eq!(passes[0].first_seen_ms, 1000);
        assert_eq!(passes[0].last_seen_ms, 1000 + u64::from(copies - 1) * 30);
    }
}

#[test]
fn pass_by_seen_only_outside_has_no_direction() {
    let mut gate: Gate<8> = Gate::new(GateConfig::default());
    let reads: Vec<Read> = (0..20)
        .map(|i| Read {
            at_ms: 500 + i * 40,
            antenna: OUTSIDE,
            rssi: -45 - (i % 5) as i8,
            tag: 3,
        })
        .collect();
    let passes = run(&mut gate, &reads);
    assert_eq!(passes.len(), 1);
    assert_eq!(passes[0].direction, Direction::Unknown);
    assert_eq!(passes[0].last_antenna, OUTSIDE, "it never left the outside");
}

#[test]
fn rssi_breaks_the_tie_when_first_and_last_agree() {
    // Seen outside first and last (it lingered outside), but strongest inside
    // after it peaked outside: it went in.
    let mut gate: Gate<8> = Gate::new(GateConfig::default());
    let reads = [
        Read {
            at_ms: 0,
            antenna: OUTSIDE,
            rssi: -60,
            tag: 1,
        },
        Read {
            at_ms: 100,
            antenna: OUTSIDE,
            rssi: -40,
            tag: 1,
        },
        Read {
            at_ms: 150,
            antenna: INSIDE,
            rssi: -55,
            tag: 1,
        },
        Read {
            at_ms: 300,
            antenna: INSIDE,
            rssi: -38,
            tag: 1,
        },
        Read {
            at_ms: 400,
            antenna: OUTSIDE,
            rssi: -66,
            tag: 1,
        },
    ];
    let passes = run(&mut gate, &reads);
    assert_eq!(passes[0].direction, Direction::In);
    assert_eq!(passes[0].peak_rssi_dbm, -38);
    // Same instant at both antennas, equal peak times: undecidable.
    let mut gate: Gate<8> = Gate::new(GateConfig::default());
    let reads = [
        Read {
            at_ms: 0,
            antenna: OUTSIDE,
            rssi: -50,
            tag: 2,
        },
        Read {
            at_ms: 0,
            antenna: INSIDE,
            rssi: -50,
            tag: 2,
        },
    ];
    assert_eq!(run(&mut gate, &reads)[0].direction, Direction::Unknown);
}

#[test]
fn silence_longer_than_the_window_starts_a_new_pass() {
    let mut gate: Gate<8> = Gate::new(GateConfig {
        window_ms: 500,
        ..GateConfig::default()
    });
    assert_eq!(gate.observe(0, OUTSIDE, -50, &epc(1)), None);
    assert_eq!(gate.observe(100, OUTSIDE, -45, &epc(1)), None);
    assert_eq!(gate.observe(300, INSIDE, -45, &epc(1)), None);
    assert_eq!(gate.observe(400, INSIDE, -50, &epc(1)), None);
    assert_eq!(gate.next_deadline_ms(), Some(900));
    assert_eq!(gate.poll(899), None);
    // Not polled in time: the next read closes the old pass and starts anew.
    let old = gate
        .observe(1000, INSIDE, -50, &epc(1))
        .expect("old pass closed");
    assert_eq!(
        (old.direction, old.reads, old.closed_early),
        (Direction::In, 4, false)
    );
    assert_eq!(gate.in_view(), 1);
    let new = gate.poll(1500).expect("second pass");
    assert_eq!(
        (new.first_seen_ms, new.direction),
        (1000, Direction::Unknown)
    );
}

#[test]
fn a_full_table_closes_the_oldest_early_and_counts_it() {
    let mut gate: Gate<4> = Gate::new(GateConfig::default());
    for i in 0..4 {
        assert_eq!(gate.observe(i * 10, OUTSIDE, -50, &epc(i as u32)), None);
    }
    // Tag 0 is heard again, so tag 1 is now the least recently heard.
    assert_eq!(gate.observe(50, INSIDE, -50, &epc(0)), None);
    let early = gate
        .observe(60, OUTSIDE, -50, &epc(99))
        .expect("one closed early");
    assert_eq!(tag_of(&early), 1);
    assert!(early.closed_early);
    assert_eq!(gate.stats().closed_early, 1);
    assert_eq!(gate.in_view(), 4);
    let rest: Vec<u32> = core::iter::from_fn(|| gate.poll(100_000))
        .map(|p| tag_of(&p))
        .collect();
    assert_eq!(rest, [2, 3, 0, 99]);
    // A zero-sized table still loses nothing.
    let mut none: Gate<0> = Gate::new(GateConfig::default());
    assert!(none
        .observe(0, OUTSIDE, -50, &epc(5))
        .is_some_and(|p| p.closed_early));
}

#[test]
fn reads_from_other_antennas_are_ignored_and_counted() {
    let mut gate: Gate<4> = Gate::new(GateConfig::default());
    assert_eq!(gate.observe(0, 3, -50, &epc(1)), None);
    assert_eq!(gate.in_view(), 0);
    assert_eq!(gate.stats().foreign_antenna, 1);
}

#[test]
fn the_table_for_128_tags_fits_16_kib() {
    let size = core::mem::size_of::<Gate<128>>();
    assert!(size <= 16 * 1024, "Gate<128> is {size} bytes");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    /// Any read sequence: no panic, every accepted read lands in exactly one
    /// pass, and every EPC read gets at least one pass.
    #[test]
    fn no_read_is_lost(
        reads in proptest::collection::vec((0u64..20_000, 0u8..4, any::<i8>(), 0u32..40), 0..400),
        window_ms in 0u32..5000,
    ) {
        let mut gate: Gate<16> = Gate::new(GateConfig { window_ms, ..GateConfig::default() });
        let mut sorted = reads.clone();
        sorted.sort_by_key(|r| r.0);
        let reads: Vec<Read> = sorted.iter().map(|&(at_ms, antenna, rssi, tag)| Read { at_ms, antenna, rssi, tag }).collect();
        let passes = run(&mut gate, &reads);
        let accepted = reads.iter().filter(|r| r.antenna == OUTSIDE || r.antenna == INSIDE).count();
        prop_assert_eq!(passes.iter().map(|p| usize::from(p.reads)).sum::<usize>(), accepted);
        for r in reads.iter().filter(|r| r.antenna == OUTSIDE || r.antenna == INSIDE) {
            prop_assert!(passes.iter().any(|p| tag_of(p) == r.tag));
        }
        prop_assert_eq!(gate.in_view(), 0);
    }

    #[test]
    fn unordered_and_extreme_times_never_panic(
        reads in proptest::collection::vec((any::<u64>(), 1u8..3, any::<i8>(), 0u32..8), 0..100),
    ) {
        let mut gate: Gate<4> = Gate::new(GateConfig::default());
        for (at, antenna, rssi, tag) in reads {
            let _ = gate.observe(at, antenna, rssi, &epc(tag));
            let _ = gate.poll(at);
        }
        let _ = gate.poll(u64::MAX);
    }
}

#[test]
fn heard_last_by_both_at_once_the_stronger_side_is_where_it_ended() {
    let read = |at_ms, antenna, rssi| Read {
        at_ms,
        antenna,
        rssi,
        tag: 9,
    };
    for (outside_peak, inside_peak, ended) in
        [(-40, -60, OUTSIDE), (-60, -40, INSIDE), (-50, -50, INSIDE)]
    {
        let mut gate: Gate<8> = Gate::new(GateConfig::default());
        let reads = [
            read(100, OUTSIDE, outside_peak),
            read(100, INSIDE, inside_peak),
            read(200, OUTSIDE, -70),
            read(200, INSIDE, -70),
        ];
        let passes = run(&mut gate, &reads);
        assert_eq!(passes.len(), 1);
        assert_eq!(
            passes[0].last_antenna, ended,
            "{outside_peak} / {inside_peak}"
        );
    }
}
