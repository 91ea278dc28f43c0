"""Operator control of a running engine: the kill switch from the command line.

A running ``ats run`` / ``ats demo`` serves a :class:`ControlChannel`: it
installs a ``SIGUSR1`` handler, then writes its pid to a pid file (default
``var/ats.pid`` under the current directory) that it keeps locked with
``flock`` while it runs and removes on exit. ``ats kill`` (:func:`send_kill`)
reads the pid file, checks that the process is alive *and* still holds the
lock, and sends ``SIGUSR1``. The lock check matters: the default action of
``SIGUSR1`` terminates a process, so a stale file whose pid the system has
since given to another process must never be signalled.

The signal handler only sets :attr:`ControlChannel.pending`. The replay loop
reads that one attribute after each frame and, when it is set, calls
:meth:`ControlChannel.carry_out`, which runs
``TradingEngine.emergency_exit`` between two frames: never inside the
handler, never halfway through a book update. ``--kill-at-frame N`` sets the
same flag as frame N is handed to the loop, so a drill takes exactly the path
a real kill takes. After the kill the replay goes on: market data flows,
positions are marked, and every new order is rejected because trading is
HALTED until an admin resets it.

:func:`paced` replays a recording at a multiple of its recorded speed (wall
clock), e.g. to rehearse a kill on a run that lasts long enough to be killed.
The engine's clock still follows the recorded timestamps, so a paced run
trades exactly as an unpaced one.
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import logging
import math
import os
import signal
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from types import FrameType
from typing import Any

from engine.engine import TradingEngine
from engine.orders import OrderStatus

__all__ = [
    "CLI_KILL_REASON",
    "DEFAULT_PIDFILE",
    "KILL_SIGNAL",
    "PIDFILE_ENV_VAR",
    "ControlChannel",
    "ControlError",
    "PidFile",
    "default_pidfile",
    "paced",
    "read_pid",
    "send_kill",
]

_log = logging.getLogger("ats.control")

#: Pid file of a running engine, relative to the current directory (``ATS_PIDFILE`` overrides).
DEFAULT_PIDFILE = Path("var") / "ats.pid"
#: Environment variable naming the pid file when ``--pidfile`` is not given.
PIDFILE_ENV_VAR = "ATS_PIDFILE"


def default_pidfile() -> Path:
    """``$ATS_PIDFILE`` if set, else :data:`DEFAULT_PIDFILE`."""
    return Path(os.environ.get(PIDFILE_ENV_VAR) or DEFAULT_PIDFILE)


#: Reason given to ``TradingEngine.emergency_exit`` when ``ats kill`` signals the engine.
CLI_KILL_REASON = "cli kill switch"

#: The signal ``ats kill`` sends to the engine.
KILL_SIGNAL = signal.SIGUSR1

#: Longest single sleep of a paced replay, so a kill during a long recorded gap is not held up.
_MAX_SLEEP_S = 0.05

_Frame = tuple[int, bytes]


class ControlError(Exception):
    """A control-channel problem (pid file, signal) reported as one line, exit status 2."""


# -- the pid file ---------------------------------------------------------------------------------


class PidFile:
    """A pid file that the running engine holds with an exclusive ``flock``.

    Parameters
    ----------
    path : str or os.PathLike
        Where to write the pid; its folder is created if missing.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path).absolute()
        self._fd: int | None = None

    def acquire(self) -> None:
        """Lock the file (creating it) and write this process's pid into it.

        A file left by an engine that died is taken over; one held by a live
        engine is not.

        Raises
        ------
        ControlError
            When another running engine holds the file, or it cannot be written.
        """
        path = self.path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            while True:
                fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    holder = os.read(fd, 32).decode("ascii", "replace").strip() or "?"
                    os.close(fd)
                    raise ControlError(
                        f"pid file {path} is held by a running engine (pid {holder}); "
                        "stop it or pass another --pidfile"
                    ) from None
                # The previous holder may have removed the file between our open and our lock.
                if _same_file(fd, path):
                    break
                os.close(fd)
            try:
                os.ftruncate(fd, 0)
                os.write(fd, f"{os.getpid()}\n".encode("ascii"))
            except OSError:
                os.close(fd)
                raise
        except OSError as exc:
            raise ControlError(f"cannot write pid file {path}: {exc.strerror or exc}") from None
        self._fd = fd

    def release(self) -> None:
        """Remove the file (if it is still ours) and drop the lock."""
        fd = self._fd
        if fd is None:
            return
        self._fd = None
        try:
            if _same_file(fd, self.path):
                self.path.unlink()
        finally:
            os.close(fd)


def _same_file(fd: int, path: Path) -> bool:
    try:
        on_disk = os.stat(path)
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return (on_disk.st_dev, on_disk.st_ino) == (held.st_dev, held.st_ino)


def read_pid(path: str | os.PathLike[str]) -> int:
    """Return the pid written in the pid file ``path``.

    Raises
    ------
    ControlError
        When the file is missing or unreadable, or does not hold a positive integer.
    """
    path = Path(path).absolute()
    try:
        text = path.read_text(encoding="ascii", errors="replace")
    except FileNotFoundError:
        raise ControlError(
            f"no pid file at {path}: no engine is running with it "
            "(ats run/demo write it; see --pidfile)"
        ) from None
    except OSError as exc:
        raise ControlError(f"cannot read pid file {path}: {exc.strerror or exc}") from None
    stripped = text.strip()
    # Signalling pid 0 or -1 would hit a whole process group or every process we may signal.
    if not stripped.isdigit() or int(stripped) <= 0:
        raise ControlError(
            f"pid file {path} does not hold a pid (a positive integer), holds {stripped[:40]!r}"
        )
    return int(stripped)


def _lock_is_held(path: Path) -> bool:
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # also drops our probe lock, if we got it
    return False


def send_kill(path: str | os.PathLike[str]) -> int:
    """Ask the engine whose pid file is ``path`` to trigger its kill switch; return its pid.

    Sends :data:`KILL_SIGNAL` after checking that the pid is a running
    process that still holds the pid file's lock (a running ``ats`` engine).

    Raises
    ------
    ControlError
        No pid file, no pid in it, a pid that is not running (stale file), a
        running process that does not hold the file, or one we may not signal.

    Examples
    --------
    >>> send_kill("var/ats.pid")  # doctest: +SKIP
    12345
    """
    path = Path(path).absolute()
    pid = read_pid(path)
    stale = f"pid {pid} from {path} is not running (stale pid file; remove it)"
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        raise ControlError(stale) from None
    except PermissionError:
        raise ControlError(
            f"pid {pid} from {path} belongs to another user; not allowed to signal it"
        ) from None
    try:
        held = _lock_is_held(path)
    except OSError as exc:
        raise ControlError(f"cannot read pid file {path}: {exc.strerror or exc}") from None
    if not held:
        raise ControlError(
            f"pid {pid} from {path} is running but does not hold the pid file, so it is "
            "not the engine that wrote it (stale pid file; remove it)"
        )
    try:
        os.kill(pid, KILL_SIGNAL)
    except ProcessLookupError:  # it exited between the check and the signal
        raise ControlError(stale) from None
    return pid


# -- the channel ----------------------------------------------------------------------------------


class ControlChannel:
    """Kill-switch requests for one replay, carried out between two frames.

    The replay loop checks :attr:`pending` after each frame (one attribute
    read) and calls :meth:`carry_out` when it is set.

    Parameters
    ----------
    kill_at_frame : int, optional
        Request the kill switch with frame ``kill_at_frame`` (1-based, counting
        the frames replayed): it is carried out right after that frame.

    Examples
    --------
    >>> channel = ControlChannel(kill_at_frame=5000)
    >>> with channel.serve("var/ats.pid"):  # doctest: +SKIP
    ...     backtest.run(channel.frames(RecordingReader(path)), control=channel)
    >>> channel.summary(backtest.engine)["triggered_at_frame"]  # doctest: +SKIP
    5000
    """

    __slots__ = ("_orders_mark", "_reason", "_rejected_mark", "_report", "kill_at_frame", "pending")

    def __init__(self, kill_at_frame: int | None = None) -> None:
        if kill_at_frame is not None and kill_at_frame < 1:
            raise ValueError(f"kill_at_frame must be >= 1, was {kill_at_frame}")
        #: Set by a kill request; the replay loop carries it out after the current frame.
        self.pending = False
        self.kill_at_frame = kill_at_frame
        self._reason = ""
        self._report: dict[str, Any] | None = None
        self._orders_mark = 0
        self._rejected_mark = 0

    def request_kill(self, reason: str) -> None:
        """Ask for the kill switch at the next safe point (safe to call from a signal handler)."""
        self._reason = reason
        self.pending = True

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.request_kill(CLI_KILL_REASON)

    def frames(self, frames: Iterable[_Frame]) -> Iterable[_Frame]:
        """Return ``frames``, requesting the kill with frame ``kill_at_frame`` if one is set."""
        if self.kill_at_frame is None:
            return frames
        it = iter(frames)
        # C-level chaining: the frames around the kill frame pass through no Python code.
        return itertools.chain(
            itertools.islice(it, self.kill_at_frame - 1), self._kill_with_next(it), it
        )

    def _kill_with_next(self, it: Iterator[_Frame]) -> Iterator[_Frame]:
        for item in it:
            self.request_kill(f"--kill-at-frame {self.kill_at_frame}")
            yield item
            return

    @contextlib.contextmanager
    def serve(self, pidfile: str | os.PathLike[str] | None = None) -> Iterator[PidFile]:
        """Listen for ``ats kill``: install the SIGUSR1 handler and hold ``pidfile`` meanwhile.

        The handler is installed before the pid file is written, so no kill can
        find the pid before the engine is ready for it.

        Raises
        ------
        ControlError
            When the pid file is held by another running engine or cannot be written.
        """
        previous = signal.signal(KILL_SIGNAL, self._on_signal)
        pid_file = PidFile(default_pidfile() if pidfile is None else pidfile)
        try:
            pid_file.acquire()
            _log.info(
                "kill switch armed: ats kill sends SIGUSR1 to this pid",
                extra={"fields": {"pid": os.getpid(), "pidfile": str(pid_file.path)}},
            )
            yield pid_file
            if self.kill_at_frame is not None and self._report is None:
                _log.warning(
                    "--kill-at-frame was not reached: the recording has fewer frames",
                    extra={"fields": {"kill_at_frame": self.kill_at_frame}},
                )
        finally:
            pid_file.release()
            # A kill that read the pid just before the file went may still arrive: ignore it
            # rather than die of SIGUSR1's default action while the summary is printed.
            keep_out = previous is None or previous == signal.SIG_DFL
            signal.signal(KILL_SIGNAL, signal.SIG_IGN if keep_out else previous)

    def carry_out(self, engine: TradingEngine, frame: int) -> None:
        """Trigger ``engine``'s kill switch now, after ``frame`` frames (the replay loop's call).

        Every request is carried out (a second kill cancels and flattens
        whatever is left); the report keeps the frame of the first.
        """
        self.pending = False
        counters = engine.counters
        open_orders = engine.execution.open_orders()
        orders_before = counters.orders
        engine.emergency_exit(self._reason)
        cancelled = sum(1 for order in open_orders if order.status is OrderStatus.CANCELLED)
        flatten = counters.orders - orders_before
        if self._report is None:
            self._report = {
                "triggered_at_frame": frame,
                "reason": self._reason,
                "ts": engine.clock.now_ns(),
                "orders_cancelled": cancelled,
                "flatten_orders": flatten,
            }
        else:
            self._report["orders_cancelled"] += cancelled
            self._report["flatten_orders"] += flatten
        self._orders_mark = counters.orders
        self._rejected_mark = counters.rejected
        _log.warning(
            "kill switch triggered: orders cancelled, positions flattened, trading HALTED",
            extra={
                "fields": {
                    "frame": frame,
                    "reason": self._reason,
                    "orders_cancelled": cancelled,
                    "flatten_orders": flatten,
                }
            },
        )

    def summary(self, engine: TradingEngine) -> dict[str, Any] | None:
        """Return the ``kill_switch`` block of the run's summary, or None if it never triggered.

        Keys: ``triggered_at_frame``, ``reason``, ``ts`` (engine clock, ns),
        ``orders_cancelled`` (open orders the kill cancelled), ``flatten_orders``
        (reduce-only orders it sent), ``orders_after`` and ``rejected_after``
        (orders placed and rejected since the last kill).
        """
        if self._report is None:
            return None
        counters = engine.counters
        return {
            **self._report,
            "orders_after": counters.orders - self._orders_mark,
            "rejected_after": counters.rejected - self._rejected_mark,
        }


# -- pacing ---------------------------------------------------------------------------------------


def paced(
    frames: Iterable[_Frame],
    speed: float,
    control: ControlChannel | None = None,
    *,
    clock: Callable[[], float] = time.perf_counter,
    sleep: Callable[[float], Any] = time.sleep,
) -> Iterator[_Frame]:
    """Yield ``frames`` no faster than ``speed`` times their recorded pace.

    Frame ``i`` is released ``(ts_i - ts_0) / speed`` seconds of wall clock
    after the first (``ts`` is the recorded receive time in ns); a replay that
    falls behind catches up without sleeping. A pending kill on ``control``
    cuts the wait short, so it is carried out without waiting out a recorded gap.

    Raises
    ------
    ValueError
        When ``speed`` is not a finite number > 0.
    """
    if not (math.isfinite(speed) and speed > 0.0):
        raise ValueError(f"pace must be a finite number > 0, was {speed}")
    return _paced(iter(frames), 1e-9 / speed, control, clock, sleep)


def _paced(
    it: Iterator[_Frame],
    seconds_per_ns: float,
    control: ControlChannel | None,
    clock: Callable[[], float],
    sleep: Callable[[float], Any],
) -> Iterator[_Frame]:
    first = next(it, None)
    if first is None:
        return
    ts0 = first[0]
    start = clock()
    yield first
    for item in it:
        due = start + (item[0] - ts0) * seconds_per_ns
        while control is None or not control.pending:
            delay = due - clock()
            if delay <= 0.0:
                break
            sleep(min(delay, _MAX_SLEEP_S))
        yield item
