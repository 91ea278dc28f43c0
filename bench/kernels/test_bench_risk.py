"""Risk kernels beside the numpy (and polars) code a user would write, same data, same run.

Reproduce with::

    .venv/bin/python -m pytest bench/kernels/test_bench_risk.py -q -o addopts= \
        -o testpaths=bench --benchmark-only

Groups: one streaming VaR+CVaR tick over a 1,000-return window (a Python call per tick,
next return taken from an iterator on both sides), the rolling batch over 100,000
returns, and each metric over 1,000,000 returns.
"""

import itertools
import math
import time

import numpy as np
import polars as pl
import pytest
import scipy
import scipy.stats

from kernels.risk import (
    RV_COUNT,
    beta,
    calmar_ratio,
    cvar,
    historical_var,
    max_drawdown,
    parametric_var,
    rolling_historical_var,
    rolling_var_state,
    rolling_var_update,
    sharpe_ratio,
    sortino_ratio,
)

SEED = 20_240_809
N_RETURNS = 1_000_000
N_ROLLING = 100_000
WINDOW = 1_000
CONFIDENCE = 0.95
STREAM = 200_000  # distinct returns cycled through by the per-tick benchmarks
PERIODS = 252.0


@pytest.fixture(scope="session")
def returns() -> np.ndarray:
    # Fat-tailed daily-like returns with a small drift, kept above -100 %.
    rng = np.random.default_rng(SEED)
    return np.clip(0.0002 + 0.01 * rng.standard_t(df=4, size=N_RETURNS), -0.5, 0.5)


@pytest.fixture(scope="session")
def benchmark_returns(returns: np.ndarray) -> np.ndarray:
    rng = np.random.default_rng(SEED + 1)
    return 0.7 * returns + 0.006 * rng.standard_normal(returns.shape[0])


@pytest.fixture(scope="session")
def equity(returns: np.ndarray) -> np.ndarray:
    return 100.0 * np.cumprod(1.0 + returns)


@pytest.fixture
def bench(bench):
    """The shared ``bench`` fixture (bench/conftest.py) plus scipy/polars versions and the data."""
    bench.extra_info.update(
        {
            "scipy": scipy.__version__,
            "polars": pl.__version__,
            "n_returns": N_RETURNS,
            "window": WINDOW,
            "confidence": CONFIDENCE,
            "seed": SEED,
        }
    )
    return bench


def numpy_var_cvar(window: np.ndarray, confidence: float) -> tuple[float, float]:
    quantile = np.quantile(window, 1 - confidence)
    return -quantile, -window[window <= quantile].mean()


def last_window(returns: np.ndarray, consumed: int) -> np.ndarray:
    """The last WINDOW of `consumed` returns fed as returns[:WINDOW], then a cycle."""
    fed = np.arange(consumed - WINDOW, consumed)
    return returns[np.where(fed < WINDOW, fed, WINDOW + (fed - WINDOW) % STREAM)]


# ------------------------------------------------------------- streaming tick


@pytest.mark.benchmark(group="VaR+CVaR tick, window 1,000, 95 %")
def test_bench_rolling_var_update_tick(bench, returns: np.ndarray) -> None:
    state = rolling_var_state(WINDOW, CONFIDENCE)
    for r in returns[:WINDOW].tolist():
        rolling_var_update(state, r)
    stream = returns[WINDOW : WINDOW + STREAM].tolist()

    # The bare call cost, without the iterator and closure both benchmarks share.
    best = math.inf
    for _ in range(3):
        start = time.perf_counter_ns()
        for r in stream:
            rolling_var_update(state, r)
        best = min(best, time.perf_counter_ns() - start)
    bench.extra_info["plain_loop_per_tick_ns"] = round(best / STREAM, 1)

    ticks = itertools.cycle(stream)
    update = rolling_var_update
    var, loss = bench(lambda: update(state, next(ticks)))

    # The plain loops fed whole cycles, so the cycle position is still (j - WINDOW) % STREAM.
    expected = numpy_var_cvar(last_window(returns, int(state[RV_COUNT])), CONFIDENCE)
    np.testing.assert_allclose((var, loss), expected, rtol=1e-12)


@pytest.mark.benchmark(group="VaR+CVaR tick, window 1,000, 95 %")
def test_bench_numpy_quantile_recompute_tick(bench, returns: np.ndarray) -> None:
    window = returns[:WINDOW].copy()
    slot = [0]
    ticks = itertools.cycle(returns[WINDOW : WINDOW + STREAM].tolist())

    def tick() -> tuple[float, float]:
        i = slot[0]
        window[i] = next(ticks)
        slot[0] = i + 1 if i + 1 < WINDOW else 0
        return numpy_var_cvar(window, CONFIDENCE)

    bench(tick)


# ------------------------------------------------------------ rolling, batch


@pytest.mark.benchmark(group="rolling VaR+CVaR, 100,000 returns, window 1,000")
def test_bench_rolling_historical_var(bench, returns: np.ndarray) -> None:
    sample = returns[:N_ROLLING]
    rolling_historical_var(sample[:100], 10, CONFIDENCE)
    var, loss = bench(rolling_historical_var, sample, WINDOW, CONFIDENCE)
    for i in (WINDOW - 1, N_ROLLING // 2, N_ROLLING - 1):
        expected = numpy_var_cvar(sample[i - WINDOW + 1 : i + 1], CONFIDENCE)
        np.testing.assert_allclose((var[i], loss[i]), expected, rtol=1e-12)


def numpy_rolling(sample: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    var = np.full(sample.shape[0], np.nan)
    loss = np.full(sample.shape[0], np.nan)
    for i in range(WINDOW - 1, sample.shape[0]):
        var[i], loss[i] = numpy_var_cvar(sample[i - WINDOW + 1 : i + 1], CONFIDENCE)
    return var, loss


@pytest.mark.benchmark(group="rolling VaR+CVaR, 100,000 returns, window 1,000")
def test_bench_numpy_rolling_loop(bench, returns: np.ndarray) -> None:
    # About 3 s a round: three rounds are enough for a ratio of this size.
    bench.pedantic(numpy_rolling, args=(returns[:N_ROLLING],), rounds=3, iterations=1)


@pytest.mark.benchmark(group="rolling VaR+CVaR, 100,000 returns, window 1,000")
def test_bench_polars_rolling_quantile_var_only(bench, returns: np.ndarray) -> None:
    # polars has a rolling quantile (numpy's linear method) but no rolling tail mean,
    # so this row computes the VaR half only.
    series = pl.Series(returns[:N_ROLLING])
    quantile = bench(
        lambda: series.rolling_quantile(
            1 - CONFIDENCE, interpolation="linear", window_size=WINDOW
        ).to_numpy()
    )
    var, _ = rolling_historical_var(returns[:N_ROLLING], WINDOW, CONFIDENCE)
    np.testing.assert_allclose(-quantile[WINDOW - 1 :], var[WINDOW - 1 :], rtol=1e-12)


# ---------------------------------------------------------------- metrics, 1e6


def numpy_sharpe(r: np.ndarray) -> float:
    return r.mean() / r.std(ddof=1) * np.sqrt(PERIODS)


def numpy_sortino(r: np.ndarray) -> float:
    return r.mean() * PERIODS / (np.sqrt(np.mean(np.minimum(r, 0.0) ** 2)) * np.sqrt(PERIODS))


def numpy_max_drawdown(e: np.ndarray) -> float:
    peak = np.maximum.accumulate(e)
    return np.max((peak - e) / peak)


def numpy_calmar(r: np.ndarray) -> float:
    growth = np.prod(1 + r) ** (PERIODS / r.shape[0]) - 1
    return growth / numpy_max_drawdown(np.concatenate(([1.0], np.cumprod(1 + r))))


def numpy_beta(r: np.ndarray, b: np.ndarray) -> float:
    return np.cov(r, b, ddof=0)[0, 1] / np.var(b)


def numpy_historical_var(r: np.ndarray) -> float:
    return -np.quantile(r, 1 - CONFIDENCE)


def numpy_cvar(r: np.ndarray) -> float:
    quantile = np.quantile(r, 1 - CONFIDENCE)
    return -r[r <= quantile].mean()


def scipy_parametric_var(r: np.ndarray) -> float:
    return -scipy.stats.norm.ppf(1 - CONFIDENCE, r.mean(), r.std(ddof=1))


# name: (ours, numpy/scipy formula, which inputs: "r" returns, "e" equity, "rb" both)
METRICS = {
    "historical_var": (lambda r: historical_var(r, CONFIDENCE), numpy_historical_var, "r"),
    "cvar": (lambda r: cvar(r, CONFIDENCE), numpy_cvar, "r"),
    "parametric_var": (lambda r: parametric_var(r, CONFIDENCE), scipy_parametric_var, "r"),
    "max_drawdown": (max_drawdown, numpy_max_drawdown, "e"),
    "sharpe_ratio": (lambda r: sharpe_ratio(r, PERIODS), numpy_sharpe, "r"),
    "sortino_ratio": (lambda r: sortino_ratio(r, PERIODS), numpy_sortino, "r"),
    "calmar_ratio": (lambda r: calmar_ratio(r, PERIODS), numpy_calmar, "r"),
    "beta": (beta, numpy_beta, "rb"),
}


@pytest.mark.benchmark(max_time=0.5)
@pytest.mark.parametrize("side", ["kernel", "numpy"])
@pytest.mark.parametrize("metric", list(METRICS))
def test_bench_metric(
    bench,
    metric: str,
    side: str,
    returns: np.ndarray,
    benchmark_returns: np.ndarray,
    equity: np.ndarray,
) -> None:
    ours, formula, inputs = METRICS[metric]
    args = {"r": (returns,), "e": (equity,), "rb": (returns, benchmark_returns)}[inputs]
    bench.group = f"{metric}, 1,000,000 float64"
    ours(*(a[:100] for a in args))  # compile or load the cache outside the timing
    result = bench(ours if side == "kernel" else formula, *args)
    if side == "kernel":
        np.testing.assert_allclose(result, formula(*args), rtol=1e-9)
