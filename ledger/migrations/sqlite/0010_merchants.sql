-- Many merchants on one ledger. A merchant owns its orders, payments, inbox events, journal,
-- client secrets and Idempotency-Key records; the merchant is part of every key and every
-- foreign key between them, so merchant A's `ord_1` and merchant B's `ord_1` are two orders
-- and nothing can join one merchant's rows to another's. Everything that existed before
-- belongs to the `default` merchant.
--
-- SQLite cannot change a primary key or add a foreign key in place: each table is rebuilt
-- (the old one renamed, the new one created and filled, the old one dropped), with foreign
-- keys checked at commit. The merchant columns have no default: a write that forgets the
-- merchant fails instead of landing on `default`.
PRAGMA defer_foreign_keys = ON;

CREATE TABLE merchants (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL,
    updated_at_ms INTEGER NOT NULL
);
INSERT INTO merchants (id, name, created_at_ms, updated_at_ms)
VALUES ('default', 'Default merchant',
        CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER),
        CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));

-- Which merchant a source's events belong to. A source not listed (as those configured in
-- wrangler.toml) belongs to `default`.
CREATE TABLE sources (
    name          TEXT PRIMARY KEY,
    merchant_id   TEXT NOT NULL REFERENCES merchants (id),
    created_at_ms INTEGER NOT NULL,
    updated_at_ms INTEGER NOT NULL
);
CREATE INDEX sources_merchant ON sources (merchant_id, name);

-- The old tables step aside first (their references to each other follow them), so the new
-- ones are created under their final names with their final foreign keys.
DROP INDEX orders_status;
DROP INDEX orders_updated;
DROP INDEX payments_status;
DROP INDEX payments_reconcile;
DROP INDEX order_client_secrets_reference;
DROP INDEX inbox_events_parked;
DROP INDEX inbox_events_status;
DROP INDEX inbox_events_reference;
DROP INDEX inbox_events_received;
DROP INDEX inbox_events_settled;
DROP INDEX journal_transactions_reference;
DROP INDEX journal_entries_account;
DROP TRIGGER journal_transactions_no_update;
DROP TRIGGER journal_transactions_no_delete;
DROP TRIGGER journal_entries_no_update;
DROP TRIGGER journal_entries_no_delete;
DROP TRIGGER inbox_events_parked_on_insert;
DROP TRIGGER inbox_events_parked_on_update;
ALTER TABLE orders RENAME TO orders_old;
ALTER TABLE payments RENAME TO payments_old;
ALTER TABLE order_client_secrets RENAME TO order_client_secrets_old;
ALTER TABLE inbox_events RENAME TO inbox_events_old;
ALTER TABLE journal_transactions RENAME TO journal_transactions_old;
ALTER TABLE journal_entries RENAME TO journal_entries_old;
ALTER TABLE api_idempotency_keys RENAME TO api_idempotency_keys_old;

CREATE TABLE orders (
    merchant_id   TEXT    NOT NULL REFERENCES merchants (id),
    reference     TEXT    NOT NULL,
    amount        INTEGER NOT NULL CHECK (amount > 0),
    currency      TEXT    NOT NULL CHECK (length(currency) = 3),
    status        TEXT    NOT NULL,
    review_reason TEXT,
    metadata      TEXT,
    created_at_ms INTEGER NOT NULL,
    updated_at_ms INTEGER NOT NULL,
    version       INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (merchant_id, reference)
);
INSERT INTO orders (merchant_id, reference, amount, currency, status, review_reason,
                        metadata, created_at_ms, updated_at_ms, version)
SELECT 'default', reference, amount, currency, status, review_reason, metadata, created_at_ms,
       updated_at_ms, version
FROM orders_old;

CREATE TABLE payments (
    merchant_id          TEXT    NOT NULL REFERENCES merchants (id),
    reference            TEXT    NOT NULL,
    gateway              TEXT    NOT NULL,
    gateway_id           TEXT,
    amount               INTEGER NOT NULL,
    currency             TEXT    NOT NULL CHECK (length(currency) = 3),
    fees                 INTEGER NOT NULL DEFAULT 0,
    channel              TEXT,
    status               TEXT    NOT NULL,
    refunded             INTEGER NOT NULL DEFAULT 0 CHECK (refunded >= 0 AND refunded <= amount),
    paid_at              TEXT,
    review_reason        TEXT,
    created_at_ms        INTEGER NOT NULL,
    updated_at_ms        INTEGER NOT NULL,
    reconcile_attempts   INTEGER NOT NULL DEFAULT 0,
    next_reconcile_at_ms INTEGER,
    requested_amount     INTEGER NOT NULL,
    charged_back         INTEGER NOT NULL DEFAULT 0 CHECK (charged_back >= 0),
    disputes             TEXT    NOT NULL DEFAULT '[]',
    PRIMARY KEY (merchant_id, reference)
);
INSERT INTO payments (merchant_id, reference, gateway, gateway_id, amount, currency, fees,
                          channel, status, refunded, paid_at, review_reason, created_at_ms,
                          updated_at_ms, reconcile_attempts, next_reconcile_at_ms,
                          requested_amount, charged_back, disputes)
SELECT 'default', reference, gateway, gateway_id, amount, currency, fees, channel, status,
       refunded, paid_at, review_reason, created_at_ms, updated_at_ms, reconcile_attempts,
       next_reconcile_at_ms, requested_amount, charged_back, disputes
FROM payments_old;

CREATE TABLE order_client_secrets (
    secret_hash   TEXT    PRIMARY KEY,
    merchant_id   TEXT    NOT NULL,
    reference     TEXT    NOT NULL,
    created_at_ms INTEGER NOT NULL,
    FOREIGN KEY (merchant_id, reference) REFERENCES orders (merchant_id, reference)
);
INSERT INTO order_client_secrets (secret_hash, merchant_id, reference, created_at_ms)
SELECT secret_hash, 'default', reference, created_at_ms FROM order_client_secrets_old;

CREATE TABLE inbox_events (
    id              INTEGER PRIMARY KEY,
    merchant_id     TEXT    NOT NULL REFERENCES merchants (id),
    idempotency_key TEXT    NOT NULL,
    source          TEXT    NOT NULL,
    provider        TEXT    NOT NULL,
    event_type      TEXT    NOT NULL,
    reference       TEXT,
    received_at_ms  INTEGER NOT NULL,
    applied_at_ms   INTEGER,
    status          TEXT    NOT NULL CHECK (status IN ('applied', 'ignored', 'parked', 'dead')),
    reason          TEXT,
    shard           INTEGER,
    seq             INTEGER,
    envelope        TEXT    NOT NULL,
    parked_at_ms    INTEGER,
    -- Dedupe is per merchant: two merchants' gateways may send the same key (the same
    -- refund reference, the same Standard Webhooks id), and each is an event of its own.
    UNIQUE (merchant_id, idempotency_key)
);
INSERT INTO inbox_events (id, merchant_id, idempotency_key, source, provider, event_type,
                              reference, received_at_ms, applied_at_ms, status, reason, shard,
                              seq, envelope, parked_at_ms)
SELECT id, 'default', idempotency_key, source, provider, event_type, reference, received_at_ms,
       applied_at_ms, status, reason, shard, seq, envelope, parked_at_ms
FROM inbox_events_old;

-- The journal's merchant is on both tables, and an entry's must be its transaction's (the
-- foreign key says so), so a merchant's balances are read from its entries alone.
CREATE TABLE journal_transactions (
    id           INTEGER PRIMARY KEY,
    merchant_id  TEXT    NOT NULL REFERENCES merchants (id),
    reference    TEXT    NOT NULL,
    kind         TEXT    NOT NULL,
    event_key    TEXT    NOT NULL,
    posted_at_ms INTEGER NOT NULL,
    UNIQUE (id, merchant_id),
    FOREIGN KEY (merchant_id, event_key) REFERENCES inbox_events (merchant_id, idempotency_key)
);
INSERT INTO journal_transactions (id, merchant_id, reference, kind, event_key, posted_at_ms)
SELECT id, 'default', reference, kind, event_key, posted_at_ms FROM journal_transactions_old;

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
SELECT id, transaction_id, 'default', account, currency, amount FROM journal_entries_old;

CREATE TABLE api_idempotency_keys (
    merchant_id     TEXT    NOT NULL REFERENCES merchants (id),
    key             TEXT    NOT NULL,
    request_hash    TEXT    NOT NULL,
    response_status INTEGER,
    response_body   TEXT,
    created_at_ms   INTEGER NOT NULL,
    completed_at_ms INTEGER,
    PRIMARY KEY (merchant_id, key)
);
INSERT INTO api_idempotency_keys (merchant_id, key, request_hash, response_status,
                                      response_body, created_at_ms, completed_at_ms)
SELECT 'default', key, request_hash, response_status, response_body, created_at_ms,
       completed_at_ms
FROM api_idempotency_keys_old;

-- Children first: an old table is referenced only by old tables.
DROP TABLE journal_entries_old;
DROP TABLE journal_transactions_old;
DROP TABLE order_client_secrets_old;
DROP TABLE api_idempotency_keys_old;
DROP TABLE payments_old;
DROP TABLE orders_old;
DROP TABLE inbox_events_old;

CREATE INDEX orders_status ON orders (merchant_id, status, created_at_ms);
CREATE INDEX orders_updated ON orders (updated_at_ms);
CREATE INDEX payments_status ON payments (merchant_id, status, updated_at_ms);
CREATE INDEX payments_reconcile ON payments (status, created_at_ms) WHERE status = 'pending';
CREATE INDEX order_client_secrets_reference ON order_client_secrets (merchant_id, reference);
CREATE INDEX inbox_events_parked ON inbox_events (merchant_id, reference) WHERE status = 'parked';
CREATE INDEX inbox_events_status ON inbox_events (status, id);
CREATE INDEX inbox_events_merchant ON inbox_events (merchant_id, id);
CREATE INDEX inbox_events_reference ON inbox_events (merchant_id, reference, id);
CREATE INDEX inbox_events_received ON inbox_events (received_at_ms);
CREATE INDEX inbox_events_settled ON inbox_events (status, applied_at_ms);
CREATE INDEX journal_transactions_reference ON journal_transactions (merchant_id, reference);
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

-- The merchant an operator acted on (NULL for the platform's own routes, as adding a
-- merchant). Entries written before merchants existed were all the default merchant's.
ALTER TABLE audit_log ADD COLUMN merchant_id TEXT DEFAULT 'default';
CREATE INDEX audit_log_merchant ON audit_log (merchant_id, id);

-- Tokens the platform issues to its merchants through the API (`/v1/merchants/{id}/tokens`),
-- beside the ones configured in KEFFI_ADMIN_TOKENS. Only the SHA-256 of a token is kept; a
-- revoked token stays, so its name is not reused for another.
CREATE TABLE api_tokens (
    token_hash    TEXT    PRIMARY KEY,
    merchant_id   TEXT    NOT NULL REFERENCES merchants (id),
    name          TEXT    NOT NULL,
    scope         TEXT    NOT NULL CHECK (scope IN ('read', 'operate', 'admin')),
    created_at_ms INTEGER  NOT NULL,
    revoked_at_ms INTEGER,
    UNIQUE (merchant_id, name)
);
