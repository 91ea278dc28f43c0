"""The per-symbol indicator set: every configured indicator updated by one compiled call.

One ``indicator_set_update(state, price, high, low, close, volume)`` per tick
refreshes the fast and slow EMA, RSI, Bollinger Bands, ATR, session VWAP and
rolling volatility of a symbol, whose outputs sit at the ``IS_*`` offsets of
the state array. A Python-to-njit call costs more than the arithmetic of all
seven indicators, so there is one call per tick, not one per indicator. Each
output is bitwise equal to the batch kernel run over the same inputs.
"""

import numpy as np
from numba import njit

from kernels._atr import _ATR_SIZE, _atr_init, _atr_tick
from kernels._common import check_integer, check_period, check_real, check_series
from kernels._ma import _EMA_SIZE, _ema_init, _ema_tick
from kernels._momentum import _RSI_SIZE, _rsi_init, _rsi_tick
from kernels._statistics import (
    _VOL_HEADER,
    _rolling_volatility_init,
    _rolling_volatility_tick,
)
from kernels._volatility import _MW_HEADER, _bbands_tick, _mw_init
from kernels._volume import _VWAP_SIZE, _vwap_init, _vwap_tick

__all__ = [
    "IS_ATR",
    "IS_BB_LOWER",
    "IS_BB_MIDDLE",
    "IS_BB_UPPER",
    "IS_COUNT",
    "IS_EMA_FAST",
    "IS_EMA_SLOW",
    "IS_RSI",
    "IS_SIZE",
    "IS_VOLATILITY",
    "IS_VWAP",
    "indicator_set",
    "indicator_set_reset_vwap",
    "indicator_set_state",
    "indicator_set_update",
]

#: Offset of ``ema(price, fast)`` in an indicator-set state (NaN during warm-up).
IS_EMA_FAST = 0
#: Offset of ``ema(price, slow)``.
IS_EMA_SLOW = 1
#: Offset of ``rsi(price, rsi_period)``.
IS_RSI = 2
#: Offset of the upper band of ``bbands(price, bb_period, bb_nbdev, bb_nbdev)``.
IS_BB_UPPER = 3
#: Offset of the middle band (the SMA of ``bb_period`` prices).
IS_BB_MIDDLE = 4
#: Offset of the lower band.
IS_BB_LOWER = 5
#: Offset of ``atr(high, low, close, atr_period)``.
IS_ATR = 6
#: Offset of the session ``vwap(price, volume)`` (reset by `indicator_set_reset_vwap`).
IS_VWAP = 7
#: Offset of ``rolling_volatility(price, vol_window, vol_ddof, vol_periods_per_year)``.
IS_VOLATILITY = 8
#: Offset of the number of ticks consumed, NaN ticks included.
IS_COUNT = 9
#: Number of outputs: ``state[:IS_SIZE]`` are the outputs, columns of `indicator_set`.
IS_SIZE = 10

_IS_BB_NBDEV = IS_SIZE
_IS_VOL_BASE = IS_SIZE + 1  # offset of the volatility block, after the BB ring
_IS_HEADER = IS_SIZE + 2
_IS_FAST = _IS_HEADER
_IS_SLOW = _IS_FAST + _EMA_SIZE
_IS_RSI = _IS_SLOW + _EMA_SIZE
_IS_ATR = _IS_RSI + _RSI_SIZE
_IS_VWAP = _IS_ATR + _ATR_SIZE
_IS_BB = _IS_VWAP + _VWAP_SIZE  # moving window, then its ring
_IS_BB_RING = _IS_BB + _MW_HEADER


@njit(cache=True, error_model="numpy")
def _indicator_set_state_nb(
    fast, slow, rsi_period, bb_period, bb_nbdev, atr_period, vol_window, vol_ddof, vol_ppy
):
    vol_base = _IS_BB_RING + bb_period
    state = np.zeros(vol_base + _VOL_HEADER + vol_window, dtype=np.float64)
    state[:IS_SIZE] = np.nan
    state[IS_COUNT] = 0.0
    state[_IS_BB_NBDEV] = bb_nbdev
    state[_IS_VOL_BASE] = vol_base
    _ema_init(state, _IS_FAST, fast)
    _ema_init(state, _IS_SLOW, slow)
    _rsi_init(state, _IS_RSI, rsi_period)
    _atr_init(state, _IS_ATR, atr_period)
    _vwap_init(state, _IS_VWAP)
    _mw_init(state, _IS_BB, bb_period)
    _rolling_volatility_init(state, vol_base, vol_window, vol_ddof, vol_ppy)
    return state


@njit(cache=True, error_model="numpy", inline="always")
def _indicator_set_tick(state, price, high, low, close, volume):
    state[IS_COUNT] += 1.0
    state[IS_EMA_FAST] = _ema_tick(state, _IS_FAST, price)
    state[IS_EMA_SLOW] = _ema_tick(state, _IS_SLOW, price)
    state[IS_RSI] = _rsi_tick(state, _IS_RSI, price)
    nbdev = state[_IS_BB_NBDEV]
    _bbands_tick(state, _IS_BB, _IS_BB_RING, nbdev, nbdev, price, IS_BB_UPPER)
    state[IS_ATR] = _atr_tick(state, _IS_ATR, high, low, close, False)
    state[IS_VWAP] = _vwap_tick(state, _IS_VWAP, price, volume)
    state[IS_VOLATILITY] = _rolling_volatility_tick(state, int(state[_IS_VOL_BASE]), price)


@njit(cache=True, error_model="numpy")
def indicator_set_update(
    state: np.ndarray, price: float, high: float, low: float, close: float, volume: float
) -> None:
    """Consume one tick or bar and refresh every indicator of the set in place.

    Parameters
    ----------
    state : numpy.ndarray
        State from `indicator_set_state`; outputs at ``state[IS_*]``.
    price : float
        The traded price: drives the EMAs, RSI, Bollinger Bands, rolling
        volatility and (weighted by `volume`) the VWAP. For bars, the close
        (or a typical price).
    high, low, close : float
        The bar for the ATR. For a single trade pass ``price`` three times.
    volume : float
        The traded volume, for the VWAP.

    Notes
    -----
    Each indicator applies its own NaN policy: a NaN `price` is skipped by
    the price-driven indicators, a NaN in `high`, `low` or `close` by the ATR
    and a NaN `volume` by the VWAP; skipped indicators keep their last value.
    ``state[IS_COUNT]`` counts every call.

    Examples
    --------
    >>> state = indicator_set_state(fast=2, slow=3, rsi_period=2, bb_period=2,
    ...                             atr_period=2, vol_window=2)
    >>> for price in (10.0, 11.0, 12.0):
    ...     indicator_set_update(state, price, price + 0.5, price - 0.5, price, 1.0)
    >>> state[[IS_EMA_FAST, IS_EMA_SLOW, IS_RSI, IS_BB_MIDDLE, IS_ATR, IS_VWAP]].tolist()
    [11.5, 11.0, 100.0, 11.5, 1.5, 11.0]
    """
    _indicator_set_tick(state, price, high, low, close, volume)


@njit(cache=True, error_model="numpy")
def indicator_set_reset_vwap(state: np.ndarray) -> None:
    """Start a new VWAP session (say at the exchange's daily open); nothing else changes.

    Parameters
    ----------
    state : numpy.ndarray
        State from `indicator_set_state`, updated in place; ``state[IS_VWAP]``
        is NaN until the next tick with positive volume.
    """
    _vwap_init(state, _IS_VWAP)
    state[IS_VWAP] = np.nan


@njit(cache=True, error_model="numpy")
def _indicator_set_nb(state, price, high, low, close, volume, session_start):
    n = price.shape[0]
    resets = session_start.shape[0] > 0
    out = np.empty((n, IS_SIZE), dtype=np.float64)
    for i in range(n):
        if resets and session_start[i]:
            indicator_set_reset_vwap(state)
        _indicator_set_tick(state, price[i], high[i], low[i], close[i], volume[i])
        for k in range(IS_SIZE):
            out[i, k] = state[k]
    return out


def _check_set(
    fast: object,
    slow: object,
    rsi_period: object,
    bb_period: object,
    bb_nbdev: object,
    atr_period: object,
    vol_window: object,
    vol_ddof: object,
    vol_periods_per_year: object,
) -> tuple:
    window = check_period("indicator_set", "vol_window", vol_window, 2)
    return (
        check_period("indicator_set", "fast", fast, 1),
        check_period("indicator_set", "slow", slow, 1),
        check_period("indicator_set", "rsi_period", rsi_period, 2),
        check_period("indicator_set", "bb_period", bb_period, 2),
        check_real("indicator_set", "bb_nbdev", bb_nbdev),
        check_period("indicator_set", "atr_period", atr_period, 1),
        window,
        check_integer("indicator_set", "vol_ddof", vol_ddof, 0, window - 1),
        check_real("indicator_set", "vol_periods_per_year", vol_periods_per_year, positive=True),
    )


def indicator_set_state(
    fast: int = 12,
    slow: int = 26,
    rsi_period: int = 14,
    bb_period: int = 20,
    bb_nbdev: float = 2.0,
    atr_period: int = 14,
    vol_window: int = 20,
    vol_ddof: int = 1,
    vol_periods_per_year: float = 1.0,
) -> np.ndarray:
    """Allocate the state of one symbol's indicator set.

    Parameters
    ----------
    fast : int, default 12
        Fast EMA period, in [1, 100000].
    slow : int, default 26
        Slow EMA period, in [1, 100000].
    rsi_period : int, default 14
        RSI period, in [2, 100000].
    bb_period : int, default 20
        Bollinger Bands window, in [2, 100000].
    bb_nbdev : float, default 2.0
        Standard deviations of both bands.
    atr_period : int, default 14
        ATR period, in [1, 100000].
    vol_window : int, default 20
        Log returns in the rolling-volatility window, in [2, 100000].
    vol_ddof : int, default 1
        Its delta degrees of freedom, in [0, vol_window - 1].
    vol_periods_per_year : float, default 1.0
        Its annualization (``sqrt(vol_periods_per_year)`` factor).

    Returns
    -------
    numpy.ndarray
        A fresh float64 state array for `indicator_set_update`: outputs at the
        ``IS_*`` offsets (NaN until each has warmed up; ``IS_COUNT`` 0.0),
        then the indicators' own states and rings.

    Raises
    ------
    ValueError
        If a parameter is not in its range.
    """
    return _indicator_set_state_nb(
        *_check_set(
            fast,
            slow,
            rsi_period,
            bb_period,
            bb_nbdev,
            atr_period,
            vol_window,
            vol_ddof,
            vol_periods_per_year,
        )
    )


def indicator_set(
    price: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    volume: np.ndarray,
    session_start: np.ndarray | None = None,
    **parameters: object,
) -> np.ndarray:
    """Run the indicator set over whole series (a backtest's view of the per-tick call).

    Parameters
    ----------
    price, high, low, close, volume : numpy.ndarray
        1-D float64 series of equal length, as passed to `indicator_set_update`.
    session_start : numpy.ndarray of bool, optional
        True where a VWAP session starts (`indicator_set_reset_vwap` before
        that element).
    **parameters
        Keyword arguments of `indicator_set_state`.

    Returns
    -------
    numpy.ndarray
        float64 array of shape ``(len(price), IS_SIZE)``: row ``i`` is
        ``state[:IS_SIZE]`` after the ``i``-th update, columns at the ``IS_*``
        offsets.

    Raises
    ------
    ValueError
        If an input is not a 1-D float64 array, the lengths differ or a
        parameter is out of range.
    """
    p, h, lo, c, v = check_series(
        "indicator_set", price=price, high=high, low=low, close=close, volume=volume
    )
    if session_start is None:
        starts = np.zeros(0, dtype=np.bool_)
    elif (
        not isinstance(session_start, np.ndarray)
        or session_start.dtype != np.bool_
        or session_start.shape != p.shape
    ):
        raise ValueError(
            f"indicator_set session_start must be a bool array of shape {p.shape}, "
            f"was {session_start!r:.80}"
        )
    else:
        starts = np.ascontiguousarray(session_start)
    return _indicator_set_nb(indicator_set_state(**parameters), p, h, lo, c, v, starts)
