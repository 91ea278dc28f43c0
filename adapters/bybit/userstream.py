"""Bybit v5's private stream: order updates and fills, with a REST fallback.

:class:`BybitUserStream` keeps one WebSocket on ``<ws_url>/v5/private``:

- it authenticates (``{"op":"auth","args":[apiKey, expires, signature]}``, the
  signature the hex HMAC-SHA256 of ``"GET/realtime" + expires``), subscribes
  ``order``, ``execution``, ``position`` and ``wallet``, and sends
  ``{"op":"ping"}`` every ``ping_interval_s`` (Bybit asks for 20 s); a
  connection whose pongs stop for two intervals is closed and made again;
- frames are decoded with msgspec Structs (:class:`OrderMessage`,
  :class:`ExecutionMessage`, :class:`PositionMessage`, :class:`WalletMessage`;
  :class:`OpReply` for the answers to our requests) into engine events: an
  :class:`~engine.events.OrderFilled` per new fill, an
  :class:`~adapters.userstream.OrderUpdate` per status that moves an
  order forward, and :class:`~adapters.userstream.AccountSnapshot`
  balances/positions (the same sink as Binance's stream);
- every execution passes an :class:`~engine.broker.ExecutionReportDeduplicator`
  keyed by ``execId`` (with the order's cumulative quantity, ``orderQty -
  leavesQty``), so a fill delivered twice (a resend, the stream and REST both)
  is booked once;
- while the stream is down, ``/v5/execution/list`` and the open orders are
  polled every ``poll_interval_s``, and once more after each reconnect before
  any frame is read, so a fill made while disconnected is booked exactly once;
  the REST rows go through the same Struct and the same deduplicator;
- reconnects back off with full jitter (``reconnect_base_s`` · 2^attempt,
  capped at ``reconnect_cap_s``); a refused ``auth`` counts as a failed connect.

``OrderFilled.trade_id`` is the ``execId``; ``fill_id`` (an integer) is a
spot ``execId`` itself, or a linear one's (a UUID) low 63 bits.

Examples
--------
>>> stream = BybitUserStream(broker, sink)  # doctest: +SKIP
>>> task = asyncio.create_task(stream.run(stop))  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import random
import time
import uuid
from collections.abc import Callable
from decimal import Decimal, InvalidOperation

import aiohttp
import msgspec

from adapters.bybit.broker import BybitBroker
from adapters.bybit.config import UserStreamConfig
from adapters.userstream import AccountSnapshot, PrivateStream, PrivateStreamStats, UserStreamSink
from engine.broker import Balance, BrokerError, VenuePosition
from engine.orders import OrderStatus

__all__ = [
    "BybitUserStream",
    "BybitUserStreamStats",
    "ExecutionData",
    "ExecutionMessage",
    "OpReply",
    "OrderData",
    "OrderMessage",
    "PositionData",
    "PositionMessage",
    "WalletMessage",
]

_log = logging.getLogger("ats.adapters.bybit.userstream")

_TOPICS = ("order", "execution", "position", "wallet")
_MASK_63 = (1 << 63) - 1
_FIRST = asyncio.FIRST_COMPLETED

# -- wire messages (field names are Bybit's) ----------------------------------------------------


class OrderData(msgspec.Struct, gc=False):
    """One order of an ``order`` message (prices and quantities as strings)."""

    symbol: str
    orderId: str  # noqa: N815 - Bybit's field names
    side: str
    orderStatus: str  # noqa: N815
    qty: str
    cumExecQty: str  # noqa: N815
    orderLinkId: str = ""  # noqa: N815
    avgPrice: str = ""  # noqa: N815
    cancelType: str = ""  # noqa: N815
    rejectReason: str = ""  # noqa: N815
    category: str = ""


class ExecutionData(msgspec.Struct, gc=False):
    """One fill, as an ``execution`` message and ``/v5/execution/list`` both give it."""

    symbol: str
    orderId: str  # noqa: N815
    side: str
    execId: str  # noqa: N815
    execPrice: str  # noqa: N815
    execQty: str  # noqa: N815
    orderLinkId: str = ""  # noqa: N815
    execFee: str = "0"  # noqa: N815
    feeCurrency: str = ""  # noqa: N815
    isMaker: bool = False  # noqa: N815
    orderQty: str = ""  # noqa: N815
    leavesQty: str = ""  # noqa: N815
    execTime: str = "0"  # noqa: N815
    execType: str = "Trade"  # noqa: N815
    marketUnit: str = ""  # noqa: N815


class PositionData(msgspec.Struct, gc=False):
    """One position of a ``position`` message."""

    symbol: str
    side: str
    size: str
    entryPrice: str = ""  # noqa: N815
    avgPrice: str = ""  # noqa: N815


class _Coin(msgspec.Struct, gc=False):
    coin: str
    walletBalance: str = "0"  # noqa: N815
    locked: str = "0"
    totalPositionIM: str = "0"  # noqa: N815
    totalOrderIM: str = "0"  # noqa: N815


class _Wallet(msgspec.Struct, gc=False):
    coin: list[_Coin] = []
    accountType: str = ""  # noqa: N815


class OrderMessage(msgspec.Struct, tag_field="topic", tag="order", gc=False):
    """The ``order`` topic: orders whose state changed."""

    data: list[OrderData]
    creationTime: int = 0  # noqa: N815


class ExecutionMessage(msgspec.Struct, tag_field="topic", tag="execution", gc=False):
    """The ``execution`` topic: new fills."""

    data: list[ExecutionData]
    creationTime: int = 0  # noqa: N815


class PositionMessage(msgspec.Struct, tag_field="topic", tag="position", gc=False):
    """The ``position`` topic: positions that changed."""

    data: list[PositionData]
    creationTime: int = 0  # noqa: N815


class WalletMessage(msgspec.Struct, tag_field="topic", tag="wallet", gc=False):
    """The ``wallet`` topic: the unified account's coins that changed."""

    data: list[_Wallet]
    creationTime: int = 0  # noqa: N815


class OpReply(msgspec.Struct, gc=False):
    """The venue's answer to ``auth``, ``subscribe`` and ``ping`` (``op`` ``pong``)."""

    op: str = ""
    success: bool = True
    ret_msg: str = ""
    conn_id: str = ""


_Message = OrderMessage | ExecutionMessage | PositionMessage | WalletMessage

#: Bybit order status → ours (conditional-order states are not order events here).
_STATUS: dict[str, OrderStatus] = {
    "New": OrderStatus.ACCEPTED,
    "PartiallyFilled": OrderStatus.PARTIALLY_FILLED,
    "Filled": OrderStatus.FILLED,
    "Rejected": OrderStatus.REJECTED,
    "Deactivated": OrderStatus.CANCELLED,
}
_ENDED = frozenset({"Cancelled", "PartiallyFilledCanceled"})


def order_status(status: str, cancel_type: str) -> OrderStatus | None:
    """Our status of a Bybit order: a cancel we asked for is ``CANCELLED``, the venue's ``EXPIRED``.

    Examples
    --------
    >>> order_status("Cancelled", "CancelByUser"), order_status("Cancelled", "UNKNOWN")
    (<OrderStatus.CANCELLED: 'CANCELLED'>, <OrderStatus.EXPIRED: 'EXPIRED'>)
    """
    if status in _ENDED:
        return OrderStatus.CANCELLED if cancel_type == "CancelByUser" else OrderStatus.EXPIRED
    return _STATUS.get(status)


def fill_number(exec_id: str) -> int:
    """``OrderFilled.fill_id`` of a Bybit ``execId``: its digits, or a UUID's low 63 bits.

    Examples
    --------
    >>> fill_number("2100000000047087120")
    2100000000047087120
    >>> fill_number("751c8dba-bdeb-5d0c-9dd3-dda6bf98cdaf") > 0
    True
    """
    if exec_id.isdigit() and int(exec_id) <= _MASK_63:
        return int(exec_id)
    try:
        return uuid.UUID(exec_id).int & _MASK_63
    except ValueError:
        return int.from_bytes(hashlib.blake2b(exec_id.encode(), digest_size=8).digest()) & _MASK_63


def _decimal(text: str) -> Decimal | None:
    try:
        return Decimal(text) if text else None
    except InvalidOperation:
        return None


class BybitUserStreamStats(PrivateStreamStats, kw_only=True):
    """Counters of one :class:`BybitUserStream` (and refused auths, pings sent, pongs seen)."""

    auth_failures: int = 0
    pings: int = 0
    pongs: int = 0


class _RefusedError(Exception):
    """The venue refused our auth or subscribe."""


class BybitUserStream(PrivateStream):
    """The account's private stream for a :class:`~adapters.bybit.broker.BybitBroker`.

    Parameters
    ----------
    broker :
        The connected broker: its credentials sign the auth, its REST client polls.
    sink :
        Receives the events.
    config :
        Ping, reconnect and poll settings (default the broker's ``user_stream``).
    clock :
        Engine time in ns for the events' ``ts`` (default the wall clock).
    rng :
        Source of the reconnect jitter.
    """

    log = _log
    poll_task_name = "bybit-private-poll"
    connect_failed_message = "private stream connect failed"
    poll_failed_message = "private stream poll failed"
    poll_errors = (BrokerError, msgspec.ValidationError)
    start_margin_ms = 60_000  # the first poll looks as far back as after a drop
    broker: BybitBroker
    config: UserStreamConfig
    stats: BybitUserStreamStats

    def __init__(
        self,
        broker: BybitBroker,
        sink: UserStreamSink,
        config: UserStreamConfig | None = None,
        *,
        clock: Callable[[], int] = time.time_ns,
        rng: random.Random | None = None,
    ) -> None:
        super().__init__(
            broker,
            sink,
            config if config is not None else broker.bybit.user_stream,
            BybitUserStreamStats(),
            clock=clock,
            rng=rng,
        )
        self._decoder = msgspec.json.Decoder(_Message)
        self._reply_decoder = msgspec.json.Decoder(OpReply)
        self.market_type = "spot" if broker.category == "spot" else "swap"
        self._replies: asyncio.Queue[OpReply] = asyncio.Queue()
        self._ping_count = 0
        self._last_pong = 0.0

    # -- the connection ------------------------------------------------------------------------

    async def _connection(self, session: aiohttp.ClientSession, stop: asyncio.Event) -> bool:
        """One connection's life; return whether it got as far as subscribed."""
        url = f"{self.broker.ws_url.rstrip('/')}/v5/private"
        timeout = self.config.handshake_timeout_s
        try:
            ws = await asyncio.wait_for(session.ws_connect(url, autoping=True), timeout)
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            self._connect_failed(exc)
            return False
        self._ws = ws
        self._replies = asyncio.Queue()
        reader = asyncio.create_task(self._read(ws), name="bybit-private-read")
        pinger: asyncio.Task[None] | None = None
        subscribed = False
        try:
            handshake = asyncio.create_task(self._handshake(ws))
            await asyncio.wait({handshake, reader}, timeout=timeout, return_when=_FIRST)
            if not handshake.done():  # no answer in time, or the venue closed first
                handshake.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await handshake
                raise TimeoutError("no auth/subscribe answer")
            handshake.result()  # raises _RefusedError when refused
            subscribed = True
            self.stats.connects += 1
            await self._caught_up()
            pinger = asyncio.create_task(self._ping(ws), name="bybit-private-ping")
            await self._until_stop_or(stop, reader)
        except (_RefusedError, TimeoutError, aiohttp.ClientError, OSError) as exc:
            if isinstance(exc, _RefusedError):
                self.stats.auth_failures += 1
            self._connect_failed(exc, "private stream refused or timed out")
        finally:
            for task in (pinger, reader):
                if task is not None and not task.done():
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
            await self._closed(ws)
        return subscribed

    async def _handshake(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        credentials = self.broker.credentials()
        expires = int((time.time() + self.config.auth_expires_s) * 1000)
        signature = hmac.new(
            credentials.secret.encode(), f"GET/realtime{expires}".encode(), hashlib.sha256
        ).hexdigest()
        auth = {"req_id": "auth", "op": "auth", "args": [credentials.api_key, expires, signature]}
        await ws.send_str(msgspec.json.encode(auth).decode())
        await self._expect("auth")
        await ws.send_str(msgspec.json.encode({"op": "subscribe", "args": list(_TOPICS)}).decode())
        await self._expect("subscribe")

    async def _expect(self, op: str) -> None:
        while True:
            reply = await self._replies.get()
            if reply.op != op:
                continue
            if not reply.success:
                raise _RefusedError(f"{op}: {reply.ret_msg}")
            return

    async def _ping(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        """Ping every ``ping_interval_s``; close the connection when pongs stop coming."""
        interval = self.config.ping_interval_s
        self._last_pong = time.monotonic()
        while True:
            await asyncio.sleep(interval)
            if time.monotonic() - self._last_pong > 2 * interval:
                _log.warning(
                    "private stream silent, reconnecting",
                    extra={"fields": {"venue": self._venue, "pings": self.stats.pings}},
                )
                await ws.close()
                return
            self._ping_count += 1
            try:
                await ws.send_str(f'{{"req_id":"{self._ping_count}","op":"ping"}}')
            except (ConnectionResetError, RuntimeError, aiohttp.ClientError):
                return  # the reader sees the connection end
            self.stats.pings += 1

    # -- frames --------------------------------------------------------------------------------

    def on_frame(self, frame: bytes) -> None:
        """Handle one frame of the private stream."""
        self.stats.frames += 1
        try:
            message = self._decoder.decode(frame)
        except (msgspec.DecodeError, msgspec.ValidationError):
            try:
                reply = self._reply_decoder.decode(frame)
            except (msgspec.DecodeError, msgspec.ValidationError):
                self.stats.bad_frames += 1
                return
            if reply.op == "pong":
                self.stats.pongs += 1
                self._last_pong = time.monotonic()
            else:
                self._replies.put_nowait(reply)
            return
        if isinstance(message, ExecutionMessage):
            for execution in message.data:
                self._execution(execution, polled=False)
        elif isinstance(message, OrderMessage):
            for order in message.data:
                self._order(order)
        elif isinstance(message, PositionMessage):
            positions = [
                VenuePosition(
                    symbol=self._unified(p.symbol),
                    quantity=(-1.0 if p.side == "Sell" else 1.0) * float(p.size or 0),
                    average_price=float(p.entryPrice or p.avgPrice or 0),
                )
                for p in message.data
            ]
            self.sink.on_account(
                AccountSnapshot(ts=self._clock(), balances=[], positions=positions)
            )
        else:
            balances = []
            for wallet in message.data:
                for c in wallet.coin:
                    used = Decimal(c.locked or 0) + Decimal(c.totalPositionIM or 0)
                    used += Decimal(c.totalOrderIM or 0)
                    total = Decimal(c.walletBalance or 0)
                    balances.append(
                        Balance(asset=c.coin, free=float(total - used), locked=float(used))
                    )
            self.sink.on_account(AccountSnapshot(ts=self._clock(), balances=balances, positions=[]))

    def _execution(self, e: ExecutionData, *, polled: bool) -> None:
        if e.execType != "Trade":
            return
        cid = e.orderLinkId or e.orderId
        order_qty, leaves = _decimal(e.orderQty), _decimal(e.leavesQty)
        cumulative = None
        if order_qty is not None and leaves is not None and e.marketUnit != "quoteCoin":
            cumulative = float(order_qty - leaves)
        quantity = self._new_fill(cid, e.execId, float(e.execQty), cumulative)
        if not quantity > 0:
            return
        if polled:
            self.stats.poll_fills += 1
        self._emit_fill(
            cid,
            self._unified(e.symbol),
            fill_number(e.execId),
            e.execId,
            e.side,
            quantity,
            float(e.execPrice),
            float(e.execFee or 0),
            e.feeCurrency,
            e.isMaker,
            float(leaves) if leaves is not None else 0.0,
            cumulative,
        )

    def _order(self, o: OrderData) -> None:
        cid = o.orderLinkId or o.orderId
        status = order_status(o.orderStatus, o.cancelType)
        if status is None:
            return
        symbol = self._unified(o.symbol)
        self._status_update(cid, symbol, o.orderId, status, float(o.cumExecQty or 0), o.avgPrice)

    # -- REST fallback -------------------------------------------------------------------------

    async def _poll_fills(self, symbol: str, since_ms: int) -> None:
        rows = await self.broker.fetch_executions(symbol, since_ms)
        executions = [msgspec.convert(r, ExecutionData) for r in rows]
        executions.sort(key=lambda e: (int(e.execTime or 0), e.execId))
        for execution in executions:
            self._execution(execution, polled=True)
