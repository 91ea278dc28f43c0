"""Errors of the Bybit adapter; each message names the venue setting, symbol or value involved."""

from __future__ import annotations

__all__ = ["BybitError", "FeedConfigError", "UnknownSymbolError"]


class BybitError(Exception):
    """Base of the Bybit adapter's errors."""


class FeedConfigError(BybitError, ValueError):
    """A feed setting that cannot work (bad symbol, category or book depth)."""


class UnknownSymbolError(BybitError, KeyError):
    """A symbol the venue or our instrument list does not know."""

    def __str__(self) -> str:  # KeyError quotes its argument; keep the message plain
        return str(self.args[0]) if self.args else "unknown symbol"
