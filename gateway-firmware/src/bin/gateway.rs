//! The gateway firmware's entry point: one loop that moves bytes between the
//! board's UARTs and the portable core, saves changed settings to flash once
//! the reply has gone out, then sleeps until there is work: a Modbus or
//! scale byte, a batch of reader bytes, or the 1 ms tick (a reader byte
//! alone wakes the core for its interrupt only). The reader's part of the
//! loop is `DockDoor::turn`, which `bench-reads` runs and measures as well.
#![no_std]
#![no_main]

#[path = "../board.rs"]
mod board;
#[path = "../flash.rs"]
mod flash;
#[path = "../logging.rs"]
mod logging;

use cortex_m_rt::entry;
use gateway_firmware::bank::RegisterBank;
use gateway_firmware::modbus::RtuSlave;
use gateway_firmware::notice::Watch;
use gateway_firmware::reader::{DockDoor, TURN_BATCH};
use gateway_firmware::rtu::t35_us;
use gateway_firmware::scale::ScaleClient;
use gateway_firmware::settings::SettingsStore;
use gateway_firmware::FIRMWARE_VERSION;
use gateway_registers::SettingsState;

#[entry]
fn main() -> ! {
    let mut board = board::Board::init();
    let flash = board
        .take_flash()
        .unwrap_or_else(|| board::fail!("FAILED: flash controller taken twice"));
    let (mut settings, config, settings_state) =
        SettingsStore::open(flash::SettingsFlash::new(flash));
    // The big state lives in statics, so the linker map shows the RAM it
    // takes (the event ring and the gate's tracks are most of it).
    let bank = cortex_m::singleton!(: RegisterBank = RegisterBank::new(config))
        .unwrap_or_else(|| board::fail!("FAILED: main entered twice"));
    bank.settings_state = settings_state;
    let mut modbus = RtuSlave::new(t35_us(board::MODBUS_BAUD));
    let mut scale = ScaleClient::new();
    let door = cortex_m::singleton!(: DockDoor = DockDoor::new(0, board::now_us() / 1_000, board::READER_BAUD, bank))
        .unwrap_or_else(|| board::fail!("FAILED: main entered twice"));
    let (major, minor, patch) = FIRMWARE_VERSION;
    let settings_from = match settings_state {
        SettingsState::Loaded => "flash",
        _ => "defaults",
    };
    defmt::info!(
        "boot v{=u16}.{=u16}.{=u16} board={=str} unit={=u8} settings={=str}",
        major,
        minor,
        patch,
        board::BOARD_NAME,
        bank.config().unit_id,
        settings_from
    );
    board::fail_if_asked();
    let mut watch = Watch::new(door, bank);
    let mut rx_dropped_seen = [0u32; 3];
    loop {
        let tick = board::ticks();
        board::kick_watchdog();
        // Bytes lost to full receive queues are never a silent loss: each
        // counts as an error of the line it was lost on.
        let rx_dropped = board.rx_dropped();
        let lost = |n: usize| rx_dropped[n].wrapping_sub(rx_dropped_seen[n]);
        let c = &mut bank.counters;
        c.frames_malformed = c.frames_malformed.wrapping_add(lost(0));
        c.scale_line_errors = c.scale_line_errors.wrapping_add(lost(2));
        rx_dropped_seen = rx_dropped;
        while let Some((byte, at_us)) = board.modbus_rx() {
            modbus.on_byte(byte, at_us, bank, |reply| board.modbus_tx(reply));
        }
        while let Some((byte, _)) = board.scale_rx() {
            scale.push(byte, bank);
        }
        let now_us = board::now_us();
        let now_ms = now_us / 1_000;
        bank.uptime_ms = now_ms;
        modbus.on_time(now_us, bank, |reply| board.modbus_tx(reply));
        // Replies have gone out (`modbus_tx` returns once the last bit has
        // left): now a write that changed a setting is saved. The outcome
        // is in SETTINGS_STATE and SETTINGS_SAVES_FAILED.
        let _ = settings.sync(bank);
        scale.poll(now_ms, bank, |command| board.scale_tx(command));
        // The reader's part: shared with bench-reads, which measures it. The
        // clock is read again: a Modbus reply or scale command written
        // above may have held the loop for up to ~26 ms.
        let now_us = board::now_us();
        door.turn(
            now_us,
            board.reader_waiting(),
            || board.reader_rx(now_us),
            rx_dropped[1],
            bank,
            |out| board.reader_line(out),
        );
        watch.check(now_ms, door, bank, logging::notice);
        // A reader byte alone costs only its interrupt, not a pass.
        board.sleep_until_work(TURN_BATCH, tick);
    }
}
