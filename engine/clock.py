"""Engine clocks: int64 nanoseconds since the Unix epoch (UTC).

Components take time from a clock object, never from ``time.time()``: the
simulated clock makes backtests replayable, the wall clock drives paper and
live trading.
"""

from __future__ import annotations

import time
from typing import Protocol

__all__ = ["Clock", "SimulatedClock", "WallClock"]


class Clock(Protocol):
    """Anything that tells the engine time in int64 ns."""

    def now_ns(self) -> int:
        """Return the current time in ns since the epoch."""
        ...


class SimulatedClock:
    """A clock driven by the data: set to each event's timestamp during replay.

    Time never runs backwards: :meth:`advance_to` with an earlier time keeps the
    current time (recorded feeds interleave streams whose receive times can be
    out of order by a few microseconds).
    """

    __slots__ = ("_ns",)

    def __init__(self, start_ns: int = 0) -> None:
        self._ns = int(start_ns)

    def now_ns(self) -> int:
        """Return the simulated time in ns."""
        return self._ns

    def advance_to(self, ts_ns: int) -> None:
        """Move the clock to ``ts_ns`` if it is later than now."""
        if ts_ns > self._ns:
            self._ns = ts_ns


class WallClock:
    """The system's real-time clock."""

    __slots__ = ()

    def now_ns(self) -> int:
        """Return ``time.time_ns()``."""
        return time.time_ns()
