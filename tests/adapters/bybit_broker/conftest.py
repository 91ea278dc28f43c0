"""Fixtures of the Bybit broker tests: the recordings and the instruments, read once."""

from __future__ import annotations

import pytest

from adapters.emulator.bybit_trading import InstrumentsInfo
from tests.adapters.broker_support import spot_recording, usdm_recording
from tests.adapters.bybit_broker._support import INSTRUMENTS

__all__ = ["spot_recording", "usdm_recording"]


@pytest.fixture(scope="session")
def instruments() -> InstrumentsInfo:
    return InstrumentsInfo.load(INSTRUMENTS)
