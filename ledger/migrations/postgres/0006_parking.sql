-- When an inbox event last became parked, so the sweep can give up on one that has waited
-- longer than --park-timeout for the fact it needs (it becomes `dead` as orphaned). Not
-- received_at_ms: that is the edge's clock at delivery, so an event drained from a backlog
-- hours after delivery would count the hours it sat in the edge's buffer as waiting, and be
-- given up on before the charge it waits for, further back in the same backlog, was pulled.
ALTER TABLE inbox_events ADD COLUMN parked_at_ms BIGINT;

-- Events already parked: when they parked is not known, so their wait starts now (counting
-- from delivery would give up on all of them at the first sweep after the upgrade).
UPDATE inbox_events SET parked_at_ms = (EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT
WHERE status = 'parked';

-- Set by the database wherever a row becomes parked (a batch, a replay, any path written
-- later), so no code path can forget it. Only the move into `parked` sets it: re-deciding an
-- event that stays parked keeps its wait running, and a caller that sets the column itself
-- is left alone. Kept after the row leaves `parked`: it is "when it last parked".
CREATE FUNCTION keffi_inbox_parked_now() RETURNS trigger AS $$
BEGIN
    NEW.parked_at_ms := (EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER inbox_events_parked_on_insert BEFORE INSERT ON inbox_events
    FOR EACH ROW WHEN (NEW.status = 'parked' AND NEW.parked_at_ms IS NULL)
    EXECUTE FUNCTION keffi_inbox_parked_now();
CREATE TRIGGER inbox_events_parked_on_update BEFORE UPDATE OF status ON inbox_events
    FOR EACH ROW WHEN (NEW.status = 'parked' AND OLD.status <> 'parked'
                       AND NEW.parked_at_ms IS NOT DISTINCT FROM OLD.parked_at_ms)
    EXECUTE FUNCTION keffi_inbox_parked_now();
