"""Column helpers over polars: find a column by its aliases, turn text or numbers into ns."""

from __future__ import annotations

import polars as pl

from engine.store.importers._common import epoch_unit_factor, text_to_ns

__all__ = ["find_column", "time_column_ns", "to_float"]


def find_column(columns: list[str], aliases: tuple[str, ...]) -> str | None:
    """The first of ``columns`` whose name, in lower case and stripped, is one of ``aliases``."""
    normal = {c.strip().lower(): c for c in reversed(columns)}
    for alias in aliases:
        found = normal.get(alias)
        if found is not None:
            return found
    return None


def to_float(series: pl.Series) -> pl.Series:
    """Float64 values; text that is not a number becomes null (the caller rejects the row)."""
    if series.dtype == pl.String:
        return series.str.strip_chars().cast(pl.Float64, strict=False)
    if series.dtype == pl.Boolean:
        return pl.Series(series.name, [None] * len(series), pl.Float64)
    return series.cast(pl.Float64, strict=False)


def time_column_ns(series: pl.Series) -> pl.Series:
    """Epoch ns (Int64) of a time column; null where a value is not a timestamp.

    Datetime columns (a naive one is UTC) and dates convert exactly. Numbers
    are epoch s, ms, us or ns, the unit told from the column's largest value
    (:func:`~engine.store.importers._common.epoch_unit_factor`), so one column
    has one unit; eight-digit integers from 19000101 to 21001231 are dates
    ``YYYYMMDD``. Text is parsed as numbers where it is numeric, else as
    ISO-8601 (:func:`~engine.store.importers._common.text_to_ns`).
    """
    name = series.name
    dtype = series.dtype
    if isinstance(dtype, pl.Datetime):
        if dtype.time_zone is not None:
            series = series.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
        return series.dt.cast_time_unit("ns").cast(pl.Int64).alias(name)
    if dtype == pl.Date:
        return (series.cast(pl.Int64) * 86_400_000_000_000).alias(name)
    if dtype.is_numeric():
        return _numbers_ns(series)
    if dtype != pl.String:
        return pl.Series(name, [None] * len(series), pl.Int64)
    text = series.str.strip_chars()
    as_int = text.cast(pl.Int64, strict=False)
    as_float = text.cast(pl.Float64, strict=False)
    numeric = as_float.is_not_null()
    if bool(numeric.all()):
        if bool(as_int.is_not_null().all()):
            return _numbers_ns(as_int.alias(name))
        return _numbers_ns(as_float.alias(name))
    # text dates (maybe some numbers among them): one value at a time
    values = [None if t is None else text_to_ns(t) for t in text.to_list()]
    return pl.Series(name, values, pl.Int64)


def _numbers_ns(series: pl.Series) -> pl.Series:
    name = series.name
    finite = series.filter(series.is_not_null())
    if series.dtype.is_float():
        finite = finite.filter(finite.is_finite())
    if finite.is_empty():
        return pl.Series(name, [None] * len(series), pl.Int64)
    largest = float(finite.abs().max())  # type: ignore[arg-type]
    smallest = float(finite.min())  # type: ignore[arg-type]
    integral = series.dtype.is_integer() or bool((finite == finite.round(0)).all())
    if integral and 19_000_101 <= smallest and largest <= 21_001_231:
        text = series.cast(pl.Int64).cast(pl.String)
        return (
            text.str.to_date("%Y%m%d", strict=False)
            .cast(pl.Int64)
            .mul(86_400_000_000_000)
            .alias(name)
        )
    factor = epoch_unit_factor(largest)
    if series.dtype.is_integer():
        return (series.cast(pl.Int64) * factor).alias(name)
    value = pl.col(name)
    return (
        pl.DataFrame({name: series.cast(pl.Float64)})
        .select(
            pl.when(value.is_finite() & (value.abs() < 9.2e18 / factor))
            .then((value * float(factor)).round(0))
            .otherwise(None)
            .cast(pl.Int64)
        )
        .to_series()
    )
