"""What the emulator's matching engine works with: markets, orders, fills, positions, events.

See :mod:`adapters.emulator.matching` for how they are used; every price and
quantity is a :class:`~decimal.Decimal`.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum

import msgspec

__all__ = [
    "ZERO",
    "AccountChanged",
    "Event",
    "ExecutionEvent",
    "Fill",
    "MarketKind",
    "MarketSpec",
    "OrderRejectedError",
    "OrderRequest",
    "Position",
    "RejectReason",
    "SimOrder",
    "UnknownOrderError",
]

ZERO = Decimal(0)


class MarketKind(StrEnum):
    """Spot (balances) or linear (margin in the quote asset, signed positions)."""

    SPOT = "spot"
    LINEAR = "linear"


class RejectReason(StrEnum):
    """Why :meth:`MatchingEngine.place` refused an order (the venue picks code and text)."""

    UNKNOWN_SYMBOL = "UNKNOWN_SYMBOL"
    PRICE_FILTER = "PRICE_FILTER"
    LOT_SIZE = "LOT_SIZE"
    MARKET_LOT_SIZE = "MARKET_LOT_SIZE"
    MIN_NOTIONAL = "MIN_NOTIONAL"
    PRICE_PRECISION = "PRICE_PRECISION"
    QUANTITY_PRECISION = "QUANTITY_PRECISION"
    DUPLICATE_CLIENT_ORDER_ID = "DUPLICATE_CLIENT_ORDER_ID"
    INSUFFICIENT_BALANCE = "INSUFFICIENT_BALANCE"
    INSUFFICIENT_MARGIN = "INSUFFICIENT_MARGIN"
    WOULD_TAKE = "WOULD_TAKE"
    FOK_NOT_FILLED = "FOK_NOT_FILLED"
    REDUCE_ONLY = "REDUCE_ONLY"


class OrderRejectedError(Exception):
    """The engine refused an order; nothing changed.

    Attributes
    ----------
    reason : RejectReason
    detail : str
        What was wrong, naming the value and the bound.
    """

    def __init__(self, reason: RejectReason, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class UnknownOrderError(KeyError):
    """No (open, for a cancel) order with this id on this symbol."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown order"


class MarketSpec(msgspec.Struct, frozen=True, kw_only=True):
    """One tradable market, from the venue's recorded exchange information.

    ``min_price``/``max_price``/``max_qty``/``min_notional`` of 0 mean "no bound";
    ``market_step_size`` of 0 means market orders use the lot size.
    ``price_decimals``/``quantity_decimals`` are the most decimals accepted.
    """

    symbol: str
    base: str
    quote: str
    kind: MarketKind
    tick_size: Decimal
    step_size: Decimal
    min_price: Decimal = ZERO
    max_price: Decimal = ZERO
    min_qty: Decimal = ZERO
    max_qty: Decimal = ZERO
    market_step_size: Decimal = ZERO
    market_min_qty: Decimal = ZERO
    market_max_qty: Decimal = ZERO
    min_notional: Decimal = ZERO
    price_decimals: int = 8
    quantity_decimals: int = 8
    trading: bool = True


class OrderRequest(msgspec.Struct, frozen=True, kw_only=True):
    """A new order as the venue layer parsed it (``price`` is 0 for ``MARKET``)."""

    symbol: str
    side: str  # "BUY" | "SELL"
    order_type: str  # "LIMIT" | "MARKET"
    quantity: Decimal
    price: Decimal = ZERO
    time_in_force: str = "GTC"  # GTC | IOC | FOK | GTX
    post_only: bool = False
    reduce_only: bool = False
    client_order_id: str = ""


class Fill(msgspec.Struct, frozen=True, kw_only=True):
    """One execution of one order."""

    trade_id: int
    order_id: int
    client_order_id: str
    symbol: str
    side: str
    price: Decimal
    quantity: Decimal
    quote_quantity: Decimal
    commission: Decimal
    commission_asset: str
    time_ms: int
    maker: bool
    realized_pnl: Decimal = ZERO


class SimOrder:
    """An order in the engine (mutable; the venue layer formats it when asked)."""

    __slots__ = (
        "client_order_id",
        "cum_quote",
        "executed",
        "fills",
        "locked",
        "order_id",
        "order_type",
        "post_only",
        "price",
        "quantity",
        "reduce_only",
        "side",
        "status",
        "symbol",
        "time_in_force",
        "time_ms",
        "update_time_ms",
        "working",
    )

    def __init__(self, request: OrderRequest, order_id: int, client_order_id: str, now: int):
        self.order_id = order_id
        self.client_order_id = client_order_id
        self.symbol = request.symbol
        self.side = request.side
        self.order_type = request.order_type
        self.time_in_force = request.time_in_force
        self.post_only = request.post_only
        self.reduce_only = request.reduce_only
        self.price = request.price
        self.quantity = request.quantity
        self.executed = ZERO
        self.cum_quote = ZERO
        #: ``NEW``, ``PARTIALLY_FILLED``, ``FILLED``, ``CANCELED``, ``EXPIRED``.
        self.status = "NEW"
        self.time_ms = now
        self.update_time_ms = now
        #: On the book (resting) right now.
        self.working = False
        #: Spot funds still locked for the unfilled part.
        self.locked = ZERO
        self.fills: list[Fill] = []

    def snapshot(self) -> SimOrder:
        """A copy of the order as it is now (events are formatted after the whole operation)."""
        copy = object.__new__(SimOrder)
        for name in SimOrder.__slots__:
            setattr(copy, name, getattr(self, name))
        copy.fills = list(self.fills)
        return copy

    @property
    def is_open(self) -> bool:
        """True while the order can still fill."""
        return self.status in ("NEW", "PARTIALLY_FILLED")

    @property
    def leaves(self) -> Decimal:
        """Quantity not yet filled."""
        return self.quantity - self.executed

    @property
    def average_price(self) -> Decimal:
        """Average fill price (0 when nothing filled)."""
        return self.cum_quote / self.executed if self.executed else ZERO

    def __repr__(self) -> str:
        return (
            f"SimOrder({self.order_id} {self.client_order_id} {self.side} {self.quantity} "
            f"{self.symbol} @ {self.price} {self.status} executed {self.executed})"
        )


class Position(msgspec.Struct, kw_only=True):
    """A linear position: signed quantity, entry price, realized P&L so far.

    ``cost`` is the notional paid for the open quantity (positive, long or
    short); the entry price is ``cost / |quantity|``. Keeping the cost, not the
    price, makes a position closed in several steps realize exactly what the
    trades brought in minus what they cost.
    """

    symbol: str
    quantity: Decimal = ZERO
    cost: Decimal = ZERO
    realized_pnl: Decimal = ZERO
    update_time_ms: int = 0

    @property
    def entry_price(self) -> Decimal:
        """Average entry price of the open quantity (0 when flat)."""
        return self.cost / abs(self.quantity) if self.quantity else ZERO


class ExecutionEvent(msgspec.Struct, kw_only=True):
    """An order changed: ``execution_type`` is ``NEW``, ``TRADE``, ``CANCELED`` or ``EXPIRED``.

    ``order`` is a snapshot of the order right after the change; ``fill`` is set for ``TRADE``.
    """

    execution_type: str
    order: SimOrder
    fill: Fill | None = None
    time_ms: int = 0


class AccountChanged(msgspec.Struct, kw_only=True):
    """Balances of ``assets`` and positions of ``symbols`` changed (after the executions)."""

    assets: list[str]
    symbols: list[str]
    time_ms: int = 0
    #: ``ORDER`` (an order locked, spent or released funds) — the venues' reason code.
    reason: str = "ORDER"


Event = ExecutionEvent | AccountChanged
