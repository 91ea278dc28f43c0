"""Moving averages: SMA, EMA and MACD, batch and streaming (see ``kernels.indicators``).

Each indicator keeps its arithmetic in small inlined step functions that the
streaming ``*_update`` (state in a float64 array) and the batch loop (state in
locals) both call, so the two are bitwise equal.
"""

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
    "ema",
    "ema_state",
    "ema_update",
    "macd",
    "macd_state",
    "macd_update",
    "sma",
    "sma_state",
    "sma_update",
]

# SMA state layout: header, then a ring of the last `timeperiod` finite inputs.
_SMA_PERIOD = 0
_SMA_INV_PERIOD = 1
_SMA_COUNT = 2  # finite inputs consumed, saturating at the period
_SMA_POS = 3  # ring slot of the oldest input, overwritten by the next one
_SMA_TOTAL = 4  # running sum of the ring
_SMA_VALUE = 5  # current output
_SMA_HEADER = 6

# EMA state layout (also embedded in the momentum and indicator-set states).
_EMA_PERIOD = 0
_EMA_KEEP = 1  # 1 - alpha, alpha = 2 / (timeperiod + 1); see smoothing_coefficients
_EMA_TAKE = 2  # alpha
_EMA_COUNT = 3  # finite inputs consumed, saturating at the period
_EMA_VALUE = 4  # running sum during warm-up, then the EMA
_EMA_SIZE = 5

# MACD state layout.
_MACD_FAST_PERIOD = 0
_MACD_SLOW_PERIOD = 1
_MACD_SIGNAL_PERIOD = 2
_MACD_FAST_KEEP = 3
_MACD_FAST_TAKE = 4
_MACD_SLOW_KEEP = 5
_MACD_SLOW_TAKE = 6
_MACD_SIGNAL_KEEP = 7
_MACD_SIGNAL_TAKE = 8
_MACD_COUNT = 9  # finite inputs consumed, saturating at slow + signal - 1
_MACD_FAST = 10  # running sum during warm-up, then the fast EMA
_MACD_SLOW = 11
_MACD_SIGNAL = 12
_MACD_LINE = 13  # current outputs
_MACD_SIGNAL_OUT = 14
_MACD_HIST = 15
_MACD_SIZE = 16


# --------------------------------------------------------------------------- SMA


@njit(cache=True, error_model="numpy", inline="always")
def _sma_push(ring, offset, period, pos, total, x):
    # The running sum moves by (new - oldest) in one addition: a single add on
    # the loop-carried chain. The ring starts as zeros, so while it fills the
    # subtraction is exact and the sum is the plain left-to-right sum.
    slot = np.uint64(offset + pos)  # unsigned: no negative-index wraparound code
    old = ring[slot]
    ring[slot] = x
    pos += 1
    if pos == period:
        pos = 0
    return pos, total + (x - old)


@njit(cache=True, error_model="numpy", inline="always")
def _sma_value(period, inv_period, total, x):
    if period == 1:
        return x  # TA-Lib copies the input for a period of 1
    return total * inv_period


@njit(cache=True, error_model="numpy")
def _sma_state_nb(timeperiod):
    require_period("sma", "timeperiod", timeperiod, 1)
    state = np.zeros(_SMA_HEADER + timeperiod, dtype=np.float64)
    state[_SMA_PERIOD] = timeperiod
    state[_SMA_INV_PERIOD] = 1.0 / timeperiod
    state[_SMA_VALUE] = np.nan
    return state


@njit(cache=True, error_model="numpy")
def sma_update(state: np.ndarray, x: float) -> float:
    """Consume one value and return the simple moving average.

    Parameters
    ----------
    state : numpy.ndarray
        State from `sma_state`, updated in place.
    x : float
        The next value. NaN is skipped: the state is left unchanged.

    Returns
    -------
    float
        The mean of the last ``timeperiod`` finite values; NaN until that many
        have been seen.
    """
    if math.isnan(x):
        return state[_SMA_VALUE]
    period = int(state[_SMA_PERIOD])
    pos, total = _sma_push(state, _SMA_HEADER, period, int(state[_SMA_POS]), state[_SMA_TOTAL], x)
    state[_SMA_POS] = pos
    state[_SMA_TOTAL] = total
    count = state[_SMA_COUNT]
    if count < period:
        count += 1.0
        state[_SMA_COUNT] = count
        if count < period:
            return np.nan
    value = _sma_value(period, state[_SMA_INV_PERIOD], total, x)
    state[_SMA_VALUE] = value
    return value


@njit(cache=True, error_model="numpy")
def _sma_nb(close, timeperiod):
    require_period("sma", "timeperiod", timeperiod, 1)
    n = close.shape[0]
    out = np.empty(n, dtype=np.float64)
    ring = np.zeros(timeperiod, dtype=np.float64)
    inv_period = 1.0 / timeperiod
    pos = 0
    total = 0.0
    count = 0
    last = np.nan
    for i in range(n):  # one loop from 0: see _ema_nb
        x = close[i]
        if not math.isnan(x):
            pos, total = _sma_push(ring, 0, timeperiod, pos, total, x)
            if count == timeperiod:
                last = _sma_value(timeperiod, inv_period, total, x)
            else:
                count += 1
                if count == timeperiod:
                    last = _sma_value(timeperiod, inv_period, total, x)
        out[i] = last
    return out


def sma_state(timeperiod: int = 30) -> np.ndarray:
    """Allocate the state for a streaming simple moving average.

    Parameters
    ----------
    timeperiod : int, default 30
        Window length, in [1, 100000] as in TA-Lib.

    Returns
    -------
    numpy.ndarray
        A fresh float64 state array (header and a ring of `timeperiod` values)
        to pass to `sma_update`.

    Raises
    ------
    ValueError
        If `timeperiod` is not an integer in [1, 100000].
    """
    return _sma_state_nb(check_period("sma", "timeperiod", timeperiod, 1))


def sma(close: np.ndarray, timeperiod: int = 30) -> np.ndarray:
    """Compute the simple moving average of a series.

    Parameters
    ----------
    close : numpy.ndarray
        1-D float64 input series.
    timeperiod : int, default 30
        Window length, in [1, 100000].

    Returns
    -------
    numpy.ndarray
        float64 array of ``len(close)``; NaN for the first ``timeperiod - 1``
        values. Matches ``talib.SMA(close, timeperiod)``.

    Raises
    ------
    ValueError
        If `close` is not a 1-D float64 array or `timeperiod` is out of range.

    Examples
    --------
    >>> import numpy as np
    >>> sma(np.array([1.0, 2.0, 3.0, 5.0]), timeperiod=2)
    array([nan, 1.5, 2.5, 4. ])
    """
    (x,) = check_series("sma", close=close)
    return _sma_nb(x, check_period("sma", "timeperiod", timeperiod, 1))


# --------------------------------------------------------------------------- EMA


@njit(cache=True, error_model="numpy")
def _ema_coefficients(timeperiod):
    return smoothing_coefficients(2.0 / (timeperiod + 1))


@njit(cache=True, error_model="numpy", inline="always")
def _ema_warm(count, period, total, x):
    # TA-Lib's classic seed: a left-to-right sum of the first `period` values,
    # divided by the period. Returns the sum until then, the seed on the last.
    count += 1
    total += x
    if count == period:
        total = total / period
    return count, total


@njit(cache=True, error_model="numpy")
def _ema_init(state, base, timeperiod):
    require_period("ema", "timeperiod", timeperiod, 1)
    keep, take = _ema_coefficients(timeperiod)
    state[base + _EMA_PERIOD] = timeperiod
    state[base + _EMA_KEEP] = keep
    state[base + _EMA_TAKE] = take
    state[base + _EMA_COUNT] = 0.0
    state[base + _EMA_VALUE] = 0.0


@njit(cache=True, error_model="numpy", inline="always")
def _ema_tick(state, base, x):
    period = state[base + _EMA_PERIOD]
    count = state[base + _EMA_COUNT]
    if math.isnan(x):
        return state[base + _EMA_VALUE] if count == period else np.nan
    if count == period:
        value = smooth(
            state[base + _EMA_VALUE], x, state[base + _EMA_KEEP], state[base + _EMA_TAKE]
        )
        state[base + _EMA_VALUE] = value
        return value
    count, value = _ema_warm(count, period, state[base + _EMA_VALUE], x)
    state[base + _EMA_COUNT] = count
    state[base + _EMA_VALUE] = value
    return value if count == period else np.nan


@njit(cache=True, error_model="numpy")
def _ema_state_nb(timeperiod):
    state = np.empty(_EMA_SIZE, dtype=np.float64)
    _ema_init(state, 0, timeperiod)
    return state


@njit(cache=True, error_model="numpy")
def ema_update(state: np.ndarray, x: float) -> float:
    """Consume one value and return the EMA.

    Parameters
    ----------
    state : numpy.ndarray
        State from `ema_state`, updated in place.
    x : float
        The next value. NaN is skipped: the state is left unchanged.

    Returns
    -------
    float
        The EMA after consuming `x`; NaN until `timeperiod` finite values have
        been seen.

    Examples
    --------
    >>> state = ema_state(3)
    >>> [ema_update(state, x) for x in (1.0, 2.0, 3.0, 5.0)]
    [nan, nan, 2.0, 3.5]
    """
    return _ema_tick(state, 0, x)


@njit(cache=True, error_model="numpy")
def _ema_nb(close, timeperiod):
    require_period("ema", "timeperiod", timeperiod, 1)
    keep, take = _ema_coefficients(timeperiod)
    n = close.shape[0]
    out = np.empty(n, dtype=np.float64)
    count = 0
    value = 0.0
    last = np.nan
    # One loop from 0 (not a warm-up loop and a second one from its end): the
    # compiler then knows every index is non-negative and drops the
    # negative-index wraparound code from the hot loop.
    for i in range(n):
        x = close[i]
        if not math.isnan(x):
            if count == timeperiod:
                value = smooth(value, x, keep, take)
                last = value
            else:
                count, value = _ema_warm(count, timeperiod, value, x)
                if count == timeperiod:
                    last = value
        out[i] = last
    return out


def ema_state(timeperiod: int = 30) -> np.ndarray:
    """Allocate the state for a streaming EMA.

    Parameters
    ----------
    timeperiod : int, default 30
        Number of values in the seed average; the smoothing factor is
        ``2 / (timeperiod + 1)``. Must be in [1, 100000], as in TA-Lib.

    Returns
    -------
    numpy.ndarray
        A fresh float64 state array to pass to `ema_update`.

    Raises
    ------
    ValueError
        If `timeperiod` is not an integer in [1, 100000].
    """
    return _ema_state_nb(check_period("ema", "timeperiod", timeperiod, 1))


def ema(close: np.ndarray, timeperiod: int = 30) -> np.ndarray:
    """Compute the exponential moving average of a series.

    Parameters
    ----------
    close : numpy.ndarray
        1-D float64 input series.
    timeperiod : int, default 30
        Seed length and smoothing period, in [1, 100000].

    Returns
    -------
    numpy.ndarray
        float64 array of ``len(close)``; NaN for the first ``timeperiod - 1``
        values, then seeded with their mean. Matches
        ``talib.EMA(close, timeperiod)``.

    Raises
    ------
    ValueError
        If `close` is not a 1-D float64 array or `timeperiod` is out of range.

    Examples
    --------
    >>> import numpy as np
    >>> ema(np.array([1.0, 2.0, 3.0, 5.0]), timeperiod=3)
    array([nan, nan, 2. , 3.5])
    """
    (x,) = check_series("ema", close=close)
    return _ema_nb(x, check_period("ema", "timeperiod", timeperiod, 1))


# -------------------------------------------------------------------------- MACD


@njit(cache=True, error_model="numpy", inline="always")
def _macd_step(count, fast, slow, signal, x, fast_p, slow_p, signal_p, fk, ft, sk, st, gk, gt):
    # `count` finite inputs were consumed before `x`. As in TA-Lib, both EMAs
    # are seeded on the bar where the slow one completes its seed: the fast EMA
    # averages the `fast_p` inputs ending there, not the first `fast_p` inputs.
    # The signal line is an EMA of the MACD line seeded with its first
    # `signal_p` values. Returns the new sums/EMAs and the MACD line (NaN
    # before the slow seed).
    count += 1
    if count < slow_p:
        slow += x
    elif count == slow_p:
        slow = (slow + x) / slow_p
    else:
        slow = smooth(slow, x, sk, st)
    if count > slow_p - fast_p:
        if count < slow_p:
            fast += x
        elif count == slow_p:
            fast = (fast + x) / fast_p
        else:
            fast = smooth(fast, x, fk, ft)
    line = np.nan
    if count >= slow_p:
        line = fast - slow
        k = count - slow_p + 1
        if k < signal_p:
            signal += line
        elif k == signal_p:
            signal = (signal + line) / signal_p
        else:
            signal = smooth(signal, line, gk, gt)
    return count, fast, slow, signal, line


@njit(cache=True, error_model="numpy")
def _macd_periods(fastperiod, slowperiod, signalperiod):
    require_period("macd", "fastperiod", fastperiod, 2)
    require_period("macd", "slowperiod", slowperiod, 2)
    require_period("macd", "signalperiod", signalperiod, 1)
    if slowperiod < fastperiod:  # TA-Lib swaps them
        return slowperiod, fastperiod, signalperiod
    return fastperiod, slowperiod, signalperiod


@njit(cache=True, error_model="numpy")
def _macd_state_nb(fastperiod, slowperiod, signalperiod):
    fast_p, slow_p, signal_p = _macd_periods(fastperiod, slowperiod, signalperiod)
    state = np.zeros(_MACD_SIZE, dtype=np.float64)
    state[_MACD_FAST_PERIOD] = fast_p
    state[_MACD_SLOW_PERIOD] = slow_p
    state[_MACD_SIGNAL_PERIOD] = signal_p
    keep, take = _ema_coefficients(fast_p)
    state[_MACD_FAST_KEEP] = keep
    state[_MACD_FAST_TAKE] = take
    keep, take = _ema_coefficients(slow_p)
    state[_MACD_SLOW_KEEP] = keep
    state[_MACD_SLOW_TAKE] = take
    keep, take = _ema_coefficients(signal_p)
    state[_MACD_SIGNAL_KEEP] = keep
    state[_MACD_SIGNAL_TAKE] = take
    state[_MACD_LINE] = np.nan
    state[_MACD_SIGNAL_OUT] = np.nan
    state[_MACD_HIST] = np.nan
    return state


@njit(cache=True, error_model="numpy")
def macd_update(state: np.ndarray, x: float) -> tuple[float, float, float]:
    """Consume one value and return ``(macd, signal, hist)``.

    Parameters
    ----------
    state : numpy.ndarray
        State from `macd_state`, updated in place.
    x : float
        The next value. NaN is skipped: the state is left unchanged.

    Returns
    -------
    tuple of float
        The MACD line, its signal line and their difference; all NaN until
        ``slowperiod + signalperiod - 1`` finite values have been seen.
    """
    if not math.isnan(x):
        slow_p = state[_MACD_SLOW_PERIOD]
        signal_p = state[_MACD_SIGNAL_PERIOD]
        count, fast, slow, signal, line = _macd_step(
            state[_MACD_COUNT],
            state[_MACD_FAST],
            state[_MACD_SLOW],
            state[_MACD_SIGNAL],
            x,
            state[_MACD_FAST_PERIOD],
            slow_p,
            signal_p,
            state[_MACD_FAST_KEEP],
            state[_MACD_FAST_TAKE],
            state[_MACD_SLOW_KEEP],
            state[_MACD_SLOW_TAKE],
            state[_MACD_SIGNAL_KEEP],
            state[_MACD_SIGNAL_TAKE],
        )
        warm_up = slow_p + signal_p - 1.0
        if count >= warm_up:
            count = warm_up  # saturate: the step only compares against it
            state[_MACD_LINE] = line
            state[_MACD_SIGNAL_OUT] = signal
            state[_MACD_HIST] = line - signal
        state[_MACD_COUNT] = count
        state[_MACD_FAST] = fast
        state[_MACD_SLOW] = slow
        state[_MACD_SIGNAL] = signal
    return state[_MACD_LINE], state[_MACD_SIGNAL_OUT], state[_MACD_HIST]


@njit(cache=True, error_model="numpy")
def _macd_nb(close, fastperiod, slowperiod, signalperiod):
    fast_p, slow_p, signal_p = _macd_periods(fastperiod, slowperiod, signalperiod)
    fk, ft = _ema_coefficients(fast_p)
    sk, st = _ema_coefficients(slow_p)
    gk, gt = _ema_coefficients(signal_p)
    warm_up = slow_p + signal_p - 1
    n = close.shape[0]
    out = np.empty((3, n), dtype=np.float64)  # one allocation: see _bbands_nb
    out_line = out[0]
    out_signal = out[1]
    out_hist = out[2]
    count = 0
    fast = 0.0
    slow = 0.0
    signal = 0.0
    line = np.nan
    out_l = np.nan  # the outputs: NaN until the signal line has its seed
    out_s = np.nan
    out_h = np.nan
    for i in range(n):  # one loop from 0: see _ema_nb
        x = close[i]
        if not math.isnan(x):
            if count >= warm_up:
                fast = smooth(fast, x, fk, ft)
                slow = smooth(slow, x, sk, st)
                line = fast - slow
                signal = smooth(signal, line, gk, gt)
                out_l = line
                out_s = signal
                out_h = line - signal
            else:
                count, fast, slow, signal, line = _macd_step(
                    count, fast, slow, signal, x, fast_p, slow_p, signal_p, fk, ft, sk, st, gk, gt
                )
                if count >= warm_up:
                    out_l = line
                    out_s = signal
                    out_h = line - signal
        out_line[i] = out_l
        out_signal[i] = out_s
        out_hist[i] = out_h
    return out_line, out_signal, out_hist


def _check_macd(fastperiod: object, slowperiod: object, signalperiod: object) -> tuple:
    return (
        check_period("macd", "fastperiod", fastperiod, 2),
        check_period("macd", "slowperiod", slowperiod, 2),
        check_period("macd", "signalperiod", signalperiod, 1),
    )


def macd_state(fastperiod: int = 12, slowperiod: int = 26, signalperiod: int = 9) -> np.ndarray:
    """Allocate the state for a streaming MACD.

    Parameters
    ----------
    fastperiod : int, default 12
        Fast EMA period, in [2, 100000].
    slowperiod : int, default 26
        Slow EMA period, in [2, 100000]; swapped with `fastperiod` if smaller,
        as TA-Lib does.
    signalperiod : int, default 9
        Signal EMA period, in [1, 100000].

    Returns
    -------
    numpy.ndarray
        A fresh float64 state array to pass to `macd_update`.

    Raises
    ------
    ValueError
        If a period is not an integer in its range.
    """
    return _macd_state_nb(*_check_macd(fastperiod, slowperiod, signalperiod))


def macd(
    close: np.ndarray, fastperiod: int = 12, slowperiod: int = 26, signalperiod: int = 9
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Compute the MACD line, its signal line and the histogram.

    ``macd = EMA(fastperiod) - EMA(slowperiod)``, ``signal = EMA(macd,
    signalperiod)``, ``hist = macd - signal``, with TA-Lib's seeding: both
    EMAs start on the bar where the slow one has its first value (so the fast
    EMA's seed averages the `fastperiod` values ending there).

    Parameters
    ----------
    close : numpy.ndarray
        1-D float64 input series.
    fastperiod : int, default 12
        Fast EMA period, in [2, 100000].
    slowperiod : int, default 26
        Slow EMA period, in [2, 100000]; swapped with `fastperiod` if smaller.
    signalperiod : int, default 9
        Signal EMA period, in [1, 100000].

    Returns
    -------
    tuple of numpy.ndarray
        ``(macd, signal, hist)``, each float64 of ``len(close)`` and NaN for
        the first ``slowperiod + signalperiod - 2`` values. Matches
        ``talib.MACD(close, fastperiod, slowperiod, signalperiod)``.

    Raises
    ------
    ValueError
        If `close` is not a 1-D float64 array or a period is out of range.
    """
    (x,) = check_series("macd", close=close)
    return _macd_nb(x, *_check_macd(fastperiod, slowperiod, signalperiod))
