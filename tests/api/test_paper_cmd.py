"""Paper mode against the emulator: the real CLI on both ends, and the in-process session."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import msgspec
import pytest
import uvloop

from adapters.emulator import BinanceEmulator, FaultConfig, load_recording
from api.paper_cmd import PaperSession, PaperUsageError
from engine.config import load_config
from engine.events import EventType
from tests.conftest import store_env

ROOT = Path(__file__).resolve().parents[2]
SPOT = ROOT / "data" / "binance_spot" / "btcusdt_20240808.gz"


def _env() -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("ATS_")} | store_env()
    return {**base, "PYTHONPATH": str(ROOT)}


def test_paper_run_against_emulator_subprocess_prints_symbol_summary(tmp_path: Path) -> None:
    emu = subprocess.Popen(
        [sys.executable, "-m", "api.cli", "--log-level", "WARNING", "emulator",
         "--replay", str(SPOT), "--port", "0", "--speed", "200"],
        cwd=ROOT, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        exports: dict[str, str] = {}
        deadline = time.monotonic() + 30
        assert emu.stdout is not None
        while len(exports) < 2 and time.monotonic() < deadline:
            line = emu.stdout.readline()
            if line.startswith("export ATS_VENUES__BINANCE__"):
                key, _, value = line.removeprefix("export ").strip().partition("=")
                exports[key] = value
        assert set(exports) == {"ATS_VENUES__BINANCE__WS_URL", "ATS_VENUES__BINANCE__REST_URL"}
        run = subprocess.run(
            [sys.executable, "-m", "api.cli", "--log-level", "WARNING", "run", "--mode", "paper",
             "--venue", "binance", "--symbols", "BTC/USDT", "--duration", "5", "--json",
             "--pidfile", str(tmp_path / "ats.pid")],
            cwd=ROOT, env={**_env(), **exports}, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert run.returncode == 0, run.stderr
        summary = json.loads(run.stdout)
        block = summary["symbols"]["BTC/USDT"]
        assert block["frames"] > 100
        assert block["in_sync"] is True
        assert block["gaps"] == 0 and block["reconnects"] == 0 and block["bad_frames"] == 0
        assert block["resyncs"] == 0  # the clean run never lost sync (closing it is not counted)
        assert block["final_best_bid"] < block["final_best_ask"]
        assert summary["feed"]["snapshots"] >= 1
    finally:
        emu.send_signal(signal.SIGTERM)
        emu.communicate(timeout=15)
    assert emu.returncode == 0


def test_paper_session_never_places_an_order_from_an_out_of_sync_book() -> None:
    config = load_config(None, env=store_env())

    async def go() -> tuple[PaperSession, list[bool], Any]:
        faults = FaultConfig(drop_every=499, reorder_every=997)
        async with BinanceEmulator(load_recording(SPOT), faults=faults, speed=100.0) as emu:
            urls = msgspec.structs.replace(
                config.venues.binance, ws_url=emu.ws_url, rest_url=emu.rest_url
            )
            venues = msgspec.structs.replace(config.venues, binance=urls)
            session = PaperSession(
                msgspec.structs.replace(config, venues=venues), "binance", ["BTC/USDT"]
            )
            market = session.engine.markets["BTC/USDT"]
            in_sync_at_order: list[bool] = []
            session.engine.bus.subscribe(
                EventType.ORDER_PLACED, lambda ev: in_sync_at_order.append(market.book.in_sync)
            )
            await session.run(4.0)
            return session, in_sync_at_order, emu.stats

    session, in_sync_at_order, emu_stats = uvloop.run(go())
    summary = session.summary()
    assert emu_stats.dropped > 0 and summary["symbols"]["BTC/USDT"]["gaps"] >= 1
    assert summary["symbols"]["BTC/USDT"]["resyncs"] >= 1
    assert in_sync_at_order, "the strategy placed no order: nothing was checked"
    assert all(in_sync_at_order), in_sync_at_order


@pytest.mark.parametrize(
    ("venue", "symbols", "message"),
    [
        ("binance", [], "--symbols is required"),
        ("kraken", ["BTC/USDT"], "--venue must be one of"),
    ],
)
def test_paper_session_bad_options_name_the_option(
    venue: str, symbols: list[str], message: str
) -> None:
    with pytest.raises(PaperUsageError, match=message):
        PaperSession(load_config(None, env={}), venue, symbols)


def test_paper_run_unknown_symbol_exits_2_naming_it() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "api.cli", "run", "--mode", "paper", "--symbols", "DOGE/XYZ",
         "--duration", "1"],
        cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert run.returncode == 2
    assert "DOGE/XYZ" in run.stderr


def test_paper_run_duration_must_be_positive() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "api.cli", "run", "--mode", "paper", "--symbols", "BTC/USDT",
         "--duration", "0"],
        cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert run.returncode == 2
    assert "--duration must be > 0" in run.stderr


def test_paper_session_on_bybit_linear_against_the_bybit_emulator() -> None:
    from adapters.emulator import BybitEmulator

    config = load_config(None, env=store_env())
    usdm = ROOT / "data" / "binance_usdm" / "btcusdt_20240808.gz"

    async def go() -> dict[str, Any]:
        async with BybitEmulator(load_recording(usdm), venue="bybit-linear", speed=100.0) as emu:
            urls = msgspec.structs.replace(config.venues.bybit, ws_url=emu.ws_url)
            venues = msgspec.structs.replace(config.venues, bybit=urls)
            session = PaperSession(
                msgspec.structs.replace(config, venues=venues), "bybit-linear", ["BTC/USDT"]
            )
            await session.run(3.0)
            return session.summary()

    summary = uvloop.run(go())
    block = summary["symbols"]["BTC/USDT"]
    assert block["frames"] > 100 and block["in_sync"] is True
    assert block["gaps"] == 0 and block["bad_frames"] == 0 and block["reconnects"] == 0
    assert block["final_best_bid"] < block["final_best_ask"]
