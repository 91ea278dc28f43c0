"""Rolling dispersion: STDDEV and BBANDS, batch and streaming (see ``kernels.indicators``).

The windowed standard deviation replicates TA-Lib 0.8's rolling variance
operation for operation, because its result depends on it: the sums are kept
of ``x - shift`` (``shift`` starts as the window's first value), the variance
is ``mean((x - shift)**2) - mean(x - shift)**2``, and the sums are rebuilt from
the window around its mean (a "recentre") whenever cancellation threatens (the
variance falls below 1e-6 of the remaining mean square, or the value leaving
the window dominates the remaining sum of squares by 1e6) and at the latest
every ``32 * timeperiod`` values. After a recentre a variance below 1e-12 of
the mean square is flushed to 0. Any other order of operations differs from
TA-Lib by more than 1e-9 on prices far from zero.
"""

import math

import numpy as np
from numba import njit

from kernels._common import (
    check_period,
    check_real,
    check_series,
    require_period,
)
from kernels._ma import _sma_push

__all__ = [
    "bbands",
    "bbands_state",
    "bbands_update",
    "stddev",
    "stddev_state",
    "stddev_update",
]

_RECENTRE_VARIANCE = 1e-6  # recentre when the variance < this x the remaining mean square
_RECENTRE_LEAVING = 1e6  # ... or the leaving square > this x the remaining sum of squares
_RECENTRE_EVERY = 32  # ... or after this many x timeperiod values
_FLUSH_TO_ZERO = 1e-12  # after a recentre, a variance < this x the mean square is 0

# Moving-window state layout (shared by STDDEV, BBANDS, ZSCORE and the rolling
# volatility): header, then a ring of the last `timeperiod` finite inputs.
_MW_PERIOD = 0
_MW_INV_PERIOD = 1
_MW_COUNT = 2  # finite inputs consumed, saturating at the period
_MW_POS = 3  # ring slot of the oldest input, overwritten by the next one
_MW_TOTAL = 4  # running sum of the ring (the SMA numerator)
_MW_SHIFT = 5  # TA-Lib's shift
_MW_S1 = 6  # sum of (x - shift) over the window minus its oldest value
_MW_S2 = 7  # sum of (x - shift)**2, likewise
_MW_COUNTDOWN = 8  # values left before the periodic recentre
_MW_HEADER = 9

# STDDEV / BBANDS state layout: a moving window, then the parameters and outputs.
_SD_NBDEV = _MW_HEADER  # STDDEV's nbdev, BBANDS' nbdevup
_SD_NBDEVDN = _MW_HEADER + 1
_SD_UPPER = _MW_HEADER + 2  # STDDEV's output, BBANDS' upper band
_SD_MIDDLE = _MW_HEADER + 3
_SD_LOWER = _MW_HEADER + 4
_SD_HEADER = _MW_HEADER + 5


# ---------------------------------------------------------- moving window


@njit(cache=True, error_model="numpy", inline="always")
def _mw_recentre(ring, offset, period, pos, inv_period):
    # Rebuild the sums of the whole window around its mean, oldest value first.
    total = 0.0
    for k in range(pos, period):
        total += ring[offset + k]
    for k in range(pos):
        total += ring[offset + k]
    shift = total * inv_period
    s1 = 0.0
    s2 = 0.0
    for k in range(pos, period):
        d = ring[offset + k] - shift
        s1 += d
        s2 += d * d
    for k in range(pos):
        d = ring[offset + k] - shift
        s1 += d
        s2 += d * d
    m1 = inv_period * s1
    mean_square = inv_period * s2
    variance = mean_square - m1 * m1
    if variance < mean_square * _FLUSH_TO_ZERO:
        variance = 0.0
    e = ring[offset + pos] - shift
    return variance, shift, s1 - e, s2 - e * e


@njit(cache=True, error_model="numpy", inline="always")
def _mw_add(shift, s1, s2, x):
    d = x - shift
    return s1 + d, s2 + d * d


@njit(cache=True, error_model="numpy", inline="always")
def _mw_push(ring, offset, period, inv_period, count, pos, total, shift, s1, s2, countdown, x):
    # Consume one finite value. Returns the new window state and the population
    # variance of the window (NaN while fewer than `period` values were seen).
    pos, total = _sma_push(ring, offset, period, pos, total, x)
    if count < period:
        count += 1
        if count == 1:
            shift = x  # TA-Lib shifts by the window's first value
        s1, s2 = _mw_add(shift, s1, s2, x)
        if count < period:
            return count, pos, total, shift, s1, s2, countdown, np.nan
    else:
        s1, s2 = _mw_add(shift, s1, s2, x)
    m1 = inv_period * s1
    variance = inv_period * s2 - m1 * m1
    # Drop the oldest value (ring[pos]) from the sums for the next window.
    e = ring[np.uint64(offset + pos)] - shift
    ee = e * e
    s2 -= ee
    if not ((inv_period * s2) * _RECENTRE_VARIANCE > variance) and not (
        ee > s2 * _RECENTRE_LEAVING
    ):
        countdown -= 1
        if countdown != 0:
            return count, pos, total, shift, s1 - e, s2, countdown, variance
    variance, shift, s1, s2 = _mw_recentre(ring, offset, period, pos, inv_period)
    return count, pos, total, shift, s1, s2, _RECENTRE_EVERY * period, variance


@njit(cache=True, error_model="numpy")
def _mw_init(state, base, timeperiod):
    state[base : base + _MW_HEADER] = 0.0
    state[base + _MW_PERIOD] = timeperiod
    state[base + _MW_INV_PERIOD] = 1.0 / timeperiod
    state[base + _MW_COUNTDOWN] = _RECENTRE_EVERY * timeperiod


@njit(cache=True, error_model="numpy", inline="always")
def _mw_tick(state, base, ring_offset, x):
    # The moving window of a state array: returns (mean, variance), NaN while warming up.
    period = int(state[base + _MW_PERIOD])
    inv_period = state[base + _MW_INV_PERIOD]
    count, pos, total, shift, s1, s2, countdown, variance = _mw_push(
        state,
        ring_offset,
        period,
        inv_period,
        int(state[base + _MW_COUNT]),
        int(state[base + _MW_POS]),
        state[base + _MW_TOTAL],
        state[base + _MW_SHIFT],
        state[base + _MW_S1],
        state[base + _MW_S2],
        int(state[base + _MW_COUNTDOWN]),
        x,
    )
    state[base + _MW_COUNT] = count
    state[base + _MW_POS] = pos
    state[base + _MW_TOTAL] = total
    state[base + _MW_SHIFT] = shift
    state[base + _MW_S1] = s1
    state[base + _MW_S2] = s2
    state[base + _MW_COUNTDOWN] = countdown
    return total * inv_period, variance


# ------------------------------------------------------------- STDDEV, BBANDS


@njit(cache=True, error_model="numpy", inline="always")
def _bands(middle, deviation, nbdevup, nbdevdn):
    return middle + deviation * nbdevup, middle - deviation * nbdevdn


@njit(cache=True, error_model="numpy")
def _sd_state(timeperiod, nbdevup, nbdevdn):
    state = np.zeros(_SD_HEADER + timeperiod, dtype=np.float64)
    _mw_init(state, 0, timeperiod)
    state[_SD_NBDEV] = nbdevup
    state[_SD_NBDEVDN] = nbdevdn
    state[_SD_UPPER] = np.nan
    state[_SD_MIDDLE] = np.nan
    state[_SD_LOWER] = np.nan
    return state


@njit(cache=True, error_model="numpy")
def _stddev_state_nb(timeperiod, nbdev):
    require_period("stddev", "timeperiod", timeperiod, 2)
    return _sd_state(timeperiod, nbdev, 1.0)


@njit(cache=True, error_model="numpy")
def stddev_update(state: np.ndarray, x: float) -> float:
    """Consume one value and return the standard deviation of the window.

    Parameters
    ----------
    state : numpy.ndarray
        State from `stddev_state`, updated in place.
    x : float
        The next value. NaN is skipped: the state is left unchanged.

    Returns
    -------
    float
        ``nbdev`` times the population standard deviation of the last
        ``timeperiod`` finite values; NaN until that many have been seen.
    """
    if not math.isnan(x):
        _mean, variance = _mw_tick(state, 0, _SD_HEADER, x)
        if not math.isnan(variance):
            state[_SD_UPPER] = math.sqrt(variance) * state[_SD_NBDEV]
    return state[_SD_UPPER]


@njit(cache=True, error_model="numpy")
def _stddev_nb(close, timeperiod, nbdev):
    require_period("stddev", "timeperiod", timeperiod, 2)
    n = close.shape[0]
    out = np.empty(n, dtype=np.float64)
    ring = np.zeros(timeperiod, dtype=np.float64)
    inv_period = 1.0 / timeperiod
    count = 0
    pos = 0
    total = 0.0
    shift = 0.0
    s1 = 0.0
    s2 = 0.0
    countdown = _RECENTRE_EVERY * timeperiod
    value = np.nan
    for i in range(n):
        x = close[i]
        if not math.isnan(x):
            count, pos, total, shift, s1, s2, countdown, variance = _mw_push(
                ring, 0, timeperiod, inv_period, count, pos, total, shift, s1, s2, countdown, x
            )
            if not math.isnan(variance):
                value = math.sqrt(variance) * nbdev
        out[i] = value
    return out


def stddev_state(timeperiod: int = 5, nbdev: float = 1.0) -> np.ndarray:
    """Allocate the state for a streaming standard deviation.

    Parameters
    ----------
    timeperiod : int, default 5
        Window length, in [2, 100000] as in TA-Lib.
    nbdev : float, default 1.0
        Multiplier of the output.

    Returns
    -------
    numpy.ndarray
        A fresh float64 state array (header and a ring of `timeperiod` values)
        to pass to `stddev_update`.

    Raises
    ------
    ValueError
        If `timeperiod` is not an integer in [2, 100000] or `nbdev` is not finite.
    """
    return _stddev_state_nb(
        check_period("stddev", "timeperiod", timeperiod, 2), check_real("stddev", "nbdev", nbdev)
    )


def stddev(close: np.ndarray, timeperiod: int = 5, nbdev: float = 1.0) -> np.ndarray:
    """Compute the rolling population standard deviation of a series.

    Parameters
    ----------
    close : numpy.ndarray
        1-D float64 input series.
    timeperiod : int, default 5
        Window length, in [2, 100000].
    nbdev : float, default 1.0
        Multiplier of the output.

    Returns
    -------
    numpy.ndarray
        float64 array of ``len(close)``; NaN for the first ``timeperiod - 1``
        values. Matches ``talib.STDDEV(close, timeperiod, nbdev)`` (see the
        module docstring for why its operation order is kept).

    Raises
    ------
    ValueError
        If `close` is not a 1-D float64 array, `timeperiod` is out of range or
        `nbdev` is not finite.

    Examples
    --------
    >>> import numpy as np
    >>> stddev(np.array([1.0, 3.0, 5.0]), timeperiod=2)
    array([nan,  1.,  1.])
    """
    (x,) = check_series("stddev", close=close)
    return _stddev_nb(
        x, check_period("stddev", "timeperiod", timeperiod, 2), check_real("stddev", "nbdev", nbdev)
    )


@njit(cache=True, error_model="numpy")
def _bbands_state_nb(timeperiod, nbdevup, nbdevdn):
    require_period("bbands", "timeperiod", timeperiod, 2)
    return _sd_state(timeperiod, nbdevup, nbdevdn)


@njit(cache=True, error_model="numpy", inline="always")
def _bbands_tick(state, base, ring_offset, nbdevup, nbdevdn, x, out):
    # Writes (upper, middle, lower) to state[out : out + 3] once warmed up.
    if not math.isnan(x):
        middle, variance = _mw_tick(state, base, ring_offset, x)
        if not math.isnan(variance):
            upper, lower = _bands(middle, math.sqrt(variance), nbdevup, nbdevdn)
            state[out] = upper
            state[out + 1] = middle
            state[out + 2] = lower


@njit(cache=True, error_model="numpy")
def bbands_update(state: np.ndarray, x: float) -> tuple[float, float, float]:
    """Consume one value and return the Bollinger Bands ``(upper, middle, lower)``.

    Parameters
    ----------
    state : numpy.ndarray
        State from `bbands_state`, updated in place.
    x : float
        The next value. NaN is skipped: the state is left unchanged.

    Returns
    -------
    tuple of float
        ``middle = SMA(timeperiod)`` and ``middle +/- nbdev * stddev``; all NaN
        until ``timeperiod`` finite values have been seen.
    """
    _bbands_tick(state, 0, _SD_HEADER, state[_SD_NBDEV], state[_SD_NBDEVDN], x, _SD_UPPER)
    return state[_SD_UPPER], state[_SD_MIDDLE], state[_SD_LOWER]


@njit(cache=True, error_model="numpy")
def _bbands_nb(close, timeperiod, nbdevup, nbdevdn):
    require_period("bbands", "timeperiod", timeperiod, 2)
    n = close.shape[0]
    # One allocation for the three outputs: three 8 MB arrays freed together
    # make glibc trim and re-fault its heap on every call.
    out = np.empty((3, n), dtype=np.float64)
    out_upper = out[0]
    out_middle = out[1]
    out_lower = out[2]
    ring = np.zeros(timeperiod, dtype=np.float64)
    inv_period = 1.0 / timeperiod
    count = 0
    pos = 0
    total = 0.0
    shift = 0.0
    s1 = 0.0
    s2 = 0.0
    countdown = _RECENTRE_EVERY * timeperiod
    upper = np.nan
    middle = np.nan
    lower = np.nan
    for i in range(n):
        x = close[i]
        if not math.isnan(x):
            count, pos, total, shift, s1, s2, countdown, variance = _mw_push(
                ring, 0, timeperiod, inv_period, count, pos, total, shift, s1, s2, countdown, x
            )
            if not math.isnan(variance):
                middle = total * inv_period
                upper, lower = _bands(middle, math.sqrt(variance), nbdevup, nbdevdn)
        out_upper[i] = upper
        out_middle[i] = middle
        out_lower[i] = lower
    return out_upper, out_middle, out_lower


def _check_bbands(timeperiod: object, nbdevup: object, nbdevdn: object) -> tuple:
    return (
        check_period("bbands", "timeperiod", timeperiod, 2),
        check_real("bbands", "nbdevup", nbdevup),
        check_real("bbands", "nbdevdn", nbdevdn),
    )


def bbands_state(timeperiod: int = 20, nbdevup: float = 2.0, nbdevdn: float = 2.0) -> np.ndarray:
    """Allocate the state for streaming Bollinger Bands.

    Parameters
    ----------
    timeperiod : int, default 20
        Window of the middle band (an SMA) and of the deviation, in [2, 100000]
        (TA-Lib 0.8's default; older TA-Lib releases defaulted to 5).
    nbdevup, nbdevdn : float, default 2.0
        Deviations above and below the middle band.

    Returns
    -------
    numpy.ndarray
        A fresh float64 state array (header and a ring of `timeperiod` values)
        to pass to `bbands_update`.

    Raises
    ------
    ValueError
        If `timeperiod` is not an integer in [2, 100000] or a deviation is not finite.
    """
    return _bbands_state_nb(*_check_bbands(timeperiod, nbdevup, nbdevdn))


def bbands(
    close: np.ndarray, timeperiod: int = 20, nbdevup: float = 2.0, nbdevdn: float = 2.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Compute Bollinger Bands: an SMA and a multiple of the standard deviation around it.

    Parameters
    ----------
    close : numpy.ndarray
        1-D float64 input series.
    timeperiod : int, default 20
        Window length, in [2, 100000] (TA-Lib 0.8's default; older TA-Lib
        releases defaulted to 5).
    nbdevup, nbdevdn : float, default 2.0
        Population standard deviations above and below the middle band.

    Returns
    -------
    tuple of numpy.ndarray
        ``(upper, middle, lower)``, each float64 of ``len(close)`` and NaN for
        the first ``timeperiod - 1`` values. Matches ``talib.BBANDS(close,
        timeperiod, nbdevup, nbdevdn, matype=0)``.

    Raises
    ------
    ValueError
        If `close` is not a 1-D float64 array, `timeperiod` is out of range or
        a deviation is not finite.
    """
    (x,) = check_series("bbands", close=close)
    return _bbands_nb(x, *_check_bbands(timeperiod, nbdevup, nbdevdn))
