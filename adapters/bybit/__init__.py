"""Bybit v5 adapters: the public market-data decoder and live feed (spot, linear)."""

from __future__ import annotations

from adapters.bybit.config import FeedConfig
from adapters.bybit.decoder import BybitDecoderStats, BybitMarketDataDecoder
from adapters.bybit.feed import BybitFeed, BybitFeedStats

__all__ = [
    "BybitDecoderStats",
    "BybitFeed",
    "BybitFeedStats",
    "BybitMarketDataDecoder",
    "FeedConfig",
]
