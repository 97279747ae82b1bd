//! GS1 keys (GTIN, SSCC, GLN), the NATO stock number, and the two text forms a
//! scanner sends: element strings (`(01)…(21)…`, or raw with FNC1/GS separators)
//! and GS1 Digital Link URIs (`https://any.host/01/…/21/…`).
//!
//! This module owns check digits and Application Identifier (AI) syntax. It does
//! not know binary EPCs; [`crate::epc`] converts between the two.
//!
//! Supported AIs: `00` SSCC, `01` GTIN, `10` batch/lot, `11` production date,
//! `15` best before, `17` expiry, `21` serial, `30` count, `254` GLN extension,
//! `414` GLN, `7001` NSN, `8003` GRAI, `8004` GIAI. In the bracketed form other
//! AIs are skipped and counted ([`Gs1Data::skipped_ais`]); in the raw form, where
//! the length of an unknown AI cannot be known, they are an error.

use core::fmt;

use crate::text::Text;

/// Why a GS1 key, element string or Digital Link was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gs1Error {
    /// Nothing to parse.
    Empty,
    /// A key that must be all digits was not.
    NotDigits(Key),
    /// A key had a length its kind does not allow.
    Length { key: Key, found: u8 },
    /// The check digit does not match.
    CheckDigit { key: Key, expected: u8, found: u8 },
    /// An AI this parser does not know, where its length matters.
    UnknownAi(u16),
    /// The same AI appeared twice.
    DuplicateAi(u16),
    /// An AI's value was empty, too long, or had a character outside its set.
    BadValue(u16),
    /// A date (AI 11, 15, 17) that is not `YYMMDD` with a valid month and day.
    BadDate(u16),
    /// The string's structure is wrong, e.g. an unclosed bracket.
    Syntax(&'static str),
}

/// The kinds of GS1 keys, named in errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    Gtin,
    Sscc,
    Gln,
    Nsn,
    Grai,
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Key::Gtin => "GTIN",
            Key::Sscc => "SSCC",
            Key::Gln => "GLN",
            Key::Nsn => "NSN",
            Key::Grai => "GRAI",
        })
    }
}

impl core::error::Error for Gs1Error {}

impl fmt::Display for Gs1Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Gs1Error::Empty => f.write_str("input is empty"),
            Gs1Error::NotDigits(key) => write!(f, "{key} must contain only digits"),
            Gs1Error::Length { key, found } => match key {
                Key::Gtin => write!(f, "GTIN must have 8, 12, 13 or 14 digits, not {found}"),
                Key::Sscc => write!(f, "SSCC must have 18 digits, not {found}"),
                Key::Gln => write!(f, "GLN must have 13 digits, not {found}"),
                Key::Nsn => write!(f, "NSN must have 13 digits, not {found}"),
                Key::Grai => write!(f, "GRAI must have 14 to 30 characters, not {found}"),
            },
            Gs1Error::CheckDigit {
                key,
                expected,
                found,
            } => write!(f, "{key} check digit is {found}, expected {expected}"),
            Gs1Error::UnknownAi(ai) => write!(f, "application identifier ({ai}) is not supported"),
            Gs1Error::DuplicateAi(ai) => {
                write!(f, "application identifier ({ai}) appears more than once")
            }
            Gs1Error::BadValue(ai) => write!(
                f,
                "value of ({ai}) is empty, too long or has an invalid character"
            ),
            Gs1Error::BadDate(ai) => write!(f, "value of ({ai}) is not a valid YYMMDD date"),
            Gs1Error::Syntax(what) => f.write_str(what),
        }
    }
}

/// The GS1 mod-10 check digit of `digits` (ASCII `0`–`9`), weights 3,1,3,… from the right.
pub fn check_digit(digits: &[u8]) -> u8 {
    let mut sum = 0u32;
    for (i, d) in digits.iter().rev().enumerate() {
        let v = u32::from(d.wrapping_sub(b'0') % 10);
        sum += if i % 2 == 0 { v * 3 } else { v };
    }
    // (10 - sum % 10) % 10 is a single digit.
    ((10 - sum % 10) % 10) as u8
}

fn all_digits(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(u8::is_ascii_digit)
}

/// Checks digits and the trailing check digit of a key of fixed length `N`.
fn checked_key<const N: usize>(s: &[u8], key: Key) -> Result<[u8; N], Gs1Error> {
    if s.is_empty() {
        return Err(Gs1Error::Empty);
    }
    if !all_digits(s) {
        return Err(Gs1Error::NotDigits(key));
    }
    if s.len() != N {
        return Err(Gs1Error::Length {
            key,
            found: s.len().min(255) as u8,
        });
    }
    let expected = check_digit(&s[..N - 1]);
    let found = s[N - 1] - b'0';
    if expected != found {
        return Err(Gs1Error::CheckDigit {
            key,
            expected,
            found,
        });
    }
    let mut out = [0u8; N];
    out.copy_from_slice(s);
    Ok(out)
}

fn digits_str(d: &[u8]) -> &str {
    // Keys hold only ASCII digits (checked at construction).
    core::str::from_utf8(d).unwrap_or_default()
}

/// A Global Trade Item Number, always held as GTIN-14 (shorter forms are
/// left-padded with zeros, as GS1 prescribes).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Gtin([u8; 14]);

impl Gtin {
    /// Parses 8, 12, 13 or 14 digits and verifies the check digit: the one
    /// GTIN rule of Depot Edge (the server's domain uses it too). The key
    /// only, no surrounding space; the scanner forms ([`parse_scan`]) trim
    /// their input before they get here.
    pub fn parse(s: &str) -> Result<Gtin, Gs1Error> {
        let b = s.as_bytes();
        if b.is_empty() {
            return Err(Gs1Error::Empty);
        }
        if !all_digits(b) {
            return Err(Gs1Error::NotDigits(Key::Gtin));
        }
        if !matches!(b.len(), 8 | 12 | 13 | 14) {
            return Err(Gs1Error::Length {
                key: Key::Gtin,
                found: b.len().min(255) as u8,
            });
        }
        let mut padded = [b'0'; 14];
        padded[14 - b.len()..].copy_from_slice(b);
        checked_key::<14>(&padded, Key::Gtin).map(Gtin)
    }

    /// Builds a GTIN from its first 13 digits, computing the check digit.
    /// `None` unless all 13 are ASCII digits.
    pub fn from_body(body: &[u8; 13]) -> Option<Gtin> {
        if !all_digits(body) {
            return None;
        }
        let mut d = [0u8; 14];
        d[..13].copy_from_slice(body);
        d[13] = b'0' + check_digit(body);
        Some(Gtin(d))
    }

    /// The 14 digits.
    pub fn as_str(&self) -> &str {
        digits_str(&self.0)
    }

    /// The 14 digits as ASCII bytes.
    pub fn digits(&self) -> &[u8; 14] {
        &self.0
    }
}

impl fmt::Display for Gtin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Gtin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Gtin({})", self.as_str())
    }
}

/// A Serial Shipping Container Code: 18 digits with check digit.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Sscc([u8; 18]);

impl Sscc {
    /// Parses 18 digits and verifies the check digit.
    pub fn parse(s: &str) -> Result<Sscc, Gs1Error> {
        checked_key::<18>(s.as_bytes(), Key::Sscc).map(Sscc)
    }

    /// Builds an SSCC from its first 17 digits, computing the check digit.
    pub fn from_body(body: &[u8; 17]) -> Option<Sscc> {
        if !all_digits(body) {
            return None;
        }
        let mut d = [0u8; 18];
        d[..17].copy_from_slice(body);
        d[17] = b'0' + check_digit(body);
        Some(Sscc(d))
    }

    /// The 18 digits.
    pub fn as_str(&self) -> &str {
        digits_str(&self.0)
    }

    /// The 18 digits as ASCII bytes.
    pub fn digits(&self) -> &[u8; 18] {
        &self.0
    }
}

impl fmt::Display for Sscc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Sscc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sscc({})", self.as_str())
    }
}

/// A Global Location Number: 13 digits with check digit.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Gln([u8; 13]);

impl Gln {
    /// Parses 13 digits and verifies the check digit.
    pub fn parse(s: &str) -> Result<Gln, Gs1Error> {
        checked_key::<13>(s.as_bytes(), Key::Gln).map(Gln)
    }

    /// Builds a GLN from its first 12 digits, computing the check digit.
    pub fn from_body(body: &[u8; 12]) -> Option<Gln> {
        if !all_digits(body) {
            return None;
        }
        let mut d = [0u8; 13];
        d[..12].copy_from_slice(body);
        d[12] = b'0' + check_digit(body);
        Some(Gln(d))
    }

    /// The 13 digits.
    pub fn as_str(&self) -> &str {
        digits_str(&self.0)
    }

    /// The 13 digits as ASCII bytes.
    pub fn digits(&self) -> &[u8; 13] {
        &self.0
    }
}

impl fmt::Display for Gln {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Gln {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Gln({})", self.as_str())
    }
}

/// A NATO Stock Number: 13 digits, shown `NNNN-NN-NNN-NNNN`. Digits 1–4 are the
/// supply class (FSC), digits 5–6 the NATO codification bureau (NCB, `12` =
/// Germany). GS1 carries it as AI (7001). An NSN has no check digit.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Nsn([u8; 13]);

impl Nsn {
    /// The one NSN rule of Depot Edge (the server's domain uses it too):
    /// exactly 13 digits, or exactly the shown form `NNNN-NN-NNN-NNNN`
    /// (all three dashes or none; no other characters, no surrounding
    /// space). `2510-01-028-8573` and `2510010288573` are the same NSN;
    /// `2510-010288573` and `2510-010-28-8573` are refused.
    pub fn parse(s: &str) -> Result<Nsn, Gs1Error> {
        const DASHES: [usize; 3] = [4, 7, 11];
        let b = s.as_bytes();
        if b.is_empty() {
            return Err(Gs1Error::Empty);
        }
        if !b.iter().all(|&c| c.is_ascii_digit() || c == b'-') {
            return Err(Gs1Error::NotDigits(Key::Nsn));
        }
        let digits = b.iter().filter(|c| c.is_ascii_digit()).count();
        if digits != 13 {
            return Err(Gs1Error::Length {
                key: Key::Nsn,
                found: digits.min(255) as u8,
            });
        }
        let dashed = b.len() == 16 && DASHES.iter().all(|&i| b[i] == b'-');
        if b.len() != 13 && !dashed {
            return Err(Gs1Error::Syntax(
                "NSN must be 13 digits, or NNNN-NN-NNN-NNNN with all three dashes",
            ));
        }
        let mut d = [0u8; 13];
        for (slot, &c) in d.iter_mut().zip(b.iter().filter(|c| c.is_ascii_digit())) {
            *slot = c;
        }
        Ok(Nsn(d))
    }

    /// The 13 digits without dashes.
    pub fn digits(&self) -> &str {
        digits_str(&self.0)
    }

    /// The federal supply class (digits 1–4).
    pub fn supply_class(&self) -> &str {
        digits_str(&self.0[..4])
    }

    /// The NATO codification bureau, i.e. the country code (digits 5–6).
    pub fn ncb(&self) -> &str {
        digits_str(&self.0[4..6])
    }

    /// The GS1 element string view, `(7001)NNNNNNNNNNNNN`.
    pub fn element_string(&self) -> NsnElementString<'_> {
        NsnElementString(self)
    }
}

/// Display of an NSN as a GS1 element string with AI (7001).
pub struct NsnElementString<'a>(&'a Nsn);

impl fmt::Display for NsnElementString<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "(7001){}", self.0.digits())
    }
}

impl fmt::Display for Nsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.digits();
        write!(f, "{}-{}-{}-{}", &d[..4], &d[4..6], &d[6..9], &d[9..])
    }
}

impl fmt::Debug for Nsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Nsn({self})")
    }
}

/// A `YYMMDD` date from AI 11, 15 or 17. Day `00` means "end of month", as GS1 allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Yymmdd {
    pub year: u8,
    pub month: u8,
    pub day: u8,
}

impl fmt::Display for Yymmdd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}{:02}{:02}", self.year, self.month, self.day)
    }
}

/// Everything a scan carried, by AI. Fields are `None` when the AI was absent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Gs1Data {
    /// AI 00.
    pub sscc: Option<Sscc>,
    /// AI 01.
    pub gtin: Option<Gtin>,
    /// AI 10.
    pub lot: Option<Text<20>>,
    /// AI 11.
    pub production_date: Option<Yymmdd>,
    /// AI 15.
    pub best_before: Option<Yymmdd>,
    /// AI 17.
    pub expiry: Option<Yymmdd>,
    /// AI 21.
    pub serial: Option<Text<20>>,
    /// AI 30.
    pub count: Option<u32>,
    /// AI 254.
    pub gln_extension: Option<Text<20>>,
    /// AI 414.
    pub gln: Option<Gln>,
    /// AI 7001.
    pub nsn: Option<Nsn>,
    /// AI 8003: `0`, GRAI-13 with check digit, then an optional serial of up to 16 characters.
    pub grai: Option<Text<30>>,
    /// AI 8004.
    pub giai: Option<Text<30>>,
    /// Bracketed AIs this parser does not interpret (skipped, not lost silently).
    pub skipped_ais: u8,
}

/// Whether `b` is in GS1 AI encodable character set 82.
pub fn is_cset82(b: u8) -> bool {
    matches!(b,
        b'!' | b'"' | b'%'..=b'/' | b'0'..=b'9' | b':'..=b'?' | b'A'..=b'Z' | b'_' | b'a'..=b'z')
}

#[derive(Clone, Copy)]
enum Format {
    /// Exactly n digits.
    Digits(usize),
    /// 1..=n digits.
    DigitsUpTo(usize),
    /// 1..=n characters of set 82.
    Chars(usize),
}

/// Known AIs: number, number of AI digits, value format.
const AIS: &[(u16, usize, Format)] = &[
    (0, 2, Format::Digits(18)),
    (1, 2, Format::Digits(14)),
    (10, 2, Format::Chars(20)),
    (11, 2, Format::Digits(6)),
    (15, 2, Format::Digits(6)),
    (17, 2, Format::Digits(6)),
    (21, 2, Format::Chars(20)),
    (30, 2, Format::DigitsUpTo(8)),
    (254, 3, Format::Chars(20)),
    (414, 3, Format::Digits(13)),
    (7001, 4, Format::Digits(13)),
    (8003, 4, Format::Chars(30)),
    (8004, 4, Format::Chars(30)),
];

fn lookup(ai_digits: &[u8]) -> Option<(u16, Format)> {
    if !(2..=4).contains(&ai_digits.len()) || !all_digits(ai_digits) {
        return None;
    }
    let mut n: u16 = 0;
    for &d in ai_digits {
        n = n * 10 + u16::from(d.wrapping_sub(b'0'));
    }
    AIS.iter()
        .find(|(ai, len, _)| *ai == n && *len == ai_digits.len())
        .map(|&(ai, _, fmt)| (ai, fmt))
}

fn parse_date(ai: u16, v: &[u8]) -> Result<Yymmdd, Gs1Error> {
    let two = |i: usize| (v[i] - b'0') * 10 + (v[i + 1] - b'0');
    let (year, month, day) = (two(0), two(2), two(4));
    if !(1..=12).contains(&month) || day > 31 {
        return Err(Gs1Error::BadDate(ai));
    }
    Ok(Yymmdd { year, month, day })
}

impl Gs1Data {
    /// Stores one (AI, value) pair after checking the value against the AI's format.
    fn set(&mut self, ai: u16, format: Format, v: &[u8]) -> Result<(), Gs1Error> {
        let ok = match format {
            Format::Digits(n) => v.len() == n && all_digits(v),
            Format::DigitsUpTo(n) => v.len() <= n && all_digits(v),
            Format::Chars(n) => !v.is_empty() && v.len() <= n && v.iter().all(|&b| is_cset82(b)),
        };
        if !ok {
            return Err(Gs1Error::BadValue(ai));
        }
        fn put<T>(slot: &mut Option<T>, ai: u16, value: T) -> Result<(), Gs1Error> {
            if slot.is_some() {
                return Err(Gs1Error::DuplicateAi(ai));
            }
            *slot = Some(value);
            Ok(())
        }
        fn text<const N: usize>(v: &[u8], ai: u16) -> Result<Text<N>, Gs1Error> {
            Text::from_ascii(v).ok_or(Gs1Error::BadValue(ai))
        }
        let s = core::str::from_utf8(v).map_err(|_| Gs1Error::BadValue(ai))?;
        match ai {
            0 => put(&mut self.sscc, ai, Sscc::parse(s)?),
            1 => put(&mut self.gtin, ai, Gtin::parse(s)?),
            10 => put(&mut self.lot, ai, text(v, ai)?),
            11 => put(&mut self.production_date, ai, parse_date(ai, v)?),
            15 => put(&mut self.best_before, ai, parse_date(ai, v)?),
            17 => put(&mut self.expiry, ai, parse_date(ai, v)?),
            21 => put(&mut self.serial, ai, text(v, ai)?),
            30 => put(
                &mut self.count,
                ai,
                s.parse::<u32>().map_err(|_| Gs1Error::BadValue(ai))?,
            ),
            254 => put(&mut self.gln_extension, ai, text(v, ai)?),
            414 => put(&mut self.gln, ai, Gln::parse(s)?),
            7001 => put(&mut self.nsn, ai, Nsn::parse(s)?),
            8003 => {
                check_grai(v)?;
                put(&mut self.grai, ai, text(v, ai)?)
            }
            8004 => put(&mut self.giai, ai, text(v, ai)?),
            _ => Err(Gs1Error::UnknownAi(ai)),
        }
    }

    fn is_empty(&self) -> bool {
        *self == Gs1Data::default()
    }
}

/// AI 8003: a `0`, GRAI-13 (company prefix + asset type + check digit), then a serial.
fn check_grai(v: &[u8]) -> Result<(), Gs1Error> {
    if v.len() < 14 || v[0] != b'0' || !all_digits(&v[..14]) {
        return Err(Gs1Error::Length {
            key: Key::Grai,
            found: v.len().min(255) as u8,
        });
    }
    checked_key::<13>(&v[1..14], Key::Grai).map(|_| ())
}

const GS: u8 = 0x1d;

/// Parses a GS1 element string: bracketed `(01)09506000134352(21)ABC`, or raw
/// `0109506000134352` + GS + `21ABC` as a keyboard-wedge scanner sends it, with
/// or without a symbology identifier (`]C1`, `]d2`, `]Q3`, `]e0`) in front.
pub fn parse_element_string(input: &str) -> Result<Gs1Data, Gs1Error> {
    let s = input.trim().as_bytes();
    if s.is_empty() {
        return Err(Gs1Error::Empty);
    }
    let data = if s[0] == b'(' {
        parse_bracketed(s)?
    } else {
        let body = match s {
            [b']', _, _, rest @ ..] => rest,
            _ => s,
        };
        parse_raw(body)?
    };
    if data.is_empty() && data.skipped_ais == 0 {
        return Err(Gs1Error::Empty);
    }
    Ok(data)
}

fn parse_bracketed(mut s: &[u8]) -> Result<Gs1Data, Gs1Error> {
    let mut data = Gs1Data::default();
    while !s.is_empty() {
        if s[0] != b'(' {
            return Err(Gs1Error::Syntax("element string must be (AI)value pairs"));
        }
        let close = s
            .iter()
            .position(|&b| b == b')')
            .ok_or(Gs1Error::Syntax("unclosed bracket in element string"))?;
        let ai = &s[1..close];
        if !(2..=4).contains(&ai.len()) || !all_digits(ai) {
            return Err(Gs1Error::Syntax("an AI is 2 to 4 digits in brackets"));
        }
        let rest = &s[close + 1..];
        let end = next_bracketed_ai(rest);
        let value = &rest[..end];
        match lookup(ai) {
            Some((n, format)) => data.set(n, format, value)?,
            None => data.skipped_ais = data.skipped_ais.saturating_add(1),
        }
        s = &rest[end..];
    }
    Ok(data)
}

/// Where the next `(NN)`…`(NNNN)` starts in `s` (a `(` in a value is data).
fn next_bracketed_ai(s: &[u8]) -> usize {
    (0..s.len())
        .find(|&i| {
            s[i] == b'('
                && (3..=5).any(|close| {
                    s.get(i + close) == Some(&b')') && all_digits(&s[i + 1..i + close])
                })
        })
        .unwrap_or(s.len())
}

fn parse_raw(mut s: &[u8]) -> Result<Gs1Data, Gs1Error> {
    let mut data = Gs1Data::default();
    while !s.is_empty() {
        if s[0] == GS {
            s = &s[1..];
            continue;
        }
        let found = (2..=4).find_map(|n| {
            let digits = s.get(..n)?;
            if !all_digits(digits) {
                return None;
            }
            lookup(digits).map(|(ai, fmt)| (n, ai, fmt))
        });
        let Some((n, ai, format)) = found else {
            let mut num: u16 = 0;
            for &d in s.iter().take(4).take_while(|b| b.is_ascii_digit()) {
                num = num * 10 + u16::from(d - b'0');
            }
            return Err(Gs1Error::UnknownAi(num));
        };
        let rest = &s[n..];
        let len = match format {
            Format::Digits(len) => len.min(rest.len()),
            Format::DigitsUpTo(_) | Format::Chars(_) => {
                rest.iter().position(|&b| b == GS).unwrap_or(rest.len())
            }
        };
        data.set(ai, format, &rest[..len])?;
        s = &rest[len..];
    }
    Ok(data)
}

/// Percent-decodes `v` into `out`; `false` on a bad escape or overflow.
fn percent_decode<const N: usize>(v: &[u8], out: &mut Text<N>) -> bool {
    let mut i = 0;
    while i < v.len() {
        let b = if v[i] == b'%' {
            let hex = |c: u8| (c as char).to_digit(16);
            match (
                v.get(i + 1).and_then(|&c| hex(c)),
                v.get(i + 2).and_then(|&c| hex(c)),
            ) {
                (Some(h), Some(l)) => {
                    i += 3;
                    // Two hex digits make one byte.
                    (h * 16 + l) as u8
                }
                _ => return false,
            }
        } else {
            i += 1;
            v[i - 1]
        };
        if !out.push(b) {
            return false;
        }
    }
    true
}

/// Parses a GS1 Digital Link URI on any host, e.g.
/// `https://id.gs1.org/01/09506000134352/21/ABC?17=271231`. Path segments before
/// the primary key (a custom prefix) are ignored; the primary key is one of
/// `01`, `00`, `414`, `8003`, `8004`, followed by qualifier pairs (`10`, `21`,
/// `254`, …); query parameters whose names are known AIs are read too, other
/// parameters (e.g. `linkType`) are ignored. Convenience names (`gtin`, `ser`)
/// are not supported.
pub fn parse_digital_link(input: &str) -> Result<Gs1Data, Gs1Error> {
    let s = input.trim();
    if s.is_empty() {
        return Err(Gs1Error::Empty);
    }
    let lower_starts = |p: &str| s.get(..p.len()).is_some_and(|h| h.eq_ignore_ascii_case(p));
    let after_scheme = if lower_starts("https://") {
        &s[8..]
    } else if lower_starts("http://") {
        &s[7..]
    } else {
        return Err(Gs1Error::Syntax(
            "a Digital Link starts with http:// or https://",
        ));
    };
    let path_start = after_scheme
        .find('/')
        .ok_or(Gs1Error::Syntax("Digital Link has no path"))?;
    let rest = &after_scheme[path_start..];
    let rest = rest.split('#').next().unwrap_or(rest);
    let (path, query) = match rest.split_once('?') {
        Some((p, q)) => (p, q),
        None => (rest, ""),
    };
    let segments = || path.split('/').filter(|seg| !seg.is_empty());
    let primary = [&b"01"[..], b"00", b"414", b"8003", b"8004"];
    let start = segments()
        .position(|seg| primary.contains(&seg.as_bytes()))
        .ok_or(Gs1Error::Syntax(
            "Digital Link has no primary key (01, 00, 414, 8003, 8004)",
        ))?;
    let mut data = Gs1Data::default();
    let mut it = segments().skip(start);
    while let Some(ai) = it.next() {
        let (n, format) = lookup(ai.as_bytes())
            .ok_or(Gs1Error::Syntax("Digital Link path holds an unknown AI"))?;
        let raw = it.next().ok_or(Gs1Error::Syntax(
            "Digital Link path ends with an AI and no value",
        ))?;
        let mut value = Text::<32>::new();
        if !percent_decode(raw.as_bytes(), &mut value) {
            return Err(Gs1Error::BadValue(n));
        }
        // DL allows GTIN-8/12/13 in the path; pad as GTIN-14.
        if n == 1 {
            put_gtin(&mut data, value.as_str())?;
        } else {
            data.set(n, format, value.as_bytes())?;
        }
    }
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if !all_digits(k.as_bytes()) {
            continue;
        }
        let Some((n, format)) = lookup(k.as_bytes()) else {
            data.skipped_ais = data.skipped_ais.saturating_add(1);
            continue;
        };
        let mut value = Text::<32>::new();
        if !percent_decode(v.as_bytes(), &mut value) {
            return Err(Gs1Error::BadValue(n));
        }
        data.set(n, format, value.as_bytes())?;
    }
    Ok(data)
}

fn put_gtin(data: &mut Gs1Data, v: &str) -> Result<(), Gs1Error> {
    if data.gtin.is_some() {
        return Err(Gs1Error::DuplicateAi(1));
    }
    data.gtin = Some(Gtin::parse(v)?);
    Ok(())
}

/// Parses whatever a scanner sent: a Digital Link URI (`http…`) or an element string.
pub fn parse_scan(input: &str) -> Result<Gs1Data, Gs1Error> {
    let s = input.trim();
    if s.len() >= 7 && s.as_bytes()[..4].eq_ignore_ascii_case(b"http") {
        parse_digital_link(s)
    } else {
        parse_element_string(s)
    }
}

/// Writes `value` percent-encoded for a URI path segment: everything except
/// RFC 3986 unreserved characters is escaped.
pub(crate) fn write_uri_segment(f: &mut fmt::Formatter<'_>, value: &str) -> fmt::Result {
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            write!(f, "{}", b as char)?;
        } else {
            write!(f, "%{b:02X}")?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::ToString;

    #[test]
    fn gtin_check_digit_and_padding() {
        assert_eq!(
            Gtin::parse("80614141123458").map(|g| g.to_string()),
            Ok("80614141123458".into())
        );
        assert_eq!(
            Gtin::parse("80614141123459"),
            Err(Gs1Error::CheckDigit {
                key: Key::Gtin,
                expected: 8,
                found: 9
            })
        );
        // GTIN-13 4006381333931 pads to 14 digits.
        assert_eq!(
            Gtin::parse("4006381333931").map(|g| g.to_string()),
            Ok("04006381333931".into())
        );
        assert!(matches!(
            Gtin::parse("1234567"),
            Err(Gs1Error::Length { found: 7, .. })
        ));
        assert_eq!(Gtin::parse("12a4567"), Err(Gs1Error::NotDigits(Key::Gtin)));
    }

    #[test]
    fn sscc_from_brief() {
        assert!(Sscc::parse("106141412345678908").is_ok());
        assert!(matches!(
            Sscc::parse("106141412345678909"),
            Err(Gs1Error::CheckDigit { .. })
        ));
    }

    #[test]
    fn nsn_both_forms_and_7001() {
        let a = Nsn::parse("2510-01-028-8573").expect("dashed");
        let b = Nsn::parse("2510010288573").expect("plain");
        assert_eq!(a, b);
        assert_eq!(a.to_string(), "2510-01-028-8573");
        assert_eq!(a.element_string().to_string(), "(7001)2510010288573");
        assert_eq!(a.ncb(), "01");
        assert_eq!(a.supply_class(), "2510");
        let scanned = parse_element_string("(7001)2510010288573").expect("parses");
        assert_eq!(scanned.nsn, Some(a));
        assert!(Nsn::parse("2510-010-28-8573").is_err());
        assert!(Nsn::parse("251001028857").is_err());
        assert!(Nsn::parse("25100102885730").is_err());
        let german = Nsn::parse("8465-12-345-6789").expect("valid");
        assert_eq!(german.ncb(), "12");
    }

    #[test]
    fn bracketed_element_string() {
        let d = parse_element_string("(01)80614141123458(17)271231(10)LOT-7(21)6789").expect("ok");
        assert_eq!(d.gtin.map(|g| g.to_string()), Some("80614141123458".into()));
        assert_eq!(d.serial.map(|s| s.to_string()), Some("6789".into()));
        assert_eq!(d.lot.map(|s| s.to_string()), Some("LOT-7".into()));
        assert_eq!(
            d.expiry,
            Some(Yymmdd {
                year: 27,
                month: 12,
                day: 31
            })
        );
        let skipped = parse_element_string("(01)80614141123458(240)ABC").expect("ok");
        assert_eq!(skipped.skipped_ais, 1);
    }

    #[test]
    fn raw_element_string_with_gs_and_symbology_id() {
        let d = parse_element_string("]d2018061414112345817271231106789\u{1d}21ABC").expect("ok");
        assert_eq!(d.gtin.map(|g| g.to_string()), Some("80614141123458".into()));
        assert_eq!(d.lot.map(|s| s.to_string()), Some("6789".into()));
        assert_eq!(d.serial.map(|s| s.to_string()), Some("ABC".into()));
        assert_eq!(parse_element_string("99XYZ"), Err(Gs1Error::UnknownAi(99)));
    }

    #[test]
    fn element_string_refusals() {
        assert_eq!(parse_element_string(""), Err(Gs1Error::Empty));
        assert!(matches!(
            parse_element_string("(01"),
            Err(Gs1Error::Syntax(_))
        ));
        assert_eq!(
            parse_element_string("(01)80614141123458(01)80614141123458"),
            Err(Gs1Error::DuplicateAi(1))
        );
        assert_eq!(
            parse_element_string("(17)271331"),
            Err(Gs1Error::BadDate(17))
        );
        assert_eq!(
            parse_element_string("(21)123456789012345678901"),
            Err(Gs1Error::BadValue(21))
        );
        assert_eq!(parse_element_string("(21)a b"), Err(Gs1Error::BadValue(21)));
    }

    #[test]
    fn digital_link_any_host_prefix_and_query() {
        let d = parse_digital_link(
            "https://example.com/shop/01/80614141123458/21/32a%2Fb?17=271231&linkType=gs1:pip",
        )
        .expect("ok");
        assert_eq!(d.gtin.map(|g| g.to_string()), Some("80614141123458".into()));
        assert_eq!(d.serial.map(|s| s.to_string()), Some("32a/b".into()));
        assert!(d.expiry.is_some());
        let short = parse_digital_link("http://id.gs1.org/01/4006381333931").expect("gtin-13");
        assert_eq!(
            short.gtin.map(|g| g.to_string()),
            Some("04006381333931".into())
        );
        assert!(parse_digital_link("https://id.gs1.org/").is_err());
        assert!(parse_digital_link("https://id.gs1.org/01/80614141123458/21").is_err());
        assert!(parse_digital_link("https://id.gs1.org/01/80614141123458/99/x").is_err());
        assert_eq!(
            parse_digital_link("https://id.gs1.org/01/80614141123458/21/a%2"),
            Err(Gs1Error::BadValue(21))
        );
        assert!(parse_scan("HTTPS://id.gs1.org/00/106141412345678908").is_ok());
    }

    proptest::proptest! {
        #[test]
        fn scanner_parsers_never_panic(s in "[\\PC\u{1d}]{0,80}") {
            let _ = parse_scan(&s);
            let _ = parse_element_string(&s);
            let _ = parse_digital_link(&s);
            let _ = (Gtin::parse(&s), Sscc::parse(&s), Gln::parse(&s), Nsn::parse(&s));
        }

        #[test]
        fn ai_shaped_input_never_panics(
            parts in proptest::collection::vec(
                ("(?:01|00|10|11|17|21|30|254|414|7001|8003|8004|99)", "[0-9A-Za-z%/()\u{1d}-]{0,24}"),
                0..5,
            ),
            bracketed in proptest::bool::ANY,
        ) {
            let mut es = std::string::String::new();
            let mut dl = std::string::String::from("https://h/");
            for (ai, v) in &parts {
                if bracketed {
                    es.push_str(&std::format!("({ai}){v}"));
                } else {
                    es.push_str(&std::format!("{ai}{v}\u{1d}"));
                }
                dl.push_str(&std::format!("{ai}/{v}/"));
            }
            let _ = parse_element_string(&es);
            let _ = parse_digital_link(&dl);
        }
    }

    /// The NSN rule: 13 digits, or exactly `NNNN-NN-NNN-NNNN`; nothing in
    /// between, nothing around.
    #[test]
    fn nsn_rule_all_three_dashes_or_none() {
        let nsn = Nsn::parse("2510010288573").expect("plain");
        assert_eq!(Nsn::parse("2510-01-028-8573"), Ok(nsn));
        for partly_dashed in [
            "2510-010288573",
            "2510-01-0288573",
            "251001-028-8573",
            "2510--01-028-8573",
            "2510-01-028-8573-",
            "-2510010288573",
        ] {
            assert!(
                matches!(Nsn::parse(partly_dashed), Err(Gs1Error::Syntax(_))),
                "{partly_dashed}"
            );
        }
        assert_eq!(
            Nsn::parse("2510-01-028-857"),
            Err(Gs1Error::Length {
                key: Key::Nsn,
                found: 12
            })
        );
        assert_eq!(
            Nsn::parse(" 2510010288573"),
            Err(Gs1Error::NotDigits(Key::Nsn))
        );
        assert_eq!(
            Nsn::parse("2510 01 028 8573"),
            Err(Gs1Error::NotDigits(Key::Nsn))
        );
        assert_eq!(Nsn::parse(""), Err(Gs1Error::Empty));
        // The brief's vector, both ways through AI (7001).
        let scanned = parse_element_string("(7001)2510010288573").expect("parses");
        assert_eq!(
            scanned.nsn.map(|n| n.to_string()),
            Some("2510-01-028-8573".into())
        );
        assert_eq!(nsn.element_string().to_string(), "(7001)2510010288573");
        assert!(parse_element_string("(7001)2510-01-028-8573").is_err());
    }

    proptest::proptest! {
        /// Every NSN reads back from both its forms and its element string.
        #[test]
        fn nsn_forms_round_trip(digits in "[0-9]{13}") {
            let nsn = Nsn::parse(&digits).expect("13 digits");
            proptest::prop_assert_eq!(nsn.digits(), digits.as_str());
            let shown = std::format!("{nsn}");
            proptest::prop_assert_eq!(Nsn::parse(&shown), Ok(nsn));
            let es = std::format!("{}", nsn.element_string());
            proptest::prop_assert_eq!(parse_element_string(&es).map(|d| d.nsn), Ok(Some(nsn)));
        }

        /// Dashes anywhere but exactly the three places, or some of them
        /// only, are refused.
        #[test]
        fn nsn_dashes_elsewhere_are_refused(
            digits in "[0-9]{13}",
            dashes in proptest::collection::btree_set(0usize..14, 1..4),
        ) {
            let mut text = std::string::String::new();
            for (i, c) in digits.chars().enumerate() {
                if dashes.contains(&i) {
                    text.push('-');
                }
                text.push(c);
            }
            if dashes.contains(&13) {
                text.push('-');
            }
            let shown = dashes.iter().copied().eq([4, 6, 9]);
            proptest::prop_assert_eq!(Nsn::parse(&text).is_ok(), shown, "{}", text);
        }

        /// A GTIN built from any body parses back; any other last digit is
        /// refused with the expected one named.
        #[test]
        fn gtin_check_digit_round_trips(body in "[0-9]{13}", wrong in 1u8..10) {
            let body: [u8; 13] = body.as_bytes().try_into().expect("13 bytes");
            let gtin = Gtin::from_body(&body).expect("digits");
            proptest::prop_assert_eq!(Gtin::parse(gtin.as_str()), Ok(gtin));
            let check = gtin.digits()[13] - b'0';
            let mut bad = *gtin.digits();
            bad[13] = b'0' + (check + wrong) % 10;
            let bad = core::str::from_utf8(&bad).expect("ascii");
            proptest::prop_assert_eq!(
                Gtin::parse(bad),
                Err(Gs1Error::CheckDigit { key: Key::Gtin, expected: check, found: (check + wrong) % 10 })
            );
        }
    }

    #[test]
    fn grai_value_is_checked() {
        assert!(parse_element_string("(8003)00614141123452400").is_ok());
        assert!(parse_element_string("(8003)00614141123453400").is_err());
        assert!(parse_element_string("(8003)10614141123452").is_err());
    }
}
