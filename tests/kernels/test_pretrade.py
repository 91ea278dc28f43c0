"""Pre-trade check kernel: each check denies exactly past its boundary, with value and limit.

Oracle: the limits of DESIGN.md's Risk table (min confidence 0.55, max single
position 25 % of equity, max leverage 10x, max sector 30 %, VaR 2 %, CVaR 5 %)
and plain arithmetic on round numbers whose float results are exact.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

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
    THROTTLE_EMPTY,
    new_order_times,
    pretrade_check,
)

EQUITY = 100_000.0
PRICE = 100.0


def limits(
    *,
    min_confidence: float = 0.55,
    max_position_pct: float = 0.25,
    max_leverage: float = 10.0,
    price_collar_pct: float = 0.05,
    allow_short: bool = False,
    max_order_quantity: float = math.inf,
    max_order_notional: float = math.inf,
    max_sector_pct: float = 0.30,
    max_var_pct: float = 0.02,
    max_cvar_pct: float = 0.05,
    order_window_s: float = 1.0,
) -> np.ndarray:
    lim = np.zeros(LIM_SIZE, dtype=np.float64)
    lim[LIM_MAX_ORDER_QUANTITY] = max_order_quantity
    lim[LIM_MAX_ORDER_NOTIONAL] = max_order_notional
    lim[LIM_MAX_SECTOR_PCT] = max_sector_pct
    lim[LIM_MAX_VAR_PCT] = max_var_pct
    lim[LIM_MAX_CVAR_PCT] = max_cvar_pct
    lim[LIM_ORDER_WINDOW_S] = order_window_s
    lim[LIM_MIN_CONFIDENCE] = min_confidence
    lim[LIM_MAX_POSITION_PCT] = max_position_pct
    lim[LIM_MAX_LEVERAGE] = max_leverage
    lim[LIM_PRICE_COLLAR_PCT] = price_collar_pct
    lim[LIM_ALLOW_SHORT] = 1.0 if allow_short else 0.0
    return lim


def check(
    lim: np.ndarray | None = None,
    *,
    side_sign: int = 1,
    quantity: float = 10.0,
    price: float = PRICE,
    reference_price: float = PRICE,
    confidence: float = 0.8,
    position_qty: float = 0.0,
    gross_exposure: float = 0.0,
    equity: float = EQUITY,
    multiplier: float = 1.0,
    sector_exposure: float | None = None,
    var_after: float = 0.0,
    cvar_after: float = 0.0,
    trading_state: int = STATE_ACTIVE,
    ts: int = 0,
    order_times: np.ndarray | None = None,
) -> tuple[int, float, float]:
    if sector_exposure is None:
        sector_exposure = abs(position_qty) * reference_price * multiplier
    out = np.full(2, -7.0)
    code = pretrade_check(
        limits() if lim is None else lim,
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
        new_order_times(0) if order_times is None else order_times,
        out,
    )
    return int(code), float(out[0]), float(out[1])


def test_pretrade_check_when_everything_within_limits_then_ok_and_out_cleared() -> None:
    assert check() == (RISK_OK, 0.0, 0.0)


# -- confidence ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("confidence", "code"),
    [(0.5499, RISK_CONFIDENCE), (0.55, RISK_OK), (0.5501, RISK_OK), (0.0, RISK_CONFIDENCE)],
)
def test_pretrade_check_when_confidence_at_boundary_then_passes_at_055_only(
    confidence: float, code: int
) -> None:
    result = check(confidence=confidence)
    assert result[0] == code
    if code == RISK_CONFIDENCE:
        assert result[1:] == (confidence, 0.55)


def test_pretrade_check_when_confidence_nan_then_denied() -> None:
    # Regression: `confidence < min_confidence` is False for NaN, so NaN passed (fail-open).
    assert check(confidence=math.nan)[0] == RISK_CONFIDENCE


# -- position size ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("quantity", "code"),
    [(249.99, RISK_OK), (250.0, RISK_OK), (250.01, RISK_POSITION_SIZE)],
)
def test_pretrade_check_when_position_at_25_pct_then_passes_and_above_fails(
    quantity: float, code: int
) -> None:
    # 250 * 100 / 100_000 == 0.25 exactly.
    result = check(quantity=quantity)
    assert result[0] == code
    if code == RISK_POSITION_SIZE:
        assert result[1] == pytest.approx(quantity * PRICE / EQUITY)
        assert result[2] == 0.25


def test_pretrade_check_when_adding_to_position_then_resulting_position_counts() -> None:
    assert check(quantity=50.0, position_qty=200.0)[0] == RISK_OK  # 250 -> 25 %
    code, value, _ = check(quantity=51.0, position_qty=200.0)
    assert code == RISK_POSITION_SIZE
    assert value == pytest.approx(0.251)


def test_pretrade_check_when_position_valued_at_reference_not_order_price() -> None:
    # Order price 104 is inside the collar; the position is valued at the mid (100).
    assert check(quantity=250.0, price=104.0, reference_price=100.0)[0] == RISK_OK


def test_pretrade_check_when_multiplier_then_position_scaled() -> None:
    assert check(quantity=25.0, multiplier=10.0)[0] == RISK_OK
    assert check(quantity=25.01, multiplier=10.0)[0] == RISK_POSITION_SIZE


@pytest.mark.parametrize("sell", [1.0, 100.0, 500.0])
def test_pretrade_check_when_reducing_oversized_long_then_passes_position_and_leverage(
    sell: float,
) -> None:
    # Long 500 (50 % of equity, way above 25 %) and leverage above 10x from other positions.
    result = check(
        side_sign=-1, quantity=sell, position_qty=500.0, gross_exposure=2_000_000.0, confidence=0.6
    )
    assert result[0] == RISK_OK


def test_pretrade_check_when_reducing_oversized_short_with_shorting_then_passes() -> None:
    lim = limits(allow_short=True)
    assert check(lim, side_sign=1, quantity=100.0, position_qty=-500.0)[0] == RISK_OK


def test_pretrade_check_when_flip_increases_magnitude_then_position_size_checked() -> None:
    lim = limits(allow_short=True)
    # Long 100 -> short 300 (30 %): not reducing, above 25 %.
    assert check(lim, side_sign=-1, quantity=400.0, position_qty=100.0)[0] == RISK_POSITION_SIZE


# -- leverage --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("quantity", "code"), [(100.0, RISK_OK), (100.01, RISK_LEVERAGE), (99.0, RISK_OK)]
)
def test_pretrade_check_when_leverage_at_10x_then_passes_and_above_fails(
    quantity: float, code: int
) -> None:
    # Other positions already 990_000 gross; +10_000 -> exactly 10x.
    result = check(quantity=quantity, gross_exposure=990_000.0)
    assert result[0] == code
    if code == RISK_LEVERAGE:
        assert result[1] == pytest.approx((990_000.0 + quantity * PRICE) / EQUITY)
        assert result[2] == 10.0


def test_pretrade_check_when_adding_to_position_then_leverage_replaces_old_value() -> None:
    # Gross 990_000 includes this symbol's 100 * 100 = 10_000; adding 100 -> 1_000_000.
    assert check(quantity=100.0, position_qty=100.0, gross_exposure=990_000.0)[0] == RISK_OK
    code, value, _ = check(quantity=101.0, position_qty=100.0, gross_exposure=990_000.0)
    assert code == RISK_LEVERAGE
    assert value == pytest.approx(10.001)


# -- price collar ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("price", "code"),
    [
        (105.0, RISK_OK),
        (95.0, RISK_OK),
        (105.01, RISK_PRICE_COLLAR),
        (94.99, RISK_PRICE_COLLAR),
    ],
)
def test_pretrade_check_when_price_at_5_pct_collar_then_passes_and_beyond_fails(
    price: float, code: int
) -> None:
    result = check(price=price, quantity=1.0)
    assert result[0] == code
    if code == RISK_PRICE_COLLAR:
        assert result[1] == pytest.approx(abs(price - PRICE) / PRICE)
        assert result[2] == 0.05


# -- spot shorting ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sell", "position", "code"),
    [
        (1.0, 1.0, RISK_OK),
        (1.5, 1.0, RISK_INSUFFICIENT_POSITION),
        (0.1, 0.0, RISK_INSUFFICIENT_POSITION),
        (0.1, -2.0, RISK_INSUFFICIENT_POSITION),
    ],
)
def test_pretrade_check_when_spot_sell_above_position_then_insufficient_position(
    sell: float, position: float, code: int
) -> None:
    result = check(side_sign=-1, quantity=sell, position_qty=position)
    assert result[0] == code
    if code == RISK_INSUFFICIENT_POSITION:
        assert result[1:] == (sell, max(position, 0.0))


def test_pretrade_check_when_shorting_allowed_then_sell_from_flat_passes() -> None:
    assert check(limits(allow_short=True), side_sign=-1, quantity=1.0)[0] == RISK_OK


def test_pretrade_check_when_sell_equals_float_sum_position_then_passes() -> None:
    # Position 0.1 + 0.2 built from fills; selling 0.3 must not look like a short.
    assert check(side_sign=-1, quantity=0.3, position_qty=0.1 + 0.2)[0] == RISK_OK


# -- order values, reference, equity ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("quantity", "price"),
    [(0.0, PRICE), (-1.0, PRICE), (math.nan, PRICE), (math.inf, PRICE), (1.0, 0.0),
     (1.0, math.nan), (1.0, math.inf)],
)  # fmt: skip
def test_pretrade_check_when_quantity_or_price_not_positive_finite_then_bad_order(
    quantity: float, price: float
) -> None:
    code, out_q, out_p = check(quantity=quantity, price=price, confidence=0.0)
    assert code == RISK_BAD_ORDER  # checked first, before confidence
    np.testing.assert_equal((out_q, out_p), (quantity, price))


@pytest.mark.parametrize("reference", [math.nan, 0.0, -1.0, math.inf])
def test_pretrade_check_when_no_reference_price_then_no_reference(reference: float) -> None:
    code, value, _ = check(reference_price=reference)
    assert code == RISK_NO_REFERENCE
    np.testing.assert_equal(value, reference)


@pytest.mark.parametrize("equity", [0.0, -5.0, math.nan])
def test_pretrade_check_when_equity_not_positive_then_no_equity(equity: float) -> None:
    code, value, _ = check(equity=equity)
    assert code == RISK_NO_EQUITY
    np.testing.assert_equal(value, equity)


def test_pretrade_check_when_gross_exposure_nan_then_bad_order() -> None:
    assert check(gross_exposure=math.nan)[0] == RISK_BAD_ORDER


def test_pretrade_check_when_several_checks_fail_then_first_in_documented_order() -> None:
    # Low confidence, bad collar and oversized: confidence is reported.
    assert check(confidence=0.1, price=200.0, quantity=10_000.0)[0] == RISK_CONFIDENCE
    # Bad collar and oversized: collar comes before position size.
    assert check(price=200.0, quantity=10_000.0)[0] == RISK_PRICE_COLLAR


# -- invariants ------------------------------------------------------------------------------------


@given(
    side_sign=st.sampled_from((1, -1)),
    quantity=st.floats(min_value=1e-5, max_value=1e4),
    price_offset=st.floats(min_value=-0.1, max_value=0.1),
    position_qty=st.floats(min_value=-1e4, max_value=1e4),
    other_exposure=st.floats(min_value=0.0, max_value=5e6),
    equity=st.floats(min_value=1.0, max_value=1e7),
    confidence=st.floats(min_value=0.0, max_value=1.0),
    allow_short=st.booleans(),
    pct=st.floats(min_value=1e-4, max_value=2.0),
    extra=st.floats(min_value=0.0, max_value=10.0),
)
def test_pretrade_check_when_passes_with_max_position_pct_then_passes_with_larger(
    side_sign: int,
    quantity: float,
    price_offset: float,
    position_qty: float,
    other_exposure: float,
    equity: float,
    confidence: float,
    allow_short: bool,
    pct: float,
    extra: float,
) -> None:
    gross = other_exposure + abs(position_qty) * PRICE
    args = dict(
        side_sign=side_sign,
        quantity=quantity,
        price=PRICE * (1.0 + price_offset),
        confidence=confidence,
        position_qty=position_qty,
        gross_exposure=gross,
        equity=equity,
    )
    small = check(limits(max_position_pct=pct, allow_short=allow_short), **args)
    large = check(limits(max_position_pct=pct + extra, allow_short=allow_short), **args)
    if small[0] == RISK_OK:
        assert large[0] == RISK_OK
    # Loosening one limit can only turn a position-size denial into a pass or a later check.
    if large[0] == RISK_POSITION_SIZE:
        assert small[0] == RISK_POSITION_SIZE


# -- order quantity and notional -------------------------------------------------------------------


@pytest.mark.parametrize(("quantity", "code"), [(5.0, RISK_OK), (5.0001, RISK_MAX_ORDER_QUANTITY)])
def test_pretrade_check_when_quantity_at_max_order_quantity_then_passes_and_above_fails(
    quantity: float, code: int
) -> None:
    result = check(limits(max_order_quantity=5.0), quantity=quantity)
    assert result[0] == code
    if code != RISK_OK:
        assert result[1:] == (quantity, 5.0)


@pytest.mark.parametrize(("quantity", "code"), [(10.0, RISK_OK), (10.01, RISK_MAX_ORDER_NOTIONAL)])
def test_pretrade_check_when_notional_at_max_order_notional_then_passes_and_above_fails(
    quantity: float, code: int
) -> None:
    # Notional is quantity x order price x multiplier: 10 x 50 x 2 = 1000.
    lim = limits(max_order_notional=1_000.0)
    result = check(lim, quantity=quantity, price=50.0, reference_price=50.0, multiplier=2.0)
    assert result[0] == code
    if code != RISK_OK:
        assert result[1] == pytest.approx(quantity * 100.0)
        assert result[2] == 1_000.0


def test_pretrade_check_when_reducing_order_above_max_quantity_then_still_denied() -> None:
    # Fat-finger limits apply to every order, risk-reducing or not.
    lim = limits(max_order_quantity=5.0)
    assert check(lim, side_sign=-1, quantity=6.0, position_qty=10.0)[0] == RISK_MAX_ORDER_QUANTITY


# -- sector concentration --------------------------------------------------------------------------


@pytest.mark.parametrize(("quantity", "code"), [(100.0, RISK_OK), (100.01, RISK_SECTOR)])
def test_pretrade_check_when_sector_at_30_pct_then_passes_and_above_fails(
    quantity: float, code: int
) -> None:
    # Other names in the sector hold 20_000 (20 %); 100 at 100 adds 10 %.
    result = check(quantity=quantity, sector_exposure=20_000.0)
    assert result[0] == code
    if code != RISK_OK:
        assert result[1] == pytest.approx(0.3 + 0.01 * 100.0 / EQUITY)
        assert result[2] == 0.30


def test_pretrade_check_when_sector_includes_own_position_then_old_value_replaced() -> None:
    # Sector 29_000 includes our 50 units (5_000); adding 10 makes it 30_000 = 30 %.
    assert check(quantity=10.0, position_qty=50.0, sector_exposure=29_000.0)[0] == RISK_OK
    assert check(quantity=10.01, position_qty=50.0, sector_exposure=29_000.0)[0] == RISK_SECTOR


def test_pretrade_check_when_sector_exposure_minus_inf_then_skipped_and_nan_denied() -> None:
    assert check(quantity=10.0, sector_exposure=-math.inf)[0] == RISK_OK
    assert check(quantity=10.0, sector_exposure=math.nan)[0] == RISK_SECTOR


def test_pretrade_check_when_reducing_in_crowded_sector_then_passes() -> None:
    assert check(side_sign=-1, quantity=10.0, position_qty=50.0, sector_exposure=90_000.0)[0] == (
        RISK_OK
    )


# -- VaR and CVaR impact ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("var_after", "cvar_after", "code"),
    [
        (0.02, 0.05, RISK_OK),
        (0.0201, 0.03, RISK_VAR),
        (0.01, 0.0501, RISK_CVAR),
        (math.nan, 0.01, RISK_VAR),
        (0.01, math.nan, RISK_CVAR),
    ],
)
def test_pretrade_check_when_var_or_cvar_after_order_beyond_limit_then_denied(
    var_after: float, cvar_after: float, code: int
) -> None:
    result = check(var_after=var_after, cvar_after=cvar_after)
    assert result[0] == code
    if code == RISK_VAR and not math.isnan(var_after):
        assert result[1:] == (var_after, 0.02)
    if code == RISK_CVAR and not math.isnan(cvar_after):
        assert result[1:] == (cvar_after, 0.05)


def test_pretrade_check_when_reducing_with_var_above_limit_then_passes() -> None:
    assert check(side_sign=-1, quantity=5.0, position_qty=10.0, var_after=0.5)[0] == RISK_OK


# -- trading state ---------------------------------------------------------------------------------


def test_pretrade_check_when_halted_then_everything_denied_even_reducing() -> None:
    assert check(trading_state=STATE_HALTED)[0] == RISK_HALTED
    assert check(trading_state=STATE_HALTED, side_sign=-1, position_qty=10.0)[0] == RISK_HALTED
    assert check(trading_state=STATE_HALTED, quantity=math.nan)[0] == RISK_HALTED


@pytest.mark.parametrize(
    ("side_sign", "quantity", "position_qty", "code"),
    [
        (-1, 5.0, 10.0, RISK_OK),  # reduce a long
        (-1, 10.0, 10.0, RISK_OK),  # close it
        (-1, 15.0, 10.0, RISK_OK),  # flip to a smaller short
        (-1, 20.0, 10.0, RISK_REDUCING_ONLY),  # flip to an equal short
        (1, 1.0, 10.0, RISK_REDUCING_ONLY),  # add to a long
        (1, 1.0, 0.0, RISK_REDUCING_ONLY),  # open from flat
        (1, 4.0, -5.0, RISK_OK),  # reduce a short
        (-1, 1.0, -5.0, RISK_REDUCING_ONLY),  # add to a short
    ],
)
def test_pretrade_check_when_reducing_state_then_only_position_reducing_orders_pass(
    side_sign: int, quantity: float, position_qty: float, code: int
) -> None:
    lim = limits(allow_short=True)
    result = check(
        lim,
        side_sign=side_sign,
        quantity=quantity,
        position_qty=position_qty,
        trading_state=STATE_REDUCING,
    )
    assert result[0] == code
    if code == RISK_REDUCING_ONLY:
        assert result[1:] == (abs(position_qty + side_sign * quantity), abs(position_qty))


# -- throttle --------------------------------------------------------------------------------------

SECOND = 1_000_000_000


def test_pretrade_check_when_throttle_ring_full_within_window_then_denied_until_window_passes() -> (
    None
):
    ring = new_order_times(3)
    for ts in (0, SECOND // 4, SECOND // 2):
        assert check(ts=ts, order_times=ring)[0] == RISK_OK
    code, span, window = check(ts=SECOND - 1, order_times=ring)
    assert (code, window) == (RISK_THROTTLE, 1.0)
    assert span == pytest.approx(1.0 - 1e-9)
    # A denied order is not recorded; exactly one window after the first, one slot frees.
    assert check(ts=SECOND, order_times=ring)[0] == RISK_OK
    assert check(ts=SECOND, order_times=ring)[0] == RISK_THROTTLE
    assert list(ring) == [SECOND, SECOND // 4, SECOND // 2, 1]


def test_pretrade_check_when_other_check_fails_then_throttle_slot_not_used() -> None:
    ring = new_order_times(1)
    assert check(ts=0, confidence=0.1, order_times=ring)[0] == RISK_CONFIDENCE
    assert list(ring) == [THROTTLE_EMPTY, 0]
    assert check(ts=0, order_times=ring)[0] == RISK_OK
    assert check(ts=1, order_times=ring)[0] == RISK_THROTTLE


def test_pretrade_check_when_throttle_ring_empty_then_unlimited() -> None:
    ring = new_order_times(0)
    assert all(check(ts=0, order_times=ring)[0] == RISK_OK for _ in range(50))


def test_pretrade_check_when_new_checks_fail_together_then_first_in_documented_order() -> None:
    ring = new_order_times(1)
    ring[0] = 0
    args = dict(quantity=20_000.0, price=200.0, sector_exposure=1e9, var_after=1.0, ts=0)
    lim = limits(max_order_quantity=1.0, max_order_notional=1.0)
    assert check(lim, trading_state=STATE_HALTED, **args)[0] == RISK_HALTED
    assert check(lim, **args)[0] == RISK_MAX_ORDER_QUANTITY
    assert check(limits(max_order_notional=1.0), **args)[0] == RISK_MAX_ORDER_NOTIONAL
    assert check(**args)[0] == RISK_PRICE_COLLAR
    del args["price"]
    assert check(trading_state=STATE_REDUCING, **args)[0] == RISK_REDUCING_ONLY
    assert check(**args)[0] == RISK_POSITION_SIZE
    big = limits(max_position_pct=1e9)
    assert check(big, **args)[0] == RISK_LEVERAGE
    big = limits(max_position_pct=1e9, max_leverage=1e9)
    assert check(big, **args)[0] == RISK_SECTOR
    big = limits(max_position_pct=1e9, max_leverage=1e9, max_sector_pct=1e9)
    assert check(big, **args)[0] == RISK_VAR
    assert check(big, **{**args, "var_after": 0.0, "cvar_after": 1.0})[0] == RISK_CVAR
    assert check(big, **{**args, "var_after": 0.0}, order_times=ring)[0] == RISK_THROTTLE


@given(
    side_sign=st.sampled_from((1, -1)),
    quantity=st.floats(min_value=1e-3, max_value=1e4),
    price_offset=st.floats(min_value=-0.1, max_value=0.1),
    position_qty=st.floats(min_value=-1e4, max_value=1e4),
    other_exposure=st.floats(min_value=0.0, max_value=5e6),
    sector_other=st.floats(min_value=0.0, max_value=1e6),
    var_after=st.floats(min_value=0.0, max_value=0.2),
    cvar_after=st.floats(min_value=0.0, max_value=0.4),
    confidence=st.floats(min_value=0.0, max_value=1.0),
    tight=st.lists(st.floats(min_value=1e-4, max_value=2.0), min_size=9, max_size=9),
    loosen=st.lists(st.floats(min_value=0.0, max_value=10.0), min_size=9, max_size=9),
    states=st.sampled_from(
        (
            (STATE_HALTED, STATE_REDUCING),
            (STATE_REDUCING, STATE_ACTIVE),
            (STATE_ACTIVE, STATE_ACTIVE),
        )
    ),
)
def test_pretrade_check_when_passes_with_tight_limits_then_passes_with_looser_ones(
    side_sign: int,
    quantity: float,
    price_offset: float,
    position_qty: float,
    other_exposure: float,
    sector_other: float,
    var_after: float,
    cvar_after: float,
    confidence: float,
    tight: list[float],
    loosen: list[float],
    states: tuple[int, int],
) -> None:
    def make(values: list[float]) -> np.ndarray:
        return limits(
            min_confidence=1.0 - min(values[0], 1.0),
            max_position_pct=values[1],
            max_leverage=values[2] * 10.0,
            price_collar_pct=values[3],
            max_order_quantity=values[4] * 1e4,
            max_order_notional=values[5] * 1e6,
            max_sector_pct=values[6],
            max_var_pct=values[7] * 0.1,
            max_cvar_pct=values[8] * 0.2,
            allow_short=True,
        )

    args = dict(
        side_sign=side_sign,
        quantity=quantity,
        price=PRICE * (1.0 + price_offset),
        confidence=confidence,
        position_qty=position_qty,
        gross_exposure=other_exposure + abs(position_qty) * PRICE,
        sector_exposure=sector_other + abs(position_qty) * PRICE,
        var_after=var_after,
        cvar_after=cvar_after,
    )
    loose = [t + extra for t, extra in zip(tight, loosen, strict=True)]
    strict_result = check(make(tight), trading_state=states[0], **args)
    loose_result = check(make(loose), trading_state=states[1], **args)
    if strict_result[0] == RISK_OK:
        assert loose_result[0] == RISK_OK
