//! The message catalogue: every text a page shows, in English and German,
//! and the choice of language (a sticky `lang` cookie set by the switch,
//! else the request's `Accept-Language`, else English).
//!
//! A catalogue is a struct, so a text missing in one language fails the build.

use axum::http::{header, HeaderMap};

use crate::http::extract::cookie;

/// The cookie the language switch sets.
pub const LANG_COOKIE: &str = "depot_lang";

/// A language the pages speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    En,
    De,
}

impl Lang {
    /// The `lang` attribute and cookie value.
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::De => "de",
        }
    }

    /// A language code as the switch sends it.
    pub fn parse(code: &str) -> Option<Lang> {
        match code {
            "en" => Some(Lang::En),
            "de" => Some(Lang::De),
            _ => None,
        }
    }

    /// The other language (the switch offers it).
    pub fn other(self) -> Lang {
        match self {
            Lang::En => Lang::De,
            Lang::De => Lang::En,
        }
    }

    /// The cookie's choice, else the first of `Accept-Language` we speak
    /// (by quality), else English.
    pub fn of(headers: &HeaderMap) -> Lang {
        if let Some(lang) = cookie(headers, LANG_COOKIE).and_then(Lang::parse) {
            return lang;
        }
        let accept = headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let mut best: Option<(f32, Lang)> = None;
        for (position, part) in accept.split(',').enumerate().take(32) {
            let mut pieces = part.trim().split(';');
            let tag = pieces.next().unwrap_or("").trim().to_ascii_lowercase();
            let quality = pieces
                .find_map(|p| p.trim().strip_prefix("q="))
                .and_then(|q| q.parse::<f32>().ok())
                .unwrap_or(1.0)
                // Earlier tags win ties.
                - position as f32 * 1e-4;
            let primary = tag.split('-').next().unwrap_or("");
            if let Some(lang) = Lang::parse(primary) {
                if quality > 0.0 && best.is_none_or(|(q, _)| quality > q) {
                    best = Some((quality, lang));
                }
            }
        }
        best.map_or(Lang::En, |(_, lang)| lang)
    }

    /// This language's texts.
    pub fn texts(self) -> &'static Texts {
        match self {
            Lang::En => &EN,
            Lang::De => &DE,
        }
    }
}

/// Every text of the pages in one language.
pub struct Texts {
    pub app_name: &'static str,
    pub skip_to_content: &'static str,
    pub switch_language: &'static str,
    pub nav_label: &'static str,
    pub nav_start: &'static str,
    pub nav_stock: &'static str,
    pub nav_movements: &'static str,
    pub nav_scan: &'static str,
    pub signed_in_as: &'static str,
    pub log_out: &'static str,
    pub log_in: &'static str,
    pub login_title: &'static str,
    pub user_name: &'static str,
    pub password: &'static str,
    pub login_refused: &'static str,
    pub login_locked: &'static str,
    pub form_expired: &'static str,
    pub forbidden_title: &'static str,
    pub forbidden_text: &'static str,
    pub not_found_title: &'static str,
    pub error_title: &'static str,
    pub error_text: &'static str,
    pub start_title: &'static str,
    pub stock_at_a_glance: &'static str,
    pub articles_in_stock: &'static str,
    pub stock_lines: &'static str,
    pub total_quantity: &'static str,
    pub utilisation: &'static str,
    pub zone: &'static str,
    pub volume: &'static str,
    pub weight: &'static str,
    pub pallets: &'static str,
    pub unlimited: &'static str,
    pub depot_total: &'static str,
    pub recent_movements: &'static str,
    pub all_movements: &'static str,
    pub stock_title: &'static str,
    pub search: &'static str,
    pub sku: &'static str,
    pub location: &'static str,
    pub lot: &'static str,
    pub quantity: &'static str,
    pub no_stock: &'static str,
    pub movements_title: &'static str,
    pub movements_live: &'static str,
    pub seq: &'static str,
    pub kind: &'static str,
    pub from: &'static str,
    pub to: &'static str,
    pub actor: &'static str,
    pub time: &'static str,
    pub no_movements: &'static str,
    pub scan_title: &'static str,
    pub scan_code: &'static str,
    pub scan_code_hint: &'static str,
    pub scan_book: &'static str,
    pub scan_kind: &'static str,
    pub kind_receive: &'static str,
    pub kind_move: &'static str,
    pub kind_issue: &'static str,
    pub scan_to_location: &'static str,
    pub scan_from_location: &'static str,
    pub scan_location_hint: &'static str,
    pub scan_booked: &'static str,
    pub scan_refused: &'static str,
    pub scan_location_set: &'static str,
    pub scan_queue: &'static str,
    pub scan_queue_empty: &'static str,
    pub scan_offline: &'static str,
    pub scan_results: &'static str,
    pub there_is_a_problem: &'static str,
    pub search_text: &'static str,
    pub nav_admin: &'static str,
    pub admin_articles_title: &'static str,
    pub admin_read_only: &'static str,
    pub admin_edit: &'static str,
    pub article_name: &'static str,
    pub unit: &'static str,
    pub gtin: &'static str,
    pub nsn: &'static str,
    pub supply_class: &'static str,
    pub classification: &'static str,
    pub class_open: &'static str,
    pub class_restricted: &'static str,
    pub unit_weight_g: &'static str,
    pub unit_volume_ml: &'static str,
    pub lot_tracked: &'static str,
    pub save: &'static str,
    pub saved: &'static str,
    pub refused: &'static str,
}

static EN: Texts = Texts {
    app_name: "Depot Edge",
    skip_to_content: "Skip to content",
    switch_language: "Deutsch",
    nav_label: "Main",
    nav_start: "Start",
    nav_stock: "Stock",
    nav_movements: "Movements",
    nav_scan: "Scan",
    signed_in_as: "Signed in as",
    log_out: "Log out",
    log_in: "Log in",
    login_title: "Log in",
    user_name: "User name",
    password: "Password",
    login_refused: "The user name or password is not right.",
    login_locked: "Too many failed attempts. Try again after",
    form_expired: "The form has expired. Please try again.",
    forbidden_title: "Not allowed",
    forbidden_text: "Your role may not open this page.",
    not_found_title: "Not found",
    error_title: "Something went wrong",
    error_text: "The depot cannot answer this now. Nothing was written; try again later.",
    start_title: "Depot at a glance",
    stock_at_a_glance: "Stock",
    articles_in_stock: "Articles in stock",
    stock_lines: "Stock lines",
    total_quantity: "Total quantity",
    utilisation: "Utilisation",
    zone: "Zone",
    volume: "Volume",
    weight: "Weight",
    pallets: "Pallet places",
    unlimited: "no limit",
    depot_total: "Depot",
    recent_movements: "Recent movements",
    all_movements: "All movements",
    stock_title: "Stock",
    search: "Search",
    sku: "SKU",
    location: "Location",
    lot: "Lot",
    quantity: "Quantity",
    no_stock: "No stock matches.",
    movements_title: "Recent movements",
    movements_live: "New movements appear here as they are booked.",
    seq: "Seq",
    kind: "Kind",
    from: "From",
    to: "To",
    actor: "By",
    time: "Time",
    no_movements: "No movements yet.",
    scan_title: "Scan",
    scan_code: "Scan or type a code",
    scan_code_hint: "EPC, GS1 code, Digital Link, location label or SKU",
    scan_book: "Book",
    scan_kind: "What happens",
    kind_receive: "Receive",
    kind_move: "Move",
    kind_issue: "Issue",
    scan_to_location: "Location",
    scan_from_location: "From location (moves only)",
    scan_location_hint:
        "Where you are (scan its label): receipts and moves go here, issues come from here",
    scan_booked: "Booked",
    scan_refused: "Refused",
    scan_location_set: "Location set to",
    scan_queue: "Waiting to be sent",
    scan_queue_empty: "Nothing waiting.",
    scan_offline: "No connection: scans are kept and sent when it is back.",
    scan_results: "Results",
    there_is_a_problem: "There is a problem",
    search_text: "SKU, name, GTIN or NSN",
    nav_admin: "Articles",
    admin_articles_title: "Articles",
    admin_read_only: "You may read these articles; only managers change them.",
    admin_edit: "Create or change an article",
    article_name: "Name",
    unit: "Unit",
    gtin: "GTIN",
    nsn: "NSN",
    supply_class: "Supply class",
    classification: "Classification",
    class_open: "open",
    class_restricted: "restricted",
    unit_weight_g: "Unit weight (g)",
    unit_volume_ml: "Unit volume (ml)",
    lot_tracked: "Lot-tracked",
    save: "Save",
    saved: "Saved:",
    refused: "Not saved:",
};

static DE: Texts = Texts {
    app_name: "Depot Edge",
    skip_to_content: "Zum Inhalt springen",
    switch_language: "English",
    nav_label: "Hauptmenü",
    nav_start: "Start",
    nav_stock: "Bestand",
    nav_movements: "Bewegungen",
    nav_scan: "Scannen",
    signed_in_as: "Angemeldet als",
    log_out: "Abmelden",
    log_in: "Anmelden",
    login_title: "Anmelden",
    user_name: "Benutzername",
    password: "Passwort",
    login_refused: "Benutzername oder Passwort stimmen nicht.",
    login_locked: "Zu viele Fehlversuche. Erneut möglich nach",
    form_expired: "Das Formular ist abgelaufen. Bitte erneut versuchen.",
    forbidden_title: "Nicht erlaubt",
    forbidden_text: "Ihre Rolle darf diese Seite nicht öffnen.",
    not_found_title: "Nicht gefunden",
    error_title: "Etwas ist schiefgegangen",
    error_text: "Das Depot kann gerade nicht antworten. Nichts wurde geschrieben; bitte später erneut versuchen.",
    start_title: "Depot auf einen Blick",
    stock_at_a_glance: "Bestand",
    articles_in_stock: "Artikel am Lager",
    stock_lines: "Bestandszeilen",
    total_quantity: "Gesamtmenge",
    utilisation: "Auslastung",
    zone: "Zone",
    volume: "Volumen",
    weight: "Gewicht",
    pallets: "Palettenplätze",
    unlimited: "unbegrenzt",
    depot_total: "Depot",
    recent_movements: "Letzte Bewegungen",
    all_movements: "Alle Bewegungen",
    stock_title: "Bestand",
    search: "Suchen",
    sku: "Artikelnummer",
    location: "Lagerplatz",
    lot: "Charge",
    quantity: "Menge",
    no_stock: "Kein Bestand gefunden.",
    movements_title: "Letzte Bewegungen",
    movements_live: "Neue Bewegungen erscheinen hier, sobald sie gebucht sind.",
    seq: "Nr.",
    kind: "Art",
    from: "Von",
    to: "Nach",
    actor: "Durch",
    time: "Zeit",
    no_movements: "Noch keine Bewegungen.",
    scan_title: "Scannen",
    scan_code: "Code scannen oder eingeben",
    scan_code_hint: "EPC, GS1-Code, Digital Link, Lagerplatz-Etikett oder Artikelnummer",
    scan_book: "Buchen",
    scan_kind: "Vorgang",
    kind_receive: "Wareneingang",
    kind_move: "Umlagern",
    kind_issue: "Ausgabe",
    scan_to_location: "Lagerplatz",
    scan_from_location: "Von Lagerplatz (nur Umlagern)",
    scan_location_hint: "Wo Sie sind (Etikett scannen): Eingänge und Umlagerungen gehen hierher, Ausgaben kommen von hier",
    scan_booked: "Gebucht",
    scan_refused: "Abgelehnt",
    scan_location_set: "Lagerplatz gesetzt:",
    scan_queue: "Wartet auf Versand",
    scan_queue_empty: "Nichts wartet.",
    scan_offline: "Keine Verbindung: Scans werden aufbewahrt und gesendet, sobald sie zurück ist.",
    scan_results: "Ergebnisse",
    there_is_a_problem: "Es gibt ein Problem",
    search_text: "Artikelnummer, Bezeichnung, GTIN oder NSN",
    nav_admin: "Artikel",
    admin_articles_title: "Artikel",
    admin_read_only: "Sie dürfen diese Artikel lesen; ändern dürfen nur Leitungen.",
    admin_edit: "Artikel anlegen oder ändern",
    article_name: "Bezeichnung",
    unit: "Einheit",
    gtin: "GTIN",
    nsn: "NSN (Versorgungsnummer)",
    supply_class: "Versorgungsklasse",
    classification: "Einstufung",
    class_open: "offen",
    class_restricted: "eingeschränkt",
    unit_weight_g: "Gewicht je Einheit (g)",
    unit_volume_ml: "Volumen je Einheit (ml)",
    lot_tracked: "Chargenpflichtig",
    save: "Speichern",
    saved: "Gespeichert:",
    refused: "Nicht gespeichert:",
};

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn with(accept: &str, cookie: Option<&str>) -> Lang {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::ACCEPT_LANGUAGE,
            HeaderValue::from_str(accept).expect("header"),
        );
        if let Some(value) = cookie {
            headers.insert(
                header::COOKIE,
                HeaderValue::from_str(value).expect("header"),
            );
        }
        Lang::of(&headers)
    }

    #[test]
    fn accept_language_by_quality_and_the_cookie_sticks() {
        assert_eq!(with("de-DE,de;q=0.9,en;q=0.8", None), Lang::De);
        assert_eq!(with("fr, en;q=0.5, de;q=0.7", None), Lang::De);
        assert_eq!(with("fr", None), Lang::En);
        assert_eq!(with("de;q=0, en;q=0.1", None), Lang::En);
        assert_eq!(with("de", Some("depot_lang=en")), Lang::En);
    }
}
