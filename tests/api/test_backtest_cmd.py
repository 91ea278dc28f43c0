"""``ats backtest``: subprocess runs of what users type, checked against the report files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest

from adapters.paper.tickbt import BacktestConfig, TickBacktester
from adapters.paper.tickdata import convert_recording
from engine.strategies.grid_mm import GridParams, run_grid_mm_njit
from tests.conftest import store_env

ROOT = Path(__file__).resolve().parents[2]
SPOT = ROOT / "data" / "binance_spot" / "btcusdt_20240808.gz"
USDM = ROOT / "data" / "binance_usdm" / "btcusdt_20240808.gz"


def _ats(*args: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("ATS_")} | store_env()
    return subprocess.run(
        [sys.executable, "-m", "api.cli", "--log-level", "WARNING", "backtest", *args],
        cwd=ROOT,
        env={**base, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def grid_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    out = tmp_path_factory.mktemp("report")
    result = _ats(
        "--strategy", "grid_mm", "--data", str(USDM), "--json", "--report", str(out),
        "--param", "half_spread_ticks=2", "--queue-model", "power", "--latency-ns", "2000000",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout), out


def test_backtest_json_has_the_issue_statistics(grid_run: tuple[dict[str, Any], Path]) -> None:
    stats, _ = grid_run
    for key in (
        "events", "orders", "fills", "volume", "fees", "realized_pnl", "position", "equity",
        "max_drawdown", "sharpe", "events_per_s",
    ):  # fmt: skip
        assert key in stats, key
    assert stats["strategy"] == "grid_mm"
    assert stats["params"]["half_spread_ticks"] == 2.0
    assert stats["queue_model"] == "power"
    assert stats["orders"] > 100 and stats["fills"] > 10
    assert stats["events"] == stats["rows"]  # every converted row reached the exchange side


def test_backtest_equals_the_library_run(grid_run: tuple[dict[str, Any], Path]) -> None:
    stats, _ = grid_run
    bt = TickBacktester(
        convert_recording(USDM),
        BacktestConfig(
            queue_model="power", entry_latency_ns=2_000_000, response_latency_ns=2_000_000
        ),
    )
    run_grid_mm_njit(bt, GridParams(half_spread_ticks=2))
    direct = bt.stats()
    for key in ("orders", "fills", "volume", "fees", "position", "equity", "realized_pnl"):
        assert direct[key] == pytest.approx(stats[key], rel=1e-12, abs=1e-12), key


def test_backtest_report_parquet_matches_stats(grid_run: tuple[dict[str, Any], Path]) -> None:
    stats, out = grid_run
    fills = pq.read_table(out / "fills.parquet").to_pydict()
    orders = pq.read_table(out / "orders.parquet").to_pydict()
    equity = pq.read_table(out / "equity.parquet").to_pydict()
    assert len(fills["price"]) == stats["fills"]
    assert len(orders["order_id"]) == stats["orders"]
    side = np.asarray(fills["side"], dtype=float)
    qty = np.asarray(fills["qty"])
    assert np.sum(side * qty) == pytest.approx(stats["position"], abs=1e-9)
    assert np.sum(fills["fee"]) == pytest.approx(stats["fees"], rel=1e-9)
    # the cash column is the running balance after each fill
    cash = -np.cumsum(side * qty * np.asarray(fills["price"]) + np.asarray(fills["fee"]))
    np.testing.assert_allclose(fills["cash"], cash, rtol=1e-9, atol=1e-9)
    assert sorted(set(orders["status"])) <= [
        "cancelled",
        "expired",
        "filled",
        "new",
        "partially_filled",
    ]
    filled_by_order: dict[int, float] = {}
    for oid, q in zip(fills["order_id"], fills["qty"], strict=True):
        filled_by_order[oid] = filled_by_order.get(oid, 0.0) + q
    for oid, filled in zip(orders["order_id"], orders["filled"], strict=True):
        assert filled == pytest.approx(filled_by_order.get(oid, 0.0), abs=1e-12)
    assert np.all(np.diff(equity["ts"]) > 0)
    assert equity["equity"][-1] == pytest.approx(stats["equity"], rel=1e-9, abs=1e-9)
    assert json.loads((out / "stats.json").read_text())["fills"] == stats["fills"]


def test_backtest_python_strategy_gives_the_njit_fills() -> None:
    njit = _ats("--strategy", "grid_mm", "--data", str(SPOT), "--json")
    py = _ats("--strategy", "grid_mm", "--data", str(SPOT), "--json", "--python")
    assert njit.returncode == 0 and py.returncode == 0, njit.stderr + py.stderr
    a, b = json.loads(njit.stdout), json.loads(py.stdout)
    assert (a["engine"], b["engine"]) == ("tick-njit", "tick-python")
    for key in ("orders", "fills", "volume", "fees", "position", "equity"):
        assert a[key] == b[key], key


def test_backtest_signal_strategy_runs_through_the_engine(tmp_path: Path) -> None:
    result = _ats(
        "--strategy", "ema_momentum", "--data", str(SPOT), "--json", "--report", str(tmp_path),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    stats = json.loads(result.stdout)
    assert stats["engine"] == "event-driven"
    assert stats["events"] == 41249  # every frame of the recording
    fills = pq.read_table(tmp_path / "fills.parquet").to_pydict()
    assert len(fills["price"]) == stats["fills"] > 0
    assert np.sum(fills["fee"]) == pytest.approx(stats["fees"], rel=1e-9)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--strategy", "nope", "--data", str(SPOT)], "unknown strategy 'nope'"),
        (["--strategy", "grid_mm", "--data", "missing.gz"], "recording not found"),
        (["--strategy", "grid_mm", "--data", str(SPOT), "--param", "foo=1"], "--param foo"),
        (["--strategy", "grid_mm", "--data", str(SPOT), "--param", "levels=x"], "levels"),
        (["--strategy", "grid_mm", "--data", str(SPOT), "--param", "levels"], "KEY=VALUE"),
        (["--strategy", "grid_mm", "--data", str(SPOT), "--param", "levels=0"], "levels"),
        (["--strategy", "grid_mm", "--data", str(SPOT), "--latency-ns", "-1"], "entry_latency_ns"),
        (["--strategy", "grid_mm", "--data", str(SPOT), "--book-margin", "0"], "book_margin"),
    ],
)
def test_backtest_bad_input_exits_2_naming_it(args: list[str], message: str) -> None:
    result = _ats(*args)
    assert result.returncode == 2, result.stdout
    assert message in result.stderr
    assert result.stderr.count("\n") == 1
