"""A program written against the Python client that openapi-python-client generates from the
ledger's /openapi.json (as `keffi_ledger_client`). tests/tests/e2e/openapi_contract.rs generates
the client, type-checks this file and the client with `mypy --strict`, then runs it against
the running ledger: the document must yield a client that compiles and works, typed answers
and typed errors alike.

Usage: python client_smoke.py BASE_URL ADMIN_TOKEN
"""

import sys

from keffi_ledger_client import AuthenticatedClient
from keffi_ledger_client.api.client import client_get_order_status
from keffi_ledger_client.api.events import list_events
from keffi_ledger_client.api.journal import get_balances
from keffi_ledger_client.api.orders import create_order, get_order, list_orders
from keffi_ledger_client.models import (
    BalanceSheet,
    CreateOrder,
    CreateOrderCurrency,
    ErrorBody,
    InboxStatus,
    OrderStatus,
    OrderStatusEvent,
    OrderView,
    PageEventView,
    PageOrderView,
)


def main(base_url: str, token: str) -> None:
    admin = AuthenticatedClient(base_url=base_url, token=token, raise_on_unexpected_status=True)

    order = CreateOrder(reference="generated_1", amount=1234, currency=CreateOrderCurrency.NGN)
    created = create_order.sync(client=admin, body=order, idempotency_key="generated-client-1")
    assert isinstance(created, OrderView), created
    assert (created.status, created.amount) == (OrderStatus.PENDING, 1234), created
    secret = created.client_secret
    assert isinstance(secret, str), created

    replayed = create_order.sync_detailed(client=admin, body=order, idempotency_key="generated-client-1")
    assert replayed.status_code == 201 and replayed.headers.get("idempotent-replayed") == "true"

    exists = create_order.sync(client=admin, body=order)
    assert isinstance(exists, ErrorBody) and exists.error.code == "order_exists", exists

    got = get_order.sync(client=admin, reference="generated_1")
    assert isinstance(got, OrderView) and got.reference == "generated_1", got
    missing = get_order.sync(client=admin, reference="no_such_order")
    assert isinstance(missing, ErrorBody) and missing.error.code == "not_found", missing

    page = list_orders.sync(client=admin, status=OrderStatus.PENDING, limit=2)
    assert isinstance(page, PageOrderView), page
    assert 1 <= len(page.data) <= 2
    if isinstance(page.next_cursor, str):
        more = list_orders.sync(client=admin, cursor=page.next_cursor, limit=2)
        assert isinstance(more, PageOrderView), more
    bad_limit = list_orders.sync(client=admin, limit=0)
    assert isinstance(bad_limit, ErrorBody) and bad_limit.error.code == "invalid_request"

    events = list_events.sync(client=admin, status=InboxStatus.APPLIED)
    assert isinstance(events, PageEventView), events
    balances = get_balances.sync(client=admin)
    assert isinstance(balances, BalanceSheet), balances

    stranger = AuthenticatedClient(base_url=base_url, token="not-a-token")
    refused = get_order.sync(client=stranger, reference="generated_1")
    assert isinstance(refused, ErrorBody) and refused.error.code == "invalid_token", refused

    # The browser's route, opened by the order's client secret in its header scheme.
    browser = AuthenticatedClient(
        base_url=base_url, token=secret, prefix="", auth_header_name="X-Keffi-Client-Secret"
    )
    status = client_get_order_status.sync(client=browser, reference="generated_1")
    assert isinstance(status, OrderStatusEvent) and status.reference == "generated_1", status
    print("generated client: every call typed and answered as documented")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
