-- See migrations/postgres/0004_reconciler.sql.
ALTER TABLE payments ADD COLUMN reconcile_attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE payments ADD COLUMN next_reconcile_at_ms INTEGER;
CREATE INDEX payments_reconcile ON payments (status, created_at_ms) WHERE status = 'pending';
