"""Return statistics: log returns, rolling volatility and z-score (see ``kernels.indicators``).

None of these is in TA-Lib. The windowed ones reuse the moving window of
``kernels._volatility`` (TA-Lib 0.8's shifted, self-recentring rolling
variance), so ``zscore`` is ``(close - SMA) / STDDEV`` exactly as TA-Lib would
compute its parts.
"""

import math

import numpy as np
from numba import njit

from kernels._common import check_integer, check_period, check_real, check_series, require_period
from kernels._volatility import _MW_HEADER, _RECENTRE_EVERY, _mw_init, _mw_push, _mw_tick

__all__ = [
    "log_returns",
    "log_returns_state",
    "log_returns_update",
    "rolling_volatility",
    "rolling_volatility_state",
    "rolling_volatility_update",
    "zscore",
    "zscore_state",
    "zscore_update",
]

# Log-return state layout.
_LR_PREV = 0  # last valid price (NaN before the first)
_LR_SIZE = 1

# Rolling-volatility state layout: header, moving window of returns, its ring.
_VOL_PREV = 0  # last valid price (NaN before the first)
_VOL_SCALE = 1  # periods_per_year * timeperiod / (timeperiod - ddof)
_VOL_OUT = 2  # current output
_VOL_WINDOW = 3  # the moving window block
_VOL_HEADER = _VOL_WINDOW + _MW_HEADER  # its ring

# Z-score state layout: moving window, output, ring.
_Z_OUT = _MW_HEADER
_Z_HEADER = _MW_HEADER + 1


# ------------------------------------------------------------------ log returns


@njit(cache=True, error_model="numpy", inline="always")
def _log_return(prev, x):
    return math.log(x / prev)


@njit(cache=True, error_model="numpy")
def _log_returns_state_nb():
    state = np.empty(_LR_SIZE, dtype=np.float64)
    state[_LR_PREV] = np.nan
    return state


@njit(cache=True, error_model="numpy")
def log_returns_update(state: np.ndarray, close: float) -> float:
    """Consume one price and return its log return.

    Parameters
    ----------
    state : numpy.ndarray
        State from `log_returns_state`, updated in place.
    close : float
        The next price. A price that is NaN or not positive is skipped.

    Returns
    -------
    float
        ``log(close / previous valid close)``; NaN for the first valid price
        and for a skipped one.
    """
    if not close > 0.0:
        return np.nan
    prev = state[_LR_PREV]
    state[_LR_PREV] = close
    return _log_return(prev, close)  # NaN while prev is NaN


@njit(cache=True, error_model="numpy")
def _log_returns_nb(close):
    n = close.shape[0]
    out = np.empty(n, dtype=np.float64)
    prev = np.nan
    for i in range(n):
        x = close[i]
        if x > 0.0:
            out[i] = _log_return(prev, x)
            prev = x
        else:
            out[i] = np.nan
    return out


def log_returns_state() -> np.ndarray:
    """Allocate the state for streaming log returns.

    Returns
    -------
    numpy.ndarray
        A fresh float64 state array to pass to `log_returns_update`.
    """
    return _log_returns_state_nb()


def log_returns(close: np.ndarray) -> np.ndarray:
    """Compute the log return of each price over the previous valid price.

    Parameters
    ----------
    close : numpy.ndarray
        1-D float64 price series. NaN and non-positive prices are skipped:
        their return is NaN and the next return is measured from the last
        valid price, so the returns still sum to ``log(last / first)``.

    Returns
    -------
    numpy.ndarray
        float64 array of ``len(close)``; ``out[0]`` is NaN.

    Raises
    ------
    ValueError
        If `close` is not a 1-D float64 array.

    Examples
    --------
    >>> import numpy as np
    >>> log_returns(np.array([1.0, np.e, np.nan, 1.0]))
    array([nan,  1., nan, -1.])
    """
    (x,) = check_series("log_returns", close=close)
    return _log_returns_nb(x)


# ------------------------------------------------------------ rolling volatility


@njit(cache=True, error_model="numpy")
def _volatility_scale(timeperiod, ddof, periods_per_year):
    return periods_per_year * timeperiod / (timeperiod - ddof)


@njit(cache=True, error_model="numpy")
def _rolling_volatility_init(state, base, timeperiod, ddof, periods_per_year):
    require_period("rolling_volatility", "timeperiod", timeperiod, 2)
    if ddof < 0 or ddof >= timeperiod:
        raise ValueError("rolling_volatility ddof must be in [0, timeperiod - 1]")
    state[base + _VOL_PREV] = np.nan
    state[base + _VOL_SCALE] = _volatility_scale(timeperiod, ddof, periods_per_year)
    state[base + _VOL_OUT] = np.nan
    _mw_init(state, base + _VOL_WINDOW, timeperiod)
    state[base + _VOL_HEADER : base + _VOL_HEADER + timeperiod] = 0.0


@njit(cache=True, error_model="numpy", inline="always")
def _rolling_volatility_tick(state, base, close):
    if not close > 0.0:
        return state[base + _VOL_OUT]
    prev = state[base + _VOL_PREV]
    state[base + _VOL_PREV] = close
    if math.isnan(prev):
        return state[base + _VOL_OUT]
    _mean, variance = _mw_tick(
        state, base + _VOL_WINDOW, base + _VOL_HEADER, _log_return(prev, close)
    )
    if not math.isnan(variance):
        state[base + _VOL_OUT] = math.sqrt(variance * state[base + _VOL_SCALE])
    return state[base + _VOL_OUT]


@njit(cache=True, error_model="numpy")
def _rolling_volatility_state_nb(timeperiod, ddof, periods_per_year):
    require_period("rolling_volatility", "timeperiod", timeperiod, 2)
    state = np.empty(_VOL_HEADER + timeperiod, dtype=np.float64)
    _rolling_volatility_init(state, 0, timeperiod, ddof, periods_per_year)
    return state


@njit(cache=True, error_model="numpy")
def rolling_volatility_update(state: np.ndarray, close: float) -> float:
    """Consume one price and return the volatility of the last window of log returns.

    Parameters
    ----------
    state : numpy.ndarray
        State from `rolling_volatility_state`, updated in place.
    close : float
        The next price. A price that is NaN or not positive is skipped.

    Returns
    -------
    float
        The standard deviation of the last ``timeperiod`` log returns (with
        ``ddof``), times ``sqrt(periods_per_year)``; NaN until
        ``timeperiod + 1`` valid prices have been seen.
    """
    return _rolling_volatility_tick(state, 0, close)


@njit(cache=True, error_model="numpy")
def _rolling_volatility_nb(close, timeperiod, ddof, periods_per_year):
    require_period("rolling_volatility", "timeperiod", timeperiod, 2)
    scale = _volatility_scale(timeperiod, ddof, periods_per_year)
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
    prev = np.nan
    value = np.nan
    for i in range(n):
        x = close[i]
        if x > 0.0:
            if not math.isnan(prev):
                count, pos, total, shift, s1, s2, countdown, variance = _mw_push(
                    ring,
                    0,
                    timeperiod,
                    inv_period,
                    count,
                    pos,
                    total,
                    shift,
                    s1,
                    s2,
                    countdown,
                    _log_return(prev, x),
                )
                if not math.isnan(variance):
                    value = math.sqrt(variance * scale)
            prev = x
        out[i] = value
    return out


def _check_volatility(timeperiod: object, ddof: object, periods_per_year: object) -> tuple:
    period = check_period("rolling_volatility", "timeperiod", timeperiod, 2)
    return (
        period,
        check_integer("rolling_volatility", "ddof", ddof, 0, period - 1),
        check_real("rolling_volatility", "periods_per_year", periods_per_year, positive=True),
    )


def rolling_volatility_state(
    timeperiod: int = 20, ddof: int = 1, periods_per_year: float = 1.0
) -> np.ndarray:
    """Allocate the state for a streaming rolling volatility.

    Parameters
    ----------
    timeperiod : int, default 20
        Number of log returns in the window, in [2, 100000].
    ddof : int, default 1
        Delta degrees of freedom of the standard deviation, in
        [0, timeperiod - 1]: 1 is the sample estimator, 0 the population one.
    periods_per_year : float, default 1.0
        Annualization: the output is multiplied by ``sqrt(periods_per_year)``
        (252 for daily bars of a stock, 365 for daily crypto bars); 1.0 gives
        the per-period volatility.

    Returns
    -------
    numpy.ndarray
        A fresh float64 state array to pass to `rolling_volatility_update`.

    Raises
    ------
    ValueError
        If a parameter is out of its range.
    """
    return _rolling_volatility_state_nb(*_check_volatility(timeperiod, ddof, periods_per_year))


def rolling_volatility(
    close: np.ndarray, timeperiod: int = 20, ddof: int = 1, periods_per_year: float = 1.0
) -> np.ndarray:
    """Compute the rolling standard deviation of log returns, optionally annualized.

    Parameters
    ----------
    close : numpy.ndarray
        1-D float64 price series. NaN and non-positive prices are skipped.
    timeperiod : int, default 20
        Number of log returns in the window, in [2, 100000].
    ddof : int, default 1
        Delta degrees of freedom, in [0, timeperiod - 1] (1: sample standard
        deviation, as ``pandas.Series.rolling(...).std()``).
    periods_per_year : float, default 1.0
        The output is multiplied by ``sqrt(periods_per_year)``.

    Returns
    -------
    numpy.ndarray
        float64 array of ``len(close)``; NaN for the first ``timeperiod``
        prices (``timeperiod`` returns need ``timeperiod + 1`` prices). Equals
        ``numpy.std(log_returns(close)[i - timeperiod + 1 : i + 1], ddof=ddof)
        * sqrt(periods_per_year)`` within 1e-9 relative.

    Raises
    ------
    ValueError
        If `close` is not a 1-D float64 array or a parameter is out of range.
    """
    (x,) = check_series("rolling_volatility", close=close)
    return _rolling_volatility_nb(x, *_check_volatility(timeperiod, ddof, periods_per_year))


# ------------------------------------------------------------------------ z-score


@njit(cache=True, error_model="numpy", inline="always")
def _zscore_value(x, mean, variance):
    if variance > 0.0:
        return (x - mean) / math.sqrt(variance)
    return 0.0  # a flat window: the value is its mean


@njit(cache=True, error_model="numpy")
def _zscore_state_nb(timeperiod):
    require_period("zscore", "timeperiod", timeperiod, 2)
    state = np.zeros(_Z_HEADER + timeperiod, dtype=np.float64)
    _mw_init(state, 0, timeperiod)
    state[_Z_OUT] = np.nan
    return state


@njit(cache=True, error_model="numpy")
def zscore_update(state: np.ndarray, x: float) -> float:
    """Consume one value and return its z-score in the window.

    Parameters
    ----------
    state : numpy.ndarray
        State from `zscore_state`, updated in place.
    x : float
        The next value. NaN is skipped: the state is left unchanged.

    Returns
    -------
    float
        ``(x - mean) / std`` over the last ``timeperiod`` finite values
        (population standard deviation, 0.0 for a flat window); NaN until that
        many have been seen.
    """
    if not math.isnan(x):
        mean, variance = _mw_tick(state, 0, _Z_HEADER, x)
        if not math.isnan(variance):
            state[_Z_OUT] = _zscore_value(x, mean, variance)
    return state[_Z_OUT]


@njit(cache=True, error_model="numpy")
def _zscore_nb(close, timeperiod):
    require_period("zscore", "timeperiod", timeperiod, 2)
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
                value = _zscore_value(x, total * inv_period, variance)
        out[i] = value
    return out


def zscore_state(timeperiod: int = 20) -> np.ndarray:
    """Allocate the state for a streaming z-score.

    Parameters
    ----------
    timeperiod : int, default 20
        Window length, in [2, 100000].

    Returns
    -------
    numpy.ndarray
        A fresh float64 state array (header and a ring of `timeperiod` values)
        to pass to `zscore_update`.

    Raises
    ------
    ValueError
        If `timeperiod` is not an integer in [2, 100000].
    """
    return _zscore_state_nb(check_period("zscore", "timeperiod", timeperiod, 2))


def zscore(close: np.ndarray, timeperiod: int = 20) -> np.ndarray:
    """Compute how many standard deviations each value sits from its window's mean.

    Parameters
    ----------
    close : numpy.ndarray
        1-D float64 input series.
    timeperiod : int, default 20
        Window length (the value itself included), in [2, 100000].

    Returns
    -------
    numpy.ndarray
        float64 array of ``len(close)``; NaN for the first ``timeperiod - 1``
        values; 0.0 where the window is flat. Equals
        ``(close - talib.SMA(close, timeperiod)) / talib.STDDEV(close,
        timeperiod)`` (population standard deviation) within 1e-9.

    Raises
    ------
    ValueError
        If `close` is not a 1-D float64 array or `timeperiod` is out of range.

    Examples
    --------
    >>> import numpy as np
    >>> zscore(np.array([1.0, 3.0, 3.0, 3.0]), timeperiod=2)
    array([nan,  1.,  0.,  0.])
    """
    (x,) = check_series("zscore", close=close)
    return _zscore_nb(x, check_period("zscore", "timeperiod", timeperiod, 2))
