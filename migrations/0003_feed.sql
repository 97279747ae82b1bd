-- The feed to regional hubs (brief §6).
-- The ledger itself is the durable queue of movements: the publisher reads
-- `movements` by a cursor that advances only over what the broker has
-- acknowledged (PUBACK), so no movement is written a second time (an SD
-- card pays for every copy). Facts outside the ledger that the hub shows (an
-- article's name, GTIN, NSN, classification; a location's capacity) get a
-- row in `feed_outbox`, written in the same transaction as the change.

-- One row: how far the broker has acknowledged the feed. Both cursors only
-- grow; the publisher resends everything after them after any restart.
CREATE TABLE feed_cursor (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    -- Every movement with seq <= ledger_seq, and the snapshots it changed, is acknowledged.
    ledger_seq INTEGER NOT NULL DEFAULT 0 CHECK (ledger_seq >= 0),
    -- Every outbox row with id <= outbox_id is acknowledged (and deleted).
    outbox_id  INTEGER NOT NULL DEFAULT 0 CHECK (outbox_id >= 0),
    -- When the cursor last moved (RFC 3339), NULL before the first PUBACK.
    acked_at   TEXT
) STRICT;
INSERT INTO feed_cursor (id) VALUES (1);

-- Master-data changes still to publish, as keys: the publisher reads the
-- current article or location when it sends, so rows of the same key
-- coalesce. AUTOINCREMENT keeps ids growing after acknowledged rows are
-- deleted, so an id is never reused below the cursor.
CREATE TABLE feed_outbox (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    kind       TEXT NOT NULL CHECK (kind IN ('article', 'location')),
    key        TEXT NOT NULL,
    -- An article whose classification changed: its retained snapshot on
    -- the other audience's topic is cleared. Only then is the open topic of
    -- a restricted article ever named, and only to empty it.
    reclassified INTEGER NOT NULL DEFAULT 0 CHECK (reclassified IN (0, 1)),
    created_at TEXT NOT NULL
) STRICT;

-- A depot that existed before the feed publishes what it already has.
INSERT INTO feed_outbox (kind, key, created_at)
SELECT 'article', sku, strftime('%Y-%m-%dT%H:%M:%SZ', 'now') FROM articles ORDER BY sku;
INSERT INTO feed_outbox (kind, key, created_at)
SELECT 'location', code, strftime('%Y-%m-%dT%H:%M:%SZ', 'now') FROM locations ORDER BY code;
