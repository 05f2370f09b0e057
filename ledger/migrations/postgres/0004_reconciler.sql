-- The reconciler's per-payment schedule: how often it has asked the gateway about a pending
-- payment, and when it may ask again (exponential backoff, so a payment that stays pending for
-- days costs a handful of calls, not thousands).
ALTER TABLE payments ADD COLUMN reconcile_attempts BIGINT NOT NULL DEFAULT 0;
ALTER TABLE payments ADD COLUMN next_reconcile_at_ms BIGINT;
CREATE INDEX payments_reconcile ON payments (status, created_at_ms) WHERE status = 'pending';
