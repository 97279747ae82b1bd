-- The ledger's hash chain (depot-server/src/domain/chain.rs): each movement's
-- hash over its predecessor's hash and its own stored content. A movement is
-- inserted without one and sealed by the writer before its transaction
-- commits; movements of a database from before the chain are sealed on the
-- first start. The append-only rule now allows exactly that: setting a NULL
-- hash once with nothing else changed.
ALTER TABLE movements ADD COLUMN hash TEXT CHECK (hash IS NULL OR length(hash) = 64);

DROP TRIGGER movements_are_append_only_update;
CREATE TRIGGER movements_are_append_only_update BEFORE UPDATE ON movements
WHEN NOT (
    OLD.hash IS NULL AND NEW.hash IS NOT NULL
    AND NEW.seq IS OLD.seq AND NEW.kind IS OLD.kind AND NEW.sku IS OLD.sku
    AND NEW.quantity IS OLD.quantity AND NEW.from_location IS OLD.from_location
    AND NEW.to_location IS OLD.to_location AND NEW.lot IS OLD.lot AND NEW.epcs IS OLD.epcs
    AND NEW.actor IS OLD.actor AND NEW.source IS OLD.source
    AND NEW.idempotency_key IS OLD.idempotency_key AND NEW.reason IS OLD.reason
    AND NEW.recorded_at IS OLD.recorded_at
)
BEGIN
    SELECT RAISE(ABORT, 'the movement ledger is append-only');
END;
