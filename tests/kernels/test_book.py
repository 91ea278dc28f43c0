"""L2 book kernels against a plain-dict reference book (one ``{tick: qty}`` dict per side)."""

from __future__ import annotations

import math
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from kernels.book import (
    ASK,
    BID,
    BOOK_BAD_LEVEL,
    BOOK_CROSSED,
    BOOK_OK,
    BOOK_OVERFLOW,
    MERGE_THRESHOLD,
    book_apply_diff,
    book_apply_levels,
    book_best,
    book_clear,
    book_depth,
    book_level_qty,
    book_levels_valid,
    book_load_snapshot,
    book_set_level,
)

TICK_SIZES = ("0.01", "0.1", "0.5", "1", "0.00000001")


class RefBook:
    """The oracle: two dicts, a level inserted only while the side has room."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.sides: tuple[dict[int, float], dict[int, float]] = ({}, {})

    def set(self, side: int, tick: int, qty: float) -> int:
        levels = self.sides[side]
        if qty > 0.0:
            if tick not in levels and len(levels) >= self.capacity:
                return BOOK_OVERFLOW
            levels[tick] = qty
        else:
            levels.pop(tick, None)
        return BOOK_OK

    def depth(self, side: int) -> list[tuple[int, float]]:
        return sorted(self.sides[side].items(), reverse=side == BID)

    def best(self) -> list[float]:
        bids, asks = self.depth(BID), self.depth(ASK)
        bid = bids[0] if bids else (-1, 0.0)
        ask = asks[0] if asks else (-1, 0.0)
        return [float(bid[0]), bid[1], float(ask[0]), ask[1]]


def new_book(capacity: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return (
        np.zeros((2, capacity), dtype=np.int64),
        np.zeros((2, capacity), dtype=np.float64),
        np.zeros(2, dtype=np.int64),
    )


def kernel_depth(book: tuple[np.ndarray, np.ndarray, np.ndarray], side: int) -> list:
    ticks, qtys, counts = book
    capacity = ticks.shape[1]
    out_ticks = np.empty(capacity, dtype=np.int64)
    out_qtys = np.empty(capacity, dtype=np.float64)
    n = book_depth(ticks, qtys, counts, side, capacity, out_ticks, out_qtys)
    return [(int(t), float(q)) for t, q in zip(out_ticks[:n], out_qtys[:n], strict=True)]


def assert_same_book(book: tuple[np.ndarray, np.ndarray, np.ndarray], ref: RefBook) -> None:
    ticks, qtys, counts = book
    for side in (BID, ASK):
        n = int(counts[side])
        assert 0 <= n <= ticks.shape[1]
        keys = ticks[side, :n]
        assert np.all(np.diff(keys) > 0), "keys must stay strictly ascending"
        assert kernel_depth(book, side) == ref.depth(side)
    best = np.empty(4, dtype=np.float64)
    book_best(ticks, qtys, counts, best)
    assert best.tolist() == ref.best()


def levels_of(side_ticks: list[tuple[int, float]], tick_size: str) -> np.ndarray:
    """``(n, 2)`` price/qty rows, prices computed exactly in decimal then parsed like the wire."""
    rows = [(float(Decimal(t) * Decimal(tick_size)), q) for t, q in side_ticks]
    return np.array(rows, dtype=np.float64).reshape(-1, 2)


sides = st.sampled_from((BID, ASK))
level_ticks = st.integers(min_value=1, max_value=40)
quantities = st.one_of(st.just(0.0), st.floats(min_value=1e-8, max_value=1e6))
updates = st.lists(st.tuples(sides, level_ticks, quantities), max_size=120)


@given(capacity=st.integers(min_value=1, max_value=12), ops=updates)
def test_book_set_level_when_random_updates_then_equals_dict_reference(
    capacity: int, ops: list[tuple[int, int, float]]
) -> None:
    book = new_book(capacity)
    ref = RefBook(capacity)
    for side, tick, qty in ops:
        expected = ref.set(side, tick, qty)
        assert book_set_level(*book, side, tick, qty) == expected
        assert_same_book(book, ref)


def apply_batch_reference(ref: RefBook, side: int, rows: list[tuple[int, float]]) -> int:
    """The documented result of ``book_apply_levels``: level by level for small diffs (a level
    that does not fit is skipped), all or nothing for merged ones (over ``MERGE_THRESHOLD``)."""
    if len(rows) <= MERGE_THRESHOLD:
        statuses = [ref.set(side, tick, qty) for tick, qty in rows]
        return BOOK_OVERFLOW if BOOK_OVERFLOW in statuses else BOOK_OK
    merged = dict(ref.sides[side])
    for tick, qty in rows:  # in order: a repeated price takes its last quantity
        if qty > 0.0:
            merged[tick] = qty
        else:
            merged.pop(tick, None)
    if len(merged) > ref.capacity:
        return BOOK_OVERFLOW
    ref.sides[side].clear()
    ref.sides[side].update(merged)
    return BOOK_OK


@given(
    capacity=st.integers(min_value=1, max_value=60),
    tick_size=st.sampled_from(TICK_SIZES),
    batches=st.lists(
        st.tuples(
            sides,
            st.one_of(
                st.lists(st.tuples(level_ticks, quantities), max_size=15),
                st.lists(
                    st.tuples(st.integers(min_value=1, max_value=90), quantities),
                    min_size=MERGE_THRESHOLD - 2,
                    max_size=MERGE_THRESHOLD + 40,
                ),
            ),
        ),
        max_size=8,
    ),
)
def test_book_apply_levels_when_random_batches_then_equals_dict_reference(
    capacity: int, tick_size: str, batches: list[tuple[int, list[tuple[int, float]]]]
) -> None:
    book = new_book(capacity)
    ref = RefBook(capacity)
    for side, rows in batches:
        expected = apply_batch_reference(ref, side, rows)
        status = book_apply_levels(*book, side, levels_of(rows, tick_size), float(tick_size))
        assert status == expected
        assert_same_book(book, ref)


@given(
    start=st.lists(st.tuples(st.integers(1, 300), st.floats(1e-3, 10.0)), max_size=100),
    rows=st.lists(
        st.tuples(st.integers(1, 300), quantities),
        min_size=MERGE_THRESHOLD + 1,
        max_size=4 * MERGE_THRESHOLD,
    ),
    side=sides,
)
def test_book_apply_levels_when_large_diff_then_same_book_as_level_by_level(
    start: list[tuple[int, float]], rows: list[tuple[int, float]], side: int
) -> None:
    merged = new_book(512)
    one_by_one = new_book(512)
    for book in (merged, one_by_one):
        for tick, qty in start:
            book_set_level(*book, side, tick, qty)
    assert book_apply_levels(*merged, side, levels_of(rows, "0.01"), 0.01) == BOOK_OK
    for row in rows:
        assert book_apply_levels(*one_by_one, side, levels_of([row], "0.01"), 0.01) == BOOK_OK
    assert kernel_depth(merged, side) == kernel_depth(one_by_one, side)
    assert merged[2].tolist() == one_by_one[2].tolist()


@pytest.mark.parametrize("side", [BID, ASK], ids=["bid", "ask"])
def test_book_set_level_when_deleting_absent_level_then_no_op(side: int) -> None:
    book = new_book(4)
    for tick in (10, 12, 14):
        assert book_set_level(*book, side, tick, 1.5) == BOOK_OK
    before = kernel_depth(book, side)
    for absent in (1, 11, 13, 15, 99):
        assert book_set_level(*book, side, absent, 0.0) == BOOK_OK
    assert kernel_depth(book, side) == before
    assert book[2].tolist() == ([3, 0] if side == BID else [0, 3])


@pytest.mark.parametrize("side", [BID, ASK], ids=["bid", "ask"])
def test_book_set_level_when_side_full_then_overflow_and_side_unchanged(side: int) -> None:
    book = new_book(3)
    for tick in (10, 20, 30):
        assert book_set_level(*book, side, tick, 1.0) == BOOK_OK
    before = kernel_depth(book, side)
    # A new level at the touch, at the back and in the middle: none fits.
    for tick in (5, 15, 35):
        assert book_set_level(*book, side, tick, 2.0) == BOOK_OVERFLOW
        assert kernel_depth(book, side) == before
    assert book[2][side] == 3
    # The other side is independent, updating an existing level still works, and
    # deleting one makes room again.
    assert book_set_level(*book, 1 - side, 7, 1.0) == BOOK_OK
    assert book_set_level(*book, side, 20, 4.0) == BOOK_OK
    assert book_level_qty(*book, side, 20) == 4.0
    assert book_set_level(*book, side, 10, 0.0) == BOOK_OK
    assert book_set_level(*book, side, 15, 2.0) == BOOK_OK
    expected = sorted({15: 2.0, 20: 4.0, 30: 1.0}.items(), reverse=side == BID)
    assert kernel_depth(book, side) == expected


def test_book_apply_levels_when_small_diff_overflows_then_other_levels_still_apply() -> None:
    book = new_book(2)
    book_apply_levels(*book, BID, levels_of([(10, 1.0), (11, 1.0)], "0.01"), 0.01)
    rows = [(12, 1.0), (10, 0.0), (13, 3.0), (11, 5.0)]
    status = book_apply_levels(*book, BID, levels_of(rows, "0.01"), 0.01)
    assert status == BOOK_OVERFLOW
    # 12 did not fit; deleting 10 made room for 13; 11 was updated.
    assert kernel_depth(book, BID) == [(13, 3.0), (11, 5.0)]


def test_book_apply_levels_when_large_diff_would_overflow_then_side_untouched() -> None:
    book = new_book(MERGE_THRESHOLD)
    first = [(t, 1.0) for t in range(1, MERGE_THRESHOLD + 1)]
    assert book_apply_levels(*book, ASK, levels_of(first, "0.01"), 0.01) == BOOK_OK
    before = kernel_depth(book, ASK)
    # Deletes 10 levels, adds 11: one more than fits.
    rows = [(t, 0.0) for t in range(1, 11)] + [(t, 2.0) for t in range(100, 111)]
    rows += [(t, 3.0) for t in range(20, 20 + MERGE_THRESHOLD - len(rows) + 1)]
    assert len(rows) > MERGE_THRESHOLD
    assert book_apply_levels(*book, ASK, levels_of(rows, "0.01"), 0.01) == BOOK_OVERFLOW
    assert kernel_depth(book, ASK) == before
    # Without the last addition it fits exactly.
    rows.remove((110, 2.0))
    rows.append((5, 0.0))
    assert book_apply_levels(*book, ASK, levels_of(rows, "0.01"), 0.01) == BOOK_OK
    assert book[2][ASK] == MERGE_THRESHOLD
    assert book_level_qty(*book, ASK, 110) == 0.0
    assert book_level_qty(*book, ASK, 109) == 2.0
    assert book_level_qty(*book, ASK, 20) == 3.0
    assert book_level_qty(*book, ASK, 1) == 0.0


def valid_levels_oracle(levels: np.ndarray) -> bool:
    return all(
        math.isfinite(p) and p > 0 and math.isfinite(q) and q >= 0 for p, q in levels.tolist()
    )


@given(
    levels=arrays(
        np.float64,
        st.tuples(st.integers(min_value=0, max_value=6), st.just(2)),
        elements=st.floats(allow_nan=True, allow_infinity=True),
    )
)
def test_book_levels_valid_when_random_floats_then_matches_finite_positive_oracle(
    levels: np.ndarray,
) -> None:
    assert book_levels_valid(levels) == valid_levels_oracle(levels)


@pytest.mark.parametrize(
    ("price", "qty", "valid"),
    [
        (61837.63, 1.0, True),
        (61837.63, 0.0, True),
        (1e-8, 1e-8, True),
        (math.nan, 1.0, False),
        (math.inf, 1.0, False),
        (-math.inf, 1.0, False),
        (0.0, 1.0, False),
        (-0.0, 1.0, False),
        (-1.0, 1.0, False),
        (61837.63, -1.0, False),
        (61837.63, -1e-12, False),
        (61837.63, math.nan, False),
        (61837.63, math.inf, False),
    ],
)
def test_book_levels_valid_when_one_level_then_rejects_bad_price_or_qty(
    price: float, qty: float, valid: bool
) -> None:
    good = [61830.0, 0.5]
    levels = np.array([good, [price, qty], good], dtype=np.float64)
    assert book_levels_valid(levels) is valid
    assert book_levels_valid(np.empty((0, 2), dtype=np.float64)) is True


def loaded_book(capacity: int = 16) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    book = new_book(capacity)
    bids = levels_of([(100, 1.0), (99, 2.0), (98, 3.0)], "0.01")
    asks = levels_of([(101, 1.5), (102, 2.5)], "0.01")
    assert book_load_snapshot(*book, bids, asks, 0.01) == BOOK_OK
    return book


def empty_levels() -> np.ndarray:
    return np.empty((0, 2), dtype=np.float64)


@pytest.mark.parametrize(
    ("bids", "asks", "best"),
    [
        ([(101, 0.7)], [], [101.0, 0.7, 101.0, 1.5]),  # bid locks the ask
        ([(105, 0.7)], [], [105.0, 0.7, 101.0, 1.5]),  # bid through the ask
        ([], [(100, 0.2)], [100.0, 1.0, 100.0, 0.2]),  # ask locks the bid
        ([], [(97, 0.2)], [100.0, 1.0, 97.0, 0.2]),  # ask through the bid
        ([(100, 0.0)], [(99, 0.2)], [99.0, 2.0, 99.0, 0.2]),  # delete best bid, then lock
    ],
)
def test_book_apply_diff_when_crossing_or_locking_then_crossed_and_applied(
    bids: list, asks: list, best: list
) -> None:
    book = loaded_book()
    out = np.zeros(4, dtype=np.float64)
    status = book_apply_diff(*book, levels_of(bids, "0.01"), levels_of(asks, "0.01"), 0.01, out)
    assert status == BOOK_CROSSED
    assert out.tolist() == best


def test_book_apply_diff_when_not_crossing_then_ok_and_best_refreshed() -> None:
    book = loaded_book()
    out = np.zeros(4, dtype=np.float64)
    bids = levels_of([(100, 0.0), (97, 9.0)], "0.01")
    asks = levels_of([(101, 0.0), (103, 1.0)], "0.01")
    assert book_apply_diff(*book, bids, asks, 0.01, out) == BOOK_OK
    assert out.tolist() == [99.0, 2.0, 102.0, 2.5]


@pytest.mark.parametrize(
    "bad",
    [(math.nan, 1.0), (-1.0, 1.0), (0.0, 1.0), (math.inf, 1.0), (100.5, -1.0), (100.5, math.nan)],
)
@pytest.mark.parametrize("side", [BID, ASK], ids=["bid", "ask"])
def test_book_apply_diff_when_one_bad_level_then_nothing_applied(
    bad: tuple[float, float], side: int
) -> None:
    book = loaded_book()
    before = (kernel_depth(book, BID), kernel_depth(book, ASK))
    good = [[0.95, 4.0], [1.0, 0.0]]  # would add 95 and delete 100 on bids / add on asks
    rows = np.array([*good, list(bad)], dtype=np.float64)
    bids, asks = (rows, empty_levels()) if side == BID else (empty_levels(), rows)
    out = np.zeros(4, dtype=np.float64)
    assert book_apply_diff(*book, bids, asks, 0.01, out) == BOOK_BAD_LEVEL
    assert (kernel_depth(book, BID), kernel_depth(book, ASK)) == before


@given(
    snapshot=st.tuples(
        st.lists(st.tuples(st.integers(1, 50), st.floats(1e-3, 10.0)), max_size=10),
        st.lists(st.tuples(st.integers(51, 100), st.floats(1e-3, 10.0)), max_size=10),
    ),
    diffs=st.lists(
        st.tuples(
            st.lists(st.tuples(st.integers(1, 100), quantities), max_size=5),
            st.lists(st.tuples(st.integers(1, 100), quantities), max_size=5),
        ),
        max_size=10,
    ),
)
def test_book_apply_diff_when_random_diffs_then_crossed_iff_reference_best_bid_ge_best_ask(
    snapshot: tuple[list, list], diffs: list[tuple[list, list]]
) -> None:
    capacity = 256  # never overflows here
    book = new_book(capacity)
    ref = RefBook(capacity)
    for side, rows in zip((BID, ASK), snapshot, strict=True):
        for tick, qty in rows:
            ref.set(side, tick, qty)
    status = book_load_snapshot(
        *book, levels_of(snapshot[0], "0.5"), levels_of(snapshot[1], "0.5"), 0.5
    )
    assert status == BOOK_OK
    assert_same_book(book, ref)
    out = np.zeros(4, dtype=np.float64)
    for bid_rows, ask_rows in diffs:
        for tick, qty in bid_rows:
            ref.set(BID, tick, qty)
        for tick, qty in ask_rows:
            ref.set(ASK, tick, qty)
        status = book_apply_diff(
            *book, levels_of(bid_rows, "0.5"), levels_of(ask_rows, "0.5"), 0.5, out
        )
        bids, asks = ref.depth(BID), ref.depth(ASK)
        crossed = bool(bids and asks and bids[0][0] >= asks[0][0])
        assert status == (BOOK_CROSSED if crossed else BOOK_OK)
        assert out.tolist() == ref.best()
        assert_same_book(book, ref)


def test_book_load_snapshot_when_called_twice_then_replaces_content() -> None:
    book = loaded_book()
    bids = levels_of([(50, 1.0)], "0.01")
    asks = levels_of([(60, 2.0), (61, 0.0)], "0.01")  # a zero level in a snapshot is no level
    assert book_load_snapshot(*book, bids, asks, 0.01) == BOOK_OK
    assert kernel_depth(book, BID) == [(50, 1.0)]
    assert kernel_depth(book, ASK) == [(60, 2.0)]


def test_book_load_snapshot_when_bad_level_then_book_unchanged() -> None:
    book = loaded_book()
    before = (kernel_depth(book, BID), kernel_depth(book, ASK))
    bids = np.array([[0.5, 1.0], [math.nan, 1.0]], dtype=np.float64)
    assert book_load_snapshot(*book, bids, empty_levels(), 0.01) == BOOK_BAD_LEVEL
    assert (kernel_depth(book, BID), kernel_depth(book, ASK)) == before


def test_book_load_snapshot_when_more_levels_than_capacity_then_overflow_and_full() -> None:
    book = new_book(2)
    bids = levels_of([(10, 1.0), (11, 1.0), (12, 1.0)], "0.01")
    assert book_load_snapshot(*book, bids, empty_levels(), 0.01) == BOOK_OVERFLOW
    assert book[2].tolist() == [2, 0]


def test_book_best_and_clear_when_empty_then_minus_one_ticks_and_zero_qty() -> None:
    book = loaded_book()
    book_clear(book[2])
    out = np.full(4, 7.0)
    assert book_best(*book, out) is False
    assert out.tolist() == [-1.0, 0.0, -1.0, 0.0]
    assert book_level_qty(*book, BID, 100) == 0.0


def test_book_depth_when_fewer_out_slots_or_levels_then_copies_the_best_first() -> None:
    book = loaded_book()
    ticks, qtys, counts = book
    out_ticks = np.empty(2, dtype=np.int64)
    out_qtys = np.empty(2, dtype=np.float64)
    assert book_depth(ticks, qtys, counts, BID, 10, out_ticks, out_qtys) == 2
    assert out_ticks.tolist() == [100, 99]
    assert out_qtys.tolist() == [1.0, 2.0]
    out_ticks = np.empty(10, dtype=np.int64)
    out_qtys = np.empty(10, dtype=np.float64)
    assert book_depth(ticks, qtys, counts, ASK, 10, out_ticks, out_qtys) == 2
    assert out_ticks[:2].tolist() == [101, 102]
    assert book_depth(ticks, qtys, counts, BID, 1, out_ticks, out_qtys) == 1
    assert out_ticks[0] == 100


def test_book_arena_when_written_through_views_then_kernel_views_see_the_same_book() -> None:
    from numba import njit

    from kernels.book import book_arena, book_views

    arena, ticks, qtys, counts, best = book_arena(8)
    assert ticks.shape == (2, 8) and qtys.shape == (2, 8) and counts.shape == (2,)
    assert best.shape == (4,)
    assert all(a.base is not None for a in (ticks, qtys, counts, best))

    @njit
    def through_views(buf):
        t, q, c, b = book_views(buf)
        t[1, 7] += 5
        q[0, 3] = 2.5
        c[1] = 3
        b[2] = 9.0
        return t.shape[1]

    ticks[1, 7] = 10
    assert through_views(arena) == 8
    assert ticks[1, 7] == 15 and qtys[0, 3] == 2.5 and counts[1] == 3 and best[2] == 9.0
    # the four arrays do not overlap
    assert ticks.sum() == 15 and qtys.sum() == 2.5 and counts.sum() == 3 and best.sum() == 9.0
