-- The hub's picture of its depots. Portable SQL (SQLite now, PostgreSQL by
-- URL later): BIGINT figures, times as Unix nanoseconds, no SQLite-only types.

-- One row per depot heard from: its cursor (every seq up to contiguous_seq
-- applied), counters, link state and when it was last heard from.
CREATE TABLE depots (
    depot TEXT PRIMARY KEY NOT NULL,
    contiguous_seq BIGINT NOT NULL DEFAULT 0,
    reported_seq BIGINT NOT NULL DEFAULT 0,
    movements_applied BIGINT NOT NULL DEFAULT 0,
    duplicates BIGINT NOT NULL DEFAULT 0,
    link_state TEXT,
    link_since_ns BIGINT,
    last_message_ns BIGINT NOT NULL
);

-- Every applied movement once: the primary key is the (depot, seq) the
-- hub applies exactly once. Seqs above the depot's contiguous_seq are the
-- ones that arrived early; the missing ones between are the gaps.
CREATE TABLE movements (
    depot TEXT NOT NULL,
    seq BIGINT NOT NULL,
    restricted BOOLEAN NOT NULL,
    kind TEXT NOT NULL,
    sku TEXT NOT NULL,
    quantity BIGINT NOT NULL,
    time_ns BIGINT NOT NULL,
    applied_ns BIGINT NOT NULL,
    PRIMARY KEY (depot, seq)
);

-- The newest stock snapshot per (depot, article).
CREATE TABLE stock (
    depot TEXT NOT NULL,
    sku TEXT NOT NULL,
    restricted BOOLEAN NOT NULL,
    seq BIGINT NOT NULL,
    time_ns BIGINT NOT NULL,
    name TEXT NOT NULL,
    unit TEXT NOT NULL,
    gtin TEXT,
    nsn TEXT,
    supply_class TEXT,
    total BIGINT NOT NULL,
    zones TEXT NOT NULL,
    PRIMARY KEY (depot, sku)
);
CREATE INDEX stock_by_sku ON stock (sku);
CREATE INDEX stock_by_gtin ON stock (gtin);
CREATE INDEX stock_by_nsn ON stock (nsn);

-- The newest utilisation snapshot per depot; NULL capacity/free = not
-- every location has a capacity in that dimension.
CREATE TABLE utilization (
    depot TEXT PRIMARY KEY NOT NULL,
    seq BIGINT NOT NULL,
    time_ns BIGINT NOT NULL,
    volume_used_ml BIGINT NOT NULL,
    volume_capacity_ml BIGINT,
    volume_free_ml BIGINT,
    weight_used_g BIGINT NOT NULL,
    weight_capacity_g BIGINT,
    weight_free_g BIGINT,
    pallets_used BIGINT NOT NULL,
    pallets_capacity BIGINT,
    pallets_free BIGINT,
    zones TEXT NOT NULL
);

-- API users: tokens only as SHA-256.
CREATE TABLE users (
    name TEXT PRIMARY KEY NOT NULL,
    role TEXT NOT NULL,
    restricted BOOLEAN NOT NULL,
    token_sha256 TEXT NOT NULL UNIQUE,
    created_ns BIGINT NOT NULL,
    revoked_ns BIGINT
);
