"""What every importer shares: the result type, the reject collector and timestamp parsing."""

from __future__ import annotations

import hashlib
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import pyarrow as pa

from engine.store.schema import arrow_schema

__all__ = [
    "MAX_REJECT_SAMPLES",
    "ImportFileError",
    "Parsed",
    "Reject",
    "Rejects",
    "epoch_unit_factor",
    "number_to_ns",
    "stable_id",
    "text_to_ns",
    "value_to_ns",
]

#: Rejects kept with their row number and full reason (all are counted, by reason).
MAX_REJECT_SAMPLES = 1000

_NS = {"s": 1_000_000_000, "ms": 1_000_000, "us": 1_000, "ns": 1}


class ImportFileError(ValueError):
    """A file that cannot be imported at all; the message names the path and the cause."""


@dataclass(frozen=True, slots=True)
class Reject:
    """One rejected row: where it is (1-based line or element) and why."""

    row: int
    #: The kind of problem, without the value (``"price: not a positive number"``): counted.
    code: str
    #: The full reason, naming the field and the value.
    reason: str


@dataclass(slots=True)
class Rejects:
    """Collects rejects: counts every one by :attr:`Reject.code`, keeps the first few in full."""

    limit: int = MAX_REJECT_SAMPLES
    samples: list[Reject] = field(default_factory=list)
    by_code: Counter[str] = field(default_factory=Counter)
    count: int = 0

    def add(self, row: int, code: str, detail: str) -> None:
        """Record that ``row`` was rejected: ``code`` names the field, ``detail`` the value."""
        self.count += 1
        self.by_code[code] += 1
        if len(self.samples) < self.limit:
            self.samples.append(Reject(row, code, f"{code}: {detail}" if detail else code))


@dataclass(slots=True)
class Parsed:
    """A parsed file: the rows for ``table`` (its Arrow schema) and what was left out.

    ``read`` counts the data rows (or recording lines) looked at, ``skipped``
    those that are valid but not for this table (a depth update in a tick
    recording, a control line), ``rejects`` the malformed ones;
    ``read == len(rows) + skipped + rejects.count`` (a tick frame with
    several trades counts once in ``read`` and once per trade in ``rows``,
    so for ticks the identity holds per frame, not per row).
    """

    table: str
    rows: pa.Table
    rejects: Rejects
    read: int
    skipped: int = 0
    #: Facts found in the data: venue, symbols, interval, source format.
    info: dict[str, str] = field(default_factory=dict)


def empty_table(table: str) -> pa.Table:
    """An empty table with ``table``'s schema."""
    return arrow_schema(table).empty_table()


def epoch_unit_factor(magnitude: float) -> int:
    """Nanoseconds per unit of an epoch number of this size (s, ms, us or ns).

    Thresholds: below 1e11 it is seconds (1e11 s is the year 5138), below
    1e14 milliseconds, below 1e17 microseconds, else nanoseconds; so epoch
    times from 1973 to 5138 are read right in each unit.
    """
    m = abs(magnitude)
    if m < 1e11:
        return _NS["s"]
    if m < 1e14:
        return _NS["ms"]
    if m < 1e17:
        return _NS["us"]
    return _NS["ns"]


def number_to_ns(value: float | int) -> int | None:
    """An epoch number in s, ms, us or ns (told apart by size) → int ns, None if not finite."""
    if isinstance(value, int):
        return value * epoch_unit_factor(value)
    if not math.isfinite(value):
        return None
    return round(value * epoch_unit_factor(value))


_FRACTION = re.compile(r"\.(\d{7,9})")
_NUMBER = re.compile(r"[+-]?\d+(\.\d*)?([eE][+-]?\d+)?")
_YEAR_MONTH = re.compile(r"(\d{4})-(\d{2})")


def text_to_ns(text: str) -> int | None:
    """Epoch number, ISO-8601 (naive means UTC; up to 9 fractional digits), ``YYYY``,
    ``YYYY-MM``, ``YYYYMMDD HH:MM`` or an RFC 2822 date (RSS feeds) → int ns, else None."""
    s = text.strip()
    if not s:
        return None
    if _NUMBER.fullmatch(s):
        if len(s) == 4 and s.isdigit():  # a year (EIA annual periods), not an epoch time
            return _dt_ns(datetime(int(s), 1, 1, tzinfo=UTC))
        if "." in s or "e" in s or "E" in s:
            return number_to_ns(float(s))
        return number_to_ns(int(s))
    extra_ns = 0
    frac = _FRACTION.search(s)
    if frac is not None:  # datetime keeps microseconds; the rest is added here
        digits = frac.group(1).ljust(9, "0")
        extra_ns = int(digits[6:])
        s = s[: frac.start()] + "." + digits[:6] + s[frac.end() :]
    try:
        parsed = datetime.fromisoformat(s)
    except ValueError:
        month = _YEAR_MONTH.fullmatch(s)
        if month is not None:
            try:
                return _dt_ns(datetime(int(month[1]), int(month[2]), 1, tzinfo=UTC))
            except ValueError:
                return None
        try:
            parsed = parsedate_to_datetime(s)
        except (TypeError, ValueError, IndexError):
            return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return _dt_ns(parsed) + extra_ns


def _dt_ns(moment: datetime) -> int:
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1_000


def value_to_ns(value: object) -> int | None:
    """A timestamp from JSON or CSV (number, numeric string or date text) → int ns, else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return number_to_ns(value)
    if isinstance(value, str):
        return text_to_ns(value)
    return None


def stable_id(*fields: object) -> str:
    """The first 16 hex digits of the SHA-1 of the fields joined by ``\\x1f`` (unit separator).

    Used as the id of a news item or macro event whose source has none:
    the same fields give the same id in every run and on every machine, so
    importing a file twice inserts it once.
    """
    joined = "\x1f".join("" if f is None else str(f) for f in fields)
    return hashlib.sha1(joined.encode("utf-8")).hexdigest()[:16]
