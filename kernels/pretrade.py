"""Pre-trade risk checks as one njit call per order.

Inputs are plain scalars and a float64 ``limits`` array (layout ``LIM_*``);
the result is a reason code from :mod:`kernels.codes`, and ``out`` receives
the offending value and the limit (``out[0]``, ``out[1]``) so the engine can
write a message that names both. Checks run in a fixed order and the first
failure is returned.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from kernels.codes import (
    RISK_BAD_ORDER,
    RISK_CONFIDENCE,
    RISK_INSUFFICIENT_POSITION,
    RISK_LEVERAGE,
    RISK_NO_EQUITY,
    RISK_NO_REFERENCE,
    RISK_OK,
    RISK_POSITION_SIZE,
    RISK_PRICE_COLLAR,
)

__all__ = [
    "LIM_ALLOW_SHORT",
    "LIM_MAX_LEVERAGE",
    "LIM_MAX_POSITION_PCT",
    "LIM_MIN_CONFIDENCE",
    "LIM_PRICE_COLLAR_PCT",
    "LIM_SIZE",
    "pretrade_check",
]

#: ``limits`` layout.
LIM_MIN_CONFIDENCE = 0
LIM_MAX_POSITION_PCT = 1
LIM_MAX_LEVERAGE = 2
LIM_PRICE_COLLAR_PCT = 3
#: 1.0 when the instrument can be sold short, else 0.0.
LIM_ALLOW_SHORT = 4
LIM_SIZE = 5


@njit(cache=True)
def pretrade_check(
    limits,
    side_sign,
    quantity,
    price,
    reference_price,
    confidence,
    position_qty,
    gross_exposure,
    equity,
    multiplier,
    out,
):
    """Run the pre-trade checks for one order; return a ``RISK_*`` code.

    Parameters
    ----------
    limits : float64[LIM_SIZE]
        Limits, laid out by the ``LIM_*`` constants.
    side_sign : int
        +1 buy, -1 sell.
    quantity, price : float
        Order quantity and the price it is expected to execute at (limit
        price, or the touch for a market order).
    reference_price : float
        Fair price for the collar and for valuing the position (book mid).
    confidence : float
        Signal confidence in [0, 1].
    position_qty : float
        Current signed position in the symbol.
    gross_exposure : float
        Current sum of absolute position values of the account.
    equity : float
        Current account equity.
    multiplier : float
        Contract multiplier (1 for spot).
    out : float64[2]
        Receives the offending value and the limit on failure.
    """
    out[0] = 0.0
    out[1] = 0.0
    if not (quantity > 0.0 and quantity < np.inf and price > 0.0 and price < np.inf):
        out[0] = quantity
        out[1] = price
        return RISK_BAD_ORDER
    if not confidence >= limits[LIM_MIN_CONFIDENCE]:  # NaN fails closed
        out[0] = confidence
        out[1] = limits[LIM_MIN_CONFIDENCE]
        return RISK_CONFIDENCE
    if not (reference_price > 0.0 and reference_price < np.inf):
        out[0] = reference_price
        return RISK_NO_REFERENCE
    if not equity > 0.0:
        out[0] = equity
        return RISK_NO_EQUITY
    collar = abs(price - reference_price) / reference_price
    if collar > limits[LIM_PRICE_COLLAR_PCT]:
        out[0] = collar
        out[1] = limits[LIM_PRICE_COLLAR_PCT]
        return RISK_PRICE_COLLAR
    new_position = position_qty + side_sign * quantity
    if limits[LIM_ALLOW_SHORT] == 0.0 and new_position < -1e-12 * quantity:
        out[0] = quantity
        out[1] = max(position_qty, 0.0)
        return RISK_INSUFFICIENT_POSITION
    reducing = abs(new_position) < abs(position_qty)
    position_pct = abs(new_position) * reference_price * multiplier / equity
    if not reducing and position_pct > limits[LIM_MAX_POSITION_PCT]:
        out[0] = position_pct
        out[1] = limits[LIM_MAX_POSITION_PCT]
        return RISK_POSITION_SIZE
    old_value = abs(position_qty) * reference_price * multiplier
    new_value = abs(new_position) * reference_price * multiplier
    leverage = (gross_exposure - old_value + new_value) / equity
    if not reducing and leverage > limits[LIM_MAX_LEVERAGE]:
        out[0] = leverage
        out[1] = limits[LIM_MAX_LEVERAGE]
        return RISK_LEVERAGE
    if math.isnan(leverage):
        out[0] = leverage
        return RISK_BAD_ORDER
    return RISK_OK
