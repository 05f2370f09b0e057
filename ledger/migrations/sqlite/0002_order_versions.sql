-- See migrations/postgres/0002_order_versions.sql.
ALTER TABLE orders ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
