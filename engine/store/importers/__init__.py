"""Importers: files → Arrow rows of the store's tables, with the rows they reject and why."""

from __future__ import annotations

from engine.store.importers._common import ImportFileError, Parsed, Reject, Rejects
from engine.store.importers.ohlcv import read_ohlcv
from engine.store.importers.records import RECORD_KINDS, read_records
from engine.store.importers.ticks import TICK_VENUES, SymbolMap, read_ticks

__all__ = [
    "RECORD_KINDS",
    "TICK_VENUES",
    "ImportFileError",
    "Parsed",
    "Reject",
    "Rejects",
    "SymbolMap",
    "read_ohlcv",
    "read_records",
    "read_ticks",
]
