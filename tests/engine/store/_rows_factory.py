"""Typed sample rows for any store table, with the awkward values each type allows."""

from __future__ import annotations

import math
from typing import Any

import pyarrow as pa

from engine.store.schema import TABLES, arrow_schema

__all__ = ["normalise", "sample_rows", "sample_table"]

_TEXT = ["plain", "", "quote ' and \" , comma\nnew line", "ünïcödé €", "\\N"]
_I64 = [0, 2**62, -(2**62) + 5, 1_723_161_257_000_000_000, -1]
_I32 = [0, 2**31 - 1, -(2**31)]
_I8 = [1, -1, 127, -128]
_F64 = [0.1, -1e300, 5e-324, 1 / 3, math.inf, math.nan, -0.5]
_BOOL = [True, False]


def sample_rows(table: str, n: int, start: int = 0) -> list[dict[str, Any]]:
    """``n`` rows of ``table`` with distinct keys ``start .. start + n - 1``."""
    spec = TABLES[table]
    rows = []
    for i in range(start, start + n):
        row: dict[str, Any] = {}
        for j, col in enumerate(spec.columns):
            k = i + j
            if col.name in spec.key:
                value: Any = f"{col.name}-{i}" if col.type == "text" else i
            elif col.nullable and k % 3 == 2:
                value = None
            elif col.type == "text":
                value = _TEXT[k % len(_TEXT)]
            elif col.type == "i64":
                value = _I64[k % len(_I64)]
            elif col.type == "i32":
                value = _I32[k % len(_I32)]
            elif col.type == "i8":
                value = _I8[k % len(_I8)]
            elif col.type == "f64":
                value = _F64[k % len(_F64)]
            else:
                value = _BOOL[k % 2]
            row[col.name] = value
        rows.append(row)
    return rows


def sample_table(table: str, n: int, start: int = 0) -> pa.Table:
    """:func:`sample_rows` as an Arrow table of the table's schema."""
    return pa.Table.from_pylist(sample_rows(table, n, start), schema=arrow_schema(table))


def normalise(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows comparable with ``==``: NaN as a marker (NaN != NaN), keys sorted."""
    return [
        {k: ("NaN" if isinstance(v, float) and math.isnan(v) else v) for k, v in sorted(r.items())}
        for r in rows
    ]
