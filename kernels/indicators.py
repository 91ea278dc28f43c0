"""Streaming and batch technical indicators: EMA, RSI and a fused momentum tick.

Every indicator is one ``*_update(state, x)`` function holding all of the
arithmetic; the batch form loops over it, so the two cannot disagree (the test
suite asserts they are bitwise equal). State is a small float64 array made by
the matching ``*_state`` function; nothing here allocates per tick.

Conventions
-----------
dtype
    Inputs are float64 arrays (or scalars); outputs are float64.
Oracle
    ``ema(close, timeperiod)`` matches ``talib.EMA(close, timeperiod)`` and
    ``rsi(close, timeperiod)`` matches ``talib.RSI(close, timeperiod)``
    (default compatibility, no unstable period) within 1e-9 relative at every
    index where TA-Lib is defined, and is NaN exactly where TA-Lib is NaN, for
    inputs without interior NaNs. RSI follows TA-Lib's order of operations
    and has matched it bit for bit; the TA-Lib wheel evaluates the EMA step
    with a fused multiply-add, while we keep plain IEEE arithmetic so results
    do not depend on the CPU, which leaves EMA within a few ulps of TA-Lib.
Warm-up
    ``ema`` is NaN for the first ``timeperiod - 1`` finite inputs and is seeded
    with their simple mean at the ``timeperiod``-th (TA-Lib's classic seed,
    smoothing factor ``2 / (timeperiod + 1)``). ``rsi`` is NaN for the first
    ``timeperiod`` finite inputs (it needs ``timeperiod`` price changes), then
    applies Wilder smoothing. With no NaN input the first defined output is at
    index ``timeperiod - 1`` (EMA) and ``timeperiod`` (RSI).
NaN policy
    A NaN input is skipped: the state is left unchanged and the current output
    (NaN while still warming up) is returned again, in streaming and batch
    alike. Leading NaNs therefore behave exactly as in TA-Lib, which also skips
    them; after an interior NaN TA-Lib's output is poisoned for good (NaN for
    EMA, 0 for RSI), whereas here the last value is held and updating resumes
    with the next finite input. Infinities are not special-cased.
Flat series
    When average gain and average loss are both exactly zero, RSI is 0.0, as
    ``talib.RSI`` returns (no epsilon band: tiny-priced instruments keep a
    live oscillator).

Examples
--------
>>> import numpy as np
>>> from kernels.indicators import MOM_EMA_FAST, momentum_state, momentum_update
>>> state = momentum_state(fast_period=12, slow_period=26, rsi_period=14)
>>> for price in np.linspace(100.0, 110.0, 40):
...     momentum_update(state, price)
>>> round(float(state[MOM_EMA_FAST]), 6)
108.589744
"""

import math

import numpy as np
from numba import njit

__all__ = [
    "MOM_COUNT",
    "MOM_EMA_FAST",
    "MOM_EMA_SLOW",
    "MOM_RSI",
    "ema",
    "ema_state",
    "ema_update",
    "momentum_state",
    "momentum_update",
    "rsi",
    "rsi_state",
    "rsi_update",
]

_MAX_TIMEPERIOD = 100_000  # TA-Lib's upper bound for both EMA and RSI

# EMA state layout (float64[4]).
_EMA_PERIOD = 0
_EMA_K = 1  # smoothing factor 2 / (timeperiod + 1)
_EMA_SEEN = 2  # finite inputs consumed
_EMA_VALUE = 3  # running sum during warm-up, then the EMA
_EMA_SIZE = 4

# RSI state layout (float64[6]).
_RSI_PERIOD = 0
_RSI_INV_PERIOD = 1  # 1 / timeperiod, multiplied rather than divided, as TA-Lib does
_RSI_SEEN = 2  # finite inputs consumed
_RSI_PREV = 3  # last finite input
_RSI_GAIN = 4  # summed gains during warm-up, then Wilder's average gain
_RSI_LOSS = 5  # summed losses during warm-up, then Wilder's average loss
_RSI_SIZE = 6

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


# --------------------------------------------------------------------------- EMA


@njit(cache=True)
def _ema_init(state, timeperiod):
    if timeperiod < 1 or timeperiod > _MAX_TIMEPERIOD:
        raise ValueError("ema timeperiod must be in [1, 100000], was " + str(timeperiod))
    state[_EMA_PERIOD] = timeperiod
    state[_EMA_K] = 2.0 / (timeperiod + 1)
    state[_EMA_SEEN] = 0.0
    state[_EMA_VALUE] = 0.0


@njit(cache=True)
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
        If `timeperiod` is outside [1, 100000].
    """
    state = np.empty(_EMA_SIZE, dtype=np.float64)
    _ema_init(state, timeperiod)
    return state


@njit(cache=True)
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
    period = state[_EMA_PERIOD]
    if math.isnan(x):
        if state[_EMA_SEEN] >= period:
            return state[_EMA_VALUE]
        return np.nan
    seen = state[_EMA_SEEN] + 1.0
    state[_EMA_SEEN] = seen
    if seen < period:
        state[_EMA_VALUE] += x
        return np.nan
    if seen == period:
        # TA-Lib's seed: a plain left-to-right sum divided by the period.
        value = (state[_EMA_VALUE] + x) / period
    elif period == 1.0:
        # With k == 1 the recursion below is not an exact copy; TA-Lib copies.
        value = x
    else:
        prev = state[_EMA_VALUE]
        value = ((x - prev) * state[_EMA_K]) + prev
    state[_EMA_VALUE] = value
    return value


@njit(cache=True)
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
        float64 array of ``len(close)``; NaN during warm-up. Matches
        ``talib.EMA(close, timeperiod)``.

    Raises
    ------
    ValueError
        If `timeperiod` is outside [1, 100000].

    Examples
    --------
    >>> import numpy as np
    >>> ema(np.array([1.0, 2.0, 3.0, 5.0]), timeperiod=3)
    array([nan, nan, 2. , 3.5])
    """
    state = ema_state(timeperiod)
    out = np.empty(close.shape[0], dtype=np.float64)
    for i in range(close.shape[0]):
        out[i] = ema_update(state, close[i])
    return out


# --------------------------------------------------------------------------- RSI


@njit(cache=True)
def _rsi_init(state, timeperiod):
    if timeperiod < 2 or timeperiod > _MAX_TIMEPERIOD:
        raise ValueError("rsi timeperiod must be in [2, 100000], was " + str(timeperiod))
    state[_RSI_PERIOD] = timeperiod
    state[_RSI_INV_PERIOD] = 1.0 / timeperiod
    state[_RSI_SEEN] = 0.0
    state[_RSI_PREV] = np.nan
    state[_RSI_GAIN] = 0.0
    state[_RSI_LOSS] = 0.0


@njit(cache=True)
def _rsi_value(state):
    if state[_RSI_SEEN] <= state[_RSI_PERIOD]:
        return np.nan
    gain = state[_RSI_GAIN]
    total = gain + state[_RSI_LOSS]
    if total > 0.0:
        return 100.0 * (gain / total)
    return 0.0


@njit(cache=True)
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
        If `timeperiod` is outside [2, 100000].
    """
    state = np.empty(_RSI_SIZE, dtype=np.float64)
    _rsi_init(state, timeperiod)
    return state


@njit(cache=True)
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
    if math.isnan(x):
        return _rsi_value(state)
    seen = state[_RSI_SEEN] + 1.0
    state[_RSI_SEEN] = seen
    if seen == 1.0:
        state[_RSI_PREV] = x
        return np.nan
    change = x - state[_RSI_PREV]
    state[_RSI_PREV] = x
    # Branch-free split exactly as TA-Lib: loss gets up - change, i.e. -change or 0.
    up = change if change > 0.0 else 0.0
    period = state[_RSI_PERIOD]
    inv_period = state[_RSI_INV_PERIOD]
    if seen <= period + 1.0:
        gain = state[_RSI_GAIN] + up
        loss = state[_RSI_LOSS] + (up - change)
        if seen == period + 1.0:
            gain *= inv_period
            loss *= inv_period
    else:
        gain = state[_RSI_GAIN] * (period - 1.0)
        loss = state[_RSI_LOSS] * (period - 1.0)
        gain += up
        loss += up - change
        gain *= inv_period
        loss *= inv_period
    state[_RSI_GAIN] = gain
    state[_RSI_LOSS] = loss
    return _rsi_value(state)


@njit(cache=True)
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
        float64 array of ``len(close)`` with values in [0, 100]; NaN during
        warm-up. Matches ``talib.RSI(close, timeperiod)``.

    Raises
    ------
    ValueError
        If `timeperiod` is outside [2, 100000].

    Examples
    --------
    >>> import numpy as np
    >>> rsi(np.array([1.0, 2.0, 3.0, 2.0]), timeperiod=2)
    array([ nan,  nan, 100.,  50.])
    """
    state = rsi_state(timeperiod)
    out = np.empty(close.shape[0], dtype=np.float64)
    for i in range(close.shape[0]):
        out[i] = rsi_update(state, close[i])
    return out


# ---------------------------------------------------------------------- momentum


@njit(cache=True)
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
        If a period is outside its range.
    """
    state = np.empty(_MOM_SIZE, dtype=np.float64)
    state[MOM_EMA_FAST] = np.nan
    state[MOM_EMA_SLOW] = np.nan
    state[MOM_RSI] = np.nan
    state[MOM_COUNT] = 0.0
    _ema_init(state[_MOM_FAST_STATE:_MOM_SLOW_STATE], fast_period)
    _ema_init(state[_MOM_SLOW_STATE:_MOM_RSI_STATE], slow_period)
    _rsi_init(state[_MOM_RSI_STATE:_MOM_SIZE], rsi_period)
    return state


@njit(cache=True)
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
    state[MOM_EMA_FAST] = ema_update(state[_MOM_FAST_STATE:_MOM_SLOW_STATE], price)
    state[MOM_EMA_SLOW] = ema_update(state[_MOM_SLOW_STATE:_MOM_RSI_STATE], price)
    state[MOM_RSI] = rsi_update(state[_MOM_RSI_STATE:_MOM_SIZE], price)
