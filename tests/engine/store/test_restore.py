"""A run's records restore the next run, on both backends (DuckDB file, PostgreSQL URL).

The bundled recording drives a real engine and simulated venue (the demo's
wiring) with :class:`engine.store.session.RecordingSession` attached; a new
engine then opens the same store and must come back with the same positions,
account, fill numbering, trading state and strategy state.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import msgspec
import pytest

from adapters.replay import load_frames
from api.cli import build_backtest
from engine.config import Config, load_config
from engine.events import EventType
from engine.orders import Order, OrderStatus, OrderType, Side
from engine.risk import TradingState
from engine.store import open_store
from engine.store.session import RecordingSession
from tests.conftest import RECORDING_PATH

FRAMES = 36_000  # 24 of the recording's 32 fills are before this frame


@pytest.fixture(params=["duckdb", "postgres"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "duckdb":
        return str(tmp_path / "restore.duckdb")
    url: str = request.getfixturevalue("pg_url")
    return url


def _config(target: str, tmp_path: Path, mode: str = "paper") -> Config:
    config = load_config(None, env={})
    return msgspec.structs.replace(
        config,
        engine=msgspec.structs.replace(config.engine, mode=mode),
        store=msgspec.structs.replace(
            config.store,
            db=target,
            ticks_db=str(tmp_path / "ticks.duckdb"),
            restore="always",
            engine_id="account-1",
        ),
    )


def _run(config: Config, frames: list[tuple[int, bytes]]) -> Any:
    backtest = build_backtest(config)
    recording = RecordingSession.open(config, backtest.engine)
    try:
        backtest.run(frames, recording=recording)
    finally:
        recording.close()
    return backtest, recording


def test_second_run_comes_back_where_the_first_stopped(target: str, tmp_path: Path) -> None:
    frames = load_frames(RECORDING_PATH)[:FRAMES]
    config = _config(target, tmp_path)
    first, rec1 = _run(config, frames)
    assert first.engine.counters.fills > 0
    assert rec1.restored is not None and rec1.restored.empty
    p1 = first.engine.portfolio
    strategy_state = first.engine.strategy.get_state()

    # a new engine on the same store, before it sees any data
    second = build_backtest(config)
    rec2 = RecordingSession.open(config, second.engine)
    try:
        p2 = second.engine.portfolio
        assert {s: p.quantity for s, p in p2.positions.items() if p.quantity} == pytest.approx(
            {s: p.quantity for s, p in p1.positions.items() if p.quantity}
        )
        for symbol, pos in p1.positions.items():
            if pos.quantity:
                assert p2.positions[symbol].average_price == pytest.approx(pos.average_price)
                assert p2.positions[symbol].realized_pnl == pytest.approx(pos.realized_pnl)
        assert p2.cash == pytest.approx(p1.cash)
        assert p2.fees == pytest.approx(p1.fees)
        assert p2.realized_pnl == pytest.approx(p1.realized_pnl)
        assert p2.fills == p1.fills
        restored_state = second.engine.strategy.get_state()
        assert restored_state.keys() == strategy_state.keys()
        for symbol, saved in strategy_state.items():
            got = restored_state[symbol]
            assert got["last_signal_ts"] == saved["last_signal_ts"]
            assert [x if not math.isnan(x) else None for x in got["state"]] == [
                x if not math.isnan(x) else None for x in saved["state"]
            ]
        assert rec2.restored is not None
        assert rec2.restored.run is not None
        assert rec2.restored.run["run_id"] == first.engine.run_id
    finally:
        rec2.close()


def test_halted_survives_a_restart_and_reset_is_recorded(target: str, tmp_path: Path) -> None:
    config = _config(target, tmp_path)
    first = build_backtest(config)
    rec = RecordingSession.open(config, first.engine)
    first.engine.start()
    first.engine.emergency_exit("operator test")
    first.engine.stop()
    rec.close()

    second = build_backtest(config)
    rec = RecordingSession.open(config, second.engine)
    assert second.engine.risk.trading_state is TradingState.HALTED
    assert "operator test" in second.engine.risk.halt_reason
    second.engine.start()
    second.engine.reset_trading(role="admin")
    second.engine.stop()
    rec.close()

    third = build_backtest(config)
    rec = RecordingSession.open(config, third.engine)
    rec.close()
    assert third.engine.risk.trading_state is TradingState.ACTIVE


def test_open_orders_restored_then_settled_on_a_simulated_venue(
    target: str, tmp_path: Path
) -> None:
    config = _config(target, tmp_path)
    first = build_backtest(config)
    rec = RecordingSession.open(config, first.engine)
    engine = first.engine
    engine.start()
    order = Order(
        client_order_id=f"{engine.run_id}-1",
        symbol="BTC/USDT",
        venue="binance",
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        quantity=0.01,
        price=50_000.0,
        ts_created=1,
        strategy="test",
    )
    engine._place(order, order.price, 1)  # tracked and published as the engine does
    engine.on_order_accepted(order.client_order_id, 2)
    engine.on_fill(order.client_order_id, 0.004, 50_000.0, 0.0, "maker", 3, trade_id="T1")
    engine.stop()
    rec.close()
    store = open_store(target, ticks_path=config.store.ticks_db)
    try:
        rows = store.query(
            "SELECT status, filled_quantity FROM orders WHERE client_order_id = ?",
            [order.client_order_id],
        ).to_pylist()
    finally:
        store.close()
    assert rows == [{"status": "PARTIALLY_FILLED", "filled_quantity": pytest.approx(0.004)}]

    # live mode keeps the open order for reconciliation, and a repeat of T1 is not booked again
    live = _config(target, tmp_path, mode="live")
    second = build_backtest(live)
    rec = RecordingSession.open(live, second.engine)
    try:
        restored = second.engine.execution.orders[order.client_order_id]
        assert restored.status is OrderStatus.PARTIALLY_FILLED
        assert restored.leaves_quantity == pytest.approx(0.006)
        fills: list[Any] = []
        second.engine.bus.subscribe(EventType.ORDER_FILLED, fills.append)
        second.engine.on_fill(
            order.client_order_id, 0.004, 50_000.0, 0.0, "maker", 4, trade_id="T1"
        )
        assert fills == [] and second.engine.counters.duplicate_fills == 1
    finally:
        rec.close()
    # paper mode: the simulated venue never had it, so it is cancelled (and recorded so)
    paper = build_backtest(config)
    rec = RecordingSession.open(config, paper.engine)
    rec.close()
    assert paper.engine.execution.orders[order.client_order_id].status is OrderStatus.CANCELLED
    store = open_store(target, ticks_path=config.store.ticks_db)
    try:
        (row,) = store.query(
            "SELECT status, reason FROM orders WHERE client_order_id = ?",
            [order.client_order_id],
        ).to_pylist()
    finally:
        store.close()
    assert row["status"] == "CANCELLED" and "simulated venue restarted" in row["reason"]
