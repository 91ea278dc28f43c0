"""``ats backtest``: run one strategy over a recording and report.

``ats backtest --strategy NAME --data PATH [--param k=v ...] [--json] [--report DIR]``

Two kinds of strategy run here:

* tick strategies (``grid_mm``) run in the compiled tick backtester
  (:mod:`adapters.paper.tickbt`): queue position, order and feed latency,
  maker/taker fees. ``--python`` runs the plain-Python implementation of the
  same strategy instead of the njit one (same fills, slower).
* signal strategies (``ema_momentum``, any ``engine.strategies.STRATEGIES``)
  run through the whole engine (decoder, book, indicators, risk, simulated
  venue, portfolio), the path paper and live trading use.

``--json`` prints the statistics as one object (events, orders, fills,
volume, fees, realized P&L, final position, equity, max drawdown, Sharpe,
events/s, ...). ``--report DIR`` writes ``fills.parquet``, ``orders.parquet``,
``equity.parquet`` and ``stats.json`` there.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from adapters.paper.tickbt import BacktestConfig, TickBacktester
from adapters.paper.tickdata import TickDataError, convert_recording
from adapters.replay import RecordingError, RecordingReader
from engine.config import Config, ConfigError
from engine.events import EventType, OrderCancelled, OrderFilled, OrderPlaced, OrderRejected
from engine.strategies import STRATEGIES
from engine.strategies.grid_mm import GridMarketMaker, GridParams, run_grid_mm_njit

__all__ = ["TICK_STRATEGIES", "add_parser", "parse_params", "run_backtest"]

#: Strategies that run in the tick backtester, with their parameter struct.
TICK_STRATEGIES: dict[str, type[msgspec.Struct]] = {"grid_mm": GridParams}


class UsageError(ValueError):
    """Bad command-line input; the message names the option and the value."""


def add_parser(sub: Any) -> None:
    """Register ``ats backtest`` on the ``ats`` sub-command parser."""
    p = sub.add_parser("backtest", help="run a strategy over a recording (tick-level backtester)")
    names = sorted([*TICK_STRATEGIES, *STRATEGIES])
    p.add_argument("--strategy", required=True, help=f"one of: {', '.join(names)}")
    p.add_argument("--data", required=True, help="recording (Binance spot/USD-M/COIN-M format)")
    p.add_argument("--param", action="append", default=[], metavar="K=V", help="strategy parameter")
    p.add_argument("--json", action="store_true", help="print the statistics as one JSON object")
    p.add_argument("--report", metavar="DIR", help="write fills/orders/equity as Parquet here")
    p.add_argument("--config", help="TOML configuration (logging; signal strategies: all)")
    p.add_argument("--queue-model", default="risk_averse", choices=("risk_averse", "power", "log"))
    p.add_argument("--queue-power", type=float, default=2.0, help="exponent of the power model")
    p.add_argument("--latency-ns", type=int, default=1_000_000, help="order entry/response")
    p.add_argument("--latency-series", metavar="CSV", help="req_ts,exch_ts,resp_ts rows")
    p.add_argument("--feed-latency-ns", type=int, help="instead of the recorded receive times")
    p.add_argument("--maker-fee", type=float, default=0.0002)
    p.add_argument("--taker-fee", type=float, default=0.0005)
    p.add_argument("--tick", type=float, help="tick size (default: inferred from the data)")
    p.add_argument("--lot", type=float, help="lot size (default: inferred from the data)")
    p.add_argument(
        "--book-margin",
        type=float,
        default=0.02,
        help="book range: traded prices widened by this fraction each side (default 0.02)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the latency jitter")
    p.add_argument("--jitter-ns", type=int, default=0, help="uniform extra entry latency")
    p.add_argument("--python", action="store_true", help="plain-Python strategy (not njit)")


def parse_params(pairs: list[str], struct: type[msgspec.Struct]) -> dict[str, Any]:
    """``["k=v", ...]`` → a dict checked against ``struct``'s fields (values typed by it)."""
    fields = {f.name: f.type for f in msgspec.structs.fields(struct)}
    raw: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UsageError(f"--param {pair!r}: expected KEY=VALUE")
        if key not in fields:
            raise UsageError(
                f"--param {key}: unknown parameter (known: {', '.join(sorted(fields))})"
            )
        raw[key] = value.strip()
    try:
        msgspec.convert(raw, struct, strict=False)
    except msgspec.ValidationError as exc:
        raise UsageError(f"--param: {exc}") from None
    return raw


def _tick_config(args: argparse.Namespace) -> BacktestConfig:
    return BacktestConfig(
        maker_fee=args.maker_fee,
        taker_fee=args.taker_fee,
        entry_latency_ns=args.latency_ns,
        response_latency_ns=args.latency_ns,
        latency_series=args.latency_series,
        feed_latency_ns=args.feed_latency_ns,
        queue_model=args.queue_model,
        queue_power=args.queue_power,
        entry_jitter_ns=args.jitter_ns,
        seed=args.seed,
    )


def _run_tick(args: argparse.Namespace, path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    struct = TICK_STRATEGIES[args.strategy]
    params = msgspec.convert(parse_params(args.param, struct), struct, strict=False)
    cfg = _tick_config(args)
    try:
        cfg.validate()
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    t0 = time.perf_counter()
    data = convert_recording(path, args.tick, args.lot, book_margin=args.book_margin)
    convert_s = time.perf_counter() - t0
    bt = TickBacktester(data, cfg)
    assert isinstance(params, GridParams)
    try:
        params.resolved(data.lot_size)
    except ValueError as exc:
        raise UsageError(f"--param: {exc}") from None
    t1 = time.perf_counter()
    if args.python:
        GridMarketMaker(params).run(bt)
    else:
        run_grid_mm_njit(bt, params)
    wall = time.perf_counter() - t1
    stats = bt.stats(wall_s=wall)
    stats.update(
        {
            "strategy": args.strategy,
            "engine": "tick-python" if args.python else "tick-njit",
            "data": str(path),
            "symbol": data.symbol,
            "rows": data.n_rows,
            "tick_size": data.tick_size,
            "lot_size": data.lot_size,
            "convert_s": convert_s,
            "gaps": data.stats["gaps"],
            "params": msgspec.to_builtins(params.resolved(data.lot_size)),
        }
    )
    tables = {"fills": bt.fills(), "orders": bt.orders(), "equity": bt.equity_curve()}
    return stats, tables


def _run_signal(
    args: argparse.Namespace, path: Path, config: Config
) -> tuple[dict[str, Any], dict[str, Any]]:
    from api.cli import build_backtest  # the composition root builds the engine

    fields = {f.name for f in msgspec.structs.fields(type(config.strategy))}
    params = parse_params(args.param, type(config.strategy)) if args.param else {}
    unknown = set(params) - fields
    if unknown:
        raise UsageError(f"--param: unknown parameter {sorted(unknown)[0]}")
    strategy = msgspec.structs.replace(
        msgspec.convert(
            {**msgspec.to_builtins(config.strategy), **params},
            type(config.strategy),
            strict=False,
        ),
        name=args.strategy,
    )
    config = msgspec.structs.replace(config, strategy=strategy)
    bt = build_backtest(config)
    fills: list[OrderFilled] = []
    orders: dict[str, dict[str, Any]] = {}

    def on_placed(ev: Any) -> None:
        assert isinstance(ev, OrderPlaced)
        orders[ev.client_order_id] = {
            "order_id": ev.client_order_id,
            "symbol": ev.symbol,
            "side": ev.side,
            "type": ev.order_type,
            "submit_ts": ev.ts,
            "price": ev.price,
            "qty": ev.quantity,
            "filled": 0.0,
            "status": "new",
            "end_ts": -1,
        }

    def on_fill(ev: Any) -> None:
        assert isinstance(ev, OrderFilled)
        fills.append(ev)
        o = orders.get(ev.client_order_id)
        if o is not None:
            o["filled"] += ev.quantity
            if ev.leaves_quantity <= 0:
                o["status"], o["end_ts"] = "filled", ev.ts
            else:
                o["status"] = "partially_filled"

    def on_end(status: str) -> Any:
        def handler(ev: Any) -> None:
            assert isinstance(ev, OrderCancelled | OrderRejected)
            o = orders.get(ev.client_order_id)
            if o is not None:
                o["status"], o["end_ts"] = status, ev.ts

        return handler

    bus = bt.engine.bus
    bus.subscribe(EventType.ORDER_PLACED, on_placed)
    bus.subscribe(EventType.ORDER_FILLED, on_fill)
    bus.subscribe(EventType.ORDER_CANCELLED, on_end("cancelled"))
    bus.subscribe(EventType.ORDER_REJECTED, on_end("rejected"))
    reader = RecordingReader(path)
    bt.run(reader)
    summary = bt.summary(bad_lines=reader.bad_lines)
    ts, equity = bt.engine.portfolio.equity_curve()
    stats = {
        "strategy": args.strategy,
        "engine": "event-driven",
        "data": str(path),
        "events": summary["frames"],
        "orders": summary["orders"],
        "fills": summary["fills"],
        "volume": float(sum(f.quantity for f in fills)),
        "notional": float(sum(f.quantity * f.price for f in fills)),
        "fees": summary["fees"],
        "realized_pnl": summary["realized_pnl"],
        "position": summary["positions"],
        "cash": summary["cash"],
        "equity": summary["equity"],
        "max_drawdown": float((np.maximum.accumulate(equity) - equity).max())
        if equity.size
        else 0.0,
        "max_drawdown_pct": summary["max_drawdown"],
        "sharpe": _sharpe(ts, equity),
        "wall_s": bt.elapsed_s,
        "events_per_s": summary["frames"] / bt.elapsed_s if bt.elapsed_s > 0 else None,
        "gaps": summary["gaps"],
    }
    tables = {
        "fills": {
            "ts": np.array([f.ts for f in fills], np.int64),
            "order_id": np.array([f.client_order_id for f in fills], dtype=object),
            "symbol": np.array([f.symbol for f in fills], dtype=object),
            "side": np.array([f.side for f in fills], dtype=object),
            "maker": np.array([f.liquidity == "maker" for f in fills], dtype=bool),
            "price": np.array([f.price for f in fills], np.float64),
            "qty": np.array([f.quantity for f in fills], np.float64),
            "fee": np.array([f.fee for f in fills], np.float64),
        },
        "orders": {k: np.array([o[k] for o in orders.values()]) for k in _ORDER_COLS},
        "equity": {"ts": ts, "equity": equity},
    }
    return stats, tables


_ORDER_COLS = ("order_id", "symbol", "side", "type", "submit_ts", "end_ts", "status", "price")


def _sharpe(ts: np.ndarray, curve: np.ndarray) -> float | None:
    """Annualised Sharpe of the equity curve's returns, at its median sampling interval."""
    if curve.size < 3 or not np.all(curve[:-1] > 0):
        return None
    r = np.diff(curve) / curve[:-1]
    sd = float(r.std(ddof=1))
    step = float(np.median(np.diff(ts)))
    if not (sd > 0 and step > 0):
        return None
    return float(r.mean() / sd * math.sqrt(365.0 * 86_400e9 / step))


def write_report(out_dir: Path, stats: dict[str, Any], tables: dict[str, Any]) -> list[Path]:
    """Write each table as Parquet and the stats as JSON; returns the paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, cols in tables.items():
        table = pa.table(
            {k: pa.array(v.tolist() if v.dtype == object else v) for k, v in cols.items()}
        )
        path = out_dir / f"{name}.parquet"
        pq.write_table(table, path)
        written.append(path)
    stats_path = out_dir / "stats.json"
    stats_path.write_bytes(
        orjson.dumps(stats, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY)
    )
    written.append(stats_path)
    return written


def run_backtest(args: argparse.Namespace, resolve_data: Any, config: Config) -> int:
    """Entry point of ``ats backtest``; returns the exit status (2 on bad input)."""
    name = args.strategy
    if name not in TICK_STRATEGIES and name not in STRATEGIES:
        known = ", ".join(sorted([*TICK_STRATEGIES, *STRATEGIES]))
        sys.stderr.write(f"ats backtest: unknown strategy {name!r} (known: {known})\n")
        return 2
    path = resolve_data(args.data)
    try:
        if not Path(path).is_file():
            raise RecordingError(f"recording not found: {path}")
        if name in TICK_STRATEGIES:
            stats, tables = _run_tick(args, Path(path))
        else:
            stats, tables = _run_signal(args, Path(path), config)
    except (UsageError, ConfigError, TickDataError, RecordingError) as exc:
        sys.stderr.write(f"ats backtest: {exc}\n")
        return 2
    if args.report:
        paths = write_report(Path(args.report), stats, tables)
        stats["report"] = [str(p) for p in paths]
    if args.json:
        sys.stdout.write(orjson.dumps(stats, option=orjson.OPT_SERIALIZE_NUMPY).decode() + "\n")
    else:
        for key, value in stats.items():
            text = f"{value:,.6g}" if isinstance(value, float) else str(value)
            sys.stdout.write(f"  {key:<20} {text}\n")
    return 0
