-- One platform account with subaccounts: a split source's events belong to the merchant its
-- payload names (Paystack's subaccount or split, or a metadata key), not to the source's
-- owner. A source splits for good once it does, with the metadata key it was given, so an
-- event routes the same way whenever it is routed.
ALTER TABLE sources ADD COLUMN split_at_ms BIGINT;
ALTER TABLE sources ADD COLUMN metadata_key TEXT;

-- Which merchant a gateway subaccount of a split source settles to. A code is one merchant's
-- for good: a charge routed by it is never the next merchant's.
CREATE TABLE subaccounts (
    source        TEXT   NOT NULL REFERENCES sources (name),
    code          TEXT   NOT NULL,
    merchant_id   TEXT   NOT NULL REFERENCES merchants (id),
    created_at_ms BIGINT NOT NULL,
    PRIMARY KEY (source, code)
);
CREATE INDEX subaccounts_merchant ON subaccounts (merchant_id, source, code);

-- Events of a split source whose merchant could not be told from them, held here (in no
-- merchant's inbox) with the reason until a route appears (a subaccount mapped, the charge a
-- refund follows). Once routed the row stays, naming the merchant it went to.
CREATE TABLE unrouted_events (
    id              BIGSERIAL PRIMARY KEY,
    source          TEXT   NOT NULL REFERENCES sources (name),
    idempotency_key TEXT   NOT NULL,
    provider        TEXT   NOT NULL,
    event_type      TEXT   NOT NULL,
    reference       TEXT,
    reason          TEXT   NOT NULL,
    received_at_ms  BIGINT NOT NULL,
    held_at_ms      BIGINT NOT NULL,
    shard           BIGINT,
    seq             BIGINT,
    envelope        TEXT   NOT NULL,
    merchant_id     TEXT REFERENCES merchants (id),
    routed_at_ms    BIGINT,
    UNIQUE (source, idempotency_key),
    CHECK ((merchant_id IS NULL) = (routed_at_ms IS NULL))
);
CREATE INDEX unrouted_events_waiting ON unrouted_events (id) WHERE routed_at_ms IS NULL;

