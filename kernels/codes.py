"""Reason codes that kernels return instead of raising (one place for all of them).

The engine turns a code into an ``ORDER_REJECTED`` / ``RISK_CHECK_FAILED``
event with readable text (``engine.risk.RISK_CHECK_NAMES``).
"""

from __future__ import annotations

__all__ = [
    "RISK_BAD_ORDER",
    "RISK_CONFIDENCE",
    "RISK_INSUFFICIENT_POSITION",
    "RISK_LEVERAGE",
    "RISK_NO_EQUITY",
    "RISK_NO_REFERENCE",
    "RISK_OK",
    "RISK_POSITION_SIZE",
    "RISK_PRICE_COLLAR",
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
