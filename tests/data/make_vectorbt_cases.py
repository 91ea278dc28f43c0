"""Pin vectorbt's answers for the backtest kernels into ``vectorbt_backtest_cases.json``.

The core suite (``tests/kernels/test_backtest.py``) reads the JSON and needs no
vectorbt; the ``slow`` test there calls the oracle functions below directly.
Regenerate with::

    .venv/bin/python tests/data/make_vectorbt_cases.py

Non-finite floats are written as the strings "nan", "inf" and "-inf"
(``np.asarray(values, dtype=float)`` reads them back).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import vectorbt as vbt

OUT_PATH = Path(__file__).with_name("vectorbt_backtest_cases.json")
TRADE_FIELDS = (
    "entry_idx",
    "exit_idx",
    "size",
    "entry_price",
    "entry_fees",
    "exit_price",
    "exit_fees",
    "pnl",
    "return",
    "status",
)


def random_walk(seed: int, n: int, start: float = 100.0, sigma: float = 0.02) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.round(start * np.exp(np.cumsum(rng.normal(0.0, sigma, n))), 4)


def random_signals(seed: int, n: int, p: float = 0.15) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.random(n) < p, rng.random(n) < p


def vectorbt_signals(
    close: np.ndarray, entries: np.ndarray, exits: np.ndarray, fees: float, init_cash: float
) -> dict[str, Any]:
    """Equity, exit trades and stats of ``Portfolio.from_signals`` over daily bars."""
    pf = vbt.Portfolio.from_signals(
        close, entries, exits, fees=fees, init_cash=init_cash, freq="1D"
    )
    records = pf.trades.values
    stats = pf.stats()
    return {
        "equity": pf.value().to_numpy(),
        "trades": {field: records[field] for field in TRADE_FIELDS},
        "stats": {
            "total_return": float(pf.total_return()),
            "sharpe_ratio": float(pf.sharpe_ratio()),
            "sortino_ratio": float(pf.sortino_ratio()),
            "max_drawdown": -float(pf.max_drawdown()),
            "win_rate": float(stats["Win Rate [%]"]) / 100.0,
            "trade_count": float(stats["Total Trades"]),
            "closed_trade_count": float(stats["Total Closed Trades"]),
        },
    }


def _grid_total_return(close: np.ndarray, entries: dict, exits: dict, fees: float, init_cash):
    keys = list(entries)
    pf = vbt.Portfolio.from_signals(
        pd.Series(close),
        pd.DataFrame({i: entries[k] for i, k in enumerate(keys)}),
        pd.DataFrame({i: exits[k] for i, k in enumerate(keys)}),
        fees=fees,
        init_cash=init_cash,
    )
    return dict(zip(keys, pf.total_return().to_numpy(), strict=True))


def vectorbt_ma_sweep(
    close: np.ndarray, fast_windows, slow_windows, fees: float, init_cash: float
) -> np.ndarray:
    """``MA.run``, crosses as the kernel defines them, ``from_signals``; NaN if fast >= slow."""
    windows = sorted(set(fast_windows) | set(slow_windows))
    ma = vbt.MA.run(pd.Series(close), window=windows).ma.to_numpy()
    sma = {w: ma[:, k] for k, w in enumerate(windows)}
    entries, exits = {}, {}
    for fast in fast_windows:
        for slow in slow_windows:
            if fast < slow:
                f, s = sma[fast], sma[slow]
                f_prev, s_prev = np.roll(f, 1), np.roll(s, 1)
                f_prev[0] = s_prev[0] = np.nan
                entries[fast, slow] = (f > s) & (f_prev <= s_prev)
                exits[fast, slow] = (f < s) & (f_prev >= s_prev)
    total = _grid_total_return(close, entries, exits, fees, init_cash)
    out = np.full((len(fast_windows), len(slow_windows)), np.nan)
    for i, fast in enumerate(fast_windows):
        for j, slow in enumerate(slow_windows):
            out[i, j] = total.get((fast, slow), np.nan)
    return out


def vectorbt_rsi_sweep(
    close: np.ndarray, rsi_periods, lower_thresholds, upper_thresholds, fees: float, init_cash
) -> np.ndarray:
    """vectorbt's TA-Lib RSI + threshold crosses + ``from_signals``; NaN where lower >= upper.

    ``vbt.RSI`` itself is Cutler's (simple-average) RSI by default, not Wilder's,
    so the Wilder RSI comes from ``IndicatorFactory.from_talib("RSI")``.
    """
    talib_rsi = vbt.IndicatorFactory.from_talib("RSI")
    values = talib_rsi.run(pd.Series(close), timeperiod=list(rsi_periods)).real.to_numpy()
    values = values.reshape(close.shape[0], -1)
    entries, exits = {}, {}
    for k, period in enumerate(rsi_periods):
        now = values[:, k]
        before = np.roll(now, 1)
        before[0] = np.nan
        for lower in lower_thresholds:
            for upper in upper_thresholds:
                if lower < upper:
                    entries[period, lower, upper] = (now < lower) & (before >= lower)
                    exits[period, lower, upper] = (now > upper) & (before <= upper)
    total = _grid_total_return(close, entries, exits, fees, init_cash)
    out = np.full((len(rsi_periods), len(lower_thresholds), len(upper_thresholds)), np.nan)
    for k, period in enumerate(rsi_periods):
        for i, lower in enumerate(lower_thresholds):
            for j, upper in enumerate(upper_thresholds):
                out[k, i, j] = total.get((period, lower, upper), np.nan)
    return out


def _signal_cases() -> list[dict[str, Any]]:
    cases = []
    # Same-bar conflict, entry while long, NaN close in a position, exit while flat, open end.
    cases.append(
        {
            "name": "hand_conflict_nan_close_open_end",
            "fees": 0.01,
            "init_cash": 100.0,
            "close": [10.0, 11.0, 12.0, math.nan, 13.0, 12.0, 11.0, 14.0, 15.0, 16.0],
            "entries": [True, False, True, True, False, True, False, False, True, False],
            "exits": [False, False, True, False, True, False, True, True, False, False],
        }
    )
    # A signal on a NaN close is dropped; the open trade's last close is NaN.
    cases.append(
        {
            "name": "signal_on_nan_close_dropped_trailing_nan",
            "fees": 0.0,
            "init_cash": 100.0,
            "close": [math.nan, math.nan, 12.0, 13.0, math.nan, 14.0, math.nan],
            "entries": [True, False, False, True, False, False, False],
            "exits": [False, False, False, False, True, False, False],
        }
    )
    for seed, fees, init_cash, nan_fraction in (
        (0, 0.001, 100.0, 0.0),
        (1, 0.001, 100.0, 0.05),
        (2, 0.0, 10_000.0, 0.0),
        (3, 0.2, 100.0, 0.02),
    ):
        close = random_walk(seed, 250)
        rng = np.random.default_rng(100 + seed)
        close[rng.random(close.shape[0]) < nan_fraction] = np.nan
        if nan_fraction > 0:
            close[:3] = np.nan
        entries, exits = random_signals(200 + seed, close.shape[0])
        cases.append(
            {
                "name": f"walk_random_signals_seed{seed}",
                "fees": fees,
                "init_cash": init_cash,
                "close": close.tolist(),
                "entries": entries.tolist(),
                "exits": exits.tolist(),
            }
        )
    n = 20
    cases.append(
        {
            "name": "no_signals_flat_curve",
            "fees": 0.001,
            "init_cash": 100.0,
            "close": random_walk(7, n).tolist(),
            "entries": [False] * n,
            "exits": [False] * n,
        }
    )
    cases.append(
        {
            "name": "entry_first_bar_exit_last_bar",
            "fees": 0.001,
            "init_cash": 100.0,
            "close": random_walk(8, n).tolist(),
            "entries": [True] + [False] * (n - 1),
            "exits": [False] * (n - 1) + [True],
        }
    )
    cases.append(
        {
            "name": "single_bar_open_trade",
            "fees": 0.001,
            "init_cash": 100.0,
            "close": [100.0],
            "entries": [True],
            "exits": [False],
        }
    )
    # 1e-6 cash at 1000 buys 1e-9 units, under vectorbt's min_size of 1e-8.
    cases.append(
        {
            "name": "buy_below_min_size_refused",
            "fees": 0.0,
            "init_cash": 1e-6,
            "close": [1000.0, 1001.0, 1002.0],
            "entries": [True, False, False],
            "exits": [False, False, True],
        }
    )
    for case in cases:
        case["expected"] = vectorbt_signals(
            np.asarray(case["close"], dtype=float),
            np.asarray(case["entries"]),
            np.asarray(case["exits"]),
            case["fees"],
            case["init_cash"],
        )
    return cases


def _sweep_cases() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    ma_cases = []
    for seed, fees in ((10, 0.001), (11, 0.0)):
        case = {
            "name": f"walk400_seed{seed}",
            "fees": fees,
            "init_cash": 10_000.0,
            "close": random_walk(seed, 400, sigma=0.01).tolist(),
            "fast_windows": [1, 3, 5, 8, 20],
            "slow_windows": [10, 20, 30],
        }
        case["expected"] = vectorbt_ma_sweep(
            np.asarray(case["close"]),
            case["fast_windows"],
            case["slow_windows"],
            fees,
            case["init_cash"],
        )
        ma_cases.append(case)
    rsi_cases = []
    for seed, fees in ((12, 0.001), (13, 0.0)):
        case = {
            "name": f"walk400_seed{seed}",
            "fees": fees,
            "init_cash": 10_000.0,
            "close": random_walk(seed, 400, sigma=0.01).tolist(),
            "rsi_periods": [2, 7, 14],
            "lower_thresholds": [25.0, 30.0, 40.0],
            "upper_thresholds": [35.0, 60.0, 70.0],
        }
        case["expected"] = vectorbt_rsi_sweep(
            np.asarray(case["close"]),
            case["rsi_periods"],
            case["lower_thresholds"],
            case["upper_thresholds"],
            fees,
            case["init_cash"],
        )
        rsi_cases.append(case)
    return ma_cases, rsi_cases


def _plain(value: Any) -> Any:
    """JSON-safe copy: arrays to lists, non-finite floats to strings."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def main() -> None:
    ma_cases, rsi_cases = _sweep_cases()
    sections = {
        "signals_backtest": _signal_cases(),
        "ma_crossover_sweep": ma_cases,
        "rsi_threshold_sweep": rsi_cases,
    }
    meta = {
        "generator": "tests/data/make_vectorbt_cases.py",
        "vectorbt": vbt.__version__,
        "pandas": pd.__version__,
        "numpy": np.__version__,
        "oracle": 'vbt.Portfolio.from_signals(close, entries, exits, fees, init_cash, freq="1D")',
    }
    # One case per line keeps the file diffable without a line per number.
    lines = ["{", f' "meta": {json.dumps(meta)},']
    for s, (section, cases) in enumerate(sections.items()):
        lines.append(f' "{section}": [')
        body = [
            "  " + json.dumps(_plain(case), separators=(",", ":"), allow_nan=False)
            for case in cases
        ]
        lines.append(",\n".join(body))
        lines.append(" ]" + ("," if s < len(sections) - 1 else ""))
    lines.append("}")
    OUT_PATH.write_text("\n".join(lines) + "\n")
    print(f"wrote {OUT_PATH} ({sum(len(c) for c in sections.values())} cases)")


if __name__ == "__main__":
    main()
