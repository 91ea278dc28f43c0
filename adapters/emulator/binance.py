"""A local Binance exchange (spot, USD-M, COIN-M market data) replaying a recording.

WebSocket, ``GET /stream?streams=btcusdt@depth@100ms/btcusdt@trade/...``
    Binance's combined-stream endpoint: each recorded frame of the subscribed
    streams, unchanged (``{"stream": ..., "data": ...}`` as recorded). Streams
    may also be added or removed on the open connection with
    ``{"method": "SUBSCRIBE", "params": [...], "id": 1}`` (answered
    ``{"result": null, "id": 1}``), ``UNSUBSCRIBE`` and ``LIST_SUBSCRIPTIONS``.
    Names match case-insensitively on the symbol, and any depth update speed
    (``depth``, ``depth@100ms``, ``depth@0ms``) gets the recording's depth
    stream; a stream the recording does not have is accepted and stays silent.

REST, ``GET /api/v3/depth`` (spot), ``/fapi/v1/depth`` (USD-M), ``/dapi/v1/depth`` (COIN-M)
    ``?symbol=BTCUSDT&limit=1000``: the emulator's own book at the current
    replay position (the recording's snapshot plus every diff served so far,
    whatever faults the WebSocket stream had), with ``lastUpdateId`` = ``u``
    of the last diff served, and on futures ``E``/``T`` of that diff. An
    unknown symbol gets HTTP 400 ``{"code":-1121,"msg":"Invalid symbol."}``,
    as from Binance.

WebSocket, ``GET /ws/<streamName>`` and ``GET /ws``
    Binance's raw streams: the same recorded frames without the combined
    wrapper (only the ``data`` payload is sent); ``/ws`` starts with no stream
    and takes ``SUBSCRIBE`` messages. A name that is a live listen key is the
    account's private user data stream instead.

Trading (spot and USD-M; not COIN-M)
    The signed REST trading endpoints, the listen-key endpoints and the user
    data stream, matching against this emulator's replayed book: see
    :mod:`adapters.emulator.binance_trading`. Resting orders fill as the
    replay advances (a market-data client must be subscribed for it to move).

Examples
--------
>>> async def main() -> None:  # doctest: +SKIP
...     async with BinanceEmulator("data/binance_spot/btcusdt_20240808.gz", fast=True) as emu:
...         url = emu.ws_url + "/stream?streams=btcusdt@depth@100ms/btcusdt@trade"
...         ...  # connect a client to url, GET emu.rest_url + "/api/v3/depth?symbol=BTCUSDT"
...         await emu.wait_done()
"""

from __future__ import annotations

import logging
import os
from decimal import Decimal
from typing import Any

import msgspec
from aiohttp import WSMsgType, web

from adapters.emulator.binance_trading import BinanceTrading, BinanceTradingConfig, ExchangeInfo
from adapters.emulator.book import DepthBook
from adapters.emulator.faults import FaultConfig
from adapters.emulator.recording import EmulatorRecording, load_recording, stream_key
from adapters.emulator.server import EmulatorError, ReplayServer, _Connection

__all__ = ["VENUES", "BinanceEmulator", "BinanceVenue"]

_log = logging.getLogger("ats.adapters.emulator")


class BinanceVenue(msgspec.Struct, frozen=True, kw_only=True):
    """What differs between Binance's markets, as far as the emulator is concerned."""

    name: str
    depth_path: str
    #: ``limit`` when the request has none, and the largest one served.
    default_limit: int
    max_limit: int
    #: Futures snapshots carry ``E`` and ``T``.
    futures: bool


#: ``--venue`` → venue.
VENUES: dict[str, BinanceVenue] = {
    "binance": BinanceVenue(
        name="binance",
        depth_path="/api/v3/depth",
        default_limit=100,
        max_limit=5000,
        futures=False,
    ),
    "binance-usdm": BinanceVenue(
        name="binance-usdm",
        depth_path="/fapi/v1/depth",
        default_limit=500,
        max_limit=1000,
        futures=True,
    ),
    "binance-coinm": BinanceVenue(
        name="binance-coinm",
        depth_path="/dapi/v1/depth",
        default_limit=500,
        max_limit=1000,
        futures=True,
    ),
}

_INVALID_SYMBOL = {"code": -1121, "msg": "Invalid symbol."}
_MISSING_SYMBOL = {
    "code": -1102,
    "msg": "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.",
}
_BAD_LIMIT = {
    "code": -1100,
    "msg": "Illegal characters found in parameter 'limit'; legal range is '^[0-9]{1,20}$'.",
}


class _Request(msgspec.Struct):
    method: str
    params: list[str] = []
    id: int | str | None = None


_request_decoder = msgspec.json.Decoder(_Request)
_encode = msgspec.json.encode
_DATA_KEY = b',"data":'
_STREAM_PREFIX = b'{"stream":"'


class _TradeData(msgspec.Struct):
    p: str
    q: str


class _WrappedTrade(msgspec.Struct):
    data: _TradeData


_trade_decoder = msgspec.json.Decoder(_WrappedTrade)


class _RawStream:
    """Sends a connection's recorded frames as Binance's raw streams do: ``data`` unwrapped.

    Stands in for the aiohttp WebSocket in the replay's :class:`_Connection`; the
    replay only calls ``send_frame`` and ``close``. Answers to requests (which do
    not start with the combined wrapper) pass unchanged.
    """

    __slots__ = ("ws",)

    def __init__(self, ws: web.WebSocketResponse) -> None:
        self.ws = ws

    async def send_frame(self, frame: bytes, opcode: WSMsgType) -> None:
        if frame.startswith(_STREAM_PREFIX) and frame.endswith(b"}"):
            at = frame.find(_DATA_KEY, len(_STREAM_PREFIX))
            if at > 0:
                frame = frame[at + len(_DATA_KEY) : -1]
        await self.ws.send_frame(frame, opcode)

    async def close(self, *, code: int, message: bytes) -> bool:
        return await self.ws.close(code=code, message=message)


class BinanceEmulator(ReplayServer):
    """Binance's market-data WebSocket and depth REST endpoint on 127.0.0.1, from a recording.

    Parameters
    ----------
    recording :
        A recording path (read with :func:`~adapters.emulator.recording.load_recording`) or
        an already loaded :class:`~adapters.emulator.recording.EmulatorRecording`, which
        several emulators may share.
    venue :
        ``binance`` (spot), ``binance-usdm`` or ``binance-coinm``: the REST path and shape.
    faults, speed, fast, repeat, close_at_end, host, port :
        See :class:`~adapters.emulator.server.ReplayServer`.
    trading :
        The emulated trading account (spot and USD-M venues); default
        :class:`~adapters.emulator.binance_trading.BinanceTradingConfig()`.
    exchange_info :
        Markets to trade (already loaded, so tests can share one); default the
        venue's recorded exchange information.
    enable_trading :
        Serve the trading endpoints (default True; never on COIN-M).

    Examples
    --------
    >>> async def main() -> None:  # doctest: +SKIP
    ...     faults = FaultConfig(gap_at=10, seed=1)
    ...     async with BinanceEmulator(path, faults=faults, fast=True) as emu:
    ...         print(emu.ws_url, emu.rest_url)
    ...         await emu.wait_done()
    ...         print(emu.stats.gaps)
    """

    def __init__(
        self,
        recording: str | os.PathLike[str] | EmulatorRecording,
        *,
        venue: str = "binance",
        faults: FaultConfig | None = None,
        speed: float = 1.0,
        fast: bool = False,
        repeat: bool = False,
        close_at_end: bool = False,
        host: str = "127.0.0.1",
        port: int = 0,
        trading: BinanceTradingConfig | None = None,
        exchange_info: ExchangeInfo | None = None,
        enable_trading: bool = True,
    ) -> None:
        spec = VENUES.get(venue)
        if spec is None:
            raise EmulatorError(f"venue must be one of {', '.join(VENUES)}, was {venue!r}")
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
        self._stream_index = {stream_key(name): sid for sid, name in enumerate(recording.streams)}
        self._depth_indices = [
            i for i, sid in enumerate(recording.stream_ids) if sid == recording.depth_stream
        ]
        self._book = recording.initial_book.copy()
        self._book_next = 0  # next entry of _depth_indices to apply
        #: The trading side (``None`` on COIN-M or when disabled).
        self.trading: BinanceTrading | None = None
        if enable_trading and venue != "binance-coinm":
            self.trading = BinanceTrading(venue, trading, exchange_info, self._book_of)
            self._trade_streams = {
                sid for sid, name in enumerate(recording.streams) if name.endswith("@trade")
            }
            self._translate = self._observe

    # -- the book ------------------------------------------------------------------------------

    def _begin_pass(self) -> None:
        self._book = self.recording.initial_book.copy()
        self._book_next = 0

    @property
    def book(self) -> DepthBook:
        """The emulator's book at the current replay position."""
        indices = self._depth_indices
        position = self.position
        book = self._book
        j = self._book_next
        decode = self.recording.decode_diff
        while j < len(indices) and indices[j] < position:
            wrapped = decode(indices[j])
            if wrapped is not None:
                book.apply(wrapped.data)
            j += 1
        self._book_next = j
        return book

    def depth_snapshot(self, limit: int | None = None) -> dict[str, Any]:
        """The REST depth answer at the current position (the recorded snapshot's shape).

        ``limit`` defaults to the venue's default and is capped at its maximum.
        """
        spec = self.venue
        limit = spec.default_limit if limit is None else max(1, min(limit, spec.max_limit))
        book = self.book
        bids, asks = book.levels(limit)
        extra = self.recording.snapshot_extra
        body: dict[str, Any] = {}
        for key in self.recording.snapshot_keys:
            if key == "lastUpdateId":
                body[key] = book.last_update_id
            elif key == "bids":
                body[key] = bids
            elif key == "asks":
                body[key] = asks
            elif key in ("E", "T"):
                if spec.futures:
                    body[key] = book.event_time if key == "E" else book.transaction_time
            else:
                body[key] = extra[key]
        if spec.futures:  # a futures answer always has them, whatever the recording holds
            body.setdefault("E", book.event_time or 0)
            body.setdefault("T", book.transaction_time or 0)
        body.setdefault("bids", bids)
        body.setdefault("asks", asks)
        return body

    # -- HTTP ----------------------------------------------------------------------------------

    def _add_routes(self, app: web.Application) -> None:
        app.router.add_get("/stream", self._websocket)
        app.router.add_get("/ws", self._raw_websocket)
        app.router.add_get("/ws/{name}", self._raw_websocket)
        app.router.add_get(self.venue.depth_path, self._depth)
        if self.trading is not None:
            self.trading.add_routes(app)

    async def start(self) -> None:
        """Listen, start the replay task and the trading side's listen-key watchdog."""
        await super().start()
        if self.trading is not None:
            await self.trading.start()

    async def stop(self) -> None:
        """Close the user data streams and withheld answers, then what the replay server closes."""
        try:
            if self.trading is not None:
                await self.trading.close()
        finally:
            await super().stop()

    # -- trading hooks -------------------------------------------------------------------------

    def _book_of(self, symbol: str) -> DepthBook | None:
        return self.book if symbol == self.recording.symbol else None

    def _observe(self, sid: int, frame: bytes) -> bytes | None:
        """The replay passed a frame: let resting orders fill against it (frame unchanged)."""
        trading = self.trading
        if trading is None or not trading.engine.has_resting(self.recording.symbol):
            return frame
        if sid == self.recording.depth_stream:
            trading.engine.on_book(self.recording.symbol)
        elif sid in self._trade_streams:
            try:
                trade = _trade_decoder.decode(frame).data
            except (msgspec.DecodeError, msgspec.ValidationError):
                return frame
            trading.engine.on_trade(self.recording.symbol, Decimal(trade.p), Decimal(trade.q))
        return frame

    def _error(self, body: dict[str, Any]) -> web.Response:
        self.stats.rest_errors += 1
        return web.Response(status=400, body=_encode(body), content_type="application/json")

    async def _depth(self, request: web.Request) -> web.Response:
        query = request.query
        symbol = query.get("symbol", "")
        if not symbol:
            return self._error(_MISSING_SYMBOL)
        if symbol.upper() != self.recording.symbol:
            return self._error(_INVALID_SYMBOL)
        limit_text = query.get("limit")
        limit: int | None = None
        if limit_text is not None:
            if not limit_text.isdigit():
                return self._error(_BAD_LIMIT)
            limit = int(limit_text)
        self.stats.snapshots += 1
        return web.Response(
            body=_encode(self.depth_snapshot(limit)), content_type="application/json"
        )

    # -- WebSocket -----------------------------------------------------------------------------

    def _resolve(self, names: list[str]) -> set[int]:
        index = self._stream_index
        found = {index[key] for key in map(stream_key, names) if key in index}
        return found

    async def _websocket(self, request: web.Request) -> web.StreamResponse:
        streams = request.query.get("streams", "")
        names = [n for n in streams.split("/") if n]
        ws = web.WebSocketResponse(compress=False, timeout=1.0, autoping=True)
        await ws.prepare(request)
        conn = self._open(ws)
        if names:
            self._set_streams(conn, names, self._resolve(names))
        _log.info(
            "emulator connection",
            extra={"fields": {"connection": conn.number, "streams": names}},
        )
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

    async def _raw_websocket(self, request: web.Request) -> web.StreamResponse:
        """``/ws/<name>``: the user data stream when ``name`` is a live listen key, else raw."""
        name = request.match_info.get("name", "")
        if name and self.trading is not None and self.trading.is_listen_key(name):
            return await self.trading.user_stream(request, name)
        ws = web.WebSocketResponse(compress=False, timeout=1.0, autoping=True)
        await ws.prepare(request)
        conn = self._open(_RawStream(ws))  # type: ignore[arg-type]
        names = [name] if name else []
        if names:
            self._set_streams(conn, names, self._resolve(names))
        _log.info(
            "emulator raw connection",
            extra={"fields": {"connection": conn.number, "streams": names}},
        )
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT and not conn.closing:
                    try:
                        await self._on_request(conn, msg.data)
                    except ConnectionResetError:
                        break
        finally:
            self._forget(conn)
        return ws

    async def _on_request(self, conn: _Connection, text: str) -> None:
        """Answer one client message (Binance's live subscribing)."""
        self.stats.requests += 1
        try:
            req = _request_decoder.decode(text)
        except msgspec.DecodeError as exc:
            reply: dict[str, Any] = {"error": {"code": 3, "msg": f"Invalid JSON: {exc}"}}
            await conn.ws.send_frame(_encode(reply), WSMsgType.TEXT)
            return
        except msgspec.ValidationError as exc:
            reply = {"error": {"code": 2, "msg": f"Invalid request: {exc}"}, "id": None}
            await conn.ws.send_frame(_encode(reply), WSMsgType.TEXT)
            return
        method = req.method.upper()
        result: Any = None
        if method == "SUBSCRIBE":
            names = conn.names + [n for n in req.params if n not in conn.names]
            self._set_streams(conn, names, self._resolve(names))
        elif method == "UNSUBSCRIBE":
            gone = {stream_key(n) for n in req.params}
            names = [n for n in conn.names if stream_key(n) not in gone]
            self._set_streams(conn, names, self._resolve(names))
        elif method == "LIST_SUBSCRIPTIONS":
            result = list(conn.names)
        else:
            reply = {"error": {"code": 2, "msg": f"Invalid request: unknown method {method}"}}
            reply["id"] = req.id
            await conn.ws.send_frame(_encode(reply), WSMsgType.TEXT)
            return
        await conn.ws.send_frame(_encode({"result": result, "id": req.id}), WSMsgType.TEXT)
