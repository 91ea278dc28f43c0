"""Orders and their lifecycle.

``NEW → ACCEPTED → PARTIALLY_FILLED → FILLED``; from any open state to
``CANCELLED`` or ``EXPIRED``; ``REJECTED`` only from ``NEW`` (a venue rejects
an order before accepting it). An illegal transition raises and names both
states.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "IllegalOrderTransitionError",
    "Order",
    "OrderStatus",
    "OrderType",
    "Side",
]


class Side(StrEnum):
    """Order side."""

    BUY = "BUY"
    SELL = "SELL"

    @property
    def sign(self) -> int:
        """+1 for BUY, -1 for SELL."""
        return 1 if self is Side.BUY else -1


class OrderType(StrEnum):
    """Order types the simulated venue understands (more arrive with the execution engine)."""

    MARKET = "MARKET"
    LIMIT = "LIMIT"


class OrderStatus(StrEnum):
    """Order lifecycle states."""

    NEW = "NEW"
    ACCEPTED = "ACCEPTED"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    CANCELLED = "CANCELLED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"


_OPEN = frozenset({OrderStatus.NEW, OrderStatus.ACCEPTED, OrderStatus.PARTIALLY_FILLED})
_ALLOWED: dict[OrderStatus, frozenset[OrderStatus]] = {
    OrderStatus.NEW: frozenset(
        {
            OrderStatus.ACCEPTED,
            OrderStatus.PARTIALLY_FILLED,
            OrderStatus.FILLED,
            OrderStatus.REJECTED,
            OrderStatus.CANCELLED,
            OrderStatus.EXPIRED,
        }
    ),
    OrderStatus.ACCEPTED: frozenset(
        {
            OrderStatus.PARTIALLY_FILLED,
            OrderStatus.FILLED,
            OrderStatus.CANCELLED,
            OrderStatus.EXPIRED,
        }
    ),
    OrderStatus.PARTIALLY_FILLED: frozenset(
        {
            OrderStatus.PARTIALLY_FILLED,
            OrderStatus.FILLED,
            OrderStatus.CANCELLED,
            OrderStatus.EXPIRED,
        }
    ),
    OrderStatus.FILLED: frozenset(),
    OrderStatus.CANCELLED: frozenset(),
    OrderStatus.REJECTED: frozenset(),
    OrderStatus.EXPIRED: frozenset(),
}


class IllegalOrderTransitionError(RuntimeError):
    """An order state change the lifecycle does not allow."""


class Order:
    """One order, as the engine tracks it.

    ``price`` is the limit price (NaN for market orders), already rounded to the
    instrument's tick; ``quantity`` is rounded to its lot size.
    """

    __slots__ = (
        "average_fill_price",
        "client_order_id",
        "filled_quantity",
        "order_type",
        "price",
        "quantity",
        "reject_reason",
        "side",
        "status",
        "strategy",
        "symbol",
        "ts_created",
        "ts_updated",
        "venue",
    )

    def __init__(
        self,
        *,
        client_order_id: str,
        symbol: str,
        venue: str,
        side: Side,
        order_type: OrderType,
        quantity: float,
        price: float,
        ts_created: int,
        strategy: str = "",
    ) -> None:
        if not quantity > 0:
            raise ValueError(f"order {client_order_id}: quantity must be > 0, was {quantity}")
        self.client_order_id = client_order_id
        self.symbol = symbol
        self.venue = venue
        self.side = Side(side)
        self.order_type = OrderType(order_type)
        self.quantity = quantity
        self.price = price
        self.ts_created = ts_created
        self.ts_updated = ts_created
        self.strategy = strategy
        self.status = OrderStatus.NEW
        self.filled_quantity = 0.0
        self.average_fill_price = 0.0
        self.reject_reason = ""

    @property
    def leaves_quantity(self) -> float:
        """Quantity still open."""
        return self.quantity - self.filled_quantity

    @property
    def is_open(self) -> bool:
        """True while the order can still fill."""
        return self.status in _OPEN

    def transition(self, target: OrderStatus, ts: int) -> None:
        """Move to ``target`` or raise :class:`IllegalOrderTransitionError`."""
        if target not in _ALLOWED[self.status]:
            raise IllegalOrderTransitionError(
                f"order {self.client_order_id}: illegal transition {self.status} -> {target}"
            )
        self.status = target
        self.ts_updated = ts

    def record_fill(self, quantity: float, price: float, ts: int) -> None:
        """Add a fill; the status becomes PARTIALLY_FILLED or FILLED.

        Nothing changes when the fill is refused (closed order, bad quantity).
        """
        if not self.is_open:
            raise IllegalOrderTransitionError(
                f"order {self.client_order_id}: fill on a {self.status} order"
            )
        if not 0 < quantity <= self.leaves_quantity * (1 + 1e-12):
            raise ValueError(
                f"order {self.client_order_id}: fill quantity {quantity} outside "
                f"(0, {self.leaves_quantity}]"
            )
        total = self.filled_quantity + quantity
        self.average_fill_price = (
            self.average_fill_price * self.filled_quantity + price * quantity
        ) / total
        self.filled_quantity = total
        done = self.filled_quantity >= self.quantity * (1 - 1e-12)
        self.transition(OrderStatus.FILLED if done else OrderStatus.PARTIALLY_FILLED, ts)
