-- Keffi ledger schema (SQLite). The same tables, columns and meanings as the Postgres schema
-- (see migrations/postgres/0001_ledger.sql for the comments); amounts are integer minor units,
-- timestamps integer milliseconds since the Unix epoch (UTC).

CREATE TABLE inbox_events (
    id              INTEGER PRIMARY KEY,
    idempotency_key TEXT NOT NULL UNIQUE,
    source          TEXT NOT NULL,
    provider        TEXT NOT NULL,
    event_type      TEXT NOT NULL,
    reference       TEXT,
    received_at_ms  INTEGER NOT NULL,
    applied_at_ms   INTEGER,
    status          TEXT NOT NULL CHECK (status IN ('applied', 'ignored', 'parked', 'dead')),
    reason          TEXT,
    shard           INTEGER,
    seq             INTEGER,
    envelope        TEXT NOT NULL
);
CREATE INDEX inbox_events_parked ON inbox_events (reference) WHERE status = 'parked';
CREATE INDEX inbox_events_status ON inbox_events (status, id);

CREATE TABLE edge_cursors (
    shard               INTEGER PRIMARY KEY,
    last_seq            INTEGER NOT NULL DEFAULT 0,
    lease_holder        TEXT,
    lease_expires_at_ms INTEGER,
    updated_at_ms       INTEGER NOT NULL
);

CREATE TABLE orders (
    reference     TEXT PRIMARY KEY,
    amount        INTEGER NOT NULL CHECK (amount > 0),
    currency      TEXT NOT NULL CHECK (length(currency) = 3),
    status        TEXT NOT NULL,
    review_reason TEXT,
    metadata      TEXT,
    created_at_ms INTEGER NOT NULL,
    updated_at_ms INTEGER NOT NULL
);
CREATE INDEX orders_status ON orders (status, created_at_ms);

CREATE TABLE payments (
    reference     TEXT PRIMARY KEY,
    gateway       TEXT NOT NULL,
    gateway_id    TEXT,
    amount        INTEGER NOT NULL,
    currency      TEXT NOT NULL CHECK (length(currency) = 3),
    fees          INTEGER NOT NULL DEFAULT 0,
    channel       TEXT,
    status        TEXT NOT NULL,
    refunded      INTEGER NOT NULL DEFAULT 0 CHECK (refunded >= 0 AND refunded <= amount),
    disputed_from TEXT,
    paid_at       TEXT,
    review_reason TEXT,
    created_at_ms INTEGER NOT NULL,
    updated_at_ms INTEGER NOT NULL
);
CREATE INDEX payments_status ON payments (status, updated_at_ms);

CREATE TABLE journal_transactions (
    id           INTEGER PRIMARY KEY,
    reference    TEXT NOT NULL,
    kind         TEXT NOT NULL,
    event_key    TEXT NOT NULL REFERENCES inbox_events (idempotency_key),
    posted_at_ms INTEGER NOT NULL
);
CREATE INDEX journal_transactions_reference ON journal_transactions (reference);

CREATE TABLE journal_entries (
    id             INTEGER PRIMARY KEY,
    transaction_id INTEGER NOT NULL REFERENCES journal_transactions (id),
    account        TEXT NOT NULL,
    currency       TEXT NOT NULL CHECK (length(currency) = 3),
    amount         INTEGER NOT NULL CHECK (amount <> 0)
);
CREATE INDEX journal_entries_account ON journal_entries (account, currency);

CREATE TRIGGER journal_transactions_no_update BEFORE UPDATE ON journal_transactions
BEGIN SELECT RAISE(ABORT, 'the journal is append-only: post a reversing transaction instead'); END;
CREATE TRIGGER journal_transactions_no_delete BEFORE DELETE ON journal_transactions
BEGIN SELECT RAISE(ABORT, 'the journal is append-only: post a reversing transaction instead'); END;
CREATE TRIGGER journal_entries_no_update BEFORE UPDATE ON journal_entries
BEGIN SELECT RAISE(ABORT, 'the journal is append-only: post a reversing transaction instead'); END;
CREATE TRIGGER journal_entries_no_delete BEFORE DELETE ON journal_entries
BEGIN SELECT RAISE(ABORT, 'the journal is append-only: post a reversing transaction instead'); END;

CREATE TABLE api_idempotency_keys (
    key             TEXT PRIMARY KEY,
    request_hash    TEXT NOT NULL,
    response_status INTEGER,
    response_body   TEXT,
    created_at_ms   INTEGER NOT NULL,
    completed_at_ms INTEGER
);
