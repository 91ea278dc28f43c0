"""Strategy interface and the signal it produces.

A strategy sees market state (:class:`engine.market.SymbolMarket`) one event
at a time and returns a :class:`TradingSignal` or None. It runs unchanged in
backtest, paper and live mode: it never reads the wall clock (time comes in
the market state) and never talks to a venue.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import msgspec

from engine.market import SymbolMarket

__all__ = ["BaseStrategy", "TradingSignal"]


class TradingSignal(msgspec.Struct, frozen=True, gc=False, kw_only=True):
    """A strategy's intent: what to trade, how sure it is, where to exit.

    ``quantity`` is 0 until :meth:`BaseStrategy.calculate_position_size` sizes
    it. ``side`` is ``"BUY"`` or ``"SELL"``; ``confidence`` is in [0, 1];
    ``timestamp`` is engine-clock ns.
    """

    symbol: str
    side: str
    confidence: float
    price: float
    quantity: float = 0.0
    stop_loss: float = 0.0
    take_profit: float = 0.0
    strategy_name: str = ""
    timestamp: int = 0
    metadata: dict[str, Any] = msgspec.field(default_factory=dict)


class BaseStrategy(ABC):
    """Base class of every strategy.

    Subclasses implement :meth:`generate_signal`; the others have sensible
    defaults. ``name`` identifies the strategy in signals, orders and config.
    """

    name: str = "base"

    @abstractmethod
    def generate_signal(
        self, market: SymbolMarket, ts: int, position_qty: float
    ) -> TradingSignal | None:
        """Consume the latest trade of ``market`` and return a signal or None.

        ``ts`` is the engine clock (ns); ``position_qty`` the current signed
        position in ``market.symbol``.
        """

    def warm_up(self) -> None:  # noqa: B027 - optional hook, empty by default
        """Load compiled kernels before trading starts (called in INITIALIZING)."""

    def calculate_position_size(
        self, signal: TradingSignal, equity: float, position_qty: float
    ) -> float:
        """Return the (unrounded) quantity to trade for ``signal``.

        The default closes the position on a SELL and otherwise targets
        ``equity * confidence * 0.1`` of notional.
        """
        if signal.side == "SELL":
            return max(position_qty, 0.0)
        return equity * signal.confidence * 0.1 / signal.price

    def validate_signal(self, signal: TradingSignal) -> bool:
        """Return whether ``signal`` is internally consistent (side, prices, confidence)."""
        if signal.side not in ("BUY", "SELL"):
            return False
        if not (0.0 <= signal.confidence <= 1.0 and signal.price > 0.0):
            return False
        if signal.side == "BUY":
            return signal.stop_loss < signal.price < signal.take_profit or (
                signal.stop_loss == 0.0 and signal.take_profit == 0.0
            )
        return True

    def get_state(self) -> dict[str, Any]:
        """Return what a restart needs to carry on where this run stopped (JSON-able).

        The store writes it with every snapshot and at stop; the default keeps
        nothing.
        """
        return {}

    def set_state(self, state: dict[str, Any]) -> None:  # noqa: B027 - optional hook
        """Take back a state :meth:`get_state` returned (called before :meth:`warm_up`)."""

    def get_indicators(self, symbol: str) -> dict[str, float]:
        """Return the strategy's latest indicator values for ``symbol``."""
        return {}
