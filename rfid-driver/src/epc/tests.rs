//! EPC codec tests: golden vectors (test_data/epc_vectors.txt), every field
//! limit, and property tests for round trips and panic freedom.

use std::string::{String, ToString};
use std::vec;
use std::vec::Vec;

use proptest::prelude::*;

use super::*;
use crate::bits::BitWriter;

const VECTORS: &str = include_str!("../../test_data/epc_vectors.txt");

fn vectors() -> impl Iterator<Item = [&'static str; 4]> {
    VECTORS
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let cols: Vec<&str> = l.split(" | ").map(str::trim).collect();
            assert_eq!(cols.len(), 4, "bad vector line: {l}");
            [cols[0], cols[1], cols[2], cols[3]]
        })
}

#[test]
fn golden_vectors_decode_display_and_encode() {
    let mut n = 0;
    for [hex, tag, pure, gs1] in vectors() {
        let epc = Epc::from_hex(hex).unwrap_or_else(|e| panic!("{hex}: {e}"));
        assert_eq!(epc.tag_uri().to_string(), tag, "tag URI of {hex}");
        assert_eq!(
            epc.pure_identity_uri().to_string(),
            pure,
            "pure URI of {hex}"
        );
        let es = epc.element_string().map(|e| e.to_string());
        assert_eq!(es.as_deref().unwrap_or("-"), gs1, "element string of {hex}");
        assert_eq!(Epc::parse(tag), Ok(epc), "parse {tag}");
        let mine = epc.hex().expect("encodes").to_string();
        assert!(
            hex.starts_with(&mine) && hex[mine.len()..].bytes().all(|b| b == b'0'),
            "encode {tag}: {mine} vs {hex}"
        );
        n += 1;
    }
    assert_eq!(n, 26);
}

#[test]
fn brief_gs1_views() {
    let sgtin = Epc::from_hex("3074257BF7194E4000001A85").expect("valid");
    assert_eq!(sgtin.scheme().name(), "sgtin-96");
    assert_eq!(
        sgtin.gtin().map(|g| g.to_string()).as_deref(),
        Some("80614141123458")
    );
    assert_eq!(
        sgtin.serial().map(|s| s.to_string()).as_deref(),
        Some("6789")
    );
    assert_eq!(
        sgtin.digital_link().map(|d| d.to_string()).as_deref(),
        Some("https://id.gs1.org/01/80614141123458/21/6789")
    );
    let long = Epc::from_hex("3674257BF6B7A659B2C2BF1000000000000000000000000000").expect("valid");
    assert_eq!(
        long.digital_link().map(|d| d.to_string()).as_deref(),
        Some("https://id.gs1.org/01/70614141123451/21/32a%2Fb")
    );
    let sscc = Epc::from_hex("3174257BF4499602D2000000").expect("valid");
    assert_eq!(
        sscc.sscc().map(|s| s.to_string()).as_deref(),
        Some("106141412345678908")
    );
    assert!(sscc.gtin().is_none() && sscc.serial().is_none());
    let dod = Epc::from_hex("2F0203144333831000000001").expect("valid");
    assert!(dod.element_string().is_none() && dod.digital_link().is_none());
}

#[test]
fn pure_uri_picks_natural_scheme_with_filter_0() {
    let p = |s: &str| Epc::parse(s).expect(s);
    let a = p("urn:epc:id:sgtin:0614141.812345.6789");
    assert_eq!((a.scheme(), a.filter()), (Scheme::Sgtin96, 0));
    assert_eq!(
        a.hex().map(|h| h.to_string()),
        Ok("3014257BF7194E4000001A85".into())
    );
    assert_eq!(
        p("urn:epc:id:sgtin:0614141.812345.0123").scheme(),
        Scheme::Sgtin198
    );
    assert_eq!(
        p("urn:epc:id:sgtin:0614141.812345.274877906943").scheme(),
        Scheme::Sgtin96
    );
    assert_eq!(
        p("urn:epc:id:sgtin:0614141.812345.274877906944").scheme(),
        Scheme::Sgtin198
    );
    assert_eq!(
        p("urn:epc:id:sgtin:0614141.712345.32a%2Fb").scheme(),
        Scheme::Sgtin198
    );
    assert_eq!(
        p("urn:epc:id:sgln:0614141.12345.0").scheme(),
        Scheme::Sgln96
    );
    assert_eq!(
        p("urn:epc:id:sgln:0614141.12345.01").scheme(),
        Scheme::Sgln195
    );
    assert_eq!(
        p("urn:epc:id:grai:0614141.12345.A1").scheme(),
        Scheme::Grai170
    );
    assert_eq!(
        p("urn:epc:id:giai:0614141.12345400").scheme(),
        Scheme::Giai96
    );
    assert_eq!(p("urn:epc:id:giai:0614141.02").scheme(), Scheme::Giai202);
    assert_eq!(p("urn:epc:id:usdod:1D381.1").scheme(), Scheme::Usdod96);
    assert_eq!(
        p("urn:epc:id:adi:2S194..12345678901").scheme(),
        Scheme::AdiVar
    );
    assert_eq!(
        p("urn:epc:id:sscc:0614141.1234567890").scheme(),
        Scheme::Sscc96
    );
    assert_eq!(p("URN:EPC:ID:sgtin:0614141.812345.6789"), a);
    assert_eq!(p("urn:epc:raw:96.x3014257BF7194E4000001A85"), a);
}

#[test]
fn digital_link_and_element_string_give_the_same_identity() {
    let from_dl = Epc::parse("https://example.org/01/80614141123458/21/6789").expect("DL");
    let from_es = Epc::parse("(01)80614141123458(21)6789").expect("element string");
    let from_pure = Epc::parse("urn:epc:id:sgtin:0614141.812345.6789").expect("pure");
    assert_eq!(from_dl, from_pure);
    assert_eq!(from_es, from_pure);
    let sscc = Epc::parse("(00)106141412345678908").expect("sscc");
    assert_eq!(
        sscc.pure_identity_uri().to_string(),
        "urn:epc:id:sscc:0614141.1234567890"
    );
    let grai = Epc::parse("(8003)00614141123452400").expect("grai");
    assert_eq!(
        grai.pure_identity_uri().to_string(),
        "urn:epc:id:grai:0614141.12345.400"
    );
    let giai = Epc::parse("https://id.gs1.org/8004/061414112345400").expect("giai");
    assert_eq!(
        giai.pure_identity_uri().to_string(),
        "urn:epc:id:giai:0614141.12345400"
    );
    let gln = Epc::parse("(414)0614141123452(254)400").expect("sgln");
    assert_eq!(
        gln.pure_identity_uri().to_string(),
        "urn:epc:id:sgln:0614141.12345.400"
    );
    // Another company prefix length gives another binary, same GTIN and serial.
    let data = gs1::parse_digital_link("https://id.gs1.org/01/80614141123458/21/6789").expect("DL");
    let nine = Epc::from_gs1(&data, 9).expect("9-digit prefix");
    assert_eq!(
        nine.pure_identity_uri().to_string(),
        "urn:epc:id:sgtin:061414112.8345.6789"
    );
    assert_eq!(nine.gtin(), from_dl.gtin());
    assert_eq!(
        Epc::parse("(01)80614141123458"),
        Err(EpcError::Syntax("a GTIN without serial (21) is no EPC"))
    );
    assert!(matches!(
        Epc::from_gs1(&data, 13),
        Err(EpcError::CompanyPrefixLength(13))
    ));
}

/// A 96-bit SGTIN with hand-set fields, bypassing the encoder's checks.
fn raw_sgtin96(
    filter: u64,
    partition: u64,
    cp: (u64, u8),
    item: (u64, u8),
    serial: u64,
) -> [u8; 12] {
    let mut buf = [0u8; 12];
    let mut w = BitWriter::new(&mut buf);
    for (v, n) in [
        (0x30, 8),
        (filter, 3),
        (partition, 3),
        (cp.0, cp.1.into()),
        (item.0, item.1.into()),
        (serial, 38),
    ] {
        w.write(v, n).expect("fits");
    }
    buf
}

#[test]
fn partition_7_is_invalid() {
    let err = Epc::from_hex("307C257BF7194E4000001A85").expect_err("partition 7");
    assert_eq!(err, EpcError::InvalidPartition(7));
    assert_eq!(err.to_string(), "partition 7 is invalid");
    for header in ["31", "32", "33", "34", "36", "37", "38", "39"] {
        let mut hex = String::from(header);
        hex.push_str("1C");
        hex.push_str(&"0".repeat(48));
        assert_eq!(
            Epc::from_hex(&hex),
            Err(EpcError::InvalidPartition(7)),
            "{header}"
        );
    }
}

#[test]
fn sgtin96_serial_has_38_bits() {
    let ok = "urn:epc:tag:sgtin-96:3.0614141.812345.274877906943";
    assert!(Epc::parse(ok).is_ok());
    let err =
        Epc::parse("urn:epc:tag:sgtin-96:3.0614141.812345.274877906944").expect_err("39 bits");
    assert_eq!(
        err,
        EpcError::ValueTooLarge {
            field: Field::Serial,
            bits: 38
        }
    );
    assert_eq!(err.to_string(), "serial does not fit in 38 bits");
    let Ok(Epc::Sgtin96 {
        company_prefix,
        item_reference,
        ..
    }) = Epc::parse(ok)
    else {
        panic!("sgtin-96");
    };
    let too_big = Epc::Sgtin96 {
        filter: 3,
        company_prefix,
        item_reference,
        serial: 1 << 38,
    };
    assert_eq!(
        too_big.encode(&mut [0; 12]),
        Err(EpcError::ValueTooLarge {
            field: Field::Serial,
            bits: 38
        })
    );
    assert_eq!(
        Epc::parse("urn:epc:tag:sgtin-96:3.0614141.812345.06789"),
        Err(EpcError::LeadingZero(Field::Serial))
    );
}

#[test]
fn dod96_filter_has_4_bits() {
    assert!(Epc::parse("urn:epc:tag:usdod-96:15.1D381.1").is_ok());
    let err = Epc::parse("urn:epc:tag:usdod-96:16.1D381.1").expect_err("5 bits");
    assert_eq!(
        err,
        EpcError::ValueTooLarge {
            field: Field::Filter,
            bits: 4
        }
    );
    assert_eq!(err.to_string(), "filter does not fit in 4 bits");
    assert_eq!(
        Epc::parse("urn:epc:tag:usdod-96:0.1D381.68719476736"),
        Err(EpcError::ValueTooLarge {
            field: Field::Serial,
            bits: 36
        })
    );
    assert!(Epc::parse("urn:epc:tag:usdod-96:0.1D381.68719476735").is_ok());
    assert_eq!(
        Epc::parse("urn:epc:tag:usdod-96:0.1D38.1"),
        Err(EpcError::TooManyChars {
            field: Field::Cage,
            max: 6
        })
    );
    assert_eq!(
        Epc::parse("urn:epc:tag:usdod-96:0.1d381.1"),
        Err(EpcError::InvalidChar(Field::Cage))
    );
}

#[test]
fn filter_limits_of_gs1_and_adi() {
    assert_eq!(
        Epc::parse("urn:epc:tag:sgtin-96:8.0614141.812345.6789"),
        Err(EpcError::ValueTooLarge {
            field: Field::Filter,
            bits: 3
        })
    );
    assert!(Epc::parse("urn:epc:tag:adi-var:63.2S194..1").is_ok());
    assert_eq!(
        Epc::parse("urn:epc:tag:adi-var:64.2S194..1"),
        Err(EpcError::ValueTooLarge {
            field: Field::Filter,
            bits: 6
        })
    );
}

#[test]
fn company_prefix_and_reference_digit_limits() {
    assert_eq!(
        Epc::parse("urn:epc:tag:sgtin-96:3.06141.8123456.6789"),
        Err(EpcError::CompanyPrefixLength(5))
    );
    assert_eq!(
        Epc::parse("urn:epc:tag:sgtin-96:3.0614141234567..6789"),
        Err(EpcError::CompanyPrefixLength(13))
    );
    assert_eq!(
        Epc::parse("urn:epc:tag:sgtin-96:3.0614141.8123456.6789"),
        Err(EpcError::DigitCount {
            field: Field::ItemReference,
            expected: 6
        })
    );
    assert_eq!(
        Epc::parse("urn:epc:tag:sscc-96:3.0614141.123456789"),
        Err(EpcError::DigitCount {
            field: Field::SerialReference,
            expected: 10
        })
    );
    // 12-digit prefix: SGLN location reference has 0 digits.
    assert!(Epc::parse("urn:epc:tag:sgln-96:0.061411123456..1").is_ok());
    assert!(Epc::parse("urn:epc:tag:sgln-96:0.061411123456.1.1").is_err());
    // Decoded values beyond the partition's digits: a 6-digit prefix of 1_000_000.
    let bytes = raw_sgtin96(0, 6, (1_000_000, 20), (0, 24), 1);
    assert_eq!(
        Epc::decode(&bytes),
        Err(EpcError::TooManyDigits {
            field: Field::CompanyPrefix,
            digits: 6
        })
    );
    // … and an item reference of 10^7 with 24 bits.
    let bytes = raw_sgtin96(0, 6, (1, 20), (10_000_000, 24), 1);
    assert_eq!(
        Epc::decode(&bytes),
        Err(EpcError::TooManyDigits {
            field: Field::ItemReference,
            digits: 7
        })
    );
    let bytes = raw_sgtin96(0, 6, (999_999, 20), (9_999_999, 24), (1 << 38) - 1);
    assert!(Epc::decode(&bytes).is_ok());
}

#[test]
fn string_field_limits() {
    let s198 = |serial: &str| {
        Epc::parse(&std::format!(
            "urn:epc:tag:sgtin-198:3.0614141.712345.{serial}"
        ))
    };
    assert!(s198("ABCDEFGHIJKLMNOPQRST").is_ok());
    assert_eq!(
        s198("ABCDEFGHIJKLMNOPQRSTU"),
        Err(EpcError::TooManyChars {
            field: Field::Serial,
            max: 20
        })
    );
    assert_eq!(s198("a b"), Err(EpcError::InvalidChar(Field::Serial)));
    assert_eq!(s198(""), Err(EpcError::EmptyField(Field::Serial)));
    assert_eq!(s198("%zz"), Err(EpcError::InvalidChar(Field::Serial)));
    let grai = |serial: &str| {
        Epc::parse(&std::format!(
            "urn:epc:tag:grai-170:0.0614141.12345.{serial}"
        ))
    };
    assert!(grai("ABCDEFGHIJKLMNOP").is_ok());
    assert!(matches!(
        grai("ABCDEFGHIJKLMNOPQ"),
        Err(EpcError::TooManyChars { .. })
    ));
    // GIAI-202: 24 characters with a 6-digit prefix, 18 with a 12-digit one.
    assert!(Epc::parse("urn:epc:tag:giai-202:0.012345.012345678901234567890123").is_ok());
    assert!(Epc::parse("urn:epc:tag:giai-202:0.012345678901.012345678901234567").is_ok());
    assert_eq!(
        Epc::parse("urn:epc:tag:giai-202:0.012345678901.0123456789012345678"),
        Err(EpcError::TooManyChars {
            field: Field::AssetReference,
            max: 18
        })
    );
    // Non-zero bits after the terminating zero character.
    let mut bad = Epc::from_hex("3674257BF6B7A659B2C2BF1000000000000000000000000000")
        .and_then(|e| e.to_bytes())
        .expect("valid");
    let mut raw = [0u8; 25];
    raw.copy_from_slice(bad.as_bytes());
    raw[20] = 0x01;
    bad = EpcBytes::new(&raw).expect("fits");
    assert_eq!(
        Epc::decode(bad.as_bytes()),
        Err(EpcError::NonZeroPadding(Field::Serial))
    );
    // SSCC-96 reserved bits must be zero.
    assert_eq!(
        Epc::from_hex("3174257BF4499602D2000001"),
        Err(EpcError::NonZeroPadding(Field::SerialReference))
    );
    // SGLN-96 extension has 41 bits.
    assert_eq!(
        Epc::parse("urn:epc:tag:sgln-96:0.061411123456..2199023255552"),
        Err(EpcError::ValueTooLarge {
            field: Field::Extension,
            bits: 41
        })
    );
}

#[test]
fn adi_limits() {
    assert_eq!(
        Epc::parse("urn:epc:id:adi:2S194..%23"),
        Err(EpcError::EmptyField(Field::Serial))
    );
    assert_eq!(
        Epc::parse("urn:epc:id:adi:W81I9C.3KL.2"),
        Err(EpcError::InvalidChar(Field::Cage))
    );
    assert_eq!(
        Epc::parse("urn:epc:id:adi:W89C.3KL.2"),
        Err(EpcError::TooManyChars {
            field: Field::Cage,
            max: 6
        })
    );
    assert!(matches!(
        Epc::parse("urn:epc:id:adi:W8AA9C.012345678901234567890123456789012.2"),
        Err(EpcError::TooManyChars {
            field: Field::PartNumber,
            ..
        })
    ));
    assert!(Epc::parse("urn:epc:id:adi:W8AA9C.123.012345678901234567890123456789").is_ok());
    assert!(Epc::parse("urn:epc:id:adi:W8AA9C.123.0123456789012345678901234567891").is_err());
    assert_eq!(
        Epc::parse("urn:epc:id:adi:W81X9C.3KL.2%232"),
        Err(EpcError::InvalidChar(Field::Serial))
    );
    assert_eq!(
        Epc::parse("urn:epc:id:adi:W81X9C.3kl.2"),
        Err(EpcError::InvalidChar(Field::PartNumber))
    );
}

#[test]
fn input_shape_errors_and_unknown_headers() {
    assert_eq!(Epc::from_hex(""), Err(EpcError::Empty));
    assert_eq!(Epc::decode(&[]), Err(EpcError::Empty));
    assert_eq!(Epc::from_hex("307"), Err(EpcError::InvalidHex));
    assert_eq!(Epc::from_hex("30GG"), Err(EpcError::InvalidHex));
    assert_eq!(Epc::decode(&[0x35; 63]), Err(EpcError::TooLong));
    assert_eq!(
        Epc::from_hex("3074257BF7194E4000001A"),
        Err(EpcError::Truncated {
            scheme: Scheme::Sgtin96,
            bits: 88
        })
    );
    assert_eq!(
        Epc::from_hex("3074257BF7194E4000001A").map_err(|e| e.to_string()),
        Err("sgtin-96 needs 96 bits, got 88".into())
    );
    let adi = Epc::from_hex("3B157E316390").expect_err("no terminators");
    assert_eq!(
        adi,
        EpcError::Truncated {
            scheme: Scheme::AdiVar,
            bits: 48
        }
    );
    assert_eq!(
        adi.to_string(),
        "adi-var ends early: 48 bits are not enough"
    );
    // GID-96 (0x35) and an unprogrammed all-zero EPC are not decoded, but not refused.
    let gid = Epc::from_hex("350000000000000000000001").expect("unknown is fine");
    assert!(matches!(gid, Epc::Unknown { header: 0x35, .. }));
    assert_eq!(
        gid.tag_uri().to_string(),
        "urn:epc:raw:96.x350000000000000000000001"
    );
    assert_eq!(
        gid.hex().map(|h| h.to_string()),
        Ok("350000000000000000000001".into())
    );
    assert!(gid.gtin().is_none() && gid.element_string().is_none());
    assert!(matches!(
        Epc::decode(&[0; 12]),
        Ok(Epc::Unknown { header: 0, .. })
    ));
    // A word-aligned EPC bank (26 bytes for SGTIN-198) decodes the same.
    let padded = Epc::from_hex("3674257BF6B7A659B2C2BF100000000000000000000000000000");
    assert_eq!(
        padded,
        Epc::from_hex("3674257BF6B7A659B2C2BF1000000000000000000000000000")
    );
    assert_eq!(
        Epc::parse("urn:epc:tag:gid-96:0.1.2.3"),
        Err(EpcError::UnknownScheme)
    );
    assert_eq!(
        Epc::parse("urn:epc:id:gid:1.2.3"),
        Err(EpcError::UnknownScheme)
    );
    assert!(matches!(
        Epc::parse("urn:epc:tag:sgtin-96"),
        Err(EpcError::Syntax(_))
    ));
    assert!(matches!(
        Epc::parse("urn:epc:tag:sgtin-96:3.0614141"),
        Err(EpcError::Syntax(_))
    ));
    let short = Epc::from_hex("3074257BF7194E4000001A85").expect("valid");
    assert_eq!(
        short.encode(&mut [0; 11]),
        Err(EpcError::BufferTooSmall { needed: 12 })
    );
}

// ------------------------------------------------------------ properties

const CSET82: &[u8] =
    b"!\"%&'()*+,-./0123456789:;<=>?ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz";
const ADI_CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-/";
const CAGE_CHARS: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ0123456789";

fn text<const N: usize>(
    chars: &'static [u8],
    len: std::ops::RangeInclusive<usize>,
) -> impl Strategy<Value = Text<N>> {
    proptest::collection::vec(proptest::sample::select(chars), len)
        .prop_map(|v| Text::from_ascii(&v).expect("bounded"))
}

fn prefix() -> impl Strategy<Value = CompanyPrefix> {
    (6u8..=12).prop_flat_map(|d| {
        (0..pow10(d)).prop_map(move |v| CompanyPrefix::new(v, d).expect("in range"))
    })
}

/// A company prefix and a reference with `total - digits` digits.
fn keyed(total: u8) -> impl Strategy<Value = (CompanyPrefix, u64)> {
    prefix().prop_flat_map(move |cp| {
        let max = pow10(total - cp.digits());
        (Just(cp), 0..max)
    })
}

fn any_epc() -> impl Strategy<Value = Epc> {
    let f3 = 0u8..8;
    prop_oneof![
        (f3.clone(), keyed(13), 0u64..(1 << 38)).prop_map(
            |(filter, (company_prefix, item_reference), serial)| {
                Epc::Sgtin96 {
                    filter,
                    company_prefix,
                    item_reference,
                    serial,
                }
            }
        ),
        (f3.clone(), keyed(13), text(CSET82, 1..=20)).prop_map(
            |(filter, (company_prefix, item_reference), serial)| {
                Epc::Sgtin198 {
                    filter,
                    company_prefix,
                    item_reference,
                    serial,
                }
            }
        ),
        (f3.clone(), keyed(17)).prop_map(|(filter, (company_prefix, serial_reference))| {
            Epc::Sscc96 {
                filter,
                company_prefix,
                serial_reference,
            }
        }),
        (f3.clone(), keyed(12), 0u64..(1 << 41)).prop_map(
            |(filter, (company_prefix, location_reference), extension)| {
                Epc::Sgln96 {
                    filter,
                    company_prefix,
                    location_reference,
                    extension,
                }
            }
        ),
        (f3.clone(), keyed(12), text(CSET82, 1..=20)).prop_map(
            |(filter, (company_prefix, location_reference), extension)| Epc::Sgln195 {
                filter,
                company_prefix,
                location_reference,
                extension
            }
        ),
        (f3.clone(), keyed(12), 0u64..(1 << 38)).prop_map(
            |(filter, (company_prefix, asset_type), serial)| {
                Epc::Grai96 {
                    filter,
                    company_prefix,
                    asset_type,
                    serial,
                }
            }
        ),
        (f3.clone(), keyed(12), text(CSET82, 1..=16)).prop_map(
            |(filter, (company_prefix, asset_type), serial)| {
                Epc::Grai170 {
                    filter,
                    company_prefix,
                    asset_type,
                    serial,
                }
            }
        ),
        (f3.clone(), prefix()).prop_flat_map(|(filter, company_prefix)| {
            let bits = GIAI96[usize::from(company_prefix.partition())].ref_bits;
            (0u64..(1 << bits)).prop_map(move |asset_reference| Epc::Giai96 {
                filter,
                company_prefix,
                asset_reference,
            })
        }),
        (f3, prefix()).prop_flat_map(|(filter, company_prefix)| {
            let max = usize::from(GIAI202[usize::from(company_prefix.partition())].ref_digits);
            text(CSET82, 1..=max).prop_map(move |asset_reference| Epc::Giai202 {
                filter,
                company_prefix,
                asset_reference,
            })
        }),
        (0u8..16, text(CAGE_CHARS, 5..=6), 0u64..(1 << 36)).prop_map(|(filter, cage, serial)| {
            Epc::Usdod96 {
                filter,
                cage,
                serial,
            }
        }),
        (
            0u8..64,
            text(CAGE_CHARS, 5..=6),
            text(ADI_CHARS, 0..=32),
            any::<bool>(),
            text::<29>(ADI_CHARS, 1..=29)
        )
            .prop_map(|(filter, cage, part_number, hash, body)| {
                let mut serial = Text::<30>::new();
                if hash {
                    serial.push(b'#');
                }
                for &b in body.as_bytes() {
                    serial.push(b);
                }
                Epc::AdiVar {
                    filter,
                    cage,
                    part_number,
                    serial,
                }
            }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn decode_encode_round_trips(epc in any_epc()) {
        let mut buf = [0u8; EPC_MAX_BYTES];
        let n = epc.encode(&mut buf).expect("valid values encode");
        prop_assert_eq!(n, epc.encoded_len());
        prop_assert_eq!(Epc::decode(&buf[..n]), Ok(epc));
    }

    #[test]
    fn tag_uri_round_trips(epc in any_epc()) {
        prop_assert_eq!(Epc::parse(&epc.tag_uri().to_string()), Ok(epc));
        let hex = epc.hex().expect("valid").to_string();
        prop_assert_eq!(Epc::parse(&hex), Ok(epc));
    }

    #[test]
    fn pure_uri_round_trips(epc in any_epc()) {
        let pure = epc.pure_identity_uri().to_string();
        let parsed = Epc::parse(&pure).expect("pure URI parses");
        prop_assert_eq!(parsed.pure_identity_uri().to_string(), pure);
        prop_assert_eq!(parsed.filter(), 0);
    }

    #[test]
    fn gs1_views_round_trip(epc in any_epc()) {
        if let (Some(es), Some(dl)) = (epc.element_string(), epc.digital_link()) {
            let cp = match epc {
                Epc::Sgtin96 { company_prefix, .. } | Epc::Sgtin198 { company_prefix, .. }
                | Epc::Sscc96 { company_prefix, .. } | Epc::Sgln96 { company_prefix, .. }
                | Epc::Sgln195 { company_prefix, .. } | Epc::Grai96 { company_prefix, .. }
                | Epc::Grai170 { company_prefix, .. } | Epc::Giai96 { company_prefix, .. }
                | Epc::Giai202 { company_prefix, .. } => company_prefix.digits(),
                _ => unreachable!("GS1 schemes only"),
            };
            let pure = epc.pure_identity_uri().to_string();
            // A bracketed element string is ambiguous when a value holds "(NN)".
            let es = es.to_string();
            if !epc.serial().is_some_and(|s| s.to_string().contains('(')) {
                let from_es = gs1::parse_element_string(&es).expect("element string parses");
                prop_assert_eq!(Epc::from_gs1(&from_es, cp).map(|e| e.pure_identity_uri().to_string()), Ok(pure.clone()));
            }
            let from_dl = gs1::parse_digital_link(&dl.to_string()).expect("digital link parses");
            prop_assert_eq!(Epc::from_gs1(&from_dl, cp).map(|e| e.pure_identity_uri().to_string()), Ok(pure));
        }
    }

    #[test]
    fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..70)) {
        let _ = Epc::decode(&bytes);
    }

    #[test]
    fn decode_known_headers_never_panics(
        header in proptest::sample::select(&[0x30u8, 0x31, 0x32, 0x33, 0x34, 0x36, 0x37, 0x38, 0x39, 0x2F, 0x3B][..]),
        rest in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let mut bytes = std::vec![header];
        bytes.extend_from_slice(&rest);
        if let Ok(epc) = Epc::decode(&bytes) {
            // Whatever decodes, encodes again and shows without panicking.
            let again = epc.to_bytes().expect("decoded values are valid");
            prop_assert_eq!(Epc::decode(again.as_bytes()), Ok(epc));
            let _ = (epc.tag_uri().to_string(), epc.pure_identity_uri().to_string());
            let _ = (epc.element_string().map(|e| e.to_string()), epc.digital_link().map(|d| d.to_string()));
        }
    }

    #[test]
    fn parse_never_panics(s in "\\PC{0,80}") {
        let _ = Epc::parse(&s);
    }

    #[test]
    fn parse_uri_like_never_panics(
        prefix in proptest::sample::select(&["urn:epc:tag:sgtin-96:", "urn:epc:tag:sgtin-198:", "urn:epc:tag:adi-var:",
            "urn:epc:id:sgtin:", "urn:epc:id:giai:", "urn:epc:id:adi:", "urn:epc:raw:96.x", "https://h/01/", "(01)"][..]),
        s in "[0-9A-Za-z.%#/()]{0,60}",
    ) {
        let _ = Epc::parse(&std::format!("{prefix}{s}"));
    }
}
