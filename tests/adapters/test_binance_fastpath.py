"""The compiled fast path of the Binance decoder gives exactly what the msgspec path gives.

:class:`adapters.binance.decoder.BinanceMarketDataDecoder` sends trade and
depth-diff frames through :mod:`adapters.binance.fastpath` first and
``fast_path=False`` turns that off. Every test here runs both on the same
frames and asserts identical results, event by event: what the sink saw and
when, the books level by level, the trade rings record by record, and every
counter (bad frames by kind included).

* Real recordings: hftbacktest's spot, USD-M and COIN-M captures and
  cryptofeed's spot and USD-M ones (``trade``, ``aggTrade``, ``depth``).
* Mutated frames (hypothesis): truncated, a byte replaced, whitespace
  inserted, a key duplicated, a value's JSON type changed, a field removed.
  Whatever the kernel cannot judge it must hand back untouched.
* Each test also checks that the fast path did take the frames it should
  (otherwise equality would prove nothing).
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.binance.decoder import BinanceMarketDataDecoder
from adapters.binance.fastpath import compiled_entry, spot_trade_frame
from adapters.replay import load_frames
from engine.instruments import Instrument
from engine.market import SymbolMarket
from kernels.dtypes import trade_dt
from tests.adapters.test_binance_book_vs_bookticker import Recording, cryptofeed, hftbacktest

ROOT = Path(__file__).resolve().parents[2]
RECORDINGS = {
    "spot": (ROOT / "data" / "binance_spot" / "btcusdt_20240808.gz", "spot", "BTCUSDT"),
    "usdm": (ROOT / "data" / "binance_usdm" / "btcusdt_20240808.gz", "usdm", "BTCUSDT"),
    "coinm": (ROOT / "data" / "binance_coinm" / "btcusd_perp_20240808.gz", "coinm", "BTCUSD_PERP"),
}


class EventLog:
    """A sink that records everything it is told, with the state it can see at that moment."""

    def __init__(self) -> None:
        self.events: list[tuple[Any, ...]] = []

    def on_trade(self, market: SymbolMarket, ts_recv: int) -> None:
        ring = market.trades
        self.events.append(
            ("trade", market.symbol, ts_recv, ring.count, market.last_price, market.last_trade_ts)
        )

    def on_book(self, market: SymbolMarket, ts_recv: int) -> None:
        book = market.book
        state = (book.in_sync, book.last_update_id, book.ts_event, *book.best())
        self.events.append(("book", market.symbol, ts_recv, *state))

    def on_ticker(self, market: SymbolMarket, ts_recv: int) -> None:
        self.events.append(("ticker", market.symbol, ts_recv, market.ticker_update_id))


class CountingDecoder:
    """Wraps a msgspec decoder to count the frames that reach the msgspec path."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.calls = 0

    def decode(self, frame: bytes) -> Any:
        self.calls += 1
        return self.inner.decode(frame)


@dataclasses.dataclass
class Run:
    decoder: BinanceMarketDataDecoder
    markets: dict[str, SymbolMarket]
    sink: EventLog
    msgspec_frames: int


def _markets(decimals: dict[str, int], tick_size: float | None = None) -> dict[str, SymbolMarket]:
    return {
        symbol: SymbolMarket(
            Instrument(
                symbol=symbol,
                venue="binance",
                venue_symbol=symbol,
                base=symbol,
                quote="",
                tick_size=10.0**-d if tick_size is None else tick_size,
                lot_size=1e-8,
            ),
            book_capacity=8192,
            trade_capacity=4096,  # small enough for the rings to wrap on the recordings
        )
        for symbol, d in decimals.items()
    }


def _run(
    recording: Recording,
    fast: bool,
    events: list[tuple[Any, ...]] | None = None,
    tick_size: float | None = None,
) -> Run:
    markets = _markets(recording.decimals, tick_size)
    sink = EventLog()
    decoder = BinanceMarketDataDecoder(
        markets,
        sink,
        market=recording.market,  # type: ignore[arg-type]
        fast_path=fast,
    )
    counter = CountingDecoder(decoder._frames)
    decoder._frames = counter  # type: ignore[assignment]
    for event in recording.events if events is None else events:
        if len(event) == 2:
            decoder.on_frame(*event)
        else:
            decoder.on_snapshot(event[1], event[0], event[2])
    return Run(decoder, markets, sink, counter.calls)


def _assert_same(fast: Run, slow: Run) -> None:
    assert fast.sink.events == slow.sink.events
    assert dataclasses.asdict(fast.decoder.stats) == dataclasses.asdict(slow.decoder.stats)
    for symbol, market in fast.markets.items():
        other = slow.markets[symbol]
        book, book2 = market.book, other.book
        assert (book.in_sync, book.last_update_id, book.ts_event, book.crossed) == (
            book2.in_sync,
            book2.last_update_id,
            book2.ts_event,
            book2.crossed,
        )
        for side in (0, 1):
            n = int(book.counts[side])
            assert n == int(book2.counts[side])
            assert np.array_equal(book.ticks[side, :n], book2.ticks[side, :n])
            assert np.array_equal(book.qtys[side, :n], book2.qtys[side, :n])
        assert market.trades.count == other.trades.count
        assert market.trades.data.tobytes() == other.trades.data.tobytes()
        assert (market.last_price, market.last_trade_ts) == (other.last_price, other.last_trade_ts)


def _recording(name: str) -> Recording:
    if name.startswith("cryptofeed-"):
        return cryptofeed(
            *{"cryptofeed-spot": ("BINANCE", "spot")}.get(name, ("BINANCE_FUTURES", "usdm"))
        )
    path, market, symbol = RECORDINGS[name]
    return hftbacktest(path, market, symbol)


@pytest.mark.parametrize("name", ["spot", "usdm", "coinm", "cryptofeed-spot", "cryptofeed-usdm"])
def test_fast_path_when_real_recording_then_same_events_books_rings_and_counters(
    name: str,
) -> None:
    recording = _recording(name)
    fast = _run(recording, fast=True)
    slow = _run(recording, fast=False)
    _assert_same(fast, slow)
    stats = slow.decoder.stats
    assert stats.trades > 0 and stats.depth_updates_applied > 0
    # the fast path took (at least) every applied trade and every in-sync diff off msgspec
    taken = slow.msgspec_frames - fast.msgspec_frames
    assert taken >= stats.trades + stats.depth_updates_applied - stats.snapshots * 50
    assert taken > 0.5 * (stats.trades + stats.depth_updates_applied)


# -- mutated frames ------------------------------------------------------------------------------


def _frames(name: str, prefix: bytes, limit: int = 300) -> list[bytes]:
    path = RECORDINGS[name][0]
    out = [f for _, f in load_frames(path) if f.startswith(prefix)]
    return out[:limit]


SPOT_TRADES = _frames("spot", b'{"stream":"btcusdt@trade"')
USDM_TRADES = _frames("usdm", b'{"stream":"btcusdt@trade"')
USDM_DIFFS = _frames("usdm", b'{"stream":"btcusdt@depth', 50)
SPOT_DIFFS = _frames("spot", b'{"stream":"btcusdt@depth', 50)

_SIGNIFICANT = b'"{}[],:.-0123456789eE \\\ttfnx\x00\xff'
_TYPE_SWAPS = [
    (rb'"m":true', b'"m":"true"'),
    (rb'"m":false', b'"m":0'),
    (rb'"T":(\d+)', rb'"T":"\1"'),
    (rb'"t":(\d+)', rb'"t":\1.0'),
    (rb'"E":(\d+)', rb'"E":\1e0'),
    (rb'"u":(\d+)', rb'"u":-\1'),
    (rb'"p":"', b'"p":'),
    (rb'"q":"([0-9.]+)"', rb'"q":"0\1"'),
    (rb'"X":"MARKET"', b'"X":"INSURANCE_FUND"'),
    (rb'"X":"MARKET"', rb'"X":"MARKE\\u0054"'),
    (rb'"s":"BTCUSDT"', b'"s":null'),
    (rb'"b":\[\[', b'"b":[[ '),
    (rb'"a":\[', b'"a":{"x":['),
    (rb',"e":"[a-zA-Z]+"', b""),
    (rb',"T":\d+', b""),
    (rb'"pu":(\d+)', rb'"pu":\1,"pu":\1'),
    (rb'"p":"([0-9.]+)"', rb'"p":"\1","p":"1.0"'),
    (rb'"q":"([0-9.]+)"', rb'"q":"1e-3"'),
    (rb'"q":"([0-9.]+)"', rb'"q":"0.00000000"'),
    (rb'"p":"([0-9.]+)"', rb'"p":"123456789.0123456789"'),
    (rb'"T":(\d+)', rb'"T":99999999999999999'),
    (rb'"t":(\d+)', rb'"t":9999999999999999999'),
]


@st.composite
def mutated(draw: st.DrawFn, frames: list[bytes]) -> bytes:
    frame = draw(st.sampled_from(frames))
    how = draw(st.sampled_from(["none", "truncate", "replace", "insert", "swap", "tail"]))
    if how == "truncate":
        return frame[: draw(st.integers(0, len(frame) - 1))]
    if how in ("replace", "insert"):
        at = draw(st.integers(0, len(frame) - 1))
        byte = bytes([draw(st.sampled_from(list(_SIGNIFICANT)))])
        return frame[:at] + byte + frame[at + (how == "replace") :]
    if how == "swap":
        pattern, replacement = draw(st.sampled_from(_TYPE_SWAPS))
        return re.sub(pattern, lambda m: m.expand(replacement), frame, count=1)
    if how == "tail":
        return frame + draw(st.sampled_from([b" ", b"}", b",", b"\n", b"x"]))
    return frame


def _one_symbol(market: str) -> Recording:
    return Recording(market, [], {"BTCUSDT": 2})


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    frames=st.lists(mutated(SPOT_TRADES + USDM_TRADES), min_size=1, max_size=6),
    market=st.sampled_from(["spot", "usdm"]),
)
def test_fast_path_when_trade_frames_mutated_then_same_as_msgspec(
    frames: list[bytes], market: str
) -> None:
    events = [(1_000 + i, f) for i, f in enumerate(frames)]
    _assert_same(_run(_one_symbol(market), True, events), _run(_one_symbol(market), False, events))


def _chained_usdm(diffs: list[bytes]) -> tuple[bytes, list[bytes]]:
    """A REST snapshot the recorded diffs continue (so the mutated ones meet an in-sync book)."""
    first = json.loads(diffs[0])["data"]
    snapshot = {
        "lastUpdateId": first["pu"],
        "E": first["E"],
        "T": first["T"],
        "bids": [[f"{float(first['b'][0][0]) - k * 0.1:.2f}", "1.000"] for k in range(1, 40)],
        "asks": [[f"{float(first['a'][0][0]) + k * 0.1:.2f}", "1.000"] for k in range(1, 40)],
    }
    # keep the recorded pu chain unbroken: only diffs that follow each other
    chain = [diffs[0]]
    for frame in diffs[1:]:
        data = json.loads(frame)["data"]
        if data["pu"] == json.loads(chain[-1])["data"]["u"]:
            chain.append(frame)
    return json.dumps(snapshot).encode(), chain


USDM_SNAPSHOT, USDM_CHAIN = _chained_usdm(USDM_DIFFS)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(data=st.data())
def test_fast_path_when_depth_diffs_mutated_then_same_books_as_msgspec(data: st.DataObject) -> None:
    # a chain of real diffs, one of them mutated, after a snapshot it continues
    k = data.draw(st.integers(0, min(len(USDM_CHAIN), 8) - 1))
    chain = list(USDM_CHAIN[: k + 3])
    chain[k] = data.draw(mutated([chain[k]]))
    events: list[tuple[Any, ...]] = [(1, "BTCUSDT", USDM_SNAPSHOT)]
    events += [(10 + i, f) for i, f in enumerate(chain)]
    recording = Recording("usdm", [], {"BTCUSDT": 2})
    fast = _run(recording, True, events)
    _assert_same(fast, _run(recording, False, events))


@pytest.mark.parametrize("tick_size", [0.1, 0.05, 0.02])
def test_fast_path_when_tick_not_the_price_grid_then_same_books_as_msgspec(
    tick_size: float,
) -> None:
    # Prices in ticks straight from the digits need a tick of 10**-k and prices on its
    # grid; the USD-M prices have 2 decimals, so with these ticks some or all diffs
    # take the float path (round(price / tick)) instead, with the same books.
    recording = _recording("usdm")
    events = recording.events[:1500]
    fast = _run(recording, True, events, tick_size)
    slow = _run(recording, False, events, tick_size)
    _assert_same(fast, slow)
    assert slow.decoder.stats.depth_updates_applied > 0
    assert fast.msgspec_frames < slow.msgspec_frames


def test_fast_path_when_spot_diffs_then_spot_book_procedure() -> None:
    # spot's U/u procedure: the recorded spot diffs from the recorded snapshot, both ways
    recording = _recording("spot")
    events = recording.events[:2000]
    fast = _run(recording, True, events)
    slow = _run(recording, False, events)
    _assert_same(fast, slow)
    assert slow.decoder.stats.depth_updates_applied > 0
    assert fast.msgspec_frames < slow.msgspec_frames


def test_fast_path_when_str_bytearray_or_memoryview_frames_then_msgspec_path() -> None:
    frame = SPOT_TRADES[0]
    for variant in (frame.decode(), bytearray(frame), memoryview(frame)):
        fast = _run(_one_symbol("spot"), True, [(5, variant)])  # type: ignore[list-item]
        slow = _run(_one_symbol("spot"), False, [(5, frame)])
        _assert_same(fast, slow)
        assert fast.decoder.stats.trades == 1
        assert fast.msgspec_frames == 1  # not the kernel: it takes bytes only


def test_compiled_entry_when_called_then_same_result_as_dispatcher() -> None:
    frame = SPOT_TRADES[0]
    ring_a = np.zeros(4, dtype=trade_dt)
    ring_b = np.zeros(4, dtype=trade_dt)
    entry = compiled_entry(spot_trade_frame, frame, 7, ring_a, 0)
    assert entry is not spot_trade_frame  # the point: a direct entry point
    assert entry(frame, 7, ring_a, 5) == spot_trade_frame(frame, 7, ring_b, 5)
    assert ring_a.tobytes() == ring_b.tobytes()
    assert ring_a[1]["ts_recv"] == 7 and ring_a[1]["price"] > 0
