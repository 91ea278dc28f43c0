"""Our orders as ib_insync orders, rounded with exact decimals, and IB statuses as ours.

Mapping
-------
=================  ===========================  ======================================
our order type     ib_insync order              notes
=================  ===========================  ======================================
``LIMIT``          ``LimitOrder`` (``LMT``)     price rounded to ``minTick``, passive:
                                                a buy down, a sell up
``MARKET``         ``MarketOrder`` (``MKT``)
``STOP_MARKET``    ``StopOrder`` (``STP``)      ``auxPrice`` = stop price, nearest tick
``POST_ONLY``      refused                      the TWS API has no post-only flag; an
                                                order that may take liquidity is not
                                                sent in its place
=================  ===========================  ======================================

Time in force: ``GTC``, ``IOC`` and ``FOK`` map to IB's values of the same
name; ``GTX`` exists only with ``POST_ONLY``. ``reduce_only`` has no IB
counterpart and is not sent: the engine enforces it before the order reaches
the adapter (as for the simulated venue).

Every order carries ``orderRef = client_order_id``: IB echoes it in open
orders, completed orders and executions, which is how an order is found
again by our id after a timeout or a restart. IB does not enforce its
uniqueness, so the broker does (it never places a second order with a
``client_order_id`` IB already knows).

Rounding is done in :class:`~decimal.Decimal` on the value's shortest repr,
so ``0.1 + 0.2`` at tick ``0.01`` becomes exactly ``0.3``; quantities are
rounded *down* to the size increment (never size an order up). The float
sent is the one whose repr is the rounded decimal; a rounded value a double
cannot carry exactly is refused rather than sent inexact.

Statuses
--------
=================================  =========================================
IB ``orderStatus.status``          ours
=================================  =========================================
PendingSubmit, ApiPending          ``NEW`` (sent, not acknowledged)
PreSubmitted, Submitted,           ``ACCEPTED``, or ``PARTIALLY_FILLED`` once
PendingCancel                      ``filled > 0``
Filled                             ``FILLED``
Cancelled, ApiCancelled            ``CANCELLED`` (we asked, or someone at TWS
                                   did), ``EXPIRED`` (the unfilled rest of an
                                   IOC / FOK order, which IB cancels itself)
Inactive                           ``REJECTED`` before any acknowledgement,
                                   else ``CANCELLED``
=================================  =========================================
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_DOWN, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal, localcontext

from ib_insync import LimitOrder, MarketOrder, StopOrder
from ib_insync import Order as IbOrder

from adapters.ib.contracts import IbContractSpec, decimal_of
from engine.broker import InvalidOrderError
from engine.orders import Order, OrderStatus, OrderType, Side, TimeInForce

__all__ = [
    "IB_TIME_IN_FORCE",
    "build_ib_order",
    "map_status",
    "round_price",
    "round_quantity",
    "round_to_increment",
    "wire_float",
]

#: Our time in force → IB's ``tif``.
IB_TIME_IN_FORCE: dict[TimeInForce, str] = {
    TimeInForce.GTC: "GTC",
    TimeInForce.IOC: "IOC",
    TimeInForce.FOK: "FOK",
}
_ACTIONS: dict[Side, str] = {Side.BUY: "BUY", Side.SELL: "SELL"}
#: Decimal digits kept while rounding; far beyond any price or size a venue quotes.
_PRECISION = 60

_PENDING = frozenset({"PendingSubmit", "ApiPending"})
_WORKING = frozenset({"PreSubmitted", "Submitted", "PendingCancel"})
_CANCELLED = frozenset({"Cancelled", "ApiCancelled"})


def round_to_increment(value: Decimal, increment: Decimal, rounding: str) -> Decimal:
    """Return ``value`` rounded to a multiple of ``increment`` with the ``decimal`` rounding mode.

    Examples
    --------
    >>> from decimal import ROUND_FLOOR
    >>> round_to_increment(Decimal("101.37"), Decimal("0.25"), ROUND_FLOOR)
    Decimal('101.25')
    """
    if not increment > 0:
        raise ValueError(f"increment must be > 0, was {increment}")
    with localcontext() as context:
        context.prec = _PRECISION
        steps = (value / increment).to_integral_value(rounding=rounding)
        return steps * increment


def round_price(price: float, tick: Decimal, side: Side, *, passive: bool = True) -> Decimal:
    """Round ``price`` to ``tick``: passively (buy down, sell up) or to the nearest tick.

    Passive rounding never makes a limit order pay more (or sell for less)
    than asked; an already rounded price is returned unchanged either way.

    Examples
    --------
    >>> tick = Decimal("0.01")
    >>> round_price(100.037, tick, Side.BUY), round_price(100.031, tick, Side.SELL)
    (Decimal('100.03'), Decimal('100.04'))
    >>> round_price(0.1 + 0.2, Decimal("0.01"), Side.BUY)
    Decimal('0.30')
    """
    mode = ROUND_HALF_EVEN
    if passive:
        mode = ROUND_FLOOR if side is Side.BUY else ROUND_CEILING
    return round_to_increment(decimal_of(price), tick, mode)


def round_quantity(quantity: float, increment: Decimal) -> Decimal:
    """Round ``quantity`` down to a multiple of ``increment``.

    Examples
    --------
    >>> round_quantity(17.9, Decimal("1")), round_quantity(0.3, Decimal("0.1"))
    (Decimal('17'), Decimal('0.3'))
    """
    return round_to_increment(decimal_of(quantity), increment, ROUND_DOWN)


def wire_float(value: Decimal, what: str, symbol: str) -> float:
    """Return the float whose shortest repr is ``value``; raise when no double has it.

    ib_insync writes floats with ``str(value)``, so the wire then carries
    exactly the rounded decimal.
    """
    number = float(value)
    if Decimal(repr(number)) != value:
        raise InvalidOrderError(
            f"{what} {value} for {symbol} has more digits than a double carries exactly"
        )
    return number


def build_ib_order(
    order: Order, spec: IbContractSpec, *, account: str = "", outside_rth: bool = False
) -> IbOrder:
    """Return the ib_insync order for ``order``, rounded to ``spec``'s increments.

    Parameters
    ----------
    order : Order
        Our order (already rounded by the engine to the instrument).
    spec : IbContractSpec
        The contract and its ``min_tick`` / ``size_increment``.
    account : str
        The account to place it in (empty: TWS's default account).
    outside_rth : bool
        Let a stock order work outside regular trading hours.

    Raises
    ------
    InvalidOrderError
        For a POST_ONLY order, a time in force IB cannot take, or a quantity
        that rounds to zero (the message names the value and the increment).

    Examples
    --------
    >>> from ib_insync import Stock
    >>> spec = IbContractSpec(symbol="AAPL/USD", contract=Stock("AAPL", "SMART", "USD"),
    ...     min_tick=Decimal("0.01"), size_increment=Decimal("1"))
    >>> o = Order(client_order_id="ats-1", symbol="AAPL/USD", venue="ib", side=Side.BUY,
    ...     order_type=OrderType.LIMIT, quantity=10, price=187.456, ts_created=0)
    >>> ib = build_ib_order(o, spec)
    >>> ib.orderType, ib.action, ib.totalQuantity, ib.lmtPrice, ib.tif, ib.orderRef
    ('LMT', 'BUY', 10.0, 187.45, 'GTC', 'ats-1')
    """
    symbol = order.symbol
    cid = order.client_order_id
    if order.order_type is OrderType.POST_ONLY:
        raise InvalidOrderError(
            f"order {cid}: POST_ONLY is not supported on IB (the TWS API has no post-only "
            f"flag); send a LIMIT order priced not to cross instead"
        )
    tif = IB_TIME_IN_FORCE.get(order.time_in_force)
    if tif is None:
        raise InvalidOrderError(
            f"order {cid}: time_in_force {order.time_in_force} is not supported on IB "
            f"(supported: {', '.join(IB_TIME_IN_FORCE)})"
        )
    quantity = round_quantity(order.quantity, spec.size_increment)
    if not quantity > 0:
        raise InvalidOrderError(
            f"order {cid}: quantity {order.quantity} for {symbol} rounds to 0 at size "
            f"increment {spec.size_increment}"
        )
    action = _ACTIONS[order.side]
    total = wire_float(quantity, "quantity", symbol)
    options: dict[str, object] = {"tif": tif, "orderRef": cid}
    if account:
        options["account"] = account
    if outside_rth and spec.contract.secType == "STK":
        options["outsideRth"] = True
    ib_order: IbOrder
    if order.order_type is OrderType.LIMIT:
        price = round_price(order.price, spec.min_tick, order.side)
        if not price > 0:
            raise InvalidOrderError(
                f"order {cid}: price {order.price} for {symbol} rounds to {price} at "
                f"min tick {spec.min_tick}"
            )
        ib_order = LimitOrder(action, total, wire_float(price, "price", symbol), **options)
    elif order.order_type is OrderType.MARKET:
        ib_order = MarketOrder(action, total, **options)
    else:  # STOP_MARKET
        stop = round_price(order.stop_price, spec.min_tick, order.side, passive=False)
        if not stop > 0:
            raise InvalidOrderError(
                f"order {cid}: stop_price {order.stop_price} for {symbol} rounds to {stop} "
                f"at min tick {spec.min_tick}"
            )
        ib_order = StopOrder(action, total, wire_float(stop, "stop_price", symbol), **options)
    return ib_order


def map_status(
    ib_status: str,
    *,
    filled: float,
    acknowledged: bool,
    cancel_requested: bool,
    immediate: bool,
) -> OrderStatus | None:
    """Return our status for IB's ``orderStatus.status``, or None for a status IB never documents.

    Parameters
    ----------
    ib_status : str
        ``PendingSubmit``, ``Submitted``, ``Filled``, ``Cancelled``...
    filled : float
        Cumulative filled quantity IB reports with it.
    acknowledged : bool
        Whether IB acknowledged the order before (an ``Inactive`` order
        that never was is a rejection).
    cancel_requested : bool
        Whether we asked to cancel it.
    immediate : bool
        Whether its time in force is IOC or FOK (IB cancelling the rest is an expiry).

    Examples
    --------
    >>> kw = dict(acknowledged=True, cancel_requested=False, immediate=False)
    >>> map_status("Submitted", filled=0.0, **kw), map_status("Submitted", filled=3.0, **kw)
    (<OrderStatus.ACCEPTED: 'ACCEPTED'>, <OrderStatus.PARTIALLY_FILLED: 'PARTIALLY_FILLED'>)
    >>> map_status("Cancelled", filled=0.0, acknowledged=True, cancel_requested=False,
    ...     immediate=True)
    <OrderStatus.EXPIRED: 'EXPIRED'>
    """
    if ib_status in _PENDING:
        return OrderStatus.NEW
    if ib_status in _WORKING:
        return OrderStatus.PARTIALLY_FILLED if filled > 0 else OrderStatus.ACCEPTED
    if ib_status == "Filled":
        return OrderStatus.FILLED
    if ib_status in _CANCELLED:
        if immediate and not cancel_requested:
            return OrderStatus.EXPIRED
        return OrderStatus.CANCELLED
    if ib_status == "Inactive":
        return OrderStatus.CANCELLED if acknowledged else OrderStatus.REJECTED
    return None
