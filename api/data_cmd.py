"""``ats data import|export|resample|query``: research data in and out of the store.

``ats data import FILE --kind ticks|ohlcv|news|macro|energy [--symbol SYM] [--venue V]
[--interval I] [--db PATH] [--json]``
    Parse the file (:mod:`engine.store.importers`) and insert its rows,
    idempotently (a second import of the same file inserts 0). Prints rows
    read, inserted, rejected (the first reasons and a count per reason),
    skipped and rows/s. Exit 0 when the file was read, even with rejects;
    2 for a usage error or a file that cannot be read at all.
``ats data export --table T --format parquet --out DIR [--symbol S] [--since T] [--until T]``
    Hive-partitioned Parquet, ``symbol=<percent-encoded>/date=YYYY-MM-DD/part-0.parquet``
    (:mod:`engine.store.export`). Prints the files and rows written.
``ats data resample --symbol S --interval 1m|5m|15m|1h|4h|1d [--venue V] [--since/--until]``
    OHLCV bars from ``price_ticks`` in SQL, upserted into ``prices``
    (:mod:`engine.store.resample`). Prints the bars written.
``ats data query "SQL" [--format table|json|csv]``
    One statement on a read-only connection; a write is refused with the
    store's message, not a traceback.

``--db`` is a DuckDB file (default ``store.db``, ``data/ats.duckdb``) or a
``postgresql://`` URL; ticks and bars then stay in the DuckDB file
``store.ticks_db``. Times (``--since``/``--until``) are epoch ns or ISO-8601
(naive means UTC).

Tick symbols: a Binance or Bybit venue symbol (``BTCUSDT``) becomes the
ccxt unified symbol of its market (``BTC/USDT`` spot, ``BTC/USDT:USDT`` on
USD-M and Bybit linear, ``BTC/USD:BTC`` for COIN-M ``BTCUSD_PERP``) by the
adapters' rule (:func:`adapters.bybit.symbols.unified_symbol`: the quote is
one of the known quote currencies); ``--symbol`` names every trade of the
file instead.
"""

from __future__ import annotations

import argparse
import csv
import io
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa

from adapters.bybit.errors import FeedConfigError
from adapters.bybit.symbols import unified_symbol
from engine.config import Config
from engine.research import to_ns
from engine.store import Store, StoreError, open_store
from engine.store.export import export_table
from engine.store.importers import (
    RECORD_KINDS,
    TICK_VENUES,
    ImportFileError,
    Parsed,
    read_ohlcv,
    read_records,
    read_ticks,
)
from engine.store.resample import INTERVALS, resample_ticks

__all__ = [
    "KINDS",
    "DataUsageError",
    "add_parser",
    "format_table",
    "import_file",
    "parse_file",
    "run",
    "summarize",
    "venue_unified_symbol",
]

#: ``--kind`` values.
KINDS = ("ticks", "ohlcv", "news", "macro", "energy")
#: Reasons printed in full (all are counted by kind).
SHOWN_REJECTS = 10


class DataUsageError(ValueError):
    """A command-line problem, reported in one line with exit status 2."""


def venue_unified_symbol(venue: str, venue_symbol: str) -> str:
    """``("binance-usdm", "BTCUSDT")`` → ``"BTC/USDT:USDT"``; ``ValueError`` if unknown."""
    vsym = venue_symbol.strip().upper()
    try:
        if venue == "binance-coinm":
            pair, _, _expiry = vsym.partition("_")  # BTCUSD_PERP, BTCUSD_240927
            if not pair.endswith("USD") or len(pair) <= 3:
                raise ValueError(f"COIN-M symbol {venue_symbol!r} is not <BASE>USD_<expiry>")
            base = pair[:-3]
            return f"{base}/USD:{base}"
        linear = venue in ("binance-usdm", "bybit-linear")
        return unified_symbol(vsym, "linear" if linear else "spot")
    except FeedConfigError as exc:
        raise ValueError(str(exc)) from None


def add_parser(sub: Any) -> None:
    """Register ``ats data import|export|resample|query`` on the ``ats`` parser."""

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--db",
            metavar="PATH",
            help="store: a DuckDB file or a postgresql:// URL (default: store.db, data/ats.duckdb)",
        )
        p.add_argument("--config", help="TOML configuration (default: $ATS_CONFIG or built-in)")

    data = sub.add_parser("data", help="import, export, resample and query stored data")
    actions = data.add_subparsers(dest="data_command", required=True, metavar="ACTION")
    imp = actions.add_parser("import", help="import a file of ticks, bars, news, macro or energy")
    imp.add_argument("file", metavar="FILE")
    imp.add_argument("--kind", required=True, choices=KINDS)
    imp.add_argument("--symbol", help="unified symbol for every row (when the data has none)")
    imp.add_argument("--venue", help=f"venue (ticks: one of {', '.join(TICK_VENUES)})")
    imp.add_argument("--interval", help="bar interval when the data does not say (ohlcv)")
    imp.add_argument("--json", action="store_true", help="print the result as one JSON object")
    common(imp)
    exp = actions.add_parser("export", help="export a table as hive-partitioned Parquet")
    exp.add_argument("--table", required=True)
    exp.add_argument("--format", default="parquet", choices=("parquet",))
    exp.add_argument("--out", required=True, metavar="DIR")
    exp.add_argument("--symbol")
    exp.add_argument("--since", help="epoch ns or ISO-8601 (inclusive)")
    exp.add_argument("--until", help="epoch ns or ISO-8601 (exclusive)")
    exp.add_argument("--json", action="store_true")
    common(exp)
    res = actions.add_parser("resample", help="build OHLCV bars from ticks (SQL) into prices")
    res.add_argument("--symbol", required=True)
    res.add_argument("--interval", required=True, choices=tuple(INTERVALS))
    res.add_argument("--venue")
    res.add_argument("--since", help="epoch ns or ISO-8601 (inclusive, widened to a bar)")
    res.add_argument("--until", help="epoch ns or ISO-8601 (exclusive, widened to a bar)")
    res.add_argument("--json", action="store_true")
    common(res)
    qry = actions.add_parser("query", help="run one SQL statement on a read-only connection")
    qry.add_argument("sql", metavar="SQL")
    qry.add_argument("--format", default="table", choices=("table", "json", "csv"))
    common(qry)


def run(args: argparse.Namespace, config: Config) -> int:
    """Carry out ``ats data ...``; return the exit status."""
    target = args.db if args.db is not None else config.store.db
    if not target:
        sys.stderr.write("ats: error: --db is empty: give a DuckDB file or a postgresql:// URL\n")
        return 2
    ticks_db = config.store.ticks_db
    try:
        if args.data_command == "import":
            return _import(args, target, ticks_db)
        if args.data_command == "export":
            return _export(args, target, ticks_db)
        if args.data_command == "resample":
            return _resample(args, target, ticks_db)
        return _query(args, target, ticks_db)
    except (DataUsageError, ImportFileError, StoreError) as exc:
        sys.stderr.write(f"ats: error: {exc}\n")
        return 2


def _time(option: str, text: str | None) -> int | None:
    if text is None:
        return None
    try:
        return int(text) if text.lstrip("-").isdigit() else to_ns(text)
    except ValueError:
        raise DataUsageError(f"{option} must be epoch ns or ISO-8601, was {text!r}") from None


def _emit(payload: dict[str, Any], as_json: bool, lines: list[str]) -> None:
    if as_json:
        sys.stdout.write(orjson.dumps(payload).decode() + "\n")
    else:
        sys.stdout.write("\n".join(lines) + "\n")


# -- import --------------------------------------------------------------------------------------


def parse_file(
    path: str,
    kind: str,
    *,
    symbol: str | None = None,
    venue: str | None = None,
    interval: str | None = None,
    symbol_map: Callable[[str, str], str] | None = venue_unified_symbol,
) -> Parsed:
    """Parse ``path`` as ``kind`` (one of :data:`KINDS`) with the importer of that kind."""
    if kind == "ticks":
        if interval is not None:
            raise DataUsageError("--interval is for --kind ohlcv")
        return read_ticks(path, venue=venue, symbol=symbol, symbol_map=symbol_map)
    if kind == "ohlcv":
        return read_ohlcv(path, symbol=symbol, venue=venue, interval=interval)
    if kind in RECORD_KINDS:
        for option, value in (("--symbol", symbol), ("--venue", venue), ("--interval", interval)):
            if value is not None:
                raise DataUsageError(f"{option} is not an option of --kind {kind}")
        return read_records(path, kind)
    raise DataUsageError(f"--kind must be one of {', '.join(KINDS)}, was {kind!r}")


def import_file(store: Store, path: str, kind: str, **options: Any) -> dict[str, Any]:
    """Parse ``path`` and insert its rows into ``store``; return the summary ``ats`` prints.

    ``options`` are those of :func:`parse_file` (``symbol``, ``venue``, ``interval``).
    """
    started = time.perf_counter()
    parsed = parse_file(path, kind, **options)
    inserted = store.insert(parsed.table, parsed.rows, mode="ignore") if parsed.rows.num_rows else 0
    return summarize(path, kind, parsed, inserted, time.perf_counter() - started)


def summarize(
    path: str, kind: str, parsed: Parsed, inserted: int, elapsed: float
) -> dict[str, Any]:
    """The summary of one import (the keys of ``ats data import --json``)."""
    rejects = parsed.rejects
    return {
        "file": path,
        "kind": kind,
        "table": parsed.table,
        "format": parsed.info.get("format", ""),
        "read": parsed.read,
        "rows": parsed.rows.num_rows,
        "inserted": inserted,
        "duplicates": parsed.rows.num_rows - inserted,
        "rejected": rejects.count,
        "skipped": parsed.skipped,
        "elapsed_s": round(elapsed, 4),
        "rows_per_s": round(parsed.read / elapsed) if elapsed > 0 else None,
        "rejects_by_reason": dict(rejects.by_code.most_common()),
        "first_rejects": [
            {"row": r.row, "reason": r.reason} for r in rejects.samples[:SHOWN_REJECTS]
        ],
        **{k: v for k, v in parsed.info.items() if k != "format"},
    }


def _import(args: argparse.Namespace, target: str, ticks_db: str) -> int:
    if not Path(args.file).is_file():
        raise DataUsageError(f"file not found: {args.file}")
    if args.kind == "ticks" and args.venue is not None and args.venue not in TICK_VENUES:
        raise DataUsageError(f"--venue must be one of {', '.join(TICK_VENUES)}, was {args.venue!r}")
    # parse before opening the store: a file that cannot be read leaves no empty store behind;
    # rows/s counts parsing and inserting, not opening and checkpointing the store
    started = time.perf_counter()
    parsed = parse_file(
        args.file, args.kind, symbol=args.symbol, venue=args.venue, interval=args.interval
    )
    elapsed = time.perf_counter() - started
    store = open_store(target, ticks_path=ticks_db)
    try:
        started = time.perf_counter()
        inserted = (
            store.insert(parsed.table, parsed.rows, mode="ignore") if parsed.rows.num_rows else 0
        )
        elapsed += time.perf_counter() - started
    finally:
        store.close()
    summary = summarize(args.file, args.kind, parsed, inserted, elapsed)
    lines = [
        f"{summary['file']}: {summary['kind']} ({summary['format']}) -> {summary['table']}",
        f"  read       {summary['read']:>12,}",
        f"  inserted   {summary['inserted']:>12,}",
        f"  duplicates {summary['duplicates']:>12,}  (already stored or repeated in the file)",
        f"  rejected   {summary['rejected']:>12,}",
        f"  skipped    {summary['skipped']:>12,}  (valid, not for this table)",
        f"  rows/s     {summary['rows_per_s'] or 0:>12,}  ({summary['elapsed_s']:.3f} s)",
    ]
    for key in ("venue", "symbols", "interval", "truncated", "aggregates_skipped"):
        if summary.get(key):
            lines.append(f"  {key:<10} {summary[key]}")
    if summary["rejected"]:
        lines.append("  rejects by reason:")
        lines += [f"    {n:>8,}  {code}" for code, n in summary["rejects_by_reason"].items()]
        lines.append(f"  first {len(summary['first_rejects'])} rejects:")
        lines += [f"    row {r['row']}: {r['reason']}" for r in summary["first_rejects"]]
    _emit(summary, args.json, lines)
    return 0


# -- export, resample ------------------------------------------------------------------------------


def _export(args: argparse.Namespace, target: str, ticks_db: str) -> int:
    since, until = _time("--since", args.since), _time("--until", args.until)
    store = open_store(target, read_only=True, ticks_path=ticks_db)
    started = time.perf_counter()
    try:
        result = export_table(
            store, args.table, args.out, symbol=args.symbol, since=since, until=until
        )
    finally:
        store.close()
    elapsed = time.perf_counter() - started
    payload = {
        "table": result.table,
        "out": result.out,
        "rows": result.rows,
        "files": result.files,
        "elapsed_s": round(elapsed, 4),
    }
    lines = [
        f"{result.table}: {result.rows:,} rows in {len(result.files)} files under {result.out}"
    ]
    lines += [f"  {f}" for f in result.files]
    _emit(payload, args.json, lines)
    return 0


def _resample(args: argparse.Namespace, target: str, ticks_db: str) -> int:
    since, until = _time("--since", args.since), _time("--until", args.until)
    store = open_store(target, ticks_path=ticks_db)
    started = time.perf_counter()
    try:
        result = resample_ticks(
            store, args.symbol, args.interval, venue=args.venue, since=since, until=until
        )
    finally:
        store.close()
    elapsed = time.perf_counter() - started
    payload = {
        "symbol": args.symbol,
        "interval": args.interval,
        "venue": args.venue,
        "bars": result.bars,
        "new_bars": result.new_bars,
        "ticks": result.ticks,
        "since": result.since,
        "until": result.until,
        "elapsed_s": round(elapsed, 4),
    }
    where = f" on {args.venue}" if args.venue else ""
    lines = [
        f"{args.symbol}{where} {args.interval}: {result.bars:,} bars written "
        f"({result.new_bars:,} new) from {result.ticks:,} ticks in {elapsed:.3f} s"
    ]
    if result.bars == 0:
        lines.append("  no ticks matched: check --symbol (a unified symbol, e.g. BTC/USDT)")
    _emit(payload, args.json, lines)
    return 0


# -- query -----------------------------------------------------------------------------------------


def _query(args: argparse.Namespace, target: str, ticks_db: str) -> int:
    if not ("://" in target or Path(target).is_file()):
        raise DataUsageError(f"no store at {target}: nothing to query")
    store = open_store(target, read_only=True, ticks_path=ticks_db)
    try:
        table = store.query(args.sql)
    except StoreError as exc:
        if "read-only" in str(exc):
            raise DataUsageError(
                f"ats data query runs on a read-only connection; the statement writes: {exc}"
            ) from None
        raise
    finally:
        store.close()
    sys.stdout.write(format_table(table, args.format))
    return 0


def _cell(value: object) -> object:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def format_table(table: pa.Table, fmt: str) -> str:
    """Render query rows as an aligned text table, JSON (an array of objects) or CSV."""
    rows = table.to_pylist()
    names = table.column_names
    if fmt == "json":
        clean = [{k: _cell(v) for k, v in row.items()} for row in rows]
        return (
            orjson.dumps(clean, option=orjson.OPT_PASSTHROUGH_DATETIME, default=str).decode() + "\n"
        )
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(names)
        writer.writerows([[("" if row[n] is None else row[n]) for n in names] for row in rows])
        return buffer.getvalue()
    text = [[("NULL" if row[n] is None else str(row[n])) for n in names] for row in rows]
    widths = [max([len(n)] + [len(r[i]) for r in text]) for i, n in enumerate(names)]
    out = ["  ".join(n.ljust(w) for n, w in zip(names, widths, strict=True))]
    out.append("  ".join("-" * w for w in widths))
    out += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in text]
    out.append(f"({len(rows)} row{'s' if len(rows) != 1 else ''})")
    return "\n".join(out) + "\n"
