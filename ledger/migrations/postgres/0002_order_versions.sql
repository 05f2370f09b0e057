-- Every change to an order bumps its version: the live status stream (SSE) uses it as the
-- event id, so a client reconnecting with Last-Event-ID gets exactly what it missed.
ALTER TABLE orders ADD COLUMN version BIGINT NOT NULL DEFAULT 1;
