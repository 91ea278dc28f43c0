"""TA-Lib-compatible oscillators over OHLC(V) bars: ADX, STOCH, WILLR, CCI and MFI.

Each indicator has a batch form (``adx(high, low, close, timeperiod=14)``), a
state constructor (``adx_state(timeperiod=14)``) and a streaming update
(``adx_update(state, high, low, close)``). The arithmetic lives once, in
inlined scalar functions: the streaming update and the batch loop run the same
step function (``_adx_step``), the batch keeping the state in registers, so
streaming output is bitwise equal to batch output. Once warmed up, the batch
WILLR runs its step's two halves (window extremes, then the %R arithmetic) as
two passes over chunks of 256 bars so that LLVM vectorizes the division: same
functions, same bits.

The batch functions and state constructors are thin Python wrappers that
validate their arguments and raise ``ValueError`` naming the bad one; the
compiled kernels behind them (``_adx_nb(high, low, close, timeperiod, out)``,
``_adx_state_nb(timeperiod)``, ...) and the ``*_update`` functions are
``@njit(cache=True)``, callable from other compiled code, and never raise: an
out-of-range period gives all-NaN output, and divisions follow NumPy's error
model. The batch kernels fill and return the output array(s) they are given,
which must not alias an input. The wrappers allocate them with NumPy, which
asks for transparent huge pages on big arrays where Numba's allocator does not:
4 KiB page faults on a fresh 8 MB output can cost as much as the indicator.
State is a flat float64 array; nothing allocates per tick.

Conventions
-----------
dtype
    Inputs are 1-D float64 arrays of equal length (batch) or floats
    (streaming); outputs are float64. Other dtypes, other dimensions and
    mismatched lengths are rejected, as TA-Lib rejects them.
Oracle
    ``talib.ADX``, ``talib.STOCH`` (``slowk_matype = slowd_matype = 0``, SMA),
    ``talib.WILLR``, ``talib.CCI`` and ``talib.MFI`` from TA-Lib 0.8 (the
    pinned 0.8.2 wheel) with its default compatibility and unstable period 0:
    the outputs are NaN exactly where TA-Lib's are and agree within 1e-9
    relative (absolute near zero) elsewhere, for inputs without interior NaNs.
    All five follow TA-Lib's order of operations, running sums and divisions
    included, and have matched it bit for bit. (ADX keeps TA-Lib's divisions
    on its Wilder chains: reciprocals are faster, but a long flat stretch
    drives the smoothed values into subnormals, where a last-bit difference
    becomes a different DX.)
Warm-up
    With no NaN input the first defined output is at index
    ``2 * timeperiod - 1`` (ADX: ``timeperiod - 1`` bars seed the +DM/-DM/TR
    sums, ``timeperiod`` more seed the mean DX), ``fastk_period + slowk_period
    + slowd_period - 3`` (STOCH), ``timeperiod - 1`` (WILLR, CCI) and
    ``timeperiod`` (MFI: it needs ``timeperiod`` typical-price changes). A
    series shorter than that is all NaN, as in TA-Lib.
NaN policy
    A bar with a NaN in any of its inputs is skipped: the state is left
    unchanged and the current output (NaN while still warming up) is returned
    again, in streaming and batch alike. Leading NaN bars therefore behave as
    in TA-Lib, which also skips them; after an interior NaN TA-Lib's outputs
    are NaN or garbage for a window, whereas here the last value is held and
    the window resumes with the next finite bar. Infinities are not
    special-cased.
Zero tests (TA-Lib's conventions)
    A range ``highest - lowest`` within 1e-14 of ``|highest| + |lowest|``
    makes STOCH's fast %K and WILLR 0.0; WILLR is clamped to [-100, 0] and
    fast %K is not clamped. CCI is 0.0 when ``typical - mean`` is within 1e-14
    of ``|typical|`` or the summed absolute deviation is within 1e-14 of
    ``timeperiod * |mean|``. MFI ignores a typical-price change within 1e-14 of
    the two prices' magnitudes, resets both sums to exactly 0.0 once a whole
    period has carried no money flow, clamps the positive share into [0, 100]
    and is 0.0 for a window without money flow. ADX skips a bar's DX when the
    smoothed true range is exactly 0 or +DI + -DI is below 1e-14, keeping the
    previous ADX.
Cost per tick
    O(1) amortized for ADX, STOCH, WILLR and MFI, whatever the period. Window
    extremes use van Herk/Gil-Werman blocks rather than monotonic deques: a
    running extreme of the current block of ``timeperiod`` bars and suffix
    extremes of the previous block, recomputed in place once per block
    (O(timeperiod) on that one tick). That is three branch-free comparisons per
    bar and extreme whatever the data, where a deque's pops are data-dependent
    branches: on the benchmark machine a monotonic-deque max and min over 1e6
    random-walk bars took 25 ms, these blocks 1.4 ms. Windowed sums
    are ring buffers with running sums, as TA-Lib keeps them. CCI is
    O(timeperiod) per tick, as in TA-Lib: the mean absolute deviation is taken
    around the current mean, so it is recomputed over the window (and the mean
    is summed over the window in TA-Lib's order, because ``typical - mean``
    cancels and a running sum's drift would show).

Examples
--------
>>> import numpy as np
>>> high = np.array([10.0, 11.0, 12.0, 11.5])
>>> low = np.array([9.0, 10.0, 11.0, 10.5])
>>> close = np.array([9.5, 10.5, 11.5, 11.0])
>>> willr(high, low, close, timeperiod=3)
array([         nan,          nan, -16.66666667, -50.        ])
>>> state = willr_state(timeperiod=3)
>>> [round(willr_update(state, h, lo, c), 6) for h, lo, c in zip(high, low, close)]
[nan, nan, -16.666667, -50.0]
"""

import math

import numpy as np
from numba import njit

from kernels._common import MAX_TIMEPERIOD as _MAX_PERIOD
from kernels._common import check_period as _check_period
from kernels._common import check_series as _check_series

__all__ = [
    "adx",
    "adx_state",
    "adx_update",
    "cci",
    "cci_state",
    "cci_update",
    "mfi",
    "mfi_state",
    "mfi_update",
    "stoch",
    "stoch_state",
    "stoch_update",
    "willr",
    "willr_state",
    "willr_update",
]

_EPSILON = 1e-14  # TA-Lib's TA_EPSILON, the width of its zero tests
_CCI_SCALE = 0.015  # Lambert's constant

# WILLR state layout: header, then the high and low block buffers.
_WR_PERIOD = 0
_WR_COUNT = 1  # finite bars consumed, saturating at the period
_WR_POS = 2  # position of the next bar in the current block
_WR_HIGH_PRE = 3  # highest high of the current block so far
_WR_LOW_PRE = 4  # lowest low of the current block so far
_WR_VALUE = 5  # current output
_WR_HEADER = 6

# STOCH state layout: header, then the block buffers and the two SMA rings.
_ST_FASTK = 0
_ST_SLOWK = 1
_ST_SLOWD = 2
_ST_COUNT = 3  # finite bars consumed, saturating at the lookback + 1
_ST_POS = 4
_ST_HIGH_PRE = 5
_ST_LOW_PRE = 6
_ST_K_POS = 7  # next slot of the fast %K ring (also its oldest value once full)
_ST_K_SUM = 8  # running sum of fast %K, TA-Lib's SMA periodTotal
_ST_D_POS = 9
_ST_D_SUM = 10
_ST_SLOWK_VALUE = 11
_ST_SLOWD_VALUE = 12
_ST_HEADER = 13

# CCI state layout: header, then the ring of typical prices in TA-Lib's slot order.
_CCI_PERIOD = 0
_CCI_COUNT = 1  # finite bars consumed, saturating at the period
_CCI_POS = 2
_CCI_VALUE = 3
_CCI_HEADER = 4

# MFI state layout: header, then the positive and negative money-flow rings.
_MFI_PERIOD = 0
_MFI_COUNT = 1  # finite bars consumed, saturating at the period + 1
_MFI_POS = 2
_MFI_PREV = 3  # previous typical price
_MFI_POS_SUM = 4
_MFI_NEG_SUM = 5
_MFI_NULL_RUN = 6  # consecutive bars without money flow, capped at the period
_MFI_VALUE = 7
_MFI_HEADER = 8

# ADX state layout (no buffers).
_ADX_PERIOD = 0
_ADX_COUNT = 1  # finite bars consumed, saturating at 2 * period
_ADX_PREV_HIGH = 2
_ADX_PREV_LOW = 3
_ADX_PREV_CLOSE = 4
_ADX_MINUS_DM = 5  # Wilder-smoothed -DM (a sum during the seed)
_ADX_PLUS_DM = 6
_ADX_TR = 7
_ADX_ADX = 8  # summed DX during the seed, then the ADX
_ADX_VALUE = 9
_ADX_SIZE = 10


# ------------------------------------------------------------------ validation


def _check_matype(indicator: str, name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value != 0:
        raise ValueError(
            f"{indicator} {name} must be 0 (SMA, the only moving average supported), was {value!r}"
        )


# ------------------------------------------------------------- shared helpers

# Buffer positions are unsigned so that Numba indexes without its negative-index
# wraparound (int64 mixed with uint64 promotes to float64, hence the constants).
_U0 = np.uint64(0)
_U1 = np.uint64(1)
_CHUNK = np.uint64(256)  # bars per two-pass chunk of the batch WILLR


@njit(cache=True, error_model="numpy", inline="always")
def _block_extremes(high_buf, low_buf, last, pos, high_pre, low_pre, high, low):
    # van Herk/Gil-Werman: at block position pos the window is the suffix
    # pos + 1.. of the previous block (its suffix extremes, kept in the buffers)
    # plus the prefix ..pos of the current block (high_pre/low_pre). Slot pos of
    # the previous block's suffixes is dead from now on, so it takes the raw bar.
    high_buf[pos] = high
    low_buf[pos] = low
    high_pre = high if high > high_pre else high_pre
    low_pre = low if low < low_pre else low_pre
    if pos == last:
        # The block is the window: turn it into suffix extremes for the next one,
        # carrying the running extremes in registers rather than re-reading them.
        suffix_high = high
        suffix_low = low
        k = last
        while k > _U0:
            k -= _U1
            x = high_buf[k]
            suffix_high = x if x > suffix_high else suffix_high
            high_buf[k] = suffix_high
            x = low_buf[k]
            suffix_low = x if x < suffix_low else suffix_low
            low_buf[k] = suffix_low
        return high_pre, low_pre, _U0, -np.inf, np.inf
    pos += _U1
    a = high_buf[pos]
    b = low_buf[pos]
    highest = a if a > high_pre else high_pre
    lowest = b if b < low_pre else low_pre
    return highest, lowest, pos, high_pre, low_pre


@njit(cache=True, error_model="numpy", inline="always")
def _is_range_zero(highest, lowest, spread):
    return abs(spread) <= _EPSILON * (abs(highest) + abs(lowest))


@njit(cache=True, inline="always")
def _invalid_period(timeperiod, minimum):
    return timeperiod < minimum or timeperiod > _MAX_PERIOD


# ------------------------------------------------------------------- WILLR


@njit(cache=True, error_model="numpy", inline="always")
def _willr_value(highest, lowest, close):
    spread = highest - lowest
    if _is_range_zero(highest, lowest, spread):
        return 0.0
    value = -100.0 * ((highest - close) / spread)
    value = -100.0 if value < -100.0 else value
    return 0.0 if value > 0.0 else value


@njit(cache=True, error_model="numpy", inline="always")
def _willr_step(
    high_buf, low_buf, period, count, pos, high_pre, low_pre, value, warming, high, low, close
):
    # warming is count < period; the batch passes a constant to drop the counting.
    if math.isnan(high) or math.isnan(low) or math.isnan(close):
        return count, pos, high_pre, low_pre, value
    highest, lowest, pos, high_pre, low_pre = _block_extremes(
        high_buf, low_buf, np.uint64(period - 1), pos, high_pre, low_pre, high, low
    )
    if warming:
        count += 1
        if count < period:
            return count, pos, high_pre, low_pre, value
    return count, pos, high_pre, low_pre, _willr_value(highest, lowest, close)


@njit(cache=True, error_model="numpy")
def _willr_state_nb(timeperiod):
    period = max(timeperiod, 1)
    state = np.empty(_WR_HEADER + 2 * period, dtype=np.float64)
    state[_WR_PERIOD] = period
    state[_WR_COUNT] = 0.0
    state[_WR_POS] = 0.0
    state[_WR_HIGH_PRE] = -np.inf
    state[_WR_LOW_PRE] = np.inf
    state[_WR_VALUE] = np.nan
    state[_WR_HEADER : _WR_HEADER + period] = -np.inf
    state[_WR_HEADER + period :] = np.inf
    return state


@njit(cache=True, error_model="numpy")
def willr_update(state: np.ndarray, high: float, low: float, close: float) -> float:
    """Consume one bar and return Williams' %R.

    Parameters
    ----------
    state : numpy.ndarray
        State from `willr_state`, updated in place.
    high, low, close : float
        The bar. A bar with a NaN is skipped: the state is left unchanged.

    Returns
    -------
    float
        %R in [-100, 0]; NaN until ``timeperiod`` finite bars have been seen.

    Examples
    --------
    >>> state = willr_state(2)
    >>> [willr_update(state, h, lo, c) for h, lo, c in [(2, 1, 1.5), (3, 2, 2.5), (3, 2, 2.5)]]
    [nan, -25.0, -50.0]
    """
    period = int(state[_WR_PERIOD])
    count = int(state[_WR_COUNT])
    count, pos, high_pre, low_pre, value = _willr_step(
        state[_WR_HEADER : _WR_HEADER + period],
        state[_WR_HEADER + period : _WR_HEADER + 2 * period],
        period,
        count,
        np.uint64(state[_WR_POS]),
        state[_WR_HIGH_PRE],
        state[_WR_LOW_PRE],
        state[_WR_VALUE],
        count < period,
        high,
        low,
        close,
    )
    state[_WR_COUNT] = count
    state[_WR_POS] = pos
    state[_WR_HIGH_PRE] = high_pre
    state[_WR_LOW_PRE] = low_pre
    state[_WR_VALUE] = value
    return value


@njit(cache=True, error_model="numpy")
def _willr_nb(high, low, close, timeperiod, out):
    n = close.shape[0]
    if _invalid_period(timeperiod, 2):
        out[:] = np.nan
        return out
    period = timeperiod
    state = _willr_state_nb(period)
    high_buf = state[_WR_HEADER : _WR_HEADER + period]
    low_buf = state[_WR_HEADER + period :]
    count = 0
    pos = _U0
    high_pre = -np.inf
    low_pre = np.inf
    value = np.nan
    i = 0
    while i < n and count < period:
        count, pos, high_pre, low_pre, value = _willr_step(
            high_buf, low_buf, period, count, pos, high_pre, low_pre, value, True,
            high[i], low[i], close[i],
        )  # fmt: skip
        out[i] = value
        i += 1
    # Warmed up: _willr_step split in two passes per chunk, the window extremes
    # bar by bar, then the %R arithmetic in a loop that LLVM vectorizes (its
    # division would otherwise dominate). Same functions, so the same bits.
    last = np.uint64(period - 1)
    highs = np.empty(_CHUNK, dtype=np.float64)
    lows = np.empty(_CHUNK, dtype=np.float64)
    highest = np.nan
    lowest = np.nan
    start = np.uint64(i)
    stop = np.uint64(n)
    while start < stop:
        end = min(start + _CHUNK, stop)
        # One vectorized scan per chunk keeps the NaN test out of the serial loop.
        skipped = False
        for j in range(start, end):
            skipped |= math.isnan(high[j]) | math.isnan(low[j]) | math.isnan(close[j])
        for j in range(start, end):
            h = high[j]
            lo = low[j]
            if not (skipped and (math.isnan(h) or math.isnan(lo) or math.isnan(close[j]))):
                highest, lowest, pos, high_pre, low_pre = _block_extremes(
                    high_buf, low_buf, last, pos, high_pre, low_pre, h, lo
                )
            highs[j - start] = highest
            lows[j - start] = lowest
        for k in range(end - start):
            out[start + k] = _willr_value(highs[k], lows[k], close[start + k])
        if skipped:
            # A skipped bar repeats the previous output (index >= period here).
            for j in range(start, end):
                if math.isnan(high[j]) or math.isnan(low[j]) or math.isnan(close[j]):
                    out[j] = out[j - _U1]
        start = end
    return out


def willr_state(timeperiod: int = 14) -> np.ndarray:
    """Allocate the state for a streaming Williams' %R.

    Parameters
    ----------
    timeperiod : int, default 14
        Window of the highest high and lowest low, in [2, 100000] as in TA-Lib.

    Returns
    -------
    numpy.ndarray
        A fresh float64 state array to pass to `willr_update`.

    Raises
    ------
    ValueError
        If `timeperiod` is not an integer in [2, 100000].
    """
    return _willr_state_nb(_check_period("willr", "timeperiod", timeperiod, 2))


def willr(high: np.ndarray, low: np.ndarray, close: np.ndarray, timeperiod: int = 14) -> np.ndarray:
    """Compute Williams' %R: where the close sits in the window's high-low range.

    ``-100 * (highest high - close) / (highest high - lowest low)`` over the
    last `timeperiod` bars, clamped into [-100, 0]; 0.0 for a zero range.

    Parameters
    ----------
    high, low, close : numpy.ndarray
        1-D float64 bar series of equal length.
    timeperiod : int, default 14
        Window length, in [2, 100000].

    Returns
    -------
    numpy.ndarray
        float64 array of ``len(close)``; NaN for the first ``timeperiod - 1``
        bars. Matches ``talib.WILLR(high, low, close, timeperiod)``.

    Raises
    ------
    ValueError
        If an input is not a 1-D float64 array, the lengths differ or
        `timeperiod` is out of range.
    """
    h, lo, c = _check_series("willr", high=high, low=low, close=close)
    period = _check_period("willr", "timeperiod", timeperiod, 2)
    return _willr_nb(h, lo, c, period, np.empty(c.shape[0]))


# ------------------------------------------------------------------- STOCH


@njit(cache=True, error_model="numpy", inline="always")
def _fastk_value(highest, lowest, close):
    spread = highest - lowest
    if _is_range_zero(highest, lowest, spread):
        return 0.0
    return 100.0 * ((close - lowest) / spread)


@njit(cache=True, error_model="numpy", inline="always")
def _stoch_step(
    high_buf, low_buf, k_buf, d_buf, fastk_period, slowk_period, slowd_period,
    count, pos, high_pre, low_pre, k_pos, k_sum, d_pos, d_sum, slowk, slowd,
    warming, high, low, close,
):  # fmt: skip
    # warming is count < fastk_period + slowk_period + slowd_period - 2.
    if math.isnan(high) or math.isnan(low) or math.isnan(close):
        return count, pos, high_pre, low_pre, k_pos, k_sum, d_pos, d_sum, slowk, slowd
    highest, lowest, pos, high_pre, low_pre = _block_extremes(
        high_buf, low_buf, np.uint64(fastk_period - 1), pos, high_pre, low_pre, high, low
    )
    if warming:
        count += 1
        if count < fastk_period:
            return count, pos, high_pre, low_pre, k_pos, k_sum, d_pos, d_sum, slowk, slowd
    # TA-Lib's SMA: add the newest value, divide, then drop the window's oldest,
    # which sits in the slot after the newest.
    fastk = _fastk_value(highest, lowest, close)
    k_sum += fastk
    k_buf[k_pos] = fastk
    k_pos += _U1
    if k_pos == np.uint64(slowk_period):
        k_pos = _U0
    if warming and count < fastk_period + slowk_period - 1:
        return count, pos, high_pre, low_pre, k_pos, k_sum, d_pos, d_sum, slowk, slowd
    k_mean = k_sum / slowk_period
    k_sum -= k_buf[k_pos]
    d_sum += k_mean
    d_buf[d_pos] = k_mean
    d_pos += _U1
    if d_pos == np.uint64(slowd_period):
        d_pos = _U0
    if warming and count < fastk_period + slowk_period + slowd_period - 2:
        return count, pos, high_pre, low_pre, k_pos, k_sum, d_pos, d_sum, slowk, slowd
    slowd = d_sum / slowd_period
    d_sum -= d_buf[d_pos]
    return count, pos, high_pre, low_pre, k_pos, k_sum, d_pos, d_sum, k_mean, slowd


@njit(cache=True, error_model="numpy")
def _stoch_state_nb(fastk_period, slowk_period, slowd_period):
    fastk_period = max(fastk_period, 1)
    slowk_period = max(slowk_period, 1)
    slowd_period = max(slowd_period, 1)
    state = np.zeros(_ST_HEADER + 2 * fastk_period + slowk_period + slowd_period)
    state[_ST_FASTK] = fastk_period
    state[_ST_SLOWK] = slowk_period
    state[_ST_SLOWD] = slowd_period
    state[_ST_HIGH_PRE] = -np.inf
    state[_ST_LOW_PRE] = np.inf
    state[_ST_SLOWK_VALUE] = np.nan
    state[_ST_SLOWD_VALUE] = np.nan
    low_start = _ST_HEADER + fastk_period
    state[_ST_HEADER:low_start] = -np.inf
    state[low_start : low_start + fastk_period] = np.inf
    return state


@njit(cache=True, error_model="numpy")
def stoch_update(state: np.ndarray, high: float, low: float, close: float) -> tuple[float, float]:
    """Consume one bar and return the slow stochastic (%K, %D).

    Parameters
    ----------
    state : numpy.ndarray
        State from `stoch_state`, updated in place.
    high, low, close : float
        The bar. A bar with a NaN is skipped: the state is left unchanged.

    Returns
    -------
    tuple of float
        ``(slowk, slowd)``; both NaN until ``fastk_period + slowk_period +
        slowd_period - 2`` finite bars have been seen.
    """
    fastk_period = int(state[_ST_FASTK])
    slowk_period = int(state[_ST_SLOWK])
    slowd_period = int(state[_ST_SLOWD])
    low_start = _ST_HEADER + fastk_period
    k_start = low_start + fastk_period
    d_start = k_start + slowk_period
    count = int(state[_ST_COUNT])
    count, pos, high_pre, low_pre, k_pos, k_sum, d_pos, d_sum, slowk, slowd = _stoch_step(
        state[_ST_HEADER:low_start],
        state[low_start:k_start],
        state[k_start:d_start],
        state[d_start : d_start + slowd_period],
        fastk_period,
        slowk_period,
        slowd_period,
        count,
        np.uint64(state[_ST_POS]),
        state[_ST_HIGH_PRE],
        state[_ST_LOW_PRE],
        np.uint64(state[_ST_K_POS]),
        state[_ST_K_SUM],
        np.uint64(state[_ST_D_POS]),
        state[_ST_D_SUM],
        state[_ST_SLOWK_VALUE],
        state[_ST_SLOWD_VALUE],
        count < fastk_period + slowk_period + slowd_period - 2,
        high,
        low,
        close,
    )
    state[_ST_COUNT] = count
    state[_ST_POS] = pos
    state[_ST_HIGH_PRE] = high_pre
    state[_ST_LOW_PRE] = low_pre
    state[_ST_K_POS] = k_pos
    state[_ST_K_SUM] = k_sum
    state[_ST_D_POS] = d_pos
    state[_ST_D_SUM] = d_sum
    state[_ST_SLOWK_VALUE] = slowk
    state[_ST_SLOWD_VALUE] = slowd
    return slowk, slowd


@njit(cache=True, error_model="numpy")
def _stoch_nb(high, low, close, fastk_period, slowk_period, slowd_period, out_k, out_d):
    n = close.shape[0]
    if (
        _invalid_period(fastk_period, 1)
        or _invalid_period(slowk_period, 1)
        or _invalid_period(slowd_period, 1)
    ):
        out_k[:] = np.nan
        out_d[:] = np.nan
        return out_k, out_d
    state = _stoch_state_nb(fastk_period, slowk_period, slowd_period)
    low_start = _ST_HEADER + fastk_period
    k_start = low_start + fastk_period
    d_start = k_start + slowk_period
    high_buf = state[_ST_HEADER:low_start]
    low_buf = state[low_start:k_start]
    k_buf = state[k_start:d_start]
    d_buf = state[d_start:]
    full = fastk_period + slowk_period + slowd_period - 2
    count = 0
    pos = _U0
    high_pre = -np.inf
    low_pre = np.inf
    k_pos = _U0
    k_sum = 0.0
    d_pos = _U0
    d_sum = 0.0
    slowk = np.nan
    slowd = np.nan
    i = 0
    while i < n and count < full:
        count, pos, high_pre, low_pre, k_pos, k_sum, d_pos, d_sum, slowk, slowd = _stoch_step(
            high_buf, low_buf, k_buf, d_buf, fastk_period, slowk_period, slowd_period,
            count, pos, high_pre, low_pre, k_pos, k_sum, d_pos, d_sum, slowk, slowd,
            True, high[i], low[i], close[i],
        )  # fmt: skip
        out_k[i] = slowk
        out_d[i] = slowd
        i += 1
    for j in range(np.uint64(i), np.uint64(n)):
        count, pos, high_pre, low_pre, k_pos, k_sum, d_pos, d_sum, slowk, slowd = _stoch_step(
            high_buf, low_buf, k_buf, d_buf, fastk_period, slowk_period, slowd_period,
            count, pos, high_pre, low_pre, k_pos, k_sum, d_pos, d_sum, slowk, slowd,
            False, high[j], low[j], close[j],
        )  # fmt: skip
        out_k[j] = slowk
        out_d[j] = slowd
    return out_k, out_d


def _check_stoch_parameters(
    fastk_period: object,
    slowk_period: object,
    slowk_matype: object,
    slowd_period: object,
    slowd_matype: object,
) -> tuple[int, int, int]:
    fastk = _check_period("stoch", "fastk_period", fastk_period, 1)
    slowk = _check_period("stoch", "slowk_period", slowk_period, 1)
    _check_matype("stoch", "slowk_matype", slowk_matype)
    slowd = _check_period("stoch", "slowd_period", slowd_period, 1)
    _check_matype("stoch", "slowd_matype", slowd_matype)
    return fastk, slowk, slowd


def stoch_state(
    fastk_period: int = 5,
    slowk_period: int = 3,
    slowk_matype: int = 0,
    slowd_period: int = 3,
    slowd_matype: int = 0,
) -> np.ndarray:
    """Allocate the state for a streaming slow stochastic.

    Parameters
    ----------
    fastk_period : int, default 5
        Window of the highest high and lowest low, in [1, 100000].
    slowk_period : int, default 3
        SMA period smoothing fast %K into slow %K, in [1, 100000].
    slowk_matype : int, default 0
        Moving-average type of slow %K; only 0 (SMA) is supported.
    slowd_period : int, default 3
        SMA period smoothing slow %K into slow %D, in [1, 100000].
    slowd_matype : int, default 0
        Moving-average type of slow %D; only 0 (SMA) is supported.

    Returns
    -------
    numpy.ndarray
        A fresh float64 state array to pass to `stoch_update`.

    Raises
    ------
    ValueError
        If a period is out of range or a moving-average type is not 0.
    """
    periods = _check_stoch_parameters(
        fastk_period, slowk_period, slowk_matype, slowd_period, slowd_matype
    )
    return _stoch_state_nb(*periods)


def stoch(
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    fastk_period: int = 5,
    slowk_period: int = 3,
    slowk_matype: int = 0,
    slowd_period: int = 3,
    slowd_matype: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Compute the slow stochastic oscillator (%K, %D).

    Fast %K is ``100 * (close - lowest low) / (highest high - lowest low)``
    over `fastk_period` bars (0.0 for a zero range); slow %K is its SMA over
    `slowk_period` and slow %D the SMA of slow %K over `slowd_period`. The
    parameters are TA-Lib's, in TA-Lib's order, so positional calls port as is.

    Parameters
    ----------
    high, low, close : numpy.ndarray
        1-D float64 bar series of equal length.
    fastk_period : int, default 5
        Window of the highest high and lowest low, in [1, 100000].
    slowk_period : int, default 3
        SMA period of slow %K, in [1, 100000].
    slowk_matype : int, default 0
        Only 0 (SMA) is supported.
    slowd_period : int, default 3
        SMA period of slow %D, in [1, 100000].
    slowd_matype : int, default 0
        Only 0 (SMA) is supported.

    Returns
    -------
    tuple of numpy.ndarray
        ``(slowk, slowd)``, float64 arrays of ``len(close)``; NaN for the first
        ``fastk_period + slowk_period + slowd_period - 3`` bars. Matches
        ``talib.STOCH(high, low, close, fastk_period, slowk_period, 0,
        slowd_period, 0)``.

    Raises
    ------
    ValueError
        If an input is not a 1-D float64 array, the lengths differ, a period is
        out of range or a moving-average type is not 0.
    """
    h, lo, c = _check_series("stoch", high=high, low=low, close=close)
    periods = _check_stoch_parameters(
        fastk_period, slowk_period, slowk_matype, slowd_period, slowd_matype
    )
    return _stoch_nb(h, lo, c, *periods, np.empty(c.shape[0]), np.empty(c.shape[0]))


# --------------------------------------------------------------------- CCI


@njit(cache=True, error_model="numpy", inline="always")
def _cci_value(typical, mean, deviation, period):
    distance = typical - mean
    if abs(distance) <= _EPSILON * abs(typical) or deviation <= _EPSILON * (period * abs(mean)):
        return 0.0
    return distance / (_CCI_SCALE * (deviation / period))


@njit(cache=True, error_model="numpy", inline="always")
def _cci_step(ring, period, count, pos, value, warming, high, low, close):
    # warming is count < period.
    if math.isnan(high) or math.isnan(low) or math.isnan(close):
        return count, pos, value
    typical = (high + low + close) / 3.0
    ring[pos] = typical
    pos += _U1
    if pos == np.uint64(period):
        pos = _U0
    if warming:
        count += 1
        if count < period:
            return count, pos, value
    # Sum in ring-slot order, as TA-Lib does: the mean is then TA-Lib's to the bit,
    # which matters because typical - mean cancels.
    total = 0.0
    for j in range(period):
        total += ring[j]
    mean = total / period
    deviation = 0.0
    for j in range(period):
        deviation += abs(ring[j] - mean)
    return count, pos, _cci_value(typical, mean, deviation, period)


@njit(cache=True, error_model="numpy")
def _cci_state_nb(timeperiod):
    period = max(timeperiod, 1)
    state = np.zeros(_CCI_HEADER + period, dtype=np.float64)
    state[_CCI_PERIOD] = period
    state[_CCI_VALUE] = np.nan
    return state


@njit(cache=True, error_model="numpy")
def cci_update(state: np.ndarray, high: float, low: float, close: float) -> float:
    """Consume one bar and return the commodity channel index.

    Parameters
    ----------
    state : numpy.ndarray
        State from `cci_state`, updated in place.
    high, low, close : float
        The bar. A bar with a NaN is skipped: the state is left unchanged.

    Returns
    -------
    float
        The CCI; NaN until ``timeperiod`` finite bars have been seen.
    """
    period = int(state[_CCI_PERIOD])
    count = int(state[_CCI_COUNT])
    count, pos, value = _cci_step(
        state[_CCI_HEADER : _CCI_HEADER + period],
        period,
        count,
        np.uint64(state[_CCI_POS]),
        state[_CCI_VALUE],
        count < period,
        high,
        low,
        close,
    )
    state[_CCI_COUNT] = count
    state[_CCI_POS] = pos
    state[_CCI_VALUE] = value
    return value


@njit(cache=True, error_model="numpy")
def _cci_nb(high, low, close, timeperiod, out):
    n = close.shape[0]
    if _invalid_period(timeperiod, 2):
        out[:] = np.nan
        return out
    period = timeperiod
    ring = _cci_state_nb(period)[_CCI_HEADER:]
    count = 0
    pos = _U0
    value = np.nan
    i = 0
    while i < n and count < period:
        count, pos, value = _cci_step(
            ring, period, count, pos, value, True, high[i], low[i], close[i]
        )
        out[i] = value
        i += 1
    for j in range(np.uint64(i), np.uint64(n)):
        count, pos, value = _cci_step(
            ring, period, count, pos, value, False, high[j], low[j], close[j]
        )
        out[j] = value
    return out


def cci_state(timeperiod: int = 14) -> np.ndarray:
    """Allocate the state for a streaming commodity channel index.

    Parameters
    ----------
    timeperiod : int, default 14
        Window length, in [2, 100000] as in TA-Lib.

    Returns
    -------
    numpy.ndarray
        A fresh float64 state array to pass to `cci_update`.

    Raises
    ------
    ValueError
        If `timeperiod` is not an integer in [2, 100000].
    """
    return _cci_state_nb(_check_period("cci", "timeperiod", timeperiod, 2))


def cci(high: np.ndarray, low: np.ndarray, close: np.ndarray, timeperiod: int = 14) -> np.ndarray:
    """Compute Lambert's commodity channel index.

    ``(typical - mean) / (0.015 * mean absolute deviation)`` of the typical
    price ``(high + low + close) / 3`` over the last `timeperiod` bars.

    Parameters
    ----------
    high, low, close : numpy.ndarray
        1-D float64 bar series of equal length.
    timeperiod : int, default 14
        Window length, in [2, 100000].

    Returns
    -------
    numpy.ndarray
        float64 array of ``len(close)``; NaN for the first ``timeperiod - 1``
        bars. Matches ``talib.CCI(high, low, close, timeperiod)``.

    Raises
    ------
    ValueError
        If an input is not a 1-D float64 array, the lengths differ or
        `timeperiod` is out of range.
    """
    h, lo, c = _check_series("cci", high=high, low=low, close=close)
    period = _check_period("cci", "timeperiod", timeperiod, 2)
    return _cci_nb(h, lo, c, period, np.empty(c.shape[0]))


# --------------------------------------------------------------------- MFI


@njit(cache=True, error_model="numpy", inline="always")
def _mfi_value(pos_sum, neg_sum):
    total = pos_sum + neg_sum
    if total <= 0.0:
        return 0.0
    # The running sums drift by a few ulps; clamp the share into [0, 100].
    positive = 0.0 if pos_sum < 0.0 else (total if pos_sum > total else pos_sum)
    return 100.0 * (positive / total)


@njit(cache=True, error_model="numpy", inline="always")
def _mfi_step(
    pos_buf, neg_buf, period, count, pos, prev, pos_sum, neg_sum, null_run, value,
    warming, high, low, close, volume,
):  # fmt: skip
    # warming is count <= period (the first bar only sets the previous price).
    if math.isnan(high) or math.isnan(low) or math.isnan(close) or math.isnan(volume):
        return count, pos, prev, pos_sum, neg_sum, null_run, value
    typical = (high + low + close) / 3.0
    if warming:
        count += 1
        if count == 1:
            return count, pos, typical, pos_sum, neg_sum, null_run, value
    # The rings start at 0.0, so this is an exact no-op until they are full.
    pos_sum -= pos_buf[pos]
    neg_sum -= neg_buf[pos]
    change = typical - prev
    scale = abs(typical) + abs(prev)
    flow = typical * volume
    if abs(change) <= _EPSILON * scale:
        flow = 0.0
    up = 0.0 if change < 0.0 else flow
    down = flow if change < 0.0 else 0.0
    pos_buf[pos] = up
    neg_buf[pos] = down
    pos_sum += up
    neg_sum += down
    null_run = null_run + 1 if flow == 0.0 else 0
    if null_run >= period:
        # A whole window without money flow: the sums are exactly zero, drop the drift.
        null_run = period
        pos_sum = 0.0
        neg_sum = 0.0
    pos += _U1
    if pos == np.uint64(period):
        pos = _U0
    if warming and count <= period:
        return count, pos, typical, pos_sum, neg_sum, null_run, value
    return count, pos, typical, pos_sum, neg_sum, null_run, _mfi_value(pos_sum, neg_sum)


@njit(cache=True, error_model="numpy")
def _mfi_state_nb(timeperiod):
    period = max(timeperiod, 1)
    state = np.zeros(_MFI_HEADER + 2 * period, dtype=np.float64)
    state[_MFI_PERIOD] = period
    state[_MFI_PREV] = np.nan
    state[_MFI_VALUE] = np.nan
    return state


@njit(cache=True, error_model="numpy")
def mfi_update(state: np.ndarray, high: float, low: float, close: float, volume: float) -> float:
    """Consume one bar and return the money flow index.

    Parameters
    ----------
    state : numpy.ndarray
        State from `mfi_state`, updated in place.
    high, low, close, volume : float
        The bar. A bar with a NaN is skipped: the state is left unchanged.

    Returns
    -------
    float
        The MFI in [0, 100]; NaN until ``timeperiod + 1`` finite bars have been
        seen.
    """
    period = int(state[_MFI_PERIOD])
    count = int(state[_MFI_COUNT])
    count, pos, prev, pos_sum, neg_sum, null_run, value = _mfi_step(
        state[_MFI_HEADER : _MFI_HEADER + period],
        state[_MFI_HEADER + period : _MFI_HEADER + 2 * period],
        period,
        count,
        np.uint64(state[_MFI_POS]),
        state[_MFI_PREV],
        state[_MFI_POS_SUM],
        state[_MFI_NEG_SUM],
        int(state[_MFI_NULL_RUN]),
        state[_MFI_VALUE],
        count <= period,
        high,
        low,
        close,
        volume,
    )
    state[_MFI_COUNT] = count
    state[_MFI_POS] = pos
    state[_MFI_PREV] = prev
    state[_MFI_POS_SUM] = pos_sum
    state[_MFI_NEG_SUM] = neg_sum
    state[_MFI_NULL_RUN] = null_run
    state[_MFI_VALUE] = value
    return value


@njit(cache=True, error_model="numpy")
def _mfi_nb(high, low, close, volume, timeperiod, out):
    n = close.shape[0]
    if _invalid_period(timeperiod, 2):
        out[:] = np.nan
        return out
    period = timeperiod
    state = _mfi_state_nb(period)
    pos_buf = state[_MFI_HEADER : _MFI_HEADER + period]
    neg_buf = state[_MFI_HEADER + period :]
    count = 0
    pos = _U0
    prev = np.nan
    pos_sum = 0.0
    neg_sum = 0.0
    null_run = 0
    value = np.nan
    i = 0
    while i < n and count <= period:
        count, pos, prev, pos_sum, neg_sum, null_run, value = _mfi_step(
            pos_buf, neg_buf, period, count, pos, prev, pos_sum, neg_sum, null_run, value,
            True, high[i], low[i], close[i], volume[i],
        )  # fmt: skip
        out[i] = value
        i += 1
    for j in range(np.uint64(i), np.uint64(n)):
        count, pos, prev, pos_sum, neg_sum, null_run, value = _mfi_step(
            pos_buf, neg_buf, period, count, pos, prev, pos_sum, neg_sum, null_run, value,
            False, high[j], low[j], close[j], volume[j],
        )  # fmt: skip
        out[j] = value
    return out


def mfi_state(timeperiod: int = 14) -> np.ndarray:
    """Allocate the state for a streaming money flow index.

    Parameters
    ----------
    timeperiod : int, default 14
        Number of typical-price changes in the window, in [2, 100000] as in
        TA-Lib.

    Returns
    -------
    numpy.ndarray
        A fresh float64 state array to pass to `mfi_update`.

    Raises
    ------
    ValueError
        If `timeperiod` is not an integer in [2, 100000].
    """
    return _mfi_state_nb(_check_period("mfi", "timeperiod", timeperiod, 2))


def mfi(
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    volume: np.ndarray,
    timeperiod: int = 14,
) -> np.ndarray:
    """Compute the money flow index.

    The share of money flow (typical price ``(high + low + close) / 3`` times
    volume) on bars whose typical price rose, over the last `timeperiod`
    typical-price changes, in percent.

    Parameters
    ----------
    high, low, close, volume : numpy.ndarray
        1-D float64 bar series of equal length.
    timeperiod : int, default 14
        Window length, in [2, 100000].

    Returns
    -------
    numpy.ndarray
        float64 array of ``len(close)`` with values in [0, 100]; NaN for the
        first ``timeperiod`` bars. Matches ``talib.MFI(high, low, close,
        volume, timeperiod)``.

    Raises
    ------
    ValueError
        If an input is not a 1-D float64 array, the lengths differ or
        `timeperiod` is out of range.
    """
    h, lo, c, v = _check_series("mfi", high=high, low=low, close=close, volume=volume)
    period = _check_period("mfi", "timeperiod", timeperiod, 2)
    return _mfi_nb(h, lo, c, v, period, np.empty(c.shape[0]))


# --------------------------------------------------------------------- ADX


@njit(cache=True, error_model="numpy", inline="always")
def _adx_step(
    period, count, prev_high, prev_low, prev_close, minus_dm, plus_dm, tr, adx,
    value, warming, high, low, close,
):  # fmt: skip
    # warming is count < 2 * period.
    if math.isnan(high) or math.isnan(low) or math.isnan(close):
        return count, prev_high, prev_low, prev_close, minus_dm, plus_dm, tr, adx, value
    if warming:
        count += 1
        if count == 1:
            return count, high, low, close, minus_dm, plus_dm, tr, adx, value
    diff_plus = high - prev_high
    diff_minus = prev_low - low
    # One-bar directional movement by TA-Lib's rules: the larger outside move wins.
    dm_minus = diff_minus if diff_minus > 0.0 and diff_plus < diff_minus else 0.0
    dm_plus = diff_plus if diff_plus > 0.0 and diff_plus > diff_minus else 0.0
    true_range = high - low
    gap = abs(high - prev_close)
    true_range = gap if gap > true_range else true_range
    gap = abs(low - prev_close)
    true_range = gap if gap > true_range else true_range
    if warming and count <= period:
        # Seed: plain sums of timeperiod - 1 one-bar values.
        return (
            count, high, low, close, minus_dm + dm_minus, plus_dm + dm_plus, tr + true_range,
            adx, value,
        )  # fmt: skip
    # Wilder smoothing with TA-Lib's divisions. Multiplying by 1 / period instead
    # is faster but not exact, and after a long flat stretch the smoothed values
    # underflow into subnormals, where those last-bit differences become whole
    # points of DX.
    minus_dm = (minus_dm - minus_dm / period) + dm_minus
    plus_dm = (plus_dm - plus_dm / period) + dm_plus
    tr = (tr - tr / period) + true_range
    dx = -1.0
    if tr != 0.0:
        minus_di = 100.0 * (minus_dm / tr)
        plus_di = 100.0 * (plus_dm / tr)
        di_sum = minus_di + plus_di
        if not (-_EPSILON < di_sum < _EPSILON):
            dx = 100.0 * (abs(minus_di - plus_di) / di_sum)
    if warming:
        # Seed: the first ADX is the mean of timeperiod DX values.
        if dx >= 0.0:
            adx += dx
        if count < 2 * period:
            return count, high, low, close, minus_dm, plus_dm, tr, adx, value
        adx = adx / period
    elif dx >= 0.0:
        adx = (adx * (period - 1) + dx) / period
    return count, high, low, close, minus_dm, plus_dm, tr, adx, adx


@njit(cache=True, error_model="numpy")
def _adx_state_nb(timeperiod):
    period = max(timeperiod, 1)
    state = np.zeros(_ADX_SIZE, dtype=np.float64)
    state[_ADX_PERIOD] = period
    state[_ADX_PREV_HIGH] = np.nan
    state[_ADX_PREV_LOW] = np.nan
    state[_ADX_PREV_CLOSE] = np.nan
    state[_ADX_VALUE] = np.nan
    return state


@njit(cache=True, error_model="numpy")
def adx_update(state: np.ndarray, high: float, low: float, close: float) -> float:
    """Consume one bar and return Wilder's average directional index.

    Parameters
    ----------
    state : numpy.ndarray
        State from `adx_state`, updated in place.
    high, low, close : float
        The bar. A bar with a NaN is skipped: the state is left unchanged.

    Returns
    -------
    float
        The ADX in [0, 100]; NaN until ``2 * timeperiod`` finite bars have been
        seen.
    """
    period = int(state[_ADX_PERIOD])
    count = int(state[_ADX_COUNT])
    count, prev_high, prev_low, prev_close, minus_dm, plus_dm, tr, adx, value = _adx_step(
        period,
        count,
        state[_ADX_PREV_HIGH],
        state[_ADX_PREV_LOW],
        state[_ADX_PREV_CLOSE],
        state[_ADX_MINUS_DM],
        state[_ADX_PLUS_DM],
        state[_ADX_TR],
        state[_ADX_ADX],
        state[_ADX_VALUE],
        count < 2 * period,
        high,
        low,
        close,
    )
    state[_ADX_COUNT] = count
    state[_ADX_PREV_HIGH] = prev_high
    state[_ADX_PREV_LOW] = prev_low
    state[_ADX_PREV_CLOSE] = prev_close
    state[_ADX_MINUS_DM] = minus_dm
    state[_ADX_PLUS_DM] = plus_dm
    state[_ADX_TR] = tr
    state[_ADX_ADX] = adx
    state[_ADX_VALUE] = value
    return value


@njit(cache=True, error_model="numpy")
def _adx_nb(high, low, close, timeperiod, out):
    n = close.shape[0]
    if _invalid_period(timeperiod, 2):
        out[:] = np.nan
        return out
    period = timeperiod
    count = 0
    prev_high = np.nan
    prev_low = np.nan
    prev_close = np.nan
    minus_dm = 0.0
    plus_dm = 0.0
    tr = 0.0
    adx = 0.0
    value = np.nan
    i = 0
    while i < n and count < 2 * period:
        count, prev_high, prev_low, prev_close, minus_dm, plus_dm, tr, adx, value = _adx_step(
            period, count, prev_high, prev_low, prev_close, minus_dm, plus_dm, tr,
            adx, value, True, high[i], low[i], close[i],
        )  # fmt: skip
        out[i] = value
        i += 1
    for j in range(np.uint64(i), np.uint64(n)):
        count, prev_high, prev_low, prev_close, minus_dm, plus_dm, tr, adx, value = _adx_step(
            period, count, prev_high, prev_low, prev_close, minus_dm, plus_dm, tr,
            adx, value, False, high[j], low[j], close[j],
        )  # fmt: skip
        out[j] = value
    return out


def adx_state(timeperiod: int = 14) -> np.ndarray:
    """Allocate the state for a streaming average directional index.

    Parameters
    ----------
    timeperiod : int, default 14
        Wilder smoothing period, in [2, 100000] as in TA-Lib.

    Returns
    -------
    numpy.ndarray
        A fresh float64 state array to pass to `adx_update`.

    Raises
    ------
    ValueError
        If `timeperiod` is not an integer in [2, 100000].
    """
    return _adx_state_nb(_check_period("adx", "timeperiod", timeperiod, 2))


def adx(high: np.ndarray, low: np.ndarray, close: np.ndarray, timeperiod: int = 14) -> np.ndarray:
    """Compute Wilder's average directional index.

    +DM, -DM and the true range are Wilder-smoothed (seeded with the sums of
    their first ``timeperiod - 1`` one-bar values), give +DI and -DI, then
    ``DX = 100 * |(+DI) - (-DI)| / ((+DI) + (-DI))``; the ADX is seeded with the
    mean of ``timeperiod`` DX values and Wilder-smoothed after that.

    Parameters
    ----------
    high, low, close : numpy.ndarray
        1-D float64 bar series of equal length.
    timeperiod : int, default 14
        Smoothing period, in [2, 100000].

    Returns
    -------
    numpy.ndarray
        float64 array of ``len(close)`` with values in [0, 100]; NaN for the
        first ``2 * timeperiod - 1`` bars. Matches ``talib.ADX(high, low,
        close, timeperiod)``.

    Raises
    ------
    ValueError
        If an input is not a 1-D float64 array, the lengths differ or
        `timeperiod` is out of range.
    """
    h, lo, c = _check_series("adx", high=high, low=low, close=close)
    period = _check_period("adx", "timeperiod", timeperiod, 2)
    return _adx_nb(h, lo, c, period, np.empty(c.shape[0]))
