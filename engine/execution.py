"""Execution: turn a sized signal into a rounded order with a unique client id.

Every order is rounded to the instrument at this edge (price to the tick,
quantity down to the lot) and checked against the minimum notional before it
can reach a gateway; the engine never sends an unrounded price.
"""

from __future__ import annotations

import math

from engine.instruments import Instrument
from engine.orders import Order, OrderType, Side

__all__ = ["ExecutionEngine", "OrderValidationError"]


class OrderValidationError(ValueError):
    """An order that cannot be sent as asked (below lot size or min notional...)."""


class ExecutionEngine:
    """Create orders, keep them by client order id, and hand them to the gateway.

    Parameters
    ----------
    session_id : str
        Prefix of client order ids (``<session>-<seq>``), unique per session.
    """

    def __init__(self, session_id: str = "ats") -> None:
        self.session_id = session_id
        self._seq = 0
        self.orders: dict[str, Order] = {}

    def next_client_order_id(self) -> str:
        """Return a new client order id, unique within the session."""
        self._seq += 1
        return f"{self.session_id}-{self._seq}"

    def build_order(
        self,
        *,
        instrument: Instrument,
        side: Side,
        order_type: OrderType,
        quantity: float,
        price: float,
        ts: int,
        strategy: str = "",
        client_order_id: str | None = None,
    ) -> Order:
        """Round ``quantity`` and ``price`` to the instrument and return a NEW order.

        Raises
        ------
        OrderValidationError
            When the rounded quantity is zero or the notional is below the
            instrument's minimum; the message names the value and the limit.
        """
        symbol = instrument.symbol
        if not (quantity > 0 and math.isfinite(quantity)):
            raise OrderValidationError(f"qty {quantity} for {symbol} must be > 0 and finite")
        if not (price > 0 and math.isfinite(price)):
            kind = "limit" if order_type is OrderType.LIMIT else "reference"
            raise OrderValidationError(f"{kind} price {price} for {symbol} must be > 0 and finite")
        qty = instrument.round_quantity(quantity)
        if not qty > 0:
            raise OrderValidationError(
                f"qty {quantity:.10g} below lot size {instrument.lot_size} for {symbol}"
            )
        if order_type is OrderType.LIMIT:
            rounded = instrument.round_price(price)
            if not rounded > 0:
                raise OrderValidationError(
                    f"limit price {price} for {symbol} rounds to {rounded} "
                    f"at tick size {instrument.tick_size}"
                )
            price = rounded
        notional = qty * price * instrument.contract_multiplier
        if notional < instrument.min_notional:
            raise OrderValidationError(
                f"notional {notional:.4f} below min notional {instrument.min_notional} for {symbol}"
            )
        return Order(
            client_order_id=client_order_id or self.next_client_order_id(),
            symbol=symbol,
            venue=instrument.venue,
            side=side,
            order_type=order_type,
            quantity=qty,
            price=price if order_type is OrderType.LIMIT else math.nan,
            ts_created=ts,
            strategy=strategy,
        )

    def track(self, order: Order) -> None:
        """Remember ``order`` so execution reports can find it."""
        if order.client_order_id in self.orders:
            raise ValueError(f"duplicate client order id {order.client_order_id}")
        self.orders[order.client_order_id] = order

    def open_orders(self, symbol: str | None = None) -> list[Order]:
        """Return the orders that can still fill (of ``symbol``, or all)."""
        return [
            o for o in self.orders.values() if o.is_open and (symbol is None or o.symbol == symbol)
        ]
