"""Helpers of the Bybit broker tests: orders, a collecting sink, an emulator with a broker.

Every test runs the real ccxt ``bybit`` client (through
:class:`adapters.bybit.broker.BybitBroker`) against
:class:`adapters.emulator.BybitEmulator` on 127.0.0.1, with the emulator's
credentials in an explicit environment mapping (never ``os.environ``). What the
Binance tests use too is in :mod:`tests.adapters.broker_support`.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import hmac
from collections.abc import AsyncIterator
from typing import Any

from adapters.bybit.broker import BybitBroker
from adapters.bybit.config import BrokerConfig, UserStreamConfig
from adapters.emulator import BybitEmulator, EmulatorRecording
from adapters.emulator.bybit_trading import BybitTradingConfig, InstrumentsInfo
from tests.adapters.broker_support import (
    DATA,
    LINEAR_SYMBOL,
    SPOT,
    SPOT_SYMBOL,
    TIMEOUT_S,
    USDM,
    Sink,
    broker_settings,
    venue_order,
    walk,
)

__all__ = [
    "API_KEY",
    "CCXT_RESPONSES",
    "DATA",
    "ENV",
    "INSTRUMENTS",
    "LINEAR_SYMBOL",
    "SECRET",
    "SPOT",
    "SPOT_SYMBOL",
    "TIMEOUT_S",
    "USDM",
    "Sink",
    "order",
    "sign",
    "trading_config",
    "venue",
    "walk",
]

INSTRUMENTS = DATA / "ccxt" / "bybit_instruments_info.json"
CCXT_RESPONSES = DATA / "ccxt" / "bybit_rest_responses_subset.json"

API_KEY = "bybit-emu-key-7c1e94d2"
SECRET = "bybit-emu-secret-3a9f0b6e51d8"
ENV = {"BYBIT_API_KEY": API_KEY, "BYBIT_SECRET_KEY": SECRET}

#: An engine order for Bybit, as the strategies make them.
order = functools.partial(venue_order, "bybit")


def trading_config(**overrides: Any) -> BybitTradingConfig:
    """The emulated account with the test credentials."""
    return BybitTradingConfig(**{"api_key": API_KEY, "secret_key": SECRET, **overrides})


def sign(secret: str, timestamp: str, key: str, window: str, payload: str) -> str:
    """Bybit's v5 signature, from its docs: HMAC-SHA256(ts + key + recvWindow + payload)."""
    text = timestamp + key + window + payload
    return hmac.new(secret.encode(), text.encode(), hashlib.sha256).hexdigest()


@contextlib.asynccontextmanager
async def venue(
    recording: EmulatorRecording,
    instruments: InstrumentsInfo,
    *,
    linear: bool = False,
    trading: BybitTradingConfig | None = None,
    env: dict[str, str] | None = None,
    **broker: Any,
) -> AsyncIterator[tuple[BybitEmulator, BybitBroker]]:
    """An emulator (spot or linear) and a connected broker pointed at it; both closed after."""
    emulator = BybitEmulator(
        recording,
        venue="bybit-linear" if linear else "bybit-spot",
        fast=True,
        trading=trading if trading is not None else trading_config(),
        instruments=instruments,
    )
    async with emulator as emu:
        settings = broker_settings(
            emu.rest_url,
            emu.ws_url,
            LINEAR_SYMBOL if linear else SPOT_SYMBOL,
            UserStreamConfig(poll_interval_s=0.05, reconnect_base_s=0.02),
            **{"category": "linear" if linear else "spot", **broker},
        )
        async with BybitBroker(BrokerConfig(**settings), env=ENV if env is None else env) as b:
            yield emu, b
