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
  never with an empty ``orderId``; open orders are read page by page; and a
  spot ``PartiallyFilledCanceled`` order is cancelled, not filled (a cancel and
  a cancel-all, whose answers hold ids only, are reported ``CANCELLED``, and
  positions of several symbols are asked for all at once, by
  :class:`~adapters.ccxt_broker.CcxtBroker`);
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
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import ccxt.async_support as ccxt_async

from adapters.bybit.config import BrokerConfig
from adapters.ccxt_broker import CcxtBroker, CcxtBrokerConfig, Credentials, point_at
from engine.broker import (
    BrokerError,
    OrderNotFoundError,
    RateLimitError,
    VenueFill,
    VenueOrder,
)
from engine.orders import Side

__all__ = ["BybitBroker", "default_ws_url"]

_WS_URLS = {False: "wss://stream.bybit.com", True: "wss://stream-testnet.bybit.com"}
#: Seconds Bybit asks a client banned by the IP limit (HTTP 403) to wait.
_IP_BAN_WAIT_S = 600.0

Rows = list[dict[str, Any]]


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

    error_code_re = re.compile(r'"retCode"\s*:\s*"?(-?\d+)')
    error_msg_re = re.compile(r'"retMsg"\s*:\s*"((?:[^"\\]|\\.)*)"')
    error_label = "Bybit"
    clock_codes = frozenset({10002})
    auth_codes = frozenset({10003, 10004, 10005, 10007, 10009, 10010, 33004, -2015})
    rate_codes = frozenset({10006, 10018, 10429})
    server_codes = frozenset({10000, 10016, 10019})
    not_found_codes = frozenset({110001, 170213})
    funds_codes = frozenset({110004, 110007, 110012, 110045, 170131})
    invalid_codes = frozenset(
        {10001, 110003, 110017, 110072, 110094, 170130, 170141, 170193, 170194, 170210}
    )
    invalid_ranges = (range(170000, 171000),)

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
        }
        client = ccxt_async.bybit({"options": options, "has": {"fetchCurrencies": False}})
        if config.testnet:
            client.set_sandbox_mode(True)
        if config.rest_url:
            point_at(client, config.rest_url)
        venue = "bybit" if spot else "bybit_linear"
        super().__init__(
            client, CcxtBrokerConfig.of(venue, config), credentials, derivatives=not spot
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

    async def fetch_order(
        self,
        symbol: str,
        *,
        venue_order_id: str | None = None,
        client_order_id: str | None = None,
    ) -> dict[str, Any]:
        """The order by ``orderLinkId`` or ``orderId`` on ``/v5/order/realtime``, then the history.

        Raises
        ------
        OrderNotFoundError
            Neither lists the order.
        """
        ids = (
            {"orderLinkId": client_order_id}
            if client_order_id is not None
            else {"orderId": venue_order_id or ""}
        )
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
        rows = await self._pages("open orders", self.client.privateGetV5OrderRealtime, request)
        out = []
        for raw in rows:
            found = market or self.client.safe_market(raw.get("symbol"), None, None, self._type)
            out.append(self._venue_order(self._parsed(raw, found)))
        return out

    @property
    def _type(self) -> str:
        return "spot" if self.category == "spot" else "swap"

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
        return await self._pages("fills", self.client.privateGetV5ExecutionList, request)

    async def _pages(
        self, action: str, endpoint: Callable[[dict[str, Any]], Awaitable[Any]], request: Any
    ) -> Rows:
        """Every row of a paged ``/v5`` list (``nextPageCursor``)."""
        rows: Rows = []
        while True:
            response = await self._call(action, endpoint(request))
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
        out: list[VenueFill] = []
        for sym in self.fill_symbols(symbol):
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
        reset = self.response_header("x-bapi-limit-reset-timestamp")
        if reset is None:
            return super().retry_after_s()
        try:
            return max(0.0, (int(reset) - time.time() * 1000) / 1000)
        except ValueError:
            return None

    def uncoded_error(self, raw: str, action: str) -> BrokerError | None:
        """Bybit's IP limit: HTTP 403 ``access too frequent``, a wait of 10 minutes."""
        if " 403 " in f" {raw} " or "access too frequent" in raw:
            return RateLimitError(
                self._credentials.redact(f"{self.config.venue} {action}: HTTP 403 {raw}"),
                retry_after_s=_IP_BAN_WAIT_S,
            )
        return None
