"""Compiled kernels: Numba ``@njit(cache=True)`` functions over float64 arrays.

``kernels.indicators`` holds streaming/batch technical indicators that match
TA-Lib (``ema``, ``rsi`` and the fused ``momentum_update`` tick);
``kernels.risk`` holds sample risk measures that match numpy formulas
(``historical_var``, ``cvar``). Each module's docstring states its dtype,
NaN policy, warm-up and oracle.
"""

from kernels.indicators import (
    MOM_COUNT,
    MOM_EMA_FAST,
    MOM_EMA_SLOW,
    MOM_RSI,
    ema,
    ema_state,
    ema_update,
    momentum_state,
    momentum_update,
    rsi,
    rsi_state,
    rsi_update,
)
from kernels.risk import cvar, historical_var

__all__ = [
    "MOM_COUNT",
    "MOM_EMA_FAST",
    "MOM_EMA_SLOW",
    "MOM_RSI",
    "cvar",
    "ema",
    "ema_state",
    "ema_update",
    "historical_var",
    "momentum_state",
    "momentum_update",
    "rsi",
    "rsi_state",
    "rsi_update",
]
