"""Monte Carlo exit timing against closed forms for Brownian motion, plus determinism.

Oracles (log space, start 0, upper barrier ``a = log1p(tp)``, lower ``-b =
log1p(-sl)``, per-step log drift ``nu = mu - sigma**2 / 2`` and volatility
``sigma``, ``dt = 1``):

* ``P(up first) = b / (a + b)`` and ``E[exit] = a b / sigma**2`` without drift;
* ``P(up first) = (1 - exp(2 nu b / s2)) / (exp(-2 nu a / s2) - exp(2 nu b / s2))``
  with drift (scale function ``exp(-2 nu x / s2)``, ``s2 = sigma**2``), and by
  Wald's identity ``E[exit] = (a P_up - b (1 - P_up)) / nu``;
* one barrier within ``H`` steps, no drift: ``P(max >= a) = 2 (1 - Phi(a / (sigma sqrt H)))``
  (reflection principle).

The kernel monitors barriers once per step, so each barrier is moved away
from the start by the Broadie-Glasserman-Kou shift ``0.5826 sigma sqrt(dt)``
in the expected values. Tolerances are 4 standard errors (binomial
``sqrt(p (1 - p) / n)`` for probabilities, sample std / sqrt(n) for times);
at 4 million paths the remaining discretization bias measured -0.0004 in
probability and +0.2 steps in time, a fraction of one standard error at the
100,000 paths used here. Seeds are fixed and appear in failure messages.
"""

import math

import numba
import numpy as np
import pytest
from numba import njit
from scipy import stats

from kernels.montecarlo import (
    OUTCOME_NONE,
    OUTCOME_STOP_LOSS,
    OUTCOME_TAKE_PROFIT,
    _next_u64,
    _normal_pair,
    _path_state,
    barrier_paths,
    barrier_summary,
    exit_probabilities,
)

SEED = 20_240_808
BGK = 0.5826  # -zeta(1/2) / sqrt(2 pi), Broadie, Glasserman and Kou (1997)
SIGMA = 0.002  # per step: barriers are 10 to 25 steps' sigma away
TP, SL = 0.05, 0.02
HORIZON = 5_000  # about 20 x the mean exit time: P(no exit) < 1e-8 per path
N_PATHS = 100_000
Z_TOLERANCE = 4.0


def log_barriers(tp: float, sl: float, sigma: float) -> tuple[float, float]:
    """Continuity-corrected distances (a, b) to the upper and lower log barriers."""
    shift = BGK * sigma
    return math.log1p(tp) + shift, -math.log1p(-sl) + shift


def brownian_up_first(a: float, b: float, nu: float, sigma: float) -> float:
    if nu == 0.0:
        return b / (a + b)
    k = 2.0 * nu / sigma**2
    return (1.0 - math.exp(k * b)) / (math.exp(-k * a) - math.exp(k * b))


def simulate(
    nu: float, sigma: float, tp: float, sl: float, horizon: int, n_paths: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    outcome = np.empty(n_paths, dtype=np.int8)
    exit_step = np.empty(n_paths, dtype=np.int64)
    upper = math.log1p(tp) if math.isfinite(tp) else math.inf
    lower = math.log1p(-sl) if sl < 1.0 else -math.inf
    barrier_paths(nu, sigma, upper, lower, horizon, np.uint64(seed), outcome, exit_step)
    return outcome, exit_step


def assert_within_standard_errors(observed: float, expected: float, se: float, what: str) -> None:
    z = (observed - expected) / se
    assert abs(z) <= Z_TOLERANCE, (
        f"{what}: observed {observed:.6g}, expected {expected:.6g}, z = {z:.2f} (seed={SEED})"
    )


def check_against_brownian_motion(nu: float, n_paths: int) -> None:
    outcome, exit_step = simulate(nu, SIGMA, TP, SL, HORIZON, n_paths, SEED)
    p_tp, p_sl, p_none, mean_exit = barrier_summary(outcome, exit_step)
    assert p_none < 1e-4
    a, b = log_barriers(TP, SL, SIGMA)
    p_up = brownian_up_first(a, b, nu, SIGMA)
    assert_within_standard_errors(
        p_tp, p_up, math.sqrt(p_up * (1 - p_up) / n_paths), "P(take-profit first)"
    )
    assert p_tp + p_sl + p_none == pytest.approx(1.0, abs=1e-12)
    expected_exit = a * b / SIGMA**2 if nu == 0.0 else (a * p_up - b * (1 - p_up)) / nu
    time_se = exit_step.std(ddof=1) / math.sqrt(n_paths)
    assert_within_standard_errors(mean_exit, expected_exit, time_se, "E[exit steps]")


def test_exit_probabilities_when_driftless_then_matches_b_over_a_plus_b_and_ab_over_sigma2() -> (
    None
):
    # Driftless in log space: mu = sigma**2 / 2. p ~ 0.30, SE ~ 0.0014; E[exit] ~ 267 steps.
    check_against_brownian_motion(0.0, N_PATHS)


@pytest.mark.parametrize("nu", (5e-5, -3e-5), ids=["up_drift", "down_drift"])
def test_exit_probabilities_when_drift_then_matches_brownian_scale_function(nu: float) -> None:
    # 2 nu a / sigma**2 is about 1.2 (up) and -0.75 (down): P(up first) moves
    # from 0.30 to 0.50 and 0.20, many standard errors from the driftless value.
    check_against_brownian_motion(nu, N_PATHS)


@pytest.mark.slow
@pytest.mark.parametrize("nu", (0.0, 5e-5, -3e-5))
def test_exit_probabilities_when_two_million_paths_then_matches_closed_form(nu: float) -> None:
    # SE ~ 0.0003 in probability, ~0.17 steps in time.
    check_against_brownian_motion(nu, 2_000_000)


def test_exit_probabilities_when_gbm_drift_then_equals_log_walk_with_ito_drift() -> None:
    # mu is the GBM drift; the log price drifts by mu - sigma**2 / 2 per step.
    mu, sigma = 3e-4, 0.01
    outcome, exit_step = simulate(mu - 0.5 * sigma**2, sigma, TP, SL, 250, 20_000, SEED)
    assert exit_probabilities(mu, sigma, TP, SL, 250, 20_000, SEED) == barrier_summary(
        outcome, exit_step
    )


def test_exit_probabilities_when_only_take_profit_then_matches_reflection_principle() -> None:
    horizon = 400  # sigma sqrt(H) = 0.04 against a barrier at +4.9 %: p ~ 0.21
    p_tp, p_sl, p_none, mean_exit = exit_probabilities(
        0.5 * SIGMA**2, SIGMA, TP, 1.0, horizon, N_PATHS, SEED
    )
    a = math.log1p(TP) + BGK * SIGMA
    expected = 2.0 * stats.norm.sf(a / (SIGMA * math.sqrt(horizon)))
    se = math.sqrt(expected * (1 - expected) / N_PATHS)
    assert_within_standard_errors(p_tp, expected, se, "P(max >= a within H)")
    assert p_sl == 0.0
    assert p_none == pytest.approx(1.0 - p_tp, abs=1e-12)
    assert 0 < mean_exit < horizon


@pytest.mark.parametrize(
    ("mu", "tp", "sl", "outcome", "step"),
    [
        # log1p(0.05) / 0.003 = 16.26: the 17th step is the first at or above +5 %.
        (0.003, 0.05, 0.02, (1.0, 0.0, 0.0), 17),
        # -log1p(-0.02) / 0.003 = 6.73: the 7th step is the first at or below -2 %.
        (-0.003, 0.05, 0.02, (0.0, 1.0, 0.0), 7),
        (0.0, 0.05, 0.02, (0.0, 0.0, 1.0), 50),
    ],
)
def test_exit_probabilities_when_no_volatility_then_deterministic_exit_step(
    mu: float, tp: float, sl: float, outcome: tuple[float, float, float], step: int
) -> None:
    result = exit_probabilities(mu, 0.0, tp, sl, 50, 1_000, SEED)
    assert result == (*outcome, float(step))


def test_exit_probabilities_when_no_barriers_then_every_path_runs_to_horizon() -> None:
    assert exit_probabilities(0.001, 0.05, math.inf, 1.0, 30, 2_000, SEED) == (0.0, 0.0, 1.0, 30.0)


# --- determinism and the random numbers -------------------------------------------


def test_barrier_paths_when_thread_count_changes_then_identical_per_path_results() -> None:
    threads = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        single = simulate(1e-5, 0.01, TP, SL, 300, 20_000, SEED)
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        parallel = simulate(1e-5, 0.01, TP, SL, 300, 20_000, SEED)
    finally:
        numba.set_num_threads(threads)
    np.testing.assert_array_equal(single[0], parallel[0])
    np.testing.assert_array_equal(single[1], parallel[1])


def test_barrier_paths_when_fewer_paths_then_each_path_is_unchanged() -> None:
    # Path p depends only on (seed, p), not on n_paths or how paths are chunked.
    # 12 steps of 1 % against barriers 7 % apart: some paths exit, some do not.
    outcome, exit_step = simulate(0.0, 0.01, TP, SL, 12, 5_000, SEED)
    head_outcome, head_exit = simulate(0.0, 0.01, TP, SL, 12, 1_234, SEED)
    np.testing.assert_array_equal(outcome[:1_234], head_outcome)
    np.testing.assert_array_equal(exit_step[:1_234], head_exit)
    assert set(np.unique(outcome)) == {OUTCOME_NONE, OUTCOME_TAKE_PROFIT, OUTCOME_STOP_LOSS}


def test_exit_probabilities_when_same_seed_then_same_result_and_other_seed_differs() -> None:
    args = (0.0002, 0.01, TP, SL, 200, 10_000)
    first = exit_probabilities(*args, SEED)
    assert exit_probabilities(*args, SEED) == first
    assert exit_probabilities(*args, SEED + 1) != first


def splitmix64_reference(state: int, count: int) -> list[int]:
    # Vigna's splitmix64.c in Python integers.
    mask = (1 << 64) - 1
    out = []
    for _ in range(count):
        state = (state + 0x9E3779B97F4A7C15) & mask
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
        out.append(z ^ (z >> 31))
    return out


@njit
def _draw_u64(state, count):
    out = np.empty(count, dtype=np.uint64)
    for i in range(count):
        state, out[i] = _next_u64(state)
    return out


@njit
def _draw_normals(seed, count):
    out = np.empty(count)
    state = _path_state(seed, 0)
    for i in range(0, count, 2):
        state, out[i], out[i + 1] = _normal_pair(state)
    return out


def test_next_u64_when_seed_1234567_then_matches_splitmix64_reference_values() -> None:
    # The first outputs of splitmix64.c for seed 1234567, as published with it.
    published = [
        6457827717110365317,
        3203168211198807973,
        9817491932198370423,
        4593380528125082431,
        16408922859458223821,
    ]
    drawn = [int(v) for v in _draw_u64(np.uint64(1234567), 1_000)]
    assert drawn[:5] == published
    assert drawn == splitmix64_reference(1234567, 1_000)


def test_normal_pair_when_many_draws_then_standard_normal_by_kolmogorov_smirnov() -> None:
    draws = _draw_normals(np.uint64(SEED), 200_000)
    result = stats.kstest(draws, "norm")
    assert result.pvalue > 1e-3, f"KS statistic {result.statistic:.4g} (seed={SEED})"
    # Successive draws (the cos and sin halves of each pair) are uncorrelated.
    assert abs(np.corrcoef(draws[:-1], draws[1:])[0, 1]) < 4 / math.sqrt(draws.size)


# --- argument validation ---------------------------------------------------------


VALID = {
    "mu": 0.0,
    "sigma": 0.01,
    "tp": 0.05,
    "sl": 0.02,
    "horizon_steps": 10,
    "n_paths": 10,
    "seed": 1,
}


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("mu", math.nan),
        ("mu", math.inf),
        ("sigma", -0.01),
        ("sigma", math.nan),
        ("tp", 0.0),
        ("tp", -0.05),
        ("tp", math.nan),
        ("sl", 0.0),
        ("sl", 1.5),
        ("sl", math.nan),
        ("horizon_steps", 0),
        ("horizon_steps", 2.0),
        ("n_paths", 0),
        ("n_paths", True),
        ("seed", -1),
        ("seed", 2**64),
        ("seed", 1.5),
    ],
)
def test_exit_probabilities_when_argument_out_of_range_then_value_error_names_it(
    name: str, value: object
) -> None:
    with pytest.raises(ValueError, match=f"^{name} "):
        exit_probabilities(**{**VALID, name: value})
