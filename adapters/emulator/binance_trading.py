"""Binance's signed REST trading API and user data stream, served by the emulator.

:class:`BinanceTrading` is the trading half of
:class:`adapters.emulator.binance.BinanceEmulator` for spot (``/api/v3``) and
USDⓈ-M futures (``/fapi``): one emulated account, a
:class:`~adapters.emulator.matching.MatchingEngine` matching against the
emulator's replayed book, and the endpoints ccxt's ``binance`` and
``binanceusdm`` clients call (ccxt 4.5.90):

========================================  ==========================================
spot                                      USDⓈ-M futures
========================================  ==========================================
``GET /api/v3/ping``, ``time``,           ``GET /fapi/v1/ping``, ``time``,
``exchangeInfo``                          ``exchangeInfo``
``POST/GET/DELETE /api/v3/order``         ``POST/GET/DELETE /fapi/v1/order``
``GET/DELETE /api/v3/openOrders``         ``GET /fapi/v1/openOrders``,
                                          ``DELETE /fapi/v1/allOpenOrders``
``GET /api/v3/allOrders``, ``myTrades``   ``GET /fapi/v1/allOrders``, ``userTrades``
``GET /api/v3/account``                   ``GET /fapi/v2|v3/account``, ``balance``,
                                          ``positionRisk``; ``/fapi/v1/leverageBracket``
``POST/PUT/DELETE /api/v3/userDataStream`` ``POST/PUT/DELETE /fapi/v1/listenKey``
========================================  ==========================================

Security, as Binance documents it
    ``USER_STREAM`` endpoints need the ``X-MBX-APIKEY`` header; ``SIGNED`` ones
    also ``timestamp`` (within ``recvWindow``, default 5000 ms, at most 60000,
    and not more than 1000 ms ahead of the server) and ``signature``, the
    hex HMAC-SHA256 of the query string concatenated with the body (the
    ``signature`` parameter left out) keyed with the secret. Refusals: no key
    ``-2014 API-key format invalid.``, wrong key ``-2015 Invalid API-key, IP, or
    permissions for action.`` (HTTP 401), stale or early timestamp ``-1021``,
    bad signature ``-1022 Signature for this request is not valid.`` (HTTP 400).

Errors
    ``-1121 Invalid symbol.``, ``-1102`` a mandatory parameter missing,
    ``-1100`` illegal characters, ``-1111`` too much precision, ``-2013 Order
    does not exist.``, ``-2011 Unknown order sent.``; spot filter failures
    ``-1013 Filter failure: PRICE_FILTER|LOT_SIZE|MARKET_LOT_SIZE|MIN_NOTIONAL``,
    ``-2010 Duplicate order sent.`` (a client order id is unique among the
    orders not yet filled, as the spot docs say), ``-2010 Account has
    insufficient balance for requested action.``, ``-2010 Order would
    immediately match and take.`` (``LIMIT_MAKER``); futures ``-4014 Price not
    increased by tick size.``, ``-4164`` min notional, ``-4116 ClientOrderId is
    duplicated.``, ``-4015 Client order id is not valid.``, ``-2019 Margin is
    insufficient.``, ``-5021``/``-5022`` FOK/post-only refused, ``-2022
    ReduceOnly Order is rejected.`` (futures codes as in Binance's futures
    error list and ccxt's error table).

User data stream
    ``ws://HOST:PORT/ws/<listenKey>`` (the key from ``POST userDataStream`` /
    ``listenKey``, valid ``listen_key_ttl_s`` after the last keep-alive; an
    active key is returned again, as Binance does). Spot pushes
    ``executionReport`` then ``outboundAccountPosition``, futures
    ``ORDER_TRADE_UPDATE`` then ``ACCOUNT_UPDATE``, raw (no
    ``{"stream", "data"}`` wrapper). An expired key gets ``listenKeyExpired``
    and the connection is closed.

Faults (:class:`TradingFault`, deterministic: each counts the requests it matches)
    ``timeout`` (the request takes effect, the answer is withheld ``delay_s``),
    ``429``/``418`` with ``Retry-After``, ``5xx`` (optionally after the
    request took effect: outcome unknown to the client), ``reject`` (a
    ``-2010``-style refusal). :meth:`BinanceTrading.drop_user_streams` closes
    the private streams and ``block_user_streams`` refuses new ones.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

import msgspec
from aiohttp import web

from adapters.emulator import binance_wire as wire
from adapters.emulator.binance_requests import (
    ApiError,
    int_param,
    missing,
    parse_new_order,
    reject_error,
    strip_signature,
)
from adapters.emulator.binance_trading_config import (
    DEFAULT_EXCHANGE_INFO,
    BinanceTradingConfig,
    ExchangeInfo,
    TradingFault,
    TradingStats,
)
from adapters.emulator.binance_userdata import ListenKeyUnknownError, UserDataStreams
from adapters.emulator.book import DepthBook
from adapters.emulator.matching import (
    AccountChanged,
    ExecutionEvent,
    OrderRejectedError,
    UnknownOrderError,
)
from adapters.emulator.trading_common import (
    NONE,
    SIGNED,
    USER_STREAM,
    EmulatedAccount,
    hmac_hex,
    same_text,
)

__all__ = [
    "DEFAULT_EXCHANGE_INFO",
    "BinanceTrading",
    "BinanceTradingConfig",
    "ExchangeInfo",
    "TradingFault",
    "TradingStats",
]

_RECV_WINDOW_MAX = 60_000
_encode = msgspec.json.encode

Handler = Callable[[dict[str, str]], Any]


class BinanceTrading(EmulatedAccount):
    """One emulated Binance account (spot or USD-M) behind the signed REST API; see the module.

    Parameters
    ----------
    venue :
        ``binance`` (spot) or ``binance-usdm``.
    config :
        The account, credentials and faults.
    exchange_info :
        The markets (already loaded, so several emulators can share them); ``None``
        loads :data:`DEFAULT_EXCHANGE_INFO` of the venue.
    book_of :
        The emulator's replayed book of a venue symbol (``None`` for symbols not replayed).
    """

    auth_error_codes = frozenset({-2014, -2015, -1021, -1022})
    unrecorded = frozenset({"signature", "timestamp"})
    config: BinanceTradingConfig
    stats: TradingStats

    def __init__(
        self,
        venue: str,
        config: BinanceTradingConfig | None = None,
        exchange_info: ExchangeInfo | None = None,
        book_of: Callable[[str], DepthBook | None] | None = None,
    ) -> None:
        if venue not in DEFAULT_EXCHANGE_INFO:
            raise ValueError(f"trading venue must be binance or binance-usdm, was {venue!r}")
        config = config if config is not None else BinanceTradingConfig()
        super().__init__(config, TradingStats())
        self.venue = venue
        self.futures = venue == "binance-usdm"
        if exchange_info is None:
            exchange_info = ExchangeInfo.load(DEFAULT_EXCHANGE_INFO[venue], futures=self.futures)
        if config.symbols:
            exchange_info = exchange_info.subset(config.symbols)
        self.exchange_info = exchange_info
        self.engine = self._engine(
            exchange_info.markets,
            linear=self.futures,
            linear_taker_fee="0.0005",
            book_of=book_of,
            post_only_rejects=True,
            fok_rejects=self.futures,
            order_id_start=config.order_id_start,
            trade_id_start=config.trade_id_start,
        )
        self._cancel_count = 0
        self._cancel_cid = ""
        #: The listen keys and the user-data-stream connections.
        self.streams = UserDataStreams(
            venue, config.listen_key_ttl_s, self.now_ms, 2 if config.duplicate_user_events else 1
        )

    # -- lifecycle and controls ----------------------------------------------------------------

    async def start(self) -> None:
        """Start the listen-key expiry watchdog."""
        self._closing = asyncio.Event()
        await self.streams.start()

    async def close(self) -> None:
        """Release withheld answers, close every user stream, stop the watchdog."""
        self._closing.set()
        await self.streams.close()

    @property
    def block_user_streams(self) -> bool:
        """While True, new user-data-stream connections are refused (HTTP 503)."""
        return self.streams.blocked

    @block_user_streams.setter
    def block_user_streams(self, value: bool) -> None:
        self.streams.blocked = value

    def is_listen_key(self, name: str) -> bool:
        """Whether ``name`` is a live listen key (``/ws/<name>`` is then a user stream)."""
        return self.streams.is_live(name)

    async def drop_user_streams(self) -> int:
        """Close every user-data-stream connection (the keys stay valid); return how many."""
        return await self.streams.drop()

    # -- routes --------------------------------------------------------------------------------

    def add_routes(self, app: web.Application) -> None:
        """Register the venue's trading endpoints on ``app``."""
        if self.futures:
            v1, v2, v3 = "/fapi/v1/", "/fapi/v2/", "/fapi/v3/"
            routes: list[tuple[str, str, str, int, Handler]] = [
                ("GET", v1 + "ping", "ping", NONE, lambda p: {}),
                ("GET", v1 + "time", "time", NONE, lambda p: {"serverTime": self.now_ms()}),
                ("GET", v1 + "exchangeInfo", "exchangeInfo", NONE, self._exchange_info),
                ("POST", v1 + "order", "order", SIGNED, self._new_order),
                ("GET", v1 + "order", "order", SIGNED, self._query_order),
                ("DELETE", v1 + "order", "order", SIGNED, self._cancel_order),
                ("GET", v1 + "openOrders", "openOrders", SIGNED, self._open_orders),
                ("DELETE", v1 + "allOpenOrders", "allOpenOrders", SIGNED, self._cancel_all),
                ("GET", v1 + "allOrders", "allOrders", SIGNED, self._all_orders),
                ("GET", v1 + "userTrades", "userTrades", SIGNED, self._my_trades),
                ("GET", v1 + "leverageBracket", "leverageBracket", SIGNED, self._brackets),
                ("POST", v1 + "listenKey", "listenKey", USER_STREAM, self._new_key),
                ("PUT", v1 + "listenKey", "listenKey", USER_STREAM, self._keep_alive),
                ("DELETE", v1 + "listenKey", "listenKey", USER_STREAM, self._delete_key),
            ]
            for prefix in (v2, v3):
                routes += [
                    ("GET", prefix + "account", "account", SIGNED, self._account),
                    ("GET", prefix + "balance", "balance", SIGNED, self._balance),
                    ("GET", prefix + "positionRisk", "positionRisk", SIGNED, self._positions),
                ]
        else:
            v3 = "/api/v3/"
            routes = [
                ("GET", v3 + "ping", "ping", NONE, lambda p: {}),
                ("GET", v3 + "time", "time", NONE, lambda p: {"serverTime": self.now_ms()}),
                ("GET", v3 + "exchangeInfo", "exchangeInfo", NONE, self._exchange_info),
                ("POST", v3 + "order", "order", SIGNED, self._new_order),
                ("GET", v3 + "order", "order", SIGNED, self._query_order),
                ("DELETE", v3 + "order", "order", SIGNED, self._cancel_order),
                ("GET", v3 + "openOrders", "openOrders", SIGNED, self._open_orders),
                ("DELETE", v3 + "openOrders", "openOrders", SIGNED, self._cancel_all),
                ("GET", v3 + "allOrders", "allOrders", SIGNED, self._all_orders),
                ("GET", v3 + "myTrades", "myTrades", SIGNED, self._my_trades),
                ("GET", v3 + "account", "account", SIGNED, self._account),
                ("POST", v3 + "userDataStream", "userDataStream", USER_STREAM, self._new_key),
                ("PUT", v3 + "userDataStream", "userDataStream", USER_STREAM, self._keep_alive),
                ("DELETE", v3 + "userDataStream", "userDataStream", USER_STREAM, self._delete_key),
            ]
        for method, path, name, security, handler in routes:
            app.router.add_route(method, path, self._endpoint(name, security, handler))

    def _params(
        self, method: str, raw_query: str, raw_body: str
    ) -> tuple[dict[str, str], ApiError | None]:
        params = dict(parse_qsl(raw_body, keep_blank_values=True))
        params.update(parse_qsl(raw_query, keep_blank_values=True))
        return params, None

    def _check(
        self,
        request: web.Request,
        params: dict[str, str],
        raw_query: str,
        raw_body: str,
        security: int,
    ) -> None:
        if security >= USER_STREAM:
            self._check_key(request)
        if security == SIGNED:
            self._check_signed(params, raw_query, raw_body)

    def _error_response(self, exc: ApiError) -> web.Response:
        body = {"code": exc.code, "msg": exc.msg}
        return web.Response(status=exc.status, body=_encode(body), content_type="application/json")

    def _response(self, result: Any, security: int) -> web.Response:
        body = result if isinstance(result, bytes) else _encode(result)
        return web.Response(body=body, content_type="application/json")

    def _fault_response(self, fault: TradingFault) -> web.Response:
        if fault.action == "reject":
            body = {"code": fault.code, "msg": fault.message}
            return web.Response(status=400, body=_encode(body), content_type="application/json")
        if fault.action in ("429", "418"):
            if fault.action == "429":
                msg = (
                    "Too much request weight used; current limit is 6000 request weight per "
                    "1 MINUTE. Please use WebSocket Streams for live updates to avoid polling "
                    "the API."
                )
            else:
                until = self.now_ms() + fault.retry_after_s * 1000
                msg = (
                    f"Way too much request weight used; IP banned until {until}. Please use "
                    "WebSocket Streams for live updates to avoid bans."
                )
            return web.Response(
                status=int(fault.action),
                body=_encode({"code": -1003, "msg": msg}),
                content_type="application/json",
                headers={"Retry-After": str(fault.retry_after_s)},
            )
        body = {
            "code": -1001,
            "msg": "Internal error; unable to process your request. Please try again.",
        }
        return web.Response(
            status=fault.status, body=_encode(body), content_type="application/json"
        )

    # -- security ------------------------------------------------------------------------------

    def _check_key(self, request: web.Request) -> None:
        key = request.headers.get("X-MBX-APIKEY", "")
        if not key:
            raise ApiError(-2014, "API-key format invalid.", 401)
        if not same_text(key, self.config.api_key):
            raise ApiError(-2015, "Invalid API-key, IP, or permissions for action.", 401)

    def _check_signed(self, params: dict[str, str], raw_query: str, raw_body: str) -> None:
        timestamp = int_param(params, "timestamp")
        if timestamp is None:
            raise missing("timestamp")
        recv_window = int_param(params, "recvWindow")
        recv_window = 5000 if recv_window is None else recv_window
        if not 0 < recv_window <= _RECV_WINDOW_MAX:
            raise ApiError(-1131, f"recvWindow must be less than {_RECV_WINDOW_MAX}")
        query, in_query = strip_signature(raw_query)
        body, in_body = strip_signature(raw_body)
        signature = in_query if in_query is not None else in_body
        if not signature:
            raise missing("signature")
        now = self.now_ms()
        if timestamp >= now + 1000:
            raise ApiError(
                -1021, "Timestamp for this request was 1000ms ahead of the server's time."
            )
        if now - timestamp > recv_window:
            raise ApiError(-1021, "Timestamp for this request is outside of the recvWindow.")
        expected = hmac_hex(self.config.secret_key, query + body)
        if not same_text(signature.lower(), expected):
            raise ApiError(-1022, "Signature for this request is not valid.")

    # -- endpoints -----------------------------------------------------------------------------

    def _exchange_info(self, params: dict[str, str]) -> bytes:
        return self.exchange_info.encoded(self.now_ms())

    def _symbol(self, params: dict[str, str], *, required: bool = True) -> str:
        symbol = params.get("symbol", "").upper()
        if not symbol:
            if required:
                raise missing("symbol")
            return ""
        if symbol not in self.exchange_info.markets:
            raise ApiError(-1121, "Invalid symbol.")
        return symbol

    def _new_order(self, params: dict[str, str]) -> Any:
        request = parse_new_order(params, self._symbol(params), futures=self.futures)
        try:
            order = self.engine.place(request)
        except OrderRejectedError as exc:
            self.stats.orders_rejected += 1
            raise reject_error(request, exc, self.exchange_info, futures=self.futures) from None
        self.stats.orders_placed += 1
        spec = self.exchange_info.markets[order.symbol]
        if self.futures:
            return wire.futures_order(order, spec, with_time=False)
        response_type = params.get("newOrderRespType", "FULL").upper()
        if response_type not in ("ACK", "RESULT", "FULL"):
            response_type = "FULL"
        return wire.spot_new_order(order, response_type)

    def _find(self, params: dict[str, str]) -> tuple[int | None, str | None]:
        order_id = int_param(params, "orderId")
        cid = params.get("origClientOrderId") or None
        if order_id is None and cid is None:
            raise ApiError(
                -1102,
                "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!",
            )
        return order_id, cid

    def _order_json(self, order: Any) -> dict[str, Any]:
        if self.futures:
            return wire.futures_order(
                order, self.exchange_info.markets[order.symbol], with_time=True
            )
        return wire.spot_order(order)

    def _query_order(self, params: dict[str, str]) -> Any:
        symbol = self._symbol(params)
        order_id, cid = self._find(params)
        try:
            order = self.engine.find(symbol, order_id=order_id, client_order_id=cid)
        except UnknownOrderError:
            raise ApiError(-2013, "Order does not exist.") from None
        return self._order_json(order)

    def _cancel_order(self, params: dict[str, str]) -> Any:
        symbol = self._symbol(params)
        order_id, cid = self._find(params)
        self._cancel_count += 1
        cancel_cid = params.get("newClientOrderId") or f"emu-cancel-{self._cancel_count}"
        self._cancel_cid = cancel_cid
        try:
            order = self.engine.cancel(symbol, order_id=order_id, client_order_id=cid)
        except UnknownOrderError:
            raise ApiError(-2011, "Unknown order sent.") from None
        finally:
            self._cancel_cid = ""
        self.stats.cancels += 1
        if self.futures:
            return wire.futures_order(order, self.exchange_info.markets[symbol], with_time=False)
        return wire.spot_cancel(order, cancel_cid, self.now_ms())

    def _cancel_all(self, params: dict[str, str]) -> Any:
        symbol = self._symbol(params)
        self._cancel_count += 1
        cancel_cid = f"emu-cancel-{self._cancel_count}"
        self._cancel_cid = cancel_cid
        try:
            cancelled = self.engine.cancel_all(symbol)
        finally:
            self._cancel_cid = ""
        self.stats.cancels += len(cancelled)
        if self.futures:
            return {"code": 200, "msg": "The operation of cancel all open order is done."}
        if not cancelled:
            raise ApiError(-2011, "Unknown order sent.")
        now = self.now_ms()
        return [wire.spot_cancel(o, cancel_cid, now) for o in cancelled]

    def _open_orders(self, params: dict[str, str]) -> Any:
        symbol = self._symbol(params, required=False)
        return [self._order_json(o) for o in self.engine.open_orders(symbol or None)]

    def _all_orders(self, params: dict[str, str]) -> Any:
        symbol = self._symbol(params)
        start = int_param(params, "orderId") or 0
        limit = int_param(params, "limit") or 500
        orders = [o for o in self.engine.orders if o.symbol == symbol and o.order_id >= start]
        return [self._order_json(o) for o in orders[-limit:]]

    def _my_trades(self, params: dict[str, str]) -> Any:
        symbol = self._symbol(params)
        fills = self.engine.trades(symbol, order_id=int_param(params, "orderId"))
        from_id = int_param(params, "fromId")
        start, end = int_param(params, "startTime"), int_param(params, "endTime")
        fills = [
            f
            for f in fills
            if (from_id is None or f.trade_id >= from_id)
            and (start is None or f.time_ms >= start)
            and (end is None or f.time_ms <= end)
        ]
        limit = min(int_param(params, "limit") or 500, 1000)
        fills = fills[:limit] if from_id is not None else fills[-limit:]
        if self.futures:
            spec = self.exchange_info.markets[symbol]
            return [wire.futures_user_trade(f, spec) for f in fills]
        return [wire.spot_trade(f) for f in fills]

    def _account(self, params: dict[str, str]) -> Any:
        if self.futures:
            return wire.futures_account(self.engine, self.exchange_info.markets, self.now_ms())
        return wire.spot_account(self.engine, self.now_ms())

    def _balance(self, params: dict[str, str]) -> Any:
        return wire.futures_balance(self.engine, self.now_ms())

    def _positions(self, params: dict[str, str]) -> Any:
        symbol = self._symbol(params, required=False)
        markets = self.exchange_info.markets
        symbols = [symbol] if symbol else list(self.engine.positions)
        return [wire.futures_position_risk(self.engine, markets[s], v2=False) for s in symbols]

    def _brackets(self, params: dict[str, str]) -> Any:
        symbol = self._symbol(params, required=False)
        symbols = [symbol] if symbol else list(self.exchange_info.markets)
        # One bracket per symbol: the emulator has no maintenance-margin tiers.
        return [
            {
                "symbol": s,
                "brackets": [
                    {
                        "bracket": 1,
                        "initialLeverage": 125,
                        "notionalCap": 1_000_000_000,
                        "notionalFloor": 0,
                        "maintMarginRatio": 0.004,
                        "cum": 0.0,
                    }
                ],
            }
            for s in symbols
        ]

    # -- user data stream ----------------------------------------------------------------------

    def _new_key(self, params: dict[str, str]) -> Any:
        created = self.streams.created
        name = self.streams.create()
        self.stats.listen_keys += self.streams.created - created
        return {"listenKey": name}

    def _keep_alive(self, params: dict[str, str]) -> Any:
        try:
            name = self.streams.keep_alive(params.get("listenKey", "") if not self.futures else "")
        except ListenKeyUnknownError:
            raise ApiError(-1125, "This listenKey does not exist.") from None
        return {"listenKey": name} if self.futures else {}

    def _delete_key(self, params: dict[str, str]) -> Any:
        try:
            self.streams.delete(params.get("listenKey", "") if not self.futures else "")
        except ListenKeyUnknownError:
            raise ApiError(-1125, "This listenKey does not exist.") from None
        return {}

    async def user_stream(self, request: web.Request, name: str) -> web.StreamResponse:
        """Serve ``/ws/<listenKey>``: push this account's events until closed."""
        return await self.streams.serve(request, name)

    def _on_event(self, event: ExecutionEvent | AccountChanged) -> None:
        if not self.streams.listening:
            return
        markets = self.exchange_info.markets
        if isinstance(event, ExecutionEvent):
            order = event.order
            if self.futures:
                body = wire.futures_order_update(
                    order, markets[order.symbol], event.execution_type, event.fill, event.time_ms
                )
            else:
                body = wire.spot_execution_report(
                    order, event.execution_type, event.fill, event.time_ms, self._cancel_cid
                )
        elif self.futures:
            body = wire.futures_account_update(
                self.engine, markets, event.assets, event.symbols, event.time_ms, event.reason
            )
        else:
            if not event.assets:
                return
            body = wire.spot_account_position(self.engine, event.assets, event.time_ms)
        self.streams.push(_encode(body))
        self.stats.user_events += 1
