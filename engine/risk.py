"""Pre-trade risk: the engine side of :func:`kernels.pretrade.pretrade_check`.

The kernel returns a reason code; :meth:`RiskManager.check` turns a failure
into a :class:`RiskDecision` whose ``reason`` names the limit and the value,
which the engine publishes as ``RISK_CHECK_FAILED`` and ``ORDER_REJECTED``.
"""

from __future__ import annotations

import numpy as np

from engine.config import RiskConfig
from kernels import codes
from kernels.pretrade import (
    LIM_ALLOW_SHORT,
    LIM_MAX_LEVERAGE,
    LIM_MAX_POSITION_PCT,
    LIM_MIN_CONFIDENCE,
    LIM_PRICE_COLLAR_PCT,
    LIM_SIZE,
    pretrade_check,
)

__all__ = ["RISK_CHECK_NAMES", "RiskDecision", "RiskManager"]

#: Check name per reason code (the ``check`` field of ``RISK_CHECK_FAILED``).
RISK_CHECK_NAMES: dict[int, str] = {
    codes.RISK_OK: "ok",
    codes.RISK_CONFIDENCE: "min_confidence",
    codes.RISK_POSITION_SIZE: "max_position_pct",
    codes.RISK_LEVERAGE: "max_leverage",
    codes.RISK_PRICE_COLLAR: "price_collar_pct",
    codes.RISK_BAD_ORDER: "order_values",
    codes.RISK_NO_REFERENCE: "reference_price",
    codes.RISK_NO_EQUITY: "equity",
    codes.RISK_INSUFFICIENT_POSITION: "insufficient_position",
}


class RiskDecision:
    """Outcome of a pre-trade check: ``code == RISK_OK`` or a denial with its reason."""

    __slots__ = ("check", "code", "reason")

    def __init__(self, code: int, check: str, reason: str) -> None:
        self.code = code
        self.check = check
        self.reason = reason

    @property
    def passed(self) -> bool:
        """True when every check passed."""
        return self.code == codes.RISK_OK


_PASSED = RiskDecision(codes.RISK_OK, "ok", "")


class RiskManager:
    """Run the pre-trade checks of ``risk.*`` on each order."""

    def __init__(self, config: RiskConfig) -> None:
        self.config = config
        limits = np.zeros(LIM_SIZE, dtype=np.float64)
        limits[LIM_MIN_CONFIDENCE] = config.min_confidence
        limits[LIM_MAX_POSITION_PCT] = config.max_position_pct
        limits[LIM_MAX_LEVERAGE] = config.max_leverage
        limits[LIM_PRICE_COLLAR_PCT] = config.price_collar_pct
        limits[LIM_ALLOW_SHORT] = 0.0
        self._limits = limits
        self._out = np.zeros(2, dtype=np.float64)
        self.passed = 0
        self.failed: dict[str, int] = {}

    def warm_up(self) -> None:
        """Load the compiled check before the first order (called in INITIALIZING)."""
        pretrade_check(self._limits, 1, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 1.0, 1.0, self._out)

    def check(
        self,
        *,
        symbol: str,
        side_sign: int,
        quantity: float,
        price: float,
        reference_price: float,
        confidence: float,
        position_qty: float,
        gross_exposure: float,
        equity: float,
        multiplier: float = 1.0,
        allow_short: bool = False,
    ) -> RiskDecision:
        """Return the decision for one order (see :func:`kernels.pretrade.pretrade_check`)."""
        self._limits[LIM_ALLOW_SHORT] = 1.0 if allow_short else 0.0
        code = pretrade_check(
            self._limits,
            side_sign,
            quantity,
            price,
            reference_price,
            confidence,
            position_qty,
            gross_exposure,
            equity,
            multiplier,
            self._out,
        )
        if code == codes.RISK_OK:
            self.passed += 1
            return _PASSED
        check = RISK_CHECK_NAMES[code]
        self.failed[check] = self.failed.get(check, 0) + 1
        return RiskDecision(code, check, self._reason(code, symbol, quantity, price))

    def _reason(self, code: int, symbol: str, quantity: float, price: float) -> str:
        value, limit = float(self._out[0]), float(self._out[1])
        if code == codes.RISK_CONFIDENCE:
            return f"confidence {value:.4f} below risk.min_confidence {limit} for {symbol}"
        if code == codes.RISK_POSITION_SIZE:
            value_text, limit_text = _distinct(value, limit, "%")
            return (
                f"position would be {value_text} of equity for {symbol}, "
                f"above risk.max_position_pct {limit_text}"
            )
        if code == codes.RISK_LEVERAGE:
            value_text = _distinct(value, limit, "f")[0]
            return f"leverage would be {value_text}x, above risk.max_leverage {limit}x"
        if code == codes.RISK_PRICE_COLLAR:
            value_text, limit_text = _distinct(value, limit, "%")
            return (
                f"price {price} is {value_text} from the reference price for {symbol}, "
                f"beyond risk.price_collar_pct {limit_text}"
            )
        if code == codes.RISK_NO_REFERENCE:
            return f"no reference price for {symbol} (book out of sync and no trade yet)"
        if code == codes.RISK_NO_EQUITY:
            return f"equity is {value}, no new risk can be taken"
        if code == codes.RISK_INSUFFICIENT_POSITION:
            return f"sell quantity {value} above the position {limit} in {symbol} (no shorting)"
        return f"order quantity {quantity} or price {price} for {symbol} is not positive and finite"


def _distinct(value: float, limit: float, kind: str) -> tuple[str, str]:
    """Format ``value`` and ``limit`` with 2 decimals, or more until they read differently."""
    for digits in range(2, 10):
        value_text = format(value, f".{digits}{kind}")
        limit_text = format(limit, f".{digits}{kind}")
        if value_text != limit_text:
            break
    return value_text, limit_text
