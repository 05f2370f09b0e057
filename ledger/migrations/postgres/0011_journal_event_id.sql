-- A journal transaction names the inbox event that posted it by the event's id, and the
-- foreign key is (merchant_id, event_id) → inbox_events (merchant_id, id). Keyed by the
-- event's idempotency key instead, the check is a lookup on (merchant_id, idempotency_key),
-- and a plan cached while the inbox was small can take any index that leads with
-- merchant_id and then read every one of the merchant's events per journal row. Looked up
-- by id, the primary key answers it whichever plan is cached. The key itself is read through
-- the event.
DROP INDEX inbox_events_merchant;
ALTER TABLE inbox_events ADD CONSTRAINT inbox_events_merchant UNIQUE (merchant_id, id);

ALTER TABLE journal_transactions ADD COLUMN event_id BIGINT;
-- The journal is append-only for everything but this one fill of the new column.
ALTER TABLE journal_transactions DISABLE TRIGGER journal_transactions_append_only;
UPDATE journal_transactions t SET event_id = e.id
FROM inbox_events e
WHERE e.merchant_id = t.merchant_id AND e.idempotency_key = t.event_key;
ALTER TABLE journal_transactions ENABLE TRIGGER journal_transactions_append_only;
ALTER TABLE journal_transactions ALTER COLUMN event_id SET NOT NULL;
ALTER TABLE journal_transactions ADD CONSTRAINT journal_transactions_event
    FOREIGN KEY (merchant_id, event_id) REFERENCES inbox_events (merchant_id, id);
-- Dropping the key drops its foreign key with it.
ALTER TABLE journal_transactions DROP COLUMN event_key;
-- The merchant is its event's (the foreign key above says so), and the event's is a
-- merchant: a key of its own to `merchants` would only check that again on every row.
ALTER TABLE journal_transactions DROP CONSTRAINT journal_transactions_merchant_id_fkey;

-- The same hazard on the reads by merchant and key or reference: keys and references lead
-- their indexes, with the merchant second, and the status indexes lead with the status, so
-- the only indexes that lead with merchant_id are the primary keys of orders and payments
-- and the merchant's event list (merchant_id, id). A plan made before the table has
-- statistics can still answer a lookup on those primary keys from the merchant alone: the
-- ledger takes each busy table's first statistics early for that (store/statistics.rs).
ALTER TABLE inbox_events DROP CONSTRAINT inbox_events_merchant_key;
ALTER TABLE inbox_events ADD CONSTRAINT inbox_events_key UNIQUE (idempotency_key, merchant_id);
DROP INDEX inbox_events_reference;
CREATE INDEX inbox_events_reference ON inbox_events (reference, merchant_id, id);
DROP INDEX inbox_events_parked;
CREATE INDEX inbox_events_parked ON inbox_events (reference, merchant_id) WHERE status = 'parked';
DROP INDEX orders_status;
CREATE INDEX orders_status ON orders (status, merchant_id, created_at_ms);
DROP INDEX payments_status;
CREATE INDEX payments_status ON payments (status, merchant_id, updated_at_ms);
DROP INDEX journal_transactions_reference;
CREATE INDEX journal_transactions_reference ON journal_transactions (reference, merchant_id);
