-- Per-order client secrets: a browser holding one may read that order's status and stream,
-- nothing else. Only SHA-256 hashes are stored. An order may have several (an idempotent
-- replay of its creation issues a fresh one, since the first cannot be shown again).
CREATE TABLE order_client_secrets (
    secret_hash   TEXT PRIMARY KEY,
    reference     TEXT NOT NULL REFERENCES orders (reference),
    created_at_ms BIGINT NOT NULL
);
CREATE INDEX order_client_secrets_reference ON order_client_secrets (reference);
