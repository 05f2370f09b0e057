-- Money as the domain now models it: what the merchant asked for beside what was captured
-- (a charge may add passed-on fees), chargebacks apart from refunds, and every dispute by its
-- gateway id (a transaction can be disputed more than once). A captured payment's status is
-- derived from these, so the status a dispute interrupted is no longer stored.
ALTER TABLE payments ADD COLUMN requested_amount INTEGER NOT NULL DEFAULT 0;
UPDATE payments SET requested_amount = amount;
ALTER TABLE payments ADD COLUMN charged_back INTEGER NOT NULL DEFAULT 0 CHECK (charged_back >= 0);
-- JSON: [{"id": "…", "amount": 123, "state": "open" | "won" | "lost"}], read and written with
-- the payment as one value.
ALTER TABLE payments ADD COLUMN disputes TEXT NOT NULL DEFAULT '[]';
ALTER TABLE payments DROP COLUMN disputed_from;
