//! Roles, clearance and what each may do (brief §2); when a user's access
//! expires and how often its use is recorded.

use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{Date, Duration, OffsetDateTime};

use super::article::Classification;
use super::named_enum;

named_enum! {
    /// A user's role.
    Role, "role" {
        /// Warehouse staff: book goods, read stock.
        Staff = "staff",
        /// Depot manager: also keeps articles, locations and users.
        Manager = "manager",
        /// Audit: reads everything, including the full ledger; changes nothing.
        Auditor = "auditor",
        /// A regional logistics cell: reads stock and capacity.
        Hub = "hub",
    }
}

/// Something a caller may want to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Book a movement.
    Book,
    /// Create or change articles and locations.
    KeepMasterData,
    /// Read articles, locations, stock and utilisation.
    ReadStock,
    /// Read the movement ledger and items.
    ReadLedger,
    /// Book a gate pass that waits for a manager by naming its article or lot.
    ResolveGatePass,
    /// Read the list of users (never their tokens or passwords).
    ReadUsers,
}

impl Role {
    /// Whether this role may do `action` at all.
    pub fn may(self, action: Action) -> bool {
        match action {
            Action::Book => matches!(self, Role::Staff | Role::Manager),
            Action::KeepMasterData | Action::ResolveGatePass => self == Role::Manager,
            Action::ReadStock => true,
            Action::ReadLedger => matches!(self, Role::Staff | Role::Manager | Role::Auditor),
            Action::ReadUsers => matches!(self, Role::Manager | Role::Auditor),
        }
    }
}

/// Who is asking: an authenticated user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub name: String,
    pub role: Role,
    /// Cleared for restricted articles.
    pub restricted: bool,
}

impl Caller {
    /// Whether the caller may see an article of this classification at all.
    /// An article the caller may not see must look exactly like one that does not exist.
    pub fn sees(&self, classification: Classification) -> bool {
        classification == Classification::Open || self.restricted
    }
}

/// A user as `user list` shows it (never with a token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub role: Role,
    pub restricted: bool,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339, when the token was revoked.
    pub revoked_at: Option<String>,
    /// RFC 3339, when the user's access (API token and web login) ends.
    pub expires_at: Option<String>,
    /// RFC 3339, when the token or a web session was last used (to the minute).
    pub last_used_at: Option<String>,
}

/// A user's last use is recorded at most this often: a request costs no
/// write, a user's first request in each such interval costs one.
pub const LAST_USE_RESOLUTION: Duration = Duration::minutes(1);

/// Whether access that ends at `expires_at` has ended at `now`.
pub fn expired(expires_at: Option<OffsetDateTime>, now: OffsetDateTime) -> bool {
    expires_at.is_some_and(|at| at <= now)
}

/// Whether a use at `now` is worth recording, the last recorded being `last`.
pub fn last_use_due(last: Option<OffsetDateTime>, now: OffsetDateTime) -> bool {
    last.is_none_or(|last| now - last >= LAST_USE_RESOLUTION)
}

/// When access given `--expires TEXT` at `now` ends: a duration from now
/// (`12h`, `90d`, `8w`), an RFC 3339 time (`2027-03-31T18:00:00Z`), or a
/// date (`2027-03-31`: the start of that day, UTC). It must lie in the future.
pub fn parse_expiry(text: &str, now: OffsetDateTime) -> Result<OffsetDateTime, String> {
    let text = text.trim();
    let duration = text
        .len()
        .checked_sub(1)
        .filter(|&i| text.is_char_boundary(i))
        .map(|i| text.split_at(i))
        .filter(|(digits, _)| !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()));
    let at = if let Some((digits, unit)) = duration {
        let count: i64 = digits
            .parse()
            .ok()
            .filter(|n| (1..=100_000).contains(n))
            .ok_or_else(|| format!("'{text}': the count must be 1 to 100000"))?;
        let length = match unit {
            "h" => Duration::hours(count),
            "d" => Duration::days(count),
            "w" => Duration::weeks(count),
            _ => {
                return Err(format!(
                    "'{text}': the unit must be h, d or w (hours, days, weeks)"
                ))
            }
        };
        now + length
    } else if let Ok(at) = OffsetDateTime::parse(text, &Rfc3339) {
        at
    } else if let Ok(day) = Date::parse(text, format_description!("[year]-[month]-[day]")) {
        day.midnight().assume_utc()
    } else {
        return Err(format!(
            "'{text}': expected a duration (12h, 90d, 8w), a date (2027-03-31) or an RFC 3339 time"
        ));
    };
    if at <= now {
        return Err(format!("'{text}': lies in the past"));
    }
    Ok(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auditors_read_everything_and_change_nothing() {
        assert!(Role::Auditor.may(Action::ReadLedger));
        assert!(!Role::Auditor.may(Action::Book));
        assert!(!Role::Auditor.may(Action::KeepMasterData));
        assert!(Role::Auditor.may(Action::ReadUsers));
        assert!(!Role::Staff.may(Action::ReadUsers));
    }

    #[test]
    fn staff_book_but_do_not_keep_master_data() {
        assert!(Role::Staff.may(Action::Book));
        assert!(!Role::Staff.may(Action::KeepMasterData));
        assert!(Role::Manager.may(Action::KeepMasterData));
        assert!(!Role::Hub.may(Action::ReadLedger));
    }

    #[test]
    fn expiry_is_a_duration_a_date_or_a_time_in_the_future() {
        let now = time::macros::datetime!(2026-12-02 11:00 UTC);
        assert_eq!(
            parse_expiry("90d", now),
            Ok(time::macros::datetime!(2027-03-02 11:00 UTC))
        );
        assert_eq!(
            parse_expiry("12h", now),
            Ok(time::macros::datetime!(2026-12-02 23:00 UTC))
        );
        assert_eq!(
            parse_expiry("2w", now),
            Ok(time::macros::datetime!(2026-12-16 11:00 UTC))
        );
        assert_eq!(
            parse_expiry("2027-03-31", now),
            Ok(time::macros::datetime!(2027-03-31 0:00 UTC))
        );
        assert_eq!(
            parse_expiry("2027-03-31T18:00:00+02:00", now),
            Ok(time::macros::datetime!(2027-03-31 16:00 UTC))
        );
        for bad in [
            "",
            "d",
            "0d",
            "90x",
            "9m",
            "1.5d",
            "-3d",
            "2026-12-01",
            "tomorrow",
            "2026-12-02T10:00:00Z",
            "9ä",
        ] {
            assert!(parse_expiry(bad, now).is_err(), "{bad} was taken");
        }
    }

    #[test]
    fn access_expires_at_its_instant_and_use_is_noted_once_a_minute() {
        let now = time::macros::datetime!(2026-12-02 11:00 UTC);
        assert!(!expired(None, now));
        assert!(!expired(Some(now + Duration::seconds(1)), now));
        assert!(expired(Some(now), now));
        assert!(last_use_due(None, now));
        assert!(!last_use_due(Some(now - Duration::seconds(59)), now));
        assert!(last_use_due(Some(now - Duration::seconds(60)), now));
    }

    #[test]
    fn restricted_needs_clearance() {
        let mut caller = Caller {
            name: "a".into(),
            role: Role::Staff,
            restricted: false,
        };
        assert!(caller.sees(Classification::Open));
        assert!(!caller.sees(Classification::Restricted));
        caller.restricted = true;
        assert!(caller.sees(Classification::Restricted));
    }
}
