"""Compiled JSON scanning primitives for the fixed-shape frames of exchange feeds.

A venue's market-data frame is a flat JSON object of a known shape. The
compiled fast paths (:mod:`adapters.binance.fastpath`) read it in one pass
with these primitives instead of building Python objects; everything they do
not fully understand they hand back as ``PARSE_FALLBACK``, and the caller runs
the frame through its general msgspec decoder instead. So a fast path may
refuse more than a general decoder, but never accepts what it would refuse:

* strings: ASCII only, no escapes (else ``PARSE_FALLBACK``);
* integers: ``-?(0|[1-9][0-9]*)``, at most 18 digits, not followed by a
  fraction or exponent (else ``PARSE_FALLBACK``);
* decimals: :func:`kernels.parse.decimal_at`;
* other values are skipped when they are scalars (string, number, literal);
  a nested array or object under a key the caller does not know is
  ``PARSE_FALLBACK``.

Every function takes ``buf`` (``bytes`` or a uint8 array), a position ``i``
and the end ``n``, and returns the next position, negative on failure
(``PARSE_ERROR`` / ``PARSE_FALLBACK``). They are compiled inline into their
callers: a call per value costs as much as the value's bytes.

Whitespace between tokens is not skipped: venues send compact JSON, and a
frame with whitespace is simply left to the general decoder.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from kernels.parse import PARSE_ERROR, PARSE_FALLBACK

__all__ = [
    "bool_at",
    "int_at",
    "key_at",
    "key_code",
    "literal_at",
    "skip_scalar",
    "string_end",
]

#: Integers longer than this many digits go to the general decoder (int64 holds 18 safely).
_MAX_INT_DIGITS = 18
#: Keys longer than this are reported as :data:`LONG_KEY` (none of the fields we read is).
_MAX_KEY_BYTES = 7
#: :func:`key_at`'s code for a valid key longer than 7 bytes.
LONG_KEY = -3


def key_code(key: str) -> int:
    """The code :func:`key_at` returns for ``key`` (its bytes, little-endian, up to 7).

    >>> key_code("pu") == ord("p") | ord("u") << 8
    True
    """
    raw = key.encode("ascii")
    if not 0 < len(raw) <= _MAX_KEY_BYTES:
        raise ValueError(f"key_code: keys of 1 to {_MAX_KEY_BYTES} ASCII bytes, got {key!r}")
    return int.from_bytes(raw, "little")


@njit(cache=True, inline="always")
def string_end(buf, i, n):
    """Index after the string starting at ``buf[i]`` (a ``"``)."""
    if i >= n or buf[i] != 34:
        return PARSE_ERROR
    i += 1
    while i < n:
        c = buf[i]
        if c == 34:
            return i + 1
        if c == 92 or c < 32 or c > 126:  # escape, control or non-ASCII byte
            return PARSE_FALLBACK
        i += 1
    return PARSE_ERROR


@njit(cache=True, inline="always")
def _literal_end(buf, i, n, c1, c2, c3, c4, length):
    if i + length > n or buf[i + 1] != c1 or buf[i + 2] != c2 or buf[i + 3] != c3:
        return PARSE_ERROR
    if length == 5 and buf[i + 4] != c4:
        return PARSE_ERROR
    return i + length


@njit(cache=True, inline="always")
def _number_end(buf, i, n):
    """Index after a JSON number at ``buf[i]`` (full grammar, value not computed)."""
    if i < n and buf[i] == 45:  # '-'
        i += 1
    if i >= n or not 48 <= buf[i] <= 57:
        return PARSE_ERROR
    if buf[i] == 48:
        i += 1
    else:
        while i < n and 48 <= buf[i] <= 57:
            i += 1
    if i < n and buf[i] == 46:  # fraction
        i += 1
        if i >= n or not 48 <= buf[i] <= 57:
            return PARSE_ERROR
        while i < n and 48 <= buf[i] <= 57:
            i += 1
    if i < n and (buf[i] == 101 or buf[i] == 69):  # exponent
        i += 1
        if i < n and (buf[i] == 43 or buf[i] == 45):
            i += 1
        if i >= n or not 48 <= buf[i] <= 57:
            return PARSE_ERROR
        while i < n and 48 <= buf[i] <= 57:
            i += 1
    return i


@njit(cache=True, inline="always")
def skip_scalar(buf, i, n):
    """Index after the scalar value at ``buf[i]``; a nested value is ``PARSE_FALLBACK``."""
    if i >= n:
        return PARSE_ERROR
    c = buf[i]
    if c == 34:
        return string_end(buf, i, n)
    if c == 116:  # true
        return _literal_end(buf, i, n, 114, 117, 101, 0, 4)
    if c == 102:  # false
        return _literal_end(buf, i, n, 97, 108, 115, 101, 5)
    if c == 110:  # null
        return _literal_end(buf, i, n, 117, 108, 108, 0, 4)
    if c == 45 or 48 <= c <= 57:
        return _number_end(buf, i, n)
    if c == 91 or c == 123:
        return PARSE_FALLBACK
    return PARSE_ERROR


@njit(cache=True, inline="always")
def int_at(buf, i, n):
    """``(value, next)`` of the bare JSON integer at ``buf[i]``."""
    if i >= n:
        return 0, PARSE_ERROR
    negative = buf[i] == 45
    if negative:
        i += 1
    start = i
    value = np.int64(0)
    while i < n and 48 <= buf[i] <= 57:
        value = value * 10 + (buf[i] - 48)
        i += 1
        if i - start > _MAX_INT_DIGITS:
            return 0, PARSE_FALLBACK
    if i == start:
        # not a bare integer: a quoted one or a float a lax decoder may still take
        return 0, PARSE_FALLBACK if (i < n and buf[i] == 34) else PARSE_ERROR
    if buf[start] == 48 and i > start + 1:
        return 0, PARSE_FALLBACK
    if i < n and (buf[i] == 46 or buf[i] == 101 or buf[i] == 69):
        return 0, PARSE_FALLBACK
    return (-value if negative else value), i


@njit(cache=True, inline="always")
def bool_at(buf, i, n):
    """``(value, next)`` of the literal ``true`` / ``false`` at ``buf[i]``."""
    if i < n and buf[i] == 116:
        return True, _literal_end(buf, i, n, 114, 117, 101, 0, 4)
    if i < n and buf[i] == 102:
        return False, _literal_end(buf, i, n, 97, 108, 115, 101, 5)
    return False, PARSE_FALLBACK


@njit(cache=True, inline="always")
def key_at(buf, i, n):
    """``(code, value index)`` of the object key ``"key":`` at ``buf[i]``.

    ``code`` is :func:`key_code` of the key, or :data:`LONG_KEY`; the value
    index points past the colon.
    """
    if i + 3 < n and buf[i] == 34 and buf[i + 2] == 34 and buf[i + 3] == 58:
        c = buf[i + 1]  # the common one-letter key ("p":)
        if 32 <= c <= 126 and c != 92 and c != 34:
            return np.int64(c), i + 4
    j = string_end(buf, i, n)
    if j < 0:
        return 0, j
    if j >= n or buf[j] != 58:  # ':'
        return 0, PARSE_FALLBACK
    length = j - i - 2
    code = np.int64(0)
    if length > _MAX_KEY_BYTES:
        code = np.int64(LONG_KEY)
    else:
        for k in range(length):
            code |= np.int64(buf[i + 1 + k]) << (8 * k)
    return code, j + 1


@njit(cache=True, inline="always")
def literal_at(buf, i, n, lit):
    """True when ``buf[i:n]`` starts with the bytes of the uint8 array ``lit``."""
    m = lit.shape[0]
    if i + m > n:
        return False
    for k in range(m):
        if buf[i + k] != lit[k]:
            return False
    return True
