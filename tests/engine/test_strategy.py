"""EMA momentum strategy and the BaseStrategy contract, on synthetic and real prices."""

from __future__ import annotations

import math

import numpy as np
import pytest
import talib

from engine.config import RiskConfig, StrategyConfig
from engine.instruments import default_instruments
from engine.market import SymbolMarket
from engine.strategies import STRATEGIES, EmaMomentumStrategy
from engine.strategy import TradingSignal

NS = 1_000_000_000


def _market() -> SymbolMarket:
    return SymbolMarket(default_instruments().get("BTC/USDT"), 64, 64)


def _feed(
    strategy: EmaMomentumStrategy, prices: np.ndarray, position: float = 0.0, dt_s: float = 1.0
):
    market = _market()
    signals: list[tuple[int, TradingSignal]] = []
    for i, price in enumerate(prices):
        market.last_price = float(price)
        signal = strategy.generate_signal(market, int(i * dt_s * NS), position)
        if signal is not None:
            signals.append((i, signal))
            position = 1.0 if signal.side == "BUY" else 0.0
    return signals


def test_generate_signal_when_fast_ema_crosses_above_slow_then_buy_at_the_cross() -> None:
    strategy = EmaMomentumStrategy(StrategyConfig(cooldown_s=0.0), RiskConfig())
    # A noisy V: the noise keeps the RSI off 100, so the overbought filter lets the cross through.
    trend = np.concatenate([np.linspace(110, 100, 60), np.linspace(100, 106, 60)])
    prices = trend + 0.8 * np.sin(np.arange(120) * 1.3)
    signals = _feed(strategy, prices)
    assert signals, "a V-shaped series must produce a BUY"
    index, first = signals[0]
    fast = talib.EMA(prices, 12)
    slow = talib.EMA(prices, 26)
    rsi_all = talib.RSI(prices, 14)
    diff = fast - slow
    crosses = [i for i in range(27, len(prices)) if diff[i] > 0 >= diff[i - 1] and rsi_all[i] < 70]
    assert first.side == "BUY"
    assert index == crosses[0]
    rsi = rsi_all[index]
    assert first.confidence == pytest.approx(min(1.0, 0.5 + abs(rsi - 50) / 100), rel=1e-9)
    assert first.stop_loss == pytest.approx(first.price * 0.98)
    assert first.take_profit == pytest.approx(first.price * 1.05)
    assert first.metadata["ema_fast"] == pytest.approx(fast[index], rel=1e-9)
    assert strategy.validate_signal(first)


def test_generate_signal_when_flat_then_never_sells() -> None:
    strategy = EmaMomentumStrategy(StrategyConfig(cooldown_s=0.0), RiskConfig())
    market = _market()
    prices = np.concatenate([np.linspace(100, 120, 60), np.linspace(120, 90, 60)])
    sides = []
    for i, price in enumerate(prices):
        market.last_price = float(price)
        signal = strategy.generate_signal(market, i * NS, 0.0)
        if signal is not None:
            sides.append(signal.side)
    assert "SELL" not in sides


def test_generate_signal_when_long_and_trend_turns_down_then_sell() -> None:
    strategy = EmaMomentumStrategy(StrategyConfig(cooldown_s=0.0), RiskConfig())
    trend = np.concatenate(
        [np.linspace(110, 100, 60), np.linspace(100, 108, 60), np.linspace(108, 95, 60)]
    )
    prices = trend + 0.8 * np.sin(np.arange(180) * 1.3)
    sides = [s.side for _, s in _feed(strategy, prices)]
    assert sides[:2] == ["BUY", "SELL"]


def test_generate_signal_when_within_cooldown_then_suppressed() -> None:
    prices = 100 + np.sin(np.arange(600) / 7.0) * 2
    fast = _feed(EmaMomentumStrategy(StrategyConfig(cooldown_s=0.0)), prices)
    slow = _feed(EmaMomentumStrategy(StrategyConfig(cooldown_s=60.0)), prices)
    assert len(slow) < len(fast)
    gaps = np.diff([i for i, _ in slow])
    assert (gaps >= 60).all()


def test_generate_signal_before_warm_up_then_none() -> None:
    strategy = EmaMomentumStrategy(StrategyConfig(), RiskConfig())
    signals = _feed(strategy, np.linspace(100, 50, 25))
    assert signals == []
    indicators = strategy.get_indicators("BTC/USDT")
    assert indicators["ticks"] == 25
    assert math.isnan(indicators["ema_slow"])


def test_calculate_position_size_scales_with_confidence_and_sell_closes_long() -> None:
    strategy = EmaMomentumStrategy(StrategyConfig(position_fraction=0.2))
    buy = TradingSignal(symbol="BTC/USDT", side="BUY", confidence=0.5, price=50_000.0)
    assert strategy.calculate_position_size(buy, 100_000.0, 0.0) == pytest.approx(0.2)
    sell = TradingSignal(symbol="BTC/USDT", side="SELL", confidence=0.9, price=50_000.0)
    assert strategy.calculate_position_size(sell, 100_000.0, 0.37) == 0.37
    assert strategy.calculate_position_size(sell, 100_000.0, 0.0) == 0.0


@pytest.mark.parametrize(
    ("side", "confidence", "price", "stop", "take", "valid"),
    [
        ("BUY", 0.7, 100.0, 98.0, 105.0, True),
        ("BUY", 0.7, 100.0, 0.0, 0.0, True),
        ("BUY", 0.7, 100.0, 101.0, 105.0, False),
        ("BUY", 1.2, 100.0, 98.0, 105.0, False),
        ("HOLD", 0.7, 100.0, 0.0, 0.0, False),
        ("SELL", 0.7, -1.0, 0.0, 0.0, False),
    ],
)
def test_validate_signal(
    side: str, confidence: float, price: float, stop: float, take: float, valid: bool
) -> None:
    signal = TradingSignal(
        symbol="BTC/USDT",
        side=side,
        confidence=confidence,
        price=price,
        stop_loss=stop,
        take_profit=take,
    )
    assert EmaMomentumStrategy(StrategyConfig()).validate_signal(signal) is valid


def test_strategies_registry_names_match_config_names() -> None:
    assert STRATEGIES[StrategyConfig().name] is EmaMomentumStrategy
