//! EPC input as the API accepts it, resolved with `rfid-driver` to the form
//! the ledger keys items by: the EPC's pure-identity URI
//! (`urn:epc:id:sgtin:0614141.812345.6789`), which names the object whatever
//! filter value or binary length its tag was encoded with. EPCs of schemes the
//! codec does not know are keyed by their raw URI.
//!
//! GS1 Digital Links and element strings carry no company-prefix length;
//! `rfid-driver` assumes its default, so they name the same item as its tag
//! only when the prefix has that length.

use rfid_driver::epc::Epc;

use crate::depot::EpcRef;

/// Parses an EPC given as hex, tag URI, pure-identity URI, raw URI or GS1 Digital Link.
pub fn parse(text: &str) -> Result<EpcRef, String> {
    let epc = Epc::parse(text).map_err(|e| e.to_string())?;
    Ok(EpcRef {
        id: epc.pure_identity_uri().to_string(),
        gtin14: epc.gtin().map(|g| g.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_hex_and_uris_name_the_same_item() {
        let from_hex = parse("3074257BF7194E4000001A85").unwrap();
        assert_eq!(from_hex.id, "urn:epc:id:sgtin:0614141.812345.6789");
        assert_eq!(from_hex.gtin14.as_deref(), Some("80614141123458"));
        assert_eq!(
            parse("urn:epc:tag:sgtin-96:3.0614141.812345.6789").unwrap(),
            from_hex
        );
        assert_eq!(
            parse("urn:epc:id:sgtin:0614141.812345.6789").unwrap(),
            from_hex
        );
        assert_eq!(
            parse("https://id.gs1.org/01/80614141123458/21/6789").unwrap(),
            from_hex
        );
    }

    #[test]
    fn bad_epcs_say_why() {
        assert!(parse("xyz").is_err());
        assert!(parse("").is_err());
        let sscc = parse("3174257BF4499602D2000000").unwrap();
        assert_eq!(sscc.gtin14, None);
    }
}
