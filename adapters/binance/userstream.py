"""Binance's private user data stream: order updates and fills, with a REST fallback.

:class:`BinanceUserStream` keeps one WebSocket on ``<ws_url>/ws/<listenKey>``:

- the listen key is created through the broker's REST client and kept alive
  every ``keepalive_s`` (Binance: valid 60 minutes, keep alive every 30); a
  key the venue no longer knows (``-1125``, or a ``listenKeyExpired`` event)
  means a new key and a new connection;
- frames are decoded with msgspec Structs (:class:`ExecutionReport`,
  :class:`OutboundAccountPosition` on spot; :class:`OrderTradeUpdate`,
  :class:`AccountUpdate` on USD-M) into engine events: an
  :class:`~engine.events.OrderFilled` per new fill, an :class:`OrderUpdate`
  (an :class:`~engine.broker.OrderAck`) per status that moves an order
  forward, and :class:`AccountSnapshot` balances/positions;
- every order event passes an :class:`~engine.broker.ExecutionReportDeduplicator`
  (trade ids and cumulative quantities are the idempotency keys), so a fill
  delivered twice (a resend, the stream and REST both) is booked once;
- while the stream is down, orders and fills are polled over REST every
  ``poll_interval_s``, and once more right after each reconnect before any
  frame is read, so a fill made while disconnected is booked exactly once;
- reconnects back off with full jitter (``reconnect_base_s`` ·
  2^attempt, capped at ``reconnect_cap_s``).

Examples
--------
>>> stream = BinanceUserStream(broker, sink, broker.binance.user_stream)  # doctest: +SKIP
>>> task = asyncio.create_task(stream.run(stop))  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Protocol

import aiohttp
import msgspec

from adapters.binance.broker import BinanceBroker, ListenKeyError
from adapters.binance.config import UserStreamConfig
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
    "AccountUpdate",
    "BinanceUserStream",
    "ExecutionReport",
    "ListenKeyExpired",
    "OrderTradeUpdate",
    "OrderUpdate",
    "OutboundAccountPosition",
    "UserStreamSink",
    "UserStreamStats",
]

_log = logging.getLogger("ats.adapters.binance.userstream")

#: Binance order status → ours (``PENDING_CANCEL`` and unknown ones are not status changes).
_STATUS: dict[str, OrderStatus] = {
    "NEW": OrderStatus.ACCEPTED,
    "PARTIALLY_FILLED": OrderStatus.PARTIALLY_FILLED,
    "FILLED": OrderStatus.FILLED,
    "CANCELED": OrderStatus.CANCELLED,
    "EXPIRED": OrderStatus.EXPIRED,
    "EXPIRED_IN_MATCH": OrderStatus.EXPIRED,
    "REJECTED": OrderStatus.REJECTED,
}
#: How far back the REST poll looks before the moment the stream went down (ms): the
#: venue's trade times and our clock differ, and a fill may be reported late.
_POLL_MARGIN_MS = 60_000
#: The first poll looks this far before the stream was made (clock skew with the venue).
_START_MARGIN_MS = 10_000

# -- wire messages (field names are Binance's single letters) -----------------------------------


class ExecutionReport(msgspec.Struct, tag_field="e", tag="executionReport", gc=False):
    """Spot ``executionReport``: one order event (prices and quantities as strings)."""

    event_time: int = msgspec.field(name="E")
    symbol: str = msgspec.field(name="s")
    client_order_id: str = msgspec.field(name="c")
    side: str = msgspec.field(name="S")
    execution_type: str = msgspec.field(name="x")
    status: str = msgspec.field(name="X")
    order_id: int = msgspec.field(name="i")
    last_quantity: str = msgspec.field(name="l")
    cumulative_quantity: str = msgspec.field(name="z")
    last_price: str = msgspec.field(name="L")
    commission: str = msgspec.field(name="n")
    trade_time: int = msgspec.field(name="T")
    trade_id: int = msgspec.field(name="t")
    cumulative_quote: str = msgspec.field(name="Z")
    #: The cancelled order's id on a cancel (``c`` is then the cancel request's).
    original_client_order_id: str = msgspec.field(name="C", default="")
    commission_asset: str | None = msgspec.field(name="N", default=None)
    maker: bool = msgspec.field(name="m", default=False)


class _Balance(msgspec.Struct, gc=False):
    asset: str = msgspec.field(name="a")
    free: str = msgspec.field(name="f")
    locked: str = msgspec.field(name="l")


class OutboundAccountPosition(
    msgspec.Struct, tag_field="e", tag="outboundAccountPosition", gc=False
):
    """Spot ``outboundAccountPosition``: the balances an event changed."""

    event_time: int = msgspec.field(name="E")
    balances: list[_Balance] = msgspec.field(name="B")


class _FuturesOrder(msgspec.Struct, gc=False):
    symbol: str = msgspec.field(name="s")
    client_order_id: str = msgspec.field(name="c")
    side: str = msgspec.field(name="S")
    execution_type: str = msgspec.field(name="x")
    status: str = msgspec.field(name="X")
    order_id: int = msgspec.field(name="i")
    last_quantity: str = msgspec.field(name="l")
    cumulative_quantity: str = msgspec.field(name="z")
    last_price: str = msgspec.field(name="L")
    average_price: str = msgspec.field(name="ap")
    trade_time: int = msgspec.field(name="T")
    trade_id: int = msgspec.field(name="t")
    commission: str = msgspec.field(name="n", default="0")
    commission_asset: str = msgspec.field(name="N", default="")
    maker: bool = msgspec.field(name="m", default=False)


class OrderTradeUpdate(msgspec.Struct, tag_field="e", tag="ORDER_TRADE_UPDATE", gc=False):
    """USD-M ``ORDER_TRADE_UPDATE``: one order event."""

    event_time: int = msgspec.field(name="E")
    order: _FuturesOrder = msgspec.field(name="o")


class _FuturesBalance(msgspec.Struct, gc=False):
    asset: str = msgspec.field(name="a")
    wallet: str = msgspec.field(name="wb")


class _FuturesPosition(msgspec.Struct, gc=False):
    symbol: str = msgspec.field(name="s")
    amount: str = msgspec.field(name="pa")
    entry_price: str = msgspec.field(name="ep")


class _AccountData(msgspec.Struct, gc=False):
    balances: list[_FuturesBalance] = msgspec.field(name="B", default_factory=list)
    positions: list[_FuturesPosition] = msgspec.field(name="P", default_factory=list)


class AccountUpdate(msgspec.Struct, tag_field="e", tag="ACCOUNT_UPDATE", gc=False):
    """USD-M ``ACCOUNT_UPDATE``: wallet balances and positions an event changed."""

    event_time: int = msgspec.field(name="E")
    account: _AccountData = msgspec.field(name="a")


class ListenKeyExpired(msgspec.Struct, tag_field="e", tag="listenKeyExpired", gc=False):
    """The venue closed the stream: its listen key expired."""

    event_time: int = msgspec.field(name="E", default=0)


_Message = (
    ExecutionReport | OutboundAccountPosition | OrderTradeUpdate | AccountUpdate | ListenKeyExpired
)

# -- what the sink gets -------------------------------------------------------------------------


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


class UserStreamStats(msgspec.Struct, kw_only=True):
    """Counters of one :class:`BinanceUserStream`."""

    connects: int = 0
    disconnects: int = 0
    connect_failures: int = 0
    listen_keys: int = 0
    keepalives: int = 0
    frames: int = 0
    bad_frames: int = 0
    fills: int = 0
    duplicate_fills: int = 0
    stale_updates: int = 0
    polls: int = 0
    poll_failures: int = 0
    poll_fills: int = 0
    connected: bool = False


class BinanceUserStream:
    """The account's private stream for a :class:`~adapters.binance.broker.BinanceBroker`.

    Parameters
    ----------
    broker :
        The connected broker: its REST client makes the listen keys and the polls.
    sink :
        Receives the events.
    config :
        Keep-alive, reconnect and poll settings.
    clock :
        Engine time in ns for the events' ``ts`` (default the wall clock).
    rng :
        Source of the reconnect jitter.
    """

    def __init__(
        self,
        broker: BinanceBroker,
        sink: UserStreamSink,
        config: UserStreamConfig | None = None,
        *,
        clock: Callable[[], int] = time.time_ns,
        rng: random.Random | None = None,
    ) -> None:
        self.broker = broker
        self.sink = sink
        self.config = config if config is not None else broker.binance.user_stream
        self.stats = UserStreamStats()
        self.dedup = ExecutionReportDeduplicator()
        #: Set while the WebSocket is connected and caught up.
        self.connected = asyncio.Event()
        self._clock = clock
        self._rng = rng or random.Random()
        self._decoder = msgspec.json.Decoder(_Message)
        self._futures = broker.market == "usdm"
        self._venue = broker.config.venue
        #: venue order id → (client order id, symbol), from events and queries.
        self._orders: dict[str, tuple[str, str]] = {}
        self._open: dict[str, str] = {}  # client order id → symbol, of orders seen open
        self._quantities: dict[str, float] = {}  # client order id → order quantity
        #: Fills from this venue time on are looked for by the poll: at first, those from
        #: about when the stream was made (earlier ones are start-up reconciliation's).
        self._down_since_ms = int(time.time() * 1000) - _START_MARGIN_MS
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._listen_key = ""

    # -- the loop ------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Keep the stream up until ``stop`` is set; poll REST while it is down."""
        attempt = 0
        poller = asyncio.create_task(self._poll_loop(stop), name="binance-user-poll")
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
            if self._listen_key:
                with contextlib.suppress(BrokerError):
                    await self.broker.close_listen_key(self._listen_key)

    async def _connection(self, session: aiohttp.ClientSession, stop: asyncio.Event) -> bool:
        """One connection's life; return whether it connected at all."""
        try:
            if not self._listen_key:
                self._listen_key = await self.broker.create_listen_key()
                self.stats.listen_keys += 1
            url = f"{self.broker.ws_url.rstrip('/')}/ws/{self._listen_key}"
            ws = await asyncio.wait_for(
                session.ws_connect(url, autoping=True), self.config.handshake_timeout_s
            )
        except (BrokerError, aiohttp.ClientError, OSError, TimeoutError) as exc:
            self.stats.connect_failures += 1
            if isinstance(exc, aiohttp.WSServerHandshakeError | ListenKeyError):
                self._listen_key = ""  # the venue refused it: ask for a new one
            _log.warning(
                "user data stream connect failed",
                extra={"fields": {"venue": self._venue, "error": type(exc).__name__}},
            )
            return False
        self._ws = ws
        self.stats.connects += 1
        keepalive = asyncio.create_task(self._keepalive(ws), name="binance-user-keepalive")
        try:
            await self._poll_once()  # catch up before reading: fills while down, once
            self.stats.connected = True
            self.connected.set()
            stopper = asyncio.create_task(stop.wait())
            reader = asyncio.create_task(self._read(ws))
            await asyncio.wait({stopper, reader}, return_when=asyncio.FIRST_COMPLETED)
            stopper.cancel()
            if not reader.done():
                reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
        finally:
            keepalive.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keepalive
            if self.connected.is_set():
                self.stats.disconnects += 1
                self._down_since_ms = int(time.time() * 1000) - _POLL_MARGIN_MS
            self.connected.clear()
            self.stats.connected = False
            self._ws = None
            await ws.close()
        return True

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for msg in ws:
            if msg.type == aiohttp.WSMsgType.TEXT:
                if self.on_frame(msg.data.encode()):
                    self._listen_key = ""
                    return
            elif msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.ERROR):
                return

    async def _keepalive(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        while True:
            await asyncio.sleep(self.config.keepalive_s)
            try:
                await self.broker.keep_alive_listen_key(self._listen_key)
                self.stats.keepalives += 1
            except ListenKeyError:
                _log.warning("listen key expired, reconnecting", extra={"fields": {}})
                self._listen_key = ""
                await ws.close()
                return
            except BrokerError as exc:
                _log.warning(
                    "listen key keep-alive failed",
                    extra={"fields": {"venue": self._venue, "error": type(exc).__name__}},
                )

    async def disconnect(self) -> None:
        """Close the current connection (it reconnects; tests and resyncs use this)."""
        if self._ws is not None:
            await self._ws.close()

    # -- frames --------------------------------------------------------------------------------

    def on_frame(self, frame: bytes) -> bool:
        """Handle one frame; return True when the venue says the listen key expired."""
        self.stats.frames += 1
        try:
            message = self._decoder.decode(frame)
        except (msgspec.DecodeError, msgspec.ValidationError):
            self.stats.bad_frames += 1  # another event type, or malformed: not ours to book
            return False
        if isinstance(message, ExecutionReport):
            cid = message.client_order_id
            if message.execution_type == "CANCELED" and message.original_client_order_id:
                cid = message.original_client_order_id
            self._order_event(
                cid,
                message.symbol,
                str(message.order_id),
                message.side,
                message.status,
                message.execution_type,
                message.trade_id,
                message.last_quantity,
                message.last_price,
                message.cumulative_quantity,
                _average(message.cumulative_quote, message.cumulative_quantity),
                message.commission,
                message.commission_asset or "",
                message.maker,
            )
        elif isinstance(message, OrderTradeUpdate):
            o = message.order
            self._order_event(
                o.client_order_id,
                o.symbol,
                str(o.order_id),
                o.side,
                o.status,
                o.execution_type,
                o.trade_id,
                o.last_quantity,
                o.last_price,
                o.cumulative_quantity,
                float(o.average_price),
                o.commission,
                o.commission_asset,
                o.maker,
            )
        elif isinstance(message, OutboundAccountPosition):
            balances = [
                Balance(asset=b.asset, free=float(b.free), locked=float(b.locked))
                for b in message.balances
            ]
            self.sink.on_account(AccountSnapshot(ts=self._clock(), balances=balances, positions=[]))
        elif isinstance(message, AccountUpdate):
            balances = [
                Balance(asset=b.asset, free=float(b.wallet)) for b in message.account.balances
            ]
            positions = [
                VenuePosition(
                    symbol=self._unified(p.symbol),
                    quantity=float(p.amount),
                    average_price=float(p.entry_price),
                )
                for p in message.account.positions
            ]
            self.sink.on_account(
                AccountSnapshot(ts=self._clock(), balances=balances, positions=positions)
            )
        else:
            return True
        return False

    def _unified(self, venue_symbol: str) -> str:
        markets = self.broker.client.markets_by_id or {}
        found = markets.get(venue_symbol)
        return found[0]["symbol"] if found else venue_symbol

    def _order_event(
        self,
        cid: str,
        venue_symbol: str,
        order_id: str,
        side: str,
        status_text: str,
        execution_type: str,
        trade_id: int,
        last_quantity: str,
        last_price: str,
        cumulative: str,
        average_price: float,
        commission: str,
        commission_asset: str,
        maker: bool,
    ) -> None:
        symbol = self._unified(venue_symbol)
        self._orders[order_id] = (cid, symbol)
        cumulative_quantity = float(cumulative)
        if execution_type == "TRADE":
            last = float(last_quantity)
            quantity = self.dedup.fill_quantity(
                cid, str(trade_id), last, cumulative_quantity=cumulative_quantity
            )
            if abs(quantity - last) <= 1e-12 * last:
                quantity = last  # the venue's own number, not a difference of floats
            if quantity > 0:
                self._emit_fill(
                    cid,
                    symbol,
                    trade_id,
                    side,
                    quantity,
                    float(last_price),
                    float(commission),
                    commission_asset,
                    maker,
                    cumulative_quantity,
                )
            else:
                self.stats.duplicate_fills += 1
        status = _STATUS.get(status_text)
        if status is None:
            return
        if status in (OrderStatus.ACCEPTED, OrderStatus.PARTIALLY_FILLED):
            self._open[cid] = symbol
        else:
            self._open.pop(cid, None)
        if self.dedup.accept_status(cid, status, cumulative_quantity):
            ack = OrderAck(
                client_order_id=cid,
                venue_order_id=order_id,
                status=status,
                filled_quantity=cumulative_quantity,
                average_price=average_price,
            )
            self.sink.on_order_update(OrderUpdate(ts=self._clock(), symbol=symbol, ack=ack))
        else:
            self.stats.stale_updates += 1

    def _emit_fill(
        self,
        cid: str,
        symbol: str,
        trade_id: int,
        side: str,
        quantity: float,
        price: float,
        fee: float,
        fee_currency: str,
        maker: bool,
        cumulative: float | None,
    ) -> None:
        total = self._quantities.get(cid)
        leaves = (
            max(0.0, total - cumulative) if total is not None and cumulative is not None else 0.0
        )
        self.stats.fills += 1
        self.sink.on_fill(
            OrderFilled(
                ts=self._clock(),
                client_order_id=cid,
                fill_id=trade_id,
                symbol=symbol,
                venue=self._venue,
                side=side.upper(),
                quantity=quantity,
                price=price,
                fee=fee,
                fee_currency=fee_currency,
                liquidity="MAKER" if maker else "TAKER",
                leaves_quantity=leaves,
                trade_id=str(trade_id),
            )
        )

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
                await self._poll_symbol(symbol, since)
            for cid, symbol in list(self._open.items()):
                await self._poll_order(cid, symbol)
        except BrokerError as exc:
            self.stats.poll_failures += 1
            _log.warning(
                "user data poll failed",
                extra={"fields": {"venue": self._venue, "error": type(exc).__name__}},
            )

    async def _poll_symbol(self, symbol: str, since_ms: int) -> None:
        fills = await self.broker.get_recent_fills(since_ms * 1_000_000, symbol)
        for fill in sorted(fills, key=lambda f: int(f.trade_id)):
            known = self._orders.get(fill.venue_order_id)
            cid = known[0] if known is not None else fill.client_order_id
            self._orders.setdefault(fill.venue_order_id, (cid, symbol))
            quantity = self.dedup.fill_quantity(cid, fill.trade_id, fill.quantity)
            if quantity > 0:
                self.stats.poll_fills += 1
                self._emit_fill(
                    cid,
                    symbol,
                    int(fill.trade_id),
                    fill.side.value,
                    quantity,
                    fill.price,
                    fill.fee,
                    fill.fee_currency,
                    fill.liquidity == "maker",
                    None,
                )

    async def _poll_order(self, cid: str, symbol: str) -> None:
        try:
            order = await self.broker.get_order(cid)
        except OrderNotFoundError:
            self._open.pop(cid, None)
            return
        if order.status not in (OrderStatus.ACCEPTED, OrderStatus.PARTIALLY_FILLED):
            self._open.pop(cid, None)
        if self.dedup.accept_status(cid, order.status, order.filled_quantity):
            ack = OrderAck(
                client_order_id=cid,
                venue_order_id=order.venue_order_id,
                status=order.status,
                filled_quantity=order.filled_quantity,
                average_price=order.average_price,
            )
            self.sink.on_order_update(OrderUpdate(ts=self._clock(), symbol=symbol, ack=ack))

    def track(self, ack: OrderAck, symbol: str, quantity: float) -> None:
        """Register an order placed through the broker (its id, symbol and size) for the poll."""
        self._orders[ack.venue_order_id] = (ack.client_order_id, symbol)
        self._quantities[ack.client_order_id] = quantity
        if ack.status in (OrderStatus.NEW, OrderStatus.ACCEPTED, OrderStatus.PARTIALLY_FILLED):
            self._open[ack.client_order_id] = symbol


def _average(quote: str, quantity: str) -> float:
    q = Decimal(quantity)
    return float(Decimal(quote) / q) if q else 0.0
