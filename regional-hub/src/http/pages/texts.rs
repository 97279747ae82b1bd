//! The page's words, one catalogue per language (English, German): no
//! template holds a string a user reads.

/// A language of the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    En,
    De,
}

impl Lang {
    /// The first language of an `Accept-Language` header the page speaks
    /// (by order, ignoring weights below the first); English otherwise.
    pub fn from_accept_language(header: &str) -> Lang {
        header
            .split(',')
            .filter_map(|part| {
                let tag = part.split(';').next()?.trim().to_ascii_lowercase();
                match tag.split('-').next()? {
                    "de" => Some(Lang::De),
                    "en" => Some(Lang::En),
                    _ => None,
                }
            })
            .next()
            .unwrap_or(Lang::En)
    }

    /// The BCP 47 code for `<html lang>`.
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::De => "de",
        }
    }

    /// The catalogue of this language.
    pub fn texts(self) -> &'static Texts {
        match self {
            Lang::En => &EN,
            Lang::De => &DE,
        }
    }
}

/// Every text of the page.
#[derive(Debug)]
pub struct Texts {
    pub product: &'static str,
    pub cleared: &'static str,
    pub logout: &'static str,
    pub login_title: &'static str,
    pub login_intro: &'static str,
    pub token: &'static str,
    pub login: &'static str,
    pub error_summary: &'static str,
    pub bad_token: &'static str,
    pub unavailable_title: &'static str,
    pub unavailable_text: &'static str,
    pub region_title: &'static str,
    pub live_note: &'static str,
    pub depots_title: &'static str,
    pub no_depots: &'static str,
    pub depot: &'static str,
    pub link: &'static str,
    pub online: &'static str,
    pub offline: &'static str,
    pub unknown: &'static str,
    pub since: &'static str,
    pub freshness: &'static str,
    pub fresh: &'static str,
    pub stale: &'static str,
    pub last_seq: &'static str,
    pub lag: &'static str,
    pub gaps: &'static str,
    pub none: &'static str,
    /// The column of restores and rewritten histories.
    pub history: &'static str,
    /// "restored" (from a backup), followed by when.
    pub restored: &'static str,
    /// "lost seqs" before the range a restore took away.
    pub lost_seqs: &'static str,
    /// "movements" after the count of lost movements.
    pub movements: &'static str,
    /// "history rewritten at seq" before the seq.
    pub diverged_at: &'static str,
    pub last_heard: &'static str,
    pub seconds_ago: &'static str,
    pub capacity_title: &'static str,
    pub no_capacity: &'static str,
    pub volume: &'static str,
    pub weight: &'static str,
    pub pallets: &'static str,
    pub free_of: &'static str,
    pub region: &'static str,
    pub unlimited: &'static str,
    pub search_title: &'static str,
    pub search_by: &'static str,
    pub article: &'static str,
    pub sku: &'static str,
    pub gtin: &'static str,
    pub nsn: &'static str,
    pub search: &'static str,
    pub not_found: &'static str,
    pub name: &'static str,
    pub quantity: &'static str,
    pub zones: &'static str,
    pub total: &'static str,
    pub restricted: &'static str,
}

static EN: Texts = Texts {
    product: "Depot Edge regional hub",
    cleared: "cleared for restricted",
    logout: "Log out",
    login_title: "Log in",
    login_intro: "Log in with your hub API token (regional-hub user add prints it).",
    token: "API token",
    login: "Log in",
    error_summary: "There is a problem",
    bad_token: "This token is not valid.",
    unavailable_title: "Unavailable",
    unavailable_text: "The hub's database does not answer. Try again shortly.",
    region_title: "Region",
    live_note: "Depots and capacity update live.",
    depots_title: "Depots",
    no_depots: "No depot heard from yet.",
    depot: "Depot",
    link: "Link",
    online: "online",
    offline: "offline",
    unknown: "unknown",
    since: "since",
    freshness: "Freshness",
    fresh: "fresh",
    stale: "stale",
    last_seq: "Last seq",
    lag: "Lag",
    gaps: "Gaps",
    none: "none",
    history: "History",
    restored: "restored from a backup",
    lost_seqs: "lost seqs",
    movements: "movements",
    diverged_at: "history rewritten at seq",
    last_heard: "Last heard",
    seconds_ago: "s ago",
    capacity_title: "Free capacity",
    no_capacity: "No depot has reported its capacity yet.",
    volume: "Volume",
    weight: "Weight",
    pallets: "Pallet places",
    free_of: "free of",
    region: "Region",
    unlimited: "no capacity set",
    search_title: "Find an article",
    search_by: "Search by",
    article: "Article",
    sku: "SKU",
    gtin: "GTIN",
    nsn: "NSN",
    search: "Search",
    not_found: "No depot reports this article.",
    name: "Name",
    quantity: "Quantity",
    zones: "Zones",
    total: "Total",
    restricted: "restricted",
};

static DE: Texts = Texts {
    product: "Depot Edge Regionalknoten",
    cleared: "für Verschlusssachen freigegeben",
    logout: "Abmelden",
    login_title: "Anmelden",
    login_intro: "Melden Sie sich mit Ihrem API-Token an (regional-hub user add gibt es aus).",
    token: "API-Token",
    login: "Anmelden",
    error_summary: "Es gibt ein Problem",
    bad_token: "Dieses Token ist nicht gültig.",
    unavailable_title: "Nicht verfügbar",
    unavailable_text:
        "Die Datenbank des Knotens antwortet nicht. Bitte gleich noch einmal versuchen.",
    region_title: "Region",
    live_note: "Depots und Kapazität werden laufend aktualisiert.",
    depots_title: "Depots",
    no_depots: "Noch kein Depot gemeldet.",
    depot: "Depot",
    link: "Verbindung",
    online: "online",
    offline: "offline",
    unknown: "unbekannt",
    since: "seit",
    freshness: "Aktualität",
    fresh: "aktuell",
    stale: "veraltet",
    last_seq: "Letzte Seq",
    lag: "Rückstand",
    gaps: "Lücken",
    none: "keine",
    history: "Verlauf",
    restored: "aus einer Sicherung wiederhergestellt",
    lost_seqs: "verlorene Seqs",
    movements: "Bewegungen",
    diverged_at: "Verlauf umgeschrieben ab Seq",
    last_heard: "Zuletzt gehört",
    seconds_ago: "s her",
    capacity_title: "Freie Kapazität",
    no_capacity: "Noch kein Depot hat seine Kapazität gemeldet.",
    volume: "Volumen",
    weight: "Gewicht",
    pallets: "Palettenplätze",
    free_of: "frei von",
    region: "Region",
    unlimited: "keine Kapazität gesetzt",
    search_title: "Artikel suchen",
    search_by: "Suchen nach",
    article: "Artikel",
    sku: "SKU",
    gtin: "GTIN",
    nsn: "VersNr (NSN)",
    search: "Suchen",
    not_found: "Kein Depot meldet diesen Artikel.",
    name: "Bezeichnung",
    quantity: "Menge",
    zones: "Zonen",
    total: "Gesamt",
    restricted: "eingestuft",
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_language_picks_the_first_spoken_language() {
        assert_eq!(
            Lang::from_accept_language("de-DE,de;q=0.9,en;q=0.8"),
            Lang::De
        );
        assert_eq!(Lang::from_accept_language("fr-FR, en-GB;q=0.7"), Lang::En);
        assert_eq!(Lang::from_accept_language("fr, de;q=0.5"), Lang::De);
        assert_eq!(Lang::from_accept_language(""), Lang::En);
    }
}
