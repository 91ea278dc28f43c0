from __future__ import annotations

import asyncio
import math
from collections.abc import Callable

from ib_insync import Trade
from ib_insync.util import UNSET_DOUBLE

from engine.broker import BrokerError, InvalidOrderError, OrderAck, VenueOrder
from engine.orders import Order, OrderStatus, OrderType, Side, TimeInForce

TERMINAL = frozenset(
    {OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.REJECTED, OrderStatus.EXPIRED}
)
#: Relative tolerance when comparing summed fill quantities (IB sends floats).
QTY_RTOL = 1e-9


def foreign_id(perm_id: int) -> str:
    """Client order id given to an order placed outside ats (no ``orderRef``)."""
    return f"ib:{perm_id}"


def client_order_id_of(order_ref: str, perm_id: int) -> str:
    return order_ref if order_ref else foreign_id(perm_id)


def _valid(value: float) -> bool:
    return math.isfinite(value) and value != UNSET_DOUBLE


class Record:
    """What the broker knows of one order, beyond ib_insync's (per-connection) Trade."""

    __slots__ = (
        "ack_waiter",
        "acknowledged",
        "average_price",
        "cancel_reason",
        "cancel_requested",
        "cancel_waiter",
        "client_order_id",
        "filled",
        "immediate",
        "last_error",
        "order_id",
        "pending_report",
        "perm_id",
        "price",
        "quantity",
        "reportable",
        "reported_fill",
        "side",
        "status",
        "symbol",
    )

    def __init__(
        self,
        client_order_id: str,
        symbol: str,
        side: Side,
        quantity: float,
        price: float,
        immediate: bool,
    ) -> None:
        self.client_order_id = client_order_id
        self.symbol = symbol
        self.side = side
        self.quantity = quantity
        self.price = price
        self.immediate = immediate
        #: Placed through ats (it has an ``orderRef``): its life is reported to the sink.
        self.reportable = True
        self.order_id = 0
        self.perm_id = 0
        self.status = OrderStatus.NEW
        self.acknowledged = False
        self.cancel_requested = False
        self.cancel_reason = ""
        self.filled = 0.0
        self.average_price = 0.0
        #: Quantity handed to the report sink as fills so far.
        self.reported_fill = 0.0
        #: A terminal status held back until the fills it counts were reported:
        #: (status, reason, filled quantity it reports).
        self.pending_report: tuple[OrderStatus, str, float] | None = None
        self.last_error: BrokerError | None = None
        self.ack_waiter: asyncio.Future[OrderAck] | None = None
        self.cancel_waiter: asyncio.Future[OrderAck] | None = None

    @classmethod
    def from_order(cls, order: Order) -> Record:
        price = order.price if order.order_type is not OrderType.STOP_MARKET else math.nan
        immediate = order.time_in_force in (TimeInForce.IOC, TimeInForce.FOK)
        cid = order.client_order_id
        return cls(cid, order.symbol, order.side, order.quantity, price, immediate)

    @classmethod
    def from_trade(cls, trade: Trade, symbol: str) -> Record:
        order = trade.order
        price = order.lmtPrice if order.orderType == "LMT" and _valid(order.lmtPrice) else math.nan
        side = Side.BUY if order.action.upper() == "BUY" else Side.SELL
        record = cls(
            client_order_id_of(order.orderRef, order.permId),
            symbol,
            side,
            float(order.totalQuantity),
            price,
            order.tif in ("IOC", "FOK"),
        )
        record.order_id = order.orderId
        record.perm_id = order.permId
        record.reportable = bool(order.orderRef)
        return record

    @property
    def is_open(self) -> bool:
        return self.status not in TERMINAL

    @property
    def venue_order_id(self) -> str:
        return str(self.perm_id) if self.perm_id else f"order-{self.order_id}"

    def ack(self) -> OrderAck:
        return OrderAck(
            client_order_id=self.client_order_id,
            venue_order_id=self.venue_order_id,
            status=self.status,
            filled_quantity=self.filled,
            average_price=self.average_price,
        )

    def venue_order(self) -> VenueOrder:
        return VenueOrder(
            client_order_id=self.client_order_id,
            venue_order_id=self.venue_order_id,
            status=self.status,
            filled_quantity=self.filled,
            average_price=self.average_price,
            symbol=self.symbol,
            side=self.side,
            quantity=self.quantity,
            price=self.price,
        )

    def update_from_trade(self, trade: Trade) -> float:
        """Copy ids, filled quantity and average price from ``trade``; return its filled qty."""
        order = trade.order
        status = trade.orderStatus
        if order.orderId:
            self.order_id = order.orderId
        perm_id = status.permId or order.permId
        if perm_id:
            self.perm_id = perm_id
        filled = float(status.filled) if _valid(status.filled) else 0.0
        if _valid(order.filledQuantity):
            # Completed orders loaded at connect carry their fill in the order, not the status.
            filled = max(filled, float(order.filledQuantity))
        if filled >= self.filled:
            self.filled = filled
            if _valid(status.avgFillPrice) and status.avgFillPrice > 0:
                self.average_price = status.avgFillPrice
        return filled

    def resolve_waiters(self) -> None:
        ack = self.ack_waiter
        if ack is not None and not ack.done() and self.status is not OrderStatus.NEW:
            if self.status is OrderStatus.REJECTED:
                error = self.last_error
                if error is None:
                    error = InvalidOrderError(f"order {self.client_order_id} rejected by IB")
                ack.set_exception(error)
            else:
                ack.set_result(self.ack())
        cancel = self.cancel_waiter
        if cancel is not None and not cancel.done() and not self.is_open:
            cancel.set_result(self.ack())

    def fail_waiters(self, error: Callable[[str], BrokerError]) -> None:
        """Fail the pending waiters with ``error(what)`` (``what`` is "acknowledgement"...)."""
        for waiter, what in ((self.ack_waiter, "acknowledgement"), (self.cancel_waiter, "cancel")):
            if waiter is not None and not waiter.done():
                waiter.set_exception(error(what))
