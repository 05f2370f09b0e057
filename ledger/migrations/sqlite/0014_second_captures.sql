-- Captures beyond a payment's first (a customer who paid twice, through the fallback gateway
-- too), as a JSON array of {gateway, gateway_id, amount, fees}; NULL when there are none. The
-- money is real: each is journaled, and the payment waits for a human to refund one. Their
-- sum is kept beside them so the database can still hold refunds to what was captured; SQLite
-- cannot change a CHECK, so the table is rebuilt (nothing references it).
DROP INDEX payments_status;
DROP INDEX payments_reconcile;
ALTER TABLE payments RENAME TO payments_old;
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
    refunded             INTEGER NOT NULL DEFAULT 0
        CHECK (refunded >= 0 AND refunded <= amount + also_captured_total),
    paid_at              TEXT,
    review_reason        TEXT,
    created_at_ms        INTEGER NOT NULL,
    updated_at_ms        INTEGER NOT NULL,
    reconcile_attempts   INTEGER NOT NULL DEFAULT 0,
    next_reconcile_at_ms INTEGER,
    requested_amount     INTEGER NOT NULL,
    charged_back         INTEGER NOT NULL DEFAULT 0 CHECK (charged_back >= 0),
    disputes             TEXT    NOT NULL DEFAULT '[]',
    also_captured        TEXT,
    also_captured_total  INTEGER NOT NULL DEFAULT 0 CHECK (also_captured_total >= 0),
    PRIMARY KEY (merchant_id, reference)
);
INSERT INTO payments (merchant_id, reference, gateway, gateway_id, amount, currency, fees,
                      channel, status, refunded, paid_at, review_reason, created_at_ms,
                      updated_at_ms, reconcile_attempts, next_reconcile_at_ms,
                      requested_amount, charged_back, disputes)
SELECT merchant_id, reference, gateway, gateway_id, amount, currency, fees, channel, status,
       refunded, paid_at, review_reason, created_at_ms, updated_at_ms, reconcile_attempts,
       next_reconcile_at_ms, requested_amount, charged_back, disputes
FROM payments_old;
DROP TABLE payments_old;
CREATE INDEX payments_status ON payments (status, merchant_id, updated_at_ms);
CREATE INDEX payments_reconcile ON payments (status, created_at_ms) WHERE status = 'pending';
