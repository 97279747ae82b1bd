//! The gateway firmware's entry point: one loop that moves bytes between the
//! board's UARTs and the portable core, then sleeps until the next interrupt
//! (a received byte or the 1 ms tick).
#![no_std]
#![no_main]

#[path = "../board.rs"]
mod board;

use cortex_m_rt::entry;
use gateway_firmware::bank::RegisterBank;
use gateway_firmware::modbus::RtuSlave;
use gateway_firmware::rtu::t35_us;
use gateway_firmware::scale::ScaleClient;
use gateway_firmware::FIRMWARE_VERSION;

#[entry]
fn main() -> ! {
    let mut board = board::Board::init();
    let mut bank = RegisterBank::default();
    let mut modbus = RtuSlave::new(t35_us(board::MODBUS_BAUD));
    let mut scale = ScaleClient::new();
    let (major, minor, patch) = FIRMWARE_VERSION;
    log!(
        "gateway: boot v{}.{}.{} board={} unit={}",
        major,
        minor,
        patch,
        board::BOARD_NAME,
        bank.config().unit_id
    );
    let mut rx_dropped_seen = [0u32; 3];
    loop {
        board::kick_watchdog();
        // Bytes lost to full receive queues are never a silent loss: each
        // counts as an error of the line it was lost on.
        let rx_dropped = board.rx_dropped();
        let lost = |n: usize| rx_dropped[n].wrapping_sub(rx_dropped_seen[n]);
        let c = &mut bank.counters;
        c.frames_malformed = c.frames_malformed.wrapping_add(lost(0));
        c.reader_frame_errors = c.reader_frame_errors.wrapping_add(lost(1));
        c.scale_line_errors = c.scale_line_errors.wrapping_add(lost(2));
        rx_dropped_seen = rx_dropped;
        while let Some((byte, at_us)) = board.modbus_rx() {
            modbus.on_byte(byte, at_us, &mut bank, |reply| board.modbus_tx(reply));
        }
        while let Some((byte, _)) = board.scale_rx() {
            scale.push(byte, &mut bank);
        }
        let now_us = board::now_us();
        bank.uptime_ms = now_us / 1_000;
        modbus.on_time(now_us, &mut bank, |reply| board.modbus_tx(reply));
        scale.poll(now_us / 1_000, &mut bank, |command| board.scale_tx(command));
        if !board.rx_pending() {
            cortex_m::asm::wfi();
        }
    }
}
