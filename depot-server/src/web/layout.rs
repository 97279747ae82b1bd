//! The page shell: head, skip link, header with navigation, the signed-in
//! user, logout and the language switch, and the main landmark.
//!
//! Navigation is a list of [`Section`]s, each shown to the roles that may
//! use it; a new page joins by adding a section (and, if it has one, its
//! start-page panel in `home.rs`).

use maud::{html, Markup, DOCTYPE};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::assets;
use super::i18n::{Lang, Texts};
use super::session::Viewer;
use crate::domain::access::{Action, Role};

/// A part of the site with its own navigation entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Start,
    Stock,
    Utilisation,
    Movements,
    Scan,
    Gates,
    Uplink,
    Admin,
}

/// The navigation, in order.
const NAV: &[Section] = &[
    Section::Start,
    Section::Stock,
    Section::Utilisation,
    Section::Movements,
    Section::Scan,
    Section::Gates,
    Section::Uplink,
    Section::Admin,
];

impl Section {
    fn path(self) -> &'static str {
        match self {
            Section::Start => "/",
            Section::Stock => "/stock",
            Section::Utilisation => "/utilisation",
            Section::Movements => "/movements",
            Section::Gates => "/gates",
            Section::Uplink => "/uplink",
            Section::Scan => "/scan",
            Section::Admin => "/admin/articles",
        }
    }

    fn label(self, t: &Texts) -> &'static str {
        match self {
            Section::Start => t.nav_start,
            Section::Stock => t.nav_stock,
            Section::Utilisation => t.nav_utilisation,
            Section::Movements => t.nav_movements,
            Section::Gates => t.nav_gates,
            Section::Uplink => t.nav_uplink,
            Section::Scan => t.nav_scan,
            Section::Admin => t.nav_admin,
        }
    }

    /// Whether a role gets this entry (the page itself checks again).
    pub fn open_to(self, role: Role) -> bool {
        match self {
            Section::Start | Section::Stock | Section::Utilisation | Section::Uplink => {
                role.may(Action::ReadStock)
            }
            // Gate passes name items: the ledger's readers.
            Section::Movements | Section::Gates => role.may(Action::ReadLedger),
            Section::Scan => role.may(Action::Book),
            // Managers keep master data; auditors read it.
            Section::Admin => role.may(Action::KeepMasterData) || role == Role::Auditor,
        }
    }
}

/// What a page adds to the shell besides its body.
pub struct Head<'a> {
    pub title: &'a str,
    pub section: Section,
    /// The request path, so that the language switch comes back here.
    pub path: &'a str,
    /// Embedded scripts by plain name (`live.js`).
    pub scripts: &'a [&'a str],
}

fn head(lang: Lang, title: &str, scripts: &[&str], csrf: Option<&str>) -> Markup {
    let t = lang.texts();
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            title { (title) " – " (t.app_name) }
            link rel="stylesheet" href=(assets::url("app.css"));
            @if let Some(csrf) = csrf { meta name="csrf-token" content=(csrf); }
            @for script in scripts { script src=(assets::url(script)) defer {} }
        }
    }
}

/// A full page for a signed-in viewer.
pub fn page(viewer: &Viewer, head_of: Head<'_>, body: Markup) -> Markup {
    let lang = viewer.lang;
    let t = lang.texts();
    let other = lang.other();
    html! {
        (DOCTYPE)
        html lang=(lang.code()) {
            (head(lang, head_of.title, head_of.scripts, Some(&viewer.csrf_token)))
            body {
                a class="skip" href="#main" { (t.skip_to_content) }
                header class="top" {
                    a class="brand" href="/" { (t.app_name) }
                    nav aria-label=(t.nav_label) {
                        ul {
                            @for section in NAV.iter().filter(|s| s.open_to(viewer.caller.role)) {
                                li {
                                    @if *section == head_of.section {
                                        a href=(section.path()) aria-current="page" { (section.label(t)) }
                                    } @else {
                                        a href=(section.path()) { (section.label(t)) }
                                    }
                                }
                            }
                        }
                    }
                    div class="who" {
                        span { (t.signed_in_as) " " strong { (viewer.caller.name) } " (" (viewer.caller.role) ")" }
                        a href=(format!("/lang?to={}&next={}", other.code(), urlencode(head_of.path)))
                            lang=(other.code()) hreflang=(other.code()) { (t.switch_language) }
                        form method="post" action="/logout" {
                            input type="hidden" name="csrf" value=(viewer.csrf_token);
                            button type="submit" class="link" { (t.log_out) }
                        }
                    }
                }
                main id="main" { (body) }
            }
        }
    }
}

/// A page without navigation (login, errors).
pub fn bare(lang: Lang, title: &str, body: Markup) -> Markup {
    let t = lang.texts();
    let other = lang.other();
    html! {
        (DOCTYPE)
        html lang=(lang.code()) {
            (head(lang, title, &[], None))
            body {
                a class="skip" href="#main" { (t.skip_to_content) }
                header class="top" {
                    a class="brand" href="/" { (t.app_name) }
                    div class="who" {
                        a href=(format!("/lang?to={}&next=/login", other.code()))
                            lang=(other.code()) hreflang=(other.code()) { (t.switch_language) }
                    }
                }
                main id="main" class="narrow" { (body) }
            }
        }
    }
}

/// A moment as a `time` element: UTC to the second, machine-readable in `datetime`.
pub fn when(at: OffsetDateTime) -> Markup {
    let at = at.to_offset(time::UtcOffset::UTC);
    let full = at.format(&Rfc3339).unwrap_or_default();
    let shown = format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    );
    html! { time datetime=(full) { (shown) } }
}

/// Percent-encodes a query value (paths and codes are mostly safe already).
pub fn urlencode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(char::from(byte))
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}
