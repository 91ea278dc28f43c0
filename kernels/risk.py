"""Sample risk measures: VaR and CVaR (historical, normal, Monte Carlo, rolling),
drawdown and the Sharpe, Sortino and Calmar ratios and beta.

Conventions
-----------
dtype
    Inputs are 1-D float64 arrays and float scalars; results are float64.
    Other dtypes compile a separate specialization and other dimensions are a
    numba ``TypingError`` at the call: the kernels stay callable from other
    compiled code, so no Python layer sits in front of them. The one
    Python-level wrapper, `rolling_historical_var` (a batch entry point), checks
    and converts its arguments and raises ``ValueError`` naming the argument.
Returns
    Every ``returns`` argument is *simple* returns per period (``0.01`` is
    +1 %), as in ``empyrical``; none of these functions takes log returns.
    The VaR family only reads quantiles and means, so fed log returns it gives
    a log loss ``l`` (the simple loss is ``-expm1(-l)``), but the ratios
    compound or average simple returns and need them. `max_drawdown` takes an
    equity curve (values, not returns).
Sign
    VaR, CVaR and maximum drawdown are *positive loss fractions*: a VaR of
    ``0.03`` is a loss of 3 % of value. A sample whose quantile is a gain gives
    a negative VaR. CVaR is never below the VaR at the same confidence.
Definitions and oracles (checked by ``tests/kernels/test_risk*.py``)
    - ``historical_var(r, c) = -np.quantile(r, 1 - c)`` (numpy's default
      linear interpolation, reproduced step for step).
    - ``cvar(r, c) = -r[r <= -historical_var(r, c)].mean()``.
    - ``parametric_var(r, c) = -scipy.stats.norm.ppf(1 - c, mean(r),
      std(r, ddof=1))``: a normal fitted by sample mean and ddof=1 std.
    - ``monte_carlo_var(r, c, n_sims, seed)`` is `historical_var` of `n_sims`
      draws from that fitted normal, equal to
      ``-np.quantile(np.random.RandomState(seed).normal(m, s, n_sims), 1 - c)``.
    - ``max_drawdown(equity) = max((peak - equity) / peak)``, ``peak`` the
      running maximum.
    - `sharpe_ratio`, `sortino_ratio`, `calmar_ratio` and `beta` follow
      ``empyrical`` (``empyrical-reloaded`` 0.7.1, ``stats.py``), including
      its results for degenerate samples (``+-inf`` for a zero deviation, NaN
      for no drawdown or a flat benchmark); ``periods_per_year`` plays the
      part of its ``annualization``. One exception: a final equity below zero
      makes `calmar_ratio` NaN, where numpy's power can hand empyrical a
      number when ``periods_per_year / len(r)`` happens to be whole.
    - The rolling and streaming VaR/CVaR equal `historical_var` and `cvar` on
      each window bit for bit, hence ``np.quantile`` within 1e-12.
NaN policy
    The batch measures propagate: any NaN in an input array gives NaN (unlike
    ``empyrical``, which drops NaN; drop them first to get its number). An
    empty sample gives NaN, as does a sample too short for the estimator (see
    each function). The streaming and rolling forms *skip* a NaN return, as
    the indicator kernels do: the window holds the last ``window`` non-NaN
    returns. Infinities are not special-cased.
Warm-up
    Only the rolling forms have one: NaN until ``window`` non-NaN returns have
    been seen.
Bad input
    Arguments that no sample can make valid raise ``ValueError`` naming them:
    `confidence` outside [0, 1], ``periods_per_year`` not a positive finite
    number, ``n_sims`` < 1, ``seed`` outside [0, 2**32 - 1], ``window`` < 1,
    benchmark length different from the returns'. Nothing raises on a sample
    value: a sample outside a function's domain gives NaN, as documented.
"""

import math

import numpy as np
from numba import njit

from kernels._risk_rolling import (
    RV_COUNT,
    RV_CVAR,
    RV_VAR,
    _check_confidence,
    _has_nan,
    _normal_ppf,
    _quantile,
    _quantile_and_tail_loss,
    _sum_cross_deviation,
    _sum_downside_squares,
    _sum_shifted,
    _sum_squared_deviation,
    rolling_historical_var,
    rolling_var_state,
    rolling_var_update,
)

__all__ = [
    "RV_COUNT",
    "RV_CVAR",
    "RV_VAR",
    "beta",
    "calmar_ratio",
    "cvar",
    "historical_var",
    "max_drawdown",
    "monte_carlo_var",
    "parametric_var",
    "rolling_historical_var",
    "rolling_var_state",
    "rolling_var_update",
    "sharpe_ratio",
    "sortino_ratio",
]

_MAX_SEED = 2**32 - 1  # numpy's legacy MT19937 seed range, which numba mirrors
_MIN_VARIANCE = 1.0e-30  # empyrical's beta: a flatter benchmark gives NaN


@njit(cache=True)
def _check_periods(periods_per_year):
    if not (0.0 < periods_per_year < math.inf):
        raise ValueError("periods_per_year must be a positive finite number, was", periods_per_year)


@njit(cache=True)
def _mean_std(values, shift):
    # Mean and ddof=1 std of values - shift, two passes. The std is exactly 0
    # when all shifted values are equal, as empyrical's _zero_dispersion_std
    # forces it: the float mean can miss them by an ulp and leave ~1e-18.
    n = values.shape[0]
    mean = _sum_shifted(values, shift) / n
    first = values[0] - shift
    for i in range(1, n):  # ends at i = 1 for almost any real sample
        if values[i] - shift != first:
            return mean, math.sqrt(_sum_squared_deviation(values, shift, mean) / (n - 1))
    return mean, 0.0


@njit(cache=True)
def _ratio(numerator, denominator):
    # numpy's division for the zero-denominator cases empyrical returns as is.
    if denominator == 0.0:
        if numerator == 0.0 or math.isnan(numerator):
            return np.nan
        return math.copysign(math.inf, numerator)
    return numerator / denominator


# ------------------------------------------------------------------ VaR, CVaR


@njit(cache=True)
def historical_var(returns: np.ndarray, confidence: float = 0.95) -> float:
    """Compute historical value at risk at a confidence level.

    Parameters
    ----------
    returns : numpy.ndarray
        1-D float64 sample of simple returns (``0.01`` is +1 %).
    confidence : float, default 0.95
        Confidence level in [0, 1]; the loss is read at the ``1 - confidence``
        quantile.

    Returns
    -------
    float
        VaR as a positive loss fraction, ``-np.quantile(returns, 1 - confidence)``;
        NaN if `returns` is empty or holds a NaN.

    Raises
    ------
    ValueError
        If `confidence` is outside [0, 1].

    Examples
    --------
    >>> import numpy as np
    >>> historical_var(np.array([-0.05, 0.01, 0.02, -0.01, 0.03]), confidence=0.75)
    0.01
    """
    _check_confidence(confidence)
    n = returns.shape[0]
    if n == 0 or _has_nan(returns):
        return np.nan
    return -_quantile(returns, 1.0 - confidence)


@njit(cache=True)
def cvar(returns: np.ndarray, confidence: float = 0.95) -> float:
    """Compute conditional value at risk (expected shortfall) at a confidence level.

    Parameters
    ----------
    returns : numpy.ndarray
        1-D float64 sample of simple returns (``0.01`` is +1 %).
    confidence : float, default 0.95
        Confidence level in [0, 1], as in `historical_var`.

    Returns
    -------
    float
        Minus the mean of the returns at or below ``-historical_var(returns,
        confidence)``, a positive loss fraction never below the VaR; NaN if
        `returns` is empty or holds a NaN.

    Raises
    ------
    ValueError
        If `confidence` is outside [0, 1].

    Examples
    --------
    >>> import numpy as np
    >>> round(cvar(np.array([-0.05, 0.01, 0.02, -0.01, 0.03]), confidence=0.75), 12)
    0.03
    """
    _check_confidence(confidence)
    n = returns.shape[0]
    if n == 0 or _has_nan(returns):
        return np.nan
    return _quantile_and_tail_loss(returns, 1.0 - confidence)[1]


@njit(cache=True)
def parametric_var(returns: np.ndarray, confidence: float = 0.95) -> float:
    """Compute value at risk under a normal fitted to the returns.

    Parameters
    ----------
    returns : numpy.ndarray
        1-D float64 sample of simple returns.
    confidence : float, default 0.95
        Confidence level in [0, 1].

    Returns
    -------
    float
        ``-(m + s * z)`` with ``m`` the sample mean, ``s`` the ddof=1 standard
        deviation and ``z`` the standard normal ``1 - confidence`` quantile, i.e.
        ``-scipy.stats.norm.ppf(1 - confidence, m, s)``. ``+inf`` at confidence
        1 and ``-inf`` at 0 (``-m`` if all returns are equal); NaN for fewer
        than two returns or any NaN.

    Raises
    ------
    ValueError
        If `confidence` is outside [0, 1].

    Examples
    --------
    >>> import numpy as np
    >>> round(parametric_var(np.array([-0.02, 0.0, 0.02]), confidence=0.95), 6)
    0.032897
    """
    _check_confidence(confidence)
    # No NaN scan: a NaN propagates through the sums to the result.
    if returns.shape[0] < 2:
        return np.nan
    mean, std = _mean_std(returns, 0.0)
    if std == 0.0:
        return -mean
    return -(mean + _normal_ppf(1.0 - confidence) * std)


@njit(cache=True)
def monte_carlo_var(
    returns: np.ndarray, confidence: float = 0.95, n_sims: int = 100_000, seed: int = 0
) -> float:
    """Compute value at risk from returns simulated from a fitted normal.

    Model: ``n_sims`` independent draws from a normal with the sample mean and
    ddof=1 standard deviation of `returns`; the VaR is `historical_var` of the
    draws. It converges to `parametric_var` as `n_sims` grows (standard error
    about ``2 * s / sqrt(n_sims)`` at 95 %).

    Parameters
    ----------
    returns : numpy.ndarray
        1-D float64 sample of simple returns.
    confidence : float, default 0.95
        Confidence level in [0, 1].
    n_sims : int, default 100_000
        Number of simulated returns, >= 1. Costs one draw and a sort of
        `n_sims` values.
    seed : int, default 0
        Seed in [0, 2**32 - 1]. The same seed and inputs give the same result.
        The call seeds numba's own generator for the calling thread
        (``np.random.seed`` inside compiled code), which then continues from
        there for later compiled draws; NumPy's global generator is untouched.
        The draws are those of ``np.random.RandomState(seed).normal(m, s,
        n_sims)``, which numba's generator reproduces exactly.

    Returns
    -------
    float
        The simulated VaR as a positive loss fraction; NaN for fewer than two
        returns or any NaN (nothing is drawn then).

    Raises
    ------
    ValueError
        If `confidence` is outside [0, 1], `n_sims` is below 1 or `seed` is
        outside [0, 2**32 - 1].

    Examples
    --------
    >>> import numpy as np
    >>> returns = np.array([-0.02, 0.0, 0.02])
    >>> monte_carlo_var(returns, 0.95, 1000, seed=7) == monte_carlo_var(returns, 0.95, 1000, 7)
    True
    """
    _check_confidence(confidence)
    if n_sims < 1:
        raise ValueError("n_sims must be >= 1, was " + str(n_sims))
    if seed < 0 or seed > _MAX_SEED:
        raise ValueError("seed must be in [0, 4294967295], was " + str(seed))
    if returns.shape[0] < 2 or _has_nan(returns):
        return np.nan
    mean, std = _mean_std(returns, 0.0)
    np.random.seed(seed)
    return -_quantile(np.random.normal(mean, std, n_sims), 1.0 - confidence)


# ------------------------------------------------------------ drawdown, ratios


@njit(cache=True)
def max_drawdown(equity: np.ndarray) -> float:
    """Compute the maximum drawdown of an equity curve.

    Parameters
    ----------
    equity : numpy.ndarray
        1-D float64 equity (account value) series, not returns. It must start
        positive: drawdowns are relative to the running peak.

    Returns
    -------
    float
        ``max((peak - equity) / peak)`` over the series, ``peak`` the running
        maximum: a positive loss fraction, 0.0 for a curve that never falls,
        above 1 if equity turns negative. Equals ``-empyrical.max_drawdown(r)``
        for ``equity = [1, cumprod(1 + r)]``. NaN if `equity` is empty, holds a
        NaN or starts at or below zero.

    Examples
    --------
    >>> import numpy as np
    >>> max_drawdown(np.array([100.0, 120.0, 90.0, 130.0, 117.0]))
    0.25
    """
    n = equity.shape[0]
    if n == 0 or _has_nan(equity) or not (equity[0] > 0.0):
        return np.nan
    peak = equity[0]
    worst = 0.0
    for i in range(n):
        value = equity[i]
        if value > peak:
            peak = value
        drop = (peak - value) / peak
        if drop > worst:
            worst = drop
    return worst


@njit(cache=True)
def sharpe_ratio(
    returns: np.ndarray, periods_per_year: float = 252.0, risk_free: float = 0.0
) -> float:
    """Compute the annualized Sharpe ratio, as ``empyrical.sharpe_ratio``.

    Parameters
    ----------
    returns : numpy.ndarray
        1-D float64 simple returns per period.
    periods_per_year : float, default 252.0
        Periods in a year (252 trading days, 52 weeks, 12 months, ...).
    risk_free : float, default 0.0
        Risk-free simple return per period.

    Returns
    -------
    float
        ``mean(r - risk_free) / std(r - risk_free, ddof=1) * sqrt(periods_per_year)``.
        If all excess returns are equal the std is 0 and the result is
        ``+-inf``, or NaN if they are 0 (as empyrical). NaN for fewer than two
        returns or any NaN.

    Raises
    ------
    ValueError
        If `periods_per_year` is not a positive finite number.

    Examples
    --------
    >>> import numpy as np
    >>> round(sharpe_ratio(np.array([0.01, -0.005, 0.02, 0.0]), periods_per_year=252), 6)
    8.949008
    """
    _check_periods(periods_per_year)
    # No NaN scan: a NaN propagates through the sums to the result.
    if returns.shape[0] < 2:
        return np.nan
    mean, std = _mean_std(returns, risk_free)
    return _ratio(mean, std) * math.sqrt(periods_per_year)


@njit(cache=True)
def sortino_ratio(
    returns: np.ndarray, periods_per_year: float = 252.0, required_return: float = 0.0
) -> float:
    """Compute the annualized Sortino ratio, as ``empyrical.sortino_ratio``.

    Parameters
    ----------
    returns : numpy.ndarray
        1-D float64 simple returns per period.
    periods_per_year : float, default 252.0
        Periods in a year.
    required_return : float, default 0.0
        Minimum acceptable simple return per period.

    Returns
    -------
    float
        ``mean(a) * periods_per_year / (sqrt(mean(min(a, 0) ** 2)) *
        sqrt(periods_per_year))`` with ``a = r - required_return``: the
        annualized mean over the annualized downside deviation. ``+inf`` when
        no return falls below `required_return` and the mean is positive (NaN
        if it is 0), as empyrical. NaN for fewer than two returns or any NaN.

    Raises
    ------
    ValueError
        If `periods_per_year` is not a positive finite number.

    Examples
    --------
    >>> import numpy as np
    >>> round(sortino_ratio(np.array([0.01, -0.005, 0.02, 0.0]), periods_per_year=252), 6)
    39.68627
    """
    _check_periods(periods_per_year)
    n = returns.shape[0]
    # No NaN scan: a NaN propagates through the sums to the result.
    if n < 2:
        return np.nan
    annual_return = (_sum_shifted(returns, required_return) / n) * periods_per_year
    squares = _sum_downside_squares(returns, required_return)
    downside = math.sqrt(squares / n) * math.sqrt(periods_per_year)
    return _ratio(annual_return, downside)


@njit(cache=True)
def calmar_ratio(returns: np.ndarray, periods_per_year: float = 252.0) -> float:
    """Compute the Calmar ratio, as ``empyrical.calmar_ratio``.

    Parameters
    ----------
    returns : numpy.ndarray
        1-D float64 simple returns per period.
    periods_per_year : float, default 252.0
        Periods in a year.

    Returns
    -------
    float
        Compound annual growth rate ``prod(1 + r) ** (periods_per_year /
        len(r)) - 1`` over the maximum drawdown of the equity curve
        ``[1, cumprod(1 + r)]`` (so a loss in the first period counts). NaN if
        there is no drawdown, the growth rate is undefined (a return below
        -100 %), the ratio is infinite, `returns` is empty or holds a NaN.

    Raises
    ------
    ValueError
        If `periods_per_year` is not a positive finite number.

    Examples
    --------
    >>> import numpy as np
    >>> round(calmar_ratio(np.array([0.01, -0.02, 0.015, 0.005]), periods_per_year=252), 6)
    41.681535
    """
    _check_periods(periods_per_year)
    n = returns.shape[0]
    if n == 0 or _has_nan(returns):
        return np.nan
    value = 1.0
    peak = 1.0
    worst = 0.0
    for i in range(n):
        value *= 1.0 + returns[i]
        if value > peak:
            peak = value
        drop = (peak - value) / peak
        if drop > worst:
            worst = drop
    if not (worst > 0.0):
        return np.nan
    years = n / periods_per_year
    # A negative final value (a return below -100 %) has no real root: NaN, as numpy.
    growth = value ** (1.0 / years) - 1.0 if value >= 0.0 else np.nan
    ratio = growth / worst
    if math.isinf(ratio):
        return np.nan
    return ratio


@njit(cache=True)
def beta(returns: np.ndarray, benchmark: np.ndarray) -> float:
    """Compute the beta of returns to a benchmark, as ``empyrical.beta``.

    Parameters
    ----------
    returns : numpy.ndarray
        1-D float64 simple returns per period.
    benchmark : numpy.ndarray
        1-D float64 benchmark simple returns over the same periods.

    Returns
    -------
    float
        ``cov(returns, benchmark) / var(benchmark)``, both with ddof=0 (the
        ddof cancels). NaN for fewer than two periods, any NaN, or a benchmark
        variance below 1e-30 (empyrical's cut-off).

    Raises
    ------
    ValueError
        If `benchmark` and `returns` differ in length.

    Examples
    --------
    >>> import numpy as np
    >>> round(beta(np.array([0.02, -0.01, 0.03]), np.array([0.01, -0.01, 0.02])), 12)
    1.357142857143
    """
    n = returns.shape[0]
    if benchmark.shape[0] != n:
        raise ValueError(
            "benchmark length " + str(benchmark.shape[0]) + " differs from returns length " + str(n)
        )
    # No NaN scan: a NaN propagates through the sums to the result.
    if n < 2:
        return np.nan
    mean = _sum_shifted(returns, 0.0) / n
    mean_benchmark = _sum_shifted(benchmark, 0.0) / n
    # empyrical centres only the benchmark (exact in real arithmetic); centring both
    # keeps the rounding of the means out of the covariance when the mean is large.
    covariance = _sum_cross_deviation(returns, mean, benchmark, mean_benchmark) / n
    variance = _sum_squared_deviation(benchmark, 0.0, mean_benchmark) / n
    if variance < _MIN_VARIANCE:
        return np.nan
    return covariance / variance
