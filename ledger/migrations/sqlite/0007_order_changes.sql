-- The change feed's catch-up reads the orders changed since its last look: a range on
-- updated_at_ms, whatever the number of orders.
CREATE INDEX orders_updated ON orders (updated_at_ms);
