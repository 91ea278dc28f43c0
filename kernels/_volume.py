"""Volume indicators: OBV and the session VWAP, batch and streaming (see ``kernels.indicators``)."""

import math

import numpy as np
from numba import njit

from kernels._common import check_series, fma

__all__ = [
    "obv",
    "obv_state",
    "obv_update",
    "vwap",
    "vwap_reset",
    "vwap_state",
    "vwap_update",
]

# OBV state layout.
_OBV_PREV = 0  # last valid close (NaN before the first)
_OBV_VALUE = 1  # current output
_OBV_SIZE = 2

# VWAP state layout (also embedded in the indicator-set state).
_VWAP_PRICE_VOLUME = 0  # sum of price * volume since the session start
_VWAP_VOLUME = 1  # sum of volume since the session start
_VWAP_VALUE = 2  # current output
_VWAP_SIZE = 3


# --------------------------------------------------------------------------- OBV


@njit(cache=True, error_model="numpy", inline="always")
def _obv_step(value, prev, close, volume):
    # Branch-free (selects, not jumps: a random walk mispredicts half the
    # branches TA-Lib takes); adding -volume is subtracting volume exactly.
    delta = volume if close > prev else 0.0
    delta = -volume if close < prev else delta
    return value + delta


@njit(cache=True, error_model="numpy")
def _obv_state_nb():
    state = np.empty(_OBV_SIZE, dtype=np.float64)
    state[_OBV_PREV] = np.nan
    state[_OBV_VALUE] = np.nan
    return state


@njit(cache=True, error_model="numpy")
def obv_update(state: np.ndarray, close: float, volume: float) -> float:
    """Consume one bar and return the on-balance volume.

    Parameters
    ----------
    state : numpy.ndarray
        State from `obv_state`, updated in place.
    close, volume : float
        The bar. A bar with a NaN is skipped: the state is left unchanged.

    Returns
    -------
    float
        The first bar's volume, then plus (minus) each bar's volume when the
        close rose (fell); NaN before the first valid bar.
    """
    if math.isnan(close) or math.isnan(volume):
        return state[_OBV_VALUE]
    prev = state[_OBV_PREV]
    value = volume if math.isnan(prev) else _obv_step(state[_OBV_VALUE], prev, close, volume)
    state[_OBV_PREV] = close
    state[_OBV_VALUE] = value
    return value


@njit(cache=True, error_model="numpy")
def _obv_nb(close, volume):
    n = close.shape[0]
    out = np.empty(n, dtype=np.float64)
    i = 0
    while i < n and (math.isnan(close[i]) or math.isnan(volume[i])):
        out[i] = np.nan
        i += 1
    if i == n:
        return out
    prev = close[i]
    value = volume[i]
    out[i] = value
    for j in range(i + 1, n):
        c = close[j]
        v = volume[j]
        if not (math.isnan(c) or math.isnan(v)):
            value = _obv_step(value, prev, c, v)
            prev = c
        out[j] = value
    return out


def obv_state() -> np.ndarray:
    """Allocate the state for a streaming on-balance volume.

    Returns
    -------
    numpy.ndarray
        A fresh float64 state array to pass to `obv_update`.
    """
    return _obv_state_nb()


def obv(close: np.ndarray, volume: np.ndarray) -> np.ndarray:
    """Compute the on-balance volume.

    Parameters
    ----------
    close, volume : numpy.ndarray
        1-D float64 series of equal length.

    Returns
    -------
    numpy.ndarray
        float64 array of ``len(close)``, starting at the first bar's volume
        (no warm-up). Matches ``talib.OBV(close, volume)``.

    Raises
    ------
    ValueError
        If an input is not a 1-D float64 array or the lengths differ.

    Examples
    --------
    >>> import numpy as np
    >>> obv(np.array([1.0, 2.0, 2.0, 1.0]), np.array([10.0, 20.0, 30.0, 40.0]))
    array([ 10.,  30.,  30., -10.])
    """
    c, v = check_series("obv", close=close, volume=volume)
    return _obv_nb(c, v)


# -------------------------------------------------------------------------- VWAP


@njit(cache=True, error_model="numpy", inline="always")
def _vwap_step(price_volume, total_volume, price, volume):
    price_volume = fma(price, volume, price_volume)
    total_volume += volume
    value = price_volume / total_volume if total_volume > 0.0 else np.nan
    return price_volume, total_volume, value


@njit(cache=True, error_model="numpy")
def _vwap_init(state, base):
    state[base + _VWAP_PRICE_VOLUME] = 0.0
    state[base + _VWAP_VOLUME] = 0.0
    state[base + _VWAP_VALUE] = np.nan


@njit(cache=True, error_model="numpy", inline="always")
def _vwap_tick(state, base, price, volume):
    if math.isnan(price) or math.isnan(volume):
        return state[base + _VWAP_VALUE]
    price_volume, total_volume, value = _vwap_step(
        state[base + _VWAP_PRICE_VOLUME], state[base + _VWAP_VOLUME], price, volume
    )
    state[base + _VWAP_PRICE_VOLUME] = price_volume
    state[base + _VWAP_VOLUME] = total_volume
    state[base + _VWAP_VALUE] = value
    return value


@njit(cache=True, error_model="numpy")
def _vwap_state_nb():
    state = np.empty(_VWAP_SIZE, dtype=np.float64)
    _vwap_init(state, 0)
    return state


@njit(cache=True, error_model="numpy")
def vwap_update(state: np.ndarray, price: float, volume: float) -> float:
    """Consume one trade (or bar) and return the session VWAP.

    Parameters
    ----------
    state : numpy.ndarray
        State from `vwap_state`, updated in place.
    price, volume : float
        The trade price and size (for bars: a representative price such as
        ``(high + low + close) / 3``, and the bar's volume). A NaN in either
        is skipped: the state is left unchanged.

    Returns
    -------
    float
        ``sum(price * volume) / sum(volume)`` since the session start (the
        state's creation or the last `vwap_reset`); NaN while the summed
        volume is not positive.
    """
    return _vwap_tick(state, 0, price, volume)


@njit(cache=True, error_model="numpy")
def vwap_reset(state: np.ndarray) -> None:
    """Start a new session: forget every trade consumed so far.

    Parameters
    ----------
    state : numpy.ndarray
        State from `vwap_state`, reset in place.
    """
    _vwap_init(state, 0)


@njit(cache=True, error_model="numpy")
def _vwap_nb(price, volume, session_start):
    n = price.shape[0]
    resets = session_start.shape[0] > 0
    out = np.empty(n, dtype=np.float64)
    price_volume = 0.0
    total_volume = 0.0
    value = np.nan
    for i in range(n):
        if resets and session_start[i]:
            price_volume = 0.0
            total_volume = 0.0
            value = np.nan
        p = price[i]
        v = volume[i]
        if not (math.isnan(p) or math.isnan(v)):
            price_volume, total_volume, value = _vwap_step(price_volume, total_volume, p, v)
        out[i] = value
    return out


def vwap_state() -> np.ndarray:
    """Allocate the state for a streaming session VWAP.

    Returns
    -------
    numpy.ndarray
        A fresh float64 state array to pass to `vwap_update` and `vwap_reset`.
    """
    return _vwap_state_nb()


def vwap(
    price: np.ndarray, volume: np.ndarray, session_start: np.ndarray | None = None
) -> np.ndarray:
    """Compute the cumulative volume-weighted average price of each session.

    Parameters
    ----------
    price, volume : numpy.ndarray
        1-D float64 series of equal length: trade prices and sizes, or a
        representative bar price (e.g. ``(high + low + close) / 3``) and the
        bar volume. Volumes are expected to be non-negative.
    session_start : numpy.ndarray of bool, optional
        True where a new session starts (the sums restart before that
        element), as `vwap_reset` does in streaming. By default the whole
        series is one session.

    Returns
    -------
    numpy.ndarray
        float64 array of ``len(price)``: ``sum(price * volume) / sum(volume)``
        over the session so far; NaN while the session's volume is not
        positive. A NaN price or volume is skipped (the last value is held).

    Raises
    ------
    ValueError
        If an input is not a 1-D array of the right dtype or the lengths differ.

    Examples
    --------
    >>> import numpy as np
    >>> vwap(np.array([10.0, 20.0, 30.0]), np.array([1.0, 3.0, 2.0]))
    array([10.        , 17.5       , 21.66666667])
    """
    p, v = check_series("vwap", price=price, volume=volume)
    if session_start is None:
        starts = np.zeros(0, dtype=np.bool_)
    else:
        if not isinstance(session_start, np.ndarray) or session_start.dtype != np.bool_:
            raise ValueError(
                "vwap session_start must be a numpy.ndarray of bool, was "
                + (
                    str(session_start.dtype)
                    if isinstance(session_start, np.ndarray)
                    else type(session_start).__name__
                )
            )
        if session_start.shape != p.shape:
            raise ValueError(
                f"vwap session_start has shape {session_start.shape}, expected {p.shape} "
                "(the shape of price)"
            )
        starts = np.ascontiguousarray(session_start)
    return _vwap_nb(p, v, starts)
