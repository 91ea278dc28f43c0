"""Bybit v5 adapters: the public market-data decoder and live feed (spot, linear), and
trading through ccxt with the private stream."""

from __future__ import annotations

from adapters.bybit.broker import BybitBroker
from adapters.bybit.config import BrokerConfig, FeedConfig, UserStreamConfig
from adapters.bybit.decoder import BybitDecoderStats, BybitMarketDataDecoder
from adapters.bybit.feed import BybitFeed, BybitFeedStats
from adapters.bybit.userstream import BybitUserStream

__all__ = [
    "BrokerConfig",
    "BybitBroker",
    "BybitDecoderStats",
    "BybitFeed",
    "BybitFeedStats",
    "BybitMarketDataDecoder",
    "BybitUserStream",
    "FeedConfig",
    "UserStreamConfig",
]
