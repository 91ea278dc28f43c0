"""Built-in strategies, by config name (``strategy.name``)."""

from __future__ import annotations

from engine.strategies.ema_momentum import EmaMomentumStrategy

__all__ = ["STRATEGIES", "EmaMomentumStrategy"]

#: Strategy class per ``strategy.name``.
STRATEGIES = {EmaMomentumStrategy.name: EmaMomentumStrategy}
