"""News, macro events and energy records from CSV or JSON → ``news``, ``macro_events``,
``energy_records`` rows.

JSON is an array of objects, an object holding such an array (under
``data``, ``items``, ``results``, ``articles``, ``events``, ``response.data``
— EIA's API answer), or JSON lines (one object per line). CSV has a header.
Field names match in any case, with the aliases below (first match wins).

Ids: ``news.id`` and ``macro_events.id`` are the source's id column when
there is one, else :func:`~engine.store.importers._common.stable_id` of
``source, ts, headline`` (news) or ``country, event, ts`` (macro), with
``ts`` as its integer nanoseconds: re-importing a file gives the same ids, so
nothing is inserted twice. ``energy_records`` is keyed by
``(series_id, ts)``.

Values: timestamps as in :func:`~engine.store.importers._common.text_to_ns`
(EIA periods ``2024``, ``2024-08``, ``2024-08-05`` included); numbers may
carry a ``%`` or a ``K``/``M``/``B``/``T`` suffix (``"250K"`` → 250000.0,
``"3.2%"`` → 3.2), as economic calendars print them; ``importance`` is 1..3
or ``low``/``medium``/``high``; ``symbols`` may be a list (joined with
commas); ``sentiment`` must be within -1..1. A row missing a required field
(``ts``, ``source`` and ``headline`` for news; ``ts``, ``country`` and
``event`` for macro; ``series_id``, ``ts`` and ``value`` for energy), or
with a value that does not parse, is rejected with the field and value.
"""

from __future__ import annotations

import csv
import gzip
import io
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import pyarrow as pa

from engine.store.importers._common import (
    ImportFileError,
    Parsed,
    Rejects,
    stable_id,
    value_to_ns,
)
from engine.store.schema import arrow_schema

__all__ = ["RECORD_KINDS", "read_records"]


class _BadValueError(ValueError):
    """A field value that does not parse; ``code`` names the problem, ``args[0]`` the value."""

    def __init__(self, code: str, value: object) -> None:
        super().__init__(repr(value))
        self.code = code


def _text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, list):
        return ",".join(str(v).strip() for v in value if str(v).strip()) or None
    text = str(value).strip()
    return text or None


_SUFFIX = {"K": 1e3, "M": 1e6, "B": 1e9, "T": 1e12}


def _number(value: object) -> float | None:
    if value is None or isinstance(value, bool):
        if isinstance(value, bool):
            raise _BadValueError("not a number", value)
        return None
    if isinstance(value, int | float):
        result = float(value)
    else:
        text = str(value).strip().replace(",", "")
        if not text or text in ("-", "—", "N/A", "n/a", "null", "None"):
            return None
        scale = 1.0
        if text.endswith("%"):
            text = text[:-1]
        elif text[-1:].upper() in _SUFFIX:
            scale = _SUFFIX[text[-1].upper()]
            text = text[:-1]
        try:
            result = float(text) * scale
        except ValueError:
            raise _BadValueError("not a number", value) from None
    if not math.isfinite(result):
        raise _BadValueError("not a finite number", value)
    return result


def _timestamp(value: object) -> int | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    ns = value_to_ns(value)
    if ns is None:
        raise _BadValueError("not a timestamp", value)
    return ns


def _sentiment(value: object) -> float | None:
    number = _number(value)
    if number is not None and not -1.0 <= number <= 1.0:
        raise _BadValueError("outside -1..1", value)
    return number


_IMPORTANCE = {"low": 1, "medium": 2, "moderate": 2, "high": 3}


def _importance(value: object) -> int | None:
    text = _text(value)
    if text is None:
        return None
    word = _IMPORTANCE.get(text.lower())
    if word is not None:
        return word
    try:
        level = int(float(text))
    except ValueError:
        raise _BadValueError("not 1..3 or low/medium/high", value) from None
    if not 1 <= level <= 3:
        raise _BadValueError("not 1..3 or low/medium/high", value)
    return level


# column -> (aliases, converter, required)
_Spec = dict[str, tuple[tuple[str, ...], Callable[[object], Any], bool]]

_TS = ("ts", "time", "timestamp", "datetime", "date")
_SPECS: dict[str, _Spec] = {
    "news": {
        "id": (("id", "news_id", "guid", "uuid", "article_id"), _text, False),
        "ts": ((*_TS, "published_at", "publishedat", "published", "pubdate"), _timestamp, True),
        "source": (("source", "provider", "publisher", "feed", "site"), _text, True),
        "headline": (("headline", "title"), _text, True),
        "body": (("body", "summary", "content", "text", "description"), _text, False),
        "symbols": (("symbols", "tickers", "symbol", "ticker", "assets", "related"), _text, False),
        "sentiment": (("sentiment", "sentiment_score", "score"), _sentiment, False),
        "url": (("url", "link"), _text, False),
    },
    "macro_events": {
        "id": (("id", "event_id"), _text, False),
        "ts": ((*_TS, "release_time", "released_at", "release_date"), _timestamp, True),
        "country": (("country", "country_code", "region", "zone"), _text, True),
        "event": (("event", "name", "indicator", "title"), _text, True),
        "actual": (("actual", "value"), _number, False),
        "forecast": (("forecast", "consensus", "expected", "estimate"), _number, False),
        "previous": (("previous", "prior", "prev"), _number, False),
        "unit": (("unit", "units"), _text, False),
        "importance": (("importance", "impact", "priority"), _importance, False),
        "source": (("source", "provider"), _text, False),
    },
    "energy_records": {
        "series_id": (("series_id", "series", "seriesid", "id"), _text, True),
        "ts": ((*_TS, "period"), _timestamp, True),
        "value": (("value", "val"), _number, True),
        "unit": (("unit", "units"), _text, False),
        "region": (("region", "area", "area-name", "duoarea", "country"), _text, False),
        "commodity": (("commodity", "product", "product-name"), _text, False),
        "source": (("source", "provider"), _text, False),
    },
}

#: ``--kind`` → table.
RECORD_KINDS = {"news": "news", "macro": "macro_events", "energy": "energy_records"}
_ID_FIELDS = {"news": ("source", "ts", "headline"), "macro_events": ("country", "event", "ts")}
_CONTAINERS = ("data", "items", "results", "articles", "events", "records", "response")


def read_records(path: str | os.PathLike[str], kind: str) -> Parsed:
    """Read news (``kind="news"``), macro events (``"macro"``) or energy records (``"energy"``).

    Examples
    --------
    >>> parsed = read_records("tests/data/importers/news.json", "news")
    >>> parsed.table, parsed.rejects.count
    ('news', 0)
    """
    table = RECORD_KINDS.get(kind)
    if table is None:
        raise ImportFileError(f"kind must be one of {', '.join(RECORD_KINDS)}, was {kind!r}")
    file = Path(path)
    if not file.is_file():
        raise ImportFileError(f"file not found: {file}")
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise ImportFileError(f"cannot read {file}: {exc.strerror or exc}") from None
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    rejects = Rejects()
    head = data.lstrip()[:1]
    if head in (b"[", b"{"):
        objects, fmt = _json_objects(file, data, rejects)
    else:
        objects, fmt = _csv_objects(data), "csv"
    spec = _SPECS[table]
    schema = arrow_schema(table)
    columns: dict[str, list[Any]] = {name: [] for name in schema.names}
    read = 0
    for row_number, obj in objects:
        read += 1
        if obj is None:
            continue  # rejected while reading (not an object)
        row = _convert(obj, spec, row_number, rejects)
        if row is None:
            continue
        if table in _ID_FIELDS and row.get("id") is None:
            row["id"] = stable_id(*(row[f] for f in _ID_FIELDS[table]))
        for name in schema.names:
            columns[name].append(row.get(name))
    rows = pa.Table.from_pydict(columns, schema=schema)
    return Parsed(table, rows, rejects, read, 0, {"format": fmt})


def _json_objects(
    file: Path, data: bytes, rejects: Rejects
) -> tuple[list[tuple[int, dict[str, Any] | None]], str]:
    try:
        whole = msgspec.json.decode(data)
    except msgspec.DecodeError:
        whole = None
        lines = data.splitlines()
        out: list[tuple[int, dict[str, Any] | None]] = []
        for n, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                obj = msgspec.json.decode(line)
            except msgspec.DecodeError as exc:
                rejects.add(n, "line: not valid JSON", f"{exc}; line {line[:60]!r}")
                out.append((n, None))
                continue
            out.append((n, _object_or_reject(n, obj, rejects)))
        if len(lines) <= 1 and not any(o is not None for _, o in out):
            raise ImportFileError(f"{file}: not JSON (an array, an object or JSON lines)") from None
        return out, "jsonl"
    items = whole
    if isinstance(items, dict):
        items = _unwrap(items)
    if not isinstance(items, list):
        raise ImportFileError(f"{file}: expected a JSON array of objects")
    return [(n, _object_or_reject(n, obj, rejects)) for n, obj in enumerate(items, 1)], "json"


def _unwrap(obj: dict[str, Any]) -> Any:
    for key in _CONTAINERS:
        inner = obj.get(key)
        if isinstance(inner, list):
            return inner
        if isinstance(inner, dict):
            found = _unwrap(inner)
            if isinstance(found, list):
                return found
    return [obj]


def _object_or_reject(n: int, obj: object, rejects: Rejects) -> dict[str, Any] | None:
    if isinstance(obj, dict):
        return obj
    rejects.add(n, "row: not an object", repr(obj)[:60])
    return None


def _csv_objects(data: bytes) -> list[tuple[int, dict[str, Any] | None]]:
    text = data.decode("utf-8-sig", errors="replace")
    first = text.split("\n", 1)[0]
    delimiter = ";" if first.count(";") > first.count(",") else ","
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
    out: list[tuple[int, dict[str, Any] | None]] = []
    for obj in reader:
        out.append((reader.line_num, {k: v for k, v in obj.items() if k is not None}))
    return out


def _convert(
    obj: dict[str, Any], spec: _Spec, row_number: int, rejects: Rejects
) -> dict[str, Any] | None:
    normal: dict[str, Any] = {}
    for key, value in obj.items():
        normal.setdefault(str(key).strip().lower(), value)
    row: dict[str, Any] = {}
    for column, (aliases, convert, required) in spec.items():
        key = next((a for a in aliases if a in normal and normal[a] not in (None, "")), None)
        if key is None:
            if required:
                rejects.add(row_number, f"{aliases[0]}: missing", "")
                return None
            row[column] = None
            continue
        try:
            value = convert(normal[key])
        except _BadValueError as bad:
            rejects.add(row_number, f"{key}: {bad.code}", str(bad))
            return None
        if value is None and required:
            rejects.add(row_number, f"{key}: missing", repr(normal[key]))
            return None
        row[column] = value
    return row
