//! Roles, clearance and what each may do (brief §2).

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
