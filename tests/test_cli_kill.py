"""The kill switch from the command line: ``ats kill``, ``--kill-at-frame``, ``--pace``.

The oracle is an unkilled replay of the bundled recording: up to the kill
frame a killed run is that replay; at the kill, the orders in flight are
cancelled, a non-zero position gets one reduce-only flatten order, and after
it no order is placed. Admin-only ``reset_trading`` after a kill is covered by
``tests/engine/test_engine.py`` and ``tests/engine/test_risk_engine.py``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from api.cli import build_backtest, main
from api.control import CLI_KILL_REASON, ControlChannel, PidFile, paced
from engine.config import load_config
from engine.events import EventType, OrderFilled, OrderPlaced
from engine.state import EngineState
from tests.conftest import store_env

ROOT = Path(__file__).resolve().parents[1]
FRAMES = 41249

#: Replay speed of the run that a real ``ats kill`` kills: the 346 s recording lasts ~8.6 s,
#: while ``ats kill`` needs ~1 s from the pid file to the signal (Python start-up included);
#: the margin covers a loaded CI machine.
PACE = "40"


def _env() -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("ATS_")} | store_env()
    return {**base, "PYTHONPATH": str(ROOT)}


def _ats(
    *args: str, cwd: Path = ROOT, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "api.cli", *args],
        cwd=cwd,
        env=_env() if env is None else env,
        capture_output=True,
        text=True,
        timeout=120,
    )


# -- the oracle: an unkilled replay, with the frame of every order and fill ------------------------


@dataclass
class Baseline:
    placed: dict[str, int] = field(default_factory=dict)  # client order id -> frame
    first_fill: dict[str, int] = field(default_factory=dict)  # client order id -> frame
    fills: list[tuple[int, float]] = field(default_factory=list)  # (frame, signed quantity)

    def expected_kill(self, frame: int) -> tuple[int, int, int]:
        """(orders placed in all, orders cancelled, flatten orders) for a kill after ``frame``."""
        placed = [coid for coid, at in self.placed.items() if at <= frame]
        in_flight = [c for c in placed if self.first_fill.get(c, FRAMES + 1) > frame]
        position = sum(q for at, q in self.fills if at <= frame)
        flatten = 0 if abs(position) < 1e-12 else 1
        return len(placed) + flatten, len(in_flight), flatten


@pytest.fixture(scope="module")
def baseline(recording_frames: list[tuple[int, bytes]]) -> Baseline:
    backtest = build_backtest(load_config(None, env={}))
    stats = backtest.decoder.stats
    out = Baseline()

    def on_placed(event: OrderPlaced) -> None:
        out.placed[event.client_order_id] = stats.frames

    def on_fill(event: OrderFilled) -> None:
        out.first_fill.setdefault(event.client_order_id, stats.frames)
        out.fills.append((stats.frames, event.quantity if event.side == "BUY" else -event.quantity))

    backtest.engine.bus.subscribe(EventType.ORDER_PLACED, on_placed)
    backtest.engine.bus.subscribe(EventType.ORDER_FILLED, on_fill)
    backtest.run(recording_frames)
    assert stats.frames == FRAMES
    assert len(out.placed) == backtest.engine.counters.orders == 10
    return out


def _first_sell_frame(baseline: Baseline) -> int:
    """The frame on which the strategy sends its first SELL: long, with that order in flight."""
    frames = sorted(baseline.placed.values())
    return frames[1]


# -- (a) --kill-at-frame: deterministic ------------------------------------------------------------


@pytest.mark.parametrize("which", ["first_frame", "buy_in_flight", "sell_in_flight", "long"])
def test_kill_at_frame_when_replayed_then_cancel_flatten_halt_and_no_order_after(
    recording_frames: list[tuple[int, bytes]], baseline: Baseline, which: str
) -> None:
    first_buy, first_sell = sorted(baseline.placed.values())[:2]
    frame = {
        "first_frame": 1,
        "buy_in_flight": first_buy,
        "sell_in_flight": first_sell,
        "long": (first_buy + first_sell) // 2,
    }[which]
    backtest = build_backtest(load_config(None, env={}))
    control = ControlChannel(kill_at_frame=frame)
    backtest.run(control.frames(recording_frames), control=control)
    engine = backtest.engine

    report = control.summary(engine)
    assert report is not None
    orders, cancelled, flatten = baseline.expected_kill(frame)
    assert report["triggered_at_frame"] == frame
    assert report["reason"] == f"--kill-at-frame {frame}"
    assert (report["orders_cancelled"], report["flatten_orders"]) == (cancelled, flatten)
    assert report["orders_after"] == 0
    assert engine.counters.orders == orders
    assert backtest.summary()["trading_state"] == "HALTED"
    assert backtest.summary()["frames"] == FRAMES, "the replay goes on after the kill"
    assert engine.state.state is EngineState.STOPPED

    kill_ts = recording_frames[frame - 1][0]
    (exit_event,) = engine.bus.get_event_history(EventType.EMERGENCY_EXIT)
    assert exit_event.ts == kill_ts and "--kill-at-frame" in exit_event.reason
    orders = engine.execution.orders
    # No order placed after the kill; the flatten order is placed at the kill itself.
    for event in engine.bus.get_event_history(EventType.ORDER_PLACED):
        assert event.ts <= kill_ts
    flatten_orders = [o for o in orders.values() if o.strategy == "risk:kill_switch"]
    assert len(flatten_orders) == flatten
    assert all(o.reduce_only for o in flatten_orders)
    # Orders in flight at the kill were cancelled; after it, only the flatten order fills.
    for event in engine.bus.get_event_history(EventType.ORDER_FILLED):
        if event.ts > kill_ts:
            assert orders[event.client_order_id].strategy == "risk:kill_switch"
    cancelled_events = engine.bus.get_event_history(EventType.ORDER_CANCELLED)
    assert len(cancelled_events) == cancelled
    assert all(e.ts == kill_ts for e in cancelled_events)
    # The position is flat; later signals were denied because trading is HALTED.
    position = engine.portfolio.positions.get("BTC/USDT")
    assert position is None or position.quantity == 0.0
    assert report["rejected_after"] == engine.risk.failed["trading_halted"] >= 1


def test_demo_json_when_kill_at_frame_then_summary_reports_halted_and_kill_switch(
    baseline: Baseline,
) -> None:
    frame = _first_sell_frame(baseline)
    result = _ats("--log-level", "ERROR", "demo", "--json", "--kill-at-frame", str(frame))
    assert result.returncode == 0, result.stderr
    s = json.loads(result.stdout)
    assert s["frames"] == FRAMES
    assert s["trading_state"] == "HALTED"
    assert s["positions"] == {"BTC/USDT": 0.0}
    assert s["orders"] == baseline.expected_kill(frame)[0] == 3  # buy, sell (cancelled), flatten
    assert s["kill_switch"] == {
        "triggered_at_frame": frame,
        "reason": f"--kill-at-frame {frame}",
        "ts": s["kill_switch"]["ts"],
        "orders_cancelled": 1,
        "flatten_orders": 1,
        "orders_after": 0,
        "rejected_after": s["risk_denials"]["trading_halted"],
    }


# -- (b) a real run killed by a real `ats kill` ----------------------------------------------------


def _wait_for_pid(pidfile: Path, process: subprocess.Popen[str], timeout_s: float) -> int:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"ats run exited with {process.returncode} before writing {pidfile}")
        try:
            text = pidfile.read_text()
        except FileNotFoundError:
            text = ""
        if re.fullmatch(r"\d+\n", text):
            return int(text)
        time.sleep(0.02)
    pytest.fail(f"no pid in {pidfile} after {timeout_s} s")


def test_run_when_ats_kill_sends_signal_then_halted_before_end_and_no_order_after(
    tmp_path: Path, baseline: Baseline
) -> None:
    pidfile = tmp_path / "var" / "engine.pid"
    command = [sys.executable, "-m", "api.cli", "--log-level", "WARNING", "run"]
    command += ["--mode", "backtest", "--json", "--pace", PACE, "--pidfile", str(pidfile)]
    with (tmp_path / "run.err").open("w") as stderr:
        run = subprocess.Popen(
            command, cwd=tmp_path, env=_env(), stdout=subprocess.PIPE, stderr=stderr, text=True
        )
        try:
            assert _wait_for_pid(pidfile, run, timeout_s=60) == run.pid
            killed = _ats("kill", "--pidfile", str(pidfile))
            stdout, _ = run.communicate(timeout=120)
        finally:
            if run.poll() is None:
                run.kill()
                run.wait()
    assert killed.returncode == 0, killed.stderr
    (line,) = killed.stdout.splitlines()
    assert str(run.pid) in line and str(pidfile) in line
    assert run.returncode == 0, (tmp_path / "run.err").read_text()
    assert not pidfile.exists(), "the pid file is removed on exit"

    s = json.loads(stdout)
    kill = s["kill_switch"]
    assert kill["reason"] == CLI_KILL_REASON
    assert 1 <= kill["triggered_at_frame"] < FRAMES, "killed while running, not after the end"
    assert s["frames"] == FRAMES, "the replay goes on after the kill"
    assert s["trading_state"] == "HALTED"
    orders, cancelled, flatten = baseline.expected_kill(kill["triggered_at_frame"])
    assert (kill["orders_cancelled"], kill["flatten_orders"]) == (cancelled, flatten)
    assert kill["orders_after"] == 0
    assert s["orders"] == orders, "no order accepted after the kill"


# -- (c) `ats kill` errors and pid-file ownership --------------------------------------------------


def test_kill_when_no_pid_file_then_exit_2_naming_default_path(tmp_path: Path) -> None:
    env = {k: v for k, v in _env().items() if k != "ATS_PIDFILE"}  # the built-in default
    result = _ats("kill", cwd=tmp_path, env=env)
    assert result.returncode == 2
    (line,) = result.stderr.splitlines()
    assert str(Path("var") / "ats.pid") in line and "no pid file" in line


def test_kill_when_ats_pidfile_set_then_that_file_is_used(tmp_path: Path) -> None:
    env = {**_env(), "ATS_PIDFILE": str(tmp_path / "engine-7.pid")}
    result = _ats("kill", cwd=tmp_path, env=env)
    assert result.returncode == 2
    (line,) = result.stderr.splitlines()
    assert str(tmp_path / "engine-7.pid") in line and "no pid file" in line
    assert result.stdout == ""


def _reaped_pid() -> int:
    """A pid that no process has any more (ours, exited and reaped)."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_kill_when_pid_not_running_then_exit_2_naming_pid_and_stale(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pid = _reaped_pid()
    pidfile = tmp_path / "ats.pid"
    pidfile.write_text(f"{pid}\n")
    assert main(["kill", "--pidfile", str(pidfile)]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert f"pid {pid}" in line and str(pidfile) in line and "stale" in line


def test_kill_when_pid_alive_but_not_the_engine_then_exit_2_and_process_not_signalled(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A reused pid: SIGUSR1's default action would terminate this unrelated process.
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        pidfile = tmp_path / "ats.pid"
        pidfile.write_text(f"{bystander.pid}\n")
        assert main(["kill", "--pidfile", str(pidfile)]) == 2
        (line,) = capsys.readouterr().err.splitlines()
        assert f"pid {bystander.pid}" in line and "stale" in line
        time.sleep(0.2)
        assert bystander.poll() is None, "the bystander was signalled"
    finally:
        bystander.kill()
        bystander.wait()


@pytest.mark.parametrize("content", ["", "abc\n", "0\n", "-1\n", "12 34\n"])
def test_kill_when_pid_file_holds_no_positive_pid_then_exit_2_naming_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str
) -> None:
    pidfile = tmp_path / "ats.pid"
    pidfile.write_text(content)
    assert main(["kill", "--pidfile", str(pidfile)]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert str(pidfile) in line and "does not hold a pid" in line


def test_demo_when_pid_file_held_by_running_engine_then_exit_2_and_file_untouched(
    tmp_path: Path,
) -> None:
    held = PidFile(tmp_path / "ats.pid")
    held.acquire()
    try:
        result = _ats("demo", "--json", "--pidfile", str(held.path))
        assert result.returncode == 2
        (line,) = result.stderr.splitlines()
        assert str(held.path) in line and f"pid {os.getpid()}" in line
        assert held.path.read_text() == f"{os.getpid()}\n"
    finally:
        held.release()
    assert not held.path.exists()


def test_pid_file_when_left_by_dead_engine_then_taken_over_and_removed_on_release(
    tmp_path: Path,
) -> None:
    path = tmp_path / "run" / "ats.pid"
    path.parent.mkdir()
    path.write_text(f"{_reaped_pid()}\n")
    pid_file = PidFile(path)
    pid_file.acquire()
    assert path.read_text() == f"{os.getpid()}\n"
    pid_file.release()
    assert not path.exists()


# -- pacing ----------------------------------------------------------------------------------------


class _FakeWallClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def _released_at(frames: Iterator[tuple[int, bytes]], wall: _FakeWallClock) -> list[float]:
    return [wall.now - 100.0 for _ in frames]


def test_paced_when_speed_2_then_each_frame_released_at_half_its_recorded_offset() -> None:
    wall = _FakeWallClock()
    frames = [(t * 1_000_000_000, b"") for t in (10, 11, 11, 14, 13)]
    released = _released_at(paced(frames, 2.0, clock=wall.clock, sleep=wall.sleep), wall)
    assert released == pytest.approx([0.0, 0.5, 0.5, 2.0, 2.0])
    assert max(wall.sleeps) <= 0.05 + 1e-12, "long waits are sliced so a kill is not held up"


def test_paced_when_kill_pending_then_no_waiting() -> None:
    wall = _FakeWallClock()
    control = ControlChannel()
    control.request_kill("test")
    frames = [(0, b""), (60_000_000_000, b"")]
    released = _released_at(paced(frames, 1.0, control, clock=wall.clock, sleep=wall.sleep), wall)
    assert released == [0.0, 0.0]


@pytest.mark.parametrize("speed", [0.0, -1.0, float("nan"), float("inf")])
def test_paced_when_speed_not_finite_positive_then_value_error(speed: float) -> None:
    with pytest.raises(ValueError, match="pace must be a finite number > 0"):
        paced([], speed)


def test_run_when_pace_zero_then_exit_2_with_one_line(tmp_path: Path) -> None:
    result = _ats("run", "--mode", "backtest", "--pace", "0", "--pidfile", str(tmp_path / "p"))
    assert result.returncode == 2
    (line,) = result.stderr.splitlines()
    assert "pace" in line and "0.0" in line


def test_control_channel_when_kill_at_frame_below_1_then_value_error() -> None:
    with pytest.raises(ValueError, match="kill_at_frame must be >= 1, was 0"):
        ControlChannel(kill_at_frame=0)
