"""Portfolio accounting against independent oracles (math.fsum, hand-computed P&L).

The conventions under test are the ones in ``engine/portfolio.py``'s docstring:
fees reduce cash and are not realized P&L, so ``equity - initial_cash ==
realized + unrealized - fees``; positions are netted with an average entry
price; a fill through zero closes and reopens at the fill price.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.portfolio import CLOSED, OPENED, UPDATED, Portfolio

SYMBOL = "BTC/USDT"
INITIAL = 100_000.0


# (side_sign, quantity, price, fee): a buy-heavy sequence with partial closes and a flip.
FILLS = (
    (+1, 0.5, 60_000.25, 0.03),
    (+1, 0.125, 60_010.5, 0.0075),
    (-1, 0.3, 60_100.0, 0.018),
    (-1, 0.7, 59_950.75, 0.042),
    (+1, 0.05, 59_900.0, 0.003),
    (+1, 0.9, 60_200.1, 0.054),
)


def book_all(portfolio: Portfolio, fills, symbol: str = SYMBOL) -> list[int]:
    return [portfolio.apply_fill(symbol, s, q, p, f) for s, q, p, f in fills]


def identity_gap(p: Portfolio) -> float:
    return (p.equity - p.initial_cash) - (p.realized_pnl + p.unrealized_pnl - p.fees)


# -- cash, position, fees --------------------------------------------------------------------------


def test_apply_fill_when_buy_sell_sequence_then_cash_matches_fsum_oracle() -> None:
    p = Portfolio(INITIAL)
    book_all(p, FILLS)
    expected = (
        INITIAL
        - math.fsum(s * q * price for s, q, price, _ in FILLS)
        - math.fsum(f for *_, f in FILLS)
    )
    assert p.cash == pytest.approx(expected, rel=1e-9)


def test_apply_fill_when_buy_sell_sequence_then_cash_equals_sequential_float_recomputation() -> (
    None
):
    p = Portfolio(INITIAL)
    book_all(p, FILLS)
    cash = INITIAL
    for s, q, price, f in FILLS:
        cash -= s * q * price * 1.0 + f
    assert p.cash == cash


def test_apply_fill_when_buy_sell_sequence_then_position_is_sum_of_signed_quantities() -> None:
    p = Portfolio(INITIAL)
    book_all(p, FILLS)
    assert p.positions[SYMBOL].quantity == pytest.approx(
        math.fsum(s * q for s, q, _, _ in FILLS), rel=1e-12
    )


def test_apply_fill_when_buy_sell_sequence_then_fees_and_fill_count_accumulate() -> None:
    p = Portfolio(INITIAL)
    book_all(p, FILLS)
    assert p.fees == pytest.approx(math.fsum(f for *_, f in FILLS), rel=1e-12)
    assert p.fills == len(FILLS)


def test_apply_fill_when_fee_charged_then_cash_drops_by_fee_and_realized_pnl_excludes_it() -> None:
    p = Portfolio(INITIAL)
    p.apply_fill(SYMBOL, +1, 1.0, 100.0, 0.1)
    p.apply_fill(SYMBOL, -1, 1.0, 100.0, 0.1)
    assert p.realized_pnl == 0.0
    assert p.fees == pytest.approx(0.2)
    assert p.cash == pytest.approx(INITIAL - 0.2, rel=0, abs=1e-9)


def test_apply_fill_when_contract_multiplier_then_cash_and_pnl_are_scaled() -> None:
    p = Portfolio(INITIAL)
    p.position("BTC/USDT:USDT", multiplier=10.0)
    p.apply_fill("BTC/USDT:USDT", +1, 2.0, 100.0, 0.0)
    assert p.cash == INITIAL - 2.0 * 100.0 * 10.0
    p.apply_fill("BTC/USDT:USDT", -1, 1.0, 103.0, 0.0)
    assert p.realized_pnl == pytest.approx(3.0 * 1.0 * 10.0)
    p.mark("BTC/USDT:USDT", 104.0)
    assert p.unrealized_pnl == pytest.approx(4.0 * 1.0 * 10.0)
    assert identity_gap(p) == pytest.approx(0.0, abs=1e-9)


# -- realized P&L and average price ----------------------------------------------------------------


def test_apply_fill_when_partial_close_of_long_then_realizes_on_closed_part_only() -> None:
    p = Portfolio(INITIAL)
    assert p.apply_fill(SYMBOL, +1, 2.0, 100.0, 0.0) == OPENED
    assert p.apply_fill(SYMBOL, -1, 0.5, 120.0, 0.0) == UPDATED
    pos = p.positions[SYMBOL]
    assert p.realized_pnl == pytest.approx(10.0)  # (120 - 100) * 0.5
    assert pos.quantity == 1.5
    assert pos.average_price == 100.0  # a reduction does not move the entry price
    assert p.apply_fill(SYMBOL, -1, 1.5, 90.0, 0.0) == CLOSED
    assert p.realized_pnl == pytest.approx(10.0 - 15.0)  # + (90 - 100) * 1.5
    assert pos.realized_pnl == pytest.approx(-5.0)
    assert pos.quantity == 0.0


def test_apply_fill_when_partial_close_of_short_then_realizes_with_opposite_sign() -> None:
    p = Portfolio(INITIAL)
    p.apply_fill(SYMBOL, -1, 4.0, 50.0, 0.0)
    p.apply_fill(SYMBOL, +1, 1.0, 45.0, 0.0)
    assert p.realized_pnl == pytest.approx(5.0)  # short gains when price falls
    assert p.positions[SYMBOL].quantity == -3.0
    p.apply_fill(SYMBOL, +1, 1.0, 52.0, 0.0)
    assert p.realized_pnl == pytest.approx(5.0 - 2.0)


def test_apply_fill_when_long_1_at_100_sells_3_at_110_then_realizes_10_and_is_short_2_at_110() -> (
    None
):
    p = Portfolio(INITIAL)
    p.apply_fill(SYMBOL, +1, 1.0, 100.0, 0.0)
    result = p.apply_fill(SYMBOL, -1, 3.0, 110.0, 0.0)
    pos = p.positions[SYMBOL]
    assert result == UPDATED
    assert p.realized_pnl == pytest.approx(10.0)
    assert pos.quantity == -2.0
    assert pos.average_price == 110.0
    # Covering the new short at 105 realizes (110 - 105) * 2 on top.
    assert p.apply_fill(SYMBOL, +1, 2.0, 105.0, 0.0) == CLOSED
    assert p.realized_pnl == pytest.approx(20.0)


def test_apply_fill_when_adding_to_long_then_average_price_is_quantity_weighted() -> None:
    p = Portfolio(INITIAL)
    p.apply_fill(SYMBOL, +1, 1.0, 100.0, 0.0)
    p.apply_fill(SYMBOL, +1, 3.0, 104.0, 0.0)
    assert p.positions[SYMBOL].average_price == pytest.approx((100.0 + 3 * 104.0) / 4)
    assert p.realized_pnl == 0.0


def test_apply_fill_when_adding_to_short_then_average_price_is_quantity_weighted() -> None:
    p = Portfolio(INITIAL)
    p.apply_fill(SYMBOL, -1, 2.0, 50.0, 0.0)
    p.apply_fill(SYMBOL, -1, 2.0, 60.0, 0.0)
    pos = p.positions[SYMBOL]
    assert pos.quantity == -4.0
    assert pos.average_price == pytest.approx(55.0)


def test_apply_fill_when_closed_then_reopened_then_average_is_new_entry() -> None:
    p = Portfolio(INITIAL)
    p.apply_fill(SYMBOL, +1, 1.0, 100.0, 0.0)
    p.apply_fill(SYMBOL, -1, 1.0, 101.0, 0.0)
    assert p.apply_fill(SYMBOL, +1, 2.0, 90.0, 0.0) == OPENED
    assert p.positions[SYMBOL].average_price == 90.0


# -- marking, equity identity, drawdown ------------------------------------------------------------


def test_equity_when_marked_then_equity_gain_equals_realized_plus_unrealized_minus_fees() -> None:
    p = Portfolio(INITIAL)
    book_all(p, FILLS)
    p.apply_fill("ETH/USDT", -1, 3.0, 2_500.0, 0.75)
    p.mark(SYMBOL, 61_000.0)
    p.mark("ETH/USDT", 2_400.0)
    pos = p.positions[SYMBOL]
    assert pos.unrealized_pnl == pytest.approx((61_000.0 - pos.average_price) * pos.quantity)
    assert p.positions["ETH/USDT"].unrealized_pnl == pytest.approx(300.0)
    assert identity_gap(p) == pytest.approx(0.0, abs=1e-9 * INITIAL)
    expected_equity = p.cash + pos.quantity * 61_000.0 - 3.0 * 2_400.0
    assert p.equity == pytest.approx(expected_equity, rel=1e-12)


def test_mark_when_nan_or_unknown_symbol_then_ignored() -> None:
    p = Portfolio(INITIAL)
    p.apply_fill(SYMBOL, +1, 1.0, 100.0, 0.0)
    p.mark(SYMBOL, 105.0)
    p.mark(SYMBOL, math.nan)
    p.mark("ETH/USDT", 1.0)
    assert p.positions[SYMBOL].mark_price == 105.0
    assert "ETH/USDT" not in p.positions


def test_record_equity_when_equity_rises_and_falls_then_max_drawdown_matches_numpy_oracle() -> None:
    p = Portfolio(INITIAL)
    p.apply_fill(SYMBOL, +1, 1.0, 50_000.0, 0.0)
    marks = (50_000.0, 60_000.0, 45_000.0, 58_000.0, 40_000.0, 70_000.0, 65_000.0)
    for i, price in enumerate(marks):
        p.mark(SYMBOL, price)
        p.record_equity(1_000 + i)
    ts, equity = p.equity_curve()
    expected_equity = INITIAL - 50_000.0 + np.array(marks)
    np.testing.assert_array_equal(ts, np.arange(1_000, 1_000 + len(marks), dtype=np.int64))
    np.testing.assert_allclose(equity, expected_equity, rtol=1e-15)
    peaks = np.maximum.accumulate(np.concatenate(([INITIAL], expected_equity)))[1:]
    expected_dd = np.max((peaks - expected_equity) / peaks)
    assert p.max_drawdown == pytest.approx(expected_dd, rel=1e-12)
    assert p.max_drawdown == pytest.approx((110_000.0 - 90_000.0) / 110_000.0)
    assert p.peak_equity == 120_000.0
    assert ts.dtype == np.int64 and equity.dtype == np.float64


def test_record_equity_when_equity_only_rises_then_drawdown_is_zero() -> None:
    p = Portfolio(INITIAL)
    p.apply_fill(SYMBOL, +1, 1.0, 100.0, 0.0)
    for i, price in enumerate((100.0, 101.0, 102.0)):
        p.mark(SYMBOL, price)
        p.record_equity(i)
    assert p.max_drawdown == 0.0


def test_leverage_when_long_and_short_then_gross_exposure_over_equity() -> None:
    p = Portfolio(INITIAL)
    p.apply_fill(SYMBOL, +1, 1.0, 60_000.0, 0.0)
    p.apply_fill("ETH/USDT", -1, 10.0, 3_000.0, 0.0)
    assert p.gross_exposure == pytest.approx(90_000.0)
    assert p.positions_value == pytest.approx(30_000.0)
    assert p.leverage == pytest.approx(90_000.0 / INITIAL)


@pytest.mark.parametrize("cash", [0.0, -1.0, math.nan])
def test_portfolio_when_initial_cash_not_positive_then_raises_naming_key(cash: float) -> None:
    with pytest.raises(ValueError, match=r"engine\.initial_cash must be > 0"):
        Portfolio(cash)


# -- invariants ------------------------------------------------------------------------------------

fill_strategy = st.tuples(
    st.sampled_from((1, -1)),
    st.integers(min_value=1, max_value=5_000).map(lambda n: n * 0.001),  # 0.001 .. 5 units
    st.integers(min_value=100, max_value=10_000_000).map(lambda n: n * 0.01),  # 1 .. 100k
    st.integers(min_value=0, max_value=1_000).map(lambda n: n * 0.001),  # fee 0 .. 1
)


@given(
    fills=st.lists(fill_strategy, min_size=1, max_size=40),
    mark=st.integers(min_value=100, max_value=10_000_000).map(lambda n: n * 0.01),
)
def test_apply_fill_when_random_fills_then_equity_identity_and_position_sum_hold(
    fills: list[tuple[int, float, float, float]], mark: float
) -> None:
    p = Portfolio(INITIAL)
    book_all(p, fills)
    gross_q = math.fsum(q for _, q, _, _ in fills)
    gross_notional = math.fsum(q * price for _, q, price, _ in fills)
    tol = 1e-9 * (gross_notional + INITIAL)
    # Position equals the sum of signed quantities (up to float residue of netting).
    assert p.positions[SYMBOL].quantity == pytest.approx(
        math.fsum(s * q for s, q, _, _ in fills), abs=1e-9 * gross_q
    )
    # Cash moved by exactly the fills' value and fees.
    expected_cash = (
        INITIAL
        - math.fsum(s * q * price for s, q, price, _ in fills)
        - math.fsum(f for *_, f in fills)
    )
    assert p.cash == pytest.approx(expected_cash, abs=tol)
    assert p.fees == pytest.approx(math.fsum(f for *_, f in fills), abs=1e-9)
    # Cash + positions value is conserved relative to the fills: the equity identity.
    assert identity_gap(p) == pytest.approx(0.0, abs=tol)
    p.mark(SYMBOL, mark)
    assert identity_gap(p) == pytest.approx(0.0, abs=tol + 1e-9 * gross_q * mark)
