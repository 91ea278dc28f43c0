"""Synchronous event bus with bounded per-topic history and handler isolation."""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable

from engine.events import Event, EventType

__all__ = ["EventBus", "Handler"]

Handler = Callable[[Event], None]

_log = logging.getLogger("ats.bus")


class EventBus:
    """Dispatch events synchronously to the handlers of their topic.

    Every published event is appended to a bounded history of its topic, then
    handed to each subscribed handler in subscription order. A handler that
    raises is isolated: the exception is logged and counted, and the other
    handlers still receive the event. Dispatch is synchronous, so a handler
    sees the state left by the handlers before it and nothing runs between
    publish and return (there is no task per event).

    Parameters
    ----------
    history : int
        Events kept per topic for :meth:`get_event_history` (``engine.event_history``).

    Examples
    --------
    >>> bus = EventBus(history=10)
    >>> seen = []
    >>> bus.subscribe(EventType.RISK_ALERT, seen.append)
    """

    __slots__ = ("_handlers", "_history", "handler_errors", "history_size", "published")

    def __init__(self, history: int = 1000) -> None:
        if history < 0:
            raise ValueError(f"event history must be >= 0, was {history}")
        self.history_size = history
        self._handlers: dict[EventType, list[Handler]] = {t: [] for t in EventType}
        self._history: dict[EventType, deque[Event]] = {t: deque(maxlen=history) for t in EventType}
        #: Events published, per topic.
        self.published: dict[EventType, int] = dict.fromkeys(EventType, 0)
        #: Exceptions raised by handlers, per handler qualified name.
        self.handler_errors: dict[str, int] = {}

    def subscribe(self, topic: EventType, handler: Handler) -> None:
        """Call ``handler(event)`` for every event published on ``topic``."""
        self._handlers[EventType(topic)].append(handler)

    def unsubscribe(self, topic: EventType, handler: Handler) -> None:
        """Stop calling ``handler`` for ``topic``; a handler never subscribed is an error."""
        try:
            self._handlers[EventType(topic)].remove(handler)
        except ValueError:
            raise ValueError(f"handler {handler!r} is not subscribed to {topic}") from None

    def publish(self, event: Event) -> None:
        """Record ``event`` in its topic's history and dispatch it to every handler."""
        topic = event.TYPE
        self._history[topic].append(event)
        self.published[topic] += 1
        for handler in self._handlers[topic]:
            try:
                handler(event)
            except Exception:
                name = getattr(handler, "__qualname__", repr(handler))
                self.handler_errors[name] = self.handler_errors.get(name, 0) + 1
                _log.exception(
                    "event handler failed", extra={"fields": {"handler": name, "topic": topic}}
                )

    def get_event_history(self, topic: EventType, limit: int | None = None) -> list[Event]:
        """Return the most recent events of ``topic``, oldest first, at most ``limit``."""
        history = self._history[EventType(topic)]
        if limit is None or limit >= len(history):
            return list(history)
        if limit <= 0:
            return []
        return list(history)[-limit:]

    @property
    def total_handler_errors(self) -> int:
        """Number of handler exceptions isolated so far."""
        return sum(self.handler_errors.values())
