-- Epochs (feed payload version 2): a depot restored from a backup starts a
-- new epoch of its history; the movements the hub applied above the new
-- epoch's base are lost (the depot no longer has them). Portable SQL as 0001.

-- The depot's current epoch, its latest restore as the hub saw it, and a
-- history rewritten without a restore (diverged_seq: the first seq whose
-- chain hash contradicted what the hub held).
ALTER TABLE depots ADD COLUMN epoch TEXT;
ALTER TABLE depots ADD COLUMN epoch_generation BIGINT;
ALTER TABLE depots ADD COLUMN epoch_base BIGINT;
-- When the depot says it was restored (its status), and when the hub noticed.
ALTER TABLE depots ADD COLUMN restored_ns BIGINT;
ALTER TABLE depots ADD COLUMN restore_seen_ns BIGINT;
-- The seqs the latest restore took away (from..to), and how many of them the hub held.
ALTER TABLE depots ADD COLUMN lost_from BIGINT;
ALTER TABLE depots ADD COLUMN lost_to BIGINT;
ALTER TABLE depots ADD COLUMN lost_count BIGINT NOT NULL DEFAULT 0;
ALTER TABLE depots ADD COLUMN diverged_seq BIGINT;
ALTER TABLE depots ADD COLUMN diverged_ns BIGINT;

-- Every epoch heard of per depot; all but the depot's current one are left.
CREATE TABLE epochs (
    depot TEXT NOT NULL,
    epoch TEXT NOT NULL,
    generation BIGINT NOT NULL,
    base_seq BIGINT NOT NULL,
    first_seen_ns BIGINT NOT NULL,
    PRIMARY KEY (depot, epoch)
);

-- Movements carry their epoch and chain hash (NULL: applied before version 2).
ALTER TABLE movements ADD COLUMN epoch TEXT;
ALTER TABLE movements ADD COLUMN hash TEXT;

-- Movements the hub had applied that a restore took away, and late ones of
-- a left epoch above the current base: kept and shown, never counted.
CREATE TABLE lost_movements (
    depot TEXT NOT NULL,
    epoch TEXT NOT NULL,
    seq BIGINT NOT NULL,
    restricted BOOLEAN NOT NULL,
    kind TEXT NOT NULL,
    sku TEXT NOT NULL,
    quantity BIGINT NOT NULL,
    time_ns BIGINT NOT NULL,
    hash TEXT,
    lost_ns BIGINT NOT NULL,
    PRIMARY KEY (depot, epoch, seq)
);

-- The epoch of each snapshot: a newer epoch's snapshot replaces an older
-- one's whatever their seqs.
ALTER TABLE stock ADD COLUMN epoch TEXT;
ALTER TABLE utilization ADD COLUMN epoch TEXT;
