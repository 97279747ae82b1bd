//! Frame codec and decoder tests: golden frames from real modules
//! (test_data/mercury_frames.txt), resync after garbage, property tests.

use std::vec::Vec;

use proptest::prelude::*;

use super::*;

const FRAMES: &str = include_str!("../../test_data/mercury_frames.txt");

fn golden(name: &str) -> Vec<u8> {
    let line = FRAMES
        .lines()
        .find(|l| l.starts_with(name))
        .unwrap_or_else(|| panic!("no golden frame {name}"));
    let hex: String = line
        .split(" | ")
        .nth(1)
        .expect("hex column")
        .split_whitespace()
        .collect();
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
        .collect()
}

use std::string::String;

#[test]
fn crc_matches_frames_from_real_modules() {
    let version = golden("version-command");
    assert_eq!(crc16(&version[1..3]), 0x1D0C);
    let write = golden("write-data-command");
    assert!(Frame::new_checked(&write[..], Direction::ToModule).is_ok());
    let notification = golden("tag-read-notification");
    assert!(Frame::new_checked(&notification[..], Direction::FromModule).is_ok());
}

/// The bitwise form the module's documentation gives (the Mercury API's
/// "ThingMagic-mutated CRC"), as a reference for the table-driven one.
fn crc16_bitwise(bytes: &[u8]) -> u16 {
    let mut crc: u16 = 0xFFFF;
    for &byte in bytes {
        for bit in (0..8).rev() {
            let top = crc & 0x8000 != 0;
            crc = (crc << 1) | u16::from((byte >> bit) & 1);
            if top {
                crc ^= 0x1021;
            }
        }
    }
    crc
}

proptest::proptest! {
    #[test]
    fn table_crc_equals_the_bitwise_form(
        bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300),
    ) {
        proptest::prop_assert_eq!(crc16(&bytes), crc16_bitwise(&bytes));
    }
}

#[test]
fn version_command_is_emitted_byte_for_byte() {
    let mut out = [0u8; 8];
    let n = Command::Version.emit(&mut out).expect("fits");
    assert_eq!(&out[..n], &golden("version-command")[..]);
}

#[test]
fn real_notification_parses() {
    let raw = golden("tag-read-notification");
    let frame = Frame::new_checked(&raw[..], Direction::FromModule).expect("valid");
    assert_eq!(frame.opcode(), opcode::READ_TAG_ID_MULTIPLE);
    assert_eq!(frame.status(), Some(status::SUCCESS));
    let reads: Vec<_> = tag_reads(frame.data()).expect("header").collect();
    assert_eq!(reads.len(), 1);
    let read = reads[0].expect("record");
    assert_eq!(read.rssi_dbm, -60);
    assert_eq!(read.antenna, 1);
    assert_eq!(read.frequency_khz, 923_200);
    assert_eq!(read.module_timestamp_ms, 295);
    assert_eq!(read.phase_deg, 0);
    assert_eq!(read.read_count, 1);
    assert_eq!(read.pc, 0x3000);
    assert_eq!(std::format!("{}", read.epc), "000000000000000000001545");
}

#[test]
fn emitted_notification_parses_back() {
    let read = TagRead {
        antenna: 2,
        rssi_dbm: -47,
        frequency_khz: 866_300,
        module_timestamp_ms: 1234,
        phase_deg: 90,
        read_count: 3,
        pc: 0x3400,
        epc: EpcBytes::new(&[
            0x30, 0x74, 0x25, 0x7B, 0xF7, 0x19, 0x4E, 0x40, 0, 0, 0x1A, 0x85,
        ])
        .expect("fits"),
    };
    let mut out = [0u8; MAX_FRAME];
    let n = emit_tag_read(&read, &mut out).expect("fits");
    let frame = Frame::new_checked(&out[..n], Direction::FromModule).expect("valid");
    let back: Vec<_> = tag_reads(frame.data()).expect("header").collect();
    assert_eq!(back, [Ok(read)]);
}

#[test]
fn start_and_stop_reading_commands() {
    let mut out = [0u8; 32];
    let n = Command::StartReading.emit(&mut out).expect("fits");
    let f = Frame::new_checked(&out[..n], Direction::ToModule).expect("valid");
    assert_eq!(f.opcode(), 0x2F);
    assert_eq!(
        f.data(),
        &[0, 0, 1, 0x22, 0, 0, 5, 7, 0x22, 0x10, 0, 0x1B, 3, 0xE8, 1, 0xFF]
    );
    let n = Command::StopReading.emit(&mut out).expect("fits");
    assert_eq!(
        Frame::new_checked(&out[..n], Direction::ToModule).map(|f| f.data().len()),
        Ok(3)
    );
    let n = Command::SetAntennas(&[1, 2]).emit(&mut out).expect("fits");
    assert_eq!(
        Frame::new_checked(&out[..n], Direction::ToModule).map(|f| f.data().to_vec()),
        Ok(std::vec![2, 1, 1, 2, 2])
    );
    let n = Command::SetRegion(Region::Europe)
        .emit(&mut out)
        .expect("fits");
    assert_eq!(&out[..n - 2], &[0xFF, 1, 0x97, 0x08]);
    assert_eq!(
        Command::SetAntennas(&[1; 8]).emit(&mut out),
        Err(FrameError::TooLong)
    );
}

#[test]
fn checked_view_refusals() {
    let raw = golden("tag-read-notification");
    assert_eq!(
        Frame::new_checked(&raw[..20], Direction::FromModule).err(),
        Some(FrameError::Truncated)
    );
    assert_eq!(
        Frame::new_checked(&raw[1..], Direction::FromModule).err(),
        Some(FrameError::NoStart)
    );
    let mut bad = raw.clone();
    bad[12] ^= 0x01;
    assert!(matches!(
        Frame::new_checked(&bad[..], Direction::FromModule),
        Err(FrameError::Crc { .. })
    ));
    assert_eq!(
        Frame::new_checked(&[][..], Direction::FromModule).err(),
        Some(FrameError::Truncated)
    );
    assert_eq!(
        emit(1, None, &[0; 256], &mut [0; 300]),
        Err(FrameError::TooLong)
    );
    assert_eq!(
        emit(1, None, &[0; 10], &mut [0; 14]),
        Err(FrameError::TooLong)
    );
}

/// Feeds `input` in chunks of `chunk` bytes; returns the frames and CRC errors seen.
fn decode_all(dec: &mut FrameDecoder, input: &[u8], chunk: usize) -> (Vec<Vec<u8>>, usize) {
    let mut frames = Vec::new();
    let mut errors = 0;
    let mut drain = |dec: &mut FrameDecoder, frames: &mut Vec<Vec<u8>>| {
        while let Some(r) = dec.poll() {
            match r {
                Ok(f) => frames.push(f.as_bytes().to_vec()),
                Err(_) => errors += 1,
            }
        }
    };
    for piece in input.chunks(chunk.max(1)) {
        let mut rest = piece;
        loop {
            drain(dec, &mut frames);
            if rest.is_empty() {
                break;
            }
            let n = dec.push(rest);
            rest = &rest[n..];
        }
    }
    // The line goes quiet: a false start still waiting for its length is noise.
    while dec.has_partial() {
        dec.line_idle();
        drain(dec, &mut frames);
    }
    (frames, errors)
}

#[test]
fn decoder_resyncs_after_garbage_and_crc_errors() {
    let good = golden("tag-read-notification");
    let mut bad = good.clone();
    bad[20] ^= 0x40;
    let mut line = std::vec![0x00, 0x13, 0xFF, 0x02, 0x99]; // noise, a false start
    line.extend_from_slice(&good);
    line.extend_from_slice(&bad);
    line.extend_from_slice(&[0xAA; 7]);
    line.extend_from_slice(&good);
    for chunk in [1, 3, 64, 1000] {
        let mut dec = FrameDecoder::new(Direction::FromModule);
        let (frames, errors) = decode_all(&mut dec, &line, chunk);
        assert_eq!(frames, [good.clone(), good.clone()], "chunk {chunk}");
        assert!(errors >= 1, "chunk {chunk}");
        assert_eq!(dec.crc_errors() as usize, errors);
        assert!(dec.garbage_bytes() >= 5 + 7, "chunk {chunk}");
    }
}

#[test]
fn a_frame_hidden_behind_a_false_start_is_found() {
    let good = golden("tag-read-notification");
    // 0xFF 0x05 promises a 12-byte frame that swallows the real frame's start.
    let mut line = std::vec![0xFF, 0x05, 0x01];
    line.extend_from_slice(&good);
    let mut dec = FrameDecoder::new(Direction::FromModule);
    let (frames, errors) = decode_all(&mut dec, &line, 7);
    assert_eq!(frames, [good]);
    assert_eq!(errors, 1);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn emit_then_decode_round_trips(
        opcode in any::<u8>(),
        status in any::<u16>(),
        data in proptest::collection::vec(any::<u8>(), 0..=255),
        noise in proptest::collection::vec(any::<u8>(), 0..40),
        chunk in 1usize..300,
    ) {
        let mut out = [0u8; MAX_FRAME];
        let n = emit(opcode, Some(status), &data, &mut out).expect("fits");
        let mut line = noise.clone();
        line.extend_from_slice(&out[..n]);
        let mut dec = FrameDecoder::new(Direction::FromModule);
        let (frames, _) = decode_all(&mut dec, &line, chunk);
        // Noise may contain a false frame; the real one is always the last found.
        let last = frames.last().expect("frame found");
        let f = Frame::new_checked(&last[..], Direction::FromModule).expect("valid");
        prop_assert_eq!((f.opcode(), f.status(), f.data()), (opcode, Some(status), &data[..]));
    }

    #[test]
    fn decoder_never_panics(input in proptest::collection::vec(any::<u8>(), 0..2000), chunk in 1usize..600) {
        for dir in [Direction::FromModule, Direction::ToModule] {
            let mut dec = FrameDecoder::new(dir);
            let _ = decode_all(&mut dec, &input, chunk);
        }
    }

    #[test]
    fn notification_parser_never_panics(data in proptest::collection::vec(any::<u8>(), 0..300)) {
        if let Ok(reads) = tag_reads(&data) {
            for r in reads {
                let _ = r;
            }
        }
    }
}

/// A notification carrying `reads.len()` records (the module batches reads
/// when it cannot send them one by one).
pub(crate) fn batched_notification(reads: &[TagRead], out: &mut [u8]) -> usize {
    let mut data = Vec::new();
    for (i, read) in reads.iter().enumerate() {
        let mut one = [0u8; MAX_FRAME];
        let n = emit_tag_read(read, &mut one).expect("fits");
        let frame = Frame::new_checked(&one[..n], Direction::FromModule).expect("valid");
        let d = frame.data();
        if i == 0 {
            data.extend_from_slice(&d[..6]);
        }
        data.extend_from_slice(&d[6..]);
    }
    data[5] = reads.len() as u8;
    emit(
        opcode::READ_TAG_ID_MULTIPLE,
        Some(status::SUCCESS),
        &data,
        out,
    )
    .expect("fits")
}

#[test]
fn a_notification_with_several_records_yields_each() {
    let mk = |n: u8, antenna: u8| TagRead {
        antenna,
        rssi_dbm: -50,
        frequency_khz: 866_900,
        module_timestamp_ms: u32::from(n),
        phase_deg: 0,
        read_count: 1,
        pc: 0x3000,
        epc: EpcBytes::new(&[0x30, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, n]).expect("fits"),
    };
    let reads = [mk(1, 1), mk(2, 2), mk(3, 1)];
    let mut out = [0u8; MAX_FRAME];
    let n = batched_notification(&reads, &mut out);
    let frame = Frame::new_checked(&out[..n], Direction::FromModule).expect("valid");
    let back: Vec<_> = tag_reads(frame.data()).expect("header").collect();
    assert_eq!(back, reads.map(Ok));
    // A record cut short ends the iteration with an error, not a panic.
    let cut = &frame.data()[..frame.data().len() - 5];
    let partial: Vec<_> = tag_reads(cut).expect("header").collect();
    assert_eq!(partial.len(), 3);
    assert_eq!(partial[2], Err(NotificationError::Truncated));
}
