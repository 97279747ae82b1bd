-- Depot Edge inventory schema, version 1.
-- Stock levels are a projection of the movement ledger: every booking writes
-- its movement and the stock change in one transaction, and a test checks
-- that the levels always equal the sum of the ledger.

CREATE TABLE depot_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;

CREATE TABLE articles (
    sku            TEXT PRIMARY KEY,
    name           TEXT NOT NULL,
    unit           TEXT NOT NULL CHECK (unit IN ('piece', 'kg', 'l', 'm', 'box', 'pallet')),
    gtin           TEXT,
    -- The GTIN as GTIN-14 (zero-padded), as EPCs carry it: one article per GTIN.
    gtin14         TEXT GENERATED ALWAYS AS (substr('00000000000000' || gtin, -14)) VIRTUAL,
    nsn            TEXT,
    supply_class   TEXT,
    classification TEXT NOT NULL CHECK (classification IN ('open', 'restricted')),
    unit_weight_g  INTEGER CHECK (unit_weight_g >= 0),
    unit_volume_ml INTEGER CHECK (unit_volume_ml >= 0),
    lot_tracked    INTEGER NOT NULL DEFAULT 0 CHECK (lot_tracked IN (0, 1)),
    expiry_tracked INTEGER NOT NULL DEFAULT 0 CHECK (expiry_tracked IN (0, 1)),
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL
) STRICT;

CREATE UNIQUE INDEX articles_by_gtin14 ON articles (gtin14) WHERE gtin IS NOT NULL;

CREATE TABLE locations (
    code               TEXT PRIMARY KEY,
    zone               TEXT NOT NULL,
    kind               TEXT NOT NULL CHECK (kind IN ('bin', 'dock', 'staging', 'yard')),
    capacity_volume_l  INTEGER CHECK (capacity_volume_l >= 0),
    capacity_weight_kg INTEGER CHECK (capacity_weight_kg >= 0),
    capacity_pallets   INTEGER CHECK (capacity_pallets >= 0),
    created_at         TEXT NOT NULL,
    updated_at         TEXT NOT NULL
) STRICT;
CREATE INDEX locations_by_zone ON locations (zone);

-- The append-only ledger. `seq` is gapless: the single writer assigns
-- max(seq) + 1 inside the booking transaction.
CREATE TABLE movements (
    seq             INTEGER PRIMARY KEY,
    kind            TEXT NOT NULL CHECK (kind IN ('receive', 'move', 'issue', 'adjust', 'transfer_out', 'transfer_in')),
    sku             TEXT NOT NULL REFERENCES articles (sku),
    quantity        INTEGER NOT NULL CHECK (quantity > 0),
    from_location   TEXT REFERENCES locations (code),
    to_location     TEXT REFERENCES locations (code),
    lot             TEXT NOT NULL DEFAULT '',
    epcs            TEXT NOT NULL DEFAULT '[]',
    actor           TEXT NOT NULL,
    source          TEXT NOT NULL CHECK (source IN ('handheld', 'gate', 'web', 'import', 'api')),
    idempotency_key TEXT,
    reason          TEXT,
    recorded_at     TEXT NOT NULL,
    CHECK (from_location IS NOT NULL OR to_location IS NOT NULL)
) STRICT;
CREATE INDEX movements_by_sku ON movements (sku, seq);

CREATE TRIGGER movements_are_append_only_update BEFORE UPDATE ON movements
BEGIN
    SELECT RAISE(ABORT, 'the movement ledger is append-only');
END;
CREATE TRIGGER movements_are_append_only_delete BEFORE DELETE ON movements
BEGIN
    SELECT RAISE(ABORT, 'the movement ledger is append-only');
END;

-- (article, location, lot) -> quantity; lot '' means "no lot".
CREATE TABLE stock_levels (
    sku      TEXT NOT NULL REFERENCES articles (sku),
    location TEXT NOT NULL REFERENCES locations (code),
    lot      TEXT NOT NULL DEFAULT '',
    quantity INTEGER NOT NULL CHECK (quantity >= 0),
    PRIMARY KEY (sku, location, lot)
) STRICT, WITHOUT ROWID;
CREATE INDEX stock_levels_by_location ON stock_levels (location);

-- Every movement applies itself to the stock levels, so no code path can
-- write one without the other: the levels are the ledger's sum by
-- construction. The domain refuses what would go negative before this runs;
-- the RAISE and the CHECK above are the last line of defence.
CREATE TRIGGER movements_apply_to_stock AFTER INSERT ON movements
BEGIN
    SELECT RAISE(ABORT, 'movement takes more than the stock at its source')
    WHERE NEW.from_location IS NOT NULL AND NOT EXISTS (
        SELECT 1 FROM stock_levels
        WHERE sku = NEW.sku AND location = NEW.from_location AND lot = NEW.lot AND quantity >= NEW.quantity);
    UPDATE stock_levels SET quantity = quantity - NEW.quantity
    WHERE NEW.from_location IS NOT NULL AND sku = NEW.sku AND location = NEW.from_location AND lot = NEW.lot;
    DELETE FROM stock_levels
    WHERE NEW.from_location IS NOT NULL AND sku = NEW.sku AND location = NEW.from_location AND lot = NEW.lot
      AND quantity = 0;
    INSERT INTO stock_levels (sku, location, lot, quantity)
    SELECT NEW.sku, NEW.to_location, NEW.lot, NEW.quantity WHERE NEW.to_location IS NOT NULL
    ON CONFLICT (sku, location, lot) DO UPDATE SET quantity = quantity + excluded.quantity;
END;

-- Serialised items, keyed by the EPC pure-identity URI (urn:epc:id:…).
CREATE TABLE items (
    epc      TEXT PRIMARY KEY,
    sku      TEXT NOT NULL REFERENCES articles (sku),
    lot      TEXT NOT NULL DEFAULT '',
    state    TEXT NOT NULL CHECK (state IN ('stored', 'issued', 'in_transit')),
    location TEXT REFERENCES locations (code),
    last_seq INTEGER NOT NULL REFERENCES movements (seq),
    CHECK ((state = 'stored') = (location IS NOT NULL))
) STRICT, WITHOUT ROWID;
CREATE INDEX items_by_place ON items (sku, location, lot) WHERE state = 'stored';

-- First answer to each (actor, Idempotency-Key): replayed on a retry.
CREATE TABLE idempotency (
    actor        TEXT NOT NULL,
    key          TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    status       INTEGER NOT NULL,
    response     TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    PRIMARY KEY (actor, key)
) STRICT, WITHOUT ROWID;

CREATE TABLE users (
    name       TEXT PRIMARY KEY,
    role       TEXT NOT NULL CHECK (role IN ('staff', 'manager', 'auditor', 'hub')),
    restricted INTEGER NOT NULL DEFAULT 0 CHECK (restricted IN (0, 1)),
    token_hash TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    revoked_at TEXT
) STRICT;
