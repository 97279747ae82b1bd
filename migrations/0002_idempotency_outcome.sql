-- Idempotency records store the booking's typed outcome, not an HTTP answer,
-- so a replay returns the same outcome to any adapter (handheld, scan page,
-- gate) and each renders it. The encoding is documented in
-- depot-server/src/store/idempotency.rs:
--   {"v":1,"booked":[seq,…]}          the movements it wrote (read back from the ledger)
--   {"v":1,"refused":{"rule":…,…}}     the refusal with its figures
--   {"v":0,"status":N,"body":"…"}      a refusal recorded by schema 1 as an HTTP
--                                      problem; replayed as it was
-- Records of schema 1 are migrated here: a 201 answer becomes the seqs of the
-- movements it listed; any other answer is kept as a v0 record.

CREATE TABLE idempotency_records (
    actor        TEXT NOT NULL,
    key          TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    outcome      TEXT NOT NULL CHECK (json_valid(outcome)),
    created_at   TEXT NOT NULL,
    PRIMARY KEY (actor, key)
) STRICT, WITHOUT ROWID;

INSERT INTO idempotency_records (actor, key, request_hash, outcome, created_at)
SELECT actor, key, request_hash,
       CASE WHEN status = 201 AND json_valid(response) THEN
           json_object('v', 1, 'booked',
               (SELECT json_group_array(json_extract(m.value, '$.seq'))
                FROM json_each(response, '$.movements') AS m))
       ELSE
           json_object('v', 0, 'status', status, 'body', response)
       END,
       created_at
FROM idempotency;

DROP TABLE idempotency;

-- Records expire after the configured retention; the writer deletes the
-- oldest first.
CREATE INDEX idempotency_records_by_age ON idempotency_records (created_at);
