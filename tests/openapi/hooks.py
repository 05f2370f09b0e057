"""schemathesis hooks for the ledger's contract test (tests/tests/e2e/openapi_contract.rs).

`POST /v1/orders` with an `Idempotency-Key` answers the first answer again for the same key
and body, and 422 `idempotency_key_reused` for the same key with another body: state the
document cannot express, and the generator reuses short keys ("0", "!") across bodies all the
time. So a valid key is made unique to its body (same key and body: same key, so replays are
still exercised; another body: another key), keeping its length where it can. Keys the
schema refuses are left alone, so the server's refusal of them is still tested.
"""

import hashlib
import json
import re

import schemathesis

VALID_KEY = re.compile(r"^[!-~]{1,255}$")


@schemathesis.hook
def before_call(context, case, kwargs):
    if case.operation.method.upper() != "POST" or case.operation.path != "/v1/orders":
        return
    headers = case.headers or {}
    for name in list(headers):
        if name.lower() != "idempotency-key":
            continue
        key = headers[name]
        if not isinstance(key, str) or not VALID_KEY.match(key):
            continue
        body = json.dumps(case.body, sort_keys=True, default=repr)
        digest = hashlib.sha256(f"{key}\n{body}".encode()).hexdigest()
        headers[name] = (digest + key)[: max(len(key), len(digest))]
