"""Technical indicators that match TA-Lib, in batch and streaming form, plus the per-tick set.

TA-Lib's names, parameter names, defaults and NaN warm-up in lower case, so
``talib.RSI(close, 14)`` becomes ``rsi(close, 14)``: `sma`, `ema`, `rsi`,
`macd`, `bbands`, `atr`, `natr`, `obv`, `stddev`, and the oscillators `adx`,
`stoch`, `willr`, `cci`, `mfi` (``kernels._oscillators``, whose docstring
states their conventions); plus `vwap`, `log_returns`,
`rolling_volatility` and `zscore`, which TA-Lib lacks. Every indicator with
state also has a streaming form, ``*_state(...)`` allocating a small float64
array and ``*_update(state, ...)`` consuming one tick; `indicator_set_update`
refreshes a symbol's whole configured set (EMA fast/slow, RSI, BB, ATR, VWAP,
rolling volatility) in one compiled call. The code lives in private modules
(``_ma``, ``_momentum``, ``_volatility``, ``_atr``, ``_volume``,
``_statistics``, ``_indicator_set``); this module is the public face.

Conventions
-----------
One update function
    The arithmetic of each indicator lives in small step functions compiled
    inline into both the streaming update (state in the array) and the batch
    loop (state in registers), so streaming output is bitwise equal to batch
    output on any input, NaNs included (the test suite checks it, also with
    Hypothesis). Smoothing steps are ``previous * keep + x * take`` as one
    fused multiply-add (``llvm.fma``, the same on every CPU), with
    ``keep + take == 1`` exactly, so a constant series stays constant and no
    division sits on a loop-carried chain.
dtype and wrappers
    The batch functions and the ``*_state`` constructors are thin Python
    wrappers: they reject anything but 1-D float64 numpy arrays of equal
    length, and periods that are not integers in TA-Lib's range, with a
    ``ValueError`` naming the argument (int or float32 arrays are rejected,
    not converted, as TA-Lib does). The compiled kernels behind them
    (``_sma_nb``, ``_ema_nb``, ``_rsi_state_nb``, ...) and all ``*_update``
    functions are ``@njit(cache=True)`` and callable from other kernels; they
    still raise ``ValueError`` for an out-of-range period, but do not check
    dtypes. Outputs are float64 arrays of the input's length.
Oracle
    ``talib.SMA``, ``EMA``, ``RSI``, ``MACD``, ``BBANDS`` (``matype=0``),
    ``ATR``, ``NATR``, ``OBV`` and ``STDDEV`` of TA-Lib 0.8 (default
    compatibility, unstable period 0): NaN exactly where TA-Lib is NaN and
    within 1e-9 relative (absolute, scaled by the series, near zero)
    elsewhere, for inputs without interior NaNs; tested on random walks and
    on SPY, AAPL and BTC daily bars. STDDEV and BBANDS replicate TA-Lib 0.8's
    rolling variance operation for operation (see ``kernels._volatility``);
    the others differ from TA-Lib by rounding only: ``sma`` moves its running
    sum by ``new - oldest`` in one addition and multiplies by ``1 / period``;
    the EMAs, RSI and ATR use the fused smoothing step above. ``natr`` with
    ``timeperiod=1`` is ``100 * TRANGE / close``, where TA-Lib returns the
    raw TRANGE.
Warm-up
    The first defined output, with no NaN input, is at index ``timeperiod -
    1`` (SMA, EMA, BBANDS, STDDEV, ZSCORE), ``timeperiod`` (RSI, ATR, NATR,
    ROLLING_VOLATILITY: they need ``timeperiod`` changes), ``slowperiod +
    signalperiod - 2`` (MACD), 0 (OBV, VWAP with a positive volume) and 1
    (LOG_RETURNS). A series shorter than that is all NaN, as in TA-Lib.
NaN policy
    A NaN input (a bar with a NaN in any input, for multi-input indicators)
    is skipped: the state is left unchanged and the current output (NaN
    while warming up) is returned again, in streaming and batch alike. Leading
    NaNs therefore behave exactly as in TA-Lib, which also skips them; after
    an interior NaN TA-Lib's output is poisoned, whereas here the last value
    is held and updating resumes with the next finite input (the test oracle
    is TA-Lib applied to the finite values only). `log_returns` answers NaN at
    a skipped price and `log_returns` / `rolling_volatility` also skip
    non-positive prices. Infinities are not special-cased.
Flat series
    RSI is 0.0 when average gain and loss are both zero (``talib.RSI``'s
    answer); STDDEV and the bands' width are 0.0 on a flat window; ZSCORE is
    0.0 there.

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

from kernels._atr import (
    atr,
    atr_state,
    atr_update,
    natr,
    natr_state,
    natr_update,
)
from kernels._indicator_set import (
    IS_ATR,
    IS_BB_LOWER,
    IS_BB_MIDDLE,
    IS_BB_UPPER,
    IS_COUNT,
    IS_EMA_FAST,
    IS_EMA_SLOW,
    IS_RSI,
    IS_SIZE,
    IS_VOLATILITY,
    IS_VWAP,
    indicator_set,
    indicator_set_reset_vwap,
    indicator_set_state,
    indicator_set_update,
)
from kernels._ma import (
    ema,
    ema_state,
    ema_update,
    macd,
    macd_state,
    macd_update,
    sma,
    sma_state,
    sma_update,
)
from kernels._momentum import (
    MOM_COUNT,
    MOM_EMA_FAST,
    MOM_EMA_SLOW,
    MOM_RSI,
    momentum_state,
    momentum_update,
    rsi,
    rsi_state,
    rsi_update,
)
from kernels._oscillators import (
    adx,
    adx_state,
    adx_update,
    cci,
    cci_state,
    cci_update,
    mfi,
    mfi_state,
    mfi_update,
    stoch,
    stoch_state,
    stoch_update,
    willr,
    willr_state,
    willr_update,
)
from kernels._statistics import (
    log_returns,
    log_returns_state,
    log_returns_update,
    rolling_volatility,
    rolling_volatility_state,
    rolling_volatility_update,
    zscore,
    zscore_state,
    zscore_update,
)
from kernels._volatility import (
    bbands,
    bbands_state,
    bbands_update,
    stddev,
    stddev_state,
    stddev_update,
)
from kernels._volume import (
    obv,
    obv_state,
    obv_update,
    vwap,
    vwap_reset,
    vwap_state,
    vwap_update,
)

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
    "MOM_COUNT",
    "MOM_EMA_FAST",
    "MOM_EMA_SLOW",
    "MOM_RSI",
    "adx",
    "adx_state",
    "adx_update",
    "atr",
    "atr_state",
    "atr_update",
    "bbands",
    "bbands_state",
    "bbands_update",
    "cci",
    "cci_state",
    "cci_update",
    "ema",
    "ema_state",
    "ema_update",
    "indicator_set",
    "indicator_set_reset_vwap",
    "indicator_set_state",
    "indicator_set_update",
    "log_returns",
    "log_returns_state",
    "log_returns_update",
    "macd",
    "macd_state",
    "macd_update",
    "mfi",
    "mfi_state",
    "mfi_update",
    "momentum_state",
    "momentum_update",
    "natr",
    "natr_state",
    "natr_update",
    "obv",
    "obv_state",
    "obv_update",
    "rolling_volatility",
    "rolling_volatility_state",
    "rolling_volatility_update",
    "rsi",
    "rsi_state",
    "rsi_update",
    "sma",
    "sma_state",
    "sma_update",
    "stddev",
    "stddev_state",
    "stddev_update",
    "stoch",
    "stoch_state",
    "stoch_update",
    "vwap",
    "vwap_reset",
    "vwap_state",
    "vwap_update",
    "willr",
    "willr_state",
    "willr_update",
    "zscore",
    "zscore_state",
    "zscore_update",
]
