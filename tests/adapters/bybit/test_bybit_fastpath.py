"""The compiled fast path of the Bybit decoder gives exactly what the msgspec path gives.

:class:`adapters.bybit.decoder.BybitMarketDataDecoder` sends ``publicTrade``
messages and the ``orderbook`` deltas of a book in sync through
:mod:`adapters.bybit.fastpath` first, and ``fast_path=False`` turns that off.
Every test here runs both on the same frames and asserts identical results,
event by event: what the sink saw and when (with the counters it could read
then), the books level by level, the trade rings record by record, the last
trade id each symbol remembers, and every counter (bad frames by kind
included).

* Streams of the local Bybit emulator over loopback (made from the bundled
  Binance recordings), clean and with its faults (duplicated, reordered and
  corrupted frames), linear (UUID trade ids) and spot (digit ids).
* An ``orderbook.500`` stream made from the Binance USD-M recording (deep
  deltas, more levels than the merge threshold).
* Messages of several trades, with today's extra item fields, block trades
  and repeated messages.
* Mutated frames (hypothesis): truncated, a byte replaced or inserted, a
  value's JSON type or form changed, a field removed or duplicated. Whatever
  the kernel cannot judge it must hand back untouched.
* Each test also checks that the fast path did take the frames it should
  (otherwise equality would prove nothing).
"""

from __future__ import annotations

import dataclasses
import json
import random
import re
import struct
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import pytest
import uvloop
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from adapters.bybit import BybitMarketDataDecoder
from adapters.bybit.decoder import _trade_id
from adapters.bybit.fastpath import trade_id_of
from adapters.emulator import BybitEmulator, FaultConfig, load_recording
from adapters.replay import load_frames
from engine.instruments import Instrument
from engine.market import SymbolMarket
from tests.adapters.bybit.test_bybit_decoder import bybit_stream_from_binance

DATA = Path(__file__).resolve().parents[3] / "data"
RECORDINGS = {
    "linear": DATA / "binance_usdm" / "btcusdt_20240808.gz",
    "spot": DATA / "binance_spot" / "btcusdt_20240808.gz",
}
DEPTH = 50
SEED = 20240808
#: Emulator streams: name → (category, faults).
SCENARIOS: dict[str, tuple[str, FaultConfig | None]] = {
    "linear": ("linear", None),
    "spot": ("spot", None),
    "linear-duplicates": ("linear", FaultConfig(duplicate_every=5)),
    "spot-faults": ("spot", FaultConfig(duplicate_every=7, corrupt_every=97, reorder_every=61)),
}
_TIMEOUT_S = 30.0


class EventLog:
    """A sink that records everything it is told, with the state it can see at that moment."""

    def __init__(self) -> None:
        self.events: list[tuple[Any, ...]] = []
        #: When set, each event also records the decoder's counters as the sink reads them.
        self.decoder: BybitMarketDataDecoder | None = None

    def _stats(self) -> tuple[Any, ...]:
        if self.decoder is None:
            return ()
        stats = self.decoder.stats
        values = (getattr(stats, field.name) for field in dataclasses.fields(stats))
        return tuple(tuple(sorted(v.items())) if isinstance(v, dict) else v for v in values)

    def on_trade(self, market: SymbolMarket, ts_recv: int) -> None:
        ring = market.trades
        trade = (market.symbol, ts_recv, ring.count, market.last_price, market.last_trade_ts)
        self.events.append(("trade", *trade, *self._stats()))

    def on_book(self, market: SymbolMarket, ts_recv: int) -> None:
        book = market.book
        state = (book.in_sync, book.last_update_id, book.ts_event, book.crossed, *book.best())
        self.events.append(("book", market.symbol, ts_recv, *state, *self._stats()))

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
    decoder: BybitMarketDataDecoder
    markets: dict[str, SymbolMarket]
    sink: EventLog
    msgspec_frames: int


def _markets(symbols: tuple[str, ...], trade_capacity: int) -> dict[str, SymbolMarket]:
    return {
        symbol: SymbolMarket(
            Instrument(
                symbol=symbol,
                venue="bybit",
                venue_symbol=symbol,
                base=symbol,
                quote="",
                tick_size=0.01,
                lot_size=1e-8,
            ),
            book_capacity=8192,
            trade_capacity=trade_capacity,
        )
        for symbol in symbols
    }


def _run(
    frames: list[tuple[int, Any]],
    fast: bool,
    category: str = "linear",
    *,
    depth: int = DEPTH,
    symbols: tuple[str, ...] = ("BTCUSDT",),
    trade_capacity: int = 4096,  # small enough for the rings to wrap on the streams
    with_stats: bool = False,
) -> Run:
    markets = _markets(symbols, trade_capacity)
    sink = EventLog()
    decoder = BybitMarketDataDecoder(
        markets,
        sink,
        category=category,  # type: ignore[arg-type]
        depth=depth,
        fast_path=fast,
    )
    if with_stats:
        sink.decoder = decoder
    counter = CountingDecoder(decoder._frames)
    decoder._frames = counter  # type: ignore[assignment]
    for ts_recv, frame in frames:
        decoder.on_frame(ts_recv, frame)
    return Run(decoder, markets, sink, counter.calls)


def _last_trade_id(run: Run, market: SymbolMarket) -> str | None:
    decoder = run.decoder
    if market in decoder._trade_states:
        return decoder._last_trade_id(market)
    return decoder._last_trade_i.get(market)


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
        assert _last_trade_id(fast, market) == _last_trade_id(slow, other)


def _both(frames: list[tuple[int, Any]], category: str = "linear", **kw: Any) -> tuple[Run, Run]:
    fast = _run(frames, True, category, **kw)
    slow = _run(frames, False, category, **kw)
    _assert_same(fast, slow)
    return fast, slow


# -- the emulator's streams ---------------------------------------------------------------------


async def _serve(category: str, faults: FaultConfig | None) -> list[bytes]:
    """Every frame the Bybit emulator sends for ``orderbook.50`` + ``publicTrade`` (no ack)."""
    subscribe = {"op": "subscribe", "args": [f"orderbook.{DEPTH}.BTCUSDT", "publicTrade.BTCUSDT"]}
    recording = load_recording(RECORDINGS[category])
    async with (
        BybitEmulator(
            recording,
            venue="bybit-" + category,
            depth=DEPTH,
            faults=faults,
            fast=True,
            close_at_end=True,
        ) as emu,
        aiohttp.ClientSession() as http,
        http.ws_connect(
            emu.ws_url + emu.path, timeout=aiohttp.ClientWSTimeout(ws_receive=_TIMEOUT_S)
        ) as ws,
    ):
        await ws.send_str(json.dumps(subscribe))
        texts = [msg.data async for msg in ws if msg.type == aiohttp.WSMsgType.TEXT]
    assert json.loads(texts[0])["success"] is True
    return [text.encode() for text in texts[1:]]


_SERVED: dict[str, list[tuple[int, bytes]]] = {}


def _served(name: str) -> list[tuple[int, bytes]]:
    """The frames of scenario ``name`` with a receive time each (served once per session)."""
    if name not in _SERVED:
        frames = uvloop.run(_serve(*SCENARIOS[name]))
        _SERVED[name] = [(1_000 + i, frame) for i, frame in enumerate(frames)]
    return _SERVED[name]


def _trades(name: str) -> list[bytes]:
    return [f for _, f in _served(name) if f.startswith(b'{"topic":"publicTrade')]


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_fast_path_when_emulator_stream_then_same_events_books_rings_and_counters(
    name: str,
) -> None:
    category = SCENARIOS[name][0]
    fast, slow = _both(_served(name), category, with_stats=True)
    stats = slow.decoder.stats
    assert stats.trades > 0 and stats.depth_updates_applied > 0
    if name == "linear-duplicates":  # the kernels' repeat paths were there to be taken
        assert stats.duplicate_trades > 0 and stats.duplicate_deltas > 0
    if name == "spot-faults":
        assert stats.bad_frames > 0 and stats.gaps > 0
    # the fast path took every trade message and every in-sync delta off msgspec
    taken = slow.msgspec_frames - fast.msgspec_frames
    assert taken >= stats.trades + stats.depth_updates_applied + stats.duplicate_trades - 10
    if SCENARIOS[name][1] is None:
        assert fast.msgspec_frames == stats.snapshots  # only the snapshot went to msgspec


def test_fast_path_when_binance_recording_as_orderbook_500_stream_then_same() -> None:
    # deep deltas (some with more levels than the merge threshold) and digit trade ids
    frames, deltas = bybit_stream_from_binance(load_frames(RECORDINGS["linear"]))
    fast, slow = _both(frames, "linear", depth=500, trade_capacity=8192)
    stats = slow.decoder.stats
    assert stats.depth_updates_applied == deltas and stats.trades > 20_000
    assert fast.msgspec_frames == stats.snapshots


# -- messages of several trades -------------------------------------------------------------


def _batched(frames: list[bytes], seed: int = SEED) -> list[bytes]:
    """Consecutive trades as messages of 1 to 6 trades, as Bybit groups the trades of a match.

    Items carry today's extra fields (``seq``, ``RPI``); about one item in 40 is a block
    trade and one message in 25 is sent again (a repeat).
    """
    rng = random.Random(seed)
    items = [json.loads(f)["data"][0] for f in frames]
    out: list[bytes] = []
    k = 0
    seq = 7_000_000
    while k < len(items):
        group = items[k : k + rng.randint(1, 6)]
        k += len(group)
        seq += 1
        data = [{**item, "BT": rng.random() < 1 / 40, "RPI": False, "seq": seq} for item in group]
        msg = {"topic": "publicTrade.BTCUSDT", "type": "snapshot", "ts": group[-1]["T"]}
        frame = json.dumps({**msg, "data": data}, separators=(",", ":")).encode()
        out.append(frame)
        if rng.random() < 1 / 25:
            out.append(frame)
    return out


@pytest.mark.parametrize("category", ["linear", "spot"])
@pytest.mark.parametrize("trade_capacity", [4096, 5])
def test_fast_path_when_several_trades_per_message_then_same_ring_and_sink_calls(
    category: str, trade_capacity: int
) -> None:
    # capacity 5: messages wrap the ring, and one of 6 trades is more than the ring holds
    messages = _batched(_trades(category)[:3000])
    frames = [(10 + i, f) for i, f in enumerate(messages)]
    fast, slow = _both(frames, category, trade_capacity=trade_capacity, with_stats=True)
    stats = slow.decoder.stats
    assert stats.block_trades > 0 and stats.duplicate_trades > 0
    assert stats.trades + stats.block_trades == 3000
    several = sum(1 for f in messages if f.count(b'"T":') > 1 and b'"BT":true' not in f)
    assert slow.msgspec_frames - fast.msgspec_frames >= several // 2


# -- mutated frames ------------------------------------------------------------------------------

_SIGNIFICANT = b'"{}[],:.-0123456789eE \\\ttfnx\x00\xff'
_SWAPS = [
    (rb'"BT":false', b'"BT":"false"'),
    (rb'"BT":false', b'"BT":0'),
    (rb'"BT":false', b'"BT":true'),
    (rb'"T":(\d+)', rb'"T":"\1"'),
    (rb'"T":(\d+)', rb'"T":\1.0'),
    (rb'"T":(\d+)', rb'"T":-\1'),
    (rb'"T":(\d+)', rb'"T":99999999999999999'),
    (rb'"T":(\d+)', rb'"T":\1e0'),
    (rb'"ts":(\d+)', rb'"ts":"\1"'),
    (rb',"ts":\d+', b""),
    (rb'"p":"([0-9.]+)"', rb'"p":\1'),
    (rb'"p":"', b'"p":'),
    (rb'"p":"([0-9.]+)"', b'"p":"0"'),
    (rb'"p":"([0-9.]+)"', b'"p":"-1"'),
    (rb'"p":"([0-9.]+)"', b'"p":"1e-3"'),
    (rb'"p":"([0-9.]+)"', b'"p":"123456789.0123456789"'),
    (rb'"p":"([0-9.]+)"', rb'"p":"\1","p":"1.0"'),
    (rb'"v":"([0-9.]+)"', rb'"v":"0\1"'),
    (rb'"v":"([0-9.]+)"', b'"v":"nan"'),
    (rb'"S":"(Buy|Sell)"', b'"S":"buy"'),
    (rb'"S":"Buy"', rb'"S":"B\\u0075y"'),
    (rb'"S":"Sell"', b'"S":"Sell","S":"Buy"'),
    (rb'"i":"([^"]+)"', rb'"i":1'),
    (rb'"i":"([^"]+)"', rb'"i":"\1-x"'),
    (rb'"i":"([^"]+)"', rb'"i":"0x\1"'),
    (rb'"i":"([^"]+)"', rb'"i":" \1"'),
    (rb'"i":"([^"]+)"', rb'"i":"\1\1\1"'),
    (rb'"i":"([^"]+)"', rb'"i":"9\1\1"'),
    (rb'"i":"([^"]+)"', b'"i":""'),
    (rb'"i":"([^"]+)"', b'"i":"-"'),
    (rb'"s":"BTCUSDT"', b'"s":null'),
    (rb'"type":"delta"', b'"type":"snapshot"'),
    (rb'"type":"delta"', b'"type":"Delta"'),
    (rb'"type":"(\w+)"', rb'"type":"\1","x":{"y":1}'),
    (rb'"u":(\d+)', b'"u":1'),
    (rb'"u":(\d+)', rb'"u":"\1"'),
    (rb'"u":(\d+)', rb'"u":\1,"u":\1'),
    (rb'"seq":(\d+)', rb'"seq":"\1"'),
    (rb'"cts":(\d+)', b'"cts":0'),
    (rb',"cts":\d+', b""),
    (rb'"b":\[\[', b'"b":[[ '),
    (rb'"a":\[', b'"a":{"x":['),
    (rb'"b":\[\["([0-9.]+)"', rb'"b":[["\1","1"],["\1"'),
    (rb'"a":\[(\[[^\]]*\])', rb'"a":[\1,\1'),
    (rb'"data":\[(\{[^}]*\})', rb'"data":[\1,\1'),
    (rb'"data":\[.*\]\}$', b'"data":[]}'),
    (rb"\}$", b',"topic":"publicTrade.BTCUSDT"}'),
    (rb'^\{"topic":"(\w+)', rb'{"topic":"\1X'),
    (rb'^\{"topic"', b'{"x":1,"topic"'),
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
        pattern, replacement = draw(st.sampled_from(_SWAPS))
        return re.sub(pattern, lambda m: m.expand(replacement), frame, count=1)
    if how == "tail":
        return frame + draw(st.sampled_from([b" ", b"}", b",", b"\n", b"x"]))
    return frame


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(data=st.data(), category=st.sampled_from(["linear", "spot"]))
def test_fast_path_when_trade_frames_mutated_then_same_as_msgspec(
    data: st.DataObject, category: str
) -> None:
    singles = _trades(category)[:200]
    pool = singles + _batched(singles, SEED + 1)
    frames = data.draw(st.lists(mutated(pool), min_size=1, max_size=6))
    _both([(1_000 + i, f) for i, f in enumerate(frames)], category, trade_capacity=8)


def _chain(name: str) -> tuple[bytes, list[bytes]]:
    frames = [f for _, f in _served(name)]
    deltas = [f for f in frames if f.startswith(b'{"topic":"orderbook')]
    assert b'"type":"snapshot"' in deltas[0]
    return deltas[0], deltas[1:60]


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(data=st.data(), category=st.sampled_from(["linear", "spot"]))
def test_fast_path_when_orderbook_deltas_mutated_then_same_books_as_msgspec(
    data: st.DataObject, category: str
) -> None:
    # a chain of served deltas after their snapshot, one or two of them mutated
    snapshot, deltas = _chain(category)
    k = data.draw(st.integers(0, 40))
    chain = list(deltas[: k + 4])
    for j in data.draw(st.sets(st.integers(k, k + 3), min_size=1, max_size=2)):
        chain[j] = data.draw(mutated([chain[j]]))
    frames = [(1, snapshot), *((10 + i, f) for i, f in enumerate(chain))]
    _both(frames, category, with_stats=True)


# -- trade ids -----------------------------------------------------------------------------------

_ID_TEXT = st.text(alphabet="0123456789abcdefABCDEF-xX_+ g", max_size=40)


@given(st.one_of(_ID_TEXT, st.uuids().map(str), st.integers(0, 10**20).map(str)))
@example("00000013-9e9b-1840-0000-000000000000")
@example("20f43950-d8dd-5b31-9112-a178eb6023af")
@example("2290000000061666327")
@example("9223372036854775807")
@example("0x1f")
@example("1_000")
@example(" 5")
@example("")
@example("---")
@example("abc")
def test_trade_id_of_when_it_reads_an_id_then_the_decoders_trade_id(text: str) -> None:
    raw = text.encode()
    value, ok = trade_id_of(np.frombuffer(raw, dtype=np.uint8), 0, len(raw))
    if ok:
        assert value == _trade_id(text)
    else:  # what it leaves to Python is only what int() might read differently
        assert (
            len(raw) > 18 or re.search(rb"[^0-9a-fA-F-]", raw) or not re.search(b"[0-9a-fA-F]", raw)
        )


def test_trade_id_of_reads_uuids_and_digits() -> None:
    uuid = b"20f43950-d8dd-5b31-9112-a178eb6023af"
    assert trade_id_of(np.frombuffer(uuid, dtype=np.uint8), 0, len(uuid)) == (
        int("20f43950d8dd5b3", 16),
        True,
    )
    digits = b"2290000000061666327"  # 19 digits: Python's int() and a mask, not the kernel
    assert trade_id_of(np.frombuffer(digits, dtype=np.uint8), 0, 18) == (229000000006166632, True)
    assert not trade_id_of(np.frombuffer(digits, dtype=np.uint8), 0, 19)[1]


# -- routes and edges ------------------------------------------------------------------------------


def test_fast_path_when_str_bytearray_or_memoryview_frames_then_msgspec_path() -> None:
    trades = _trades("linear")[:3]
    for variant in (bytes.decode, bytearray, memoryview):
        frames = [(5 + i, variant(f)) for i, f in enumerate(trades)]
        fast = _run(frames, True)
        slow = _run([(5 + i, f) for i, f in enumerate(trades)], False)
        _assert_same(fast, slow)
        assert fast.decoder.stats.trades == 3
        assert fast.msgspec_frames == 3  # not the kernel: it takes bytes only


def _renamed(frames: list[tuple[int, bytes]], symbol: bytes) -> list[tuple[int, bytes]]:
    return [(ts, f.replace(b"BTCUSDT", symbol)) for ts, f in frames]


def test_fast_path_when_several_symbols_then_each_frame_to_its_symbol() -> None:
    # two symbols: topics share their first byte, so the whole topic routes
    btc = _served("linear")[:4000]
    eth = _renamed(btc, b"ETHUSDT")
    frames = [f for pair in zip(btc, eth, strict=True) for f in pair]
    fast, slow = _both(frames, "linear", symbols=("BTCUSDT", "ETHUSDT"))
    assert fast.msgspec_frames == slow.decoder.stats.snapshots == 2
    eth_market = fast.markets["ETHUSDT"]
    assert eth_market.trades.count == fast.markets["BTCUSDT"].trades.count > 1000
    # a topic of a symbol the decoder does not have is not the kernel's, nor the book's
    other = _renamed(btc[:200], b"BTCUSDC")
    fast, slow = _both(other + btc[:200], "linear")
    assert slow.decoder.stats.unknown_topics == len(other)


def test_fast_path_when_u_beyond_int64_or_trade_id_too_long_then_msgspec_path() -> None:
    snapshot, deltas = _chain("linear")
    big = 2**63 + 10  # msgspec reads up to 2**64 - 1; the kernel's int64 does not
    shifted = [
        re.sub(rb'"u":(\d+)', lambda m: b'"u":%d' % (int(m[1]) - 1000 + big), f)
        for f in [snapshot, *deltas[:5]]
    ]
    long_id = b"a" * 70  # longer than a state array keeps
    trade = re.sub(rb'"i":"[^"]+"', b'"i":"' + long_id + b'"', _trades("linear")[0])
    frames = [(i, f) for i, f in enumerate([*shifted, trade, trade, _trades("linear")[1], trade])]
    fast, slow = _both(frames, "linear")
    stats = slow.decoder.stats
    assert stats.depth_updates_applied == 5 and fast.markets["BTCUSDT"].book.in_sync
    assert (stats.trades, stats.duplicate_trades) == (3, 1)


def test_fast_path_when_ts_recv_beyond_int64_then_the_msgspec_paths_error() -> None:
    frame = _trades("linear")[0]
    for fast in (True, False):
        with pytest.raises(struct.error):
            _run([(2**64, frame)], fast)


def test_fast_path_when_delta_crosses_or_repeats_then_same_resync_and_counters() -> None:
    snapshot, deltas = _chain("linear")
    msg = json.loads(deltas[1])
    above = float(json.loads(snapshot)["data"]["a"][-1][0]) + 100  # above every ask
    msg["data"]["b"].insert(0, [f"{above:.2f}", "1.000"])
    crossing = json.dumps(msg, separators=(",", ":")).encode()
    frames = [(1, snapshot), (2, deltas[0]), (3, deltas[0]), (4, crossing), (5, deltas[2])]
    fast, slow = _both(frames, "linear", with_stats=True)
    stats = slow.decoder.stats
    assert (stats.duplicate_deltas, stats.crossed, stats.resyncs) == (1, 1, 1)
    assert stats.depth_updates_dropped == 1  # the delta after the resync: the book waits
    assert fast.msgspec_frames == 2  # the snapshot and that delta; the kernel took the rest
