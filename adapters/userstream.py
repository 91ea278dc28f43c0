"""What the venues' private streams share: the sink's types and the connection loop.

A venue's private stream (:mod:`adapters.binance.userstream`,
:mod:`adapters.bybit.userstream`) is a :class:`PrivateStream`. The base keeps
the connection up and the account's events flowing into a
:class:`UserStreamSink`:

- :meth:`PrivateStream.run` makes one connection after another until stopped,
  backing off with full jitter (``reconnect_base_s`` · 2^attempt, capped at
  ``reconnect_cap_s``) after each that failed;
- while the stream is down, the venue is polled over REST every
  ``poll_interval_s``, and once more right after each reconnect before any
  frame is read (:meth:`PrivateStream._caught_up`), so a fill made while
  disconnected is booked exactly once;
- every fill and status passes an :class:`~engine.broker.ExecutionReportDeduplicator`
  (trade ids and cumulative quantities are the idempotency keys), so an event
  delivered twice (a resend, the stream and REST both) is booked once.

A venue module adds the connection itself (:meth:`PrivateStream._connection`:
its URL, authentication and keep-alive), the frames' decoding
(:meth:`PrivateStream.on_frame`) and the REST poll of its fills
(:meth:`PrivateStream._poll_fills`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable
from typing import Any, ClassVar, Protocol

import aiohttp
import msgspec

from engine.broker import (
    Balance,
    BrokerError,
    ExecutionReportDeduplicator,
    OrderAck,
    OrderNotFoundError,
    VenuePosition,
)
from engine.events import OrderFilled
from engine.orders import OrderStatus

__all__ = [
    "AccountSnapshot",
    "OrderUpdate",
    "PrivateStream",
    "PrivateStreamStats",
    "UserStreamSink",
]

_OPEN = (OrderStatus.ACCEPTED, OrderStatus.PARTIALLY_FILLED)


class OrderUpdate(msgspec.Struct, frozen=True, gc=False, kw_only=True):
    """An order's status moved forward (``ts``: engine clock, ns)."""

    ts: int
    symbol: str
    ack: OrderAck


class AccountSnapshot(msgspec.Struct, frozen=True, gc=False, kw_only=True):
    """Balances (spot: free/locked; USD-M: wallet) and positions an event changed."""

    ts: int
    balances: list[Balance]
    positions: list[VenuePosition]


class UserStreamSink(Protocol):
    """Where the stream's events go (called on the event loop, in arrival order)."""

    def on_order_update(self, update: OrderUpdate) -> None: ...
    def on_fill(self, fill: OrderFilled) -> None: ...
    def on_account(self, snapshot: AccountSnapshot) -> None: ...


class PrivateStreamStats(msgspec.Struct, kw_only=True):
    """Counters every private stream keeps (venues add their own)."""

    connects: int = 0
    disconnects: int = 0
    connect_failures: int = 0
    frames: int = 0
    bad_frames: int = 0
    fills: int = 0
    duplicate_fills: int = 0
    stale_updates: int = 0
    polls: int = 0
    poll_failures: int = 0
    poll_fills: int = 0
    connected: bool = False


class PrivateStream:
    """The venue-neutral part of an account's private stream; see the module.

    Parameters
    ----------
    broker :
        The connected broker (a :class:`~adapters.ccxt_broker.CcxtBroker`): its REST
        client polls.
    sink :
        Receives the events.
    config :
        Reconnect and poll settings (``reconnect_base_s``, ``reconnect_cap_s``,
        ``poll_interval_s``, ``handshake_timeout_s``) and the venue's own.
    stats :
        The counters (a :class:`PrivateStreamStats`, or a venue's subclass).
    clock :
        Engine time in ns for the events' ``ts`` (default the wall clock).
    rng :
        Source of the reconnect jitter.
    """

    #: The venue's logger and the names of its tasks and log lines.
    log: ClassVar[logging.Logger] = logging.getLogger("ats.adapters.userstream")
    poll_task_name: ClassVar[str] = "private-poll"
    connect_failed_message: ClassVar[str] = "private stream connect failed"
    poll_failed_message: ClassVar[str] = "private stream poll failed"
    #: What else a poll may raise that counts as a failed poll (a REST row not decoded).
    poll_errors: ClassVar[tuple[type[Exception], ...]] = (BrokerError,)
    #: The first poll looks this far before the stream was made (ms; clock skew with the venue).
    start_margin_ms: ClassVar[int] = 10_000
    #: How far back a poll looks before the moment the stream went down (ms): the venue's
    #: trade times and our clock differ, and a fill may be reported late.
    poll_margin_ms: ClassVar[int] = 60_000
    #: Whether a polled status that moves nothing counts as a stale update (as a streamed one).
    polled_stale_counted: ClassVar[bool] = True
    #: ccxt's market type of the venue symbols in frames (``None``: the first market listed).
    market_type: str | None = None

    def __init__(
        self,
        broker: Any,
        sink: UserStreamSink,
        config: Any,
        stats: PrivateStreamStats,
        *,
        clock: Callable[[], int] = time.time_ns,
        rng: random.Random | None = None,
    ) -> None:
        self.broker = broker
        self.sink = sink
        self.config = config
        self.stats = stats
        self.dedup = ExecutionReportDeduplicator()
        #: Set while the WebSocket is connected and caught up.
        self.connected = asyncio.Event()
        self._clock = clock
        self._rng = rng or random.Random()
        self._venue: str = broker.config.venue
        self._open: dict[str, str] = {}  # client order id → symbol, of orders seen open
        #: Fills from this venue time on are looked for by the poll: at first, those from
        #: about when the stream was made (earlier ones are start-up reconciliation's).
        self._down_since_ms = int(time.time() * 1000) - self.start_margin_ms
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        #: Called after every successful reconnect, once its REST catch-up is done (the
        #: composition root points it at :meth:`engine.reconcile.Reconciler.request`).
        self.on_reconnected: Callable[[], object] | None = None

    # -- the loop ------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Keep the stream up until ``stop`` is set; poll REST while it is down."""
        attempt = 0
        poller = asyncio.create_task(self._poll_loop(stop), name=self.poll_task_name)
        try:
            async with aiohttp.ClientSession() as session:
                while not stop.is_set():
                    connected = await self._connection(session, stop)
                    if stop.is_set():
                        break
                    attempt = 0 if connected else attempt + 1
                    bound = min(
                        self.config.reconnect_cap_s, self.config.reconnect_base_s * 2**attempt
                    )
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), self._rng.uniform(0.0, bound))
        finally:
            poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await poller
            self.connected.clear()
            self.stats.connected = False
            await self._stopped()

    async def _connection(self, session: aiohttp.ClientSession, stop: asyncio.Event) -> bool:
        """One connection's life; return whether it got as far as receiving events."""
        raise NotImplementedError

    async def _stopped(self) -> None:
        """After the last connection (a venue releases what the stream held)."""

    def _connect_failed(self, exc: BaseException, message: str | None = None) -> None:
        self.stats.connect_failures += 1
        self.log.warning(
            message or self.connect_failed_message,
            extra={"fields": {"venue": self._venue, "error": type(exc).__name__}},
        )

    async def _caught_up(self) -> None:
        """Poll once before reading (fills made while down, booked once), then be connected.

        After a *re*connect (not the first connection) :attr:`on_reconnected` is
        called once the poll is done: the composition root reconciles there.
        """
        await self._poll_once()
        self.stats.connected = True
        self.connected.set()
        if self.stats.connects > 1 and self.on_reconnected is not None:
            self.on_reconnected()

    @staticmethod
    async def _until_stop_or(stop: asyncio.Event, reader: asyncio.Task[None]) -> None:
        """Wait for ``stop`` or the end of ``reader`` (the connection)."""
        stopper = asyncio.create_task(stop.wait())
        await asyncio.wait({stopper, reader}, return_when=asyncio.FIRST_COMPLETED)
        stopper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await stopper

    async def _closed(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        """The connection ended: count it, and poll from a little before now on."""
        if self.connected.is_set():
            self.stats.disconnects += 1
            self._down_since_ms = int(time.time() * 1000) - self.poll_margin_ms
        self.connected.clear()
        self.stats.connected = False
        self._ws = None
        await ws.close()

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for msg in ws:
            if msg.type == aiohttp.WSMsgType.TEXT:
                if self.on_frame(msg.data.encode()):
                    self._ended_by_venue()
                    return
            elif msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.ERROR):
                return

    def _ended_by_venue(self) -> None:
        """A frame said the venue ends the stream (:meth:`on_frame` returned True)."""

    async def disconnect(self) -> None:
        """Close the current connection (it reconnects; tests and resyncs use this)."""
        if self._ws is not None:
            await self._ws.close()

    # -- events --------------------------------------------------------------------------------

    def on_frame(self, frame: bytes) -> bool | None:
        """Handle one frame; a true result ends the connection (the venue closes it)."""
        raise NotImplementedError

    def _unified(self, venue_symbol: str) -> str:
        found = (self.broker.client.markets_by_id or {}).get(venue_symbol) or []
        for market in found:
            if self.market_type is None or market.get("type") == self.market_type:
                return str(market["symbol"])
        return venue_symbol

    def _new_fill(self, cid: str, trade_id: str, last: float, cumulative: float | None) -> float:
        """The quantity of a fill not booked yet (0: a duplicate, counted)."""
        quantity = self.dedup.fill_quantity(cid, trade_id, last, cumulative_quantity=cumulative)
        if abs(quantity - last) <= 1e-12 * last:
            quantity = last  # the venue's own number, not a difference of floats
        if not quantity > 0:
            self.stats.duplicate_fills += 1
        return quantity

    def _emit_fill(
        self,
        cid: str,
        symbol: str,
        fill_id: int,
        trade_id: str,
        side: str,
        quantity: float,
        price: float,
        fee: float,
        fee_currency: str,
        maker: bool,
        leaves: float,
        cumulative: float | None = None,
    ) -> None:
        self.stats.fills += 1
        self.sink.on_fill(
            OrderFilled(
                ts=self._clock(),
                client_order_id=cid,
                fill_id=fill_id,
                symbol=symbol,
                venue=self._venue,
                side=side.upper(),
                quantity=quantity,
                price=price,
                fee=fee,
                fee_currency=fee_currency,
                liquidity="MAKER" if maker else "TAKER",
                leaves_quantity=leaves,
                trade_id=trade_id,
                cumulative_quantity=cumulative,
            )
        )

    def _status_update(
        self,
        cid: str,
        symbol: str,
        venue_order_id: str,
        status: OrderStatus,
        filled: float,
        average: str | float,
        *,
        polled: bool = False,
    ) -> None:
        """Follow the order while open; send the status if it moves the order forward."""
        if status in _OPEN:
            self._open[cid] = symbol
        else:
            self._open.pop(cid, None)
        if not self.dedup.accept_status(cid, status, filled):
            if not polled or self.polled_stale_counted:
                self.stats.stale_updates += 1
            return
        ack = OrderAck(
            client_order_id=cid,
            venue_order_id=venue_order_id,
            status=status,
            filled_quantity=filled,
            average_price=float(average or 0),
        )
        self.sink.on_order_update(OrderUpdate(ts=self._clock(), symbol=symbol, ack=ack))

    # -- REST fallback -------------------------------------------------------------------------

    async def _poll_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.config.poll_interval_s)
            if stop.is_set() or self.connected.is_set():
                continue
            await self._poll_once()

    async def _poll_once(self) -> None:
        """Book the fills and final states the venue has that the stream did not deliver."""
        self.stats.polls += 1
        symbols = set(self.broker.config.symbols) | set(self._open.values())
        since = self._down_since_ms
        try:
            for symbol in sorted(symbols):
                await self._poll_fills(symbol, since)
            for cid, symbol in list(self._open.items()):
                await self._poll_order(cid, symbol)
        except self.poll_errors as exc:
            self.stats.poll_failures += 1
            self.log.warning(
                self.poll_failed_message,
                extra={"fields": {"venue": self._venue, "error": type(exc).__name__}},
            )

    async def _poll_fills(self, symbol: str, since_ms: int) -> None:
        """Book ``symbol``'s fills since ``since_ms`` (venue time) that were not booked."""
        raise NotImplementedError

    async def _poll_order(self, cid: str, symbol: str) -> None:
        """Send the order's state now if it moved forward."""
        try:
            order = await self.broker.get_order(cid)
        except OrderNotFoundError:
            self._open.pop(cid, None)
            return
        # REST keeps no cancel type through ccxt: a venue-ended order polls as CANCELLED
        self._status_update(
            cid,
            symbol,
            order.venue_order_id,
            order.status,
            order.filled_quantity,
            order.average_price,
            polled=True,
        )

    def track(self, ack: OrderAck, symbol: str) -> None:
        """Register an order placed through the broker, so the poll follows it while down."""
        if ack.status in (OrderStatus.NEW, *_OPEN):
            self._open[ack.client_order_id] = symbol
