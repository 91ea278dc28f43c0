"""The broker connector interface, what it returns, and the errors it raises.

A connector is the async edge to one live venue (DESIGN.md, Execution). It
turns wire messages into the Structs below and every failure into one of the
:class:`BrokerError` subclasses, so the engine decides about retries from the
class alone and never from venue error text:

- retry-safe (``retry_safe = True``): :class:`NetworkError`,
  :class:`RateLimitError`, :class:`ExchangeUnavailableError` — the request
  certainly did not take effect, sending it again is harmless;
  :class:`RequestTimeoutError` (a :class:`NetworkError`) — the request may or
  may not have taken effect ("outcome unknown"); an order is only resent after
  :meth:`BrokerConnector.get_order` has shown that the venue does not know it.
- final: :class:`InsufficientFundsError`, :class:`InvalidOrderError`,
  :class:`AuthenticationError`, :class:`OrderNotFoundError` — the same request
  fails the same way again.

A connector must map its library's bare timeouts (``asyncio.TimeoutError``,
``ccxt.RequestTimeout``...) to :class:`RequestTimeoutError`; anything that is
not a :class:`BrokerError` is a bug and is never retried.

:class:`ExecutionReportDeduplicator` makes the venue's order and fill events
idempotent: a duplicated fill or a stale status update is dropped.

Optional capability: a connector that can list the account's recent fills
implements :class:`FillHistory` (``get_recent_fills``); reconciliation
(:mod:`engine.reconcile`) then books missed fills under the venue's own trade
ids, and infers them from the orders' cumulative filled quantities otherwise.
"""

from __future__ import annotations

from typing import ClassVar, Protocol

import msgspec

from engine.orders import Order, OrderStatus, Side

__all__ = [
    "AuthenticationError",
    "Balance",
    "BrokerConnector",
    "BrokerError",
    "ExchangeUnavailableError",
    "ExecutionReportDeduplicator",
    "FillHistory",
    "InsufficientFundsError",
    "InvalidOrderError",
    "NetworkError",
    "OrderAck",
    "OrderNotFoundError",
    "RateLimitError",
    "RequestTimeoutError",
    "VenueFill",
    "VenueOrder",
    "VenuePosition",
    "has_fill_history",
    "is_retry_safe",
]


# -- what a connector returns -------------------------------------------------------------------


class OrderAck(msgspec.Struct, frozen=True, kw_only=True):
    """The venue's answer to a placement or a cancel: the order's state right then.

    Attributes
    ----------
    client_order_id : str
        Our id, sent with the order; the key for every later query.
    venue_order_id : str
        The venue's id for the order.
    status : OrderStatus
        ``ACCEPTED`` for a resting order, ``FILLED`` for a market order that
        filled at once, ``REJECTED``...
    filled_quantity : float
        Cumulative filled quantity (0.0 when nothing filled).
    average_price : float
        Average fill price (0.0 when nothing filled).
    """

    client_order_id: str
    venue_order_id: str
    status: OrderStatus
    filled_quantity: float = 0.0
    average_price: float = 0.0


class VenueOrder(OrderAck, frozen=True, kw_only=True):
    """An order as the venue reports it on a query (an :class:`OrderAck` plus what it is).

    ``price`` is the limit price (NaN for a market order).
    """

    symbol: str
    side: Side
    quantity: float
    price: float


class Balance(msgspec.Struct, frozen=True, kw_only=True):
    """The balance of one asset: ``free`` can be spent, ``locked`` backs open orders."""

    asset: str
    free: float
    locked: float = 0.0

    @property
    def total(self) -> float:
        """``free + locked``."""
        return self.free + self.locked


class VenuePosition(msgspec.Struct, frozen=True, kw_only=True):
    """A position as the venue reports it; ``quantity`` is signed (negative is short)."""

    symbol: str
    quantity: float
    average_price: float = 0.0


class VenueFill(msgspec.Struct, frozen=True, kw_only=True):
    """One of our fills (an execution) as the venue's trade history reports it.

    Attributes
    ----------
    trade_id : str
        The venue's id of the fill (Binance ``id`` of ``myTrades``, Bybit
        ``execId``, IB ``execId``): the idempotency key, unique per venue.
    client_order_id : str
        Our id of the order that filled ("" when the venue does not say; the
        connector should then look it up by the venue's order id).
    symbol : str
        Unified symbol.
    side : Side
        The order's side.
    quantity : float
        This fill's own quantity (> 0).
    price : float
        This fill's price.
    fee : float
        The fee charged for it, in ``fee_currency`` (0.0 when none).
    fee_currency : str
        The fee's currency ("" when unknown: the account currency is assumed).
    liquidity : str
        ``"maker"``, ``"taker"`` or "" when the venue does not say.
    ts : int
        Execution time, int64 ns since the epoch (UTC), converted at the edge.
    venue_order_id : str
        The venue's id of the order ("" when not given).
    """

    trade_id: str
    client_order_id: str
    symbol: str
    side: Side
    quantity: float
    price: float
    fee: float = 0.0
    fee_currency: str = ""
    liquidity: str = ""
    ts: int = 0
    venue_order_id: str = ""


# -- errors -------------------------------------------------------------------------------------


class BrokerError(Exception):
    """Base of every error a connector raises; ``retry_safe`` says whether a resend is harmless."""

    retry_safe: ClassVar[bool] = False


class NetworkError(BrokerError):
    """The request did not reach the venue (connection refused or reset before sending)."""

    retry_safe: ClassVar[bool] = True


class RequestTimeoutError(NetworkError):
    """No answer in time: the request may or may not have taken effect (outcome unknown)."""


class RateLimitError(BrokerError):
    """The venue refused the request for its rate limit.

    Parameters
    ----------
    message : str
        What the venue said.
    retry_after_s : float or None
        The wait the venue asked for, when it said one.
    """

    retry_safe: ClassVar[bool] = True

    def __init__(self, message: str = "", *, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class ExchangeUnavailableError(BrokerError):
    """The venue is down or in maintenance and did not act on the request."""

    retry_safe: ClassVar[bool] = True


class InsufficientFundsError(BrokerError):
    """The account cannot pay for the order."""


class InvalidOrderError(BrokerError):
    """The venue refused the order's parameters (price, size, symbol...)."""


class AuthenticationError(BrokerError):
    """The credentials were refused (the message never contains them)."""


class OrderNotFoundError(BrokerError):
    """The venue does not know an order with this client order id."""


def is_retry_safe(exc: BaseException) -> bool:
    """Return True when ``exc`` is a :class:`BrokerError` that a resend cannot make worse.

    Examples
    --------
    >>> is_retry_safe(RateLimitError("slow down")), is_retry_safe(InvalidOrderError("tick"))
    (True, False)
    >>> is_retry_safe(TimeoutError())  # connectors must map it to RequestTimeoutError
    False
    """
    return isinstance(exc, BrokerError) and exc.retry_safe


# -- the connector ------------------------------------------------------------------------------


class BrokerConnector(Protocol):
    """The async connection to one live venue; every method raises only :class:`BrokerError`.

    Orders are identified by their ``client_order_id``, which the venue must
    enforce as unique: that is what makes a resend after a timeout safe.
    """

    async def connect(self) -> None:
        """Open the session (authenticate, sync the clock); safe to call again after a drop."""
        ...

    async def place_order(self, order: Order) -> OrderAck:
        """Send ``order`` with its ``client_order_id`` and return the venue's acknowledgement."""
        ...

    async def cancel_order(self, client_order_id: str) -> OrderAck:
        """Cancel an open order; raise :class:`OrderNotFoundError` when the venue has none."""
        ...

    async def get_balance(self) -> list[Balance]:
        """Return the balance of every asset the account holds."""
        ...

    async def get_positions(self) -> list[VenuePosition]:
        """Return every non-zero position."""
        ...

    async def get_open_orders(self, symbol: str | None = None) -> list[VenueOrder]:
        """Return the open orders (of ``symbol``, or all), for start-up reconciliation."""
        ...

    async def get_order(self, client_order_id: str) -> VenueOrder:
        """Return the order's current state; raise :class:`OrderNotFoundError` when unknown."""
        ...

    async def cancel_all(self, symbol: str | None = None) -> list[OrderAck]:
        """Cancel every open order (of ``symbol``, or all) and return what was cancelled."""
        ...


class FillHistory(Protocol):
    """Optional connector capability: the account's recent fills (used by reconciliation).

    A connector that can list its executions implements this method next to
    the :class:`BrokerConnector` ones; :func:`has_fill_history` tells whether
    one does. Without it, reconciliation infers missed fills from the
    cumulative filled quantity of each order (one fill per gap, at the gap's
    average price, fee unknown).
    """

    async def get_recent_fills(self, since_ns: int, symbol: str | None = None) -> list[VenueFill]:
        """Return our fills since ``since_ns`` (ns, UTC) of ``symbol`` (or all), oldest first.

        Every fill must carry its ``trade_id`` and, when the venue gives it, the
        ``client_order_id`` of its order; raise only :class:`BrokerError`.
        """
        ...


def has_fill_history(broker: object) -> bool:
    """Return True when ``broker`` implements :meth:`FillHistory.get_recent_fills`.

    Examples
    --------
    >>> has_fill_history(object())
    False
    """
    return callable(getattr(broker, "get_recent_fills", None))


# -- idempotent execution reports ---------------------------------------------------------------

#: How far along its life a status is; an update that does not move forward is stale.
_STATUS_RANK: dict[OrderStatus, int] = {
    OrderStatus.NEW: 0,
    OrderStatus.ACCEPTED: 1,
    OrderStatus.PARTIALLY_FILLED: 2,
    OrderStatus.FILLED: 3,
    OrderStatus.CANCELLED: 3,
    OrderStatus.REJECTED: 3,
    OrderStatus.EXPIRED: 3,
}
_TERMINAL_RANK = 3


class _Track:
    __slots__ = ("fill_cumulative", "status", "status_filled", "trade_ids")

    def __init__(self) -> None:
        self.status = OrderStatus.NEW
        self.status_filled = 0.0
        self.fill_cumulative = 0.0
        self.trade_ids: set[str] = set()


class ExecutionReportDeduplicator:
    """Drop duplicated fills and stale status updates from a venue's order events.

    Venues deliver at least once and not always in order (a websocket resend
    after a reconnect, a REST reply racing the stream). This class decides, per
    client order id, whether an event is new; it holds no order and does no I/O.

    Fills are facts: a fill is kept even after a terminal status (a fill that
    happened before a cancel can arrive after it), unless its trade id was
    seen, or the venue's cumulative filled quantity does not go up. When
    cumulative quantities are given, :meth:`fill_quantity` returns the *increase*,
    so the quantities it returns always add up to the highest cumulative seen,
    whatever the arrival order.

    Status updates only move forward ``NEW < ACCEPTED < PARTIALLY_FILLED <
    terminal``; a ``PARTIALLY_FILLED`` update is new only when its filled
    quantity went up, and nothing follows a terminal status.

    Examples
    --------
    >>> dedup = ExecutionReportDeduplicator()
    >>> dedup.fill_quantity("c1", "t1", 0.5, cumulative_quantity=0.5)
    0.5
    >>> dedup.fill_quantity("c1", "t1", 0.5, cumulative_quantity=0.5)  # resent
    0.0
    >>> dedup.accept_status("c1", OrderStatus.FILLED)
    True
    >>> dedup.accept_status("c1", OrderStatus.ACCEPTED)  # late
    False
    """

    def __init__(self) -> None:
        self._tracks: dict[str, _Track] = {}

    def _track(self, client_order_id: str) -> _Track:
        track = self._tracks.get(client_order_id)
        if track is None:
            track = self._tracks[client_order_id] = _Track()
        return track

    def fill_quantity(
        self,
        client_order_id: str,
        trade_id: str | None,
        quantity: float,
        *,
        cumulative_quantity: float | None = None,
    ) -> float:
        """Return the quantity to apply for this fill, 0.0 when it is a duplicate or stale.

        Parameters
        ----------
        client_order_id : str
            The order the fill belongs to.
        trade_id : str or None
            The venue's id of the fill (trade id, execution id); None when the
            report has none (only ``cumulative_quantity`` can then tell a
            repeat, and without it the fill is always applied).
        quantity : float
            The fill's own quantity.
        cumulative_quantity : float or None
            The order's cumulative filled quantity after this fill, when the
            venue reports it. A fill that does not raise it is stale (a later
            fill already counted it), and the quantity applied is the increase.
        """
        track = self._track(client_order_id)
        if trade_id is not None:
            if trade_id in track.trade_ids:
                return 0.0
            track.trade_ids.add(trade_id)
        if cumulative_quantity is None:
            track.fill_cumulative += quantity
            return quantity
        increase = cumulative_quantity - track.fill_cumulative
        if not increase > 0:
            return 0.0
        track.fill_cumulative = cumulative_quantity
        return increase

    def accept_status(
        self, client_order_id: str, status: OrderStatus, filled_quantity: float | None = None
    ) -> bool:
        """Return True when ``status`` moves the order forward, False for a stale or repeated one.

        ``filled_quantity`` is the cumulative filled quantity the update carries;
        it orders two ``PARTIALLY_FILLED`` updates.
        """
        track = self._track(client_order_id)
        rank = _STATUS_RANK[OrderStatus(status)]
        current = _STATUS_RANK[track.status]
        filled = track.status_filled if filled_quantity is None else filled_quantity
        if current == _TERMINAL_RANK or rank < current:
            return False
        if rank == current and not (
            status is OrderStatus.PARTIALLY_FILLED and filled > track.status_filled
        ):
            return False
        track.status = OrderStatus(status)
        track.status_filled = max(track.status_filled, filled)
        return True

    def has_trade(self, client_order_id: str, trade_id: str) -> bool:
        """Return True when a fill with ``trade_id`` was already seen for the order."""
        track = self._tracks.get(client_order_id)
        return track is not None and trade_id in track.trade_ids

    def filled(self, client_order_id: str) -> float:
        """Return the cumulative quantity of the fills applied so far (0.0 for an unknown id)."""
        track = self._tracks.get(client_order_id)
        return 0.0 if track is None else track.fill_cumulative

    def forget(self, client_order_id: str) -> None:
        """Drop what is kept for a settled order (call once it is closed and reconciled)."""
        self._tracks.pop(client_order_id, None)

    def __len__(self) -> int:
        return len(self._tracks)
