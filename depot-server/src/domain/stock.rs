//! Stock as the reports show it: stock lines, their filter, and serialised
//! items with where they are.

use super::article::{Classification, Sku, SupplyClass};
use super::booking::ItemFacts;
use super::quantity::Lot;

/// One line of a stock report: the quantity of (article, location, lot).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StockLine {
    pub sku: String,
    pub location: String,
    pub zone: String,
    /// Empty when the article is not lot-tracked.
    pub lot: String,
    pub quantity: i64,
}

/// A filter on the stock report; `None` matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StockFilter {
    pub sku: Option<String>,
    pub location: Option<String>,
    pub zone: Option<String>,
    /// Search text: part of the SKU, name, GTIN or NSN (any case; an NSN
    /// with or without its dashes).
    pub text: Option<String>,
    pub supply_class: Option<SupplyClass>,
    /// Only articles of this classification (restricted ones still only for
    /// a cleared caller).
    pub classification: Option<Classification>,
}

impl StockFilter {
    /// The search text as a SQL `LIKE` pattern (`%…%`, wildcards escaped with `\`).
    pub fn text_pattern(&self) -> Option<String> {
        self.text.as_deref().map(|text| {
            let mut pattern = String::from("%");
            for c in text.chars() {
                if matches!(c, '%' | '_' | '\\') {
                    pattern.push('\\');
                }
                pattern.push(c);
            }
            pattern.push('%');
            pattern
        })
    }
}

/// Where a stock report's lines are ordered: by (SKU, location, lot). A page
/// of the report is cut at a line's key (keyset paging), so a far page costs
/// what the first does, however many lines lie before it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StockKey {
    pub sku: String,
    pub location: String,
    pub lot: String,
}

impl StockKey {
    /// The key of a line.
    pub fn of(line: &StockLine) -> Self {
        Self {
            sku: line.sku.clone(),
            location: line.location.clone(),
            lot: line.lot.clone(),
        }
    }

    /// The key as a link carries it: `SKU~LOCATION~LOT`. SKUs and location
    /// codes never hold a `~`; a lot may, so it is last.
    pub fn to_text(&self) -> String {
        format!("{}~{}~{}", self.sku, self.location, self.lot)
    }

    /// A key from [`StockKey::to_text`]; `None` for text that is none.
    pub fn parse(text: &str) -> Option<Self> {
        let mut parts = text.splitn(3, '~');
        let (sku, location, lot) = (parts.next()?, parts.next()?, parts.next()?);
        Some(Self {
            sku: sku.to_owned(),
            location: location.to_owned(),
            lot: lot.to_owned(),
        })
    }
}

/// Which page of a stock report: the first, the lines after a key, or the
/// lines just before one (each page in report order).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum StockPage {
    #[default]
    First,
    After(StockKey),
    Before(StockKey),
}

/// A serialised item with the article it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub facts: ItemFacts,
    pub sku: Sku,
    pub lot: Lot,
    /// The seq of the item's last movement.
    pub last_seq: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_text_is_a_like_pattern_with_wildcards_escaped() {
        let filter = StockFilter {
            text: Some("50%_a\\b".into()),
            ..StockFilter::default()
        };
        assert_eq!(filter.text_pattern().as_deref(), Some("%50\\%\\_a\\\\b%"));
    }

    #[test]
    fn a_stock_key_survives_a_link_even_with_a_tilde_in_its_lot() {
        let key = StockKey {
            sku: "ART-1".into(),
            location: "A-01".into(),
            lot: "L~7/x".into(),
        };
        assert_eq!(StockKey::parse(&key.to_text()), Some(key));
        let no_lot = StockKey::parse("S~L~").expect("a key without a lot");
        assert_eq!((no_lot.lot.as_str(), no_lot.to_text()), ("", "S~L~".into()));
        assert_eq!(StockKey::parse("ART-1~A-01"), None, "two parts are no key");
        assert_eq!(StockKey::parse(""), None);
    }
}
