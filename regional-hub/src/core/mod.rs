//! The hub's pure decisions, from values only: whether a (depot, seq) is
//! new, what gaps a depot's feed has, which epoch of a depot's history a
//! message belongs to and what a restore lost, which of two stock snapshots is newer,
//! how a depot's link state changes, whether a depot is stale at `now`, and
//! which missing movements to ask a depot for again.
//!
//! No I/O, no clock, no database, no broker: the store loads the values,
//! asks here, and writes what was decided in the same transaction.

pub mod cursor;
pub mod depot;
pub mod epoch;
pub mod message;
pub mod resend;

pub use cursor::{Applied, SeqCursor};
pub use depot::{Freshness, Link, SnapshotVersion};
pub use epoch::{EpochMark, Fate, Held, Standing};
pub use message::{Body, Message, Refused};
pub use resend::{Ask, DepotGaps, ResendPlanner};
