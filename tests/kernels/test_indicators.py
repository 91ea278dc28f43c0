"""EMA, RSI and momentum kernels against TA-Lib, and streaming against batch."""

import gzip
import json
from pathlib import Path

import numpy as np
import pytest
import talib

from kernels.indicators import (
    MOM_COUNT,
    MOM_EMA_FAST,
    MOM_EMA_SLOW,
    MOM_RSI,
    ema,
    ema_state,
    ema_update,
    momentum_state,
    momentum_update,
    rsi,
    rsi_state,
    rsi_update,
)

BTCUSDT_FRAMES = Path(__file__).parents[2] / "data" / "binance_spot" / "btcusdt_20240808.gz"
WALK_SEEDS = (0, 1, 2)
EMA_PERIODS = (1, 2, 5, 12, 26, 30, 200)
RSI_PERIODS = (2, 5, 14, 30, 200)
SERIES = ("walk-seed0", "walk-seed1", "walk-seed2", "flat", "tiny-walk", "btcusdt-trades")


def random_walk(seed: int, n: int = 2_000, start: float = 100.0, step: float = 1.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return start + step * np.cumsum(rng.normal(size=n))


def with_nans(x: np.ndarray, seed: int, fraction: float = 0.05) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = x.copy()
    out[rng.random(x.shape[0]) < fraction] = np.nan
    return out


@pytest.fixture(scope="module")
def btcusdt_trade_prices() -> np.ndarray:
    prices = []
    with gzip.open(BTCUSDT_FRAMES, "rt") as frames:
        for line in frames:
            _, _, raw = line.partition(" ")
            frame = json.loads(raw)
            if frame.get("stream") == "btcusdt@trade":  # one frame is a REST snapshot
                prices.append(float(frame["data"]["p"]))
    assert len(prices) > 1_000
    return np.array(prices, dtype=np.float64)


@pytest.fixture(params=SERIES)
def series(request: pytest.FixtureRequest) -> np.ndarray:
    name = request.param
    if name == "btcusdt-trades":
        return request.getfixturevalue("btcusdt_trade_prices")
    if name == "flat":
        return np.full(500, 61_837.63)
    if name == "tiny-walk":
        # Gains and losses far below TA-Lib's old 1e-14 epsilon band.
        return random_walk(seed=3, start=1e-10, step=1e-16)
    seed = int(name.removeprefix("walk-seed"))
    return random_walk(seed)


def assert_matches_talib(ours: np.ndarray, expected: np.ndarray) -> None:
    assert ours.dtype == np.float64
    assert ours.shape == expected.shape
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(expected), err_msg="NaN mask")
    defined = ~np.isnan(expected)
    if not defined.any():
        return
    # Absolute slack only near zero, relative to the series' own scale.
    near_zero = 1e-12 * np.abs(expected[defined]).max()
    np.testing.assert_allclose(ours[defined], expected[defined], rtol=1e-9, atol=near_zero)


def assert_bitwise_equal(actual: np.ndarray, expected: np.ndarray) -> None:
    np.testing.assert_array_equal(actual.view(np.uint64), expected.view(np.uint64))


def talib_skipping_nans(func, x: np.ndarray, timeperiod: int) -> np.ndarray:
    """TA-Lib on the finite values only, with NaN inputs holding the last output."""
    finite = ~np.isnan(x)
    out = np.full(x.shape[0], np.nan)
    out[finite] = func(x[finite], timeperiod)
    for i in np.flatnonzero(~finite):
        if i > 0:
            out[i] = out[i - 1]
    return out


def stream(update, state: np.ndarray, x: np.ndarray) -> np.ndarray:
    return np.array([update(state, value) for value in x], dtype=np.float64)


# ------------------------------------------------------------------- vs TA-Lib


@pytest.mark.parametrize("timeperiod", EMA_PERIODS)
def test_ema_when_series_given_then_matches_talib(series: np.ndarray, timeperiod: int) -> None:
    assert_matches_talib(ema(series, timeperiod), talib.EMA(series, timeperiod))


@pytest.mark.parametrize("timeperiod", RSI_PERIODS)
def test_rsi_when_series_given_then_matches_talib(series: np.ndarray, timeperiod: int) -> None:
    assert_matches_talib(rsi(series, timeperiod), talib.RSI(series, timeperiod))


def test_ema_and_rsi_when_defaults_used_then_match_talib_defaults() -> None:
    x = random_walk(seed=4)
    assert_matches_talib(ema(x), talib.EMA(x))
    assert_matches_talib(rsi(x), talib.RSI(x))


@pytest.mark.parametrize("timeperiod", (2, 14, 30))
def test_ema_first_output_at_index_timeperiod_minus_one(timeperiod: int) -> None:
    out = ema(random_walk(seed=5), timeperiod)
    assert np.flatnonzero(~np.isnan(out))[0] == timeperiod - 1


@pytest.mark.parametrize("timeperiod", (2, 14, 30))
def test_rsi_first_output_at_index_timeperiod(timeperiod: int) -> None:
    out = rsi(random_walk(seed=5), timeperiod)
    assert np.flatnonzero(~np.isnan(out))[0] == timeperiod


def test_ema_when_seeded_then_first_value_is_simple_mean() -> None:
    x = np.array([1.0, 2.0, 6.0, 10.0])
    # Seed (1 + 2 + 6) / 3 = 3, then 3 + (10 - 3) * 2 / (3 + 1) = 6.5.
    np.testing.assert_array_equal(ema(x, 3), [np.nan, np.nan, 3.0, 6.5])


def test_rsi_when_series_flat_then_matches_talib() -> None:
    x = np.full(100, 61_837.63)
    expected = talib.RSI(x, 14)
    assert_matches_talib(rsi(x, 14), expected)
    # The installed TA-Lib answers 0 when average gain and loss are both zero and
    # we follow it. TA-Lib's main branch answers 50 since its issue #480: if an
    # upgrade makes this fail, decide which convention we want, then update both.
    np.testing.assert_array_equal(rsi(x, 14)[14:], 0.0)


def test_rsi_when_moves_then_flat_for_long_then_stays_positive_like_talib() -> None:
    x = np.concatenate([np.full(15, 100.0), np.full(3_000, 100.01), np.full(3_000, 100.0)])
    out = rsi(x, 14)
    assert_matches_talib(out, talib.RSI(x, 14))
    assert 0.0 < out[-1] < 1e-50


def test_ema_when_series_flat_then_stays_at_the_constant() -> None:
    x = np.full(100, 61_837.63)
    # The seed is a float sum divided by 10, so allow its rounding, nothing more.
    np.testing.assert_allclose(ema(x, 10)[9:], 61_837.63, rtol=4e-16, atol=0.0)


@pytest.mark.parametrize("kernel", [ema, rsi], ids=["ema", "rsi"])
def test_kernel_when_input_empty_then_returns_empty(kernel) -> None:
    out = kernel(np.empty(0, dtype=np.float64), 5)
    assert out.shape == (0,)
    assert out.dtype == np.float64


@pytest.mark.parametrize(
    ("kernel", "oracle", "timeperiod"), [(ema, talib.EMA, 10), (rsi, talib.RSI, 10)]
)
def test_kernel_when_input_shorter_than_warm_up_then_all_nan(kernel, oracle, timeperiod) -> None:
    x = random_walk(seed=6, n=timeperiod - 1)
    assert np.isnan(kernel(x, timeperiod)).all()
    assert_matches_talib(kernel(x, timeperiod), oracle(x, timeperiod))


@pytest.mark.parametrize(
    ("make_state", "kernel", "bad"),
    [
        (ema_state, ema, 0),
        (ema_state, ema, 100_001),
        (rsi_state, rsi, 1),
        (rsi_state, rsi, 100_001),
    ],
)
def test_state_and_batch_when_timeperiod_out_of_range_then_raise(make_state, kernel, bad) -> None:
    with pytest.raises(ValueError, match=f"timeperiod must be in .*, was {bad}$"):
        make_state(bad)
    with pytest.raises(ValueError, match="timeperiod must be in"):
        kernel(np.ones(10), bad)


def test_momentum_state_when_rsi_period_out_of_range_then_raises() -> None:
    with pytest.raises(ValueError, match="rsi timeperiod must be in"):
        momentum_state(12, 26, 1)


# ------------------------------------------------------------------ NaN policy


@pytest.mark.parametrize(("kernel", "oracle"), [(ema, talib.EMA), (rsi, talib.RSI)])
def test_kernel_when_leading_nans_then_matches_talib(kernel, oracle) -> None:
    x = np.concatenate([np.full(7, np.nan), random_walk(seed=7, n=300)])
    assert_matches_talib(kernel(x, 14), oracle(x, 14))


@pytest.mark.parametrize("seed", (8, 9))
@pytest.mark.parametrize(("kernel", "oracle"), [(ema, talib.EMA), (rsi, talib.RSI)])
def test_kernel_when_interior_nans_then_skipped_and_last_value_held(kernel, oracle, seed) -> None:
    x = with_nans(random_walk(seed=seed, n=1_000), seed=seed)
    assert np.isnan(x[100:]).any(), f"seed={seed} put no NaN past the warm-up"
    out = kernel(x, 14)
    assert_matches_talib(out, talib_skipping_nans(oracle, x, 14))
    hold = np.flatnonzero(np.isnan(x[1:])) + 1
    hold = hold[hold > 100]
    np.testing.assert_array_equal(out[hold], out[hold - 1], err_msg=f"seed={seed}")


@pytest.mark.parametrize(
    ("make_state", "update"), [(ema_state, ema_update), (rsi_state, rsi_update)]
)
def test_update_when_input_nan_then_state_unchanged_and_last_value_returned(
    make_state, update
) -> None:
    state = make_state(3)
    for x in (1.0, 2.0, 4.0, 3.0, 5.0):
        last = update(state, x)
    before = state.copy()
    assert update(state, np.nan) == last
    assert_bitwise_equal(state, before)


@pytest.mark.parametrize(
    ("make_state", "update"), [(ema_state, ema_update), (rsi_state, rsi_update)]
)
def test_update_when_nan_during_warm_up_then_returns_nan_and_state_unchanged(
    make_state, update
) -> None:
    state = make_state(3)
    update(state, 1.0)
    before = state.copy()
    assert np.isnan(update(state, np.nan))
    assert_bitwise_equal(state, before)


# ------------------------------------------------------------ streaming == batch


@pytest.mark.parametrize("timeperiod", (1, 2, 12, 30))
def test_ema_update_when_streamed_then_bitwise_equal_to_batch(
    btcusdt_trade_prices: np.ndarray, timeperiod: int
) -> None:
    for x in (btcusdt_trade_prices, with_nans(random_walk(seed=10), seed=10)):
        assert_bitwise_equal(stream(ema_update, ema_state(timeperiod), x), ema(x, timeperiod))


@pytest.mark.parametrize("timeperiod", (2, 14, 30))
def test_rsi_update_when_streamed_then_bitwise_equal_to_batch(
    btcusdt_trade_prices: np.ndarray, timeperiod: int
) -> None:
    for x in (btcusdt_trade_prices, with_nans(random_walk(seed=11), seed=11)):
        assert_bitwise_equal(stream(rsi_update, rsi_state(timeperiod), x), rsi(x, timeperiod))


@pytest.mark.parametrize(("fast", "slow", "rsi_period"), [(12, 26, 14), (1, 5, 2), (30, 200, 30)])
def test_momentum_update_when_streamed_then_each_output_bitwise_equal_to_batch(
    btcusdt_trade_prices: np.ndarray, fast: int, slow: int, rsi_period: int
) -> None:
    prices = np.concatenate(
        [[np.nan], btcusdt_trade_prices[:3_000], with_nans(random_walk(seed=12), seed=12)]
    )
    state = momentum_state(fast, slow, rsi_period)
    seen = np.empty((prices.shape[0], 4))
    for i, price in enumerate(prices):
        momentum_update(state, price)
        seen[i] = state[[MOM_EMA_FAST, MOM_EMA_SLOW, MOM_RSI, MOM_COUNT]]
    assert_bitwise_equal(seen[:, 0], ema(prices, fast))
    assert_bitwise_equal(seen[:, 1], ema(prices, slow))
    assert_bitwise_equal(seen[:, 2], rsi(prices, rsi_period))
    np.testing.assert_array_equal(seen[:, 3], np.arange(1, prices.shape[0] + 1))


def test_momentum_state_when_fresh_then_outputs_nan_and_count_zero() -> None:
    state = momentum_state()
    assert np.isnan(state[[MOM_EMA_FAST, MOM_EMA_SLOW, MOM_RSI]]).all()
    assert state[MOM_COUNT] == 0.0
    assert len({MOM_EMA_FAST, MOM_EMA_SLOW, MOM_RSI, MOM_COUNT}) == 4
