-- Keffi ledger schema (Postgres). Amounts are BIGINT minor units with an ISO 4217 code beside
-- them; timestamps are BIGINT milliseconds since the Unix epoch (UTC by definition), the same
-- representation as the SQLite schema so the two stores behave identically.

-- Every event the ledger has seen, by any route (edge pull, direct hook, reconciler). The
-- idempotency key is unique forever: a key seen once is never applied again.
CREATE TABLE inbox_events (
    id              BIGSERIAL PRIMARY KEY,
    idempotency_key TEXT NOT NULL UNIQUE,
    source          TEXT NOT NULL,
    provider        TEXT NOT NULL,
    event_type      TEXT NOT NULL,
    -- The payment reference the event is about, when it names one (parked events wait on it).
    reference       TEXT,
    received_at_ms  BIGINT NOT NULL,
    applied_at_ms   BIGINT,
    status          TEXT NOT NULL CHECK (status IN ('applied', 'ignored', 'parked', 'dead')),
    reason          TEXT,
    -- Where it came from: the edge shard and sequence (NULL for direct hooks and reconciler).
    shard           BIGINT,
    seq             BIGINT,
    envelope        TEXT NOT NULL
);
CREATE INDEX inbox_events_parked ON inbox_events (reference) WHERE status = 'parked';
CREATE INDEX inbox_events_status ON inbox_events (status, id);

-- One row per edge shard: how far the ledger has applied, and who may pull it. The lease lets
-- several ledger replicas share the shards without two pulling the same one at once.
CREATE TABLE edge_cursors (
    shard               BIGINT PRIMARY KEY,
    last_seq            BIGINT NOT NULL DEFAULT 0,
    lease_holder        TEXT,
    lease_expires_at_ms BIGINT,
    updated_at_ms       BIGINT NOT NULL
);

CREATE TABLE orders (
    reference     TEXT PRIMARY KEY,
    amount        BIGINT NOT NULL CHECK (amount > 0),
    currency      TEXT NOT NULL CHECK (length(currency) = 3),
    status        TEXT NOT NULL,
    review_reason TEXT,
    metadata      TEXT,
    created_at_ms BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL
);
CREATE INDEX orders_status ON orders (status, created_at_ms);

CREATE TABLE payments (
    reference     TEXT PRIMARY KEY,
    gateway       TEXT NOT NULL,
    gateway_id    TEXT,
    amount        BIGINT NOT NULL,
    currency      TEXT NOT NULL CHECK (length(currency) = 3),
    fees          BIGINT NOT NULL DEFAULT 0,
    channel       TEXT,
    status        TEXT NOT NULL,
    refunded      BIGINT NOT NULL DEFAULT 0 CHECK (refunded >= 0 AND refunded <= amount),
    disputed_from TEXT,
    paid_at       TEXT,
    review_reason TEXT,
    created_at_ms BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL
);
CREATE INDEX payments_status ON payments (status, updated_at_ms);

-- The double-entry journal: append-only (enforced below), every transaction sums to zero per
-- currency, balances are sums of entries.
CREATE TABLE journal_transactions (
    id           BIGSERIAL PRIMARY KEY,
    reference    TEXT NOT NULL,
    kind         TEXT NOT NULL,
    event_key    TEXT NOT NULL REFERENCES inbox_events (idempotency_key),
    posted_at_ms BIGINT NOT NULL
);
CREATE INDEX journal_transactions_reference ON journal_transactions (reference);

CREATE TABLE journal_entries (
    id             BIGSERIAL PRIMARY KEY,
    transaction_id BIGINT NOT NULL REFERENCES journal_transactions (id),
    account        TEXT NOT NULL,
    currency       TEXT NOT NULL CHECK (length(currency) = 3),
    amount         BIGINT NOT NULL CHECK (amount <> 0)
);
CREATE INDEX journal_entries_account ON journal_entries (account, currency);

CREATE FUNCTION keffi_journal_is_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'the journal is append-only: post a reversing transaction instead';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER journal_transactions_append_only BEFORE UPDATE OR DELETE ON journal_transactions
    FOR EACH ROW EXECUTE FUNCTION keffi_journal_is_append_only();
CREATE TRIGGER journal_entries_append_only BEFORE UPDATE OR DELETE ON journal_entries
    FOR EACH ROW EXECUTE FUNCTION keffi_journal_is_append_only();

-- The admin API's Idempotency-Key records (Stripe semantics; 24 h).
CREATE TABLE api_idempotency_keys (
    key             TEXT PRIMARY KEY,
    request_hash    TEXT NOT NULL,
    response_status BIGINT,
    response_body   TEXT,
    created_at_ms   BIGINT NOT NULL,
    completed_at_ms BIGINT
);
