"""Reason codes that kernels return instead of raising (one place for all of them).

The engine turns a code into an ``ORDER_REJECTED`` / ``RISK_CHECK_FAILED``
event with readable text (``engine.risk.RISK_CHECK_NAMES``).
"""

from __future__ import annotations

__all__ = [
    "RISK_BAD_ORDER",
    "RISK_CONFIDENCE",
    "RISK_CVAR",
    "RISK_HALTED",
    "RISK_INSUFFICIENT_POSITION",
    "RISK_LEVERAGE",
    "RISK_MAX_ORDER_NOTIONAL",
    "RISK_MAX_ORDER_QUANTITY",
    "RISK_NO_EQUITY",
    "RISK_NO_REFERENCE",
    "RISK_OK",
    "RISK_POSITION_SIZE",
    "RISK_PRICE_COLLAR",
    "RISK_REDUCING_ONLY",
    "RISK_SECTOR",
    "RISK_THROTTLE",
    "RISK_VAR",
]

#: Every pre-trade check passed.
RISK_OK = 0
#: Signal confidence below ``risk.min_confidence``.
RISK_CONFIDENCE = 1
#: Resulting position above ``risk.max_position_pct`` of equity.
RISK_POSITION_SIZE = 2
#: Resulting gross exposure above ``risk.max_leverage`` times equity.
RISK_LEVERAGE = 3
#: Order price too far from the reference price (``risk.price_collar_pct``).
RISK_PRICE_COLLAR = 4
#: Quantity or price not a positive finite number.
RISK_BAD_ORDER = 5
#: No reference price for the symbol (book out of sync and no trade yet).
RISK_NO_REFERENCE = 6
#: Equity is zero or negative.
RISK_NO_EQUITY = 7
#: A sell larger than the position on an instrument that cannot be shorted (spot).
RISK_INSUFFICIENT_POSITION = 8
#: Trading state is HALTED (kill switch or drawdown): every order is denied.
RISK_HALTED = 9
#: Trading state is REDUCING and the order would not reduce ``|position|``.
RISK_REDUCING_ONLY = 10
#: Order quantity above ``risk.max_order_quantity``.
RISK_MAX_ORDER_QUANTITY = 11
#: Order notional (quantity x price x multiplier) above ``risk.max_order_notional``.
RISK_MAX_ORDER_NOTIONAL = 12
#: Resulting exposure to the order's sector above ``risk.max_sector_pct`` of equity.
RISK_SECTOR = 13
#: VaR of the book with the order above ``risk.max_var_pct`` of equity.
RISK_VAR = 14
#: CVaR of the book with the order above ``risk.max_cvar_pct`` of equity.
RISK_CVAR = 15
#: More than ``risk.max_orders_per_window`` orders within ``risk.order_window_s``.
RISK_THROTTLE = 16
