-- The audit log: every operator action through the admin API (replay, order creation, and
-- every later route outside the read scope), with the token's name, whether it was refused
-- for its scope, and the status it was answered. Append-only: the triggers refuse UPDATE,
-- DELETE and TRUNCATE (which row triggers do not see), so a row, once written, is what an
-- investigator reads. Only a role that may drop triggers can get round that; run the ledger
-- as one that does not own the table to close that too.
CREATE TABLE audit_log (
    id          BIGSERIAL PRIMARY KEY,
    at_ms       BIGINT NOT NULL,   -- when the request arrived
    token_name  TEXT   NOT NULL,
    token_scope TEXT   NOT NULL,
    action      TEXT   NOT NULL,   -- method and route, e.g. `POST /v1/orders`
    target      TEXT   NOT NULL,   -- the request's path, e.g. `/v1/events/12/replay`
    status      BIGINT NOT NULL,   -- what the API answered (403: refused for scope)
    detail      TEXT               -- JSON summary: reference, idempotency key…
);
CREATE INDEX audit_log_token ON audit_log (token_name, id);

CREATE FUNCTION keffi_audit_log_is_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION keffi_audit_log_is_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION keffi_audit_log_is_append_only();
