"""How an order reads in Temporal's own tools: its search attributes and its summary in the Web UI.

`CheckoutCustomer` (set at start) lets `checkout orders --customer` filter in Temporal;
`CheckoutStatus` is the saga's status (RUNNING at start, then upserted by the workflow when
it compensates and when it ends). A cluster has them only once registered (`temporal
operator search-attribute create`, see docs/operating.md): an order is started with them
only where they exist, and only an order started with them upserts the status, so orders
on a cluster without them run as before.
"""

from __future__ import annotations

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest, ListSearchAttributesRequest
from temporalio.client import Client
from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes
from temporalio.service import RPCError, RPCStatusCode

from engine.models import OrderInput, OrderStatus

CUSTOMER_ATTRIBUTE = SearchAttributeKey.for_keyword("CheckoutCustomer")
STATUS_ATTRIBUTE = SearchAttributeKey.for_keyword("CheckoutStatus")
SEARCH_ATTRIBUTES = (CUSTOMER_ATTRIBUTE, STATUS_ATTRIBUTE)


def dev_server_arguments() -> list[str]:
    """`temporal server start-dev` arguments that register the attributes (on a new database only)."""
    return [arg for key in SEARCH_ATTRIBUTES for arg in ("--search-attribute", f"{key.name}=Keyword")]


async def missing_search_attributes(client: Client, namespace: str) -> list[str] | None:
    """The attributes the namespace lacks (all of them when the server will not say: no operator
    API, as on a test server, or no permission); None when it could not be asked (unreachable)."""
    try:
        listed = await client.operator_service.list_search_attributes(ListSearchAttributesRequest(namespace=namespace))
    except RPCError as error:
        if error.status in (RPCStatusCode.UNIMPLEMENTED, RPCStatusCode.PERMISSION_DENIED):
            return [key.name for key in SEARCH_ATTRIBUTES]
        return None
    except Exception:  # a client without the operator service
        return [key.name for key in SEARCH_ATTRIBUTES]
    known = {**listed.system_attributes, **listed.custom_attributes}
    return [key.name for key in SEARCH_ATTRIBUTES if known.get(key.name) != IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD]


async def register_search_attributes(client: Client, namespace: str) -> None:
    """Add the attributes the namespace lacks. `start-dev --search-attribute` registers them only
    when it creates its database: a data directory from an earlier version needs this."""
    missing = await missing_search_attributes(client, namespace)
    if missing is None:
        raise RPCError("cannot list the search attributes", RPCStatusCode.UNAVAILABLE, b"")
    if missing:
        keyword = IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=namespace, search_attributes=dict.fromkeys(missing, keyword))
        )


def start_attributes(order: OrderInput) -> TypedSearchAttributes:
    return TypedSearchAttributes(
        [
            SearchAttributePair(CUSTOMER_ATTRIBUTE, order.customer_id),
            SearchAttributePair(STATUS_ATTRIBUTE, OrderStatus.RUNNING.value),
        ]
    )


def _dollars(cents: int) -> str:
    whole, part = divmod(cents, 100)
    return f"${whole:,}.{part:02d}"


def order_summary(order: OrderInput) -> str:
    """One line for the Web UI's list: `order A1 · $39.99 · 1 item · customer alice`."""
    units = sum(item.quantity for item in order.items)
    return (
        f"order {order.order_id} · {_dollars(order.total_cents)} · {units} item{'' if units == 1 else 's'}"
        f" · customer {order.customer_id}"
    )


def order_details(order: OrderInput) -> str:
    """The order's lines for the Web UI's workflow page (Markdown)."""
    lines = [f"- {item.quantity} × {item.sku} @ {_dollars(item.unit_price_cents)}" for item in order.items]
    return "\n".join([f"**{order_summary(order)}**", "", *lines, "", f"total {_dollars(order.total_cents)}"])
