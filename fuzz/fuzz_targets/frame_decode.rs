//! The Mercury frame decoder, the tag-read notification parser and the reader
//! session never panic on any byte stream, in any chunking; every frame the
//! decoder yields passes the checked view.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rfid_driver::mercury::session::{Output, ReaderConfig, ReaderSession};
use rfid_driver::mercury::{tag_reads, Direction, Frame, FrameDecoder};

fuzz_target!(|data: &[u8]| {
    let Some((&chunk, stream)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(chunk).max(1);
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
    // The same bytes as if a module had sent them, 7 ms apart per chunk.
    let mut session = ReaderSession::new(ReaderConfig::default(), 0);
    let mut now_ms = 0;
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
