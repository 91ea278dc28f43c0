"""Monte Carlo risk kernels beside plain numpy on the same data in the same run.

* Incremental VaR check (target <= 50 us per check, one njit call): 10 assets
  x 10,000 cached scenarios, the book plus one candidate order, against numpy
  recomputing ``scenarios @ exposures`` and ``np.quantile`` (and against numpy
  given the same cached base P&L).
* Exit timing: take-profit / stop-loss probabilities and expected exit step
  over 10,000 GBM paths x 100 steps, against a vectorized numpy simulation
  (cumsum of a normal matrix, first crossing by argmax).

Reproduce with::

    .venv/bin/python -m pytest bench/kernels/test_bench_montecarlo.py -o addopts= \\
        -o testpaths=bench --benchmark-only -q
"""

import math

import numba
import numpy as np
import pytest

from kernels.montecarlo import exit_probabilities
from kernels.scenarios import (
    generate_scenarios,
    incremental_var,
    pnl_var,
    portfolio_pnl,
    portfolio_var,
)

SEED = 20_240_808
N_ASSETS = 10
N_SCENARIOS = 10_000
CONFIDENCE = 0.95
ASSET_INDEX = 3
DELTA_EXPOSURE = 25_000.0  # buy $25k of asset 3

MU, SIGMA, TP, SL = 0.0005, 0.01, 0.05, 0.02
HORIZON_STEPS = 100
N_PATHS = 10_000


@pytest.fixture(scope="session")
def book() -> dict[str, np.ndarray]:
    """Cached scenarios, the current book and the engine's two buffers."""
    rng = np.random.default_rng(SEED)
    loadings = rng.normal(size=(N_ASSETS, N_ASSETS + 3))
    corr = loadings @ loadings.T
    scale = 1.0 / np.sqrt(np.diag(corr))
    corr = corr * np.outer(scale, scale)
    vols = rng.uniform(0.01, 0.04, N_ASSETS)
    cov = corr * np.outer(vols, vols)
    scenarios = generate_scenarios(np.zeros(N_ASSETS), cov, N_SCENARIOS, SEED)
    exposures = rng.normal(0.0, 50_000.0, N_ASSETS)
    base_pnl = portfolio_pnl(scenarios, exposures, np.empty(N_SCENARIOS))
    return {
        "scenarios": scenarios,
        "exposures": exposures,
        "base_pnl": base_pnl,
        "pnl_buf": np.empty(N_SCENARIOS),
    }


@pytest.fixture
def bench(bench):
    """The shared ``bench`` fixture (bench/conftest.py) plus the problem size and threads."""
    bench.extra_info.update(
        {
            "seed": SEED,
            "numba_threads": numba.get_num_threads(),
            "threading_layer": numba.config.THREADING_LAYER,
        }
    )
    return bench


def numpy_recompute(scenarios, exposures, asset_index, delta, confidence):
    after = exposures.copy()
    after[asset_index] += delta
    pnl = scenarios @ after
    threshold = np.quantile(pnl, 1.0 - confidence)
    return -threshold, -pnl[pnl <= threshold].mean()


def numpy_from_cached_base(scenarios, base_pnl, asset_index, delta, confidence):
    pnl = base_pnl + delta * scenarios[:, asset_index]
    threshold = np.quantile(pnl, 1.0 - confidence)
    return -threshold, -pnl[pnl <= threshold].mean()


VAR_GROUP = "incremental VaR check: 10 assets x 10,000 scenarios"


@pytest.mark.benchmark(group=VAR_GROUP)
def test_bench_incremental_var_kernel(bench, book: dict[str, np.ndarray]) -> None:
    bench.extra_info.update({"n_assets": N_ASSETS, "n_scenarios": N_SCENARIOS, "target_us": 50})
    args = (book["scenarios"], book["base_pnl"], ASSET_INDEX, DELTA_EXPOSURE, CONFIDENCE)
    incremental_var(*args, book["pnl_buf"])  # load the compiled kernel outside the timing
    var_after, cvar_after = bench(incremental_var, *args, book["pnl_buf"])
    expected = numpy_recompute(
        book["scenarios"], book["exposures"], ASSET_INDEX, DELTA_EXPOSURE, CONFIDENCE
    )
    np.testing.assert_allclose([var_after, cvar_after], expected, rtol=1e-12)
    var_before, _ = pnl_var(book["base_pnl"], CONFIDENCE, book["pnl_buf"])
    bench.extra_info.update({"var_before": var_before, "var_after": var_after})


@pytest.mark.benchmark(group=VAR_GROUP)
def test_bench_incremental_var_numpy_recompute(bench, book: dict[str, np.ndarray]) -> None:
    bench.extra_info.update({"n_assets": N_ASSETS, "n_scenarios": N_SCENARIOS})
    result = bench(
        numpy_recompute,
        book["scenarios"],
        book["exposures"],
        ASSET_INDEX,
        DELTA_EXPOSURE,
        CONFIDENCE,
    )
    after = book["exposures"].copy()
    after[ASSET_INDEX] += DELTA_EXPOSURE
    np.testing.assert_allclose(result, portfolio_var(book["scenarios"], after), rtol=1e-12)


@pytest.mark.benchmark(group=VAR_GROUP)
def test_bench_incremental_var_numpy_cached_base(bench, book: dict[str, np.ndarray]) -> None:
    bench.extra_info.update({"n_assets": N_ASSETS, "n_scenarios": N_SCENARIOS})
    bench(
        numpy_from_cached_base,
        book["scenarios"],
        book["base_pnl"],
        ASSET_INDEX,
        DELTA_EXPOSURE,
        CONFIDENCE,
    )


def numpy_exit_probabilities(mu, sigma, tp, sl, horizon_steps, n_paths, seed):
    """The same simulation vectorized in numpy: all paths x all steps at once."""
    rng = np.random.default_rng(seed)
    increments = sigma * rng.standard_normal((n_paths, horizon_steps)) + (mu - 0.5 * sigma**2)
    log_price = np.cumsum(increments, axis=1)
    up = log_price >= math.log1p(tp)
    down = log_price <= math.log1p(-sl)
    first_up = np.where(up.any(axis=1), up.argmax(axis=1), horizon_steps)
    first_down = np.where(down.any(axis=1), down.argmax(axis=1), horizon_steps)
    p_tp = float((first_up < first_down).mean())
    p_sl = float((first_down < first_up).mean())
    exit_steps = np.minimum(np.minimum(first_up, first_down) + 1, horizon_steps)
    return p_tp, p_sl, 1.0 - p_tp - p_sl, float(exit_steps.mean())


TIMING_GROUP = "exit timing: 10,000 GBM paths x 100 steps"
TIMING_ARGS = (MU, SIGMA, TP, SL, HORIZON_STEPS, N_PATHS, SEED)


@pytest.mark.benchmark(group=TIMING_GROUP)
def test_bench_exit_probabilities_kernel(bench) -> None:
    bench.extra_info.update({"n_paths": N_PATHS, "horizon_steps": HORIZON_STEPS})
    exit_probabilities(*TIMING_ARGS)  # compile or load the cache outside the timing
    p_tp, p_sl, _, steps = bench(exit_probabilities, *TIMING_ARGS)
    # Different random numbers, same model: the two estimates of each
    # probability differ by less than 4 standard errors of a difference.
    reference = numpy_exit_probabilities(*TIMING_ARGS)
    for ours, theirs in zip((p_tp, p_sl), reference[:2], strict=True):
        se = math.sqrt(2 * theirs * (1 - theirs) / N_PATHS)
        assert abs(ours - theirs) <= 4 * se
    bench.extra_info.update({"p_tp_first": p_tp, "p_sl_first": p_sl, "expected_exit": steps})


@pytest.mark.benchmark(group=TIMING_GROUP)
def test_bench_exit_probabilities_numpy(bench) -> None:
    bench.extra_info.update({"n_paths": N_PATHS, "horizon_steps": HORIZON_STEPS})
    bench(numpy_exit_probabilities, *TIMING_ARGS)
