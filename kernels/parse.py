"""Parse exchange price-level arrays straight from JSON bytes into float64 arrays.

Venue books arrive as ``[["61837.63000000","0.32332000"], ...]``: decimal
strings (or bare JSON numbers). Turning that into Python floats and then a
numpy array costs far more than the book update itself for large diffs, so
:func:`parse_levels` reads the bytes once and writes ``(price, qty)`` rows.

:func:`levels_keys_at` reads a venue's compact form straight into the book's
integer keys when the tick size is a power of ten (prices in ticks, without a
float and a division: see there why that is the same tick).

Exactness: a decimal of at most 18 digits whose digits, read as an integer
``m``, are below ``2**53`` (``61837.63000000`` → ``m = 6183763000000``,
``e = 8``) has ``m`` and ``10**e`` (``e <= 18 <= 22``) both exact doubles,
so ``m / 10**e`` (one correctly rounded IEEE division) is the double nearest
to the decimal, the same value ``float(text)`` gives. Anything outside that
(more digits, exponents, signs) returns ``PARSE_FALLBACK`` and the caller
uses a general JSON decoder instead.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = [
    "PARSE_ERROR",
    "PARSE_FALLBACK",
    "count_level_segments",
    "decimal_at",
    "levels_at",
    "levels_keys_at",
    "parse_level_segments",
    "parse_levels",
    "skip_ws",
    "tick_scale",
]

#: The bytes are not a JSON array of ``[price, qty]`` pairs.
PARSE_ERROR = -1
#: Valid JSON, but a number this parser cannot convert exactly (use a general decoder).
PARSE_FALLBACK = -2

_POW10 = np.array([10.0**i for i in range(23)], dtype=np.float64)
_MAX_MANTISSA = 2**53
#: ``_TICK_SIZES[k]`` is the double nearest ``10**-k`` (``1 / 10**k``: both exact, one rounding).
_TICK_SIZES = np.array([1.0 / 10.0**k for k in range(19)], dtype=np.float64)
_POW10_INT = np.array([10**k for k in range(19)], dtype=np.int64)
#: :func:`levels_keys_at` reads decimals of at most this many digits (``10**15 < 2**50``).
_MAX_TICK_DIGITS = 15


@njit(cache=True, inline="always")
def skip_ws(buf, i, n):
    """Index of the first non-whitespace byte of ``buf[i:n]`` (``n`` if none)."""
    while i < n and (buf[i] == 32 or buf[i] == 10 or buf[i] == 13 or buf[i] == 9):
        i += 1
    return i


@njit(cache=True, inline="always")
def _digits(buf, i, n):
    """Scan ``digits[.digits]`` at ``buf[i]``: ``(mantissa, int_digits, frac_digits, next)``.

    ``frac_digits`` is -1 without a dot. The digits accumulate into one
    integer, one multiply-add each; the callers check lengths and overflow
    after (more than 18 digits may have wrapped ``mantissa``).
    """
    mantissa = np.int64(0)
    start = i
    while i < n:
        d = np.int64(buf[i]) - 48
        if d < 0 or d > 9:
            break
        mantissa = mantissa * 10 + d
        i += 1
    int_digits = i - start
    frac = -1
    if i < n and buf[i] == 46:  # '.'
        i += 1
        dot = i
        while i < n:
            d = np.int64(buf[i]) - 48
            if d < 0 or d > 9:
                break
            mantissa = mantissa * 10 + d
            i += 1
        frac = i - dot
    return mantissa, int_digits, frac, i


@njit(cache=True, inline="always")
def decimal_at(buf, i, n):
    """Parse the (optionally quoted) decimal at ``buf[i]``.

    Returns ``(value, next)``: ``next`` is the index after the number (and its
    closing quote), or a negative ``PARSE_*`` code with ``value`` 0. Only
    plain decimals (``123``, ``0.5``) are accepted; a sign, an exponent, a
    leading zero before digits, a lone dot or more than 18 digits give
    ``PARSE_FALLBACK`` (a general decoder decides), so an accepted number is
    one ``float(text)`` reads to the same double (see the module docstring).
    """
    if i >= n:
        return 0.0, PARSE_ERROR
    quoted = buf[i] == 34  # '"'
    if quoted:
        i += 1
    start = i
    mantissa, int_digits, frac, i = _digits(buf, i, n)
    if frac >= 0:  # a dot
        if frac == 0 and int_digits == 0:
            return 0.0, PARSE_ERROR  # a lone dot
        if frac == 0 or int_digits == 0:
            return 0.0, PARSE_FALLBACK  # "5." or ".5": not JSON; let a general decoder judge
    elif int_digits == 0:
        return 0.0, PARSE_ERROR
    frac = max(frac, 0)
    if int_digits + frac > 18 or mantissa >= _MAX_MANTISSA:
        return 0.0, PARSE_FALLBACK  # could overflow, or is not exact in a double
    if int_digits > 1 and buf[start] == 48:
        return 0.0, PARSE_FALLBACK  # leading zero ("007")
    if i < n and (buf[i] == 101 or buf[i] == 69 or buf[i] == 45 or buf[i] == 43):
        return 0.0, PARSE_FALLBACK  # exponent or sign: not from these venues
    if quoted:
        if i >= n or buf[i] != 34:
            return 0.0, PARSE_ERROR
        i += 1
    return mantissa / _POW10[frac], i


# _quoted_decimal is written so that numba can drop the reference count updates of
# ``buf`` that inlining adds to each call (an atomic increment and decrement, about
# 5 ns): ``buf`` is read in loop conditions and conditional expressions, and the
# decisions come after, on local values (a read in an ``if`` body, or a loop left by
# ``break``, often keeps the updates). This read the compact form 25% faster.


@njit(cache=True, inline="always")
def _quoted_decimal(buf, i, n):
    """:func:`decimal_at` for the compact quoted form at ``buf[i] == '"'`` only.

    ``(value, next)`` with ``next < 0`` for anything else (the caller then
    takes the general path, which decides); the same value as
    :func:`decimal_at` where both accept.
    """
    start = i + 1
    i = start
    mantissa = np.int64(0)
    while i < n and 48 <= buf[i] <= 57:
        mantissa = mantissa * 10 + (np.int64(buf[i]) - 48)
        i += 1
    whole = i - start
    dot = buf[i] == 46 if i < n else False
    if dot:
        i += 1
        while i < n and 48 <= buf[i] <= 57:
            mantissa = mantissa * 10 + (np.int64(buf[i]) - 48)
            i += 1
    places = i - start - whole - 1 if dot else 0
    quote = buf[i] == 34 if i < n else False
    first = buf[start] if start < n else 0
    leading_zero = whole > 1 and first == 48
    if (
        whole == 0
        or (dot and places == 0)  # "5.": not JSON; let a general decoder judge
        or not quote
        or whole + places > 18
        or mantissa >= _MAX_MANTISSA
        or leading_zero
    ):
        return 0.0, PARSE_FALLBACK
    return mantissa / _POW10[places], i + 1


@njit(cache=True, inline="always")
def tick_scale(tick_size):
    """``k`` when ``tick_size`` is ``10**-k`` (the double nearest it), ``0 <= k <= 18``; else -1."""
    for k in range(_TICK_SIZES.shape[0]):
        if tick_size == _TICK_SIZES[k]:
            return k
    return -1


@njit(cache=True)
def levels_keys_at(buf, i, n, scale, sign, keys, qtys):
    """Parse the compact ``[["price","qty"],...]`` at ``buf[i]`` into book keys and quantities.

    The key of a level is ``sign`` times its price in ticks of
    ``10**-scale`` (``scale`` from :func:`tick_scale`), the integer
    :mod:`kernels.book` computes as ``round(price / tick_size)``: read
    straight from the digits instead of through a float and a division.
    Returns ``(rows, next)``; ``next`` is ``PARSE_FALLBACK`` (and nothing is
    to be used) unless every level is in the venues' compact form (no
    whitespace, quoted decimals), every price a positive decimal on the tick
    grid of at most ``_MAX_TICK_DIGITS`` digits counting the scale, and the
    levels fit ``keys``: then the caller takes :func:`levels_at`, which
    decides.

    Exactness: such a price is ``T * 10**-scale`` with ``T < 10**15 < 2**50``;
    ``float(text)``, the tick size and their quotient each carry a relative
    error of at most ``2**-53``, so ``price / tick_size`` is within
    ``3.4e-16 * T < 0.4`` of ``T`` and rounds to it. Quantities are
    :func:`decimal_at`'s floats, bit for bit.
    """
    if i + 1 >= n or buf[i] != 91:  # '['
        return 0, PARSE_FALLBACK
    if buf[i + 1] == 93:  # '[]'
        return 0, i + 2
    i += 1
    # The numbers are read here, not by inlined helpers: buf is this function's own,
    # so reading it costs no reference count updates (see above _quoted_decimal).
    for row in range(keys.shape[0]):
        if i + 1 >= n or buf[i] != 91 or buf[i + 1] != 34:  # '["'
            return 0, PARSE_FALLBACK
        # the price, in ticks
        start = i + 2
        i = start
        ticks = np.int64(0)
        while i < n and 48 <= buf[i] <= 57:
            ticks = ticks * 10 + (np.int64(buf[i]) - 48)
            i += 1
        whole = i - start
        if whole == 0 or whole + scale > _MAX_TICK_DIGITS or (whole > 1 and buf[start] == 48):
            return 0, PARSE_FALLBACK
        places = 0  # fraction digits taken into ticks (the rest must be zeros)
        if i < n and buf[i] == 46:  # '.'
            i += 1
            dot = i
            while i < n and 48 <= buf[i] <= 57:
                if places < scale:
                    ticks = ticks * 10 + (np.int64(buf[i]) - 48)
                    places += 1
                elif buf[i] != 48:
                    return 0, PARSE_FALLBACK  # off the grid: round() decides, in levels_at
                i += 1
            if i == dot or whole + i - dot > _MAX_TICK_DIGITS:
                return 0, PARSE_FALLBACK
        ticks *= _POW10_INT[scale - places]
        if ticks == 0 or i + 2 >= n or buf[i] != 34 or buf[i + 1] != 44 or buf[i + 2] != 34:
            return 0, PARSE_FALLBACK  # not '","'
        # the quantity, as _quoted_decimal reads it
        start = i + 3
        i = start
        mantissa = np.int64(0)
        while i < n and 48 <= buf[i] <= 57:
            mantissa = mantissa * 10 + (np.int64(buf[i]) - 48)
            i += 1
        whole = i - start
        places = 0
        if i < n and buf[i] == 46:  # '.'
            i += 1
            dot = i
            while i < n and 48 <= buf[i] <= 57:
                mantissa = mantissa * 10 + (np.int64(buf[i]) - 48)
                i += 1
            places = i - dot
            if places == 0:
                return 0, PARSE_FALLBACK
        if (
            whole == 0
            or whole + places > 18
            or mantissa >= _MAX_MANTISSA
            or (whole > 1 and buf[start] == 48)
            or i + 2 >= n
            or buf[i] != 34
            or buf[i + 1] != 93
        ):
            return 0, PARSE_FALLBACK  # not '"]'
        keys[row] = sign * ticks
        qtys[row] = mantissa / _POW10[places]
        c = buf[i + 2]
        if c == 93:  # ']': the end of the array
            return row + 1, i + 3
        if c != 44:  # ','
            return 0, PARSE_FALLBACK
        i += 3
    return 0, PARSE_FALLBACK  # more levels than keys


@njit(cache=True)
def levels_at(buf, i, n, out):
    """Parse the ``[[price, qty], ...]`` array starting at ``buf[i]`` into ``out``.

    Returns ``(rows, next)``: ``next`` is the index after the closing bracket,
    or a negative ``PARSE_*`` code (then ``rows`` is 0). ``out`` must have a
    row per level (too few rows is ``PARSE_ERROR``).

    The venues' compact form (``["61837.63","0.5"],`` with no whitespace) is
    read by a tight loop; from the first level that is not in that form the
    general loop takes over (whitespace, bare numbers, errors).
    """
    if i >= n or buf[i] != 91:  # '['
        return 0, PARSE_ERROR
    i += 1
    row = 0
    rows = out.shape[0]
    pending_separator = False
    while i + 1 < n and buf[i] == 91 and buf[i + 1] == 34 and row < rows:
        price, j = _quoted_decimal(buf, i + 1, n)
        if j < 0 or j + 1 >= n or buf[j] != 44 or buf[j + 1] != 34:
            break
        qty, j = _quoted_decimal(buf, j + 1, n)
        if j < 0 or j + 1 >= n or buf[j] != 93:
            break
        out[row, 0] = price
        out[row, 1] = qty
        row += 1
        c = buf[j + 1]
        if c == 93:  # ']': the end of the array
            return row, j + 2
        if c != 44:
            i = j + 1  # after this level's ']': the general loop reads the separator
            pending_separator = True
            break
        i = j + 2
    if pending_separator:
        i = skip_ws(buf, i, n)
        if i >= n:
            return 0, PARSE_ERROR
        if buf[i] == 93:
            return row, i + 1
        if buf[i] != 44:
            return 0, PARSE_ERROR
        i += 1
    i = skip_ws(buf, i, n)
    if row == 0 and i < n and buf[i] == 93:  # '[]' (with whitespace)
        return 0, i + 1
    while i < n:
        if buf[i] != 91 or row >= rows:
            return 0, PARSE_ERROR
        i = skip_ws(buf, i + 1, n)
        price, i = decimal_at(buf, i, n)
        if i < 0:
            return 0, i
        i = skip_ws(buf, i, n)
        if i >= n or buf[i] != 44:  # ','
            return 0, PARSE_ERROR
        i = skip_ws(buf, i + 1, n)
        qty, i = decimal_at(buf, i, n)
        if i < 0:
            return 0, i
        i = skip_ws(buf, i, n)
        if i >= n or buf[i] != 93:
            return 0, PARSE_ERROR
        out[row, 0] = price
        out[row, 1] = qty
        row += 1
        i = skip_ws(buf, i + 1, n)
        if i >= n:
            return 0, PARSE_ERROR
        if buf[i] == 93:
            return row, i + 1
        if buf[i] != 44:
            return 0, PARSE_ERROR
        i = skip_ws(buf, i + 1, n)
    return 0, PARSE_ERROR


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
    n = len(buf)
    rows, i = levels_at(buf, skip_ws(buf, 0, n), n, out)
    if i < 0:
        return i
    return rows if skip_ws(buf, i, n) == n else PARSE_ERROR


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
