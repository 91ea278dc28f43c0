"""Simulated venue for paper trading and backtests."""

from __future__ import annotations

from adapters.paper.venue import SimulatedVenue

__all__ = ["SimulatedVenue"]
