//! The RS-485 half-duplex transmitter of the Modbus line: the transceiver's
//! driver is on for exactly as long as a reply is on the wire, so the line is
//! free for the master the moment the reply's last bit has left.
//!
//! Owns the order of the driver-enable pin and the bytes; the pin is any
//! `embedded-hal` 1.0 output (the board's GPIO), the bytes go out through the
//! board's blocking write.

use core::convert::Infallible;

use embedded_hal::digital::OutputPin;

/// A half-duplex RS-485 line whose transceiver's DE and /RE are driven by
/// `de` (high: transmit, low: receive).
#[derive(Debug)]
pub struct Rs485<P> {
    de: P,
}

impl<P: OutputPin<Error = Infallible>> Rs485<P> {
    /// Takes the pin and puts the transceiver in receive mode.
    pub fn new(mut de: P) -> Self {
        let Ok(()) = de.set_low();
        Self { de }
    }

    /// Sends `bytes` through `write`, which must return only once their
    /// last bit has left the line (the USART's transmission-complete flag);
    /// the driver is enabled just for that time.
    pub fn send(&mut self, bytes: &[u8], write: impl FnOnce(&[u8])) {
        let Ok(()) = self.de.set_high();
        write(bytes);
        let Ok(()) = self.de.set_low();
    }
}

/// The driver-enable "pin" of a line without an RS-485 transceiver (QEMU's
/// USART, an RS-232 or USB adapter): nothing to switch.
#[derive(Debug, Default)]
pub struct NoTransceiver;

impl embedded_hal::digital::ErrorType for NoTransceiver {
    type Error = Infallible;
}

impl OutputPin for NoTransceiver {
    fn set_low(&mut self) -> Result<(), Infallible> {
        Ok(())
    }

    fn set_high(&mut self) -> Result<(), Infallible> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::string::String;
    use std::vec::Vec;

    /// What happened on the line, in order.
    type Log = RefCell<Vec<String>>;

    struct Pin<'a>(&'a Log);

    impl embedded_hal::digital::ErrorType for Pin<'_> {
        type Error = Infallible;
    }

    impl OutputPin for Pin<'_> {
        fn set_low(&mut self) -> Result<(), Infallible> {
            self.0.borrow_mut().push("DE low".into());
            Ok(())
        }

        fn set_high(&mut self) -> Result<(), Infallible> {
            self.0.borrow_mut().push("DE high".into());
            Ok(())
        }
    }

    #[test]
    fn the_driver_is_on_only_while_a_reply_goes_out() {
        let log = Log::default();
        let mut line = Rs485::new(Pin(&log));
        assert_eq!(*log.borrow(), ["DE low"], "receiving from the start");
        for reply in [&[1u8, 4, 2, 0, 7][..], &[1, 0x84, 2]] {
            line.send(reply, |bytes| {
                log.borrow_mut()
                    .push(std::format!("{} bytes out", bytes.len()))
            });
        }
        assert_eq!(
            *log.borrow(),
            [
                "DE low",
                "DE high",
                "5 bytes out",
                "DE low",
                "DE high",
                "3 bytes out",
                "DE low"
            ]
        );
    }
}
