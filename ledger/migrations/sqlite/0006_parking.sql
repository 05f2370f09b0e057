-- See migrations/postgres/0006_parking.sql: when an inbox event last became parked, set by
-- the database on every move into `parked`. SQLite's BEFORE triggers cannot change NEW, so
-- these run after the write and stamp the row (a stamp changes no status: no recursion).
ALTER TABLE inbox_events ADD COLUMN parked_at_ms INTEGER;

UPDATE inbox_events SET parked_at_ms = CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)
WHERE status = 'parked';

CREATE TRIGGER inbox_events_parked_on_insert AFTER INSERT ON inbox_events
    WHEN NEW.status = 'parked' AND NEW.parked_at_ms IS NULL
BEGIN
    UPDATE inbox_events
    SET parked_at_ms = CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)
    WHERE id = NEW.id;
END;

CREATE TRIGGER inbox_events_parked_on_update AFTER UPDATE OF status ON inbox_events
    WHEN NEW.status = 'parked' AND OLD.status <> 'parked'
         AND NEW.parked_at_ms IS OLD.parked_at_ms
BEGIN
    UPDATE inbox_events
    SET parked_at_ms = CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)
    WHERE id = NEW.id;
END;
