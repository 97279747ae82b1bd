//! What the simulated gate sees next: a pure, seeded plan of tag passes.
//! `in` passes carry new serials of the depot's tagged articles, `out`
//! passes carry items it brought in earlier (so the stock stays
//! plausible), now and then an EPC of no known article, and now and then a
//! scale weight that does not fit. No clock, no I/O.

use gateway_registers::Direction;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// The GS1 company prefix length the simulator splits GTINs at.
const PREFIX_DIGITS: usize = 7;
/// The GTIN of an article no depot knows (a valid check digit, prefix 0614141).
const UNKNOWN_GTIN: &str = "00614141999996";
/// One pass in this many carries an unknown EPC; one in this many an implausible weight.
const UNKNOWN_EVERY: u32 = 10;
const IMPLAUSIBLE_EVERY: u32 = 12;

/// An article the simulator may pass through a gate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tagged {
    /// The GTIN-14 its tags carry.
    pub gtin14: String,
    /// The unit weight the scale should show, if known.
    pub unit_weight_g: Option<i64>,
}

/// The next pass: where, which way, which tag (as a tag URI) and the weight.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    pub gate: u16,
    pub direction: Direction,
    pub tag_uri: String,
    pub weight_grams: i32,
}

/// The plan: a seeded generator and the items it has brought in.
#[derive(Debug, Clone)]
pub struct Traffic {
    rng: StdRng,
    articles: Vec<Tagged>,
    gates: u16,
    /// (article index, serial) of items passed in and not yet out.
    inside: Vec<(usize, u64)>,
}

impl Traffic {
    /// A plan over `articles` through `gates` gates (at least one).
    pub fn new(seed: u64, articles: Vec<Tagged>, gates: u16) -> Self {
        Self {
            rng: StdRng::seed_from_u64(seed),
            articles,
            gates: gates.max(1),
            inside: Vec::new(),
        }
    }

    /// The items passed in and not out again.
    pub fn inside(&self) -> usize {
        self.inside.len()
    }

    /// The next pass. Without articles every pass is an unknown EPC.
    pub fn next_pass(&mut self) -> Planned {
        let gate = self.rng.gen_range(0..self.gates);
        let serial = self.rng.gen_range(1..1_u64 << 38);
        if self.articles.is_empty() || self.rng.gen_ratio(1, UNKNOWN_EVERY) {
            return Planned {
                gate,
                direction: Direction::In,
                tag_uri: tag_uri(UNKNOWN_GTIN, serial),
                weight_grams: self.rng.gen_range(200..5_000),
            };
        }
        // Out about as often as in once something is inside.
        let out = !self.inside.is_empty() && self.rng.gen_bool(0.45);
        let (article, serial, direction) = if out {
            let at = self.rng.gen_range(0..self.inside.len());
            let (article, serial) = self.inside.swap_remove(at);
            (article, serial, Direction::Out)
        } else {
            let article = self.rng.gen_range(0..self.articles.len());
            self.inside.push((article, serial));
            (article, serial, Direction::In)
        };
        let tagged = &self.articles[article];
        let weight = tagged.unit_weight_g.unwrap_or(1_000);
        let weight = if self.rng.gen_ratio(1, IMPLAUSIBLE_EVERY) {
            weight * 3 + 5_000
        } else {
            weight
        };
        Planned {
            gate,
            direction,
            tag_uri: tag_uri(&tagged.gtin14, serial),
            weight_grams: i32::try_from(weight).unwrap_or(i32::MAX),
        }
    }
}

/// The SGTIN-96 tag URI of `serial` of a GTIN-14: company prefix of
/// [`PREFIX_DIGITS`], the indicator digit leading the item reference.
pub fn tag_uri(gtin14: &str, serial: u64) -> String {
    let (indicator, rest) = gtin14.split_at(1);
    let (company, item) = rest.split_at(PREFIX_DIGITS);
    let item = &item[..item.len() - 1];
    format!("urn:epc:tag:sgtin-96:3.{company}.{indicator}{item}.{serial}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn water() -> Vec<Tagged> {
        vec![
            Tagged {
                gtin14: "04006381333931".into(),
                unit_weight_g: Some(1_550),
            },
            Tagged {
                gtin14: "80614141123458".into(),
                unit_weight_g: None,
            },
        ]
    }

    #[test]
    fn the_tag_uri_carries_the_articles_gtin() {
        let epc = crate::epc::parse(&tag_uri("04006381333931", 42)).unwrap();
        assert_eq!(epc.gtin14.as_deref(), Some("04006381333931"));
        let unknown = crate::epc::parse(&tag_uri(UNKNOWN_GTIN, 1)).unwrap();
        assert_eq!(unknown.gtin14.as_deref(), Some(UNKNOWN_GTIN));
    }

    #[test]
    fn the_same_seed_plans_the_same_passes() {
        let plan = |seed| {
            let mut traffic = Traffic::new(seed, water(), 2);
            (0..50).map(|_| traffic.next_pass()).collect::<Vec<_>>()
        };
        assert_eq!(plan(7), plan(7));
        assert_ne!(plan(7), plan(8));
    }

    #[test]
    fn out_passes_carry_only_items_that_went_in() {
        let mut traffic = Traffic::new(3, water(), 2);
        let mut inside = std::collections::HashSet::new();
        let (mut ins, mut outs, mut unknown) = (0, 0, 0);
        for _ in 0..2_000 {
            let pass = traffic.next_pass();
            assert!(pass.gate < 2);
            let gtin = crate::epc::parse(&pass.tag_uri).unwrap().gtin14.unwrap();
            if gtin == UNKNOWN_GTIN {
                unknown += 1;
                assert_eq!(pass.direction, Direction::In);
                continue;
            }
            match pass.direction {
                Direction::In => {
                    ins += 1;
                    assert!(inside.insert(pass.tag_uri), "an item goes in once");
                }
                Direction::Out => {
                    outs += 1;
                    assert!(inside.remove(&pass.tag_uri), "out only what is inside");
                }
                Direction::Unknown => unreachable!("the plan knows each direction"),
            }
        }
        assert_eq!(inside.len(), traffic.inside());
        assert!(
            ins > 500 && outs > 500 && unknown > 100,
            "{ins} {outs} {unknown}"
        );
    }

    #[test]
    fn weights_are_the_units_but_now_and_then_not() {
        let mut traffic = Traffic::new(11, water()[..1].to_vec(), 1);
        let weights: Vec<i32> = (0..500)
            .map(|_| traffic.next_pass())
            .filter(|p| !p.tag_uri.contains(".0614141."))
            .map(|p| p.weight_grams)
            .collect();
        let plausible = weights.iter().filter(|&&w| w == 1_550).count();
        assert!(plausible > weights.len() * 4 / 5);
        assert!(plausible < weights.len(), "some implausible weights");
    }

    #[test]
    fn without_articles_every_pass_is_unknown() {
        let mut traffic = Traffic::new(1, Vec::new(), 0);
        let pass = traffic.next_pass();
        assert_eq!((pass.gate, pass.direction), (0, Direction::In));
        assert!(pass.tag_uri.contains(".0614141.099999."));
    }
}
