//! The Mercury frame decoder, the tag-read notification parser and the reader
//! session never panic on any byte stream, in any chunking; every frame the
//! decoder yields passes the checked view.
//!
//! Input: a chunk size, then records. A record is a kind byte and a length
//! byte, then that many bytes: noise as is, or (even kinds) a frame built from
//! them with a correct CRC — opcode, status, data — so the fuzzer reaches the
//! parsers behind the CRC check. The session is booted first, so the frames
//! meet it while it reads.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rfid_driver::mercury::session::{Output, ReaderConfig, ReaderSession};
use rfid_driver::mercury::{emit, tag_reads, Direction, Frame, FrameDecoder, MAX_FRAME};

/// Turns the fuzz input into a byte stream on the line.
fn line(records: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = records;
    while let [kind, len, tail @ ..] = rest {
        let n = usize::from(*len).min(tail.len());
        let (body, next) = tail.split_at(n);
        rest = next;
        if kind % 2 == 1 || body.len() < 3 {
            out.extend_from_slice(body);
            continue;
        }
        let status = u16::from_be_bytes([body[1], body[2]]);
        let direction_status = if kind % 4 == 0 { Some(status) } else { None };
        let mut buf = [0u8; MAX_FRAME];
        if let Ok(n) = emit(body[0], direction_status, &body[3..], &mut buf) {
            out.extend_from_slice(&buf[..n]);
        }
    }
    out
}

/// Answers the session's boot commands until it reads.
fn boot(session: &mut ReaderSession) {
    for _ in 0..16 {
        let mut answers = Vec::new();
        loop {
            match session.poll_output() {
                Output::Transmit(bytes) => {
                    let Ok(f) = Frame::new_checked(bytes, Direction::ToModule) else {
                        panic!("the session sent a bad frame");
                    };
                    let mut buf = [0u8; 32];
                    let data: &[u8] = if f.opcode() == 0x0C { &[1] } else { &[] };
                    if let Ok(n) = emit(f.opcode(), Some(0), data, &mut buf) {
                        answers.extend_from_slice(&buf[..n]);
                    }
                }
                Output::TagRead { .. } | Output::SetLineRate { .. } => {}
                Output::Wait { .. } => break,
            }
        }
        if answers.is_empty() {
            return;
        }
        session.handle_input(1, &answers);
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&chunk, records)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(chunk).max(1);
    let stream = line(records);
    for direction in [Direction::FromModule, Direction::ToModule] {
        let mut dec = FrameDecoder::new(direction);
        for piece in stream.chunks(chunk) {
            let mut rest = piece;
            loop {
                while let Some(r) = dec.poll() {
                    if let Ok(frame) = r {
                        assert!(Frame::new_checked(frame.as_bytes(), direction).is_ok());
                        if let Ok(reads) = tag_reads(frame.data()) {
                            reads.for_each(drop);
                        }
                    }
                }
                if rest.is_empty() {
                    break;
                }
                let n = dec.push(rest);
                rest = &rest[n..];
            }
            dec.line_idle();
        }
    }
    // The same bytes as if the module had sent them, 7 ms apart per chunk.
    let mut session = ReaderSession::new(ReaderConfig::default(), 0);
    boot(&mut session);
    let mut now_ms = 1;
    for piece in stream.chunks(chunk) {
        now_ms += 7;
        let mut rest = piece;
        loop {
            while !matches!(session.poll_output(), Output::Wait { .. }) {}
            if rest.is_empty() {
                break;
            }
            let n = session.handle_input(now_ms, rest);
            rest = &rest[n..];
        }
        session.handle_timeout(now_ms);
    }
});
