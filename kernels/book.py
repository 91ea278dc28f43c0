"""L2 order book kernels over integer price ticks.

Layout: one book is two sides, each a pair of arrays ``ticks[side, :n]``
(int64) and ``qtys[side, :n]`` (float64) with ``n = counts[side]``. Both
sides are kept sorted ascending by *key*, where the key of a bid is its tick
and the key of an ask is minus its tick. The best level of each side is
therefore the **last** element, and updates near the touch (by far the most
frequent) shift only a few elements.

Prices are converted to ticks once, here, with ``round(price / tick_size)``
so level lookups are exact. Quantities are float64 as received. A quantity of
0 deletes the level (exchange convention); deleting a level that is not in
the book is a no-op.

Kernels return status codes (see ``BOOK_*``) and never raise. A side that
would exceed its capacity returns ``BOOK_OVERFLOW``: level by level, the
levels that fitted stay applied; on the merge path the side is left
unchanged. Either way the caller must treat the book as invalid (``L2Book``
invalidates it and raises).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from kernels.parse import PARSE_FALLBACK, parse_levels

__all__ = [
    "ASK",
    "BID",
    "BOOK_BAD_LEVEL",
    "BOOK_CROSSED",
    "BOOK_MALFORMED",
    "BOOK_NEEDS_DECODER",
    "BOOK_NOT_MERGEABLE",
    "BOOK_OK",
    "BOOK_OVERFLOW",
    "MERGE_THRESHOLD",
    "book_apply_diff",
    "book_apply_diff_sorted",
    "book_apply_keys_sorted",
    "book_apply_levels",
    "book_apply_raw",
    "book_arena",
    "book_best",
    "book_clear",
    "book_depth",
    "book_level_qty",
    "book_levels_valid",
    "book_load_snapshot",
    "book_set_level",
    "book_sides",
    "book_views",
]

#: Side index of bids in the book arrays.
BID = 0
#: Side index of asks in the book arrays.
ASK = 1
#: Status: update applied.
BOOK_OK = 0
#: Status: a side ran out of capacity; the level was not inserted.
BOOK_OVERFLOW = 1
#: Status: a level had a non-finite or non-positive price, or a negative or non-finite
#: quantity; nothing was applied.
BOOK_BAD_LEVEL = 2
#: Status: the diff was applied and left the book crossed or locked.
BOOK_CROSSED = 3


@njit(cache=True, inline="always")
def _lower_bound(keys, n, key):
    """Index of the first of ``keys[:n]`` that is >= ``key`` (``n`` if none)."""
    lo = 0
    hi = n
    while lo < hi:
        mid = (lo + hi) >> 1
        if keys[mid] < key:
            lo = mid + 1
        else:
            hi = mid
    return lo


@njit(cache=True, inline="always")
def _lower_bound_from_top(keys, n, key):
    """:func:`_lower_bound` by galloping down from the top (the touch), where most updates land.

    O(log d) for a key ``d`` levels below the top, instead of O(log n).
    """
    if n == 0 or keys[n - 1] < key:
        return n
    hi = n - 1  # keys[hi] >= key
    step = 1
    lo = hi - step
    while lo >= 0 and keys[lo] >= key:
        hi = lo
        step <<= 1
        lo = hi - step
    lo = max(lo, -1) + 1  # keys[lo - 1] < key (or lo == 0)
    while lo < hi:
        mid = (lo + hi) >> 1
        if keys[mid] < key:
            lo = mid + 1
        else:
            hi = mid
    return lo


@njit(cache=True)
def book_set_level(ticks, qtys, counts, side, tick, qty):
    """Set the quantity of one level (``qty <= 0`` deletes it); return a status."""
    n = counts[side]
    key = tick if side == BID else -tick
    keys = ticks[side]
    q = qtys[side]
    lo = _lower_bound_from_top(keys, n, key)
    found = lo < n and keys[lo] == key
    if qty > 0.0:
        if found:
            q[lo] = qty
            return BOOK_OK
        if n >= keys.shape[0]:
            return BOOK_OVERFLOW
        # Shift the tail one to the right. The tail is near the touch, so usually short:
        # an explicit loop (an overlapping slice assignment would copy through a temporary).
        for j in range(n, lo, -1):
            keys[j] = keys[j - 1]
            q[j] = q[j - 1]
        keys[lo] = key
        q[lo] = qty
        counts[side] = n + 1
    elif found:
        for j in range(lo, n - 1):
            keys[j] = keys[j + 1]
            q[j] = q[j + 1]
        counts[side] = n - 1
    return BOOK_OK


#: Diffs with more levels than this are merged in one pass instead of level by level.
MERGE_THRESHOLD = 48


@njit(cache=True)
def book_apply_levels(ticks, qtys, counts, side, levels, tick_size):
    """Apply ``levels`` (float64 ``(n, 2)``: price, qty) to one side; return a status.

    Levels are applied in order (a price repeated within ``levels`` takes its
    last quantity). Small diffs go level by level (binary search and a short
    shift near the touch); large ones (a sweep, a snapshot) are sorted and
    merged with the side in one O(n + k log k) pass, so no diff costs
    O(n * k). Both give the same book.
    """
    if levels.shape[0] > MERGE_THRESHOLD:
        return _merge_levels(ticks, qtys, counts, side, levels, tick_size)
    status = BOOK_OK
    for i in range(levels.shape[0]):
        tick = np.int64(round(levels[i, 0] / tick_size))
        if book_set_level(ticks, qtys, counts, side, tick, levels[i, 1]) != BOOK_OK:
            status = BOOK_OVERFLOW
    return status


@njit(cache=True)
def _merge_levels(ticks, qtys, counts, side, levels, tick_size):
    k = levels.shape[0]
    sign = 1 if side == BID else -1
    new_keys = np.empty(k, dtype=np.int64)
    for i in range(k):
        new_keys[i] = sign * np.int64(round(levels[i, 0] / tick_size))
    order = np.argsort(new_keys, kind="mergesort")  # stable: equal keys keep input order
    n = counts[side]
    old_keys = ticks[side, :n].copy()
    old_qtys = qtys[side, :n].copy()
    capacity = ticks.shape[1]
    # First pass: the size of the result, so an overflow leaves the side untouched.
    size = 0
    i = 0
    j = 0
    while i < n or j < k:
        if j < k:
            key = new_keys[order[j]]
            while j + 1 < k and new_keys[order[j + 1]] == key:
                j += 1
        if j >= k or (i < n and old_keys[i] < key):
            size += 1
            i += 1
        else:
            if i < n and old_keys[i] == key:
                i += 1
            if levels[order[j], 1] > 0.0:
                size += 1
            j += 1
    if size > capacity:
        return BOOK_OVERFLOW
    out_keys = ticks[side]
    out_qtys = qtys[side]
    m = 0
    i = 0
    j = 0
    while i < n or j < k:
        if j < k:
            key = new_keys[order[j]]
            while j + 1 < k and new_keys[order[j + 1]] == key:
                j += 1
        if j >= k or (i < n and old_keys[i] < key):
            out_keys[m] = old_keys[i]
            out_qtys[m] = old_qtys[i]
            m += 1
            i += 1
        else:
            if i < n and old_keys[i] == key:
                i += 1
            qty = levels[order[j], 1]
            if qty > 0.0:
                out_keys[m] = key
                out_qtys[m] = qty
                m += 1
            j += 1
    counts[side] = m
    return BOOK_OK


@njit(cache=True)
def book_levels_valid(levels):
    """Return True if every ``(price, qty)`` has ``0 < price < inf`` and ``0 <= qty < inf``."""
    for i in range(levels.shape[0]):
        price = levels[i, 0]
        qty = levels[i, 1]
        if not (price > 0.0 and price < np.inf and qty >= 0.0 and qty < np.inf):
            return False
    return True


@njit(cache=True)
def book_apply_diff(ticks, qtys, counts, bids, asks, tick_size, best):
    """Validate, then apply one diff to both sides; refresh ``best`` (see :func:`book_best`).

    Returns ``BOOK_BAD_LEVEL`` (nothing applied), ``BOOK_OVERFLOW``,
    ``BOOK_CROSSED`` (applied, book now crossed or locked) or ``BOOK_OK``.
    """
    if not (book_levels_valid(bids) and book_levels_valid(asks)):
        return BOOK_BAD_LEVEL
    status = book_apply_levels(ticks, qtys, counts, BID, bids, tick_size)
    if book_apply_levels(ticks, qtys, counts, ASK, asks, tick_size) != BOOK_OK:
        status = BOOK_OVERFLOW
    if status != BOOK_OK:
        return status
    if book_best(ticks, qtys, counts, best):
        return BOOK_CROSSED
    return BOOK_OK


#: :func:`book_apply_keys_sorted`: a side is not strictly sorted touch-first, or its
#: touched part does not fit the temporary arrays (nothing applied; apply level by level).
BOOK_NOT_MERGEABLE = -3
#: :func:`_merge_top`: old levels counted and copied in one step, and the sentinel key
#: past them (no book key reaches it: keys are prices over tick sizes, far below 2**62).
_RUN = 8
_SENTINEL = np.int64(2**63 - 1)
#: :func:`_merge_top`: the merged side would not fit its capacity (nothing changed).
_NO_ROOM = -1


@njit(cache=True, inline="always")
def _merge_start(keys, n, upd, k, rows):
    """Where merging touch-first ``upd[:k]`` into ``keys[:n]`` starts, or ``BOOK_NOT_MERGEABLE``.

    Mergeable: ``upd`` strictly falling (best first), at most ``rows`` of them,
    and at most ``rows`` levels of the side at or above the deepest update.
    """
    if k == 0:
        return n
    if k > rows:
        return BOOK_NOT_MERGEABLE
    for j in range(1, k):
        if upd[j] >= upd[j - 1]:
            return BOOK_NOT_MERGEABLE
    p = _lower_bound_from_top(keys, n, upd[k - 1])
    if n - p > rows:
        return BOOK_NOT_MERGEABLE
    return p


@njit(cache=True, inline="always")
def _merge_top(keys, q, n, upd, upd_qtys, k, p, old, old_qtys):
    """Merge touch-first updates ``upd[:k]`` / ``upd_qtys`` into ``keys[:n]`` / ``q`` from ``p`` up.

    Venues send a diff's levels best first (bids by falling price, asks by
    rising price). Then only the side's top, from the deepest updated level
    up, changes: it is copied to ``old`` / ``old_qtys`` and merged back with
    the updates (a quantity of 0 deletes; an update replaces the level of its
    key), costing O(top + k) instead of k searches and k shifts. Returns the
    side's new length, or ``_NO_ROOM`` with nothing changed.
    """
    if k == 0:
        return n
    t = n - p
    for a in range(t):
        old[a] = keys[p + a]
        old_qtys[a] = q[p + a]
    room = keys.shape[0] - p
    if t + k + _RUN > room or t + _RUN > old.shape[0]:
        if t + k > room and not _merged_size_fits(old, t, upd, upd_qtys, k, room):
            return _NO_ROOM
        return _merge_branchy(keys, q, p, old, old_qtys, t, upd, upd_qtys, k)
    # The runs of old levels between updates are short and of random length: a loop
    # per run mispredicts its exit about once per update. Instead count the run in
    # _RUN old keys at a time and copy all _RUN (the slots past the run are written
    # over next), with sentinels past the old levels so no count passes them.
    for a in range(t, t + _RUN):
        old[a] = _SENTINEL
    out = p
    a = 0
    for j in range(k - 1, -1, -1):  # the updates, deepest first: ascending keys
        key = upd[j]
        below = _RUN
        while below == _RUN:
            # slices: their indices are constants, without negative-index handling
            src_keys = old[a : a + _RUN]
            src_qtys = old_qtys[a : a + _RUN]
            dst_keys = keys[out : out + _RUN]
            dst_qtys = q[out : out + _RUN]
            below = 0
            upto = 0  # below, and the level this update replaces (keys are distinct)
            for w in range(_RUN):
                below += src_keys[w] < key
                upto += src_keys[w] <= key
            for w in range(_RUN):
                dst_keys[w] = src_keys[w]
                dst_qtys[w] = src_qtys[w]
            out += below
            a += upto
        qty = upd_qtys[j]
        keys[out] = key
        q[out] = qty
        out += qty > 0.0
    for rest in range(a, t):  # the old levels above the best update
        keys[out] = old[rest]
        q[out] = old_qtys[rest]
        out += 1
    return out


@njit(cache=True, inline="always")
def _merge_branchy(keys, q, p, old, old_qtys, t, upd, upd_qtys, k):
    """:func:`_merge_top`'s merge writing only the levels kept (the side may be full)."""
    out = p
    a = 0
    for j in range(k - 1, -1, -1):
        key = upd[j]
        while a < t and old[a] < key:  # the run of old levels below this update
            keys[out] = old[a]
            q[out] = old_qtys[a]
            out += 1
            a += 1
        if a < t and old[a] == key:
            a += 1  # replaced (or deleted)
        qty = upd_qtys[j]
        if qty > 0.0:
            keys[out] = key
            q[out] = qty
            out += 1
    while a < t:  # the old levels above the best update
        keys[out] = old[a]
        q[out] = old_qtys[a]
        out += 1
        a += 1
    return out


@njit(cache=True)
def _merged_size_fits(old, t, upd, upd_qtys, k, room):
    """Whether merging ``k`` updates into ``t`` old levels leaves at most ``room`` levels."""
    size = t
    a = 0
    for j in range(k - 1, -1, -1):
        key = upd[j]
        while a < t and old[a] < key:
            a += 1
        exists = a < t and old[a] == key
        if exists:
            a += 1
        if upd_qtys[j] > 0.0:
            size += 0 if exists else 1
        elif exists:
            size -= 1
    return size <= room


@njit(cache=True)
def _merge_sorted_side(ticks, qtys, counts, side, levels, tick_size, tmp_keys, tmp_qtys):
    """Apply touch-first sorted ``levels`` to one side in one merge pass over its top.

    Gives the same side as :func:`book_apply_levels` (the keys are distinct,
    so order does not matter). Returns a status (on ``BOOK_OVERFLOW``
    nothing changed), or ``BOOK_NOT_MERGEABLE`` with nothing changed.
    """
    k = levels.shape[0]
    rows = tmp_keys.shape[1]
    if k > rows:
        return BOOK_NOT_MERGEABLE
    sign = 1 if side == BID else -1
    upd = tmp_keys[1]
    for j in range(k):
        upd[j] = sign * np.int64(round(levels[j, 0] / tick_size))
    keys = ticks[side]
    p = _merge_start(keys, counts[side], upd, k, rows)
    if p < 0:
        return BOOK_NOT_MERGEABLE
    n = _merge_top(keys, qtys[side], counts[side], upd, levels[:, 1], k, p, tmp_keys[0], tmp_qtys)
    if n == _NO_ROOM:
        return BOOK_OVERFLOW
    counts[side] = n
    return BOOK_OK


@njit(cache=True, inline="always")
def book_apply_keys_sorted(book, bid_keys, bid_qtys, ask_keys, ask_qtys, tmp_keys, tmp_qtys):
    """:func:`book_apply_diff_sorted` for levels already as keys (ticks; minus ticks for asks).

    ``book`` is a :func:`book_arena` buffer; the levels must be valid
    (positive ticks, quantities ``>= 0`` and finite); ``tmp_keys`` (int64)
    and ``tmp_qtys`` (float64) are scratch space of ``rows`` each. Returns
    the same status and leaves the same book as
    :func:`book_apply_diff_sorted` with that ``rows``, or
    ``BOOK_NOT_MERGEABLE`` with nothing changed where that would apply a side
    level by level (a side not sorted touch-first, or whose changed top has
    more than ``rows`` levels).
    """
    bid_book, bid_book_qtys, ask_book, ask_book_qtys, counts, best = book_sides(book)
    rows = tmp_keys.shape[0]
    nb = bid_keys.shape[0]
    na = ask_keys.shape[0]
    p_bid = _merge_start(bid_book, counts[BID], bid_keys, nb, rows)
    p_ask = _merge_start(ask_book, counts[ASK], ask_keys, na, rows)
    if p_bid < 0 or p_ask < 0:
        return BOOK_NOT_MERGEABLE
    status = BOOK_OK
    n = _merge_top(
        bid_book, bid_book_qtys, counts[BID], bid_keys, bid_qtys, nb, p_bid, tmp_keys, tmp_qtys
    )
    if n == _NO_ROOM:
        status = BOOK_OVERFLOW
    else:
        counts[BID] = n
    n = _merge_top(
        ask_book, ask_book_qtys, counts[ASK], ask_keys, ask_qtys, na, p_ask, tmp_keys, tmp_qtys
    )
    if n == _NO_ROOM:
        status = BOOK_OVERFLOW
    else:
        counts[ASK] = n
    if status != BOOK_OK:
        return status
    if _best(bid_book, bid_book_qtys, counts[BID], ask_book, ask_book_qtys, counts[ASK], best):
        return BOOK_CROSSED
    return BOOK_OK


@njit(cache=True)
def book_apply_diff_sorted(ticks, qtys, counts, bids, asks, tick_size, best, tmp_keys, tmp_qtys):
    """:func:`book_apply_diff`, merging touch-first sorted sides in one pass each.

    ``tmp_keys`` (int64 ``(2, rows)``) and ``tmp_qtys`` (float64 ``(rows,)``)
    are scratch space; a side whose levels are not sorted best first, or
    whose changed top has more than ``rows`` levels, is applied level by
    level instead. Same statuses and the same book as :func:`book_apply_diff`.
    """
    if not (book_levels_valid(bids) and book_levels_valid(asks)):
        return BOOK_BAD_LEVEL
    status = BOOK_OK
    for side in range(2):
        levels = bids if side == BID else asks
        s = _merge_sorted_side(ticks, qtys, counts, side, levels, tick_size, tmp_keys, tmp_qtys)
        if s == BOOK_NOT_MERGEABLE:
            s = book_apply_levels(ticks, qtys, counts, side, levels, tick_size)
        if s != BOOK_OK:
            status = BOOK_OVERFLOW
    if status != BOOK_OK:
        return status
    if book_best(ticks, qtys, counts, best):
        return BOOK_CROSSED
    return BOOK_OK


def book_arena(capacity: int) -> tuple[np.ndarray, ...]:
    """Allocate one book's arrays in one byte buffer: ``(arena, ticks, qtys, counts, best)``.

    ``ticks`` (int64 ``(2, capacity)``), ``counts`` (int64 ``(2,)``), ``qtys``
    (float64 ``(2, capacity)``) and ``best`` (float64 ``(4,)``) are views of
    ``arena`` (uint8), so a compiled caller can take the whole book as one
    argument (:func:`book_views`) instead of four: each array argument costs a
    call from Python about 45 ns to unbox.
    """
    arena = np.zeros(8 * (4 * capacity + 6), dtype=np.uint8)
    ints = arena[: 8 * (2 * capacity + 2)].view(np.int64)
    floats = arena[8 * (2 * capacity + 2) :].view(np.float64)
    ticks = ints[: 2 * capacity].reshape(2, capacity)
    counts = ints[2 * capacity :]
    qtys = floats[: 2 * capacity].reshape(2, capacity)
    best = floats[2 * capacity :]
    return arena, ticks, qtys, counts, best


@njit(cache=True, inline="always")
def book_views(arena):
    """``(ticks, qtys, counts, best)`` of a :func:`book_arena` buffer."""
    capacity = (arena.shape[0] // 8 - 6) // 4
    ints = arena[: 8 * (2 * capacity + 2)].view(np.int64)
    floats = arena[8 * (2 * capacity + 2) :].view(np.float64)
    ticks = ints[: 2 * capacity].reshape(2, capacity)
    qtys = floats[: 2 * capacity].reshape(2, capacity)
    return ticks, qtys, ints[2 * capacity :], floats[2 * capacity :]


@njit(cache=True, inline="always")
def book_sides(arena):
    """``(bid_ticks, bid_qtys, minus_ask_ticks, ask_qtys, counts, best)`` of a book arena.

    The sides as 1-d arrays (``ticks[BID]``, ``qtys[BID]``, ``ticks[ASK]``,
    ``qtys[ASK]`` of :func:`book_views`): two views of the buffer and no
    reshape, which a compiled caller pays on every call (about 12 ns each).
    """
    capacity = (arena.shape[0] // 8 - 6) // 4
    ints = arena.view(np.int64)
    floats = arena.view(np.float64)
    f = 2 * capacity + 2  # the first float slot
    return (
        ints[:capacity],
        floats[f : f + capacity],
        ints[capacity : 2 * capacity],
        floats[f + capacity : f + 2 * capacity],
        ints[2 * capacity : 2 * capacity + 2],
        floats[f + 2 * capacity : f + 2 * capacity + 4],
    )


@njit(cache=True)
def book_clear(counts):
    """Empty both sides."""
    counts[BID] = 0
    counts[ASK] = 0


@njit(cache=True)
def book_load_snapshot(ticks, qtys, counts, bids, asks, tick_size):
    """Replace the book with a full snapshot; return a status (nothing changes on BAD_LEVEL)."""
    if not (book_levels_valid(bids) and book_levels_valid(asks)):
        return BOOK_BAD_LEVEL
    book_clear(counts)
    status = BOOK_OK
    if book_apply_levels(ticks, qtys, counts, BID, bids, tick_size) != BOOK_OK:
        status = BOOK_OVERFLOW
    if book_apply_levels(ticks, qtys, counts, ASK, asks, tick_size) != BOOK_OK:
        status = BOOK_OVERFLOW
    return status


@njit(cache=True)
def book_best(ticks, qtys, counts, out):
    """Write ``bid_tick, bid_qty, ask_tick, ask_qty`` into ``out`` (float64[4]).

    An empty side writes tick -1 and quantity 0. Return True when both sides
    are present and the book is crossed or locked (best bid >= best ask).
    """
    return _best(ticks[BID], qtys[BID], counts[BID], ticks[ASK], qtys[ASK], counts[ASK], out)


@njit(cache=True, inline="always")
def _best(bid_ticks, bid_qtys, nb, ask_keys, ask_qtys, na, out):
    if nb > 0:
        out[0] = bid_ticks[nb - 1]
        out[1] = bid_qtys[nb - 1]
    else:
        out[0] = -1.0
        out[1] = 0.0
    if na > 0:
        out[2] = -ask_keys[na - 1]
        out[3] = ask_qtys[na - 1]
    else:
        out[2] = -1.0
        out[3] = 0.0
    return nb > 0 and na > 0 and out[0] >= out[2]


@njit(cache=True)
def book_level_qty(ticks, qtys, counts, side, tick):
    """Return the quantity resting at ``tick`` on ``side`` (0 if no level)."""
    n = counts[side]
    key = tick if side == BID else -tick
    keys = ticks[side]
    lo = _lower_bound(keys, n, key)
    if lo < n and keys[lo] == key:
        return qtys[side, lo]
    return 0.0


@njit(cache=True)
def book_depth(ticks, qtys, counts, side, depth, out_ticks, out_qtys):
    """Copy the best ``depth`` levels of ``side``, best first; return how many were copied."""
    n = counts[side]
    m = min(depth, n, out_ticks.shape[0])
    sign = 1 if side == BID else -1
    for i in range(m):
        out_ticks[i] = sign * ticks[side, n - 1 - i]
        out_qtys[i] = qtys[side, n - 1 - i]
    return m


#: :func:`book_apply_raw`: a level array needs the general JSON decoder (nothing applied).
BOOK_NEEDS_DECODER = -2
#: :func:`book_apply_raw`: a level array is not valid JSON of ``[price, qty]`` pairs.
BOOK_MALFORMED = -1


@njit(cache=True)
def book_apply_raw(ticks, qtys, counts, buf_b, buf_a, scratch_b, scratch_a, tick_size, best):
    """Parse the raw JSON bid and ask arrays of one diff and apply them: one compiled call.

    ``buf_b``/``buf_a`` are the bytes (uint8) of ``[["price","qty"], ...]``;
    ``scratch_*`` receive the parsed levels and must hold ``len(buf) // 5 + 1``
    rows. Returns :func:`book_apply_diff`'s status, or ``BOOK_MALFORMED`` /
    ``BOOK_NEEDS_DECODER`` (nothing applied) when a side does not parse.
    """
    nb = parse_levels(buf_b, scratch_b)
    if nb < 0:
        return BOOK_NEEDS_DECODER if nb == PARSE_FALLBACK else BOOK_MALFORMED
    na = parse_levels(buf_a, scratch_a)
    if na < 0:
        return BOOK_NEEDS_DECODER if na == PARSE_FALLBACK else BOOK_MALFORMED
    return book_apply_diff(ticks, qtys, counts, scratch_b[:nb], scratch_a[:na], tick_size, best)
