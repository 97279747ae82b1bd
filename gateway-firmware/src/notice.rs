//! Notices: the few changes an engineer debugging a dock door wants in the
//! log: the reader module's state, the scale's condition, settings written
//! over Modbus, and the event ring overflowing.
//!
//! Owns *when* a change is worth a line: once per change, a failing reader
//! module's repeats folded into the first report until it reads again, a
//! flapping scale and an overflowing ring rate-limited. [`Watch::check`]
//! compares what the core shows now with what it reported last and hands
//! each [`Notice`] to the caller as a value. It must not log, format or read
//! a clock: the binary turns each notice into one defmt line, and the
//! counters in the register map stay the complete record (a notice never
//! replaces a counter).

use gateway_registers::{ScaleStatus, SettingsState};
use rfid_driver::mercury::session::{ModuleVersion, ReaderState, ReaderStats};

use crate::bank::{Config, RegisterBank};
use crate::reader::DockDoor;
use crate::ring::EVENT_CAPACITY;

/// Scale changes reported at once, in a burst; after that one more per
/// [`SCALE_REPORT_GAP_MS`], and a change that finds no report left waits
/// for one, reported as the condition the scale is in then.
pub const SCALE_REPORT_BURST: u32 = 3;
/// See [`SCALE_REPORT_BURST`].
pub const SCALE_REPORT_GAP_MS: u64 = 1_000;
/// While the event ring keeps overflowing, a line at most this often.
pub const RING_REPORT_GAP_MS: u64 = 10_000;

/// The scale as a person at the door sees it, coarser than [`ScaleStatus`]:
/// a weight going from stable to dynamic is no news, the scale going silent
/// is.
#[cfg_attr(target_os = "none", derive(defmt::Format))]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScaleCondition {
    /// Answering with weights (stable or dynamic) or busy.
    Online,
    /// No answer within a polling period.
    Offline,
    /// `S +`: over the scale's capacity.
    Overload,
    /// `S -`: under zero (platform lifted, tare wrong).
    Underload,
    /// `ES`, `ET`, `EL`: the scale refuses the `SI` command.
    Error,
}

impl ScaleCondition {
    /// The condition a status shows; `None` before the first answer.
    pub fn of(status: ScaleStatus) -> Option<Self> {
        Some(match status {
            ScaleStatus::Unknown => return None,
            ScaleStatus::Stable | ScaleStatus::Dynamic | ScaleStatus::Busy => Self::Online,
            ScaleStatus::Timeout => Self::Offline,
            ScaleStatus::Overload => Self::Overload,
            ScaleStatus::Underload => Self::Underload,
            ScaleStatus::Error => Self::Error,
        })
    }
}

/// Why booting the reader module failed.
#[cfg_attr(target_os = "none", derive(defmt::Format))]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReaderFault {
    /// A boot command got no answer in time (module absent, unpowered,
    /// wrong baud rate).
    NotAnswering,
    /// A boot command was answered with a non-zero status.
    Refused,
}

/// A holding register written to a new value (over Modbus).
#[cfg_attr(target_os = "none", derive(defmt::Format))]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Setting {
    /// `UNIT_ID`.
    UnitId(u8),
    /// `DEDUP_WINDOW_MS`.
    DedupWindowMs(u16),
    /// `SCALE_POLL_MS`.
    ScalePollMs(u16),
}

/// One change worth a log line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Notice {
    /// The reader module booted, was configured and reads continuously.
    ReaderReading {
        /// What the module answered to `VERSION`.
        version: Option<ModuleVersion>,
        /// Times the session rebooted the module since the gateway booted.
        restarts: u32,
        /// The line rate it reads at, bits/s.
        baud: u32,
    },
    /// The module refused the fast line rate, or failed at it: it is not
    /// asked for it again and is read at the rate it answers at (its
    /// default one unless it was left fast; fewer reads/s).
    ReaderFastRateGivenUp {
        /// The line rate now, bits/s.
        baud: u32,
    },
    /// Booting the module failed and is retried; further failures of the
    /// same kind are not reported until the module reads again.
    ReaderFault(ReaderFault),
    /// The module went silent while reading; it is being rebooted.
    ReaderStalled,
    /// The session (re)boots the module, each time: a detail for a closer
    /// look (the binary logs it at debug level).
    ReaderRestart {
        /// Reboots since the gateway booted.
        restarts: u32,
    },
    /// The scale's condition changed.
    Scale(ScaleCondition),
    /// A setting changed.
    Setting(Setting),
    /// Saving the settings to flash succeeded, or failed once more.
    SettingsSave {
        /// [`SettingsState::Saved`] or [`SettingsState::SaveFailed`].
        state: SettingsState,
        /// Failed saves since boot (`SETTINGS_SAVES_FAILED`).
        failed: u16,
    },
    /// Gate passes were dropped because the event ring was full.
    RingOverflow {
        /// Events waiting for the server's acknowledgement.
        waiting: u16,
        /// Passes dropped since boot (`EVENTS_OVERFLOWED`).
        dropped: u32,
    },
}

/// What was reported last; see the module docs.
#[derive(Debug)]
pub struct Watch {
    reader_state: ReaderState,
    reader_stats: ReaderStats,
    reader_fault: Option<ReaderFault>,
    scale: Option<ScaleCondition>,
    /// Scale reports left, and when the last one came back.
    scale_budget: u32,
    scale_budget_at_ms: u64,
    config: Config,
    settings_state: SettingsState,
    settings_saves_failed: u16,
    dropped: u32,
    ring_at_ms: Option<u64>,
}

impl Watch {
    /// Starts from what `door` and `bank` show now: nothing of it is news.
    pub fn new(door: &DockDoor, bank: &RegisterBank) -> Self {
        let session = door.session();
        Self {
            reader_state: session.state(),
            reader_stats: session.stats(),
            reader_fault: None,
            scale: ScaleCondition::of(bank.scale.status),
            scale_budget: SCALE_REPORT_BURST,
            scale_budget_at_ms: 0,
            config: bank.config(),
            settings_state: bank.settings_state,
            settings_saves_failed: bank.settings_saves_failed,
            dropped: bank.counters.events_overflowed,
            ring_at_ms: None,
        }
    }

    /// Hands each change since the last call to `report`: the reader
    /// module's, then the scale's, the settings', the ring's.
    pub fn check(
        &mut self,
        now_ms: u64,
        door: &DockDoor,
        bank: &RegisterBank,
        mut report: impl FnMut(Notice),
    ) {
        self.check_reader(door, &mut report);
        self.check_scale(now_ms, bank, &mut report);
        self.check_settings(bank, &mut report);
        self.check_ring(now_ms, bank, &mut report);
    }

    fn check_reader(&mut self, door: &DockDoor, report: &mut impl FnMut(Notice)) {
        let session = door.session();
        let (state, stats) = (session.state(), session.stats());
        let before = self.reader_stats;
        if stats.fast_rate_given_up && !before.fast_rate_given_up {
            report(Notice::ReaderFastRateGivenUp {
                baud: session.line_baud(),
            });
        }
        if stats.stalls > before.stalls {
            report(Notice::ReaderStalled);
            // The reboot starts a new streak: its failures are news.
            self.reader_fault = None;
        }
        let fault = if stats.timeouts > before.timeouts {
            Some(ReaderFault::NotAnswering)
        } else if stats.command_errors > before.command_errors && state == ReaderState::RetryWait {
            // Only a refusal that failed the boot: while reading, a
            // notification with a bad status is counted in
            // READER_FRAME_ERRORS, and a refused fast rate is its own notice.
            Some(ReaderFault::Refused)
        } else {
            None
        };
        if let Some(fault) = fault {
            if self.reader_fault != Some(fault) {
                report(Notice::ReaderFault(fault));
                self.reader_fault = Some(fault);
            }
        }
        if stats.restarts > before.restarts {
            report(Notice::ReaderRestart {
                restarts: stats.restarts,
            });
        }
        if state == ReaderState::Reading && self.reader_state != ReaderState::Reading {
            report(Notice::ReaderReading {
                version: session.version(),
                restarts: stats.restarts,
                baud: session.line_baud(),
            });
            self.reader_fault = None;
        }
        self.reader_state = state;
        self.reader_stats = stats;
    }

    fn check_scale(&mut self, now_ms: u64, bank: &RegisterBank, report: &mut impl FnMut(Notice)) {
        let condition = ScaleCondition::of(bank.scale.status);
        if condition.is_none() || condition == self.scale {
            return;
        }
        let earned = now_ms.saturating_sub(self.scale_budget_at_ms) / SCALE_REPORT_GAP_MS;
        if earned > 0 {
            let budget = u64::from(self.scale_budget) + earned;
            self.scale_budget = budget.min(u64::from(SCALE_REPORT_BURST)) as u32;
            self.scale_budget_at_ms += earned * SCALE_REPORT_GAP_MS;
        }
        if self.scale_budget == 0 {
            return;
        }
        if self.scale_budget == SCALE_REPORT_BURST {
            // Reports come back counted from the first one spent.
            self.scale_budget_at_ms = now_ms;
        }
        self.scale_budget -= 1;
        self.scale = condition;
        if let Some(condition) = condition {
            report(Notice::Scale(condition));
        }
    }

    fn check_settings(&mut self, bank: &RegisterBank, report: &mut impl FnMut(Notice)) {
        let (old, new) = (self.config, bank.config());
        if new.unit_id != old.unit_id {
            report(Notice::Setting(Setting::UnitId(new.unit_id)));
        }
        if new.dedup_window_ms != old.dedup_window_ms {
            report(Notice::Setting(Setting::DedupWindowMs(new.dedup_window_ms)));
        }
        if new.scale_poll_ms != old.scale_poll_ms {
            report(Notice::Setting(Setting::ScalePollMs(new.scale_poll_ms)));
        }
        self.config = new;
        let (state, failed) = (bank.settings_state, bank.settings_saves_failed);
        let saved = state == SettingsState::Saved && self.settings_state != SettingsState::Saved;
        if saved || failed != self.settings_saves_failed {
            report(Notice::SettingsSave { state, failed });
        }
        (self.settings_state, self.settings_saves_failed) = (state, failed);
    }

    fn check_ring(&mut self, now_ms: u64, bank: &RegisterBank, report: &mut impl FnMut(Notice)) {
        let dropped = bank.counters.events_overflowed;
        let quiet = self
            .ring_at_ms
            .is_none_or(|at| now_ms.saturating_sub(at) >= RING_REPORT_GAP_MS);
        if dropped != self.dropped && quiet {
            report(Notice::RingOverflow {
                waiting: bank.ring.len().min(EVENT_CAPACITY) as u16,
                dropped,
            });
            self.dropped = dropped;
            self.ring_at_ms = Some(now_ms);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reader::ToReader;
    use crate::ring::tests::event;
    use gateway_registers::holding;
    use rfid_driver::mercury::{
        emit, opcode, status, Direction as Wire, FrameDecoder, MODULE_DEFAULT_BAUD,
    };

    /// Answers each command in `commands` as a module would: with success,
    /// or with `refuse` as the status for the opcode `refuse_opcode`.
    fn answer(commands: &[u8], refuse: Option<(u8, u16)>) -> std::vec::Vec<u8> {
        let mut decoder = FrameDecoder::new(Wire::ToModule);
        decoder.push(commands);
        let mut out = std::vec::Vec::new();
        while let Some(Ok(frame)) = decoder.poll() {
            let data: &[u8] = match frame.opcode() {
                opcode::VERSION => &[
                    1, 2, 3, 4, 0x20, 0x15, 0, 0, 0x20, 0x24, 1, 1, 1, 0x0B, 1, 2,
                ],
                opcode::GET_CURRENT_PROGRAM => &[0x02],
                _ => &[],
            };
            let code = match refuse {
                Some((op, code)) if op == frame.opcode() => code,
                _ => status::SUCCESS,
            };
            let mut buf = [0u8; 64];
            let n = emit(frame.opcode(), Some(code), data, &mut buf).expect("fits");
            out.extend_from_slice(&buf[..n]);
        }
        out
    }

    /// A door, its bank and a watch, with every notice collected.
    struct Rig {
        bank: RegisterBank,
        door: DockDoor,
        watch: Watch,
        now_ms: u64,
        to_module: std::vec::Vec<u8>,
        notices: std::vec::Vec<Notice>,
    }

    impl Rig {
        fn new() -> Self {
            Self::with_baud(MODULE_DEFAULT_BAUD)
        }

        /// A rig whose door wants the reader line at `baud`.
        fn with_baud(baud: u32) -> Self {
            let bank = RegisterBank::default();
            let door = DockDoor::new(0, 0, baud, &bank);
            let watch = Watch::new(&door, &bank);
            Self {
                bank,
                door,
                watch,
                now_ms: 0,
                to_module: std::vec::Vec::new(),
                notices: std::vec::Vec::new(),
            }
        }

        /// One main-loop turn at `now_ms`: time, then `from_module`, then the watch.
        fn turn(&mut self, now_ms: u64, from_module: &[u8]) {
            self.now_ms = now_ms;
            let out = &mut self.to_module;
            let mut line = |to: ToReader<'_>| {
                if let ToReader::Send(bytes) = to {
                    out.extend_from_slice(bytes);
                }
            };
            self.door.on_time(now_ms, 0, &mut self.bank, &mut line);
            self.door
                .on_bytes(now_ms, from_module, &mut self.bank, &mut line);
            let notices = &mut self.notices;
            self.watch
                .check(now_ms, &self.door, &self.bank, |n| notices.push(n));
        }

        /// Turns every `step_ms` until `until_ms` with the module answering
        /// (or refusing) what was sent and sending its keep-alive while
        /// reading, or with no module when `module` is false.
        fn run(&mut self, until_ms: u64, step_ms: u64, module: bool, refuse: Option<(u8, u16)>) {
            while self.now_ms + step_ms <= until_ms {
                let mut replies = std::vec::Vec::new();
                if module {
                    replies = answer(&core::mem::take(&mut self.to_module), refuse);
                    if self.door.session().state() == ReaderState::Reading {
                        let mut buf = [0u8; 16];
                        let n = emit(
                            opcode::READ_TAG_ID_MULTIPLE,
                            Some(status::NO_TAGS_FOUND),
                            &[],
                            &mut buf,
                        )
                        .expect("fits");
                        replies.extend_from_slice(&buf[..n]);
                    }
                } else {
                    self.to_module.clear();
                }
                self.turn(self.now_ms + step_ms, &replies);
            }
        }

        fn take(&mut self) -> std::vec::Vec<Notice> {
            core::mem::take(&mut self.notices)
        }

        /// The notices so far that `keep` selects; the others are dropped.
        fn take_only(&mut self, keep: fn(&Notice) -> bool) -> std::vec::Vec<Notice> {
            self.take().into_iter().filter(keep).collect()
        }
    }

    const VERSION: ModuleVersion = ModuleVersion {
        bootloader: [1, 2, 3, 4],
        hardware: [0x20, 0x15, 0, 0],
        firmware_date: [0x20, 0x24, 1, 1],
        firmware: [1, 0x0B, 1, 2],
    };

    #[test]
    fn a_module_that_boots_is_reported_once_reading_with_its_version() {
        let mut rig = Rig::new();
        rig.run(200, 1, true, None);
        assert_eq!(
            rig.take(),
            [Notice::ReaderReading {
                version: Some(VERSION),
                restarts: 0,
                baud: MODULE_DEFAULT_BAUD,
            }]
        );
        // Keep-alives while reading are no news.
        rig.run(10_000, 500, true, None);
        assert_eq!(rig.take(), []);
    }

    #[test]
    fn an_absent_module_is_reported_once_however_often_the_boot_is_retried() {
        let mut rig = Rig::new();
        rig.run(30_000, 10, false, None);
        let notices = rig.take();
        assert_eq!(
            notices.first(),
            Some(&Notice::ReaderFault(ReaderFault::NotAnswering))
        );
        assert_eq!(
            notices
                .iter()
                .filter(|n| matches!(n, Notice::ReaderFault(_)))
                .count(),
            1,
            "{notices:?}"
        );
        // Each retry is a restart, reported for the debug level only.
        let restarts: std::vec::Vec<u32> = notices
            .iter()
            .filter_map(|n| match n {
                Notice::ReaderRestart { restarts } => Some(*restarts),
                _ => None,
            })
            .collect();
        assert!(restarts.len() >= 5, "{notices:?}");
        assert!(restarts.windows(2).all(|w| w[1] == w[0] + 1));

        // The module appears: reading, with the restarts so far.
        rig.run(31_000, 1, true, None);
        let last = rig.take();
        assert!(
            matches!(last.last(), Some(Notice::ReaderReading { restarts, .. }) if *restarts > 5),
            "{last:?}"
        );
    }

    #[test]
    fn a_refused_boot_command_is_reported_then_a_stall_and_recovery() {
        let mut rig = Rig::new();
        rig.run(5_000, 1, true, Some((opcode::SET_REGION, 0x0105)));
        let notices = rig.take();
        assert_eq!(
            notices.first(),
            Some(&Notice::ReaderFault(ReaderFault::Refused))
        );
        assert_eq!(
            notices
                .iter()
                .filter(|n| matches!(n, Notice::ReaderFault(_)))
                .count(),
            1,
            "{notices:?}"
        );
        // The module stops refusing: it reads.
        rig.run(6_000, 1, true, None);
        assert!(matches!(
            rig.take().last(),
            Some(Notice::ReaderReading { .. })
        ));
        // Then it goes silent while reading: a stall, a reboot, and (with no
        // module) one report that it does not answer.
        rig.run(12_000, 10, false, None);
        let notices = rig.take();
        assert_eq!(notices.first(), Some(&Notice::ReaderStalled), "{notices:?}");
        assert!(matches!(notices.get(1), Some(Notice::ReaderRestart { .. })));
        assert_eq!(
            notices
                .iter()
                .filter(|n| **n == Notice::ReaderFault(ReaderFault::NotAnswering))
                .count(),
            1,
            "{notices:?}"
        );
    }

    #[test]
    fn scale_changes_are_reported_at_once_and_a_flapping_scale_rate_limited() {
        use ScaleCondition as C;
        let mut rig = Rig::new();
        rig.run(100, 10, true, None);
        rig.take();
        // The module is gone after boot: only the scale's notices count here.
        let at = |rig: &mut Rig, now_ms: u64, status: ScaleStatus| {
            rig.bank.scale.status = status;
            rig.turn(now_ms, &[]);
            rig.take_only(|n| matches!(n, Notice::Scale(_)))
        };
        assert_eq!(at(&mut rig, 200, ScaleStatus::Unknown), []);
        assert_eq!(
            at(&mut rig, 300, ScaleStatus::Timeout),
            [Notice::Scale(C::Offline)]
        );
        assert_eq!(at(&mut rig, 400, ScaleStatus::Timeout), []);
        // Stable, dynamic and busy are all online: one change.
        assert_eq!(
            at(&mut rig, 500, ScaleStatus::Stable),
            [Notice::Scale(C::Online)]
        );
        assert_eq!(at(&mut rig, 550, ScaleStatus::Dynamic), []);
        assert_eq!(at(&mut rig, 560, ScaleStatus::Busy), []);
        // A burst of three changes is reported at once; the fourth within
        // the second waits, and what the scale shows then is reported.
        assert_eq!(
            at(&mut rig, 600, ScaleStatus::Overload),
            [Notice::Scale(C::Overload)]
        );
        assert_eq!(at(&mut rig, 700, ScaleStatus::Stable), []);
        assert_eq!(at(&mut rig, 800, ScaleStatus::Error), []);
        assert_eq!(
            at(&mut rig, 1_300, ScaleStatus::Error),
            [Notice::Scale(C::Error)]
        );
        assert_eq!(at(&mut rig, 1_400, ScaleStatus::Stable), []);
        assert_eq!(at(&mut rig, 2_200, ScaleStatus::Dynamic), []);
        assert_eq!(
            at(&mut rig, 2_300, ScaleStatus::Dynamic),
            [Notice::Scale(C::Online)]
        );
        // After a quiet while the burst is back.
        for (now_ms, status, want) in [
            (10_000, ScaleStatus::Underload, C::Underload),
            (10_010, ScaleStatus::Stable, C::Online),
            (10_020, ScaleStatus::Timeout, C::Offline),
        ] {
            assert_eq!(at(&mut rig, now_ms, status), [Notice::Scale(want)]);
        }
        assert_eq!(at(&mut rig, 10_030, ScaleStatus::Stable), []);
    }

    #[test]
    fn settings_written_are_reported_by_what_changed() {
        let mut rig = Rig::new();
        rig.run(100, 10, true, None);
        rig.take();
        rig.bank
            .write_holding(holding::DEDUP_WINDOW_MS, &[1_500, 7])
            .expect("valid");
        rig.turn(110, &[]);
        assert_eq!(
            rig.take_only(|n| matches!(n, Notice::Setting(_))),
            [
                Notice::Setting(Setting::UnitId(7)),
                Notice::Setting(Setting::DedupWindowMs(1_500))
            ]
        );
        // The same value again, and acknowledgements, are no news.
        rig.bank
            .write_holding(holding::DEDUP_WINDOW_MS, &[1_500])
            .expect("valid");
        rig.bank
            .write_holding(holding::EVENT_ACK_SEQ, &[0, 0])
            .expect("valid");
        rig.turn(120, &[]);
        assert_eq!(rig.take_only(|n| matches!(n, Notice::Setting(_))), []);
        rig.bank
            .write_holding(holding::SCALE_POLL_MS, &[1_000])
            .expect("valid");
        rig.turn(130, &[]);
        assert_eq!(
            rig.take_only(|n| matches!(n, Notice::Setting(_))),
            [Notice::Setting(Setting::ScalePollMs(1_000))]
        );
    }

    #[test]
    fn a_first_save_and_each_failed_one_are_reported() {
        let mut rig = Rig::new();
        rig.run(100, 10, true, None);
        rig.take();
        let save = |n: &Notice| matches!(n, Notice::SettingsSave { .. });
        rig.bank.settings_state = SettingsState::Saved;
        rig.turn(110, &[]);
        rig.turn(120, &[]);
        assert_eq!(
            rig.take_only(save),
            [Notice::SettingsSave {
                state: SettingsState::Saved,
                failed: 0
            }],
            "once, not every turn"
        );
        for failed in 1..=2 {
            rig.bank.settings_state = SettingsState::SaveFailed;
            rig.bank.settings_saves_failed = failed;
            rig.turn(120 + u64::from(failed) * 10, &[]);
        }
        assert_eq!(
            rig.take_only(save),
            [
                Notice::SettingsSave {
                    state: SettingsState::SaveFailed,
                    failed: 1
                },
                Notice::SettingsSave {
                    state: SettingsState::SaveFailed,
                    failed: 2
                }
            ]
        );
    }

    #[test]
    fn ring_overflow_is_reported_at_once_then_at_most_each_gap() {
        let mut rig = Rig::new();
        let ring = |n: &Notice| matches!(n, Notice::RingOverflow { .. });
        rig.run(100, 10, true, None);
        rig.take_only(ring);
        for tag in 0..EVENT_CAPACITY as u16 {
            rig.bank.push_event(event(tag));
        }
        rig.turn(200, &[]);
        assert_eq!(rig.take_only(ring), [], "full is not yet overflowing");
        rig.bank.push_event(event(0));
        rig.turn(300, &[]);
        assert_eq!(
            rig.take_only(ring),
            [Notice::RingOverflow {
                waiting: EVENT_CAPACITY as u16,
                dropped: 1
            }]
        );
        // More drops within the gap: one line with the total once it has passed.
        for now_ms in (400..10_300).step_by(100) {
            rig.bank.push_event(event(0));
            rig.turn(now_ms, &[]);
        }
        assert_eq!(rig.take_only(ring), []);
        rig.turn(10_300, &[]);
        assert_eq!(
            rig.take_only(ring),
            [Notice::RingOverflow {
                waiting: EVENT_CAPACITY as u16,
                dropped: 100
            }]
        );
        // Drops stop: nothing more.
        rig.turn(30_000, &[]);
        assert_eq!(rig.take_only(ring), []);
    }

    #[test]
    fn scale_conditions_of_every_status() {
        use ScaleCondition as C;
        let of = ScaleCondition::of;
        assert_eq!(of(ScaleStatus::Unknown), None);
        for (status, want) in [
            (ScaleStatus::Stable, C::Online),
            (ScaleStatus::Dynamic, C::Online),
            (ScaleStatus::Busy, C::Online),
            (ScaleStatus::Timeout, C::Offline),
            (ScaleStatus::Overload, C::Overload),
            (ScaleStatus::Underload, C::Underload),
            (ScaleStatus::Error, C::Error),
        ] {
            assert_eq!(of(status), Some(want), "{status:?}");
        }
    }

    #[test]
    fn a_refused_fast_rate_is_reported_once_and_reading_names_the_rate() {
        let mut rig = Rig::with_baud(921_600);
        rig.run(5_000, 1, true, Some((opcode::SET_BAUD_RATE, 0x0105)));
        let notices = rig.take();
        assert_eq!(
            notices,
            [
                Notice::ReaderFastRateGivenUp {
                    baud: MODULE_DEFAULT_BAUD
                },
                Notice::ReaderReading {
                    version: Some(VERSION),
                    restarts: 0,
                    baud: MODULE_DEFAULT_BAUD,
                }
            ]
        );
    }
}
