"""Average true range: ATR and NATR, batch and streaming (see ``kernels.indicators``)."""

import math

import numpy as np
from numba import njit

from kernels._common import (
    check_period,
    check_series,
    require_period,
    smooth,
    smoothing_coefficients,
)

__all__ = [
    "atr",
    "atr_state",
    "atr_update",
    "natr",
    "natr_state",
    "natr_update",
]

# State layout (ATR also embedded in the indicator-set state).
_ATR_PERIOD = 0
_ATR_KEEP = 1  # 1 - 1 / timeperiod; see smoothing_coefficients
_ATR_TAKE = 2
_ATR_COUNT = 3  # finite bars consumed, saturating at timeperiod + 1
_ATR_PREV_CLOSE = 4
_ATR_VALUE = 5  # summed true ranges during warm-up, then the ATR
_ATR_OUT = 6  # current output (the ATR, or the NATR)
_ATR_SIZE = 7


# ------------------------------------------------------------------ ATR, NATR


@njit(cache=True, error_model="numpy", inline="always")
def _true_range(high, low, prev_close):
    # TA-Lib's order: high - low, then the two distances to the previous close.
    greatest = high - low
    above = abs(prev_close - high)
    if above > greatest:
        greatest = above
    below = abs(prev_close - low)
    if below > greatest:
        greatest = below
    return greatest


@njit(cache=True, error_model="numpy", inline="always")
def _true_range_ordered(high, low, prev_close):
    # `_true_range` bit for bit when high - low >= 0 and prev_close is not NaN
    # (infinities included), in three operations instead of seven: whichever
    # of high, low lies between the other and prev_close gives the smaller
    # distance (rounding is monotonic), so the maximum is the span of the
    # three, computed by the very subtraction `_true_range` keeps.
    return max(high, prev_close) - min(low, prev_close)


@njit(cache=True, error_model="numpy", inline="always")
def _atr_warm(count, period, prev_close, total, high, low):
    # `count` finite bars were consumed before this one; the first only gives
    # a previous close. Sums `period` true ranges, then averages them.
    if count > 0:
        total += _true_range(high, low, prev_close)
    count += 1
    if count == period + 1:
        total = total / period
    return count, total


@njit(cache=True, error_model="numpy", inline="always")
def _natr_value(atr_value, close):
    if close != 0.0:
        return (atr_value / close) * 100.0
    return 0.0  # TA-Lib's answer for a zero close


@njit(cache=True, error_model="numpy")
def _atr_init(state, base, timeperiod):
    keep, take = smoothing_coefficients(1.0 / timeperiod)
    state[base + _ATR_PERIOD] = timeperiod
    state[base + _ATR_KEEP] = keep
    state[base + _ATR_TAKE] = take
    state[base + _ATR_COUNT] = 0.0
    state[base + _ATR_PREV_CLOSE] = np.nan
    state[base + _ATR_VALUE] = 0.0
    state[base + _ATR_OUT] = np.nan


@njit(cache=True, error_model="numpy", inline="always")
def _atr_tick(state, base, high, low, close, normalized):
    if math.isnan(high) or math.isnan(low) or math.isnan(close):
        return state[base + _ATR_OUT]
    period = state[base + _ATR_PERIOD]
    count = state[base + _ATR_COUNT]
    prev_close = state[base + _ATR_PREV_CLOSE]
    state[base + _ATR_PREV_CLOSE] = close
    if count > period:
        value = smooth(
            state[base + _ATR_VALUE],
            _true_range(high, low, prev_close),
            state[base + _ATR_KEEP],
            state[base + _ATR_TAKE],
        )
    else:
        count, value = _atr_warm(count, period, prev_close, state[base + _ATR_VALUE], high, low)
        state[base + _ATR_COUNT] = count
        state[base + _ATR_VALUE] = value
        if count <= period:
            return np.nan
    state[base + _ATR_VALUE] = value
    out = _natr_value(value, close) if normalized else value
    state[base + _ATR_OUT] = out
    return out


@njit(cache=True, error_model="numpy")
def _atr_state_nb(timeperiod):
    require_period("atr", "timeperiod", timeperiod, 1)
    state = np.empty(_ATR_SIZE, dtype=np.float64)
    _atr_init(state, 0, timeperiod)
    return state


@njit(cache=True, error_model="numpy")
def atr_update(state: np.ndarray, high: float, low: float, close: float) -> float:
    """Consume one bar and return the average true range.

    Parameters
    ----------
    state : numpy.ndarray
        State from `atr_state`, updated in place.
    high, low, close : float
        The bar. A bar with a NaN is skipped: the state is left unchanged.

    Returns
    -------
    float
        Wilder's average of the true range; NaN until ``timeperiod + 1`` finite
        bars (``timeperiod`` true ranges) have been seen.
    """
    return _atr_tick(state, 0, high, low, close, False)


@njit(cache=True, error_model="numpy")
def natr_update(state: np.ndarray, high: float, low: float, close: float) -> float:
    """Consume one bar and return the normalized ATR, ``100 * ATR / close``.

    Parameters
    ----------
    state : numpy.ndarray
        State from `natr_state`, updated in place.
    high, low, close : float
        The bar. A bar with a NaN is skipped: the state is left unchanged.

    Returns
    -------
    float
        The ATR in percent of the close (0.0 for a zero close); NaN until
        ``timeperiod + 1`` finite bars have been seen.
    """
    return _atr_tick(state, 0, high, low, close, True)


# Batch layout. The loop-carried chain is one fused multiply-add per bar (see
# `smooth`), as in TA-Lib, so the loops below only keep everything else off
# it: the warm-up runs in its own loop; the ATR takes four bars per step with
# one test (no NaN close, high - low >= 0) and then `_true_range_ordered`,
# falling back to the bar-by-bar path (NaN skips, `_true_range`) otherwise;
# the NATR writes the ATR of `_NATR_BLOCK` bars, then applies `_natr_value`
# to the whole block in one vectorized pass (a division per bar next to the
# chain costs more than the chain), with unsigned indices so numba emits no
# negative-index wraparound. Every output is the value `_atr_tick` would
# return for the same bars, bit for bit.
_NATR_BLOCK = 64


@njit(cache=True, error_model="numpy", inline="always")
def _any_nan3(high, low, close):
    return math.isnan(high) | math.isnan(low) | math.isnan(close)


@njit(cache=True, error_model="numpy", inline="always")
def _any_nan4(a, b, c, d):
    return math.isnan(a) | math.isnan(b) | math.isnan(c) | math.isnan(d)


@njit(cache=True, error_model="numpy", inline="always")
def _atr_steady(high, low, close, out, start, prev_close, value, keep, take):
    # ATR after the warm-up; a bar with a NaN holds the previous value.
    n = close.shape[0]
    i = start
    while i + 4 <= n:
        h0, h1, h2, h3 = high[i], high[i + 1], high[i + 2], high[i + 3]
        l0, l1, l2, l3 = low[i], low[i + 1], low[i + 2], low[i + 3]
        c0, c1, c2, c3 = close[i], close[i + 1], close[i + 2], close[i + 3]
        # One test for the four bars: every close is a number and every
        # high - low is >= 0 (so not NaN), which `_true_range_ordered` needs.
        ordered = (h0 - l0 >= 0.0) & (h1 - l1 >= 0.0) & (h2 - l2 >= 0.0) & (h3 - l3 >= 0.0)
        if _any_nan4(c0, c1, c2, c3) | (not ordered):
            for j in range(i, i + 4):
                if not _any_nan3(high[j], low[j], close[j]):
                    value = smooth(value, _true_range(high[j], low[j], prev_close), keep, take)
                    prev_close = close[j]
                out[j] = value
        else:
            v0 = smooth(value, _true_range_ordered(h0, l0, prev_close), keep, take)
            v1 = smooth(v0, _true_range_ordered(h1, l1, c0), keep, take)
            v2 = smooth(v1, _true_range_ordered(h2, l2, c1), keep, take)
            value = smooth(v2, _true_range_ordered(h3, l3, c2), keep, take)
            prev_close = c3
            out[i] = v0
            out[i + 1] = v1
            out[i + 2] = v2
            out[i + 3] = value
        i += 4
    while i < n:
        if not _any_nan3(high[i], low[i], close[i]):
            value = smooth(value, _true_range(high[i], low[i], prev_close), keep, take)
            prev_close = close[i]
        out[i] = value
        i += 1


@njit(cache=True, error_model="numpy", inline="always")
def _natr_steady(high, low, close, out, start, prev_close, value, keep, take):
    # NATR after the warm-up, a block at a time: the ATR into `out`, then
    # `_natr_value` over the block. A skipped (NaN) bar holds the ATR and the
    # close it was normalized by, so a block with one is normalized by the
    # last finite close instead.
    n = np.uint64(close.shape[0])
    i = np.uint64(start)
    block = np.uint64(_NATR_BLOCK)
    while i < n:
        m = block if n - i >= block else n - i
        block_close = prev_close
        skipped = False
        for k in range(m):
            j = i + k
            skip = _any_nan3(high[j], low[j], close[j])
            skipped |= skip
            if not skip:
                value = smooth(value, _true_range(high[j], low[j], prev_close), keep, take)
                prev_close = close[j]
            out[j] = value
        if skipped or m < block:
            for k in range(m):
                j = i + k
                if not _any_nan3(high[j], low[j], close[j]):
                    block_close = close[j]
                out[j] = _natr_value(out[j], block_close)
        else:
            for k in range(block):  # a fixed trip count: vectorized
                j = i + k
                out[j] = _natr_value(out[j], close[j])
        i += m


@njit(cache=True, error_model="numpy", inline="always")
def _atr_loop(high, low, close, timeperiod, normalized):
    keep, take = smoothing_coefficients(1.0 / timeperiod)
    n = close.shape[0]
    out = np.empty(n, dtype=np.float64)
    count = 0
    prev_close = np.nan
    value = 0.0
    last = np.nan
    i = 0
    while i < n and count <= timeperiod:  # warm-up: NaN until it completes
        h = high[i]
        lo = low[i]
        c = close[i]
        if not _any_nan3(h, lo, c):
            count, value = _atr_warm(count, timeperiod, prev_close, value, h, lo)
            if count > timeperiod:
                last = _natr_value(value, c) if normalized else value
            prev_close = c
        out[i] = last
        i += 1
    if normalized:
        _natr_steady(high, low, close, out, i, prev_close, value, keep, take)
    else:
        _atr_steady(high, low, close, out, i, prev_close, value, keep, take)
    return out


@njit(cache=True, error_model="numpy")
def _atr_nb(high, low, close, timeperiod):
    require_period("atr", "timeperiod", timeperiod, 1)
    return _atr_loop(high, low, close, timeperiod, False)


@njit(cache=True, error_model="numpy")
def _natr_nb(high, low, close, timeperiod):
    require_period("natr", "timeperiod", timeperiod, 1)
    return _atr_loop(high, low, close, timeperiod, True)


def atr_state(timeperiod: int = 14) -> np.ndarray:
    """Allocate the state for a streaming average true range.

    Parameters
    ----------
    timeperiod : int, default 14
        Wilder smoothing period, in [1, 100000] as in TA-Lib.

    Returns
    -------
    numpy.ndarray
        A fresh float64 state array to pass to `atr_update`.

    Raises
    ------
    ValueError
        If `timeperiod` is not an integer in [1, 100000].
    """
    return _atr_state_nb(check_period("atr", "timeperiod", timeperiod, 1))


def natr_state(timeperiod: int = 14) -> np.ndarray:
    """Allocate the state for a streaming normalized average true range.

    Parameters
    ----------
    timeperiod : int, default 14
        Wilder smoothing period, in [1, 100000] as in TA-Lib.

    Returns
    -------
    numpy.ndarray
        A fresh float64 state array to pass to `natr_update`.

    Raises
    ------
    ValueError
        If `timeperiod` is not an integer in [1, 100000].
    """
    return _atr_state_nb(check_period("natr", "timeperiod", timeperiod, 1))


def atr(high: np.ndarray, low: np.ndarray, close: np.ndarray, timeperiod: int = 14) -> np.ndarray:
    """Compute Wilder's average true range.

    Parameters
    ----------
    high, low, close : numpy.ndarray
        1-D float64 bar series of equal length.
    timeperiod : int, default 14
        Wilder smoothing period, in [1, 100000].

    Returns
    -------
    numpy.ndarray
        float64 array of ``len(close)``; NaN for the first ``timeperiod`` bars
        (the first bar only provides a previous close), then seeded with the
        mean true range. Matches ``talib.ATR(high, low, close, timeperiod)``.

    Raises
    ------
    ValueError
        If an input is not a 1-D float64 array, the lengths differ or
        `timeperiod` is out of range.
    """
    h, lo, c = check_series("atr", high=high, low=low, close=close)
    return _atr_nb(h, lo, c, check_period("atr", "timeperiod", timeperiod, 1))


def natr(high: np.ndarray, low: np.ndarray, close: np.ndarray, timeperiod: int = 14) -> np.ndarray:
    """Compute the normalized average true range, ``100 * ATR / close``.

    Parameters
    ----------
    high, low, close : numpy.ndarray
        1-D float64 bar series of equal length.
    timeperiod : int, default 14
        Wilder smoothing period, in [1, 100000].

    Returns
    -------
    numpy.ndarray
        float64 array of ``len(close)``; NaN for the first ``timeperiod`` bars;
        0.0 where the close is 0. Matches ``talib.NATR(high, low, close,
        timeperiod)`` for ``timeperiod >= 2``; for ``timeperiod == 1`` TA-Lib
        returns the raw true range, un-normalized, whereas this returns
        ``100 * TRANGE / close``.

    Raises
    ------
    ValueError
        If an input is not a 1-D float64 array, the lengths differ or
        `timeperiod` is out of range.
    """
    h, lo, c = check_series("natr", high=high, low=low, close=close)
    return _natr_nb(h, lo, c, check_period("natr", "timeperiod", timeperiod, 1))
