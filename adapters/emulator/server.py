"""The venue-neutral part of the emulator: one aiohttp server, one replay, many connections.

:class:`ReplayServer` listens on 127.0.0.1 (HTTP and WebSocket on one port) and
runs one replay of an :class:`~adapters.emulator.recording.EmulatorRecording`,
like an exchange runs one market: every connection subscribed to a stream gets
that stream's frames from the current position on, unchanged, in recorded
order. A venue subclass (:class:`adapters.emulator.binance.BinanceEmulator`)
adds its REST routes, its stream names and its subscribe messages.

Timing
    The replay starts when a connection first subscribes to a recorded stream
    and advances only while at least one connection receives (subscribed, not
    stalled, not being closed), so a test that connects, disconnects or stalls
    sees the same frames every run. ``fast=True`` sends as fast as the
    clients read (TCP flow control applies, and the loop yields every 256
    frames so HTTP requests are answered mid-replay); otherwise frames keep
    their recorded inter-arrival times divided by ``speed``, re-anchored after
    every pause.

Hot loop
    Per frame: one list lookup for the subscribers of its stream and, per
    subscriber, one ``send_frame`` (text, no compression) — no task, no
    decoding, no copy. Connections with faults take a slower path through
    :class:`~adapters.emulator.faults.ConnectionFaults`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Callable
from types import TracebackType
from typing import Self

import msgspec
from aiohttp import WSCloseCode, WSMsgType, web

from adapters.emulator.faults import CONTINUE, DISCONNECT, ConnectionFaults, FaultConfig
from adapters.emulator.recording import EmulatorRecording

__all__ = ["EmulatorError", "EmulatorStats", "ReplayServer"]

_log = logging.getLogger("ats.adapters.emulator")

#: Frames sent between two yields to the event loop in fast mode.
_FAST_YIELD_MASK = 255
#: Seconds to wait for a client's close reply before dropping the connection.
_CLOSE_TIMEOUT_S = 1.0


class EmulatorError(RuntimeError):
    """The emulator cannot start (bad option, port in use) or was used out of order."""


class EmulatorStats(msgspec.Struct, kw_only=True):
    """Counters of one emulator (all connections together)."""

    #: WebSocket connections accepted, and open now.
    connections: int = 0
    open_connections: int = 0
    #: Subscribe/unsubscribe/list messages answered.
    requests: int = 0
    #: Recorded frames the replay has passed (each once, however many clients got it).
    frames_served: int = 0
    #: WebSocket messages sent with recorded frames (duplicates and corrupted ones included).
    frames_sent: int = 0
    #: Fault counts (see :class:`~adapters.emulator.faults.FaultConfig`).
    dropped: int = 0
    duplicated: int = 0
    reordered: int = 0
    corrupted: int = 0
    gaps: int = 0
    disconnects: int = 0
    stalls: int = 0
    #: Frames a stalled connection missed while another connection kept the replay going.
    stalled_frames: int = 0
    #: REST depth snapshots answered, and REST requests answered with an error.
    snapshots: int = 0
    rest_errors: int = 0
    #: Completed passes over the recording with ``repeat=True``.
    loops: int = 0
    done: bool = False


class _Connection:
    __slots__ = ("closing", "faults", "names", "number", "stalled", "stream_ids", "ws")

    def __init__(self, ws: web.WebSocketResponse, number: int, faults: ConnectionFaults | None):
        self.ws = ws
        self.number = number
        self.faults = faults
        #: Stream names as the client asked for them, in order (Binance's LIST_SUBSCRIPTIONS).
        self.names: list[str] = []
        #: Recorded streams they resolve to.
        self.stream_ids: set[int] = set()
        self.stalled = False
        self.closing = False


class ReplayServer:
    """Serve a recording over WebSocket on 127.0.0.1; see the module docstring.

    Parameters
    ----------
    recording :
        The indexed recording (shared, never modified).
    faults :
        Faults injected into the WebSocket stream; ``None`` for none.
    speed :
        Replay at ``speed`` times the recorded pace (ignored with ``fast``).
    fast :
        Send as fast as the clients read.
    repeat :
        Start over at the end (the book goes back to the start).
    close_at_end :
        Close every connection (code 1000) once the last frame is sent.
    host, port :
        Where to listen; port 0 picks a free port (see :attr:`port`).
    """

    def __init__(
        self,
        recording: EmulatorRecording,
        *,
        faults: FaultConfig | None = None,
        speed: float = 1.0,
        fast: bool = False,
        repeat: bool = False,
        close_at_end: bool = False,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        if not speed > 0:
            raise EmulatorError(f"speed must be > 0, was {speed}")
        if not 0 <= port <= 65535:
            raise EmulatorError(f"port must be in [0, 65535], was {port}")
        self.recording = recording
        self.faults = faults if faults is not None else FaultConfig()
        self.speed = speed
        self.fast = fast
        self.repeat = repeat
        self.close_at_end = close_at_end
        self.host = host
        self.stats = EmulatorStats()
        #: Frames of the current pass served so far (an index into ``recording.frames``).
        self.position = 0
        self._requested_port = port
        self._port = 0
        self._connections: list[_Connection] = []
        self._subscribers: list[tuple[_Connection, ...]] = [() for _ in recording.streams]
        self._active = False
        self._active_event = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._replay_task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._stall_timers: dict[_Connection, asyncio.TimerHandle] = {}

    # -- lifecycle -----------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The port listened on (the one picked when started with port 0)."""
        return self._port

    @property
    def http_url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://{self.host}:{self._port}"

    @property
    def ws_url(self) -> str:
        """``ws://127.0.0.1:PORT``: the WebSocket base URL (a feed appends ``/stream?...``)."""
        return f"ws://{self.host}:{self._port}"

    @property
    def rest_url(self) -> str:
        """The REST base URL (the same port as the WebSocket)."""
        return self.http_url

    def _add_routes(self, app: web.Application) -> None:
        """Add the venue's routes (subclasses)."""

    def _begin_pass(self) -> None:
        """Called when a pass over the recording starts (subclasses reset their book here)."""

    #: Subclasses that serve another wire format than the recording's set a
    #: ``_translate(stream_id, frame) -> bytes | None`` method here: called once per
    #: recorded frame, before any fault; ``None`` sends nothing (and is no depth diff).
    _translate: Callable[[int, bytes], bytes | None] | None = None

    async def start(self) -> None:
        """Listen and start the replay task (it waits for the first subscriber)."""
        if self._runner is not None:
            raise EmulatorError("emulator already started")
        app = web.Application()
        self._add_routes(app)
        runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=2.0)
        await runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.host, self._requested_port))
            self._port = sock.getsockname()[1]
            await web.SockSite(runner, sock).start()
        except OSError as exc:
            sock.close()
            await runner.cleanup()
            raise EmulatorError(
                f"cannot listen on {self.host}:{self._requested_port}: {exc.strerror}"
            ) from None
        self._runner = runner
        self._replay_task = asyncio.create_task(self._replay(), name="emulator-replay")
        _log.info(
            "emulator listening",
            extra={"fields": {"url": self.http_url, "frames": len(self.recording)}},
        )

    async def stop(self) -> None:
        """Stop the replay, close every connection (code 1001) and the listening socket.

        An error the replay task ended with is raised after everything is closed.
        """
        task, self._replay_task = self._replay_task, None
        try:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        finally:
            for timer in self._stall_timers.values():
                timer.cancel()
            self._stall_timers.clear()
            for conn in list(self._connections):
                self._close(conn, WSCloseCode.GOING_AWAY, b"emulator stopped")
            while self._tasks:
                tasks = list(self._tasks)
                self._tasks.difference_update(tasks)
                await asyncio.gather(*tasks)
            runner, self._runner = self._runner, None
            if runner is not None:
                await runner.cleanup()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def wait_done(self) -> None:
        """Wait until the replay has sent its last frame (never returns with ``repeat``).

        Frames may still be in flight to the clients; with ``close_at_end`` the
        connections are being closed.
        """
        task = self._replay_task
        if task is None:
            raise EmulatorError("emulator not started")
        await asyncio.shield(task)

    # -- connections ---------------------------------------------------------------------------

    def _open(self, ws: web.WebSocketResponse) -> _Connection:
        number = self.stats.connections
        self.stats.connections += 1
        self.stats.open_connections += 1
        faults = (
            ConnectionFaults(self.faults, self.stats, number)
            if self.faults.per_connection
            else None
        )
        conn = _Connection(ws, number, faults)
        self._connections.append(conn)
        return conn

    def _forget(self, conn: _Connection) -> None:
        if conn in self._connections:
            self._connections.remove(conn)
            self.stats.open_connections -= 1
            self._rebuild()

    def _set_streams(self, conn: _Connection, names: list[str], stream_ids: set[int]) -> None:
        conn.names = names
        conn.stream_ids = stream_ids
        self._rebuild()

    def _rebuild(self) -> None:
        """Recompute who gets each stream and whether the replay may advance."""
        subs: list[list[_Connection]] = [[] for _ in self._subscribers]
        active = False
        for conn in self._connections:
            if conn.closing:
                continue
            for sid in conn.stream_ids:
                subs[sid].append(conn)
            if conn.stream_ids and not conn.stalled:
                active = True
        # tuples, replaced whole: the replay loop may be iterating over the old ones
        self._subscribers[:] = [tuple(s) for s in subs]
        self._active = active
        if active:
            self._active_event.set()
        else:
            self._active_event.clear()

    def _close(self, conn: _Connection, code: int, message: bytes) -> None:
        """Stop sending to ``conn`` now and close it in the background."""
        if conn.closing:
            return
        conn.closing = True
        self._rebuild()
        task = asyncio.create_task(self._close_ws(conn.ws, code, message))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @staticmethod
    async def _close_ws(ws: web.WebSocketResponse, code: int, message: bytes) -> None:
        try:
            await ws.close(code=code, message=message)
        except (OSError, TimeoutError) as exc:  # the client is gone or never answered
            _log.info(
                "emulator connection closed uncleanly", extra={"fields": {"error": repr(exc)}}
            )

    def _stall(self, conn: _Connection) -> None:
        conn.stalled = True
        self._rebuild()
        loop = asyncio.get_running_loop()
        self._stall_timers[conn] = loop.call_later(self.faults.stall_s, self._unstall, conn)
        _log.info(
            "emulator stalls a connection",
            extra={"fields": {"connection": conn.number, "stall_s": self.faults.stall_s}},
        )

    def _unstall(self, conn: _Connection) -> None:
        self._stall_timers.pop(conn, None)
        conn.stalled = False
        self._rebuild()

    async def _send_with_faults(self, conn: _Connection, frame: bytes, out: list[bytes]) -> None:
        if conn.stalled:
            self.stats.stalled_frames += 1
            return
        faults = conn.faults
        assert faults is not None
        out.clear()
        action = faults.process(frame, out)
        ws = conn.ws
        for payload in out:
            await ws.send_frame(payload, WSMsgType.TEXT)
        self.stats.frames_sent += len(out)
        if action == CONTINUE:
            return
        if action == DISCONNECT:
            _log.info(
                "emulator disconnects a connection",
                extra={"fields": {"connection": conn.number, "after_frames": faults.count}},
            )
            self._close(conn, WSCloseCode.GOING_AWAY, b"emulator: disconnect fault")
        else:
            self._stall(conn)

    async def _flush_held(self) -> None:
        for conn in self._connections:
            faults = conn.faults
            if faults is None or faults.held is None or conn.closing:
                continue
            held, faults.held = faults.held, None
            with contextlib.suppress(ConnectionResetError):
                await conn.ws.send_frame(held, WSMsgType.TEXT)
                self.stats.frames_sent += 1

    # -- the replay ----------------------------------------------------------------------------

    async def _replay(self) -> None:
        rec = self.recording
        frames, stream_ids, recv_ts = rec.frames, rec.stream_ids, rec.recv_ts
        n = len(frames)
        depth = rec.depth_stream
        gap_at = self.faults.gap_at
        fast = self.fast
        scale = 1e-9 / self.speed
        stats = self.stats
        subscribers = self._subscribers
        loop = asyncio.get_running_loop()
        text = WSMsgType.TEXT
        out: list[bytes] = []
        depth_served = 0
        translate = self._translate
        while True:
            self.position = 0
            self._begin_pass()
            i = 0
            anchor_wall = anchor_ts = 0.0
            anchored = False
            while i < n:
                if not self._active:
                    await self._active_event.wait()
                    anchored = False
                    continue
                if fast:
                    if i & _FAST_YIELD_MASK == 0:
                        await asyncio.sleep(0)
                        if not self._active:
                            continue
                elif not anchored:
                    anchor_wall, anchor_ts, anchored = loop.time(), recv_ts[i], True
                else:
                    delay = anchor_wall + (recv_ts[i] - anchor_ts) * scale - loop.time()
                    if delay > 0.0:
                        await asyncio.sleep(delay)
                        continue  # check the subscribers again: they may have gone meanwhile
                sid = stream_ids[i]
                frame = frames[i]
                i += 1
                self.position = i
                stats.frames_served += 1
                if translate is not None:
                    translated = translate(sid, frame)
                    if translated is None:
                        continue
                    frame = translated
                if sid == depth:
                    depth_served += 1
                    if depth_served == gap_at and stats.loops == 0:
                        stats.gaps += 1
                        _log.info("emulator drops a depth diff", extra={"fields": {"n": gap_at}})
                        continue
                for conn in subscribers[sid]:
                    try:
                        if conn.faults is None:
                            await conn.ws.send_frame(frame, text)
                            stats.frames_sent += 1
                        else:
                            await self._send_with_faults(conn, frame, out)
                    except ConnectionResetError:  # the client went away mid-send
                        self._close(conn, WSCloseCode.GOING_AWAY, b"")
            await self._flush_held()
            if not self.repeat:
                break
            stats.loops += 1
        stats.done = True
        _log.info("emulator replay done", extra={"fields": {"frames": stats.frames_served}})
        if self.close_at_end:
            for conn in list(self._connections):
                self._close(conn, WSCloseCode.OK, b"end of recording")
