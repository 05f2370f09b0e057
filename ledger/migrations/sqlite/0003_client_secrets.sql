-- See migrations/postgres/0003_client_secrets.sql.
CREATE TABLE order_client_secrets (
    secret_hash   TEXT PRIMARY KEY,
    reference     TEXT NOT NULL REFERENCES orders (reference),
    created_at_ms INTEGER NOT NULL
);
CREATE INDEX order_client_secrets_reference ON order_client_secrets (reference);
