"""Historical VaR and CVaR against plain numpy formulas, plus invariants."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from kernels.risk import cvar, historical_var

CONFIDENCES = (0.0, 0.5, 0.9, 0.95, 0.975, 0.99, 1.0)
SEEDS = (0, 1, 2)
SIZES = (1, 2, 3, 10, 251, 5_000)

# Simple returns of -100 % .. +100 %, no NaN: the invariants are about finite samples.
returns_samples = arrays(
    np.float64,
    st.integers(min_value=1, max_value=300),
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
