"""L2Book bookkeeping (sync status, NaN when unknown, exact tick prices) and the TradeRing.

The TradeRing tests live here too (``engine/market.py`` has no test module of its own yet).
"""

from __future__ import annotations

import json
import math
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from engine.book import BOOK_BAD_LEVEL, BOOK_CROSSED, BOOK_OK, BookOverflowError, L2Book
from engine.market import TradeRing
from kernels.book import ASK, BID

CENT = Decimal("0.01")


def levels(*rows: tuple[str, str]) -> np.ndarray:
    """Price/qty rows given as the venue's decimal strings."""
    return np.array([(float(p), float(q)) for p, q in rows], dtype=np.float64).reshape(-1, 2)


NO_LEVELS = levels()


@pytest.fixture
def book() -> L2Book:
    book = L2Book("BTC/USDT", 0.01, 64)
    status = book.load_snapshot(
        levels(("61837.63", "3.78826"), ("61837.62", "0.617"), ("61837.24", "0.1061")),
        levels(("61837.64", "1.54698"), ("61839.85", "0.2"), ("61844.30", "0.40163")),
        update_id=50093239218,
        ts_event=7,
    )
    assert status == BOOK_OK
    return book


def test_best_when_new_book_then_out_of_sync_with_nan_prices() -> None:
    book = L2Book("BTC/USDT", 0.01, 8)
    assert not book.in_sync
    assert book.last_update_id == -1
    bid, bid_qty, ask, ask_qty = book.best()
    assert math.isnan(bid) and math.isnan(ask)
    assert (bid_qty, ask_qty) == (0.0, 0.0)
    assert math.isnan(book.mid())


def test_load_snapshot_then_in_sync_with_the_snapshot_top_and_depth(book: L2Book) -> None:
    assert book.in_sync
    assert book.last_update_id == 50093239218
    assert book.ts_event == 7
    assert book.best() == (61837.63, 3.78826, 61837.64, 1.54698)
    assert book.best_bid == 61837.63
    assert book.best_ask == 61837.64
    assert book.mid() == (61837.63 + 61837.64) * 0.5
    assert book.level_count(BID) == 3
    assert book.level_count(ASK) == 3
    _, bid_qtys = book.depth(BID, 10)
    _, ask_qtys = book.depth(ASK, 2)
    assert bid_qtys.tolist() == [3.78826, 0.617, 0.1061]
    assert ask_qtys.tolist() == [1.54698, 0.2]


def test_depth_when_tick_prices_then_prices_equal_venue_prices_exactly(book: L2Book) -> None:
    # 6183763 * 0.01 == 61837.630000000005: depth must rebuild the venue's own double.
    bid_prices, _ = book.depth(BID, 10)
    ask_prices, _ = book.depth(ASK, 10)
    assert bid_prices.tolist() == [61837.63, 61837.62, 61837.24]
    assert ask_prices.tolist() == [61837.64, 61839.85, 61844.30]


def test_level_qty_when_price_has_float_error_then_exact_tick_lookup(book: L2Book) -> None:
    assert book.ticks[BID, book.level_count(BID) - 1] == 6183763
    assert book.level_qty(BID, 61837.63) == 3.78826
    # 61680.09 / 0.01 == 6168008.999999999 in binary floating point: it must round, not truncate.
    assert 61680.09 / 0.01 != 6168009
    assert book.apply(levels(("61680.09", "0.25")), NO_LEVELS, 50093239219, 8) == BOOK_OK
    assert book.level_qty(BID, 61680.09) == 0.25
    assert book.price_to_ticks(61680.09) == 6168009
    assert book.level_qty(BID, 6183763 * 0.01) == 3.78826
    assert book.level_qty(ASK, 61844.30) == 0.40163
    assert book.level_qty(BID, 61837.64) == 0.0  # an ask price, not a bid level
    assert book.level_qty(ASK, 61840.00) == 0.0


def test_apply_when_diff_updates_deletes_and_adds_then_book_follows(book: L2Book) -> None:
    status = book.apply(
        levels(("61837.63", "0"), ("61837.50", "1.25"), ("61837.24", "0.5")),
        levels(("61837.64", "0"), ("61837.70", "0.003")),
        update_id=50093239224,
        ts_event=11,
    )
    assert status == BOOK_OK
    assert book.last_update_id == 50093239224
    assert book.ts_event == 11
    assert book.best() == (61837.62, 0.617, 61837.70, 0.003)
    assert book.level_qty(BID, 61837.50) == 1.25
    assert book.level_qty(BID, 61837.24) == 0.5
    assert book.level_qty(BID, 61837.63) == 0.0
    assert book.depth(BID, 10)[1].tolist() == [0.617, 1.25, 0.5]


@pytest.mark.parametrize("bad", [("nan", "1"), ("-1", "1"), ("0", "1"), ("inf", "1"), ("1", "-1")])
def test_apply_when_bad_level_then_bad_level_and_nothing_changes(
    book: L2Book, bad: tuple[str, str]
) -> None:
    before = (book.best(), book.depth(BID, 10)[1].tolist(), book.depth(ASK, 10)[1].tolist())
    status = book.apply(levels(("61837.00", "9"), bad), NO_LEVELS, 50093239300, 99)
    assert status == BOOK_BAD_LEVEL
    assert book.last_update_id == 50093239218
    assert book.ts_event == 7
    assert book.in_sync
    assert (book.best(), book.depth(BID, 10)[1].tolist(), book.depth(ASK, 10)[1].tolist()) == before


def test_apply_when_bid_at_best_ask_then_crossed_counted_and_applied(book: L2Book) -> None:
    status = book.apply(levels(("61837.64", "0.1")), NO_LEVELS, 50093239300, 99)
    assert status == BOOK_CROSSED
    assert book.crossed == 1
    assert book.last_update_id == 50093239300
    assert book.level_qty(BID, 61837.64) == 0.1


def test_invalidate_then_out_of_sync_empty_and_resync_counted_once(book: L2Book) -> None:
    book.invalidate()
    assert not book.in_sync
    assert book.resyncs == 1
    assert book.last_update_id == -1
    assert book.level_count(BID) == book.level_count(ASK) == 0
    bid, _, ask, _ = book.best()
    assert math.isnan(bid) and math.isnan(ask)
    assert book.level_qty(BID, 61837.62) == 0.0
    assert book.depth(BID, 10)[0].size == 0
    book.invalidate()  # already out of sync: not another resync
    assert book.resyncs == 1
    assert book.load_snapshot(levels(("1.00", "1")), levels(("1.01", "1")), 5) == BOOK_OK
    assert book.in_sync
    assert book.best() == (1.0, 1.0, 1.01, 1.0)


def test_load_snapshot_when_bad_level_then_stays_out_of_sync() -> None:
    book = L2Book("BTC/USDT", 0.01, 8)
    status = book.load_snapshot(levels(("nan", "1")), levels(("1.01", "1")), 5)
    assert status == BOOK_BAD_LEVEL
    assert not book.in_sync
    assert book.last_update_id == -1


def test_load_snapshot_when_more_levels_than_capacity_then_overflow_error_names_setting() -> None:
    book = L2Book("BTC/USDT", 0.01, 2)
    with pytest.raises(BookOverflowError, match=r"market_data\.book_capacity") as info:
        book.load_snapshot(
            levels(("1.00", "1"), ("0.99", "1"), ("0.98", "1")), levels(("1.01", "1")), 5
        )
    assert "BTC/USDT" in str(info.value)
    assert "capacity 2" in str(info.value)


def test_apply_when_side_full_then_overflow_error_names_setting() -> None:
    book = L2Book("BTC/USDT", 0.01, 2)
    assert book.load_snapshot(levels(("1.00", "1")), levels(("1.01", "1"), ("1.02", "1")), 5) == 0
    with pytest.raises(BookOverflowError, match=r"raise market_data\.book_capacity"):
        book.apply(NO_LEVELS, levels(("1.03", "1")), 6, 0)


@pytest.mark.parametrize(
    ("tick_size", "capacity", "message"),
    [(0.0, 8, "tick_size"), (-0.01, 8, "tick_size"), (0.01, 0, r"market_data\.book_capacity")],
)
def test_init_when_bad_tick_size_or_capacity_then_value_error(
    tick_size: float, capacity: int, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        L2Book("BTC/USDT", tick_size, capacity)


def recording_price_strings(frames: list[tuple[int, bytes]]) -> set[str]:
    """Every bid/ask price string of the snapshot, the depth diffs and the bookTickers."""
    prices: set[str] = set()
    for _, frame in frames:
        msg = json.loads(frame)
        data = msg.get("data", msg)
        if "bids" in data:
            prices.update(p for p, _ in data["bids"] + data["asks"])
        elif data.get("e") == "depthUpdate":
            prices.update(p for p, _ in data["b"] + data["a"])
        elif "B" in data:
            prices.update((data["b"], data["a"]))
    return prices


def test_price_to_tick_when_every_recorded_price_then_exact_decimal_tick(
    recording_frames: list[tuple[int, bytes]],
) -> None:
    prices = sorted(recording_price_strings(recording_frames), key=Decimal)
    assert len(prices) > 1000
    book = L2Book("BTC/USDT", 0.01, len(prices))
    bids = levels(*((p, "1") for p in prices))
    assert book.load_snapshot(bids, NO_LEVELS, 1) == BOOK_OK
    expected = [int(Decimal(p) / CENT) for p in prices]
    assert all(Decimal(p) % CENT == 0 for p in prices)
    assert book.ticks[BID, : len(prices)].tolist() == expected
    assert book.best()[0] == float(prices[-1])
    assert all(book.level_qty(BID, float(p)) == 1.0 for p in prices)


@given(
    tick_size=st.sampled_from(("0.01", "0.1", "0.5", "0.25", "1", "5", "0.00000001")),
    k=st.integers(min_value=1, max_value=10**12),
)
@example(tick_size="0.01", k=6183763)
@example(tick_size="0.01", k=6168599)
@example(tick_size="0.01", k=62404620)  # 624046.20: above 2**19 one ulp exceeds 1e-10
def test_best_and_depth_when_any_tick_then_price_equals_decimal_price_exactly(
    tick_size: str, k: int
) -> None:
    price = Decimal(k) * Decimal(tick_size)
    book = L2Book("X/USDT", float(tick_size), 4)
    status = book.load_snapshot(
        levels((str(price), "1")), levels((str(price + Decimal(tick_size)), "1")), 1
    )
    assert status == BOOK_OK
    assert book.ticks[BID, 0] == k
    assert book.best_bid == float(price)
    assert book.best_ask == float(price + Decimal(tick_size))
    assert book.depth(BID, 1)[0].tolist() == [float(price)]
    assert book.ticks_to_price(k) == float(price)
    assert book.price_to_ticks(float(price)) == k
    assert book.level_qty(BID, float(price)) == 1.0


# -- TradeRing ------------------------------------------------------------------------------


def push_ids(ring: TradeRing, ids: range) -> None:
    for i in ids:
        ring.push(1_000 + i, 2_000 + i, 60_000.0 + i, 0.5 + i, i, 1 if i % 2 else -1)


@given(
    capacity=st.integers(min_value=1, max_value=9),
    pushes=st.integers(min_value=0, max_value=40),
    n=st.integers(min_value=0, max_value=50),
)
def test_trade_ring_last_when_any_fill_level_then_most_recent_oldest_first(
    capacity: int, pushes: int, n: int
) -> None:
    ring = TradeRing(capacity)
    push_ids(ring, range(pushes))
    reference = list(range(pushes))[-capacity:]  # what a ring of this size can still hold
    got = ring.last(n)
    assert ring.count == pushes
    assert got["trade_id"].tolist() == (reference[-n:] if n else [])
    assert got["price"].tolist() == [60_000.0 + i for i in got["trade_id"].tolist()]
    assert got["ts_recv"].tolist() == [2_000 + i for i in got["trade_id"].tolist()]


def test_trade_ring_when_wrapped_then_keeps_last_capacity_trades_and_total_count() -> None:
    ring = TradeRing(4)
    push_ids(ring, range(10))
    assert ring.count == 10
    assert ring.last(3)["trade_id"].tolist() == [7, 8, 9]
    assert ring.last(100)["trade_id"].tolist() == [6, 7, 8, 9]
    last = ring.last(1)[0]
    assert (last["ts_event"], last["qty"], last["side"]) == (1_009, 9.5, 1)


def test_trade_ring_last_then_returns_a_copy() -> None:
    ring = TradeRing(4)
    push_ids(ring, range(6))  # wrapped: last(4) spans the end and the start of the array
    for got in (ring.last(4), ring.last(1)):
        got["price"] = -1.0
    assert ring.last(4)["price"].tolist() == [60_002.0, 60_003.0, 60_004.0, 60_005.0]


def test_trade_ring_when_capacity_not_positive_then_value_error_names_setting() -> None:
    with pytest.raises(ValueError, match=r"market_data\.trade_ring_capacity"):
        TradeRing(0)


def test_trade_ring_push_writes_every_field_exactly_and_wraps() -> None:
    ring = TradeRing(4)
    rows = [(10 + i, 20 + i, 100.5 + i, 0.25 * i, 2**40 + i, -1 if i % 2 else 1) for i in range(6)]
    for row in rows:
        ring.push(*row)
    assert ring.count == 6
    got = [tuple(r.item()) for r in ring.last(4)]
    assert got == rows[2:]
    assert [tuple(r.item()) for r in ring.data[:2]] == rows[4:]
