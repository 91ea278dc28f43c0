"""Compiled fast path for the two busiest Binance frames: trades and depth diffs.

:class:`adapters.binance.decoder.BinanceMarketDataDecoder` routes a combined-
stream frame by its stream name and, for a trade or a depth diff, hands the
raw bytes to one of these kernels. A kernel reads the whole frame in one pass
(:mod:`kernels.jsonscan`), checks it, and writes the result straight into the
symbol's arrays: the trade into the ring buffer record, the diff's levels
into the book. It never allocates and never raises.

What a kernel does not handle it returns as ``FALLBACK`` without touching
any state, and the decoder runs the frame through its msgspec path, which
does the book procedure's slow branches (buffering before a snapshot, gaps),
classifies bad frames and logs them. The kernels accept a subset of what the
msgspec path accepts, with the same results (a hypothesis test compares the
two on mutated real frames), so the fast path changes speed, not behaviour.

Frame shape: ``{"stream":"<name>","data":{...}}`` with ``data`` a flat object
(its level arrays aside); see :mod:`adapters.binance.schemas` for the fields.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from kernels.book import (
    BOOK_NOT_MERGEABLE,
    book_apply_diff_sorted,
    book_apply_keys_sorted,
    book_levels_valid,
    book_views,
)
from kernels.dtypes import SIDE_BUY, SIDE_SELL
from kernels.entry import compiled_entry
from kernels.jsonscan import bool_at, int_at, key_at, key_code, literal_at, skip_scalar, string_end
from kernels.parse import decimal_at, levels_at, levels_keys_at, tick_scale

__all__ = [
    "DEPTH_DROP",
    "FALLBACK",
    "KIND_AGG_TRADE",
    "KIND_FUTURES_TRADE",
    "KIND_TRADE",
    "MAX_TIME_MS",
    "MODE_FIRST_AFTER_SNAPSHOT",
    "MODE_FUTURES",
    "NON_MARKET",
    "agg_trade_frame",
    "compiled_entry",
    "depth_frame",
    "futures_trade_frame",
    "spot_trade_frame",
    "trade_frame",
    "work_arena",
]

#: Kernel result: not handled here; nothing was changed (run the general decoder).
FALLBACK = -1
#: :func:`depth_frame`: a diff the book already has (``u`` at or below the last id).
DEPTH_DROP = 10
#: :func:`trade_frame`: a futures trade that is not a market trade (``X != "MARKET"``).
NON_MARKET = -2.0
#: Largest exchange time (ms) whose nanoseconds fit an int64 (year 2262).
MAX_TIME_MS = (2**63 - 1) // 1_000_000

#: :func:`trade_frame` kinds.
KIND_TRADE = 0
KIND_FUTURES_TRADE = 1
KIND_AGG_TRADE = 2

#: :func:`depth_frame` mode bits.
MODE_FUTURES = 1
MODE_FIRST_AFTER_SNAPSHOT = 2

_MS = 1_000_000

_K_STREAM = key_code("stream")
_K_DATA = key_code("data")
_K_E = key_code("E")
_K_S = key_code("s")
_K_T = key_code("T")
_K_T_ID = key_code("t")
_K_P = key_code("p")
_K_Q = key_code("q")
_K_M = key_code("m")
_K_X = key_code("X")
_K_A = key_code("a")
_K_B = key_code("b")
_K_F = key_code("f")
_K_L = key_code("l")
_K_FIRST = key_code("U")
_K_FINAL = key_code("u")
_K_PU = key_code("pu")

# bits of the fields seen
_F_E = 1
_F_S = 2
_F_T = 4
_F_ID = 8
_F_P = 16
_F_Q = 32
_F_M = 64
_F_X = 128
_F_FIRST = 256
_F_LAST = 512
_F_U = 1024
_F_FINAL = 2048
_F_PU = 4096
_F_B = 8192
_F_A = 16384

_TRADE_FIELDS = _F_E | _F_S | _F_T | _F_ID | _F_P | _F_Q | _F_M
_AGG_FIELDS = _TRADE_FIELDS | _F_FIRST | _F_LAST
_DEPTH_FIELDS = _F_E | _F_S | _F_U | _F_FINAL | _F_B | _F_A
_FUTURES_DEPTH_FIELDS = _DEPTH_FIELDS | _F_T | _F_PU

_MARKET = np.frombuffer(b"MARKET", dtype=np.uint8)
_PREFIX = np.frombuffer(b'{"stream":"', dtype=np.uint8)
_DATA = np.frombuffer(b',"data":{', dtype=np.uint8)


@njit(cache=True, inline="always")
def _data_start(buf, n):
    """Check ``{"stream":"<name>","data":{`` and return the index after data's ``{``."""
    if not literal_at(buf, 0, n, _PREFIX):
        return FALLBACK
    i = string_end(buf, _PREFIX.shape[0] - 1, n)
    if i < 0 or not literal_at(buf, i, n, _DATA):
        return FALLBACK
    return i + _DATA.shape[0]


@njit(cache=True, inline="always")
def _next_field(buf, i, n):
    """After a value: the index of the next key, ``n + 1`` past the end, or FALLBACK."""
    if i + 1 < n:
        c = buf[i]
        if c == 44 and buf[i + 1] == 34:  # ',"'
            return i + 1
        if c == 125 and buf[i + 1] == 125 and i + 2 == n:  # "}}": data's end, the frame's
            return n + 1
    return FALLBACK


@njit(cache=True, inline="always")
def trade_frame(frame, ts_recv, ring, count, kind):
    """Decode one trade frame and write it as ring record ``count % len(ring)``.

    Parameters
    ----------
    frame : bytes
        The frame.
    ts_recv : int
        Local receive time (ns).
    ring : trade_dt[:]
        The symbol's trade ring (:class:`engine.market.TradeRing` ``data``).
    count : int
        Trades pushed so far (the caller adds one on success).
    kind : int
        ``KIND_TRADE`` (spot ``trade``), ``KIND_FUTURES_TRADE`` (``trade``
        with ``X``) or ``KIND_AGG_TRADE``.

    Returns
    -------
    (float, int)
        ``(price, ts_event)`` when the trade was written; ``(NON_MARKET, 0)``
        for a futures trade that is not a market trade; ``(FALLBACK, 0)``
        otherwise (nothing written).
    """
    buf = np.frombuffer(frame, dtype=np.uint8)  # array indexing compiles tighter than bytes
    n = buf.shape[0]
    i = _data_start(buf, n)
    if i < 0:
        return float(FALLBACK), 0
    seen = 0
    price = 0.0
    qty = 0.0
    trade_id = np.int64(0)
    time_ms = np.int64(0)
    maker = False
    x_start = 0
    x_end = 0
    agg = kind == KIND_AGG_TRADE
    while i < n:
        key, i = key_at(buf, i, n)
        if i < 0:
            return float(FALLBACK), 0
        bit = 0
        if key == _K_P:
            bit = _F_P
            price, i = decimal_at(buf, i, n)
        elif key == _K_Q:
            bit = _F_Q
            qty, i = decimal_at(buf, i, n)
        elif key == _K_T:
            bit = _F_T
            time_ms, i = int_at(buf, i, n)
        elif (key == _K_T_ID and not agg) or (key == _K_A and agg):
            bit = _F_ID
            trade_id, i = int_at(buf, i, n)
        elif key == _K_M:
            bit = _F_M
            maker, i = bool_at(buf, i, n)
        elif key == _K_E:
            bit = _F_E
            _, i = int_at(buf, i, n)
        elif key == _K_S:
            bit = _F_S
            i = string_end(buf, i, n)
        elif key == _K_X and kind == KIND_FUTURES_TRADE:
            bit = _F_X
            x_start = i + 1
            i = string_end(buf, i, n)
            x_end = i - 1
        elif agg and key in (_K_F, _K_L):
            bit = _F_FIRST if key == _K_F else _F_LAST
            _, i = int_at(buf, i, n)
        else:
            i = skip_scalar(buf, i, n)
        if i < 0 or seen & bit:
            return float(FALLBACK), 0
        seen |= bit
        i = _next_field(buf, i, n)
        if i < 0:
            return float(FALLBACK), 0
    if i != n + 1:  # ran out of bytes after a comma
        return float(FALLBACK), 0
    required = _AGG_FIELDS if agg else _TRADE_FIELDS
    if kind == KIND_FUTURES_TRADE:
        required |= _F_X
    if seen & required != required:
        return float(FALLBACK), 0
    if kind == KIND_FUTURES_TRADE:
        is_market = x_end - x_start == 6
        if is_market:
            for k in range(6):
                if buf[x_start + k] != _MARKET[k]:
                    is_market = False
        if not is_market:
            return NON_MARKET, 0
    if not (0.0 < price < np.inf and 0.0 < qty < np.inf and 0 <= time_ms <= MAX_TIME_MS):
        return float(FALLBACK), 0
    ts_event = time_ms * _MS
    rec = ring[count % ring.shape[0]]
    rec.ts_event = ts_event
    rec.ts_recv = ts_recv
    rec.price = price
    rec.qty = qty
    rec.trade_id = trade_id
    rec.side = SIDE_SELL if maker else SIDE_BUY
    return price, ts_event


@njit(cache=True)
def spot_trade_frame(buf, ts_recv, ring, count):
    """:func:`trade_frame` of ``KIND_TRADE``, compiled for that kind alone."""
    return trade_frame(buf, ts_recv, ring, count, KIND_TRADE)


@njit(cache=True)
def futures_trade_frame(buf, ts_recv, ring, count):
    """:func:`trade_frame` of ``KIND_FUTURES_TRADE``, compiled for that kind alone."""
    return trade_frame(buf, ts_recv, ring, count, KIND_FUTURES_TRADE)


@njit(cache=True)
def agg_trade_frame(buf, ts_recv, ring, count):
    """:func:`trade_frame` of ``KIND_AGG_TRADE``, compiled for that kind alone."""
    return trade_frame(buf, ts_recv, ring, count, KIND_AGG_TRADE)


def work_arena(rows: int) -> np.ndarray:
    """The scratch of :func:`depth_frame` in one byte buffer: levels and merge space.

    ``rows`` bounds the levels of one side of a diff the kernel parses, and the
    length of a book side's top it merges in one pass (more: ``FALLBACK`` /
    level by level).
    """
    return np.zeros(8 * 7 * rows, dtype=np.uint8)


@njit(cache=True, inline="always")
def _work_views(work):
    """``(ints, floats, rows)``: a :func:`work_arena` buffer as int64 and as float64 slots.

    Seven blocks of ``rows`` slots: the levels (four: ``(2, rows, 2)``
    floats, or bid keys, bid quantities, ask keys, ask quantities), then the
    merge's quantities (one) and keys (two).
    """
    return work.view(np.int64), work.view(np.float64), work.shape[0] // 56


@njit(cache=True, inline="always")
def _read_depth(buf, i, n, futures, scale, scratch, bid_keys, bid_qtys, ask_keys, ask_qtys):
    """Read a diff's ``data`` fields from its first key at ``buf[i]``.

    Returns ``(ok, first, final, prev, time_ms, n_bids, n_asks)``. With
    ``scale`` ``_FLOATS`` the levels go to ``scratch`` as ``(price, qty)``
    floats (:func:`kernels.parse.levels_at`), else to ``*_keys`` /
    ``*_qtys`` as book keys in ticks of ``10**-scale``
    (:func:`kernels.parse.levels_keys_at`), which reads fewer frames: the
    caller reads the others again as floats.
    """
    seen = 0
    first = np.int64(0)
    final = np.int64(0)
    prev = np.int64(0)
    event_ms = np.int64(0)
    trans_ms = np.int64(0)
    n_bids = 0
    n_asks = 0
    while i < n:
        key, i = key_at(buf, i, n)
        if i < 0:
            break
        bit = 0
        if key == _K_B:
            bit = _F_B
            if scale == _FLOATS:
                n_bids, i = levels_at(buf, i, n, scratch[0])
            else:
                n_bids, i = levels_keys_at(buf, i, n, scale, 1, bid_keys, bid_qtys)
        elif key == _K_A:
            bit = _F_A
            if scale == _FLOATS:
                n_asks, i = levels_at(buf, i, n, scratch[1])
            else:
                n_asks, i = levels_keys_at(buf, i, n, scale, -1, ask_keys, ask_qtys)
        elif key == _K_FIRST:
            bit = _F_U
            first, i = int_at(buf, i, n)
        elif key == _K_FINAL:
            bit = _F_FINAL
            final, i = int_at(buf, i, n)
        elif key == _K_PU and futures:
            bit = _F_PU
            prev, i = int_at(buf, i, n)
        elif key == _K_E:
            bit = _F_E
            event_ms, i = int_at(buf, i, n)
        elif key == _K_T and futures:
            bit = _F_T
            trans_ms, i = int_at(buf, i, n)
        elif key == _K_S:
            bit = _F_S
            i = string_end(buf, i, n)
        else:
            i = skip_scalar(buf, i, n)
        if i < 0 or seen & bit:
            i = FALLBACK
            break
        seen |= bit
        i = _next_field(buf, i, n)
        if i < 0:
            break
    # past the end: the data's and the frame's "}}" read (n: ran out after a comma)
    required = _FUTURES_DEPTH_FIELDS if futures else _DEPTH_FIELDS
    ok = i == n + 1 and seen & required == required
    time_ms = trans_ms if futures else event_ms
    return ok, first, final, prev, time_ms, n_bids, n_asks


#: :func:`_read_depth`'s ``scale`` for levels as floats.
_FLOATS = -1

#: :func:`_continues`: the diff continues the book.
_APPLY = 0


@njit(cache=True, inline="always")
def _continues(first, final, prev, last_id, mode):
    """The book procedure (the decoder's _spot_sequence / _futures_sequence).

    ``_APPLY``, ``DEPTH_DROP`` (an old diff) or ``FALLBACK`` (a gap).
    """
    futures = mode & MODE_FUTURES != 0
    if mode & MODE_FIRST_AFTER_SNAPSHOT:
        if futures:
            if final < last_id:
                return DEPTH_DROP
            if not (first <= last_id or prev == last_id):
                return FALLBACK
        else:
            if final <= last_id:
                return DEPTH_DROP
            if first > last_id + 1:
                return FALLBACK
    else:
        if final <= last_id:
            return DEPTH_DROP
        if (prev != last_id) if futures else (first != last_id + 1):
            return FALLBACK
    return _APPLY


@njit(cache=True)
def depth_frame(frame, book, work, tick_size, last_id, mode):
    """Decode one depth diff and, when it continues the book, apply it.

    Parameters
    ----------
    frame : bytes
        The frame.
    book : uint8[:]
        The book's arena (:attr:`engine.book.L2Book.arena`, see
        :func:`kernels.book.book_arena`); the book must be in sync.
    work : uint8[:]
        Scratch space from :func:`work_arena`.
    tick_size : float
        The book's tick size.
    last_id : int
        The book's last applied update id.
    mode : int
        ``MODE_FUTURES`` (the ``pu`` chain) and ``MODE_FIRST_AFTER_SNAPSHOT``
        bits.

    Returns
    -------
    (int, int, int)
        ``(status, u, time_ms)``: status ``BOOK_OK``, ``BOOK_OVERFLOW`` or
        ``BOOK_CROSSED`` when applied (like
        :func:`kernels.book.book_apply_diff`), ``DEPTH_DROP`` for an old
        diff (nothing applied), ``FALLBACK`` for anything else: a gap, a
        level that is not valid, a frame this kernel does not read (nothing
        changed).

    Notes
    -----
    With a tick size of ``10**-k`` (every venue's), a diff in the compact
    form is read once: prices straight to ticks, applied by
    :func:`kernels.book.book_apply_keys_sorted`. Anything else (other tick
    sizes, levels that are not sorted, prices off the grid) is read again
    with float prices and applied by
    :func:`kernels.book.book_apply_diff_sorted`; both give the same book.
    """
    buf = np.frombuffer(frame, dtype=np.uint8)  # array indexing compiles tighter than bytes
    return _depth(buf, book, work, tick_size, last_id, mode)


@njit(cache=True, inline="always")
def _depth(buf, book, work, tick_size, last_id, mode):
    """:func:`depth_frame` of the frame's bytes as an array."""
    n = buf.shape[0]
    start = _data_start(buf, n)
    if start < 0:
        return FALLBACK, 0, 0
    futures = mode & MODE_FUTURES != 0
    ints, floats, rows = _work_views(work)
    scratch = floats[: 4 * rows].reshape(2, rows, 2)
    bid_keys = ints[:rows]  # the same slots as scratch: levels as keys
    bid_qtys = floats[rows : 2 * rows]
    ask_keys = ints[2 * rows : 3 * rows]
    ask_qtys = floats[3 * rows : 4 * rows]
    tmp_qtys = floats[4 * rows : 5 * rows]
    scale = tick_scale(tick_size)
    if scale >= 0:
        ok, first, final, prev, time_ms, n_bids, n_asks = _read_depth(
            buf, start, n, futures, scale, scratch, bid_keys, bid_qtys, ask_keys, ask_qtys
        )
        if ok:
            status = _continues(first, final, prev, last_id, mode)
            if status != _APPLY:
                return status, (final if status == DEPTH_DROP else 0), 0
            status = book_apply_keys_sorted(
                book, bid_keys[:n_bids], bid_qtys[:n_bids], ask_keys[:n_asks],
                ask_qtys[:n_asks], ints[5 * rows : 6 * rows], tmp_qtys,
            )  # fmt: skip
            if status != BOOK_NOT_MERGEABLE:
                return status, final, time_ms
    ok, first, final, prev, time_ms, n_bids, n_asks = _read_depth(
        buf, start, n, futures, _FLOATS, scratch, bid_keys, bid_qtys, ask_keys, ask_qtys
    )
    if not ok:
        return FALLBACK, 0, 0
    status = _continues(first, final, prev, last_id, mode)
    if status != _APPLY:
        return status, (final if status == DEPTH_DROP else 0), 0
    bids = scratch[0, :n_bids]
    asks = scratch[1, :n_asks]
    if not (book_levels_valid(bids) and book_levels_valid(asks)):
        return FALLBACK, 0, 0
    ticks, qtys, counts, best = book_views(book)
    tmp_keys = ints[5 * rows : 7 * rows].reshape(2, rows)
    status = book_apply_diff_sorted(
        ticks, qtys, counts, bids, asks, tick_size, best, tmp_keys, tmp_qtys
    )
    return status, final, time_ms
