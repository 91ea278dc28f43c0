"""Symbol names, topic names and control messages of Bybit's v5 public WebSocket.

Our instruments use ccxt's unified symbols: ``BTC/USDT`` (spot) and
``BTC/USDT:USDT`` (linear perpetual); Bybit calls both ``BTCUSDT`` and tells
them apart by the connection: ``<ws_url>/v5/public/spot`` or
``<ws_url>/v5/public/linear``. Topics are ``orderbook.{depth}.{symbol}``,
``publicTrade.{symbol}`` and ``tickers.{symbol}``.

A client subscribes with ``{"op":"subscribe","args":[topic, ...]}`` (spot
takes at most 10 topics per request, so :func:`subscribe_messages` splits
the list) and must send ``{"op":"ping"}`` every 20 seconds or the venue
closes the connection (:data:`PING_MESSAGE`, :data:`PING_INTERVAL_S`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

import msgspec

from adapters.bybit.errors import FeedConfigError

__all__ = [
    "BOOK_DEPTHS",
    "CATEGORIES",
    "MAX_SUBSCRIBE_ARGS",
    "PING_INTERVAL_S",
    "PING_MESSAGE",
    "Category",
    "orderbook_topic",
    "subscribe_messages",
    "ticker_topic",
    "topics_for",
    "trade_topic",
    "unified_symbol",
    "venue_symbol",
    "ws_endpoint",
    "ws_path",
]

Category = Literal["spot", "linear"]
CATEGORIES: tuple[Category, ...] = ("spot", "linear")
#: Order book depths Bybit publishes per category (``orderbook.{depth}.{symbol}``).
BOOK_DEPTHS: dict[str, tuple[int, ...]] = {"spot": (1, 50, 200), "linear": (1, 50, 200, 500)}
#: Seconds between two ``{"op":"ping"}`` heartbeats (Bybit recommends 20 s).
PING_INTERVAL_S = 20.0
#: The heartbeat frame; the venue answers with a pong (counted, not an error).
PING_MESSAGE = b'{"op":"ping"}'
#: Topics per subscribe request (the spot limit; linear takes more, 10 is safe for both).
MAX_SUBSCRIBE_ARGS = 10

_WS_PATH = {"spot": "/v5/public/spot", "linear": "/v5/public/linear"}
#: Quote currencies recognised when turning ``BTCUSDT`` back into ``BTC/USDT``.
_QUOTES = ("USDT", "USDC", "USDE", "FDUSD", "BTC", "ETH", "EUR", "DAI")
_encode = msgspec.json.Encoder().encode


def _check_category(category: str) -> None:
    if category not in CATEGORIES:
        raise FeedConfigError(f"category must be one of {', '.join(CATEGORIES)}, was {category!r}")


def venue_symbol(symbol: str) -> str:
    """``BTC/USDT`` or ``BTC/USDT:USDT`` → ``BTCUSDT``; venue names pass unchanged."""
    s = symbol.strip().upper()
    if not s:
        raise FeedConfigError("empty symbol")
    if "/" in s:
        pair, _, settle = s.partition(":")
        base, _, quote = pair.partition("/")
        if not base or not quote or (settle and settle != quote):
            raise FeedConfigError(f"symbol {symbol!r}: expected BASE/QUOTE or BASE/QUOTE:QUOTE")
        s = base + quote
    return s


def unified_symbol(vsym: str, category: Category) -> str:
    """``BTCUSDT`` → ``BTC/USDT`` (spot) or ``BTC/USDT:USDT`` (linear)."""
    _check_category(category)
    s = vsym.strip().upper()
    for quote in _QUOTES:
        if s.endswith(quote) and len(s) > len(quote):
            base = s[: -len(quote)]
            return f"{base}/{quote}" if category == "spot" else f"{base}/{quote}:{quote}"
    raise FeedConfigError(
        f"symbol {vsym!r}: quote currency not one of {', '.join(_QUOTES)}; use BASE/QUOTE"
    )


def orderbook_topic(vsym: str, depth: int, category: Category) -> str:
    """``orderbook.{depth}.{symbol}``; ``depth`` must be one Bybit publishes for ``category``."""
    _check_category(category)
    depths = BOOK_DEPTHS[category]
    if depth not in depths:
        raise FeedConfigError(
            f"{category} book depth must be one of {', '.join(map(str, depths))}, was {depth}"
        )
    return f"orderbook.{depth}.{vsym}"


def trade_topic(vsym: str) -> str:
    """``publicTrade.{symbol}``."""
    return f"publicTrade.{vsym}"


def ticker_topic(vsym: str) -> str:
    """``tickers.{symbol}``."""
    return f"tickers.{vsym}"


def topics_for(vsym: str, category: Category, depth: int = 50) -> list[str]:
    """The topics of one symbol: order book, trades, ticker."""
    return [orderbook_topic(vsym, depth, category), trade_topic(vsym), ticker_topic(vsym)]


def ws_path(category: Category) -> str:
    """Path of the public stream of ``category`` (``/v5/public/spot``, ``/v5/public/linear``)."""
    _check_category(category)
    return _WS_PATH[category]


def ws_endpoint(ws_url: str, category: Category) -> str:
    """``venues.bybit.ws_url`` plus the category's path (``.../v5/public/spot``)."""
    if not ws_url.startswith(("ws://", "wss://")):
        raise FeedConfigError(
            f"venues.bybit.ws_url must start with ws:// or wss://, was {ws_url!r}"
        )
    return ws_url.rstrip("/") + ws_path(category)


def subscribe_messages(topics: Iterable[str]) -> list[bytes]:
    """``{"op":"subscribe","args":[...]}`` frames of at most :data:`MAX_SUBSCRIBE_ARGS` topics."""
    args = list(topics)
    if not args:
        raise FeedConfigError("nothing to subscribe: no topics")
    return [
        _encode({"op": "subscribe", "args": args[i : i + MAX_SUBSCRIBE_ARGS]})
        for i in range(0, len(args), MAX_SUBSCRIBE_ARGS)
    ]
