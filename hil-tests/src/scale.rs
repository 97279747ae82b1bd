//! An emulated MT-SICS scale: answers each `SI` command with the line the
//! test set, as a Mettler Toledo terminal would.

use std::sync::{Arc, Mutex};

use crate::{Emulator, Port};

/// The scale: its answer can be changed while it runs.
pub struct Scale {
    answer: Arc<Mutex<String>>,
    /// The serving thread; counts `SI` commands answered.
    pub emulator: Emulator,
}

impl Scale {
    /// Starts answering on `pty` with `answer` (without CR LF).
    pub fn start(pty: &str, answer: &str) -> Self {
        let answer = Arc::new(Mutex::new(answer.to_string()));
        let current = Arc::clone(&answer);
        let mut pending = Vec::new();
        let emulator = Emulator::spawn(Port::open(pty), move |port| {
            port.read_available(&mut pending);
            let mut served = 0;
            while let Some(end) = pending.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = pending.drain(..=end).collect();
                if line.trim_ascii() == b"SI" {
                    let mut reply = current.lock().expect("answer lock").clone().into_bytes();
                    reply.extend_from_slice(b"\r\n");
                    port.write_all(&reply);
                    served += 1;
                }
            }
            served
        });
        Self { answer, emulator }
    }

    /// Changes the answer to the next `SI`.
    pub fn answer_with(&self, line: &str) {
        *self.answer.lock().expect("answer lock") = line.to_string();
    }
}
