"""Pre-trade risk checks as one njit call per order.

Inputs are plain scalars, a float64 ``limits`` array (layout ``LIM_*``) and
an int64 ring of recent order timestamps for the rate throttle; the result is
a reason code from :mod:`kernels.codes`, and ``out`` receives the offending
value and the limit (``out[0]``, ``out[1]``) so the engine can write a
message that names both. Checks run in a fixed order and the first failure is
returned:

1. trading state HALTED (``RISK_HALTED``; denies everything)
2. quantity and price positive and finite (``RISK_BAD_ORDER``)
3. signal confidence (``RISK_CONFIDENCE``)
4. reference price present (``RISK_NO_REFERENCE``)
5. equity positive (``RISK_NO_EQUITY``)
6. max order quantity (``RISK_MAX_ORDER_QUANTITY``)
7. max order notional, ``quantity x price x multiplier`` (``RISK_MAX_ORDER_NOTIONAL``)
8. price collar against the reference price (``RISK_PRICE_COLLAR``)
9. no shorting unless allowed (``RISK_INSUFFICIENT_POSITION``)
10. trading state REDUCING: only orders with ``|new position| < |position|``
    (``RISK_REDUCING_ONLY``)
11. single position size (``RISK_POSITION_SIZE``)
12. leverage, gross exposure / equity (``RISK_LEVERAGE``)
13. sector concentration (``RISK_SECTOR``)
14. VaR after the order (``RISK_VAR``)
15. CVaR after the order (``RISK_CVAR``)
16. order-rate throttle (``RISK_THROTTLE``); last, so that only orders that
    pass everything else count against the rate.

Checks 11-15 are skipped for an order that reduces ``|position|`` (a flip to
a larger opposite position is not reducing). Positions are valued at the
reference price. NaN in any compared value fails closed.

Throttle ring
-------------
``order_times`` is int64 of length ``max_orders + 1``: slots ``0..max_orders-1``
hold the timestamps (ns, engine clock) of the last ``max_orders`` accepted
orders, initialised to ``THROTTLE_EMPTY``; the last element is the index of
the oldest slot (the next one to overwrite). An order at ``ts`` is denied when
the oldest of those ``max_orders`` timestamps is less than
``limits[LIM_ORDER_WINDOW_S]`` seconds before ``ts``, so at most ``max_orders``
orders are accepted in any window of that length. A ring of length 1 disables
the throttle. On ``RISK_OK`` the kernel writes ``ts`` into the ring.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from kernels.codes import (
    RISK_BAD_ORDER,
    RISK_CONFIDENCE,
    RISK_CVAR,
    RISK_HALTED,
    RISK_INSUFFICIENT_POSITION,
    RISK_LEVERAGE,
    RISK_MAX_ORDER_NOTIONAL,
    RISK_MAX_ORDER_QUANTITY,
    RISK_NO_EQUITY,
    RISK_NO_REFERENCE,
    RISK_OK,
    RISK_POSITION_SIZE,
    RISK_PRICE_COLLAR,
    RISK_REDUCING_ONLY,
    RISK_SECTOR,
    RISK_THROTTLE,
    RISK_VAR,
)

__all__ = [
    "LIM_ALLOW_SHORT",
    "LIM_MAX_CVAR_PCT",
    "LIM_MAX_LEVERAGE",
    "LIM_MAX_ORDER_NOTIONAL",
    "LIM_MAX_ORDER_QUANTITY",
    "LIM_MAX_POSITION_PCT",
    "LIM_MAX_SECTOR_PCT",
    "LIM_MAX_VAR_PCT",
    "LIM_MIN_CONFIDENCE",
    "LIM_ORDER_WINDOW_S",
    "LIM_PRICE_COLLAR_PCT",
    "LIM_SIZE",
    "STATE_ACTIVE",
    "STATE_HALTED",
    "STATE_REDUCING",
    "THROTTLE_EMPTY",
    "new_order_times",
    "pretrade_check",
]

#: ``limits`` layout.
LIM_MIN_CONFIDENCE = 0
LIM_MAX_POSITION_PCT = 1
LIM_MAX_LEVERAGE = 2
LIM_PRICE_COLLAR_PCT = 3
#: 1.0 when the instrument can be sold short, else 0.0.
LIM_ALLOW_SHORT = 4
#: Largest order quantity (``inf`` for none).
LIM_MAX_ORDER_QUANTITY = 5
#: Largest order notional in account currency (``inf`` for none).
LIM_MAX_ORDER_NOTIONAL = 6
#: Largest sector exposure as a fraction of equity.
LIM_MAX_SECTOR_PCT = 7
#: Largest VaR after the order as a fraction of equity.
LIM_MAX_VAR_PCT = 8
#: Largest CVaR after the order as a fraction of equity.
LIM_MAX_CVAR_PCT = 9
#: Throttle window in seconds.
LIM_ORDER_WINDOW_S = 10
LIM_SIZE = 11

#: Trading states (``trading_state`` argument).
STATE_ACTIVE = 0
STATE_REDUCING = 1
STATE_HALTED = 2

#: Empty slot of the throttle ring.
THROTTLE_EMPTY = np.iinfo(np.int64).min


def new_order_times(max_orders: int) -> np.ndarray:
    """Return an empty throttle ring for ``max_orders`` orders per window (0 disables it).

    Examples
    --------
    >>> new_order_times(3)[-1]
    0
    """
    ring = np.full(max_orders + 1, THROTTLE_EMPTY, dtype=np.int64)
    ring[-1] = 0
    return ring


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
    sector_exposure,
    var_after,
    cvar_after,
    trading_state,
    ts,
    order_times,
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
    sector_exposure : float
        Current sum of absolute position values in the order's sector,
        including this symbol's position; the kernel replaces this symbol's
        old value with its new one, as for leverage. ``-inf`` skips the
        check (instrument without a sector); NaN fails closed.
    var_after, cvar_after : float
        VaR and CVaR of the book with the order, as positive fractions of
        equity (from ``kernels.scenarios.incremental_var`` on exposures /
        equity); pass 0.0 when no scenario model is used.
    trading_state : int
        ``STATE_ACTIVE``, ``STATE_REDUCING`` or ``STATE_HALTED``.
    ts : int
        Engine-clock time of the order in ns (throttle only).
    order_times : int64[max_orders + 1]
        Throttle ring (see the module docstring); updated on ``RISK_OK``.
    out : float64[2]
        Receives the offending value and the limit on failure.
    """
    out[0] = 0.0
    out[1] = 0.0
    if trading_state == STATE_HALTED:
        out[0] = trading_state
        return RISK_HALTED
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
    if quantity > limits[LIM_MAX_ORDER_QUANTITY]:
        out[0] = quantity
        out[1] = limits[LIM_MAX_ORDER_QUANTITY]
        return RISK_MAX_ORDER_QUANTITY
    notional = quantity * price * multiplier
    if not notional <= limits[LIM_MAX_ORDER_NOTIONAL]:
        out[0] = notional
        out[1] = limits[LIM_MAX_ORDER_NOTIONAL]
        return RISK_MAX_ORDER_NOTIONAL
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
    if trading_state == STATE_REDUCING and not reducing:
        out[0] = abs(new_position)
        out[1] = abs(position_qty)
        return RISK_REDUCING_ONLY
    old_value = abs(position_qty) * reference_price * multiplier
    new_value = abs(new_position) * reference_price * multiplier
    position_pct = new_value / equity
    if not reducing and position_pct > limits[LIM_MAX_POSITION_PCT]:
        out[0] = position_pct
        out[1] = limits[LIM_MAX_POSITION_PCT]
        return RISK_POSITION_SIZE
    leverage = (gross_exposure - old_value + new_value) / equity
    if not reducing and leverage > limits[LIM_MAX_LEVERAGE]:
        out[0] = leverage
        out[1] = limits[LIM_MAX_LEVERAGE]
        return RISK_LEVERAGE
    if math.isnan(leverage):
        out[0] = leverage
        return RISK_BAD_ORDER
    if not reducing:
        sector_pct = (sector_exposure - old_value + new_value) / equity
        if not sector_pct <= limits[LIM_MAX_SECTOR_PCT]:
            out[0] = sector_pct
            out[1] = limits[LIM_MAX_SECTOR_PCT]
            return RISK_SECTOR
        if not var_after <= limits[LIM_MAX_VAR_PCT]:
            out[0] = var_after
            out[1] = limits[LIM_MAX_VAR_PCT]
            return RISK_VAR
        if not cvar_after <= limits[LIM_MAX_CVAR_PCT]:
            out[0] = cvar_after
            out[1] = limits[LIM_MAX_CVAR_PCT]
            return RISK_CVAR
    max_orders = order_times.shape[0] - 1
    if max_orders > 0:
        head = order_times[max_orders]
        oldest = order_times[head]
        window_ns = limits[LIM_ORDER_WINDOW_S] * 1e9
        if oldest != THROTTLE_EMPTY and not (ts - oldest) >= window_ns:
            out[0] = (ts - oldest) * 1e-9
            out[1] = limits[LIM_ORDER_WINDOW_S]
            return RISK_THROTTLE
        order_times[head] = ts
        order_times[max_orders] = head + 1 if head + 1 < max_orders else 0
    return RISK_OK
