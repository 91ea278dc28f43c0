"""SpotMarketDataDecoder against Binance's documented local order book procedure.

Oracles: the bundled recording parsed independently with the standard library
(``json`` + ``float(text)``), its own ``bookTicker`` stream (Binance pushes one
for every change of the best bid/ask price or quantity, so after the diff
ending at update ``u`` the book's top equals the latest bookTicker with
``u' <= u``), and the procedure of "How to manage a local order book
correctly": drop ``u <= lastUpdateId``, the first diff straddles
``lastUpdateId + 1``, then ``U == previous u + 1``; anything else is a gap and
the book reports no prices until a new snapshot.
"""

from __future__ import annotations

import bisect
import gzip
import json
import math
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.binance import SpotMarketDataDecoder
from adapters.replay import RecordingReader
from engine.instruments import default_instruments
from engine.market import SymbolMarket
from kernels.book import ASK, BID

FRAMES = 41_249
DEPTH_UPDATES = 3_451
BOOK_TICKERS = 28_040
TRADES = 9_757
SNAPSHOT_INDEX = 7  # line 8 of the file
SNAPSHOT_ID = 50_093_239_218
PREFIX = 4_000  # frames of the cheap runs (the snapshot and ~330 diffs)


class RecordingSink:
    """A MarketDataSink that records what the engine would have seen at each call."""

    def __init__(self) -> None:
        self.trades = 0
        self.tickers = 0
        #: ``(in_sync, last_update_id, best())`` at every on_book.
        self.book_states: list[tuple[bool, int, tuple[float, float, float, float]]] = []
        #: Tickers that arrived when the book had applied exactly the ticker's update id.
        self.ticker_time_comparisons = 0
        self.ticker_time_mismatches = 0

    def on_trade(self, market: SymbolMarket, ts_recv: int) -> None:
        self.trades += 1

    def on_book(self, market: SymbolMarket, ts_recv: int) -> None:
        book = market.book
        self.book_states.append((book.in_sync, book.last_update_id, book.best()))

    def on_ticker(self, market: SymbolMarket, ts_recv: int) -> None:
        self.tickers += 1
        if market.book.in_sync and market.ticker_update_id == market.book.last_update_id:
            self.ticker_time_comparisons += 1
            bid, _, ask, _ = market.book.best()
            if (bid, ask) != (market.bid_price, market.ask_price):
                self.ticker_time_mismatches += 1

    def in_sync_states(self) -> list[tuple[int, tuple[float, float, float, float]]]:
        return [(u, best) for in_sync, u, best in self.book_states if in_sync]


@dataclass
class Replay:
    decoder: SpotMarketDataDecoder
    market: SymbolMarket
    sink: RecordingSink

    @property
    def stats(self) -> Any:
        return self.decoder.stats

    def depth(self) -> tuple[list[float], list[float], list[float], list[float]]:
        book = self.market.book
        bid_p, bid_q = book.depth(BID, book.capacity)
        ask_p, ask_q = book.depth(ASK, book.capacity)
        return bid_p.tolist(), bid_q.tolist(), ask_p.tolist(), ask_q.tolist()


def new_replay(book_capacity: int = 8192) -> Replay:
    market = SymbolMarket(default_instruments().get("BTC/USDT"), book_capacity, 65536)
    sink = RecordingSink()
    return Replay(SpotMarketDataDecoder({"BTCUSDT": market}, sink), market, sink)


def replay(frames: Any) -> Replay:
    run = new_replay()
    on_frame = run.decoder.on_frame
    for ts, frame in frames:
        on_frame(ts, frame)
    return run


def is_depth(frame: bytes) -> bool:
    return b'"stream":"btcusdt@depth' in frame


def is_trade(frame: bytes) -> bool:
    return b'"stream":"btcusdt@trade"' in frame


def is_ticker(frame: bytes) -> bool:
    return b'"stream":"btcusdt@bookTicker"' in frame


def dumps(msg: Any) -> bytes:
    return json.dumps(msg, separators=(",", ":")).encode()


def assert_no_prices(run: Replay) -> None:
    bid, bid_qty, ask, ask_qty = run.market.book.best()
    assert math.isnan(bid) and math.isnan(ask)
    assert (bid_qty, ask_qty) == (0.0, 0.0)
    assert not run.market.book.in_sync


@dataclass
class Recorded:
    """The recording parsed with the standard library (the oracle)."""

    depth_indices: list[int]
    depth_ids: list[tuple[int, int]]  # (U, u) per depth diff
    tickers: list[tuple[int, float, float, float, float]]  # (u, b, B, a, A)
    trades: list[tuple[int, float, float, int, bool]]  # (t, p, q, T, m)
    trade_indices: list[int]
    ticker_indices: list[int]
    snapshots: int


@pytest.fixture(scope="module")
def recorded(recording_frames: list[tuple[int, bytes]]) -> Recorded:
    rec = Recorded([], [], [], [], [], [], 0)
    for i, (_, frame) in enumerate(recording_frames):
        msg = json.loads(frame)
        if "stream" not in msg:
            assert msg["lastUpdateId"] == SNAPSHOT_ID
            rec.snapshots += 1
            continue
        data = msg["data"]
        if msg["stream"] == "btcusdt@depth@100ms":
            rec.depth_indices.append(i)
            rec.depth_ids.append((data["U"], data["u"]))
        elif msg["stream"] == "btcusdt@bookTicker":
            rec.ticker_indices.append(i)
            rec.tickers.append(
                (data["u"], float(data["b"]), float(data["B"]), float(data["a"]), float(data["A"]))
            )
        else:
            assert msg["stream"] == "btcusdt@trade"
            rec.trade_indices.append(i)
            rec.trades.append((data["t"], float(data["p"]), float(data["q"]), data["T"], data["m"]))
    return rec


@pytest.fixture(scope="module")
def baseline(recording_frames: list[tuple[int, bytes]]) -> Replay:
    return replay(recording_frames)


@pytest.fixture(scope="module")
def prefix_baseline(recording_frames: list[tuple[int, bytes]]) -> Replay:
    return replay(recording_frames[:PREFIX])


def live_diff_index(recorded: Recorded, nth: int) -> int:
    """Frame index of the ``nth`` depth diff received after the snapshot."""
    live = [i for i in recorded.depth_indices if i > SNAPSHOT_INDEX]
    return live[nth]


# -- 1. the bundled recording --------------------------------------------------------------


def test_replay_bundled_recording_then_no_gap_and_every_frame_counted(
    baseline: Replay, recorded: Recorded, recording_frames: list[tuple[int, bytes]]
) -> None:
    stats = baseline.stats
    assert len(recording_frames) == FRAMES
    assert len(recorded.depth_ids) == DEPTH_UPDATES
    assert len(recorded.tickers) == BOOK_TICKERS
    assert len(recorded.trades) == TRADES
    assert recorded.snapshots == 1
    covered = sum(u <= SNAPSHOT_ID for _, u in recorded.depth_ids)
    assert (stats.frames, stats.trades, stats.tickers) == (FRAMES, TRADES, BOOK_TICKERS)
    assert (stats.gaps, stats.resyncs, stats.bad_frames, stats.crossed) == (0, 0, 0, 0)
    assert stats.unknown_streams == 0
    assert stats.snapshots == 1
    assert stats.depth_updates_dropped == covered == 2
    assert stats.depth_updates_applied == DEPTH_UPDATES - covered
    assert (baseline.sink.trades, baseline.sink.tickers) == (TRADES, BOOK_TICKERS)
    book = baseline.market.book
    assert book.in_sync
    assert (book.resyncs, book.crossed) == (0, 0)
    assert book.last_update_id == recorded.depth_ids[-1][1]
    assert baseline.decoder.symbols_needing_snapshot() == []


def test_replay_bundled_recording_then_final_best_equals_last_book_ticker(
    baseline: Replay, recorded: Recorded
) -> None:
    _, last_bid, _, last_ask, _ = recorded.tickers[-1]
    assert (last_bid, last_ask) == (61685.99, 61686.00)
    bid, _, ask, _ = baseline.market.book.best()
    assert (bid, ask) == (61685.99, 61686.00)
    assert (baseline.market.bid_price, baseline.market.ask_price) == (61685.99, 61686.00)
    assert baseline.market.ticker_update_id == recorded.tickers[-1][0]


def test_replay_bundled_recording_then_every_book_state_equals_latest_ticker_at_or_before_it(
    baseline: Replay, recorded: Recorded
) -> None:
    # bookTicker u's are single updates, diffs end at the last update of 100 ms, and
    # tickers arrive before the diff that contains them: at the moment a ticker is
    # processed the book has never applied exactly its u. So join afterwards: the book
    # after the diff ending at u must show the latest ticker with u' <= u, price and qty.
    assert baseline.sink.ticker_time_mismatches == 0
    ticker_ids = [t[0] for t in recorded.tickers]
    assert ticker_ids == sorted(ticker_ids)
    states = baseline.sink.in_sync_states()
    assert len(states) == baseline.stats.depth_updates_applied + 1  # + the snapshot's
    mismatches = []
    exact = 0
    for u, best in states:
        i = bisect.bisect_right(ticker_ids, u) - 1
        assert i >= 0, f"no bookTicker at or before update {u}"
        ticker_u, b, b_qty, a, a_qty = recorded.tickers[i]
        exact += ticker_u == u
        if best != (b, b_qty, a, a_qty):
            mismatches.append((u, best, recorded.tickers[i]))
    assert mismatches == []
    assert exact > 500, f"only {exact} diffs end on a bookTicker's own update id"


def test_replay_bundled_recording_then_trade_ring_holds_every_trade_in_order(
    baseline: Replay, recorded: Recorded, recording_frames: list[tuple[int, bytes]]
) -> None:
    ring = baseline.market.trades
    assert ring.count == TRADES
    got = ring.last(TRADES)
    assert got["trade_id"].tolist() == [t[0] for t in recorded.trades]
    assert got["price"].tolist() == [t[1] for t in recorded.trades]
    assert got["qty"].tolist() == [t[2] for t in recorded.trades]
    assert got["ts_event"].tolist() == [t[3] * 1_000_000 for t in recorded.trades]
    assert got["side"].tolist() == [-1 if t[4] else 1 for t in recorded.trades]
    assert got["ts_recv"].tolist() == [recording_frames[i][0] for i in recorded.trade_indices]
    assert baseline.market.last_price == recorded.trades[-1][1]


# -- 2. a missing diff is a gap, never a wrong book ----------------------------------------


def write_recording(path: Path, frames: list[tuple[int, bytes]], compress: bool) -> Path:
    lines = b"".join(b"%d %s\n" % (ts, frame) for ts, frame in frames)
    if compress:
        path.write_bytes(gzip.compress(lines, compresslevel=1))
    else:
        path.write_bytes(lines)
    return path


def test_replay_when_one_diff_after_snapshot_removed_then_one_gap_and_no_prices(
    tmp_path: Path,
    recording_frames: list[tuple[int, bytes]],
    recorded: Recorded,
    baseline: Replay,
) -> None:
    removed = live_diff_index(recorded, 1000)
    frames = recording_frames[:removed] + recording_frames[removed + 1 :]
    reader = RecordingReader(write_recording(tmp_path / "gap.gz", frames, compress=True))
    run = replay(reader)
    assert (reader.bad_lines, reader.truncated) == (0, False)

    stats = run.stats
    assert stats.frames == FRAMES - 1
    assert (stats.gaps, stats.resyncs, stats.bad_frames) == (1, 1, 0)
    assert (stats.trades, stats.tickers) == (TRADES, BOOK_TICKERS)
    assert run.market.book.resyncs == 1
    assert_no_prices(run)
    assert run.market.book.level_qty(BID, 61685.99) == 0.0
    assert run.decoder.symbols_needing_snapshot() == ["BTCUSDT"]
    # The engine still has the venue's ticker to price with.
    assert run.market.reference_price() == (61685.99 + 61686.00) / 2

    # Every state reported in sync is the correct one; none after the gap.
    states = run.sink.in_sync_states()
    correct = dict(baseline.sink.in_sync_states())
    assert all(best == correct[u] for u, best in states)
    position = recorded.depth_indices.index(removed)
    assert states[-1][0] == recorded.depth_ids[position - 1][1]
    first_out = next(i for i, s in enumerate(run.sink.book_states) if not s[0])
    assert not any(in_sync for in_sync, _, _ in run.sink.book_states[first_out:])


@pytest.mark.parametrize("removed", [0, 1], ids=["first_diff", "second_diff"])
def test_replay_when_diff_covered_by_snapshot_removed_then_nothing_changes(
    tmp_path: Path,
    recording_frames: list[tuple[int, bytes]],
    recorded: Recorded,
    baseline: Replay,
    removed: int,
) -> None:
    assert recorded.depth_indices[removed] < SNAPSHOT_INDEX
    assert recorded.depth_ids[removed][1] <= SNAPSHOT_ID
    frames = recording_frames[:removed] + recording_frames[removed + 1 :]
    reader = RecordingReader(write_recording(tmp_path / "covered.txt", frames, compress=False))
    run = replay(reader)
    stats = run.stats
    assert (stats.gaps, stats.resyncs, stats.bad_frames) == (0, 0, 0)
    assert stats.depth_updates_dropped == baseline.stats.depth_updates_dropped - 1
    assert stats.depth_updates_applied == baseline.stats.depth_updates_applied
    assert run.sink.book_states == baseline.sink.book_states
    assert run.depth() == baseline.depth()


# -- 3. duplicates are dropped ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("nth_diff", "repeat_after"),
    [(2, 0), (10, 0), (10, 1)],
    ids=["buffered_straddling_diff", "live_diff_at_once", "live_diff_after_the_next"],
)
def test_replay_when_diff_repeated_then_dropped_and_same_book(
    recording_frames: list[tuple[int, bytes]],
    recorded: Recorded,
    baseline: Replay,
    nth_diff: int,
    repeat_after: int,
) -> None:
    index = recorded.depth_indices[nth_diff]
    insert_at = (
        index + 1 if repeat_after == 0 else recorded.depth_indices[nth_diff + repeat_after] + 1
    )
    frames = [*recording_frames[:insert_at], recording_frames[index], *recording_frames[insert_at:]]
    run = replay(frames)
    stats = run.stats
    assert (stats.gaps, stats.resyncs, stats.bad_frames) == (0, 0, 0)
    assert stats.depth_updates_dropped == baseline.stats.depth_updates_dropped + 1
    assert stats.depth_updates_applied == baseline.stats.depth_updates_applied
    assert run.sink.book_states == baseline.sink.book_states
    assert run.depth() == baseline.depth()


# -- 4. bad input is counted and skipped -----------------------------------------------------


def first_after(indices: list[int], position: int) -> int:
    return next(i for i in indices if i > position)


def mutate(frame: bytes, change: Any) -> bytes:
    msg = json.loads(frame)
    change(msg["data"])
    return dumps(msg)


INSERT_AT = 2_000


def _set(key: str, value: str) -> Any:
    return lambda data: data.__setitem__(key, value)


BAD_FRAMES: dict[str, Any] = {
    "malformed_json": lambda trade, ticker, depth: b'{"stream":"btcusdt@trade","data":{"e":,}}',
    "truncated_trade": lambda trade, ticker, depth: trade[: len(trade) // 2],
    "truncated_depth": lambda trade, ticker, depth: depth[: len(depth) // 2],
    "trade_price_not_a_number": lambda trade, ticker, depth: mutate(trade, _set("p", "abc")),
    "trade_price_zero": lambda trade, ticker, depth: mutate(trade, _set("p", "0")),
    "trade_qty_negative": lambda trade, ticker, depth: mutate(trade, _set("q", "-1")),
    "trade_price_nan": lambda trade, ticker, depth: mutate(trade, _set("p", "nan")),
    "ticker_missing_ask": lambda trade, ticker, depth: mutate(ticker, lambda d: d.pop("a")),
    "ticker_price_inf": lambda trade, ticker, depth: mutate(ticker, _set("b", "inf")),
    "ticker_price_not_a_number": lambda trade, ticker, depth: mutate(ticker, _set("a", "x")),
    "empty_frame": lambda trade, ticker, depth: b"",
    "json_array": lambda trade, ticker, depth: b"[1,2,3]",
    "envelope_without_data": lambda trade, ticker, depth: b'{"stream":"btcusdt@trade"}',
    "unwrapped_not_a_snapshot": lambda trade, ticker, depth: b'{"result":null,"id":1}',
}


@pytest.mark.parametrize("bad", list(BAD_FRAMES), ids=list(BAD_FRAMES))
def test_replay_when_bad_frame_inserted_then_counted_skipped_and_replay_goes_on(
    recording_frames: list[tuple[int, bytes]],
    recorded: Recorded,
    prefix_baseline: Replay,
    bad: str,
) -> None:
    originals = [
        recording_frames[first_after(indices, INSERT_AT)][1]
        for indices in (recorded.trade_indices, recorded.ticker_indices, recorded.depth_indices)
    ]
    frames = recording_frames[:PREFIX]
    ts = frames[INSERT_AT][0]
    run = replay([*frames[:INSERT_AT], (ts, BAD_FRAMES[bad](*originals)), *frames[INSERT_AT:]])
    stats, base = run.stats, prefix_baseline.stats
    assert stats.bad_frames == 1
    assert stats.frames == PREFIX + 1
    # Later frames were still processed: every trade, ticker and diff of the original.
    assert sum(i > INSERT_AT for i in recorded.trade_indices if i < PREFIX) > 100
    assert (stats.trades, stats.tickers) == (base.trades, base.tickers)
    assert (stats.gaps, stats.resyncs, stats.unknown_streams) == (0, 0, 0)
    assert stats.depth_updates_applied == base.depth_updates_applied
    assert run.sink.book_states == prefix_baseline.sink.book_states
    assert run.market.last_price == prefix_baseline.market.last_price
    assert run.market.bid_price == prefix_baseline.market.bid_price
    assert run.market.trades.last(10).tolist() == prefix_baseline.market.trades.last(10).tolist()


UNKNOWN = [
    b'{"stream":"ethusdt@trade","data":{"e":"trade","E":1723161255343,"s":"ETHUSDT",'
    b'"t":1,"p":"2500.00","q":"1.0","T":1723161255342,"m":true,"M":true}}',
    b'{"stream":"btcusdt@kline_1m","data":{"e":"kline","s":"BTCUSDT"}}',
]


def replay_with_unknown_streams(recording_frames: list[tuple[int, bytes]]) -> Replay:
    frames = recording_frames[:PREFIX]
    ts = frames[INSERT_AT][0]
    return replay([*frames[:INSERT_AT], *((ts, f) for f in UNKNOWN), *frames[INSERT_AT:]])


def test_replay_when_unknown_stream_or_symbol_then_ignored_not_bad(
    recording_frames: list[tuple[int, bytes]], prefix_baseline: Replay
) -> None:
    run = replay_with_unknown_streams(recording_frames)
    stats, base = run.stats, prefix_baseline.stats
    assert stats.frames == PREFIX + len(UNKNOWN)
    assert (stats.bad_frames, stats.gaps, stats.resyncs) == (0, 0, 0)
    assert (stats.trades, stats.tickers) == (base.trades, base.tickers)
    assert run.sink.book_states == prefix_baseline.sink.book_states
    assert run.market.last_price == prefix_baseline.market.last_price


def test_replay_when_unknown_streams_then_counted_in_unknown_streams(
    recording_frames: list[tuple[int, bytes]],
) -> None:
    run = replay_with_unknown_streams(recording_frames)
    assert run.stats.unknown_streams == len(UNKNOWN)


def set_first_level(side: str, column: int, text: str) -> Any:
    def change(data: dict[str, Any]) -> None:
        data[side][0][column] = text

    return change


@pytest.mark.parametrize(
    ("side", "column", "text"),
    [
        ("b", 0, "nan"),
        ("b", 0, "-1"),
        ("a", 0, "-1"),
        ("a", 0, "0"),
        ("b", 0, "inf"),
        ("b", 0, "abc"),
        ("a", 1, "-1"),
        ("b", 1, "nan"),
    ],
)
def test_replay_when_diff_level_invalid_then_bad_frame_and_book_resyncs_not_wrong(
    recording_frames: list[tuple[int, bytes]],
    recorded: Recorded,
    prefix_baseline: Replay,
    side: str,
    column: int,
    text: str,
) -> None:
    frames = list(recording_frames[:PREFIX])
    index = next(
        i
        for i in recorded.depth_indices
        if i > INSERT_AT and json.loads(frames[i][1])["data"][side]
    )
    frames[index] = (
        frames[index][0],
        mutate(frames[index][1], set_first_level(side, column, text)),
    )
    run = replay(frames)
    stats = run.stats
    assert stats.bad_frames == 1
    assert stats.resyncs == 1
    assert run.market.book.resyncs == 1
    assert_no_prices(run)
    assert stats.trades == prefix_baseline.stats.trades
    correct = dict(prefix_baseline.sink.in_sync_states())
    states = run.sink.in_sync_states()
    assert all(best == correct[u] for u, best in states)
    position = recorded.depth_indices.index(index)
    assert states[-1][0] == recorded.depth_ids[position - 1][1]


def rewrite_levels(frame: bytes, text: Any) -> bytes:
    msg = json.loads(frame)
    data = msg.get("data", msg)
    keys = ("b", "a") if "data" in msg else ("bids", "asks")
    for key in keys:
        data[key] = [[text(p), text(q)] for p, q in data[key]]
    return dumps(msg)


LEVEL_SPELLINGS = {
    # The compiled parser takes quoted and bare decimals; the rest goes to the fallback.
    "bare_json_numbers": lambda s: float(s),
    "seventeen_fraction_digits": lambda s: s + "000000000",
    "exponent_strings": lambda s: f"{Decimal(s):E}",
    "short_strings": lambda s: format(Decimal(s).normalize(), "f"),
}


@pytest.mark.parametrize("spelling", list(LEVEL_SPELLINGS), ids=list(LEVEL_SPELLINGS))
def test_replay_when_levels_spelled_differently_then_same_book(
    recording_frames: list[tuple[int, bytes]],
    recorded: Recorded,
    prefix_baseline: Replay,
    spelling: str,
) -> None:
    text = LEVEL_SPELLINGS[spelling]
    frames = list(recording_frames[:PREFIX])
    for i in [SNAPSHOT_INDEX, *recorded.depth_indices]:
        if i < PREFIX:
            frames[i] = (frames[i][0], rewrite_levels(frames[i][1], text))
    run = replay(frames)
    assert run.stats.bad_frames == 0
    assert run.sink.book_states == prefix_baseline.sink.book_states
    assert run.depth() == prefix_baseline.depth()


# -- 5. the snapshot procedure on synthetic frames -----------------------------------------


def depth_frame(U: int, u: int, bids: tuple = (), asks: tuple = ()) -> bytes:
    data = {
        "e": "depthUpdate",
        "E": 1_723_161_255_000 + u,
        "s": "BTCUSDT",
        "U": U,
        "u": u,
        "b": [[p, q] for p, q in bids],
        "a": [[p, q] for p, q in asks],
    }
    return dumps({"stream": "btcusdt@depth@100ms", "data": data})


def snapshot_body(last_id: int, bids: tuple = (("100.00", "1"),), asks: tuple = (("101.00", "1"),)):
    return dumps({"lastUpdateId": last_id, "bids": list(bids), "asks": list(asks)})


def feed(run: Replay, *frames: bytes) -> None:
    for frame in frames:
        run.decoder.on_frame(0, frame)


D1 = depth_frame(101, 110, bids=(("100.50", "2"),))
D2 = depth_frame(111, 120, asks=(("101.50", "3"),))
D3 = depth_frame(121, 130, bids=(("100.00", "0"),))


def test_snapshot_when_first_buffered_diff_straddles_then_in_sync_with_all_applied() -> None:
    run = new_replay()
    feed(run, depth_frame(90, 100, bids=(("99.00", "5"),)), D1, D2)
    assert run.stats.depth_updates_buffered == 3
    run.decoder.on_snapshot("BTCUSDT", 1, snapshot_body(105))
    feed(run, D3)
    stats = run.stats
    assert (stats.gaps, stats.snapshots, stats.depth_updates_dropped) == (0, 1, 1)
    assert stats.depth_updates_applied == 3
    book = run.market.book
    assert book.in_sync and book.last_update_id == 130
    assert run.depth() == ([100.5], [2.0], [101.0, 101.5], [1.0, 3.0])


def test_snapshot_when_live_diff_starts_exactly_at_last_update_id_plus_one_then_applied() -> None:
    run = new_replay()
    run.decoder.on_snapshot("BTCUSDT", 1, snapshot_body(100))
    feed(run, D1, D2)
    assert run.stats.gaps == 0
    assert run.market.book.last_update_id == 120
    assert run.market.book.best() == (100.5, 2.0, 101.0, 1.0)


def test_snapshot_when_older_than_buffered_diffs_then_gap_and_out_of_sync() -> None:
    run = new_replay()
    feed(run, D1, D2)
    feed(run, snapshot_body(50))  # the recording's way: a REST snapshot line without "stream"
    stats = run.stats
    assert stats.gaps == 1
    assert stats.depth_updates_applied == 0
    assert stats.resyncs == run.market.book.resyncs
    assert_no_prices(run)
    assert run.decoder.symbols_needing_snapshot() == ["BTCUSDT"]
    feed(run, D3)  # still waiting: buffered, not applied
    assert_no_prices(run)


def test_snapshot_when_older_than_live_diff_then_gap_and_out_of_sync() -> None:
    run = new_replay()
    run.decoder.on_snapshot("BTCUSDT", 1, snapshot_body(50))
    assert run.market.book.in_sync
    feed(run, D1)
    assert run.stats.gaps == 1
    assert run.stats.depth_updates_applied == 0
    assert_no_prices(run)
    assert run.decoder.symbols_needing_snapshot() == ["BTCUSDT"]


def test_snapshot_when_stale_then_newer_snapshot_then_rebuilt_from_buffer() -> None:
    run = new_replay()
    feed(run, D1, D2)
    run.decoder.on_snapshot("BTCUSDT", 1, snapshot_body(50))
    assert run.stats.gaps == 1
    run.decoder.on_snapshot("BTCUSDT", 2, snapshot_body(115))  # D2 straddles 116
    feed(run, D3)
    assert run.stats.gaps == 1
    assert run.market.book.in_sync
    assert run.market.book.last_update_id == 130
    assert run.depth() == ([], [], [101.0, 101.5], [1.0, 3.0])


def test_snapshot_when_stale_then_newer_snapshot_inside_first_diff_then_rebuilt_from_buffer() -> (
    None
):
    run = new_replay()
    feed(run, D1, D2)
    run.decoder.on_snapshot("BTCUSDT", 1, snapshot_body(50))  # gap on D1 (101 > 51)
    run.decoder.on_snapshot("BTCUSDT", 2, snapshot_body(105))  # D1 straddles 106
    assert run.stats.gaps == 1
    assert run.market.book.in_sync
    assert run.market.book.last_update_id == 120
    assert run.depth() == ([100.5, 100.0], [2.0, 1.0], [101.0, 101.5], [1.0, 3.0])


def test_live_gap_then_newer_snapshot_then_rebuilt_from_the_diff_after_the_gap() -> None:
    run = new_replay()
    run.decoder.on_snapshot("BTCUSDT", 1, snapshot_body(100))
    feed(run, D1, D3)  # D2 missing
    assert run.stats.gaps == 1
    assert_no_prices(run)
    run.decoder.on_snapshot("BTCUSDT", 2, snapshot_body(125))  # D3 straddles 126
    assert run.stats.gaps == 1
    assert run.market.book.in_sync
    assert run.market.book.last_update_id == 130
    assert run.depth() == ([], [], [101.0], [1.0])


def test_diff_when_it_crosses_the_book_then_counted_and_resynced() -> None:
    run = new_replay()
    run.decoder.on_snapshot("BTCUSDT", 1, snapshot_body(100))
    feed(run, depth_frame(101, 110, bids=(("101.00", "0.5"),)))
    assert run.stats.crossed == 1
    assert run.stats.resyncs == 1
    assert run.stats.depth_updates_applied == 0
    assert_no_prices(run)


def test_on_snapshot_when_unknown_symbol_then_unknown_streams_counted() -> None:
    run = new_replay()
    run.decoder.on_snapshot("ETHUSDT", 1, snapshot_body(100))
    assert run.stats.unknown_streams == 1
    assert run.stats.snapshots == 0
    assert_no_prices(run)


@pytest.mark.parametrize(
    "body",
    [
        snapshot_body(100, bids=(("nan", "1"),)),
        snapshot_body(100, asks=(("101.00", "-1"),)),
        b'{"lastUpdateId":100,"bids":[["100.00"]],"asks":[]}',
        b'{"lastUpdateId":100,"bids":[],"asks":[["101.00","1"]',
    ],
    ids=["nan_price", "negative_qty", "level_without_qty", "truncated"],
)
def test_on_snapshot_when_bad_body_then_bad_frame_and_still_waiting(body: bytes) -> None:
    run = new_replay()
    feed(run, D1)
    run.decoder.on_snapshot("BTCUSDT", 1, body)
    assert run.stats.bad_frames == 1
    assert run.stats.snapshots == 0
    assert_no_prices(run)
    assert run.decoder.symbols_needing_snapshot() == ["BTCUSDT"]
    run.decoder.on_snapshot("BTCUSDT", 2, snapshot_body(105))  # D1 was kept in the buffer
    assert run.market.book.in_sync
    assert run.market.book.last_update_id == 110


# -- the level parser, through the decoder, against float(text) ----------------------------


def decimal_text(mantissa: int, scale: int) -> str:
    digits = str(mantissa).rjust(scale + 1, "0")
    return f"{digits[:-scale]}.{digits[-scale:]}" if scale else digits


quantity_texts = st.builds(
    decimal_text, st.integers(min_value=0, max_value=10**19), st.integers(min_value=0, max_value=24)
)


@given(
    bids=st.lists(
        st.tuples(st.integers(1, 10**7), quantity_texts, st.integers(0, 16)), max_size=30
    ),
    bare=st.booleans(),
)
def test_snapshot_when_random_decimal_strings_then_quantities_equal_float_of_text(
    bids: list[tuple[int, str, int]], bare: bool
) -> None:
    expected: dict[int, float] = {}
    rows = []
    for ticks, qty, zeros in bids:
        price = decimal_text(ticks, 2) + "0" * zeros  # 61837.63, 61837.6300000000...
        rows.append([float(price), float(qty)] if bare else [price, qty])
        expected[ticks] = float(qty)
    body = dumps({"lastUpdateId": 1, "bids": rows, "asks": [["100000.01", "1"]]})
    run = new_replay(book_capacity=64)
    run.decoder.on_snapshot("BTCUSDT", 1, body)
    assert run.stats.bad_frames == 0
    levels = sorted(((t, q) for t, q in expected.items() if q > 0), reverse=True)
    prices, qtys, _, _ = run.depth()
    assert prices == [float(Decimal(t) / 100) for t, _ in levels]
    assert qtys == [q for _, q in levels]
