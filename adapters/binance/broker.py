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

from adapters.binance.config import BrokerConfig
from adapters.ccxt_broker import CcxtBroker, CcxtBrokerConfig, Credentials, point_at
from engine.broker import (
    BrokerError,
    ExchangeUnavailableError,
    InsufficientFundsError,
    OrderNotFoundError,
)

__all__ = ["BinanceBroker", "ListenKeyError", "default_ws_url"]

_WS_URLS = {
    ("spot", False): "wss://stream.binance.com:9443",
    ("spot", True): "wss://stream.testnet.binance.vision",
    ("usdm", False): "wss://fstream.binance.com",
    ("usdm", True): "wss://fstream.binancefuture.com",
}
#: The ccxt API URL whose host ``rest_url`` replaces (with every URL on that host).
_MAIN_API = {"spot": "public", "usdm": "fapiPublic"}


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

    error_code_re = re.compile(r'"code"\s*:\s*"?(-?\d+)')
    error_msg_re = re.compile(r'"msg"\s*:\s*"((?:[^"\\]|\\.)*)"')
    error_label = "Binance"
    recv_window_name = "recvWindow"
    clock_codes = frozenset({-1021})
    auth_codes = frozenset({-1002, -1022, -2014, -2015})
    rate_codes = frozenset({-1003, -1015})
    unknown_outcome_codes = frozenset({-1006, -1007})
    server_codes = frozenset({-1000, -1001, -1008, -1016})
    not_found_codes = frozenset({-2013})
    funds_codes = frozenset({-2019})
    invalid_codes = frozenset(
        {-1013, -1014, -1100, -1102, -1106, -1111, -1115, -1116, -1117, -1121, -2010, -2022}
        | {-5021, -5022}
    )
    invalid_ranges = (range(-4999, -3999),)

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
        }
        cls = ccxt_async.binance if spot else ccxt_async.binanceusdm
        client = cls({"options": options})
        if config.testnet:
            if spot:
                client.set_sandbox_mode(True)
            else:
                client.enable_demo_trading(True)
        if config.rest_url:
            host = urlsplit(client.urls["api"][_MAIN_API[config.market]]).netloc
            point_at(client, config.rest_url, host)
        venue = "binance" if spot else "binance_usdm"
        super().__init__(
            client, CcxtBrokerConfig.of(venue, config), credentials, derivatives=not spot
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

    def code_error(self, code: int, msg: str, text: str, action: str) -> BrokerError | None:
        """Binance's codes whose meaning depends on the message, then the code sets."""
        if code == -1125:
            return ListenKeyError(text)
        if code == -2011 and "Unknown order" in msg:
            return OrderNotFoundError(text)
        if code == -2010 and "insufficient balance" in msg.lower():
            return InsufficientFundsError(text)
        return super().code_error(code, msg, text, action)

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
