//! A minimal Modbus RTU master for the tests that need byte-level control
//! (bad CRC, truncated frames, lost replies, fuzzing). Conformance is also
//! checked with pymodbus, an independent implementation.

use std::thread;
use std::time::{Duration, Instant};

use gateway_registers::{holding, input, EventBlock, EventRecord, GatewayStatus};

use crate::{poll_until, Port};

/// How long to wait for a reply to start.
pub const REPLY_TIMEOUT: Duration = Duration::from_millis(500);
/// How long a reply that has started may take to finish.
pub const SLOW_REPLY_TIMEOUT: Duration = Duration::from_secs(5);
/// Silence put between two requests so the slave sees two frames: well over
/// the 1.75 ms of t3.5 at 115200 baud. This paces the sender; it waits for
/// no condition.
pub const INTER_FRAME_GAP: Duration = Duration::from_millis(5);

/// CRC-16/MODBUS, bit by bit (independent of the firmware's table).
pub fn crc16(bytes: &[u8]) -> u16 {
    let mut crc = 0xFFFFu16;
    for &b in bytes {
        crc ^= u16::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xA001
            } else {
                crc >> 1
            };
        }
    }
    crc
}

/// `body` with its CRC appended.
pub fn frame(body: &[u8]) -> Vec<u8> {
    let mut f = body.to_vec();
    f.extend_from_slice(&crc16(body).to_le_bytes());
    f
}

/// Length of the reply frame that `bytes` starts, once known.
fn reply_len(bytes: &[u8]) -> Option<usize> {
    let function = *bytes.get(1)?;
    match function {
        f if f & 0x80 != 0 => Some(5),
        0x03 | 0x04 => bytes.get(2).map(|&n| 5 + usize::from(n)),
        _ => Some(8),
    }
}

/// A reply, or why there was none.
#[derive(Debug, PartialEq, Eq)]
pub enum Answer {
    /// A normal reply PDU (function code onwards, CRC stripped).
    Pdu(Vec<u8>),
    /// An exception reply with this code.
    Exception(u8),
    /// Nothing within [`REPLY_TIMEOUT`].
    Silence,
}

/// The master side of the Modbus pty.
pub struct Master {
    port: Port,
    /// Unit id requests go to.
    pub unit: u8,
}

impl Master {
    /// A master on `pty` for unit 1.
    pub fn open(pty: &str) -> Self {
        Self {
            port: Port::open(pty),
            unit: 1,
        }
    }

    /// Sends raw bytes as they are (no CRC added).
    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.port.write_all(bytes);
    }

    /// Drops whatever the slave sent that nobody read.
    pub fn discard_input(&mut self) -> Vec<u8> {
        let mut buf = Vec::new();
        self.port.read_available(&mut buf);
        buf
    }

    /// [`Self::transact_once`], sent again up to four times while the
    /// answer is silence: QEMU delivers pty bytes one main-loop turn at a
    /// time, and on a loaded host a gap of over t3.5 inside a request splits
    /// it, as line noise would on a real bus; a master retries.
    pub fn transact(&mut self, pdu: &[u8]) -> Answer {
        let mut answer = self.transact_once(pdu);
        for _ in 0..4 {
            if answer != Answer::Silence {
                break;
            }
            // A late reply to the request given up on must not pass for
            // the answer to the next one.
            self.discard_input();
            answer = self.transact_once(pdu);
        }
        answer
    }

    /// Sends `unit` + `pdu` + CRC once and reads one reply, checking its
    /// CRC and unit.
    pub fn transact_once(&mut self, pdu: &[u8]) -> Answer {
        let mut body = vec![self.unit];
        body.extend_from_slice(pdu);
        self.port.write_all(&frame(&body));
        let complete = |b: &[u8]| reply_len(b).is_some_and(|n| b.len() >= n);
        let mut bytes = self
            .port
            .read_until(Instant::now() + REPLY_TIMEOUT, complete);
        if !bytes.is_empty() && !complete(&bytes) {
            // A reply has started: on a loaded host QEMU may pause mid-reply.
            let rest = self
                .port
                .read_until(Instant::now() + SLOW_REPLY_TIMEOUT, |more| {
                    let mut all = bytes.clone();
                    all.extend_from_slice(more);
                    complete(&all)
                });
            bytes.extend(rest);
        }
        thread::sleep(INTER_FRAME_GAP);
        if bytes.is_empty() {
            return Answer::Silence;
        }
        let n = reply_len(&bytes).unwrap_or(bytes.len());
        assert_eq!(
            bytes.len(),
            n,
            "reply {bytes:02x?} has trailing or missing bytes"
        );
        let (reply, crc) = bytes.split_at(n - 2);
        assert_eq!(
            crc16(reply).to_le_bytes(),
            crc,
            "reply {bytes:02x?} has a bad CRC"
        );
        assert_eq!(reply[0], self.unit, "reply from another unit");
        if reply[1] & 0x80 != 0 {
            Answer::Exception(reply[2])
        } else {
            Answer::Pdu(reply[1..].to_vec())
        }
    }

    fn read(&mut self, function: u8, start: u16, count: u16) -> Answer {
        let mut pdu = vec![function];
        pdu.extend_from_slice(&start.to_be_bytes());
        pdu.extend_from_slice(&count.to_be_bytes());
        self.transact(&pdu)
    }

    /// Reads input registers; `None` on silence or exception.
    pub fn read_input(&mut self, start: u16, count: u16) -> Option<Vec<u16>> {
        match self.read(0x04, start, count) {
            Answer::Pdu(pdu) => Some(registers(&pdu)),
            _ => None,
        }
    }

    /// Writes holding registers with function 16.
    pub fn write_holding(&mut self, start: u16, values: &[u16]) -> Answer {
        let mut pdu = vec![0x10];
        pdu.extend_from_slice(&start.to_be_bytes());
        pdu.extend_from_slice(&(values.len() as u16).to_be_bytes());
        pdu.push((values.len() * 2) as u8);
        for v in values {
            pdu.extend_from_slice(&v.to_be_bytes());
        }
        self.transact(&pdu)
    }

    /// Reads and decodes the status block, retrying until the deadline
    /// (a reply can be lost when QEMU is descheduled mid-frame).
    pub fn status(&mut self) -> GatewayStatus {
        poll_until(Duration::from_secs(10), "a status read", || {
            let regs = self.read_input(0, input::EVENT_COUNT)?;
            GatewayStatus::from_registers(&regs).ok()
        })
    }

    /// Waits until the gateway answers: QEMU starts reading a pty only
    /// about a second after it is opened.
    pub fn wait_link(&mut self) {
        poll_until(Duration::from_secs(10), "the first Modbus reply", || {
            let answer = self.transact_once(&[0x04, 0, input::MAP_VERSION as u8, 0, 1]);
            self.discard_input();
            matches!(answer, Answer::Pdu(_)).then_some(())
        });
    }
}

impl Master {
    /// Reads the event header and window in one request, as the server does.
    pub fn poll_events(&mut self) -> Option<EventBlock> {
        let regs = self.read_input(EventBlock::START, EventBlock::LEN)?;
        Some(EventBlock::from_registers(&regs).expect("the event block decodes"))
    }

    /// Acknowledges every event up to `seq`.
    pub fn ack(&mut self, seq: u32) -> Answer {
        self.write_holding(holding::EVENT_ACK_SEQ, &EventBlock::ack_registers(seq))
    }

    /// Polls and acknowledges until `want` events have come, or panics at
    /// the deadline; returns them in sequence order, each once.
    pub fn drain_events(&mut self, want: usize, timeout: Duration) -> Vec<EventRecord> {
        let mut got: Vec<EventRecord> = Vec::new();
        poll_until(timeout, &format!("{want} events"), || {
            let poll = self.poll_events()?;
            let last = got.last().map_or(0, |e| e.seq);
            got.extend(poll.events().filter(|e| e.seq > last));
            if let Some(newest) = got.last() {
                assert_eq!(self.ack(newest.seq), Answer::Pdu(vec![0x10, 0, 0, 0, 2]));
            }
            (got.len() >= want).then_some(())
        });
        got
    }
}

/// Register values of a read reply PDU.
pub fn registers(pdu: &[u8]) -> Vec<u16> {
    pdu[2..]
        .chunks_exact(2)
        .map(|p| u16::from_be_bytes([p[0], p[1]]))
        .collect()
}
