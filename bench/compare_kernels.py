"""Print one table: each kernel beside the alternative a user would pick, same data, same run.

Run::

    .venv/bin/python -m bench.compare_kernels            # all cases
    .venv/bin/python -m bench.compare_kernels --quick    # fewer repeats
    .venv/bin/python -m bench.compare_kernels --only ema,rsi

Every case times ``ours`` and ``theirs`` alternately on identical inputs
(generated once, fixed seed), after a warm-up call of each (numba compile or
cache load, vectorbt's own JIT), and reports the median and p99 of the
repeats and the ratio ``ours / theirs`` of the medians (< 1 means we are
faster). Per-tick cases time runs of 100 calls from a Python loop and report
the time per call (the p99 is over those runs, so it is a p99 of 100-call
means). The pytest-benchmark suites under ``bench/`` measure the same
things with more statistics; this module is the one-screen summary the README
reproduces.
"""

from __future__ import annotations

import argparse
import functools
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from bench._util import machine_info

__all__ = ["CASES", "Case", "main", "run_case"]

SEED = 20_240_808
N = 1_000_000


@dataclass(frozen=True)
class Case:
    """One comparison: ``ours()`` vs ``theirs()``, both closures over prepared inputs."""

    name: str
    ours: Callable[[], Any]
    theirs: Callable[[], Any]
    theirs_label: str
    repeats: int = 21
    #: Calls per timed run (per-tick cases loop ``unit_count`` times; times are per call).
    unit_count: int = 1


def _time(fn: Callable[[], Any]) -> float:
    start = time.perf_counter_ns()
    fn()
    return (time.perf_counter_ns() - start) / 1e9


def run_case(case: Case, quick: bool = False) -> dict[str, float]:
    """Time one case; return medians, p99s and the ratio (seconds per call)."""
    case.ours()
    case.theirs()
    repeats = max(3, case.repeats // 4) if quick else case.repeats
    ours: list[float] = []
    theirs: list[float] = []
    for _ in range(repeats):
        ours.append(_time(case.ours) / case.unit_count)
        theirs.append(_time(case.theirs) / case.unit_count)
    o = np.asarray(ours)
    t = np.asarray(theirs)
    return {
        "ours_median": float(np.median(o)),
        "ours_p99": float(np.percentile(o, 99)),
        "theirs_median": float(np.median(t)),
        "theirs_p99": float(np.percentile(t, 99)),
        "ratio": float(np.median(o) / np.median(t)),
    }


def _fmt(seconds: float) -> str:
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6), ("ns", 1e-9)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def _prices(n: int = N) -> np.ndarray:
    rng = np.random.default_rng(SEED)
    return 100.0 * np.exp(np.cumsum(rng.normal(0.0, 1e-3, n)))


def _ohlcv(n: int = N) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(SEED + 1)
    close = _prices(n)
    spread = np.abs(rng.normal(0.0, 2e-3, n)) * close
    high = close + spread * rng.random(n)
    low = close - spread * rng.random(n)
    volume = rng.lognormal(3.0, 1.0, n)
    return high, low, close, volume


def _indicator_cases() -> list[Case]:
    import talib

    import kernels.indicators as ind

    close = _prices()
    high, low, c, volume = _ohlcv()
    hlc = (high, low, c)
    # (our name, arguments shown, arguments, TA-Lib function)
    specs: list[tuple[str, str, tuple[Any, ...], str]] = [
        ("sma", "close, 30", (close, 30), "SMA"),
        ("ema", "close, 30", (close, 30), "EMA"),
        ("rsi", "close, 14", (close, 14), "RSI"),
        ("macd", "close", (close,), "MACD"),
        ("bbands", "close, 20", (close, 20), "BBANDS"),
        ("stddev", "close, 20", (close, 20), "STDDEV"),
        ("atr", "h, l, c, 14", (*hlc, 14), "ATR"),
        ("natr", "h, l, c, 14", (*hlc, 14), "NATR"),
        ("adx", "h, l, c, 14", (*hlc, 14), "ADX"),
        ("stoch", "h, l, c", hlc, "STOCH"),
        ("willr", "h, l, c, 14", (*hlc, 14), "WILLR"),
        ("cci", "h, l, c, 14", (*hlc, 14), "CCI"),
        ("mfi", "h, l, c, v, 14", (*hlc, volume, 14), "MFI"),
        ("obv", "close, volume", (c, volume), "OBV"),
    ]
    cases = []
    for name, shown, args, talib_name in specs:
        ours = getattr(ind, name, None)
        if ours is None:
            continue
        cases.append(
            Case(
                f"{name}({shown}), 1M points",
                functools.partial(ours, *args),
                functools.partial(getattr(talib, talib_name), *args),
                f"talib.{talib_name}",
            )
        )
    return cases


def _per_tick_cases() -> list[Case]:
    """One call per tick from Python: where microseconds are counted."""
    from kernels.risk import rolling_var_state, rolling_var_update
    from kernels.scenarios import generate_scenarios, incremental_var, pnl_var, portfolio_pnl

    rng = np.random.default_rng(SEED + 2)
    window = rng.normal(0.0, 0.01, 1_000)
    state = rolling_var_state(1_000, 0.95)
    for r in window:
        rolling_var_update(state, float(r))
    new_returns = iter(np.tile(rng.normal(0.0, 0.01, 4_096), 64).tolist())
    recent = window.copy()

    def numpy_var_cvar() -> tuple[float, float]:
        q = np.quantile(recent, 0.05)
        return -q, -recent[recent <= q].mean()

    n_assets, n_scenarios = 10, 10_000
    a = rng.normal(0.0, 0.01, (n_assets, n_assets))
    cov = a @ a.T + np.eye(n_assets) * 1e-4
    scenarios = generate_scenarios(np.zeros(n_assets), cov, n_scenarios, SEED)
    exposures = rng.normal(0.0, 10_000.0, n_assets)
    base_pnl = np.empty(n_scenarios)
    work = np.empty(n_scenarios)
    portfolio_pnl(scenarios, exposures, base_pnl)
    pnl_var(base_pnl, 0.95, work)
    candidate = exposures.copy()
    candidate[3] += 5_000.0
    dense = np.ascontiguousarray(scenarios)

    def numpy_incremental() -> tuple[float, float]:
        pnl = dense @ candidate
        q = np.quantile(pnl, 0.05)
        return -q, -pnl[pnl <= q].mean()

    import talib

    from kernels.indicators import indicator_set_state, indicator_set_update

    bars = _ohlcv(200_000)
    warm = 1_000
    set_state = indicator_set_state()
    for i in range(warm):
        indicator_set_update(set_state, bars[2][i], bars[0][i], bars[1][i], bars[2][i], bars[3][i])
    history = [b[:warm].copy() for b in bars]
    h0, lo0, c0, _ = history
    # TA-Lib's stateful stream objects, seeded with the same history, one update per tick.
    ema_fast = talib.stream.EMA(c0, 12)
    ema_slow = talib.stream.EMA(c0, 26)
    rsi_14 = talib.stream.RSI(c0, 14)
    bb_20 = talib.stream.BBANDS(c0, 20)
    atr_14 = talib.stream.ATR(h0, lo0, c0, 14)
    tick_bars = iter(
        zip(*(np.tile(b[warm : warm + 4_096], 64).tolist() for b in bars), strict=True)
    )
    talib_bars = iter(
        zip(*(np.tile(b[warm : warm + 4_096], 64).tolist() for b in bars), strict=True)
    )

    def indicator_ticks() -> None:
        for _ in range(100):
            h, lo, c, v = next(tick_bars)
            indicator_set_update(set_state, c, h, lo, c, v)

    def talib_stream_ticks() -> None:
        # VWAP and rolling volatility have no TA-Lib stream: the alternative does less work.
        for _ in range(100):
            h, lo, c, _ = next(talib_bars)
            ema_fast.update(c)
            ema_slow.update(c)
            rsi_14.update(c)
            bb_20.update(c)
            atr_14.update(h, lo, c)

    def ticks() -> None:
        for _ in range(100):
            rolling_var_update(state, next(new_returns))

    def numpy_ticks() -> None:
        for _ in range(100):
            numpy_var_cvar()

    def checks() -> None:
        for _ in range(100):
            incremental_var(scenarios, base_pnl, 3, 5_000.0, 0.95, work)

    def numpy_checks() -> None:
        for _ in range(100):
            numpy_incremental()

    return [
        Case(
            "indicator_set_update (EMA 12/26, RSI, BB 20, ATR, VWAP, vol), per tick",
            indicator_ticks,
            talib_stream_ticks,
            "talib.stream EMA×2, RSI, BBANDS, ATR objects",
            repeats=41,
            unit_count=100,
        ),
        Case(
            "streaming VaR+CVaR, 1,000-return window, per tick",
            ticks,
            numpy_ticks,
            "np.quantile + tail mean",
            repeats=41,
            unit_count=100,
        ),
        Case(
            "incremental MC VaR, 10 assets × 10,000 cached scenarios, per check",
            checks,
            numpy_checks,
            "numpy matmul + quantile",
            repeats=21,
            unit_count=100,
        ),
    ]


def _sweep_cases() -> list[Case]:
    import pandas as pd
    import vectorbt as vbt

    from kernels.backtest import ma_crossover_sweep

    close = _prices(100_000)
    fast = np.arange(5, 51, 5)
    slow = np.arange(20, 201, 20)
    fast_idx, slow_idx = np.nonzero(fast[:, None] < slow[None, :])
    series = pd.Series(close)

    def vectorbt_sweep() -> object:
        f = vbt.MA.run(series, fast[fast_idx], short_name="fast")
        s = vbt.MA.run(series, slow[slow_idx], short_name="slow")
        portfolio = vbt.Portfolio.from_signals(
            series, f.ma_crossed_above(s), f.ma_crossed_below(s), fees=0.001, init_cash=10_000.0
        )
        return portfolio.total_return()

    return [
        Case(
            f"ma_crossover_sweep, 100,000 bars × {len(fast_idx)} SMA pairs",
            lambda: ma_crossover_sweep(close, fast, slow, fees=0.001, init_cash=10_000.0),
            vectorbt_sweep,
            "vectorbt MA.run + from_signals",
            repeats=5,
        )
    ]


def _cases() -> list[Case]:
    return _indicator_cases() + _per_tick_cases() + _sweep_cases()


CASES: Callable[[], list[Case]] = _cases


def main(argv: list[str] | None = None) -> int:
    """Run the comparisons and print a Markdown table."""
    parser = argparse.ArgumentParser(prog="python -m bench.compare_kernels")
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument("--only", help="comma-separated substrings of case names")
    args = parser.parse_args(argv)
    wanted = [w.strip() for w in args.only.split(",")] if args.only else None
    info = machine_info()
    print(
        f"# kernels vs alternatives — {info['cpu']}, Python {platform.python_version()}, "
        f"numpy {info['numpy']}, numba {info['numba']}"
    )
    print()
    print("| case | ours median | ours p99 | alternative | alt. median | alt. p99 | ours/alt. |")
    print("|---|---|---|---|---|---|---|")
    for case in CASES():
        if wanted is not None and not any(w in case.name for w in wanted):
            continue
        r = run_case(case, quick=args.quick)
        print(
            f"| {case.name} | {_fmt(r['ours_median'])} | {_fmt(r['ours_p99'])} | "
            f"{case.theirs_label} | {_fmt(r['theirs_median'])} | {_fmt(r['theirs_p99'])} | "
            f"{r['ratio']:.2f} |",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
