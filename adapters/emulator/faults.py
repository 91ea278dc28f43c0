"""Fault injection on the emulator's WebSocket stream (REST answers always stay correct).

Every fault is deterministic: counters count the frames of one connection's
stream (the recorded frames of the streams it subscribed to, in order, 1-based,
before any fault is applied), and the random ones draw from a
``random.Random`` seeded with ``(seed, connection number)``, connections being
numbered 0, 1, ... in the order they were accepted. So the same options, seed
and client behaviour give the same faults, frame for frame.

At most one of drop, corrupt, duplicate and reorder applies to a frame, in
that order of priority. ``gap_at`` acts on the replay itself, before any
connection sees the frame, so every connection misses the same diff.
``disconnect_after`` and ``stall_after`` fire once per emulator, on the first
connection that reaches N frames.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

import msgspec

if TYPE_CHECKING:
    from adapters.emulator.server import EmulatorStats

__all__ = ["CONTINUE", "DISCONNECT", "STALL", "ConnectionFaults", "FaultConfig", "FaultConfigError"]

#: What the connection does after a frame (:meth:`ConnectionFaults.process`).
CONTINUE = 0
DISCONNECT = 1
STALL = 2

_QUOTE = 0x22
_UTF8_CONTINUATION = 0xC0  # mask; continuation bytes are 0b10xxxxxx


class FaultConfigError(ValueError):
    """A fault option out of range; the message names the option and the value."""


class FaultConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Faults to inject into each WebSocket connection; every default is off.

    Keys
    ----
    drop_every : int
        Drop every N-th frame (0: off).
    drop_prob : float
        Drop each frame with this probability, drawn from ``seed`` (0.0: off).
    duplicate_every : int
        Send every N-th frame twice in a row (0: off).
    reorder_every : int
        Hold every N-th frame back and send it after the next one: the two are swapped
        (0: off). A frame held at the end of the replay is sent then.
    corrupt_every : int
        Corrupt every N-th frame so that it is not valid JSON (0: off): alternately
        truncated at a random byte and garbled (one ``"`` replaced by ``#``).
    gap_at : int
        Never send the N-th depth diff of the replay (1 = the first diff served): a
        sequence gap on every connection (0: off). Counted over the first pass.
    disconnect_after : int
        Close the connection (close code 1001, going away) right after its N-th frame
        (0: off). Once per emulator; the client reconnects and is served from the
        current replay position.
    stall_after : int
        After the connection's N-th frame, send it nothing for ``stall_s`` seconds while
        keeping it open, then go on (0: off). Once per emulator.
    stall_s : float
        Length of the stall, default 5.0.
    seed : int
        Seed of the random choices (``drop_prob``, where ``corrupt_every`` cuts), default 0.

    Examples
    --------
    >>> FaultConfig(drop_every=100, gap_at=5).enabled
    True
    >>> FaultConfig(drop_every=-1)  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    FaultConfigError: drop_every must be >= 0 (0 = off), was -1
    """

    drop_every: int = 0
    drop_prob: float = 0.0
    duplicate_every: int = 0
    reorder_every: int = 0
    corrupt_every: int = 0
    gap_at: int = 0
    disconnect_after: int = 0
    stall_after: int = 0
    stall_s: float = 5.0
    seed: int = 0

    def __post_init__(self) -> None:
        for name in (
            "drop_every",
            "duplicate_every",
            "reorder_every",
            "corrupt_every",
            "gap_at",
            "disconnect_after",
            "stall_after",
        ):
            value = getattr(self, name)
            if value < 0:
                raise FaultConfigError(f"{name} must be >= 0 (0 = off), was {value}")
        if not 0.0 <= self.drop_prob <= 1.0:
            raise FaultConfigError(f"drop_prob must be in [0, 1], was {self.drop_prob}")
        if not self.stall_s >= 0.0:
            raise FaultConfigError(f"stall_s must be >= 0, was {self.stall_s}")

    @property
    def enabled(self) -> bool:
        """Whether any fault is on."""
        return self.per_connection or self.gap_at > 0

    @property
    def per_connection(self) -> bool:
        """Whether a fault that acts on each connection's frames is on (all but ``gap_at``)."""
        return bool(
            self.drop_every
            or self.drop_prob
            or self.duplicate_every
            or self.reorder_every
            or self.corrupt_every
            or self.disconnect_after
            or self.stall_after
        )


class ConnectionFaults:
    """The fault state of one connection: its frame count, random source and held frame."""

    __slots__ = ("_config", "_corruptions", "_rng", "_stats", "count", "held")

    def __init__(self, config: FaultConfig, stats: EmulatorStats, connection_number: int) -> None:
        self._config = config
        self._stats = stats
        self._rng = random.Random(config.seed * 1_000_003 + connection_number)
        self._corruptions = 0
        #: Frames of this connection's stream processed so far.
        self.count = 0
        #: The frame held back by ``reorder_every``, sent after the next one.
        self.held: bytes | None = None

    def process(self, frame: bytes, out: list[bytes]) -> int:
        """Append to ``out`` what to send for the next frame of the stream; return the action.

        The action is :data:`CONTINUE`, :data:`DISCONNECT` (close the connection now) or
        :data:`STALL` (send it nothing for ``stall_s`` seconds).
        """
        cfg = self._config
        stats = self._stats
        self.count = k = self.count + 1
        held = self.held
        if (cfg.drop_every and k % cfg.drop_every == 0) or (
            cfg.drop_prob and self._rng.random() < cfg.drop_prob
        ):
            stats.dropped += 1
        elif cfg.corrupt_every and k % cfg.corrupt_every == 0:
            out.append(self._corrupt(frame))
            stats.corrupted += 1
        elif cfg.duplicate_every and k % cfg.duplicate_every == 0:
            out.append(frame)
            out.append(frame)
            stats.duplicated += 1
        elif cfg.reorder_every and k % cfg.reorder_every == 0 and held is None:
            self.held = frame
            stats.reordered += 1
            return self._action(k)
        else:
            out.append(frame)
        if held is not None:
            out.append(held)
            self.held = None
        return self._action(k)

    def _action(self, k: int) -> int:
        cfg = self._config
        stats = self._stats
        if k == cfg.disconnect_after and stats.disconnects == 0:
            stats.disconnects += 1
            return DISCONNECT
        if k == cfg.stall_after and stats.stalls == 0:
            stats.stalls += 1
            return STALL
        return CONTINUE

    def _corrupt(self, frame: bytes) -> bytes:
        """Truncate or garble ``frame`` so that it is not valid JSON (and is still UTF-8)."""
        self._corruptions += 1
        rng = self._rng
        quotes = frame.count(b'"')
        if self._corruptions % 2 == 1 or quotes == 0 or len(frame) < 2:
            # a proper prefix of a JSON object or array never parses
            cut = rng.randrange(1, len(frame)) if len(frame) > 1 else 0
            while cut > 0 and frame[cut] & _UTF8_CONTINUATION == 0x80:
                cut -= 1
            return frame[:cut]
        # one quote fewer: unescaped quotes no longer pair up, or an escape \" becomes \#
        nth = rng.randrange(quotes)
        at = -1
        for _ in range(nth + 1):
            at = frame.index(b'"', at + 1)
        return frame[:at] + b"#" + frame[at + 1 :]
