//! The STM32F405's flash controller, for the settings store only: sectors
//! 10 and 11 (128 KiB each, at 0x080C_0000 and 0x080E_0000), which
//! `memory.x` keeps out of the firmware image. Implements the core's
//! [`NorFlash`]; what to write and when is decided in
//! `gateway_firmware::settings`.
//!
//! Programming is word by word (PSIZE x32, which needs 2.7–3.6 V; the board
//! runs at 3.3 V). The controller is unlocked for each operation and locked
//! again after it, whatever the outcome. Every wait on BSY is bounded, and
//! the error flags are checked and cleared after each operation.
//!
//! While a sector erase runs (typically 1 s, at most 2 s for 128 KiB), any
//! read of flash stalls the CPU: code and vectors are in flash, so the main
//! loop and every interrupt wait. The watchdogs are kicked just before and
//! just after the erase (the software one's 2 s cannot elapse: its SysTick
//! handler is stalled too; the independent one's 6 s nominal is at least
//! 4.08 s at the fastest LSI the datasheet allows). A UART byte arriving
//! during the stall overruns the USART; the receive interrupt counts each
//! overrun as a lost byte of its line, and the uptime falls behind by the
//! stall. An erase happens once every 4,096 saves.
//!
//! On QEMU's `netduinoplus2` the controller is an unimplemented device (reads
//! 0, ignores writes) and flash is ROM: operations "succeed" and change
//! nothing, so the store's read-back reports the save as failed.
#![allow(unsafe_code)] // raw flash reads and writes, and the SNB field

use gateway_firmware::settings::{FlashError, NorFlash};
use stm32f4::stm32f405 as pac;

use crate::board;

/// Address of the first settings sector (sector 10).
const AREA_START: u32 = 0x080C_0000;
/// The first settings sector's number; the second is the next one.
const FIRST_SECTOR: u8 = 10;
const SECTOR_BYTES: u32 = 128 * 1024;
const KEY1: u32 = 0x4567_0123;
const KEY2: u32 = 0xCDEF_89AB;
/// FLASH_SR error flags: PGSERR, PGPERR, PGAERR, WRPERR, OPERR.
const SR_ERRORS: u32 = (1 << 7) | (1 << 6) | (1 << 5) | (1 << 4) | (1 << 1);
/// Bound on BSY polls after a word program (at most 100 µs, i.e. 16,800
/// cycles at 168 MHz; a poll takes at least a cycle, so this is over 10×).
const PROGRAM_POLLS: u32 = 200_000;
/// Bound on BSY polls after a sector erase (at most 2 s = 336 M cycles). If
/// the poll loop runs from the ART cache during the erase it takes at least
/// a cycle a poll; if it is stalled it polls once after. Either way a
/// controller that never clears BSY ends in [`FlashError::Timeout`] rather
/// than a hang (on the real board the independent watchdog resets first).
const ERASE_POLLS: u32 = 400_000_000;

/// The two settings sectors behind the STM32F405's flash controller.
pub struct SettingsFlash {
    regs: pac::FLASH,
}

impl SettingsFlash {
    /// Takes the flash controller.
    pub fn new(regs: pac::FLASH) -> Self {
        Self { regs }
    }

    fn unlock(&mut self) -> Result<(), FlashError> {
        // Writing the keys to an unlocked controller would lock it until
        // reset, so only when locked.
        if self.regs.cr.read().lock().bit_is_set() {
            self.regs.keyr.write(|w| w.key().bits(KEY1));
            self.regs.keyr.write(|w| w.key().bits(KEY2));
            if self.regs.cr.read().lock().bit_is_set() {
                return Err(FlashError::Device(self.regs.cr.read().bits()));
            }
        }
        self.wait_not_busy(PROGRAM_POLLS)?;
        // Stale flags from an earlier operation would block this one.
        self.clear_flags();
        Ok(())
    }

    fn lock(&mut self) {
        // A whole-register write: PG and SER go, LOCK is set.
        self.regs.cr.write(|w| w.lock().set_bit());
    }

    fn clear_flags(&mut self) {
        self.regs.sr.write(|w| {
            w.eop()
                .set_bit()
                .operr()
                .set_bit()
                .wrperr()
                .set_bit()
                .pgaerr()
                .set_bit()
                .pgperr()
                .set_bit()
                .pgserr()
                .set_bit()
        });
    }

    /// Polls BSY until it clears, at most `polls` times.
    fn wait_not_busy(&mut self, polls: u32) -> Result<(), FlashError> {
        let mut left = polls;
        while self.regs.sr.read().bsy().bit_is_set() {
            if left == 0 {
                return Err(FlashError::Timeout);
            }
            left -= 1;
        }
        Ok(())
    }

    /// Waits for the operation to end, then checks and clears the error
    /// flags.
    fn wait_idle(&mut self, polls: u32) -> Result<(), FlashError> {
        self.wait_not_busy(polls)?;
        let errors = self.regs.sr.read().bits() & SR_ERRORS;
        if errors != 0 {
            self.clear_flags();
            return Err(FlashError::Device(errors));
        }
        Ok(())
    }

    /// Drops what the data cache holds of flash, so reads after a program
    /// or an erase see flash, not stale lines (RM0090 §3.5.2: the cache can
    /// only be reset while disabled).
    fn reset_data_cache(&mut self) {
        let enabled = self.regs.acr.read().dcen().bit_is_set();
        self.regs.acr.modify(|_, w| w.dcen().clear_bit());
        self.regs.acr.modify(|_, w| w.dcrst().set_bit());
        self.regs.acr.modify(|_, w| w.dcrst().clear_bit());
        if enabled {
            self.regs.acr.modify(|_, w| w.dcen().set_bit());
        }
    }

    fn program_words(&mut self, offset: u32, words: &[u32]) -> Result<(), FlashError> {
        self.unlock()?;
        for (i, &word) in words.iter().enumerate() {
            self.regs
                .cr
                .write(|w| w.lock().clear_bit().psize().psize32().pg().set_bit());
            let address = AREA_START + offset + 4 * i as u32;
            // SAFETY: `address` is word-aligned and inside sectors 10–11,
            // which memory.x keeps free of code and data; PG is set, so the
            // controller turns this write into a word program.
            unsafe { core::ptr::write_volatile(address as *mut u32, word) };
            self.wait_idle(PROGRAM_POLLS)?;
        }
        Ok(())
    }

    fn erase_sector(&mut self, sector: u32) -> Result<(), FlashError> {
        self.unlock()?;
        let snb = FIRST_SECTOR + sector as u8;
        self.regs.cr.write(|w| {
            let w = w.lock().clear_bit().psize().psize32().ser().set_bit();
            // SAFETY: SNB takes sector numbers 0–11; this is 10 or 11.
            unsafe { w.snb().bits(snb) }
        });
        board::kick_watchdog();
        self.regs.cr.modify(|_, w| w.strt().set_bit());
        let result = self.wait_idle(ERASE_POLLS);
        board::kick_watchdog();
        result
    }
}

fn in_area(offset: u32, words: usize) -> bool {
    offset % 4 == 0 && u64::from(offset) + 4 * words as u64 <= 2 * u64::from(SECTOR_BYTES)
}

impl NorFlash for SettingsFlash {
    const SECTOR_BYTES: u32 = SECTOR_BYTES;

    fn read(&mut self, offset: u32, words: &mut [u32]) {
        if !in_area(offset, words.len()) {
            // Outside the settings sectors: nothing to read, and reading
            // code as settings would only yield garbage records.
            words.fill(0);
            return;
        }
        for (i, word) in words.iter_mut().enumerate() {
            let address = AREA_START + offset + 4 * i as u32;
            // SAFETY: word-aligned and inside sectors 10–11, which are
            // always mapped and readable; volatile because programs and
            // erases change them behind the compiler's back.
            *word = unsafe { core::ptr::read_volatile(address as *const u32) };
        }
    }

    fn program(&mut self, offset: u32, words: &[u32]) -> Result<(), FlashError> {
        if !in_area(offset, words.len()) {
            return Err(FlashError::OutOfRange);
        }
        let result = self.program_words(offset, words);
        self.lock();
        self.reset_data_cache();
        result
    }

    fn erase(&mut self, sector: u32) -> Result<(), FlashError> {
        if sector >= 2 {
            return Err(FlashError::OutOfRange);
        }
        let result = self.erase_sector(sector);
        self.lock();
        self.reset_data_cache();
        result
    }
}
