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


@njit(cache=True, error_model="numpy", inline="always")
def _atr_loop(high, low, close, timeperiod, normalized):
    keep, take = smoothing_coefficients(1.0 / timeperiod)
    n = close.shape[0]
    out = np.empty(n, dtype=np.float64)
    count = 0
    prev_close = np.nan
    value = 0.0
    last = np.nan
    for i in range(n):  # one loop from 0: see _ema_nb
        h = high[i]
        lo = low[i]
        c = close[i]
        if not (math.isnan(h) | math.isnan(lo) | math.isnan(c)):
            if count > timeperiod:
                value = smooth(value, _true_range(h, lo, prev_close), keep, take)
                last = _natr_value(value, c) if normalized else value
            else:
                count, value = _atr_warm(count, timeperiod, prev_close, value, h, lo)
                if count > timeperiod:
                    last = _natr_value(value, c) if normalized else value
            prev_close = c
        out[i] = last
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
