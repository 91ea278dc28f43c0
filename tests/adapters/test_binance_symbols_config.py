"""Binance symbol/stream naming and feed settings: every bad value is named in the error."""

from __future__ import annotations

import random

import pytest

from adapters.binance.config import FeedConfig
from adapters.binance.errors import FeedConfigError
from adapters.binance.feed import BinanceFeed
from adapters.binance.symbols import depth_path, snapshot_limit, streams_for, venue_symbol


class _NullDecoder:
    def on_frame(self, ts_recv: int, frame: bytes) -> None: ...
    def on_snapshot(self, venue_symbol: str, ts_recv: int, body: bytes) -> None: ...
    def symbols_needing_snapshot(self) -> list[str]:
        return []

    def invalidate_all(self, reason: str) -> None: ...


def _cfg(**kw: object) -> FeedConfig:
    base: dict[str, object] = {"ws_url": "ws://127.0.0.1:1", "rest_url": "http://127.0.0.1:1"}
    return FeedConfig(**{**base, **kw})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("symbol", "market", "expected"),
    [
        ("BTC/USDT", "spot", "BTCUSDT"),
        ("eth/usdt", "usdm", "ETHUSDT"),
        ("BTC/USD", "coinm", "BTCUSD_PERP"),
        ("BTCUSDT", "spot", "BTCUSDT"),
    ],
)
def test_venue_symbol_maps_ours_to_binance(symbol: str, market: str, expected: str) -> None:
    assert venue_symbol(symbol, market) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", ["", "  ", "BTC/", "/USDT"])
def test_venue_symbol_when_malformed_then_error_names_it(bad: str) -> None:
    with pytest.raises(FeedConfigError):
        venue_symbol(bad)


def test_streams_are_depth_trades_and_top_of_book() -> None:
    assert streams_for("BTCUSDT", "spot") == [
        "btcusdt@depth@100ms",
        "btcusdt@trade",
        "btcusdt@bookTicker",
    ]
    assert streams_for("BTCUSDT", "usdm", "0ms", "aggTrade")[:2] == [
        "btcusdt@depth@0ms",
        "btcusdt@aggTrade",
    ]
    assert streams_for("BTCUSDT", "spot", "")[0] == "btcusdt@depth"


def test_snapshot_paths_and_limits_per_market() -> None:
    assert depth_path("spot") == "/api/v3/depth"
    assert depth_path("usdm") == "/fapi/v1/depth"
    assert depth_path("coinm") == "/dapi/v1/depth"
    assert snapshot_limit("usdm", 5000) == 1000
    assert snapshot_limit("spot", 5000) == 5000
    assert snapshot_limit("spot", 1) == 5


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("ws_url", "http://x"),
        ("rest_url", "ws://x"),
        ("market", "options"),
        ("stale_after_s", 0.0),
        ("reconnect_base_s", -1.0),
        ("snapshot_timeout_s", 0.0),
        ("trade_stream", "trades"),
    ],
)
def test_feed_config_when_bad_then_error_names_field(field: str, value: object) -> None:
    with pytest.raises(FeedConfigError, match=field):
        _cfg(**{field: value}).validate()


def test_feed_url_subscribes_every_stream_of_every_symbol() -> None:
    feed = BinanceFeed(_NullDecoder(), ["btcusdt", "ETHUSDT"], _cfg(ws_url="ws://h:9/"))
    assert feed.url == (
        "ws://h:9/stream?streams=btcusdt@depth@100ms/btcusdt@trade/btcusdt@bookTicker/"
        "ethusdt@depth@100ms/ethusdt@trade/ethusdt@bookTicker"
    )


def test_feed_without_symbols_is_refused() -> None:
    with pytest.raises(FeedConfigError, match="at least one symbol"):
        BinanceFeed(_NullDecoder(), [], _cfg())


def test_backoff_is_full_jitter_under_a_growing_cap() -> None:
    feed = BinanceFeed(
        _NullDecoder(), ["BTCUSDT"], _cfg(reconnect_base_s=0.5, reconnect_cap_s=4.0),
        rng=random.Random(7),
    )  # fmt: skip
    for attempt, cap in [(0, 0.5), (1, 1.0), (2, 2.0), (3, 4.0), (10, 4.0)]:
        draws = [feed._backoff(attempt) for _ in range(200)]
        assert all(0.0 <= d <= cap for d in draws)
        assert max(draws) > 0.8 * cap  # spread over the whole interval, not a fixed delay
