-- Web sessions of the hub page: a user logs in with an API token and gets
-- a session cookie; only the SHA-256 of the session id is stored.
CREATE TABLE sessions (
    id_sha256 TEXT PRIMARY KEY NOT NULL,
    user_name TEXT NOT NULL REFERENCES users (name),
    created_ns BIGINT NOT NULL,
    expires_ns BIGINT NOT NULL
);
CREATE INDEX sessions_by_expiry ON sessions (expires_ns);
