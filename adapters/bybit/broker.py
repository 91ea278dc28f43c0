"""Bybit v5 spot and linear trading through ccxt: the Bybit part of the connector.

:class:`BybitBroker` is a :class:`adapters.ccxt_broker.CcxtBroker` on ccxt's
``bybit`` client for one unified trading account (UTA) and one category, with:

- ``load_markets`` limited to what the account trades: ``fetchMarkets`` types
  ``["spot"]`` or ``["linear"]`` only (linear asks twice, for the trading and the
  pre-launch instruments), no ``fetchCurrencies`` (a private
  ``/v5/asset/coin/query-info`` call) and the account declared unified, so ccxt
  never asks ``/v5/user/query-api`` and ``/v5/account/info``;
- ``rest_url`` replacing the host of every ccxt API URL (so the same adapter
  runs against the local emulator), ``testnet`` switching to Bybit's testnet;
- our client order id in ``orderLinkId`` on new orders, queries and cancels;
- what ccxt's unified calls get wrong for a UTA mapped by hand: an order is
  looked up by ``orderLinkId`` on ``/v5/order/realtime`` (then ``history``),
  never with an empty ``orderId``; a cancel (whose answer has ids only) and a
  cancel-all are reported ``CANCELLED``; open orders are read page by page;
  positions are asked for by settle coin, not per symbol; and a spot
  ``PartiallyFilledCanceled`` order is cancelled, not filled;
- Bybit's ``retCode`` mapped first (:meth:`BybitBroker.venue_error`): ``10002``
  stale timestamp, ``10003``/``10004``/``10005``/``10007``/``10010``
  credentials, ``10006``/``10018`` rate limits (the wait from
  ``X-Bapi-Limit-Reset-Timestamp``), ``10000``/``10016`` venue errors (outcome
  unknown on a placement), ``110001``/``170213`` unknown order, ``110004``/
  ``110007``/``110012``/``110045``/``170131`` insufficient funds, and the order
  refusals (``10001``, ``110003``, ``110017``, ``110072``, ``110094``,
  ``1701xx``);
- the ``/v5/execution/list`` rows the private stream's REST fallback reads
  (:meth:`BybitBroker.fetch_executions`), and the recent fills reconciliation
  reads (:meth:`BybitBroker.get_recent_fills`), with their ``orderLinkId``.

The acknowledgement of a placement is Bybit's: the order's ids only (Bybit
creates orders asynchronously), so it is ``ACCEPTED`` with nothing filled even
for a market order that filled at once; fills come from the private stream
(:mod:`adapters.bybit.userstream`) or :meth:`BybitBroker.get_order`.

Examples
--------
>>> config = BrokerConfig(category="linear", rest_url="http://127.0.0.1:9000",
...                       symbols=("BTC/USDT:USDT",))
>>> async with BybitBroker(config) as broker:  # doctest: +SKIP
...     ack = await broker.place_order(order)
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import ccxt.async_support as ccxt_async
from ccxt.base.errors import BaseError

from adapters.bybit.config import BrokerConfig
from adapters.ccxt_broker import CcxtBroker, CcxtBrokerConfig, Credentials
from engine.broker import (
    AuthenticationError,
    BrokerError,
    ExchangeUnavailableError,
    InsufficientFundsError,
    InvalidOrderError,
    OrderAck,
    OrderNotFoundError,
    RateLimitError,
    RequestTimeoutError,
    VenueFill,
    VenueOrder,
    VenuePosition,
)
from engine.orders import OrderStatus, Side

__all__ = ["BybitBroker", "default_ws_url"]

_CODE_RE = re.compile(r'"retCode"\s*:\s*"?(-?\d+)')
_MSG_RE = re.compile(r'"retMsg"\s*:\s*"((?:[^"\\]|\\.)*)"')
_WS_URLS = {False: "wss://stream.bybit.com", True: "wss://stream-testnet.bybit.com"}
#: Seconds Bybit asks a client banned by the IP limit (HTTP 403) to wait.
_IP_BAN_WAIT_S = 600.0

_AUTH_CODES = frozenset({10003, 10004, 10005, 10007, 10009, 10010, 33004, -2015})
_RATE_CODES = frozenset({10006, 10018, 10429})
_SERVER_CODES = frozenset({10000, 10016, 10019})
_NOT_FOUND_CODES = frozenset({110001, 170213})
_FUNDS_CODES = frozenset({110004, 110007, 110012, 110045, 170131})
_INVALID_CODES = frozenset(
    {10001, 110003, 110017, 110072, 110094, 170130, 170141, 170193, 170194, 170210}
)


def default_ws_url(testnet: bool) -> str:
    """Bybit's WebSocket base URL, live or test (``/v5/private`` is appended)."""
    return _WS_URLS[testnet]


class BybitBroker(CcxtBroker):
    """A Bybit v5 unified account, spot or linear, as a :class:`~engine.broker.BrokerConnector`.

    Parameters
    ----------
    config :
        The account (category, URLs, symbols, timeouts); see
        :class:`~adapters.bybit.config.BrokerConfig`.
    credentials :
        The keys; default read from ``config.api_key_env``/``secret_key_env`` in ``env``.
    env :
        The environment to read the keys from (default ``os.environ``).
    """

    place_client_id_param = "orderLinkId"
    query_client_id_param = "orderLinkId"

    def __init__(
        self,
        config: BrokerConfig | None = None,
        *,
        credentials: Credentials | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        config = config if config is not None else BrokerConfig()
        if credentials is None:
            credentials = Credentials.from_env(config.api_key_env, config.secret_key_env, env)
        self.bybit = config
        spot = config.category == "spot"
        options: dict[str, Any] = {
            "fetchMarkets": {"types": [config.category]},
            "enableUnifiedMargin": False,
            "enableUnifiedAccount": True,
            "unifiedMarginStatus": 6,
            "defaultType": "spot" if spot else "swap",
            "defaultSubType": "linear",
            "defaultSettle": "USDT",
            "recvWindow": config.recv_window_ms,
        }
        client = ccxt_async.bybit({"options": options, "has": {"fetchCurrencies": False}})
        if config.testnet:
            client.set_sandbox_mode(True)
        if config.rest_url:
            base = config.rest_url.rstrip("/")
            api = client.urls["api"]
            for name, url in list(api.items()):
                if isinstance(url, str):
                    api[name] = base + urlsplit(url).path
        super().__init__(
            client,
            CcxtBrokerConfig(
                venue="bybit" if spot else "bybit_linear",
                symbols=config.symbols,
                timeout_s=config.timeout_s,
                rate_limit=config.rate_limit,
                sync_clock=config.sync_clock,
                strict_lot_size=config.strict_lot_size,
            ),
            credentials,
            derivatives=not spot,
        )

    @property
    def category(self) -> str:
        """``spot`` or ``linear``."""
        return self.bybit.category

    @property
    def ws_url(self) -> str:
        """The WebSocket base URL of the private stream (``/v5/private`` is appended)."""
        return self.bybit.ws_url or default_ws_url(self.bybit.testnet)

    def credentials(self) -> Credentials:
        """The key pair (for the private stream's auth; never log it)."""
        return self._credentials

    # -- orders --------------------------------------------------------------------------------

    async def cancel_order(self, client_order_id: str) -> OrderAck:
        """Cancel the open order ``client_order_id`` and return it ``CANCELLED``.

        Bybit's answer holds the ids only; the filled quantity is read back from
        ``/v5/order/realtime`` (it stays 0 if that query fails: the cancel stood).

        Raises
        ------
        OrderNotFoundError
            No open order with this id on any symbol this broker knows.
        """
        cancelled = await self._on_symbols(
            client_order_id,
            "cancel",
            lambda symbol: self.client.cancel_order(None, symbol, {"orderLinkId": client_order_id}),
        )
        venue_id = str(cancelled.get("id") or "")
        filled, average = 0.0, 0.0
        try:
            now = await self.get_order(client_order_id)
        except BrokerError:
            now = None
        if now is not None:
            filled, average = now.filled_quantity, now.average_price
        return OrderAck(
            client_order_id=client_order_id,
            venue_order_id=venue_id,
            status=OrderStatus.CANCELLED,
            filled_quantity=filled,
            average_price=average,
        )

    async def get_order(self, client_order_id: str) -> VenueOrder:
        """The order's state now, by ``orderLinkId`` (recent orders, then the history).

        Raises
        ------
        OrderNotFoundError
            The venue knows no order with this id on any symbol this broker knows.
        """
        found = await self._on_symbols(
            client_order_id,
            "query",
            lambda symbol: self._lookup(symbol, {"orderLinkId": client_order_id}),
        )
        return self._venue_order(found)

    async def get_order_by_id(self, symbol: str, venue_order_id: str) -> VenueOrder:
        """The order with Bybit's ``orderId`` on ``symbol``."""
        found = await self._call("query", self._lookup(symbol, {"orderId": venue_order_id}))
        return self._venue_order(found)

    async def _lookup(self, symbol: str, ids: dict[str, str]) -> dict[str, Any]:
        market = self.client.market(symbol)
        request = {"category": self.category, "symbol": market["id"], **ids}
        client = self.client
        for endpoint in (client.privateGetV5OrderRealtime, client.privateGetV5OrderHistory):
            response = await endpoint(request)
            rows = (response.get("result") or {}).get("list") or []
            if rows:
                return self._parsed(rows[0], market)
        raise OrderNotFoundError(
            f"{self.config.venue} query: no order {' '.join(ids.values())} on {symbol}"
        )

    def _parsed(self, raw: dict[str, Any], market: Mapping[str, Any]) -> dict[str, Any]:
        order: dict[str, Any] = self.client.parse_order(raw, market)
        if raw.get("orderStatus") == "PartiallyFilledCanceled":  # ccxt says "closed"
            order["status"] = "canceled"
        return order

    async def get_open_orders(self, symbol: str | None = None) -> list[VenueOrder]:
        """Open orders of ``symbol``, or of every symbol of the category (all pages)."""
        request: dict[str, Any] = {"category": self.category, "limit": 50}
        market = None
        if symbol is not None:
            market = self.client.market(symbol)
            request["symbol"] = market["id"]
        elif self.category == "linear":
            request["settleCoin"] = "USDT"
        rows: list[dict[str, Any]] = []
        while True:
            response = await self._call(
                "open orders", self.client.privateGetV5OrderRealtime(request)
            )
            result = response.get("result") or {}
            rows.extend(result.get("list") or [])
            cursor = result.get("nextPageCursor") or ""
            if not cursor:
                break
            request = {**request, "cursor": cursor}
        out = []
        for raw in rows:
            found = market or self.client.safe_market(raw.get("symbol"), None, None, self._type)
            out.append(self._venue_order(self._parsed(raw, found)))
        return out

    @property
    def _type(self) -> str:
        return "spot" if self.category == "spot" else "swap"

    async def cancel_all(self, symbol: str | None = None) -> list[OrderAck]:
        """Cancel every open order (of ``symbol``, or all) and return them ``CANCELLED``."""
        before = await self.get_open_orders(symbol)
        known = {o.venue_order_id: o for o in before}
        symbols = [symbol] if symbol is not None else sorted({o.symbol for o in before})
        acks: list[OrderAck] = []
        for sym in symbols:
            result = await self._call("cancel all", self.client.cancel_all_orders(sym))
            for item in result:
                venue_id = str(item.get("id") or "")
                order = known.get(venue_id)
                acks.append(
                    OrderAck(
                        client_order_id=str(item.get("clientOrderId") or "")
                        or (order.client_order_id if order is not None else ""),
                        venue_order_id=venue_id,
                        status=OrderStatus.CANCELLED,
                        filled_quantity=order.filled_quantity if order is not None else 0.0,
                        average_price=order.average_price if order is not None else 0.0,
                    )
                )
        return acks

    async def get_positions(self) -> list[VenuePosition]:
        """Every non-zero linear position (of the configured symbols, when any are)."""
        if not self.derivatives:
            return []
        positions = await self._call("positions", self.client.fetch_positions(None))
        wanted = set(self.config.symbols)
        out = []
        for p in positions:
            contracts = float(p.get("contracts") or 0.0)
            if not contracts or (wanted and p["symbol"] not in wanted):
                continue
            sign = -1.0 if p.get("side") == "short" else 1.0
            out.append(
                VenuePosition(
                    symbol=p["symbol"],
                    quantity=sign * contracts * float(p.get("contractSize") or 1.0),
                    average_price=float(p.get("entryPrice") or 0.0),
                )
            )
        return out

    async def fetch_executions(
        self, symbol: str, since_ms: int | None = None, *, limit: int = 100
    ) -> list[dict[str, Any]]:
        """Raw ``/v5/execution/list`` rows (``execType=Trade``) of ``symbol``, newest first."""
        request: dict[str, Any] = {
            "category": self.category,
            "symbol": self.client.market(symbol)["id"],
            "execType": "Trade",
            "limit": limit,
        }
        if since_ms is not None:
            request["startTime"] = since_ms
        rows: list[dict[str, Any]] = []
        while True:
            response = await self._call("fills", self.client.privateGetV5ExecutionList(request))
            result = response.get("result") or {}
            rows.extend(result.get("list") or [])
            cursor = result.get("nextPageCursor") or ""
            if not cursor:
                return rows
            request = {**request, "cursor": cursor}

    async def get_recent_fills(self, since_ns: int, symbol: str | None = None) -> list[VenueFill]:
        """Our fills since ``since_ns`` (of ``symbol``, else of every symbol this broker knows).

        Implements :class:`engine.broker.FillHistory` from ``/v5/execution/list``,
        whose rows name the ``orderLinkId``: no order lookups.
        """
        symbols = (
            [symbol]
            if symbol is not None
            else sorted(set(self.config.symbols) | set(self._symbol_of.values()))
        )
        out: list[VenueFill] = []
        for sym in symbols:
            for row in await self.fetch_executions(sym, since_ns // 1_000_000):
                out.append(
                    VenueFill(
                        trade_id=str(row.get("execId") or ""),
                        client_order_id=str(row.get("orderLinkId") or ""),
                        symbol=sym,
                        side=Side.BUY if row.get("side") == "Buy" else Side.SELL,
                        quantity=float(row.get("execQty") or 0.0),
                        price=float(row.get("execPrice") or 0.0),
                        fee=float(row.get("execFee") or 0.0),
                        fee_currency=str(row.get("feeCurrency") or ""),
                        liquidity="maker" if row.get("isMaker") else "taker",
                        ts=int(row.get("execTime") or 0) * 1_000_000,
                        venue_order_id=str(row.get("orderId") or ""),
                    )
                )
        out.sort(key=lambda f: (f.ts, f.trade_id))
        return out

    # -- errors --------------------------------------------------------------------------------

    def retry_after_s(self) -> float | None:
        """Seconds until ``X-Bapi-Limit-Reset-Timestamp`` (else ``Retry-After``), if sent."""
        headers = getattr(self.client, "last_response_headers", None) or {}
        for name, value in headers.items():
            if name.lower() == "x-bapi-limit-reset-timestamp":
                try:
                    return max(0.0, (int(value) - time.time() * 1000) / 1000)
                except (TypeError, ValueError):
                    return None
        return super().retry_after_s()

    def map_error(self, exc: BaseException, action: str) -> BrokerError:
        """``exc`` as a :class:`~engine.broker.BrokerError`; ``exc``'s own text redacted too.

        Bybit's ``10004`` answer echoes the signed string, API key included, and
        ccxt puts the answer in its exception, which becomes the ``__cause__`` of
        ours: its arguments are redacted in place so no traceback shows the key.
        """
        redact = self._credentials.redact
        exc.args = tuple(redact(a) if isinstance(a, str) else a for a in exc.args)
        return super().map_error(exc, action)

    def venue_error(self, exc: BaseException, action: str) -> BrokerError | None:
        """Map Bybit's ``retCode`` in ``exc`` (``None`` when it has none)."""
        if not isinstance(exc, BaseError):
            return None
        raw = str(exc)
        found = _CODE_RE.search(raw)
        if found is None:
            if " 403 " in f" {raw} " or "access too frequent" in raw:
                return RateLimitError(
                    self._credentials.redact(f"{self.config.venue} {action}: HTTP 403 {raw}"),
                    retry_after_s=_IP_BAN_WAIT_S,
                )
            return None
        code = int(found.group(1))
        if code == 0:
            return None
        msg_match = _MSG_RE.search(raw)
        msg = msg_match.group(1) if msg_match else ""
        text = self._credentials.redact(f"{self.config.venue} {action}: Bybit {code} {msg}")
        placing = action == "place"
        if code == 10002:
            return AuthenticationError(
                f"{text} (the local clock is off the venue's by more than the recv window "
                f"{self.bybit.recv_window_ms} ms: sync it, or set sync_clock)"
            )
        if code in _AUTH_CODES:
            return AuthenticationError(text)
        if code in _RATE_CODES:
            return RateLimitError(text, retry_after_s=self.retry_after_s())
        if code in _SERVER_CODES:
            return RequestTimeoutError(text) if placing else ExchangeUnavailableError(text)
        if code in _NOT_FOUND_CODES:
            return OrderNotFoundError(text)
        if code in _FUNDS_CODES:
            return InsufficientFundsError(text)
        if code in _INVALID_CODES or 170000 <= code < 171000:
            return InvalidOrderError(text)
        return None
