"""Compiled fast path for the two busiest Bybit v5 frames: ``publicTrade`` and book deltas.

:class:`adapters.bybit.decoder.BybitMarketDataDecoder` routes a frame by its
``topic`` and, for a trade message or an ``orderbook`` delta of a book in
sync, hands the raw bytes to one of these kernels. A kernel reads the whole
frame in one pass (:mod:`kernels.jsonscan`), checks it, and writes the result
straight into the symbol's arrays: the trades into the ring buffer, the
delta's levels into the book. It never allocates and never raises.

What a kernel does not handle it returns as ``FALLBACK`` without touching any
state, and the decoder runs the frame through its msgspec path, which does
the slow branches (snapshots, ``u == 1`` resets, gaps, block trades, bad
items), classifies bad frames and logs them. The kernels accept a subset of
what the msgspec path accepts, with the same results (a hypothesis test
compares the two on mutated frames), so the fast path changes speed, not
behaviour.

Frame shapes (see :mod:`adapters.bybit.schemas` for the fields)::

    {"topic":"publicTrade.BTCUSDT","type":"snapshot","ts":...,"data":[{...},...]}
    {"topic":"orderbook.50.BTCUSDT","type":"delta","ts":...,"data":{...},"cts":...}

The ``topic`` must be the first key (it is on the wire); keys may come in
any order after it; whitespace between tokens, escapes in strings, and a
duplicated field are left to msgspec.

Each topic has a small state array (:func:`new_route_state`): the topic
itself, which the kernel checks (so the decoder may route a frame on one
byte), and for ``publicTrade`` the trade id ``i`` of the last trade of the
symbol's last message taken, read and written by both paths (the decoder's
through :func:`get_last_id` and :func:`set_last_id`). Trade ids
(:func:`trade_id_of`) and the repeated-message check follow the msgspec path
exactly. For ``orderbook`` topics the delta kernel's scratch follows the
state in the same buffer (:func:`delta_work`), and the book comes as its
arena (:func:`kernels.book.book_arena`): a call from Python unboxes each
array argument, so the kernels take as few as they can.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from kernels.book import BOOK_BAD_LEVEL, book_apply_diff_sorted, book_views
from kernels.dtypes import SIDE_BUY, SIDE_SELL
from kernels.jsonscan import (
    bool_at,
    int_at,
    key_at,
    key_code,
    literal_at,
    skip_scalar,
    string_end,
)
from kernels.parse import decimal_at, levels_at

__all__ = [
    "DUPLICATE",
    "FALLBACK",
    "LAST_ID_BYTES",
    "MAX_TIME_MS",
    "MAX_TOPIC_BYTES",
    "SEVERAL",
    "delta_frame",
    "delta_work",
    "get_last_id",
    "new_route_state",
    "set_last_id",
    "trade_frame",
    "trade_id_of",
]

#: Kernel result: not handled here; nothing was changed (run the general decoder).
FALLBACK = -1
#: Kernel result: a repeated message (trades) or a delta at or below the last ``u``;
#: nothing was changed.
DUPLICATE = -2
#: :func:`trade_frame` result: a message of several trades, all written.
SEVERAL = -3
#: Largest trade time (ms) whose nanoseconds fit an int64 (year 2262).
MAX_TIME_MS = (2**63 - 1) // 1_000_000
#: Bytes of a trade id a state array holds (a longer one is left to the decoder).
LAST_ID_BYTES = 64
#: Longest topic a state array holds (a longer one's frames are left to the decoder).
MAX_TOPIC_BYTES = 61

_MS = 1_000_000
# A state array (uint8, _STATE_BYTES): the last trade id's bytes; at [_STATE] _NONE, _LONG
# or the id's length + 1; at [_TOPIC] the length of the frame's first bytes up to the
# topic's closing quote, and those bytes.
_STATE = LAST_ID_BYTES
_TOPIC = LAST_ID_BYTES + 1
_STATE_BYTES = 144  # _TOPIC + 1 + the longest head, rounded up to 8 (the scratch after it)
_NONE = 0
_LONG = 255
_TOPIC_PREFIX = b'{"topic":"'
_HEX_ID_DIGITS = 15
_MAX_DECIMAL_ID_DIGITS = 18

_K_TOPIC = key_code("topic")
_K_TYPE = key_code("type")
_K_TS = key_code("ts")
_K_CTS = key_code("cts")
_K_DATA = key_code("data")
_K_SYMBOL = key_code("s")
_K_BIDS = key_code("b")
_K_ASKS = key_code("a")
_K_U = key_code("u")
_K_SEQ = key_code("seq")
_K_TIME = key_code("T")
_K_SIDE = key_code("S")
_K_SIZE = key_code("v")
_K_PRICE = key_code("p")
_K_ID = key_code("i")
_K_BLOCK = key_code("BT")

# bits of the fields seen
_F_TYPE = 1
_F_TS = 2
_F_CTS = 4
_F_DATA = 8
_F_SYMBOL = 16
_F_BIDS = 32
_F_ASKS = 64
_F_U = 128
_F_SEQ = 256
_F_TIME = 512
_F_SIDE = 1024
_F_SIZE = 2048
_F_PRICE = 4096
_F_ID = 8192
_F_BLOCK = 16384

_BOOK_FIELDS = _F_TYPE | _F_TS | _F_DATA
_BOOK_DATA_FIELDS = _F_SYMBOL | _F_BIDS | _F_ASKS | _F_U
_TRADE_FIELDS = _F_TS | _F_DATA
_TRADE_ITEM_FIELDS = _F_TIME | _F_SYMBOL | _F_SIDE | _F_SIZE | _F_PRICE | _F_ID

_DELTA = np.frombuffer(b'"delta"', dtype=np.uint8)
_BUY = np.frombuffer(b'"Buy"', dtype=np.uint8)
_SELL = np.frombuffer(b'"Sell"', dtype=np.uint8)


@njit(cache=True, inline="always")
def _after_topic(buf, n, state):
    """Check the frame starts ``{"topic":"<the state's topic>"``; return the index after it."""
    m = state[_TOPIC]
    if m == 0 or m > n:
        return FALLBACK
    for k in range(m):
        if buf[k] != state[_TOPIC + 1 + k]:
            return FALLBACK
    return m


@njit(cache=True, inline="always")
def _next_key(buf, i, n):
    """After a top-level value: the next key's index, ``n + 1`` at the frame's end, or FALLBACK."""
    if i < n:
        c = buf[i]
        if c == 44:  # ','
            return i + 1
        if c == 125 and i + 1 == n:  # '}': the frame's last byte
            return n + 1
    return FALLBACK


@njit(cache=True, inline="always")
def trade_id_of(buf, start, end):
    """Return ``(id, ok)``: the trade id ``buf[start:end]`` as the decoder stores it.

    The decoder's rule: an id without a dash that ``int()`` reads (spot's
    digits) is that number; any other is its first 15 hex digits, dashes
    left out (a linear UUID's first 60 bits). ``ok`` is False for what the
    kernels leave to Python's ``int()``: more than 18 digits, a character
    other than a hex digit or a dash, no hex digit at all.
    """
    decimal = np.int64(0)
    value = np.int64(0)
    digits = 0
    dash = False
    plain = True  # decimal digits only
    for k in range(start, end):
        c = buf[k]
        if 48 <= c <= 57:
            d = c - 48
        elif 97 <= c <= 102:
            d = c - 87
            plain = False
        elif 65 <= c <= 70:
            d = c - 55
            plain = False
        elif c == 45:  # '-'
            dash = True
            continue
        else:
            return value, False
        if digits < _HEX_ID_DIGITS:
            value = value * 16 + d
            digits += 1
            if dash and digits == _HEX_ID_DIGITS:
                return value, True  # a UUID's 60 bits: the rest does not count
        decimal = decimal * 10 + d  # wraps past 18 digits, and is then not used
    if plain and not dash:  # int(i): at most 18 digits fit an int64 as they are
        return decimal, 0 < end - start <= _MAX_DECIMAL_ID_DIGITS
    return value, digits > 0


@njit(cache=True, inline="always")
def _trade_item(buf, i, n):
    """Read one trade object at ``buf[i]``.

    Returns ``(next, price, size, time_ms, trade_id, side, ok, id_start, id_end)``:
    ``next`` negative when the item is not one this kernel reads; ``ok``
    False when it reads but the decoder would not push it as it is (out of
    range, a side other than Buy/Sell, a block trade, an id for ``int()``).
    """
    price = 0.0
    size = 0.0
    time_ms = np.int64(0)
    side = 0
    block = False
    id_start = 0
    id_end = 0
    if i >= n or buf[i] != 123:  # '{'
        return FALLBACK, price, size, time_ms, np.int64(0), side, False, 0, 0
    i += 1
    seen = 0
    while True:
        key, i = key_at(buf, i, n)
        if i < 0:
            break
        bit = 0
        if key == _K_PRICE:
            bit = _F_PRICE
            price, i = decimal_at(buf, i, n)
        elif key == _K_SIZE:
            bit = _F_SIZE
            size, i = decimal_at(buf, i, n)
        elif key == _K_TIME:
            bit = _F_TIME
            time_ms, i = int_at(buf, i, n)
        elif key == _K_ID:
            bit = _F_ID
            id_start = i + 1
            i = string_end(buf, i, n)
            id_end = i - 1
        elif key == _K_SIDE:
            bit = _F_SIDE
            if literal_at(buf, i, n, _BUY):
                side = SIDE_BUY
                i += _BUY.shape[0]
            elif literal_at(buf, i, n, _SELL):
                side = SIDE_SELL
                i += _SELL.shape[0]
            else:
                i = string_end(buf, i, n)  # another side: the decoder's bad frame
        elif key == _K_SYMBOL:
            bit = _F_SYMBOL
            i = string_end(buf, i, n)
        elif key == _K_BLOCK:
            bit = _F_BLOCK
            block, i = bool_at(buf, i, n)
        else:
            i = skip_scalar(buf, i, n)
        if i < 0 or seen & bit or i >= n:
            break
        seen |= bit
        c = buf[i]
        i += 1
        if c == 44:  # ','
            continue
        if c != 125 or seen & _TRADE_ITEM_FIELDS != _TRADE_ITEM_FIELDS:  # '}'
            break
        trade_id, id_ok = trade_id_of(buf, id_start, id_end)
        ok = (
            id_ok
            and side != 0
            and not block
            and 0.0 < price < np.inf
            and 0.0 < size < np.inf
            and 0 <= time_ms <= MAX_TIME_MS
        )
        return i, price, size, time_ms, trade_id, side, ok, id_start, id_end
    return FALLBACK, price, size, time_ms, np.int64(0), side, False, 0, 0


@njit(cache=True, inline="always")
def _write(ring, slot, ts_recv, price, size, time_ms, trade_id, side):
    rec = ring[slot]
    rec.ts_event = time_ms * _MS
    rec.ts_recv = ts_recv
    rec.price = price
    rec.qty = size
    rec.trade_id = trade_id
    rec.side = side


@njit(cache=True)
def _write_trades(buf, i, n, trades, ts_recv, ring, count):
    """Read the ``trades`` items from ``buf[i]`` again (all checked) and write each."""
    capacity = ring.shape[0]
    for k in range(trades):
        i, price, size, time_ms, trade_id, side, _, _, _ = _trade_item(buf, i, n)
        i += 1
        _write(ring, (count + k) % capacity, ts_recv, price, size, time_ms, trade_id, side)


def new_route_state(topic: str) -> np.ndarray | None:
    """Return the state array of ``topic``'s frames (no trade taken yet).

    None for a topic the kernels do not take: longer than
    :data:`MAX_TOPIC_BYTES`, or with a byte JSON would escape or that is not
    printable ASCII.
    """
    raw = topic.encode("utf-8")
    if len(raw) > MAX_TOPIC_BYTES or any(c < 32 or c > 126 or c in b'"\\' for c in raw):
        return None
    head = _TOPIC_PREFIX + raw + b'"'
    state = np.zeros(_STATE_BYTES, dtype=np.uint8)
    state[_TOPIC] = len(head)
    state[_TOPIC + 1 : _TOPIC + 1 + len(head)] = np.frombuffer(head, dtype=np.uint8)
    return state


def get_last_id(state: np.ndarray) -> bytes | None:
    """Return the last trade id kept in ``state`` (UTF-8), None before the first message.

    Raises :class:`LookupError` when the id was too long for the array (the
    caller keeps such an id itself, see :func:`set_last_id`).
    """
    kept = int(state[_STATE])
    if kept == _NONE:
        return None
    if kept == _LONG:
        raise LookupError("the last trade id is longer than LAST_ID_BYTES")
    return state[: kept - 1].tobytes()


def set_last_id(state: np.ndarray, raw: bytes) -> bool:
    """Keep ``raw`` (a trade id's UTF-8 bytes) in ``state``; False when it is too long to."""
    if len(raw) > LAST_ID_BYTES:
        state[_STATE] = _LONG
        return False
    state[: len(raw)] = np.frombuffer(raw, dtype=np.uint8)
    state[_STATE] = len(raw) + 1
    return True


@njit(cache=True)
def trade_frame(frame, ts_recv, ring, count, state):
    """Decode one ``publicTrade`` message and write its trades from ring record ``count``.

    Parameters
    ----------
    frame : bytes
        The frame.
    ts_recv : int
        Local receive time (ns).
    ring : trade_dt[:]
        The symbol's trade ring (:class:`engine.market.TradeRing` ``data``).
    count : int
        Trades pushed so far (the caller adds the trades written).
    state : uint8[:]
        The topic's state array (:func:`new_route_state`): the topic, and
        the symbol's last trade id, updated when trades are written.

    Returns
    -------
    (float, int)
        ``(price, ts_event)`` of the trade when the message had one, now
        written (record ``count``); ``(SEVERAL, trades)`` when it had
        several, all written (records ``count`` to ``count + trades - 1``);
        ``(DUPLICATE, 0)`` for a repeat of the symbol's last message;
        ``(FALLBACK, 0)`` otherwise (nothing written).
    """
    buf = np.frombuffer(frame, dtype=np.uint8)  # array indexing compiles tighter than bytes
    n = buf.shape[0]
    i = _after_topic(buf, n, state)
    if i < 0:
        return float(FALLBACK), 0
    seen = 0
    trades = 0
    ok = True
    data_start = 0
    last_start = 0
    last_end = 0
    # the first trade's fields: a message of one trade is written without a second pass
    price = 0.0
    size = 0.0
    time_ms = np.int64(0)
    trade_id = np.int64(0)
    side = 0
    i = _next_key(buf, i, n)
    while 0 <= i < n:
        key, i = key_at(buf, i, n)
        if i < 0:
            return float(FALLBACK), 0
        bit = 0
        if key == _K_DATA:
            bit = _F_DATA
            if i >= n or buf[i] != 91:  # '['
                return float(FALLBACK), 0
            i += 1
            data_start = i
            while True:
                i, p, v, t, tid, sd, item_ok, last_start, last_end = _trade_item(buf, i, n)
                if i < 0 or i >= n:
                    return float(FALLBACK), 0
                if trades == 0:
                    price, size, time_ms, trade_id, side = p, v, t, tid, sd
                trades += 1
                ok = ok and item_ok
                c = buf[i]
                i += 1
                if c == 93:  # ']'
                    break
                if c != 44:
                    return float(FALLBACK), 0
        elif key == _K_TS:
            bit = _F_TS
            _, i = int_at(buf, i, n)
        elif key == _K_TOPIC:
            return float(FALLBACK), 0  # a second topic: msgspec decides
        else:
            i = skip_scalar(buf, i, n)
        if i < 0 or seen & bit:
            return float(FALLBACK), 0
        seen |= bit
        i = _next_key(buf, i, n)
    if i != n + 1 or seen & _TRADE_FIELDS != _TRADE_FIELDS:  # n: ran out after a comma
        return float(FALLBACK), 0
    # a repeat of the last message taken (compared before the items are judged, as msgspec's)
    length = last_end - last_start
    kept = state[_STATE]
    if kept == _LONG:
        return float(FALLBACK), 0
    same = kept == length + 1
    capacity = ring.shape[0]
    if not ok or length > LAST_ID_BYTES or trades > capacity:
        for k in range(length if same else 0):
            if state[k] != buf[last_start + k]:
                same = False
                break
        return float(DUPLICATE if same else FALLBACK), 0
    # taken unless a repeat: compare and remember in one pass (a repeat changes no byte)
    for k in range(length):
        c = buf[last_start + k]
        if state[k] != c:
            state[k] = c
            same = False
    if same:
        return float(DUPLICATE), 0
    state[_STATE] = length + 1
    if trades == 1:
        _write(ring, count % capacity, ts_recv, price, size, time_ms, trade_id, side)
    else:
        _write_trades(buf, data_start, n, trades, ts_recv, ring, count)
    if trades > 1:
        return float(SEVERAL), trades
    return price, time_ms * _MS


def delta_work(topic: str, rows: int) -> np.ndarray | None:
    """Return the state array of ``topic``'s deltas with the scratch of :func:`delta_frame`.

    One byte buffer: the topic (as in :func:`new_route_state`), the parsed
    levels and the merge space, so that the kernel takes them as one argument
    (each array argument costs a call from Python about 45 ns to unbox).
    ``rows`` bounds the levels of one side of a delta the kernel parses, and
    the top of a book side it merges in one pass (more: ``FALLBACK`` / level
    by level). None for a topic :func:`new_route_state` does not take.
    """
    state = new_route_state(topic)
    if state is None:
        return None
    work = np.zeros(_STATE_BYTES + 56 * rows, dtype=np.uint8)
    work[:_STATE_BYTES] = state
    return work


@njit(cache=True, inline="always")
def _work_views(work):
    """``(scratch, tmp_keys, tmp_qtys)`` of a :func:`delta_work` buffer."""
    rows = (work.shape[0] - _STATE_BYTES) // 56
    at = _STATE_BYTES
    floats = work[at : at + 40 * rows].view(np.float64)
    scratch = floats[: 4 * rows].reshape(2, rows, 2)
    tmp_keys = work[at + 40 * rows : at + 56 * rows].view(np.int64).reshape(2, rows)
    return scratch, tmp_keys, floats[4 * rows :]


@njit(cache=True)
def delta_frame(frame, work, book, tick_size, last_u):
    """Decode one ``orderbook`` delta; apply it when it continues the book (``u == last_u + 1``).

    Parameters
    ----------
    frame : bytes
        The frame.
    work : uint8[:]
        The topic's state and scratch space (:func:`delta_work`).
    book : uint8[:]
        The book's arena (:attr:`engine.book.L2Book.arena`, see
        :func:`kernels.book.book_arena`); the book must be in sync.
    tick_size : float
        The book's tick size.
    last_u : int
        The book's last applied update id.

    Returns
    -------
    (int, int, int)
        ``(status, u, ts_event)``: status ``BOOK_OK`` or ``BOOK_CROSSED``
        when applied (like :func:`kernels.book.book_apply_diff`; ``ts_event``
        in ns is ``cts``, or ``ts`` when ``cts`` is absent or 0),
        ``DUPLICATE`` for ``u <= last_u`` (nothing applied), ``FALLBACK`` for
        anything else: a snapshot, ``u == 1``, a gap, an invalid level, a
        delta that might not fit the book, a time out of range, a frame this
        kernel does not read (nothing changed).
    """
    buf = np.frombuffer(frame, dtype=np.uint8)  # array indexing compiles tighter than bytes
    n = buf.shape[0]
    i = _after_topic(buf, n, work)
    if i < 0:
        return FALLBACK, 0, 0
    seen = 0
    ts = np.int64(0)
    cts = np.int64(0)
    u = np.int64(0)
    n_bids = 0
    n_asks = 0
    scratch, tmp_keys, tmp_qtys = _work_views(work)
    i = _next_key(buf, i, n)
    while 0 <= i < n:
        key, i = key_at(buf, i, n)
        if i < 0:
            return FALLBACK, 0, 0
        bit = 0
        if key == _K_DATA:
            bit = _F_DATA
            if i >= n or buf[i] != 123:  # '{'
                return FALLBACK, 0, 0
            i += 1
            inner = 0
            while True:
                key, i = key_at(buf, i, n)
                if i < 0:
                    return FALLBACK, 0, 0
                field = 0
                if key == _K_BIDS:
                    field = _F_BIDS
                    n_bids, i = levels_at(buf, i, n, scratch[0])
                elif key == _K_ASKS:
                    field = _F_ASKS
                    n_asks, i = levels_at(buf, i, n, scratch[1])
                elif key == _K_U:
                    field = _F_U
                    u, i = int_at(buf, i, n)
                elif key == _K_SEQ:
                    field = _F_SEQ
                    _, i = int_at(buf, i, n)
                elif key == _K_SYMBOL:
                    field = _F_SYMBOL
                    i = string_end(buf, i, n)
                else:
                    i = skip_scalar(buf, i, n)
                if i < 0 or i >= n or inner & field:
                    return FALLBACK, 0, 0
                inner |= field
                c = buf[i]
                i += 1
                if c == 125:  # '}'
                    break
                if c != 44:
                    return FALLBACK, 0, 0
            if inner & _BOOK_DATA_FIELDS != _BOOK_DATA_FIELDS:
                return FALLBACK, 0, 0
        elif key == _K_TYPE:
            bit = _F_TYPE
            if not literal_at(buf, i, n, _DELTA):
                return FALLBACK, 0, 0  # a snapshot (or another type): msgspec's
            i += _DELTA.shape[0]
        elif key == _K_TS:
            bit = _F_TS
            ts, i = int_at(buf, i, n)
        elif key == _K_CTS:
            bit = _F_CTS
            cts, i = int_at(buf, i, n)
        elif key == _K_TOPIC:
            return FALLBACK, 0, 0  # a second topic: msgspec decides
        else:
            i = skip_scalar(buf, i, n)
        if i < 0 or seen & bit:
            return FALLBACK, 0, 0
        seen |= bit
        i = _next_key(buf, i, n)
    if i != n + 1 or seen & _BOOK_FIELDS != _BOOK_FIELDS:  # n: ran out after a comma
        return FALLBACK, 0, 0
    # the decoder's order: u == 1 is a snapshot, then the u chain, then the levels
    if u == 1:
        return FALLBACK, 0, 0
    if u <= last_u:
        return DUPLICATE, u, 0
    if u != last_u + 1:
        return FALLBACK, 0, 0
    # A side that might outgrow its capacity is msgspec's: level by level and merged,
    # an overflow can differ in which levels fitted.
    ticks, qtys, counts, best = book_views(book)
    capacity = ticks.shape[1]
    if counts[0] + n_bids > capacity or counts[1] + n_asks > capacity:
        return FALLBACK, 0, 0
    time_ms = cts if cts != 0 else ts
    if not 0 <= time_ms <= MAX_TIME_MS:  # nanoseconds beyond int64: msgspec's Python ints
        return FALLBACK, 0, 0
    status = book_apply_diff_sorted(
        ticks, qtys, counts, scratch[0, :n_bids], scratch[1, :n_asks], tick_size, best,
        tmp_keys, tmp_qtys,
    )  # fmt: skip
    if status == BOOK_BAD_LEVEL:  # nothing applied
        return FALLBACK, 0, 0
    return status, u, time_ms * _MS
