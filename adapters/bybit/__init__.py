"""Bybit v5 adapters: the public market-data decoder (spot, linear)."""

from __future__ import annotations

from adapters.bybit.decoder import BybitDecoderStats, BybitMarketDataDecoder

__all__ = ["BybitDecoderStats", "BybitMarketDataDecoder"]
