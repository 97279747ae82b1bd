//! Harness for the hardware-in-the-loop tests: builds the gateway firmware,
//! boots it in `qemu-system-arm` (machine `netduinoplus2`) with its three
//! UARTs on host pseudo-terminals, and talks to them.
//!
//! Owns the QEMU process, pty handles, the console decoder (QEMU's own
//! lines, then the firmware's defmt log, decoded with the `.defmt` table of
//! its ELF), a small Modbus RTU master, the emulated MT-SICS scale, and
//! settings records for the flash. It must not reach into the firmware:
//! everything is observed through the UARTs and the semihosting console. A
//! missing peer (QEMU, the thumb target, Python's pymodbus) fails loudly with
//! the install hint; nothing is skipped. Nothing sleeps to wait for a
//! condition: waits poll with a deadline.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use defmt_decoder::{DecodeError, Frame, StreamDecoder, Table};

pub mod modbus;
pub mod reader;
pub mod scale;
pub mod settings;

/// How long a QEMU boot may take, including the firmware build wait.
pub const BOOT_TIMEOUT: Duration = Duration::from_secs(30);
/// The hint printed when a peer is missing.
pub const INSTALL_HINT: &str = "run scripts/install-deps.sh (as root) to install qemu-system-arm, \
     the thumbv7em-none-eabihf target and the Python peers";

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}

/// Builds the QEMU firmware once per test process and returns its ELF.
/// Panics with the build output when the build fails.
pub fn firmware_elf() -> &'static Path {
    static ELF: OnceLock<PathBuf> = OnceLock::new();
    ELF.get_or_init(|| firmware_binaries().join("gateway"))
}

/// The QEMU build of the reads benchmark (`gateway-firmware/src/bin/bench-reads.rs`).
pub fn bench_reads_elf() -> PathBuf {
    firmware_binaries().join("bench-reads")
}

/// Builds the firmware's binaries for QEMU once per process; returns their directory.
fn firmware_binaries() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = repo_root().join("gateway-firmware");
        // Run in the firmware's directory so its .cargo/config.toml (thumb
        // target) applies, with its own target directory. The log level is
        // the default one whatever the shell says: the golden log depends on it.
        let output = Command::new(env!("CARGO"))
            .args(["build", "--release", "--bins"])
            .current_dir(&dir)
            .env_remove("CARGO_TARGET_DIR")
            .env_remove("CARGO_BUILD_TARGET")
            .env_remove("RUSTFLAGS")
            .env("DEFMT_LOG", "info")
            .output()
            .expect("cargo runs");
        assert!(
            output.status.success(),
            "firmware build failed ({INSTALL_HINT}):\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        dir.join("target/thumbv7em-none-eabihf/release")
    })
}

/// The defmt table (format strings and levels) of [`firmware_elf`], read
/// once per process.
pub fn defmt_table() -> &'static Table {
    static TABLE: OnceLock<Table> = OnceLock::new();
    TABLE.get_or_init(|| {
        let elf = firmware_elf();
        let bytes = std::fs::read(elf).unwrap_or_else(|e| panic!("read {}: {e}", elf.display()));
        Table::parse(&bytes)
            .unwrap_or_else(|e| panic!("defmt table of {}: {e}", elf.display()))
            .unwrap_or_else(|| panic!("{} has no .defmt section", elf.display()))
    })
}

/// One line of the firmware's log, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// Seconds since the firmware booted, by its own clock (`1.234`).
    pub timestamp: Option<String>,
    /// `ERROR`, `WARN`, `INFO`, `DEBUG` or `TRACE`; empty for a frame
    /// without a level, `?` for one that did not decode.
    pub level: String,
    /// The message, arguments filled in.
    pub message: String,
}

impl LogLine {
    fn of(frame: &Frame<'_>) -> Self {
        Self {
            timestamp: frame.display_timestamp().map(|t| t.to_string()),
            level: frame
                .level()
                .map_or_else(String::new, |l| l.as_str().to_uppercase()),
            message: frame.display_message().to_string(),
        }
    }

    fn malformed() -> Self {
        Self {
            timestamp: None,
            level: "?".into(),
            message: "malformed defmt frame".into(),
        }
    }
}

/// Level and message, without the timestamp: the form golden logs keep.
impl fmt::Display for LogLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:<5} {}", self.level, self.message)
    }
}

/// QEMU's stdout, taken apart. QEMU writes its own lines first, one per
/// `-serial pty` ("char device redirected to /dev/pts/N (label serialN)"),
/// before the guest runs; everything after them is the firmware's defmt
/// frames through semihosting. QEMU's warnings go to stderr.
pub struct Console {
    decoder: Box<dyn StreamDecoder + Send + Sync>,
    recovers: bool,
    /// Bytes not yet known to be QEMU text or log.
    head: Vec<u8>,
    in_log: bool,
    /// QEMU's own lines, without their line ends.
    pub qemu_lines: Vec<String>,
    /// The firmware's log so far.
    pub log: Vec<LogLine>,
}

impl Console {
    /// The start of each line QEMU prints before the guest runs.
    const QEMU_LINE: &'static [u8] = b"char device redirected to ";

    /// An empty console for firmware whose defmt table is `table`.
    pub fn new(table: &'static Table) -> Self {
        Self {
            decoder: table.new_stream_decoder(),
            recovers: table.encoding().can_recover(),
            head: Vec::new(),
            in_log: false,
            qemu_lines: Vec::new(),
            log: Vec::new(),
        }
    }

    /// Takes the next bytes of QEMU's stdout, in any chunking.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.in_log {
            self.decoder.received(bytes);
        } else {
            self.head.extend_from_slice(bytes);
            self.split_qemu_lines();
        }
        self.decode();
    }

    fn split_qemu_lines(&mut self) {
        while !self.in_log {
            let n = self.head.len().min(Self::QEMU_LINE.len());
            if self.head[..n] != Self::QEMU_LINE[..n] {
                // Not QEMU's text: the log starts here.
                self.in_log = true;
                self.decoder.received(&std::mem::take(&mut self.head));
            } else if let (true, Some(end)) = (
                n == Self::QEMU_LINE.len(),
                self.head.iter().position(|&b| b == b'\n'),
            ) {
                let line: Vec<u8> = self.head.drain(..=end).collect();
                self.qemu_lines
                    .push(String::from_utf8_lossy(&line[..end]).into_owned());
            } else {
                return; // A QEMU line, or the start of one, not yet whole.
            }
        }
    }

    fn decode(&mut self) {
        loop {
            match self.decoder.decode() {
                Ok(frame) => {
                    let line = LogLine::of(&frame);
                    self.log.push(line);
                }
                Err(DecodeError::UnexpectedEof) => return,
                Err(DecodeError::Malformed) => {
                    self.log.push(LogLine::malformed());
                    if !self.recovers {
                        // A raw stream cannot find the next frame: stop here.
                        self.decoder = Box::new(Ignore);
                        return;
                    }
                }
            }
        }
    }
}

/// QEMU's lines, then each log line (level and message).
impl fmt::Display for Console {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for line in &self.qemu_lines {
            writeln!(f, "{line}")?;
        }
        for line in &self.log {
            writeln!(f, "{line}")?;
        }
        Ok(())
    }
}

/// The decoder of a stream that can no longer be decoded.
struct Ignore;

impl StreamDecoder for Ignore {
    fn received(&mut self, _: &[u8]) {}

    fn decode(&mut self) -> Result<Frame<'_>, DecodeError> {
        Err(DecodeError::UnexpectedEof)
    }
}

/// Decodes a whole captured stdout of QEMU running [`firmware_elf`].
pub fn decode_console(stdout: &[u8]) -> Console {
    let mut console = Console::new(defmt_table());
    console.push(stdout);
    console
}

/// Flash and static RAM of the firmware, from the linker map.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Footprint {
    /// Bytes in flash: vector table, code, read-only data, `.data` image.
    pub flash_bytes: u64,
    /// Bytes of RAM reserved statically (`.data`, `.bss`, `.uninit`); the
    /// stack grows down from the end of RAM into the rest.
    pub static_ram_bytes: u64,
}

/// Reads [`Footprint`] from the map the firmware's build script asks the
/// linker for (`gateway.map` beside the ELF).
pub fn footprint(map: &str) -> Footprint {
    let mut fp = Footprint {
        flash_bytes: 0,
        static_ram_bytes: 0,
    };
    for line in map.lines() {
        // Output sections: "VMA LMA Size Align .name" with nothing after.
        let cols: Vec<&str> = line.split_whitespace().collect();
        let [_, _, size, _, name] = cols[..] else {
            continue;
        };
        let Ok(size) = u64::from_str_radix(size, 16) else {
            continue;
        };
        match name {
            ".vector_table" | ".text" | ".rodata" => fp.flash_bytes += size,
            ".data" => {
                fp.flash_bytes += size;
                fp.static_ram_bytes += size;
            }
            ".bss" | ".uninit" => fp.static_ram_bytes += size,
            _ => {}
        }
    }
    fp
}

/// The QEMU command line for `elf` with the UARTs on ptys and semihosting
/// on stdout; shared with `cargo xtask qemu`.
pub fn qemu_command(elf: &Path) -> Command {
    let mut cmd = Command::new("qemu-system-arm");
    cmd.args([
        "-machine",
        "netduinoplus2",
        "-nographic",
        "-monitor",
        "none",
    ])
    .args(["-semihosting-config", "enable=on,target=native"])
    .args(["-serial", "pty", "-serial", "pty", "-serial", "pty"])
    .arg("-kernel")
    .arg(elf);
    cmd
}

/// Boots the firmware with its UARTs unconnected and semihosting arguments
/// `args` (e.g. `fault=panic`), and waits for QEMU to exit by itself;
/// returns its exit status and decoded console. Panics if it has not exited
/// within `timeout`: the firmware must never hang.
pub fn run_until_exit(args: &[&str], timeout: Duration) -> (std::process::ExitStatus, Console) {
    let (status, stdout) = run_to_exit(firmware_elf(), "gateway", args, "null", &[], timeout);
    (status, decode_console(&stdout))
}

/// Runs the reads benchmark with QEMU counting instructions (`-icount
/// shift=0`: its clock advances 1 ns an executed instruction) at `rate`
/// reads/s with `cpi` cycles an instruction (e.g. "1.5"), with a Modbus
/// master polling back to back meanwhile or not (`modbus`), and returns its
/// exit status and console (one `bench-reads:` line of text).
pub fn run_reads_bench(cpi: &str, rate: u32, modbus: bool) -> (std::process::ExitStatus, String) {
    let cpi = format!("cpi={cpi}");
    let rate = format!("rate={rate}");
    let modbus = format!("modbus={}", u8::from(modbus));
    let (status, stdout) = run_to_exit(
        &bench_reads_elf(),
        "bench-reads",
        &[&cpi, &rate, &modbus],
        "null",
        &["-icount", "shift=0"],
        Duration::from_secs(120),
    );
    (status, String::from_utf8_lossy(&stdout).into_owned())
}

/// A numeric `name=value` field of a `bench-reads:` line.
pub fn bench_field(line: &str, name: &str) -> Option<u64> {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(name)?.strip_prefix('='))
        .and_then(|v| v.parse().ok())
}

/// Runs `elf` (one of the firmware's QEMU binaries) with `name` as the
/// first word of its semihosting command line and `args` after it, each
/// UART on `serial` (`null`, `pty`) and more QEMU arguments `qemu_args`,
/// until it exits by itself; returns QEMU's stdout as it came.
fn run_to_exit(
    elf: &Path,
    name: &str,
    args: &[&str],
    serial: &str,
    qemu_args: &[&str],
    timeout: Duration,
) -> (std::process::ExitStatus, Vec<u8>) {
    let mut semihosting = format!("enable=on,target=native,arg={name}");
    for arg in args {
        semihosting.push_str(",arg=");
        semihosting.push_str(arg);
    }
    let mut child = Command::new("qemu-system-arm")
        .args([
            "-machine",
            "netduinoplus2",
            "-nographic",
            "-monitor",
            "none",
        ])
        .args(["-semihosting-config", &semihosting])
        .args(["-serial", serial, "-serial", serial, "-serial", serial])
        .args(qemu_args)
        .arg("-kernel")
        .arg(elf)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start qemu-system-arm ({e}): {INSTALL_HINT}"));
    let status = poll_until(timeout, "QEMU to exit by itself", || {
        child.try_wait().ok().flatten()
    });
    let mut stdout = Vec::new();
    if let Some(mut pipe) = child.stdout.take() {
        let _ = pipe.read_to_end(&mut stdout);
    }
    (status, stdout)
}

/// A booted gateway in QEMU. Killed on drop.
pub struct Gateway {
    child: Child,
    console: Arc<Mutex<Console>>,
    /// Reads QEMU's stdout into `console` until QEMU closes it.
    console_reader: Option<JoinHandle<()>>,
    /// Pty of USART1 (Modbus RTU).
    pub modbus_pty: String,
    /// Pty of USART2 (reader module).
    pub reader_pty: String,
    /// Pty of USART3 (scale).
    pub scale_pty: String,
    // QEMU reads a pty only while some process holds it open; these keep
    // each line "connected" for the whole test.
    _keepers: Vec<File>,
}

/// The line QEMU prints for each `-serial pty`.
fn pty_of(line: &str) -> Option<(usize, String)> {
    let rest = line.strip_prefix("char device redirected to ")?;
    let (path, label) = rest.split_once(" (label serial")?;
    let index = label.trim_end_matches(')').parse().ok()?;
    Some((index, path.to_string()))
}

impl Gateway {
    /// Builds the firmware if needed and boots it; returns once the boot
    /// line is in the log.
    pub fn boot() -> Self {
        Self::boot_with(&[])
    }

    /// [`Self::boot`] with more QEMU arguments, e.g. a loader device that
    /// puts a settings record in flash ([`settings::loader_args`]).
    pub fn boot_with(extra_args: &[String]) -> Self {
        let elf = firmware_elf();
        let child = qemu_command(elf)
            .args(extra_args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start qemu-system-arm ({e}): {INSTALL_HINT}"));
        Self::attach(child)
    }

    /// Waits for the ptys and the boot line of an already spawned QEMU
    /// (running [`firmware_elf`]) whose stdout is piped.
    pub fn attach(mut child: Child) -> Self {
        let mut stdout = child.stdout.take().expect("stdout is piped");
        let console = Arc::new(Mutex::new(Console::new(defmt_table())));
        let sink = Arc::clone(&console);
        let console_reader = thread::spawn(move || {
            let mut chunk = [0u8; 4096];
            while let Ok(n @ 1..) = stdout.read(&mut chunk) {
                sink.lock().expect("console lock").push(&chunk[..n]);
            }
        });
        let mut gateway = Self {
            child,
            console,
            console_reader: Some(console_reader),
            modbus_pty: String::new(),
            reader_pty: String::new(),
            scale_pty: String::new(),
            _keepers: Vec::new(),
        };
        let deadline = Instant::now() + BOOT_TIMEOUT;
        let ptys = gateway.wait(deadline, |console| {
            let ptys: Vec<_> = console
                .qemu_lines
                .iter()
                .filter_map(|l| pty_of(l))
                .collect();
            (ptys.len() == 3).then_some(ptys)
        });
        for (index, path) in ptys {
            gateway._keepers.push(Port::open(&path).file);
            match index {
                0 => gateway.modbus_pty = path,
                1 => gateway.reader_pty = path,
                _ => gateway.scale_pty = path,
            }
        }
        gateway.wait_log(deadline, |log| {
            log.iter()
                .any(|l| l.level == "INFO" && l.message.starts_with("boot v"))
                .then_some(())
        });
        gateway
    }

    /// Polls the decoded log until `found` returns something; panics at
    /// the deadline or if QEMU exits first.
    pub fn wait_log<T>(&mut self, deadline: Instant, found: impl Fn(&[LogLine]) -> Option<T>) -> T {
        self.wait(deadline, |console| found(&console.log))
    }

    fn wait<T>(&mut self, deadline: Instant, found: impl Fn(&Console) -> Option<T>) -> T {
        loop {
            if let Some(value) = found(&self.console.lock().expect("console lock")) {
                return value;
            }
            if let Some(status) = self.exited() {
                panic!("QEMU exited ({status}) early; console:\n{}", self.console());
            }
            assert!(
                Instant::now() < deadline,
                "timed out; console:\n{}",
                self.console()
            );
            thread::sleep(Duration::from_millis(5));
        }
    }

    /// Everything QEMU printed so far: its pty lines, then the firmware's
    /// log lines (level and message).
    pub fn console(&self) -> String {
        self.console.lock().expect("console lock").to_string()
    }

    /// The firmware's log so far, decoded.
    pub fn log(&self) -> Vec<LogLine> {
        self.console.lock().expect("console lock").log.clone()
    }

    /// QEMU's exit status once it has exited (interrupt, or a firmware
    /// failure).
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        let status = self.child.try_wait().ok().flatten()?;
        // QEMU has closed its stdout: the console is complete once read.
        if let Some(reader) = self.console_reader.take() {
            let _ = reader.join();
        }
        Some(status)
    }

    /// Panics if QEMU has exited, the firmware reported a failure (panic,
    /// HardFault, watchdog), or a log frame did not decode.
    pub fn assert_healthy(&mut self) {
        let exited = self.exited();
        let console = self.console();
        let bad = self
            .log()
            .into_iter()
            .find(|l| l.level == "ERROR" || l.level == "?" || l.message.starts_with("FAILED"));
        assert!(bad.is_none(), "firmware failed ({bad:?}):\n{console}");
        if let Some(status) = exited {
            panic!("QEMU exited ({status}); console:\n{console}");
        }
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One open pty, non-blocking.
pub struct Port {
    file: File,
}

impl Port {
    /// Opens `path` for reading and writing without making it the
    /// controlling terminal. QEMU already set the line raw.
    pub fn open(path: &str) -> Self {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
            .open(path)
            .unwrap_or_else(|e| panic!("open {path}: {e}"));
        Self { file }
    }

    /// Writes all of `bytes`, waiting while the pty buffer is full; panics
    /// if the other side takes nothing for 10 s.
    pub fn write_all(&mut self, mut bytes: &[u8]) {
        let mut progress = Instant::now();
        while !bytes.is_empty() {
            match self.file.write(bytes) {
                Ok(n) => {
                    bytes = &bytes[n..];
                    progress = Instant::now();
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    assert!(
                        progress.elapsed() < Duration::from_secs(10),
                        "pty write stalled for 10 s"
                    );
                    thread::sleep(Duration::from_micros(200));
                }
                Err(e) => panic!("pty write: {e}"),
            }
        }
    }

    /// Appends whatever is waiting to `buf`; returns how many bytes.
    pub fn read_available(&mut self, buf: &mut Vec<u8>) -> usize {
        let mut chunk = [0u8; 512];
        let mut total = 0;
        loop {
            match self.file.read(&mut chunk) {
                Ok(0) => return total,
                Ok(n) => {
                    buf.extend_from_slice(&chunk[..n]);
                    total += n;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return total,
                // EIO: no process holds the other side (QEMU gone).
                Err(e) => panic!("pty read: {e}"),
            }
        }
    }

    /// Reads until `complete` says the bytes so far are whole, or until
    /// `deadline`; returns what arrived either way.
    pub fn read_until(&mut self, deadline: Instant, complete: impl Fn(&[u8]) -> bool) -> Vec<u8> {
        let mut buf = Vec::new();
        while !complete(&buf) && Instant::now() < deadline {
            if self.read_available(&mut buf) == 0 {
                thread::sleep(Duration::from_micros(100));
            }
        }
        buf
    }
}

/// A background thread serving one pty until stopped.
pub struct Emulator {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
    /// Requests served so far.
    pub served: Arc<AtomicU32>,
}

impl Emulator {
    /// Runs `step` on `port` about every 100 µs until dropped; `step`
    /// returns how many requests it served.
    pub fn spawn(mut port: Port, mut step: impl FnMut(&mut Port) -> u32 + Send + 'static) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let served = Arc::new(AtomicU32::new(0));
        let (stop_flag, counter) = (Arc::clone(&stop), Arc::clone(&served));
        let handle = thread::spawn(move || {
            while !stop_flag.load(Ordering::Relaxed) {
                counter.fetch_add(step(&mut port), Ordering::Relaxed);
                thread::sleep(Duration::from_micros(100));
            }
        });
        Self {
            stop,
            handle: Some(handle),
            served,
        }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}

/// Polls `probe` until it returns `Some`, or panics with `what` at the
/// deadline.
pub fn poll_until<T>(timeout: Duration, what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = probe() {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        thread::sleep(Duration::from_millis(2));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A run that panics right after boot: QEMU's lines (with ptys), then
    /// the boot line and the failure.
    #[test]
    fn console_splits_qemu_lines_from_the_log_in_any_chunking() {
        let (status, stdout) = run_to_exit(
            firmware_elf(),
            "gateway",
            &["fault=panic"],
            "pty",
            &[],
            BOOT_TIMEOUT,
        );
        assert_eq!(status.code(), Some(1));
        let whole = decode_console(&stdout);
        assert_eq!(whole.qemu_lines.len(), 3, "{whole}");
        assert!(
            whole.qemu_lines.iter().all(|l| pty_of(l).is_some()),
            "{whole}"
        );
        let levels: Vec<&str> = whole.log.iter().map(|l| l.level.as_str()).collect();
        assert_eq!(levels, ["INFO", "ERROR"], "{whole}");
        // 1 byte at a time, a cut inside the QEMU prefix, one line, all at once.
        for size in [1, 2, 7, 53, 54, 4096] {
            let mut console = Console::new(defmt_table());
            for chunk in stdout.chunks(size) {
                console.push(chunk);
            }
            assert_eq!(console.qemu_lines, whole.qemu_lines, "chunks of {size}");
            assert_eq!(console.log, whole.log, "chunks of {size}");
        }
    }

    #[test]
    fn a_broken_frame_is_one_malformed_line_and_decoding_goes_on() {
        let (_, mut stdout) = run_to_exit(
            firmware_elf(),
            "gateway",
            &["fault=panic"],
            "null",
            &[],
            BOOT_TIMEOUT,
        );
        // Without ptys QEMU prints no line of its own: the log starts at
        // once, each frame ended by a zero byte. Break the first frame.
        let start = stdout.iter().position(|&b| b != 0).expect("a frame");
        let end = start
            + stdout[start..]
                .iter()
                .position(|&b| b == 0)
                .expect("an ended frame");
        stdout.splice(start..end, [0x01]);
        let console = decode_console(&stdout);
        assert!(console.qemu_lines.is_empty(), "{console}");
        let levels: Vec<&str> = console.log.iter().map(|l| l.level.as_str()).collect();
        assert_eq!(levels, ["?", "ERROR"], "{console}");
        assert!(console.log[1].message.starts_with("FAILED: panic at "));
    }
}
