//! Utilisation: how much of a location's capacity the stock lying there uses.
//!
//! Volume and weight come from the articles' `unit_volume_ml` / `unit_weight_g`
//! (an article without them counts as zero in that dimension); pallet places
//! are the quantity of articles counted in `pallet`.

use super::article::{Article, Unit};
use super::location::Capacity;

/// What some stock occupies, in the smallest units (ml, g, pallet places).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    pub volume_ml: i64,
    pub weight_g: i64,
    pub pallets: i64,
}

impl Usage {
    /// What `quantity` units of `article` occupy (saturating: such amounts exceed any capacity).
    pub fn of(article: &Article, quantity: i64) -> Self {
        Self {
            volume_ml: article.unit_volume_ml.unwrap_or(0).saturating_mul(quantity),
            weight_g: article.unit_weight_g.unwrap_or(0).saturating_mul(quantity),
            pallets: if article.unit == Unit::Pallet {
                quantity
            } else {
                0
            },
        }
    }

    /// The sum of two usages (saturating).
    pub fn plus(self, other: Usage) -> Self {
        Self {
            volume_ml: self.volume_ml.saturating_add(other.volume_ml),
            weight_g: self.weight_g.saturating_add(other.weight_g),
            pallets: self.pallets.saturating_add(other.pallets),
        }
    }
}

/// One dimension of capacity that a usage would exceed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Overflow {
    /// `volume_ml`, `weight_g` or `pallets`.
    pub dimension: &'static str,
    pub capacity: i64,
    pub used: i64,
    pub requested: i64,
}

/// Checks whether adding `added` to `used` stays within `capacity`;
/// the first dimension that would overflow is returned.
pub fn check_fits(capacity: Capacity, used: Usage, added: Usage) -> Result<(), Overflow> {
    let dimensions = [
        (
            "volume_ml",
            capacity.volume_l.map(|l| l.saturating_mul(1000)),
            used.volume_ml,
            added.volume_ml,
        ),
        (
            "weight_g",
            capacity.weight_kg.map(|kg| kg.saturating_mul(1000)),
            used.weight_g,
            added.weight_g,
        ),
        ("pallets", capacity.pallets, used.pallets, added.pallets),
    ];
    for (dimension, limit, used, requested) in dimensions {
        if let Some(capacity) = limit {
            if requested > 0 && used.saturating_add(requested) > capacity {
                return Err(Overflow {
                    dimension,
                    capacity,
                    used,
                    requested,
                });
            }
        }
    }
    Ok(())
}

/// Used and capacity in one dimension, for reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fill {
    pub used: i64,
    pub capacity: Option<i64>,
}

impl Fill {
    /// Used / capacity in per mille (0 ..), `None` without a capacity.
    pub fn per_mille(self) -> Option<i64> {
        match self.capacity {
            Some(0) => Some(if self.used > 0 { 1000 } else { 0 }),
            Some(c) => Some(((i128::from(self.used) * 1000) / i128::from(c)) as i64),
            None => None,
        }
    }
}

/// Utilisation of a location, zone or depot in all three dimensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Utilization {
    pub volume_ml: Fill,
    pub weight_g: Fill,
    pub pallets: Fill,
}

impl Utilization {
    /// Utilisation of one location from its capacity and usage.
    pub fn of(capacity: Capacity, used: Usage) -> Self {
        Self {
            volume_ml: Fill {
                used: used.volume_ml,
                capacity: capacity.volume_l.map(|l| l.saturating_mul(1000)),
            },
            weight_g: Fill {
                used: used.weight_g,
                capacity: capacity.weight_kg.map(|kg| kg.saturating_mul(1000)),
            },
            pallets: Fill {
                used: used.pallets,
                capacity: capacity.pallets,
            },
        }
    }

    /// The sum of two utilisations; a capacity is known only where both know it.
    pub fn plus(self, other: Utilization) -> Self {
        fn add(a: Fill, b: Fill) -> Fill {
            Fill {
                used: a.used.saturating_add(b.used),
                capacity: a.capacity.zip(b.capacity).map(|(x, y)| x.saturating_add(y)),
            }
        }
        Self {
            volume_ml: add(self.volume_ml, other.volume_ml),
            weight_g: add(self.weight_g, other.weight_g),
            pallets: add(self.pallets, other.pallets),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fits_until_capacity_and_names_the_dimension() {
        let capacity = Capacity {
            volume_l: Some(1),
            weight_kg: None,
            pallets: Some(2),
        };
        let used = Usage {
            volume_ml: 600,
            weight_g: 10_000_000,
            pallets: 0,
        };
        assert!(check_fits(
            capacity,
            used,
            Usage {
                volume_ml: 400,
                ..Usage::default()
            }
        )
        .is_ok());
        let err = check_fits(
            capacity,
            used,
            Usage {
                volume_ml: 401,
                ..Usage::default()
            },
        )
        .unwrap_err();
        assert_eq!(
            (err.dimension, err.capacity, err.used, err.requested),
            ("volume_ml", 1000, 600, 401)
        );
        assert_eq!(
            check_fits(
                capacity,
                used,
                Usage {
                    pallets: 3,
                    ..Usage::default()
                }
            )
            .unwrap_err()
            .dimension,
            "pallets"
        );
    }

    #[test]
    fn per_mille_without_capacity_is_none() {
        assert_eq!(
            Fill {
                used: 5,
                capacity: None
            }
            .per_mille(),
            None
        );
        assert_eq!(
            Fill {
                used: 5,
                capacity: Some(10)
            }
            .per_mille(),
            Some(500)
        );
        assert_eq!(
            Fill {
                used: 0,
                capacity: Some(0)
            }
            .per_mille(),
            Some(0)
        );
    }
}
