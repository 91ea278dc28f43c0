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

import json
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, unquote

import msgspec
from aiohttp import WSCloseCode, web

from adapters.emulator.book import DepthBook
from adapters.emulator.bybit_private import PrivateStreams
from adapters.emulator.bybit_requests import int_param, parse_order_request, reject_error
from adapters.emulator.bybit_trading_config import (
    DEFAULT_INSTRUMENTS,
    BybitTradingConfig,
    BybitTradingFault,
    BybitTradingStats,
    InstrumentsInfo,
)
from adapters.emulator.bybit_wire import BybitWire
from adapters.emulator.matching import (
    AccountChanged,
    ExecutionEvent,
    OrderRejectedError,
    SimOrder,
    UnknownOrderError,
)
from adapters.emulator.trading_common import (
    NONE,
    SIGNED,
    ApiError,
    EmulatedAccount,
    hmac_hex,
    same_text,
)

__all__ = [
    "DEFAULT_INSTRUMENTS",
    "BybitTrading",
    "BybitTradingConfig",
    "BybitTradingFault",
    "BybitTradingStats",
    "InstrumentsInfo",
]

_encode = msgspec.json.encode
#: Closed orders ``/v5/order/realtime`` still answers for (Bybit: the recent 500).
_RECENT_CLOSED = 500
_SPOT_ORDER_ID_START = 1_600_000_000_000_000_000
_SPOT_EXEC_ID_START = 2_100_000_000_000_000_000

Handler = Callable[[dict[str, Any]], Any]


class BybitTrading(EmulatedAccount, BybitWire):
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

    auth_error_codes = frozenset({10002, 10003, 10004})
    faults_on_public = False
    config: BybitTradingConfig
    stats: BybitTradingStats

    def __init__(
        self,
        category: str,
        config: BybitTradingConfig | None = None,
        instruments: InstrumentsInfo | None = None,
        book_of: Callable[[str], DepthBook | None] | None = None,
    ) -> None:
        if category not in ("spot", "linear"):
            raise ValueError(f"category must be spot or linear, was {category!r}")
        config = config if config is not None else BybitTradingConfig()
        EmulatedAccount.__init__(self, config, BybitTradingStats())
        BybitWire.__init__(self)
        self.category = category
        self.spot = category == "spot"
        self.instruments = instruments if instruments is not None else InstrumentsInfo.load()
        self.markets = self.instruments.markets(category, config.symbols)
        self.engine = self._engine(
            self.markets,
            linear=not self.spot,
            linear_taker_fee="0.00055",
            book_of=book_of,
            post_only_rejects=False,
            fok_rejects=False,
            order_id_start=_SPOT_ORDER_ID_START if self.spot else 1,
            trade_id_start=_SPOT_EXEC_ID_START if self.spot else 1,
        )
        self._order_ids: dict[str, int] = {}
        #: The private-stream connections.
        self.private = PrivateStreams(
            config.api_key,
            config.secret_key,
            self.now_ms,
            self._next_seq,
            self.stats,
            2 if config.duplicate_private_events else 1,
        )

    # -- lifecycle and controls ----------------------------------------------------------------

    @property
    def block_private_streams(self) -> bool:
        """While True, new private-stream connections are refused (HTTP 503)."""
        return self.private.blocked

    @block_private_streams.setter
    def block_private_streams(self, value: bool) -> None:
        self.private.blocked = value

    @property
    def answer_pings(self) -> bool:
        """While False, private-stream pings go unanswered (a silent venue)."""
        return self.private.answer_pings

    @answer_pings.setter
    def answer_pings(self, value: bool) -> None:
        self.private.answer_pings = value

    async def close(self) -> None:
        """Release withheld answers and close every private stream."""
        self._closing.set()
        await self.drop_private_streams(WSCloseCode.GOING_AWAY)

    async def drop_private_streams(self, code: int = WSCloseCode.GOING_AWAY) -> int:
        """Close every private-stream connection; return how many."""
        return await self.private.drop(code)

    async def private_stream(self, request: web.Request) -> web.StreamResponse:
        """Serve ``/v5/private``: auth, subscribe, ping, then this account's messages."""
        return await self.private.serve(request)

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    # -- routes --------------------------------------------------------------------------------

    def add_routes(self, app: web.Application) -> None:
        """Register the REST endpoints and the private stream on ``app``."""
        routes: list[tuple[str, str, int, Handler]] = [
            ("GET", "market/time", NONE, self._time),
            ("GET", "market/instruments-info", NONE, self._instruments),
            ("GET", "account/wallet-balance", SIGNED, self._wallet_balance),
            ("POST", "order/create", SIGNED, self._create),
            ("POST", "order/cancel", SIGNED, self._cancel),
            ("POST", "order/cancel-all", SIGNED, self._cancel_all),
            ("GET", "order/realtime", SIGNED, self._realtime),
            ("GET", "order/history", SIGNED, self._history),
            ("GET", "execution/list", SIGNED, self._executions),
            ("GET", "position/list", SIGNED, self._positions),
        ]
        for method, path, security, handler in routes:
            app.router.add_route(method, "/v5/" + path, self._endpoint(path, security, handler))
        app.router.add_get("/v5/private", self.private_stream)

    def _reply(
        self, result: Any, code: int = 0, msg: str = "OK", headers: dict[str, str] | None = None
    ) -> web.Response:
        body = {"retCode": code, "retMsg": msg, "result": result, "retExtInfo": {}}
        body["time"] = self.now_ms()
        return web.Response(body=_encode(body), content_type="application/json", headers=headers)

    def _params(
        self, method: str, raw_query: str, raw_body: str
    ) -> tuple[dict[str, Any], ApiError | None]:
        params: dict[str, Any] = dict(parse_qsl(raw_query, keep_blank_values=True))
        if method != "POST":
            return params, None
        try:
            decoded = json.loads(raw_body or "{}")
        except ValueError:
            return {}, ApiError(10001, "request body is not valid JSON")
        if not isinstance(decoded, dict):
            return {}, ApiError(10001, "request body must be a JSON object")
        return decoded, None

    def _check(
        self,
        request: web.Request,
        params: dict[str, Any],
        raw_query: str,
        raw_body: str,
        security: int,
    ) -> None:
        if security == SIGNED:
            self._check_signed(request, raw_body if request.method == "POST" else raw_query)

    def _error_response(self, exc: ApiError) -> web.Response:
        return self._reply({}, exc.code, exc.msg)

    def _response(self, result: Any, security: int) -> web.Response:
        if security != SIGNED:
            return self._reply(result)
        limits = {"X-Bapi-Limit": "20", "X-Bapi-Limit-Status": "19"}
        limits["X-Bapi-Limit-Reset-Timestamp"] = str(self.now_ms())
        return self._reply(result, headers=limits)

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
            raise ApiError(
                10001,
                f"empty value: apiTimestamp[{stamp}] apiKey[{key}] apiSignature[{sign}]: "
                "openapi sign params error!",
            )
        if not same_text(key, self.config.api_key):
            raise ApiError(10003, "API key is invalid.")
        if not stamp.isdigit() or not window_text.isdigit():
            raise ApiError(10001, "params error: X-BAPI-TIMESTAMP and X-BAPI-RECV-WINDOW")
        timestamp, window, now = int(stamp), int(window_text), self.now_ms()
        if not now - window <= timestamp < now + 1000:
            raise ApiError(
                10002,
                "invalid request, please check your server timestamp or recv_window param. "
                f"req_timestamp[{timestamp}],server_timestamp[{now}],recv_window[{window}]",
            )
        origin = stamp + key + window_text
        for candidate in (payload, unquote(payload)):
            if same_text(sign.lower(), hmac_hex(self.config.secret_key, origin + candidate)):
                return
        raise ApiError(10004, f"error sign! origin_string[{origin}{payload}]")

    # -- parameters ----------------------------------------------------------------------------

    def _category(self, params: dict[str, Any]) -> None:
        category = str(params.get("category", ""))
        if not category:
            raise ApiError(10001, "params error: category is empty")
        if category != self.category:
            raise ApiError(10001, f"params error: the emulated account trades {self.category} only")

    def _symbol(self, params: dict[str, Any], *, required: bool = True) -> str:
        symbol = str(params.get("symbol") or "")
        if not symbol:
            if required:
                raise ApiError(10001, "params error: symbol is empty")
            return ""
        if symbol not in self.markets:
            raise ApiError(10001, f"params error: symbol invalid {symbol}")
        return symbol

    def _not_found(self) -> ApiError:
        if self.spot:
            return ApiError(170213, "Order does not exist.")
        return ApiError(110001, "Order does not exist")

    # -- endpoints -----------------------------------------------------------------------------

    def _time(self, params: dict[str, Any]) -> Any:
        now_ns = time.time_ns() + self.config.clock_offset_ms * 1_000_000
        return {"timeSecond": str(now_ns // 1_000_000_000), "timeNano": str(now_ns)}

    def _instruments(self, params: dict[str, Any]) -> Any:
        category = str(params.get("category", ""))
        if category not in self.instruments.bodies:
            raise ApiError(10001, f"params error: category {category!r} not served")
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
        request = parse_order_request(params, self._symbol(params), spot=self.spot)
        try:
            existing = self.engine.find(request.symbol, client_order_id=request.client_order_id)
        except UnknownOrderError:
            existing = None
        if request.client_order_id and existing is not None:
            self.stats.orders_rejected += 1
            if self.spot:
                raise ApiError(170141, "Duplicate clientOrderId.")
            raise ApiError(110072, "OrderLinkedID is duplicate")
        try:
            order = self.engine.place(request)
        except OrderRejectedError as exc:
            self.stats.orders_rejected += 1
            raise reject_error(
                request, exc, self.markets.get(request.symbol), spot=self.spot
            ) from None
        if not request.client_order_id:
            self._unlinked.add(order.order_id)
        self._order_ids[self.order_id(order)] = order.order_id
        self.stats.orders_placed += 1
        return {"orderId": self.order_id(order), "orderLinkId": self.link_id(order)}

    def _find(self, params: dict[str, Any], symbol: str) -> SimOrder:
        venue_id = str(params.get("orderId") or "")
        link_id = str(params.get("orderLinkId") or "")
        if not venue_id and not link_id:
            raise ApiError(10001, "params error: orderId or orderLinkId is required")
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
            raise ApiError(10001, "params error: symbol, baseCoin or settleCoin is required")
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
        limit = min(max(int_param(params, "limit", default), 1), most)
        start = int_param(params, "cursor", 0)
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
            raise ApiError(10001, "params error: symbol, baseCoin or settleCoin is required")
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
        start, end = int_param(params, "startTime", 0), int_param(params, "endTime", 0)
        orders = [o for o in orders if o.time_ms >= start and (not end or o.time_ms <= end)]
        return self._page([self.order_json(o) for o in orders], params, 20, 50)

    def _executions(self, params: dict[str, Any]) -> Any:
        orders = self._order_filter(params)
        start, end = int_param(params, "startTime", 0), int_param(params, "endTime", 0)
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
            raise ApiError(10001, "params error: category only support linear, inverse, option")
        self._category(params)
        symbol = self._symbol(params, required=False)
        if not symbol and not (params.get("settleCoin") or params.get("baseCoin")):
            raise ApiError(10001, "params error: symbol, baseCoin or settleCoin is required")
        if symbol:
            symbols = [symbol]
        else:
            symbols = [s for s, p in self.engine.positions.items() if p.quantity != 0]
        return self._page([self.position_json(s) for s in symbols], params, 20, 200)

    def _wallet_balance(self, params: dict[str, Any]) -> Any:
        account = str(params.get("accountType") or "")
        if account != "UNIFIED":
            raise ApiError(
                10001, f"params error: accountType only support UNIFIED, was {account!r}"
            )
        coins = str(params.get("coin") or "")
        wanted = set(coins.split(",")) if coins else None
        return {"list": [self.wallet_json(wanted)]}

    def _on_event(self, event: ExecutionEvent | AccountChanged) -> None:
        if not self.private.listening:
            return
        now = event.time_ms
        if isinstance(event, ExecutionEvent):
            order = event.order
            if event.fill is not None:
                execution = self.execution_json(order, event.fill)
                self.private.push("execution", [{"category": self.category, **execution}], now)
            self.private.push("order", [{"category": self.category, **self.order_json(order)}], now)
            return
        if event.symbols and not self.spot:
            positions = [self.position_json(s, stream=True) for s in event.symbols]
            self.private.push("position", positions, now)
        if event.assets:
            self.private.push("wallet", [self.wallet_json(set(event.assets))], now)
