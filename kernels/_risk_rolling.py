"""Private helpers behind ``kernels.risk``: quantile and tail mean (of a sorted
buffer or by selection), lane sums, the standard normal quantile, and the
streaming rolling VaR/CVaR that keeps its window sorted.

Import the public names from ``kernels.risk``; this module only exists to keep
that one under the house size limit. Conventions are in ``kernels.risk``.

numba's ``cache=True`` keys a module's cache on a hash of that module's own
source, so ``kernels.risk`` keeps running the old copies of helpers edited here
(inlined into its cached machine code) until its source changes too: after
editing this file, delete ``kernels/__pycache__/risk.*.nbi`` and ``.nbc``.
"""

import math

import numpy as np
from numba import njit

__all__ = [
    "RV_COUNT",
    "RV_CVAR",
    "RV_VAR",
    "rolling_historical_var",
    "rolling_var_state",
    "rolling_var_update",
]

#: Offset of the latest VaR in a rolling state (NaN until the window is full).
RV_VAR = 0
#: Offset of the latest CVaR in a rolling state (NaN until the window is full).
RV_CVAR = 1
#: Offset of the number of non-NaN returns consumed in a rolling state.
RV_COUNT = 2
_RV_WINDOW = 3
_RV_Q = 4  # 1 - confidence, the quantile level
_RV_HEAD = 5  # ring slot holding the oldest return, overwritten next
_RV_HEADER = 6
# Then the ring buffer (insertion order, float64[window]) and the same values
# sorted ascending (float64[window]).


# ------------------------------------------------------- quantile, tail mean


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
def _quantile_position(n, q):
    # numpy's "linear" method: virtual index (n - 1) * q, split into the index
    # below it and the fraction past it; below == n - 1 means "the maximum".
    virtual = (n - 1) * q
    if virtual >= n - 1:
        return n - 1, 0.0
    below = math.floor(virtual)
    return int(below), virtual - below


@njit(cache=True)
def _lerp(lo, hi, gamma):
    # numpy's _lerp: interpolate from the nearer end, so gamma = 1 gives hi exactly.
    diff = hi - lo
    if gamma >= 0.5:
        return hi - diff * (1.0 - gamma)
    return lo + diff * gamma


@njit(cache=True)
def _sorted_quantile(ordered, q):
    # np.quantile(ordered, q) of an ascending array.
    n = ordered.shape[0]
    below, gamma = _quantile_position(n, q)
    if below == n - 1:
        return ordered[n - 1]
    return _lerp(ordered[below], ordered[below + 1], gamma)


@njit(cache=True)
def _quantile(values, q):
    # _sorted_quantile(np.sort(values), q) bit for bit, by selection in O(n):
    # the two order statistics are the same numbers whichever way they are found.
    n = values.shape[0]
    below, gamma = _quantile_position(n, q)
    if below == n - 1:
        return values.max()
    part = np.partition(values, below)
    return _lerp(part[below], part[below + 1 :].min(), gamma)


@njit(cache=True)
def _tail_loss(ordered, threshold):
    # Minus the mean of the leading values <= threshold of an ascending array.
    # The batch `cvar` and the streaming update both end here with the same
    # values in the same order, which is what makes them agree bit for bit.
    count = _upper_bound(ordered, 0, ordered.shape[0], threshold)
    if count == 0:
        # Only reachable if interpolation rounded below the minimum.
        return -threshold
    # Every tail value is <= threshold, so the exact mean is too; clamp away the
    # rounding of the sum so that cvar >= var always holds.
    return -min(_sum_shifted(ordered[:count], 0.0) / count, threshold)


@njit(cache=True)
def _quantile_and_tail_loss(values, q):
    # (_sorted_quantile, _tail_loss) of np.sort(values) bit for bit, but sorting
    # only the tail: partition at the quantile, sort what lies below it, and
    # append the values above it that are still <= threshold (ties), sorted.
    n = values.shape[0]
    below, gamma = _quantile_position(n, q)
    if below == n - 1:
        ordered = np.sort(values)
        return ordered[n - 1], _tail_loss(ordered, ordered[n - 1])
    part = np.partition(values, below)
    rest = part[below + 1 :]
    threshold = _lerp(part[below], rest.min(), gamma)
    tail = np.sort(part[: below + 1])
    if tail[below] <= threshold:
        tail = np.concatenate((tail, np.sort(rest[rest <= threshold])))
    return threshold, _tail_loss(tail, threshold)


# --------------------------------------------------------------------- sums
# Four interleaved lanes: about 3x faster than one running sum (the adds no
# longer wait on each other) and no less accurate, and, unlike fastmath
# reassociation, the same result on every CPU.


@njit(cache=True)
def _sum_shifted(values, shift):
    # sum(values - shift)
    n = values.shape[0]
    m = n - n % 4
    a0 = 0.0
    a1 = 0.0
    a2 = 0.0
    a3 = 0.0
    for i in range(0, m, 4):
        a0 += values[i] - shift
        a1 += values[i + 1] - shift
        a2 += values[i + 2] - shift
        a3 += values[i + 3] - shift
    for i in range(m, n):
        a0 += values[i] - shift
    return (a0 + a1) + (a2 + a3)


@njit(cache=True)
def _sum_squared_deviation(values, shift, mean):
    # sum(((values - shift) - mean) ** 2)
    n = values.shape[0]
    m = n - n % 4
    a0 = 0.0
    a1 = 0.0
    a2 = 0.0
    a3 = 0.0
    for i in range(0, m, 4):
        d0 = (values[i] - shift) - mean
        d1 = (values[i + 1] - shift) - mean
        d2 = (values[i + 2] - shift) - mean
        d3 = (values[i + 3] - shift) - mean
        a0 += d0 * d0
        a1 += d1 * d1
        a2 += d2 * d2
        a3 += d3 * d3
    for i in range(m, n):
        d = (values[i] - shift) - mean
        a0 += d * d
    return (a0 + a1) + (a2 + a3)


@njit(cache=True)
def _sum_downside_squares(values, shift):
    # sum(min(values - shift, 0) ** 2)
    n = values.shape[0]
    m = n - n % 4
    a0 = 0.0
    a1 = 0.0
    a2 = 0.0
    a3 = 0.0
    for i in range(0, m, 4):
        d0 = min(values[i] - shift, 0.0)
        d1 = min(values[i + 1] - shift, 0.0)
        d2 = min(values[i + 2] - shift, 0.0)
        d3 = min(values[i + 3] - shift, 0.0)
        a0 += d0 * d0
        a1 += d1 * d1
        a2 += d2 * d2
        a3 += d3 * d3
    for i in range(m, n):
        d = min(values[i] - shift, 0.0)
        a0 += d * d
    return (a0 + a1) + (a2 + a3)


@njit(cache=True)
def _sum_cross_deviation(a, mean_a, b, mean_b):
    # sum((a - mean_a) * (b - mean_b)) over equal-length arrays
    n = a.shape[0]
    m = n - n % 4
    a0 = 0.0
    a1 = 0.0
    a2 = 0.0
    a3 = 0.0
    for i in range(0, m, 4):
        a0 += (a[i] - mean_a) * (b[i] - mean_b)
        a1 += (a[i + 1] - mean_a) * (b[i + 1] - mean_b)
        a2 += (a[i + 2] - mean_a) * (b[i + 2] - mean_b)
        a3 += (a[i + 3] - mean_a) * (b[i + 3] - mean_b)
    for i in range(m, n):
        a0 += (a[i] - mean_a) * (b[i] - mean_b)
    return (a0 + a1) + (a2 + a3)


@njit(cache=True)
def _lower_bound(values, lo, hi, x):
    # First index in [lo, hi) with values[i] >= x (hi if none).
    while lo < hi:
        mid = (lo + hi) >> 1
        if values[mid] < x:
            lo = mid + 1
        else:
            hi = mid
    return lo


@njit(cache=True)
def _upper_bound(values, lo, hi, x):
    # First index in [lo, hi) with values[i] > x (hi if none).
    while lo < hi:
        mid = (lo + hi) >> 1
        if values[mid] <= x:
            lo = mid + 1
        else:
            hi = mid
    return lo


# The moves below index views from 0 so that LLVM can see every index is
# non-negative and drop numba's negative-index wraparound; the loop then
# compiles to a memmove-like copy, about 5x faster than indexing the state.


@njit(cache=True)
def _move_left(values, lo, hi):
    # values[lo:hi] = values[lo + 1:hi + 1], front to back.
    dst = values[lo:hi]
    src = values[lo + 1 : hi + 1]
    for k in range(hi - lo):
        dst[k] = src[k]


@njit(cache=True)
def _move_right(values, lo, hi):
    # values[lo + 1:hi + 1] = values[lo:hi], back to front.
    dst = values[lo + 1 : hi + 1]
    src = values[lo:hi]
    for k in range(hi - lo - 1, -1, -1):
        dst[k] = src[k]


# ----------------------------------------------------------- normal quantile


# Wichura's AS241 (PPND16) coefficients, highest degree first, as printed in
# CPython's statistics.NormalDist.inv_cdf: central region |p - 0.5| <= 0.425 ...
_PPF_CENTRAL_NUM = (
    2.5090809287301226727e3,
    3.3430575583588128105e4,
    6.7265770927008700853e4,
    4.5921953931549871457e4,
    1.3731693765509461125e4,
    1.9715909503065514427e3,
    1.3314166789178437745e2,
    3.3871328727963666080e0,
)
_PPF_CENTRAL_DEN = (
    5.2264952788528545610e3,
    2.8729085735721942674e4,
    3.9307895800092710610e4,
    2.1213794301586595867e4,
    5.3941960214247511077e3,
    6.8718700749205790830e2,
    4.2313330701600911252e1,
    1.0,
)
# ... intermediate tails, sqrt(-log(p)) <= 5 ...
_PPF_NEAR_NUM = (
    7.74545014278341407640e-4,
    2.27238449892691845833e-2,
    2.41780725177450611770e-1,
    1.27045825245236838258e0,
    3.64784832476320460504e0,
    5.76949722146069140550e0,
    4.63033784615654529590e0,
    1.42343711074968357734e0,
)
_PPF_NEAR_DEN = (
    1.05075007164441684324e-9,
    5.47593808499534494600e-4,
    1.51986665636164571966e-2,
    1.48103976427480074590e-1,
    6.89767334985100004550e-1,
    1.67638483018380384940e0,
    2.05319162663775882187e0,
    1.0,
)
# ... and far tails.
_PPF_FAR_NUM = (
    2.01033439929228813265e-7,
    2.71155556874348757815e-5,
    1.24266094738807843860e-3,
    2.65321895265761230930e-2,
    2.96560571828504891230e-1,
    1.78482653991729133580e0,
    5.46378491116411436990e0,
    6.65790464350110377720e0,
)
_PPF_FAR_DEN = (
    2.04426310338993978564e-15,
    1.42151175831644588870e-7,
    1.84631831751005468180e-5,
    7.86869131145613259100e-4,
    1.48753612908506148525e-2,
    1.36929880922735805310e-1,
    5.99832206555887937690e-1,
    1.0,
)


@njit(cache=True)
def _horner(coefficients, x):
    # Starting from 0.0 makes the first step exactly the leading coefficient.
    acc = 0.0
    for c in coefficients:
        acc = acc * x + c
    return acc


@njit(cache=True)
def _normal_ppf(p):
    # Standard normal quantile, relative accuracy about 1e-16 (AS241).
    if p <= 0.0:
        return -math.inf
    if p >= 1.0:
        return math.inf
    q = p - 0.5
    if abs(q) <= 0.425:
        r = 0.180625 - q * q
        return _horner(_PPF_CENTRAL_NUM, r) * q / _horner(_PPF_CENTRAL_DEN, r)
    r = math.sqrt(-math.log(p if q <= 0.0 else 1.0 - p))
    if r <= 5.0:
        r -= 1.6
        x = _horner(_PPF_NEAR_NUM, r) / _horner(_PPF_NEAR_DEN, r)
    else:
        r -= 5.0
        x = _horner(_PPF_FAR_NUM, r) / _horner(_PPF_FAR_DEN, r)
    return -x if q < 0.0 else x


# ------------------------------------------------------------ rolling VaR/CVaR


@njit(cache=True)
def rolling_var_state(window: int, confidence: float = 0.95) -> np.ndarray:
    """Allocate the state for a streaming historical VaR and CVaR over a window.

    Parameters
    ----------
    window : int
        Number of most recent non-NaN returns in the sample, >= 1.
    confidence : float, default 0.95
        Confidence level in [0, 1], as in `historical_var`.

    Returns
    -------
    numpy.ndarray
        A fresh float64 state of ``6 + 2 * window`` values for
        `rolling_var_update`: outputs at ``state[RV_VAR]`` and
        ``state[RV_CVAR]`` (NaN until the window is full) and
        ``state[RV_COUNT]`` (non-NaN returns consumed, 0.0), then private
        fields, a ring buffer of the window and a sorted copy of it.

    Raises
    ------
    ValueError
        If `window` is below 1 or `confidence` is outside [0, 1].
    """
    if window < 1:
        raise ValueError("window must be >= 1, was " + str(window))
    _check_confidence(confidence)
    state = np.full(_RV_HEADER + 2 * window, np.nan)
    state[RV_COUNT] = 0.0
    state[_RV_WINDOW] = window
    state[_RV_Q] = 1.0 - confidence
    state[_RV_HEAD] = 0.0
    return state


@njit(cache=True)
def rolling_var_update(state: np.ndarray, r: float) -> tuple[float, float]:
    """Consume one return and return historical VaR and CVaR over the window.

    The sorted copy of the window is updated in place: a binary search finds
    the return leaving the window and the values between it and the new
    return's slot shift by one (O(log window) compares plus a move of at most
    ``window`` values, no sort). The tail mean is summed over the tail only,
    so a tick costs O(tail) there, about ``(1 - confidence) * window`` values.

    Parameters
    ----------
    state : numpy.ndarray
        State from `rolling_var_state`, updated in place.
    r : float
        The next simple return. NaN is skipped: the state is left unchanged
        and the current outputs are returned again.

    Returns
    -------
    tuple of float
        ``(var, cvar)`` of the last ``window`` non-NaN returns, equal bit for
        bit to ``historical_var(w, confidence)`` and ``cvar(w, confidence)``
        on that window ``w`` (up to the sign of a zero); also written to
        ``state[RV_VAR]`` and ``state[RV_CVAR]``. Both NaN until ``window``
        non-NaN returns have been seen.

    Raises
    ------
    ValueError
        If `state` has the wrong length for the window it records (it was not
        made by `rolling_var_state`).

    Examples
    --------
    >>> state = rolling_var_state(window=4, confidence=0.75)
    >>> [rolling_var_update(state, r) for r in (-0.02, 0.01, 0.03, -0.01, -0.03)][-2:]
    [(0.0125, 0.02), (0.015, 0.03)]
    """
    if math.isnan(r):
        return state[RV_VAR], state[RV_CVAR]
    w = int(state[_RV_WINDOW])
    if state.shape[0] != _RV_HEADER + 2 * w:
        raise ValueError("state length does not match its window; make it with rolling_var_state")
    ring = state[_RV_HEADER : _RV_HEADER + w]
    ordered = state[_RV_HEADER + w :]
    count = int(state[RV_COUNT])
    head = int(state[_RV_HEAD])
    if count < w:
        # Warm-up: insert after any equal values, shifting the larger ones right.
        pos = _upper_bound(ordered, 0, count, r)
        _move_right(ordered, pos, count)
        ordered[pos] = r
    else:
        # Full: the oldest return leaves. Only the values between its slot and
        # the new return's slot move, by one, towards the vacated slot.
        old = ring[head]
        p = _lower_bound(ordered, 0, w, old)
        if r > old:
            dest = _upper_bound(ordered, p + 1, w, r) - 1
            _move_left(ordered, p, dest)
        elif r < old:
            dest = _upper_bound(ordered, 0, p, r)
            _move_right(ordered, dest, p)
        else:
            dest = p
        ordered[dest] = r
    ring[head] = r
    head += 1
    state[_RV_HEAD] = 0.0 if head == w else head
    count += 1
    state[RV_COUNT] = count
    if count < w:
        return np.nan, np.nan
    threshold = _sorted_quantile(ordered, state[_RV_Q])
    loss = _tail_loss(ordered, threshold)
    state[RV_VAR] = -threshold
    state[RV_CVAR] = loss
    return -threshold, loss


@njit(cache=True)
def _rolling_historical_var(returns, window, confidence):
    state = rolling_var_state(window, confidence)
    n = returns.shape[0]
    var = np.empty(n, dtype=np.float64)
    loss = np.empty(n, dtype=np.float64)
    for i in range(n):
        var[i], loss[i] = rolling_var_update(state, returns[i])
    return var, loss


def rolling_historical_var(
    returns: np.ndarray, window: int, confidence: float = 0.95
) -> tuple[np.ndarray, np.ndarray]:
    """Compute historical VaR and CVaR over a rolling window of returns.

    A Python-level wrapper: it checks the arguments, converts `returns` to
    float64, then runs one compiled loop over `rolling_var_update`, so its
    output equals the streaming form bit for bit.

    Parameters
    ----------
    returns : array_like
        1-D sample of simple returns (``0.01`` is +1 %), real dtype.
    window : int
        Number of most recent non-NaN returns in each sample, >= 1.
    confidence : float, default 0.95
        Confidence level in [0, 1], as in `historical_var`.

    Returns
    -------
    var, cvar : numpy.ndarray
        float64 arrays of ``len(returns)``: VaR and CVaR (positive loss
        fractions) of the last `window` non-NaN returns up to and including
        each index. NaN before the first full window; at a NaN return the
        previous values repeat. Without NaN input, index ``i >= window - 1``
        equals ``historical_var(returns[i - window + 1 : i + 1], confidence)``
        and the matching `cvar`.

    Raises
    ------
    ValueError
        If `returns` is not 1-D or not real-valued, `window` is not an integer
        >= 1, or `confidence` is outside [0, 1]; the message names the argument.

    Examples
    --------
    >>> var, loss = rolling_historical_var([-0.02, 0.01, 0.03, -0.01, -0.03], 4, 0.75)
    >>> var.tolist(), loss.tolist()
    ([nan, nan, nan, 0.0125, 0.015], [nan, nan, nan, 0.02, 0.03])
    """
    values = np.asarray(returns)
    if values.ndim != 1:
        raise ValueError(f"returns must be a 1-D array, had shape {values.shape}")
    if values.dtype.kind not in "fiu":
        raise ValueError(f"returns must hold real numbers, had dtype {values.dtype}")
    if isinstance(window, bool) or not isinstance(window, int | np.integer) or window < 1:
        raise ValueError(f"window must be an integer >= 1, was {window!r}")
    if not (0.0 <= confidence <= 1.0):
        raise ValueError(f"confidence must be in [0, 1], was {confidence!r}")
    values = np.ascontiguousarray(values, dtype=np.float64)
    return _rolling_historical_var(values, int(window), float(confidence))
