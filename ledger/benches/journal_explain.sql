-- Where the Postgres journal phase goes: EXPLAIN ANALYZE of a batch's journal writes (1,000
-- transactions, 3,000 entries) and, for scale, its inbox insert, against a migrated database
-- holding 20,000 earlier events. Rolled back: it leaves nothing.
--
--   createdb -h 127.0.0.1 -U postgres keffi_explain
--   target/debug/keffi-ledger migrate --database-url postgres://postgres@127.0.0.1/keffi_explain
--   psql -h 127.0.0.1 -U postgres -d keffi_explain -f ledger/benches/journal_explain.sql
--   dropdb -h 127.0.0.1 -U postgres keffi_explain
BEGIN;
INSERT INTO inbox_events (merchant_id, idempotency_key, source, provider, event_type,
                          received_at_ms, status, envelope)
  SELECT 'default', 'k' || g, 'paystack', 'paystack', 'charge.success', 0, 'applied',
         repeat('x', 900)
  FROM generate_series(1, 20000) g;
ANALYZE inbox_events;
EXPLAIN (ANALYZE, COSTS OFF)
  INSERT INTO journal_transactions (merchant_id, reference, kind, event_id, posted_at_ms)
  SELECT 'default', 'bench_' || e.id, 'charge', e.id, 0
  FROM inbox_events e ORDER BY e.id LIMIT 1000;
EXPLAIN (ANALYZE, COSTS OFF)
  INSERT INTO journal_entries (transaction_id, merchant_id, account, currency, amount)
  SELECT t.id, 'default', a.account, 'NGN', a.amount
  FROM journal_transactions t,
       (VALUES ('sales', -500000), ('fees:paystack', 7500), ('merchant_balance:paystack', 492500))
         AS a (account, amount);
EXPLAIN (ANALYZE, COSTS OFF)
  INSERT INTO inbox_events (merchant_id, idempotency_key, source, provider, event_type,
                            received_at_ms, status, envelope)
  SELECT 'default', 'n' || g, 'paystack', 'paystack', 'charge.success', 0, 'applied',
         repeat('x', 900)
  FROM generate_series(1, 1000) g;
ROLLBACK;
