"""RiskManager: kernel codes become decisions whose reasons name the limit key and the value."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.config import RiskConfig, load_config
from engine.risk import RISK_CHECK_NAMES, RiskManager
from kernels import codes

DEFAULTS = load_config(None, env={}).risk
EQUITY = 100_000.0
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


def decide(manager: RiskManager | None = None, **overrides: Any):
    manager = manager if manager is not None else RiskManager(DEFAULTS)
    return manager.check(**{**BASE, **overrides})


def test_defaults_when_loaded_then_match_design_risk_table() -> None:
    assert (
        DEFAULTS.min_confidence,
        DEFAULTS.max_position_pct,
        DEFAULTS.max_leverage,
        DEFAULTS.price_collar_pct,
    ) == (0.55, 0.25, 10.0, 0.05)


def test_check_when_within_limits_then_passed_with_empty_reason() -> None:
    manager = RiskManager(DEFAULTS)
    decision = decide(manager)
    assert decision.passed
    assert (decision.code, decision.check, decision.reason) == (codes.RISK_OK, "ok", "")
    assert manager.passed == 1
    assert manager.failed == {}


DENIALS = [
    pytest.param(
        dict(confidence=0.5499),
        "min_confidence",
        ("risk.min_confidence", "0.55", "0.5499", "BTC/USDT"),
        id="confidence",
    ),
    pytest.param(
        dict(quantity=300.0),
        "max_position_pct",
        ("risk.max_position_pct", "25.00%", "30.00%", "BTC/USDT"),
        id="position",
    ),
    pytest.param(
        dict(quantity=200.0, gross_exposure=1_000_000.0),
        "max_leverage",
        ("risk.max_leverage", "10.0x", "10.20x"),
        id="leverage",
    ),
    pytest.param(
        dict(price=106.0, quantity=1.0),
        "price_collar_pct",
        ("risk.price_collar_pct", "5.00%", "6.00%", "106.0", "BTC/USDT"),
        id="collar",
    ),
    pytest.param(
        dict(side_sign=-1, quantity=1.5, position_qty=1.0),
        "insufficient_position",
        ("sell quantity 1.5", "position 1.0", "BTC/USDT"),
        id="insufficient_position",
    ),
    pytest.param(
        dict(quantity=math.nan),
        "order_values",
        ("quantity nan", "BTC/USDT"),
        id="nan_qty",
    ),
    pytest.param(
        dict(quantity=0.0),
        "order_values",
        ("quantity 0.0", "BTC/USDT"),
        id="zero_qty",
    ),
    pytest.param(
        dict(reference_price=math.nan),
        "reference_price",
        ("no reference price", "BTC/USDT"),
        id="no_reference",
    ),
    pytest.param(dict(equity=0.0), "equity", ("equity is 0.0",), id="zero_equity"),
    pytest.param(dict(equity=-12.5), "equity", ("equity is -12.5",), id="negative_equity"),
]


@pytest.mark.parametrize(("overrides", "check", "fragments"), DENIALS)
def test_check_when_limit_breached_then_reason_names_limit_and_value(
    overrides: dict[str, Any], check: str, fragments: tuple[str, ...]
) -> None:
    manager = RiskManager(DEFAULTS)
    decision = decide(manager, **overrides)
    assert not decision.passed
    assert decision.check == check
    assert RISK_CHECK_NAMES[decision.code] == check
    for fragment in fragments:
        assert fragment in decision.reason, (fragment, decision.reason)
    assert "\n" not in decision.reason
    assert manager.failed == {check: 1}
    assert manager.passed == 0


@pytest.mark.parametrize(
    ("overrides", "passes"),
    [
        (dict(confidence=0.5499), False),
        (dict(confidence=0.55), True),
        (dict(quantity=250.0), True),
        (dict(quantity=250.01), False),
        (dict(quantity=100.0, gross_exposure=990_000.0), True),
        (dict(quantity=100.01, gross_exposure=990_000.0), False),
        (dict(price=105.0, quantity=1.0), True),
        (dict(price=105.01, quantity=1.0), False),
        (dict(side_sign=-1, quantity=1.0, position_qty=1.0), True),
        (dict(side_sign=-1, quantity=1.00001, position_qty=1.0), False),
    ],
)
def test_check_when_at_boundary_then_passes_and_just_beyond_denies(
    overrides: dict[str, Any], passes: bool
) -> None:
    assert decide(**overrides).passed is passes


def test_check_when_reducing_position_above_limit_then_passes() -> None:
    # Long 600 = 60 % of equity; selling 100 still leaves 50 %, but reduces risk.
    assert decide(side_sign=-1, quantity=100.0, position_qty=600.0).passed


def test_check_when_allow_short_then_sell_from_flat_passes_and_flag_does_not_stick() -> None:
    manager = RiskManager(DEFAULTS)
    assert decide(manager, side_sign=-1, quantity=1.0, allow_short=True).passed
    assert decide(manager, side_sign=-1, quantity=1.0).check == "insufficient_position"


def test_check_when_config_loosened_then_limits_follow_config() -> None:
    config = RiskConfig(min_confidence=0.3, max_position_pct=0.5, price_collar_pct=0.1)
    manager = RiskManager(config)
    assert decide(manager, confidence=0.31, quantity=500.0, price=109.0).passed
    decision = decide(manager, quantity=501.0)
    assert "risk.max_position_pct 50.00%" in decision.reason


def test_check_when_failures_repeat_then_counted_per_check() -> None:
    manager = RiskManager(DEFAULTS)
    decide(manager, confidence=0.1)
    decide(manager, confidence=0.2)
    decide(manager, quantity=1_000.0)
    decide(manager)
    assert manager.failed == {"min_confidence": 2, "max_position_pct": 1}
    assert manager.passed == 1


def test_warm_up_when_called_then_counters_untouched() -> None:
    manager = RiskManager(DEFAULTS)
    manager.warm_up()
    assert manager.passed == 0
    assert manager.failed == {}


def test_risk_check_names_when_every_code_then_named() -> None:
    all_codes = {getattr(codes, n) for n in codes.__all__}
    assert set(RISK_CHECK_NAMES) == all_codes
    assert len(set(RISK_CHECK_NAMES.values())) == len(all_codes)


@given(
    quantity=st.floats(min_value=1e-3, max_value=2_000.0),
    position_qty=st.floats(min_value=0.0, max_value=2_000.0),
    side_sign=st.sampled_from((1, -1)),
    pct=st.floats(min_value=0.01, max_value=1.0),
    extra=st.floats(min_value=0.0, max_value=1.0),
)
def test_check_when_passes_with_max_position_pct_then_passes_with_larger_config(
    quantity: float, position_qty: float, side_sign: int, pct: float, extra: float
) -> None:
    overrides = dict(
        quantity=quantity,
        position_qty=position_qty,
        side_sign=side_sign,
        gross_exposure=position_qty * 100.0,
    )
    tight = decide(RiskManager(RiskConfig(max_position_pct=pct)), **overrides)
    loose = decide(RiskManager(RiskConfig(max_position_pct=pct + extra)), **overrides)
    if tight.passed:
        assert loose.passed
