"""Shared fixtures and the Hypothesis profile (``ATS_HYPOTHESIS_PROFILE``, default "default")."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

from adapters.replay import load_frames

#: The bundled Binance spot BTCUSDT recording (41,249 lines, one REST snapshot at line 8).
RECORDING_PATH = (
    Path(__file__).resolve().parents[1] / "data" / "binance_spot" / "btcusdt_20240808.gz"
)

settings.register_profile(
    "default", max_examples=50, deadline=None, derandomize=True, database=None
)
settings.register_profile("ci", max_examples=500, deadline=None, database=None)
settings.register_profile("thorough", max_examples=500, deadline=None, database=None)
settings.load_profile(os.environ.get("ATS_HYPOTHESIS_PROFILE", "default"))


@pytest.fixture(scope="session")
def recording_frames() -> list[tuple[int, bytes]]:
    """``(recv_ts_ns, frame)`` of every line of the bundled recording."""
    return load_frames(RECORDING_PATH)
