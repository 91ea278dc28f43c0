"""Fixtures of the emulator tests: the bundled recordings, read once per session."""

from __future__ import annotations

import pytest

from adapters.emulator import EmulatorRecording, load_recording
from tests.adapters.emulator._support import SPOT, USDM, RecordedLines


@pytest.fixture(scope="session")
def spot_lines() -> RecordedLines:
    return RecordedLines(SPOT)


@pytest.fixture(scope="session")
def spot() -> EmulatorRecording:
    return load_recording(SPOT)


@pytest.fixture(scope="session")
def usdm_lines() -> RecordedLines:
    return RecordedLines(USDM)


@pytest.fixture(scope="session")
def usdm() -> EmulatorRecording:
    return load_recording(USDM)
