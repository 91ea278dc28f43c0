"""A local Bybit v5 public market-data exchange (spot, linear) made from a Binance recording.

The bundled recordings are Binance's (permissive licence); this venue serves
them in Bybit's v5 wire format, so the real Bybit feed can be tested end to
end on 127.0.0.1 with the same replay, timing and faults as
:class:`~adapters.emulator.binance.BinanceEmulator`.

WebSocket, ``GET /v5/public/linear`` (``bybit-linear``) or ``/v5/public/spot`` (``bybit-spot``)
    Requests, answered as Bybit does (``conn_id`` is this connection's id,
    ``req_id`` echoed when sent; on linear an absent one is answered as
    ``"req_id":""``, as in the Linear/Inverse examples of Bybit's "Connect" page):

    * ``{"op":"subscribe","args":[topic, ...],"req_id":...}`` →
      ``{"success":true,"ret_msg":"subscribe","conn_id":...,"req_id":...,"op":"subscribe"}``
      on spot, as in the docs' spot example; ``"ret_msg":""`` on linear, as in their
      Linear/Inverse example.
      Topics: ``orderbook.{depth}.{SYMBOL}`` (the emulator's ``depth`` only),
      ``publicTrade.{SYMBOL}`` and, on linear, ``tickers.{SYMBOL}``. A topic
      it does not serve, or one already subscribed, makes the answer
      ``"success":false`` with ``ret_msg`` naming it
      (``"error:handler not found,topic:..."``, ``"error:already subscribed,topic:..."``);
      the request's other topics are subscribed all the same. Bybit's docs show
      no error reply: these two texts are the live venue's as clients log them
      (not confirmed by the docs), and what it does with the other topics of a
      refused request is undocumented.
    * ``{"op":"unsubscribe","args":[...]}`` → the same shape, ``"op":"unsubscribe"``.
    * ``{"op":"ping"}`` → ``{"success":true,"ret_msg":"pong","conn_id":...,"op":"ping"}``.

    Data:

    * ``orderbook``: right after the ack of its subscription, a ``snapshot``
      of the emulator's book (top ``depth`` levels each side) with the
      current update id ``u``; then, after each Binance depth diff served, a
      ``delta`` with the change of the top ``depth`` levels: levels whose
      size changed or that entered the top (their new size), levels that
      left it (size ``"0"``). ``u`` is +1 per delta (a diff that leaves the
      top unchanged sends nothing), ``seq`` is the Binance diff's ``u``,
      ``ts`` its ``E`` and ``cts`` its ``T`` (``E`` on spot). With
      ``repeat``, the first message of a new pass is a ``snapshot``.
    * ``publicTrade``: one message per Binance trade (``"type":"snapshot"``,
      ``data`` a one-item list): ``S`` is ``Buy`` when the taker bought
      (Binance ``m`` false), ``i`` the Binance trade id (spot: its digits;
      linear: a UUID whose first 15 hex digits are the id). Futures trades
      that are not ``X == "MARKET"`` (liquidations, ADL) are not sent.
    * ``tickers`` (linear only): each Binance ``bookTicker`` as a ``delta``
      with ``bid1Price``/``bid1Size``/``ask1Price``/``ask1Size``, ``cs`` its ``u``.

Trading (both categories)
    Bybit's signed v5 REST trading endpoints and the private stream
    ``/v5/private`` for one unified account, matching against this emulator's
    replayed book: see :mod:`adapters.emulator.bybit_trading`. Resting orders
    fill as the replay advances (a market-data client must be subscribed for it
    to move).

The emulator's book is the recording's initial book plus every diff served so
far (faults act on the WebSocket only), as for Binance; :meth:`BybitEmulator.levels`
is the top-``depth`` book a client should hold. Faults: every per-connection
fault of :class:`~adapters.emulator.faults.FaultConfig` acts on the
translated data frames (acks, pongs and subscription snapshots are never
faulted); ``gap_at`` never sends the N-th delta (its ``u`` is used up).

Examples
--------
>>> async def main() -> None:  # doctest: +SKIP
...     async with BybitEmulator(USDM_PATH, venue="bybit-linear", fast=True) as emu:
...         url = emu.ws_url + "/v5/public/linear"
...         ...  # connect, send {"op":"subscribe","args":["orderbook.50.BTCUSDT"]}
...         await emu.wait_done()
"""

from __future__ import annotations

import heapq
import logging
import os
import uuid
from decimal import Decimal
from typing import Any

import msgspec
from aiohttp import WSMsgType, web

from adapters.emulator.book import DepthBook, WrappedDiff
from adapters.emulator.bybit_trading import BybitTrading, BybitTradingConfig, InstrumentsInfo
from adapters.emulator.faults import FaultConfig
from adapters.emulator.recording import EmulatorRecording, load_recording, stream_key
from adapters.emulator.server import EmulatorError, ReplayServer, _Connection

__all__ = ["BYBIT_VENUES", "BybitEmulator", "BybitVenue"]

_log = logging.getLogger("ats.adapters.emulator")


class BybitVenue(msgspec.Struct, frozen=True, kw_only=True):
    """One Bybit public stream the emulator can be."""

    name: str
    #: ``spot`` or ``linear``: the WebSocket path and the message details.
    category: str
    #: Order book depths Bybit publishes for the category.
    depths: tuple[int, ...]


#: ``--venue`` → venue.
BYBIT_VENUES: dict[str, BybitVenue] = {
    "bybit-linear": BybitVenue(name="bybit-linear", category="linear", depths=(1, 50, 200, 500)),
    "bybit-spot": BybitVenue(name="bybit-spot", category="spot", depths=(1, 50, 200)),
}

#: ``u`` of the first snapshot (Bybit's ``u == 1`` means "service restarted", so not 1).
FIRST_UPDATE_ID = 1000

Side = dict[float, tuple[str, str]]


class _Request(msgspec.Struct):
    op: str
    args: list[str] = []
    req_id: str | int | None = None


class _Trade(msgspec.Struct):
    E: int
    T: int
    s: str
    t: int
    p: str
    q: str
    m: bool
    X: str = "MARKET"


class _BookTicker(msgspec.Struct):
    s: str
    b: str
    B: str
    a: str
    A: str
    u: int = 0
    E: int = 0


class _WrappedTrade(msgspec.Struct):
    data: _Trade


class _WrappedTicker(msgspec.Struct):
    data: _BookTicker


_request_decoder = msgspec.json.Decoder(_Request)
_diff_decoder = msgspec.json.Decoder(WrappedDiff)
_trade_decoder = msgspec.json.Decoder(_WrappedTrade)
_ticker_decoder = msgspec.json.Decoder(_WrappedTicker)
_encode = msgspec.json.encode
_TEXT = WSMsgType.TEXT


def _top(side: Side, depth: int, bids: bool) -> Side:
    keys = heapq.nlargest(depth, side) if bids else heapq.nsmallest(depth, side)
    return {k: side[k] for k in keys}


def _changes(old: Side, new: Side, bids: bool) -> list[list[str]]:
    """Levels of ``new`` that differ from ``old``, and ``old``'s levels gone (size ``"0"``)."""
    out: dict[float, list[str]] = {}
    for key, level in new.items():
        if old.get(key) != level:
            out[key] = [level[0], level[1]]
    for key, level in old.items():
        if key not in new:
            out[key] = [level[0], "0"]
    return [out[k] for k in sorted(out, reverse=bids)]


class BybitEmulator(ReplayServer):
    """Bybit's v5 public WebSocket on 127.0.0.1, from a Binance recording; see the module doc.

    Parameters
    ----------
    recording :
        A Binance recording path or a loaded
        :class:`~adapters.emulator.recording.EmulatorRecording` (USD-M for ``bybit-linear``,
        spot for ``bybit-spot``).
    venue :
        ``bybit-linear`` or ``bybit-spot``.
    depth :
        The order book depth served (``orderbook.{depth}.{symbol}``); one Bybit publishes
        for the category.
    faults, speed, fast, repeat, close_at_end, host, port :
        See :class:`~adapters.emulator.server.ReplayServer`.
    trading :
        The emulated trading account; default
        :class:`~adapters.emulator.bybit_trading.BybitTradingConfig()`.
    instruments :
        The recorded instruments (already loaded, so tests can share them); default
        :data:`~adapters.emulator.bybit_trading.DEFAULT_INSTRUMENTS`.
    enable_trading :
        Serve the trading endpoints and the private stream (default True).
    """

    def __init__(
        self,
        recording: str | os.PathLike[str] | EmulatorRecording,
        *,
        venue: str = "bybit-linear",
        depth: int = 50,
        faults: FaultConfig | None = None,
        speed: float = 1.0,
        fast: bool = False,
        repeat: bool = False,
        close_at_end: bool = False,
        host: str = "127.0.0.1",
        port: int = 0,
        trading: BybitTradingConfig | None = None,
        instruments: InstrumentsInfo | None = None,
        enable_trading: bool = True,
    ) -> None:
        spec = BYBIT_VENUES.get(venue)
        if spec is None:
            raise EmulatorError(f"venue must be one of {', '.join(BYBIT_VENUES)}, was {venue!r}")
        if depth not in spec.depths:
            raise EmulatorError(
                f"depth must be one of {', '.join(map(str, spec.depths))} for {venue}, was {depth}"
            )
        if not isinstance(recording, EmulatorRecording):
            recording = load_recording(recording)
        super().__init__(
            recording,
            faults=faults,
            speed=speed,
            fast=fast,
            repeat=repeat,
            close_at_end=close_at_end,
            host=host,
            port=port,
        )
        self.venue = spec
        self.depth = depth
        self.path = "/v5/public/" + spec.category
        symbol = recording.symbol
        self._linear = spec.category == "linear"
        self.orderbook_topic = f"orderbook.{depth}.{symbol}"
        index = {stream_key(name): sid for sid, name in enumerate(recording.streams)}
        low = symbol.lower()
        self._trade_sid = index.get(low + "@trade", -1)
        self._ticker_sid = index.get(low + "@bookticker", -1) if self._linear else -1
        #: Topic → recorded stream it is made from.
        self.topics: dict[str, int] = {self.orderbook_topic: recording.depth_stream}
        if self._trade_sid >= 0:
            self.topics["publicTrade." + symbol] = self._trade_sid
        if self._ticker_sid >= 0:
            self.topics["tickers." + symbol] = self._ticker_sid
        #: Update id of the last orderbook message (snapshot or delta) made.
        self.update_id = FIRST_UPDATE_ID
        self._book = recording.initial_book.copy()
        self._top_bids = _top(self._book.bids, depth, True)
        self._top_asks = _top(self._book.asks, depth, False)
        self._ts = self._book.event_time or 0
        self._cts = self._book.transaction_time or self._ts
        self._last_price = 0.0
        self._last_tick = "ZeroPlusTick"
        self._resnapshot = False
        #: The trading side (``None`` when disabled).
        self.trading: BybitTrading | None = None
        if enable_trading:
            self.trading = BybitTrading(spec.category, trading, instruments, self._book_of)
            self._translate = self._translate_and_match

    # -- the book ------------------------------------------------------------------------------

    @property
    def book(self) -> DepthBook:
        """The emulator's full book at the current replay position."""
        return self._book

    def levels(self) -> tuple[list[list[str]], list[list[str]]]:
        """The top ``depth`` bids (descending) and asks (ascending): what a client should hold."""
        bids, asks = self._top_bids, self._top_asks
        return (
            [list(bids[k]) for k in sorted(bids, reverse=True)],
            [list(asks[k]) for k in sorted(asks)],
        )

    def orderbook_message(self, kind: str = "snapshot") -> dict[str, Any]:
        """The ``orderbook`` snapshot message of the current top-``depth`` book."""
        bids, asks = self.levels()
        return self._book_message(kind, bids, asks)

    def _book_message(self, kind: str, bids: list[list[str]], asks: list[list[str]]) -> Any:
        return {
            "topic": self.orderbook_topic,
            "type": kind,
            "ts": self._ts,
            "data": {
                "s": self.recording.symbol,
                "b": bids,
                "a": asks,
                "u": self.update_id,
                "seq": self._book.last_update_id,
            },
            "cts": self._cts,
        }

    def _begin_pass(self) -> None:
        if self.stats.loops == 0:
            return  # the first pass starts from the book built in __init__
        self._book = book = self.recording.initial_book.copy()
        self._top_bids = _top(book.bids, self.depth, True)
        self._top_asks = _top(book.asks, self.depth, False)
        self._resnapshot = True

    # -- translation (the replay calls this once per recorded frame) ---------------------------

    def _translate(self, sid: int, frame: bytes) -> bytes | None:
        if sid == self.recording.depth_stream:
            return self._depth(frame)
        if not self._subscribers[sid]:
            return None  # nobody listens: skip the encoding
        if sid == self._trade_sid:
            return self._trade(frame)
        if sid == self._ticker_sid:
            return self._ticker(frame)
        return None

    def _depth(self, frame: bytes) -> bytes | None:
        try:
            diff = _diff_decoder.decode(frame).data
        except (msgspec.DecodeError, msgspec.ValidationError):
            return None  # a malformed recorded diff is skipped, as by the Binance emulator
        book = self._book
        if not book.apply(diff):
            return None
        self._ts = diff.E or 0
        self._cts = diff.T or self._ts
        depth = self.depth
        old_bids, old_asks = self._top_bids, self._top_asks
        # only a change at or above the depth-th level can change the top
        if diff.b and (len(old_bids) < depth or _touches(diff.b, min(old_bids), True)):
            self._top_bids = _top(book.bids, depth, True)
        if diff.a and (len(old_asks) < depth or _touches(diff.a, max(old_asks), False)):
            self._top_asks = _top(book.asks, depth, False)
        if self._resnapshot:
            self._resnapshot = False
            self.update_id += 1
            return _encode(self.orderbook_message("snapshot"))
        bids = _changes(old_bids, self._top_bids, True) if self._top_bids is not old_bids else []
        asks = _changes(old_asks, self._top_asks, False) if self._top_asks is not old_asks else []
        if not bids and not asks:
            return None
        self.update_id += 1
        return _encode(self._book_message("delta", bids, asks))

    def _trade(self, frame: bytes) -> bytes | None:
        try:
            t = _trade_decoder.decode(frame).data
        except (msgspec.DecodeError, msgspec.ValidationError):
            return None
        if t.X != "MARKET":
            return None
        price = float(t.p)
        if price > self._last_price:
            self._last_tick = "PlusTick"
        elif price < self._last_price:
            self._last_tick = "MinusTick"
        elif self._last_tick in ("PlusTick", "MinusTick"):
            self._last_tick = "Zero" + self._last_tick
        self._last_price = price
        trade_id = str(uuid.UUID(int=(t.t & ((1 << 60) - 1)) << 68)) if self._linear else str(t.t)
        item: dict[str, Any] = {"T": t.T, "s": t.s, "S": "Sell" if t.m else "Buy", "v": t.q}
        item["p"] = t.p
        if self._linear:  # the tick direction is a derivatives field
            item["L"] = self._last_tick
        item["i"] = trade_id
        item["BT"] = False
        return _encode(
            {"topic": "publicTrade." + t.s, "type": "snapshot", "ts": t.E, "data": [item]}
        )

    def _ticker(self, frame: bytes) -> bytes | None:
        try:
            t = _ticker_decoder.decode(frame).data
        except (msgspec.DecodeError, msgspec.ValidationError):
            return None
        data = {
            "symbol": t.s,
            "bid1Price": t.b,
            "bid1Size": t.B,
            "ask1Price": t.a,
            "ask1Size": t.A,
        }
        return _encode(
            {"topic": "tickers." + t.s, "type": "delta", "data": data, "cs": t.u, "ts": t.E}
        )

    # -- WebSocket -----------------------------------------------------------------------------

    def _add_routes(self, app: web.Application) -> None:
        app.router.add_get(self.path, self._websocket)
        if self.trading is not None:
            self.trading.add_routes(app)

    async def stop(self) -> None:
        """Close the private streams and withheld answers, then what the replay server closes."""
        try:
            if self.trading is not None:
                await self.trading.close()
        finally:
            await super().stop()

    # -- trading hooks -------------------------------------------------------------------------

    def _book_of(self, symbol: str) -> DepthBook | None:
        return self._book if symbol == self.recording.symbol else None

    def _translate_and_match(self, sid: int, frame: bytes) -> bytes | None:
        """Translate the frame, then let resting orders fill against the replay."""
        out = BybitEmulator._translate(self, sid, frame)
        trading = self.trading
        symbol = self.recording.symbol
        if trading is None or not trading.engine.has_resting(symbol):
            return out
        if sid == self.recording.depth_stream:
            trading.engine.on_book(symbol)
        elif sid == self._trade_sid:
            try:
                trade = _trade_decoder.decode(frame).data
            except (msgspec.DecodeError, msgspec.ValidationError):
                return out
            if trade.X == "MARKET":
                trading.engine.on_trade(symbol, Decimal(trade.p), Decimal(trade.q))
        return out

    async def _websocket(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(compress=False, timeout=1.0, autoping=True)
        await ws.prepare(request)
        conn = self._open(ws)
        _log.info("emulator connection", extra={"fields": {"connection": conn.number}})
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT and not conn.closing:
                    try:
                        await self._on_request(conn, msg.data)
                    except ConnectionResetError:  # the client left before the answer
                        break
        finally:
            self._forget(conn)
        return ws

    async def _on_request(self, conn: _Connection, text: str) -> None:
        """Answer one client message (subscribe, unsubscribe, ping)."""
        self.stats.requests += 1
        conn_id = f"emulator-{conn.number}"
        try:
            req = _request_decoder.decode(text)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            reply = {"success": False, "ret_msg": f"error:invalid request: {exc}", "op": ""}
            reply["conn_id"] = conn_id
            await conn.ws.send_frame(_encode(reply), _TEXT)
            return
        op = req.op
        errors: list[str] = []
        snapshot = False
        names = list(conn.names)
        if op == "ping":
            ret_msg = "pong"
        elif op == "subscribe":
            ret_msg = "" if self._linear else "subscribe"
            for topic in req.args:
                if topic not in self.topics:
                    errors.append("error:handler not found,topic:" + topic)
                elif topic in names:
                    errors.append("error:already subscribed,topic:" + topic)
                else:
                    names.append(topic)
                    snapshot = snapshot or topic == self.orderbook_topic
        elif op == "unsubscribe":
            ret_msg = ""
            for topic in req.args:
                if topic in names:
                    names.remove(topic)
                else:
                    errors.append("error:not subscribed,topic:" + topic)
        else:
            ret_msg = ""
            errors.append(f"error:unknown op {op!r}")
        reply: dict[str, Any] = {
            "success": not errors,
            "ret_msg": ";".join(errors) if errors else ret_msg,
            "conn_id": conn_id,
        }
        if req.req_id is not None:
            reply["req_id"] = req.req_id
        elif self._linear:
            reply["req_id"] = ""
        reply["op"] = op
        await conn.ws.send_frame(_encode(reply), _TEXT)
        if names != conn.names:
            # Subscribe and send the snapshot with no await in between (aiohttp writes an
            # uncompressed frame before it awaits), so the next delta this connection gets
            # is the one after the snapshot's u.
            message = _encode(self.orderbook_message()) if snapshot else b""
            self._set_streams(conn, names, {self.topics[t] for t in names})
            if snapshot:
                await conn.ws.send_frame(message, _TEXT)


def _touches(levels: list[tuple[str, str]], worst: float, bids: bool) -> bool:
    """Whether any level is at or better than ``worst`` (the depth-th level of the top)."""
    if bids:
        return any(float(p) >= worst for p, _ in levels)
    return any(float(p) <= worst for p, _ in levels)
