-- Gate ingest, what issue 14 added after 0004: passes that wait for a
-- manager (an EPC of no known article, a lot-tracked article without a lot)
-- and their resolution.

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
