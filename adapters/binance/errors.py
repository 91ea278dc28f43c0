"""Errors of the Binance adapter; each message names the venue, symbol or URL involved."""

from __future__ import annotations

__all__ = ["BinanceError", "FeedConfigError", "SnapshotError", "UnknownSymbolError"]


class BinanceError(Exception):
    """Base of the Binance adapter's errors."""


class FeedConfigError(BinanceError, ValueError):
    """A feed setting that cannot work (bad URL, no symbols, unknown market)."""


class UnknownSymbolError(BinanceError, KeyError):
    """A symbol the venue or our instrument list does not know."""

    def __str__(self) -> str:  # KeyError quotes its argument; keep the message plain
        return str(self.args[0]) if self.args else "unknown symbol"


class SnapshotError(BinanceError):
    """The REST depth snapshot could not be fetched or was refused (HTTP status, venue code)."""
