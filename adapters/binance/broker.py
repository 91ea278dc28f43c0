"""Binance spot and USDⓈ-M trading through ccxt: the Binance part of the connector.

:class:`BinanceBroker` is a :class:`adapters.ccxt_broker.CcxtBroker` on ccxt's
``binance`` (spot) or ``binanceusdm`` (USD-M) client with:

- ``load_markets`` limited to what the account trades: ``fetchMarkets`` types
  ``["spot"]`` or ``["linear"]`` only, no ``fetchCurrencies`` and no margin
  pairs (private ``sapi`` calls), so it costs one ``exchangeInfo`` request;
- ``rest_url`` replacing the host of every ccxt API URL of the market (so the
  same adapter runs against the local emulator), and ``testnet`` switching to
  Binance's spot testnet or USD-M demo trading (ccxt 4.5.90 no longer offers
  the futures testnet);
- our client order id in ``newClientOrderId`` on new orders and
  ``origClientOrderId`` on queries and cancels;
- Binance's error codes mapped first (:meth:`BinanceBroker.venue_error`), so
  the mapping does not depend on ccxt's per-host error tables: ``-1021`` stale
  timestamp, ``-1022``/``-2014``/``-2015`` credentials, ``-1003`` rate limit,
  ``-1006``/``-1007`` execution unknown, ``-2013``/``-2011`` unknown order,
  ``-2010``/``-2019`` insufficient funds or a refused order, filter failures;
- the listen-key endpoints the user data stream needs
  (:mod:`adapters.binance.userstream`).

Examples
--------
>>> config = BrokerConfig(market="spot", rest_url="http://127.0.0.1:9000",
...                       symbols=("BTC/USDT",))
>>> async with BinanceBroker(config) as broker:  # doctest: +SKIP
...     ack = await broker.place_order(order)
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import ccxt.async_support as ccxt_async
from ccxt.base.errors import BaseError

from adapters.binance.config import BrokerConfig
from adapters.ccxt_broker import CcxtBroker, CcxtBrokerConfig, Credentials
from engine.broker import (
    AuthenticationError,
    BrokerError,
    ExchangeUnavailableError,
    InsufficientFundsError,
    InvalidOrderError,
    OrderNotFoundError,
    RateLimitError,
    RequestTimeoutError,
)

__all__ = ["BinanceBroker", "ListenKeyError", "default_ws_url"]

_CODE_RE = re.compile(r'"code"\s*:\s*"?(-?\d+)')
_MSG_RE = re.compile(r'"msg"\s*:\s*"((?:[^"\\]|\\.)*)"')

_WS_URLS = {
    ("spot", False): "wss://stream.binance.com:9443",
    ("spot", True): "wss://stream.testnet.binance.vision",
    ("usdm", False): "wss://fstream.binance.com",
    ("usdm", True): "wss://fstream.binancefuture.com",
}
#: The ccxt API URL whose host ``rest_url`` replaces (with every URL on that host).
_MAIN_API = {"spot": "public", "usdm": "fapiPublic"}

_AUTH_CODES = frozenset({-1002, -1022, -2014, -2015})
_UNKNOWN_OUTCOME_CODES = frozenset({-1006, -1007})
_SERVER_CODES = frozenset({-1000, -1001, -1008, -1016})
_RATE_CODES = frozenset({-1003, -1015})
#: Refusals of the request's content: never retried.
_INVALID_CODES = frozenset(
    {-1013, -1014, -1100, -1102, -1106, -1111, -1115, -1116, -1117, -1121, -2010, -2022}
    | {-5021, -5022}
)


class ListenKeyError(BrokerError):
    """The listen key is unknown to the venue (expired or closed): create a new one."""


def default_ws_url(market: str, testnet: bool) -> str:
    """Binance's WebSocket base URL of ``market`` (``spot``/``usdm``), live or test."""
    return _WS_URLS[(market, testnet)]


class BinanceBroker(CcxtBroker):
    """A Binance spot or USD-M account as a :class:`~engine.broker.BrokerConnector`.

    Parameters
    ----------
    config :
        The account (market, URLs, symbols, timeouts); see
        :class:`~adapters.binance.config.BrokerConfig`.
    credentials :
        The keys; default read from ``config.api_key_env``/``secret_key_env`` in ``env``.
    env :
        The environment to read the keys from (default ``os.environ``).
    """

    place_client_id_param = "newClientOrderId"
    query_client_id_param = "origClientOrderId"

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
        self.binance = config
        spot = config.market == "spot"
        options: dict[str, Any] = {
            "fetchMarkets": {"types": ["spot" if spot else "linear"]},
            "fetchCurrencies": False,
            "fetchMargins": False,
            "fetchOpenOrders": {"warnWithoutSymbol": False},
            "recvWindow": config.recv_window_ms,
        }
        cls = ccxt_async.binance if spot else ccxt_async.binanceusdm
        client = cls({"options": options})
        if config.testnet:
            if spot:
                client.set_sandbox_mode(True)
            else:
                client.enable_demo_trading(True)
        if config.rest_url:
            _point_at(client, config.market, config.rest_url)
        venue = "binance" if spot else "binance_usdm"
        super().__init__(
            client,
            CcxtBrokerConfig(
                venue=venue,
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
    def market(self) -> str:
        """``spot`` or ``usdm``."""
        return self.binance.market

    @property
    def ws_url(self) -> str:
        """The WebSocket base URL of the user data stream (``/ws/<listenKey>`` is appended)."""
        return self.binance.ws_url or default_ws_url(self.binance.market, self.binance.testnet)

    def client_order_id_of(self, order: Mapping[str, Any]) -> str:
        """Our id: a cancel answer's ``clientOrderId`` is the cancel's own, ours is ``orig...``."""
        info = order.get("info") or {}
        return str(info.get("origClientOrderId") or order.get("clientOrderId") or "")

    # -- errors --------------------------------------------------------------------------------

    def venue_error(self, exc: BaseException, action: str) -> BrokerError | None:
        """Map Binance's error code in ``exc`` (``None`` when it has none)."""
        if not isinstance(exc, BaseError):
            return None
        raw = str(exc)
        found = _CODE_RE.search(raw)
        if found is None:
            return None
        code = int(found.group(1))
        msg_match = _MSG_RE.search(raw)
        msg = msg_match.group(1) if msg_match else ""
        text = self._credentials.redact(f"{self.config.venue} {action}: Binance {code} {msg}")
        placing = action == "place"
        if code == -1021:
            return AuthenticationError(
                f"{text} (the local clock is off the venue's by more than recvWindow "
                f"{self.binance.recv_window_ms} ms: sync it, or set sync_clock)"
            )
        if code in _AUTH_CODES:
            return AuthenticationError(text)
        if code == -1125:
            return ListenKeyError(text)
        if code in _RATE_CODES:
            return RateLimitError(text, retry_after_s=self.retry_after_s())
        if code in _UNKNOWN_OUTCOME_CODES:
            return RequestTimeoutError(text)
        if code in _SERVER_CODES:
            return RequestTimeoutError(text) if placing else ExchangeUnavailableError(text)
        if code == -2013 or (code == -2011 and "Unknown order" in msg):
            return OrderNotFoundError(text)
        if code == -2019 or (code == -2010 and "insufficient balance" in msg.lower()):
            return InsufficientFundsError(text)
        if code in _INVALID_CODES or -4999 <= code <= -4000:
            return InvalidOrderError(text)
        return None

    # -- listen keys ---------------------------------------------------------------------------

    async def create_listen_key(self) -> str:
        """Open (or extend) the account's user data stream; return its listen key."""
        if self.market == "spot":
            answer = await self._call("listen key", self.client.publicPostUserDataStream())
        else:
            answer = await self._call("listen key", self.client.fapiPrivatePostListenKey())
        key = answer.get("listenKey") if isinstance(answer, dict) else None
        if not key:
            raise ExchangeUnavailableError(f"{self.config.venue} listen key: no key in the answer")
        return str(key)

    async def keep_alive_listen_key(self, listen_key: str) -> None:
        """Extend the key's validity (60 minutes on Binance).

        Raises
        ------
        ListenKeyError
            The venue no longer knows the key: create a new one and reconnect.
        """
        if self.market == "spot":
            request = self.client.publicPutUserDataStream({"listenKey": listen_key})
        else:
            request = self.client.fapiPrivatePutListenKey()
        await self._call("listen key keep-alive", request)

    async def close_listen_key(self, listen_key: str) -> None:
        """Close the user data stream of the key."""
        if self.market == "spot":
            request = self.client.publicDeleteUserDataStream({"listenKey": listen_key})
        else:
            request = self.client.fapiPrivateDeleteListenKey()
        await self._call("listen key close", request)


def _point_at(client: ccxt_async.Exchange, market: str, rest_url: str) -> None:
    """Replace the host of every ccxt API URL on the market's main host by ``rest_url``."""
    api = client.urls["api"]
    host = urlsplit(api[_MAIN_API[market]]).netloc
    base = rest_url.rstrip("/")
    for name, url in list(api.items()):
        if isinstance(url, str) and urlsplit(url).netloc == host:
            api[name] = base + urlsplit(url).path
