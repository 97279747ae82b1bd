-- A user's access (API token and web login) may end at `expires_at`, and
-- `user list` shows when it was last used. Both RFC 3339 UTC; NULL = never
-- expires / never used. `last_used_at` is written at most once a minute per
-- user (`domain::access::LAST_USE_RESOLUTION`), through the writer, so a
-- request costs no write of its own.

ALTER TABLE users ADD COLUMN expires_at TEXT;
ALTER TABLE users ADD COLUMN last_used_at TEXT;
