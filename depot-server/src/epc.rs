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

/// Everything the command line shows of one EPC (`epc decode`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct EpcView {
    pub input: String,
    pub scheme: String,
    pub hex: String,
    pub tag_uri: String,
    pub pure_identity_uri: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gtin: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sscc: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gln: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub element_string: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digital_link: Option<String>,
}

impl EpcView {
    /// One line of `epc decode` output.
    pub fn to_line(&self) -> String {
        let mut line = format!(
            "{}\tscheme={} tag={} id={}",
            self.hex, self.scheme, self.tag_uri, self.pure_identity_uri
        );
        let views = [
            ("gtin", &self.gtin),
            ("serial", &self.serial),
            ("sscc", &self.sscc),
            ("gln", &self.gln),
            ("element", &self.element_string),
            ("link", &self.digital_link),
        ];
        for (name, value) in views {
            if let Some(value) = value {
                line.push_str(&format!(" {name}={value}"));
            }
        }
        line
    }
}

/// Decodes an EPC in any notation `parse` takes, for `epc decode`.
pub fn describe(text: &str) -> Result<EpcView, String> {
    let epc = Epc::parse(text).map_err(|e| e.to_string())?;
    let hex = epc.hex().map_err(|e| e.to_string())?;
    Ok(EpcView {
        input: text.to_owned(),
        scheme: epc.scheme().name().to_owned(),
        hex: hex.to_string(),
        tag_uri: epc.tag_uri().to_string(),
        pure_identity_uri: epc.pure_identity_uri().to_string(),
        gtin: epc.gtin().map(|g| g.to_string()),
        serial: epc.serial().map(|s| s.to_string()),
        sscc: epc.sscc().map(|s| s.to_string()),
        gln: epc.gln().map(|g| g.to_string()),
        element_string: epc.element_string().map(|e| e.to_string()),
        digital_link: epc.digital_link().map(|d| d.to_string()),
    })
}

/// Encodes a tag URI (or any notation `parse` takes) to binary hex, for `epc encode`.
pub fn encode(text: &str) -> Result<String, String> {
    let epc = Epc::parse(text).map_err(|e| e.to_string())?;
    epc.hex()
        .map(|hex| hex.to_string())
        .map_err(|e| e.to_string())
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
    fn decode_shows_every_view_of_the_brief_vectors() {
        let view = describe("3074257BF7194E4000001A85").unwrap();
        assert_eq!(view.scheme, "sgtin-96");
        assert_eq!(view.tag_uri, "urn:epc:tag:sgtin-96:3.0614141.812345.6789");
        assert_eq!(view.gtin.as_deref(), Some("80614141123458"));
        assert_eq!(view.serial.as_deref(), Some("6789"));
        let sscc = describe("3174257BF4499602D2000000").unwrap();
        assert_eq!(sscc.sscc.as_deref(), Some("106141412345678908"));
        assert_eq!(
            encode("urn:epc:tag:usdod-96:0.1D381.1").unwrap(),
            "2F0203144333831000000001"
        );
        assert_eq!(
            encode("urn:epc:tag:grai-96:3.0614141.12345.400").unwrap(),
            "3374257BF40C0E4000000190"
        );
        assert!(
            encode("urn:epc:tag:sgtin-96:3.0614141.812345.274877906944").is_err(),
            "38-bit serial limit"
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
