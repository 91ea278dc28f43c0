"""Recording → backtest rows (``adapters.paper.tickdata``).

Oracles: Binance's documented book procedure (buffer diffs until the REST snapshot, drop
diffs with ``u <= lastUpdateId``, apply the rest; on spot the first applied diff straddles
``lastUpdateId + 1`` and each next one has ``U == previous u + 1``), frames we build here with
known contents, Python's stable ``sorted`` for the row orders, and for the bundled recording
an independent pass over the file with ``json.loads``.

The frame builders at the top are shared with the tick backtester tests.
"""

from __future__ import annotations

import gzip
import json
import math
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pytest

from adapters.paper.tickdata import (
    MAX_BOOK_TICKS,
    TickData,
    TickDataError,
    convert_frames,
    convert_recording,
)
from kernels.tickbt import EV_ASK, EV_ASK_CLEAR, EV_BID, EV_BID_CLEAR, EV_BUY_TRADE, EV_SELL_TRADE
from tests.conftest import RECORDING_PATH

MS = 1_000_000
#: Default feed latency of built frames: receive time = exchange time + this.
FEED_NS = 200_000
SYMBOL = "BTCUSDT"
#: Spot BTCUSDT's filters (what the real-data tests pass to the converter).
SPOT_TICK = 0.01
SPOT_LOT = 0.00001

Levels = Sequence[tuple[float, float]]


def _wire_levels(levels: Levels) -> list[list[str]]:
    return [[f"{p:.8f}", f"{q:.8f}"] for p, q in levels]


class FrameBuilder:
    """Binance spot combined-stream frames at chosen exchange times (ms).

    Each frame's receive time is ``at_ms * 1e6 + feed_ns``. Depth diffs chain their update ids
    (``U = previous u + 1``) unless ids are given; the snapshot takes the last ``u`` unless
    ``last_id`` is given and, like Binance's REST snapshot, carries no timestamp.
    """

    def __init__(self, feed_ns: int = FEED_NS, first_id: int = 1000) -> None:
        self.frames: list[tuple[int, bytes]] = []
        self.feed_ns = feed_ns
        self.last_u = first_id
        self.trade_id = 0

    def _add(self, at_ms: int, obj: object, feed_ns: int | None) -> None:
        recv = at_ms * MS + (self.feed_ns if feed_ns is None else feed_ns)
        self.frames.append((recv, json.dumps(obj, separators=(",", ":")).encode()))

    def snapshot(
        self,
        at_ms: int,
        bids: Levels,
        asks: Levels,
        last_id: int | None = None,
        feed_ns: int | None = None,
    ) -> int:
        lid = self.last_u if last_id is None else last_id
        obj = {"lastUpdateId": lid, "bids": _wire_levels(bids), "asks": _wire_levels(asks)}
        self._add(at_ms, obj, feed_ns)
        return lid

    def depth(
        self,
        at_ms: int,
        bids: Levels = (),
        asks: Levels = (),
        first_id: int | None = None,
        last_id: int | None = None,
        feed_ns: int | None = None,
        symbol: str = SYMBOL,
    ) -> None:
        first = self.last_u + 1 if first_id is None else first_id
        last = first + max(len(bids) + len(asks) - 1, 0) if last_id is None else last_id
        self.last_u = last
        data = {
            "e": "depthUpdate",
            "E": at_ms,
            "s": symbol,
            "U": first,
            "u": last,
            "b": _wire_levels(bids),
            "a": _wire_levels(asks),
        }
        self._add(at_ms, {"stream": f"{symbol.lower()}@depth@100ms", "data": data}, feed_ns)

    def trade(
        self,
        at_ms: int,
        price: float,
        qty: float,
        buyer_is_maker: bool,
        feed_ns: int | None = None,
    ) -> None:
        """A trade; ``buyer_is_maker`` (Binance's ``m``) means the taker sold."""
        self.trade_id += 1
        data = {
            "e": "trade",
            "E": at_ms,
            "T": at_ms,
            "s": SYMBOL,
            "t": self.trade_id,
            "p": f"{price:.8f}",
            "q": f"{qty:.8f}",
            "m": buyer_is_maker,
            "M": True,
        }
        self._add(at_ms, {"stream": "btcusdt@trade", "data": data}, feed_ns)

    def raw(self, at_ms: int, frame: bytes) -> None:
        self.frames.append((at_ms * MS + self.feed_ns, frame))


def rows_of(data: TickData) -> list[tuple[int, int, int, float, float]]:
    """(kind, exchange ts, local ts, price, qty) of every row, in recording order."""
    return [
        (
            int(data.kind[i]),
            int(data.exch_ts[i]),
            int(data.local_ts[i]),
            round((int(data.idx[i]) + data.tick_base) * data.tick_size, 8),
            float(data.qty[i]),
        )
        for i in range(data.n_rows)
    ]


def book_rows(data: TickData, kinds: Iterable[int]) -> list[tuple[int, int, float, float]]:
    """(kind, exchange ts, price, qty) of the rows of the given kinds, in recording order."""
    wanted = set(kinds)
    return [(k, x, p, q) for k, x, _, p, q in rows_of(data) if k in wanted]


# -- snapshot procedure ------------------------------------------------------------------------


def test_convert_when_diffs_precede_snapshot_then_stale_dropped_newer_applied_at_its_time() -> None:
    fb = FrameBuilder()
    fb.depth(1, bids=[(99.0, 1.0)], first_id=990, last_id=995)  # u < lastUpdateId: stale
    fb.depth(2, bids=[(98.5, 2.0)], first_id=996, last_id=1000)  # u == lastUpdateId: stale
    fb.depth(3, bids=[(98.0, 3.0)], first_id=1001, last_id=1004)  # newer: buffered, then applied
    fb.snapshot(5, bids=[(99.5, 5.0), (99.0, 4.0)], asks=[(100.0, 1.0), (101.0, 2.0)], last_id=1000)
    fb.depth(6, asks=[(100.5, 7.0)], first_id=1005, last_id=1006)
    data = convert_frames(fb.frames, 0.5, 0.25)

    snap_ts = 5 * MS + FEED_NS  # the REST snapshot has no timestamp: its receive time
    assert data.stats["dropped_stale_diffs"] == 2
    assert data.stats["snapshots"] == 1
    assert data.stats["synced"] is True
    assert data.stats["gaps"] == 0
    assert rows_of(data) == [
        (EV_BID_CLEAR, snap_ts, snap_ts, 99.0, 0.0),  # deletes bids from the deepest one up
        (EV_BID, snap_ts, snap_ts, 99.5, 5.0),
        (EV_BID, snap_ts, snap_ts, 99.0, 4.0),
        (EV_ASK_CLEAR, snap_ts, snap_ts, 101.0, 0.0),
        (EV_ASK, snap_ts, snap_ts, 100.0, 1.0),
        (EV_ASK, snap_ts, snap_ts, 101.0, 2.0),
        (EV_BID, snap_ts, snap_ts, 98.0, 3.0),  # the buffered diff, at the snapshot's times
        (EV_ASK, 6 * MS, 6 * MS + FEED_NS, 100.5, 7.0),
    ]


def test_convert_when_diff_after_snapshot_already_contained_then_dropped() -> None:
    fb = FrameBuilder()
    fb.snapshot(0, bids=[(99.5, 5.0)], asks=[(100.0, 1.0)], last_id=1000)
    fb.depth(1, bids=[(99.0, 1.0)], first_id=995, last_id=1000)  # contained: dropped
    fb.depth(2, bids=[(98.5, 2.0)], first_id=1001, last_id=1003)  # applied
    data = convert_frames(fb.frames, 0.5, 0.25)
    assert data.stats["dropped_stale_diffs"] == 1
    assert book_rows(data, [EV_BID]) == [(EV_BID, FEED_NS, 99.5, 5.0), (EV_BID, 2 * MS, 98.5, 2.0)]


def test_convert_when_no_snapshot_then_book_from_diffs_and_not_synced() -> None:
    fb = FrameBuilder()
    fb.depth(1, bids=[(99.0, 1.0)])
    fb.depth(2, asks=[(100.0, 2.0)])
    data = convert_frames(fb.frames, 0.5, 0.25)
    assert data.stats["synced"] is False
    assert data.stats["snapshots"] == 0
    assert book_rows(data, [EV_BID, EV_ASK]) == [
        (EV_BID, 1 * MS, 99.0, 1.0),
        (EV_ASK, 2 * MS, 100.0, 2.0),
    ]


# -- sequence gaps -----------------------------------------------------------------------------


def test_convert_when_spot_update_ids_skip_then_each_gap_counted_and_rows_kept() -> None:
    fb = FrameBuilder()
    fb.snapshot(0, bids=[(99.5, 5.0)], asks=[(100.0, 1.0)], last_id=1000)
    fb.depth(1, bids=[(99.0, 1.0)], first_id=1001, last_id=1005)
    fb.depth(2, bids=[(99.0, 2.0)], first_id=1006, last_id=1010)  # contiguous
    fb.depth(3, bids=[(99.0, 3.0)], first_id=1012, last_id=1015)  # 1011 missing: gap
    fb.depth(4, bids=[(99.0, 4.0)], first_id=1016, last_id=1020)  # contiguous again
    fb.depth(5, bids=[(99.0, 5.0)], first_id=1030, last_id=1031)  # gap
    data = convert_frames(fb.frames, 0.5, 0.25)
    assert data.stats["gaps"] == 2
    assert [q for _, _, p, q in book_rows(data, [EV_BID]) if p == 99.0] == [1, 2, 3, 4, 5]


def test_convert_when_update_ids_contiguous_then_no_gap() -> None:
    fb = FrameBuilder()
    fb.snapshot(0, bids=[(99.5, 5.0)], asks=[(100.0, 1.0)])
    for t in range(1, 20):
        fb.depth(t, bids=[(99.0, float(t))], asks=[(100.5, 1.0), (101.0, 2.0)])
    assert convert_frames(fb.frames, 0.5, 0.25).stats["gaps"] == 0


def _futures_depth(at_ms: int, first: int, last: int, prev: int, bid: tuple[float, float]) -> bytes:
    data = {
        "e": "depthUpdate",
        "E": at_ms + 2,  # event time: a little after the transaction time
        "T": at_ms,
        "s": SYMBOL,
        "U": first,
        "u": last,
        "pu": prev,
        "b": _wire_levels([bid]),
        "a": [],
    }
    return json.dumps({"stream": "btcusdt@depth@100ms", "data": data}).encode()


def test_convert_when_futures_pu_breaks_chain_then_gap_counted_and_transaction_time_used() -> None:
    fb = FrameBuilder()
    fb.snapshot(0, bids=[(99.5, 5.0)], asks=[(100.0, 1.0)], last_id=1000)
    fb.raw(1, _futures_depth(1, 995, 1005, 990, (99.0, 1.0)))
    fb.raw(2, _futures_depth(2, 1006, 1010, 1005, (99.0, 2.0)))  # pu == previous u
    fb.raw(3, _futures_depth(3, 1013, 1020, 1012, (99.0, 3.0)))  # pu != 1010: gap
    fb.raw(4, _futures_depth(4, 1021, 1030, 1020, (99.0, 4.0)))
    data = convert_frames(fb.frames, 0.5, 0.25)
    assert data.market == "futures"
    assert data.stats["gaps"] == 1
    assert [(x, q) for _, x, p, q in book_rows(data, [EV_BID]) if p == 99.0] == [
        (t * MS, float(t)) for t in (1, 2, 3, 4)
    ]


def test_convert_when_first_diff_after_snapshot_skips_ids_then_gap_counted() -> None:
    """Binance: the first diff applied after the snapshot must have U <= lastUpdateId + 1.

    The engine's own decoder (``adapters.binance.decoder``) counts this case as a gap ("first
    diff after snapshot does not straddle lastUpdateId+1"); the converter resets its chain on
    the snapshot and never compares the first diff with ``lastUpdateId``, so updates
    1001..1049 are silently missing from the book.
    """
    for buffered in (False, True):
        fb = FrameBuilder()
        if buffered:
            fb.depth(1, bids=[(99.0, 3.0)], first_id=1050, last_id=1060)
        fb.snapshot(2, bids=[(99.5, 5.0)], asks=[(100.0, 1.0)], last_id=1000)
        if not buffered:
            fb.depth(3, bids=[(99.0, 3.0)], first_id=1050, last_id=1060)
        fb.depth(4, bids=[(99.0, 2.0)], first_id=1061, last_id=1070)
        data = convert_frames(fb.frames, 0.5, 0.25)
        assert data.stats["gaps"] == 1, f"buffered={buffered}: {data.stats}"


# -- bad, unknown and foreign frames ----------------------------------------------------------


def test_convert_when_bad_frames_then_counted_skipped_and_other_rows_kept() -> None:
    fb = FrameBuilder()
    fb.snapshot(0, bids=[(99.5, 5.0)], asks=[(100.0, 1.0)])
    fb.raw(1, b'{"stream":"btcusdt@depth@100ms","data":{"e":"depthUpd')  # truncated
    fb.raw(2, b"not json at all")
    fb.raw(3, b"[1, 2, 3]")  # JSON, but not an object
    fb.raw(
        4,
        b'{"stream":"btcusdt@depth@100ms","data":{"e":"depthUpdate","E":4,"s":"BTCUSDT",'
        b'"U":1001,"u":1001,"b":"garbage","a":[]}}',  # levels are not a list of pairs
    )
    fb.raw(
        5,
        b'{"stream":"btcusdt@trade","data":{"e":"trade","E":5,"s":"BTCUSDT","t":9,'
        b'"p":"abc","q":"1.0","m":true}}',  # price is not a number
    )
    fb.depth(6, bids=[(99.0, 2.0)], first_id=1002, last_id=1002)
    fb.trade(7, 99.5, 0.5, True)
    data = convert_frames(fb.frames, 0.5, 0.25)
    assert data.stats["bad_frames"] == 5
    assert data.stats["frames"] == 8
    assert data.stats["trades"] == 1
    assert book_rows(data, [EV_BID, EV_SELL_TRADE]) == [
        (EV_BID, FEED_NS, 99.5, 5.0),
        (EV_BID, 6 * MS, 99.0, 2.0),
        (EV_SELL_TRADE, 7 * MS, 99.5, 0.5),
    ]


def _depth_frame(at_ms: int, update_id: int, bids: bytes, asks: bytes) -> bytes:
    return (
        b'{"stream":"btcusdt@depth@100ms","data":{"e":"depthUpdate","E":%d,"s":"BTCUSDT",'
        b'"U":%d,"u":%d,"b":%s,"a":%s}}' % (at_ms, update_id, update_id, bids, asks)
    )


def test_convert_when_depth_frame_half_malformed_then_skipped_and_counted_once() -> None:
    """A depth frame with a malformed level array is skipped as a whole and counted once.

    Got: the frame at 4 ms (bids "garbage", asks valid) still applies its ask level at 100.5
    (half a frame reaches the book), and the frame at 5 ms (both sides malformed) counts two
    bad frames; ``bad_frames`` is 3 for 2 bad frames. (Level arrays are parsed per side
    after the frame loop since the converter parses them in one compiled call.)
    """
    fb = FrameBuilder()
    fb.snapshot(0, bids=[(99.5, 5.0)], asks=[(100.0, 1.0)], last_id=1000)
    fb.raw(4, _depth_frame(4, 1001, b'"garbage"', b'[["100.50000000","1.00000000"]]'))
    fb.raw(5, _depth_frame(5, 1002, b'"garbage"', b'{"not": "levels"}'))
    fb.raw(6, _depth_frame(6, 1003, b'[["99.00000000","2.00000000"]]', b"[]"))
    data = convert_frames(fb.frames, 0.5, 0.25)
    assert book_rows(data, [EV_BID, EV_ASK]) == [
        (EV_BID, FEED_NS, 99.5, 5.0),
        (EV_ASK, FEED_NS, 100.0, 1.0),
        (EV_BID, 6 * MS, 99.0, 2.0),
    ]
    assert data.stats["bad_frames"] == 2


def test_convert_when_unknown_streams_and_messages_then_skipped_without_rows() -> None:
    fb = FrameBuilder()
    fb.snapshot(0, bids=[(99.5, 5.0)], asks=[(100.0, 1.0)])
    fb.raw(1, b'{"stream":"btcusdt@bookTicker","data":{"u":1,"s":"BTCUSDT","b":"99.5"}}')
    fb.raw(2, b'{"stream":"btcusdt@kline_1m","data":{"e":"kline","E":2,"s":"BTCUSDT"}}')
    fb.raw(3, b'{"result":null,"id":1}')  # a subscription answer: neither stream nor snapshot
    fb.trade(4, 100.0, 1.0, False)
    data = convert_frames(fb.frames, 0.5, 0.25)
    assert data.stats["skipped_frames"] == 3
    assert data.stats["bad_frames"] == 0
    assert [r[0] for r in rows_of(data)] == [
        EV_BID_CLEAR,
        EV_BID,
        EV_ASK_CLEAR,
        EV_ASK,
        EV_BUY_TRADE,
    ]


def test_convert_when_other_symbol_frames_then_counted_and_skipped() -> None:
    fb = FrameBuilder()
    fb.snapshot(0, bids=[(99.5, 5.0)], asks=[(100.0, 1.0)])
    fb.depth(1, bids=[(99.0, 1.0)])
    fb.depth(2, bids=[(3000.0, 1.0)], symbol="ETHUSDT", first_id=1, last_id=1)
    data = convert_frames(fb.frames, 0.5, 0.25, symbol="btcusdt")
    assert data.symbol == SYMBOL
    assert data.stats["other_symbols"] == 1
    assert 3000.0 not in [p for _, _, p, _ in book_rows(data, [EV_BID])]


# -- trades, tick and lot ----------------------------------------------------------------------


def test_convert_when_buyer_is_maker_then_sell_trade_else_buy_trade() -> None:
    fb = FrameBuilder()
    fb.snapshot(0, bids=[(99.5, 5.0)], asks=[(100.0, 1.0)])
    fb.trade(1, 99.5, 0.25, True)  # m: the buyer was the resting order, the taker sold
    fb.trade(2, 100.0, 0.75, False)  # the taker bought
    data = convert_frames(fb.frames, 0.5, 0.25)
    assert book_rows(data, [EV_BUY_TRADE, EV_SELL_TRADE]) == [
        (EV_SELL_TRADE, 1 * MS, 99.5, 0.25),
        (EV_BUY_TRADE, 2 * MS, 100.0, 0.75),
    ]


def _spot_trade(event_ms: int, trade_ms: int) -> bytes:
    data = {"e": "trade", "E": event_ms, "T": trade_ms, "s": SYMBOL, "p": "99.5", "q": "1.0"}
    data["m"] = True
    return json.dumps({"stream": "btcusdt@trade", "data": data}).encode()


def test_convert_when_spot_trades_precede_first_depth_diff_then_same_clock_as_later() -> None:
    """Spot trades are stamped with the event time ``E`` (the clock of spot depth diffs).

    Until the first depth diff has been seen the converter does not know the market is spot
    and stamps trades with ``T`` instead: here the trades at E = 11 and 31 ms come out at 10
    and 30 ms while the one after the diff comes out at its E = 51 ms. A live spot recording
    usually starts with trades (the trade stream is busier than depth@100ms), so its first
    trades sit on a different clock than the rest.
    """
    fb = FrameBuilder()
    fb.raw(1, _spot_trade(11, 10))
    fb.snapshot(2, [(99.5, 5.0)], [(100.0, 1.0)])
    fb.raw(3, _spot_trade(31, 30))
    fb.depth(4, bids=[(99.0, 1.0)])
    fb.raw(5, _spot_trade(51, 50))
    data = convert_frames(fb.frames, 0.5, 0.25)
    assert data.market == "spot"
    assert [x for _, x, _, _ in book_rows(data, [EV_SELL_TRADE])] == [11 * MS, 31 * MS, 51 * MS]


@pytest.mark.parametrize(
    ("prices", "qtys", "tick", "lot"),
    [
        ([100.25, 100.5, 101.0], [0.001, 0.25, 3.0], 0.01, 0.001),
        ([100.5, 101.0, 99.5], [1.0, 2.0, 5.0], 0.1, 1.0),
        ([61837.63, 61837.64], [0.00014, 1.5], 0.01, 0.00001),
    ],
)
def test_convert_when_tick_and_lot_not_given_then_coarsest_decimal_step_of_the_data(
    prices: list[float], qtys: list[float], tick: float, lot: float
) -> None:
    fb = FrameBuilder()
    fb.snapshot(0, bids=[(prices[0], qtys[0])], asks=[(prices[1], qtys[1])])
    fb.trade(1, prices[-1], qtys[-1], False)
    data = convert_frames(fb.frames)
    assert data.tick_size == pytest.approx(tick, rel=1e-12)
    assert data.lot_size == pytest.approx(lot, rel=1e-12)
    prices_back = sorted({p for _, _, _, p, _ in rows_of(data)})
    assert all(any(math.isclose(p, q, rel_tol=1e-12) for p in prices_back) for q in prices)


def test_convert_when_level_far_outside_book_range_then_dropped_and_counted() -> None:
    fb = FrameBuilder()
    far = 100.0 + (MAX_BOOK_TICKS + 10) * 0.5
    fb.snapshot(0, bids=[(99.5, 5.0)], asks=[(100.0, 1.0), (far, 1.0)])
    fb.trade(1, 100.0, 1.0, False)
    data = convert_frames(fb.frames, 0.5, 0.25)
    assert data.stats["dropped_out_of_range"] == 1
    assert data.n_ticks <= MAX_BOOK_TICKS
    assert far not in [p for _, _, p, _ in book_rows(data, [EV_ASK])]
    assert (EV_ASK, FEED_NS, 100.0, 1.0) in book_rows(data, [EV_ASK])


# -- timestamps and orders ---------------------------------------------------------------------


def test_convert_when_local_before_exchange_time_then_all_local_shifted_by_largest_skew() -> None:
    fb = FrameBuilder()
    fb.snapshot(10, bids=[(99.5, 5.0)], asks=[(100.0, 1.0)])
    fb.depth(11, bids=[(99.0, 1.0)], feed_ns=-3 * MS)  # received 3 ms "before" it happened
    fb.trade(12, 99.5, 1.0, True, feed_ns=-5 * MS)  # the largest skew
    fb.depth(13, asks=[(100.5, 2.0)], feed_ns=2 * MS)
    raw_local = [recv for recv, _ in fb.frames]
    data = convert_frames(fb.frames, 0.5, 0.25)

    shift = 5 * MS
    assert data.stats["local_shift_ns"] == shift
    assert np.all(data.local_ts >= data.exch_ts)
    assert int((data.local_ts - data.exch_ts).min()) == 0
    # each row keeps its frame's receive time, moved by the same shift
    assert sorted(set(data.local_ts.tolist())) == sorted(t + shift for t in set(raw_local))


def test_convert_when_feed_latency_positive_then_no_shift() -> None:
    fb = FrameBuilder(feed_ns=1 * MS)
    fb.snapshot(0, bids=[(99.5, 5.0)], asks=[(100.0, 1.0)])
    fb.trade(1, 99.5, 1.0, True)
    data = convert_frames(fb.frames, 0.5, 0.25)
    assert data.stats["local_shift_ns"] == 0
    assert data.local_ts.tolist()[-1] == 2 * MS


def test_convert_when_times_interleave_then_x_and_l_order_stable_sorts() -> None:
    fb = FrameBuilder()
    fb.snapshot(0, bids=[(99.5, 5.0)], asks=[(100.0, 1.0)])
    # one level twice in one frame: the rows must stay in frame order (the last one wins)
    fb.depth(1, bids=[(99.0, 1.0), (99.0, 0.0)], feed_ns=9 * MS)
    fb.trade(2, 99.5, 1.0, True, feed_ns=1 * MS)  # received before the diff above
    fb.depth(2, asks=[(100.5, 1.0), (101.0, 2.0)], feed_ns=1 * MS)
    fb.trade(2, 100.0, 0.5, False, feed_ns=7 * MS)
    fb.depth(3, bids=[(98.5, 1.0)], feed_ns=0)
    data = convert_frames(fb.frames, 0.5, 0.25)
    n = data.n_rows
    x_expected = sorted(range(n), key=lambda i: int(data.exch_ts[i]))
    l_expected = sorted(range(n), key=lambda i: int(data.local_ts[i]))
    assert data.x_order.tolist() == x_expected
    assert data.l_order.tolist() == l_expected
    assert x_expected != l_expected  # the scenario really orders the two streams differently
    same_level = [i for i in data.x_order if data.kind[i] == EV_BID and data.qty[i] in (0.0, 1.0)]
    assert [float(data.qty[i]) for i in same_level][:2] == [1.0, 0.0]


@pytest.mark.parametrize(
    "frames",
    [
        [],
        [(1, b'{"stream":"btcusdt@bookTicker","data":{"u":1,"s":"BTCUSDT"}}')],
        [(1, b"garbage"), (2, b'{"result":null,"id":1}')],
    ],
    ids=["empty", "book_ticker_only", "nothing_usable"],
)
def test_convert_when_no_depth_or_trade_rows_then_tick_data_error_says_so(
    frames: list[tuple[int, bytes]],
) -> None:
    with pytest.raises(TickDataError, match="no depth or trade rows"):
        convert_frames(frames, 0.5, 0.25)


def test_convert_recording_when_empty_file_then_tick_data_error(tmp_path: Path) -> None:
    path = tmp_path / "empty.gz"
    path.write_bytes(gzip.compress(b""))
    with pytest.raises(TickDataError, match="no depth or trade rows"):
        convert_recording(path, 0.5, 0.25)


def test_convert_recording_when_plain_file_then_same_rows_as_frames_and_bad_lines_counted(
    tmp_path: Path,
) -> None:
    fb = FrameBuilder()
    fb.snapshot(0, bids=[(99.5, 5.0)], asks=[(100.0, 1.0)])
    fb.depth(1, bids=[(99.0, 1.0)])
    fb.trade(2, 99.5, 1.0, True)
    lines = [b"%d %s\n" % (ts, frame) for ts, frame in fb.frames]
    path = tmp_path / "rec.txt"
    path.write_bytes(lines[0] + b"no timestamp here\n" + b"".join(lines[1:]))
    data = convert_recording(path, 0.5, 0.25)
    assert data.stats["bad_lines"] == 1
    assert rows_of(data) == rows_of(convert_frames(fb.frames, 0.5, 0.25))


# -- the bundled recording ---------------------------------------------------------------------


def _independent_rows(
    frames: list[tuple[int, bytes]],
) -> tuple[list[tuple[int, int, int, int, float]], dict[str, int]]:
    """(kind, exch ts, raw local ts, price in ticks, qty) by Binance's procedure, with json."""
    rows: list[tuple[int, int, int, int, float]] = []
    counts = {"trades": 0, "stale": 0, "gaps": 0, "depth": 0}
    pending: list[tuple[int, dict]] = []
    last_id: int | None = None
    prev_u: int | None = None
    first_after_snapshot = False

    def tick(p: str) -> int:
        return round(float(p) / SPOT_TICK)

    def apply(exch: int, recv: int, d: dict) -> None:
        nonlocal prev_u, first_after_snapshot
        assert last_id is not None
        if first_after_snapshot:
            if not d["U"] <= last_id + 1 <= d["u"]:
                counts["gaps"] += 1
            first_after_snapshot = False
        elif prev_u is not None and d["U"] != prev_u + 1:
            counts["gaps"] += 1
        prev_u = d["u"]
        rows.extend((EV_BID, exch, recv, tick(p), float(q)) for p, q in d["b"])
        rows.extend((EV_ASK, exch, recv, tick(p), float(q)) for p, q in d["a"])

    for recv, frame in frames:
        msg = json.loads(frame)
        if "stream" not in msg:
            if "lastUpdateId" not in msg:
                continue
            last_id = msg["lastUpdateId"]
            bids, asks = msg["bids"], msg["asks"]
            rows.append((EV_BID_CLEAR, recv, recv, min(tick(p) for p, _ in bids), 0.0))
            rows.extend((EV_BID, recv, recv, tick(p), float(q)) for p, q in bids)
            rows.append((EV_ASK_CLEAR, recv, recv, max(tick(p) for p, _ in asks), 0.0))
            rows.extend((EV_ASK, recv, recv, tick(p), float(q)) for p, q in asks)
            first_after_snapshot = True
            for _, d in pending:
                if d["u"] <= last_id:
                    counts["stale"] += 1
                else:
                    apply(recv, recv, d)
            pending.clear()
            continue
        stream, d = msg["stream"], msg["data"]
        if stream.endswith("@trade"):
            counts["trades"] += 1
            kind = EV_SELL_TRADE if d["m"] else EV_BUY_TRADE
            rows.append((kind, d["E"] * MS, recv, tick(d["p"]), float(d["q"])))
        elif "@depth" in stream:
            counts["depth"] += 1
            if last_id is None:
                pending.append((recv, d))
            elif d["u"] <= last_id:
                counts["stale"] += 1
            else:
                apply(d["E"] * MS, recv, d)
    return rows, counts


@pytest.fixture(scope="module")
def spot_data() -> TickData:
    return convert_recording(RECORDING_PATH, SPOT_TICK, SPOT_LOT)


def test_convert_recording_bundled_spot_then_rows_equal_independent_json_pass(
    spot_data: TickData, recording_frames: list[tuple[int, bytes]]
) -> None:
    data = spot_data
    expected, counts = _independent_rows(recording_frames)
    shift = data.stats["local_shift_ns"]

    # the window the books cover: everything inside is kept, everything outside counted
    lo, hi = data.tick_base, data.tick_base + data.n_ticks - 1
    clears = (EV_BID_CLEAR, EV_ASK_CLEAR)
    inside = [r for r in expected if lo <= r[3] <= hi or r[0] in clears]
    assert data.n_rows == len(inside)
    assert data.stats["dropped_out_of_range"] == len(expected) - len(inside)
    assert data.n_rows + data.stats["dropped_out_of_range"] == len(expected)

    got = np.array(
        [
            (
                int(data.kind[i]),
                int(data.exch_ts[i]),
                int(data.local_ts[i]) - shift,
                int(data.idx[i]) + data.tick_base,
                float(data.qty[i]),
            )
            for i in range(data.n_rows)
        ],
        dtype=object,
    )
    want = np.array(inside, dtype=object)
    # clear rows may sit outside the window; compare their price ticks clipped like the books
    is_clear = np.isin(want[:, 0].astype(int), clears)
    want[is_clear, 3] = np.clip(want[is_clear, 3].astype(np.int64), lo - 1, hi + 1)
    assert sorted(map(tuple, got.tolist())) == sorted(map(tuple, want.tolist()))

    assert data.stats["trades"] == counts["trades"] == 9757
    assert data.stats["depth_frames"] == counts["depth"]
    assert data.stats["dropped_stale_diffs"] == counts["stale"]
    assert data.stats["gaps"] == counts["gaps"]
    assert data.stats["snapshots"] == 1 and data.stats["synced"] is True
    assert data.stats["bad_frames"] == 0 and data.stats["bad_lines"] == 0
    # every trade's price is inside the book window
    n_trades = int(np.isin(data.kind, (EV_BUY_TRADE, EV_SELL_TRADE)).sum())
    assert n_trades == counts["trades"]


def test_convert_recording_bundled_spot_then_orders_sorted_and_local_never_before_exchange(
    spot_data: TickData,
) -> None:
    data = spot_data
    assert np.all(np.diff(data.exch_ts[data.x_order]) >= 0)
    assert np.all(np.diff(data.local_ts[data.l_order]) >= 0)
    for order, ts in ((data.x_order, data.exch_ts), (data.l_order, data.local_ts)):
        ties = np.diff(ts[order]) == 0
        assert np.all(np.diff(order)[ties] > 0), "rows at one timestamp keep recording order"
    assert np.all(data.local_ts >= data.exch_ts)
    # the recording's local clock runs behind Binance's: the shift corrects it
    assert data.stats["local_shift_ns"] > 0
    assert int((data.local_ts - data.exch_ts).min()) == 0
    assert data.n_ticks <= MAX_BOOK_TICKS
    assert data.symbol == SYMBOL and data.market == "spot"
