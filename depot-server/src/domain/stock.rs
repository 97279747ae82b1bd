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
}
