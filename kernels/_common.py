"""Pieces shared by the indicator kernels: a fused multiply-add, the smoothing step, validation.

Private to ``kernels``. The compiled helpers are inlined into the streaming and
the batch form of every indicator, which is what keeps the two bitwise equal;
the ``check_*`` functions are plain Python, used by the public wrappers to
raise ``ValueError`` naming the bad argument before any kernel is called.

Numba's on-disk cache keys each function on its own source file only. The
step functions here and in the other private modules are inlined into their
callers, so after editing one of them delete the callers' cache files
(``kernels/__pycache__/<module>.*.nbi`` and ``.nbc`` for ``_ma``, ``_momentum``,
``_volatility``, ``_atr``, ``_volume``, ``_statistics`` and ``_indicator_set``); otherwise a
caller in an unchanged file keeps running the old arithmetic.
"""

import math

import numpy as np
from numba import njit, types
from numba.extending import intrinsic

#: TA-Lib's upper bound for every period.
MAX_TIMEPERIOD = 100_000


@intrinsic
def fma(typingctx, a, b, c):
    """``a * b + c`` rounded once (LLVM's ``llvm.fma``), on every CPU.

    An explicit intrinsic rather than ``fastmath={"contract"}``: contraction is
    a per-compile decision of LLVM, whereas this is the same operation in every
    function that inlines it, so streaming and batch stay bitwise equal by
    construction. CPUs without an FMA unit get a correctly rounded libm call.
    """
    if not (a == types.float64 and b == types.float64 and c == types.float64):
        return None
    signature = types.float64(types.float64, types.float64, types.float64)

    def codegen(context, builder, sig, args):
        ty = args[0].type
        function = builder.module.declare_intrinsic("llvm.fma", [ty, ty, ty])
        return builder.call(function, args)

    return signature, codegen


@njit(cache=True, error_model="numpy")
def smoothing_coefficients(alpha):
    """Return ``(keep, take)`` for the smoothing factor `alpha`, with ``keep + take == 1``.

    The smaller of the two is derived from the larger by an exact subtraction
    (Sterbenz), so the pair sums to exactly 1 and `smooth` maps a constant
    series onto itself.
    """
    if alpha <= 0.5:
        keep = 1.0 - alpha
        take = 1.0 - keep
    else:
        take = alpha
        keep = 1.0 - take
    return keep, take


@njit(cache=True, error_model="numpy", inline="always")
def smooth(previous, x, keep, take):
    """One exponential / Wilder smoothing step: ``previous * keep + x * take``.

    ``x * take`` does not depend on the previous value, so the loop-carried
    chain is a single fused multiply-add and holds no division.
    """
    return fma(previous, keep, x * take)


@njit(cache=True, error_model="numpy")
def require_period(indicator, name, value, minimum):
    """Raise ``ValueError`` from compiled code if `value` is outside [minimum, 100000]."""
    if value < minimum or value > MAX_TIMEPERIOD:
        raise ValueError(
            indicator + " " + name + " must be in [" + str(minimum) + ", 100000], was " + str(value)
        )


# ------------------------------------------------------------------ validation


def check_period(indicator: str, name: str, value: object, minimum: int) -> int:
    """Return `value` as an int, or raise ``ValueError`` if it is not in [minimum, 100000]."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ValueError(
            f"{indicator} {name} must be an integer in [{minimum}, {MAX_TIMEPERIOD}], was {value!r}"
        )
    if not minimum <= value <= MAX_TIMEPERIOD:
        raise ValueError(
            f"{indicator} {name} must be in [{minimum}, {MAX_TIMEPERIOD}], was {value}"
        )
    return int(value)


def check_integer(indicator: str, name: str, value: object, minimum: int, maximum: int) -> int:
    """Return `value` as an int, or raise ``ValueError`` if it is not in [minimum, maximum]."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ValueError(
            f"{indicator} {name} must be an integer in [{minimum}, {maximum}], was {value!r}"
        )
    if not minimum <= value <= maximum:
        raise ValueError(f"{indicator} {name} must be in [{minimum}, {maximum}], was {value}")
    return int(value)


def check_real(indicator: str, name: str, value: object, *, positive: bool = False) -> float:
    """Return `value` as a float, or raise ``ValueError`` if it is not a finite real number."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise ValueError(f"{indicator} {name} must be a finite real number, was {value!r}")
    result = float(value)
    if not math.isfinite(result):
        raise ValueError(f"{indicator} {name} must be a finite real number, was {result}")
    if positive and result <= 0.0:
        raise ValueError(f"{indicator} {name} must be > 0, was {result}")
    return result


def check_series(indicator: str, **series: object) -> list[np.ndarray]:
    """Return the arrays, or raise ``ValueError`` naming the first that is not 1-D float64.

    Arrays of other dtypes are rejected rather than converted (as TA-Lib
    rejects them): a silent copy would hide a conversion cost on every call.
    All arrays must have the length of the first one.
    """
    arrays = []
    length = 0
    first = ""
    for name, x in series.items():
        if not isinstance(x, np.ndarray):
            raise ValueError(
                f"{indicator} {name} must be a numpy.ndarray of float64, was {type(x).__name__}"
            )
        if x.dtype != np.float64:
            raise ValueError(
                f"{indicator} {name} must have dtype float64, was {x.dtype} "
                f"(convert with numpy.asarray({name}, dtype=numpy.float64))"
            )
        if x.ndim != 1:
            raise ValueError(f"{indicator} {name} must be 1-D, was {x.ndim}-D with shape {x.shape}")
        if not first:
            first, length = name, x.shape[0]
        elif x.shape[0] != length:
            raise ValueError(
                f"{indicator} {name} has length {x.shape[0]}, expected {length} "
                f"(the length of {first})"
            )
        arrays.append(np.ascontiguousarray(x))
    return arrays
