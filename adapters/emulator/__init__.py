"""A local exchange emulator: recorded frames over WebSocket, the REST depth snapshot, faults.

Tests and demos point the real feeds at it (``ats emulator``, or in-process)::

    faults = FaultConfig(gap_at=10)
    async with BinanceEmulator(path, venue="binance", faults=faults, fast=True) as emu:
        ...  # connect to emu.ws_url + "/stream?streams=...", GET emu.rest_url + "/api/v3/depth"
        await emu.wait_done()
        emu.stats.gaps  # 1

See :mod:`adapters.emulator.binance` for the endpoints, :mod:`adapters.emulator.server` for
the timing and :mod:`adapters.emulator.faults` for the faults.
"""

from __future__ import annotations

from adapters.emulator.binance import VENUES, BinanceEmulator, BinanceVenue
from adapters.emulator.book import DepthBook
from adapters.emulator.bybit import BYBIT_VENUES, BybitEmulator, BybitVenue
from adapters.emulator.bybit_trading import BybitTrading, BybitTradingConfig, BybitTradingFault
from adapters.emulator.faults import FaultConfig, FaultConfigError
from adapters.emulator.recording import EmulatorRecording, load_recording, stream_key
from adapters.emulator.server import EmulatorError, EmulatorStats, ReplayServer

__all__ = [
    "BYBIT_VENUES",
    "VENUES",
    "BinanceEmulator",
    "BinanceVenue",
    "BybitEmulator",
    "BybitTrading",
    "BybitTradingConfig",
    "BybitTradingFault",
    "BybitVenue",
    "DepthBook",
    "EmulatorError",
    "EmulatorRecording",
    "EmulatorStats",
    "FaultConfig",
    "FaultConfigError",
    "ReplayServer",
    "load_recording",
    "stream_key",
]
