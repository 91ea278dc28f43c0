"""Fixtures of the broker tests: the recordings and the exchange information, read once."""

from __future__ import annotations

import pytest

from adapters.emulator.binance_trading import ExchangeInfo
from tests.adapters.binance_broker._support import SPOT_INFO, USDM_INFO
from tests.adapters.broker_support import spot_recording, usdm_recording

__all__ = ["spot_recording", "usdm_recording"]

#: The markets most tests trade: the replayed one and a few others.
SYMBOLS = ("BTCUSDT", "ETHUSDT", "BNBUSDT")


@pytest.fixture(scope="session")
def spot_info_full() -> ExchangeInfo:
    return ExchangeInfo.load(SPOT_INFO, futures=False)


@pytest.fixture(scope="session")
def usdm_info_full() -> ExchangeInfo:
    return ExchangeInfo.load(USDM_INFO, futures=True)


@pytest.fixture(scope="session")
def spot_info(spot_info_full: ExchangeInfo) -> ExchangeInfo:
    return spot_info_full.subset(SYMBOLS)


@pytest.fixture(scope="session")
def usdm_info(usdm_info_full: ExchangeInfo) -> ExchangeInfo:
    return usdm_info_full.subset(SYMBOLS)
