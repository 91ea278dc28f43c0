"""Orders: types, time in force, client order ids, the lifecycle, amends and open orders.

Lifecycle
---------
``NEW → ACCEPTED → PARTIALLY_FILLED → FILLED``; from any open state to
``CANCELLED`` or ``EXPIRED``; ``REJECTED`` only from ``NEW`` (a venue rejects
an order before accepting it). ``NEW`` may also go straight to a fill (the fill
report overtook the ack). ``PARTIALLY_FILLED → PARTIALLY_FILLED`` is a further
partial fill. Terminal states (``FILLED``, ``CANCELLED``, ``REJECTED``,
``EXPIRED``) go nowhere. An illegal transition raises
:class:`IllegalOrderTransitionError` naming the order and both states.

``EXPIRED`` is how an order ends when the venue, not the client, ends it for its
time in force: the unfilled remainder of an IOC or FOK order (a FOK order that
cannot fill in full expires with nothing filled) and of a triggered stop.
``CANCELLED`` is a cancel the client asked for (including the cancel half of
an amend).

Order types and time in force
-----------------------------
=============  ==========================  ==============  =====================
order type     price / stop_price          default TIF     allowed TIF
=============  ==========================  ==============  =====================
MARKET         NaN / NaN                   IOC             IOC, FOK
LIMIT          finite > 0 / NaN            GTC             GTC, IOC, FOK
POST_ONLY      finite > 0 / NaN            GTX             GTC, GTX
STOP_MARKET    NaN / finite > 0            GTC             GTC
=============  ==========================  ==============  =====================

A POST_ONLY order must not take liquidity: a venue rejects it (or, on venues
that say so, expires it) when it would cross on arrival; GTC and GTX mean the
same for it. A STOP_MARKET order rests untriggered (GTC) until the last trade
or mark price crosses ``stop_price`` (:meth:`Order.should_trigger`); then
:meth:`Order.trigger` marks it and it executes as a MARKET order whose
unfilled remainder expires.

Client order ids
----------------
:class:`ClientOrderIdGenerator` issues ``<session>-<seq>``. An id is assigned
once, when the order object is created, and every resend of that order (a
retry after a timeout) carries the same id, so the venue can deduplicate and
the engine can query by id before resending. A new order, including the
replacement of an amend, gets a new id.
"""

from __future__ import annotations

import math
import secrets
import time
from collections.abc import Iterator
from enum import StrEnum
from typing import TypeVar

__all__ = [
    "OPEN_STATUSES",
    "ClientOrderIdGenerator",
    "IllegalOrderTransitionError",
    "OpenOrders",
    "Order",
    "OrderStatus",
    "OrderType",
    "Side",
    "TimeInForce",
    "new_run_id",
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
    """Order types (see the module docstring for prices and time in force)."""

    MARKET = "MARKET"
    LIMIT = "LIMIT"
    #: A limit order that must not take liquidity (Binance LIMIT_MAKER / GTX).
    POST_ONLY = "POST_ONLY"
    #: A market order held until the last trade or mark price crosses ``stop_price``.
    STOP_MARKET = "STOP_MARKET"


class TimeInForce(StrEnum):
    """How long an order stays working."""

    #: Good till cancelled: rests until filled or cancelled.
    GTC = "GTC"
    #: Immediate or cancel: fill what is possible on arrival, the remainder expires.
    IOC = "IOC"
    #: Fill or kill: fill in full on arrival or expire with nothing filled.
    FOK = "FOK"
    #: Good till crossing (post-only): rest as a maker or be refused.
    GTX = "GTX"


class OrderStatus(StrEnum):
    """Order lifecycle states."""

    NEW = "NEW"
    ACCEPTED = "ACCEPTED"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    CANCELLED = "CANCELLED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"


#: The statuses of an order that can still fill.
OPEN_STATUSES = frozenset({OrderStatus.NEW, OrderStatus.ACCEPTED, OrderStatus.PARTIALLY_FILLED})
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

_TIF = TimeInForce
_DEFAULT_TIF: dict[OrderType, TimeInForce] = {
    OrderType.MARKET: _TIF.IOC,
    OrderType.LIMIT: _TIF.GTC,
    OrderType.POST_ONLY: _TIF.GTX,
    OrderType.STOP_MARKET: _TIF.GTC,
}
_ALLOWED_TIF: dict[OrderType, tuple[TimeInForce, ...]] = {
    OrderType.MARKET: (_TIF.IOC, _TIF.FOK),
    OrderType.LIMIT: (_TIF.GTC, _TIF.IOC, _TIF.FOK),
    OrderType.POST_ONLY: (_TIF.GTC, _TIF.GTX),
    OrderType.STOP_MARKET: (_TIF.GTC,),
}
_PRICED = frozenset({OrderType.LIMIT, OrderType.POST_ONLY})

# Relative tolerance for float residue in summed fill quantities (0.1 + 0.2 != 0.3).
_QTY_RTOL = 1e-12


_E = TypeVar("_E", bound=StrEnum)


class IllegalOrderTransitionError(RuntimeError):
    """An order state change the lifecycle does not allow."""


def _enum(enum_type: type[_E], value: object, field: str, coid: str) -> _E:
    try:
        return enum_type(value)
    except ValueError:
        allowed = ", ".join(m.value for m in enum_type)
        raise ValueError(f"order {coid}: {field} {value!r} is not one of {allowed}") from None


def new_run_id() -> str:
    """A run id unique across runs: start time in ms (hex) and 16 random bits.

    The engine prefixes its client order ids with it (``<run id>-<seq>``), so
    ids never repeat across restarts (venues reject or, worse, confuse a
    reused id; the store keys orders by it).
    """
    return f"{int(time.time() * 1000):x}{secrets.token_hex(2)}"


class ClientOrderIdGenerator:
    """Issue client order ids ``<session_id>-<seq>``, unique within a session.

    The sequence starts at 1. Call :meth:`next_id` once per new order and keep
    the id on the order: a retry of the same order resends the same id (never
    ask for a new one to retry), so a venue that already has it rejects the
    duplicate instead of filling twice. Ids are unique across sessions only if
    session ids are.

    Parameters
    ----------
    session_id : str
        Non-empty prefix naming the session (for example the run's start time).

    Examples
    --------
    >>> ids = ClientOrderIdGenerator("ats")
    >>> ids.next_id(), ids.next_id()
    ('ats-1', 'ats-2')
    """

    __slots__ = ("_seq", "session_id")

    def __init__(self, session_id: str) -> None:
        if not isinstance(session_id, str) or not session_id:
            raise ValueError(f"session_id must be a non-empty string, was {session_id!r}")
        self.session_id = session_id
        self._seq = 0

    @property
    def issued(self) -> int:
        """How many ids were issued so far."""
        return self._seq

    def next_id(self) -> str:
        """Return a new client order id."""
        self._seq += 1
        return f"{self.session_id}-{self._seq}"


class Order:
    """One order, as the engine tracks it.

    ``price`` is the limit price (NaN for MARKET and STOP_MARKET), already
    rounded to the instrument's tick; ``quantity`` is rounded to its lot size.
    The constructor validates the combination of type, prices and time in force
    (see the module docstring) and raises ``ValueError`` naming the order, the
    field and the value.

    Parameters
    ----------
    time_in_force : TimeInForce, optional
        Defaults by type: IOC for MARKET, GTC for LIMIT and STOP_MARKET, GTX for
        POST_ONLY.
    stop_price : float
        Trigger price of a STOP_MARKET order; NaN (the default) for other types.
    reduce_only : bool
        The order may only reduce a position (enforced by the venue or risk).
    parent_client_order_id : str
        For the replacement of an amend, the id of the order it replaces; else "".
    """

    __slots__ = (
        "average_fill_price",
        "client_order_id",
        "filled_quantity",
        "order_type",
        "parent_client_order_id",
        "price",
        "quantity",
        "reduce_only",
        "reject_reason",
        "side",
        "status",
        "stop_price",
        "strategy",
        "symbol",
        "time_in_force",
        "triggered",
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
        time_in_force: TimeInForce | None = None,
        stop_price: float = math.nan,
        reduce_only: bool = False,
        parent_client_order_id: str = "",
    ) -> None:
        coid = client_order_id
        if not isinstance(coid, str) or not coid:
            raise ValueError(f"order: client_order_id must be a non-empty string, was {coid!r}")
        side = _enum(Side, side, "side", coid)
        order_type = _enum(OrderType, order_type, "order_type", coid)
        if time_in_force is None:
            time_in_force = _DEFAULT_TIF[order_type]
        tif = _enum(TimeInForce, time_in_force, "time_in_force", coid)
        if not (quantity > 0 and math.isfinite(quantity)):
            raise ValueError(f"order {coid}: quantity must be > 0 and finite, was {quantity}")
        if order_type in _PRICED:
            if not (price > 0 and math.isfinite(price)):
                raise ValueError(
                    f"order {coid}: price must be > 0 and finite for order_type "
                    f"{order_type}, was {price}"
                )
        elif not math.isnan(price):
            raise ValueError(
                f"order {coid}: price must be NaN for order_type {order_type}, was {price}"
            )
        if order_type is OrderType.STOP_MARKET:
            if not (stop_price > 0 and math.isfinite(stop_price)):
                raise ValueError(
                    f"order {coid}: stop_price must be > 0 and finite for order_type "
                    f"{order_type}, was {stop_price}"
                )
        elif not math.isnan(stop_price):
            raise ValueError(
                f"order {coid}: stop_price must be NaN for order_type {order_type}, "
                f"was {stop_price}"
            )
        allowed = _ALLOWED_TIF[order_type]
        if tif not in allowed:
            raise ValueError(
                f"order {coid}: time_in_force {tif} not allowed for order_type {order_type} "
                f"(allowed: {', '.join(allowed)})"
            )
        if not isinstance(reduce_only, bool):
            raise ValueError(f"order {coid}: reduce_only must be a bool, was {reduce_only!r}")
        if parent_client_order_id == coid:
            raise ValueError(f"order {coid}: parent_client_order_id must differ from its own id")
        self.client_order_id = coid
        self.symbol = symbol
        self.venue = venue
        self.side = side
        self.order_type = order_type
        self.time_in_force = tif
        self.quantity = quantity
        self.price = price
        self.stop_price = stop_price
        self.triggered = False
        self.reduce_only = reduce_only
        self.parent_client_order_id = parent_client_order_id
        self.ts_created = ts_created
        self.ts_updated = ts_created
        self.strategy = strategy
        self.status = OrderStatus.NEW
        self.filled_quantity = 0.0
        self.average_fill_price = 0.0
        self.reject_reason = ""

    def __repr__(self) -> str:
        return (
            f"Order({self.client_order_id} {self.side} {self.quantity} {self.symbol} "
            f"{self.order_type}/{self.time_in_force} {self.status})"
        )

    @property
    def leaves_quantity(self) -> float:
        """Quantity still open."""
        return self.quantity - self.filled_quantity

    @property
    def is_open(self) -> bool:
        """True while the order can still fill."""
        return self.status in OPEN_STATUSES

    @property
    def is_post_only(self) -> bool:
        """True when the order must not take liquidity."""
        return self.order_type is OrderType.POST_ONLY

    @property
    def is_immediate(self) -> bool:
        """True when what does not fill on arrival expires (IOC, FOK, triggered stop)."""
        tif = self.time_in_force
        return tif is TimeInForce.IOC or tif is TimeInForce.FOK or self.triggered

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

        ``average_fill_price`` stays the VWAP of all fills. Once the fills sum
        to ``quantity`` (within float residue) the order is FILLED and
        ``filled_quantity`` is set to ``quantity`` exactly.

        Raises
        ------
        IllegalOrderTransitionError
            When the order is closed or is a stop that has not triggered.
        ValueError
            When ``quantity`` is not in ``(0, leaves_quantity]``.

        Nothing changes when the fill is refused.
        """
        if not self.is_open:
            raise IllegalOrderTransitionError(
                f"order {self.client_order_id}: fill on a {self.status} order"
            )
        if self.order_type is OrderType.STOP_MARKET and not self.triggered:
            raise IllegalOrderTransitionError(
                f"order {self.client_order_id}: fill on an untriggered STOP_MARKET order "
                f"(stop_price {self.stop_price})"
            )
        leaves = self.leaves_quantity
        if not 0 < quantity <= leaves * (1 + _QTY_RTOL) + self.quantity * _QTY_RTOL:
            raise ValueError(
                f"order {self.client_order_id}: fill quantity {quantity} outside (0, {leaves}]"
            )
        total = self.filled_quantity + quantity
        self.average_fill_price = (
            self.average_fill_price * self.filled_quantity + price * quantity
        ) / total
        done = total >= self.quantity * (1 - _QTY_RTOL)
        self.filled_quantity = self.quantity if done else total
        self.transition(OrderStatus.FILLED if done else OrderStatus.PARTIALLY_FILLED, ts)

    # -- stops ---------------------------------------------------------------------------------

    def should_trigger(self, last_price: float) -> bool:
        """Return whether ``last_price`` (last trade or mark) triggers this stop.

        A buy stop triggers when ``last_price >= stop_price``, a sell stop when
        ``last_price <= stop_price``. False once triggered, when the order is
        closed, or when ``last_price`` is NaN. Pure: changes nothing.

        Raises
        ------
        TypeError
            When the order is not a STOP_MARKET order.
        """
        if self.order_type is not OrderType.STOP_MARKET:
            raise TypeError(
                f"order {self.client_order_id}: should_trigger needs order_type STOP_MARKET, "
                f"was {self.order_type}"
            )
        if self.triggered or self.status not in OPEN_STATUSES:
            return False
        if self.side is Side.BUY:
            return last_price >= self.stop_price
        return last_price <= self.stop_price

    def trigger(self, ts: int) -> None:
        """Mark the stop triggered: from now on it executes as a MARKET order.

        Raises
        ------
        IllegalOrderTransitionError
            When the order is not an open, untriggered STOP_MARKET order.
        """
        if self.order_type is not OrderType.STOP_MARKET:
            raise IllegalOrderTransitionError(
                f"order {self.client_order_id}: trigger needs order_type STOP_MARKET, "
                f"was {self.order_type}"
            )
        if self.triggered:
            raise IllegalOrderTransitionError(
                f"order {self.client_order_id}: stop already triggered"
            )
        if self.status not in OPEN_STATUSES:
            raise IllegalOrderTransitionError(
                f"order {self.client_order_id}: trigger on a {self.status} order"
            )
        self.triggered = True
        self.ts_updated = ts

    # -- amend (cancel-replace) ----------------------------------------------------------------

    def amend(
        self,
        *,
        client_order_id: str,
        ts: int,
        new_quantity: float | None = None,
        new_price: float | None = None,
        new_stop_price: float | None = None,
    ) -> Order:
        """Return the replacement order of a cancel-replace; this order is not changed.

        ``new_quantity`` is the new *total* size, fills included (as FIX
        ``OrderQty`` on a cancel-replace): the replacement's quantity is
        ``new_quantity - filled_quantity`` at the time of the call. Left out,
        the replacement carries ``leaves_quantity``. ``new_price`` (LIMIT,
        POST_ONLY) and ``new_stop_price`` (STOP_MARKET) replace the old values.
        Everything else (symbol, venue, side, type, time in force,
        reduce_only, strategy) is copied; ``parent_client_order_id`` links to
        this order, and the replacement starts ``NEW`` with ``ts_created=ts``.

        The old order ends when the venue confirms its cancel: the engine
        sends the cancel for this order and the replacement (or one atomic
        cancel-replace), and marks this order ``CANCELLED`` on the venue's
        cancel report, never before. A fill of this order that arrives after
        the call was not counted in the replacement's quantity: the engine must
        then amend again from this order (or cancel the replacement) so that
        both together never exceed ``new_quantity``.

        Raises
        ------
        ValueError
            When nothing changes, a value is invalid for the type, or
            ``new_quantity`` does not exceed ``filled_quantity``.
        IllegalOrderTransitionError
            When this order is closed or is a triggered stop.
        """
        coid = self.client_order_id
        if self.status not in OPEN_STATUSES:
            raise IllegalOrderTransitionError(f"order {coid}: amend of a {self.status} order")
        if self.triggered:
            raise IllegalOrderTransitionError(f"order {coid}: amend of a triggered stop")
        if new_quantity is None and new_price is None and new_stop_price is None:
            raise ValueError(f"order {coid}: amend changes nothing (no new value given)")
        if client_order_id == coid:
            raise ValueError(f"order {coid}: amend needs a new client_order_id, got {coid}")
        if new_price is not None and self.order_type not in _PRICED:
            raise ValueError(
                f"order {coid}: new_price {new_price} given for order_type {self.order_type}"
            )
        if new_stop_price is not None and self.order_type is not OrderType.STOP_MARKET:
            raise ValueError(
                f"order {coid}: new_stop_price {new_stop_price} given for order_type "
                f"{self.order_type}"
            )
        if new_quantity is None:
            quantity = self.leaves_quantity
        else:
            if not (math.isfinite(new_quantity) and new_quantity > self.filled_quantity):
                raise ValueError(
                    f"order {coid}: new_quantity {new_quantity} must be finite and above "
                    f"filled quantity {self.filled_quantity}"
                )
            quantity = new_quantity - self.filled_quantity
        return Order(
            client_order_id=client_order_id,
            symbol=self.symbol,
            venue=self.venue,
            side=self.side,
            order_type=self.order_type,
            quantity=quantity,
            price=self.price if new_price is None else new_price,
            ts_created=ts,
            strategy=self.strategy,
            time_in_force=self.time_in_force,
            stop_price=self.stop_price if new_stop_price is None else new_stop_price,
            reduce_only=self.reduce_only,
            parent_client_order_id=coid,
        )


class OpenOrders:
    """Orders by client order id, with views by symbol and by venue.

    Holds any number of orders per symbol and per venue. Iteration, and the
    lists the views return, follow the order in which orders were added (their
    creation order when added as created). The views return only orders that
    are still open; a closed order stays registered until :meth:`remove` or
    :meth:`prune` takes it out. Ids are checked against the orders currently
    held; uniqueness across the session comes from
    :class:`ClientOrderIdGenerator`.

    Examples
    --------
    >>> book = OpenOrders()
    >>> book.add(order)  # doctest: +SKIP
    >>> book.by_symbol("BTC/USDT")  # doctest: +SKIP
    """

    __slots__ = ("_by_id", "_by_symbol", "_by_venue")

    def __init__(self) -> None:
        self._by_id: dict[str, Order] = {}
        self._by_symbol: dict[str, dict[str, Order]] = {}
        self._by_venue: dict[str, dict[str, Order]] = {}

    def __len__(self) -> int:
        return len(self._by_id)

    def __contains__(self, client_order_id: object) -> bool:
        return client_order_id in self._by_id

    def __iter__(self) -> Iterator[Order]:
        return iter(list(self._by_id.values()))

    def add(self, order: Order) -> None:
        """Register ``order``; raise ``ValueError`` if its id is already held or it is closed."""
        coid = order.client_order_id
        if coid in self._by_id:
            raise ValueError(f"duplicate client order id {coid}")
        if not order.is_open:
            raise ValueError(f"order {coid}: cannot add a {order.status} order to open orders")
        self._by_id[coid] = order
        self._by_symbol.setdefault(order.symbol, {})[coid] = order
        self._by_venue.setdefault(order.venue, {})[coid] = order

    def get(self, client_order_id: str) -> Order | None:
        """Return the order with ``client_order_id``, or None."""
        return self._by_id.get(client_order_id)

    def remove(self, client_order_id: str) -> Order:
        """Take the order out and return it; ``KeyError`` naming the id if not held."""
        order = self._by_id.pop(client_order_id, None)
        if order is None:
            raise KeyError(f"unknown client order id {client_order_id}")
        for index, key in ((self._by_symbol, order.symbol), (self._by_venue, order.venue)):
            group = index[key]
            del group[client_order_id]
            if not group:
                del index[key]
        return order

    def prune(self) -> list[Order]:
        """Remove every closed order and return them (in the order added)."""
        closed = [o for o in self._by_id.values() if not o.is_open]
        for order in closed:
            self.remove(order.client_order_id)
        return closed

    def by_symbol(self, symbol: str) -> list[Order]:
        """Return the open orders of ``symbol`` (any venue)."""
        group = self._by_symbol.get(symbol)
        return [] if group is None else [o for o in group.values() if o.is_open]

    def by_venue(self, venue: str) -> list[Order]:
        """Return the open orders at ``venue`` (any symbol)."""
        group = self._by_venue.get(venue)
        return [] if group is None else [o for o in group.values() if o.is_open]
