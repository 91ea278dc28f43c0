"""Bybit v5's signed REST trading API and private WebSocket, served by the emulator.

:class:`BybitTrading` is the trading half of
:class:`adapters.emulator.bybit.BybitEmulator`: one emulated unified account
(UTA) trading one category (``spot`` or ``linear``), a
:class:`~adapters.emulator.matching.MatchingEngine` matching against the
emulator's replayed book, and the endpoints ccxt's ``bybit`` client calls
(ccxt 4.5.90, with the unified-account options of :mod:`adapters.bybit.broker`):

=====================================  ==============================================
public                                 ``GET /v5/market/time``, ``instruments-info``
                                       (both categories; ``status=PreLaunch`` → none)
signed                                 ``GET /v5/account/wallet-balance``
                                       ``POST /v5/order/create``, ``cancel``, ``cancel-all``
                                       ``GET /v5/order/realtime``, ``history``
                                       ``GET /v5/execution/list``, ``/v5/position/list``
private stream                         ``GET /v5/private``: ``auth``, ``subscribe``
                                       (``order``, ``execution``, ``position``,
                                       ``wallet``), ``ping``
=====================================  ==============================================

Security, as Bybit documents it
    Headers ``X-BAPI-API-KEY``, ``X-BAPI-TIMESTAMP`` (ms), ``X-BAPI-RECV-WINDOW``
    (default 5000) and ``X-BAPI-SIGN``: the hex HMAC-SHA256, keyed with the
    secret, of ``timestamp + apiKey + recvWindow + payload``, the payload being
    the query string (GET) or the JSON body (POST). The timestamp must satisfy
    ``server_time - recv_window <= timestamp < server_time + 1000``. Refusals
    (HTTP 200, Bybit's ``retCode``/``retMsg``): ``10001`` headers missing,
    ``10003 API key is invalid.``, ``10002`` timestamp outside the window,
    ``10004 error sign! origin_string[...]`` (the live venue echoes the signed
    string, API key included, so a client must redact its error texts). The
    private stream's ``auth`` is ``[apiKey, expires, hex HMAC(secret,
    "GET/realtime" + expires)]`` with ``expires`` in the future.

Errors
    Spot (UTA spot codes): ``170131`` insufficient balance, ``170141`` duplicate
    ``orderLinkId``, ``170213`` order does not exist, ``170136``/``170135``
    quantity below the minimum / above the maximum, ``170137``/``170134`` too
    many decimals (quantity off the step, price off the tick), ``170140`` order
    value below ``minOrderAmt``. Linear: ``110007`` insufficient available
    balance, ``110072 OrderLinkedID is duplicate``, ``110001 Order does not
    exist``, ``110094`` below ``minNotionalValue``, ``110017`` reduce-only,
    ``110003`` price out of range, ``10001`` other parameter errors. An
    ``orderLinkId`` is unique: a second order with one already used is refused,
    whatever became of the first. Order states are Bybit's: ``New``,
    ``PartiallyFilled``, ``Filled``, ``Cancelled`` (``cancelType``
    ``CancelByUser`` for a cancel; the unfilled rest of an IOC/FOK/market order,
    ``rejectReason`` ``EC_CancelForNoFullFill``; a post-only order that would
    take, ``EC_PostOnlyWillTakeLiquidity``) and, on spot, ``PartiallyFilledCanceled``.

Limits of the emulation
    One category per account (a real UTA holds both); spot market orders in
    ``baseCoin`` units only (a ``quoteCoin`` market buy is refused with
    ``10001``); no conditional, TP/SL or margin orders; fees as configured.

Faults (:class:`BybitTradingFault`, deterministic: each counts the requests it matches)
    ``timeout`` (the request takes effect, the answer is withheld ``delay_s``),
    ``rate_limit`` (``retCode`` 10006 ``Too many visits!`` with
    ``X-Bapi-Limit-Reset-Timestamp``), ``403`` (the IP limit, ``access too
    frequent``), ``5xx`` (a gateway error page, optionally after the request
    took effect) and ``reject`` (any ``retCode``). :meth:`BybitTrading.drop_private_streams`
    closes the private streams, ``block_private_streams`` refuses new ones and
    ``answer_pings = False`` leaves pings unanswered.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import hashlib
import hmac
import json
import logging
import re
import time
import uuid
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote

import msgspec
from aiohttp import WSCloseCode, WSMsgType, web

from adapters.emulator.book import DepthBook
from adapters.emulator.matching import (
    AccountChanged,
    ExecutionEvent,
    Fill,
    MarketKind,
    MarketSpec,
    MatchingEngine,
    OrderRejectedError,
    OrderRequest,
    RejectReason,
    SimOrder,
    UnknownOrderError,
)

__all__ = [
    "DEFAULT_INSTRUMENTS",
    "BybitTrading",
    "BybitTradingConfig",
    "BybitTradingFault",
    "BybitTradingStats",
    "InstrumentsInfo",
]

_log = logging.getLogger("ats.adapters.emulator")

#: Recorded instruments (ccxt's static markets file, see data/SOURCES.md).
DEFAULT_INSTRUMENTS = (
    Path(__file__).resolve().parents[2] / "data" / "ccxt" / "bybit_instruments_info.json"
)
_DECIMAL_RE = re.compile(r"^[0-9]{1,20}(\.[0-9]{1,20})?$")
_LINK_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,36}$")
_ZERO = Decimal(0)
_encode = msgspec.json.encode
#: Closed orders ``/v5/order/realtime`` still answers for (Bybit: the recent 500).
_RECENT_CLOSED = 500
_SPOT_ORDER_ID_START = 1_600_000_000_000_000_000
_SPOT_EXEC_ID_START = 2_100_000_000_000_000_000


class _ApiError(Exception):
    def __init__(self, code: int, msg: str) -> None:
        super().__init__(msg)
        self.code = code
        self.msg = msg


class BybitTradingFault(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One fault on the trading endpoints; it acts on the matching requests ``at``...

    Keys
    ----
    action : str
        ``timeout``, ``rate_limit``, ``403``, ``5xx`` or ``reject``.
    path : str
        Endpoint after ``/v5/`` (default ``order/create``); ``""`` matches every one.
    at : int
        The first matching request acted on, 1-based (default 1).
    times : int
        Consecutive matching requests acted on (default 1; 0: every one from ``at``).
    delay_s : float
        ``timeout``: how long the answer is withheld (default 2.0).
    reset_ms : int
        ``rate_limit``: ``X-Bapi-Limit-Reset-Timestamp`` is now plus this (default 1000).
    status : int
        ``5xx``: the HTTP status (default 502).
    applied : bool
        ``5xx``: the request takes effect before the error (default False).
    code, message :
        ``reject``: the ``retCode``/``retMsg`` (default ``10016``, ``Server error.``).
    """

    action: str
    path: str = "order/create"
    at: int = 1
    times: int = 1
    delay_s: float = 2.0
    reset_ms: int = 1000
    status: int = 502
    applied: bool = False
    code: int = 10016
    message: str = "Server error."

    def __post_init__(self) -> None:
        if self.action not in ("timeout", "rate_limit", "403", "5xx", "reject"):
            raise ValueError(
                f"action must be timeout, rate_limit, 403, 5xx or reject, was {self.action!r}"
            )
        if self.at < 1 or self.times < 0:
            raise ValueError(f"at must be >= 1 and times >= 0, were {self.at} and {self.times}")
        if not 500 <= self.status <= 599:
            raise ValueError(f"status must be a 5xx status, was {self.status}")


def _no_balances() -> dict[str, str]:
    return {}


class BybitTradingConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The emulated account and its venue.

    Keys
    ----
    api_key, secret_key : str
        The credentials requests must carry (emulator-only values).
    balances : dict[str, str]
        Starting balances; default spot ``{"USDT": "100000", "BTC": "1"}``, linear
        ``{"USDT": "100000"}`` (wallet balance).
    maker_fee, taker_fee : str
        Commission rates; default ``""``: spot 0.001/0.001, linear 0.0002/0.00055.
    leverage : int
        Linear leverage (default 10).
    symbols : tuple[str, ...]
        Trade only these instruments (default: all recorded ones of the category).
    clock_offset_ms : int
        The venue's clock runs this far ahead of the local clock (default 0).
    faults : tuple[BybitTradingFault, ...]
        Faults active from the start (more can be injected later).
    duplicate_private_events : bool
        Send every private-stream message twice (default False).
    """

    api_key: str = "emulator-api-key"
    secret_key: str = "emulator-secret-key"
    balances: dict[str, str] = msgspec.field(default_factory=_no_balances)
    maker_fee: str = ""
    taker_fee: str = ""
    leverage: int = 10
    symbols: tuple[str, ...] = ()
    clock_offset_ms: int = 0
    faults: tuple[BybitTradingFault, ...] = ()
    duplicate_private_events: bool = False


class BybitTradingStats(msgspec.Struct, kw_only=True):
    """Counters of the trading endpoints and the private stream."""

    requests: int = 0
    orders_placed: int = 0
    orders_rejected: int = 0
    cancels: int = 0
    auth_failures: int = 0
    faults: int = 0
    private_connections: int = 0
    private_messages: int = 0


def _dec(text: str) -> Decimal:
    return Decimal(text) if text else _ZERO


def _decimals(value: Decimal) -> int:
    exponent = value.normalize().as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


class InstrumentsInfo:
    """Recorded ``/v5/market/instruments-info`` bodies per category and the markets in them."""

    def __init__(self, bodies: dict[str, dict[str, Any]]) -> None:
        self.bodies = bodies

    @classmethod
    def load(cls, path: str | Path = DEFAULT_INSTRUMENTS) -> InstrumentsInfo:
        """Read ``{"spot": body, "linear": body}`` (the file in ``data/ccxt``)."""
        raw = json.loads(Path(path).read_text())
        return cls({k: v for k, v in raw.items() if k in ("spot", "linear")})

    def entries(self, category: str) -> list[dict[str, Any]]:
        """The instrument entries of ``category`` (none for a category not recorded)."""
        body = self.bodies.get(category) or {}
        return list((body.get("result") or {}).get("list") or [])

    def markets(self, category: str, symbols: tuple[str, ...] = ()) -> dict[str, MarketSpec]:
        """The category's markets (of ``symbols`` only, when given) as engine specs."""
        out: dict[str, MarketSpec] = {}
        for entry in self.entries(category):
            if symbols and entry["symbol"] not in symbols:
                continue
            lot, price = entry.get("lotSizeFilter") or {}, entry.get("priceFilter") or {}
            tick = _dec(price.get("tickSize", ""))
            if category == "spot":
                step, notional = _dec(lot.get("basePrecision", "")), lot.get("minOrderAmt", "")
                market: dict[str, Decimal] = {}
            else:
                step, notional = _dec(lot.get("qtyStep", "")), lot.get("minNotionalValue", "")
                market = {
                    "market_step_size": step,
                    "market_min_qty": _dec(lot.get("minOrderQty", "")),
                    "market_max_qty": _dec(lot.get("maxMktOrderQty", "")),
                }
            out[entry["symbol"]] = MarketSpec(
                symbol=entry["symbol"],
                base=entry["baseCoin"],
                quote=entry["quoteCoin"],
                kind=MarketKind.SPOT if category == "spot" else MarketKind.LINEAR,
                tick_size=tick,
                step_size=step,
                min_price=_dec(price.get("minPrice", "")),
                max_price=_dec(price.get("maxPrice", "")),
                min_qty=_dec(lot.get("minOrderQty", "")),
                max_qty=_dec(lot.get("maxOrderQty", "")),
                min_notional=_dec(notional),
                price_decimals=_decimals(tick),
                quantity_decimals=_decimals(step),
                trading=entry.get("status") == "Trading",
                **market,
            )
        return out


class _Fired:
    __slots__ = ("fault", "seen")

    def __init__(self, fault: BybitTradingFault) -> None:
        self.fault = fault
        self.seen = 0

    def matches(self, path: str) -> bool:
        f = self.fault
        if f.path and f.path != path:
            return False
        self.seen += 1
        return self.seen >= f.at and (f.times == 0 or self.seen < f.at + f.times)


class _PrivateSocket:
    __slots__ = ("authed", "conn_id", "queue", "task", "topics", "ws")

    def __init__(self, ws: web.WebSocketResponse, conn_id: str) -> None:
        self.ws = ws
        self.conn_id = conn_id
        self.authed = False
        self.topics: set[str] = set()
        self.queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.task: asyncio.Task[None] | None = None


Handler = Callable[[dict[str, Any]], Any]
_PRIVATE_TOPICS = ("order", "execution", "position", "wallet")


class BybitTrading:
    """One emulated Bybit unified account trading ``category``; see the module docstring.

    Parameters
    ----------
    category :
        ``spot`` or ``linear``.
    config :
        The account, credentials and faults.
    instruments :
        The recorded instruments (loaded once, so emulators can share them); ``None``
        loads :data:`DEFAULT_INSTRUMENTS`.
    book_of :
        The emulator's replayed book of a venue symbol (``None`` for symbols not replayed).
    """

    def __init__(
        self,
        category: str,
        config: BybitTradingConfig | None = None,
        instruments: InstrumentsInfo | None = None,
        book_of: Callable[[str], DepthBook | None] | None = None,
    ) -> None:
        if category not in ("spot", "linear"):
            raise ValueError(f"category must be spot or linear, was {category!r}")
        self.category = category
        self.spot = category == "spot"
        self.config = config = config if config is not None else BybitTradingConfig()
        self.instruments = instruments if instruments is not None else InstrumentsInfo.load()
        self.markets = self.instruments.markets(category, config.symbols)
        self.stats = BybitTradingStats()
        balances = config.balances or (
            {"USDT": "100000", "BTC": "1"} if self.spot else {"USDT": "100000"}
        )
        maker = config.maker_fee or ("0.001" if self.spot else "0.0002")
        taker = config.taker_fee or ("0.001" if self.spot else "0.00055")
        self.engine = MatchingEngine(
            self.markets,
            kind=MarketKind.SPOT if self.spot else MarketKind.LINEAR,
            balances={a: Decimal(v) for a, v in balances.items()},
            maker_fee=Decimal(maker),
            taker_fee=Decimal(taker),
            leverage=config.leverage,
            book_of=book_of,
            on_event=self._on_event,
            clock_ms=self.now_ms,
            post_only_rejects=False,
            fok_rejects=False,
            order_id_start=_SPOT_ORDER_ID_START if self.spot else 1,
            trade_id_start=_SPOT_EXEC_ID_START if self.spot else 1,
        )
        self._faults = [_Fired(f) for f in config.faults]
        #: Orders placed without an ``orderLinkId`` (the engine names them ``emu-<id>``).
        self._unlinked: set[int] = set()
        self._order_ids: dict[str, int] = {}
        self._cancelled_by_user: set[int] = set()
        self._seq = 0
        self._sockets: list[_PrivateSocket] = []
        self._conn_count = 0
        #: While True, new private-stream connections are refused (HTTP 503).
        self.block_private_streams = False
        #: While False, private-stream pings go unanswered (a silent venue).
        self.answer_pings = True
        self._closing = asyncio.Event()
        #: The last requests' ``(method, path, params)`` (query or JSON body), newest last.
        self.received: collections.deque[tuple[str, str, dict[str, Any]]] = collections.deque(
            maxlen=1000
        )

    # -- lifecycle and controls ----------------------------------------------------------------

    def now_ms(self) -> int:
        """The venue's clock in ms (the wall clock plus ``clock_offset_ms``)."""
        return time.time_ns() // 1_000_000 + self.config.clock_offset_ms

    async def close(self) -> None:
        """Release withheld answers and close every private stream."""
        self._closing.set()
        await self.drop_private_streams(WSCloseCode.GOING_AWAY)

    def inject(self, fault: BybitTradingFault) -> None:
        """Add a fault from now on (its request count starts at 0)."""
        self._faults.append(_Fired(fault))

    def clear_faults(self) -> None:
        """Remove every fault."""
        self._faults.clear()

    async def drop_private_streams(self, code: int = WSCloseCode.GOING_AWAY) -> int:
        """Close every private-stream connection; return how many."""
        sockets, self._sockets = self._sockets, []
        for sock in sockets:
            sock.queue.put_nowait(None)
            with contextlib.suppress(OSError, TimeoutError, RuntimeError):
                await asyncio.wait_for(sock.ws.close(code=code), 1.0)
        return len(sockets)

    def order_id(self, order: SimOrder) -> str:
        """Bybit's ``orderId`` of ``order``: digits on spot, a UUID on linear."""
        if self.spot:
            return str(order.order_id)
        return str(uuid.UUID(bytes=hashlib.md5(b"order-%d" % order.order_id).digest(), version=4))

    def exec_id(self, fill: Fill) -> str:
        """Bybit's ``execId`` of ``fill``: digits on spot, a UUID on linear."""
        if self.spot:
            return str(fill.trade_id)
        return str(uuid.UUID(bytes=hashlib.md5(b"exec-%d" % fill.trade_id).digest(), version=4))

    def link_id(self, order: SimOrder) -> str:
        """The order's ``orderLinkId`` (``""`` when it was placed without one)."""
        return "" if order.order_id in self._unlinked else order.client_order_id

    # -- routes --------------------------------------------------------------------------------

    def add_routes(self, app: web.Application) -> None:
        """Register the REST endpoints and the private stream on ``app``."""
        public: list[tuple[str, str, Handler]] = [
            ("GET", "market/time", self._time),
            ("GET", "market/instruments-info", self._instruments),
        ]
        private: list[tuple[str, str, Handler]] = [
            ("GET", "account/wallet-balance", self._wallet_balance),
            ("POST", "order/create", self._create),
            ("POST", "order/cancel", self._cancel),
            ("POST", "order/cancel-all", self._cancel_all),
            ("GET", "order/realtime", self._realtime),
            ("GET", "order/history", self._history),
            ("GET", "execution/list", self._executions),
            ("GET", "position/list", self._positions),
        ]
        for method, path, handler in public:
            app.router.add_route(method, "/v5/" + path, self._endpoint(path, False, handler))
        for method, path, handler in private:
            app.router.add_route(method, "/v5/" + path, self._endpoint(path, True, handler))
        app.router.add_get("/v5/private", self.private_stream)

    def _endpoint(self, path: str, signed: bool, handler: Handler) -> Any:
        async def serve(request: web.Request) -> web.StreamResponse:
            return await self._serve(request, path, signed, handler)

        return serve

    def _reply(
        self, result: Any, code: int = 0, msg: str = "OK", headers: dict[str, str] | None = None
    ) -> web.Response:
        body = {"retCode": code, "retMsg": msg, "result": result, "retExtInfo": {}}
        body["time"] = self.now_ms()
        return web.Response(body=_encode(body), content_type="application/json", headers=headers)

    async def _serve(
        self, request: web.Request, path: str, signed: bool, handler: Handler
    ) -> web.StreamResponse:
        self.stats.requests += 1
        raw_query = request.rel_url.raw_query_string
        raw_body = await request.text() if request.can_read_body else ""
        params: dict[str, Any] = dict(parse_qsl(raw_query, keep_blank_values=True))
        body_error = ""
        if request.method == "POST":
            try:
                decoded = json.loads(raw_body or "{}")
            except ValueError:
                decoded, body_error = {}, "request body is not valid JSON"
            if not isinstance(decoded, dict):
                decoded, body_error = {}, "request body must be a JSON object"
            params = decoded
        self.received.append((request.method, path, dict(params)))
        fault = self._fault(path) if signed else None
        if fault is not None and fault.action != "timeout" and not fault.applied:
            return self._fault_response(fault)
        try:
            if body_error:
                raise _ApiError(10001, body_error)
            if signed:
                self._check_signed(request, raw_body if request.method == "POST" else raw_query)
            result = handler(params)
        except _ApiError as exc:
            if exc.code in (10002, 10003, 10004):
                self.stats.auth_failures += 1
            return self._reply({}, exc.code, exc.msg)
        if fault is not None:
            if fault.action == "timeout":
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._closing.wait(), fault.delay_s)
            else:
                return self._fault_response(fault)
        now = str(self.now_ms())
        limits = {"X-Bapi-Limit": "20", "X-Bapi-Limit-Status": "19"}
        limits["X-Bapi-Limit-Reset-Timestamp"] = now
        return self._reply(result, headers=limits if signed else None)

    def _fault(self, path: str) -> BybitTradingFault | None:
        found = None
        for fired in self._faults:
            if fired.matches(path) and found is None:
                found = fired.fault
        if found is not None:
            self.stats.faults += 1
            _log.info(
                "emulator trading fault",
                extra={"fields": {"action": found.action, "endpoint": path}},
            )
        return found

    def _fault_response(self, fault: BybitTradingFault) -> web.Response:
        if fault.action == "reject":
            return self._reply({}, fault.code, fault.message)
        if fault.action == "rate_limit":
            headers = {"X-Bapi-Limit": "10", "X-Bapi-Limit-Status": "0"}
            headers["X-Bapi-Limit-Reset-Timestamp"] = str(self.now_ms() + fault.reset_ms)
            return self._reply({}, 10006, "Too many visits!", headers)
        if fault.action == "403":
            return web.Response(status=403, text="access too frequent")
        return web.Response(
            status=fault.status,
            text=f"<html><body><h1>{fault.status} Bad Gateway</h1></body></html>",
            content_type="text/html",
        )

    # -- security ------------------------------------------------------------------------------

    def _check_signed(self, request: web.Request, payload: str) -> None:
        headers = request.headers
        key = headers.get("X-BAPI-API-KEY", "")
        stamp = headers.get("X-BAPI-TIMESTAMP", "")
        sign = headers.get("X-BAPI-SIGN", "")
        window_text = headers.get("X-BAPI-RECV-WINDOW", "5000")
        if not key or not stamp or not sign:
            raise _ApiError(
                10001,
                f"empty value: apiTimestamp[{stamp}] apiKey[{key}] apiSignature[{sign}]: "
                "openapi sign params error!",
            )
        if not hmac.compare_digest(key.encode(), self.config.api_key.encode()):
            raise _ApiError(10003, "API key is invalid.")
        if not stamp.isdigit() or not window_text.isdigit():
            raise _ApiError(10001, "params error: X-BAPI-TIMESTAMP and X-BAPI-RECV-WINDOW")
        timestamp, window, now = int(stamp), int(window_text), self.now_ms()
        if not now - window <= timestamp < now + 1000:
            raise _ApiError(
                10002,
                "invalid request, please check your server timestamp or recv_window param. "
                f"req_timestamp[{timestamp}],server_timestamp[{now}],recv_window[{window}]",
            )
        origin = stamp + key + window_text
        secret = self.config.secret_key.encode()
        for candidate in (payload, unquote(payload)):
            expected = hmac.new(secret, (origin + candidate).encode(), hashlib.sha256).hexdigest()
            if hmac.compare_digest(expected, sign.lower()):
                return
        raise _ApiError(10004, f"error sign! origin_string[{origin}{payload}]")

    # -- parameters ----------------------------------------------------------------------------

    def _category(self, params: dict[str, Any]) -> None:
        category = str(params.get("category", ""))
        if not category:
            raise _ApiError(10001, "params error: category is empty")
        if category != self.category:
            raise _ApiError(
                10001, f"params error: the emulated account trades {self.category} only"
            )

    def _symbol(self, params: dict[str, Any], *, required: bool = True) -> str:
        symbol = str(params.get("symbol") or "")
        if not symbol:
            if required:
                raise _ApiError(10001, "params error: symbol is empty")
            return ""
        if symbol not in self.markets:
            raise _ApiError(10001, f"params error: symbol invalid {symbol}")
        return symbol

    @staticmethod
    def _decimal(params: dict[str, Any], name: str) -> Decimal:
        text = str(params.get(name) or "")
        if not _DECIMAL_RE.match(text):
            raise _ApiError(10001, f"params error: {name} invalid: {text!r}")
        try:
            return Decimal(text)
        except InvalidOperation:  # pragma: no cover - the pattern admits only decimals
            raise _ApiError(10001, f"params error: {name} invalid") from None

    @staticmethod
    def _int(params: dict[str, Any], name: str, default: int) -> int:
        text = str(params.get(name) or "")
        if not text:
            return default
        if not text.isdigit():
            raise _ApiError(10001, f"params error: {name} invalid")
        return int(text)

    def _not_found(self) -> _ApiError:
        if self.spot:
            return _ApiError(170213, "Order does not exist.")
        return _ApiError(110001, "Order does not exist")

    # -- endpoints -----------------------------------------------------------------------------

    def _time(self, params: dict[str, Any]) -> Any:
        now_ns = time.time_ns() + self.config.clock_offset_ms * 1_000_000
        return {"timeSecond": str(now_ns // 1_000_000_000), "timeNano": str(now_ns)}

    def _instruments(self, params: dict[str, Any]) -> Any:
        category = str(params.get("category", ""))
        if category not in self.instruments.bodies:
            raise _ApiError(10001, f"params error: category {category!r} not served")
        entries = self.instruments.entries(category)
        symbol = params.get("symbol")
        status = params.get("status") or "Trading"
        entries = [
            e
            for e in entries
            if (not symbol or e["symbol"] == symbol) and e.get("status") == status
        ]
        result: dict[str, Any] = {"category": category, "list": entries}
        if category != "spot":
            result["nextPageCursor"] = ""
        return result

    def _create(self, params: dict[str, Any]) -> Any:
        self._category(params)
        request = self._order_request(params)
        try:
            existing = self.engine.find(request.symbol, client_order_id=request.client_order_id)
        except UnknownOrderError:
            existing = None
        if request.client_order_id and existing is not None:
            self.stats.orders_rejected += 1
            if self.spot:
                raise _ApiError(170141, "Duplicate clientOrderId.")
            raise _ApiError(110072, "OrderLinkedID is duplicate")
        try:
            order = self.engine.place(request)
        except OrderRejectedError as exc:
            self.stats.orders_rejected += 1
            raise self._reject_error(request, exc) from None
        if not request.client_order_id:
            self._unlinked.add(order.order_id)
        self._order_ids[self.order_id(order)] = order.order_id
        self.stats.orders_placed += 1
        return {"orderId": self.order_id(order), "orderLinkId": self.link_id(order)}

    def _order_request(self, params: dict[str, Any]) -> OrderRequest:
        symbol = self._symbol(params)
        side = str(params.get("side", ""))
        if side not in ("Buy", "Sell"):
            raise _ApiError(10001, f"params error: side invalid: {side!r}")
        order_type = str(params.get("orderType", ""))
        if order_type not in ("Limit", "Market"):
            raise _ApiError(10001, f"params error: orderType invalid: {order_type!r}")
        link_id = str(params.get("orderLinkId") or "")
        if link_id and not _LINK_ID_RE.match(link_id):
            raise _ApiError(10001, "params error: orderLinkId invalid")
        quantity = self._decimal(params, "qty")
        tif = str(params.get("timeInForce") or ("GTC" if order_type == "Limit" else "IOC"))
        if tif not in ("GTC", "IOC", "FOK", "PostOnly"):
            raise _ApiError(10001, f"params error: timeInForce invalid: {tif!r}")
        reduce_only = params.get("reduceOnly") in (True, "true", "True")
        if reduce_only and self.spot:
            raise _ApiError(10001, "params error: reduceOnly is not supported on spot")
        if order_type == "Market":
            unit = str(params.get("marketUnit") or ("quoteCoin" if side == "Buy" else "baseCoin"))
            if self.spot and unit != "baseCoin":
                raise _ApiError(10001, "params error: the emulator takes marketUnit=baseCoin only")
            price, tif = _ZERO, "IOC"
        else:
            price = self._decimal(params, "price")
        return OrderRequest(
            symbol=symbol,
            side=side.upper(),
            order_type=order_type.upper(),
            quantity=quantity,
            price=price,
            time_in_force="GTC" if tif == "PostOnly" else tif,
            post_only=tif == "PostOnly",
            reduce_only=reduce_only,
            client_order_id=link_id,
        )

    def _reject_error(self, request: OrderRequest, exc: OrderRejectedError) -> _ApiError:
        reason, spec, spot = exc.reason, self.markets.get(request.symbol), self.spot
        if reason is RejectReason.UNKNOWN_SYMBOL or spec is None:
            return _ApiError(10001, f"params error: symbol invalid {request.symbol}")
        qty = request.quantity
        if reason in (RejectReason.LOT_SIZE, RejectReason.MARKET_LOT_SIZE):
            market = reason is RejectReason.MARKET_LOT_SIZE
            high = spec.market_max_qty if market else spec.max_qty
            if qty < spec.min_qty or qty <= 0:
                if spot:
                    return _ApiError(170136, "Order quantity lower than the minimum.")
                return _ApiError(10001, "The number of contracts exceeds minimum limit allowed")
            if high > 0 and qty > high:
                if spot:
                    return _ApiError(170135, "Order quantity exceeded upper limit.")
                return _ApiError(10001, "The number of contracts exceeds maximum limit allowed")
            return (
                _ApiError(170137, "Order quantity has too many decimals.")
                if spot
                else (_ApiError(10001, "Qty invalid"))
            )
        if reason is RejectReason.QUANTITY_PRECISION:
            if spot:
                return _ApiError(170137, "Order quantity has too many decimals.")
            return _ApiError(10001, "Qty invalid")
        if reason in (RejectReason.PRICE_FILTER, RejectReason.PRICE_PRECISION):
            price = request.price
            out_of_range = (
                price <= 0
                or price < spec.min_price
                or (spec.max_price > 0 and price > spec.max_price)
            )
            if spot:
                return _ApiError(170134, "Order price has too many decimals.")
            if out_of_range:
                return _ApiError(110003, "Order price is out of permissible range")
            return _ApiError(10001, "params error: price invalid, not a multiple of tickSize")
        if reason is RejectReason.MIN_NOTIONAL:
            if spot:
                return _ApiError(170140, "Order value exceeded lower limit.")
            return _ApiError(
                110094,
                f"Order does not meet minimum order value {spec.min_notional.normalize()}USDT",
            )
        if reason is RejectReason.INSUFFICIENT_BALANCE:
            return _ApiError(170131, "Insufficient balance.")
        if reason is RejectReason.INSUFFICIENT_MARGIN:
            return _ApiError(110007, "Insufficient available balance")
        if reason is RejectReason.REDUCE_ONLY:
            return _ApiError(110017, "Reduce-only rule not satisfied")
        if reason is RejectReason.DUPLICATE_CLIENT_ORDER_ID:
            if spot:
                return _ApiError(170141, "Duplicate clientOrderId.")
            return _ApiError(110072, "OrderLinkedID is duplicate")
        return _ApiError(10001, f"params error: {exc.detail}")

    def _find(self, params: dict[str, Any], symbol: str) -> SimOrder:
        venue_id = str(params.get("orderId") or "")
        link_id = str(params.get("orderLinkId") or "")
        if not venue_id and not link_id:
            raise _ApiError(10001, "params error: orderId or orderLinkId is required")
        try:
            if venue_id:
                number = self._order_ids.get(venue_id)
                if number is None:
                    raise self._not_found()
                return self.engine.find(symbol, order_id=number)
            return self.engine.find(symbol, client_order_id=link_id)
        except UnknownOrderError:
            raise self._not_found() from None

    def _cancel(self, params: dict[str, Any]) -> Any:
        self._category(params)
        symbol = self._symbol(params)
        order = self._find(params, symbol)
        if not order.is_open:
            raise self._not_found()
        self._cancelled_by_user.add(order.order_id)
        self.engine.cancel(symbol, order_id=order.order_id)
        self.stats.cancels += 1
        return {"orderId": self.order_id(order), "orderLinkId": self.link_id(order)}

    def _cancel_all(self, params: dict[str, Any]) -> Any:
        self._category(params)
        symbol = self._symbol(params, required=False)
        if (
            not symbol
            and not self.spot
            and not (params.get("settleCoin") or params.get("baseCoin"))
        ):
            raise _ApiError(10001, "params error: symbol, baseCoin or settleCoin is required")
        symbols = [symbol] if symbol else sorted({o.symbol for o in self.engine.open_orders()})
        cancelled: list[SimOrder] = []
        for sym in symbols:
            for order in self.engine.open_orders(sym):
                self._cancelled_by_user.add(order.order_id)
            cancelled.extend(self.engine.cancel_all(sym))
        self.stats.cancels += len(cancelled)
        items = [{"orderId": self.order_id(o), "orderLinkId": self.link_id(o)} for o in cancelled]
        return {"list": items, "success": "1"}

    def _page(self, items: list[Any], params: dict[str, Any], default: int, most: int) -> Any:
        limit = min(max(self._int(params, "limit", default), 1), most)
        start = self._int(params, "cursor", 0)
        page = items[start : start + limit]
        more = start + limit < len(items)
        return {
            "category": self.category,
            "list": page,
            "nextPageCursor": str(start + limit) if more else "",
        }

    def _order_filter(self, params: dict[str, Any]) -> list[SimOrder]:
        self._category(params)
        symbol = self._symbol(params, required=False)
        venue_id = str(params.get("orderId") or "")
        link_id = str(params.get("orderLinkId") or "")
        orders = [o for o in reversed(self.engine.orders) if not symbol or o.symbol == symbol]
        if venue_id:
            number = self._order_ids.get(venue_id)
            orders = [o for o in orders if o.order_id == number]
        elif link_id:
            orders = [o for o in orders if self.link_id(o) == link_id]
        return orders

    def _realtime(self, params: dict[str, Any]) -> Any:
        if not self.spot and not (
            params.get("symbol") or params.get("settleCoin") or params.get("baseCoin")
        ):
            self._category(params)
            raise _ApiError(10001, "params error: symbol, baseCoin or settleCoin is required")
        orders = self._order_filter(params)
        if not (params.get("orderId") or params.get("orderLinkId")):
            # openOnly is ignored when an order is asked for by id (Bybit's docs)
            if str(params.get("openOnly") or "0") == "0":
                orders = [o for o in orders if o.is_open]
            else:
                orders = [o for o in orders if not o.is_open][:_RECENT_CLOSED]
        return self._page([self.order_json(o) for o in orders], params, 20, 50)

    def _history(self, params: dict[str, Any]) -> Any:
        orders = self._order_filter(params)
        start, end = self._int(params, "startTime", 0), self._int(params, "endTime", 0)
        orders = [o for o in orders if o.time_ms >= start and (not end or o.time_ms <= end)]
        return self._page([self.order_json(o) for o in orders], params, 20, 50)

    def _executions(self, params: dict[str, Any]) -> Any:
        orders = self._order_filter(params)
        start, end = self._int(params, "startTime", 0), self._int(params, "endTime", 0)
        items = [
            self.execution_json(o, f)
            for o in orders
            for f in reversed(o.fills)
            if f.time_ms >= start and (not end or f.time_ms <= end)
        ]
        items.sort(key=lambda e: -int(e["execTime"]))
        return self._page(items, params, 50, 100)

    def _positions(self, params: dict[str, Any]) -> Any:
        if self.spot:
            raise _ApiError(10001, "params error: category only support linear, inverse, option")
        self._category(params)
        symbol = self._symbol(params, required=False)
        if not symbol and not (params.get("settleCoin") or params.get("baseCoin")):
            raise _ApiError(10001, "params error: symbol, baseCoin or settleCoin is required")
        if symbol:
            symbols = [symbol]
        else:
            symbols = [s for s, p in self.engine.positions.items() if p.quantity != 0]
        return self._page([self.position_json(s) for s in symbols], params, 20, 200)

    def _wallet_balance(self, params: dict[str, Any]) -> Any:
        account = str(params.get("accountType") or "")
        if account != "UNIFIED":
            raise _ApiError(
                10001, f"params error: accountType only support UNIFIED, was {account!r}"
            )
        coins = str(params.get("coin") or "")
        wanted = set(coins.split(",")) if coins else None
        return {"list": [self.wallet_json(wanted)]}

    # -- wire shapes ---------------------------------------------------------------------------

    def _q(self, order: SimOrder, value: Decimal) -> str:
        return f"{value:.{self.markets[order.symbol].quantity_decimals}f}"

    def _p(self, order: SimOrder, value: Decimal) -> str:
        """A price with the tick's decimals, or more when it has more (the replayed book's)."""
        places = max(self.markets[order.symbol].price_decimals, _decimals(value))
        return f"{value:.{places}f}"

    def _status(self, order: SimOrder) -> tuple[str, str, str]:
        """``orderStatus``, ``cancelType``, ``rejectReason`` of ``order``."""
        status = order.status
        if status in ("NEW", "PARTIALLY_FILLED", "FILLED"):
            return (
                {"NEW": "New", "PARTIALLY_FILLED": "PartiallyFilled"}.get(status, "Filled"),
                "UNKNOWN",
                "EC_NoError",
            )
        by_user = order.order_id in self._cancelled_by_user
        name = "PartiallyFilledCanceled" if self.spot and order.executed > 0 else "Cancelled"
        if by_user:
            return name, "CancelByUser", "EC_PerCancelRequest"
        if order.post_only:
            return name, "UNKNOWN", "EC_PostOnlyWillTakeLiquidity"
        return name, "UNKNOWN", "EC_CancelForNoFullFill"

    def order_json(self, order: SimOrder) -> dict[str, Any]:
        """``order`` as ``/v5/order/realtime`` lists it (and the ``order`` topic, plus category)."""
        status, cancel_type, reason = self._status(order)
        spec = self.markets[order.symbol]
        market = order.order_type == "MARKET"
        leaves = order.leaves if order.is_open else _ZERO
        fee = sum((f.commission for f in order.fills), _ZERO)
        average = order.average_price.quantize(Decimal("1e-8")).normalize()
        body: dict[str, Any] = {
            "orderId": self.order_id(order),
            "orderLinkId": self.link_id(order),
            "blockTradeId": "",
            "symbol": order.symbol,
            "price": "0" if market else f"{order.price:.{spec.price_decimals}f}",
            "qty": self._q(order, order.quantity),
            "side": "Buy" if order.side == "BUY" else "Sell",
            "isLeverage": "0" if self.spot else "",
            "positionIdx": 0,
            "orderStatus": status,
            "createType": "CreateByUser",
            "cancelType": cancel_type,
            "rejectReason": reason,
            "avgPrice": self._p(order, average) if order.executed else "",
            "leavesQty": self._q(order, leaves),
            "leavesValue": f"{leaves * order.price:f}" if not market else "0",
            "cumExecQty": self._q(order, order.executed),
            "cumExecValue": f"{order.cum_quote.normalize():f}",
            "cumExecFee": f"{fee:f}",
            "timeInForce": "PostOnly" if order.post_only else order.time_in_force,
            "orderType": "Market" if market else "Limit",
            "stopOrderType": "",
            "orderIv": "",
            "marketUnit": "baseCoin" if self.spot and market else "",
            "triggerPrice": "0",
            "takeProfit": "0",
            "stopLoss": "0",
            "tpTriggerBy": "",
            "slTriggerBy": "",
            "tpLimitPrice": "0",
            "slLimitPrice": "0",
            "triggerDirection": 0,
            "triggerBy": "",
            "lastPriceOnCreated": "",
            "reduceOnly": order.reduce_only,
            "closeOnTrigger": False,
            "placeType": "",
            "smpType": "None",
            "smpGroup": 0,
            "smpOrderId": "",
            "createdTime": str(order.time_ms),
            "updatedTime": str(order.update_time_ms),
        }
        body["cumFeeDetail"] = {order.fills[0].commission_asset: f"{fee:f}"} if order.fills else {}
        if not self.spot:
            body["tpslMode"] = ""
        return body

    def execution_json(self, order: SimOrder, fill: Fill) -> dict[str, Any]:
        """One fill as ``/v5/execution/list`` lists it (and the ``execution`` topic)."""
        spec = self.markets[order.symbol]
        executed = _ZERO
        for f in order.fills:
            executed += f.quantity
            if f.trade_id == fill.trade_id:
                break
        rate = self.engine.maker_fee if fill.maker else self.engine.taker_fee
        self._seq += 1
        return {
            "symbol": order.symbol,
            "orderType": "Market" if order.order_type == "MARKET" else "Limit",
            "underlyingPrice": "",
            "orderLinkId": self.link_id(order),
            "orderId": self.order_id(order),
            "stopOrderType": "",
            "execTime": str(fill.time_ms),
            "feeRate": f"{rate:f}",
            "tradeIv": "",
            "blockTradeId": "",
            "markPrice": "" if self.spot else f"{self.engine.mark_price(order.symbol):f}",
            "execPrice": self._p(order, fill.price),
            "markIv": "",
            "orderQty": self._q(order, order.quantity),
            "orderPrice": "0" if order.order_type == "MARKET" else f"{order.price:f}",
            "execValue": f"{fill.quote_quantity.normalize():f}",
            "closedSize": "" if self.spot else "0",
            "execType": "Trade",
            "seq": self._seq,
            "side": "Buy" if fill.side == "BUY" else "Sell",
            "indexPrice": "",
            "leavesQty": self._q(order, order.quantity - executed),
            "isMaker": fill.maker,
            "execFee": f"{fill.commission:f}",
            "feeCurrency": fill.commission_asset,
            "execId": self.exec_id(fill),
            "execQty": f"{fill.quantity:.{spec.quantity_decimals}f}",
            "execPnl": f"{fill.realized_pnl:f}",
            "marketUnit": "",
            "createType": "CreateByUser",
        }

    def position_json(self, symbol: str, *, stream: bool = False) -> dict[str, Any]:
        """``symbol``'s position as ``/v5/position/list`` (or the ``position`` topic) has it."""
        engine = self.engine
        position = engine.positions.get(symbol)
        quantity = position.quantity if position is not None else _ZERO
        entry = position.entry_price if position is not None else _ZERO
        mark = engine.mark_price(symbol)
        value = abs(quantity) * entry
        im = abs(quantity) * mark / engine.leverage
        created = position.update_time_ms if position is not None else 0
        body: dict[str, Any] = {
            "positionIdx": 0,
            "riskId": 1,
            "riskLimitValue": "2000000",
            "symbol": symbol,
            "side": "" if not quantity else ("Buy" if quantity > 0 else "Sell"),
            "size": f"{abs(quantity):.{self.markets[symbol].quantity_decimals}f}",
            "avgPrice" if not stream else "entryPrice": f"{entry:f}",
            "positionValue": f"{value:f}",
            "tradeMode": 0,
            "autoAddMargin": 0,
            "positionStatus": "Normal",
            "leverage": str(engine.leverage),
            "markPrice": f"{mark:f}",
            "liqPrice": "",
            "bustPrice": "",
            "positionIM": f"{im:f}",
            "positionMM": "0",
            "positionBalance": f"{im:f}",
            "takeProfit": "",
            "stopLoss": "",
            "trailingStop": "0",
            "unrealisedPnl": f"{engine.unrealized_pnl(symbol):f}",
            "curRealisedPnl": f"{position.realized_pnl if position is not None else _ZERO:f}",
            "cumRealisedPnl": f"{position.realized_pnl if position is not None else _ZERO:f}",
            "adlRankIndicator": 0,
            "isReduceOnly": False,
            "mmrSysUpdatedTime": "",
            "leverageSysUpdatedTime": "",
            "tpslMode": "Full",
            "createdTime": str(created),
            "updatedTime": str(created),
            "seq": self._seq,
        }
        if stream:
            body["category"] = "linear"
        return body

    def wallet_json(self, assets: set[str] | None = None) -> dict[str, Any]:
        """The account as ``/v5/account/wallet-balance`` (and the ``wallet`` topic) has it."""
        engine = self.engine
        coins = []
        total_im = total_upl = total_wallet = _ZERO
        for asset in engine.assets():
            if assets is not None and asset not in assets:
                continue
            free, locked = engine.balance(asset)
            wallet = free + locked
            position_im = order_im = upl = _ZERO
            if not self.spot and asset == engine.margin_asset():
                position_im, order_im = engine.initial_margin()
                upl = sum((engine.unrealized_pnl(s) for s in engine.positions), _ZERO)
                total_im, total_upl, total_wallet = position_im + order_im, upl, wallet
            coins.append(
                {
                    "availableToBorrow": "",
                    "bonus": "0",
                    "accruedInterest": "0",
                    "availableToWithdraw": "",
                    "totalOrderIM": f"{order_im:f}",
                    "equity": f"{wallet + upl:f}",
                    "totalPositionMM": "0",
                    "usdValue": "",
                    "unrealisedPnl": f"{upl:f}",
                    "collateralSwitch": True,
                    "spotHedgingQty": "0",
                    "borrowAmount": "0",
                    "totalPositionIM": f"{position_im:f}",
                    "walletBalance": f"{wallet:f}",
                    "cumRealisedPnl": "0",
                    "locked": f"{locked:f}",
                    "marginCollateral": True,
                    "coin": asset,
                }
            )
        return {
            "totalEquity": f"{total_wallet + total_upl:f}",
            "accountIMRate": "0",
            "totalMarginBalance": f"{total_wallet + total_upl:f}",
            "totalInitialMargin": f"{total_im:f}",
            "accountType": "UNIFIED",
            "totalAvailableBalance": f"{total_wallet + total_upl - total_im:f}",
            "accountMMRate": "0",
            "totalPerpUPL": f"{total_upl:f}",
            "totalWalletBalance": f"{total_wallet:f}",
            "accountLTV": "0",
            "totalMaintenanceMargin": "0",
            "coin": coins,
        }

    # -- the private stream --------------------------------------------------------------------

    async def private_stream(self, request: web.Request) -> web.StreamResponse:
        """Serve ``/v5/private``: auth, subscribe, ping, then this account's messages."""
        if self.block_private_streams:
            return web.Response(status=503, text="private stream unavailable")
        ws = web.WebSocketResponse(compress=False, autoping=True)
        await ws.prepare(request)
        self._conn_count += 1
        sock = _PrivateSocket(ws, f"emulator-private-{self._conn_count}")
        sock.task = asyncio.create_task(self._writer(sock))
        self._sockets.append(sock)
        self.stats.private_connections += 1
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    reply = self._private_request(sock, msg.data)
                    if reply is not None:
                        sock.queue.put_nowait(reply)
                elif msg.type == WSMsgType.ERROR:
                    break
        finally:
            if sock in self._sockets:
                self._sockets.remove(sock)
            sock.queue.put_nowait(None)
            if sock.task is not None:
                await sock.task
        return ws

    def _private_request(self, sock: _PrivateSocket, text: str) -> bytes | None:
        try:
            req = json.loads(text)
            op, args = str(req.get("op", "")), list(req.get("args") or [])
        except (ValueError, AttributeError):
            return _encode({"success": False, "ret_msg": "Params Error", "conn_id": sock.conn_id})
        reply: dict[str, Any] = {}
        if "req_id" in req:
            reply["req_id"] = req["req_id"]
        if op == "ping":
            if not self.answer_pings:
                return None
            reply.update(op="pong", args=[str(self.now_ms())], conn_id=sock.conn_id)
            return _encode(reply)
        ok, message = True, ""
        if op == "auth":
            ok, message = self._auth(args)
            sock.authed = sock.authed or ok
            if not ok:
                self.stats.auth_failures += 1
        elif op in ("subscribe", "unsubscribe"):
            if not sock.authed:
                ok, message = False, "Request not authorized"
            else:
                bad = [t for t in args if str(t).split(".")[0] not in _PRIVATE_TOPICS]
                if bad:
                    ok, message = False, f"error:handler not found,topic:{bad[0]}"
                for topic in args:
                    name = str(topic).split(".")[0]
                    if name in _PRIVATE_TOPICS:
                        if op == "subscribe":
                            sock.topics.add(name)
                        else:
                            sock.topics.discard(name)
        else:
            ok, message = False, f"error:unknown op {op!r}"
        reply.update(success=ok, ret_msg=message, op=op, conn_id=sock.conn_id)
        return _encode(reply)

    def _auth(self, args: list[Any]) -> tuple[bool, str]:
        if len(args) != 3:
            return False, "Params Error"
        key, expires, signature = str(args[0]), str(args[1]), str(args[2])
        if not expires.isdigit() or int(expires) <= self.now_ms():
            return False, "Params Error"
        if not hmac.compare_digest(key.encode(), self.config.api_key.encode()):
            return False, "Request not authorized"
        expected = hmac.new(
            self.config.secret_key.encode(), f"GET/realtime{expires}".encode(), hashlib.sha256
        ).hexdigest()
        if not hmac.compare_digest(expected, signature.lower()):
            return False, "Request not authorized"
        return True, ""

    @staticmethod
    async def _writer(sock: _PrivateSocket) -> None:
        while True:
            payload = await sock.queue.get()
            if payload is None:
                return
            try:
                await sock.ws.send_frame(payload, WSMsgType.TEXT)
            except (ConnectionResetError, RuntimeError):
                return

    def _push(self, topic: str, data: list[dict[str, Any]], now: int) -> None:
        sockets = [s for s in self._sockets if topic in s.topics]
        if not sockets or not data:
            return
        self._seq += 1
        body = {"id": f"{self._seq}_{topic}", "topic": topic, "creationTime": now, "data": data}
        payload = _encode(body)
        copies = 2 if self.config.duplicate_private_events else 1
        for sock in sockets:
            for _ in range(copies):
                sock.queue.put_nowait(payload)
        self.stats.private_messages += 1

    def _on_event(self, event: ExecutionEvent | AccountChanged) -> None:
        if not any(s.topics for s in self._sockets):
            return
        now = event.time_ms
        if isinstance(event, ExecutionEvent):
            order = event.order
            if event.fill is not None:
                execution = self.execution_json(order, event.fill)
                self._push("execution", [{"category": self.category, **execution}], now)
            self._push("order", [{"category": self.category, **self.order_json(order)}], now)
            return
        if event.symbols and not self.spot:
            positions = [self.position_json(s, stream=True) for s in event.symbols]
            self._push("position", positions, now)
        if event.assets:
            self._push("wallet", [self.wallet_json(set(event.assets))], now)
