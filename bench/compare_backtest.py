"""Our tick backtester beside hftbacktest: one market-making strategy, one recording, one run.

Run::

    .venv/bin/python -m bench.compare_backtest                 # bundled USD-M recording, a table
    .venv/bin/python -m bench.compare_backtest --json          # one JSON object
    .venv/bin/python -m bench.compare_backtest --data data/binance_spot/btcusdt_20240808.gz

Both sides run the strategy specified in ``bench/hbt_mm.py`` (quote one lot
size × 10 each side around the mid every 100 ms, post-only, 1 ms order
latency, risk-averse queue) over the same Binance recording:

- hftbacktest 2.4.4: the recording converted by hftbacktest's own converter
  (futures) or the same rows written by ``bench.hbt_mm.convert_spot`` (spot),
  ``HashMapMarketDepthBacktest`` and the njit loop of ``bench.hbt_mm``;
- ours: ``adapters.paper.tickdata.convert_recording``,
  ``adapters.paper.tickbt.TickBacktester`` and
  ``engine.strategies.grid_mm.run_grid_mm_njit``.

What is timed: a *run* is building the backtester over already converted
data plus the whole strategy loop. Each side converts the recording twice
and times the second conversion, then runs once untimed (numba compilation)
and ``--runs`` times timed; the report gives the median. ``events`` is
hftbacktest's row count for the recording (after its event-order
correction), and both event rates divide that same number, so
``ratio = ours_events_per_s / hftbacktest_events_per_s`` is the speed-up
(> 1: ours is faster). Conversion rates divide each side's own row count.

hftbacktest runs ``no_partial_fill_exchange``: its ``partial_fill_exchange``
aborts on this data (``bench/hbt_mm.py`` explains; ``--hbt-partial-fills``
reproduces it). Ours runs with ``partial_fills=False``, the same model.

Like for like, our side converts with ``sync="replay"``: every frame applied
in recording order, diffs before the snapshot and the ones the snapshot
already contains included, as hftbacktest's converter does. Fed the same
rows, the two backtesters give the same orders and fills on the bundled
recordings. ``ours_fills_binance_sync`` is the same run on our default book
procedure (Binance's: diffs wait for the snapshot, stale ones dropped), which
starts from a correct book and so fills slightly differently.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any, TypeVar

from bench import hbt_mm
from bench._util import machine_info

__all__ = [
    "DEFAULT_DATA",
    "build_report",
    "format_table",
    "main",
    "measure_hftbacktest",
    "run_ours",
]

DEFAULT_DATA = Path(__file__).resolve().parents[1] / "data" / "binance_usdm" / "btcusdt_20240808.gz"

T = TypeVar("T")


def _convert_timed(convert: Callable[[], T]) -> tuple[T, float]:
    # The first conversion loads or compiles whatever numba code the converter uses.
    convert()
    start = time.perf_counter()
    result = convert()
    return result, time.perf_counter() - start


def measure_hftbacktest(
    path: str,
    tick: float,
    lot: float,
    params: hbt_mm.StrategyParams,
    runs: int,
    market: hbt_mm.Market | None = None,
    partial_fills: bool = False,
) -> dict[str, Any]:
    """Convert ``path`` and run the strategy in hftbacktest; return counts and timings.

    Keys: ``rows``, ``convert_seconds``, ``run_seconds`` (median), ``run_seconds_all``,
    ``orders``, ``fills``, ``position``, ``equity``, and hftbacktest-specific extras
    (``state_position``, ``state_fee``, ``fill_steps``, ``steps``, ``exchange_model``).
    """
    data, convert_seconds = _convert_timed(lambda: hbt_mm.convert_recording(path, market))
    run = hbt_mm.run_hftbacktest(data, tick, lot, params, runs, partial_fills)
    return {
        "rows": len(data),
        "convert_seconds": convert_seconds,
        "run_seconds": run.wall_seconds,
        "run_seconds_all": list(run.wall_seconds_all),
        "orders": run.orders,
        "fills": run.fills,
        "position": run.observed_position,
        "equity": run.equity,
        "state_position": run.position,
        "state_fee": run.fee,
        "fill_steps": run.observed_fill_steps,
        "steps": run.steps,
        "exchange_model": "partial_fill_exchange" if partial_fills else "no_partial_fill_exchange",
    }


def run_ours(
    path: str, tick: float, lot: float, params: dict[str, Any], runs: int
) -> dict[str, Any]:
    """Convert ``path`` and run the strategy in our tick backtester; same keys as hftbacktest's.

    ``params`` holds the fields of :class:`bench.hbt_mm.StrategyParams`.
    """
    from adapters.paper.tickbt import BacktestConfig, TickBacktester
    from adapters.paper.tickdata import convert_recording
    from engine.strategies.grid_mm import GridParams, run_grid_mm_njit

    # like for like: every frame applied in recording order, as hftbacktest's converter does
    data, convert_seconds = _convert_timed(
        lambda: convert_recording(path, tick, lot, sync="replay")
    )
    config = BacktestConfig(  # tick and lot come with the converted data
        maker_fee=params["maker_fee"],
        taker_fee=params["taker_fee"],
        entry_latency_ns=params["entry_latency_ns"],
        response_latency_ns=params["response_latency_ns"],
        queue_model="risk_averse",
        partial_fills=False,  # hftbacktest's no_partial_fill_exchange, see bench.hbt_mm
    )
    grid = GridParams(
        interval_ns=params["interval_ns"],
        half_spread_ticks=params["half_spread_ticks"],
        order_qty=params["order_qty"],
        max_position=params["max_position"],
    )

    def once() -> tuple[float, dict[str, Any]]:
        start = time.perf_counter()
        backtester = TickBacktester(data, config)
        run_grid_mm_njit(backtester, grid)
        seconds = time.perf_counter() - start
        return seconds, backtester.stats()

    once()  # numba compilation or cache load
    timed = [once() for _ in range(runs)]
    stats = timed[-1][1]
    walls = [seconds for seconds, _ in timed]
    # the same run on our default book procedure (Binance's: diffs wait for the snapshot
    # and the ones it already contains are dropped), for the record
    synced = TickBacktester(convert_recording(path, tick, lot), config)
    run_grid_mm_njit(synced, grid)
    return {
        "fills_binance_sync": int(synced.stats()["fills"]),
        "rows": int(data.n_rows),
        "convert_seconds": convert_seconds,
        "run_seconds": statistics.median(walls),
        "run_seconds_all": walls,
        "orders": int(stats["orders"]),
        "fills": int(stats["fills"]),
        "position": float(stats["position"]),
        "equity": float(stats["equity"]),
    }


def build_report(
    *,
    path: str,
    market: str,
    tick: float,
    lot: float,
    params: hbt_mm.StrategyParams,
    runs: int,
    hbt: dict[str, Any],
    ours: dict[str, Any],
) -> dict[str, Any]:
    """Assemble the JSON report from both sides' results (see the module docstring)."""
    events = hbt["rows"]
    ours_rate = events / ours["run_seconds"]
    hbt_rate = events / hbt["run_seconds"]
    fills_diff_pct = (
        100.0 * (ours["fills"] - hbt["fills"]) / hbt["fills"] if hbt["fills"] > 0 else None
    )
    return {
        "events": events,
        "ours_events_per_s": ours_rate,
        "hftbacktest_events_per_s": hbt_rate,
        "ratio": ours_rate / hbt_rate,
        "ours_fills": ours["fills"],
        "hftbacktest_fills": hbt["fills"],
        "fills_diff_pct": fills_diff_pct,
        "ours_fills_binance_sync": ours.get("fills_binance_sync"),
        "ours_orders": ours["orders"],
        "hftbacktest_orders": hbt["orders"],
        "ours_convert_rows_per_s": ours["rows"] / ours["convert_seconds"],
        "hftbacktest_convert_rows_per_s": hbt["rows"] / hbt["convert_seconds"],
        "ours_rows": ours["rows"],
        "ours_run_s_median": ours["run_seconds"],
        "hftbacktest_run_s_median": hbt["run_seconds"],
        "ours_run_s_all": ours["run_seconds_all"],
        "hftbacktest_run_s_all": hbt["run_seconds_all"],
        "ours_position": ours["position"],
        "hftbacktest_position": hbt["position"],
        "ours_equity": ours["equity"],
        "hftbacktest_equity": hbt["equity"],
        "hftbacktest_steps": hbt["steps"],
        "hftbacktest_exchange_model": hbt["exchange_model"],
        "data": path,
        "market": market,
        "tick_size": tick,
        "lot_size": lot,
        "params": asdict(params),
        "runs": runs,
        "hftbacktest_version": _hftbacktest_version(),
        **machine_info(),
    }


def _hftbacktest_version() -> str:
    import hftbacktest

    return str(hftbacktest.__version__)


def _num(value: float | None, digits: int = 0) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}"


def format_table(report: dict[str, Any]) -> str:
    """Render the report as a Markdown table (what ``--json`` omits is the raw timings)."""
    r = report
    lines = [
        f"# backtest: ours vs hftbacktest {r['hftbacktest_version']} — {r['cpu']}, "
        f"Python {platform.python_version()}, numpy {r['numpy']}, numba {r['numba']}",
        "",
        f"{r['data']} ({r['market']}, tick {r['tick_size']:g}, lot {r['lot_size']:g}), "
        f"{r['events']:,} events, median of {r['runs']} warm runs",
        "",
        "| | ours | hftbacktest | ours/hftbacktest |",
        "|---|---|---|---|",
        f"| events/s | {_num(r['ours_events_per_s'])} | {_num(r['hftbacktest_events_per_s'])} "
        f"| {r['ratio']:.2f} |",
        f"| run, median ms | {_num(1e3 * r['ours_run_s_median'], 2)} "
        f"| {_num(1e3 * r['hftbacktest_run_s_median'], 2)} | |",
        f"| conversion rows/s | {_num(r['ours_convert_rows_per_s'])} "
        f"| {_num(r['hftbacktest_convert_rows_per_s'])} | |",
        f"| rows | {r['ours_rows']:,} | {r['events']:,} | |",
        f"| orders | {r['ours_orders']:,} | {r['hftbacktest_orders']:,} | |",
        f"| fills | {r['ours_fills']:,} | {r['hftbacktest_fills']:,} "
        f"| {_num(r['fills_diff_pct'], 1)} % |",
        f"| position | {r['ours_position']:g} | {r['hftbacktest_position']:g} | |",
        f"| equity | {r['ours_equity']:,.4f} | {r['hftbacktest_equity']:,.4f} | |",
    ]
    return "\n".join(lines)


def _shown_path(path: Path) -> str:
    resolved = path.resolve()
    root = DEFAULT_DATA.parents[2]
    return str(resolved.relative_to(root)) if resolved.is_relative_to(root) else str(path)


def main(argv: list[str] | None = None) -> int:
    """Run both backtesters on one recording and print the comparison."""
    parser = argparse.ArgumentParser(prog="python -m bench.compare_backtest")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="recording (.gz)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--runs", type=int, default=5, help="timed runs per side (default 5)")
    parser.add_argument("--tick", type=float, help="tick size (default: from the recording)")
    parser.add_argument("--lot", type=float, help="lot size (default: from the recording)")
    parser.add_argument(
        "--hbt-partial-fills",
        action="store_true",
        help="use hftbacktest's partial_fill_exchange (aborts with status 14 in 2.4.4)",
    )
    args = parser.parse_args(argv)
    if not args.data.is_file():
        parser.error(f"--data {args.data}: no such file")
    if args.runs < 1:
        parser.error(f"--runs must be >= 1, was {args.runs}")
    path = str(args.data)
    shown = _shown_path(args.data)
    market = hbt_mm.detect_market(path)
    tick, lot = hbt_mm.infer_tick_lot(path)
    tick = tick if args.tick is None else args.tick
    lot = lot if args.lot is None else args.lot
    params = hbt_mm.default_params(lot)

    hbt = measure_hftbacktest(path, tick, lot, params, args.runs, market, args.hbt_partial_fills)
    ours = run_ours(path, tick, lot, asdict(params), args.runs)
    report = build_report(
        path=shown,
        market=market,
        tick=tick,
        lot=lot,
        params=params,
        runs=args.runs,
        hbt=hbt,
        ours=ours,
    )
    print(json.dumps(report) if args.json else format_table(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
