//! The board layer: clocks, UARTs, the millisecond tick, the watchdog and
//! the failure path. It only moves bytes and owns pins; every decision is in
//! the portable core (`gateway_firmware`).
//!
//! Both boards use an STM32F405 and the same three USARTs:
//!
//! | UART   | role                    | QEMU `netduinoplus2`  | STM32F405 board (pins, AF7)    |
//! |--------|-------------------------|-----------------------|--------------------------------|
//! | USART1 | Modbus RTU (RS-485)     | first `-serial`       | PA9 TX, PA10 RX, PA8 driver enable |
//! | USART2 | RFID reader module      | second `-serial`      | PA2 TX, PA3 RX                 |
//! | USART3 | MT-SICS scale (RS-232)  | third `-serial`       | PB10 TX, PB11 RX               |
//!
//! Received bytes are taken in the USART interrupts, stamped with the time
//! in microseconds, and queued for the main loop. QEMU models neither the
//! RCC, the GPIOs nor the independent watchdog, so the `board-qemu` build
//! leaves clocks at reset (QEMU's core clock is 168 MHz regardless) and
//! relies on the software watchdog alone; a failure there is logged (defmt,
//! through semihosting) and ends QEMU with exit status 1. On the real board a
//! failure is logged to RTT and resets the chip, and the independent
//! watchdog backs the software one up.
#![allow(unsafe_code)] // register access through the PAC, on the one core

use core::cell::{Cell, RefCell};
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use cortex_m::peripheral::syst::SystClkSource;
use cortex_m::peripheral::{NVIC, SCB, SYST};
use cortex_m_rt::exception;
use critical_section::Mutex;
use gateway_firmware::reader::ToReader;
use gateway_firmware::rs485::Rs485;
use gateway_firmware::rx::RxQueue;
use pac::{interrupt, Interrupt};
use rfid_driver::mercury::MODULE_DEFAULT_BAUD;
use stm32f4::stm32f405 as pac;

/// Core clock on both boards.
pub const SYSCLK_HZ: u32 = 168_000_000;
/// Modbus line speed (8N1).
pub const MODBUS_BAUD: u32 = 115_200;
/// Reader module line speed once the module runs (it starts at its default,
/// 115200); 921600 leaves room for 1,500 tag reads/s.
pub const READER_BAUD: u32 = 921_600;
/// Scale line speed (MT-SICS default is 9600 8N1).
pub const SCALE_BAUD: u32 = 9_600;
/// Bytes the reader's receive queue holds: at 921600 baud ~33 ms of the
/// line, so the main loop may be held up that long without a loss: the
/// longest Modbus reply (255 bytes, 22 ms at 115200) and a scale command
/// (4.2 ms at 9600) are written while it waits.
pub const READER_RX_LEN: usize = 3072;
/// The main loop must come round within this, or the board fails.
pub const WATCHDOG_MS: u32 = 2_000;
/// Which board this build is for, as logged at boot.
pub const BOARD_NAME: &str = if cfg!(feature = "board-f405") {
    "stm32f405"
} else {
    "qemu-netduinoplus2"
};

const CYCLES_PER_MS: u32 = SYSCLK_HZ / 1_000;
const CYCLES_PER_US: u32 = SYSCLK_HZ / 1_000_000;

/// Bytes on their way from a USART interrupt to the main loop.
type Rx<const N: usize> = Mutex<RefCell<RxQueue<N>>>;

static MILLIS: Mutex<RefCell<u64>> = Mutex::new(RefCell::new(0));
static SINCE_KICK_MS: AtomicU32 = AtomicU32::new(0);
static MODBUS_RX: Rx<512> = Mutex::new(RefCell::new(RxQueue::new()));
static READER_RX: Rx<READER_RX_LEN> = Mutex::new(RefCell::new(RxQueue::new()));
static SCALE_RX: Rx<128> = Mutex::new(RefCell::new(RxQueue::new()));

/// Set by the first failure, so that a failure while reporting one (a
/// panic inside the logger, a fault in a handler) ends the run at once
/// instead of recursing.
static FAILING: AtomicBool = AtomicBool::new(false);

/// Ends the run with a reason: logs it at error level as `FAILED: …` (the
/// arguments are those of `defmt::error!`), then on QEMU exits with status 1
/// and on the real board resets the chip. Only the first failure is logged.
macro_rules! fail {
    ($($arg:tt)*) => {{
        if $crate::board::first_failure() {
            defmt::error!($($arg)*);
            $crate::board::flush_log();
        }
        $crate::board::end_run()
    }};
}
pub(crate) use fail;

/// Whether this is the first failure of the run (see [`FAILING`]).
pub fn first_failure() -> bool {
    !FAILING.swap(true, Ordering::Relaxed)
}

/// Lets the failure's log line out before the run ends. On the real board
/// it waits until an attached probe has read the RTT buffer (at once when
/// none is attached; if a probe attached and then went away, the
/// independent watchdog ends the wait). Semihosting hands each byte to QEMU
/// as it is written, so there is nothing to wait for there.
pub fn flush_log() {
    #[cfg(feature = "board-f405")]
    defmt::flush();
}

/// The end of [`fail!`]: on QEMU exits with status 1; on the real board
/// resets the chip.
pub fn end_run() -> ! {
    #[cfg(not(feature = "board-f405"))]
    cortex_m_semihosting::debug::exit(cortex_m_semihosting::debug::EXIT_FAILURE);
    SCB::sys_reset()
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    cortex_m::interrupt::disable();
    let (file, line) = info.location().map_or(("?", 0), |l| (l.file(), l.line()));
    fail!(
        "FAILED: panic at {=str}:{=u32}: {}",
        file,
        line,
        defmt::Display2Format(&info.message())
    )
}

#[exception]
unsafe fn HardFault(frame: &cortex_m_rt::ExceptionFrame) -> ! {
    fail!("FAILED: HardFault at pc={=u32:#010x}", frame.pc())
}

#[exception]
fn SysTick() {
    critical_section::with(|cs| *MILLIS.borrow_ref_mut(cs) += 1);
    let since = SINCE_KICK_MS.fetch_add(1, Ordering::Relaxed);
    if since >= WATCHDOG_MS {
        fail!("FAILED: watchdog: main loop stalled for {=u32} ms", since);
    }
}

/// On QEMU only: the semihosting command line (`-semihosting-config
/// …,arg=gateway,arg=fault=panic`: "gateway fault=panic") read into `buf`;
/// empty when there is none or it does not fit.
#[cfg(not(feature = "board-f405"))]
pub fn command_line(buf: &mut [u8]) -> &str {
    let block = [buf.as_mut_ptr() as usize, buf.len()];
    // SAFETY: SYS_GET_CMDLINE writes at most `buf.len()` bytes into
    // `buf`, NUL-terminated.
    let status =
        unsafe { cortex_m_semihosting::syscall(cortex_m_semihosting::nr::GET_CMDLINE, &block) };
    if status != 0 {
        return "";
    }
    let len = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    core::str::from_utf8(&buf[..len]).unwrap_or("")
}

/// On QEMU only: fails on purpose when the semihosting command line asks for
/// it (`-semihosting-config …,arg=gateway,arg=fault=panic|hardfault|stall`),
/// so the tests can see that a panic, a HardFault and a stalled main loop
/// each end the run with a report instead of a hang. Without that argument,
/// and on the real board, it does nothing.
pub fn fail_if_asked() {
    #[cfg(not(feature = "board-f405"))]
    {
        let mut buf = [0u8; 96];
        for word in command_line(&mut buf).split(' ') {
            match word {
                "fault=panic" => panic!("fault injected from the command line"),
                "fault=hardfault" => {
                    // An address no bus answers: a BusFault, escalated to HardFault.
                    // SAFETY: the point is to fault; nothing is read.
                    let _ = unsafe { core::ptr::read_volatile(0xF000_0000 as *const u32) };
                }
                "fault=stall" => loop {
                    core::hint::spin_loop();
                },
                _ => {}
            }
        }
    }
}

/// The latest time [`now_us`] returned. QEMU reloads the SysTick counter a
/// little before its interrupt shows as pending, so for a few instructions
/// the time read would step back by a millisecond; it never goes back.
static LAST_US: Mutex<Cell<u64>> = Mutex::new(Cell::new(0));

/// Microseconds since boot, never less than the time it returned before.
/// Safe to call from interrupts: a SysTick wrap whose interrupt is still
/// pending is accounted for.
pub fn now_us() -> u64 {
    critical_section::with(|cs| {
        let (ms, cycles) = now_ms_cycles();
        let read = ms * 1_000 + u64::from(cycles / CYCLES_PER_US);
        let last = LAST_US.borrow(cs);
        let now = read.max(last.get());
        last.set(now);
        now
    })
}

/// Core clock cycles since boot, as the SysTick counts them (the reads
/// benchmark's clock; under QEMU's `-icount shift=0` 168 of them pass in
/// 1,000 executed instructions).
#[allow(dead_code)] // used by bench-reads only
pub fn now_cycles() -> u64 {
    let (ms, cycles) = now_ms_cycles();
    ms * u64::from(CYCLES_PER_MS) + u64::from(cycles)
}

/// Whole milliseconds since boot and the core cycles into the current one.
fn now_ms_cycles() -> (u64, u32) {
    critical_section::with(|cs| {
        // The tick interrupt cannot run in here, so a wrap shows only as a
        // pending SysTick; if it happens between the two looks, read again.
        let mut ms = *MILLIS.borrow_ref(cs);
        let pending_before = SCB::is_pendst_pending();
        let mut current = SYST::get_current();
        if pending_before {
            ms += 1;
        } else if SCB::is_pendst_pending() {
            current = SYST::get_current();
            ms += 1;
        }
        (ms, CYCLES_PER_MS - 1 - current)
    })
}

/// Tells the software and hardware watchdogs the main loop came round.
pub fn kick_watchdog() {
    SINCE_KICK_MS.store(0, Ordering::Relaxed);
    #[cfg(feature = "board-f405")]
    // SAFETY: a write-only key register; 0xAAAA reloads the counter.
    unsafe {
        (*pac::IWDG::ptr()).kr.write(|w| w.bits(0xAAAA));
    }
}

fn usart(n: usize) -> &'static pac::usart1::RegisterBlock {
    // SAFETY: fixed peripheral addresses; each USART's RX side is touched
    // only by its interrupt and its TX side only by the main loop.
    unsafe {
        match n {
            0 => &*pac::USART1::ptr(),
            1 => &*pac::USART2::ptr(),
            _ => &*pac::USART3::ptr(),
        }
    }
}

/// Sets USART `n` to `baud`. USART1 is on APB2 (84 MHz on the real board),
/// USART2 and USART3 on APB1 (42 MHz); oversampling by 16, so BRR = pclk /
/// baud, rounded.
fn set_baud(n: usize, baud: u32) {
    let pclk_hz = if n == 0 { SYSCLK_HZ / 2 } else { SYSCLK_HZ / 4 };
    // SAFETY: any BRR value is a valid (if possibly wrong) rate.
    usart(n)
        .brr
        .write(|w| unsafe { w.bits((pclk_hz + baud / 2) / baud) });
}

fn receive<const N: usize>(n: usize, queue: &Rx<N>) {
    let regs = usart(n);
    // Reading SR then DR clears RXNE and any overrun flag.
    loop {
        let sr = regs.sr.read();
        if sr.rxne().bit_is_clear() && sr.ore().bit_is_clear() {
            break;
        }
        let byte = regs.dr.read().dr().bits() as u8;
        let overran = sr.ore().bit_is_set();
        let at = now_us();
        critical_section::with(|cs| {
            let mut queue = queue.borrow_ref_mut(cs);
            if overran {
                // A byte came while DR was still full (the interrupt was
                // held off, e.g. by a flash erase stalling the CPU): lost.
                queue.count_lost();
            }
            queue.push(byte, at);
        });
    }
}

#[interrupt]
fn USART1() {
    receive(0, &MODBUS_RX);
}

#[interrupt]
fn USART2() {
    receive(1, &READER_RX);
}

#[interrupt]
fn USART3() {
    receive(2, &SCALE_RX);
}

fn pop<const N: usize>(queue: &Rx<N>) -> Option<(u8, u64)> {
    critical_section::with(|cs| {
        let mut queue = queue.borrow_ref_mut(cs);
        // The main loop looks at every queue on every pass: an empty one
        // must not cost a clock read.
        if queue.is_empty() {
            return None;
        }
        queue.pop(now_us())
    })
}

/// [`pop`] with the time read once by the caller for a whole batch.
fn pop_at<const N: usize>(queue: &Rx<N>, now_us: u64) -> Option<(u8, u64)> {
    critical_section::with(|cs| queue.borrow_ref_mut(cs).pop(now_us))
}

fn write(n: usize, bytes: &[u8]) {
    let regs = usart(n);
    for &b in bytes {
        while regs.sr.read().txe().bit_is_clear() {}
        regs.dr.write(|w| w.dr().bits(u16::from(b)));
    }
    while regs.sr.read().tc().bit_is_clear() {}
}

/// The board's UARTs once set up.
pub struct Board {
    flash: Option<pac::FLASH>,
    modbus_line: Rs485<ModbusDe>,
}

/// The Modbus line's driver-enable pin: PA8 on the real board; QEMU's
/// USART has no transceiver.
#[cfg(feature = "board-f405")]
type ModbusDe = f405::DriverEnable;
#[cfg(not(feature = "board-f405"))]
type ModbusDe = gateway_firmware::rs485::NoTransceiver;

impl Board {
    /// Sets up clocks, pins, the three USARTs, the tick and the watchdog.
    pub fn init() -> Self {
        let dp =
            pac::Peripherals::take().unwrap_or_else(|| fail!("FAILED: peripherals taken twice"));
        let mut cp = cortex_m::Peripherals::take()
            .unwrap_or_else(|| fail!("FAILED: core peripherals taken twice"));
        #[cfg(feature = "board-f405")]
        f405::clocks_pins_watchdog(&dp);
        dp.RCC.apb2enr.modify(|_, w| w.usart1en().set_bit());
        dp.RCC
            .apb1enr
            .modify(|_, w| w.usart2en().set_bit().usart3en().set_bit());
        let lines = [
            (0, MODBUS_BAUD, Interrupt::USART1),
            (1, MODULE_DEFAULT_BAUD, Interrupt::USART2),
            (2, SCALE_BAUD, Interrupt::USART3),
        ];
        for (n, baud, irq) in lines {
            let regs = usart(n);
            set_baud(n, baud);
            regs.cr1.write(|w| {
                w.ue()
                    .set_bit()
                    .te()
                    .set_bit()
                    .re()
                    .set_bit()
                    .rxneie()
                    .set_bit()
            });
            // SAFETY: the handlers above only touch their own queue.
            unsafe { NVIC::unmask(irq) };
        }
        cp.SYST.set_clock_source(SystClkSource::Core);
        cp.SYST.set_reload(CYCLES_PER_MS - 1);
        cp.SYST.clear_current();
        cp.SYST.enable_interrupt();
        cp.SYST.enable_counter();
        #[cfg(feature = "board-f405")]
        let driver_enable = f405::DriverEnable;
        #[cfg(not(feature = "board-f405"))]
        let driver_enable = gateway_firmware::rs485::NoTransceiver;
        Board {
            flash: Some(dp.FLASH),
            modbus_line: Rs485::new(driver_enable),
        }
    }

    /// The flash controller, for the settings store (`flash.rs`); `None`
    /// once taken.
    pub fn take_flash(&mut self) -> Option<pac::FLASH> {
        self.flash.take()
    }

    /// The next Modbus byte and its arrival time.
    pub fn modbus_rx(&mut self) -> Option<(u8, u64)> {
        pop(&MODBUS_RX)
    }

    /// The next reader byte and its arrival time, given a time `now_us`
    /// read once for the batch (a clock read a byte costs ~100
    /// instructions, at up to 70,000 bytes/s). A byte that came after that
    /// read counts as arrived at it: the door works in milliseconds. (`&self`,
    /// unlike the other lines: the main loop pops it while the door may send.)
    pub fn reader_rx(&self, now_us: u64) -> Option<(u8, u64)> {
        pop_at(&READER_RX, now_us)
    }

    /// Reader bytes waiting.
    pub fn reader_waiting(&self) -> usize {
        critical_section::with(|cs| READER_RX.borrow_ref(cs).len())
    }

    /// The next scale byte and its arrival time.
    pub fn scale_rx(&mut self) -> Option<(u8, u64)> {
        pop(&SCALE_RX)
    }

    /// Sends a Modbus reply, driving the RS-485 transmitter while it goes out.
    pub fn modbus_tx(&mut self, bytes: &[u8]) {
        self.modbus_line.send(bytes, |bytes| write(0, bytes));
    }

    /// Does what the dock door asks of the reader's line. A rate change
    /// comes after the last send, which returns only once its bytes are out.
    pub fn reader_line(&self, out: ToReader<'_>) {
        match out {
            ToReader::Send(bytes) => write(1, bytes),
            ToReader::SetBaud(baud) => set_baud(1, baud),
        }
    }

    /// Sends bytes to the scale.
    pub fn scale_tx(&mut self, bytes: &[u8]) {
        write(2, bytes);
    }

    /// Bytes lost to full receive queues or USART overruns on (Modbus,
    /// reader, scale).
    pub fn rx_dropped(&self) -> [u32; 3] {
        critical_section::with(|cs| {
            [
                MODBUS_RX.borrow_ref(cs).dropped(),
                READER_RX.borrow_ref(cs).dropped(),
                SCALE_RX.borrow_ref(cs).dropped(),
            ]
        })
    }

    /// Sleeps until the main loop has work: a Modbus or scale byte, at
    /// least `reader_batch` reader bytes (fewer wait for the next
    /// millisecond, see `DockDoor::turn`), or a tick since `tick` (from
    /// [`ticks`]). A reader byte alone wakes the core for its interrupt
    /// only. The check runs with interrupts masked and WFI still wakes on
    /// one pending then, so no wake-up is missed between the look and the
    /// sleep.
    pub fn sleep_until_work(&self, reader_batch: usize, tick: u64) {
        loop {
            let work = critical_section::with(|cs| {
                let work = work_waits(cs, reader_batch, tick);
                if !work {
                    cortex_m::asm::wfi();
                }
                work
            });
            if work {
                return;
            }
        }
    }
}

/// Whether the main loop has work (see [`Board::sleep_until_work`]).
fn work_waits(cs: critical_section::CriticalSection<'_>, reader_batch: usize, tick: u64) -> bool {
    *MILLIS.borrow_ref(cs) != tick
        || !MODBUS_RX.borrow_ref(cs).is_empty()
        || READER_RX.borrow_ref(cs).len() >= reader_batch
        || !SCALE_RX.borrow_ref(cs).is_empty()
}

/// Milliseconds ticked since boot (the SysTick handler's count).
pub fn ticks() -> u64 {
    critical_section::with(|cs| *MILLIS.borrow_ref(cs))
}

/// The real board: 12 MHz crystal, PLL to 168 MHz, pins, RS-485 enable,
/// independent watchdog.
#[cfg(feature = "board-f405")]
mod f405 {
    use super::pac;

    pub fn clocks_pins_watchdog(dp: &pac::Peripherals) {
        let rcc = &dp.RCC;
        rcc.cr.modify(|_, w| w.hseon().set_bit());
        while rcc.cr.read().hserdy().bit_is_clear() {}
        // 168 MHz needs 5 wait states at 3.3 V.
        dp.FLASH.acr.write(|w| {
            w.latency()
                .bits(5)
                .prften()
                .set_bit()
                .icen()
                .set_bit()
                .dcen()
                .set_bit()
        });
        // 12 MHz / M 6 × N 168 / P 2 = 168 MHz; / Q 7 = 48 MHz.
        rcc.pllcfgr.write(|w| unsafe {
            w.pllsrc()
                .set_bit()
                .pllm()
                .bits(6)
                .plln()
                .bits(168)
                .pllp()
                .bits(0)
                .pllq()
                .bits(7)
        });
        // AHB / 1, APB1 / 4 (42 MHz), APB2 / 2 (84 MHz).
        rcc.cfgr
            .modify(|_, w| unsafe { w.hpre().bits(0).ppre1().bits(0b101).ppre2().bits(0b100) });
        rcc.cr.modify(|_, w| w.pllon().set_bit());
        while rcc.cr.read().pllrdy().bit_is_clear() {}
        rcc.cfgr.modify(|_, w| unsafe { w.sw().bits(0b10) });
        while rcc.cfgr.read().sws().bits() != 0b10 {}

        rcc.ahb1enr
            .modify(|_, w| w.gpioaen().set_bit().gpioben().set_bit());
        // PA9/PA10 USART1, PA2/PA3 USART2, PB10/PB11 USART3: alternate function 7.
        dp.GPIOA
            .afrh
            .modify(|_, w| w.afrh9().bits(7).afrh10().bits(7));
        dp.GPIOA
            .afrl
            .modify(|_, w| w.afrl2().bits(7).afrl3().bits(7));
        dp.GPIOB
            .afrh
            .modify(|_, w| w.afrh10().bits(7).afrh11().bits(7));
        // PA8 drives the RS-485 transceiver's DE and /RE, low = receive.
        dp.GPIOA.moder.modify(|_, w| {
            w.moder2()
                .bits(0b10)
                .moder3()
                .bits(0b10)
                .moder8()
                .bits(0b01)
                .moder9()
                .bits(0b10)
                .moder10()
                .bits(0b10)
        });
        dp.GPIOB
            .moder
            .modify(|_, w| w.moder10().bits(0b10).moder11().bits(0b10));

        // Independent watchdog: LSI ~32 kHz / 128 = 250 Hz, 1500 counts =
        // 6 s nominal, at least 4.08 s at the fastest LSI (47 kHz): above a
        // flash sector erase (2 s at most). The software watchdog (2 s)
        // catches a stalled loop first.
        let iwdg = &dp.IWDG;
        iwdg.kr.write(|w| unsafe { w.bits(0xCCCC) });
        iwdg.kr.write(|w| unsafe { w.bits(0x5555) });
        iwdg.pr.write(|w| unsafe { w.bits(0b101) });
        iwdg.rlr.write(|w| unsafe { w.bits(1_500) });
    }

    /// PA8, which drives the RS-485 transceiver's DE and /RE.
    #[derive(Debug)]
    pub struct DriverEnable;

    impl embedded_hal::digital::ErrorType for DriverEnable {
        type Error = core::convert::Infallible;
    }

    impl embedded_hal::digital::OutputPin for DriverEnable {
        fn set_low(&mut self) -> Result<(), Self::Error> {
            // SAFETY: BSRR is write-only and atomic per pin.
            unsafe { &*pac::GPIOA::ptr() }
                .bsrr
                .write(|w| w.br8().set_bit());
            Ok(())
        }

        fn set_high(&mut self) -> Result<(), Self::Error> {
            // SAFETY: as above.
            unsafe { &*pac::GPIOA::ptr() }
                .bsrr
                .write(|w| w.bs8().set_bit());
            Ok(())
        }
    }
}
