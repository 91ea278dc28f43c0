"""The per-tick indicator set against the batch kernels it bundles, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from kernels.indicators import (
    IS_ATR,
    IS_BB_LOWER,
    IS_BB_MIDDLE,
    IS_BB_UPPER,
    IS_COUNT,
    IS_EMA_FAST,
    IS_EMA_SLOW,
    IS_RSI,
    IS_SIZE,
    IS_VOLATILITY,
    IS_VWAP,
    atr,
    bbands,
    ema,
    indicator_set,
    indicator_set_reset_vwap,
    indicator_set_state,
    indicator_set_update,
    rolling_volatility,
    rsi,
    vwap,
)
from tests.kernels._lean import load_lean_bars

OUTPUTS = (
    IS_EMA_FAST,
    IS_EMA_SLOW,
    IS_RSI,
    IS_BB_UPPER,
    IS_BB_MIDDLE,
    IS_BB_LOWER,
    IS_ATR,
    IS_VWAP,
    IS_VOLATILITY,
    IS_COUNT,
)
CONFIGS = (
    {},  # the defaults: EMA 12/26, RSI 14, BB 20 x 2, ATR 14, volatility over 20 returns
    {"fast": 5, "slow": 35, "rsi_period": 2, "bb_period": 2, "bb_nbdev": 1.5, "atr_period": 1},
    {"vol_window": 2, "vol_ddof": 0, "vol_periods_per_year": 252.0},
)


def assert_bitwise_equal(actual: np.ndarray, expected: np.ndarray) -> None:
    np.testing.assert_array_equal(
        np.asarray(actual, dtype=np.float64).view(np.uint64),
        np.asarray(expected, dtype=np.float64).view(np.uint64),
    )


def random_ticks(seed: int, n: int = 3_000) -> dict[str, np.ndarray]:
    """Trade-like ticks with NaN holes placed independently in every input."""
    rng = np.random.default_rng(seed)
    price = 30_000.0 * np.exp(np.cumsum(rng.normal(0.0, 1e-3, n)))
    ticks = {
        "price": price,
        "high": price * (1.0 + np.abs(rng.normal(0.0, 5e-4, n))),
        "low": price * (1.0 - np.abs(rng.normal(0.0, 5e-4, n))),
        "close": price * (1.0 + rng.normal(0.0, 1e-4, n)),
        "volume": rng.exponential(0.5, n),
    }
    for k, column in enumerate(ticks.values()):
        column[np.random.default_rng(seed + k + 1).random(n) < 0.03] = np.nan
    return ticks


def run_streaming(ticks: dict[str, np.ndarray], **config: object) -> np.ndarray:
    state = indicator_set_state(**config)
    rows = np.empty((ticks["price"].shape[0], IS_SIZE))
    for i, tick in enumerate(zip(*ticks.values(), strict=True)):
        indicator_set_update(state, *tick)
        rows[i] = state[:IS_SIZE]
    return rows


def expected_columns(ticks: dict[str, np.ndarray], **config: object) -> dict[int, np.ndarray]:
    """The batch kernels each output must equal, with the set's defaults filled in."""
    c = {
        "fast": 12,
        "slow": 26,
        "rsi_period": 14,
        "bb_period": 20,
        "bb_nbdev": 2.0,
        "atr_period": 14,
        "vol_window": 20,
        "vol_ddof": 1,
        "vol_periods_per_year": 1.0,
    } | config
    price = ticks["price"]
    upper, middle, lower = bbands(price, c["bb_period"], c["bb_nbdev"], c["bb_nbdev"])
    return {
        IS_EMA_FAST: ema(price, c["fast"]),
        IS_EMA_SLOW: ema(price, c["slow"]),
        IS_RSI: rsi(price, c["rsi_period"]),
        IS_BB_UPPER: upper,
        IS_BB_MIDDLE: middle,
        IS_BB_LOWER: lower,
        IS_ATR: atr(ticks["high"], ticks["low"], ticks["close"], c["atr_period"]),
        IS_VWAP: vwap(price, ticks["volume"]),
        IS_VOLATILITY: rolling_volatility(
            price, c["vol_window"], c["vol_ddof"], c["vol_periods_per_year"]
        ),
        IS_COUNT: np.arange(1.0, price.shape[0] + 1.0),
    }


def test_offsets_when_listed_then_distinct_and_cover_the_outputs() -> None:
    assert sorted(OUTPUTS) == list(range(IS_SIZE))


def test_state_when_fresh_then_outputs_nan_and_count_zero() -> None:
    state = indicator_set_state()
    assert np.isnan(state[[k for k in OUTPUTS if k != IS_COUNT]]).all()
    assert state[IS_COUNT] == 0.0


@pytest.mark.parametrize("config", CONFIGS, ids=["defaults", "short-periods", "volatility"])
def test_update_when_ticks_with_nans_streamed_then_each_output_bitwise_equal_to_batch(
    config: dict,
) -> None:
    ticks = random_ticks(seed=21)
    rows = run_streaming(ticks, **config)
    for offset, expected in expected_columns(ticks, **config).items():
        assert_bitwise_equal(rows[:, offset], expected)


@pytest.mark.parametrize("name", ("spy", "aapl", "btcusd"))
def test_update_when_lean_daily_bars_streamed_then_each_output_bitwise_equal_to_batch(
    name: str,
) -> None:
    bars = load_lean_bars(name)
    ticks = {
        "price": bars.close,
        "high": bars.high,
        "low": bars.low,
        "close": bars.close,
        "volume": bars.volume,
    }
    config = {"vol_periods_per_year": 365.0 if name == "btcusd" else 252.0}
    rows = run_streaming(ticks, **config)
    for offset, expected in expected_columns(ticks, **config).items():
        assert_bitwise_equal(rows[:, offset], expected)
    assert not np.isnan(rows[-1]).any()


def test_batch_form_when_run_then_equals_the_streamed_rows() -> None:
    ticks = random_ticks(seed=22, n=1_000)
    assert_bitwise_equal(indicator_set(*ticks.values(), fast=3), run_streaming(ticks, fast=3))


def test_update_when_one_input_nan_then_only_its_indicators_hold() -> None:
    state = indicator_set_state(
        fast=2, slow=3, rsi_period=2, bb_period=2, atr_period=2, vol_window=2
    )
    for price in (10.0, 11.0, 12.0, 11.5, 12.5):
        indicator_set_update(state, price, price + 0.5, price - 0.5, price, 1.0)
    before = state.copy()

    indicator_set_update(state, 13.0, 13.5, 12.5, 13.0, np.nan)  # volume NaN: VWAP holds
    assert state[IS_VWAP] == before[IS_VWAP]
    assert state[IS_EMA_FAST] != before[IS_EMA_FAST]
    assert state[IS_ATR] != before[IS_ATR]

    before = state.copy()
    indicator_set_update(state, 14.0, np.nan, 13.0, 14.0, 1.0)  # high NaN: ATR holds
    assert state[IS_ATR] == before[IS_ATR]
    assert state[IS_VWAP] != before[IS_VWAP]

    before = state.copy()
    indicator_set_update(state, np.nan, 15.0, 14.0, 14.5, 1.0)  # price NaN: all but ATR hold
    assert not np.isnan(before[:IS_SIZE]).any()
    changed = np.flatnonzero(state[:IS_SIZE] != before[:IS_SIZE])
    np.testing.assert_array_equal(sorted(changed), sorted([IS_ATR, IS_COUNT]))


def test_reset_vwap_when_sessions_then_matches_batch_vwap_with_session_starts() -> None:
    ticks = random_ticks(seed=23, n=2_000)
    starts = np.zeros(2_000, dtype=bool)
    starts[[0, 500, 1_234, 1_999]] = True
    state = indicator_set_state()
    rows = np.empty((2_000, IS_SIZE))
    for i, tick in enumerate(zip(*ticks.values(), strict=True)):
        if starts[i]:
            indicator_set_reset_vwap(state)
            assert np.isnan(state[IS_VWAP])
        indicator_set_update(state, *tick)
        rows[i] = state[:IS_SIZE]
    assert_bitwise_equal(
        rows[:, IS_VWAP], vwap(ticks["price"], ticks["volume"], session_start=starts)
    )
    assert_bitwise_equal(indicator_set(*ticks.values(), session_start=starts), rows)
    # Nothing but the VWAP restarts.
    assert_bitwise_equal(rows[:, IS_EMA_SLOW], ema(ticks["price"], 26))


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"fast": 0}, "indicator_set fast must be in \\[1, 100000\\], was 0"),
        ({"rsi_period": 1}, "indicator_set rsi_period must be in \\[2, 100000\\], was 1"),
        ({"bb_period": 2.0}, "indicator_set bb_period must be an integer"),
        ({"bb_nbdev": float("nan")}, "indicator_set bb_nbdev must be a finite real number"),
        ({"atr_period": 100_001}, "indicator_set atr_period must be in \\[1, 100000\\]"),
        ({"vol_window": 1}, "indicator_set vol_window must be in \\[2, 100000\\], was 1"),
        ({"vol_window": 5, "vol_ddof": 5}, "indicator_set vol_ddof must be in \\[0, 4\\], was 5"),
        ({"vol_periods_per_year": -1.0}, "indicator_set vol_periods_per_year must be > 0"),
    ],
)
def test_state_when_parameter_invalid_then_value_error_names_it(config: dict, message) -> None:
    with pytest.raises(ValueError, match=message):
        indicator_set_state(**config)


def test_batch_form_when_inputs_invalid_then_value_error_names_them() -> None:
    good = np.ones(10)
    with pytest.raises(ValueError, match="indicator_set volume has length 9, expected 10"):
        indicator_set(good, good, good, good, np.ones(9))
    with pytest.raises(ValueError, match="indicator_set high must have dtype float64"):
        indicator_set(good, np.ones(10, dtype=np.int64), good, good, good)
    with pytest.raises(ValueError, match="indicator_set session_start must be a bool array"):
        indicator_set(good, good, good, good, good, session_start=np.ones(10))


ticks_arrays = st.integers(min_value=0, max_value=60).flatmap(
    lambda n: st.tuples(
        *(
            arrays(
                np.float64,
                n,
                elements=st.one_of(
                    st.just(np.nan),
                    st.floats(min_value=1e-3, max_value=1e5, allow_subnormal=False),
                ),
            )
            for _ in range(5)
        )
    )
)


@given(ticks=ticks_arrays, window=st.integers(min_value=2, max_value=6))
def test_property_streaming_equals_batch_kernels_bitwise(ticks: tuple, window: int) -> None:
    named = dict(zip(("price", "high", "low", "close", "volume"), ticks, strict=True))
    config = {"fast": window, "slow": window + 3, "bb_period": window, "vol_window": window}
    rows = run_streaming(named, **config).reshape(-1, IS_SIZE)
    for offset, expected in expected_columns(named, **config).items():
        assert_bitwise_equal(rows[:, offset], expected)
