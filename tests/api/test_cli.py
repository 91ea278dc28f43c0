"""The ``ats`` CLI end to end: subprocesses for the commands users type, in-process for detail."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from adapters.replay import RecordingReader
from api.cli import build_backtest
from engine.config import load_config
from engine.events import EventType
from tests.conftest import store_env

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "data" / "binance_spot" / "btcusdt_20240808.gz"


def _ats(
    *args: str, cwd: Path = ROOT, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("ATS_")} | store_env()
    return subprocess.run(
        [sys.executable, "-m", "api.cli", *args],
        cwd=cwd,
        env={**base, "PYTHONPATH": str(ROOT), **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def demo_summary() -> dict:
    result = _ats("--log-level", "WARNING", "demo", "--json")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1, "--json prints exactly one JSON object"
    return json.loads(lines[0])


def test_demo_json_when_bundled_recording_then_book_matches_last_book_ticker(
    demo_summary: dict,
) -> None:
    s = demo_summary
    assert s["frames"] == 41249
    assert s["gaps"] == 0
    assert s["bad_frames"] == 0
    assert s["trades"] == 9757
    assert s["depth_updates_applied"] > 3400
    assert s["final_best_bid"] == 61685.99
    assert s["final_best_ask"] == 61686.0
    ticker = s["symbols"]["BTC/USDT"]["last_book_ticker"]
    assert (ticker["bid"], ticker["ask"]) == (s["final_best_bid"], s["final_best_ask"])


def test_demo_json_has_every_documented_key_and_trades(demo_summary: dict) -> None:
    required = {
        "frames",
        "depth_updates_applied",
        "trades",
        "gaps",
        "final_best_bid",
        "final_best_ask",
        "signals",
        "orders",
        "fills",
        "rejected",
        "realized_pnl",
        "fees",
        "equity",
        "elapsed_s",
    }
    assert required <= demo_summary.keys()
    assert demo_summary["orders"] >= 1
    assert demo_summary["fills"] >= demo_summary["orders"] - demo_summary["rejected"]
    assert demo_summary["fees"] > 0
    assert demo_summary["elapsed_s"] > 0


def test_demo_when_run_twice_then_identical_trading_outcome(demo_summary: dict) -> None:
    again = _ats("--log-level", "WARNING", "demo", "--json")
    second = json.loads(again.stdout)
    for key in ("signals", "orders", "fills", "rejected", "realized_pnl", "fees", "equity"):
        assert second[key] == demo_summary[key], key


def test_backtest_portfolio_reconciles_exactly_with_fills() -> None:
    backtest = build_backtest(load_config(None, env={}))
    backtest.run(RecordingReader(DATA))
    fills = backtest.engine.bus.get_event_history(EventType.ORDER_FILLED)
    assert fills, "the demo strategy must trade"
    assert len(fills) == backtest.engine.counters.fills
    portfolio = backtest.engine.portfolio
    cash = portfolio.initial_cash
    position = 0.0
    fees = 0.0
    for f in fills:
        sign = 1.0 if f.side == "BUY" else -1.0
        cash -= sign * f.quantity * f.price + f.fee
        position += sign * f.quantity
        fees += f.fee
        assert f.fee_currency == "USDT"
    assert portfolio.cash == cash
    assert portfolio.fees == fees
    assert portfolio.positions["BTC/USDT"].quantity == pytest.approx(position, abs=1e-12)
    # Every fill's fee is its notional times the configured fee rate.
    paper = backtest.config.paper
    for f in fills:
        rate = paper.taker_fee if f.liquidity == "taker" else paper.maker_fee
        assert f.fee == pytest.approx(f.quantity * f.price * rate, rel=1e-12)
    summary = backtest.summary()
    unrealized = portfolio.unrealized_pnl
    assert summary["equity"] - portfolio.initial_cash == pytest.approx(
        summary["realized_pnl"] + unrealized - summary["fees"], abs=1e-6
    )


def test_run_backtest_when_recording_has_bad_frames_then_counted_and_replay_goes_on(
    tmp_path: Path,
) -> None:
    with gzip.open(DATA, "rb") as f:
        lines = f.read().splitlines()
    bad = [
        b"not-a-timestamp {}",
        lines[100].split(b" ", 1)[0] + b' {"stream":"btcusdt@trade","data":{"e":',
        lines[101].split(b" ", 1)[0] + b" \x00\x01garbage",
    ]
    corrupted = lines[:100] + bad + lines[100:]
    path = tmp_path / "corrupt.txt"
    path.write_bytes(b"\n".join(corrupted) + b"\n")
    result = _ats(
        "--log-level", "ERROR", "run", "--mode", "backtest", "--data", str(path), "--json"
    )
    assert result.returncode == 0, result.stderr
    s = json.loads(result.stdout)
    assert s["bad_frames"] == 3
    assert s["frames"] == 41249 + 3
    assert s["trades"] == 9757
    assert s["gaps"] == 0
    assert (s["final_best_bid"], s["final_best_ask"]) == (61685.99, 61686.0)


def test_demo_when_data_file_missing_then_exit_2_with_one_line_naming_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope.gz"
    result = _ats("demo", "--data", str(missing))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert str(missing) in lines[0]


def test_run_when_config_has_bad_value_then_exit_2_with_one_line_naming_key(
    tmp_path: Path,
) -> None:
    config = tmp_path / "ats.toml"
    config.write_text("[risk]\nmax_leverage = -1\n")
    result = _ats("run", "--mode", "backtest", "--config", str(config))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "risk.max_leverage" in lines[0] and "-1" in lines[0]


def test_run_when_env_override_unknown_key_then_exit_2_naming_variable() -> None:
    result = _ats("demo", env={"ATS_RISK__MAX_LEVRAGE": "3"})
    assert result.returncode == 2
    assert "ATS_RISK__MAX_LEVRAGE" in result.stderr


def test_run_when_mode_paper_without_symbols_then_clear_error_not_a_silent_backtest() -> None:
    result = _ats("run", "--mode", "paper")
    assert result.returncode == 2
    assert "--symbols is required in paper mode" in result.stderr


def test_run_when_mode_live_without_symbols_then_clear_error() -> None:
    result = _ats("run", "--mode", "live")
    assert result.returncode == 2
    assert "--symbols is required in live mode" in result.stderr


def test_version_prints_package_version() -> None:
    result = _ats("--version")
    assert result.returncode == 0
    assert result.stdout.startswith("ats ")


def test_log_file_when_secret_in_environment_then_json_lines_without_secret(
    tmp_path: Path,
) -> None:
    log = tmp_path / "logs" / "ats.jsonl"
    secret = "s3cr3t-binance-key-value"
    result = _ats(
        "--log-level",
        "DEBUG",
        "--log-file",
        str(log),
        "demo",
        "--json",
        env={"BINANCE_API_KEY": secret, "BINANCE_SECRET_KEY": secret + "x"},
    )
    assert result.returncode == 0, result.stderr
    text = log.read_text()
    records = [json.loads(line) for line in text.splitlines()]
    assert any(r["msg"] == "replay finished" for r in records)
    assert secret not in text and secret not in result.stderr and secret not in result.stdout
