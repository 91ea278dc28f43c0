"""Historical value at risk and conditional value at risk.

Conventions
-----------
dtype
    ``returns`` is a 1-D float64 array of simple (not log) returns per period,
    e.g. ``0.01`` for +1 %. The result is a float64.
Sign
    Both measures are a positive loss fraction: a VaR of ``0.03`` means a loss
    of 3 % of value. A sample whose quantile is a gain gives a negative VaR.
Oracle
    ``historical_var(r, c)`` equals ``-np.quantile(r, 1 - c)`` (numpy's default
    linear interpolation, reproduced step for step) and
    ``cvar(r, c)`` equals ``-r[r <= -historical_var(r, c)].mean()``.
NaN policy
    An empty sample, or any NaN in the sample, gives NaN (numpy's quantile
    also returns NaN when a NaN is present). There is no warm-up.
"""

import math

import numpy as np
from numba import njit

__all__ = ["cvar", "historical_var"]


@njit(cache=True)
def _check_confidence(confidence):
    if not (0.0 <= confidence <= 1.0):
        raise ValueError("confidence must be in [0, 1], was", confidence)


@njit(cache=True)
def _has_nan(values):
    for i in range(values.shape[0]):
        if math.isnan(values[i]):
            return True
    return False


@njit(cache=True)
def _lower_quantile(ordered, q):
    # numpy's "linear" method: virtual index (n - 1) * q, then numpy's _lerp,
    # which interpolates from the nearer end so q = 1 lands exactly on the max.
    n = ordered.shape[0]
    virtual = (n - 1) * q
    if virtual >= n - 1:
        return ordered[n - 1]
    below = math.floor(virtual)
    gamma = virtual - below
    lo = ordered[int(below)]
    hi = ordered[int(below) + 1]
    diff = hi - lo
    if gamma >= 0.5:
        return hi - diff * (1.0 - gamma)
    return lo + diff * gamma


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
    if returns.shape[0] == 0 or _has_nan(returns):
        return np.nan
    return -_lower_quantile(np.sort(returns), 1.0 - confidence)


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
    if returns.shape[0] == 0 or _has_nan(returns):
        return np.nan
    ordered = np.sort(returns)
    threshold = _lower_quantile(ordered, 1.0 - confidence)
    total = 0.0
    count = 0
    for i in range(ordered.shape[0]):
        if ordered[i] > threshold:
            break
        total += ordered[i]
        count += 1
    if count == 0:
        # Only reachable if interpolation rounded below the minimum.
        return -threshold
    # Every tail value is <= threshold, so the exact mean is too; clamp away the
    # rounding of the sum so that cvar >= var always holds.
    return -min(total / count, threshold)
