//! EPC binary encodings of the GS1 EPC Tag Data Standard (TDS): decode the EPC
//! bank of a tag to a typed [`Epc`], encode it back, and show it as tag URI,
//! pure-identity URI, GS1 element string and GS1 Digital Link.
//!
//! Schemes: SGTIN-96/198, SSCC-96, SGLN-96/195, GRAI-96/170, GIAI-96/202,
//! USDOD-96 (DoD-96) and ADI-var; any other header decodes to
//! [`Epc::Unknown`] without error. Every field limit of the TDS is checked both
//! ways: partition 0–6, company prefix and reference digit counts, numeric
//! serials without leading zeros that fit their bit width, 7-bit strings from
//! GS1 character set 82 with zero padding, 6-bit ADI strings, filter widths.
//!
//! This module owns the binary layout and the URI syntax; check digits and
//! scanner strings belong to [`crate::gs1`].
//!
//! Binary lengths: fixed-length schemes encode to `ceil(bits / 8)` bytes
//! (SGTIN-198 → 25 bytes, as TDS prints it); ADI-var is padded to whole 16-bit
//! words, as it lies in tag memory. Decoding accepts longer input (a tag's EPC
//! bank is word-aligned) and ignores bits past the scheme's length.

mod uri;

use core::fmt;

use crate::bits::{BitReader, BitWriter};
use crate::gs1::{self, Gln, Gs1Data, Gs1Error, Gtin, Sscc};
use crate::text::{EpcBytes, Text, EPC_MAX_BYTES};

pub use uri::{DigitalLink, ElementString, PureIdentityUri, TagUri};

/// The company prefix length [`Epc::parse`] assumes for GS1 element strings and
/// Digital Links, which do not carry it. Use [`Epc::from_gs1`] to give the real one.
pub const DEFAULT_COMPANY_PREFIX_DIGITS: u8 = 7;

/// A field of an EPC, named in errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Filter,
    CompanyPrefix,
    ItemReference,
    SerialReference,
    LocationReference,
    Extension,
    AssetType,
    AssetReference,
    Serial,
    Cage,
    PartNumber,
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Field::Filter => "filter",
            Field::CompanyPrefix => "company prefix",
            Field::ItemReference => "item reference",
            Field::SerialReference => "serial reference",
            Field::LocationReference => "location reference",
            Field::Extension => "extension",
            Field::AssetType => "asset type",
            Field::AssetReference => "asset reference",
            Field::Serial => "serial",
            Field::Cage => "CAGE/DoDAAC",
            Field::PartNumber => "part number",
        })
    }
}

/// Why an EPC could not be decoded, encoded or parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EpcError {
    /// No input.
    Empty,
    /// Hex input with a non-hex character or an odd number of digits.
    InvalidHex,
    /// More than 62 bytes (496 bits), the most a Gen2 EPC bank holds.
    TooLong,
    /// Fewer bits than the scheme needs; `bits` is how many were given.
    Truncated { scheme: Scheme, bits: u16 },
    /// Partition values 0–6 are defined; 7 is not.
    InvalidPartition(u8),
    /// A numeric field does not fit its bit width.
    ValueTooLarge { field: Field, bits: u8 },
    /// A decoded numeric field has more decimal digits than its partition allows.
    TooManyDigits { field: Field, digits: u8 },
    /// A URI field has the wrong number of digits for its partition.
    DigitCount { field: Field, expected: u8 },
    /// A company prefix must have 6 to 12 digits.
    CompanyPrefixLength(u8),
    /// A numeric serial or reference must not start with 0 (except `0` itself).
    LeadingZero(Field),
    /// A field that must hold characters is empty.
    EmptyField(Field),
    /// A string field is longer than its scheme allows.
    TooManyChars { field: Field, max: u8 },
    /// A character outside the field's character set.
    InvalidChar(Field),
    /// Bits after a string's terminator are not zero.
    NonZeroPadding(Field),
    /// The output buffer is too small.
    BufferTooSmall { needed: u8 },
    /// An unknown header cannot be shown as a GS1 key or encoded from a URI.
    UnknownScheme,
    /// A GS1 key or scanner string was refused.
    Gs1(Gs1Error),
    /// The input is not any EPC notation this crate reads.
    Syntax(&'static str),
}

impl core::error::Error for EpcError {}

impl fmt::Display for EpcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            EpcError::Empty => f.write_str("EPC is empty"),
            EpcError::InvalidHex => f.write_str("EPC hex must be an even number of hex digits"),
            EpcError::TooLong => f.write_str("EPC is longer than 496 bits"),
            EpcError::Truncated { scheme, bits } => match scheme.bits() {
                Some(needed) => write!(f, "{scheme} needs {needed} bits, got {bits}"),
                None => write!(f, "{scheme} ends early: {bits} bits are not enough"),
            },
            EpcError::InvalidPartition(p) => write!(f, "partition {p} is invalid"),
            EpcError::ValueTooLarge { field, bits } => {
                write!(f, "{field} does not fit in {bits} bits")
            }
            EpcError::TooManyDigits { field, digits } => {
                write!(f, "{field} has more than {digits} digits")
            }
            EpcError::DigitCount { field, expected } => {
                write!(f, "{field} must have {expected} digits")
            }
            EpcError::CompanyPrefixLength(n) => {
                write!(f, "company prefix must have 6 to 12 digits, not {n}")
            }
            EpcError::LeadingZero(field) => write!(f, "numeric {field} must not start with 0"),
            EpcError::EmptyField(field) => write!(f, "{field} is empty"),
            EpcError::TooManyChars { field, max } => {
                write!(f, "{field} is longer than {max} characters")
            }
            EpcError::InvalidChar(field) => write!(f, "{field} has a character outside its set"),
            EpcError::NonZeroPadding(field) => {
                write!(f, "{field} has non-zero bits after its end")
            }
            EpcError::BufferTooSmall { needed } => {
                write!(f, "output buffer too small, {needed} bytes needed")
            }
            EpcError::UnknownScheme => f.write_str("EPC scheme is not supported"),
            EpcError::Gs1(e) => fmt::Display::fmt(&e, f),
            EpcError::Syntax(what) => f.write_str(what),
        }
    }
}

impl From<Gs1Error> for EpcError {
    fn from(e: Gs1Error) -> Self {
        EpcError::Gs1(e)
    }
}

/// The binary coding schemes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Sgtin96,
    Sgtin198,
    Sscc96,
    Sgln96,
    Sgln195,
    Grai96,
    Grai170,
    Giai96,
    Giai202,
    Usdod96,
    AdiVar,
    /// Any other header.
    Unknown,
}

const SCHEMES: [Scheme; 11] = [
    Scheme::Sgtin96,
    Scheme::Sgtin198,
    Scheme::Sscc96,
    Scheme::Sgln96,
    Scheme::Sgln195,
    Scheme::Grai96,
    Scheme::Grai170,
    Scheme::Giai96,
    Scheme::Giai202,
    Scheme::Usdod96,
    Scheme::AdiVar,
];

impl Scheme {
    /// The tag-URI name, e.g. `sgtin-96`.
    pub fn name(self) -> &'static str {
        match self {
            Scheme::Sgtin96 => "sgtin-96",
            Scheme::Sgtin198 => "sgtin-198",
            Scheme::Sscc96 => "sscc-96",
            Scheme::Sgln96 => "sgln-96",
            Scheme::Sgln195 => "sgln-195",
            Scheme::Grai96 => "grai-96",
            Scheme::Grai170 => "grai-170",
            Scheme::Giai96 => "giai-96",
            Scheme::Giai202 => "giai-202",
            Scheme::Usdod96 => "usdod-96",
            Scheme::AdiVar => "adi-var",
            Scheme::Unknown => "unknown",
        }
    }

    /// The 8-bit header (TDS table 14-1).
    pub fn header(self) -> Option<u8> {
        Some(match self {
            Scheme::Sgtin96 => 0x30,
            Scheme::Sscc96 => 0x31,
            Scheme::Sgln96 => 0x32,
            Scheme::Grai96 => 0x33,
            Scheme::Giai96 => 0x34,
            Scheme::Sgtin198 => 0x36,
            Scheme::Grai170 => 0x37,
            Scheme::Giai202 => 0x38,
            Scheme::Sgln195 => 0x39,
            Scheme::AdiVar => 0x3B,
            Scheme::Usdod96 => 0x2F,
            Scheme::Unknown => return None,
        })
    }

    /// The scheme's fixed length in bits; `None` for ADI-var and unknown.
    pub fn bits(self) -> Option<u16> {
        Some(match self {
            Scheme::Sgtin96
            | Scheme::Sscc96
            | Scheme::Sgln96
            | Scheme::Grai96
            | Scheme::Giai96
            | Scheme::Usdod96 => 96,
            Scheme::Sgtin198 => 198,
            Scheme::Sgln195 => 195,
            Scheme::Grai170 => 170,
            Scheme::Giai202 => 202,
            Scheme::AdiVar | Scheme::Unknown => return None,
        })
    }

    fn from_header(header: u8) -> Scheme {
        SCHEMES
            .into_iter()
            .find(|s| s.header() == Some(header))
            .unwrap_or(Scheme::Unknown)
    }

    fn from_name(name: &str) -> Option<Scheme> {
        SCHEMES.into_iter().find(|s| s.name() == name)
    }

    /// Width of the filter field.
    fn filter_bits(self) -> u8 {
        match self {
            Scheme::Usdod96 => 4,
            Scheme::AdiVar => 6,
            _ => 3,
        }
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A GS1 Company Prefix: its value and its length in digits (6–12), which the
/// partition field encodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CompanyPrefix {
    value: u64,
    digits: u8,
}

impl CompanyPrefix {
    /// A prefix of `digits` (6–12) digits with numeric `value`.
    pub fn new(value: u64, digits: u8) -> Result<Self, EpcError> {
        if !(6..=12).contains(&digits) {
            return Err(EpcError::CompanyPrefixLength(digits));
        }
        if value >= pow10(digits) {
            return Err(EpcError::TooManyDigits {
                field: Field::CompanyPrefix,
                digits,
            });
        }
        Ok(Self { value, digits })
    }

    /// Parses a prefix from its digits; the length counts (leading zeros matter).
    pub fn parse(s: &str) -> Result<Self, EpcError> {
        let n = s.len().min(255) as u8;
        if !(6..=12).contains(&n) {
            return Err(EpcError::CompanyPrefixLength(n));
        }
        Self::new(parse_digits(s.as_bytes(), Field::CompanyPrefix)?, n)
    }

    /// The numeric value.
    pub fn value(&self) -> u64 {
        self.value
    }

    /// The number of digits.
    pub fn digits(&self) -> u8 {
        self.digits
    }

    /// The partition value (0 for 12 digits … 6 for 6 digits).
    pub fn partition(&self) -> u8 {
        12u8.saturating_sub(self.digits)
    }
}

impl fmt::Display for CompanyPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Padded(self.value, self.digits).fmt(f)
    }
}

/// A decoded EPC. Fields are public so callers can build one; [`Epc::encode`]
/// checks every limit, so a hand-built value that breaks one is refused there.
///
/// Reference fields (item reference, serial reference, location reference,
/// asset type) are numbers whose digit count follows from the company
/// prefix: 13, 17 or 12 digits in all minus the prefix's digits. The SGTIN
/// item reference includes the indicator digit, the SSCC serial reference the
/// extension digit, as in the TDS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Epc {
    Sgtin96 {
        filter: u8,
        company_prefix: CompanyPrefix,
        item_reference: u64,
        serial: u64,
    },
    Sgtin198 {
        filter: u8,
        company_prefix: CompanyPrefix,
        item_reference: u64,
        serial: Text<20>,
    },
    Sscc96 {
        filter: u8,
        company_prefix: CompanyPrefix,
        serial_reference: u64,
    },
    Sgln96 {
        filter: u8,
        company_prefix: CompanyPrefix,
        location_reference: u64,
        extension: u64,
    },
    Sgln195 {
        filter: u8,
        company_prefix: CompanyPrefix,
        location_reference: u64,
        extension: Text<20>,
    },
    Grai96 {
        filter: u8,
        company_prefix: CompanyPrefix,
        asset_type: u64,
        serial: u64,
    },
    Grai170 {
        filter: u8,
        company_prefix: CompanyPrefix,
        asset_type: u64,
        serial: Text<16>,
    },
    Giai96 {
        filter: u8,
        company_prefix: CompanyPrefix,
        asset_reference: u64,
    },
    Giai202 {
        filter: u8,
        company_prefix: CompanyPrefix,
        asset_reference: Text<24>,
    },
    /// US DoD-96: a 5-character CAGE or 6-character DoDAAC and a 36-bit serial.
    Usdod96 {
        filter: u8,
        cage: Text<6>,
        serial: u64,
    },
    /// Aerospace and Defense, variable length. The serial may start with `#`.
    AdiVar {
        filter: u8,
        cage: Text<6>,
        part_number: Text<32>,
        serial: Text<30>,
    },
    /// A header this crate does not interpret; `raw` holds the bytes as read.
    Unknown { header: u8, raw: EpcBytes },
}

/// The serial of an EPC, numeric or text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Serial<'a> {
    Numeric(u64),
    Text(&'a str),
}

impl fmt::Display for Serial<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Serial::Numeric(n) => write!(f, "{n}"),
            Serial::Text(s) => f.write_str(s),
        }
    }
}

/// One row of a partition table: company prefix bits/digits, then the
/// following reference's bits/digits (digits 0 = no decimal limit).
#[derive(Clone, Copy)]
struct Row {
    cp_bits: u8,
    ref_bits: u8,
    ref_digits: u8,
}

const fn rows(refs: [(u8, u8); 7]) -> [Row; 7] {
    let cp_bits = [40, 37, 34, 30, 27, 24, 20];
    let mut out = [Row {
        cp_bits: 0,
        ref_bits: 0,
        ref_digits: 0,
    }; 7];
    let mut i = 0;
    while i < 7 {
        out[i] = Row {
            cp_bits: cp_bits[i],
            ref_bits: refs[i].0,
            ref_digits: refs[i].1,
        };
        i += 1;
    }
    out
}

// TDS partition tables; company prefix is 40/37/34/30/27/24/20 bits for
// 12/11/10/9/8/7/6 digits in every table.
/// SGTIN: item reference incl. indicator, 13 digits with the prefix.
const SGTIN: [Row; 7] = rows([(4, 1), (7, 2), (10, 3), (14, 4), (17, 5), (20, 6), (24, 7)]);
/// SSCC: serial reference incl. extension digit, 17 digits with the prefix.
const SSCC: [Row; 7] = rows([
    (18, 5),
    (21, 6),
    (24, 7),
    (28, 8),
    (31, 9),
    (34, 10),
    (38, 11),
]);
/// SGLN: location reference, 12 digits with the prefix.
const SGLN: [Row; 7] = rows([(1, 0), (4, 1), (7, 2), (11, 3), (14, 4), (17, 5), (21, 6)]);
/// GRAI: asset type, 12 digits with the prefix (44 bits like SGTIN).
const GRAI: [Row; 7] = rows([(4, 0), (7, 1), (10, 2), (14, 3), (17, 4), (20, 5), (24, 6)]);
/// GIAI-96: integer asset reference, limited by bits only.
const GIAI96: [Row; 7] = rows([
    (42, 0),
    (45, 0),
    (48, 0),
    (52, 0),
    (55, 0),
    (58, 0),
    (62, 0),
]);
/// GIAI-202: 7-bit asset reference; the digits column is the character limit.
const GIAI202: [Row; 7] = rows([
    (148, 18),
    (151, 19),
    (154, 20),
    (158, 21),
    (161, 22),
    (164, 23),
    (168, 24),
]);

/// Digits of the reference that follows a prefix of `cp_digits`, in a key of `total` digits.
fn ref_digits(total: u8, cp: &CompanyPrefix) -> u8 {
    total.saturating_sub(cp.digits)
}

fn pow10(n: u8) -> u64 {
    10u64.saturating_pow(u32::from(n))
}

fn parse_digits(s: &[u8], field: Field) -> Result<u64, EpcError> {
    if s.len() > 19 {
        return Err(EpcError::TooManyDigits { field, digits: 19 });
    }
    let mut v: u64 = 0;
    for &b in s {
        if !b.is_ascii_digit() {
            return Err(EpcError::InvalidChar(field));
        }
        v = v * 10 + u64::from(b - b'0');
    }
    Ok(v)
}

/// A canonical decimal: digits, no leading zero unless `0`, below 2^bits.
fn parse_integer(s: &[u8], field: Field, bits: u8) -> Result<u64, EpcError> {
    if s.is_empty() {
        return Err(EpcError::EmptyField(field));
    }
    if s.len() > 1 && s[0] == b'0' {
        return Err(EpcError::LeadingZero(field));
    }
    if s.len() > 20 || (s.len() == 20 && s > b"18446744073709551615".as_slice()) {
        return Err(EpcError::ValueTooLarge { field, bits });
    }
    let mut v: u64 = 0;
    for &b in s {
        if !b.is_ascii_digit() {
            return Err(EpcError::InvalidChar(field));
        }
        v = v.wrapping_mul(10).wrapping_add(u64::from(b - b'0'));
    }
    check_bits(v, field, bits)?;
    Ok(v)
}

fn check_bits(v: u64, field: Field, bits: u8) -> Result<(), EpcError> {
    if bits < 64 && v >> bits != 0 {
        return Err(EpcError::ValueTooLarge { field, bits });
    }
    Ok(())
}

/// Whether `s` is a canonical integer that fits `bits`, i.e. the 96-bit form can hold it.
fn fits_integer(s: &[u8], bits: u8) -> Option<u64> {
    parse_integer(s, Field::Serial, bits).ok()
}

// ----------------------------------------------------------------- decoding

struct Decoder<'a> {
    r: BitReader<'a>,
    scheme: Scheme,
    /// Bits given, header included (≤ 496).
    given_bits: u16,
}

impl Decoder<'_> {
    fn bits(&mut self, n: u8) -> Result<u64, EpcError> {
        self.r.read(u32::from(n)).ok_or(EpcError::Truncated {
            scheme: self.scheme,
            bits: self.given_bits,
        })
    }

    fn partition(&mut self) -> Result<usize, EpcError> {
        // Three bits: 0..=7, of which 7 is undefined.
        let p = self.bits(3)? as u8;
        if p > 6 {
            return Err(EpcError::InvalidPartition(p));
        }
        Ok(usize::from(p))
    }

    fn company_prefix(&mut self, row: Row, p: usize) -> Result<CompanyPrefix, EpcError> {
        // p ≤ 6 so the prefix has 12 - p ≥ 6 digits.
        let digits = 12 - p as u8;
        let value = self.bits(row.cp_bits)?;
        CompanyPrefix::new(value, digits)
    }

    fn reference(&mut self, row: Row, field: Field) -> Result<u64, EpcError> {
        let v = self.bits(row.ref_bits)?;
        // GIAI-96 asset references are limited by bits only (digits 0 in its table).
        let limited = row.ref_digits > 0 || field != Field::AssetReference;
        if limited && v >= pow10(row.ref_digits) {
            return Err(EpcError::TooManyDigits {
                field,
                digits: row.ref_digits,
            });
        }
        Ok(v)
    }

    /// The partition, prefix and reference of a GS1 key with table `t`.
    fn key(&mut self, t: &[Row; 7], field: Field) -> Result<(CompanyPrefix, u64), EpcError> {
        let p = self.partition()?;
        let cp = self.company_prefix(t[p], p)?;
        let r = self.reference(t[p], field)?;
        Ok((cp, r))
    }

    /// A 7-bit string of `field_bits`, ending at the first zero character.
    fn string7<const N: usize>(
        &mut self,
        field_bits: u16,
        field: Field,
    ) -> Result<Text<N>, EpcError> {
        let mut text = Text::new();
        let mut ended = false;
        for _ in 0..field_bits / 7 {
            let c = self.bits(7)? as u8;
            if c == 0 {
                ended = true;
            } else if ended {
                return Err(EpcError::NonZeroPadding(field));
            } else if !gs1::is_cset82(c) {
                return Err(EpcError::InvalidChar(field));
            } else if !text.push(c) {
                return Err(EpcError::TooManyChars {
                    field,
                    max: N.min(255) as u8,
                });
            }
        }
        // field_bits % 7 < 7.
        let rest = (field_bits % 7) as u8;
        if rest > 0 && self.bits(rest)? != 0 {
            return Err(EpcError::NonZeroPadding(field));
        }
        if text.is_empty() {
            return Err(EpcError::EmptyField(field));
        }
        Ok(text)
    }

    /// A 6-bit ADI string ending with a zero character (the terminator is read).
    fn string6<const N: usize>(&mut self, field: Field) -> Result<Text<N>, EpcError> {
        let mut text = Text::new();
        loop {
            let c = self.bits(6)? as u8;
            if c == 0 {
                return Ok(text);
            }
            let ch = from_six_bit(c);
            if !text.push(ch) {
                return Err(EpcError::TooManyChars {
                    field,
                    max: N.min(255) as u8,
                });
            }
        }
    }
}

fn from_six_bit(c: u8) -> u8 {
    if c < 0x20 {
        c | 0x40
    } else {
        c
    }
}

fn to_six_bit(ch: u8) -> u8 {
    ch & 0x3F
}

fn is_cage_char(b: u8, adi: bool) -> bool {
    b.is_ascii_digit() || (b.is_ascii_uppercase() && !(adi && matches!(b, b'I' | b'O')))
}

fn is_adi_char(b: u8) -> bool {
    b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-' || b == b'/'
}

/// CAGE (5 characters, stored with a leading space) or DoDAAC (6).
fn check_cage(cage: &[u8], adi: bool) -> Result<(), EpcError> {
    if !(5..=6).contains(&cage.len()) {
        return Err(EpcError::TooManyChars {
            field: Field::Cage,
            max: 6,
        });
    }
    if !cage.iter().all(|&b| is_cage_char(b, adi)) {
        return Err(EpcError::InvalidChar(Field::Cage));
    }
    Ok(())
}

fn check_adi(part: &[u8], serial: &[u8]) -> Result<(), EpcError> {
    if part.len() > 32 {
        return Err(EpcError::TooManyChars {
            field: Field::PartNumber,
            max: 32,
        });
    }
    if !part.iter().all(|&b| is_adi_char(b)) {
        return Err(EpcError::InvalidChar(Field::PartNumber));
    }
    let body = serial.strip_prefix(b"#").unwrap_or(serial);
    if body.is_empty() {
        return Err(EpcError::EmptyField(Field::Serial));
    }
    if serial.len() > 30 {
        return Err(EpcError::TooManyChars {
            field: Field::Serial,
            max: 30,
        });
    }
    if !body.iter().all(|&b| is_adi_char(b)) {
        return Err(EpcError::InvalidChar(Field::Serial));
    }
    Ok(())
}

fn check_string7(s: &[u8], field: Field, max: u8) -> Result<(), EpcError> {
    if s.is_empty() {
        return Err(EpcError::EmptyField(field));
    }
    if s.len() > usize::from(max) {
        return Err(EpcError::TooManyChars { field, max });
    }
    if !s.iter().all(|&b| gs1::is_cset82(b)) {
        return Err(EpcError::InvalidChar(field));
    }
    Ok(())
}

impl Epc {
    /// Decodes the binary EPC in `bytes` (header first). Unknown headers give
    /// [`Epc::Unknown`]; bits past the scheme's length are ignored.
    pub fn decode(bytes: &[u8]) -> Result<Epc, EpcError> {
        let header = *bytes.first().ok_or(EpcError::Empty)?;
        if bytes.len() > EPC_MAX_BYTES {
            return Err(EpcError::TooLong);
        }
        let scheme = Scheme::from_header(header);
        if let Some(bits) = scheme.bits() {
            if bytes.len() * 8 < usize::from(bits) {
                return Err(EpcError::Truncated {
                    scheme,
                    bits: (bytes.len() * 8) as u16,
                });
            }
        }
        let mut d = Decoder {
            r: BitReader::new(&bytes[1..]),
            scheme,
            // At most 62 bytes (checked above).
            given_bits: (bytes.len() * 8) as u16,
        };
        // Filter widths are 3, 4 or 6 bits, so the value fits a u8.
        let filter = if scheme == Scheme::Unknown {
            0
        } else {
            d.bits(scheme.filter_bits())? as u8
        };
        Ok(match scheme {
            Scheme::Sgtin96 => {
                let (company_prefix, item_reference) = d.key(&SGTIN, Field::ItemReference)?;
                Epc::Sgtin96 {
                    filter,
                    company_prefix,
                    item_reference,
                    serial: d.bits(38)?,
                }
            }
            Scheme::Sgtin198 => {
                let (company_prefix, item_reference) = d.key(&SGTIN, Field::ItemReference)?;
                Epc::Sgtin198 {
                    filter,
                    company_prefix,
                    item_reference,
                    serial: d.string7(140, Field::Serial)?,
                }
            }
            Scheme::Sscc96 => {
                let (company_prefix, serial_reference) = d.key(&SSCC, Field::SerialReference)?;
                // 24 bits unallocated; TDS requires zeros.
                if d.bits(24)? != 0 {
                    return Err(EpcError::NonZeroPadding(Field::SerialReference));
                }
                Epc::Sscc96 {
                    filter,
                    company_prefix,
                    serial_reference,
                }
            }
            Scheme::Sgln96 => {
                let (company_prefix, location_reference) =
                    d.key(&SGLN, Field::LocationReference)?;
                Epc::Sgln96 {
                    filter,
                    company_prefix,
                    location_reference,
                    extension: d.bits(41)?,
                }
            }
            Scheme::Sgln195 => {
                let (company_prefix, location_reference) =
                    d.key(&SGLN, Field::LocationReference)?;
                Epc::Sgln195 {
                    filter,
                    company_prefix,
                    location_reference,
                    extension: d.string7(140, Field::Extension)?,
                }
            }
            Scheme::Grai96 => {
                let (company_prefix, asset_type) = d.key(&GRAI, Field::AssetType)?;
                Epc::Grai96 {
                    filter,
                    company_prefix,
                    asset_type,
                    serial: d.bits(38)?,
                }
            }
            Scheme::Grai170 => {
                let (company_prefix, asset_type) = d.key(&GRAI, Field::AssetType)?;
                Epc::Grai170 {
                    filter,
                    company_prefix,
                    asset_type,
                    serial: d.string7(112, Field::Serial)?,
                }
            }
            Scheme::Giai96 => {
                let (company_prefix, asset_reference) = d.key(&GIAI96, Field::AssetReference)?;
                Epc::Giai96 {
                    filter,
                    company_prefix,
                    asset_reference,
                }
            }
            Scheme::Giai202 => {
                let p = d.partition()?;
                let row = GIAI202[p];
                let company_prefix = d.company_prefix(row, p)?;
                let asset_reference: Text<24> =
                    d.string7(u16::from(row.ref_bits), Field::AssetReference)?;
                if asset_reference.len() > usize::from(row.ref_digits) {
                    return Err(EpcError::TooManyChars {
                        field: Field::AssetReference,
                        max: row.ref_digits,
                    });
                }
                Epc::Giai202 {
                    filter,
                    company_prefix,
                    asset_reference,
                }
            }
            Scheme::Usdod96 => {
                let mut raw = [0u8; 6];
                for b in raw.iter_mut() {
                    // Eight bits per character.
                    *b = d.bits(8)? as u8;
                }
                let cage_bytes = raw.strip_prefix(b" ").unwrap_or(&raw);
                check_cage(cage_bytes, false)?;
                let cage =
                    Text::from_ascii(cage_bytes).ok_or(EpcError::InvalidChar(Field::Cage))?;
                Epc::Usdod96 {
                    filter,
                    cage,
                    serial: d.bits(36)?,
                }
            }
            Scheme::AdiVar => {
                let mut raw = [0u8; 6];
                for b in raw.iter_mut() {
                    // Six bits per character.
                    *b = from_six_bit(d.bits(6)? as u8);
                }
                let cage_bytes = raw.strip_prefix(b" ").unwrap_or(&raw);
                check_cage(cage_bytes, true)?;
                let cage =
                    Text::from_ascii(cage_bytes).ok_or(EpcError::InvalidChar(Field::Cage))?;
                let part_number: Text<32> = d.string6(Field::PartNumber)?;
                let serial: Text<30> = d.string6(Field::Serial)?;
                check_adi(part_number.as_bytes(), serial.as_bytes())?;
                Epc::AdiVar {
                    filter,
                    cage,
                    part_number,
                    serial,
                }
            }
            Scheme::Unknown => Epc::Unknown {
                header,
                raw: EpcBytes::new(bytes).ok_or(EpcError::TooLong)?,
            },
        })
    }

    /// Decodes hex digits (either case, surrounding whitespace ignored).
    pub fn from_hex(hex: &str) -> Result<Epc, EpcError> {
        let h = hex.trim().as_bytes();
        if h.is_empty() {
            return Err(EpcError::Empty);
        }
        if h.len() % 2 != 0 {
            return Err(EpcError::InvalidHex);
        }
        if h.len() > EPC_MAX_BYTES * 2 {
            return Err(EpcError::TooLong);
        }
        let mut buf = [0u8; EPC_MAX_BYTES];
        for (i, pair) in h.chunks_exact(2).enumerate() {
            let nib = |c: u8| (c as char).to_digit(16).ok_or(EpcError::InvalidHex);
            // Two hex digits make one byte.
            buf[i] = (nib(pair[0])? * 16 + nib(pair[1])?) as u8;
        }
        Epc::decode(&buf[..h.len() / 2])
    }

    /// Parses any notation an operator or scanner may give: hex, tag URI
    /// (`urn:epc:tag:…`), pure-identity URI (`urn:epc:id:…`, encoded with the
    /// natural binary scheme and filter 0: the 96-bit form when the serial fits
    /// it, else the long form), raw URI (`urn:epc:raw:…`), a GS1 Digital Link
    /// on any host, or a GS1 element string. The last two carry no company
    /// prefix length; [`DEFAULT_COMPANY_PREFIX_DIGITS`] is assumed (use
    /// [`Epc::from_gs1`] with the real length, or compare by [`Epc::gtin`] and
    /// [`Epc::serial`], which do not depend on it).
    pub fn parse(input: &str) -> Result<Epc, EpcError> {
        let s = input.trim();
        let starts = |p: &str| s.get(..p.len()).is_some_and(|h| h.eq_ignore_ascii_case(p));
        if starts("urn:epc:tag:") {
            uri::parse_tag_uri(&s[12..])
        } else if starts("urn:epc:id:") {
            uri::parse_pure_uri(&s[11..])
        } else if starts("urn:epc:raw:") {
            uri::parse_raw_uri(&s[12..])
        } else if starts("http://") || starts("https://") {
            let data = gs1::parse_digital_link(s)?;
            Epc::from_gs1(&data, DEFAULT_COMPANY_PREFIX_DIGITS)
        } else if s.starts_with('(') || s.starts_with(']') {
            let data = gs1::parse_element_string(s)?;
            Epc::from_gs1(&data, DEFAULT_COMPANY_PREFIX_DIGITS)
        } else {
            Epc::from_hex(s)
        }
    }

    /// The EPC of the GS1 key in `data` — SGTIN from (01)+(21), SSCC from (00),
    /// SGLN from (414)[+(254)], GRAI from (8003), GIAI from (8004) — with a
    /// company prefix of `company_prefix_digits`, filter 0, natural binary scheme.
    pub fn from_gs1(data: &Gs1Data, company_prefix_digits: u8) -> Result<Epc, EpcError> {
        let cpd = usize::from(company_prefix_digits);
        if !(6..=12).contains(&cpd) {
            return Err(EpcError::CompanyPrefixLength(company_prefix_digits));
        }
        let num = |s: &[u8], field| parse_digits(s, field);
        if let (Some(gtin), Some(serial)) = (data.gtin, data.serial) {
            let d = gtin.digits();
            let company_prefix = CompanyPrefix::new(
                num(&d[1..1 + cpd], Field::CompanyPrefix)?,
                company_prefix_digits,
            )?;
            let mut item = [0u8; 13];
            item[0] = d[0];
            let rest = &d[1 + cpd..13];
            item[1..1 + rest.len()].copy_from_slice(rest);
            let item_reference = num(&item[..1 + rest.len()], Field::ItemReference)?;
            return sgtin_natural(0, company_prefix, item_reference, serial.as_bytes());
        }
        if let Some(sscc) = data.sscc {
            let d = sscc.digits();
            let company_prefix = CompanyPrefix::new(
                num(&d[1..1 + cpd], Field::CompanyPrefix)?,
                company_prefix_digits,
            )?;
            let mut sr = [0u8; 17];
            sr[0] = d[0];
            let rest = &d[1 + cpd..17];
            sr[1..1 + rest.len()].copy_from_slice(rest);
            return Ok(Epc::Sscc96 {
                filter: 0,
                company_prefix,
                serial_reference: num(&sr[..1 + rest.len()], Field::SerialReference)?,
            });
        }
        if let Some(gln) = data.gln {
            let d = gln.digits();
            let company_prefix =
                CompanyPrefix::new(num(&d[..cpd], Field::CompanyPrefix)?, company_prefix_digits)?;
            let location_reference = num(&d[cpd..12], Field::LocationReference)?;
            let ext = data
                .gln_extension
                .unwrap_or(Text::from_ascii(b"0").unwrap_or_default());
            return sgln_natural(0, company_prefix, location_reference, ext.as_bytes());
        }
        if let Some(grai) = data.grai {
            let v = grai.as_bytes();
            // gs1 checked: "0", 13 digits with check digit, then the serial.
            let company_prefix = CompanyPrefix::new(
                num(&v[1..1 + cpd], Field::CompanyPrefix)?,
                company_prefix_digits,
            )?;
            let asset_type = num(&v[1 + cpd..13], Field::AssetType)?;
            return grai_natural(0, company_prefix, asset_type, &v[14..]);
        }
        if let Some(giai) = data.giai {
            let v = giai.as_bytes();
            if v.len() <= cpd {
                return Err(EpcError::EmptyField(Field::AssetReference));
            }
            let company_prefix =
                CompanyPrefix::new(num(&v[..cpd], Field::CompanyPrefix)?, company_prefix_digits)?;
            return giai_natural(0, company_prefix, &v[cpd..]);
        }
        if data.gtin.is_some() {
            return Err(EpcError::Syntax("a GTIN without serial (21) is no EPC"));
        }
        Err(EpcError::Syntax(
            "no GS1 key that makes an EPC: (01)+(21), (00), (414), (8003) or (8004)",
        ))
    }

    /// The binary coding scheme.
    pub fn scheme(&self) -> Scheme {
        match self {
            Epc::Sgtin96 { .. } => Scheme::Sgtin96,
            Epc::Sgtin198 { .. } => Scheme::Sgtin198,
            Epc::Sscc96 { .. } => Scheme::Sscc96,
            Epc::Sgln96 { .. } => Scheme::Sgln96,
            Epc::Sgln195 { .. } => Scheme::Sgln195,
            Epc::Grai96 { .. } => Scheme::Grai96,
            Epc::Grai170 { .. } => Scheme::Grai170,
            Epc::Giai96 { .. } => Scheme::Giai96,
            Epc::Giai202 { .. } => Scheme::Giai202,
            Epc::Usdod96 { .. } => Scheme::Usdod96,
            Epc::AdiVar { .. } => Scheme::AdiVar,
            Epc::Unknown { .. } => Scheme::Unknown,
        }
    }

    /// The filter value (0 for unknown schemes).
    pub fn filter(&self) -> u8 {
        match *self {
            Epc::Sgtin96 { filter, .. }
            | Epc::Sgtin198 { filter, .. }
            | Epc::Sscc96 { filter, .. }
            | Epc::Sgln96 { filter, .. }
            | Epc::Sgln195 { filter, .. }
            | Epc::Grai96 { filter, .. }
            | Epc::Grai170 { filter, .. }
            | Epc::Giai96 { filter, .. }
            | Epc::Giai202 { filter, .. }
            | Epc::Usdod96 { filter, .. }
            | Epc::AdiVar { filter, .. } => filter,
            Epc::Unknown { .. } => 0,
        }
    }

    /// The number of bytes [`Epc::encode`] writes.
    pub fn encoded_len(&self) -> usize {
        match self {
            Epc::AdiVar {
                part_number,
                serial,
                ..
            } => {
                let bits = 8 + 6 + 36 + 6 * (part_number.len() + 1) + 6 * (serial.len() + 1);
                bits.div_ceil(16) * 2
            }
            Epc::Unknown { raw, .. } => raw.len(),
            other => usize::from(other.scheme().bits().unwrap_or(0)).div_ceil(8),
        }
    }

    /// Encodes into `out`, checking every field limit; returns the bytes written.
    pub fn encode(&self, out: &mut [u8]) -> Result<usize, EpcError> {
        let len = self.encoded_len();
        if out.len() < len {
            return Err(EpcError::BufferTooSmall {
                needed: len.min(255) as u8,
            });
        }
        if let Epc::Unknown { raw, .. } = self {
            out[..len].copy_from_slice(raw.as_bytes());
            return Ok(len);
        }
        let scheme = self.scheme();
        let mut w = Encoder {
            w: BitWriter::new(&mut out[..len]),
        };
        w.put(u64::from(scheme.header().unwrap_or(0)), 8)?;
        let filter = self.filter();
        check_bits(u64::from(filter), Field::Filter, scheme.filter_bits())?;
        w.put(u64::from(filter), scheme.filter_bits())?;
        match self {
            Epc::Sgtin96 {
                company_prefix,
                item_reference,
                serial,
                ..
            } => {
                w.key(
                    &SGTIN,
                    company_prefix,
                    *item_reference,
                    13,
                    Field::ItemReference,
                )?;
                check_bits(*serial, Field::Serial, 38)?;
                w.put(*serial, 38)?;
            }
            Epc::Sgtin198 {
                company_prefix,
                item_reference,
                serial,
                ..
            } => {
                w.key(
                    &SGTIN,
                    company_prefix,
                    *item_reference,
                    13,
                    Field::ItemReference,
                )?;
                w.string7(serial.as_bytes(), 140, 20, Field::Serial)?;
            }
            Epc::Sscc96 {
                company_prefix,
                serial_reference,
                ..
            } => {
                w.key(
                    &SSCC,
                    company_prefix,
                    *serial_reference,
                    17,
                    Field::SerialReference,
                )?;
                w.put(0, 24)?;
            }
            Epc::Sgln96 {
                company_prefix,
                location_reference,
                extension,
                ..
            } => {
                w.key(
                    &SGLN,
                    company_prefix,
                    *location_reference,
                    12,
                    Field::LocationReference,
                )?;
                check_bits(*extension, Field::Extension, 41)?;
                w.put(*extension, 41)?;
            }
            Epc::Sgln195 {
                company_prefix,
                location_reference,
                extension,
                ..
            } => {
                w.key(
                    &SGLN,
                    company_prefix,
                    *location_reference,
                    12,
                    Field::LocationReference,
                )?;
                w.string7(extension.as_bytes(), 140, 20, Field::Extension)?;
            }
            Epc::Grai96 {
                company_prefix,
                asset_type,
                serial,
                ..
            } => {
                w.key(&GRAI, company_prefix, *asset_type, 12, Field::AssetType)?;
                check_bits(*serial, Field::Serial, 38)?;
                w.put(*serial, 38)?;
            }
            Epc::Grai170 {
                company_prefix,
                asset_type,
                serial,
                ..
            } => {
                w.key(&GRAI, company_prefix, *asset_type, 12, Field::AssetType)?;
                w.string7(serial.as_bytes(), 112, 16, Field::Serial)?;
            }
            Epc::Giai96 {
                company_prefix,
                asset_reference,
                ..
            } => {
                let row = GIAI96[usize::from(company_prefix.partition())];
                w.prefix(company_prefix, row)?;
                check_bits(*asset_reference, Field::AssetReference, row.ref_bits)?;
                w.put(*asset_reference, row.ref_bits)?;
            }
            Epc::Giai202 {
                company_prefix,
                asset_reference,
                ..
            } => {
                let row = GIAI202[usize::from(company_prefix.partition())];
                w.prefix(company_prefix, row)?;
                w.string7(
                    asset_reference.as_bytes(),
                    u16::from(row.ref_bits),
                    row.ref_digits,
                    Field::AssetReference,
                )?;
            }
            Epc::Usdod96 { cage, serial, .. } => {
                check_cage(cage.as_bytes(), false)?;
                if cage.len() == 5 {
                    w.put(u64::from(b' '), 8)?;
                }
                for &b in cage.as_bytes() {
                    w.put(u64::from(b), 8)?;
                }
                check_bits(*serial, Field::Serial, 36)?;
                w.put(*serial, 36)?;
            }
            Epc::AdiVar {
                cage,
                part_number,
                serial,
                ..
            } => {
                check_cage(cage.as_bytes(), true)?;
                check_adi(part_number.as_bytes(), serial.as_bytes())?;
                if cage.len() == 5 {
                    w.put(u64::from(to_six_bit(b' ')), 6)?;
                }
                for &b in cage.as_bytes() {
                    w.put(u64::from(to_six_bit(b)), 6)?;
                }
                for &b in part_number.as_bytes() {
                    w.put(u64::from(to_six_bit(b)), 6)?;
                }
                w.put(0, 6)?;
                for &b in serial.as_bytes() {
                    w.put(u64::from(to_six_bit(b)), 6)?;
                }
                w.put(0, 6)?;
            }
            Epc::Unknown { .. } => return Err(EpcError::UnknownScheme),
        }
        Ok(len)
    }

    /// The encoded bytes (shown as canonical uppercase hex by `Display`).
    pub fn to_bytes(&self) -> Result<EpcBytes, EpcError> {
        let mut buf = [0u8; EPC_MAX_BYTES];
        let n = self.encode(&mut buf)?;
        EpcBytes::new(&buf[..n]).ok_or(EpcError::TooLong)
    }

    /// Canonical uppercase hex; same as [`Epc::to_bytes`], named for what callers print.
    pub fn hex(&self) -> Result<EpcBytes, EpcError> {
        self.to_bytes()
    }

    /// The tag URI, e.g. `urn:epc:tag:sgtin-96:3.0614141.812345.6789`; a raw
    /// URI (`urn:epc:raw:96.x…`) for unknown headers.
    pub fn tag_uri(&self) -> TagUri<'_> {
        TagUri(self)
    }

    /// The pure-identity URI, e.g. `urn:epc:id:sgtin:0614141.812345.6789`.
    pub fn pure_identity_uri(&self) -> PureIdentityUri<'_> {
        PureIdentityUri(self)
    }

    /// The GS1 element string, e.g. `(01)80614141123458(21)6789`; `None` for
    /// non-GS1 schemes (DoD, ADI, unknown).
    pub fn element_string(&self) -> Option<ElementString<'_>> {
        self.is_gs1().then_some(ElementString(self))
    }

    /// The GS1 Digital Link on `id.gs1.org`; `None` for non-GS1 schemes.
    pub fn digital_link(&self) -> Option<DigitalLink<'_>> {
        self.is_gs1().then_some(DigitalLink(self))
    }

    fn is_gs1(&self) -> bool {
        !matches!(
            self,
            Epc::Usdod96 { .. } | Epc::AdiVar { .. } | Epc::Unknown { .. }
        )
    }

    /// The GTIN-14 of an SGTIN.
    pub fn gtin(&self) -> Option<Gtin> {
        match self {
            Epc::Sgtin96 {
                company_prefix,
                item_reference,
                ..
            }
            | Epc::Sgtin198 {
                company_prefix,
                item_reference,
                ..
            } => {
                let mut body = [b'0'; 13];
                let item_digits = ref_digits(13, company_prefix);
                let mut item = [b'0'; 13];
                write_digits(&mut item[..usize::from(item_digits)], *item_reference);
                let mut cp = [b'0'; 12];
                write_digits(
                    &mut cp[..usize::from(company_prefix.digits)],
                    company_prefix.value,
                );
                body[0] = item[0];
                let cpd = usize::from(company_prefix.digits);
                body[1..1 + cpd].copy_from_slice(&cp[..cpd]);
                let rest = usize::from(item_digits).saturating_sub(1);
                body[1 + cpd..1 + cpd + rest].copy_from_slice(&item[1..1 + rest]);
                Gtin::from_body(&body)
            }
            _ => None,
        }
    }

    /// The SSCC-18 of an SSCC-96, with its check digit.
    pub fn sscc(&self) -> Option<Sscc> {
        let Epc::Sscc96 {
            company_prefix,
            serial_reference,
            ..
        } = self
        else {
            return None;
        };
        let sr_digits = usize::from(ref_digits(17, company_prefix));
        let mut sr = [b'0'; 17];
        write_digits(&mut sr[..sr_digits], *serial_reference);
        let cpd = usize::from(company_prefix.digits);
        let mut body = [b'0'; 17];
        body[0] = sr[0];
        write_digits(&mut body[1..1 + cpd], company_prefix.value);
        let rest = sr_digits.saturating_sub(1);
        body[1 + cpd..1 + cpd + rest].copy_from_slice(&sr[1..1 + rest]);
        Sscc::from_body(&body)
    }

    /// The GLN of an SGLN.
    pub fn gln(&self) -> Option<Gln> {
        match self {
            Epc::Sgln96 {
                company_prefix,
                location_reference,
                ..
            }
            | Epc::Sgln195 {
                company_prefix,
                location_reference,
                ..
            } => Gln::from_body(&gs1_body12(company_prefix, *location_reference)),
            _ => None,
        }
    }

    /// The serial (SGTIN, GRAI, DoD, ADI), SGLN extension or GIAI asset
    /// reference: whatever tells this item from others of its kind.
    pub fn serial(&self) -> Option<Serial<'_>> {
        Some(match self {
            Epc::Sgtin96 { serial, .. }
            | Epc::Grai96 { serial, .. }
            | Epc::Usdod96 { serial, .. } => Serial::Numeric(*serial),
            Epc::Sgtin198 { serial, .. } => Serial::Text(serial.as_str()),
            Epc::Grai170 { serial, .. } => Serial::Text(serial.as_str()),
            Epc::AdiVar { serial, .. } => Serial::Text(serial.as_str()),
            Epc::Sgln96 { extension, .. } => Serial::Numeric(*extension),
            Epc::Sgln195 { extension, .. } => Serial::Text(extension.as_str()),
            Epc::Giai96 {
                asset_reference, ..
            } => Serial::Numeric(*asset_reference),
            Epc::Giai202 {
                asset_reference, ..
            } => Serial::Text(asset_reference.as_str()),
            Epc::Sscc96 { .. } | Epc::Unknown { .. } => return None,
        })
    }
}

/// Company prefix + reference as the first 12 digits of a GLN or GRAI.
fn gs1_body12(cp: &CompanyPrefix, reference: u64) -> [u8; 12] {
    let mut body = [b'0'; 12];
    let cpd = usize::from(cp.digits);
    write_digits(&mut body[..cpd], cp.value);
    write_digits(&mut body[cpd..], reference);
    body
}

/// Writes `v` right-aligned in `out` as ASCII digits (higher digits are dropped).
fn write_digits(out: &mut [u8], mut v: u64) {
    for slot in out.iter_mut().rev() {
        // v % 10 is a single digit.
        *slot = b'0' + (v % 10) as u8;
        v /= 10;
    }
}

/// A zero-padded number of exactly `.1` digits (nothing for 0 digits).
struct Padded(u64, u8);

impl fmt::Display for Padded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.1 == 0 {
            return Ok(());
        }
        write!(f, "{:0w$}", self.0, w = usize::from(self.1))
    }
}

struct Encoder<'a> {
    w: BitWriter<'a>,
}

impl Encoder<'_> {
    fn put(&mut self, v: u64, bits: u8) -> Result<(), EpcError> {
        let needed = (self.w.position() + usize::from(bits)).div_ceil(8);
        self.w
            .write(v, u32::from(bits))
            .ok_or(EpcError::BufferTooSmall {
                needed: needed.min(255) as u8,
            })
    }

    fn prefix(&mut self, cp: &CompanyPrefix, row: Row) -> Result<(), EpcError> {
        let checked = CompanyPrefix::new(cp.value, cp.digits)?;
        self.put(u64::from(checked.partition()), 3)?;
        self.put(checked.value, row.cp_bits)
    }

    fn key(
        &mut self,
        t: &[Row; 7],
        cp: &CompanyPrefix,
        reference: u64,
        total_digits: u8,
        field: Field,
    ) -> Result<(), EpcError> {
        let row = t[usize::from(cp.partition().min(6))];
        self.prefix(cp, row)?;
        let digits = ref_digits(total_digits, cp);
        if reference >= pow10(digits) {
            return Err(EpcError::TooManyDigits { field, digits });
        }
        self.put(reference, row.ref_bits)
    }

    fn string7(
        &mut self,
        s: &[u8],
        field_bits: u16,
        max: u8,
        field: Field,
    ) -> Result<(), EpcError> {
        check_string7(s, field, max)?;
        for &b in s {
            self.put(u64::from(b), 7)?;
        }
        // Zero padding to the field's width (≤ 168 bits, written in ≤ 64-bit steps).
        let mut left = field_bits.saturating_sub(7 * s.len() as u16);
        while left > 0 {
            let n = left.min(64);
            self.put(0, n as u8)?;
            left -= n;
        }
        Ok(())
    }
}

/// SGTIN-96 when `serial` is a canonical integer below 2^38, else SGTIN-198.
fn sgtin_natural(
    filter: u8,
    company_prefix: CompanyPrefix,
    item_reference: u64,
    serial: &[u8],
) -> Result<Epc, EpcError> {
    if let Some(n) = fits_integer(serial, 38) {
        return Ok(Epc::Sgtin96 {
            filter,
            company_prefix,
            item_reference,
            serial: n,
        });
    }
    check_string7(serial, Field::Serial, 20)?;
    Ok(Epc::Sgtin198 {
        filter,
        company_prefix,
        item_reference,
        serial: Text::from_ascii(serial).ok_or(EpcError::InvalidChar(Field::Serial))?,
    })
}

/// SGLN-96 when the extension is a canonical integer below 2^41, else SGLN-195.
fn sgln_natural(
    filter: u8,
    company_prefix: CompanyPrefix,
    location_reference: u64,
    extension: &[u8],
) -> Result<Epc, EpcError> {
    if let Some(n) = fits_integer(extension, 41) {
        return Ok(Epc::Sgln96 {
            filter,
            company_prefix,
            location_reference,
            extension: n,
        });
    }
    check_string7(extension, Field::Extension, 20)?;
    Ok(Epc::Sgln195 {
        filter,
        company_prefix,
        location_reference,
        extension: Text::from_ascii(extension).ok_or(EpcError::InvalidChar(Field::Extension))?,
    })
}

/// GRAI-96 when the serial is a canonical integer below 2^38, else GRAI-170.
fn grai_natural(
    filter: u8,
    company_prefix: CompanyPrefix,
    asset_type: u64,
    serial: &[u8],
) -> Result<Epc, EpcError> {
    if let Some(n) = fits_integer(serial, 38) {
        return Ok(Epc::Grai96 {
            filter,
            company_prefix,
            asset_type,
            serial: n,
        });
    }
    check_string7(serial, Field::Serial, 16)?;
    Ok(Epc::Grai170 {
        filter,
        company_prefix,
        asset_type,
        serial: Text::from_ascii(serial).ok_or(EpcError::InvalidChar(Field::Serial))?,
    })
}

/// GIAI-96 when the asset reference is a canonical integer that fits, else GIAI-202.
fn giai_natural(filter: u8, company_prefix: CompanyPrefix, asset: &[u8]) -> Result<Epc, EpcError> {
    let p = usize::from(company_prefix.partition());
    if let Some(n) = fits_integer(asset, GIAI96[p].ref_bits) {
        return Ok(Epc::Giai96 {
            filter,
            company_prefix,
            asset_reference: n,
        });
    }
    check_string7(asset, Field::AssetReference, GIAI202[p].ref_digits)?;
    Ok(Epc::Giai202 {
        filter,
        company_prefix,
        asset_reference: Text::from_ascii(asset)
            .ok_or(EpcError::InvalidChar(Field::AssetReference))?,
    })
}

#[cfg(test)]
mod tests;
