"""Rows → a clean Arrow table of one store table: validation, casting, de-duplication.

Both backends run every insert through :func:`prepare`, so the two accept and
refuse exactly the same input with the same messages.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from engine.store.base import StoreError, WriteMode
from engine.store.schema import TABLES, Table, arrow_schema

__all__ = [
    "MODES",
    "constant_value",
    "prepare",
    "redact",
    "table_spec",
    "to_arrow",
]

MODES: tuple[str, ...] = ("ignore", "upsert", "append")

_INDEX = "__ats_row"
_TEXT_TYPES = (pa.string(), pa.large_string(), pa.string_view(), pa.null())


def table_spec(table: str) -> Table:
    """The schema's table ``table``; StoreError naming the known tables otherwise."""
    spec = TABLES.get(table)
    if spec is None:
        raise StoreError(f"unknown table {table!r}; tables: {', '.join(TABLES)}")
    return spec


def check_mode(spec: Table, mode: str) -> None:
    """Refuse an unknown mode, or ``append`` to a table whose key is enforced."""
    if mode not in MODES:
        raise StoreError(f"mode for {spec.name} must be one of {', '.join(MODES)}, was {mode!r}")
    if mode == "append" and spec.enforce_key:
        raise StoreError(
            f"mode 'append' is only for tables without an enforced key (price_ticks); "
            f"use 'ignore' or 'upsert' for {spec.name}"
        )


def to_arrow(table: str, rows: Any) -> pa.Table:
    """``rows`` (Arrow table or batch, or a list of dicts) as a ``pa.Table``."""
    if isinstance(rows, pa.Table):
        return rows
    if isinstance(rows, pa.RecordBatch):
        return pa.Table.from_batches([rows])
    if isinstance(rows, Sequence) and not isinstance(rows, str | bytes):
        if not rows:
            return arrow_schema(table).empty_table()
        if not all(isinstance(r, Mapping) for r in rows):
            raise StoreError(f"rows for {table} must be dicts, got {type(rows[0]).__name__}")
        names = {name for r in rows for name in r}
        known = set(TABLES[table].column_names)
        unknown = sorted(names - known)
        if unknown:
            raise StoreError(f"unknown column(s) {', '.join(unknown)} for table {table}")
        columns = {}
        for field in arrow_schema(table):
            if field.name not in names:
                continue
            values = [r.get(field.name) for r in rows]
            try:
                columns[field.name] = pa.array(values, type=field.type)
            except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError) as e:
                raise StoreError(
                    f"{table}.{field.name}: cannot store {_sample(values)} as {field.type} ({e})"
                ) from None
        return pa.table(columns)
    raise StoreError(
        f"rows for {table} must be a pyarrow Table or RecordBatch or a list of dicts, "
        f"got {type(rows).__name__}"
    )


def _sample(values: list[Any]) -> str:
    for v in values:
        if v is not None:
            return f"{type(v).__name__} values such as {v!r:.40}"
    return "NULL values"


def _is_text_dictionary(t: pa.DataType) -> bool:
    return pa.types.is_dictionary(t) and t.value_type in (pa.string(), pa.large_string())


def prepare(table: str, rows: Any, mode: WriteMode, *, keep_dictionary: bool = True) -> pa.Table:
    """Validate ``rows`` for ``table`` and return them in the table's column order and types.

    Missing nullable columns become NULL; every other column is cast (safely)
    to the table's type. With ``mode`` "ignore" or "upsert", rows repeating a
    key are reduced to one: the first ("ignore") or the last ("upsert").
    Dictionary-encoded text columns are kept as they are when
    ``keep_dictionary`` (DuckDB reads them directly), else decoded.

    Raises
    ------
    StoreError
        Unknown table, mode or column; a NOT NULL column missing or holding
        NULLs; a column that cannot be cast. The message names the table and
        the column.
    """
    spec = table_spec(table)
    check_mode(spec, mode)
    data = to_arrow(table, rows)
    unknown = [n for n in data.column_names if n not in spec.column_names]
    if unknown:
        raise StoreError(
            f"unknown column(s) {', '.join(unknown)} for table {table} "
            f"(columns: {', '.join(spec.column_names)})"
        )
    n = data.num_rows
    schema = arrow_schema(table)
    columns: list[pa.ChunkedArray | pa.Array] = []
    for field, col in zip(schema, spec.columns, strict=True):
        if col.name not in data.column_names:
            if not col.nullable:
                raise StoreError(f"{table}.{col.name}: missing column (NOT NULL)")
            columns.append(pa.nulls(n, field.type))
            continue
        arr = data.column(col.name)
        if arr.type != field.type:
            if field.type == pa.string() and _is_text_dictionary(arr.type) and keep_dictionary:
                pass
            elif field.type == pa.string() and not (
                arr.type in _TEXT_TYPES or _is_text_dictionary(arr.type)
            ):
                raise StoreError(
                    f"{table}.{col.name}: expected text, got {arr.type} "
                    f"(convert the values to str first)"
                )
            else:
                try:
                    arr = pc.cast(arr, field.type, safe=True)
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as e:
                    raise StoreError(
                        f"{table}.{col.name}: cannot cast {arr.type} to {field.type} ({e})"
                    ) from None
        if not col.nullable and arr.null_count:
            raise StoreError(
                f"{table}.{col.name}: {arr.null_count} NULL value(s) in a NOT NULL column"
            )
        columns.append(arr)
    out = pa.Table.from_arrays(columns, names=list(spec.column_names))
    if mode != "append" and n > 1:
        out = _dedupe(out, spec.key, keep_last=mode == "upsert")
    return out


def _dedupe(data: pa.Table, key: tuple[str, ...], *, keep_last: bool) -> pa.Table:
    n = data.num_rows
    indexed = pa.table({**{k: data.column(k) for k in key}, _INDEX: np.arange(n)})
    agg = "max" if keep_last else "min"
    grouped = indexed.group_by(list(key), use_threads=False).aggregate([(_INDEX, agg)])
    if grouped.num_rows == n:
        return data
    keep = np.sort(grouped.column(f"{_INDEX}_{agg}").to_numpy())
    return data.take(keep)


def constant_value(col: pa.ChunkedArray | pa.Array) -> str | None:
    """The value of a text column that is one dictionary entry throughout, else None.

    The tick writer sends ``venue`` and ``symbol`` this way; DuckDB then
    inserts them as a bound constant instead of reading a string per row.
    """
    chunks = col.chunks if isinstance(col, pa.ChunkedArray) else [col]
    if not chunks or not _is_text_dictionary(col.type) or col.null_count:
        return None
    value: str | None = None
    for chunk in chunks:
        if len(chunk) == 0:
            continue
        d = chunk.dictionary
        if len(d) != 1:
            return None
        v = d[0].as_py()
        if value is not None and v != value:
            return None
        value = v
    return value


_PASSWORD_IN_URL = re.compile(r"(://[^:/@\s]*):[^@/\s]*@")
_PASSWORD_PARAM = re.compile(r"(password=)[^&\s]*", re.IGNORECASE)


def redact(text: str, secrets: tuple[str, ...] = ()) -> str:
    """``text`` with URL passwords, ``password=`` parameters and ``secrets`` removed."""
    text = _PASSWORD_IN_URL.sub(r"\1@", text)
    text = _PASSWORD_PARAM.sub(r"\1***", text)
    for s in secrets:
        if s:
            text = text.replace(s, "***")
    return text
