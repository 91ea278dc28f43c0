"""The SMA crossover sweep beside vectorbt's ``MA.run`` + ``Portfolio.from_signals``.

Same 100,000-bar random walk, same run, both warm. The grid is every pair of
fast windows 5, 10, ..., 50 and slow windows 20, 40, ..., 200; the 10 pairs with
``fast >= slow`` are NaN in our sweep and are not given to vectorbt either, so
both sides backtest the same 90 pairs (fees 0.1 %, 10,000 cash).

Reproduce with::

    .venv/bin/python -m pytest bench/kernels/test_bench_backtest.py -q \
        -o addopts= -o testpaths=bench --benchmark-only
"""

import numpy as np
import pandas as pd
import pytest
import vectorbt as vbt

from kernels.backtest import ma_crossover_sweep

SEED = 20_240_808
N_BARS = 100_000
FAST = np.arange(5, 51, 5)
SLOW = np.arange(20, 201, 20)
FEES = 0.001
INIT_CASH = 10_000.0
VALID = FAST[:, None] < SLOW[None, :]
N_PAIRS = int(VALID.sum())
GROUP = f"ma_crossover_sweep: {N_BARS:,} bars x {N_PAIRS} SMA pairs"


@pytest.fixture(scope="session")
def close() -> np.ndarray:
    rng = np.random.default_rng(SEED)
    return 100.0 * np.exp(np.cumsum(rng.normal(0.0, 1e-3, N_BARS)))


@pytest.fixture(scope="session")
def vectorbt_total_return(close: np.ndarray) -> np.ndarray:
    """vectorbt's grid, computed once outside any timing, for the equality check."""
    return _vectorbt_sweep(pd.Series(close))


@pytest.fixture
def bench(bench):
    """The shared ``bench`` fixture (bench/conftest.py) plus vectorbt's versions and the data."""
    bench.extra_info.update(
        {
            "vectorbt": vbt.__version__,
            "pandas": pd.__version__,
            "n_bars": N_BARS,
            "n_pairs": N_PAIRS,
            "seed": SEED,
        }
    )
    return bench


def _vectorbt_sweep(close: pd.Series) -> np.ndarray:
    # What a vectorbt user writes: one MA.run per leg over the pairs, the
    # built-in crossover signals, one from_signals over all columns.
    fast_idx, slow_idx = np.nonzero(VALID)
    fast = vbt.MA.run(close, FAST[fast_idx], short_name="fast")
    slow = vbt.MA.run(close, SLOW[slow_idx], short_name="slow")
    portfolio = vbt.Portfolio.from_signals(
        close,
        fast.ma_crossed_above(slow),
        fast.ma_crossed_below(slow),
        fees=FEES,
        init_cash=INIT_CASH,
    )
    out = np.full(VALID.shape, np.nan)
    out[fast_idx, slow_idx] = portfolio.total_return().to_numpy()
    return out


def _per_bar_pair(bench) -> None:
    if bench.stats is None:  # --benchmark-disable: ran once, untimed
        return
    median = bench.stats.stats.median
    bench.extra_info["median_ns_per_bar_pair"] = round(median * 1e9 / (N_BARS * N_PAIRS), 2)


@pytest.mark.benchmark(group=GROUP)
def test_bench_ma_crossover_sweep_kernel(
    bench, close: np.ndarray, vectorbt_total_return: np.ndarray
) -> None:
    out = bench.pedantic(
        ma_crossover_sweep,
        args=(close, FAST, SLOW, FEES, INIT_CASH),
        rounds=30,
        iterations=1,
        warmup_rounds=2,
    )
    _per_bar_pair(bench)
    np.testing.assert_array_equal(np.isnan(out), ~VALID)
    np.testing.assert_allclose(out, vectorbt_total_return, rtol=1e-9, atol=1e-12)


@pytest.mark.benchmark(group=GROUP)
def test_bench_ma_crossover_sweep_vectorbt(bench, close: np.ndarray) -> None:
    series = pd.Series(close)
    bench.pedantic(_vectorbt_sweep, args=(series,), rounds=3, iterations=1, warmup_rounds=1)
    _per_bar_pair(bench)
