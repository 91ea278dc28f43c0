"""Parse exchange price-level arrays straight from JSON bytes into float64 arrays.

Venue books arrive as ``[["61837.63000000","0.32332000"], ...]``: decimal
strings (or bare JSON numbers). Turning that into Python floats and then a
numpy array costs far more than the book update itself for large diffs, so
:func:`parse_levels` reads the bytes once and writes ``(price, qty)`` rows.

Exactness: a decimal with at most 15 significant digits and at most 22
fractional digits has an integer mantissa ``m < 2**53`` and a power of ten
``10**e`` that are both exact doubles, so ``m / 10**e`` (one correctly
rounded IEEE division) is the double nearest to the decimal, the same value
``float(text)`` gives. Anything outside that (more digits, exponents) returns
``PARSE_FALLBACK`` and the caller uses a general JSON decoder instead.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = [
    "PARSE_ERROR",
    "PARSE_FALLBACK",
    "count_level_segments",
    "parse_level_segments",
    "parse_levels",
]

#: The bytes are not a JSON array of ``[price, qty]`` pairs.
PARSE_ERROR = -1
#: Valid JSON, but a number this parser cannot convert exactly (use a general decoder).
PARSE_FALLBACK = -2

_POW10 = np.array([10.0**i for i in range(23)], dtype=np.float64)
_MAX_MANTISSA = 2**53


@njit(cache=True, inline="always")
def _skip_ws(buf, i, n):
    while i < n and (buf[i] == 32 or buf[i] == 10 or buf[i] == 13 or buf[i] == 9):
        i += 1
    return i


@njit(cache=True)
def _number(buf, i, n, out, row, col):
    """Parse one (optionally quoted) decimal at ``buf[i]``; return the next index or a code."""
    quoted = buf[i] == 34  # '"'
    if quoted:
        i += 1
    mantissa = np.int64(0)
    digits = 0
    frac = 0
    seen_dot = False
    start = i
    while i < n:
        c = buf[i]
        if 48 <= c <= 57:
            if digits > 0 or c != 48:
                digits += 1
            mantissa = mantissa * 10 + (c - 48)
            if seen_dot:
                frac += 1
            if digits > 15 or mantissa >= _MAX_MANTISSA:
                return PARSE_FALLBACK
        elif c == 46 and not seen_dot:  # '.'
            seen_dot = True
        else:
            break
        i += 1
    if i == start or (seen_dot and i == start + 1):
        return PARSE_ERROR
    if i < n and (buf[i] == 101 or buf[i] == 69):  # exponent: not from these venues
        return PARSE_FALLBACK
    if frac > 22:
        return PARSE_FALLBACK
    if quoted:
        if i >= n or buf[i] != 34:
            return PARSE_ERROR
        i += 1
    out[row, col] = mantissa / _POW10[frac]
    return i


@njit(cache=True)
def parse_levels(buf, out):
    """Parse a JSON array of ``[price, qty]`` pairs from ``buf`` (uint8) into ``out``.

    Parameters
    ----------
    buf : uint8[:]
        The JSON text of the array, e.g. ``b'[["1.5","2"],["1.4","0"]]'``.
    out : float64[:, 2]
        Receives one row per level; must have at least as many rows as levels.

    Returns
    -------
    int
        The number of levels parsed, ``PARSE_ERROR`` for malformed input or too
        small an ``out``, or ``PARSE_FALLBACK`` for numbers that need a
        general decoder (see the module docstring).
    """
    n = buf.shape[0]
    i = _skip_ws(buf, 0, n)
    if i >= n or buf[i] != 91:  # '['
        return PARSE_ERROR
    i = _skip_ws(buf, i + 1, n)
    row = 0
    if i < n and buf[i] == 93:  # ']'
        return 0
    while i < n:
        if buf[i] != 91:
            return PARSE_ERROR
        if row >= out.shape[0]:
            return PARSE_ERROR
        i = _skip_ws(buf, i + 1, n)
        if i >= n:
            return PARSE_ERROR
        i = _number(buf, i, n, out, row, 0)
        if i < 0:
            return i
        i = _skip_ws(buf, i, n)
        if i >= n or buf[i] != 44:  # ','
            return PARSE_ERROR
        i = _skip_ws(buf, i + 1, n)
        if i >= n:
            return PARSE_ERROR
        i = _number(buf, i, n, out, row, 1)
        if i < 0:
            return i
        i = _skip_ws(buf, i, n)
        if i >= n or buf[i] != 93:
            return PARSE_ERROR
        row += 1
        i = _skip_ws(buf, i + 1, n)
        if i >= n:
            return PARSE_ERROR
        if buf[i] == 93:
            i = _skip_ws(buf, i + 1, n)
            return row if i == n else PARSE_ERROR
        if buf[i] != 44:
            return PARSE_ERROR
        i = _skip_ws(buf, i + 1, n)
    return PARSE_ERROR


@njit(cache=True)
def count_level_segments(buf, starts, ends, counts):
    """Count the ``[price, qty]`` pairs of each ``buf[starts[i]:ends[i]]`` level array.

    A well-formed array of ``n`` pairs holds ``n + 1`` opening brackets (venue
    numbers are quoted decimals or bare numbers, never brackets), so this is
    exact for valid input and an upper bound otherwise. An empty segment
    counts 1: a row whose values the caller supplies. Returns the total.
    """
    total = 0
    for s in range(starts.shape[0]):
        a = starts[s]
        b = ends[s]
        if a == b:
            c = 1
        else:
            c = 0
            for i in range(a, b):
                if buf[i] == 91:
                    c += 1
            c = max(c - 1, 0)
        counts[s] = c
        total += c
    return total


@njit(cache=True)
def parse_level_segments(buf, starts, ends, counts, out, status):
    """Parse every segment into consecutive rows of ``out`` (``counts`` rows each).

    ``status[i]`` is 0 when segment ``i`` parsed to exactly ``counts[i]``
    levels, else ``PARSE_ERROR``/``PARSE_FALLBACK`` (its rows are left for the
    caller, e.g. a general JSON decoder). Empty segments are skipped (their
    row belongs to the caller). One compiled call for a whole recording.
    """
    pos = 0
    for s in range(starts.shape[0]):
        c = counts[s]
        a = starts[s]
        b = ends[s]
        status[s] = 0
        if a != b:
            n = parse_levels(buf[a:b], out[pos : pos + c])
            if n != c:
                status[s] = n if n < 0 else PARSE_ERROR
        pos += c
