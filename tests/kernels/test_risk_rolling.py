"""Rolling and streaming historical VaR/CVaR against per-window numpy recomputation.

Oracles: ``np.quantile`` and the tail mean recomputed on every window, and the batch
`historical_var` / `cvar` kernels on the same window (bit for bit).
"""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from kernels.risk import (
    RV_COUNT,
    RV_CVAR,
    RV_VAR,
    cvar,
    historical_var,
    rolling_historical_var,
    rolling_var_state,
    rolling_var_update,
)

CONFIDENCES = (0.0, 0.5, 0.95, 0.99, 1.0)
SEEDS = (0, 1, 2)


def student_t_returns(seed: int, size: int, decimals: int = 4) -> np.ndarray:
    # Fat-tailed returns; rounding makes ties, which exercise equal-value deletes.
    rng = np.random.default_rng(seed)
    return np.round(0.01 * rng.standard_t(df=3, size=size), decimals)


def numpy_rolling(returns: np.ndarray, window: int, confidence: float):
    """``np.quantile`` and the tail mean recomputed on each full window of non-NaN returns."""
    var = np.full(returns.shape[0], np.nan)
    loss = np.full(returns.shape[0], np.nan)
    finite_at = np.flatnonzero(~np.isnan(returns))
    finite = returns[finite_at]
    for k in range(window - 1, finite.shape[0]):
        sample = finite[k - window + 1 : k + 1]
        quantile = np.quantile(sample, 1 - confidence)
        var[finite_at[k]] = -quantile
        loss[finite_at[k]] = -sample[sample <= quantile].mean()
    # A NaN return repeats the previous output.
    for i in range(1, returns.shape[0]):
        if np.isnan(returns[i]):
            var[i], loss[i] = var[i - 1], loss[i - 1]
    return var, loss


def kernel_per_window(returns: np.ndarray, window: int, confidence: float):
    """The batch kernels on each window (input without NaN)."""
    var = np.full(returns.shape[0], np.nan)
    loss = np.full(returns.shape[0], np.nan)
    for i in range(window - 1, returns.shape[0]):
        sample = returns[i - window + 1 : i + 1]
        var[i] = historical_var(sample, confidence)
        loss[i] = cvar(sample, confidence)
    return var, loss


def stream(returns: np.ndarray, window: int, confidence: float):
    state = rolling_var_state(window, confidence)
    pairs = [rolling_var_update(state, float(r)) for r in returns]
    return np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs])


@pytest.mark.parametrize("confidence", CONFIDENCES)
@pytest.mark.parametrize(
    ("window", "size"), [(1, 50), (2, 60), (5, 300), (64, 600), (1_000, 2_500)]
)
@pytest.mark.parametrize("seed", SEEDS, ids=[f"seed={s}" for s in SEEDS])
def test_rolling_historical_var_when_random_returns_then_equals_numpy_per_window(
    seed: int, window: int, size: int, confidence: float
) -> None:
    returns = student_t_returns(seed, size)
    var, loss = rolling_historical_var(returns, window, confidence)
    expected_var, expected_loss = numpy_rolling(returns, window, confidence)
    np.testing.assert_allclose(var, expected_var, rtol=1e-12, atol=1e-15, err_msg=f"seed={seed}")
    np.testing.assert_allclose(loss, expected_loss, rtol=1e-12, atol=1e-15, err_msg=f"seed={seed}")


@pytest.mark.parametrize("confidence", CONFIDENCES)
@pytest.mark.parametrize(("window", "size"), [(1, 50), (3, 200), (64, 600)])
@pytest.mark.parametrize("seed", SEEDS, ids=[f"seed={s}" for s in SEEDS])
def test_rolling_historical_var_when_random_returns_then_bitwise_equals_batch_kernels(
    seed: int, window: int, size: int, confidence: float
) -> None:
    returns = student_t_returns(seed, size, decimals=3)
    var, loss = rolling_historical_var(returns, window, confidence)
    expected_var, expected_loss = kernel_per_window(returns, window, confidence)
    np.testing.assert_array_equal(var, expected_var, err_msg=f"seed={seed}")
    np.testing.assert_array_equal(loss, expected_loss, err_msg=f"seed={seed}")


@pytest.mark.parametrize("window", (1, 7, 100))
@pytest.mark.parametrize("seed", SEEDS, ids=[f"seed={s}" for s in SEEDS])
def test_streaming_when_same_returns_then_bitwise_equals_batch(seed: int, window: int) -> None:
    returns = student_t_returns(seed, 1_000)
    returns[np.random.default_rng(seed).random(returns.shape[0]) < 0.05] = np.nan
    var, loss = rolling_historical_var(returns, window, 0.95)
    streamed_var, streamed_loss = stream(returns, window, 0.95)
    np.testing.assert_array_equal(streamed_var, var, err_msg=f"seed={seed}")
    np.testing.assert_array_equal(streamed_loss, loss, err_msg=f"seed={seed}")


def test_rolling_historical_var_when_fewer_returns_than_window_then_nan_until_full() -> None:
    returns = student_t_returns(seed=3, size=30)
    var, loss = rolling_historical_var(returns, 10, 0.95)
    assert np.isnan(var[:9]).all() and np.isnan(loss[:9]).all()
    assert not np.isnan(var[9:]).any() and not np.isnan(loss[9:]).any()
    var, loss = rolling_historical_var(returns, 31, 0.95)
    assert np.isnan(var).all() and np.isnan(loss).all()


def test_rolling_historical_var_when_empty_then_empty() -> None:
    var, loss = rolling_historical_var(np.empty(0), 5, 0.95)
    assert var.shape == loss.shape == (0,)


def test_rolling_historical_var_when_window_one_then_loss_is_the_return() -> None:
    returns = student_t_returns(seed=4, size=20)
    var, loss = rolling_historical_var(returns, 1, 0.95)
    np.testing.assert_array_equal(var, -returns)
    np.testing.assert_array_equal(loss, -returns)


def test_rolling_historical_var_when_small_sample_then_matches_hand_computation() -> None:
    # Window [-0.02, 0.01, 0.03, -0.01] sorted: -0.02 -0.01 0.01 0.03; the 25 % quantile
    # sits at virtual index 0.75: -0.01 - 0.25 * 0.01 = -0.0125. Then -0.02 leaves and
    # -0.03 arrives: -0.03 -0.01 0.01 0.03 gives -0.01 - 0.25 * 0.02 = -0.015.
    var, loss = rolling_historical_var([-0.02, 0.01, 0.03, -0.01, -0.03], 4, 0.75)
    np.testing.assert_allclose(var, [np.nan, np.nan, np.nan, 0.0125, 0.015], rtol=1e-15)
    np.testing.assert_allclose(loss, [np.nan, np.nan, np.nan, 0.02, 0.03], rtol=1e-15)


def test_rolling_historical_var_when_nan_returns_then_skipped_and_last_value_held() -> None:
    returns = student_t_returns(seed=5, size=400)
    returns[[0, 3, 50, 51, 52, 399]] = np.nan
    var, loss = rolling_historical_var(returns, 20, 0.9)
    expected_var, expected_loss = numpy_rolling(returns, 20, 0.9)
    np.testing.assert_allclose(var, expected_var, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(loss, expected_loss, rtol=1e-12, atol=1e-15)
    np.testing.assert_array_equal(var[50:53], var[49])
    # NaN does not count towards the window: 20 non-NaN returns end at index 21.
    assert np.isnan(var[20]) and not np.isnan(var[21])


def test_rolling_historical_var_when_infinite_return_then_same_as_batch_kernels() -> None:
    returns = student_t_returns(seed=6, size=60)
    returns[[10, 30]] = -np.inf, np.inf
    var, loss = rolling_historical_var(returns, 8, 0.9)
    expected_var, expected_loss = kernel_per_window(returns, 8, 0.9)
    np.testing.assert_array_equal(var, expected_var)
    np.testing.assert_array_equal(loss, expected_loss)


def test_rolling_historical_var_when_integer_list_then_converted_to_float64() -> None:
    var, loss = rolling_historical_var([3, -1, 2, -4, 0], 3, 0.5)
    np.testing.assert_array_equal(var, [np.nan, np.nan, -2.0, 1.0, 0.0])
    assert var.dtype == loss.dtype == np.float64


def test_rolling_historical_var_when_called_then_input_not_modified() -> None:
    returns = student_t_returns(seed=7, size=200)
    before = returns.copy()
    rolling_historical_var(returns, 30, 0.95)
    np.testing.assert_array_equal(returns, before)


def test_rolling_var_update_when_called_then_outputs_written_at_documented_offsets() -> None:
    state = rolling_var_state(3, 0.5)
    assert np.isnan(state[RV_VAR]) and np.isnan(state[RV_CVAR]) and state[RV_COUNT] == 0.0
    for r in (0.01, np.nan, -0.02):
        assert np.isnan(rolling_var_update(state, r)).all()
    assert state[RV_COUNT] == 2.0 and np.isnan(state[RV_VAR])
    var, loss = rolling_var_update(state, 0.03)
    assert (var, loss) == (-0.01, pytest.approx(0.005, rel=1e-15))
    assert (state[RV_VAR], state[RV_CVAR], state[RV_COUNT]) == (var, loss, 3.0)
    assert rolling_var_update(state, np.nan) == (var, loss)
    assert state[RV_COUNT] == 3.0


def test_rolling_var_state_when_made_then_size_is_header_plus_two_windows() -> None:
    assert rolling_var_state(1_000, 0.95).shape == (6 + 2 * 1_000,)


# ---------------------------------------------------------------------- bad input


@pytest.mark.parametrize("window", (0, -3))
def test_rolling_var_state_when_window_below_one_then_raises(window: int) -> None:
    with pytest.raises(ValueError, match=f"window must be >= 1, was {window}"):
        rolling_var_state(window, 0.95)


@pytest.mark.parametrize("confidence", (-0.01, 1.01, float("nan")))
def test_rolling_var_state_when_confidence_outside_unit_interval_then_raises(confidence) -> None:
    with pytest.raises(ValueError, match=r"confidence must be in \[0, 1\]"):
        rolling_var_state(5, confidence)


def test_rolling_var_update_when_state_truncated_then_raises() -> None:
    state = rolling_var_state(5, 0.95)
    with pytest.raises(ValueError, match="make it with rolling_var_state"):
        rolling_var_update(state[:-1], 0.01)


@pytest.mark.parametrize(
    ("returns", "message"),
    [
        (np.zeros((4, 2)), r"returns must be a 1-D array, had shape \(4, 2\)"),
        (0.01, r"returns must be a 1-D array, had shape \(\)"),
        (np.array([0.01 + 1j, 0.02]), "returns must hold real numbers, had dtype complex128"),
        (np.array(["0.01", "0.02"]), "returns must hold real numbers, had dtype <U4"),
        (np.array([True, False]), "returns must hold real numbers, had dtype bool"),
    ],
    ids=["2-D", "scalar", "complex", "strings", "bool"],
)
def test_rolling_historical_var_when_returns_not_real_vector_then_raises_naming_it(
    returns, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        rolling_historical_var(returns, 2, 0.95)


@pytest.mark.parametrize("window", (0, -1, 2.0, True, None, "5"))
def test_rolling_historical_var_when_window_not_positive_integer_then_raises_naming_it(
    window,
) -> None:
    with pytest.raises(ValueError, match="window must be an integer >= 1, was"):
        rolling_historical_var(np.zeros(5), window, 0.95)


@pytest.mark.parametrize("confidence", (-0.01, 1.01, float("nan")))
def test_rolling_historical_var_when_confidence_outside_unit_interval_then_raises(
    confidence,
) -> None:
    with pytest.raises(ValueError, match=r"confidence must be in \[0, 1\], was"):
        rolling_historical_var(np.zeros(5), 2, confidence)


def test_rolling_historical_var_when_numpy_integer_window_then_accepted() -> None:
    var, _ = rolling_historical_var(np.zeros(5), np.int64(2), 0.95)
    assert var.shape == (5,)


# ---------------------------------------------------------------------- invariants

# Few distinct values (signed zeros included) so deletes and inserts hit ties often.
tick_returns = st.lists(
    st.one_of(
        st.sampled_from([-0.02, -0.01, -0.0, 0.0, 0.01, 0.03, math.nan]),
        st.floats(min_value=-0.1, max_value=0.1, allow_nan=False),
    ),
    min_size=0,
    max_size=120,
)


@given(returns=tick_returns, window=st.integers(1, 12), confidence=st.floats(0.0, 1.0))
def test_streaming_when_any_sequence_then_each_window_equals_batch_kernels_and_numpy(
    returns: list[float], window: int, confidence: float
) -> None:
    values = np.array(returns, dtype=np.float64)
    var, loss = stream(values, window, confidence)
    finite = values[~np.isnan(values)]
    expected_var, expected_loss = kernel_per_window(finite, window, confidence)
    keep = ~np.isnan(values)
    np.testing.assert_array_equal(var[keep], expected_var)
    np.testing.assert_array_equal(loss[keep], expected_loss)
    numpy_var, numpy_loss = numpy_rolling(values, window, confidence)
    np.testing.assert_allclose(var, numpy_var, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(loss, numpy_loss, rtol=1e-12, atol=1e-15)


@given(
    returns=tick_returns,
    window=st.integers(1, 12),
    first=st.floats(0.0, 1.0),
    second=st.floats(0.0, 1.0),
)
def test_streaming_when_confidence_rises_then_var_never_falls_and_cvar_at_least_var(
    returns: list[float], window: int, first: float, second: float
) -> None:
    lower, higher = sorted((first, second))
    values = np.array(returns, dtype=np.float64)
    var_low, loss_low = rolling_historical_var(values, window, lower)
    var_high, loss_high = rolling_historical_var(values, window, higher)
    full = ~np.isnan(var_low)
    assert (var_low[full] <= var_high[full]).all()
    assert (loss_low[full] >= var_low[full]).all()
    assert (loss_high[full] >= var_high[full]).all()
