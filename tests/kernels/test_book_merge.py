"""Large diffs take the one-pass merge in kernels.book; it must equal level-by-level updates."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from kernels.book import (
    ASK,
    BID,
    BOOK_OK,
    BOOK_OVERFLOW,
    MERGE_THRESHOLD,
    book_apply_levels,
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
