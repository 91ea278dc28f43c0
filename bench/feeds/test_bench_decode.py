"""Market-data decode + apply throughput: our decoder beside ``json``/``orjson`` + dict access.

Issue 6's targets, on one core: >= 1,000,000 trade frames/s and >= 300,000
depth diffs/s (20 levels a side) decoded and applied.

Each case runs three ways in the same session on the same frames (read into
memory once, so gunzip and file I/O are excluded), and all three do the same
*apply* work, so only the decoding differs:

* ``ours``: :class:`adapters.binance.decoder.BinanceMarketDataDecoder`, the
  live feed's path: the stream routed from the frame's first bytes, then one
  compiled kernel (:mod:`adapters.binance.fastpath`) that reads the raw frame
  and writes the trade into the ring, or checks the diff's sequence and
  applies its levels to the book; a sink that does nothing;
* ``ours_msgspec``: the same decoder with ``fast_path=False``: one msgspec
  decode per frame, levels parsed and applied in one compiled call;
* ``json`` / ``orjson``: ``loads(frame)["data"]`` and dict access, floats
  with ``float(text)``, levels as ``np.array`` of ``[price, qty]`` rows, the
  same ``pu``/``U`` check, then the same ``L2Book.apply`` / ``TradeRing.push``.

Cases: trade frames of the spot (``trade``) and USD-M (``trade`` with ``X``)
recordings; the USD-M recording's depth diffs as recorded (``@depth@0ms``,
most diffs small, a few sweeps of hundreds of levels); and 20,000 synthetic
USD-M diffs of exactly 20 bid and 20 ask levels, built on the recording's REST
snapshot (prices within 60 ticks of the touch, quantities drawn from the
snapshot's, 1 in 10 a deletion, ``pu`` chained), which is the issue's case.

Reproduce::

    .venv/bin/python -m pytest bench/feeds -o addopts= -o testpaths=bench --benchmark-only -q
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest

from adapters.binance.decoder import BinanceMarketDataDecoder
from adapters.replay import load_frames
from bench._util import record_rate
from engine.book import BOOK_OK, L2Book
from engine.instruments import Instrument
from engine.market import SymbolMarket
from kernels.dtypes import SIDE_BUY, SIDE_SELL

ROOT = Path(__file__).resolve().parents[2]
RECORDINGS = {
    "spot": ROOT / "data" / "binance_spot" / "btcusdt_20240808.gz",
    "usdm": ROOT / "data" / "binance_usdm" / "btcusdt_20240808.gz",
}
SYNTHETIC_DIFFS = 20_000
LEVELS_PER_SIDE = 20
SEED = 20240808
ROUNDS = 15
_MS = 1_000_000


class NullSink:
    """A MarketDataSink that does nothing (the engine's work is not part of this benchmark)."""

    def on_trade(self, market: SymbolMarket, ts_recv: int) -> None:
        pass

    def on_book(self, market: SymbolMarket, ts_recv: int) -> None:
        pass

    def on_ticker(self, market: SymbolMarket, ts_recv: int) -> None:
        pass


def _market() -> SymbolMarket:
    instrument = Instrument(
        symbol="BTCUSDT",
        venue="binance",
        venue_symbol="BTCUSDT",
        base="BTC",
        quote="USDT",
        tick_size=0.01,
        lot_size=0.001,
    )
    return SymbolMarket(instrument, book_capacity=8192, trade_capacity=65536)


@pytest.fixture(scope="session")
def recordings() -> dict[str, list[tuple[int, bytes]]]:
    return {name: load_frames(path) for name, path in RECORDINGS.items()}


def _snapshot(frames: list[tuple[int, bytes]]) -> tuple[int, bytes]:
    return next((ts, f) for ts, f in frames if not f.startswith(b'{"stream"'))


def _synthetic_diffs(snapshot: bytes) -> list[tuple[int, bytes]]:
    """20/20-level USD-M diffs on top of the recorded snapshot (seeded, never crossing)."""
    rng = random.Random(SEED)
    body = json.loads(snapshot)
    best_bid = float(body["bids"][0][0])
    best_ask = float(body["asks"][0][0])
    quantities = [q for _, q in body["bids"] + body["asks"]]
    last = body["lastUpdateId"]
    out = []
    for n in range(SYNTHETIC_DIFFS):
        levels = {}
        for side, start, step in (("b", best_bid, -0.1), ("a", best_ask, 0.1)):
            ticks = sorted(rng.sample(range(60), LEVELS_PER_SIDE))
            levels[side] = [
                [
                    f"{start + step * k:.2f}",
                    "0.000" if rng.random() < 0.1 else rng.choice(quantities),
                ]
                for k in ticks
            ]
        first, final = last + 1 + rng.randrange(5), last + 20 + rng.randrange(200)
        data = {
            "e": "depthUpdate",
            "E": 1_723_161_257_000 + n,
            "T": 1_723_161_257_000 + n,
            "s": "BTCUSDT",
            "U": first,
            "u": final,
            "pu": last,
            **levels,
        }
        frame = json.dumps({"stream": "btcusdt@depth@0ms", "data": data}, separators=(",", ":"))
        out.append((n, frame.encode()))
        last = final
    return out


@pytest.fixture(scope="session")
def depth_cases(recordings: dict[str, list[tuple[int, bytes]]]) -> dict[str, Any]:
    frames = recordings["usdm"]
    snapshot = _snapshot(frames)
    recorded = [(ts, f) for ts, f in frames if f.startswith(b'{"stream":"btcusdt@depth')]
    return {
        "synthetic_20x20": (snapshot, _synthetic_diffs(snapshot[1])),
        "usdm_recorded": (snapshot, recorded),
    }


# -- the alternatives: a plain-Python decoder over a JSON parser, same apply -------------------


def _alternative_trades(loads: Callable[[bytes], Any], ring: Any) -> Callable[[list], int]:
    push = ring.push

    def run(frames: list[tuple[int, bytes]]) -> int:
        n = 0
        for ts, frame in frames:
            d = loads(frame)["data"]
            if d.get("X", "MARKET") != "MARKET":
                continue
            price = float(d["p"])
            qty = float(d["q"])
            if not (0.0 < price < math.inf and 0.0 < qty < math.inf):
                continue
            push(d["T"] * _MS, ts, price, qty, d["t"], SIDE_SELL if d["m"] else SIDE_BUY)
            n += 1
        return n

    return run


def _levels(rows: list[list[str]]) -> np.ndarray:
    return np.array([(float(p), float(q)) for p, q in rows], dtype=np.float64).reshape(-1, 2)


def _alternative_depth(loads: Callable[[bytes], Any], book: L2Book) -> Callable[[list], int]:
    def run(frames: list[tuple[int, bytes]]) -> int:
        n = 0
        for _, frame in frames:
            d = loads(frame)["data"]
            last = book.last_update_id
            if d["u"] < last:
                continue
            if d["pu"] != last and not (d["U"] <= last <= d["u"]):
                raise AssertionError("gap in the benchmark's diffs")
            if book.apply(_levels(d["b"]), _levels(d["a"]), d["u"], d["T"] * _MS) == BOOK_OK:
                n += 1
        return n

    return run


def _load_snapshot(book: L2Book, snapshot: bytes) -> None:
    body = json.loads(snapshot)
    book.load_snapshot(_levels(body["bids"]), _levels(body["asks"]), body["lastUpdateId"])


# -- trades ------------------------------------------------------------------------------------

DECODERS = ["ours", "ours_msgspec", "json", "orjson"]
_LOADS = {"json": json.loads, "orjson": orjson.loads}


@pytest.mark.parametrize("decoder", DECODERS)
@pytest.mark.parametrize("recording", sorted(RECORDINGS))
def test_bench_trade_frames(
    bench: Any, recordings: dict[str, list[tuple[int, bytes]]], recording: str, decoder: str
) -> None:
    marker = b'{"stream":"btcusdt@trade"'
    frames = [(ts, f) for ts, f in recordings[recording] if f.startswith(marker)]
    bench.group = f"decode+apply: {recording} trade frames ({len(frames):,})"
    market = _market()
    if decoder.startswith("ours"):
        ours = BinanceMarketDataDecoder(
            {"BTCUSDT": market},
            NullSink(),
            market="spot" if recording == "spot" else "usdm",  # type: ignore[arg-type]
            fast_path=decoder == "ours",
        )
        ours.warm_up()
        on_frame = ours.on_frame

        def run() -> int:
            before = ours.stats.trades
            for ts, frame in frames:
                on_frame(ts, frame)
            return ours.stats.trades - before

    else:
        run = _bind(_alternative_trades(_LOADS[decoder], market.trades), frames)

    assert bench.pedantic(run, rounds=ROUNDS, iterations=1, warmup_rounds=1) == len(frames)
    bench.extra_info.update(frames=len(frames), decoder=decoder, orjson=orjson.__version__)
    record_rate(bench, len(frames), "trades_per_s_median")


def _bind(fn: Callable[[list], int], frames: list) -> Callable[[], int]:
    return lambda: fn(frames)


# -- depth diffs -------------------------------------------------------------------------------


@pytest.mark.parametrize("decoder", DECODERS)
@pytest.mark.parametrize("case", ["synthetic_20x20", "usdm_recorded"])
def test_bench_depth_diffs(
    bench: Any, depth_cases: dict[str, Any], case: str, decoder: str
) -> None:
    (snap_ts, snapshot), diffs = depth_cases[case]
    levels = [len(json.loads(f)["data"]["b"]) + len(json.loads(f)["data"]["a"]) for _, f in diffs]
    bench.group = f"decode+apply: USD-M depth diffs, {case} ({len(diffs):,})"
    applied: list[int] = []

    if decoder.startswith("ours"):
        fast = decoder == "ours"

        def setup() -> tuple[tuple[Any, ...], dict[str, Any]]:
            ours = BinanceMarketDataDecoder(
                {"BTCUSDT": _market()}, NullSink(), market="usdm", fast_path=fast
            )
            ours.warm_up()
            ours.on_frame(snap_ts, snapshot)  # the recording's snapshot line
            return (ours,), {}

        def run(ours: BinanceMarketDataDecoder) -> None:
            on_frame = ours.on_frame
            for ts, frame in diffs:
                on_frame(ts, frame)
            applied.append(ours.stats.depth_updates_applied)
            assert ours.stats.gaps == 0

    else:
        loads = _LOADS[decoder]

        def setup() -> tuple[tuple[Any, ...], dict[str, Any]]:
            book = _market().book
            _load_snapshot(book, snapshot)
            return (_alternative_depth(loads, book),), {}

        def run(apply: Callable[[list], int]) -> None:  # type: ignore[misc]
            applied.append(apply(diffs))

    bench.pedantic(run, setup=setup, rounds=ROUNDS, iterations=1, warmup_rounds=1)
    # every diff after the snapshot is applied, by each decoder alike
    last_id = json.loads(snapshot)["lastUpdateId"]
    expected = sum(1 for _, f in diffs if json.loads(f)["data"]["u"] >= last_id)
    assert set(applied) == {expected}
    bench.extra_info.update(
        diffs=len(diffs),
        applied=expected,
        levels_per_diff_mean=round(float(np.mean(levels)), 1),
        levels_per_diff_median=float(np.median(levels)),
        decoder=decoder,
        orjson=orjson.__version__,
    )
    record_rate(bench, expected, "diffs_per_s_median")
