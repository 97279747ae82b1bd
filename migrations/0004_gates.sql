-- Gate ingest (issue 14): every pass through a dock door's RFID gate, and
-- where the server stands with each gateway's event ring.
--
-- A pass, its bookings and its gateway's cursor are written in one writer
-- transaction, and the gateway is acknowledged only after COMMIT: a crash
-- between read and commit reads the events again, and the cursor (and the
-- UNIQUE key below) makes the second read book nothing.

-- Per gateway: the boot id it was last stored under (REGISTERS.md "Boots")
-- and the newest seq of that boot stored, i.e. what may be acknowledged.
CREATE TABLE gate_cursors (
    gateway    TEXT PRIMARY KEY,
    boot_id    INTEGER NOT NULL CHECK (boot_id BETWEEN 1 AND 4294967295),
    acked_seq  INTEGER NOT NULL CHECK (acked_seq BETWEEN 0 AND 4294967295),
    updated_at TEXT NOT NULL
) STRICT;

-- Every pass, booked or not, with what the gateway reported and its outcome.
CREATE TABLE gate_passes (
    id            INTEGER PRIMARY KEY,
    gateway       TEXT NOT NULL,
    boot_id       INTEGER NOT NULL,
    seq           INTEGER NOT NULL CHECK (seq >= 1),
    gate          INTEGER NOT NULL CHECK (gate >= 0),
    dock          TEXT,
    direction     TEXT NOT NULL CHECK (direction IN ('in', 'out', 'unknown')),
    -- The EPC as the tag holds it (hex, the words the record carried), and
    -- its pure-identity URI when it names an item.
    epc_hex       TEXT NOT NULL,
    epc           TEXT,
    rssi_dbm      INTEGER NOT NULL,
    antenna       INTEGER NOT NULL,
    -- Gateway uptime at the pass's last read, ms.
    gateway_ms    INTEGER NOT NULL,
    -- The scale's reading in the poll that read the pass, if it was valid.
    weight_grams  INTEGER,
    outcome       TEXT NOT NULL CHECK (outcome IN ('booked', 'not_booked', 'unidentified', 'flagged', 'awaiting_lot')),
    detail        TEXT,
    -- The ledger seqs the pass booked, JSON array.
    movement_seqs TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(movement_seqs)),
    recorded_at   TEXT NOT NULL,
    UNIQUE (gateway, boot_id, seq)
) STRICT;
CREATE INDEX gate_passes_by_outcome ON gate_passes (outcome, id);
