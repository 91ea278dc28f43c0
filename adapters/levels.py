"""Raw JSON price-level arrays (``[["61837.63","0.3"], ...]``) → float64 ``(n, 2)`` arrays.

Shared by every venue adapter: the compiled parser of :mod:`kernels.parse`
does the common case exactly, and a general msgspec decoder takes what it
cannot (numbers with too many digits or exponents).
"""

from __future__ import annotations

import msgspec
import numpy as np

from kernels.parse import PARSE_FALLBACK, parse_levels

__all__ = ["parse_level_array"]

_FALLBACK = msgspec.json.Decoder(list[tuple[float, float]], strict=False)


def parse_level_array(raw: msgspec.Raw, scratch: np.ndarray | None = None) -> np.ndarray | None:
    """Parse a raw ``[[price, qty], ...]`` array; None when it is not one.

    With ``scratch`` (a float64 ``(rows, 2)`` array) the result is a view of
    it when it fits, valid until the next call with the same buffer.
    """
    buf = np.frombuffer(raw, dtype=np.uint8)
    rows = buf.shape[0] // 5 + 1
    if scratch is None or rows > scratch.shape[0]:
        scratch = np.empty((rows, 2), dtype=np.float64)
    n = parse_levels(buf, scratch)
    if n >= 0:
        return scratch[:n]
    if n == PARSE_FALLBACK:
        try:
            levels = _FALLBACK.decode(raw)
        except msgspec.DecodeError:
            return None
        return np.array(levels, dtype=np.float64).reshape(-1, 2)
    return None
