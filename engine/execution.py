"""Execution: turn a sized signal into a rounded order with a unique client id.

Every order is rounded to the instrument at this edge (price and stop price to
the tick, quantity down to the lot) and checked against the minimum notional
before it can reach a gateway; the engine never sends an unrounded price. The
notional is taken at the limit price (LIMIT, POST_ONLY), at the stop price
(STOP_MARKET) or at the reference price the caller passes (MARKET).
"""

from __future__ import annotations

import math

from engine.instruments import Instrument
from engine.orders import ClientOrderIdGenerator, Order, OrderType, Side, TimeInForce

__all__ = ["ExecutionEngine", "OrderValidationError"]

_PRICED = frozenset({OrderType.LIMIT, OrderType.POST_ONLY})
#: Placeholder id while the Order constructor validates (no id is consumed on failure).
_PENDING_ID = "<pending>"


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
        self.ids = ClientOrderIdGenerator(session_id)
        self.session_id = session_id
        self.orders: dict[str, Order] = {}

    def next_client_order_id(self) -> str:
        """Return a new client order id, unique within the session."""
        return self.ids.next_id()

    def _round_price(self, instrument: Instrument, value: float, kind: str) -> float:
        symbol = instrument.symbol
        if not (value > 0 and math.isfinite(value)):
            raise OrderValidationError(f"{kind} {value} for {symbol} must be > 0 and finite")
        rounded = instrument.round_price(value)
        if not rounded > 0:
            raise OrderValidationError(
                f"{kind} {value} for {symbol} rounds to {rounded} "
                f"at tick size {instrument.tick_size}"
            )
        return rounded

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
        time_in_force: TimeInForce | None = None,
        stop_price: float = math.nan,
        reduce_only: bool = False,
    ) -> Order:
        """Round ``quantity``, ``price`` and ``stop_price`` to the instrument; return a NEW order.

        ``price`` is the limit price of LIMIT and POST_ONLY orders and the
        reference price (the touch) of MARKET orders; STOP_MARKET orders ignore
        it (it may be NaN) and are valued at ``stop_price``. ``time_in_force``
        defaults by order type (see :mod:`engine.orders`). A client order id is
        drawn only once every check has passed.

        Raises
        ------
        OrderValidationError
            When the rounded quantity is zero, a price or the stop price is not
            a positive finite number (or rounds to zero), the notional is below
            the instrument's minimum, or the combination of type, stop price
            and time in force is not allowed; the message names the value and
            the limit.
        """
        symbol = instrument.symbol
        if not (quantity > 0 and math.isfinite(quantity)):
            raise OrderValidationError(f"qty {quantity} for {symbol} must be > 0 and finite")
        is_stop = order_type is OrderType.STOP_MARKET
        if is_stop:
            stop_price = self._round_price(instrument, stop_price, "stop price")
        else:
            if not math.isnan(stop_price):
                raise OrderValidationError(
                    f"stop price {stop_price} for {symbol} given for order type {order_type} "
                    f"(only {OrderType.STOP_MARKET} takes one)"
                )
            if not (price > 0 and math.isfinite(price)):
                kind = "limit" if order_type in _PRICED else "reference"
                raise OrderValidationError(
                    f"{kind} price {price} for {symbol} must be > 0 and finite"
                )
        qty = instrument.round_quantity(quantity)
        if not qty > 0:
            raise OrderValidationError(
                f"qty {quantity:.10g} below lot size {instrument.lot_size} for {symbol}"
            )
        if order_type in _PRICED:
            price = self._round_price(instrument, price, "limit price")
        value_price = stop_price if is_stop else price
        notional = qty * value_price * instrument.contract_multiplier
        if notional < instrument.min_notional:
            at = f" at stop price {stop_price}" if is_stop else ""
            raise OrderValidationError(
                f"notional {notional:.4f}{at} below min notional {instrument.min_notional} "
                f"for {symbol}"
            )
        try:
            order = Order(
                client_order_id=client_order_id or _PENDING_ID,
                symbol=symbol,
                venue=instrument.venue,
                side=side,
                order_type=order_type,
                quantity=qty,
                price=price if order_type in _PRICED else math.nan,
                ts_created=ts,
                strategy=strategy,
                time_in_force=time_in_force,
                stop_price=stop_price,
                reduce_only=reduce_only,
            )
        except ValueError as exc:
            message = str(exc).replace(f"order {_PENDING_ID}: ", "")
            raise OrderValidationError(f"{message} (for {symbol})") from None
        if not client_order_id:
            order.client_order_id = self.ids.next_id()
        return order

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
