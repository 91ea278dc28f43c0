"""Multi-asset Monte Carlo VaR over cached correlated scenarios (incremental pre-trade VaR).

Conventions
-----------
Scenarios
    ``scenarios`` is a float64 ``(n_scenarios, n_assets)`` array of **simple**
    returns over the risk horizon (``0.01`` is +1 % for that asset), drawn
    from the multivariate normal ``N(mean, cov)`` as ``mean + z @ factor.T``
    with ``factor @ factor.T == cov``. Pass ``mean`` and ``cov`` of simple
    returns for the horizon you want (e.g. 1 day); a covariance estimated from
    log returns is close enough for daily horizons, otherwise convert it first.
    `generate_scenarios` returns the array in Fortran (column-major) order so
    that one asset's column is contiguous, which is what the hot path reads;
    every kernel accepts either order.
Factor
    `covariance_factor` tries a lower-triangular Cholesky factor first. A
    covariance that is only positive *semi*-definite (a zero-variance asset,
    perfectly correlated assets, more assets than observations) has a pivot at
    or below ``CHOLESKY_PIVOT_RTOL`` times the largest variance; it then falls
    back to the eigen factor ``V @ diag(sqrt(max(w, 0)))`` of ``cov = V diag(w)
    V.T``, which reproduces ``cov`` without any jitter. `generate_scenarios`
    rejects a ``cov`` that is not symmetric within ``SYMMETRY_RTOL`` or whose
    smallest eigenvalue is below ``-PSD_RTOL`` times the largest.
P&L and sign
    Portfolio P&L per scenario is ``scenarios @ exposures`` with ``exposures``
    the signed position values in account currency (quantity x price x
    multiplier; negative when short). VaR and CVaR are returned as a
    **positive loss in the currency of** ``exposures``; pass
    ``exposures / equity`` instead to get the positive loss fraction the risk
    limits use (everything is linear in ``exposures``). A quantile that is a
    gain gives a negative VaR.
Quantile
    As `kernels.risk.historical_var`: ``var == -np.quantile(pnl, 1 - confidence)``
    with numpy's default linear interpolation, reproduced step for step on the
    same order statistics, and ``cvar == -pnl[pnl <= -var].mean()`` (never
    below ``var``). The order statistics come from an in-place quickselect
    (O(n) expected, a sort of the remaining range as the worst-case guard),
    not a full sort.
NaN policy
    A non-finite P&L value (NaN or infinite exposure), a ``confidence`` outside
    (0, 1), an ``asset_index`` out of range or mismatched buffer lengths give
    ``(nan, nan)`` from the kernels: compare as ``not var <= limit`` so that NaN
    fails closed. The Python wrappers raise ``ValueError`` instead.

How the engine uses the cache
-----------------------------
Off the hot path (start-up, and whenever ``mean``/``cov`` are re-estimated)::

    scenarios = generate_scenarios(mean, cov, n_scenarios, seed)   # cached
    base_pnl = np.empty(n_scenarios)      # P&L of the current book
    pnl_buf = np.empty(n_scenarios)       # scratch for each check

Whenever positions or marks change (fill, mark-to-market timer)::

    portfolio_pnl(scenarios, exposures, base_pnl)             # O(n x assets)
    var_before, cvar_before = pnl_var(base_pnl, 0.95, pnl_buf)

Per order, one njit call, O(n_scenarios), no regeneration::

    var_after, cvar_after = incremental_var(
        scenarios, base_pnl, asset_index, signed_notional, 0.95, pnl_buf)
    incremental = var_after - var_before

Oracle
------
Tests compare with ``-np.quantile(scenarios @ exposures, 1 - confidence)`` and
the numpy tail mean, with the sample moments of the scenarios against
``mean`` and ``cov``, and with exact linear dependence for singular ``cov``.
"""

import math

import numpy as np
from numba import njit

__all__ = [
    "CHOLESKY_PIVOT_RTOL",
    "PSD_RTOL",
    "SYMMETRY_RTOL",
    "covariance_factor",
    "generate_scenarios",
    "incremental_var",
    "pnl_var",
    "portfolio_pnl",
    "portfolio_var",
    "scenarios_from_normals",
]

#: A Cholesky pivot at or below this times the largest variance switches to the eigen factor.
CHOLESKY_PIVOT_RTOL = 1e-12
#: ``|cov - cov.T|`` above this times ``max|cov|`` is rejected as not symmetric.
SYMMETRY_RTOL = 1e-10
#: An eigenvalue below minus this times the largest eigenvalue is rejected as not PSD.
PSD_RTOL = 1e-10


# ---------------------------------------------------------------------------
# Factorization and scenario generation (off the hot path)
# ---------------------------------------------------------------------------


@njit(cache=True)
def _cholesky_lower(cov, factor):
    # Returns False at the first pivot that is not clearly positive.
    n = cov.shape[0]
    scale = 0.0
    for i in range(n):
        scale = max(scale, cov[i, i])
    threshold = CHOLESKY_PIVOT_RTOL * scale
    factor[:, :] = 0.0
    for j in range(n):
        pivot = cov[j, j]
        for k in range(j):
            pivot -= factor[j, k] * factor[j, k]
        if not pivot > threshold:
            return False
        diagonal = math.sqrt(pivot)
        factor[j, j] = diagonal
        for i in range(j + 1, n):
            total = cov[i, j]
            for k in range(j):
                total -= factor[i, k] * factor[j, k]
            factor[i, j] = total / diagonal
    return True


@njit(cache=True)
def covariance_factor(cov: np.ndarray) -> np.ndarray:
    """Return ``factor`` with ``factor @ factor.T == cov`` for a symmetric PSD ``cov``.

    Parameters
    ----------
    cov : numpy.ndarray
        Symmetric positive semi-definite float64 ``(n, n)`` covariance. Not
        validated here; `generate_scenarios` checks it.

    Returns
    -------
    numpy.ndarray
        The lower-triangular Cholesky factor when every pivot exceeds
        ``CHOLESKY_PIVOT_RTOL`` times the largest variance, else the eigen
        factor ``V @ diag(sqrt(max(w, 0)))`` (not triangular).
    """
    n = cov.shape[0]
    factor = np.empty((n, n))
    if n == 0 or _cholesky_lower(cov, factor):
        return factor
    sym = np.ascontiguousarray(cov)
    eigenvalues, eigenvectors = np.linalg.eigh(sym)
    for j in range(n):
        root = math.sqrt(max(eigenvalues[j], 0.0))
        for i in range(n):
            factor[i, j] = eigenvectors[i, j] * root
    return factor


@njit(cache=True)
def scenarios_from_normals(normals: np.ndarray, mean: np.ndarray, factor: np.ndarray) -> np.ndarray:
    """Turn independent standard normals into correlated scenarios ``mean + normals @ factor.T``.

    Parameters
    ----------
    normals : numpy.ndarray
        float64 ``(n_scenarios, n_assets)`` independent N(0, 1) draws (plain
        pseudo-random, antithetic or quasi-random, as the caller likes).
    mean : numpy.ndarray
        float64 ``(n_assets,)`` mean simple return per asset over the horizon.
    factor : numpy.ndarray
        float64 ``(n_assets, n_assets)`` from `covariance_factor`.

    Returns
    -------
    numpy.ndarray
        float64 ``(n_scenarios, n_assets)`` in Fortran order (asset columns contiguous).
    """
    n_scenarios, n_assets = normals.shape
    out = np.empty((n_assets, n_scenarios)).T  # Fortran-ordered view
    for a in range(n_assets):
        column = out[:, a]
        column[:] = mean[a]
        for k in range(n_assets):
            weight = factor[a, k]
            if weight != 0.0:
                for i in range(n_scenarios):
                    column[i] += weight * normals[i, k]
    return out


def _check_positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ValueError(f"{name} must be an integer, was {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be >= 1, was {value}")
    return int(value)


def _check_seed(seed: object) -> int:
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, was {seed!r}")
    return int(seed)


def _check_confidence(confidence: float) -> float:
    if not (0.0 < confidence < 1.0):
        raise ValueError(f"confidence must be in (0, 1), was {confidence}")
    return float(confidence)


def _validated_covariance(mean: np.ndarray, cov: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean = np.asarray(mean, dtype=np.float64)
    cov = np.asarray(cov, dtype=np.float64)
    if mean.ndim != 1 or mean.shape[0] == 0:
        raise ValueError(f"mean must be a non-empty 1-D array, had shape {mean.shape}")
    if not np.isfinite(mean).all():
        raise ValueError("mean must be finite, had NaN or inf")
    n = mean.shape[0]
    if cov.shape != (n, n):
        raise ValueError(f"cov must have shape ({n}, {n}) to match mean, had shape {cov.shape}")
    if not np.isfinite(cov).all():
        raise ValueError("cov must be finite, had NaN or inf")
    scale = float(np.abs(cov).max())
    asymmetry = float(np.abs(cov - cov.T).max())
    if asymmetry > SYMMETRY_RTOL * scale:
        raise ValueError(
            f"cov must be symmetric: max |cov - cov.T| {asymmetry:.3g} above "
            f"{SYMMETRY_RTOL:g} x max |cov| {scale:.3g}"
        )
    cov = 0.5 * (cov + cov.T)
    eigenvalues = np.linalg.eigvalsh(cov)
    lowest, highest = float(eigenvalues[0]), float(np.abs(eigenvalues).max())
    if lowest < -PSD_RTOL * highest:
        raise ValueError(
            f"cov must be positive semi-definite: smallest eigenvalue {lowest:.3g} below "
            f"-{PSD_RTOL:g} x largest {highest:.3g}"
        )
    if float(np.diag(cov).min()) < 0.0:
        raise ValueError(f"cov must have non-negative variances, had {float(np.diag(cov).min())}")
    return mean, np.ascontiguousarray(cov)


def generate_scenarios(
    mean: np.ndarray, cov: np.ndarray, n_scenarios: int, seed: int
) -> np.ndarray:
    """Draw correlated normal return scenarios once, off the hot path, for caching.

    Parameters
    ----------
    mean : numpy.ndarray
        ``(n_assets,)`` mean simple return per asset over the risk horizon.
    cov : numpy.ndarray
        ``(n_assets, n_assets)`` covariance of those returns; symmetric within
        ``SYMMETRY_RTOL`` and positive semi-definite within ``PSD_RTOL``.
    n_scenarios : int
        Number of scenarios (rows), >= 1.
    seed : int
        Non-negative seed of numpy's ``default_rng`` (PCG64); the same seed
        gives the same scenarios.

    Returns
    -------
    numpy.ndarray
        float64 ``(n_scenarios, n_assets)`` simple returns, Fortran order,
        equal to ``mean + z @ covariance_factor(cov).T`` with
        ``z = np.random.default_rng(seed).standard_normal((n_scenarios, n_assets))``.

    Raises
    ------
    ValueError
        Naming `mean`, `cov`, `n_scenarios` or `seed` when one is malformed.

    Examples
    --------
    >>> s = generate_scenarios(np.zeros(2), np.array([[4e-4, 1e-4], [1e-4, 9e-4]]), 1000, 7)
    >>> s.shape
    (1000, 2)
    """
    mean, cov = _validated_covariance(mean, cov)
    n_scenarios = _check_positive_int("n_scenarios", n_scenarios)
    seed = _check_seed(seed)
    normals = np.random.default_rng(seed).standard_normal((n_scenarios, mean.shape[0]))
    return scenarios_from_normals(normals, mean, covariance_factor(cov))


# ---------------------------------------------------------------------------
# Selection and VaR (the hot path)
# ---------------------------------------------------------------------------


@njit(cache=True)
def _swap(values, i, j):
    tmp = values[i]
    values[i] = values[j]
    values[j] = tmp


@njit(cache=True)
def _partition_at(values, left, right, k):
    # Floyd-Rivest partition of values[left:right + 1] around pivot values[k];
    # returns the pivot's final index j, with values[left:j] <= pivot <=
    # values[j + 1:right + 1].
    pivot = values[k]
    i = left
    j = right
    _swap(values, left, k)
    if values[right] > pivot:
        _swap(values, right, left)
    while i < j:
        _swap(values, i, j)
        i += 1
        j -= 1
        while values[i] < pivot:
            i += 1
        while values[j] > pivot:
            j -= 1
    if values[left] == pivot:
        _swap(values, left, j)
    else:
        j += 1
        _swap(values, j, right)
    return j


@njit(cache=True)
def _partition_budget(n):
    # Expected partition rounds are O(log log n); this is ample headroom.
    return 4 * int(math.log2(n + 1)) + 16


@njit(cache=True)
def _select(values, k, budget):
    # Floyd-Rivest selection, afterwards values[:k] <= values[k] <= values[k + 1:].
    # On a range above 600 values it first selects k inside a sample range of
    # about n**(2/3) values around k, so the pivot lands near the k-th value
    # and one partition pass leaves few candidates: expected n + min(k, n - k)
    # + o(n) comparisons. The published algorithm recurses into the sample
    # range; numba cannot cache recursive functions, so the frames live on a
    # small explicit stack (the sample shrinks as n**(2/3), so the depth stays
    # below 8 for any array that fits in memory). A partition budget bounds a
    # bad run of pivots: when it runs out the outermost range is sorted.
    n = values.shape[0]
    lefts = np.empty(16, dtype=np.int64)
    rights = np.empty(16, dtype=np.int64)
    sampled = np.zeros(16, dtype=np.bool_)
    lefts[0] = 0
    rights[0] = n - 1
    depth = 0
    while depth >= 0:
        left = lefts[depth]
        right = rights[depth]
        if right <= left:
            depth -= 1
            continue
        if budget <= 0:
            values[lefts[0] : rights[0] + 1].sort()
            return
        if right - left > 600 and not sampled[depth] and depth < 15:
            size = right - left + 1
            rank = k - left + 1
            z = math.log(size)
            s = 0.5 * math.exp(2.0 * z / 3.0)
            sd = 0.5 * math.sqrt(z * s * (size - s) / size)
            if rank < size / 2:
                sd = -sd
            sampled[depth] = True
            depth += 1
            lefts[depth] = max(left, int(k - rank * s / size + sd))
            rights[depth] = min(right, int(k + (size - rank) * s / size + sd))
            sampled[depth] = False
            continue
        sampled[depth] = False
        budget -= 1
        j = _partition_at(values, left, right, k)
        if j <= k:
            lefts[depth] = j + 1
        if k <= j:
            rights[depth] = j - 1


@njit(cache=True)
def _var_cvar_in_place(work, confidence):
    # ``work`` holds a finite P&L sample and is reordered. numpy's linear
    # quantile needs the order statistics k and k + 1 around the virtual
    # index (n - 1) * q. Select the upper one when the quantile is in the
    # lower half (VaR's case): the lower one is then the max of the short
    # prefix, and only a prefix is scanned for the tail. For q above one
    # half, select k and take the min of the (shorter) suffix.
    n = work.shape[0]
    q = 1.0 - confidence
    virtual = (n - 1) * q
    if virtual >= n - 1:
        boundary = n - 1
        _select(work, boundary, _partition_budget(n))
        threshold = work[boundary]
        hi = threshold
    else:
        below = math.floor(virtual)
        k = int(below)
        gamma = virtual - below
        if 2 * k < n:
            boundary = k + 1
            _select(work, boundary, _partition_budget(n))
            hi = work[boundary]
            lo = work[0]
            for i in range(1, boundary):
                if work[i] > lo:
                    lo = work[i]
        else:
            boundary = k
            _select(work, boundary, _partition_budget(n))
            lo = work[boundary]
            hi = work[boundary + 1]
            for i in range(boundary + 2, n):
                if work[i] < hi:
                    hi = work[i]
        # numpy's _lerp: interpolate from the nearer end.
        diff = hi - lo
        threshold = hi - diff * (1.0 - gamma) if gamma >= 0.5 else lo + diff * gamma
    # The tail is {pnl <= threshold}. work[boundary + 1:] are all >= hi >=
    # threshold, so they belong to it only when the threshold landed on hi.
    total = 0.0
    count = 0
    stop = n if threshold >= hi else boundary + 1
    for i in range(stop):
        if work[i] <= threshold:
            total += work[i]
            count += 1
    if count == 0:
        # Only reachable if interpolation rounded below the minimum.
        return -threshold, -threshold
    # Every tail value is <= threshold, so the exact mean is too; clamp away
    # the rounding of the sum so that cvar >= var always holds.
    return -threshold, -min(total / count, threshold)


@njit(cache=True, fastmath={"reassoc"})
def _copy_shifted(base, column, delta, out):
    # out = base + delta * column; returns 0.0 if every value is finite, else
    # NaN (v - v is NaN exactly for NaN and inf). Only reassociation is
    # allowed, so the sum vectorizes but v - v is not folded to 0.
    check = 0.0
    for i in range(base.shape[0]):
        value = base[i] + delta * column[i]
        out[i] = value
        check += value - value
    return check


@njit(cache=True)
def pnl_var(pnl: np.ndarray, confidence: float, work: np.ndarray) -> tuple[float, float]:
    """Compute VaR and CVaR of a P&L sample, using ``work`` as scratch.

    Parameters
    ----------
    pnl : numpy.ndarray
        float64 ``(n,)`` P&L per scenario (e.g. ``base_pnl``); left unchanged.
    confidence : float
        Confidence level in (0, 1); the loss is read at ``1 - confidence``.
    work : numpy.ndarray
        float64 ``(n,)`` preallocated scratch; overwritten.

    Returns
    -------
    tuple of float
        ``(var, cvar)`` as positive losses in the unit of ``pnl``:
        ``var == -np.quantile(pnl, 1 - confidence)``. ``(nan, nan)`` for an
        empty or non-finite sample, a bad ``confidence`` or a short ``work``.
    """
    n = pnl.shape[0]
    if n == 0 or work.shape[0] != n or not (0.0 < confidence < 1.0):
        return np.nan, np.nan
    if _copy_shifted(pnl, pnl, 0.0, work) != 0.0:
        return np.nan, np.nan
    return _var_cvar_in_place(work, confidence)


@njit(cache=True)
def portfolio_pnl(scenarios: np.ndarray, exposures: np.ndarray, out: np.ndarray) -> np.ndarray:
    """Write the P&L per scenario, ``scenarios @ exposures``, into ``out``.

    Parameters
    ----------
    scenarios : numpy.ndarray
        float64 ``(n_scenarios, n_assets)`` simple returns.
    exposures : numpy.ndarray
        float64 ``(n_assets,)`` signed position values (currency or fraction of equity).
    out : numpy.ndarray
        float64 ``(n_scenarios,)`` preallocated, e.g. the engine's ``base_pnl``.

    Returns
    -------
    numpy.ndarray
        ``out``. Lengths are not checked here; `portfolio_var` checks them.
    """
    n_scenarios, n_assets = scenarios.shape
    out[:] = 0.0
    for a in range(n_assets):
        weight = exposures[a]
        if weight != 0.0:
            for i in range(n_scenarios):
                out[i] += weight * scenarios[i, a]
    return out


@njit(cache=True)
def incremental_var(
    scenarios: np.ndarray,
    base_pnl: np.ndarray,
    asset_index: int,
    delta_exposure: float,
    confidence: float,
    pnl_buf: np.ndarray,
) -> tuple[float, float]:
    """Compute VaR and CVaR of the book with a candidate order added, over cached scenarios.

    One pass builds ``pnl_buf = base_pnl + delta_exposure * scenarios[:, asset_index]``
    and a quickselect reads the quantile: O(n_scenarios), no allocation, no
    regeneration of the scenarios.

    Parameters
    ----------
    scenarios : numpy.ndarray
        float64 ``(n_scenarios, n_assets)`` from `generate_scenarios` (cached).
    base_pnl : numpy.ndarray
        float64 ``(n_scenarios,)`` P&L of the current book, kept up to date by
        `portfolio_pnl` when positions or marks change.
    asset_index : int
        Column of the order's instrument in ``scenarios``.
    delta_exposure : float
        Signed value the order adds, in the unit of ``base_pnl``: ``side x
        quantity x price x multiplier`` (negative for a sell).
    confidence : float
        Confidence level in (0, 1).
    pnl_buf : numpy.ndarray
        float64 ``(n_scenarios,)`` preallocated scratch; overwritten.

    Returns
    -------
    tuple of float
        ``(var_after, cvar_after)``, positive losses equal to
        ``portfolio_var(scenarios, exposures + delta e_asset, confidence)``;
        ``(nan, nan)`` on a bad index, length, confidence or non-finite P&L.
        The incremental VaR is ``var_after - var_before`` with ``var_before``
        cached from ``pnl_var(base_pnl, ...)``.
    """
    n_scenarios, n_assets = scenarios.shape
    if (
        n_scenarios == 0
        or base_pnl.shape[0] != n_scenarios
        or pnl_buf.shape[0] != n_scenarios
        or not (0 <= asset_index < n_assets)
        or not (0.0 < confidence < 1.0)
    ):
        return np.nan, np.nan
    check = _copy_shifted(base_pnl, scenarios[:, asset_index], delta_exposure, pnl_buf)
    if check != 0.0:
        return np.nan, np.nan
    return _var_cvar_in_place(pnl_buf, confidence)


def portfolio_var(
    scenarios: np.ndarray, exposures: np.ndarray, confidence: float = 0.95
) -> tuple[float, float]:
    """Compute Monte Carlo VaR and CVaR of a portfolio over scenarios (validating wrapper).

    Parameters
    ----------
    scenarios : numpy.ndarray
        float64 ``(n_scenarios, n_assets)`` simple returns.
    exposures : numpy.ndarray
        ``(n_assets,)`` signed position values in currency (or fractions of equity).
    confidence : float, default 0.95
        Confidence level in (0, 1).

    Returns
    -------
    tuple of float
        ``(var, cvar)`` positive losses in the unit of ``exposures``;
        ``var == -np.quantile(scenarios @ exposures, 1 - confidence)``.

    Raises
    ------
    ValueError
        Naming `scenarios`, `exposures` or `confidence` when one is malformed
        or non-finite.

    Examples
    --------
    >>> s = np.array([[-0.02, 0.01], [0.01, -0.03], [0.0, 0.0], [0.03, 0.02]])
    >>> var, es = portfolio_var(s, np.array([1000.0, 500.0]), confidence=0.75)
    """
    confidence = _check_confidence(confidence)
    scenarios = np.asarray(scenarios, dtype=np.float64)
    exposures = np.ascontiguousarray(exposures, dtype=np.float64)
    if scenarios.ndim != 2 or scenarios.shape[0] == 0:
        raise ValueError(
            f"scenarios must be a 2-D (n_scenarios, n_assets) array with at least one row, "
            f"had shape {scenarios.shape}"
        )
    if exposures.shape != (scenarios.shape[1],):
        raise ValueError(
            f"exposures must have shape ({scenarios.shape[1]},) to match scenarios, "
            f"had shape {exposures.shape}"
        )
    if not np.isfinite(exposures).all():
        raise ValueError("exposures must be finite, had NaN or inf")
    if not np.isfinite(scenarios).all():
        raise ValueError("scenarios must be finite, had NaN or inf")
    pnl = portfolio_pnl(scenarios, exposures, np.empty(scenarios.shape[0]))
    var, tail = pnl_var(pnl, confidence, np.empty_like(pnl))
    return float(var), float(tail)
