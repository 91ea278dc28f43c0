"""Risk engine: pre-trade checks, trading state, kill switch and post-trade exits.

Pre-trade, :meth:`RiskManager.check` runs every limit of DESIGN.md's Risk
section in one call of :func:`kernels.pretrade.pretrade_check` (position
size, leverage, sector concentration, VaR and CVaR impact, price collar, max
order quantity and notional, order-rate throttle, min confidence, trading
state). The kernel returns a reason code; a failure becomes a
:class:`RiskDecision` whose ``reason`` names the limit and the value, which
the engine publishes as ``RISK_CHECK_FAILED`` and ``ORDER_REJECTED``.

Trading state is ``ACTIVE | REDUCING | HALTED``: REDUCING passes only orders
that reduce ``|position|``; HALTED denies every order until an admin calls
:meth:`RiskManager.reset`. :meth:`RiskManager.kill_switch` halts and returns
the :class:`RiskAction` the engine must carry out (``EMERGENCY_EXIT``: cancel
all open orders, flatten every position). Post-trade,
:meth:`RiskManager.on_mark` returns a flatten action on stop loss / take
profit and :meth:`RiskManager.on_equity` halts on max drawdown.

Limits not yet in :class:`engine.config.RiskConfig` are constructor
arguments; each is read from the config when it has the key, else from the
argument, else from the default below (``DEFAULT_*``).
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping, Sequence

import msgspec
import numpy as np

from engine.config import RiskConfig
from kernels import codes
from kernels.pretrade import (
    LIM_ALLOW_SHORT,
    LIM_MAX_CVAR_PCT,
    LIM_MAX_LEVERAGE,
    LIM_MAX_ORDER_NOTIONAL,
    LIM_MAX_ORDER_QUANTITY,
    LIM_MAX_POSITION_PCT,
    LIM_MAX_SECTOR_PCT,
    LIM_MAX_VAR_PCT,
    LIM_MIN_CONFIDENCE,
    LIM_ORDER_WINDOW_S,
    LIM_PRICE_COLLAR_PCT,
    LIM_SIZE,
    STATE_ACTIVE,
    STATE_HALTED,
    STATE_REDUCING,
    new_order_times,
    pretrade_check,
)
from kernels.scenarios import incremental_var, pnl_var, portfolio_pnl

__all__ = [
    "ADMIN_ROLE",
    "DEFAULT_MAX_DRAWDOWN_PCT",
    "DEFAULT_MAX_ORDERS_PER_WINDOW",
    "DEFAULT_MAX_ORDER_NOTIONAL",
    "DEFAULT_MAX_ORDER_QUANTITY",
    "DEFAULT_ORDER_WINDOW_S",
    "DEFAULT_VAR_CONFIDENCE",
    "MAX_THROTTLE_ORDERS",
    "RISK_CHECK_NAMES",
    "RiskAction",
    "RiskDecision",
    "RiskManager",
    "ScenarioRisk",
    "TradingState",
]

#: Largest order quantity; none by default (lot sizes differ by orders of magnitude).
DEFAULT_MAX_ORDER_QUANTITY = math.inf
#: Largest order notional in account currency; none by default (the position
#: size check already bounds orders that add risk).
DEFAULT_MAX_ORDER_NOTIONAL = math.inf
#: Orders accepted per throttle window.
DEFAULT_MAX_ORDERS_PER_WINDOW = 100
#: Throttle window in seconds.
DEFAULT_ORDER_WINDOW_S = 1.0
#: Drawdown from the equity peak that halts trading.
DEFAULT_MAX_DRAWDOWN_PCT = 0.10
#: Confidence of the VaR and CVaR limits (95 %, DESIGN.md).
DEFAULT_VAR_CONFIDENCE = 0.95
#: Largest ``risk.max_orders_per_window`` (the throttle ring holds one slot per order).
MAX_THROTTLE_ORDERS = 1_000_000
#: The only role :meth:`RiskManager.reset` accepts.
ADMIN_ROLE = "admin"

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
    codes.RISK_HALTED: "trading_halted",
    codes.RISK_REDUCING_ONLY: "reducing_only",
    codes.RISK_MAX_ORDER_QUANTITY: "max_order_quantity",
    codes.RISK_MAX_ORDER_NOTIONAL: "max_order_notional",
    codes.RISK_SECTOR: "max_sector_pct",
    codes.RISK_VAR: "max_var_pct",
    codes.RISK_CVAR: "max_cvar_pct",
    codes.RISK_THROTTLE: "max_orders_per_window",
}


class TradingState(enum.IntEnum):
    """Trading state; the values are the kernel's ``STATE_*`` constants."""

    ACTIVE = STATE_ACTIVE
    REDUCING = STATE_REDUCING
    HALTED = STATE_HALTED


class RiskAction(msgspec.Struct, frozen=True, gc=False, kw_only=True):
    """What the engine must do after a kill switch, drawdown halt or stop.

    ``kind`` is ``"kill_switch"``, ``"drawdown_halt"``, ``"stop_loss"`` or
    ``"take_profit"``. ``cancel_all``: cancel every open order;
    ``flatten_all``: close every position (``check(..., reduce_only=True)``);
    ``symbol`` / ``quantity``: close one position with an order of signed
    quantity ``quantity`` (``-position``); ``halt``: the state is now HALTED.
    """

    kind: str
    reason: str
    ts: int = 0
    symbol: str = ""
    quantity: float = 0.0
    cancel_all: bool = False
    flatten_all: bool = False
    halt: bool = False


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
_NO_THROTTLE = new_order_times(0)


class ScenarioRisk:
    """Cached Monte Carlo scenarios for the pre-trade VaR / CVaR impact check.

    Parameters
    ----------
    scenarios : numpy.ndarray
        float64 ``(n_scenarios, n_assets)`` simple returns over the risk
        horizon, from :func:`kernels.scenarios.generate_scenarios`.
    symbols : sequence of str
        Symbol of each column.
    confidence : float, default ``DEFAULT_VAR_CONFIDENCE``
        VaR confidence in (0, 1).

    Notes
    -----
    Call :meth:`refresh` with the book's signed exposures and equity on every
    fill and mark-to-market (and once before the first order); until then
    :meth:`check_order` returns NaN, which the kernel denies (fails closed).
    """

    def __init__(
        self,
        scenarios: np.ndarray,
        symbols: Sequence[str],
        confidence: float = DEFAULT_VAR_CONFIDENCE,
    ) -> None:
        scenarios = np.asarray(scenarios, dtype=np.float64)
        if scenarios.ndim != 2 or scenarios.shape[0] == 0:
            raise ValueError(
                f"scenarios must be a 2-D (n_scenarios, n_assets) array with rows, "
                f"had shape {scenarios.shape}"
            )
        if len(symbols) != scenarios.shape[1]:
            raise ValueError(
                f"symbols must name the {scenarios.shape[1]} scenario columns, had {len(symbols)}"
            )
        if not np.isfinite(scenarios).all():
            raise ValueError("scenarios must be finite, had NaN or inf")
        if not 0.0 < confidence < 1.0:
            raise ValueError(f"confidence must be in (0, 1), was {confidence}")
        n = scenarios.shape[0]
        self.scenarios = scenarios
        self.confidence = float(confidence)
        self.index = {symbol: i for i, symbol in enumerate(symbols)}
        self.base_pnl = np.zeros(n)
        self._weights = np.zeros(scenarios.shape[1])
        self._buf = np.empty(n)
        self.equity = math.nan
        self.var_before = math.nan
        self.cvar_before = math.nan

    def refresh(self, exposures: Mapping[str, float], equity: float) -> None:
        """Recompute the book's scenario P&L from signed exposures (currency) and equity.

        Raises
        ------
        ValueError
            When a symbol with a non-zero exposure has no scenario column.
        """
        weights = self._weights
        weights[:] = 0.0
        for symbol, exposure in exposures.items():
            column = self.index.get(symbol)
            if column is None:
                if exposure != 0.0:
                    raise ValueError(f"no scenario column for {symbol}, which has exposure")
                continue
            weights[column] = exposure / equity
        self.equity = float(equity)
        portfolio_pnl(self.scenarios, weights, self.base_pnl)
        self.var_before, self.cvar_before = pnl_var(self.base_pnl, self.confidence, self._buf)

    def check_order(self, symbol: str, delta_exposure: float) -> tuple[float, float]:
        """Return ``(var_after, cvar_after)`` as fractions of equity with the order added.

        ``delta_exposure`` is the signed value the order adds (``side x quantity
        x price x multiplier``). An unknown symbol or no :meth:`refresh` yet
        gives ``(nan, nan)``.
        """
        column = self.index.get(symbol, -1)
        return incremental_var(
            self.scenarios,
            self.base_pnl,
            column,
            delta_exposure / self.equity,
            self.confidence,
            self._buf,
        )


def _setting(config: RiskConfig, key: str, argument: float | None, default: float) -> float:
    # An explicit argument wins over the configuration, which wins over the default.
    value = argument if argument is not None else getattr(config, key, None)
    if value is None:
        value = default
    if not value > 0:
        raise ValueError(f"risk.{key} must be > 0, was {value}")
    return value


class RiskManager:
    """Run the pre-trade checks of ``risk.*`` on each order and keep the trading state.

    Parameters
    ----------
    config : RiskConfig
        ``[risk]`` limits.
    max_order_quantity : float, optional
        ``risk.max_order_quantity``; default ``inf`` (no limit).
    max_order_notional : float, optional
        ``risk.max_order_notional`` in account currency; default ``inf``.
    max_orders_per_window : int, optional
        ``risk.max_orders_per_window``; default 100.
    order_window_s : float, optional
        ``risk.order_window_s``; default 1.0 s.
    max_drawdown_pct : float, optional
        ``risk.max_drawdown_pct`` from the equity peak; default 0.10.
    scenario_risk : ScenarioRisk, optional
        When given, :meth:`check` computes the VaR / CVaR impact itself.
    """

    def __init__(
        self,
        config: RiskConfig,
        *,
        max_order_quantity: float | None = None,
        max_order_notional: float | None = None,
        max_orders_per_window: int | None = None,
        order_window_s: float | None = None,
        max_drawdown_pct: float | None = None,
        scenario_risk: ScenarioRisk | None = None,
    ) -> None:
        self.config = config
        self.max_order_quantity = _setting(
            config, "max_order_quantity", max_order_quantity, DEFAULT_MAX_ORDER_QUANTITY
        )
        self.max_order_notional = _setting(
            config, "max_order_notional", max_order_notional, DEFAULT_MAX_ORDER_NOTIONAL
        )
        self.max_orders_per_window = int(
            _setting(
                config,
                "max_orders_per_window",
                max_orders_per_window,
                DEFAULT_MAX_ORDERS_PER_WINDOW,
            )
        )
        if self.max_orders_per_window > MAX_THROTTLE_ORDERS:
            raise ValueError(
                f"risk.max_orders_per_window must be <= {MAX_THROTTLE_ORDERS} "
                f"(one int64 slot each), was {self.max_orders_per_window}"
            )
        self.order_window_s = _setting(
            config, "order_window_s", order_window_s, DEFAULT_ORDER_WINDOW_S
        )
        self.max_drawdown_pct = _setting(
            config, "max_drawdown_pct", max_drawdown_pct, DEFAULT_MAX_DRAWDOWN_PCT
        )
        self.scenario_risk = scenario_risk
        limits = np.zeros(LIM_SIZE, dtype=np.float64)
        limits[LIM_MIN_CONFIDENCE] = config.min_confidence
        limits[LIM_MAX_POSITION_PCT] = config.max_position_pct
        limits[LIM_MAX_LEVERAGE] = config.max_leverage
        limits[LIM_PRICE_COLLAR_PCT] = config.price_collar_pct
        limits[LIM_ALLOW_SHORT] = 0.0
        limits[LIM_MAX_ORDER_QUANTITY] = self.max_order_quantity
        limits[LIM_MAX_ORDER_NOTIONAL] = self.max_order_notional
        limits[LIM_MAX_SECTOR_PCT] = config.max_sector_pct
        limits[LIM_MAX_VAR_PCT] = config.max_var_pct
        limits[LIM_MAX_CVAR_PCT] = config.max_cvar_pct
        limits[LIM_ORDER_WINDOW_S] = self.order_window_s
        self._limits = limits
        self._order_times = new_order_times(self.max_orders_per_window)
        self._out = np.zeros(2, dtype=np.float64)
        self._state = TradingState.ACTIVE
        self.halt_reason = ""
        self.halt_ts = 0
        self.passed = 0
        self.failed: dict[str, int] = {}

    # -- trading state ---------------------------------------------------------------------------

    @property
    def trading_state(self) -> TradingState:
        """Current trading state."""
        return self._state

    def set_state(self, state: TradingState, reason: str = "", ts: int = 0) -> None:
        """Switch between ACTIVE and REDUCING, or halt; leaving HALTED needs :meth:`reset`.

        Raises
        ------
        PermissionError
            When trading is HALTED and ``state`` is not HALTED.
        """
        state = TradingState(state)
        if self._state is TradingState.HALTED and state is not TradingState.HALTED:
            raise PermissionError(
                f"trading is HALTED ({self.halt_reason}); only reset(role='admin') resumes it"
            )
        if state is TradingState.HALTED and self._state is not TradingState.HALTED:
            self.halt_reason = reason or "halted by set_state"
            self.halt_ts = ts
        self._state = state

    def kill_switch(self, reason: str, ts: int) -> RiskAction:
        """Halt trading and return the ``EMERGENCY_EXIT`` the engine must carry out.

        The engine cancels every open order and flattens every position with
        ``check(..., reduce_only=True)`` orders; new orders are rejected until
        :meth:`reset` by an admin.
        """
        self._state = TradingState.HALTED
        self.halt_reason = f"kill switch: {reason}"
        self.halt_ts = ts
        return RiskAction(
            kind="kill_switch",
            reason=self.halt_reason,
            ts=ts,
            cancel_all=True,
            flatten_all=True,
            halt=True,
        )

    def reset(self, *, role: str) -> None:
        """Return to ACTIVE (admin only) after a kill switch, drawdown halt or REDUCING.

        Raises
        ------
        PermissionError
            When ``role`` is not ``"admin"``.
        """
        if role != ADMIN_ROLE:
            raise PermissionError(f"risk reset needs role {ADMIN_ROLE!r}, was {role!r}")
        self._state = TradingState.ACTIVE
        self.halt_reason = ""
        self.halt_ts = 0

    # -- post-trade ------------------------------------------------------------------------------

    def on_mark(
        self, symbol: str, price: float, position: float, average_price: float, ts: int = 0
    ) -> RiskAction | None:
        """Return a flatten action when the mark hits stop loss or take profit, else None.

        The return from entry is ``(price - average_price) / average_price``,
        negated for a short; ``<= -risk.stop_loss_pct`` stops and
        ``>= risk.take_profit_pct`` takes profit (boundaries included). The
        action is returned on every mark past the boundary; the engine sends
        one reduce-only order per symbol while one is open.
        """
        if position == 0.0 or not (average_price > 0.0 and price > 0.0):
            return None
        direction = 1.0 if position > 0.0 else -1.0
        change = direction * (price - average_price) / average_price
        config = self.config
        if change <= -config.stop_loss_pct:
            kind, limit_key, limit = "stop_loss", "risk.stop_loss_pct", config.stop_loss_pct
        elif change >= config.take_profit_pct:
            kind, limit_key, limit = "take_profit", "risk.take_profit_pct", config.take_profit_pct
        else:
            return None
        return RiskAction(
            kind=kind,
            reason=(
                f"{symbol} at {price} is {change:+.2%} from entry {average_price}, "
                f"{limit_key} {limit:.2%}"
            ),
            ts=ts,
            symbol=symbol,
            quantity=-position,
        )

    def on_equity(self, equity: float, peak: float, ts: int = 0) -> RiskAction | None:
        """Halt when equity is ``risk.max_drawdown_pct`` or more below its peak.

        Returns the ``drawdown_halt`` action (cancel all open orders, halt)
        the first time; None while within the limit or already HALTED. A
        non-finite drawdown halts (fails closed).
        """
        if self._state is TradingState.HALTED or not peak > 0.0:
            return None
        drawdown = (peak - equity) / peak
        if drawdown < self.max_drawdown_pct:
            return None
        self._state = TradingState.HALTED
        self.halt_reason = (
            f"drawdown {drawdown:.2%} from peak {peak} at or above "
            f"risk.max_drawdown_pct {self.max_drawdown_pct:.2%}"
        )
        self.halt_ts = ts
        return RiskAction(
            kind="drawdown_halt", reason=self.halt_reason, ts=ts, cancel_all=True, halt=True
        )

    # -- pre-trade -------------------------------------------------------------------------------

    def warm_up(self) -> None:
        """Load the compiled checks before the first order (called in INITIALIZING)."""
        pretrade_check(
            self._limits, 1, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0,
            STATE_ACTIVE, 0, _NO_THROTTLE, self._out,
        )  # fmt: skip
        if self.scenario_risk is not None:
            scenario = self.scenario_risk
            incremental_var(
                scenario.scenarios, scenario.base_pnl, 0, 0.0, scenario.confidence, scenario._buf
            )

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
        sector: str = "",
        sector_exposure: float | None = None,
        var_after: float | None = None,
        cvar_after: float | None = None,
        ts: int | None = None,
        reduce_only: bool = False,
    ) -> RiskDecision:
        """Return the decision for one order (see :func:`kernels.pretrade.pretrade_check`).

        Parameters
        ----------
        sector, sector_exposure : str, float, optional
            The order's sector and the gross value of all positions in it
            (including this symbol's); default: the sector check is skipped.
        var_after, cvar_after : float, optional
            VaR / CVaR of the book with the order, fractions of equity;
            default: from ``scenario_risk`` if set, else 0.0 (not checked).
        ts : int, optional
            Engine-clock time in ns; the order-rate throttle runs only when given.
        reduce_only : bool, default False
            A risk exit (stop loss, take profit, kill-switch flatten): checked
            as in REDUCING even when HALTED, without confidence or throttle.
        """
        self._limits[LIM_ALLOW_SHORT] = 1.0 if allow_short else 0.0
        value = reference_price * multiplier
        if sector_exposure is None:
            sector_exposure = -math.inf  # no sector: not checked
        if var_after is None:
            scenario = self.scenario_risk
            if scenario is None:
                var_after = 0.0
                cvar_after = 0.0 if cvar_after is None else cvar_after
            else:
                var, cvar = scenario.check_order(symbol, side_sign * quantity * value)
                var_after = var
                cvar_after = cvar if cvar_after is None else cvar_after
        elif cvar_after is None:
            cvar_after = 0.0
        if reduce_only:
            state = STATE_REDUCING
            confidence = math.inf
            order_times = _NO_THROTTLE
        else:
            state = int(self._state)
            order_times = self._order_times if ts is not None else _NO_THROTTLE
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
            sector_exposure,
            var_after,
            cvar_after,
            state,
            0 if ts is None else ts,
            order_times,
            self._out,
        )
        if code == codes.RISK_OK:
            self.passed += 1
            return _PASSED
        check = RISK_CHECK_NAMES[code]
        self.failed[check] = self.failed.get(check, 0) + 1
        return RiskDecision(code, check, self._reason(code, symbol, quantity, price, sector))

    def _reason(self, code: int, symbol: str, quantity: float, price: float, sector: str) -> str:
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
        if code == codes.RISK_HALTED:
            return f"trading is HALTED ({self.halt_reason}); {symbol} order rejected until reset"
        if code == codes.RISK_REDUCING_ONLY:
            return (
                f"trading is REDUCING: order would take |position| in {symbol} "
                f"from {limit} to {value}"
            )
        if code == codes.RISK_MAX_ORDER_QUANTITY:
            return f"order quantity {value} for {symbol} above risk.max_order_quantity {limit}"
        if code == codes.RISK_MAX_ORDER_NOTIONAL:
            return (
                f"order notional {value:.2f} for {symbol} above risk.max_order_notional {limit:.2f}"
            )
        if code == codes.RISK_SECTOR:
            value_text, limit_text = _distinct(value, limit, "%")
            return (
                f"sector {sector or symbol} exposure would be {value_text} of equity, "
                f"above risk.max_sector_pct {limit_text}"
            )
        if code in (codes.RISK_VAR, codes.RISK_CVAR):
            measure, key = (
                ("VaR", "max_var_pct") if code == codes.RISK_VAR else ("CVaR", "max_cvar_pct")
            )
            value_text, limit_text = _distinct(value, limit, "%")
            return (
                f"{measure} would be {value_text} of equity with the {symbol} order, "
                f"above risk.{key} {limit_text}"
            )
        if code == codes.RISK_THROTTLE:
            return (
                f"order rate for {symbol}: {self.max_orders_per_window} orders in the last "
                f"{value:.3f} s, at risk.max_orders_per_window {self.max_orders_per_window} "
                f"per {limit} s"
            )
        return f"order quantity {quantity} or price {price} for {symbol} is not positive and finite"


def _distinct(value: float, limit: float, kind: str) -> tuple[str, str]:
    """Format ``value`` and ``limit`` with 2 decimals, or more until they read differently."""
    for digits in range(2, 10):
        value_text = format(value, f".{digits}{kind}")
        limit_text = format(limit, f".{digits}{kind}")
        if value_text != limit_text:
            break
    return value_text, limit_text
