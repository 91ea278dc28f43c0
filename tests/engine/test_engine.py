"""TradingEngine lifecycle and the signal → order path, with the real simulated venue."""

from __future__ import annotations

import numpy as np
import pytest

from adapters.paper import SimulatedVenue
from engine.clock import SimulatedClock
from engine.config import load_config
from engine.engine import TradingEngine
from engine.events import EventType
from engine.instruments import UnknownSymbolError, default_instruments
from engine.state import EngineState, IllegalTransitionError
from engine.strategies import EmaMomentumStrategy
from engine.strategy import TradingSignal
from kernels.dtypes import SIDE_BUY


def _engine(**env: str) -> tuple[TradingEngine, SimulatedClock]:
    config = load_config(None, env={f"ATS_{k.upper()}": v for k, v in env.items()})
    clock = SimulatedClock(1_000)
    engine = TradingEngine(
        config, default_instruments(), clock, EmaMomentumStrategy(config.strategy, config.risk)
    )
    return engine, clock


def _wire(engine: TradingEngine, clock: SimulatedClock) -> SimulatedVenue:
    venue = SimulatedVenue(engine.markets, engine, engine, engine.config.paper, clock)
    engine.set_gateway(venue)
    market = engine.markets["BTC/USDT"]
    market.book.load_snapshot(
        np.array([[99.99, 5.0], [99.98, 5.0]]), np.array([[100.01, 5.0], [100.02, 5.0]]), 1
    )
    return venue


def test_start_when_no_gateway_then_error_state_and_clear_message() -> None:
    engine, _ = _engine()
    with pytest.raises(RuntimeError, match="set_gateway"):
        engine.start()
    assert engine.state.state is EngineState.ERROR


def test_lifecycle_publishes_started_and_stopped_and_rejects_illegal_moves() -> None:
    engine, clock = _engine()
    _wire(engine, clock)
    engine.start()
    assert engine.state.state is EngineState.RUNNING
    with pytest.raises(IllegalTransitionError):
        engine.start()
    engine.pause()
    engine.resume()
    engine.stop("test")
    assert engine.state.state is EngineState.STOPPED
    assert [e.mode for e in engine.bus.get_event_history(EventType.ENGINE_STARTED)] == ["backtest"]
    assert engine.bus.get_event_history(EventType.ENGINE_STOPPED)[0].reason == "test"


def test_engine_when_symbol_not_an_instrument_then_error_names_symbol() -> None:
    with pytest.raises(UnknownSymbolError, match="DOGE/USDT"):
        _engine(engine__symbols="DOGE/USDT")


def test_paused_engine_when_trades_arrive_then_no_signals_but_marks_continue() -> None:
    engine, clock = _engine(strategy__cooldown_s="0")
    venue = _wire(engine, clock)
    engine.start()
    engine.pause()
    market = engine.markets["BTC/USDT"]
    prices = 100 + np.sin(np.arange(300) / 5.0)
    for i, price in enumerate(prices):
        clock.advance_to(1_000 + i * 1_000_000_000)
        market.trades.push(clock.now_ns(), clock.now_ns(), float(price), 0.1, i, SIDE_BUY)
        market.last_price = float(price)
        venue.on_trade(market, clock.now_ns())
    assert engine.counters.signals == 0
    ts, equity = engine.portfolio.equity_curve()
    assert np.all(equity == equity[0]), "no position: equity stays at the initial cash"
    assert len(ts) >= 299
    assert np.all(np.diff(ts) > 0)


def test_submit_signal_when_quantity_below_lot_then_signal_rejected_with_reason() -> None:
    engine, clock = _engine()
    _wire(engine, clock)
    engine.start()
    signal = TradingSignal(
        symbol="BTC/USDT", side="BUY", confidence=0.9, price=100.0, quantity=0.000001
    )
    assert engine.submit_signal(signal) is None
    rejected = engine.bus.get_event_history(EventType.SIGNAL_REJECTED)
    assert "lot size" in rejected[-1].reason and "BTC/USDT" in rejected[-1].reason
    assert engine.counters.orders == 0


def test_submit_signal_when_sell_without_position_then_denied_no_shorting() -> None:
    engine, clock = _engine()
    _wire(engine, clock)
    engine.start()
    signal = TradingSignal(
        symbol="BTC/USDT", side="SELL", confidence=0.9, price=100.0, quantity=1.0
    )
    assert engine.submit_signal(signal) is None
    failed = engine.bus.get_event_history(EventType.RISK_CHECK_FAILED)
    assert failed[-1].check == "insufficient_position"
    assert engine.counters.rejected == 1


def _fill_long(engine: TradingEngine, clock: SimulatedClock, venue: SimulatedVenue) -> None:
    signal = TradingSignal(symbol="BTC/USDT", side="BUY", confidence=0.9, price=100.0, quantity=1.0)
    assert engine.submit_signal(signal) is not None
    clock.advance_to(clock.now_ns() + 10_000_000)
    venue.on_ticker(engine.markets["BTC/USDT"], clock.now_ns())
    assert engine.portfolio.positions["BTC/USDT"].quantity == 1.0


def _trade(
    engine: TradingEngine, clock: SimulatedClock, venue: SimulatedVenue, price: float
) -> None:
    market = engine.markets["BTC/USDT"]
    clock.advance_to(clock.now_ns() + 10_000_000)
    market.trades.push(clock.now_ns(), clock.now_ns(), price, 0.01, 1, SIDE_BUY)
    market.last_price = price
    venue.on_trade(market, clock.now_ns())


def test_emergency_exit_cancels_flattens_and_rejects_until_admin_reset() -> None:
    engine, clock = _engine()
    venue = _wire(engine, clock)
    engine.start()
    _fill_long(engine, clock, venue)
    engine.emergency_exit("operator kill switch")
    assert (
        "operator kill switch" in engine.bus.get_event_history(EventType.EMERGENCY_EXIT)[-1].reason
    )
    clock.advance_to(clock.now_ns() + 10_000_000)
    venue.on_ticker(engine.markets["BTC/USDT"], clock.now_ns())
    assert engine.portfolio.positions["BTC/USDT"].quantity == 0.0
    signal = TradingSignal(symbol="BTC/USDT", side="BUY", confidence=0.9, price=100.0, quantity=1.0)
    assert engine.submit_signal(signal) is None
    assert engine.bus.get_event_history(EventType.RISK_CHECK_FAILED)[-1].check == "trading_halted"
    with pytest.raises(PermissionError):
        engine.reset_trading(role="trader")
    engine.reset_trading(role="admin")
    assert engine.submit_signal(signal) is not None


def test_stop_loss_when_mark_falls_two_percent_below_entry_then_position_closed() -> None:
    engine, clock = _engine()
    venue = _wire(engine, clock)
    engine.start()
    _fill_long(engine, clock, venue)
    entry = engine.portfolio.positions["BTC/USDT"].average_price
    _trade(engine, clock, venue, entry * 0.99)  # -1 %: nothing happens
    assert engine.portfolio.positions["BTC/USDT"].quantity == 1.0
    _trade(engine, clock, venue, entry * 0.979)  # beyond -2 %: exit sent
    clock.advance_to(clock.now_ns() + 10_000_000)
    venue.on_ticker(engine.markets["BTC/USDT"], clock.now_ns())
    assert engine.portfolio.positions["BTC/USDT"].quantity == 0.0
    placed = engine.bus.get_event_history(EventType.ORDER_PLACED)
    assert placed[-1].side == "SELL"
