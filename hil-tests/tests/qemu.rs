//! The gateway firmware, booted in QEMU, tested through its UARTs. Each test
//! boots its own QEMU, so they run in parallel.

use std::process::Command;
use std::time::{Duration, Instant};

use gateway_registers::{
    holding, input, Direction, ReaderStatus, ScaleStatus, SettingsState, MAP_VERSION,
};
use hil_tests::modbus::{frame, Answer, Master, INTER_FRAME_GAP};
use hil_tests::reader::{tag_read_frame, Pass, Reader, INSIDE_ANTENNA, OUTSIDE_ANTENNA};
use hil_tests::scale::Scale;
use hil_tests::settings::{self, record, Settings};
use hil_tests::{poll_until, repo_root, Gateway, Port, INSTALL_HINT};
use rand::{Rng, SeedableRng};

fn booted() -> (Gateway, Master) {
    let gateway = Gateway::boot();
    let mut master = Master::open(&gateway.modbus_pty);
    master.wait_link();
    (gateway, master)
}

/// Waits until the decoded log holds, in this order (other lines between
/// them allowed), a line starting with each of `wanted` (as level and
/// message, e.g. `"WARN  scale Offline"`).
fn wait_lines(gateway: &mut Gateway, wanted: &[&str], timeout: Duration) {
    gateway.wait_log(Instant::now() + timeout, |log| {
        let mut wanted = wanted.iter().peekable();
        for line in log.iter().map(ToString::to_string) {
            if wanted.peek().is_some_and(|w| line.starts_with(*w)) {
                wanted.next();
            }
        }
        wanted.peek().is_none().then_some(())
    });
}

/// The decoded log of a boot with nothing on the UARTs: the boot line, then
/// the scale's and the reader module's silence, each once; nothing more
/// comes while they stay silent.
#[test]
fn boot_log_matches_golden() {
    let golden = std::fs::read_to_string(repo_root().join("hil-tests/golden/boot.run"))
        .expect("golden boot log");
    let mut gateway = Gateway::boot();
    let lines = golden.lines().count();
    let log = gateway.wait_log(Instant::now() + Duration::from_secs(30), |log| {
        (log.len() >= lines).then(|| log.to_vec())
    });
    let decoded: String = log.iter().map(|l| format!("{l}\n")).collect();
    assert_eq!(decoded, golden);
    assert!(
        log.iter().all(|l| l.timestamp.is_some()),
        "every line carries the firmware's uptime: {log:?}"
    );
}

#[test]
fn replies_never_come_before_the_silence_and_their_turnaround_is_served() {
    let (mut gateway, mut master) = booted();
    for _ in 0..20 {
        assert!(master.status().counters.frames_ok > 0);
    }
    let turnaround = master
        .read_input(input::MODBUS_TURNAROUND_LAST_US, 2)
        .expect("turnaround registers");
    let (last, max) = (turnaround[0], turnaround[1]);
    // t3.5 at 115200 is 1,750 µs: an answer sooner would break the RTU rule.
    assert!(last >= 1_750, "answered {last} µs after the request");
    assert!(max >= last, "max {max} < last {last}");
    gateway.assert_healthy();
}

#[test]
fn pymodbus_reads_map_and_counters_and_gets_exceptions() {
    let (mut gateway, _master) = booted();
    let script = repo_root().join("hil-tests/py/pymodbus_master.py");
    let output = Command::new("python3")
        .arg(script)
        .arg(&gateway.modbus_pty)
        .arg(input::LEN.to_string())
        .arg(holding::DEDUP_WINDOW_MS.to_string())
        .output()
        .unwrap_or_else(|e| panic!("cannot run python3 ({e}): {INSTALL_HINT}"));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "pymodbus master failed ({INSTALL_HINT}):\n{stderr}"
    );
    let seen: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("the script prints JSON");
    let regs = |key: &str| -> Vec<u16> {
        serde_json::from_value(seen[key]["registers"].clone())
            .unwrap_or_else(|_| panic!("{key}: no registers in {seen}"))
    };
    let exception = |key: &str| seen[key]["exception"].as_u64();

    let status = gateway_registers::GatewayStatus::from_registers(&regs("status"))
        .expect("status block decodes");
    assert_eq!(status.map_version, MAP_VERSION);
    assert_eq!(status.firmware_version, (0, 1, 0));
    assert_eq!(regs("last_register").len(), 1);
    assert_eq!(exception("out_of_map"), Some(2), "{seen}");
    assert_eq!(exception("read_coils"), Some(1), "{seen}");
    assert_eq!(regs("write_dedup"), vec![750], "{seen}");
    assert_eq!(regs("read_dedup"), vec![750]);
    assert_eq!(exception("bad_dedup"), Some(3), "{seen}");
    let after = gateway_registers::GatewayStatus::from_registers(&regs("counters"))
        .expect("counters decode");
    // The link probe, then the seven requests before this one.
    assert!(after.counters.frames_ok >= 8, "{after:?}");
    assert_eq!(
        after.counters.exceptions_sent - status.counters.exceptions_sent,
        3
    );
    gateway.assert_healthy();
}

#[test]
fn bad_crc_truncated_and_other_units_get_no_answer() {
    let (mut gateway, mut master) = booted();
    let before = master.status().counters;
    // The silent frames ask for register 1 (firmware major, 0); the probe
    // after each asks for register 0 (map version, 1), so a wrong answer
    // to a silent frame cannot pass for the probe's.
    let good = frame(&[1, 4, 0, 1, 0, 1]);
    let mut bad_crc = good.clone();
    bad_crc[7] ^= 0x55;
    let other_unit = frame(&[2, 4, 0, 1, 0, 1]);
    let truncated = frame(&[1, 4, 0, 1, 0]);
    for silent in [&bad_crc, &good[..5].to_vec(), &other_unit, &truncated] {
        master.send_raw(silent);
        std::thread::sleep(INTER_FRAME_GAP);
        // Replies come in order: if the frame above had been answered, that
        // answer would arrive before this one.
        assert_eq!(
            master.transact(&[4, 0, 0, 0, 1]),
            Answer::Pdu(vec![4, 2, 0, MAP_VERSION as u8]),
            "after {silent:02x?}"
        );
    }
    // Two bad CRCs (the broken frame, the 5-byte cut) are counted. At
    // least: on a loaded host QEMU may deliver a request with a gap over
    // t3.5, and each piece of the split counts too, as line noise would.
    let after = master.status().counters;
    assert!(
        after.frames_crc_error - before.frames_crc_error >= 2,
        "{before:?} -> {after:?}"
    );
    // The truncated frame (a good CRC, a body too short) counts as
    // malformed when it arrives alone. A descheduled QEMU can hand the
    // guest a silent frame and the next request without the 5 ms gap
    // between them; the merged bytes then fail the CRC (the master's
    // retry answers the probe). So send it until one arrives alone.
    let mut now = after;
    for _ in 0..10 {
        if now.frames_malformed > before.frames_malformed {
            break;
        }
        master.send_raw(&truncated);
        std::thread::sleep(INTER_FRAME_GAP);
        assert_eq!(
            master.transact(&[4, 0, 0, 0, 1]),
            Answer::Pdu(vec![4, 2, 0, MAP_VERSION as u8])
        );
        now = master.status().counters;
    }
    assert!(
        now.frames_malformed > before.frames_malformed,
        "{before:?} -> {now:?}"
    );
    assert_eq!(master.transact(&[0x2B, 0x0E, 1, 0]), Answer::Exception(1));
    // pymodbus refuses to send a count over 125; this master does.
    assert_eq!(master.transact(&[4, 0, 0, 0, 126]), Answer::Exception(3));
    gateway.assert_healthy();
}

#[test]
fn broadcast_write_applies_without_answer() {
    let (mut gateway, mut master) = booted();
    master.unit = 0;
    assert_eq!(
        master.write_holding(holding::SCALE_POLL_MS, &[1_000]),
        Answer::Silence
    );
    master.unit = 1;
    let Answer::Pdu(pdu) = master.transact(&[3, 0, holding::SCALE_POLL_MS as u8, 0, 1]) else {
        panic!("holding read failed");
    };
    assert_eq!(hil_tests::modbus::registers(&pdu), vec![1_000]);
    gateway.assert_healthy();
}

/// The persisted holding registers: dedup window, unit id, scale period.
fn settings_registers(master: &mut Master) -> Vec<u16> {
    let Answer::Pdu(pdu) = master.transact(&[3, 0, holding::DEDUP_WINDOW_MS as u8, 0, 3]) else {
        panic!("holding read failed");
    };
    hil_tests::modbus::registers(&pdu)
}

/// Boots with each `(image, address)` placed in flash by QEMU's loader.
fn booted_with_flash(images: &[(std::path::PathBuf, u32)]) -> Gateway {
    let args: Vec<String> = images
        .iter()
        .flat_map(|(image, address)| settings::loader_args(image, *address))
        .collect();
    let gateway = Gateway::boot_with(&args);
    // QEMU read the images when it created the loader devices.
    for (image, _) in images {
        let _ = std::fs::remove_file(image);
    }
    gateway
}

#[test]
fn settings_record_in_flash_is_loaded_at_boot() {
    let stored = Settings {
        unit_id: 7,
        dedup_window_ms: 1_500,
        scale_poll_ms: 250,
    };
    let older = Settings {
        unit_id: 5,
        ..stored
    };
    // The newer record lies in the earlier slot: the sequence number
    // decides, not the position.
    let image = settings::sector_image("loaded", &[record(2, stored), record(1, older)]);
    let mut gateway = booted_with_flash(&[(image, settings::SECTOR_11)]);
    assert!(
        gateway.console().contains(" unit=7 settings=flash"),
        "{}",
        gateway.console()
    );
    let mut master = Master::open(&gateway.modbus_pty);
    master.unit = 7;
    master.wait_link();
    assert_eq!(settings_registers(&mut master), [1_500, 7, 250]);
    let status = master.status();
    assert_eq!(status.settings_state, SettingsState::Loaded);
    assert_eq!(status.settings_saves_failed, 0);
    // Unit 1, the default, is another unit now.
    master.unit = 1;
    assert_eq!(master.transact_once(&[4, 0, 0, 0, 1]), Answer::Silence);
    gateway.assert_healthy();
}

#[test]
fn corrupt_settings_records_give_the_defaults_and_say_so() {
    // One flipped bit (unit id 7 becomes 5) breaks the CRC.
    let mut torn = record(
        3,
        Settings {
            unit_id: 7,
            dedup_window_ms: 1_500,
            scale_poll_ms: 250,
        },
    );
    torn[12] ^= 0x02;
    // A good CRC around a unit id that a write would refuse.
    let out_of_range = record(
        4,
        Settings {
            unit_id: 0,
            dedup_window_ms: 1_500,
            scale_poll_ms: 250,
        },
    );
    let mut gateway = booted_with_flash(&[
        (
            settings::sector_image("corrupt-11", &[torn]),
            settings::SECTOR_11,
        ),
        (
            settings::sector_image("corrupt-10", &[out_of_range]),
            settings::SECTOR_10,
        ),
    ]);
    let mut master = Master::open(&gateway.modbus_pty);
    master.wait_link();
    assert_eq!(settings_registers(&mut master), [2_000, 1, 200]);
    let status = master.status();
    assert_eq!(status.settings_state, SettingsState::Defaults);
    assert_eq!(status.settings_saves_failed, 0);
    master.unit = 5;
    assert_eq!(master.transact_once(&[4, 0, 0, 0, 1]), Answer::Silence);
    gateway.assert_healthy();
}

/// QEMU's flash is read-only: a change cannot be saved. The write is
/// answered and applied, the failure is reported, nothing hangs.
#[test]
fn a_setting_written_on_qemu_applies_and_its_failed_save_is_reported() {
    let (mut gateway, mut master) = booted();
    let status = master.status();
    assert_eq!(status.settings_state, SettingsState::Defaults);
    assert_eq!(status.settings_saves_failed, 0);
    // The reply echoes the write and comes from the old unit id (`Master`
    // checks the reply's unit).
    let write_unit_9 = [6, 0, holding::UNIT_ID as u8, 0, 9];
    assert_eq!(
        master.transact(&write_unit_9),
        Answer::Pdu(write_unit_9.to_vec())
    );
    master.unit = 9;
    let status = master.status();
    assert_eq!(status.settings_state, SettingsState::SaveFailed);
    assert_eq!(status.settings_saves_failed, 1);
    assert_eq!(settings_registers(&mut master), [2_000, 9, 200]);
    // Writing the value in use again is no change: nothing to save.
    let again = [6, 0, holding::UNIT_ID as u8, 0, 9];
    assert_eq!(master.transact(&again), Answer::Pdu(again.to_vec()));
    assert_eq!(master.status().settings_saves_failed, 1);
    // A broadcast change is saved (and fails) as well.
    master.unit = 0;
    assert_eq!(
        master.write_holding(holding::SCALE_POLL_MS, &[400]),
        Answer::Silence
    );
    master.unit = 9;
    let status = master.status();
    assert_eq!(status.settings_saves_failed, 2);
    assert_eq!(status.settings_state, SettingsState::SaveFailed);
    assert_eq!(settings_registers(&mut master), [2_000, 9, 400]);
    master.unit = 1;
    assert_eq!(master.transact_once(&[4, 0, 0, 0, 1]), Answer::Silence);
    // Each failed save is in the log too.
    wait_lines(
        &mut gateway,
        &[
            "WARN  settings save to flash failed (1 since boot)",
            "WARN  settings save to flash failed (2 since boot)",
        ],
        Duration::from_secs(10),
    );
    gateway.assert_healthy();
}

#[test]
fn scale_weights_appear() {
    let (mut gateway, mut master) = booted();
    let scale = Scale::start(&gateway.scale_pty, "S S      12.345 kg");
    let wait = |master: &mut Master,
                what: &str,
                want: &dyn Fn(&gateway_registers::GatewayStatus) -> bool| {
        poll_until(Duration::from_secs(10), what, || {
            let status = master.status();
            want(&status).then_some(status)
        })
    };
    let s = wait(&mut master, "a stable 12.345 kg", &|s| {
        s.weight_grams == 12_345
    });
    assert!(s.weight_stable && s.weight_valid);
    assert_eq!(s.scale_status, ScaleStatus::Stable);

    scale.answer_with("S D      -0.500 kg");
    let s = wait(&mut master, "a dynamic -500 g", &|s| s.weight_grams == -500);
    assert!(!s.weight_stable && s.weight_valid);

    scale.answer_with("S +");
    let s = wait(&mut master, "overload", &|s| {
        s.scale_status == ScaleStatus::Overload
    });
    assert!(!s.weight_valid);

    let errors_before = s.counters.scale_line_errors;
    scale.answer_with("S S 12 lb");
    wait(&mut master, "a counted bad line", &|s| {
        s.counters.scale_line_errors > errors_before
    });

    drop(scale);
    wait(&mut master, "a timeout once the scale is gone", &|s| {
        s.scale_status == ScaleStatus::Timeout
    });
    // Stable and dynamic weights are no news; the overload and the silence are.
    wait_lines(
        &mut gateway,
        &[
            "INFO  scale Online",
            "WARN  scale Overload",
            "WARN  scale Offline",
        ],
        Duration::from_secs(10),
    );
    gateway.assert_healthy();
}

/// Random frames: half with a good CRC for unit 1 (so they reach the
/// request parser), half plain noise.
fn random_frame(rng: &mut impl Rng) -> Vec<u8> {
    let len = rng.gen_range(1..48);
    let mut body: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
    if rng.gen_bool(0.5) {
        body[0] = 1;
        frame(&body)
    } else {
        body
    }
}

#[test]
fn fuzzed_bytes_on_every_uart_never_hang_or_panic() {
    const FRAMES: usize = 10_000;
    let (mut gateway, mut master) = booted();
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x5EED_0005);
    let before = master.status().counters;

    // Modbus: paced, so that most frames stand alone (t3.5 is 1.75 ms).
    for _ in 0..FRAMES {
        master.send_raw(&random_frame(&mut rng));
        std::thread::sleep(Duration::from_millis(2));
        master.discard_input();
    }
    gateway.assert_healthy();
    std::thread::sleep(INTER_FRAME_GAP);
    master.discard_input();
    let after = master.status().counters;
    assert!(
        after.frames_crc_error > before.frames_crc_error,
        "{after:?}"
    );
    assert!(
        after.frames_malformed + after.exceptions_sent > 0,
        "{after:?}"
    );

    // Reader and scale: short noise frames back to back, with the reader's
    // sync byte and the scale's line ends sprinkled in.
    let mut reader = Port::open(&gateway.reader_pty);
    let mut scale = Port::open(&gateway.scale_pty);
    let mut sink = Vec::new();
    for _ in 0..FRAMES {
        for port in [&mut reader, &mut scale] {
            let len = rng.gen_range(1..12);
            let mut bytes: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
            let at = rng.gen_range(0..bytes.len());
            bytes[at] = [0xFF, b'\n', b'\r', b'S'][rng.gen_range(0..4)];
            port.write_all(&bytes);
            port.read_available(&mut sink);
        }
        sink.clear();
    }
    // The scale reads its line in order: once this weight shows, all the
    // noise before it has been through the parser.
    scale.write_all(b"\r\nS S 7 g\r\n");
    poll_until(
        Duration::from_secs(120),
        "the scale marker after the noise",
        || {
            scale.read_available(&mut sink);
            let status = master.status();
            (status.weight_grams == 7).then_some(())
        },
    );
    let status = master.status();
    assert!(
        status.counters.scale_line_errors > 100,
        "{:?}",
        status.counters
    );
    gateway.assert_healthy();
}

#[test]
fn firmware_fits_its_flash_and_ram_budget() {
    let elf = hil_tests::firmware_elf();
    let map = std::fs::read_to_string(elf.with_file_name("gateway.map")).expect("linker map");
    let fp = hil_tests::footprint(&map);
    assert!(fp.flash_bytes > 4_096, "implausible map reading: {fp:?}");
    assert!(fp.flash_bytes <= 256 * 1024, "{fp:?}");
    assert!(fp.static_ram_bytes <= 64 * 1024, "{fp:?}");
}

/// A 96-bit SGTIN-like EPC with serial `serial`.
fn epc(serial: u16) -> Vec<u8> {
    let mut e = vec![0x30, 0x74, 0x25, 0x7B, 0xF7, 0x19, 0x4E, 0x40, 0, 0, 0, 0];
    e[10..].copy_from_slice(&serial.to_be_bytes());
    e
}

/// Boots with an emulated reader that has been configured and reads. The
/// dedup window is 1.5 s: shorter closes passes sooner, but QEMU hands pty
/// bytes to the UART one at a time, slowly on a loaded host, and a window
/// shorter than the time a burst of reads takes to arrive would split passes.
fn booted_with_reader() -> (Gateway, Master, Reader) {
    let (gateway, mut master) = booted();
    let reader = Reader::start(&gateway.reader_pty);
    reader.wait_reading();
    assert!(matches!(
        master.write_holding(holding::DEDUP_WINDOW_MS, &[1_500]),
        Answer::Pdu(_)
    ));
    poll_until(Duration::from_secs(10), "READER_STATUS reading", || {
        (master.status().reader_status == ReaderStatus::Reading).then_some(())
    });
    (gateway, master, reader)
}

#[test]
fn reader_module_and_settings_show_in_the_log() {
    let (mut gateway, mut master, _reader) = booted_with_reader();
    assert!(matches!(
        master.write_holding(holding::SCALE_POLL_MS, &[500]),
        Answer::Pdu(_)
    ));
    // The emulated module's VERSION answer, as the Mercury API shows it.
    wait_lines(
        &mut gateway,
        &[
            "INFO  boot v0.1.0 board=qemu-netduinoplus2 unit=1",
            "INFO  reader module reading at 921600 baud: firmware 01.09.00.00 hardware 18.00.00.00 bootloader 01.02.03.04; ",
        ],
        Duration::from_secs(10),
    );
    wait_lines(
        &mut gateway,
        &[
            "INFO  setting written: DedupWindowMs(1500)",
            "INFO  setting written: ScalePollMs(500)",
        ],
        Duration::from_secs(10),
    );
    gateway.assert_healthy();
}

#[test]
fn a_full_event_ring_drops_passes_counts_them_and_says_so() {
    let (mut gateway, mut master, reader) = booted_with_reader();
    let capacity = master.poll_events().expect("poll").header.capacity;
    let extra = 4;
    // One read of each tag: one pass each, whatever the window and however
    // slowly QEMU hands the reads over.
    for serial in 1..=capacity + extra {
        let epc = hil_tests::reader::test_epc(serial);
        reader.send_after(
            Duration::ZERO,
            tag_read_frame(&epc, hil_tests::reader::OUTSIDE_ANTENNA, -50),
        );
    }
    let passes = u32::from(capacity + extra);
    poll_until(Duration::from_secs(120), "the passes to close", || {
        let c = master.status().counters;
        (c.reads_seen == passes && c.events_overflowed == u32::from(extra)).then_some(())
    });
    let full = format!("WARN  event ring full ({capacity} events wait for acknowledgement): ");
    wait_lines(&mut gateway, &[&full], Duration::from_secs(10));
    // Nothing was overwritten: the oldest events are still the first passes.
    let poll = master.poll_events().expect("poll");
    assert_eq!(poll.header.count, capacity);
    assert_eq!(poll.events().next().map(|e| e.seq), Some(1));
    gateway.assert_healthy();
}

#[test]
fn tags_through_the_gate_come_out_once_each_with_their_direction() {
    let (mut gateway, mut master, reader) = booted_with_reader();
    let inbound: Vec<Vec<u8>> = (1..=12).map(epc).collect();
    let outbound: Vec<Vec<u8>> = (101..=112).map(epc).collect();
    // The firmware raised the reader's line to 921600 while booting it.
    assert_eq!(reader.line_baud(), 921_600);
    let raw = reader.pass(&inbound, Pass::In, 3) + reader.pass(&outbound, Pass::Out, 3);
    let events = master.drain_events(24, Duration::from_secs(30));
    let seqs: Vec<u32> = events.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=24).collect::<Vec<_>>(), "gapless, each once");
    for event in &events {
        let (bytes, len) = event.epc_bytes();
        let serial = u16::from_be_bytes([bytes[len - 2], bytes[len - 1]]);
        let (want, ended_at) = if serial > 100 {
            (Direction::Out, OUTSIDE_ANTENNA)
        } else {
            (Direction::In, INSIDE_ANTENNA)
        };
        assert_eq!(event.direction, want, "EPC serial {serial}");
        assert_eq!(event.antenna, u16::from(ended_at), "EPC serial {serial}");
        assert_eq!(len, 12);
    }
    let mut serials: Vec<u16> = events.iter().map(|e| e.epc[5]).collect();
    serials.sort();
    serials.dedup();
    assert_eq!(serials.len(), 24, "24 distinct EPCs");
    let c = master.status().counters;
    assert_eq!(
        (c.reads_seen as usize, c.reads_deduped as usize),
        (raw, raw - 24)
    );
    assert_eq!(c.events_overflowed, 0);
    assert_eq!(master.poll_events().expect("poll").events().count(), 0);
    gateway.assert_healthy();
}

#[test]
fn a_lost_poll_loses_no_event() {
    let (mut gateway, mut master, reader) = booted_with_reader();
    let tags: Vec<Vec<u8>> = (1..=10).map(epc).collect();
    reader.pass(&tags, Pass::In, 2);
    poll_until(Duration::from_secs(30), "10 events waiting", || {
        let poll = master.poll_events()?;
        (poll.header.count == 10).then_some(())
    });
    // The master reads the window and loses the reply: nothing is acked.
    let lost = master.poll_events().expect("poll");
    assert_eq!(lost.events().count(), 4);
    // It polls again and gets the same events.
    let again = master.poll_events().expect("poll");
    assert_eq!(again.records, lost.records);
    // It acks, but the ack's reply is lost too; acking again is harmless.
    master.ack(4);
    assert!(matches!(master.ack(4), Answer::Pdu(_)));
    let events = master.drain_events(6, Duration::from_secs(10));
    let mut all: Vec<_> = again.events().copied().collect();
    all.extend(events);
    assert_eq!(
        all.iter().map(|e| e.seq).collect::<Vec<_>>(),
        (1..=10).collect::<Vec<_>>()
    );
    let serials: Vec<u16> = all.iter().map(|e| e.epc[5]).collect();
    let mut sorted = serials.clone();
    sorted.sort();
    assert_eq!(sorted, (1..=10).collect::<Vec<u16>>());
    // An ack past the newest event is refused.
    assert_eq!(master.ack(11), Answer::Exception(3));
    gateway.assert_healthy();
}

#[test]
fn panic_hardfault_and_stall_end_the_run_with_a_report() {
    for (fault, start, end) in [
        (
            "fault=panic",
            "FAILED: panic at src/",
            ": fault injected from the command line",
        ),
        ("fault=hardfault", "FAILED: HardFault at pc=0x", ""),
        (
            "fault=stall",
            "FAILED: watchdog: main loop stalled for ",
            " ms",
        ),
    ] {
        let (status, console) = hil_tests::run_until_exit(&[fault], Duration::from_secs(30));
        assert_eq!(status.code(), Some(1), "{fault}: {console}");
        let first = console.log.first().map(|l| l.message.as_str());
        assert!(
            first.is_some_and(|m| m.starts_with("boot v")),
            "{fault}: {console}"
        );
        // The reason is the last line, at error level.
        let last = console.log.last();
        assert!(
            last.is_some_and(|l| l.level == "ERROR"
                && l.message.starts_with(start)
                && l.message.ends_with(end)),
            "{fault}: {console}"
        );
    }
}

#[test]
fn the_reads_bench_gets_every_epc_out_once_inbound() {
    // The bench binary simulates the gateway loop at 1,500 reads/s of 100
    // EPCs under instruction counting; its figures are only worth reporting
    // while its run is right: every EPC out once, inbound, nothing dropped,
    // the reader still reading. No speed threshold: QEMU is not
    // cycle-accurate.
    // With a Modbus master polling back to back: the loop waits while each
    // reply goes out, and the reader's queue must hold what comes meanwhile.
    let (status, console) = hil_tests::run_reads_bench("2", 1_500, true);
    assert_eq!(status.code(), Some(0), "{console}");
    for field in [
        "rate=1500 ",
        "cpi=2.000 ",
        "reads=3000 ",
        "events=100 ",
        "inbound=100 ",
        "distinct_epcs=100 ",
        "reads_seen=3000 ",
        "dropped=0 ",
        "reader=Reading ",
        "ok=true",
    ] {
        assert!(console.contains(field), "{field} missing: {console}");
    }
    // The calibration loop: 1 virtual ns is 1 executed instruction.
    let line = console
        .lines()
        .find(|l| l.starts_with("bench-reads:"))
        .unwrap_or_else(|| panic!("no bench-reads line: {console}"));
    let field =
        |name| hil_tests::bench_field(line, name).unwrap_or_else(|| panic!("no {name}: {line}"));
    assert!(field("modbus_polls") > 50, "the master polled: {line}");
    let (instructions, ns) = (field("calib_instructions"), field("calib_ns"));
    assert!(instructions >= 100_000, "{line}");
    assert!(
        ns.abs_diff(instructions) * 100 <= instructions,
        "{ns} ns for {instructions} instructions: {line}"
    );
}
