-- A journal transaction names the inbox event that posted it by the event's id, and the
-- foreign key is (merchant_id, event_id) → inbox_events (merchant_id, id), as on Postgres
-- (where a lookup by the event's key could be planned badly); the key itself is read
-- through the event. The journal's two tables are rebuilt (SQLite cannot change a foreign
-- key in place), with foreign keys checked at commit.
PRAGMA defer_foreign_keys = ON;

DROP INDEX inbox_events_merchant;
CREATE UNIQUE INDEX inbox_events_merchant ON inbox_events (merchant_id, id);

DROP INDEX journal_transactions_reference;
DROP INDEX journal_entries_account;
DROP INDEX journal_entries_transaction;
DROP TRIGGER journal_transactions_no_update;
DROP TRIGGER journal_transactions_no_delete;
DROP TRIGGER journal_entries_no_update;
DROP TRIGGER journal_entries_no_delete;
ALTER TABLE journal_transactions RENAME TO journal_transactions_old;
ALTER TABLE journal_entries RENAME TO journal_entries_old;

-- The merchant is its event's (the foreign key to the inbox says so), and the event's is a
-- merchant: a key of its own to `merchants` would only check that again on every row.
CREATE TABLE journal_transactions (
    id           INTEGER PRIMARY KEY,
    merchant_id  TEXT    NOT NULL,
    reference    TEXT    NOT NULL,
    kind         TEXT    NOT NULL,
    event_id     INTEGER NOT NULL,
    posted_at_ms INTEGER NOT NULL,
    UNIQUE (id, merchant_id),
    FOREIGN KEY (merchant_id, event_id) REFERENCES inbox_events (merchant_id, id)
);
INSERT INTO journal_transactions (id, merchant_id, reference, kind, event_id, posted_at_ms)
SELECT t.id, t.merchant_id, t.reference, t.kind, e.id, t.posted_at_ms
FROM journal_transactions_old t
JOIN inbox_events e ON e.merchant_id = t.merchant_id AND e.idempotency_key = t.event_key;

CREATE TABLE journal_entries (
    id             INTEGER PRIMARY KEY,
    transaction_id INTEGER NOT NULL,
    merchant_id    TEXT    NOT NULL,
    account        TEXT    NOT NULL,
    currency       TEXT    NOT NULL CHECK (length(currency) = 3),
    amount         INTEGER NOT NULL CHECK (amount <> 0),
    FOREIGN KEY (transaction_id, merchant_id)
        REFERENCES journal_transactions (id, merchant_id)
);
INSERT INTO journal_entries (id, transaction_id, merchant_id, account, currency, amount)
SELECT id, transaction_id, merchant_id, account, currency, amount FROM journal_entries_old;

DROP TABLE journal_entries_old;
DROP TABLE journal_transactions_old;

CREATE INDEX journal_transactions_reference ON journal_transactions (reference, merchant_id);
CREATE INDEX journal_entries_account ON journal_entries (merchant_id, account, currency);
CREATE INDEX journal_entries_transaction ON journal_entries (transaction_id);

CREATE TRIGGER journal_transactions_no_update BEFORE UPDATE ON journal_transactions
BEGIN SELECT RAISE(ABORT, 'the journal is append-only: post a reversing transaction instead'); END;
CREATE TRIGGER journal_transactions_no_delete BEFORE DELETE ON journal_transactions
BEGIN SELECT RAISE(ABORT, 'the journal is append-only: post a reversing transaction instead'); END;
CREATE TRIGGER journal_entries_no_update BEFORE UPDATE ON journal_entries
BEGIN SELECT RAISE(ABORT, 'the journal is append-only: post a reversing transaction instead'); END;
CREATE TRIGGER journal_entries_no_delete BEFORE DELETE ON journal_entries
BEGIN SELECT RAISE(ABORT, 'the journal is append-only: post a reversing transaction instead'); END;

-- The indexes Postgres reorders so that a lookup by key or reference finds no second index
-- leading with merchant_id, reordered here too so both stores keep one layout (the inbox's
-- unique key stays a table constraint: SQLite's planner takes it as it is).
DROP INDEX inbox_events_reference;
CREATE INDEX inbox_events_reference ON inbox_events (reference, merchant_id, id);
DROP INDEX inbox_events_parked;
CREATE INDEX inbox_events_parked ON inbox_events (reference, merchant_id) WHERE status = 'parked';
DROP INDEX orders_status;
CREATE INDEX orders_status ON orders (status, merchant_id, created_at_ms);
DROP INDEX payments_status;
CREATE INDEX payments_status ON payments (status, merchant_id, updated_at_ms);
