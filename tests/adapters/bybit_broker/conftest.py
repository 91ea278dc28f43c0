"""Fixtures of the Bybit broker tests: the recordings and the instruments, read once."""

from __future__ import annotations

import pytest

from adapters.emulator import EmulatorRecording, load_recording
from adapters.emulator.bybit_trading import InstrumentsInfo
from tests.adapters.bybit_broker._support import INSTRUMENTS, SPOT, USDM


@pytest.fixture(scope="session")
def spot_recording() -> EmulatorRecording:
    return load_recording(SPOT)


@pytest.fixture(scope="session")
def usdm_recording() -> EmulatorRecording:
    return load_recording(USDM)


@pytest.fixture(scope="session")
def instruments() -> InstrumentsInfo:
    return InstrumentsInfo.load(INSTRUMENTS)
