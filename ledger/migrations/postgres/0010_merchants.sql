-- Many merchants on one ledger. A merchant owns its orders, payments, inbox events, journal,
-- client secrets and Idempotency-Key records; the merchant is part of every key and every
-- foreign key between them, so merchant A's `ord_1` and merchant B's `ord_1` are two orders
-- and nothing can join one merchant's rows to another's. Everything that existed before
-- belongs to the `default` merchant. The merchant columns keep no default: a write that
-- forgets the merchant fails instead of landing on `default`.

CREATE TABLE merchants (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL
);
INSERT INTO merchants (id, name, created_at_ms, updated_at_ms)
VALUES ('default', 'Default merchant',
        (EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT,
        (EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT);

-- Which merchant a source's events belong to. A source not listed (as those configured in
-- wrangler.toml) belongs to `default`.
CREATE TABLE sources (
    name          TEXT PRIMARY KEY,
    merchant_id   TEXT NOT NULL REFERENCES merchants (id),
    created_at_ms BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL
);
CREATE INDEX sources_merchant ON sources (merchant_id, name);

-- Adding a column with a default fills existing rows without firing the append-only
-- triggers; the default is dropped at once.
ALTER TABLE orders ADD COLUMN merchant_id TEXT NOT NULL DEFAULT 'default' REFERENCES merchants (id);
ALTER TABLE payments ADD COLUMN merchant_id TEXT NOT NULL DEFAULT 'default' REFERENCES merchants (id);
ALTER TABLE order_client_secrets ADD COLUMN merchant_id TEXT NOT NULL DEFAULT 'default';
ALTER TABLE inbox_events ADD COLUMN merchant_id TEXT NOT NULL DEFAULT 'default' REFERENCES merchants (id);
ALTER TABLE journal_transactions ADD COLUMN merchant_id TEXT NOT NULL DEFAULT 'default' REFERENCES merchants (id);
ALTER TABLE journal_entries ADD COLUMN merchant_id TEXT NOT NULL DEFAULT 'default';
ALTER TABLE api_idempotency_keys ADD COLUMN merchant_id TEXT NOT NULL DEFAULT 'default' REFERENCES merchants (id);
-- The merchant an operator acted on (NULL for the platform's own routes, as adding a
-- merchant). Entries written before merchants existed were all the default merchant's.
ALTER TABLE audit_log ADD COLUMN merchant_id TEXT DEFAULT 'default';
ALTER TABLE audit_log ALTER COLUMN merchant_id DROP DEFAULT;
CREATE INDEX audit_log_merchant ON audit_log (merchant_id, id);

ALTER TABLE orders ALTER COLUMN merchant_id DROP DEFAULT;
ALTER TABLE payments ALTER COLUMN merchant_id DROP DEFAULT;
ALTER TABLE order_client_secrets ALTER COLUMN merchant_id DROP DEFAULT;
ALTER TABLE inbox_events ALTER COLUMN merchant_id DROP DEFAULT;
ALTER TABLE journal_transactions ALTER COLUMN merchant_id DROP DEFAULT;
ALTER TABLE journal_entries ALTER COLUMN merchant_id DROP DEFAULT;
ALTER TABLE api_idempotency_keys ALTER COLUMN merchant_id DROP DEFAULT;

-- The merchant joins each key.
ALTER TABLE order_client_secrets DROP CONSTRAINT order_client_secrets_reference_fkey;
ALTER TABLE orders DROP CONSTRAINT orders_pkey;
ALTER TABLE orders ADD PRIMARY KEY (merchant_id, reference);
ALTER TABLE order_client_secrets ADD FOREIGN KEY (merchant_id, reference)
    REFERENCES orders (merchant_id, reference);
ALTER TABLE payments DROP CONSTRAINT payments_pkey;
ALTER TABLE payments ADD PRIMARY KEY (merchant_id, reference);
ALTER TABLE api_idempotency_keys DROP CONSTRAINT api_idempotency_keys_pkey;
ALTER TABLE api_idempotency_keys ADD PRIMARY KEY (merchant_id, key);

-- Dedupe is per merchant: two merchants' gateways may send the same key (the same refund
-- reference, the same Standard Webhooks id), and each is an event of its own. The journal
-- names its event by merchant and key.
ALTER TABLE journal_transactions DROP CONSTRAINT journal_transactions_event_key_fkey;
ALTER TABLE inbox_events DROP CONSTRAINT inbox_events_idempotency_key_key;
ALTER TABLE inbox_events ADD CONSTRAINT inbox_events_merchant_key
    UNIQUE (merchant_id, idempotency_key);
ALTER TABLE journal_transactions ADD FOREIGN KEY (merchant_id, event_key)
    REFERENCES inbox_events (merchant_id, idempotency_key);

-- The journal's merchant is on both tables, and an entry's must be its transaction's (the
-- foreign key says so), so a merchant's balances are read from its entries alone.
ALTER TABLE journal_transactions ADD CONSTRAINT journal_transactions_id_merchant
    UNIQUE (id, merchant_id);
ALTER TABLE journal_entries DROP CONSTRAINT journal_entries_transaction_id_fkey;
ALTER TABLE journal_entries ADD FOREIGN KEY (transaction_id, merchant_id)
    REFERENCES journal_transactions (id, merchant_id);

DROP INDEX orders_status;
CREATE INDEX orders_status ON orders (merchant_id, status, created_at_ms);
DROP INDEX payments_status;
CREATE INDEX payments_status ON payments (merchant_id, status, updated_at_ms);
DROP INDEX order_client_secrets_reference;
CREATE INDEX order_client_secrets_reference ON order_client_secrets (merchant_id, reference);
DROP INDEX inbox_events_parked;
CREATE INDEX inbox_events_parked ON inbox_events (merchant_id, reference) WHERE status = 'parked';
DROP INDEX inbox_events_reference;
CREATE INDEX inbox_events_reference ON inbox_events (merchant_id, reference, id);
CREATE INDEX inbox_events_merchant ON inbox_events (merchant_id, id);
DROP INDEX journal_transactions_reference;
CREATE INDEX journal_transactions_reference ON journal_transactions (merchant_id, reference);
DROP INDEX journal_entries_account;
CREATE INDEX journal_entries_account ON journal_entries (merchant_id, account, currency);
CREATE INDEX journal_entries_transaction ON journal_entries (transaction_id);

-- Tokens the platform issues to its merchants through the API (`/v1/merchants/{id}/tokens`),
-- beside the ones configured in KEFFI_ADMIN_TOKENS. Only the SHA-256 of a token is kept; a
-- revoked token stays, so its name is not reused for another.
CREATE TABLE api_tokens (
    token_hash    TEXT    PRIMARY KEY,
    merchant_id   TEXT    NOT NULL REFERENCES merchants (id),
    name          TEXT    NOT NULL,
    scope         TEXT    NOT NULL CHECK (scope IN ('read', 'operate', 'admin')),
    created_at_ms BIGINT  NOT NULL,
    revoked_at_ms BIGINT,
    UNIQUE (merchant_id, name)
);
