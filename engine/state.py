"""Engine lifecycle state machine and trading modes."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["EngineState", "EngineStateMachine", "IllegalTransitionError", "TradingMode"]


class TradingMode(StrEnum):
    """Where market data comes from and where orders go (see DESIGN.md, Modes)."""

    BACKTEST = "backtest"
    PAPER = "paper"
    LIVE = "live"


class EngineState(StrEnum):
    """Lifecycle states of the engine."""

    STOPPED = "STOPPED"
    INITIALIZING = "INITIALIZING"
    RUNNING = "RUNNING"
    PAUSED = "PAUSED"
    STOPPING = "STOPPING"
    ERROR = "ERROR"


_ALLOWED: dict[EngineState, frozenset[EngineState]] = {
    EngineState.STOPPED: frozenset({EngineState.INITIALIZING}),
    EngineState.INITIALIZING: frozenset(
        {EngineState.RUNNING, EngineState.STOPPING, EngineState.ERROR}
    ),
    EngineState.RUNNING: frozenset({EngineState.PAUSED, EngineState.STOPPING, EngineState.ERROR}),
    EngineState.PAUSED: frozenset({EngineState.RUNNING, EngineState.STOPPING, EngineState.ERROR}),
    EngineState.STOPPING: frozenset({EngineState.STOPPED, EngineState.ERROR}),
    # ERROR needs an operator: the only way out is an explicit stop.
    EngineState.ERROR: frozenset({EngineState.STOPPING}),
}


class IllegalTransitionError(RuntimeError):
    """A state change the lifecycle does not allow; the message names both states."""

    def __init__(self, current: EngineState, target: EngineState) -> None:
        allowed = ", ".join(sorted(_ALLOWED[current])) or "none"
        super().__init__(
            f"illegal engine state transition {current} -> {target} (allowed from {current}: "
            f"{allowed})"
        )
        self.current = current
        self.target = target


class EngineStateMachine:
    """``STOPPED → INITIALIZING → RUNNING ⇄ PAUSED → STOPPING → STOPPED``, plus ``ERROR``.

    Examples
    --------
    >>> sm = EngineStateMachine()
    >>> sm.transition(EngineState.INITIALIZING)
    >>> sm.state
    <EngineState.INITIALIZING: 'INITIALIZING'>
    """

    __slots__ = ("history", "state")

    def __init__(self) -> None:
        self.state = EngineState.STOPPED
        #: Every state entered, in order, starting with STOPPED.
        self.history: list[EngineState] = [EngineState.STOPPED]

    def can_transition(self, target: EngineState) -> bool:
        """Return whether ``target`` is reachable from the current state in one step."""
        return EngineState(target) in _ALLOWED[self.state]

    def transition(self, target: EngineState) -> None:
        """Move to ``target``; raise :class:`IllegalTransitionError` if not allowed."""
        target = EngineState(target)
        if target not in _ALLOWED[self.state]:
            raise IllegalTransitionError(self.state, target)
        self.state = target
        self.history.append(target)
