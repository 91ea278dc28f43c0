"""Binance adapters: market-data decoder (spot, USD-M, COIN-M) and the live WebSocket feed."""

from __future__ import annotations

from adapters.binance.decoder import (
    BinanceMarketDataDecoder,
    DecoderStats,
    SpotMarketDataDecoder,
    detect_market,
)

__all__ = ["BinanceMarketDataDecoder", "DecoderStats", "SpotMarketDataDecoder", "detect_market"]
