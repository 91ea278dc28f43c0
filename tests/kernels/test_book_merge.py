"""The merge paths of kernels.book (large diffs; touch-first diffs) equal level-by-level updates."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from kernels.book import (
    ASK,
    BID,
    BOOK_BAD_LEVEL,
    BOOK_NOT_MERGEABLE,
    BOOK_OK,
    BOOK_OVERFLOW,
    MERGE_THRESHOLD,
    book_apply_diff,
    book_apply_diff_sorted,
    book_apply_keys_sorted,
    book_apply_levels,
    book_arena,
    book_set_level,
)

TICK = 0.01


def _empty(capacity: int = 4096) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return (
        np.zeros((2, capacity), dtype=np.int64),
        np.zeros((2, capacity), dtype=np.float64),
        np.zeros(2, dtype=np.int64),
    )


def _sequential(book: tuple, side: int, levels: np.ndarray) -> None:
    ticks, qtys, counts = book
    for price, qty in levels:
        book_set_level(ticks, qtys, counts, side, np.int64(round(price / TICK)), qty)


def _side(book: tuple, side: int) -> tuple[list[int], list[float]]:
    ticks, qtys, counts = book
    n = counts[side]
    return ticks[side, :n].tolist(), qtys[side, :n].tolist()


_level = st.tuples(
    st.integers(100, 400).map(lambda t: t * TICK),
    st.sampled_from([0.0, 0.0, 0.5, 1.0, 2.25, 3.0]),
)


@given(
    st.lists(_level, min_size=0, max_size=200),
    st.lists(_level, min_size=MERGE_THRESHOLD + 1, max_size=400),
    st.sampled_from([BID, ASK]),
)
def test_apply_levels_when_diff_large_then_merge_equals_sequential(
    initial: list, diff: list, side: int
) -> None:
    merged = _empty()
    reference = _empty()
    start = np.array(initial, dtype=np.float64).reshape(-1, 2)
    _sequential(merged, side, start)
    _sequential(reference, side, start)
    levels = np.array(diff, dtype=np.float64).reshape(-1, 2)
    assert book_apply_levels(*merged, side, levels, TICK) == BOOK_OK
    _sequential(reference, side, levels)
    assert _side(merged, side) == _side(reference, side)
    keys, _ = _side(merged, side)
    assert keys == sorted(set(keys)), "keys stay strictly ascending"


def test_apply_levels_when_merge_would_overflow_then_side_unchanged() -> None:
    book = _empty(capacity=MERGE_THRESHOLD + 5)
    levels = np.array([[100.0 + i * TICK, 1.0] for i in range(MERGE_THRESHOLD + 10)])
    before = _side(book, BID)
    assert book_apply_levels(*book, BID, levels, TICK) == BOOK_OVERFLOW
    assert _side(book, BID) == before


# -- book_apply_diff_sorted: the top-of-side merge of touch-first diffs ---------------------------


def _diff(levels: list, side: int, order: str) -> np.ndarray:
    """Levels as a venue sends them: ``touch`` first (bids falling, asks rising) or shuffled."""
    if order == "touch":
        by_price = {round(p / TICK): (p, q) for p, q in levels}  # distinct prices
        rows = sorted(by_price.values(), reverse=side == BID)
    else:
        rows = levels
    return np.array(rows, dtype=np.float64).reshape(-1, 2)


@given(
    st.lists(_level, min_size=0, max_size=120),
    st.lists(_level, min_size=0, max_size=120),
    st.lists(_level, min_size=0, max_size=2 * MERGE_THRESHOLD),
    st.lists(_level, min_size=0, max_size=2 * MERGE_THRESHOLD),
    st.sampled_from(["touch", "as drawn"]),
    st.sampled_from([2, 8, 1024]),
)
def test_apply_diff_sorted_when_any_diff_then_same_book_and_status_as_apply_diff(
    bids0: list, asks0: list, bids: list, asks: list, order: str, tmp_rows: int
) -> None:
    sorted_book = _empty()
    reference = _empty()
    for book in (sorted_book, reference):
        # a valid starting book: bids below 2.50, asks above
        _sequential(book, BID, np.array([(p, q) for p, q in bids0 if p < 2.5]).reshape(-1, 2))
        _sequential(book, ASK, np.array([(p, q) for p, q in asks0 if p > 2.5]).reshape(-1, 2))
    b = _diff(bids, BID, order)
    a = _diff(asks, ASK, order)
    best_sorted = np.zeros(4)
    best_reference = np.zeros(4)
    tmp_keys = np.zeros((2, tmp_rows), dtype=np.int64)
    tmp_qtys = np.zeros(tmp_rows)
    status = book_apply_diff_sorted(*sorted_book, b, a, TICK, best_sorted, tmp_keys, tmp_qtys)
    assert status == book_apply_diff(*reference, b, a, TICK, best_reference)
    for side in (BID, ASK):
        assert _side(sorted_book, side) == _side(reference, side)
    assert best_sorted.tolist() == best_reference.tolist()


def test_apply_diff_sorted_when_bad_level_then_nothing_applied() -> None:
    book = _empty()
    _sequential(book, BID, np.array([[1.0, 1.0]]))
    before = _side(book, BID)
    bad = np.array([[1.5, 1.0], [1.4, -1.0]])
    status = book_apply_diff_sorted(
        *book, bad, np.empty((0, 2)), TICK, np.zeros(4), np.zeros((2, 8), np.int64), np.zeros(8)
    )
    assert status == BOOK_BAD_LEVEL
    assert _side(book, BID) == before


def test_apply_diff_sorted_when_side_full_then_overflow() -> None:
    book = _empty(capacity=4)
    _sequential(book, BID, np.array([[1.0, 1.0], [1.01, 1.0], [1.02, 1.0], [1.03, 1.0]]))
    levels = np.array([[1.05, 1.0], [1.04, 1.0]])  # touch first, both new: 6 > 4
    status = book_apply_diff_sorted(
        *book, levels, np.empty((0, 2)), TICK, np.zeros(4), np.zeros((2, 8), np.int64), np.zeros(8)
    )
    assert status == BOOK_OVERFLOW


# -- book_apply_keys_sorted: the same merge on levels already as keys ----------------------------


@given(
    st.lists(_level, min_size=0, max_size=120),
    st.lists(_level, min_size=0, max_size=120),
    st.lists(_level, min_size=0, max_size=2 * MERGE_THRESHOLD),
    st.lists(_level, min_size=0, max_size=2 * MERGE_THRESHOLD),
    st.sampled_from(["touch", "as drawn"]),
    st.sampled_from([2, 8, 9, 1024]),
    st.sampled_from([40, 130, 4096]),
)
def test_apply_keys_sorted_when_any_diff_then_same_book_and_status_as_apply_diff_sorted(
    bids0: list, asks0: list, bids: list, asks: list, order: str, tmp_rows: int, capacity: int
) -> None:
    arena, *keys_book = book_arena(capacity)
    reference = _empty(capacity)
    for book in (tuple(keys_book[:3]), reference):
        _sequential(book, BID, np.array([(p, q) for p, q in bids0 if p < 2.5]).reshape(-1, 2))
        _sequential(book, ASK, np.array([(p, q) for p, q in asks0 if p > 2.5]).reshape(-1, 2))
    before = [_side(tuple(keys_book[:3]), side) for side in (BID, ASK)]
    b = _diff(bids, BID, order)
    a = _diff(asks, ASK, order)
    best = keys_book[3]
    best_reference = np.zeros(4)
    tmp_keys = np.zeros(tmp_rows, dtype=np.int64)
    tmp_qtys = np.zeros(tmp_rows)
    status = book_apply_keys_sorted(
        arena,
        np.round(b[:, 0] / TICK).astype(np.int64),
        b[:, 1].copy(),
        -np.round(a[:, 0] / TICK).astype(np.int64),
        a[:, 1].copy(),
        tmp_keys,
        tmp_qtys,
    )
    expected = book_apply_diff_sorted(
        *reference, b, a, TICK, best_reference, np.zeros((2, tmp_rows), np.int64), tmp_qtys
    )
    if status == BOOK_NOT_MERGEABLE:  # nothing changed; the float path goes level by level
        assert [_side(tuple(keys_book[:3]), side) for side in (BID, ASK)] == before
        return
    assert status == expected
    for side in (BID, ASK):
        assert _side(tuple(keys_book[:3]), side) == _side(reference, side)
    assert best.tolist() == best_reference.tolist()
