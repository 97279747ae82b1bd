//! EPC input as the API and CLI accept it, resolved to the canonical form
//! the ledger stores (uppercase hex) and the GTIN it names, if any.

use crate::depot::EpcRef;

/// Parses an EPC given as hex (with or without `0x`), 96 to 496 bits.
pub fn parse(text: &str) -> Result<EpcRef, String> {
    let hex = text.trim();
    let hex = hex
        .strip_prefix("0x")
        .or_else(|| hex.strip_prefix("0X"))
        .unwrap_or(hex);
    if hex.len() < 24
        || hex.len() > 124
        || hex.len() % 4 != 0
        || !hex.bytes().all(|b| b.is_ascii_hexdigit())
    {
        return Err("not an EPC: expected 24 to 124 hex digits (a multiple of 16 bits)".into());
    }
    Ok(EpcRef {
        hex: hex.to_ascii_uppercase(),
        gtin14: None,
    })
}
