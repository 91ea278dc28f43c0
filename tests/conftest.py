"""Shared fixtures and the Hypothesis profile (``ATS_HYPOTHESIS_PROFILE``, default "default")."""

from __future__ import annotations

import itertools
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


@pytest.fixture(scope="session")
def _store_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("stores")


_STORE_COUNT = itertools.count()


@pytest.fixture(autouse=True)
def _store_in_tmp(_store_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point ``store.db`` at a fresh DuckDB file per test (never the repo's data/ats.duckdb).

    Commands run in-process or as subprocesses read ``ATS_STORE__DB`` through
    the configuration, so no test writes into the checkout.
    """
    n = next(_STORE_COUNT)
    path = _store_dir / f"ats-{n}.duckdb"
    monkeypatch.setenv("ATS_STORE__DB", str(path))
    monkeypatch.setenv("ATS_STORE__TICKS_DB", str(path))
    # and a pid file of its own: tests run in parallel (pytest-xdist) never share var/ats.pid
    monkeypatch.setenv("ATS_PIDFILE", str(_store_dir / f"ats-{n}.pid"))
    return path


def store_env() -> dict[str, str]:
    """The ``ATS_STORE__*`` variables of this test (for ``load_config(env=...)`` and subprocesses
    that otherwise drop every ``ATS_`` variable)."""
    return {
        k: v for k, v in os.environ.items() if k.startswith("ATS_STORE__") or k == "ATS_PIDFILE"
    }
