"""Symbol names and stream names of Binance's markets.

Our instruments are ``BASE/QUOTE`` (``BTC/USDT``); Binance spot and USD-M
use the concatenation (``BTCUSDT``), COIN-M perpetuals ``BTCUSD_PERP``.
Streams are lower case: ``btcusdt@depth@100ms``.
"""

from __future__ import annotations

from typing import Literal

from adapters.binance.errors import FeedConfigError

__all__ = ["MARKETS", "Market", "depth_path", "snapshot_limit", "streams_for", "venue_symbol"]

Market = Literal["spot", "usdm", "coinm"]
MARKETS: tuple[Market, ...] = ("spot", "usdm", "coinm")

_DEPTH_PATH = {"spot": "/api/v3/depth", "usdm": "/fapi/v1/depth", "coinm": "/dapi/v1/depth"}
_SNAPSHOT_LIMIT = {"spot": 5000, "usdm": 1000, "coinm": 1000}


def venue_symbol(symbol: str, market: Market = "spot") -> str:
    """``BTC/USDT`` → ``BTCUSDT`` (``BTC/USD`` → ``BTCUSD_PERP`` on COIN-M); venue names pass."""
    s = symbol.strip().upper()
    if not s:
        raise FeedConfigError("empty symbol")
    if "/" in s:
        base, _, quote = s.partition("/")
        if not base or not quote:
            raise FeedConfigError(f"symbol {symbol!r}: expected BASE/QUOTE")
        s = base + quote
        if market == "coinm":
            s += "_PERP"
    return s


def streams_for(
    vsym: str, market: Market, depth_speed: str = "100ms", trade: str = "trade"
) -> list[str]:
    """The combined-stream names of one symbol: depth diffs, trades, top of book."""
    low = vsym.lower()
    depth = f"{low}@depth@{depth_speed}" if depth_speed else f"{low}@depth"
    return [depth, f"{low}@{trade}", f"{low}@bookTicker"]


def depth_path(market: Market) -> str:
    """REST path of the depth snapshot."""
    return _DEPTH_PATH[market]


def snapshot_limit(market: Market, wanted: int) -> int:
    """The depth limit to ask for: ``wanted``, capped at the venue's maximum."""
    return max(5, min(wanted, _SNAPSHOT_LIMIT[market]))
