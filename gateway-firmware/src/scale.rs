//! The MT-SICS scale client: polls `SI` and turns the answer lines into the
//! latest weight and scale status.
//!
//! Owns the line parser (`S S      12.345 kg`, `S D`, `S I`, `S +`, `S -`,
//! `ES`, `ET`, `EL`), the line buffer and the polling schedule. Weights are
//! converted exactly to whole grams (half away from zero). It must not touch
//! the UART: bytes come in through [`ScaleClient::push`], commands go out
//! through [`ScaleClient::poll`].

use gateway_registers::ScaleStatus;
use heapless::Vec;

use crate::bank::RegisterBank;

/// The command sent each polling period.
pub const SI_COMMAND: &[u8] = b"SI\r\n";
/// Longest answer line kept; a longer one is an error.
pub const MAX_LINE_LEN: usize = 64;

/// One parsed answer to `SI`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScaleAnswer {
    /// `S S` or `S D` with a weight.
    Weight {
        /// Weight in grams.
        grams: i32,
        /// `S S` rather than `S D`.
        stable: bool,
    },
    /// Any other well-formed answer, as the status it sets.
    Status(ScaleStatus),
}

/// Why a line did not parse.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScaleLineError {
    /// Not an answer MT-SICS defines for `SI`.
    Unrecognised,
    /// A weight that is not a decimal number, or does not fit i32 grams.
    BadWeight,
    /// A unit other than g, kg, mg or t.
    UnknownUnit,
    /// Longer than [`MAX_LINE_LEN`].
    TooLong,
}

/// Parses one line (without its CR LF).
pub fn parse_line(line: &[u8]) -> Result<ScaleAnswer, ScaleLineError> {
    let text = core::str::from_utf8(line).map_err(|_| ScaleLineError::Unrecognised)?;
    let mut words = text.split_ascii_whitespace();
    let first = words.next();
    let second = words.next();
    let rest = (words.next(), words.next(), words.next());
    match (first, second, rest) {
        (Some("S"), Some(kind @ ("S" | "D")), (Some(value), Some(unit), None)) => {
            Ok(ScaleAnswer::Weight {
                grams: to_grams(value, unit)?,
                stable: kind == "S",
            })
        }
        (Some("S"), Some(code), (None, None, None)) => match code {
            "I" => Ok(ScaleAnswer::Status(ScaleStatus::Busy)),
            "+" => Ok(ScaleAnswer::Status(ScaleStatus::Overload)),
            "-" => Ok(ScaleAnswer::Status(ScaleStatus::Underload)),
            _ => Err(ScaleLineError::Unrecognised),
        },
        (Some("ES" | "ET" | "EL"), None, _) => Ok(ScaleAnswer::Status(ScaleStatus::Error)),
        _ => Err(ScaleLineError::Unrecognised),
    }
}

/// Converts a decimal weight in `unit` to grams, rounding half away from zero.
fn to_grams(value: &str, unit: &str) -> Result<i32, ScaleLineError> {
    // Grams per unit as a fraction (numerator, denominator).
    let (num, den): (i128, i128) = match unit {
        "g" => (1, 1),
        "kg" => (1_000, 1),
        "t" => (1_000_000, 1),
        "mg" => (1, 1_000),
        _ => return Err(ScaleLineError::UnknownUnit),
    };
    let (negative, digits) = match value.as_bytes().first() {
        Some(b'-') => (true, &value[1..]),
        Some(b'+') => (false, &value[1..]),
        _ => (false, value),
    };
    let (int_part, frac_part) = digits.split_once('.').unwrap_or((digits, ""));
    if int_part.is_empty() && frac_part.is_empty()
        || int_part.len() + frac_part.len() > 18
        || !int_part
            .bytes()
            .chain(frac_part.bytes())
            .all(|b| b.is_ascii_digit())
    {
        return Err(ScaleLineError::BadWeight);
    }
    let mut mantissa: i128 = 0;
    for b in int_part.bytes().chain(frac_part.bytes()) {
        mantissa = mantissa * 10 + i128::from(b - b'0');
    }
    let scale = 10i128.pow(frac_part.len() as u32) * den;
    let grams = (2 * mantissa * num + scale) / (2 * scale);
    let grams = if negative { -grams } else { grams };
    i32::try_from(grams).map_err(|_| ScaleLineError::BadWeight)
}

/// Polls the scale and keeps its line buffer.
#[derive(Debug, Default)]
pub struct ScaleClient {
    line: Vec<u8, MAX_LINE_LEN>,
    too_long: bool,
    last_poll_ms: Option<u64>,
    answered: bool,
}

impl ScaleClient {
    /// A client that polls at once.
    pub const fn new() -> Self {
        Self {
            line: Vec::new(),
            too_long: false,
            last_poll_ms: None,
            answered: true,
        }
    }

    /// Takes one byte from the scale; a complete line updates `bank`.
    pub fn push(&mut self, byte: u8, bank: &mut RegisterBank) {
        match byte {
            b'\n' => {
                let result = if self.too_long {
                    Err(ScaleLineError::TooLong)
                } else {
                    parse_line(self.line.strip_suffix(b"\r").unwrap_or(&self.line))
                };
                self.line.clear();
                self.too_long = false;
                self.answered = true;
                let scale = &mut bank.scale;
                match result {
                    Ok(ScaleAnswer::Weight { grams, stable }) => {
                        scale.weight_grams = grams;
                        scale.status = if stable {
                            ScaleStatus::Stable
                        } else {
                            ScaleStatus::Dynamic
                        };
                        scale.readings = scale.readings.wrapping_add(1);
                    }
                    Ok(ScaleAnswer::Status(status)) => scale.status = status,
                    Err(_) => {
                        bank.counters.scale_line_errors =
                            bank.counters.scale_line_errors.wrapping_add(1);
                    }
                }
            }
            _ => {
                if self.line.push(byte).is_err() {
                    self.too_long = true;
                }
            }
        }
    }

    /// Calls `send` with `SI` when a polling period of `period_ms` has
    /// passed; a poll left unanswered for a whole period sets
    /// [`ScaleStatus::Timeout`].
    pub fn poll(&mut self, now_ms: u64, bank: &mut RegisterBank, send: impl FnOnce(&[u8])) {
        let period_ms = u64::from(bank.config().scale_poll_ms);
        if self
            .last_poll_ms
            .is_some_and(|last| now_ms.saturating_sub(last) < period_ms)
        {
            return;
        }
        if !self.answered {
            bank.scale.status = ScaleStatus::Timeout;
        }
        self.answered = false;
        self.last_poll_ms = Some(now_ms);
        send(SI_COMMAND);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_in_every_unit_to_grams() {
        let w = |line: &str| parse_line(line.as_bytes());
        assert_eq!(
            w("S S      12.345 kg"),
            Ok(ScaleAnswer::Weight {
                grams: 12_345,
                stable: true
            })
        );
        assert_eq!(
            w("S D      -0.500 kg"),
            Ok(ScaleAnswer::Weight {
                grams: -500,
                stable: false
            })
        );
        assert_eq!(
            w("S S        1500 g"),
            Ok(ScaleAnswer::Weight {
                grams: 1_500,
                stable: true
            })
        );
        assert_eq!(
            w("S S      1.2345 kg"),
            Ok(ScaleAnswer::Weight {
                grams: 1_235,
                stable: true
            })
        );
        assert_eq!(
            w("S S     -1.2345 kg"),
            Ok(ScaleAnswer::Weight {
                grams: -1_235,
                stable: true
            })
        );
        assert_eq!(
            w("S S        2499 mg"),
            Ok(ScaleAnswer::Weight {
                grams: 2,
                stable: true
            })
        );
        assert_eq!(
            w("S S       1.250 t"),
            Ok(ScaleAnswer::Weight {
                grams: 1_250_000,
                stable: true
            })
        );
        assert_eq!(
            w("S S        +3. g"),
            Ok(ScaleAnswer::Weight {
                grams: 3,
                stable: true
            })
        );
    }

    #[test]
    fn status_answers() {
        let s = |line: &str| parse_line(line.as_bytes());
        assert_eq!(s("S I"), Ok(ScaleAnswer::Status(ScaleStatus::Busy)));
        assert_eq!(s("S +"), Ok(ScaleAnswer::Status(ScaleStatus::Overload)));
        assert_eq!(s("S -"), Ok(ScaleAnswer::Status(ScaleStatus::Underload)));
        for e in ["ES", "ET", "EL"] {
            assert_eq!(s(e), Ok(ScaleAnswer::Status(ScaleStatus::Error)));
        }
    }

    #[test]
    fn lines_that_do_not_parse() {
        let s = |line: &[u8]| parse_line(line);
        assert_eq!(s(b"S S 12.3 lb"), Err(ScaleLineError::UnknownUnit));
        assert_eq!(s(b"S S 1.2.3 kg"), Err(ScaleLineError::BadWeight));
        assert_eq!(s(b"S S . kg"), Err(ScaleLineError::BadWeight));
        assert_eq!(s(b"S S 3000000 kg"), Err(ScaleLineError::BadWeight));
        assert_eq!(
            s(b"S S 99999999999999999999 g"),
            Err(ScaleLineError::BadWeight)
        );
        assert_eq!(s(b"S S 12 kg extra"), Err(ScaleLineError::Unrecognised));
        assert_eq!(s(b"S X"), Err(ScaleLineError::Unrecognised));
        assert_eq!(s(b""), Err(ScaleLineError::Unrecognised));
        assert_eq!(s(b"S S \xff kg"), Err(ScaleLineError::Unrecognised));
    }

    #[test]
    fn client_polls_each_period_and_reports_timeouts() {
        let mut bank = RegisterBank::default();
        let mut client = ScaleClient::new();
        let mut sent = 0;
        client.poll(0, &mut bank, |c| {
            assert_eq!(c, SI_COMMAND);
            sent += 1;
        });
        client.poll(199, &mut bank, |_| sent += 1);
        assert_eq!(sent, 1);
        for &b in b"S S      12.345 kg\r\n" {
            client.push(b, &mut bank);
        }
        assert_eq!(
            (
                bank.scale.status,
                bank.scale.weight_grams,
                bank.scale.readings
            ),
            (ScaleStatus::Stable, 12_345, 1)
        );
        client.poll(200, &mut bank, |_| sent += 1);
        assert_eq!(bank.scale.status, ScaleStatus::Stable);
        // No answer to the poll at 200: the next period reports a timeout.
        client.poll(400, &mut bank, |_| sent += 1);
        assert_eq!((sent, bank.scale.status), (3, ScaleStatus::Timeout));
    }

    #[test]
    fn garbage_and_long_lines_are_counted() {
        let mut bank = RegisterBank::default();
        let mut client = ScaleClient::new();
        for &b in [b'x'; 100].iter().chain(b"\r\nS D 1 g\n\xff\n") {
            client.push(b, &mut bank);
        }
        assert_eq!(bank.counters.scale_line_errors, 2);
        assert_eq!(
            (bank.scale.status, bank.scale.weight_grams),
            (ScaleStatus::Dynamic, 1)
        );
    }
}

/// Property tests: arbitrary lines and byte streams; weights written the
/// way a scale writes them parse back to the grams they stand for.
#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    /// `grams` written in `unit` with `decimals` places, as a scale pads it
    /// (the value right-aligned in 10 characters). Exact: only units and
    /// places that can show every gram are used.
    fn weight_line(stable: bool, grams: i32, unit: &str, decimals: usize) -> String {
        let (per_unit, places) = match unit {
            "g" => (1i64, decimals),
            "kg" => (1_000, 3 + decimals),
            "t" => (1_000_000, 6 + decimals),
            _ => (1, decimals), // "mg": grams × 1000 below
        };
        let value = if unit == "mg" {
            i64::from(grams) * 1_000
        } else {
            i64::from(grams)
        };
        let scale = 10i64.pow(places as u32) / per_unit;
        let scaled = value.unsigned_abs() * scale.unsigned_abs();
        let divisor = 10u64.pow(places as u32);
        let sign = if value < 0 { "-" } else { "" };
        let number = if places == 0 {
            format!("{sign}{scaled}")
        } else {
            format!(
                "{sign}{}.{:0width$}",
                scaled / divisor,
                scaled % divisor,
                width = places
            )
        };
        let kind = if stable { "S" } else { "D" };
        format!("S {kind} {number:>10} {unit}")
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]

        /// Any bytes: no panic.
        #[test]
        fn arbitrary_lines_never_panic(line in proptest::collection::vec(any::<u8>(), 0..80)) {
            let _ = parse_line(&line);
        }

        /// Lines that look like answers (the right words, arbitrary numbers
        /// and units): no panic, and a weight is only what the text says.
        #[test]
        fn answer_shaped_lines_never_panic(
            kind in "[SDI+\\-X]",
            value in "[+\\-]?[0-9]{0,22}(\\.[0-9]{0,22})?",
            unit in "g|kg|mg|t|[a-z]{0,3}",
        ) {
            let line = format!("S {kind} {value} {unit}");
            if let Ok(ScaleAnswer::Weight { stable, .. }) = parse_line(line.as_bytes()) {
                prop_assert_eq!(stable, kind == "S");
            }
        }

        /// Every i32 of grams, written in g, kg, mg or t with extra zero
        /// places, parses back exactly.
        #[test]
        fn written_weights_parse_back(
            grams in any::<i32>(),
            stable in any::<bool>(),
            unit in prop_oneof![Just("g"), Just("kg"), Just("mg"), Just("t")],
            decimals in 0usize..3,
        ) {
            let line = weight_line(stable, grams, unit, decimals);
            prop_assert_eq!(
                parse_line(line.as_bytes()),
                Ok(ScaleAnswer::Weight { grams, stable }),
                "{}", line
            );
        }

        /// Any byte stream into the client: no panic, and every line that
        /// is not an answer is counted once.
        #[test]
        fn arbitrary_streams_into_the_client(
            bytes in proptest::collection::vec(
                prop_oneof![4 => any::<u8>(), 1 => Just(b'\n')],
                0..400,
            ),
        ) {
            let mut bank = RegisterBank::default();
            let mut client = ScaleClient::new();
            for &b in &bytes {
                client.push(b, &mut bank);
            }
            let lines = bytes.iter().filter(|&&b| b == b'\n').count() as u32;
            let counted = bank.counters.scale_line_errors + u32::from(bank.scale.readings);
            prop_assert!(counted <= lines);
        }
    }
}
