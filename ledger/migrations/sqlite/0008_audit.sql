-- The audit log: every operator action through the admin API (replay, order creation, and
-- every later route outside the read scope), with the token's name, whether it was refused
-- for its scope, and the status it was answered. Append-only: the triggers refuse any change,
-- so a row, once written, is what an investigator reads.
CREATE TABLE audit_log (
    id          INTEGER PRIMARY KEY AUTOINCREMENT, -- never reused, even after the last row
    at_ms       INTEGER NOT NULL,                  -- when the request arrived
    token_name  TEXT    NOT NULL,
    token_scope TEXT    NOT NULL,
    action      TEXT    NOT NULL,                  -- method and route, e.g. `POST /v1/orders`
    target      TEXT    NOT NULL,                  -- the request's path, e.g. `/v1/events/12/replay`
    status      INTEGER NOT NULL,                  -- what the API answered (403: refused for scope)
    detail      TEXT                               -- JSON summary: reference, idempotency key…
);
CREATE INDEX audit_log_token ON audit_log (token_name, id);

CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
