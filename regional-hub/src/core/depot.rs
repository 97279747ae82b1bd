//! A depot's picture at the hub besides its cursor: which retained snapshot
//! wins, how the link state and its "since" change, and freshness at `now`.

use feed_contract::LinkState;
use time::{Duration, OffsetDateTime};

/// The order of retained snapshots of one topic: a higher seq wins, at the
/// same seq the later time (an article reclassified, or utilisation taken
/// again, changes no seq).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct SnapshotVersion {
    pub seq: u64,
    pub time_ns: i128,
}

impl SnapshotVersion {
    /// The version of a payload with `seq` taken at `time`.
    pub fn new(seq: u64, time: OffsetDateTime) -> Self {
        Self {
            seq,
            time_ns: time.unix_timestamp_nanos(),
        }
    }

    /// Whether a snapshot of this version replaces `current` (none yet:
    /// always; the same version again, as a retained resend: never).
    pub fn supersedes(self, current: Option<SnapshotVersion>) -> bool {
        current.is_none_or(|current| self > current)
    }
}

/// A depot's link state as the hub shows it: the state and since when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Link {
    pub state: LinkState,
    /// When the hub first saw this state (its own clock).
    pub since: OffsetDateTime,
}

impl Link {
    /// The link after a status message with `state` received at `now`.
    /// Status messages are applied in the order the broker delivers them
    /// (MQTT keeps one topic's order), not by their own `time`: the Last Will
    /// carries the time of the connect, earlier than the `online` sent after
    /// it. A retained resend is the newest state, so applying it is right.
    /// The same state again keeps its since.
    pub fn after(current: Option<Link>, state: LinkState, now: OffsetDateTime) -> Link {
        match current {
            Some(current) if current.state == state => current,
            _ => Link { state, since: now },
        }
    }
}

/// Whether a depot's feed is current.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// A message arrived within the stale limit.
    Fresh,
    /// Nothing arrived for longer than the stale limit (or the depot said
    /// it went offline): its figures may be old.
    Stale,
}

impl Freshness {
    /// Freshness at `now` of a depot last heard from at `last_message`.
    pub fn at(
        link: Option<LinkState>,
        last_message: OffsetDateTime,
        now: OffsetDateTime,
        stale_after: Duration,
    ) -> Freshness {
        if link == Some(LinkState::Offline) || now - last_message > stale_after {
            Freshness::Stale
        } else {
            Freshness::Fresh
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn newer_snapshot_wins_and_a_resend_changes_nothing() {
        let t = datetime!(2026-12-01 10:00 UTC);
        let v5 = SnapshotVersion::new(5, t);
        assert!(v5.supersedes(None));
        assert!(!v5.supersedes(Some(v5)));
        assert!(SnapshotVersion::new(6, t).supersedes(Some(v5)));
        assert!(!SnapshotVersion::new(4, t + Duration::hours(1)).supersedes(Some(v5)));
        assert!(SnapshotVersion::new(5, t + Duration::seconds(1)).supersedes(Some(v5)));
    }

    #[test]
    fn link_since_changes_only_with_the_state() {
        let connect = datetime!(2026-12-01 10:00 UTC);
        let online = Link::after(None, LinkState::Online, connect);
        assert_eq!(online.since, connect);
        // The retained online again after a hub resubscribe: same since.
        let again = Link::after(
            Some(online),
            LinkState::Online,
            connect + Duration::minutes(5),
        );
        assert_eq!(again, online);
        // The Last Will: offline since the hub saw it.
        let gone = connect + Duration::minutes(7);
        let offline = Link::after(Some(online), LinkState::Offline, gone);
        assert_eq!((offline.state, offline.since), (LinkState::Offline, gone));
        let back = connect + Duration::minutes(9);
        let online2 = Link::after(Some(offline), LinkState::Online, back);
        assert_eq!((online2.state, online2.since), (LinkState::Online, back));
    }

    #[test]
    fn stale_after_the_limit_or_when_offline() {
        let t = datetime!(2026-12-01 10:00 UTC);
        let limit = Duration::seconds(60);
        let online = Some(LinkState::Online);
        assert_eq!(Freshness::at(online, t, t + limit, limit), Freshness::Fresh);
        assert_eq!(
            Freshness::at(online, t, t + limit + Duration::seconds(1), limit),
            Freshness::Stale
        );
        assert_eq!(
            Freshness::at(Some(LinkState::Offline), t, t, limit),
            Freshness::Stale
        );
    }
}
