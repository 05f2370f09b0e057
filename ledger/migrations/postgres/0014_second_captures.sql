-- Captures beyond a payment's first (a customer who paid twice, through the fallback gateway
-- too), as a JSON array of {gateway, gateway_id, amount, fees}; NULL when there are none. The
-- money is real: each is journaled, and the payment waits for a human to refund one. Their
-- sum is kept beside them so the database can still hold refunds to what was captured.
ALTER TABLE payments ADD COLUMN also_captured TEXT;
ALTER TABLE payments ADD COLUMN also_captured_total BIGINT NOT NULL DEFAULT 0
    CHECK (also_captured_total >= 0);
ALTER TABLE payments DROP CONSTRAINT payments_check;
ALTER TABLE payments ADD CONSTRAINT payments_refunded_check
    CHECK (refunded >= 0 AND refunded <= amount + also_captured_total);
