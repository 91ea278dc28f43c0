"""Wilder's RSI and the fused fast-EMA / slow-EMA / RSI tick (see ``kernels.indicators``)."""

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
from kernels._ma import _EMA_SIZE, _ema_init, _ema_tick

__all__ = [
    "MOM_COUNT",
    "MOM_EMA_FAST",
    "MOM_EMA_SLOW",
    "MOM_RSI",
    "momentum_state",
    "momentum_update",
    "rsi",
    "rsi_state",
    "rsi_update",
]

# RSI state layout (also embedded in the momentum and indicator-set states).
_RSI_PERIOD = 0
_RSI_KEEP = 1  # 1 - 1 / timeperiod; see smoothing_coefficients
_RSI_TAKE = 2  # 1 / timeperiod
_RSI_COUNT = 3  # finite inputs consumed, saturating at timeperiod + 1
_RSI_PREV = 4  # last finite input
_RSI_GAIN = 5  # summed gains during warm-up, then Wilder's average gain
_RSI_LOSS = 6  # summed losses during warm-up, then Wilder's average loss
_RSI_VALUE = 7  # current output
_RSI_SIZE = 8

#: Offset of the fast EMA in a momentum state (NaN during warm-up).
MOM_EMA_FAST = 0
#: Offset of the slow EMA in a momentum state (NaN during warm-up).
MOM_EMA_SLOW = 1
#: Offset of the RSI in a momentum state (NaN during warm-up).
MOM_RSI = 2
#: Offset of the number of ticks seen, NaN ticks included, in a momentum state.
MOM_COUNT = 3
_MOM_FAST_STATE = 4
_MOM_SLOW_STATE = _MOM_FAST_STATE + _EMA_SIZE
_MOM_RSI_STATE = _MOM_SLOW_STATE + _EMA_SIZE
_MOM_SIZE = _MOM_RSI_STATE + _RSI_SIZE


# --------------------------------------------------------------------------- RSI


@njit(cache=True, error_model="numpy", inline="always")
def _rsi_split(prev, x):
    # Branch-free split as TA-Lib: the loss is up - change, i.e. -change or 0.
    change = x - prev
    up = change if change > 0.0 else 0.0
    return up, up - change


@njit(cache=True, error_model="numpy", inline="always")
def _rsi_value(gain, loss):
    total = gain + loss
    if total > 0.0:
        return 100.0 * (gain / total)
    return 0.0  # flat: average gain and loss both zero, as talib.RSI answers


@njit(cache=True, error_model="numpy", inline="always")
def _rsi_warm(count, period, prev, gain, loss, x):
    # `count` finite inputs (at most `period`) were consumed before `x`: sum
    # the first `period` gains and losses, then average them.
    if count > 0:
        up, down = _rsi_split(prev, x)
        gain += up
        loss += down
    count += 1
    if count == period + 1:
        gain = gain / period
        loss = loss / period
    return count, gain, loss


@njit(cache=True, error_model="numpy", inline="always")
def _rsi_smooth(prev, gain, loss, x, keep, take):
    up, down = _rsi_split(prev, x)
    return smooth(gain, up, keep, take), smooth(loss, down, keep, take)


@njit(cache=True, error_model="numpy")
def _rsi_init(state, base, timeperiod):
    require_period("rsi", "timeperiod", timeperiod, 2)
    keep, take = smoothing_coefficients(1.0 / timeperiod)
    state[base + _RSI_PERIOD] = timeperiod
    state[base + _RSI_KEEP] = keep
    state[base + _RSI_TAKE] = take
    state[base + _RSI_COUNT] = 0.0
    state[base + _RSI_PREV] = np.nan
    state[base + _RSI_GAIN] = 0.0
    state[base + _RSI_LOSS] = 0.0
    state[base + _RSI_VALUE] = np.nan


@njit(cache=True, error_model="numpy", inline="always")
def _rsi_tick(state, base, x):
    if math.isnan(x):
        return state[base + _RSI_VALUE]
    period = state[base + _RSI_PERIOD]
    count = state[base + _RSI_COUNT]
    prev = state[base + _RSI_PREV]
    state[base + _RSI_PREV] = x
    if count > period:
        gain, loss = _rsi_smooth(
            prev,
            state[base + _RSI_GAIN],
            state[base + _RSI_LOSS],
            x,
            state[base + _RSI_KEEP],
            state[base + _RSI_TAKE],
        )
    else:
        count, gain, loss = _rsi_warm(
            count, period, prev, state[base + _RSI_GAIN], state[base + _RSI_LOSS], x
        )
        state[base + _RSI_COUNT] = count
        if count <= period:
            state[base + _RSI_GAIN] = gain
            state[base + _RSI_LOSS] = loss
            return np.nan
    state[base + _RSI_GAIN] = gain
    state[base + _RSI_LOSS] = loss
    value = _rsi_value(gain, loss)
    state[base + _RSI_VALUE] = value
    return value


@njit(cache=True, error_model="numpy")
def _rsi_state_nb(timeperiod):
    state = np.empty(_RSI_SIZE, dtype=np.float64)
    _rsi_init(state, 0, timeperiod)
    return state


@njit(cache=True, error_model="numpy")
def rsi_update(state: np.ndarray, x: float) -> float:
    """Consume one value and return the RSI.

    Parameters
    ----------
    state : numpy.ndarray
        State from `rsi_state`, updated in place.
    x : float
        The next value. NaN is skipped: the state is left unchanged.

    Returns
    -------
    float
        The RSI in [0, 100] after consuming `x`; NaN until ``timeperiod + 1``
        finite values (``timeperiod`` changes) have been seen; 0.0 while
        average gain and average loss are both zero.

    Examples
    --------
    >>> state = rsi_state(2)
    >>> [rsi_update(state, x) for x in (1.0, 2.0, 3.0, 2.0)]
    [nan, nan, 100.0, 50.0]
    """
    return _rsi_tick(state, 0, x)


@njit(cache=True, error_model="numpy")
def _rsi_nb(close, timeperiod):
    require_period("rsi", "timeperiod", timeperiod, 2)
    keep, take = smoothing_coefficients(1.0 / timeperiod)
    n = close.shape[0]
    out = np.empty(n, dtype=np.float64)
    count = 0
    prev = np.nan
    gain = 0.0
    loss = 0.0
    last = np.nan
    for i in range(n):  # one loop from 0: see _ema_nb
        x = close[i]
        if not math.isnan(x):
            if count > timeperiod:
                gain, loss = _rsi_smooth(prev, gain, loss, x, keep, take)
                last = _rsi_value(gain, loss)
            else:
                count, gain, loss = _rsi_warm(count, timeperiod, prev, gain, loss, x)
                if count > timeperiod:
                    last = _rsi_value(gain, loss)
            prev = x
        out[i] = last
    return out


def rsi_state(timeperiod: int = 14) -> np.ndarray:
    """Allocate the state for a streaming RSI.

    Parameters
    ----------
    timeperiod : int, default 14
        Wilder smoothing period, in [2, 100000] as in TA-Lib.

    Returns
    -------
    numpy.ndarray
        A fresh float64 state array to pass to `rsi_update`.

    Raises
    ------
    ValueError
        If `timeperiod` is not an integer in [2, 100000].
    """
    return _rsi_state_nb(check_period("rsi", "timeperiod", timeperiod, 2))


def rsi(close: np.ndarray, timeperiod: int = 14) -> np.ndarray:
    """Compute Wilder's relative strength index of a series.

    Parameters
    ----------
    close : numpy.ndarray
        1-D float64 input series.
    timeperiod : int, default 14
        Wilder smoothing period, in [2, 100000].

    Returns
    -------
    numpy.ndarray
        float64 array of ``len(close)`` with values in [0, 100]; NaN for the
        first ``timeperiod`` values. Matches ``talib.RSI(close, timeperiod)``.

    Raises
    ------
    ValueError
        If `close` is not a 1-D float64 array or `timeperiod` is out of range.

    Examples
    --------
    >>> import numpy as np
    >>> rsi(np.array([1.0, 2.0, 3.0, 2.0]), timeperiod=2)
    array([ nan,  nan, 100.,  50.])
    """
    (x,) = check_series("rsi", close=close)
    return _rsi_nb(x, check_period("rsi", "timeperiod", timeperiod, 2))


# ---------------------------------------------------------------------- momentum


@njit(cache=True, error_model="numpy")
def _momentum_state_nb(fast_period, slow_period, rsi_period):
    state = np.empty(_MOM_SIZE, dtype=np.float64)
    state[MOM_EMA_FAST] = np.nan
    state[MOM_EMA_SLOW] = np.nan
    state[MOM_RSI] = np.nan
    state[MOM_COUNT] = 0.0
    _ema_init(state, _MOM_FAST_STATE, fast_period)
    _ema_init(state, _MOM_SLOW_STATE, slow_period)
    _rsi_init(state, _MOM_RSI_STATE, rsi_period)
    return state


def momentum_state(
    fast_period: int = 12, slow_period: int = 26, rsi_period: int = 14
) -> np.ndarray:
    """Allocate the state for the fused fast-EMA / slow-EMA / RSI tick.

    Parameters
    ----------
    fast_period : int, default 12
        Fast EMA period, in [1, 100000].
    slow_period : int, default 26
        Slow EMA period, in [1, 100000].
    rsi_period : int, default 14
        RSI period, in [2, 100000].

    Returns
    -------
    numpy.ndarray
        A fresh float64 state array for `momentum_update`. Outputs live at
        ``state[MOM_EMA_FAST]``, ``state[MOM_EMA_SLOW]`` and ``state[MOM_RSI]``
        (NaN until warmed up) and ``state[MOM_COUNT]`` (ticks seen, 0.0).

    Raises
    ------
    ValueError
        If a period is not an integer in its range.
    """
    return _momentum_state_nb(
        check_period("ema", "timeperiod", fast_period, 1),
        check_period("ema", "timeperiod", slow_period, 1),
        check_period("rsi", "timeperiod", rsi_period, 2),
    )


@njit(cache=True, error_model="numpy")
def momentum_update(state: np.ndarray, price: float) -> None:
    """Consume one price and refresh fast EMA, slow EMA and RSI in one call.

    Each output equals the corresponding batch kernel (`ema`, `ema`, `rsi`)
    evaluated on the prices seen so far, bit for bit.

    Parameters
    ----------
    state : numpy.ndarray
        State from `momentum_state`, updated in place.
    price : float
        The next price. NaN is skipped by every indicator but still counted
        in ``state[MOM_COUNT]``.

    Examples
    --------
    >>> state = momentum_state(2, 3, 2)
    >>> for price in (1.0, 2.0, 3.0):
    ...     momentum_update(state, price)
    >>> state[[MOM_EMA_FAST, MOM_EMA_SLOW, MOM_RSI, MOM_COUNT]].tolist()
    [2.5, 2.0, 100.0, 3.0]
    """
    state[MOM_COUNT] += 1.0
    state[MOM_EMA_FAST] = _ema_tick(state, _MOM_FAST_STATE, price)
    state[MOM_EMA_SLOW] = _ema_tick(state, _MOM_SLOW_STATE, price)
    state[MOM_RSI] = _rsi_tick(state, _MOM_RSI_STATE, price)
