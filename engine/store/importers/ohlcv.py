"""OHLCV bars from CSV, Parquet, Lean zips and freqtrade JSON → ``prices`` rows.

Formats, told apart by the file name:

* ``*.zip``: QuantConnect Lean trade bars (see :mod:`._lean`);
* ``*.json`` / ``*.json.gz``: freqtrade candles, a JSON array of
  ``[ms, open, high, low, close, volume]`` rows;
* ``*.parquet`` / ``*.pq``: any Parquet file with the columns below;
* anything else: CSV (gzip allowed), comma, semicolon or tab separated.

Columns are found by name in any case: time (``time``, ``timestamp``,
``date``, ``datetime``, ``ts``, ``open_time``, ``date_time``), ``open``
(``o``), ``high`` (``h``), ``low`` (``l``), ``close`` (``c``), ``volume``
(``vol``, ``v``) and optionally ``trades`` (``count``, ``number_of_trades``),
``symbol`` (``pair``, ``ticker``), ``interval`` (``timeframe``). A CSV whose
first line has none of these names has no header: its columns are time,
open, high, low, close, volume in that order. Timestamps: epoch s, ms, us or
ns (by size) or ISO-8601 text, all → int64 ns UTC
(:func:`._frames.time_column_ns`).

Symbol: ``symbol`` (``--symbol``) if given, else the file's symbol column,
else the file name when it follows freqtrade's pattern (``BTC_USDT-1h.json``
→ ``BTC/USDT``; ``BTC_USDT_USDT-1h-futures.json`` → ``BTC/USDT:USDT``).
Interval: ``interval`` if given, else the file's column, else the file name
(freqtrade, Lean), else the most common gap between consecutive bars
(``60 s`` → ``1m``). Venue: ``venue`` or ``""``.

A row is rejected, with its line (CSV, counting the header) or element
number (JSON, from 1) and the field and value, when its time is not a
timestamp, a price or the volume is not a finite number, ``high`` is below
``max(open, close)``, ``low`` is above ``min(open, close)`` or the volume is
negative.
"""

from __future__ import annotations

import gzip
import math
import os
import re
from pathlib import Path
from typing import Any

import msgspec
import polars as pl
import pyarrow as pa

from engine.store.importers._common import ImportFileError, Parsed, Rejects
from engine.store.importers._frames import find_column, time_column_ns, to_float
from engine.store.schema import arrow_schema

__all__ = ["INTERVAL_PATTERN", "interval_from_seconds", "read_ohlcv"]

#: What ``prices.interval`` holds: a count and a unit (s, m, h, d, w, M for months).
INTERVAL_PATTERN = re.compile(r"[1-9]\d*[smhdwM]")

_TIME = ("time", "timestamp", "date", "datetime", "ts", "open_time", "date_time", "unix")
_OPEN, _HIGH, _LOW, _CLOSE = ("open", "o"), ("high", "h"), ("low", "l"), ("close", "c")
_VOLUME = ("volume", "vol", "v")
_TRADES = ("trades", "count", "number_of_trades", "trade_count")
_SYMBOL = ("symbol", "pair", "ticker")
_INTERVAL = ("interval", "timeframe")
_HEADER_NAMES = frozenset(_TIME + _OPEN + _HIGH + _LOW + _CLOSE + _VOLUME + _TRADES + _SYMBOL)
_FREQTRADE_NAME = re.compile(
    r"(?P<pair>[A-Za-z0-9]+_[A-Za-z0-9]+(?:_[A-Za-z0-9]+)?)-(?P<tf>[1-9]\d*[smhdwM])"
    r"(?:-(?P<kind>[a-z_]+))?"
)
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def interval_from_seconds(seconds: int) -> str | None:
    """``60`` → ``"1m"``, ``3600`` → ``"1h"``, ``86400`` → ``"1d"``; None if not whole units."""
    if seconds <= 0:
        return None
    for unit in ("w", "d", "h", "m", "s"):
        size = _UNIT_S[unit]
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return None


def read_ohlcv(
    path: str | os.PathLike[str],
    *,
    symbol: str | None = None,
    venue: str | None = None,
    interval: str | None = None,
) -> Parsed:
    """Read a file of OHLCV bars into ``prices`` rows (see the module docstring).

    Examples
    --------
    >>> parsed = read_ohlcv("tests/data/lean/spy.zip")
    >>> parsed.info["symbols"], parsed.info["interval"], parsed.rows.num_rows
    ('SPY', '1d', 5849)
    """
    file = Path(path)
    if not file.is_file():
        raise ImportFileError(f"file not found: {file}")
    if interval is not None and not INTERVAL_PATTERN.fullmatch(interval):
        raise ImportFileError(f"interval must look like 1m, 5m, 1h or 1d, was {interval!r}")
    name = file.name.lower()
    try:
        if name.endswith(".zip"):
            from engine.store.importers._lean import read_lean

            raw, facts = read_lean(file)
        elif name.endswith((".json", ".json.gz")):
            raw, facts = _read_freqtrade(file)
        elif name.endswith((".parquet", ".pq")):
            raw, facts = pl.read_parquet(file), {"format": "parquet", "first_row": "1"}
        else:
            raw, facts = _read_csv(file)
    except (OSError, EOFError, pl.exceptions.PolarsError, msgspec.DecodeError) as exc:
        raise ImportFileError(f"cannot read {file}: {exc}") from None
    guess = _FREQTRADE_NAME.fullmatch(_stem(file))
    if guess is not None and (guess["kind"] or "futures") not in ("futures", "spot"):
        raise ImportFileError(
            f"{file.name}: freqtrade {guess['kind']} candles are not trade bars; "
            "import the plain or -futures candles"
        )
    return _bars(raw, facts, file, guess, symbol=symbol, venue=venue, interval=interval)


def _stem(file: Path) -> str:
    name = file.name
    for suffix in (".gz", ".json", ".csv", ".parquet", ".pq", ".feather", ".zip"):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
    return name


def _freqtrade_symbol(pair: str) -> str:
    parts = pair.upper().split("_")
    if len(parts) == 3:
        return f"{parts[0]}/{parts[1]}:{parts[2]}"
    return f"{parts[0]}/{parts[1]}"


def _read_csv(file: Path) -> tuple[pl.DataFrame, dict[str, str]]:
    opener = gzip.open if file.read_bytes()[:2] == b"\x1f\x8b" else open
    with opener(file, "rt", encoding="utf-8", errors="replace", newline="") as f:  # type: ignore[operator]
        first = f.readline().strip("\r\n\ufeff")
    separator = "," if "," in first else ";" if ";" in first else "\t" if "\t" in first else ","
    cells = [c.strip().strip('"').lower() for c in first.split(separator)]
    has_header = any(c in _HEADER_NAMES for c in cells)
    frame = pl.read_csv(
        file,
        has_header=has_header,
        separator=separator,
        infer_schema=False,
        truncate_ragged_lines=True,
    )
    if not has_header:
        names = ["time", "open", "high", "low", "close", "volume"]
        frame = frame.rename(
            {old: names[i] for i, old in enumerate(frame.columns) if i < len(names)}
        )
    return frame, {"format": "csv", "first_row": "2" if has_header else "1"}


def _read_freqtrade(file: Path) -> tuple[pl.DataFrame, dict[str, str]]:
    data = file.read_bytes()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    rows = msgspec.json.decode(data)
    if not isinstance(rows, list):
        raise ImportFileError(f"{file}: expected a JSON array of [ms, o, h, l, c, v] rows")
    columns: list[list[Any]] = [[] for _ in range(6)]
    for row in rows:
        ok = isinstance(row, list) and len(row) >= 6
        for k in range(6):
            columns[k].append(_json_number(row[k]) if ok else None)
    names = ("time", "open", "high", "low", "close", "volume")
    frame = pl.DataFrame(
        {
            n: pl.Series(n, c, pl.Float64 if k else pl.Int64)
            for k, (n, c) in enumerate(zip(names, columns, strict=True))
        }
    )
    shapes = pl.Series("_shape_ok", [isinstance(r, list) and len(r) >= 6 for r in rows])
    raw = pl.Series("_raw", [_short(r) for r in rows], pl.String)
    return frame.with_columns(shapes, raw), {"format": "freqtrade-json", "first_row": "1"}


def _json_number(value: object) -> float | int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                return None
        return None
    return value


def _short(value: object) -> str:
    text = msgspec.json.encode(value).decode()
    return text if len(text) <= 80 else text[:77] + "..."


def _bars(
    raw: pl.DataFrame,
    facts: dict[str, str],
    file: Path,
    guess: re.Match[str] | None,
    *,
    symbol: str | None,
    venue: str | None,
    interval: str | None,
) -> Parsed:
    columns = raw.columns
    found = {
        "time": find_column(columns, _TIME),
        "open": find_column(columns, _OPEN),
        "high": find_column(columns, _HIGH),
        "low": find_column(columns, _LOW),
        "close": find_column(columns, _CLOSE),
        "volume": find_column(columns, _VOLUME),
    }
    missing = [k for k, v in found.items() if v is None]
    if missing:
        raise ImportFileError(
            f"{file}: no {', '.join(missing)} column (columns: {', '.join(columns)})"
        )
    trades_col = find_column(columns, _TRADES)
    symbol_col = find_column(columns, _SYMBOL)
    interval_col = find_column(columns, _INTERVAL)
    first_row = int(facts.pop("first_row", "1"))
    count = raw.height
    rows = pl.Series("row", range(first_row, first_row + count), pl.Int64)
    scale = float(facts.pop("price_divisor", "1"))
    frame = pl.DataFrame(
        {
            "row": rows,
            "ts": time_column_ns(raw[found["time"]]),  # type: ignore[index]
            **{k: to_float(raw[found[k]]) for k in ("open", "high", "low", "close", "volume")},  # type: ignore[index]
        }
    )
    if scale != 1.0:
        frame = frame.with_columns([pl.col(k) / scale for k in ("open", "high", "low", "close")])
    frame = frame.with_columns(
        (
            to_float(raw[trades_col]).cast(pl.Int64, strict=False)
            if trades_col
            else pl.Series("trades", [None] * count, pl.Int64)
        ).alias("trades")
    )
    # symbol and interval: argument, column, file name, facts of the format, inference
    if symbol is not None:
        sym = pl.Series("symbol", [symbol] * count, pl.String)
    elif symbol_col is not None:
        sym = raw[symbol_col].cast(pl.String).str.strip_chars().alias("symbol")
    elif "symbol" in facts:
        sym = pl.Series("symbol", [facts["symbol"]] * count, pl.String)
    elif guess is not None:
        sym = pl.Series("symbol", [_freqtrade_symbol(guess["pair"])] * count, pl.String)
    else:
        raise ImportFileError(f"{file}: no symbol column and none in the file name; pass --symbol")
    frame = frame.with_columns(sym)
    bar = interval
    if bar is None and interval_col is None:
        bar = facts.get("interval") or (guess["tf"] if guess is not None else None)
        bar = bar or _infer_interval(frame["ts"])
        if bar is None:
            raise ImportFileError(
                f"{file}: cannot tell the bar interval (no interval column, fewer than two "
                "bars or irregular gaps); pass --interval"
            )
    if bar is None:
        iv = raw[interval_col].cast(pl.String).str.strip_chars().alias("interval")
    else:
        iv = pl.Series("interval", [bar] * count, pl.String)
    frame = frame.with_columns(iv)
    rejects = Rejects()
    good = _validate(frame, raw, found, rejects)
    table = pa.Table.from_arrays(
        [
            pa.repeat(venue if venue is not None else facts.get("venue", ""), good.height).cast(
                pa.string()
            ),
            *(
                good[c].to_arrow().cast(arrow_schema("prices").field(c).type)
                for c in (
                    "symbol",
                    "interval",
                    "ts",
                    "open",
                    "high",
                    "low",
                    "close",
                    "volume",
                    "trades",
                )
            ),
        ],
        schema=arrow_schema("prices"),
    )
    info = dict(facts)
    info.pop("symbol", None)
    info["venue"] = venue if venue is not None else facts.get("venue", "")
    if table.num_rows:
        info["symbols"] = ",".join(sorted(set(good["symbol"].to_list())))
        info["interval"] = ",".join(sorted(set(good["interval"].to_list())))
    return Parsed("prices", table, rejects, count, 0, info)


def _infer_interval(ts: pl.Series) -> str | None:
    values = ts.drop_nulls().unique().sort()
    if values.len() < 2:
        return None
    gaps = values.diff().drop_nulls()
    common = gaps.mode().min()
    if common is None or int(common) % 1_000_000_000:  # type: ignore[arg-type]
        return None
    return interval_from_seconds(int(common) // 1_000_000_000)  # type: ignore[arg-type]


def _validate(
    frame: pl.DataFrame, raw: pl.DataFrame, found: dict[str, str | None], rejects: Rejects
) -> pl.DataFrame:
    """Drop the bad rows into ``rejects``; return the good ones."""
    o, h, lo, c, v = (pl.col(k) for k in ("open", "high", "low", "close", "volume"))
    finite = pl.all_horizontal(
        [pl.col(k).is_finite().fill_null(False) for k in ("open", "high", "low", "close", "volume")]
    )
    shape_ok = pl.lit(True) if "_shape_ok" not in raw.columns else pl.Series(raw["_shape_ok"])
    ok = (
        shape_ok
        & pl.col("ts").is_not_null()
        & finite
        & (h >= pl.max_horizontal(o, c))
        & (lo <= pl.min_horizontal(o, c))
        & (v >= 0.0)
        & pl.col("symbol").is_not_null()
        & (pl.col("symbol") != "")
        & pl.col("interval").is_not_null()
    )
    marked = frame.with_columns(ok.fill_null(False).alias("_ok"))
    bad = marked.filter(~pl.col("_ok"))
    if bad.height:
        index = (bad["row"] - int(frame["row"][0])).to_list()
        raw_bad = raw[index]
        for k, row in enumerate(bad.iter_rows(named=True)):
            _reject_row(row, raw_bad.row(k, named=True), found, rejects)
    good = marked.filter(pl.col("_ok")).drop("_ok")
    bad_intervals = good.filter(~pl.col("interval").str.contains(r"^[1-9]\d*[smhdwM]$"))
    if bad_intervals.height:
        for row in bad_intervals.iter_rows(named=True):
            rejects.add(row["row"], "interval: not like 1m, 1h or 1d", repr(row["interval"]))
        good = good.filter(pl.col("interval").str.contains(r"^[1-9]\d*[smhdwM]$"))
    return good


def _reject_row(
    row: dict[str, Any], raw: dict[str, Any], found: dict[str, str | None], rejects: Rejects
) -> None:
    n = row["row"]
    if raw.get("_shape_ok") is False:
        rejects.add(n, "row: not [ms, open, high, low, close, volume]", str(raw.get("_raw")))
        return
    if row["ts"] is None:
        rejects.add(n, f"{found['time']}: not a timestamp", repr(raw[found["time"]]))
        return
    for k in ("open", "high", "low", "close", "volume"):
        value = row[k]
        if value is None or not math.isfinite(value):
            shown: object = value
            if value is None:
                shown = raw[found[k]]  # type: ignore[index]
                if shown is None and raw.get("_raw") is not None:
                    shown = f"in row {raw['_raw']}"
            rejects.add(
                n,
                f"{k}: not a finite number",
                shown if isinstance(shown, str) and shown.startswith("in row") else repr(shown),
            )
            return
    if row["symbol"] is None or row["symbol"] == "":
        rejects.add(n, "symbol: missing", "")
        return
    if row["interval"] is None:
        rejects.add(n, "interval: missing", "")
        return
    o, h, lo, c = row["open"], row["high"], row["low"], row["close"]
    if h < max(o, c):
        rejects.add(n, "high: below max(open, close)", f"high {h!r}, open {o!r}, close {c!r}")
    elif lo > min(o, c):
        rejects.add(n, "low: above min(open, close)", f"low {lo!r}, open {o!r}, close {c!r}")
    else:
        rejects.add(n, "volume: negative", repr(row["volume"]))
