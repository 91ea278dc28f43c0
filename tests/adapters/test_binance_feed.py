"""The real picows feed against the local emulator, clean and with one fault at a time.

Each run serves a whole recording as fast as the feed reads it. The oracle
is the emulator's own book (built from the recording, faults apply to the
WebSocket only): at the end our book must be in sync and equal to it, level
for level (the top 20 each side). Each fault must also leave its trace:
gaps counted, resyncs, reconnects, bad frames.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import uvloop

from adapters.binance import BinanceMarketDataDecoder
from adapters.binance.config import FeedConfig
from adapters.binance.feed import BinanceFeed
from adapters.emulator import BinanceEmulator, EmulatorRecording, FaultConfig, load_recording
from engine.instruments import default_instruments
from engine.market import SymbolMarket
from kernels.book import ASK, BID

DATA = Path(__file__).resolve().parents[2] / "data"
SPOT = DATA / "binance_spot" / "btcusdt_20240808.gz"
USDM = DATA / "binance_usdm" / "btcusdt_20240808.gz"
LEVELS = 20
TIMEOUT_S = 30.0


class _Sink:
    """Counts sink calls and records whether the book was in sync at each book change."""

    def __init__(self) -> None:
        self.trades = 0
        self.books = 0
        self.tickers = 0

    def on_trade(self, market: SymbolMarket, ts_recv: int) -> None:
        self.trades += 1

    def on_book(self, market: SymbolMarket, ts_recv: int) -> None:
        self.books += 1

    def on_ticker(self, market: SymbolMarket, ts_recv: int) -> None:
        self.tickers += 1


@pytest.fixture(scope="module")
def spot() -> EmulatorRecording:
    return load_recording(SPOT)


@pytest.fixture(scope="module")
def usdm() -> EmulatorRecording:
    return load_recording(USDM)


def _levels(side: list[list[str]]) -> tuple[np.ndarray, np.ndarray]:
    arr = np.array([[float(p), float(q)] for p, q in side[:LEVELS]], np.float64).reshape(-1, 2)
    return arr[:, 0], arr[:, 1]


async def _run(
    recording: EmulatorRecording,
    venue: str,
    market_kind: str,
    faults: FaultConfig | None,
    *,
    stale_after_s: float = 10.0,
    on_feed: Callable[[BinanceFeed], None] | None = None,
) -> dict[str, Any]:
    instrument = default_instruments().get("BTC/USDT")
    market = SymbolMarket(instrument, 8192, 4096)
    sink = _Sink()
    decoder = BinanceMarketDataDecoder({"BTCUSDT": market}, sink, market=market_kind)  # type: ignore[arg-type]
    alerts: list[tuple[str, str]] = []
    async with BinanceEmulator(recording, venue=venue, faults=faults, fast=True) as emu:
        cfg = FeedConfig(
            ws_url=emu.ws_url,
            rest_url=emu.rest_url,
            market=market_kind,  # type: ignore[arg-type]
            reconnect_base_s=0.01,
            reconnect_cap_s=0.05,
            stale_after_s=stale_after_s,
        )
        feed = BinanceFeed(decoder, ["BTCUSDT"], cfg, on_alert=lambda s, m: alerts.append((s, m)))
        if on_feed is not None:
            on_feed(feed)
        stop = asyncio.Event()
        task = asyncio.create_task(feed.run(stop))
        deadline = time.monotonic() + TIMEOUT_S
        # the whole recording served, and the book back in sync after the last resync
        while not (
            emu.stats.done and market.book.in_sync and not decoder.symbols_needing_snapshot()
        ):
            assert time.monotonic() < deadline, (emu.stats, feed.stats, decoder.stats)
            assert not task.done(), task.exception()
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)  # frames still in the socket
        expected = emu.depth_snapshot(limit=LEVELS)
        bids = market.book.depth(BID, LEVELS)
        asks = market.book.depth(ASK, LEVELS)
        in_sync = market.book.in_sync
        stop.set()
        await asyncio.wait_for(task, TIMEOUT_S)
    # a stopped feed leaves no book claiming to be current
    assert not market.book.in_sync
    return {
        "bids": bids,
        "asks": asks,
        "expected": expected,
        "in_sync": in_sync,
        "decoder": decoder.stats,
        "feed": feed.stats,
        "emu": emu.stats,
        "alerts": alerts,
        "sink": sink,
    }


def _assert_book_equals_emulator(r: dict[str, Any]) -> None:
    assert r["in_sync"]
    exp_bp, exp_bq = _levels(r["expected"]["bids"])
    exp_ap, exp_aq = _levels(r["expected"]["asks"])
    np.testing.assert_allclose(r["bids"][0], exp_bp, rtol=0, atol=1e-9)
    np.testing.assert_allclose(r["bids"][1], exp_bq, rtol=0, atol=1e-12)
    np.testing.assert_allclose(r["asks"][0], exp_ap, rtol=0, atol=1e-9)
    np.testing.assert_allclose(r["asks"][1], exp_aq, rtol=0, atol=1e-12)


def test_feed_when_clean_then_every_frame_applied_and_book_equals_venue(
    spot: EmulatorRecording,
) -> None:
    r = uvloop.run(_run(spot, "binance", "spot", None))
    _assert_book_equals_emulator(r)
    assert r["feed"].frames == r["emu"].frames_sent
    assert r["decoder"].gaps == 0 and r["decoder"].bad_frames == 0
    assert r["feed"].reconnects == 0 and r["feed"].snapshots >= 1
    assert r["sink"].trades > 0 and r["sink"].tickers > 0


def test_feed_when_usdm_then_futures_procedure_keeps_book_equal(usdm: EmulatorRecording) -> None:
    r = uvloop.run(_run(usdm, "binance-usdm", "usdm", None))
    _assert_book_equals_emulator(r)
    assert r["decoder"].gaps == 0


@pytest.mark.parametrize(
    ("name", "faults", "check"),
    [
        ("drop", FaultConfig(drop_every=997), lambda r: r["decoder"].gaps >= 1),
        ("gap", FaultConfig(gap_at=3_000), lambda r: r["decoder"].gaps >= 1),
        ("reorder", FaultConfig(reorder_every=1499), lambda r: r["decoder"].gaps >= 1),
        (
            "corrupt",
            FaultConfig(corrupt_every=1201),
            lambda r: (
                r["decoder"].bad_frames >= 1 and r["emu"].corrupted == r["decoder"].bad_frames
            ),
        ),
        (
            "duplicate",
            FaultConfig(duplicate_every=401),
            lambda r: r["emu"].duplicated > 0 and r["decoder"].gaps == 0,
        ),
        (
            "disconnect",
            FaultConfig(disconnect_after=5_000),
            lambda r: r["feed"].reconnects >= 1 and r["decoder"].resyncs >= 1,
        ),
    ],
)
def test_feed_when_fault_injected_then_resyncs_to_the_venue_book(
    spot: EmulatorRecording, name: str, faults: FaultConfig, check: Callable[[dict[str, Any]], bool]
) -> None:
    r = uvloop.run(_run(spot, "binance", "spot", faults))
    _assert_book_equals_emulator(r)
    assert check(r), (name, r["decoder"], r["feed"], r["emu"])
    if r["decoder"].gaps:
        assert r["decoder"].resyncs >= 1 and r["feed"].snapshots >= 2


def test_feed_when_stalled_then_alert_invalidate_and_reconnect(spot: EmulatorRecording) -> None:
    r = uvloop.run(
        _run(
            spot, "binance", "spot", FaultConfig(stall_after=3_000, stall_s=3.0), stale_after_s=0.5
        )
    )
    _assert_book_equals_emulator(r)
    assert r["feed"].stale >= 1 and r["feed"].reconnects >= 1
    assert r["alerts"] and "no market data" in r["alerts"][0][1]
    assert r["decoder"].resyncs >= 1


def test_feed_when_venue_unreachable_then_backs_off_and_keeps_trying() -> None:
    async def go() -> BinanceFeed:
        instrument = default_instruments().get("BTC/USDT")
        decoder = BinanceMarketDataDecoder({"BTCUSDT": SymbolMarket(instrument, 64, 64)}, _Sink())
        cfg = FeedConfig(
            ws_url="ws://127.0.0.1:9", rest_url="http://127.0.0.1:9",
            reconnect_base_s=0.01, reconnect_cap_s=0.02,
        )  # fmt: skip
        feed = BinanceFeed(decoder, ["BTCUSDT"], cfg)
        stop = asyncio.Event()
        task = asyncio.create_task(feed.run(stop))
        await asyncio.sleep(0.5)
        stop.set()
        await asyncio.wait_for(task, 5)
        return feed

    feed = uvloop.run(go())
    assert feed.stats.connect_failures >= 5 and feed.stats.connects == 0
