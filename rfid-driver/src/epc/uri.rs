//! The text forms of an [`Epc`]: tag URI, pure-identity URI, raw URI (TDS §6,
//! §12), GS1 element string and GS1 Digital Link — display and parsing.
//!
//! URI escaping follows TDS: in 7-bit string fields `"` `%` `&` `/` `<` `>` `?`
//! are written `%22 %25 %26 %2F %3C %3E %3F`; in ADI fields `/` and `#` are
//! `%2F` and `%23`. Parsing accepts any `%XX` escape.

use core::fmt;

use super::{
    check_adi, check_cage, check_string7, giai_natural, grai_natural, parse_digits, parse_integer,
    ref_digits, sgln_natural, sgtin_natural, CompanyPrefix, Epc, EpcError, Field, Padded, Scheme,
    GIAI202, GIAI96,
};
use crate::gs1;
use crate::text::Text;

/// Display of an EPC as its tag URI.
pub struct TagUri<'a>(pub(super) &'a Epc);
/// Display of an EPC as its pure-identity URI.
pub struct PureIdentityUri<'a>(pub(super) &'a Epc);
/// Display of a GS1-keyed EPC as a GS1 element string.
pub struct ElementString<'a>(pub(super) &'a Epc);
/// Display of a GS1-keyed EPC as a GS1 Digital Link on `https://id.gs1.org`.
pub struct DigitalLink<'a>(pub(super) &'a Epc);

/// A string field escaped for a TDS URI.
struct Escaped<'a>(&'a str);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0.bytes() {
            match b {
                b'"' | b'%' | b'&' | b'/' | b'<' | b'>' | b'?' | b'#' => write!(f, "%{b:02X}")?,
                _ => write!(f, "{}", b as char)?,
            }
        }
        Ok(())
    }
}

/// Writes the fields after the scheme name, shared by tag and pure URIs.
fn write_body(f: &mut fmt::Formatter<'_>, epc: &Epc) -> fmt::Result {
    match epc {
        Epc::Sgtin96 {
            company_prefix: cp,
            item_reference,
            serial,
            ..
        } => write!(
            f,
            "{cp}.{}.{serial}",
            Padded(*item_reference, ref_digits(13, cp))
        ),
        Epc::Sgtin198 {
            company_prefix: cp,
            item_reference,
            serial,
            ..
        } => write!(
            f,
            "{cp}.{}.{}",
            Padded(*item_reference, ref_digits(13, cp)),
            Escaped(serial.as_str())
        ),
        Epc::Sscc96 {
            company_prefix: cp,
            serial_reference,
            ..
        } => write!(f, "{cp}.{}", Padded(*serial_reference, ref_digits(17, cp))),
        Epc::Sgln96 {
            company_prefix: cp,
            location_reference,
            extension,
            ..
        } => write!(
            f,
            "{cp}.{}.{extension}",
            Padded(*location_reference, ref_digits(12, cp))
        ),
        Epc::Sgln195 {
            company_prefix: cp,
            location_reference,
            extension,
            ..
        } => write!(
            f,
            "{cp}.{}.{}",
            Padded(*location_reference, ref_digits(12, cp)),
            Escaped(extension.as_str())
        ),
        Epc::Grai96 {
            company_prefix: cp,
            asset_type,
            serial,
            ..
        } => write!(
            f,
            "{cp}.{}.{serial}",
            Padded(*asset_type, ref_digits(12, cp))
        ),
        Epc::Grai170 {
            company_prefix: cp,
            asset_type,
            serial,
            ..
        } => write!(
            f,
            "{cp}.{}.{}",
            Padded(*asset_type, ref_digits(12, cp)),
            Escaped(serial.as_str())
        ),
        Epc::Giai96 {
            company_prefix: cp,
            asset_reference,
            ..
        } => write!(f, "{cp}.{asset_reference}"),
        Epc::Giai202 {
            company_prefix: cp,
            asset_reference,
            ..
        } => write!(f, "{cp}.{}", Escaped(asset_reference.as_str())),
        Epc::Usdod96 { cage, serial, .. } => write!(f, "{cage}.{serial}"),
        Epc::AdiVar {
            cage,
            part_number,
            serial,
            ..
        } => write!(
            f,
            "{cage}.{}.{}",
            Escaped(part_number.as_str()),
            Escaped(serial.as_str())
        ),
        Epc::Unknown { raw, .. } => write!(f, "{}.x{raw}", raw.len() * 8),
    }
}

impl fmt::Display for TagUri<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Epc::Unknown { .. } = self.0 {
            f.write_str("urn:epc:raw:")?;
        } else {
            write!(f, "urn:epc:tag:{}:{}.", self.0.scheme(), self.0.filter())?;
        }
        write_body(f, self.0)
    }
}

impl fmt::Display for PureIdentityUri<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.0.scheme() {
            Scheme::Sgtin96 | Scheme::Sgtin198 => "sgtin",
            Scheme::Sscc96 => "sscc",
            Scheme::Sgln96 | Scheme::Sgln195 => "sgln",
            Scheme::Grai96 | Scheme::Grai170 => "grai",
            Scheme::Giai96 | Scheme::Giai202 => "giai",
            Scheme::Usdod96 => "usdod",
            Scheme::AdiVar => "adi",
            Scheme::Unknown => return write!(f, "urn:epc:raw:{}", RawBody(self.0)),
        };
        write!(f, "urn:epc:id:{kind}:")?;
        write_body(f, self.0)
    }
}

struct RawBody<'a>(&'a Epc);

impl fmt::Display for RawBody<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_body(f, self.0)
    }
}

/// Writes `(ai)value` pairs (element string) or `/ai/value` (Digital Link).
fn write_gs1(f: &mut fmt::Formatter<'_>, epc: &Epc, link: bool) -> fmt::Result {
    let pair = |f: &mut fmt::Formatter<'_>, ai: &str, value: fmt::Arguments<'_>| {
        if link {
            // Compose into a bounded buffer so the value can be percent-encoded.
            let mut buf = Text::<40>::new();
            let _ = fmt::write(&mut TextWriter(&mut buf), value);
            write!(f, "/{ai}/")?;
            gs1::write_uri_segment(f, buf.as_str())
        } else {
            write!(f, "({ai}){value}")
        }
    };
    match epc {
        Epc::Sgtin96 { .. } | Epc::Sgtin198 { .. } => {
            if let (Some(gtin), Some(serial)) = (epc.gtin(), epc.serial()) {
                pair(f, "01", format_args!("{gtin}"))?;
                pair(f, "21", format_args!("{serial}"))?;
            }
        }
        Epc::Sscc96 { .. } => {
            if let Some(sscc) = epc.sscc() {
                pair(f, "00", format_args!("{sscc}"))?;
            }
        }
        Epc::Sgln96 { .. } | Epc::Sgln195 { .. } => {
            if let (Some(gln), Some(ext)) = (epc.gln(), epc.serial()) {
                pair(f, "414", format_args!("{gln}"))?;
                pair(f, "254", format_args!("{ext}"))?;
            }
        }
        Epc::Grai96 {
            company_prefix,
            asset_type,
            ..
        }
        | Epc::Grai170 {
            company_prefix,
            asset_type,
            ..
        } => {
            let body = super::gs1_body12(company_prefix, *asset_type);
            let check = gs1::check_digit(&body);
            let body = core::str::from_utf8(&body).unwrap_or_default();
            if let Some(serial) = epc.serial() {
                pair(f, "8003", format_args!("0{body}{check}{serial}"))?;
            }
        }
        Epc::Giai96 { company_prefix, .. } | Epc::Giai202 { company_prefix, .. } => {
            if let Some(asset) = epc.serial() {
                pair(f, "8004", format_args!("{company_prefix}{asset}"))?;
            }
        }
        Epc::Usdod96 { .. } | Epc::AdiVar { .. } | Epc::Unknown { .. } => {}
    }
    Ok(())
}

/// `fmt::Write` into a `Text`, failing when full.
struct TextWriter<'a, const N: usize>(&'a mut Text<N>);

impl<const N: usize> fmt::Write for TextWriter<'_, N> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for b in s.bytes() {
            if !self.0.push(b) {
                return Err(fmt::Error);
            }
        }
        Ok(())
    }
}

impl fmt::Display for ElementString<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_gs1(f, self.0, false)
    }
}

impl fmt::Display for DigitalLink<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("https://id.gs1.org")?;
        write_gs1(f, self.0, true)
    }
}

// ------------------------------------------------------------------ parsing

/// Percent-decodes a URI field into text of at most `N` bytes.
fn unescape<const N: usize>(s: &str, field: Field) -> Result<Text<N>, EpcError> {
    let b = s.as_bytes();
    let mut out = Text::new();
    let mut i = 0;
    while i < b.len() {
        let c = if b[i] == b'%' {
            let hex = |c: Option<&u8>| c.and_then(|&c| (c as char).to_digit(16));
            match (hex(b.get(i + 1)), hex(b.get(i + 2))) {
                (Some(h), Some(l)) => {
                    i += 3;
                    // Two hex digits make one byte.
                    (h * 16 + l) as u8
                }
                _ => return Err(EpcError::InvalidChar(field)),
            }
        } else {
            i += 1;
            b[i - 1]
        };
        if !out.push(c) {
            return Err(EpcError::TooManyChars {
                field,
                max: N.min(255) as u8,
            });
        }
    }
    Ok(out)
}

/// Splits `s` into exactly `N` dot-separated fields; the last takes the rest.
fn fields<const N: usize>(s: &str) -> Result<[&str; N], EpcError> {
    let mut out = [""; N];
    let mut it = s.splitn(N, '.');
    for slot in out.iter_mut() {
        *slot = it
            .next()
            .ok_or(EpcError::Syntax("URI has too few fields"))?;
    }
    Ok(out)
}

fn filter(s: &str, scheme: Scheme) -> Result<u8, EpcError> {
    let bits = scheme.filter_bits();
    let v = parse_integer(s.as_bytes(), Field::Filter, bits)?;
    // Checked to fit 3, 4 or 6 bits.
    Ok(v as u8)
}

/// A reference with exactly the digits its partition gives it.
fn reference(s: &str, cp: &CompanyPrefix, total: u8, field: Field) -> Result<u64, EpcError> {
    let expected = ref_digits(total, cp);
    if s.len() != usize::from(expected) {
        return Err(EpcError::DigitCount { field, expected });
    }
    parse_digits(s.as_bytes(), field)
}

/// The URI fields after `urn:epc:tag:`.
pub(super) fn parse_tag_uri(s: &str) -> Result<Epc, EpcError> {
    let (name, body) = s
        .split_once(':')
        .ok_or(EpcError::Syntax("tag URI needs scheme:fields"))?;
    let scheme = Scheme::from_name(name).ok_or(EpcError::UnknownScheme)?;
    let (f, rest) = body
        .split_once('.')
        .ok_or(EpcError::Syntax("tag URI needs a filter"))?;
    let filter = filter(f, scheme)?;
    let epc = parse_fields(scheme, filter, rest)?;
    // Re-check every limit the encoder checks (string lengths, bit widths).
    let mut buf = [0u8; crate::text::EPC_MAX_BYTES];
    epc.encode(&mut buf)?;
    Ok(epc)
}

/// The URI fields after `urn:epc:id:`: the natural binary scheme, filter 0.
pub(super) fn parse_pure_uri(s: &str) -> Result<Epc, EpcError> {
    let (kind, body) = s
        .split_once(':')
        .ok_or(EpcError::Syntax("pure-identity URI needs kind:fields"))?;
    let epc = match kind {
        "sgtin" => {
            let [cp, item, serial] = fields::<3>(body)?;
            let cp = CompanyPrefix::parse(cp)?;
            let item = reference(item, &cp, 13, Field::ItemReference)?;
            let serial: Text<20> = unescape(serial, Field::Serial)?;
            sgtin_natural(0, cp, item, serial.as_bytes())?
        }
        "sscc" => parse_fields(Scheme::Sscc96, 0, body)?,
        "sgln" => {
            let [cp, loc, ext] = fields::<3>(body)?;
            let cp = CompanyPrefix::parse(cp)?;
            let loc = reference(loc, &cp, 12, Field::LocationReference)?;
            let ext: Text<20> = unescape(ext, Field::Extension)?;
            sgln_natural(0, cp, loc, ext.as_bytes())?
        }
        "grai" => {
            let [cp, asset_type, serial] = fields::<3>(body)?;
            let cp = CompanyPrefix::parse(cp)?;
            let asset_type = reference(asset_type, &cp, 12, Field::AssetType)?;
            let serial: Text<16> = unescape(serial, Field::Serial)?;
            grai_natural(0, cp, asset_type, serial.as_bytes())?
        }
        "giai" => {
            let [cp, asset] = fields::<2>(body)?;
            let cp = CompanyPrefix::parse(cp)?;
            let asset: Text<24> = unescape(asset, Field::AssetReference)?;
            giai_natural(0, cp, asset.as_bytes())?
        }
        "usdod" => parse_fields(Scheme::Usdod96, 0, body)?,
        "adi" => parse_fields(Scheme::AdiVar, 0, body)?,
        _ => return Err(EpcError::UnknownScheme),
    };
    let mut buf = [0u8; crate::text::EPC_MAX_BYTES];
    epc.encode(&mut buf)?;
    Ok(epc)
}

/// `urn:epc:raw:LENGTH.xHEX` (the `urn:epc:raw:` already removed).
pub(super) fn parse_raw_uri(s: &str) -> Result<Epc, EpcError> {
    let (_, hex) = s
        .split_once(".x")
        .ok_or(EpcError::Syntax("raw URI needs LENGTH.xHEX"))?;
    Epc::from_hex(hex)
}

fn parse_fields(scheme: Scheme, filter: u8, body: &str) -> Result<Epc, EpcError> {
    Ok(match scheme {
        Scheme::Sgtin96 | Scheme::Sgtin198 => {
            let [cp, item, serial] = fields::<3>(body)?;
            let company_prefix = CompanyPrefix::parse(cp)?;
            let item_reference = reference(item, &company_prefix, 13, Field::ItemReference)?;
            if scheme == Scheme::Sgtin96 {
                Epc::Sgtin96 {
                    filter,
                    company_prefix,
                    item_reference,
                    serial: parse_integer(serial.as_bytes(), Field::Serial, 38)?,
                }
            } else {
                Epc::Sgtin198 {
                    filter,
                    company_prefix,
                    item_reference,
                    serial: unescape(serial, Field::Serial)?,
                }
            }
        }
        Scheme::Sscc96 => {
            let [cp, sr] = fields::<2>(body)?;
            let company_prefix = CompanyPrefix::parse(cp)?;
            Epc::Sscc96 {
                filter,
                serial_reference: reference(sr, &company_prefix, 17, Field::SerialReference)?,
                company_prefix,
            }
        }
        Scheme::Sgln96 | Scheme::Sgln195 => {
            let [cp, loc, ext] = fields::<3>(body)?;
            let company_prefix = CompanyPrefix::parse(cp)?;
            let location_reference = reference(loc, &company_prefix, 12, Field::LocationReference)?;
            if scheme == Scheme::Sgln96 {
                Epc::Sgln96 {
                    filter,
                    company_prefix,
                    location_reference,
                    extension: parse_integer(ext.as_bytes(), Field::Extension, 41)?,
                }
            } else {
                Epc::Sgln195 {
                    filter,
                    company_prefix,
                    location_reference,
                    extension: unescape(ext, Field::Extension)?,
                }
            }
        }
        Scheme::Grai96 | Scheme::Grai170 => {
            let [cp, at, serial] = fields::<3>(body)?;
            let company_prefix = CompanyPrefix::parse(cp)?;
            let asset_type = reference(at, &company_prefix, 12, Field::AssetType)?;
            if scheme == Scheme::Grai96 {
                Epc::Grai96 {
                    filter,
                    company_prefix,
                    asset_type,
                    serial: parse_integer(serial.as_bytes(), Field::Serial, 38)?,
                }
            } else {
                Epc::Grai170 {
                    filter,
                    company_prefix,
                    asset_type,
                    serial: unescape(serial, Field::Serial)?,
                }
            }
        }
        Scheme::Giai96 => {
            let [cp, asset] = fields::<2>(body)?;
            let company_prefix = CompanyPrefix::parse(cp)?;
            let bits = GIAI96[usize::from(company_prefix.partition())].ref_bits;
            Epc::Giai96 {
                filter,
                company_prefix,
                asset_reference: parse_integer(asset.as_bytes(), Field::AssetReference, bits)?,
            }
        }
        Scheme::Giai202 => {
            let [cp, asset] = fields::<2>(body)?;
            let company_prefix = CompanyPrefix::parse(cp)?;
            let asset_reference: Text<24> = unescape(asset, Field::AssetReference)?;
            let max = GIAI202[usize::from(company_prefix.partition())].ref_digits;
            check_string7(asset_reference.as_bytes(), Field::AssetReference, max)?;
            Epc::Giai202 {
                filter,
                company_prefix,
                asset_reference,
            }
        }
        Scheme::Usdod96 => {
            let [cage, serial] = fields::<2>(body)?;
            check_cage(cage.as_bytes(), false)?;
            Epc::Usdod96 {
                filter,
                cage: Text::from_ascii(cage.as_bytes())
                    .ok_or(EpcError::InvalidChar(Field::Cage))?,
                serial: parse_integer(serial.as_bytes(), Field::Serial, 36)?,
            }
        }
        Scheme::AdiVar => {
            let [cage, part, serial] = fields::<3>(body)?;
            check_cage(cage.as_bytes(), true)?;
            let part_number: Text<32> = unescape(part, Field::PartNumber)?;
            let serial: Text<30> = unescape(serial, Field::Serial)?;
            check_adi(part_number.as_bytes(), serial.as_bytes())?;
            Epc::AdiVar {
                filter,
                cage: Text::from_ascii(cage.as_bytes())
                    .ok_or(EpcError::InvalidChar(Field::Cage))?,
                part_number,
                serial,
            }
        }
        Scheme::Unknown => return Err(EpcError::UnknownScheme),
    })
}
