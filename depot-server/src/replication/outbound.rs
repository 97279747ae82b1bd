//! The publisher's sans-IO core: what to send next, in which order, how
//! many at once, and how far the durable cursor may move after PUBACKs.
//!
//! No broker, no database, no clock: the adapter feeds it what it read
//! (movements after the cursor, outbox rows) and what the broker said
//! (connected, acknowledged, lost), and asks it what to send.
//!
//! Every movement read creates obligations: its own message, and a fresh
//! stock snapshot of its article and a fresh utilisation snapshot, each
//! taken after the movement. An outbox row creates the snapshots it
//! changes. Movements are sent one by one in seq order and never coalesced;
//! an unsent snapshot of a key takes on every newer obligation of the same
//! key (it is read when it is sent, so it covers them all). The cursor moves
//! only over the contiguous prefix of obligations that are acknowledged, so
//! after any restart the publisher resends from the oldest unacknowledged
//! one, and nothing acknowledged is lost to a crash.
//!
//! A hub that misses movements the broker acknowledged (a broker killed
//! between two saves) asks for them again: such resends go out before
//! anything else, with fresh snapshots of what they touched, and never
//! hold the cursor back (they were acknowledged once already).

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

/// A retained snapshot: the newest supersedes an unsent older one of the same key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Snapshot {
    /// An article's stock, on the topic of its classification when sent.
    Stock(String),
    /// Clears an article's retained stock on the audience it is not in
    /// (after its classification changed).
    Clear(String),
    /// The depot's utilisation.
    Utilization,
}

/// A master-data change from the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// An article; `reclassified` if its classification changed.
    Article {
        sku: String,
        reclassified: bool,
    },
    Location,
}

/// What the adapter is asked to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Send<M> {
    /// The retained `online` status (first after each connect).
    Status,
    /// A movement, with what the adapter handed in for it.
    Movement(i64, M),
    /// A snapshot, read from the database when sent.
    Snapshot(Snapshot),
}

/// Names one sent message until its PUBACK.
pub type Token = u64;

/// The oldest obligations a snapshot owes: the ledger seq and outbox id
/// that created them, and its place in the send order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Owed {
    order: i64,
    ledger: Option<i64>,
    outbox: Option<i64>,
}

impl Owed {
    fn merge(self, other: Owed) -> Owed {
        fn min(a: Option<i64>, b: Option<i64>) -> Option<i64> {
            match (a, b) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            }
        }
        Owed {
            order: self.order.min(other.order),
            ledger: min(self.ledger, other.ledger),
            outbox: min(self.outbox, other.outbox),
        }
    }
}

#[derive(Debug)]
enum Flight<M> {
    Status,
    Movement(i64, M),
    Snapshot(Snapshot, Owed),
    /// A movement sent again at a hub's request.
    Resend(i64, M),
}

/// Movements waiting to be sent again at most: what one request may ask for.
pub const MAX_RESENDS: usize = feed_contract::MAX_RESEND as usize;

/// The durable position: everything up to `ledger_seq` and `outbox_id` is acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Position {
    pub ledger_seq: i64,
    pub outbox_id: i64,
}

/// The queue of what is owed to the broker. `M` is what the adapter keeps
/// of a movement to build its message.
#[derive(Debug)]
pub struct Outbound<M> {
    window: usize,
    read: Position,
    pending: VecDeque<(i64, M)>,
    /// Movements a hub asked for again, in seq order.
    resends: BTreeMap<i64, M>,
    dirty: HashMap<Snapshot, Owed>,
    order: BTreeSet<(i64, Snapshot)>,
    in_flight: HashMap<Token, Flight<M>>,
    next_token: Token,
    status: bool,
}

impl<M: Clone> Outbound<M> {
    /// Starts after the durable cursor, with at most `window` (at least 1)
    /// messages in flight.
    pub fn new(window: usize, cursor: Position) -> Self {
        Self {
            window: window.max(1),
            read: cursor,
            pending: VecDeque::new(),
            resends: BTreeMap::new(),
            dirty: HashMap::new(),
            order: BTreeSet::new(),
            in_flight: HashMap::new(),
            next_token: 0,
            status: false,
        }
    }

    /// How far the adapter has handed in movements and outbox rows.
    pub fn read(&self) -> Position {
        self.read
    }

    /// How many more movements to read now: reading stays a little ahead
    /// of sending, so memory stays bounded whatever the backlog.
    pub fn room(&self) -> usize {
        (2 * self.window).saturating_sub(self.pending.len())
    }

    /// Movements read from the ledger, in seq order, each with its SKU.
    /// Seqs at or below what was read already are ignored.
    pub fn push_movements(&mut self, movements: impl IntoIterator<Item = (i64, String, M)>) {
        for (seq, sku, body) in movements {
            if seq <= self.read.ledger_seq {
                continue;
            }
            self.read.ledger_seq = seq;
            self.pending.push_back((seq, body));
            let owed = Owed {
                order: seq,
                ledger: Some(seq),
                outbox: None,
            };
            self.mark(Snapshot::Stock(sku), owed);
            self.mark(Snapshot::Utilization, owed);
        }
    }

    /// Outbox rows, in id order. Their snapshots go after the movements
    /// read so far and before any read later.
    pub fn push_outbox(&mut self, rows: impl IntoIterator<Item = (i64, Change)>) {
        for (id, change) in rows {
            if id <= self.read.outbox_id {
                continue;
            }
            self.read.outbox_id = id;
            let owed = Owed {
                order: self.read.ledger_seq,
                ledger: None,
                outbox: Some(id),
            };
            match change {
                Change::Article { sku, reclassified } => {
                    if reclassified {
                        self.mark(Snapshot::Clear(sku.clone()), owed);
                    }
                    self.mark(Snapshot::Stock(sku), owed);
                }
                Change::Location => self.mark(Snapshot::Utilization, owed),
            }
        }
    }

    /// Movements a hub asked for again (each with its SKU), at or below
    /// the cursor: sent before anything else, then fresh snapshots of their
    /// articles and of utilisation (the hub may have missed those too).
    /// Seqs already waiting or above the cursor (sent anyway) are ignored;
    /// at most [`MAX_RESENDS`] wait. Returns how many were taken.
    pub fn push_resends(&mut self, movements: impl IntoIterator<Item = (i64, String, M)>) -> usize {
        let acknowledged = self.cursor().ledger_seq;
        let mut taken = 0;
        for (seq, sku, body) in movements {
            if seq > acknowledged
                || self.resends.len() >= MAX_RESENDS
                || self.resends.contains_key(&seq)
            {
                continue;
            }
            self.resends.insert(seq, body);
            taken += 1;
            // Not durable: a snapshot owed only to a resend holds no cursor back.
            let owed = Owed {
                order: self.read.ledger_seq,
                ledger: None,
                outbox: None,
            };
            self.mark(Snapshot::Stock(sku), owed);
            self.mark(Snapshot::Utilization, owed);
        }
        taken
    }

    fn mark(&mut self, key: Snapshot, owed: Owed) {
        let merged = match self.dirty.get(&key) {
            Some(old) => {
                let merged = old.merge(owed);
                if merged.order != old.order {
                    self.order.remove(&(old.order, key.clone()));
                    self.order.insert((merged.order, key.clone()));
                }
                merged
            }
            None => {
                self.order.insert((owed.order, key.clone()));
                owed
            }
        };
        self.dirty.insert(key, merged);
    }

    /// The broker accepted the connection: the status goes first.
    pub fn connected(&mut self) {
        self.status = true;
    }

    /// The connection is gone: everything in flight is owed again, in its
    /// old order, and goes out again after the next connect.
    pub fn disconnected(&mut self) {
        self.status = false;
        let mut movements = Vec::new();
        for (_, flight) in self.in_flight.drain() {
            match flight {
                Flight::Status => {}
                Flight::Movement(seq, body) => movements.push((seq, body)),
                Flight::Resend(seq, body) => {
                    self.resends.insert(seq, body);
                }
                Flight::Snapshot(key, owed) => {
                    // Borrowck: `mark` needs `&mut self`, the drain holds it.
                    let merged = match self.dirty.get(&key) {
                        Some(old) => {
                            self.order.remove(&(old.order, key.clone()));
                            old.merge(owed)
                        }
                        None => owed,
                    };
                    self.order.insert((merged.order, key.clone()));
                    self.dirty.insert(key, merged);
                }
            }
        }
        movements.sort_by_key(|(seq, _)| *seq);
        for movement in movements.into_iter().rev() {
            self.pending.push_front(movement);
        }
    }

    /// The next message to send, if the window has room and anything is owed.
    /// Movements go in seq order; a snapshot goes when its oldest
    /// obligation is older than the next movement (on a tie, the movement first).
    pub fn poll_send(&mut self) -> Option<(Token, Send<M>)> {
        if self.in_flight.len() >= self.window {
            return None;
        }
        let token = self.next_token;
        if self.status {
            self.status = false;
            self.next_token += 1;
            self.in_flight.insert(token, Flight::Status);
            return Some((token, Send::Status));
        }
        if let Some((seq, body)) = self.resends.pop_first() {
            self.next_token += 1;
            self.in_flight
                .insert(token, Flight::Resend(seq, body.clone()));
            return Some((token, Send::Movement(seq, body)));
        }
        let movement = self.pending.front().map(|(seq, _)| *seq);
        let snapshot = self.order.first().map(|(order, _)| *order);
        let send = match (movement, snapshot) {
            (None, None) => return None,
            (Some(seq), Some(order)) if order < seq => self.take_snapshot(token)?,
            (Some(_), _) => {
                let (seq, body) = self.pending.pop_front()?;
                self.in_flight
                    .insert(token, Flight::Movement(seq, body.clone()));
                Send::Movement(seq, body)
            }
            (None, Some(_)) => self.take_snapshot(token)?,
        };
        self.next_token += 1;
        Some((token, send))
    }

    fn take_snapshot(&mut self, token: Token) -> Option<Send<M>> {
        let (_, key) = self.order.pop_first()?;
        // `order` and `dirty` hold the same keys.
        let owed = self.dirty.remove(&key)?;
        self.in_flight
            .insert(token, Flight::Snapshot(key.clone(), owed));
        Some(Send::Snapshot(key))
    }

    /// The broker acknowledged `token` (or the adapter dropped a message
    /// that has nothing to say); false if it was not in flight.
    pub fn acked(&mut self, token: Token) -> bool {
        self.in_flight.remove(&token).is_some()
    }

    /// Messages sent and not yet acknowledged.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// Whether nothing is owed: all read is acknowledged.
    pub fn is_idle(&self) -> bool {
        self.in_flight.is_empty()
            && self.pending.is_empty()
            && self.resends.is_empty()
            && self.dirty.is_empty()
    }

    /// How far the durable cursor may move: just before the oldest
    /// obligation not yet acknowledged, in the ledger and in the outbox.
    pub fn cursor(&self) -> Position {
        let mut ledger = self.pending.front().map(|(seq, _)| *seq);
        let mut outbox = None;
        let lower = |slot: &mut Option<i64>, value: Option<i64>| {
            if let Some(value) = value {
                *slot = Some(slot.map_or(value, |old: i64| old.min(value)));
            }
        };
        for owed in self.dirty.values() {
            lower(&mut ledger, owed.ledger);
            lower(&mut outbox, owed.outbox);
        }
        for flight in self.in_flight.values() {
            match flight {
                Flight::Status | Flight::Resend(..) => {}
                Flight::Movement(seq, _) => lower(&mut ledger, Some(*seq)),
                Flight::Snapshot(_, owed) => {
                    lower(&mut ledger, owed.ledger);
                    lower(&mut outbox, owed.outbox);
                }
            }
        }
        Position {
            ledger_seq: ledger.map_or(self.read.ledger_seq, |seq| seq - 1),
            outbox_id: outbox.map_or(self.read.outbox_id, |id| id - 1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn moves(range: std::ops::RangeInclusive<i64>, sku: &str) -> Vec<(i64, String, ())> {
        range.map(|seq| (seq, sku.to_owned(), ())).collect()
    }

    /// A core with `window` whose ledger is acknowledged up to `seq`.
    fn acknowledged_up_to(window: usize, seq: i64) -> Outbound<()> {
        Outbound::new(
            window,
            Position {
                ledger_seq: seq,
                outbox_id: 0,
            },
        )
    }

    /// Sends until the window is full; returns what went out.
    fn drain(out: &mut Outbound<()>) -> Vec<(Token, Send<()>)> {
        std::iter::from_fn(|| out.poll_send()).collect()
    }

    fn article(sku: &str, reclassified: bool) -> Change {
        Change::Article {
            sku: sku.into(),
            reclassified,
        }
    }

    fn stock(sku: &str) -> Send<()> {
        Send::Snapshot(Snapshot::Stock(sku.into()))
    }

    #[test]
    fn each_movement_then_its_snapshots_when_there_is_room() {
        let mut out = Outbound::new(10, Position::default());
        out.connected();
        out.push_movements(moves(1..=1, "A"));
        let sent: Vec<_> = drain(&mut out).into_iter().map(|(_, s)| s).collect();
        assert_eq!(
            sent,
            vec![
                Send::Status,
                Send::Movement(1, ()),
                stock("A"),
                Send::Snapshot(Snapshot::Utilization)
            ]
        );
    }

    #[test]
    fn movements_go_in_seq_order_within_the_window_and_snapshots_coalesce() {
        let mut out = Outbound::new(2, Position::default());
        out.push_movements(moves(1..=3, "A"));
        out.push_movements(moves(4..=5, "B"));
        let mut in_flight = VecDeque::new();
        let mut all = vec![];
        loop {
            while let Some((token, send)) = out.poll_send() {
                assert!(out.in_flight() <= 2, "the window bounds what is in flight");
                in_flight.push_back(token);
                all.push(send);
            }
            match in_flight.pop_front() {
                Some(token) => assert!(out.acked(token)),
                None => break,
            }
        }
        let utilization = Send::Snapshot(Snapshot::Utilization);
        assert_eq!(
            all,
            vec![
                Send::Movement(1, ()),
                stock("A"),
                utilization.clone(),
                Send::Movement(2, ()),
                Send::Movement(3, ()),
                Send::Movement(4, ()),
                stock("B"),
                Send::Movement(5, ()),
            ],
            "one snapshot of A for seqs 1 to 3, one utilisation for all five"
        );
        assert!(out.is_idle());
        assert_eq!(out.cursor().ledger_seq, 5);
    }

    #[test]
    fn an_unsent_snapshot_takes_on_newer_obligations() {
        let mut out = Outbound::new(1, Position::default());
        out.push_movements(moves(1..=1, "A"));
        let (t1, send) = out.poll_send().expect("movement 1");
        assert_eq!(send, Send::Movement(1, ()));
        // Under load: more movements of A arrive while the window is full.
        out.push_movements(moves(2..=50, "A"));
        assert!(out.poll_send().is_none(), "window full");
        out.acked(t1);
        let (t2, send) = out.poll_send().expect("snapshot");
        assert_eq!(send, stock("A"));
        out.acked(t2);
        let (t3, send) = out.poll_send().expect("utilisation");
        assert_eq!(send, Send::Snapshot(Snapshot::Utilization));
        out.acked(t3);
        // The rest are movements only: the snapshots above covered them.
        let mut rest = vec![];
        while let Some((token, send)) = out.poll_send() {
            rest.push(send);
            out.acked(token);
        }
        assert_eq!(
            rest,
            (2..=50).map(|s| Send::Movement(s, ())).collect::<Vec<_>>()
        );
        assert_eq!(out.cursor().ledger_seq, 50);
    }

    #[test]
    fn the_cursor_moves_only_over_an_acknowledged_prefix() {
        let mut out = acknowledged_up_to(100, 10);
        out.push_movements(moves(11..=13, "A"));
        let sent = drain(&mut out);
        let token = |wanted: &Send<()>| {
            sent.iter()
                .find(|(_, s)| s == wanted)
                .map(|(t, _)| *t)
                .expect("sent")
        };
        assert_eq!(out.cursor().ledger_seq, 10);
        // PUBACKs out of order: 13 and 12 first.
        out.acked(token(&Send::Movement(13, ())));
        out.acked(token(&Send::Movement(12, ())));
        assert_eq!(out.cursor().ledger_seq, 10, "11 is not acknowledged");
        out.acked(token(&Send::Movement(11, ())));
        assert_eq!(
            out.cursor().ledger_seq,
            10,
            "the snapshots taken after 11 are not acknowledged"
        );
        out.acked(token(&stock("A")));
        assert_eq!(out.cursor().ledger_seq, 10);
        out.acked(token(&Send::Snapshot(Snapshot::Utilization)));
        assert_eq!(out.cursor().ledger_seq, 13);
        assert!(!out.acked(token(&stock("A"))), "a second PUBACK is nothing");
    }

    #[test]
    fn a_lost_connection_resends_from_the_oldest_unacknowledged() {
        let mut out = Outbound::new(3, Position::default());
        out.connected();
        out.push_movements(moves(1..=5, "A"));
        let sent = drain(&mut out);
        assert_eq!(sent[0].1, Send::Status);
        assert_eq!(sent[1].1, Send::Movement(1, ()));
        out.acked(sent[0].0);
        out.acked(sent[1].0);
        // Seq 1 is acknowledged, the stock snapshot is not; the link drops.
        out.disconnected();
        assert_eq!(out.in_flight(), 0);
        out.connected();
        let again: Vec<_> = drain(&mut out).into_iter().map(|(_, s)| s).collect();
        assert_eq!(
            again,
            vec![
                Send::Status,
                stock("A"),
                Send::Snapshot(Snapshot::Utilization)
            ],
            "the unacknowledged snapshots first, as before; seq 1 is not resent"
        );
        assert_eq!(out.cursor().ledger_seq, 0);
    }

    #[test]
    fn resends_go_first_with_fresh_snapshots_and_hold_no_cursor_back() {
        let mut out = acknowledged_up_to(10, 20);
        out.push_movements(moves(21..=21, "C"));
        // 5 and 6 were acknowledged long ago; 21 is owed anyway, so not taken.
        let asked =
            [(5, "A"), (6, "B"), (5, "A"), (21, "C")].map(|(seq, sku)| (seq, sku.to_owned(), ()));
        assert_eq!(
            out.push_resends(asked),
            2,
            "a seq waiting once is taken once"
        );
        let sent: Vec<_> = drain(&mut out);
        let sends: Vec<_> = sent.iter().map(|(_, s)| s.clone()).collect();
        assert_eq!(
            sends,
            vec![
                Send::Movement(5, ()),
                Send::Movement(6, ()),
                Send::Movement(21, ()),
                stock("A"),
                stock("B"),
                stock("C"),
                Send::Snapshot(Snapshot::Utilization),
            ]
        );
        // Unacknowledged resends do not hold the cursor: 21's obligations do.
        for (token, send) in &sent {
            if !matches!(send, Send::Movement(5 | 6, ())) {
                out.acked(*token);
            }
        }
        assert_eq!(out.cursor().ledger_seq, 21);
        // The link drops with 5 and 6 unacknowledged: they go again, first.
        out.disconnected();
        out.connected();
        let again: Vec<_> = drain(&mut out).into_iter().map(|(_, s)| s).collect();
        assert_eq!(
            again,
            vec![Send::Status, Send::Movement(5, ()), Send::Movement(6, ())]
        );
    }

    #[test]
    fn resends_wait_bounded() {
        let mut out = acknowledged_up_to(1, 5_000);
        let asked = (1..=3_000).map(|seq| (seq, "A".to_owned(), ()));
        assert_eq!(out.push_resends(asked), MAX_RESENDS);
        let more = (3_001..=3_010).map(|seq| (seq, "A".to_owned(), ()));
        assert_eq!(out.push_resends(more), 0);
    }

    #[test]
    fn a_lost_connection_puts_movements_back_in_order() {
        let mut out = Outbound::new(4, Position::default());
        out.push_movements(moves(1..=1, "A"));
        out.push_movements(moves(2..=2, "B"));
        let sent = drain(&mut out);
        assert_eq!(sent.len(), 4);
        out.disconnected();
        let mut seqs = vec![];
        while let Some((token, send)) = out.poll_send() {
            if let Send::Movement(seq, ()) = send {
                seqs.push(seq);
            }
            out.acked(token);
        }
        assert_eq!(seqs, vec![1, 2]);
        assert!(out.is_idle());
        assert_eq!(out.cursor().ledger_seq, 2);
    }

    #[test]
    fn outbox_rows_owe_their_snapshots_and_move_their_own_cursor() {
        let mut out = Outbound::new(
            10,
            Position {
                ledger_seq: 7,
                outbox_id: 3,
            },
        );
        out.push_outbox([(4, article("A", false)), (5, Change::Location)]);
        out.push_outbox([(6, article("A", true))]);
        let sent = drain(&mut out);
        let keys: Vec<_> = sent.iter().map(|(_, s)| s.clone()).collect();
        assert_eq!(keys.len(), 3, "{keys:?}");
        assert!(keys.contains(&stock("A")));
        assert!(keys.contains(&Send::Snapshot(Snapshot::Clear("A".into()))));
        assert!(keys.contains(&Send::Snapshot(Snapshot::Utilization)));
        assert_eq!(
            out.cursor(),
            Position {
                ledger_seq: 7,
                outbox_id: 3
            }
        );
        for (token, _) in &sent {
            out.acked(*token);
        }
        assert_eq!(
            out.cursor(),
            Position {
                ledger_seq: 7,
                outbox_id: 6
            }
        );
    }

    #[test]
    fn outbox_snapshots_wait_behind_movements_read_before_them_only() {
        let mut out = Outbound::new(1, Position::default());
        out.push_movements(moves(1..=2, "A"));
        out.push_outbox([(1, article("C", true)), (2, article("D", false))]);
        out.push_movements(moves(3..=4, "B"));
        let mut order = vec![];
        while let Some((token, send)) = out.poll_send() {
            order.push(send);
            out.acked(token);
        }
        assert_eq!(
            order,
            vec![
                Send::Movement(1, ()),
                stock("A"),
                Send::Snapshot(Snapshot::Utilization),
                Send::Movement(2, ()),
                stock("C"),
                stock("D"),
                Send::Snapshot(Snapshot::Clear("C".into())),
                Send::Movement(3, ()),
                stock("B"),
                Send::Movement(4, ()),
            ],
            "one utilisation covers all four: it was read after them"
        );
        assert_eq!(
            out.cursor(),
            Position {
                ledger_seq: 4,
                outbox_id: 2
            }
        );
    }

    #[test]
    fn reading_stays_bounded_ahead_of_sending() {
        let mut out: Outbound<()> = Outbound::new(8, Position::default());
        assert_eq!(out.room(), 16);
        out.push_movements(moves(1..=16, "A"));
        assert_eq!(out.room(), 0);
        out.push_movements(moves(5..=5, "A"));
        assert_eq!(out.read().ledger_seq, 16, "old seqs are ignored");
    }
}
