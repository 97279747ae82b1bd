//! Stock as the reports show it: stock lines, their filter, and serialised
//! items with where they are.

use super::article::Sku;
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
