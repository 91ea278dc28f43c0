"""Signal backtest and sweeps against vectorbt (pinned), TA-Lib and a plain-Python loop.

The pinned cases in ``tests/data/vectorbt_backtest_cases.json`` were written by
``tests/data/make_vectorbt_cases.py`` from vectorbt 1.2; only the ``slow`` test
imports vectorbt.
"""

import json
import math
from pathlib import Path

import numba
import numpy as np
import pytest
import talib
from hypothesis import given, settings
from hypothesis import strategies as st

from kernels.backtest import (
    STAT_CLOSED_TRADE_COUNT,
    STAT_MAX_DRAWDOWN,
    STAT_SHARPE_RATIO,
    STAT_SORTINO_RATIO,
    STAT_TOTAL_RETURN,
    STAT_TRADE_COUNT,
    STAT_WIN_RATE,
    STATS_SIZE,
    TRADE_CLOSED,
    TRADE_OPEN,
    ma_crossover_sweep,
    rsi_threshold_sweep,
    signals_backtest,
)
from kernels.dtypes import trade_record_dt

CASES_PATH = Path(__file__).parents[1] / "data" / "vectorbt_backtest_cases.json"
CASES = json.loads(CASES_PATH.read_text())
STAT_OFFSETS = {
    "total_return": STAT_TOTAL_RETURN,
    "sharpe_ratio": STAT_SHARPE_RATIO,
    "sortino_ratio": STAT_SORTINO_RATIO,
    "max_drawdown": STAT_MAX_DRAWDOWN,
    "win_rate": STAT_WIN_RATE,
    "trade_count": STAT_TRADE_COUNT,
    "closed_trade_count": STAT_CLOSED_TRADE_COUNT,
}
TOL = {"rtol": 1e-9, "atol": 1e-12}
invariant_settings = settings(max_examples=100, derandomize=True, database=None, deadline=None)


def floats(values) -> np.ndarray:
    return np.asarray(values, dtype=np.float64)  # also parses "nan", "inf", "-inf"


def random_walk(seed: int, n: int, sigma: float = 0.01) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return 100.0 * np.exp(np.cumsum(rng.normal(0.0, sigma, n)))


def crosses_above(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a > b`` now and ``a <= b`` on the previous bar (False on bar 0 and around NaN)."""
    out = np.zeros(a.shape[0], dtype=bool)
    out[1:] = (a[1:] > b[1:]) & (a[:-1] <= b[:-1])
    return out


def reference_backtest(close, entries, exits, fees, init_cash):
    """The fill rules of the module docstring as a plain loop, without vectorbt's snapping."""
    cash, position, mark, trades = init_cash, 0.0, math.nan, []
    equity = np.empty(close.shape[0])
    for i, price in enumerate(close):
        if not math.isnan(price):
            mark = price
            if entries[i] and not exits[i] and position == 0.0:
                position = cash / (1.0 + fees) / price
                trades.append([i, position * price, cash - cash / (1.0 + fees)])
                cash = 0.0
            elif exits[i] and not entries[i] and position > 0.0:
                gross = position * price
                trades[-1] += [i, price, gross * fees]
                cash, position = gross - gross * fees, 0.0
        equity[i] = cash + position * (mark if position else 0.0)
    return equity, trades


# ----------------------------------------------------------- signals_backtest


@pytest.mark.parametrize("case", CASES["signals_backtest"], ids=lambda c: c["name"])
def test_signals_backtest_matches_pinned_vectorbt(case: dict) -> None:
    close = floats(case["close"])
    equity, trades, stats = signals_backtest(
        close,
        np.asarray(case["entries"]),
        np.asarray(case["exits"]),
        fees=case["fees"],
        init_cash=case["init_cash"],
    )
    expected = case["expected"]
    np.testing.assert_allclose(equity, floats(expected["equity"]), **TOL)
    assert trades.dtype == trade_record_dt
    for field, values in expected["trades"].items():
        want = floats(values)
        got = trades[field].astype(np.float64)
        # Documented deviation: vectorbt leaves an open trade unpriced when the
        # last close is NaN; we mark it to the last finite close, as the equity does.
        unpriced = np.isnan(want) & (trades["status"] == TRADE_OPEN)
        if unpriced.any():
            assert field in ("exit_price", "pnl", "return")
            got = np.where(unpriced, np.nan, got)
        np.testing.assert_allclose(got, want, err_msg=field, **TOL)
    assert stats.shape == (STATS_SIZE,)
    for name, value in expected["stats"].items():
        np.testing.assert_allclose(stats[STAT_OFFSETS[name]], float(value), err_msg=name, **TOL)


def test_open_trade_after_trailing_nan_close_is_marked_to_last_finite_close() -> None:
    close = np.array([np.nan, 12.0, 13.0, 14.0, np.nan])
    entries = np.array([True, False, True, False, False])  # the NaN-bar entry is dropped
    exits = np.zeros(5, dtype=bool)
    equity, trades, stats = signals_backtest(close, entries, exits, fees=0.0, init_cash=130.0)
    np.testing.assert_array_equal(equity, [130.0, 130.0, 130.0, 140.0, 140.0])
    assert trades.shape == (1,)
    trade = trades[0]
    assert (trade["entry_idx"], trade["exit_idx"], trade["status"]) == (2, 4, TRADE_OPEN)
    assert (trade["exit_price"], trade["pnl"], trade["exit_fees"]) == (14.0, 10.0, 0.0)
    assert stats[STAT_TOTAL_RETURN] == equity[-1] / 130.0 - 1.0


def test_same_bar_entry_and_exit_cancel_even_when_flat() -> None:
    close = np.array([10.0, 11.0, 12.0])
    both = np.array([True, False, False])
    _, trades, stats = signals_backtest(close, both, both)
    assert trades.shape == (0,)
    assert stats[STAT_TOTAL_RETURN] == 0.0


def test_all_in_buy_size_leaves_exactly_the_fee() -> None:
    # vectorbt's size=inf: size = cash / (price * (1 + fees)), fee = cash - size * price.
    close = np.array([40.0, 50.0])
    _, trades, _ = signals_backtest(
        close, np.array([True, False]), np.array([False, True]), fees=0.25, init_cash=100.0
    )
    assert trades["size"][0] == 100.0 / 1.25 / 40.0
    assert trades["entry_fees"][0] == 100.0 - 100.0 / 1.25
    assert trades["exit_fees"][0] == 2.0 * 50.0 * 0.25
    assert trades["status"][0] == TRADE_CLOSED


@invariant_settings
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 120),
    fees=st.sampled_from([0.0, 0.0005, 0.01, 0.3]),
    signal_rate=st.floats(0.05, 0.6),
    nan_rate=st.sampled_from([0.0, 0.1, 0.5]),
)
def test_signals_backtest_equals_plain_loop(seed, n, fees, signal_rate, nan_rate) -> None:
    rng = np.random.default_rng(seed)
    close = random_walk(seed, n, sigma=0.05)
    close[rng.random(n) < nan_rate] = np.nan
    entries = rng.random(n) < signal_rate
    exits = rng.random(n) < signal_rate
    equity, trades, stats = signals_backtest(close, entries, exits, fees=fees, init_cash=1e4)
    want_equity, want_trades = reference_backtest(close, entries, exits, fees, 1e4)
    message = f"seed={seed}"
    np.testing.assert_allclose(equity, want_equity, rtol=1e-12, err_msg=message)
    assert trades.shape[0] == len(want_trades), message
    closed = [t for t in want_trades if len(t) == 6]
    np.testing.assert_array_equal(trades["status"][: len(closed)], TRADE_CLOSED, message)
    for record, (entry_idx, gross, entry_fees, *exit_) in zip(trades, want_trades, strict=True):
        assert record["entry_idx"] == entry_idx, message
        np.testing.assert_allclose(record["entry_fees"], entry_fees, rtol=1e-12)
        np.testing.assert_allclose(record["size"] * record["entry_price"], gross, rtol=1e-12)
        if exit_:
            assert record["exit_idx"] == exit_[0], message
            np.testing.assert_allclose([record["exit_price"], record["exit_fees"]], exit_[1:])
    wins = sum(1 for t in trades if t["status"] == TRADE_CLOSED and t["pnl"] > 0.0)
    np.testing.assert_equal(stats[STAT_WIN_RATE], wins / len(closed) if closed else np.nan)
    peak = np.maximum.accumulate(equity)
    np.testing.assert_allclose(stats[STAT_MAX_DRAWDOWN], np.max(1.0 - equity / peak), atol=1e-15)


def test_periods_per_year_scales_sharpe_and_sortino_by_its_square_root() -> None:
    close = random_walk(5, 300)
    rng = np.random.default_rng(5)
    entries, exits = rng.random(300) < 0.2, rng.random(300) < 0.2
    _, _, daily = signals_backtest(close, entries, exits)
    _, _, trading = signals_backtest(close, entries, exits, periods_per_year=252.0)
    for offset in (STAT_SHARPE_RATIO, STAT_SORTINO_RATIO):
        np.testing.assert_allclose(trading[offset], daily[offset] * math.sqrt(252 / 365))


# ---------------------------------------------------------------------- sweeps


@pytest.mark.parametrize("case", CASES["ma_crossover_sweep"], ids=lambda c: c["name"])
def test_ma_crossover_sweep_matches_pinned_vectorbt(case: dict) -> None:
    out = ma_crossover_sweep(
        floats(case["close"]),
        case["fast_windows"],
        case["slow_windows"],
        fees=case["fees"],
        init_cash=case["init_cash"],
    )
    np.testing.assert_allclose(out, floats(case["expected"]), **TOL)


@pytest.mark.parametrize("case", CASES["rsi_threshold_sweep"], ids=lambda c: c["name"])
def test_rsi_threshold_sweep_matches_pinned_vectorbt(case: dict) -> None:
    out = rsi_threshold_sweep(
        floats(case["close"]),
        case["rsi_periods"],
        case["lower_thresholds"],
        case["upper_thresholds"],
        fees=case["fees"],
        init_cash=case["init_cash"],
    )
    np.testing.assert_allclose(out, floats(case["expected"]), **TOL)


@invariant_settings
@given(
    seed=st.integers(0, 2**32 - 1),
    fast=st.integers(1, 30),
    slow=st.integers(2, 60),
    fees=st.sampled_from([0.0, 0.001, 0.05]),
)
def test_ma_crossover_sweep_equals_signals_backtest_on_talib_crosses(seed, fast, slow, fees):
    close = random_walk(seed, 400)
    got = ma_crossover_sweep(close, [fast], [slow], fees=fees)[0, 0]
    if fast >= slow:
        assert math.isnan(got)
        return
    fast_ma = close if fast == 1 else talib.SMA(close, fast)
    slow_ma = talib.SMA(close, slow)
    entries, exits = crosses_above(fast_ma, slow_ma), crosses_above(slow_ma, fast_ma)
    _, _, stats = signals_backtest(close, entries, exits, fees=fees, init_cash=10_000.0)
    assert got == stats[STAT_TOTAL_RETURN], f"seed={seed}"


@invariant_settings
@given(
    seed=st.integers(0, 2**32 - 1),
    period=st.integers(2, 30),
    lower=st.floats(5.0, 60.0),
    upper=st.floats(40.0, 95.0),
)
def test_rsi_threshold_sweep_equals_signals_backtest_on_talib_crosses(seed, period, lower, upper):
    close = random_walk(seed, 400)
    got = rsi_threshold_sweep(close, [period], [lower], [upper])[0, 0, 0]
    if lower >= upper:
        assert math.isnan(got)
        return
    strength = talib.RSI(close, period)
    level_lower, level_upper = np.full(400, lower), np.full(400, upper)
    entries = crosses_above(level_lower, strength)  # rsi < lower after rsi >= lower
    exits = crosses_above(strength, level_upper)
    _, _, stats = signals_backtest(close, entries, exits, fees=0.001, init_cash=10_000.0)
    assert got == stats[STAT_TOTAL_RETURN], f"seed={seed}"


def test_sweeps_do_not_depend_on_thread_count() -> None:
    close = random_walk(9, 5_000)
    threads = numba.get_num_threads()
    try:
        results = []
        for n_threads in sorted({1, numba.config.NUMBA_NUM_THREADS}):
            numba.set_num_threads(n_threads)
            results.append(
                (
                    ma_crossover_sweep(close, np.arange(2, 30, 3), np.arange(10, 80, 7)),
                    rsi_threshold_sweep(close, [3, 9, 14], [20.0, 30.0], [60.0, 80.0]),
                )
            )
    finally:
        numba.set_num_threads(threads)
    for ma_grid, rsi_grid in results[1:]:
        np.testing.assert_array_equal(ma_grid, results[0][0])
        np.testing.assert_array_equal(rsi_grid, results[0][1])


def test_sweep_grid_points_without_a_valid_ordering_are_nan() -> None:
    close = random_walk(10, 300)
    ma = ma_crossover_sweep(close, [10, 20, 30], [20])
    assert np.isnan(ma[1:, 0]).all() and not np.isnan(ma[0, 0])
    rsi_grid = rsi_threshold_sweep(close, [14], [30.0, 70.0], [70.0])
    assert np.isnan(rsi_grid[0, 1, 0]) and not np.isnan(rsi_grid[0, 0, 0])


# ------------------------------------------------------------------ validation

_CLOSE = np.array([10.0, 11.0, 12.0])
_NO = np.zeros(3, dtype=bool)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: signals_backtest(_CLOSE, _NO[:2], _NO), "entries must have the shape"),
        (lambda: signals_backtest(_CLOSE, _NO, _NO.astype(float)), "exits must be a bool"),
        (lambda: signals_backtest(_CLOSE.reshape(1, 3), _NO, _NO), "close must be a non-empty"),
        (lambda: signals_backtest(np.array([1.0, -1.0, 2.0]), _NO, _NO), r"close\[1\] was -1"),
        (lambda: signals_backtest(np.array([1.0, np.inf, 2.0]), _NO, _NO), r"close\[1\]"),
        (lambda: signals_backtest(_CLOSE, _NO, _NO, fees=-0.1), "fees must be in"),
        (lambda: signals_backtest(_CLOSE, _NO, _NO, fees=1.0), "fees must be in"),
        (lambda: signals_backtest(_CLOSE, _NO, _NO, init_cash=0.0), "init_cash must be"),
        (lambda: signals_backtest(_CLOSE, _NO, _NO, periods_per_year=0), "periods_per_year"),
        (lambda: ma_crossover_sweep(_CLOSE, [0, 5], [10]), "fast_windows must be in"),
        (lambda: ma_crossover_sweep(_CLOSE, [5], [10.0]), "slow_windows must be a non-empty"),
        (lambda: ma_crossover_sweep(_CLOSE, [], [10]), "fast_windows must be a non-empty"),
        (lambda: ma_crossover_sweep(np.array([1.0, np.nan]), [1], [2]), r"close\[1\] was nan"),
        (lambda: rsi_threshold_sweep(_CLOSE, [1], [30.0], [70.0]), "rsi_periods must be in"),
        (lambda: rsi_threshold_sweep(_CLOSE, [14], [-1.0], [70.0]), "lower_thresholds"),
        (lambda: rsi_threshold_sweep(_CLOSE, [14], [30.0], [np.nan]), "upper_thresholds"),
    ],
)
def test_invalid_argument_raises_value_error_naming_it(call, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        call()


# ------------------------------------------------------------ live vectorbt


@pytest.mark.slow
def test_against_vectorbt_directly_on_larger_walks() -> None:
    from tests.data.make_vectorbt_cases import (
        vectorbt_ma_sweep,
        vectorbt_rsi_sweep,
        vectorbt_signals,
    )

    for seed in range(3):
        rng = np.random.default_rng(seed)
        close = random_walk(seed, 5_000)
        close[rng.random(5_000) < 0.02] = np.nan
        entries, exits = rng.random(5_000) < 0.05, rng.random(5_000) < 0.05
        equity, trades, stats = signals_backtest(close, entries, exits, fees=0.001)
        want = vectorbt_signals(close, entries, exits, 0.001, 100.0)
        np.testing.assert_allclose(equity, want["equity"], err_msg=f"seed={seed}", **TOL)
        for field, values in want["trades"].items():
            got = trades[field].astype(np.float64)
            if math.isnan(close[-1]) and field in ("exit_price", "pnl", "return"):
                got[trades["status"] == TRADE_OPEN] = np.nan  # documented deviation
            np.testing.assert_allclose(got, values, err_msg=f"{field} seed={seed}", **TOL)
        for name, value in want["stats"].items():
            np.testing.assert_allclose(stats[STAT_OFFSETS[name]], value, err_msg=name, **TOL)

    close = random_walk(42, 20_000, sigma=0.002)
    fast, slow = [3, 5, 10, 20, 50], [10, 30, 60, 120, 200]
    np.testing.assert_allclose(
        ma_crossover_sweep(close, fast, slow),
        vectorbt_ma_sweep(close, fast, slow, 0.001, 10_000.0),
        **TOL,
    )
    periods, lower, upper = [7, 14], [20.0, 30.0, 40.0], [60.0, 70.0, 80.0]
    np.testing.assert_allclose(
        rsi_threshold_sweep(close, periods, lower, upper),
        vectorbt_rsi_sweep(close, periods, lower, upper, 0.001, 10_000.0),
        **TOL,
    )
