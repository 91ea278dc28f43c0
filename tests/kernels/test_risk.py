"""Risk measures against plain numpy/scipy formulas and empyrical's values, plus invariants.

Oracles: ``np.quantile`` for historical VaR/CVaR, ``scipy.stats.norm.ppf`` for the normal
VaR, numpy's legacy ``RandomState`` for the Monte Carlo draws, and for the ratios the
formulas of ``empyrical-reloaded`` 0.7.1 (``empyrical/stats.py``), written out in numpy
below, plus values that empyrical itself printed (pinned as literals: the project does
not depend on empyrical).
"""

import math

import numba
import numpy as np
import pytest
import scipy.stats
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from numba import njit

from kernels.risk import (
    beta,
    calmar_ratio,
    cvar,
    historical_var,
    max_drawdown,
    monte_carlo_var,
    parametric_var,
    sharpe_ratio,
    sortino_ratio,
)

CONFIDENCES = (0.0, 0.5, 0.9, 0.95, 0.975, 0.99, 1.0)
SEEDS = (0, 1, 2)
SIZES = (1, 2, 3, 10, 251, 5_000)

# Simple returns of -100 % .. +100 %, no NaN: the invariants are about finite samples.
returns_samples = arrays(
    np.float64,
    st.integers(min_value=1, max_value=300),
    elements=st.floats(min_value=-1.0, max_value=1.0, allow_nan=False),
)
# Estimators with a ddof=1 std need two returns.
estimator_samples = arrays(
    np.float64,
    st.integers(min_value=2, max_value=300),
    elements=st.floats(min_value=-1.0, max_value=1.0, allow_nan=False),
)
confidences = st.floats(min_value=0.0, max_value=1.0)
invariant_settings = settings(max_examples=300, derandomize=True, database=None, deadline=None)


def numpy_var(returns: np.ndarray, confidence: float) -> float:
    return -np.quantile(returns, 1 - confidence)


def numpy_cvar(returns: np.ndarray, confidence: float) -> float:
    return -returns[returns <= np.quantile(returns, 1 - confidence)].mean()


def student_t_returns(seed: int, size: int) -> np.ndarray:
    # Fat-tailed daily-like returns with ties from rounding to 0.01 %.
    rng = np.random.default_rng(seed)
    return np.round(0.01 * rng.standard_t(df=3, size=size), 4)


@pytest.mark.parametrize("confidence", CONFIDENCES)
@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("seed", SEEDS, ids=[f"seed={s}" for s in SEEDS])
def test_historical_var_when_random_returns_then_equals_minus_numpy_quantile(
    seed: int, size: int, confidence: float
) -> None:
    returns = student_t_returns(seed, size)
    np.testing.assert_allclose(
        historical_var(returns, confidence),
        numpy_var(returns, confidence),
        rtol=1e-12,
        atol=1e-15,
        err_msg=f"seed={seed}",
    )


@pytest.mark.parametrize("confidence", CONFIDENCES)
@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("seed", SEEDS, ids=[f"seed={s}" for s in SEEDS])
def test_cvar_when_random_returns_then_equals_minus_numpy_tail_mean(
    seed: int, size: int, confidence: float
) -> None:
    returns = student_t_returns(seed, size)
    np.testing.assert_allclose(
        cvar(returns, confidence),
        numpy_cvar(returns, confidence),
        rtol=1e-12,
        atol=1e-15,
        err_msg=f"seed={seed}",
    )


def test_var_and_cvar_when_small_sample_then_match_hand_computation() -> None:
    returns = np.array([-0.05, 0.01, 0.02, -0.01, 0.03])
    # Sorted: -0.05 -0.01 0.01 0.02 0.03; the 25 % quantile sits exactly on -0.01,
    # so VaR is a 1 % loss and the tail {-0.05, -0.01} averages a 3 % loss.
    assert historical_var(returns, 0.75) == pytest.approx(0.01, rel=1e-12)
    assert cvar(returns, 0.75) == pytest.approx(0.03, rel=1e-12)


def test_historical_var_when_quantile_between_points_then_interpolates_linearly() -> None:
    returns = np.array([-0.04, -0.02, 0.0, 0.02])
    # Virtual index (4 - 1) * 0.1 = 0.3: -0.04 + 0.3 * (-0.02 - -0.04) = -0.034.
    assert historical_var(returns, 0.9) == pytest.approx(0.034, rel=1e-12)


def test_historical_var_when_all_returns_gains_then_negative() -> None:
    returns = np.array([0.01, 0.02, 0.03])
    assert historical_var(returns, 0.95) < 0.0
    assert cvar(returns, 0.95) == pytest.approx(-0.01, rel=1e-12)


@pytest.mark.parametrize("measure", [historical_var, cvar], ids=["var", "cvar"])
def test_measure_when_returns_empty_then_nan(measure) -> None:
    assert np.isnan(measure(np.empty(0, dtype=np.float64), 0.95))


@pytest.mark.parametrize("measure", [historical_var, cvar], ids=["var", "cvar"])
def test_measure_when_returns_hold_nan_then_nan_like_numpy(measure) -> None:
    returns = np.array([-0.02, np.nan, 0.01, 0.03])
    assert np.isnan(np.quantile(returns, 0.05))
    assert np.isnan(measure(returns, 0.95))


@pytest.mark.parametrize("measure", [historical_var, cvar], ids=["var", "cvar"])
@pytest.mark.parametrize("confidence", (-0.01, 1.01, float("nan")))
def test_measure_when_confidence_outside_unit_interval_then_raises(measure, confidence) -> None:
    with pytest.raises(ValueError, match=r"confidence must be in \[0, 1\]"):
        measure(np.array([-0.01, 0.01]), confidence)


def test_measure_when_called_then_input_not_modified() -> None:
    returns = student_t_returns(seed=3, size=100)
    before = returns.copy()
    historical_var(returns, 0.95)
    cvar(returns, 0.95)
    np.testing.assert_array_equal(returns, before)


def test_cvar_when_tail_sum_rounds_past_threshold_then_still_at_least_var() -> None:
    returns = np.full(3, 0.1)
    # 0.1 + 0.1 + 0.1 rounds up, so the naive tail mean is 0.10000000000000002,
    # above the 0.1 threshold; CVaR must still not drop below VaR.
    assert returns.sum() / 3 > 0.1
    assert cvar(returns, 0.95) >= historical_var(returns, 0.95)
    assert cvar(returns, 0.95) == pytest.approx(-0.1, rel=1e-12)


@invariant_settings
@given(returns=returns_samples, first=confidences, second=confidences)
def test_historical_var_when_confidence_rises_then_var_never_falls(
    returns: np.ndarray, first: float, second: float
) -> None:
    lower, higher = sorted((first, second))
    assert historical_var(returns, lower) <= historical_var(returns, higher)


@invariant_settings
@given(returns=returns_samples, confidence=confidences)
def test_cvar_when_any_sample_then_at_least_var(returns: np.ndarray, confidence: float) -> None:
    assert cvar(returns, confidence) >= historical_var(returns, confidence)


# ------------------------------------------------------------- normal VaR (parametric)


def scipy_normal_var(returns: np.ndarray, confidence: float) -> float:
    return -scipy.stats.norm.ppf(1 - confidence, loc=returns.mean(), scale=returns.std(ddof=1))


@pytest.mark.parametrize("confidence", CONFIDENCES)
@pytest.mark.parametrize("size", (2, 3, 10, 251, 5_000))
@pytest.mark.parametrize("seed", SEEDS, ids=[f"seed={s}" for s in SEEDS])
def test_parametric_var_when_random_returns_then_equals_minus_scipy_norm_ppf(
    seed: int, size: int, confidence: float
) -> None:
    returns = student_t_returns(seed, size)
    np.testing.assert_allclose(
        parametric_var(returns, confidence),
        scipy_normal_var(returns, confidence),
        rtol=1e-12,
        atol=1e-15,
        err_msg=f"seed={seed}",
    )


@pytest.mark.parametrize(
    "confidence", (1e-300, 1e-20, 0.5, 0.85, 0.925, 0.95, 1 - 1e-11, 1 - 1e-16)
)
def test_parametric_var_when_extreme_confidence_then_normal_quantile_still_accurate(
    confidence: float,
) -> None:
    # Mean 0 and std 1 make the VaR the standard normal quantile itself, across all
    # three branches of the approximation (central, tail, far tail).
    returns = np.array([-1.0, 1.0])
    np.testing.assert_allclose(
        parametric_var(returns, confidence) / math.sqrt(2.0),
        -scipy.stats.norm.ppf(1 - confidence),
        rtol=1e-14,
        atol=1e-300,
    )


def test_parametric_var_when_small_sample_then_matches_hand_computation() -> None:
    # Mean 0, ddof=1 std 0.02; z(5 %) = -1.6448536269514722: VaR = 0.02 * 1.64485...
    returns = np.array([-0.02, 0.0, 0.02])
    assert parametric_var(returns, 0.95) == pytest.approx(0.02 * 1.6448536269514722, rel=1e-14)
    assert parametric_var(returns, 0.5) == 0.0


def test_parametric_var_when_confidence_at_bounds_then_infinite() -> None:
    returns = student_t_returns(seed=4, size=50)
    assert parametric_var(returns, 1.0) == math.inf
    assert parametric_var(returns, 0.0) == -math.inf


def test_parametric_var_when_returns_all_equal_then_minus_the_return() -> None:
    returns = np.full(4, 0.003)
    for confidence in (0.0, 0.95, 1.0):
        assert parametric_var(returns, confidence) == -0.003


# ------------------------------------------------------------------ Monte Carlo VaR


@njit
def numba_uniform() -> float:
    """The next draw of numba's own generator (separate from NumPy's)."""
    return np.random.random()


def numpy_monte_carlo_var(returns: np.ndarray, confidence: float, n_sims: int, seed: int) -> float:
    draws = np.random.RandomState(seed).normal(returns.mean(), returns.std(ddof=1), n_sims)
    return -np.quantile(draws, 1 - confidence)


@pytest.mark.parametrize("confidence", CONFIDENCES)
@pytest.mark.parametrize(("size", "n_sims"), [(2, 1), (10, 2), (251, 1_000), (5_000, 20_001)])
@pytest.mark.parametrize("seed", (0, 17, 2**32 - 1))
def test_monte_carlo_var_when_seeded_then_equals_numpy_legacy_normal_draws(
    seed: int, size: int, n_sims: int, confidence: float
) -> None:
    returns = student_t_returns(seed % 7, size)
    np.testing.assert_allclose(
        monte_carlo_var(returns, confidence, n_sims, seed),
        numpy_monte_carlo_var(returns, confidence, n_sims, seed),
        rtol=1e-12,
        atol=1e-15,
        err_msg=f"seed={seed}",
    )


def test_monte_carlo_var_when_many_sims_then_within_sampling_error_of_parametric() -> None:
    returns = student_t_returns(seed=5, size=2_000)
    n_sims = 1_000_000
    std = returns.std(ddof=1)
    # Standard error of the 5 % sample quantile of a normal: sqrt(q (1 - q) / n) / pdf(z).
    standard_error = std * math.sqrt(0.05 * 0.95 / n_sims) / scipy.stats.norm.pdf(1.6448536)
    simulated = monte_carlo_var(returns, 0.95, n_sims, 11)
    assert abs(simulated - parametric_var(returns, 0.95)) < 4 * standard_error


def test_monte_carlo_var_when_same_seed_then_same_result_and_other_seed_differs() -> None:
    returns = student_t_returns(seed=6, size=100)
    first = monte_carlo_var(returns, 0.99, 5_000, 42)
    assert monte_carlo_var(returns, 0.99, 5_000, 42) == first
    assert monte_carlo_var(returns, 0.99, 5_000, 43) != first


def test_monte_carlo_var_when_called_then_numpy_global_generator_untouched() -> None:
    returns = student_t_returns(seed=6, size=100)
    np.random.seed(123)
    expected = np.random.random()
    np.random.seed(123)
    monte_carlo_var(returns, 0.95, 1_000, 7)
    assert np.random.random() == expected


@pytest.mark.parametrize("n_sims", (10, 11))
def test_monte_carlo_var_when_called_then_numba_generator_continues_from_seed(n_sims) -> None:
    # Odd counts leave numpy's cached second Gaussian; numba mirrors that too.
    monte_carlo_var(np.array([-0.01, 0.02, 0.0]), 0.95, n_sims, 5)
    legacy = np.random.RandomState(5)
    legacy.normal(size=n_sims)
    assert numba_uniform() == legacy.random_sample()


# ---------------------------------------------------------- drawdown and the ratios
#
# The numpy oracles below are empyrical-reloaded 0.7.1's definitions (empyrical/stats.py):
#   sharpe_ratio:  mean(r - rf) / nanstd(r - rf, ddof=1) * sqrt(annualization)
#   sortino_ratio: nanmean(r - req) * annualization / downside_risk, with
#   downside_risk: sqrt(nanmean(clip(r - req, -inf, 0) ** 2)) * sqrt(annualization)
#   annual_return: prod(1 + r) ** (1 / (len(r) / annualization)) - 1
#   max_drawdown:  min((c - cummax(c)) / cummax(c)), c = 100 * [1, cumprod(1 + r)]
#   calmar_ratio:  annual_return / abs(max_drawdown) if max_drawdown < 0, NaN if inf
#   beta_aligned:  nanmean(b_res * r) / nanmean(b_res ** 2), b_res = b - nanmean(b)
#                  (ddof=0 on both sides), NaN if that variance < 1e-30


def numpy_sharpe(returns: np.ndarray, periods: float, risk_free: float) -> float:
    excess = returns - risk_free
    return excess.mean() / excess.std(ddof=1) * np.sqrt(periods)


def numpy_sortino(returns: np.ndarray, periods: float, required: float) -> float:
    excess = returns - required
    downside = np.sqrt(np.mean(np.minimum(excess, 0.0) ** 2)) * np.sqrt(periods)
    with np.errstate(divide="ignore", invalid="ignore"):  # as empyrical: x / 0 -> inf
        return excess.mean() * periods / downside


def numpy_max_drawdown(equity: np.ndarray) -> float:
    peak = np.maximum.accumulate(equity)
    return np.max((peak - equity) / peak)


def numpy_calmar(returns: np.ndarray, periods: float) -> float:
    drawdown = numpy_max_drawdown(np.concatenate(([1.0], np.cumprod(1 + returns))))
    if not drawdown > 0:
        return np.nan
    growth = np.prod(1 + returns) ** (1 / (len(returns) / periods)) - 1
    return np.nan if np.isinf(growth / drawdown) else growth / drawdown


def numpy_beta(returns: np.ndarray, benchmark: np.ndarray) -> float:
    return np.cov(returns, benchmark, ddof=0)[0, 1] / np.var(benchmark)


def correlated_benchmark(returns: np.ndarray, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed + 1_000)
    return 0.6 * returns + 0.004 * rng.standard_normal(returns.shape[0])


RATIO_SIZES = (2, 3, 10, 251, 5_000)
PERIODS = (252.0, 12.0, 365.25)


@pytest.mark.parametrize("periods", PERIODS)
@pytest.mark.parametrize("risk_free", (0.0, 0.0001))
@pytest.mark.parametrize("size", RATIO_SIZES)
@pytest.mark.parametrize("seed", SEEDS, ids=[f"seed={s}" for s in SEEDS])
def test_sharpe_ratio_when_random_returns_then_equals_empyrical_formula(
    seed: int, size: int, risk_free: float, periods: float
) -> None:
    returns = student_t_returns(seed, size)
    np.testing.assert_allclose(
        sharpe_ratio(returns, periods, risk_free),
        numpy_sharpe(returns, periods, risk_free),
        rtol=1e-9,
        err_msg=f"seed={seed}",
    )


@pytest.mark.parametrize("periods", PERIODS)
@pytest.mark.parametrize("required", (0.0, 0.0005))
@pytest.mark.parametrize("size", RATIO_SIZES)
@pytest.mark.parametrize("seed", SEEDS, ids=[f"seed={s}" for s in SEEDS])
def test_sortino_ratio_when_random_returns_then_equals_empyrical_formula(
    seed: int, size: int, required: float, periods: float
) -> None:
    returns = student_t_returns(seed, size)
    np.testing.assert_allclose(
        sortino_ratio(returns, periods, required),
        numpy_sortino(returns, periods, required),
        rtol=1e-9,
        err_msg=f"seed={seed}",
    )


@pytest.mark.parametrize("size", (1, 2, 10, 251, 5_000))
@pytest.mark.parametrize("seed", SEEDS, ids=[f"seed={s}" for s in SEEDS])
def test_max_drawdown_when_random_equity_then_equals_numpy_running_peak_formula(
    seed: int, size: int
) -> None:
    equity = 100.0 * np.cumprod(1 + student_t_returns(seed, size))
    np.testing.assert_allclose(
        max_drawdown(equity), numpy_max_drawdown(equity), rtol=1e-12, err_msg=f"seed={seed}"
    )


@pytest.mark.parametrize("periods", PERIODS)
@pytest.mark.parametrize("size", (2, 3, 10, 251, 5_000))
@pytest.mark.parametrize("seed", SEEDS, ids=[f"seed={s}" for s in SEEDS])
def test_calmar_ratio_when_random_returns_then_equals_empyrical_formula(
    seed: int, size: int, periods: float
) -> None:
    returns = student_t_returns(seed, size)
    np.testing.assert_allclose(
        calmar_ratio(returns, periods),
        numpy_calmar(returns, periods),
        rtol=1e-9,
        err_msg=f"seed={seed}",
    )


@pytest.mark.parametrize("size", RATIO_SIZES)
@pytest.mark.parametrize("seed", SEEDS, ids=[f"seed={s}" for s in SEEDS])
def test_beta_when_random_returns_then_equals_numpy_covariance_over_variance(
    seed: int, size: int
) -> None:
    returns = student_t_returns(seed, size)
    benchmark = correlated_benchmark(returns, seed)
    np.testing.assert_allclose(
        beta(returns, benchmark), numpy_beta(returns, benchmark), rtol=1e-9, err_msg=f"seed={seed}"
    )


# Printed by empyrical-reloaded 0.7.1 itself (``pip install empyrical-reloaded==0.7.1`` in a
# throwaway venv): ``ep.sharpe_ratio(r, annualization=a)``,
# ``ep.sharpe_ratio(r, risk_free=0.001, annualization=a)``, ``ep.sortino_ratio(r,
# annualization=a)``, ``ep.sortino_ratio(r, required_return=0.002, annualization=a)``,
# ``ep.calmar_ratio(r, annualization=a)``, ``ep.max_drawdown(r)`` and ``ep.beta(r, b)``.
EMPYRICAL_SAMPLES = {
    "mixed_daily": (
        [0.012, -0.008, 0.004, -0.021, 0.017, 0.003, -0.005, 0.009, -0.013, 0.006, 0.011, -0.002],
        [0.010, -0.006, 0.002, -0.015, 0.012, 0.001, -0.004, 0.007, -0.010, 0.005, 0.008, -0.001],
    ),
    "losing_monthly": (
        [-0.031, 0.012, -0.044, 0.025, -0.018, -0.007, 0.033, -0.052, 0.014, -0.009],
        [-0.020, 0.010, -0.030, 0.020, -0.010, -0.005, 0.020, -0.040, 0.010, -0.005],
    ),
    "first_period_loss": (
        [-0.05, 0.02, 0.03, 0.01, -0.01, 0.04],
        [-0.03, 0.01, 0.02, 0.00, -0.02, 0.03],
    ),
}
EMPYRICAL_RATIOS = {
    # (sample, annualization): (sharpe, sharpe rf=0.001, sortino, sortino req=0.002, calmar)
    ("mixed_daily", 252): (
        1.5326637944302484,
        0.11789721495617243,
        2.2468565049035307,
        -1.6628174629601213,
        11.813301054811342,
    ),
    ("mixed_daily", 12): (
        0.3344546596616595,
        0.02572728151243523,
        0.4903042861630642,
        -0.3628565186147231,
        0.4960582348875946,
    ),
    ("losing_monthly", 252): (
        -4.229762430955519,
        -4.779082227183509,
        -4.967454774471144,
        -5.938687174346898,
        -10.565379129855808,
    ),
    ("losing_monthly", 12): (
        -0.9230098338825756,
        -1.0428812408803128,
        -1.0839875007278006,
        -1.2959277859575276,
        -1.1258307732984552,
    ),
    ("first_period_loss", 252): (
        3.2403703492039293,
        2.7543147968233406,
        5.0839112744179396,
        3.4002643651353024,
        75.36042806895499,
    ),
    ("first_period_loss", 12): (
        0.7071067811865472,
        0.6010407640085653,
        1.109400392450458,
        0.7419985160044517,
        1.5442715563112097,
    ),
}
EMPYRICAL_DRAWDOWN_BETA = {
    # sample: (empyrical.max_drawdown(r), empyrical.beta(r, b))
    "mixed_daily": (-0.024947328000000234, 1.346851302340917),
    "losing_monthly": (-0.08239569511880901, 1.3986842105263158),
    "first_period_loss": (-0.05, 1.3540372670807455),
}


@pytest.mark.parametrize(("name", "periods"), sorted(EMPYRICAL_RATIOS))
def test_ratios_when_pinned_samples_then_equal_values_printed_by_empyrical(
    name: str, periods: int
) -> None:
    returns = np.array(EMPYRICAL_SAMPLES[name][0])
    sharpe, sharpe_rf, sortino, sortino_required, calmar = EMPYRICAL_RATIOS[(name, periods)]
    assert sharpe_ratio(returns, periods) == pytest.approx(sharpe, rel=1e-12)
    assert sharpe_ratio(returns, periods, 0.001) == pytest.approx(sharpe_rf, rel=1e-12)
    assert sortino_ratio(returns, periods) == pytest.approx(sortino, rel=1e-12)
    assert sortino_ratio(returns, periods, 0.002) == pytest.approx(sortino_required, rel=1e-12)
    assert calmar_ratio(returns, periods) == pytest.approx(calmar, rel=1e-12)


@pytest.mark.parametrize("name", sorted(EMPYRICAL_DRAWDOWN_BETA))
def test_drawdown_and_beta_when_pinned_samples_then_equal_values_printed_by_empyrical(
    name: str,
) -> None:
    returns, benchmark = (np.array(x) for x in EMPYRICAL_SAMPLES[name])
    drawdown, expected_beta = EMPYRICAL_DRAWDOWN_BETA[name]
    equity = np.concatenate(([1.0], np.cumprod(1 + returns)))
    # empyrical reports the drawdown as a negative number; ours is a positive loss.
    assert max_drawdown(equity) == pytest.approx(-drawdown, rel=1e-12)
    assert beta(returns, benchmark) == pytest.approx(expected_beta, rel=1e-12)


def test_max_drawdown_when_small_curve_then_matches_hand_computation() -> None:
    # Peak 120, trough 90 -> 25 %; the later fall 130 -> 117 is only 10 %.
    assert max_drawdown(np.array([100.0, 120.0, 90.0, 130.0, 117.0])) == 0.25
    assert max_drawdown(np.array([100.0, 101.0, 101.0, 150.0])) == 0.0
    assert max_drawdown(np.array([100.0])) == 0.0


def test_max_drawdown_when_equity_turns_negative_then_above_one() -> None:
    assert max_drawdown(np.array([100.0, 50.0, -20.0])) == pytest.approx(1.2, rel=1e-15)


# Degenerate samples: what empyrical 0.7.1 returned for each (printed, then pinned here).


def test_sharpe_ratio_when_returns_all_equal_then_signed_infinity_or_nan_as_empyrical() -> None:
    # A float std of identical values can be ~1e-17 rather than 0; empyrical forces 0.
    assert np.std(np.full(3, 0.1), ddof=1) > 0
    assert sharpe_ratio(np.full(3, 0.1)) == math.inf
    assert sharpe_ratio(np.full(5, 0.01)) == math.inf
    assert sharpe_ratio(np.full(5, -0.01)) == -math.inf
    assert math.isnan(sharpe_ratio(np.zeros(5)))
    assert math.isnan(sharpe_ratio(np.full(5, 0.01), 252.0, 0.01))


def test_sortino_ratio_when_no_downside_then_infinity_or_nan_as_empyrical() -> None:
    assert sortino_ratio(np.array([0.01, 0.02, 0.0])) == math.inf
    assert math.isnan(sortino_ratio(np.zeros(4)))


def test_calmar_ratio_when_no_drawdown_then_nan_as_empyrical() -> None:
    assert math.isnan(calmar_ratio(np.array([0.01, 0.02])))


def test_calmar_ratio_when_total_loss_then_minus_one_as_empyrical() -> None:
    # Equity 1.1 -> 0 -> 0: growth -100 %, drawdown 100 %.
    assert calmar_ratio(np.array([0.1, -1.0, 0.1])) == -1.0


def test_calmar_ratio_when_equity_ends_negative_then_nan_unlike_empyrical() -> None:
    # empyrical returns -0.645...: numpy's power takes (-0.605) ** 84.0 as a real number
    # because 252 / 3 happens to be whole. A negative final value has no growth rate.
    assert math.isnan(calmar_ratio(np.array([0.1, -1.5, 0.1])))


def test_beta_when_benchmark_flat_then_nan_as_empyrical() -> None:
    assert math.isnan(beta(np.array([0.01, 0.02, 0.03]), np.full(3, 0.01)))


@pytest.mark.parametrize(
    "measure",
    [
        lambda r: parametric_var(r, 0.95),
        lambda r: monte_carlo_var(r, 0.95, 100, 0),
        sharpe_ratio,
        sortino_ratio,
        lambda r: beta(r, r),
    ],
    ids=["parametric_var", "monte_carlo_var", "sharpe", "sortino", "beta"],
)
@pytest.mark.parametrize("size", (0, 1))
def test_estimator_when_fewer_than_two_returns_then_nan(measure, size: int) -> None:
    assert math.isnan(measure(np.full(size, 0.01)))


@pytest.mark.parametrize("measure", [max_drawdown, calmar_ratio], ids=["max_drawdown", "calmar"])
def test_measure_when_series_empty_then_nan(measure) -> None:
    assert math.isnan(measure(np.empty(0)))


@pytest.mark.parametrize(
    "measure",
    [
        lambda r: parametric_var(r, 0.95),
        lambda r: monte_carlo_var(r, 0.95, 100, 0),
        max_drawdown,
        sharpe_ratio,
        sortino_ratio,
        calmar_ratio,
        lambda r: beta(r, np.linspace(-0.01, 0.01, r.shape[0])),
        lambda r: beta(np.linspace(-0.01, 0.01, r.shape[0]), r),
    ],
    ids=[
        "parametric_var",
        "monte_carlo_var",
        "max_drawdown",
        "sharpe",
        "sortino",
        "calmar",
        "beta-returns",
        "beta-benchmark",
    ],
)
@pytest.mark.parametrize("where", (0, 2, 5, 8))
def test_measure_when_input_holds_nan_then_nan_unlike_empyrical_which_drops_it(
    measure, where: int
) -> None:
    values = np.array([1.0, 1.02, 1.01, 0.99, 1.01, 1.03, 0.98, 1.0, 1.02])
    values[where] = np.nan
    assert math.isnan(measure(values))


@pytest.mark.parametrize("start", (0.0, -5.0))
def test_max_drawdown_when_equity_starts_at_or_below_zero_then_nan(start: float) -> None:
    assert math.isnan(max_drawdown(np.array([start, 1.0, 0.5])))


# ---------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "measure",
    [parametric_var, lambda r, c: monte_carlo_var(r, c, 10, 0)],
    ids=["parametric_var", "monte_carlo_var"],
)
@pytest.mark.parametrize("confidence", (-0.01, 1.01, float("nan")))
def test_normal_var_when_confidence_outside_unit_interval_then_raises(measure, confidence) -> None:
    with pytest.raises(ValueError, match=r"confidence must be in \[0, 1\]"):
        measure(np.array([-0.01, 0.01]), confidence)


@pytest.mark.parametrize("n_sims", (0, -5))
def test_monte_carlo_var_when_n_sims_below_one_then_raises(n_sims: int) -> None:
    with pytest.raises(ValueError, match=f"n_sims must be >= 1, was {n_sims}"):
        monte_carlo_var(np.array([-0.01, 0.01]), 0.95, n_sims, 0)


@pytest.mark.parametrize("seed", (-1, 2**32))
def test_monte_carlo_var_when_seed_outside_uint32_then_raises(seed: int) -> None:
    with pytest.raises(ValueError, match=rf"seed must be in \[0, 4294967295\], was {seed}"):
        monte_carlo_var(np.array([-0.01, 0.01]), 0.95, 10, seed)


@pytest.mark.parametrize(
    "ratio", [sharpe_ratio, sortino_ratio, calmar_ratio], ids=["sharpe", "sortino", "calmar"]
)
@pytest.mark.parametrize("periods", (0.0, -252.0, float("nan"), float("inf")))
def test_ratio_when_periods_per_year_not_positive_finite_then_raises(ratio, periods) -> None:
    with pytest.raises(ValueError, match="periods_per_year must be a positive finite number"):
        ratio(np.array([0.01, -0.02, 0.03]), periods)


def test_kernel_when_returns_not_one_dimensional_then_numba_typing_error_at_the_call() -> None:
    # Documented: the compiled kernels have no Python layer to turn this into a ValueError
    # (rolling_historical_var, the Python-level wrapper, does; see test_risk_rolling.py).
    with pytest.raises(numba.core.errors.TypingError):
        sharpe_ratio(np.zeros((3, 2)))


def test_beta_when_lengths_differ_then_raises_naming_both() -> None:
    with pytest.raises(ValueError, match="benchmark length 2 differs from returns length 3"):
        beta(np.array([0.01, -0.02, 0.03]), np.array([0.01, 0.02]))


@pytest.mark.parametrize(
    "measure",
    [
        lambda r: parametric_var(r, 0.95),
        lambda r: monte_carlo_var(r, 0.95, 100, 0),
        max_drawdown,
        sharpe_ratio,
        sortino_ratio,
        calmar_ratio,
        lambda r: beta(r, r[::-1].copy()),
    ],
    ids=[
        "parametric_var",
        "monte_carlo_var",
        "max_drawdown",
        "sharpe",
        "sortino",
        "calmar",
        "beta",
    ],
)
def test_other_measure_when_called_then_input_not_modified(measure) -> None:
    returns = student_t_returns(seed=3, size=100)
    before = returns.copy()
    measure(returns)
    np.testing.assert_array_equal(returns, before)


# ---------------------------------------------------------------------- invariants


@given(returns=estimator_samples, first=confidences, second=confidences)
def test_parametric_var_when_confidence_rises_then_var_never_falls(
    returns: np.ndarray, first: float, second: float
) -> None:
    lower, higher = sorted((first, second))
    # The normal quantile is accurate to ~1e-16, not monotone to the last ulp between
    # neighbouring floats, so compare confidences that differ by more than rounding.
    assume(higher - lower > 1e-9)
    assert parametric_var(returns, lower) <= parametric_var(returns, higher)


@given(
    returns=estimator_samples, first=confidences, second=confidences, seed=st.integers(0, 2**32 - 1)
)
def test_monte_carlo_var_when_confidence_rises_with_same_seed_then_var_never_falls(
    returns: np.ndarray, first: float, second: float, seed: int
) -> None:
    lower, higher = sorted((first, second))
    assert monte_carlo_var(returns, lower, 200, seed) <= monte_carlo_var(returns, higher, 200, seed)


@given(
    returns=arrays(
        np.float64,
        st.integers(min_value=1, max_value=300),
        elements=st.floats(min_value=-0.5, max_value=0.5, allow_nan=False),
    )
)
def test_max_drawdown_when_positive_equity_then_in_unit_interval_and_zero_if_never_falls(
    returns: np.ndarray,
) -> None:
    equity = np.cumprod(1 + returns)
    drawdown = max_drawdown(equity)
    assert 0.0 <= drawdown <= 1.0  # a fall to a tiny fraction of the peak rounds to 1
    assert max_drawdown(np.maximum.accumulate(equity)) == 0.0


@given(
    returns=arrays(
        np.float64,
        st.integers(min_value=2, max_value=300),
        elements=st.floats(min_value=-0.2, max_value=0.2, allow_nan=False),
    ),
    scale=st.floats(min_value=0.1, max_value=10.0),
)
def test_beta_when_returns_scale_benchmark_then_beta_is_the_scale(
    returns: np.ndarray, scale: float
) -> None:
    assume(np.var(returns) > 1e-20)
    assert beta(scale * returns, returns) == pytest.approx(scale, rel=1e-9)


@given(
    returns=arrays(
        np.float64,
        st.integers(min_value=2, max_value=300),
        elements=st.floats(min_value=-0.2, max_value=0.2, allow_nan=False),
    )
)
def test_sharpe_and_sortino_when_any_sample_then_sign_of_the_mean_excess_return(
    returns: np.ndarray,
) -> None:
    mean = returns.mean()
    assume(abs(mean) > 1e-12)
    assert math.copysign(1.0, sharpe_ratio(returns)) == math.copysign(1.0, mean)
    assert math.copysign(1.0, sortino_ratio(returns)) == math.copysign(1.0, mean)
