//! The Raspberry Pi's GPIO, behind the cargo feature `rpi` (off by default;
//! the arm64 package is built with it): a status light per dock door, green
//! while a gateway serving that dock is online (reading), red otherwise, and
//! the RS-485 transceiver's driver-enable pin for a UART that does not switch
//! the transceiver itself (raised while the server sends on the RTU line,
//! dropped once the last bit has left). Which colour a dock shows is decided
//! by a pure function that is always built; only the pins need rppal. A build
//! without the feature refuses a configuration that names pins, at start.

use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::Config;
use crate::depot::Depot;
use crate::domain::gate::{GatewayState, LinkState};

/// How often the lights follow the gateways' states.
pub const LIGHT_PERIOD: Duration = Duration::from_millis(250);

/// What a dock's light shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Light {
    /// A gateway serving the dock is online: its gate reads.
    Green,
    /// No gateway serving the dock is online (offline, degraded, not yet
    /// answered, or none configured): passes are not being read.
    Red,
}

/// The light of `dock` given every gateway's state.
pub fn dock_light(dock: &str, gateways: &[GatewayState]) -> Light {
    let reading = gateways.iter().any(|gateway| {
        gateway.link == LinkState::Online
            && gateway
                .docks
                .iter()
                .flatten()
                .any(|code| code.as_str() == dock)
    });
    if reading {
        Light::Green
    } else {
        Light::Red
    }
}

/// Starts the dock lights and claims the driver-enable pin, as configured.
/// Without the `rpi` feature a configuration that names pins is an error.
pub fn start(
    config: &Config,
    depot: &Depot,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<Option<JoinHandle<()>>> {
    #[cfg(feature = "rpi")]
    {
        pins::start(config, depot, stop)
    }
    #[cfg(not(feature = "rpi"))]
    {
        let _ = (depot, stop);
        if config.rs485_de_gpio.is_some() || !config.dock_lights.is_empty() {
            anyhow::bail!(
                "configuration: rs485_de_gpio and dock_lights need a build with the cargo \
                 feature rpi (the arm64 package has it)"
            );
        }
        Ok(None)
    }
}

#[cfg(feature = "rpi")]
pub use pins::driver_enabled;

#[cfg(feature = "rpi")]
mod pins {
    use std::io;
    use std::pin::Pin;
    use std::sync::{Arc, Mutex, OnceLock};
    use std::task::{Context, Poll};
    use std::time::Duration;

    use anyhow::Context as _;
    use rppal::gpio::{Gpio, OutputPin};
    use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
    use tokio::sync::watch;
    use tokio::task::JoinHandle;
    use tokio_serial::{SerialPort, SerialStream};

    use super::{dock_light, Light, LIGHT_PERIOD};
    use crate::config::Config;
    use crate::depot::Depot;

    /// The driver-enable pin, claimed once at start for the RTU line(s).
    static DRIVER_ENABLE: OnceLock<Arc<Mutex<OutputPin>>> = OnceLock::new();

    pub fn start(
        config: &Config,
        depot: &Depot,
        mut stop: watch::Receiver<bool>,
    ) -> anyhow::Result<Option<JoinHandle<()>>> {
        if config.rs485_de_gpio.is_none() && config.dock_lights.is_empty() {
            return Ok(None);
        }
        let gpio = Gpio::new().context("cannot open the GPIO (/dev/gpiomem)")?;
        let output = |key: &str, number: u8| -> anyhow::Result<OutputPin> {
            Ok(gpio
                .get(number)
                .with_context(|| format!("configuration: {key}: GPIO {number}"))?
                .into_output_low())
        };
        if let Some(number) = config.rs485_de_gpio {
            let pin = output("rs485_de_gpio", number)?;
            let _ = DRIVER_ENABLE.set(Arc::new(Mutex::new(pin)));
        }
        let mut lights = Vec::new();
        for light in &config.dock_lights {
            lights.push((
                light.dock.clone(),
                output("dock_lights", light.green_gpio)?,
                output("dock_lights", light.red_gpio)?,
            ));
        }
        if lights.is_empty() {
            return Ok(None);
        }
        let depot = depot.clone();
        Ok(Some(tokio::spawn(async move {
            let mut ticks = tokio::time::interval(LIGHT_PERIOD);
            loop {
                tokio::select! {
                    _ = ticks.tick() => {}
                    _ = stop.wait_for(|stopped| *stopped) => break,
                }
                let gateways = depot.gateway_summary();
                for (dock, green, red) in &mut lights {
                    let light = dock_light(dock, &gateways);
                    green.write((light == Light::Green).into());
                    red.write((light == Light::Red).into());
                }
            }
            for (_, green, red) in &mut lights {
                green.set_low();
                red.set_low();
            }
        })))
    }

    /// `port` with the configured driver-enable pin around every send, or
    /// the port back when no pin is configured.
    pub fn driver_enabled(port: SerialStream, baud: u32) -> Result<DriverEnabled, SerialStream> {
        match DRIVER_ENABLE.get() {
            Some(pin) => Ok(DriverEnabled {
                port,
                pin: pin.clone(),
                // 10 bits a character (8N1) at `baud`.
                character: Duration::from_nanos(10_000_000_000 / u64::from(baud.max(1))),
                sending: false,
            }),
            None => Err(port),
        }
    }

    /// A serial port whose RS-485 transceiver drives the bus only while the
    /// server sends: the pin goes high before the first byte is written and
    /// low when a flush finds the UART's queue and shift register empty, so
    /// the gateway's answer (after at least 3.5 characters of silence) finds
    /// the bus free.
    pub struct DriverEnabled {
        port: SerialStream,
        pin: Arc<Mutex<OutputPin>>,
        character: Duration,
        sending: bool,
    }

    impl DriverEnabled {
        fn drive(&mut self, on: bool) {
            // A poisoned lock only means a panic elsewhere while holding it.
            let mut pin = self.pin.lock().unwrap_or_else(|p| p.into_inner());
            pin.write(on.into());
            self.sending = on;
        }

        /// Waits (blocking, at most a frame's time on the wire) until the
        /// UART has sent everything: too short for a timer, whose 1 ms
        /// resolution would keep the bus past the gateway's turnaround.
        fn drain(&self) -> io::Result<()> {
            loop {
                let queued = self.port.bytes_to_write().map_err(io::Error::other)?;
                if queued == 0 {
                    break;
                }
                std::thread::sleep(self.character * queued);
            }
            // The last character is still in the shift register.
            std::thread::sleep(self.character);
            Ok(())
        }
    }

    impl AsyncRead for DriverEnabled {
        fn poll_read(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            Pin::new(&mut self.port).poll_read(cx, buf)
        }
    }

    impl AsyncWrite for DriverEnabled {
        fn poll_write(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            data: &[u8],
        ) -> Poll<io::Result<usize>> {
            if !self.sending {
                self.drive(true);
            }
            Pin::new(&mut self.port).poll_write(cx, data)
        }

        fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            match Pin::new(&mut self.port).poll_flush(cx) {
                Poll::Ready(Ok(())) if self.sending => {
                    let drained = self.drain();
                    self.drive(false);
                    Poll::Ready(drained)
                }
                other => other,
            }
        }

        fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            if self.sending {
                self.drive(false);
            }
            Pin::new(&mut self.port).poll_shutdown(cx)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::location::LocationCode;

    fn gateway(id: &str, link: LinkState, docks: &[&str]) -> GatewayState {
        let docks = docks
            .iter()
            .map(|d| Some(LocationCode::parse(d).unwrap()))
            .collect();
        let at = time::OffsetDateTime::UNIX_EPOCH;
        let mut state = GatewayState::starting(id.into(), "tcp:gw:502".into(), 1, docks, at);
        state.set_link(link, None, at);
        state
    }

    #[test]
    fn a_dock_is_green_only_while_a_gateway_serving_it_is_online() {
        let gateways = [
            gateway("a", LinkState::Online, &["DOCK-1", "DOCK-2"]),
            gateway("b", LinkState::Offline, &["DOCK-3"]),
            gateway("c", LinkState::Degraded, &["DOCK-4"]),
            gateway("d", LinkState::Starting, &["DOCK-5"]),
        ];
        assert_eq!(dock_light("DOCK-1", &gateways), Light::Green);
        assert_eq!(dock_light("DOCK-2", &gateways), Light::Green);
        for dock in ["DOCK-3", "DOCK-4", "DOCK-5", "DOCK-9"] {
            assert_eq!(dock_light(dock, &gateways), Light::Red, "{dock}");
        }
        assert_eq!(dock_light("DOCK-1", &[]), Light::Red);
        // Another gateway online for the same dock keeps it green.
        let both = [
            gateway("a", LinkState::Offline, &["DOCK-1"]),
            gateway("e", LinkState::Online, &["DOCK-1"]),
        ];
        assert_eq!(dock_light("DOCK-1", &both), Light::Green);
    }
}
