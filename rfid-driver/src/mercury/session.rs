//! [`ReaderSession`]: drives one reader module, sans-IO (quinn-proto's shape).
//!
//! The session never touches a UART or a clock. The caller feeds received
//! bytes with [`ReaderSession::handle_input`], lets time pass with
//! [`ReaderSession::handle_timeout`], and drains [`ReaderSession::poll_output`]
//! until it answers [`Output::Wait`]: bytes to transmit, tag reads, and the
//! time at which to call again.
//!
//! What it does: boot the module (stop any running inventory, ask the version,
//! leave the bootloader if the module sits in it, raise the line rate to
//! [`ReaderConfig::baud`], set region, Gen2, antennas, read power, switch the
//! module's own read filter off), start continuous reading, and turn each
//! tag-read notification into [`Output::TagRead`].
//!
//! The line rate: the caller opens the UART at [`MODULE_DEFAULT_BAUD`], the
//! rate of a module after power-up. When `baud` differs, the session asks the
//! module to switch once it is in its application firmware and, on its
//! answer, tells the caller to follow with [`Output::SetLineRate`]. A module
//! may keep the fast rate while the gateway restarts, or fall back to the
//! default when it resets alone, so a boot attempt that heard no valid frame
//! at all, and a stall while reading, switch the line to the other rate for
//! the next attempt. The fast rate is given up for the rest of the session
//! (it is not asked for again; reading goes on at the rate the module
//! answers at, the default one unless it was left fast) when the module
//! refuses the switch, or when [`MAX_SWITCH_FAILURES`] boots after a switch
//! heard nothing before reading ever started (a module that ignores the
//! rate, or a line that cannot carry it: then the module is found again at
//! the default rate once it resets); [`ReaderStats::fast_rate_given_up`]
//! says so.
//! It recovers on its own: a command not answered within
//! `response_timeout_ms` or refused with a non-zero status waits
//! `retry_delay_ms` and boots again; no frame at all for `stall_timeout_ms`
//! while reading (the module sends a keep-alive about once a second, so
//! silence means it reset or hung) boots again too. A partial frame followed
//! by `frame_gap_ms` of silence is noise and is dropped. Everything is counted
//! in [`ReaderStats`].

use super::{
    status, tag_reads, Command, Direction, FrameDecoder, Region, TagRead, TagReads, TagReadsCursor,
    MODULE_DEFAULT_BAUD,
};

/// Line rates a module can be switched to (Mercury API's list), bits/s.
pub const SUPPORTED_BAUDS: [u32; 8] = [
    9_600, 19_200, 38_400, 57_600, 115_200, 230_400, 460_800, 921_600,
];

/// Boots that may fail after a switch to the fast rate before the session
/// stays at the default rate.
pub const MAX_SWITCH_FAILURES: u8 = 3;

/// Settings of one reader module.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReaderConfig {
    /// Regulatory region.
    pub region: Region,
    /// Read TX power, centi-dBm (2700 = 27.00 dBm).
    pub read_power_centi_dbm: u16,
    /// Antenna ports to read on; the first `antenna_count` entries are used.
    pub antennas: [u8; 4],
    /// How many of `antennas` are used (0: leave the module's setting).
    pub antenna_count: u8,
    /// How long to wait for a command's answer.
    pub response_timeout_ms: u32,
    /// Silence while reading after which the module is rebooted.
    pub stall_timeout_ms: u32,
    /// Pause before booting again after a failure.
    pub retry_delay_ms: u32,
    /// Silence after which a partial frame counts as noise.
    pub frame_gap_ms: u32,
    /// Line rate to read at, bits/s; [`MODULE_DEFAULT_BAUD`], or a rate not
    /// in [`SUPPORTED_BAUDS`], never switches.
    pub baud: u32,
}

impl Default for ReaderConfig {
    /// EU3, 27 dBm, antennas 1 (outside) and 2 (inside), 1 s answers, 3 s
    /// stall, 1 s retry, 50 ms frame gap, the module's default line rate.
    fn default() -> Self {
        Self {
            region: Region::Europe,
            read_power_centi_dbm: 2700,
            antennas: [1, 2, 0, 0],
            antenna_count: 2,
            response_timeout_ms: 1000,
            stall_timeout_ms: 3000,
            retry_delay_ms: 1000,
            frame_gap_ms: 50,
            baud: MODULE_DEFAULT_BAUD,
        }
    }
}

/// Where the session is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReaderState {
    /// Sending the boot and configuration commands.
    Booting,
    /// Continuous reading is running.
    Reading,
    /// A boot failed; waiting `retry_delay_ms` before the next.
    RetryWait,
}

/// Counters of one session (saturating).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReaderStats {
    /// Frames with a good CRC.
    pub frames_ok: u32,
    /// Frames with a bad CRC.
    pub crc_errors: u32,
    /// Bytes that belonged to no valid frame.
    pub garbage_bytes: u32,
    /// Tag reads delivered.
    pub tag_reads: u32,
    /// "No tags found" keep-alives while reading.
    pub keepalives: u32,
    /// Temperature-throttle notices.
    pub throttles: u32,
    /// Tag-read notifications whose records could not be read.
    pub bad_notifications: u32,
    /// Commands answered with a non-zero status.
    pub command_errors: u32,
    /// Commands not answered in time.
    pub timeouts: u32,
    /// Reading stopped delivering frames for `stall_timeout_ms`.
    pub stalls: u32,
    /// Boots after the first.
    pub restarts: u32,
    /// Valid frames that fit nothing the session waited for.
    pub unexpected_frames: u32,
    /// The fast line rate was given up (refused, or boots failed after the
    /// switch); reading goes on at [`MODULE_DEFAULT_BAUD`].
    pub fast_rate_given_up: bool,
}

/// Version data from the module's answer to `VERSION`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ModuleVersion {
    pub bootloader: [u8; 4],
    pub hardware: [u8; 4],
    pub firmware_date: [u8; 4],
    pub firmware: [u8; 4],
}

/// What the caller must do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output<'a> {
    /// Write these bytes to the module's UART.
    Transmit(&'a [u8]),
    /// A tag was read; `at_ms` is the `now_ms` of the input that carried it.
    TagRead { at_ms: u64, read: TagRead },
    /// Set the UART to `baud` bits/s once every byte given to transmit
    /// before this has left the line.
    SetLineRate { baud: u32 },
    /// Nothing more for now: call `handle_input` when bytes arrive, or
    /// `handle_timeout` at `until_ms` at the latest.
    Wait { until_ms: u64 },
}

/// Where the session stands with the fast line rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FastRate {
    /// Wanted (or reached and confirmed by reading).
    Wanted,
    /// Switched during a boot that has not reached reading yet.
    Unconfirmed,
    /// Refused or failing: stay at the default rate.
    GivenUp,
}

/// The boot steps, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    StopReading,
    Version,
    GetCurrentProgram,
    BootFirmware,
    SetBaudRate,
    SetRegion,
    SetTagProtocol,
    SetAntennas,
    SetReadPower,
    DisableReadFilter,
    StartReading,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// `step` was sent (or is about to be); its answer is due at `deadline_ms`.
    Awaiting {
        step: Step,
        deadline_ms: u64,
    },
    Reading {
        stall_at_ms: u64,
    },
    RetryWait {
        until_ms: u64,
    },
}

/// Drives one reader module; see the module docs.
#[derive(Debug, Clone)]
pub struct ReaderSession {
    config: ReaderConfig,
    decoder: FrameDecoder,
    phase: Phase,
    now_ms: u64,
    last_rx_ms: u64,
    tx: [u8; 32],
    tx_len: usize,
    /// Tag records of the current notification not yet handed out.
    cursor: Option<TagReadsCursor>,
    /// The rate the caller's UART is at (or is about to be, see `rate_change`).
    line_baud: u32,
    /// A line rate change the caller has not been told of yet.
    rate_change: Option<u32>,
    /// Whether a valid frame arrived at the current rate since the current
    /// boot attempt began.
    heard_since_boot: bool,
    fast_rate: FastRate,
    /// Boots that failed while a switch was unconfirmed.
    switch_failures: u8,
    version: Option<ModuleVersion>,
    stats: ReaderStats,
}

fn bump(counter: &mut u32) {
    *counter = counter.saturating_add(1);
}

impl ReaderSession {
    /// A session that starts booting the module at `now_ms`.
    pub fn new(mut config: ReaderConfig, now_ms: u64) -> Self {
        if !SUPPORTED_BAUDS.contains(&config.baud) {
            config.baud = MODULE_DEFAULT_BAUD;
        }
        let mut s = Self {
            config,
            decoder: FrameDecoder::new(Direction::FromModule),
            phase: Phase::RetryWait { until_ms: now_ms },
            now_ms,
            last_rx_ms: now_ms,
            tx: [0; 32],
            tx_len: 0,
            cursor: None,
            line_baud: MODULE_DEFAULT_BAUD,
            rate_change: None,
            heard_since_boot: false,
            fast_rate: FastRate::Wanted,
            switch_failures: 0,
            version: None,
            stats: ReaderStats::default(),
        };
        s.send(Step::StopReading);
        s
    }

    /// Where the session is.
    pub fn state(&self) -> ReaderState {
        match self.phase {
            Phase::Awaiting { .. } => ReaderState::Booting,
            Phase::Reading { .. } => ReaderState::Reading,
            Phase::RetryWait { .. } => ReaderState::RetryWait,
        }
    }

    /// The counters, including the decoder's CRC errors and garbage bytes.
    pub fn stats(&self) -> ReaderStats {
        ReaderStats {
            crc_errors: self.decoder.crc_errors(),
            garbage_bytes: self.decoder.garbage_bytes(),
            fast_rate_given_up: self.fast_rate == FastRate::GivenUp,
            ..self.stats
        }
    }

    /// The module's version, once it answered.
    pub fn version(&self) -> Option<ModuleVersion> {
        self.version
    }

    /// Bytes received at `now_ms`. Returns how many were taken; give the rest
    /// after draining [`ReaderSession::poll_output`].
    pub fn handle_input(&mut self, now_ms: u64, bytes: &[u8]) -> usize {
        self.now_ms = self.now_ms.max(now_ms);
        if bytes.is_empty() {
            return 0;
        }
        self.last_rx_ms = self.now_ms;
        let n = self.decoder.push(bytes);
        self.check_timers();
        n
    }

    /// Time has passed to `now_ms`; acts on any deadline that has come.
    pub fn handle_timeout(&mut self, now_ms: u64) {
        self.now_ms = self.now_ms.max(now_ms);
        self.check_timers();
    }

    /// The line rate the caller's UART must be at, bits/s.
    pub fn line_baud(&self) -> u32 {
        self.line_baud
    }

    /// The next thing to do; call until it returns [`Output::Wait`].
    pub fn poll_output(&mut self) -> Output<'_> {
        if self.rate_change.is_some() || self.tx_len > 0 {
            return self.take_line_output();
        }
        loop {
            if let Some(read) = self.next_buffered_read() {
                bump(&mut self.stats.tag_reads);
                return Output::TagRead {
                    at_ms: self.last_rx_ms,
                    read,
                };
            }
            let Some(result) = self.decoder.poll() else {
                break;
            };
            // CRC errors are counted by the decoder.
            if let Ok(frame) = result {
                let data = frame.data();
                let (opcode, status, data_len) = (frame.opcode(), frame.status(), data.len());
                let mut head = [0u8; 16];
                let copy = data_len.min(16);
                head[..copy].copy_from_slice(&data[..copy]);
                self.on_frame(opcode, status.unwrap_or(0), &head[..copy], data_len);
            }
            if self.rate_change.is_some() || self.tx_len > 0 {
                return self.take_line_output();
            }
        }
        Output::Wait {
            until_ms: self.deadline(),
        }
    }

    /// A pending line rate change first (the next command goes out at the
    /// new rate), else the queued command.
    fn take_line_output(&mut self) -> Output<'_> {
        if let Some(baud) = self.rate_change.take() {
            return Output::SetLineRate { baud };
        }
        let n = core::mem::take(&mut self.tx_len);
        Output::Transmit(&self.tx[..n])
    }

    /// The next record of the current tag-read notification, if any.
    fn next_buffered_read(&mut self) -> Option<TagRead> {
        let cursor = self.cursor.take()?;
        let frame = self.decoder.current()?;
        let mut reads = TagReads::resume(frame.data(), cursor);
        match reads.next()? {
            Ok(read) => {
                self.cursor = Some(reads.cursor());
                Some(read)
            }
            Err(_) => {
                bump(&mut self.stats.bad_notifications);
                None
            }
        }
    }

    /// When to call `handle_timeout` at the latest.
    fn deadline(&self) -> u64 {
        let phase = match self.phase {
            Phase::Awaiting { deadline_ms, .. } => deadline_ms,
            Phase::Reading { stall_at_ms } => stall_at_ms,
            Phase::RetryWait { until_ms } => until_ms,
        };
        if self.decoder.has_partial() {
            phase.min(self.last_rx_ms + u64::from(self.config.frame_gap_ms))
        } else {
            phase
        }
    }

    fn check_timers(&mut self) {
        let now = self.now_ms;
        if self.decoder.has_partial()
            && now >= self.last_rx_ms + u64::from(self.config.frame_gap_ms)
        {
            self.decoder.line_idle();
        }
        match self.phase {
            Phase::Awaiting { step, deadline_ms } if now >= deadline_ms => {
                if step == Step::StopReading {
                    // A module in its bootloader or just powered may not answer; go on.
                    self.send(Step::Version);
                } else {
                    bump(&mut self.stats.timeouts);
                    self.retry_later();
                }
            }
            Phase::Reading { stall_at_ms } if now >= stall_at_ms => {
                bump(&mut self.stats.stalls);
                // Silence: most likely the module reset, back to its default rate.
                self.reboot(Some(MODULE_DEFAULT_BAUD));
            }
            Phase::RetryWait { until_ms } if now >= until_ms => self.reboot(None),
            _ => {}
        }
    }

    /// Boots the module again, at `rate` if given, else at the current
    /// rate or, after a boot that heard nothing, the other one.
    fn reboot(&mut self, rate: Option<u32>) {
        bump(&mut self.stats.restarts);
        self.cursor = None;
        // Only a boot that heard nothing counts against a switch: a refused
        // or lost answer at the new rate shows the rate works.
        if self.fast_rate == FastRate::Unconfirmed && !self.heard_since_boot {
            self.switch_failures = self.switch_failures.saturating_add(1);
            if self.switch_failures >= MAX_SWITCH_FAILURES {
                self.fast_rate = FastRate::GivenUp;
            }
        }
        if let Some(baud) = rate {
            if self.line_baud != baud {
                self.set_line_baud(baud);
            }
        } else if !self.heard_since_boot && self.config.baud != MODULE_DEFAULT_BAUD {
            // Nothing understood us: the module is at the other rate. Also
            // once the fast rate is given up: a module left at it is still
            // found there (it is only not asked for it again).
            let other = if self.line_baud == MODULE_DEFAULT_BAUD {
                self.config.baud
            } else {
                MODULE_DEFAULT_BAUD
            };
            self.set_line_baud(other);
        }
        self.heard_since_boot = false;
        self.send(Step::StopReading);
    }

    fn set_line_baud(&mut self, baud: u32) {
        self.line_baud = baud;
        self.rate_change = Some(baud);
        self.heard_since_boot = false;
    }

    fn retry_later(&mut self) {
        self.cursor = None;
        self.phase = Phase::RetryWait {
            until_ms: self.now_ms + u64::from(self.config.retry_delay_ms),
        };
    }

    /// Queues the command of `step` and waits for its answer.
    fn send(&mut self, step: Step) {
        let c = &self.config;
        let antennas = &c.antennas[..usize::from(c.antenna_count).min(c.antennas.len())];
        let command = match step {
            Step::StopReading => Command::StopReading,
            Step::Version => Command::Version,
            Step::GetCurrentProgram => Command::GetCurrentProgram,
            Step::BootFirmware => Command::BootFirmware,
            Step::SetBaudRate => Command::SetBaudRate(c.baud),
            Step::SetRegion => Command::SetRegion(c.region),
            Step::SetTagProtocol => Command::SetTagProtocolGen2,
            Step::SetAntennas => Command::SetAntennas(antennas),
            Step::SetReadPower => Command::SetReadTxPower {
                centi_dbm: c.read_power_centi_dbm,
            },
            Step::DisableReadFilter => Command::DisableReadFilter,
            Step::StartReading => Command::StartReading,
        };
        // Every command fits 32 bytes (the longest, StartReading, is 21).
        self.tx_len = command.emit(&mut self.tx).unwrap_or(0);
        self.phase = Phase::Awaiting {
            step,
            deadline_ms: self.now_ms + u64::from(c.response_timeout_ms),
        };
    }

    fn step_after(&self, step: Step, in_bootloader: bool) -> Option<Step> {
        Some(match step {
            Step::StopReading => Step::Version,
            Step::Version => Step::GetCurrentProgram,
            Step::GetCurrentProgram if in_bootloader => Step::BootFirmware,
            Step::GetCurrentProgram | Step::BootFirmware
                if self.line_baud != self.config.baud && self.fast_rate != FastRate::GivenUp =>
            {
                Step::SetBaudRate
            }
            Step::GetCurrentProgram | Step::BootFirmware | Step::SetBaudRate => Step::SetRegion,
            Step::SetRegion => Step::SetTagProtocol,
            Step::SetTagProtocol if self.config.antenna_count > 0 => Step::SetAntennas,
            Step::SetTagProtocol | Step::SetAntennas => Step::SetReadPower,
            Step::SetReadPower => Step::DisableReadFilter,
            Step::DisableReadFilter => Step::StartReading,
            Step::StartReading => return None,
        })
    }

    /// One valid frame: its opcode, status, first data bytes and data length.
    fn on_frame(&mut self, opcode: u8, status: u16, head: &[u8], data_len: usize) {
        bump(&mut self.stats.frames_ok);
        self.heard_since_boot = true;
        match self.phase {
            Phase::Reading { .. } => {
                self.phase = Phase::Reading {
                    stall_at_ms: self.now_ms + u64::from(self.config.stall_timeout_ms),
                };
                if opcode != super::opcode::READ_TAG_ID_MULTIPLE {
                    if opcode != super::opcode::MULTI_PROTOCOL_TAG_OP {
                        bump(&mut self.stats.unexpected_frames);
                    }
                    return;
                }
                match status {
                    status::SUCCESS if data_len > 0 => {
                        // Records are read lazily from the decoder's current frame.
                        let frame_data = self.decoder.current();
                        match frame_data.map(|f| tag_reads(f.data()).map(|r| r.cursor())) {
                            Some(Ok(cursor)) => self.cursor = Some(cursor),
                            _ => bump(&mut self.stats.bad_notifications),
                        }
                    }
                    status::SUCCESS | status::NO_TAGS_FOUND => bump(&mut self.stats.keepalives),
                    status::TEMPERATURE_THROTTLE => bump(&mut self.stats.throttles),
                    _ => bump(&mut self.stats.command_errors),
                }
            }
            Phase::Awaiting { step, .. } => {
                let expected = self.command_opcode(step);
                if opcode != expected {
                    // Notifications still draining after a stop are expected.
                    if opcode != super::opcode::READ_TAG_ID_MULTIPLE {
                        bump(&mut self.stats.unexpected_frames);
                    }
                    return;
                }
                if status != status::SUCCESS && step == Step::SetBaudRate {
                    // This module will not go faster: read at the default rate.
                    bump(&mut self.stats.command_errors);
                    self.fast_rate = FastRate::GivenUp;
                    self.send(Step::SetRegion);
                    return;
                }
                if status != status::SUCCESS && step != Step::StopReading {
                    bump(&mut self.stats.command_errors);
                    self.retry_later();
                    return;
                }
                if step == Step::Version && head.len() >= 16 {
                    let q = |i: usize| [head[i], head[i + 1], head[i + 2], head[i + 3]];
                    self.version = Some(ModuleVersion {
                        bootloader: q(0),
                        hardware: q(4),
                        firmware_date: q(8),
                        firmware: q(12),
                    });
                }
                if step == Step::SetBaudRate {
                    // Answered at the old rate; the module listens at the new one now.
                    self.set_line_baud(self.config.baud);
                    self.fast_rate = FastRate::Unconfirmed;
                }
                // Current program: low two bits 1 = bootloader.
                let in_bootloader =
                    step == Step::GetCurrentProgram && head.first().is_some_and(|p| p & 0x03 == 1);
                match self.step_after(step, in_bootloader) {
                    Some(next) => self.send(next),
                    None => {
                        if self.fast_rate == FastRate::Unconfirmed {
                            self.fast_rate = FastRate::Wanted;
                            self.switch_failures = 0;
                        }
                        self.phase = Phase::Reading {
                            stall_at_ms: self.now_ms + u64::from(self.config.stall_timeout_ms),
                        }
                    }
                }
            }
            Phase::RetryWait { .. } => bump(&mut self.stats.unexpected_frames),
        }
    }

    fn command_opcode(&self, step: Step) -> u8 {
        use super::opcode as op;
        match step {
            Step::StopReading | Step::StartReading => op::MULTI_PROTOCOL_TAG_OP,
            Step::Version => op::VERSION,
            Step::GetCurrentProgram => op::GET_CURRENT_PROGRAM,
            Step::BootFirmware => op::BOOT_FIRMWARE,
            Step::SetBaudRate => op::SET_BAUD_RATE,
            Step::SetRegion => op::SET_REGION,
            Step::SetTagProtocol => op::SET_TAG_PROTOCOL,
            Step::SetAntennas => op::SET_ANTENNA_PORT,
            Step::SetReadPower => op::SET_READ_TX_POWER,
            Step::DisableReadFilter => op::SET_READER_OPTIONAL_PARAMS,
        }
    }
}

#[cfg(test)]
mod tests;
