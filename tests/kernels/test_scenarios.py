"""Monte Carlo VaR over cached scenarios against numpy formulas, plus invariants.

Oracles: ``-np.quantile(pnl, 1 - confidence)`` (numpy's linear interpolation)
and the numpy tail mean for VaR / CVaR, ``scenarios @ exposures`` for the P&L,
``np.linalg.cholesky`` and numpy's ``default_rng`` normals for the generator,
and the sample moments of the scenarios against ``mean`` and ``cov``.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from kernels.scenarios import (
    _select,
    covariance_factor,
    generate_scenarios,
    incremental_var,
    pnl_var,
    portfolio_pnl,
    portfolio_var,
    scenarios_from_normals,
)

SEED = 20_240_808
CONFIDENCES = (0.01, 0.5, 0.9, 0.95, 0.975, 0.99, 0.999)
SIZES = (1, 2, 3, 10, 601, 602, 5_000, 10_000)
N_ASSETS = 10
N_SCENARIOS = 10_000

invariant_settings = settings(max_examples=200, derandomize=True, database=None, deadline=None)


def numpy_var(pnl: np.ndarray, confidence: float) -> float:
    return -np.quantile(pnl, 1 - confidence)


def numpy_cvar(pnl: np.ndarray, confidence: float) -> float:
    return -pnl[pnl <= np.quantile(pnl, 1 - confidence)].mean()


def random_covariance(seed: int, n_assets: int) -> np.ndarray:
    # Daily-like vols of 1-4 % and a random correlation matrix.
    rng = np.random.default_rng(seed)
    loadings = rng.normal(size=(n_assets, n_assets + 3))
    corr = loadings @ loadings.T
    scale = 1.0 / np.sqrt(np.diag(corr))
    corr = corr * scale[:, None] * scale[None, :]
    vols = rng.uniform(0.01, 0.04, n_assets)
    return corr * vols[:, None] * vols[None, :]


@pytest.fixture(scope="module")
def book() -> tuple[np.ndarray, np.ndarray]:
    """10 x 10,000 cached scenarios and a long/short book of exposures in USD."""
    cov = random_covariance(SEED, N_ASSETS)
    mean = np.linspace(-2e-4, 3e-4, N_ASSETS)
    scenarios = generate_scenarios(mean, cov, N_SCENARIOS, SEED)
    exposures = np.random.default_rng(SEED + 1).normal(0.0, 50_000.0, N_ASSETS)
    return scenarios, exposures


def fat_tailed_pnl(seed: int, size: int) -> np.ndarray:
    # Student-t P&L rounded to whole currency units, so ties are common.
    rng = np.random.default_rng(seed)
    return np.round(1_000.0 * rng.standard_t(df=3, size=size))


# --- the quantile: exact agreement with numpy ---------------------------------


@pytest.mark.parametrize("confidence", CONFIDENCES)
@pytest.mark.parametrize("size", SIZES)
def test_pnl_var_when_fat_tailed_sample_then_var_is_exactly_minus_numpy_quantile(
    size: int, confidence: float
) -> None:
    pnl = fat_tailed_pnl(SEED + size, size)
    before = pnl.copy()
    var, tail = pnl_var(pnl, confidence, np.empty_like(pnl))
    # Same order statistics, same interpolation formula: bit-for-bit equal.
    assert var == numpy_var(pnl, confidence), f"seed={SEED + size}"
    np.testing.assert_allclose(tail, numpy_cvar(pnl, confidence), rtol=1e-12, atol=1e-9)
    np.testing.assert_array_equal(pnl, before)


@pytest.mark.parametrize(
    "pattern",
    ["ascending", "descending", "constant", "two_values", "organ_pipe", "sawtooth"],
)
@pytest.mark.parametrize("confidence", (0.5, 0.95, 0.99))
def test_pnl_var_when_adversarial_order_then_equals_numpy_quantile(
    pattern: str, confidence: float
) -> None:
    n = 10_000
    ramp = np.arange(n, dtype=np.float64)
    pnl = {
        "ascending": ramp,
        "descending": ramp[::-1].copy(),
        "constant": np.full(n, -3.0),
        "two_values": np.where(ramp % 2 == 0, -1.0, 1.0),
        "organ_pipe": np.minimum(ramp, n - 1 - ramp),
        "sawtooth": ramp % 37,
    }[pattern]
    var, tail = pnl_var(pnl, confidence, np.empty(n))
    assert var == numpy_var(pnl, confidence)
    np.testing.assert_allclose(tail, numpy_cvar(pnl, confidence), rtol=1e-12)


@pytest.mark.parametrize("budget", (0, 1, 2))
def test_select_when_partition_budget_runs_out_then_sort_fallback_is_exact(budget: int) -> None:
    values = fat_tailed_pnl(SEED, 5_000)
    ordered = np.sort(values)
    for k in (0, 249, 2_500, 4_999):
        work = values.copy()
        _select(work, k, budget)
        assert work[k] == ordered[k]
        assert (work[:k] <= work[k]).all() and (work[k + 1 :] >= work[k]).all()
        np.testing.assert_array_equal(np.sort(work), ordered)


@invariant_settings
@given(
    pnl=arrays(
        np.float64,
        st.integers(min_value=1, max_value=200),
        elements=st.integers(min_value=-50, max_value=50).map(float),
    ),
    confidence=st.floats(min_value=1e-6, max_value=1 - 1e-6),
)
def test_pnl_var_when_any_sample_with_ties_then_equals_numpy_quantile(
    pnl: np.ndarray, confidence: float
) -> None:
    var, tail = pnl_var(pnl, confidence, np.empty_like(pnl))
    assert var == numpy_var(pnl, confidence)
    np.testing.assert_allclose(tail, numpy_cvar(pnl, confidence), rtol=1e-12, atol=1e-12)
    assert tail >= var


@invariant_settings
@given(
    seed=st.integers(min_value=0, max_value=2**32 - 1),
    low=st.floats(min_value=0.01, max_value=0.98),
    high=st.floats(min_value=0.01, max_value=0.98),
)
def test_pnl_var_when_confidence_rises_then_var_and_cvar_do_not_fall(
    seed: int, low: float, high: float
) -> None:
    low, high = sorted((low, high))
    pnl = fat_tailed_pnl(seed, 1_000)
    work = np.empty_like(pnl)
    var_low, cvar_low = pnl_var(pnl, low, work)
    var_high, cvar_high = pnl_var(pnl, high, work)
    assert var_high >= var_low, f"seed={seed}"
    assert cvar_high >= cvar_low - 1e-9 * abs(cvar_low), f"seed={seed}"
    assert cvar_low >= var_low and cvar_high >= var_high, f"seed={seed}"


# --- portfolio VaR and the incremental check ------------------------------------


@pytest.mark.parametrize("confidence", CONFIDENCES)
def test_portfolio_var_when_random_book_then_equals_numpy_quantile_of_matmul(
    book: tuple[np.ndarray, np.ndarray], confidence: float
) -> None:
    scenarios, exposures = book
    pnl = scenarios @ exposures
    var, tail = portfolio_var(scenarios, exposures, confidence)
    # The kernel sums scenarios @ exposures in another order than BLAS; the
    # rounding difference is far below a cent on a ~$100k book.
    np.testing.assert_allclose(var, numpy_var(pnl, confidence), rtol=1e-12, atol=1e-8)
    np.testing.assert_allclose(tail, numpy_cvar(pnl, confidence), rtol=1e-12, atol=1e-8)
    assert tail >= var


def test_portfolio_pnl_when_base_book_then_equals_matmul(
    book: tuple[np.ndarray, np.ndarray],
) -> None:
    scenarios, exposures = book
    out = np.full(N_SCENARIOS, np.nan)
    result = portfolio_pnl(scenarios, exposures, out)
    assert result is out
    np.testing.assert_allclose(out, scenarios @ exposures, rtol=1e-12, atol=1e-8)


@pytest.mark.parametrize("asset_index", (0, 3, N_ASSETS - 1))
@pytest.mark.parametrize("delta_exposure", (-250_000.0, -1_000.0, 0.0, 40_000.0))
@pytest.mark.parametrize("confidence", (0.95, 0.99))
def test_incremental_var_when_order_added_then_equals_recomputing_with_numpy(
    book: tuple[np.ndarray, np.ndarray],
    asset_index: int,
    delta_exposure: float,
    confidence: float,
) -> None:
    scenarios, exposures = book
    base_pnl = portfolio_pnl(scenarios, exposures, np.empty(N_SCENARIOS))
    scenarios_before, base_before = scenarios.copy(), base_pnl.copy()
    var_after, cvar_after = incremental_var(
        scenarios, base_pnl, asset_index, delta_exposure, confidence, np.empty(N_SCENARIOS)
    )
    after = exposures.copy()
    after[asset_index] += delta_exposure
    pnl = scenarios @ after
    np.testing.assert_allclose(var_after, numpy_var(pnl, confidence), rtol=1e-12, atol=1e-8)
    np.testing.assert_allclose(cvar_after, numpy_cvar(pnl, confidence), rtol=1e-12, atol=1e-8)
    # The cache is read, never written.
    np.testing.assert_array_equal(scenarios, scenarios_before)
    np.testing.assert_array_equal(base_pnl, base_before)


def test_incremental_var_when_engine_flow_then_before_and_after_match_full_recompute(
    book: tuple[np.ndarray, np.ndarray],
) -> None:
    # The documented flow: refresh base_pnl on a fill, cache var_before, check orders.
    scenarios, exposures = book
    base_pnl = np.empty(N_SCENARIOS)
    pnl_buf = np.empty(N_SCENARIOS)
    portfolio_pnl(scenarios, exposures, base_pnl)
    var_before, _ = pnl_var(base_pnl, 0.95, pnl_buf)
    var_after, _ = incremental_var(scenarios, base_pnl, 2, 30_000.0, 0.95, pnl_buf)
    # The order fills: refresh the cache, and the next check starts from there.
    filled = exposures.copy()
    filled[2] += 30_000.0
    portfolio_pnl(scenarios, filled, base_pnl)
    var_filled, _ = pnl_var(base_pnl, 0.95, pnl_buf)
    np.testing.assert_allclose(var_before, portfolio_var(scenarios, exposures)[0], rtol=1e-12)
    np.testing.assert_allclose(var_after, var_filled, rtol=1e-12)
    np.testing.assert_allclose(var_filled, numpy_var(scenarios @ filled, 0.95), rtol=1e-12)


def test_incremental_var_when_scenarios_c_ordered_then_same_as_fortran(
    book: tuple[np.ndarray, np.ndarray],
) -> None:
    scenarios, exposures = book
    assert scenarios.flags.f_contiguous
    base_pnl = portfolio_pnl(scenarios, exposures, np.empty(N_SCENARIOS))
    buf = np.empty(N_SCENARIOS)
    fortran = incremental_var(scenarios, base_pnl, 4, 12_345.0, 0.95, buf)
    c_order = incremental_var(np.ascontiguousarray(scenarios), base_pnl, 4, 12_345.0, 0.95, buf)
    assert fortran == c_order


@pytest.mark.parametrize(
    ("asset_index", "delta_exposure", "confidence", "buffer_length"),
    [
        (N_ASSETS, 1.0, 0.95, N_SCENARIOS),  # index out of range
        (-1, 1.0, 0.95, N_SCENARIOS),
        (0, np.nan, 0.95, N_SCENARIOS),  # NaN order value
        (0, np.inf, 0.95, N_SCENARIOS),
        (0, 1.0, 1.0, N_SCENARIOS),  # confidence outside (0, 1)
        (0, 1.0, 0.0, N_SCENARIOS),
        (0, 1.0, np.nan, N_SCENARIOS),
        (0, 1.0, 0.95, N_SCENARIOS - 1),  # short scratch buffer
    ],
)
def test_incremental_var_when_bad_input_then_nan_that_fails_a_limit_check(
    book: tuple[np.ndarray, np.ndarray],
    asset_index: int,
    delta_exposure: float,
    confidence: float,
    buffer_length: int,
) -> None:
    scenarios, exposures = book
    base_pnl = portfolio_pnl(scenarios, exposures, np.empty(N_SCENARIOS))
    var, tail = incremental_var(
        scenarios, base_pnl, asset_index, delta_exposure, confidence, np.empty(buffer_length)
    )
    assert np.isnan(var) and np.isnan(tail)
    assert not var <= 1e12  # the documented fail-closed comparison


def test_pnl_var_when_nan_in_pnl_then_nan() -> None:
    pnl = fat_tailed_pnl(SEED, 100)
    pnl[17] = np.nan
    assert np.isnan(pnl_var(pnl, 0.95, np.empty(100))).all()


def test_portfolio_var_when_exposures_scaled_then_var_scales(
    book: tuple[np.ndarray, np.ndarray],
) -> None:
    scenarios, exposures = book
    var, tail = portfolio_var(scenarios, exposures, 0.95)
    var_scaled, tail_scaled = portfolio_var(scenarios, 2.5 * exposures, 0.95)
    np.testing.assert_allclose([var_scaled, tail_scaled], [2.5 * var, 2.5 * tail], rtol=1e-12)
    # Exposures as fractions of equity give the loss fraction the risk limits use.
    equity = 1_000_000.0
    var_fraction, _ = portfolio_var(scenarios, exposures / equity, 0.95)
    np.testing.assert_allclose(var_fraction, var / equity, rtol=1e-12)


# --- scenario generation ---------------------------------------------------------


def test_generate_scenarios_when_seeded_then_equals_numpy_normals_times_cholesky() -> None:
    cov = random_covariance(SEED, N_ASSETS)
    mean = np.full(N_ASSETS, 1e-4)
    scenarios = generate_scenarios(mean, cov, 2_000, 42)
    normals = np.random.default_rng(42).standard_normal((2_000, N_ASSETS))
    expected = mean + normals @ np.linalg.cholesky(cov).T
    np.testing.assert_allclose(scenarios, expected, rtol=1e-12, atol=1e-15)
    np.testing.assert_array_equal(scenarios, generate_scenarios(mean, cov, 2_000, 42))
    assert not np.array_equal(scenarios, generate_scenarios(mean, cov, 2_000, 43))
    assert scenarios.flags.f_contiguous and scenarios.dtype == np.float64


def test_covariance_factor_when_positive_definite_then_equals_numpy_cholesky() -> None:
    cov = random_covariance(SEED + 7, N_ASSETS)
    np.testing.assert_allclose(covariance_factor(cov), np.linalg.cholesky(cov), rtol=1e-10)


def test_generate_scenarios_when_many_draws_then_sample_moments_match_mean_and_cov() -> None:
    # n = 200,000 draws; for a Gaussian the standard error of the sample mean of
    # asset i is sqrt(cov_ii / n) and of the sample covariance (i, j) is
    # sqrt((cov_ii cov_jj + cov_ij**2) / n). 4 standard errors on 65 statistics:
    # a family-wise false alarm rate below 0.5 %, and the seed is fixed.
    n = 200_000
    cov = random_covariance(SEED + 3, N_ASSETS)
    mean = np.linspace(-1e-3, 1e-3, N_ASSETS)
    scenarios = generate_scenarios(mean, cov, n, SEED)
    variances = np.diag(cov)
    mean_se = np.sqrt(variances / n)
    assert (np.abs(scenarios.mean(axis=0) - mean) <= 4 * mean_se).all(), f"seed={SEED}"
    cov_se = np.sqrt((np.outer(variances, variances) + cov**2) / n)
    sample_cov = np.cov(scenarios, rowvar=False)
    assert (np.abs(sample_cov - cov) <= 4 * cov_se).all(), f"seed={SEED}"


def test_generate_scenarios_when_cov_singular_then_eigen_fallback_keeps_dependence() -> None:
    # Asset 1 is exactly 2 x asset 0, asset 2 has zero variance, asset 3 is
    # independent: rank 2, so Cholesky stops at a zero pivot.
    vol0, vol3 = 0.02, 0.03
    cov = np.zeros((4, 4))
    cov[0, 0] = vol0**2
    cov[0, 1] = cov[1, 0] = 2 * vol0**2
    cov[1, 1] = 4 * vol0**2
    cov[3, 3] = vol3**2
    mean = np.array([1e-4, 2e-4, 5e-4, -1e-4])
    factor = covariance_factor(cov)
    np.testing.assert_allclose(factor @ factor.T, cov, rtol=0, atol=1e-15)
    scenarios = generate_scenarios(mean, cov, 5_000, SEED)
    np.testing.assert_allclose(
        scenarios[:, 1] - mean[1], 2 * (scenarios[:, 0] - mean[0]), rtol=0, atol=1e-14
    )
    np.testing.assert_allclose(scenarios[:, 2], mean[2], rtol=0, atol=1e-14)
    assert scenarios[:, 3].std() > 0.9 * vol3


def test_scenarios_from_normals_when_identity_factor_then_adds_mean() -> None:
    normals = np.random.default_rng(SEED).standard_normal((50, 3))
    mean = np.array([0.1, -0.2, 0.3])
    np.testing.assert_array_equal(scenarios_from_normals(normals, mean, np.eye(3)), normals + mean)


# --- argument validation ---------------------------------------------------------


def _valid_inputs() -> tuple[np.ndarray, np.ndarray]:
    return np.zeros(3), np.diag([1e-4, 2e-4, 3e-4])


@pytest.mark.parametrize(
    ("change", "name"),
    [
        (lambda m, c: (m, c[:2, :2]), "cov"),
        (lambda m, c: (m, c + np.triu(np.full((3, 3), 1e-5), 1)), "cov"),  # not symmetric
        (lambda m, c: (m, c - np.diag([0.0, 0.0, 4e-4])), "cov"),  # negative eigenvalue
        (lambda m, c: (m, np.where(np.eye(3) > 0, c, np.nan)), "cov"),
        (lambda m, c: (np.array([0.0, np.nan, 0.0]), c), "mean"),
        (lambda m, c: (m.reshape(3, 1), c), "mean"),
    ],
)
def test_generate_scenarios_when_malformed_then_value_error_names_argument(change, name) -> None:
    mean, cov = change(*_valid_inputs())
    with pytest.raises(ValueError, match=f"^{name} "):
        generate_scenarios(mean, cov, 100, 1)


def test_generate_scenarios_when_cov_not_psd_then_message_gives_eigenvalue() -> None:
    cov = np.array([[1e-4, 2e-4], [2e-4, 1e-4]])  # correlation 2: eigenvalue -1e-4
    with pytest.raises(ValueError, match=r"cov must be positive semi-definite: .*-0\.0001"):
        generate_scenarios(np.zeros(2), cov, 100, 1)


@pytest.mark.parametrize(
    ("n_scenarios", "seed", "name"),
    [(0, 1, "n_scenarios"), (2.5, 1, "n_scenarios"), (10, -1, "seed"), (10, 1.0, "seed")],
)
def test_generate_scenarios_when_bad_count_or_seed_then_value_error_names_it(
    n_scenarios, seed, name
) -> None:
    mean, cov = _valid_inputs()
    with pytest.raises(ValueError, match=f"^{name} "):
        generate_scenarios(mean, cov, n_scenarios, seed)


@pytest.mark.parametrize(
    ("scenarios", "exposures", "confidence", "name"),
    [
        (np.zeros((10, 3)), np.ones(3), 1.0, "confidence"),
        (np.zeros((10, 3)), np.ones(3), 0.0, "confidence"),
        (np.zeros((10, 3)), np.ones(3), np.nan, "confidence"),
        (np.zeros((10, 3)), np.ones(4), 0.95, "exposures"),
        (np.zeros((10, 3)), np.array([1.0, np.inf, 0.0]), 0.95, "exposures"),
        (np.zeros(10), np.ones(1), 0.95, "scenarios"),
        (np.zeros((0, 3)), np.ones(3), 0.95, "scenarios"),
    ],
)
def test_portfolio_var_when_malformed_then_value_error_names_argument(
    scenarios, exposures, confidence, name
) -> None:
    with pytest.raises(ValueError, match=f"^{name} "):
        portfolio_var(scenarios, exposures, confidence)
