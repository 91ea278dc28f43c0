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
from typing import ClassVar

import aiohttp
import msgspec

from adapters.binance.broker import BinanceBroker, ListenKeyError
from adapters.binance.config import UserStreamConfig
from adapters.userstream import (
    AccountSnapshot,
    OrderUpdate,
    PrivateStream,
    PrivateStreamStats,
    UserStreamSink,
)
from engine.broker import Balance, BrokerError, OrderAck, VenuePosition
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


class UserStreamStats(PrivateStreamStats, kw_only=True):
    """Counters of one :class:`BinanceUserStream` (and listen keys made, keep-alives sent)."""

    listen_keys: int = 0
    keepalives: int = 0


class BinanceUserStream(PrivateStream):
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

    log = _log
    poll_task_name = "binance-user-poll"
    connect_failed_message = "user data stream connect failed"
    poll_failed_message = "user data poll failed"
    polled_stale_counted: ClassVar[bool] = False
    broker: BinanceBroker
    config: UserStreamConfig
    stats: UserStreamStats

    def __init__(
        self,
        broker: BinanceBroker,
        sink: UserStreamSink,
        config: UserStreamConfig | None = None,
        *,
        clock: Callable[[], int] = time.time_ns,
        rng: random.Random | None = None,
    ) -> None:
        super().__init__(
            broker,
            sink,
            config if config is not None else broker.binance.user_stream,
            UserStreamStats(),
            clock=clock,
            rng=rng,
        )
        self._decoder = msgspec.json.Decoder(_Message)
        self._futures = broker.market == "usdm"
        #: venue order id → (client order id, symbol), from events and queries.
        self._orders: dict[str, tuple[str, str]] = {}
        self._quantities: dict[str, float] = {}  # client order id → order quantity
        self._listen_key = ""

    # -- the connection ------------------------------------------------------------------------

    async def _stopped(self) -> None:
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
            if isinstance(exc, aiohttp.WSServerHandshakeError | ListenKeyError):
                self._listen_key = ""  # the venue refused it: ask for a new one
            self._connect_failed(exc)
            return False
        self._ws = ws
        self.stats.connects += 1
        keepalive = asyncio.create_task(self._keepalive(ws), name="binance-user-keepalive")
        try:
            await self._caught_up()
            reader = asyncio.create_task(self._read(ws))
            await self._until_stop_or(stop, reader)
            if not reader.done():
                reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
        finally:
            keepalive.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keepalive
            await self._closed(ws)
        return True

    def _ended_by_venue(self) -> None:
        self._listen_key = ""

    async def _keepalive(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        while True:
            await asyncio.sleep(self.config.keepalive_s)
            try:
                await self.broker.keep_alive_listen_key(self._listen_key)
                self.stats.keepalives += 1
            except ListenKeyError:
                self.log.warning("listen key expired, reconnecting", extra={"fields": {}})
                self._listen_key = ""
                await ws.close()
                return
            except BrokerError as exc:
                self.log.warning(
                    "listen key keep-alive failed",
                    extra={"fields": {"venue": self._venue, "error": type(exc).__name__}},
                )

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
            quantity = self._new_fill(cid, str(trade_id), float(last_quantity), cumulative_quantity)
            if quantity > 0:
                self._emit_fill(
                    cid,
                    symbol,
                    trade_id,
                    str(trade_id),
                    side,
                    quantity,
                    float(last_price),
                    float(commission),
                    commission_asset,
                    maker,
                    self._leaves(cid, cumulative_quantity),
                    cumulative_quantity,
                )
        status = _STATUS.get(status_text)
        if status is not None:
            self._status_update(cid, symbol, order_id, status, cumulative_quantity, average_price)

    def _leaves(self, cid: str, cumulative: float) -> float:
        total = self._quantities.get(cid)
        return max(0.0, total - cumulative) if total is not None else 0.0

    # -- REST fallback -------------------------------------------------------------------------

    async def _poll_fills(self, symbol: str, since_ms: int) -> None:
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
                    str(int(fill.trade_id)),
                    fill.side.value,
                    quantity,
                    fill.price,
                    fill.fee,
                    fill.fee_currency,
                    fill.liquidity == "maker",
                    0.0,
                )

    def track(self, ack: OrderAck, symbol: str, quantity: float | None = None) -> None:
        """Register an order placed through the broker (its id, symbol and size) for the poll."""
        self._orders[ack.venue_order_id] = (ack.client_order_id, symbol)
        if quantity is not None:
            self._quantities[ack.client_order_id] = quantity
        super().track(ack, symbol)


def _average(quote: str, quantity: str) -> float:
    q = Decimal(quantity)
    return float(Decimal(quote) / q) if q else 0.0
