-- The web pages: password login, server-side sessions, lock-out.
-- A user may have a password (argon2id, PHC string) beside the API token;
-- NULL means no web login. Repeated failures lock the login for a while
-- (`locked_until`, RFC 3339), decided by `domain::login`.

ALTER TABLE users ADD COLUMN password_hash TEXT;
ALTER TABLE users ADD COLUMN failed_logins INTEGER NOT NULL DEFAULT 0 CHECK (failed_logins >= 0);
ALTER TABLE users ADD COLUMN locked_until TEXT;

-- One row per signed-in browser. The cookie holds 256 random bits; only their
-- SHA-256 is stored, so a copy of the database opens no session. `csrf_token`
-- is the value every form of the session must send back.
CREATE TABLE web_sessions (
    id_hash    TEXT PRIMARY KEY,
    user_name  TEXT NOT NULL REFERENCES users (name),
    csrf_token TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX web_sessions_by_expiry ON web_sessions (expires_at);
