"""Binance adapters (spot market data for now)."""

from __future__ import annotations

from adapters.binance.decoder import DecoderStats, SpotMarketDataDecoder

__all__ = ["DecoderStats", "SpotMarketDataDecoder"]
