"""EventBus: bounded per-topic history, synchronous dispatch, handler isolation."""

from __future__ import annotations

import logging

import pytest

from engine.bus import EventBus
from engine.events import EVENT_TYPES, EventType, RiskAlert, SignalRejected


def _alert(i: int) -> RiskAlert:
    return RiskAlert(ts=i, source="test", message=f"alert {i}")


def test_get_event_history_when_more_events_than_bound_then_keeps_latest_oldest_first() -> None:
    bus = EventBus(history=3)
    for i in range(5):
        bus.publish(_alert(i))
    history = bus.get_event_history(EventType.RISK_ALERT)
    assert [e.ts for e in history] == [2, 3, 4]
    assert [e.ts for e in bus.get_event_history(EventType.RISK_ALERT, limit=2)] == [3, 4]
    assert bus.get_event_history(EventType.RISK_ALERT, limit=0) == []
    assert bus.published[EventType.RISK_ALERT] == 5


def test_get_event_history_when_other_topic_then_separate() -> None:
    bus = EventBus(history=10)
    bus.publish(_alert(1))
    bus.publish(SignalRejected(ts=2, signal_id=1, symbol="BTC/USDT", reason="x"))
    assert [e.ts for e in bus.get_event_history(EventType.SIGNAL_REJECTED)] == [2]
    assert [e.ts for e in bus.get_event_history(EventType.RISK_ALERT)] == [1]
    assert bus.get_event_history(EventType.ORDER_FILLED) == []


def test_publish_when_handler_raises_then_others_still_run_and_error_counted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    bus = EventBus()
    seen: list[int] = []

    def broken(event: object) -> None:
        raise RuntimeError("boom")

    bus.subscribe(EventType.RISK_ALERT, seen.append)
    bus.subscribe(EventType.RISK_ALERT, broken)
    bus.subscribe(EventType.RISK_ALERT, lambda e: seen.append(e.ts))
    with caplog.at_level(logging.ERROR, logger="ats.bus"):
        bus.publish(_alert(7))
        bus.publish(_alert(8))
    assert [x if isinstance(x, int) else x.ts for x in seen] == [7, 7, 8, 8]
    assert bus.total_handler_errors == 2
    assert any("broken" in name for name in bus.handler_errors)


def test_publish_dispatches_synchronously_in_subscription_order() -> None:
    bus = EventBus()
    order: list[str] = []
    bus.subscribe(EventType.RISK_ALERT, lambda e: order.append("first"))
    bus.subscribe(EventType.RISK_ALERT, lambda e: order.append("second"))
    bus.publish(_alert(1))
    assert order == ["first", "second"]


def test_unsubscribe_when_not_subscribed_then_error_names_topic() -> None:
    bus = EventBus()
    with pytest.raises(ValueError, match="RISK_ALERT"):
        bus.unsubscribe(EventType.RISK_ALERT, print)


def test_event_bus_when_negative_history_then_error() -> None:
    with pytest.raises(ValueError, match="-1"):
        EventBus(history=-1)


def test_events_are_frozen_untracked_and_one_class_per_topic() -> None:
    import gc

    event = _alert(1)
    with pytest.raises(AttributeError):
        event.ts = 2  # type: ignore[misc]
    assert not gc.is_tracked(event)
    assert set(EVENT_TYPES) == set(EventType)
    assert all(cls.TYPE is topic for topic, cls in EVENT_TYPES.items())
