"""Indicator kernels beside TA-Lib on the same data in the same run.

Reproduce with::

    .venv/bin/python -m pytest bench/kernels -q -o addopts= -o testpaths=bench --benchmark-only
"""

import numpy as np
import pytest
import talib

from kernels.indicators import (
    MOM_EMA_FAST,
    MOM_EMA_SLOW,
    MOM_RSI,
    ema,
    momentum_state,
    momentum_update,
    rsi,
)

SEED = 20_240_808
N_PRICES = 1_000_000
STREAM_WINDOW = 1_000  # prices consumed before timing a streaming tick


@pytest.fixture(scope="session")
def prices() -> np.ndarray:
    rng = np.random.default_rng(SEED)
    return 100.0 * np.exp(np.cumsum(rng.normal(0.0, 1e-3, N_PRICES)))


@pytest.fixture
def bench(bench):
    """The shared ``bench`` fixture (bench/conftest.py) plus TA-Lib's versions and the data."""
    bench.extra_info.update(
        {
            "talib": talib.__version__,
            "ta_lib_c": talib.__ta_version__.decode(),
            "n_prices": N_PRICES,
            "seed": SEED,
        }
    )
    return bench


@pytest.mark.benchmark(group="ema(close, 30) 1e6 float64")
def test_bench_ema_kernel(bench, prices: np.ndarray) -> None:
    ema(prices[:100], 30)  # compile or load the cache outside the timing
    out = bench(ema, prices, 30)
    np.testing.assert_allclose(out[29:], talib.EMA(prices, 30)[29:], rtol=1e-9)


@pytest.mark.benchmark(group="ema(close, 30) 1e6 float64")
def test_bench_ema_talib(bench, prices: np.ndarray) -> None:
    bench(talib.EMA, prices, 30)


@pytest.mark.benchmark(group="rsi(close, 14) 1e6 float64")
def test_bench_rsi_kernel(bench, prices: np.ndarray) -> None:
    rsi(prices[:100], 14)
    out = bench(rsi, prices, 14)
    np.testing.assert_allclose(out[14:], talib.RSI(prices, 14)[14:], rtol=1e-9)


@pytest.mark.benchmark(group="rsi(close, 14) 1e6 float64")
def test_bench_rsi_talib(bench, prices: np.ndarray) -> None:
    bench(talib.RSI, prices, 14)


@pytest.mark.benchmark(group="momentum tick: ema 12 + ema 26 + rsi 14")
def test_bench_momentum_update_one_tick(bench, prices: np.ndarray) -> None:
    state = momentum_state(12, 26, 14)
    for price in prices[:STREAM_WINDOW]:
        momentum_update(state, price)
    price = float(prices[STREAM_WINDOW])
    bench(momentum_update, state, price)
    assert not np.isnan(state[[MOM_EMA_FAST, MOM_EMA_SLOW, MOM_RSI]]).any()


@pytest.mark.benchmark(group="momentum tick: ema 12 + ema 26 + rsi 14")
def test_bench_talib_stream_one_tick(bench, prices: np.ndarray) -> None:
    # The TA-Lib alternative: one stateful talib.stream object per indicator.
    window = prices[:STREAM_WINDOW]
    ema_fast = talib.stream.EMA(window, 12)
    ema_slow = talib.stream.EMA(window, 26)
    rsi_14 = talib.stream.RSI(window, 14)
    price = float(prices[STREAM_WINDOW])

    def tick(price: float) -> tuple[float, float, float]:
        return ema_fast.update(price), ema_slow.update(price), rsi_14.update(price)

    fast, slow, strength = bench(tick, price)
    assert not np.isnan([fast, slow, strength]).any()
