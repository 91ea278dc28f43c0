"""Runs write their records to the store; a restart restores them; a crash loses no ack.

The demo (the bundled recording through the engine and the simulated venue)
runs with ``--db`` on a temporary DuckDB file, in-process for the record
checks and as a real subprocess for the crash tests (SIGKILL, no clean stop).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from adapters.replay import load_frames
from api.cli import main
from tests.conftest import RECORDING_PATH

ROOT = Path(__file__).resolve().parents[2]
#: Ticks the writer may hold unflushed in these tests (ATS_STORE__FLUSH_ROWS).
FLUSH_ROWS = 256
#: Trades the tick recorder hands over per chunk (engine.store.ticks default).
CHUNK = 4096


def _demo(db: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> dict[str, Any]:
    assert main(["demo", "--json", "--db", str(db), *extra]) == 0
    return json.loads(capsys.readouterr().out)


def _rows(db: Path, sql: str) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql).fetchall()


def _fills_summed(db: Path) -> dict[str, float]:
    """Signed fill quantities summed per symbol (what the positions must equal)."""
    sql = (
        "SELECT symbol, sum(CASE side WHEN 'BUY' THEN quantity ELSE -quantity END) "
        "FROM trades GROUP BY symbol"
    )
    return dict(_rows(db, sql))


def _recording_trades(frames: list[tuple[int, bytes]]) -> list[int]:
    """Trade ids of the recording's ``@trade`` frames, in order."""
    ids = []
    for _, frame in frames:
        if b"@trade" in frame[:60]:
            msg = json.loads(frame)
            ids.append(int(msg["data"]["t"]))
    return ids


def test_demo_writes_every_record(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "demo.duckdb"
    summary = _demo(db, capsys)
    assert summary["store"]["acked"]["fill"] == summary["fills"]
    assert summary["store"]["acked"]["order"] >= summary["orders"]
    # every order the engine tracked, every fill, the positions, the signals, the ticks
    orders = _rows(db, "SELECT client_order_id, status, filled_quantity FROM orders")
    assert len(orders) == summary["orders"]
    run_id = summary["store"]["run_id"]
    assert all(coid.startswith(run_id + "-") for coid, _, _ in orders)
    assert _rows(db, "SELECT count(*) FROM trades") == [(summary["fills"],)]
    positions = dict(
        _rows(db, "SELECT symbol, quantity FROM positions WHERE engine_id = 'backtest'")
    )
    assert positions == pytest.approx(summary["positions"])
    # the positions equal the fills summed (one transaction per fill)
    summed = _fills_summed(db)
    assert summed == pytest.approx(positions, abs=1e-9)
    statuses = {
        status: n for status, n in _rows(db, "SELECT status, count(*) FROM signals GROUP BY status")
    }
    assert sum(statuses.values()) == summary["signals"]
    assert statuses.get("executed", 0) == summary["orders"]
    ticks = _rows(db, "SELECT trade_id FROM price_ticks ORDER BY ts_recv, trade_id")
    assert len(ticks) == summary["trades"]
    assert [t for (t,) in ticks] == _recording_trades(load_frames(RECORDING_PATH))
    keys = {k for (k,) in _rows(db, "SELECT key FROM engine_state WHERE engine_id='backtest'")}
    assert keys == {"run", "trading", "account", "strategy"}
    (cash,) = _rows(db, "SELECT cash FROM portfolio_snapshots ORDER BY ts DESC LIMIT 1")[0]
    assert cash == pytest.approx(summary["cash"])


def test_demo_without_store_records_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    summary = _demo(tmp_path / "unused.duckdb", capsys)  # sanity: with a store there is one
    assert "store" in summary
    assert main(["demo", "--json", "--db", ""]) == 0
    out = json.loads(capsys.readouterr().out)
    assert "store" not in out
    assert out["orders"] == summary["orders"]  # recording changes nothing the engine decides


def test_restart_restores_positions_account_and_halt(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "restart.duckdb"
    first = _demo(db, capsys, "--kill-at-frame", "30000")
    assert first["trading_state"] == "HALTED"
    monkeypatch.setenv("ATS_STORE__RESTORE", "always")
    second = _demo(db, capsys)
    restored = second["store"]["restored"]
    assert restored["trading_state"] == "HALTED"
    assert restored["positions"] == pytest.approx(
        {s: q for s, q in first["positions"].items() if q != 0.0}
    )
    # halted since the start: the second run sends nothing, its cash is the first run's
    assert second["orders"] == 0
    assert second["trading_state"] == "HALTED"
    assert second["cash"] == pytest.approx(first["cash"])
    assert second["store"]["run_id"] != first["store"]["run_id"]


# -- crash: SIGKILL mid-run -----------------------------------------------------------------------


def _env(db: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        ATS_STORE__DB=str(db),
        ATS_STORE__TICKS_DB=str(db),
        ATS_STORE__FLUSH_ROWS=str(FLUSH_ROWS),
        ATS_STORE__FLUSH_INTERVAL_S="0.05",
        PYTHONPATH=str(ROOT),
        **extra,
    )
    return env


def _acks(stderr: str) -> Iterator[dict[str, Any]]:
    for line in stderr.splitlines():
        if line.startswith("{"):
            record = json.loads(line)
            if record.get("msg") in ("order durable", "fill durable"):
                yield record


def _check_acked_are_stored(db: Path, acks: list[dict[str, Any]]) -> None:
    orders = dict(_rows(db, "SELECT client_order_id, status FROM orders"))
    fills = set(_rows(db, "SELECT client_order_id, trade_id FROM trades"))
    n_fills = 0
    for ack in acks:
        assert ack["client_order_id"] in orders, ack
        if ack["msg"] == "fill durable":
            n_fills += 1
            assert (ack["client_order_id"], ack["trade_id"]) in fills, ack
    assert n_fills > 0, f"the run acknowledged no fill before it was killed: {acks}"
    # one transaction per fill: the stored positions are the stored fills summed
    stored = dict(_rows(db, "SELECT symbol, quantity FROM positions"))
    summed = _fills_summed(db)
    assert stored == pytest.approx(summed, abs=1e-9)


def _restart(db: Path) -> dict[str, Any]:
    """Run the demo again on ``db`` with restore on; return its summary."""
    proc = subprocess.run(
        [sys.executable, "-m", "api.cli", "demo", "--json", "--db", str(db)],
        env=_env(db, ATS_STORE__RESTORE="always"),
        capture_output=True,
        text=True,
        timeout=240,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary: dict[str, Any] = json.loads(proc.stdout)
    return summary


def test_crash_at_a_known_frame_loses_at_most_one_flush(tmp_path: Path) -> None:
    frames = load_frames(RECORDING_PATH)
    crash_at = 36_000  # frames processed before the SIGKILL (24 of the 32 fills are before)
    db = tmp_path / "crash.duckdb"
    proc = subprocess.run(
        # paced like a live feed (the 346 s recording in ~7 s): the engine thread is not busy
        # all the time, so the writer thread keeps up as it does live
        [
            sys.executable,
            "-m",
            "api.cli",
            "--log-format",
            "json",
            "demo",
            "--db",
            str(db),
            "--pace",
            "50",
        ],
        env=_env(db, ATS_TEST_CRASH_AT_FRAME=str(crash_at)),
        capture_output=True,
        text=True,
        timeout=240,
        cwd=ROOT,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    acks = list(_acks(proc.stderr))
    assert acks, proc.stderr[-3000:]
    _check_acked_are_stored(db, acks)
    received = _recording_trades(frames[:crash_at])
    stored = [
        t for (t,) in _rows(db, "SELECT trade_id FROM price_ticks ORDER BY ts_recv, trade_id")
    ]
    # what is stored is exactly the first trades received: no hole, no repeat, no reorder
    assert stored == received[: len(stored)]
    lost = len(received) - len(stored)
    # documented bound: one tick-recorder chunk not yet handed over, plus the writer's pending
    # batch and the batch being committed (engine.store.writer)
    assert 0 <= lost <= CHUNK + 2 * FLUSH_ROWS, (lost, len(received))
    # the restart finds the same positions
    positions = {s: q for s, q in _rows(db, "SELECT symbol, quantity FROM positions") if q}
    restored = _restart(db)["store"]["restored"]
    assert restored["positions"] == pytest.approx(positions)


def test_sigkill_mid_run_keeps_every_acknowledged_order_and_fill(tmp_path: Path) -> None:
    db = tmp_path / "kill.duckdb"
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "api.cli", "--log-format", "json",
            "demo", "--db", str(db), "--pace", "50",
        ],
        env=_env(db),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )  # fmt: skip
    assert proc.stderr is not None
    lines: list[str] = []
    deadline = time.monotonic() + 180
    fills = 0
    try:
        while fills < 6 and time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line:
                break
            lines.append(line)
            if '"fill durable"' in line:
                fills += 1
        assert fills >= 6, "".join(lines[-20:])
    finally:
        proc.kill()  # SIGKILL: no flush, no clean stop
        rest = proc.communicate(timeout=30)[1]
    assert proc.returncode == -signal.SIGKILL
    acks = list(_acks("".join(lines) + rest))
    _check_acked_are_stored(db, acks)


# -- paper mode: restore on start (store.restore = "auto") ----------------------------------------


def _paper_session(db: Path, seconds: float) -> Any:
    import msgspec
    import uvloop

    from adapters.emulator import BinanceEmulator, load_recording
    from api.paper_cmd import PaperSession
    from engine.config import load_config

    config = load_config(None, env={"ATS_STORE__DB": str(db), "ATS_STORE__TICKS_DB": str(db)})

    async def go() -> PaperSession:
        async with BinanceEmulator(load_recording(RECORDING_PATH), speed=100.0) as emu:
            urls = msgspec.structs.replace(
                config.venues.binance, ws_url=emu.ws_url, rest_url=emu.rest_url
            )
            venues = msgspec.structs.replace(config.venues, binance=urls)
            session = PaperSession(
                msgspec.structs.replace(config, venues=venues), "binance", ["BTC/USDT"]
            )
            await session.run(seconds)
            return session

    return uvloop.run(go())


def test_paper_session_restarts_with_its_positions_and_account(tmp_path: Path) -> None:
    db = tmp_path / "paper.duckdb"
    first = _paper_session(db, 4.0).summary()
    assert first["fills"] > 0, "the first session traded nothing: nothing to restore"
    assert first["store"]["restored"]["positions"] == {}  # a new store: nothing to restore
    (ticks_first,) = _rows(db, "SELECT count(*) FROM price_ticks")[0]
    assert ticks_first > 0
    second = _paper_session(db, 1.0)
    summary = second.summary()
    restored = summary["store"]["restored"]
    assert restored["previous_run"] == first["store"]["run_id"]
    assert restored["positions"] == pytest.approx(
        {s: q for s, q in first["positions"].items() if q != 0.0}
    )
    portfolio = second.engine.portfolio
    assert portfolio.fills >= first["fills"]  # fill numbering carries on
    # the same engine_id: one positions row per symbol, the second run's ticks appended
    assert _rows(db, "SELECT count(*) FROM positions") == [(len(first["positions"]),)]
    (ticks,) = _rows(db, "SELECT count(*) FROM price_ticks")[0]
    assert ticks > ticks_first
