"""Risk engine: one denial per limit, trading state, kill switch, post-trade exits, VaR impact.

Oracles: DESIGN.md's Risk table for the limits, plain arithmetic on round
numbers for the boundaries, and numpy (``np.quantile`` and the tail mean of
``scenarios @ exposures``) for the VaR / CVaR impact.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.config import RiskConfig, load_config
from engine.risk import (
    DEFAULT_MAX_DRAWDOWN_PCT,
    RiskAction,
    RiskManager,
    ScenarioRisk,
    TradingState,
)
from kernels import codes
from kernels.scenarios import generate_scenarios

DEFAULTS = load_config(None, env={}).risk
EQUITY = 100_000.0
SECOND = 1_000_000_000
BASE: dict[str, Any] = dict(
    symbol="BTC/USDT",
    side_sign=1,
    quantity=10.0,
    price=100.0,
    reference_price=100.0,
    confidence=0.8,
    position_qty=0.0,
    gross_exposure=0.0,
    equity=EQUITY,
)


def submit(manager: RiskManager, **overrides: Any):
    return manager.check(**{**BASE, **overrides})


def assert_rejected(decision, check: str, *fragments: str) -> None:
    assert not decision.passed
    assert decision.check == check
    for fragment in fragments:
        assert fragment in decision.reason, (fragment, decision.reason)


# -- one test per limit ----------------------------------------------------------------------------


def test_submit_order_when_confidence_below_min_then_rejects() -> None:
    decision = submit(RiskManager(DEFAULTS), confidence=0.5)
    assert_rejected(decision, "min_confidence", "risk.min_confidence 0.55", "0.5000")


def test_submit_order_when_position_size_exceeds_limit_then_rejects() -> None:
    decision = submit(RiskManager(DEFAULTS), quantity=260.0)
    assert_rejected(decision, "max_position_pct", "risk.max_position_pct 25.00%", "26.00%")


def test_submit_order_when_leverage_exceeds_limit_then_rejects() -> None:
    decision = submit(RiskManager(DEFAULTS), quantity=200.0, gross_exposure=990_000.0)
    assert_rejected(decision, "max_leverage", "risk.max_leverage 10.0x", "10.10x")


def test_submit_order_when_sector_exposure_exceeds_limit_then_rejects() -> None:
    manager = RiskManager(DEFAULTS)
    # Other layer-1 coins hold 25 %; 100 BTC at 100 adds 10 % -> 35 % > 30 %.
    args = dict(quantity=100.0, sector="layer1", sector_exposure=25_000.0)
    assert_rejected(
        submit(manager, **args), "max_sector_pct", "risk.max_sector_pct 30.00%", "35.00%", "layer1"
    )
    assert submit(manager, **{**args, "sector_exposure": 20_000.0}).passed


def test_submit_order_when_var_after_order_exceeds_limit_then_rejects() -> None:
    decision = submit(RiskManager(DEFAULTS), var_after=0.025, cvar_after=0.03)
    assert_rejected(decision, "max_var_pct", "VaR", "risk.max_var_pct 2.00%", "2.50%")


def test_submit_order_when_cvar_after_order_exceeds_limit_then_rejects() -> None:
    decision = submit(RiskManager(DEFAULTS), var_after=0.01, cvar_after=0.06)
    assert_rejected(decision, "max_cvar_pct", "CVaR", "risk.max_cvar_pct 5.00%", "6.00%")


def test_submit_order_when_price_outside_collar_then_rejects() -> None:
    decision = submit(RiskManager(DEFAULTS), price=94.0, quantity=1.0)
    assert_rejected(decision, "price_collar_pct", "risk.price_collar_pct 5.00%", "6.00%", "94.0")


def test_submit_order_when_quantity_exceeds_max_order_quantity_then_rejects() -> None:
    decision = submit(RiskManager(DEFAULTS, max_order_quantity=5.0), quantity=6.0)
    assert_rejected(decision, "max_order_quantity", "risk.max_order_quantity 5.0", "quantity 6.0")


def test_submit_order_when_notional_exceeds_max_order_notional_then_rejects() -> None:
    decision = submit(RiskManager(DEFAULTS, max_order_notional=500.0), quantity=6.0)
    assert_rejected(
        decision, "max_order_notional", "risk.max_order_notional 500.00", "notional 600.00"
    )


def test_submit_order_when_order_rate_exceeds_throttle_then_rejects() -> None:
    manager = RiskManager(DEFAULTS, max_orders_per_window=2, order_window_s=1.0)
    assert submit(manager, ts=0).passed
    assert submit(manager, ts=SECOND // 2).passed
    decision = submit(manager, ts=SECOND - 1)
    assert_rejected(
        decision, "max_orders_per_window", "risk.max_orders_per_window 2 per 1.0 s", "2 orders"
    )


def test_submit_order_when_halted_then_rejects() -> None:
    manager = RiskManager(DEFAULTS)
    manager.set_state(TradingState.HALTED, reason="operator pause")
    assert_rejected(submit(manager), "trading_halted", "HALTED", "operator pause")


def test_submit_order_when_reducing_and_order_adds_then_rejects() -> None:
    manager = RiskManager(DEFAULTS)
    manager.set_state(TradingState.REDUCING)
    assert_rejected(submit(manager, position_qty=5.0), "reducing_only", "REDUCING", "5.0 to 15.0")
    assert submit(manager, side_sign=-1, quantity=2.0, position_qty=5.0).passed


def test_submit_order_when_no_new_arguments_then_new_limits_do_not_interfere() -> None:
    # Backward compatibility: no ts, sector or VaR -> throttle, sector and VaR not checked.
    manager = RiskManager(DEFAULTS, max_orders_per_window=1)
    assert all(submit(manager, quantity=200.0).passed for _ in range(5))


# -- throttle on the engine clock ------------------------------------------------------------------


def test_throttle_when_simulated_clock_advances_then_window_slides() -> None:
    manager = RiskManager(DEFAULTS, max_orders_per_window=3, order_window_s=2.0)
    accepted = [submit(manager, ts=t * SECOND // 2).passed for t in range(10)]
    # Orders every 0.5 s, at most 3 in any 2 s window: accept t=0,0.5,1, then 2,2.5,3, ...
    assert accepted == [True, True, True, False, True, True, True, False, True, True]


def test_throttle_when_risk_exit_then_neither_throttled_nor_counted() -> None:
    manager = RiskManager(DEFAULTS, max_orders_per_window=1)
    assert submit(manager, ts=0).passed
    exit_args = dict(side_sign=-1, quantity=1.0, position_qty=10.0, ts=1, reduce_only=True)
    assert submit(manager, **exit_args).passed
    assert submit(manager, ts=2).check == "max_orders_per_window"


# -- trading state ---------------------------------------------------------------------------------


def test_set_state_when_active_and_reducing_then_switches_both_ways() -> None:
    manager = RiskManager(DEFAULTS)
    assert manager.trading_state is TradingState.ACTIVE
    manager.set_state(TradingState.REDUCING)
    assert manager.trading_state is TradingState.REDUCING
    manager.set_state(TradingState.ACTIVE)
    assert manager.trading_state is TradingState.ACTIVE


def test_set_state_when_halted_then_only_admin_reset_leaves_halted() -> None:
    manager = RiskManager(DEFAULTS)
    manager.set_state(TradingState.HALTED, reason="manual", ts=5)
    for state in (TradingState.ACTIVE, TradingState.REDUCING):
        with pytest.raises(PermissionError, match="only reset"):
            manager.set_state(state)
    manager.set_state(TradingState.HALTED)
    assert manager.halt_reason == "manual"
    manager.reset(role="admin")
    assert manager.trading_state is TradingState.ACTIVE


def test_reset_when_role_not_admin_then_permission_error_and_still_halted() -> None:
    manager = RiskManager(DEFAULTS)
    manager.kill_switch("test", ts=1)
    for role in ("viewer", "trader", ""):
        with pytest.raises(PermissionError, match=f"was {role!r}"):
            manager.reset(role=role)
    assert manager.trading_state is TradingState.HALTED


# -- kill switch -----------------------------------------------------------------------------------


def test_kill_switch_when_triggered_then_returns_cancel_all_flatten_all_halt() -> None:
    manager = RiskManager(DEFAULTS)
    action = manager.kill_switch("operator", ts=42)
    assert action == RiskAction(
        kind="kill_switch",
        reason="kill switch: operator",
        ts=42,
        cancel_all=True,
        flatten_all=True,
        halt=True,
    )
    assert manager.trading_state is TradingState.HALTED
    assert (manager.halt_reason, manager.halt_ts) == ("kill switch: operator", 42)


def test_submit_order_when_kill_switch_active_then_rejects_until_admin_reset() -> None:
    manager = RiskManager(DEFAULTS)
    manager.kill_switch("fat finger", ts=1)
    for overrides in (
        {},
        dict(side_sign=-1, quantity=1.0, position_qty=10.0),  # even reducing
        dict(confidence=1.0, quantity=0.001),
    ):
        assert_rejected(submit(manager, **overrides), "trading_halted", "kill switch: fat finger")
    with pytest.raises(PermissionError):
        manager.reset(role="viewer")
    assert submit(manager).check == "trading_halted"
    manager.reset(role="admin")
    assert submit(manager).passed
    assert manager.halt_reason == ""


def test_kill_switch_when_flattening_then_reduce_only_orders_pass_and_others_rejected() -> None:
    manager = RiskManager(DEFAULTS)
    manager.kill_switch("flatten", ts=1)
    flatten = dict(side_sign=-1, quantity=10.0, position_qty=10.0, confidence=0.0)
    assert submit(manager, reduce_only=True, **flatten).passed
    grow = dict(side_sign=1, quantity=10.0, position_qty=10.0)
    assert submit(manager, reduce_only=True, **grow).check == "reducing_only"


# -- post-trade: stop loss, take profit, drawdown --------------------------------------------------


@pytest.mark.parametrize(
    ("position", "price", "kind"),
    [
        (2.0, 98.0, "stop_loss"),  # long, -2 % exactly
        (2.0, 98.01, None),
        (2.0, 105.0, "take_profit"),  # long, +5 % exactly
        (2.0, 104.99, None),
        (-2.0, 102.0, "stop_loss"),  # short, -2 % exactly
        (-2.0, 101.99, None),
        (-2.0, 95.0, "take_profit"),  # short, +5 % exactly
        (-2.0, 95.01, None),
        (0.0, 50.0, None),
        (2.0, math.nan, None),
    ],
)
def test_on_mark_when_price_at_stop_loss_or_take_profit_boundary_then_flatten(
    position: float, price: float, kind: str | None
) -> None:
    action = RiskManager(DEFAULTS).on_mark("ETH/USDT", price, position, 100.0, ts=7)
    if kind is None:
        assert action is None
        return
    assert action is not None
    assert (action.kind, action.symbol, action.quantity, action.ts) == (
        kind,
        "ETH/USDT",
        -position,
        7,
    )
    assert f"risk.{kind}_pct" in action.reason
    assert not (action.cancel_all or action.flatten_all or action.halt)


def test_on_equity_when_drawdown_reaches_limit_then_halts_once_and_rejects() -> None:
    manager = RiskManager(DEFAULTS)
    assert DEFAULT_MAX_DRAWDOWN_PCT == 0.10
    assert manager.on_equity(90_001.0, 100_000.0, ts=1) is None
    assert manager.trading_state is TradingState.ACTIVE
    action = manager.on_equity(90_000.0, 100_000.0, ts=2)
    assert action is not None
    assert (action.kind, action.cancel_all, action.flatten_all, action.halt) == (
        "drawdown_halt",
        True,
        False,
        True,
    )
    assert "risk.max_drawdown_pct 10.00%" in action.reason
    assert manager.trading_state is TradingState.HALTED
    assert manager.on_equity(80_000.0, 100_000.0, ts=3) is None
    assert_rejected(submit(manager), "trading_halted", "drawdown 10.00%")


def test_on_equity_when_equity_nan_then_halts_fail_closed() -> None:
    manager = RiskManager(DEFAULTS, max_drawdown_pct=0.2)
    assert manager.on_equity(85_000.0, 100_000.0) is None
    assert manager.on_equity(math.nan, 100_000.0) is not None
    assert manager.trading_state is TradingState.HALTED


# -- configuration ---------------------------------------------------------------------------------


def test_init_when_limit_not_positive_then_error_names_key_and_value() -> None:
    with pytest.raises(ValueError, match=r"risk\.max_drawdown_pct must be > 0, was -1"):
        RiskManager(DEFAULTS, max_drawdown_pct=-1)
    with pytest.raises(ValueError, match=r"risk\.max_orders_per_window must be > 0, was 0"):
        RiskManager(DEFAULTS, max_orders_per_window=0)
    with pytest.raises(ValueError, match=r"risk\.max_orders_per_window must be <= 1000000"):
        RiskManager(DEFAULTS, max_orders_per_window=10**9)


def test_init_when_config_has_new_key_then_config_wins_over_default() -> None:
    class FutureRiskConfig(RiskConfig, frozen=True, kw_only=True):
        max_drawdown_pct: float = 0.2
        max_orders_per_window: int = 7

    manager = RiskManager(FutureRiskConfig())
    assert (manager.max_drawdown_pct, manager.max_orders_per_window) == (0.2, 7)


# -- VaR / CVaR impact over cached scenarios -------------------------------------------------------

SYMBOLS = ("BTC/USDT", "ETH/USDT", "SOL/USDT")
COV = np.array([[25e-4, 18e-4, 15e-4], [18e-4, 36e-4, 20e-4], [15e-4, 20e-4, 64e-4]])


@pytest.fixture(scope="module")
def scenarios() -> np.ndarray:
    return generate_scenarios(np.zeros(3), COV, 4_000, 20261125)


def numpy_var(scenarios: np.ndarray, weights: np.ndarray) -> tuple[float, float]:
    pnl = scenarios @ weights
    var = -np.quantile(pnl, 0.05)
    return float(var), float(-pnl[pnl <= -var].mean())


@pytest.mark.parametrize(
    ("symbol", "delta"), [("BTC/USDT", 5_000.0), ("ETH/USDT", -8_000.0), ("SOL/USDT", 0.0)]
)
def test_scenario_risk_when_order_added_then_matches_numpy_recomputation(
    scenarios: np.ndarray, symbol: str, delta: float
) -> None:
    risk = ScenarioRisk(scenarios, SYMBOLS)
    exposures = {"BTC/USDT": 10_000.0, "ETH/USDT": -4_000.0, "SOL/USDT": 3_000.0}
    risk.refresh(exposures, EQUITY)
    weights = np.array([exposures[s] for s in SYMBOLS]) / EQUITY
    assert (risk.var_before, risk.cvar_before) == pytest.approx(numpy_var(scenarios, weights))
    weights[SYMBOLS.index(symbol)] += delta / EQUITY
    var_after, cvar_after = risk.check_order(symbol, delta)
    assert (var_after, cvar_after) == pytest.approx(numpy_var(scenarios, weights), rel=1e-12)


def test_submit_order_when_scenario_var_above_limit_then_rejects_and_below_passes(
    scenarios: np.ndarray,
) -> None:
    risk = ScenarioRisk(scenarios, SYMBOLS)
    risk.refresh({"BTC/USDT": 10_000.0}, EQUITY)
    config = RiskConfig(max_position_pct=1.0, max_sector_pct=1.0)
    manager = RiskManager(config, scenario_risk=risk)
    manager.warm_up()
    for quantity in (50.0, 100.0, 150.0, 200.0, 300.0):
        weights = np.array([10_000.0 + quantity * 100.0, 0.0, 0.0]) / EQUITY
        var, cvar = numpy_var(scenarios, weights)
        decision = submit(manager, quantity=quantity, position_qty=100.0, gross_exposure=10_000.0)
        expected = (
            "ok"
            if var <= 0.02 and cvar <= 0.05
            else ("max_var_pct" if var > 0.02 else "max_cvar_pct")
        )
        assert decision.check == expected, (quantity, var, cvar, decision.reason)
    assert set(manager.failed) == {"max_var_pct"}
    assert manager.passed >= 1


def test_scenario_risk_when_symbol_unknown_or_not_refreshed_then_order_rejected_fail_closed(
    scenarios: np.ndarray,
) -> None:
    risk = ScenarioRisk(scenarios, SYMBOLS)
    assert all(math.isnan(x) for x in risk.check_order("BTC/USDT", 1_000.0))
    manager = RiskManager(DEFAULTS, scenario_risk=risk)
    assert submit(manager).check == "max_var_pct"
    risk.refresh({}, EQUITY)
    assert submit(manager).passed
    assert submit(manager, symbol="DOGE/USDT").check == "max_var_pct"


def test_scenario_risk_when_exposure_in_unknown_symbol_then_refresh_raises(
    scenarios: np.ndarray,
) -> None:
    risk = ScenarioRisk(scenarios, SYMBOLS)
    with pytest.raises(ValueError, match="no scenario column for DOGE/USDT"):
        risk.refresh({"DOGE/USDT": 1.0}, EQUITY)
    with pytest.raises(ValueError, match="symbols must name the 3"):
        ScenarioRisk(scenarios, SYMBOLS[:2])


# -- invariants ------------------------------------------------------------------------------------

LIMIT_FIELDS = (
    "max_position_pct",
    "max_leverage",
    "price_collar_pct",
    "max_sector_pct",
    "max_var_pct",
    "max_cvar_pct",
)


@given(
    tight=st.lists(st.floats(min_value=1e-3, max_value=1.0), min_size=9, max_size=9),
    loosen=st.lists(st.floats(min_value=0.0, max_value=5.0), min_size=9, max_size=9),
    side_sign=st.sampled_from((1, -1)),
    quantity=st.floats(min_value=1e-3, max_value=2_000.0),
    position_qty=st.floats(min_value=0.0, max_value=2_000.0),
    price_offset=st.floats(min_value=-0.1, max_value=0.1),
    confidence=st.floats(min_value=0.0, max_value=1.0),
    sector_other=st.floats(min_value=0.0, max_value=50_000.0),
    var_after=st.floats(min_value=0.0, max_value=0.1),
    cvar_after=st.floats(min_value=0.0, max_value=0.2),
)
def test_check_when_passes_with_tight_limits_then_passes_with_looser_limits(
    tight: list[float],
    loosen: list[float],
    side_sign: int,
    quantity: float,
    position_qty: float,
    price_offset: float,
    confidence: float,
    sector_other: float,
    var_after: float,
    cvar_after: float,
) -> None:
    def manager(values: list[float]) -> RiskManager:
        config = RiskConfig(
            min_confidence=max(1.0 - values[0], 0.0),
            **{field: values[i + 1] * (10.0 if field == "max_leverage" else 1.0)
               for i, field in enumerate(LIMIT_FIELDS)},
        )  # fmt: skip
        return RiskManager(
            config, max_order_quantity=values[7] * 2_000.0, max_order_notional=values[8] * 2e5
        )

    loose = [t + extra for t, extra in zip(tight, loosen, strict=True)]
    args = dict(
        side_sign=side_sign,
        quantity=quantity,
        price=100.0 * (1.0 + price_offset),
        confidence=confidence,
        position_qty=position_qty,
        gross_exposure=position_qty * 100.0,
        sector_exposure=sector_other + position_qty * 100.0,
        var_after=var_after,
        cvar_after=cvar_after,
    )
    if submit(manager(tight), **args).passed:
        assert submit(manager(loose), **args).passed


def test_every_new_code_when_denied_then_reason_is_one_line_naming_a_risk_key() -> None:
    # Every limit denial names its ``risk.*`` key (state denials name the state).
    named = {
        codes.RISK_CONFIDENCE,
        codes.RISK_POSITION_SIZE,
        codes.RISK_LEVERAGE,
        codes.RISK_PRICE_COLLAR,
        codes.RISK_MAX_ORDER_QUANTITY,
        codes.RISK_MAX_ORDER_NOTIONAL,
        codes.RISK_SECTOR,
        codes.RISK_VAR,
        codes.RISK_CVAR,
        codes.RISK_THROTTLE,
    }
    manager = RiskManager(DEFAULTS, max_order_quantity=1e4, max_order_notional=1e5,
                          max_orders_per_window=1)  # fmt: skip
    cases = [
        dict(confidence=0.1),
        dict(quantity=300.0),
        dict(quantity=200.0, gross_exposure=990_000.0),
        dict(price=110.0),
        dict(quantity=2e4, price=1.0, reference_price=1.0),
        dict(quantity=2_000.0),
        dict(sector_exposure=30_000.0),
        dict(var_after=0.03),
        dict(cvar_after=0.06),
        dict(ts=0),
        dict(ts=1),
    ]
    seen = set()
    for case in cases:
        decision = submit(manager, **case)
        if decision.code in named:
            seen.add(decision.code)
            assert f"risk.{decision.check}" in decision.reason
            assert "\n" not in decision.reason
    assert seen == named
