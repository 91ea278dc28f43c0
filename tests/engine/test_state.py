"""Engine state machine and clocks."""

from __future__ import annotations

import pytest

from engine.clock import SimulatedClock, WallClock
from engine.state import EngineState, EngineStateMachine, IllegalTransitionError


def test_transition_when_following_lifecycle_then_history_recorded() -> None:
    sm = EngineStateMachine()
    for target in ("INITIALIZING", "RUNNING", "PAUSED", "RUNNING", "STOPPING", "STOPPED"):
        sm.transition(EngineState(target))
    assert sm.state is EngineState.STOPPED
    assert [s.value for s in sm.history] == [
        "STOPPED",
        "INITIALIZING",
        "RUNNING",
        "PAUSED",
        "RUNNING",
        "STOPPING",
        "STOPPED",
    ]


@pytest.mark.parametrize(
    ("path", "target"),
    [
        ((), EngineState.RUNNING),
        ((), EngineState.PAUSED),
        ((EngineState.INITIALIZING,), EngineState.PAUSED),
        ((EngineState.INITIALIZING, EngineState.RUNNING), EngineState.STOPPED),
        ((EngineState.INITIALIZING, EngineState.ERROR), EngineState.RUNNING),
    ],
)
def test_transition_when_illegal_then_raises_naming_both_states(
    path: tuple[EngineState, ...], target: EngineState
) -> None:
    sm = EngineStateMachine()
    for state in path:
        sm.transition(state)
    before = sm.state
    with pytest.raises(IllegalTransitionError) as info:
        sm.transition(target)
    message = str(info.value)
    assert f"{before} -> {target}" in message
    assert sm.state is before
    assert not sm.can_transition(target)


def test_error_state_when_entered_then_only_stop_leaves_it() -> None:
    sm = EngineStateMachine()
    sm.transition(EngineState.INITIALIZING)
    sm.transition(EngineState.ERROR)
    allowed = [s for s in EngineState if sm.can_transition(s)]
    assert allowed == [EngineState.STOPPING]


def test_simulated_clock_never_runs_backwards() -> None:
    clock = SimulatedClock(100)
    clock.advance_to(50)
    assert clock.now_ns() == 100
    clock.advance_to(200)
    assert clock.now_ns() == 200


def test_wall_clock_returns_int_ns_close_to_time() -> None:
    import time

    now = WallClock().now_ns()
    assert isinstance(now, int)
    assert abs(now - time.time_ns()) < 5_000_000_000
