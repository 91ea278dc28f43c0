"""Bybit v5 decode + apply throughput: our decoder beside ``json``/``orjson`` + dict access.

The Bybit counterpart of :mod:`bench.feeds.test_bench_decode` (issue 6's
targets, on one core: >= 1,000,000 trade frames/s and >= 300,000 book deltas/s
of 20 levels a side, decoded and applied).

The frames are Bybit's v5 public messages as the local Bybit emulator serves
them (:class:`adapters.emulator.BybitEmulator`, ``orderbook.50`` and
``publicTrade``), made from the bundled Binance recordings: each recording is
served once per session over loopback and the frames kept in memory, so the
emulator, the socket, gunzip and file I/O are excluded from every timing.

Each case runs four ways in the same session on the same frames, and all do
the same *apply* work, so only the decoding differs:

* ``ours``: :class:`adapters.bybit.decoder.BybitMarketDataDecoder`, the live
  feed's path: the frame routed on its topic's first byte, then one compiled
  kernel (:mod:`adapters.bybit.fastpath`) that reads the raw frame and writes
  the trades into the ring, or checks the delta's ``u`` and applies its
  levels to the book; a sink that does nothing;
* ``ours_msgspec``: the same decoder with ``fast_path=False``: one msgspec
  call routes the frame by ``topic`` and decodes it, levels parsed by
  ``kernels.parse``, the ``u`` chain check, ``L2Book.apply`` /
  ``TradeRing.push``;
* ``json`` / ``orjson``: ``loads(frame)`` and dict access, floats with
  ``float(text)``, levels as ``np.array`` of ``[price, size]`` rows, the same
  ``u`` check and trade checks (price and size in range, taker side, block
  trades skipped, the trade id to an int), then the same ``L2Book.apply`` /
  ``TradeRing.push``.

Cases: ``publicTrade`` frames of the linear (UUID trade ids) and spot (digit
ids) streams; the ``orderbook.50`` deltas of the linear stream as the
emulator makes them (the change of the top 50 after each Binance diff: most
deltas small, a few of up to 100 levels a side); and 20,000 synthetic
``orderbook.50`` deltas of exactly 20 bid and 20 ask levels, built on the
emulator's linear snapshot (prices within 60 ticks of the touch, sizes drawn
from the snapshot's, 1 in 10 a deletion, ``u`` +1 each), which is the
issue's case. The smoke run of ``make test`` (``--benchmark-disable``, every
case once, untimed) makes 2,000 of them, to stay fast.

Reproduce::

    .venv/bin/python -m pytest bench/feeds/test_bench_decode_bybit.py -o addopts= \\
        -o testpaths=bench --benchmark-only -q
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import orjson
import pytest
import uvloop

from adapters.bybit.decoder import BybitMarketDataDecoder
from adapters.emulator import BybitEmulator, load_recording
from bench._util import record_rate
from engine.book import BOOK_OK, L2Book
from engine.instruments import Instrument
from engine.market import SymbolMarket
from kernels.book import ASK, BID
from kernels.dtypes import SIDE_BUY, SIDE_SELL

ROOT = Path(__file__).resolve().parents[2]
#: Bybit category → the Binance recording its emulator venue is made from.
RECORDINGS = {
    "linear": ROOT / "data" / "binance_usdm" / "btcusdt_20240808.gz",
    "spot": ROOT / "data" / "binance_spot" / "btcusdt_20240808.gz",
}
DEPTH = 50
BOOK_TOPIC = f"orderbook.{DEPTH}.BTCUSDT"
TRADE_TOPIC = "publicTrade.BTCUSDT"
SYNTHETIC_DELTAS = 20_000
#: Synthetic deltas under ``--benchmark-disable`` (the untimed smoke run of ``make test``).
SMOKE_SYNTHETIC_DELTAS = 2_000
LEVELS_PER_SIDE = 20
TICK = 0.1
SEED = 20240808
ROUNDS = 15
_MS = 1_000_000
_TIMEOUT_S = 60.0


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
        venue="bybit",
        venue_symbol="BTCUSDT",
        base="BTC",
        quote="USDT",
        tick_size=0.01,
        lot_size=0.001,
    )
    return SymbolMarket(instrument, book_capacity=8192, trade_capacity=65536)


async def _serve(path: Path, category: str) -> list[bytes]:
    """Every frame the Bybit emulator sends for ``orderbook.50`` + ``publicTrade``, in order."""
    venue = "bybit-" + category
    subscribe = json.dumps({"op": "subscribe", "args": [BOOK_TOPIC, TRADE_TOPIC]})
    recording = load_recording(path)
    async with (
        BybitEmulator(recording, venue=venue, depth=DEPTH, fast=True, close_at_end=True) as emu,
        aiohttp.ClientSession() as http,
        http.ws_connect(
            emu.ws_url + emu.path, timeout=aiohttp.ClientWSTimeout(ws_receive=_TIMEOUT_S)
        ) as ws,
    ):
        await ws.send_str(subscribe)
        texts = [msg.data async for msg in ws if msg.type == aiohttp.WSMsgType.TEXT]
        assert ws.close_code == 1000, ws.close_code  # closed at the end of the recording
        ack = json.loads(texts[0])
        assert ack["success"] is True, ack
        # the snapshot, then every data frame served
        assert len(texts) == emu.stats.frames_sent + 2, (len(texts), emu.stats)
    return [text.encode() for text in texts[1:]]


@pytest.fixture(scope="session")
def served() -> dict[str, list[tuple[int, bytes]]]:
    """Per category: the emulator's frames (the snapshot first) with a receive time each."""
    out = {}
    for category, path in RECORDINGS.items():
        frames = uvloop.run(_serve(path, category))
        assert frames[0].startswith(b'{"topic":"' + BOOK_TOPIC.encode() + b'","type":"snapshot"')
        out[category] = list(enumerate(frames))
    return out


def _synthetic_deltas(snapshot: bytes, count: int) -> list[tuple[int, bytes]]:
    """``count`` 20/20-level ``orderbook.50`` deltas on the snapshot (seeded, never crossing)."""
    rng = random.Random(SEED)
    msg = json.loads(snapshot)
    body = msg["data"]
    best_bid = float(body["b"][0][0])
    best_ask = float(body["a"][0][0])
    sizes = [q for _, q in body["b"] + body["a"]]
    u = body["u"]
    out = []
    for n in range(count):
        levels = {}
        for side, start, step in (("b", best_bid, -TICK), ("a", best_ask, TICK)):
            ticks = sorted(rng.sample(range(60), LEVELS_PER_SIDE))
            levels[side] = [
                [f"{start + step * k:.1f}", "0" if rng.random() < 0.1 else rng.choice(sizes)]
                for k in ticks
            ]
        u += 1
        delta = {
            "topic": BOOK_TOPIC,
            "type": "delta",
            "ts": msg["ts"] + n,
            "data": {"s": "BTCUSDT", **levels, "u": u, "seq": body["seq"] + n},
            "cts": msg["cts"] + n,
        }
        out.append((n, json.dumps(delta, separators=(",", ":")).encode()))
    return out


@pytest.fixture(scope="session")
def depth_cases(
    served: dict[str, list[tuple[int, bytes]]], request: pytest.FixtureRequest
) -> dict[str, Any]:
    """Per case: the snapshot, the deltas, and the levels (bids + asks) of each delta."""
    frames = served["linear"]
    snapshot = frames[0]
    recorded = [(ts, f) for ts, f in frames[1:] if f.startswith(b'{"topic":"orderbook')]
    smoke = request.config.getoption("benchmark_disable")
    synthetic = _synthetic_deltas(
        snapshot[1], SMOKE_SYNTHETIC_DELTAS if smoke else SYNTHETIC_DELTAS
    )
    cases = {}
    for case, deltas in (("synthetic_20x20", synthetic), ("linear_recorded", recorded)):
        bodies = [orjson.loads(f)["data"] for _, f in deltas]
        cases[case] = (snapshot, deltas, [len(d["b"]) + len(d["a"]) for d in bodies])
    return cases


# -- the alternatives: a plain-Python decoder over a JSON parser, same apply -------------------


def _trade_id(i: str) -> int:
    return int(i) if i.isdigit() else int(i.replace("-", "")[:15], 16)


def _alternative_trades(loads: Callable[[bytes], Any], market: SymbolMarket) -> Callable[..., int]:
    push = market.trades.push

    def run(frames: list[tuple[int, bytes]]) -> int:
        n = 0
        for ts, frame in frames:
            msg = loads(frame)
            if msg["topic"] != TRADE_TOPIC:
                continue
            for t in msg["data"]:
                price = float(t["p"])
                qty = float(t["v"])
                if not (0.0 < price < math.inf and 0.0 < qty < math.inf):
                    continue
                side = t["S"]
                if side == "Buy":
                    code = SIDE_BUY
                elif side == "Sell":
                    code = SIDE_SELL
                else:
                    continue
                if t.get("BT", False):
                    continue
                ts_event = t["T"] * _MS
                push(ts_event, ts, price, qty, _trade_id(t["i"]), code)
                market.last_price = price
                market.last_trade_ts = ts_event
                n += 1
        return n

    return run


def _levels(rows: list[list[str]]) -> np.ndarray:
    return np.array([(float(p), float(q)) for p, q in rows], dtype=np.float64).reshape(-1, 2)


def _alternative_depth(loads: Callable[[bytes], Any], book: L2Book) -> Callable[..., int]:
    def run(frames: list[tuple[int, bytes]]) -> int:
        n = 0
        for _, frame in frames:
            msg = loads(frame)
            if msg["topic"] != BOOK_TOPIC:
                continue
            d = msg["data"]
            u = d["u"]
            ts_event = (msg.get("cts") or msg["ts"]) * _MS
            if msg["type"] == "snapshot" or u == 1:
                book.load_snapshot(_levels(d["b"]), _levels(d["a"]), u, ts_event)
                continue
            last = book.last_update_id
            if u <= last:
                continue
            if u != last + 1:
                raise AssertionError("gap in the benchmark's deltas")
            if book.apply(_levels(d["b"]), _levels(d["a"]), u, ts_event) == BOOK_OK:
                n += 1
        return n

    return run


def _load_snapshot(book: L2Book, snapshot: bytes) -> None:
    msg = json.loads(snapshot)
    body = msg["data"]
    book.load_snapshot(_levels(body["b"]), _levels(body["a"]), body["u"], msg["cts"] * _MS)


def _bind(fn: Callable[..., int], frames: list[tuple[int, bytes]]) -> Callable[[], int]:
    return lambda: fn(frames)


# -- trades ------------------------------------------------------------------------------------

DECODERS = ["ours", "ours_msgspec", "json", "orjson"]
_LOADS = {"json": json.loads, "orjson": orjson.loads}


@pytest.mark.parametrize("decoder", DECODERS)
@pytest.mark.parametrize("category", sorted(RECORDINGS))
def test_bench_bybit_trade_frames(
    bench: Any, served: dict[str, list[tuple[int, bytes]]], category: str, decoder: str
) -> None:
    marker = b'{"topic":"' + TRADE_TOPIC.encode() + b'"'
    frames = [(ts, f) for ts, f in served[category] if f.startswith(marker)]
    bench.group = f"decode+apply: Bybit {category} publicTrade frames ({len(frames):,})"
    expected = sum(len(json.loads(f)["data"]) for _, f in frames)  # one trade each, no BT
    market = _market()
    if decoder.startswith("ours"):
        ours = BybitMarketDataDecoder(
            {"BTCUSDT": market},
            NullSink(),
            category=category,  # type: ignore[arg-type]
            depth=DEPTH,
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
        run = _bind(_alternative_trades(_LOADS[decoder], market), frames)

    assert bench.pedantic(run, rounds=ROUNDS, iterations=1, warmup_rounds=1) == expected
    bench.extra_info.update(frames=len(frames), decoder=decoder, orjson=orjson.__version__)
    record_rate(bench, len(frames), "trades_per_s_median")


# -- order book deltas -------------------------------------------------------------------------


@pytest.mark.parametrize("decoder", DECODERS)
@pytest.mark.parametrize("case", ["synthetic_20x20", "linear_recorded"])
def test_bench_bybit_orderbook_deltas(
    bench: Any, depth_cases: dict[str, Any], case: str, decoder: str
) -> None:
    (snap_ts, snapshot), deltas, levels = depth_cases[case]
    bench.group = f"decode+apply: Bybit linear orderbook.50 deltas, {case} ({len(deltas):,})"
    applied: list[int] = []
    books: list[tuple[Any, ...]] = []

    if decoder.startswith("ours"):
        fast = decoder == "ours"

        def setup() -> tuple[tuple[Any, ...], dict[str, Any]]:
            market = _market()
            ours = BybitMarketDataDecoder(
                {"BTCUSDT": market}, NullSink(), "linear", DEPTH, fast_path=fast
            )
            ours.warm_up()
            ours.on_frame(snap_ts, snapshot)  # the emulator's snapshot
            return (ours, market.book), {}

        def run(ours: BybitMarketDataDecoder, book: L2Book) -> None:
            on_frame = ours.on_frame
            for ts, frame in deltas:
                on_frame(ts, frame)
            applied.append(ours.stats.depth_updates_applied)
            books.append(book.depth(BID, DEPTH) + book.depth(ASK, DEPTH))
            assert ours.stats.gaps == 0 and ours.stats.bad_frames == 0 and book.in_sync

    else:
        loads = _LOADS[decoder]

        def setup() -> tuple[tuple[Any, ...], dict[str, Any]]:
            book = _market().book
            _load_snapshot(book, snapshot)
            return (_alternative_depth(loads, book), book), {}

        def run(apply: Callable[..., int], book: L2Book) -> None:  # type: ignore[misc]
            applied.append(apply(deltas))
            books.append(book.depth(BID, DEPTH) + book.depth(ASK, DEPTH))

    bench.pedantic(run, setup=setup, rounds=ROUNDS, iterations=1, warmup_rounds=1)
    # every delta applied, by each decoder alike, and the same top 50 at the end
    assert set(applied) == {len(deltas)}
    final = books[-1]
    for other in books:
        for a, b in zip(other, final, strict=True):
            np.testing.assert_array_equal(a, b)
    bench.extra_info.update(
        deltas=len(deltas),
        applied=len(deltas),
        levels_per_delta_mean=round(float(np.mean(levels)), 1),
        levels_per_delta_median=float(np.median(levels)),
        decoder=decoder,
        orjson=orjson.__version__,
    )
    record_rate(bench, len(deltas), "deltas_per_s_median")
