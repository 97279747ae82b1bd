-- Gate ingest, what issue 14 added after 0004: passes that wait for a
-- manager (an EPC of no known article, a lot-tracked article without a lot)
-- and their resolution; expected deliveries and what the gate received of
-- them.

-- The article a pass is of, when the server knows it: the booked item's
-- article, or the article of a pass that waits for its lot.
ALTER TABLE gate_passes ADD COLUMN sku TEXT;

-- A manager's resolution of a waiting pass: the article and lot named and
-- what it booked. One per pass (the primary key): resolving again books
-- nothing. The pass record itself stays as it was stored.
CREATE TABLE gate_resolutions (
    pass_id       INTEGER PRIMARY KEY REFERENCES gate_passes (id),
    sku           TEXT NOT NULL,
    -- '' = no lot.
    lot           TEXT NOT NULL DEFAULT '',
    actor         TEXT NOT NULL,
    -- The ledger seqs the resolution booked, JSON array.
    movement_seqs TEXT NOT NULL CHECK (json_valid(movement_seqs)),
    resolved_at   TEXT NOT NULL
) STRICT;

-- Expected deliveries (advance shipping notices): a reference, the dock the
-- goods come to, and what is expected. A delivery is open until every line
-- is received (`completed_at`); while open, every item an `in` pass books at
-- its dock is recorded against it, as a line's or as unexpected.
CREATE TABLE deliveries (
    reference    TEXT PRIMARY KEY NOT NULL,
    dock         TEXT NOT NULL REFERENCES locations (code),
    created_by   TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    completed_at TEXT
) STRICT;
CREATE INDEX deliveries_open_by_dock ON deliveries (dock, created_at) WHERE completed_at IS NULL;

-- One expected item (`epc`, pure-identity URI) or a number of units of an
-- article (`sku`, `quantity`), with the lot its goods carry ('' = none).
CREATE TABLE delivery_lines (
    reference TEXT NOT NULL REFERENCES deliveries (reference),
    line      INTEGER NOT NULL CHECK (line >= 1),
    epc       TEXT,
    sku       TEXT REFERENCES articles (sku),
    quantity  INTEGER NOT NULL CHECK (quantity >= 1),
    lot       TEXT NOT NULL DEFAULT '',
    CHECK ((epc IS NULL) <> (sku IS NULL)),
    PRIMARY KEY (reference, line)
) STRICT, WITHOUT ROWID;

-- What a gate pass received at the dock of an open delivery, written with
-- the pass and its booking: the line it fulfils, or NULL (unexpected).
CREATE TABLE delivery_receipts (
    pass_id   INTEGER PRIMARY KEY REFERENCES gate_passes (id),
    reference TEXT NOT NULL REFERENCES deliveries (reference),
    line      INTEGER,
    epc       TEXT NOT NULL,
    sku       TEXT NOT NULL REFERENCES articles (sku),
    lot       TEXT NOT NULL DEFAULT ''
) STRICT;
CREATE INDEX delivery_receipts_by_reference ON delivery_receipts (reference, pass_id);

-- Scale plausibility: what the scale's weight said of a pass, against the
-- unit weights of the passes through its gate within the configured window
-- (NULL: not judged), and the weight those passes should have had.
ALTER TABLE gate_passes ADD COLUMN weight_check TEXT CHECK (weight_check IN ('plausible', 'implausible'));
ALTER TABLE gate_passes ADD COLUMN expected_weight_grams INTEGER;
CREATE INDEX gate_passes_by_gate_time ON gate_passes (gateway, boot_id, gate, gateway_ms);
