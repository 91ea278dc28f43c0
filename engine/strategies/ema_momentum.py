"""EMA 12/26 crossover momentum on trade prices, with an RSI filter.

Per trade, one njit call (:func:`kernels.indicators.momentum_update`) updates
the fast and slow EMA and the RSI of the symbol. A BUY is signalled when the
fast EMA crosses above the slow one while the RSI is below
``rsi_overbought``; a SELL (close the long) when it crosses below, or when the
RSI crosses above ``rsi_overbought``. Signals are at least
``cooldown_s`` apart per symbol (trade-time, so backtests replay exactly).

Confidence grows with the momentum behind the cross: ``0.5 + |rsi - 50| /
100``, capped at 1, so weak crosses (RSI near 50) fall below the risk
engine's ``min_confidence`` and are denied there, visibly.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from engine.config import RiskConfig, StrategyConfig
from engine.market import SymbolMarket
from engine.strategy import BaseStrategy, TradingSignal
from kernels.indicators import (
    MOM_COUNT,
    MOM_EMA_FAST,
    MOM_EMA_SLOW,
    MOM_RSI,
    momentum_state,
    momentum_update,
)

__all__ = ["EmaMomentumStrategy"]

_NS = 1_000_000_000

_log = logging.getLogger("ats.strategy")


class _SymbolState:
    __slots__ = ("last_diff", "last_rsi", "last_signal_ts", "state")

    def __init__(self, state: np.ndarray) -> None:
        self.state = state
        self.last_diff = 0.0
        self.last_rsi = 50.0
        self.last_signal_ts = -(1 << 62)


class EmaMomentumStrategy(BaseStrategy):
    """Trend following on an EMA crossover (see the module docstring)."""

    name = "ema_momentum"

    def __init__(self, config: StrategyConfig, risk: RiskConfig | None = None) -> None:
        self.config = config
        self._fast = config.fast_period
        self._slow = config.slow_period
        self._rsi = config.rsi_period
        self._warmup = max(config.slow_period, config.rsi_period + 1)
        self._cooldown_ns = int(config.cooldown_s * _NS)
        self._stop_loss = 0.0 if risk is None else risk.stop_loss_pct
        self._take_profit = 0.0 if risk is None else risk.take_profit_pct
        self._symbols: dict[str, _SymbolState] = {}

    def _symbol_state(self, symbol: str) -> _SymbolState:
        st = self._symbols.get(symbol)
        if st is None:
            st = self._symbols[symbol] = _SymbolState(
                momentum_state(self._fast, self._slow, self._rsi)
            )
        return st

    def get_state(self) -> dict[str, Any]:
        """Per symbol: the indicator kernel's state, the last crossover and the cooldown."""
        return {
            symbol: {
                "state": st.state.tolist(),
                "last_diff": st.last_diff,
                "last_rsi": st.last_rsi,
                "last_signal_ts": st.last_signal_ts,
            }
            for symbol, st in self._symbols.items()
        }

    def set_state(self, state: dict[str, Any]) -> None:
        """Restore :meth:`get_state`'s output; a state of other periods is ignored (logged)."""
        for symbol, saved in state.items():
            st = self._symbol_state(symbol)
            values = np.asarray(saved.get("state", ()), dtype=st.state.dtype)
            if values.shape != st.state.shape:
                _log.warning(
                    "saved strategy state ignored: indicator periods changed",
                    extra={"fields": {"symbol": symbol}},
                )
                continue
            st.state[:] = values
            st.last_diff = float(saved["last_diff"])
            st.last_rsi = float(saved["last_rsi"])
            st.last_signal_ts = int(saved["last_signal_ts"])

    def warm_up(self) -> None:
        """Compile or load the indicator kernel before the first tick."""
        momentum_update(momentum_state(self._fast, self._slow, self._rsi), 1.0)

    def generate_signal(
        self, market: SymbolMarket, ts: int, position_qty: float
    ) -> TradingSignal | None:
        """Update the indicators with ``market.last_price``; return a signal on a cross.

        Long only: a SELL is signalled only while long.
        """
        st = self._symbols.get(market.symbol)
        if st is None:
            st = self._symbol_state(market.symbol)
        state = st.state
        price = market.last_price
        momentum_update(state, price)
        if state[MOM_COUNT] < self._warmup:
            return None
        diff = state[MOM_EMA_FAST] - state[MOM_EMA_SLOW]
        last = st.last_diff
        st.last_diff = diff
        rsi = state[MOM_RSI]
        last_rsi = st.last_rsi
        st.last_rsi = rsi
        overbought = self.config.rsi_overbought
        if diff > 0.0 >= last and rsi < overbought:
            side = "BUY"
        elif position_qty > 0.0 and ((diff < 0.0 <= last) or (rsi > overbought >= last_rsi)):
            side = "SELL"
        else:
            return None
        if ts - st.last_signal_ts < self._cooldown_ns:
            return None
        st.last_signal_ts = ts
        confidence = min(1.0, 0.5 + abs(rsi - 50.0) / 100.0)
        if side == "BUY":
            stop = price * (1.0 - self._stop_loss) if self._stop_loss > 0 else 0.0
            take = price * (1.0 + self._take_profit) if self._take_profit > 0 else 0.0
        else:
            stop = take = 0.0
        return TradingSignal(
            symbol=market.symbol,
            side=side,
            confidence=confidence,
            price=price,
            stop_loss=stop,
            take_profit=take,
            strategy_name=self.name,
            timestamp=ts,
            metadata={
                "ema_fast": state[MOM_EMA_FAST],
                "ema_slow": state[MOM_EMA_SLOW],
                "rsi": rsi,
            },
        )

    def calculate_position_size(
        self, signal: TradingSignal, equity: float, position_qty: float
    ) -> float:
        """BUY: ``equity * position_fraction * confidence / price``; SELL: the whole long."""
        if signal.side == "SELL":
            return max(position_qty, 0.0)
        return equity * self.config.position_fraction * signal.confidence / signal.price

    def get_indicators(self, symbol: str) -> dict[str, float]:
        """Return the latest EMA fast/slow and RSI of ``symbol``."""
        st = self._symbols.get(symbol)
        if st is None:
            return {}
        s = st.state
        return {
            "ema_fast": float(s[MOM_EMA_FAST]),
            "ema_slow": float(s[MOM_EMA_SLOW]),
            "rsi": float(s[MOM_RSI]),
            "ticks": float(s[MOM_COUNT]),
        }
