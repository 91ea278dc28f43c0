"""Helpers of the broker tests: orders, a collecting sink, an emulator with a connected broker.

Every test runs the real ccxt client (through :class:`adapters.binance.broker.BinanceBroker`)
against :class:`adapters.emulator.BinanceEmulator` on 127.0.0.1, with the emulator's
credentials in an explicit environment mapping (never ``os.environ``). What the Bybit
tests use too is in :mod:`tests.adapters.broker_support`.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import AsyncIterator
from typing import Any

from adapters.binance.broker import BinanceBroker
from adapters.binance.config import BrokerConfig, UserStreamConfig
from adapters.emulator import BinanceEmulator, EmulatorRecording
from adapters.emulator.binance_trading import BinanceTradingConfig, ExchangeInfo
from tests.adapters.broker_support import (
    DATA,
    SPOT,
    SPOT_SYMBOL,
    TIMEOUT_S,
    USDM,
    Sink,
    broker_settings,
    venue_order,
)
from tests.adapters.broker_support import LINEAR_SYMBOL as USDM_SYMBOL

__all__ = [
    "API_KEY",
    "CCXT_RESPONSES",
    "DATA",
    "ENV",
    "SECRET",
    "SPOT",
    "SPOT_INFO",
    "SPOT_SYMBOL",
    "TIMEOUT_S",
    "USDM",
    "USDM_INFO",
    "USDM_SYMBOL",
    "Sink",
    "order",
    "trading_config",
    "venue",
]

SPOT_INFO = DATA / "cryptofeed" / "BINANCE.0.gz"
USDM_INFO = DATA / "cryptofeed" / "BINANCE_FUTURES.0.gz"
CCXT_RESPONSES = DATA / "ccxt" / "binance_rest_responses_subset.json"

API_KEY = "emu-key-5f0c2a9e41d7"
SECRET = "emu-secret-b81d2f60c3e94a7d"
ENV = {"BINANCE_API_KEY": API_KEY, "BINANCE_SECRET_KEY": SECRET}

#: An engine order for Binance, as the strategies make them.
order = functools.partial(venue_order, "binance")


def trading_config(**overrides: Any) -> BinanceTradingConfig:
    """The emulated account with the test credentials."""
    return BinanceTradingConfig(**{"api_key": API_KEY, "secret_key": SECRET, **overrides})


@contextlib.asynccontextmanager
async def venue(
    recording: EmulatorRecording,
    info: ExchangeInfo,
    *,
    usdm: bool = False,
    trading: BinanceTradingConfig | None = None,
    env: dict[str, str] | None = None,
    fast: bool = True,
    **broker: Any,
) -> AsyncIterator[tuple[BinanceEmulator, BinanceBroker]]:
    """An emulator (spot or USD-M) and a connected broker pointed at it; both closed after."""
    emulator = BinanceEmulator(
        recording,
        venue="binance-usdm" if usdm else "binance",
        fast=fast,
        trading=trading if trading is not None else trading_config(),
        exchange_info=info,
    )
    async with emulator as emu:
        settings = broker_settings(
            emu.rest_url,
            emu.ws_url,
            USDM_SYMBOL if usdm else SPOT_SYMBOL,
            UserStreamConfig(poll_interval_s=0.05, reconnect_base_s=0.02),
            **{"market": "usdm" if usdm else "spot", **broker},
        )
        async with BinanceBroker(BrokerConfig(**settings), env=ENV if env is None else env) as b:
            yield emu, b
