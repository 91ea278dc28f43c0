"""The store writer: a background thread so the engine never waits on disk.

The engine hands rows to a :class:`StoreWriter` and returns at once; the
writer's daemon thread commits them:

- **ticks** (:meth:`StoreWriter.append_ticks`, numpy ``trade_dt`` records of
  one venue and symbol; O(1) Python work per call: six column copies) and
  other **batches** (:meth:`StoreWriter.append`: bars, snapshots, signals) are
  buffered and flushed when ``flush_rows`` rows are pending or the oldest
  pending row is ``flush_interval_s`` old, ticks through DuckDB's Arrow scan
  (the pending columns wrapped without a copy, ``venue`` and ``symbol`` bound
  once per batch as constants; see :mod:`engine.store._tickbuf`);
- **durable records** (:meth:`StoreWriter.submit`: orders, fills, positions,
  engine state) are written as soon as possible, ahead of pending ticks, in
  submit order, one transaction per submit; :meth:`StoreWriter.wait` blocks
  until one is committed and listeners (:meth:`StoreWriter.add_listener`)
  are called on the writer thread after each commit.

**Failures.** A failed write is logged once per kind (``durable``, ``ticks``,
``batches``) until that kind succeeds again, counted in ``stats.flush_errors``,
kept, and retried with exponential backoff (``retry_initial_s`` doubling to
``retry_max_s``); nothing accepted is lost while the process lives, and
``append``/``submit`` never raise for a store failure (only for programming
errors: an unknown table or mode, a record array of the wrong dtype, a
closed writer). Rows that cannot be converted to the table's columns (a
missing NOT NULL column, a value of the wrong type) can never be written:
they are logged as errors, counted in ``stats.rejected`` and dropped; a
rejected submit's ``wait`` returns False.

**Bound on buffered ticks.** If the store stalls and more than
``max_pending_ticks`` ticks are pending, the oldest pending ticks are
dropped, counted in ``stats.ticks_dropped`` and logged once per stall.
Durable records and other batches are never dropped.

**Crash bound.** A clean :meth:`StoreWriter.close` (or ``flush``) writes
everything. A hard kill (SIGKILL, power loss) loses at most the ticks
appended since the last committed tick flush: fewer than ``flush_rows``
still pending plus the one batch in flight, or ``flush_interval_s`` worth of
ticks, whichever limit is reached first (plus whatever a stalled store had
buffered, at most ``max_pending_ticks``). A durable record is lost only if
it was not committed yet; a caller that must not lose one waits on its
sequence number (or acknowledges it from a listener) before telling anyone.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from engine.store._rows import check_mode, prepare, table_spec
from engine.store._tickbuf import TickBuffer, TickSegment, tick_tables
from engine.store.base import Store, StoreError, WriteMode
from engine.store.schema import arrow_schema
from kernels.dtypes import trade_dt

__all__ = ["StoreWriter", "WriterStats"]

_log = logging.getLogger("ats.store.writer")

Rows = pa.Table | pa.RecordBatch | Sequence[dict[str, Any]]
Write = tuple[str, Rows, WriteMode]
_TICKS = "price_ticks"


@dataclass
class WriterStats:
    """What the writer has done; read from any thread (values are a snapshot).

    Attributes
    ----------
    rows_written : dict[str, int]
        Rows committed per table (rows sent; ``ignore`` may have skipped known keys).
    batches : int
        Transactions committed.
    flush_errors : int
        Failed write attempts (each retried).
    ticks_dropped : int
        Ticks dropped because more than ``max_pending_ticks`` were pending.
    rejected : int
        Rows dropped because they cannot be converted to their table's columns.
    last_flush_latency_s : float
        Wall time of the last committed transaction.
    pending_rows : int
        Rows accepted and not yet committed (ticks, batches and durable records).
    pending_ticks : int
        Ticks among ``pending_rows``.
    """

    rows_written: dict[str, int] = field(default_factory=dict)
    batches: int = 0
    flush_errors: int = 0
    ticks_dropped: int = 0
    rejected: int = 0
    last_flush_latency_s: float = 0.0
    pending_rows: int = 0
    pending_ticks: int = 0


class _Retry:
    """Backoff and log-once state of one kind of write."""

    __slots__ = ("at", "delay", "failing", "kind")

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.at = 0.0
        self.delay = 0.0
        self.failing = False


def _rows_of(rows: Rows) -> int:
    if isinstance(rows, pa.Table | pa.RecordBatch):
        return int(rows.num_rows)
    return len(rows)


class StoreWriter:
    """Write ticks, batches and durable records to a store from a background thread.

    Parameters
    ----------
    store : Store
        Where to write (any :class:`engine.store.base.Store`); the writer
        does not close it.
    flush_rows : int, default 65536
        Flush ticks (and, separately, other batches) once this many rows are
        pending; >= 1.
    flush_interval_s : float, default 0.5
        ... or once the oldest pending row is this old; > 0.
    max_pending_ticks : int, default ``max(2_000_000, 4 * flush_rows)``
        Drop the oldest pending ticks beyond this many (a stalled store);
        a pending tick takes 41 bytes, so 2,000,000 bound the buffer at ~82 MB.
    retry_initial_s, retry_max_s : float, default 0.05 and 5.0
        Backoff after a failed write: doubling from the first to the second.
    store_threads : int or None, default ``os.cpu_count() - 1`` (at least 1)
        Limit the store's DuckDB worker threads to this many (when the store
        has ``limit_threads``), so a flush never takes every core from the
        engine's thread: on 2 cores, DuckDB's two threads plus the engine's
        stalled it for up to ~10 ms per flush, one thread for none (the
        flush itself is ~40 % slower). 0 leaves the store as it is.

    Examples
    --------
    >>> from engine.store import open_store
    >>> store = open_store(":memory:")
    >>> with StoreWriter(store) as writer:
    ...     seq = writer.submit([("engine_state", [{"engine_id": "e", "key": "k",
    ...                          "value": "1", "updated_ts": 0}], "upsert")])
    ...     writer.wait(seq, timeout=10)
    True
    >>> store.close()
    """

    def __init__(
        self,
        store: Store,
        *,
        flush_rows: int = 65_536,
        flush_interval_s: float = 0.5,
        max_pending_ticks: int | None = None,
        retry_initial_s: float = 0.05,
        retry_max_s: float = 5.0,
        store_threads: int | None = None,
    ) -> None:
        if flush_rows < 1:
            raise ValueError(f"store.flush_rows must be >= 1, was {flush_rows}")
        if not flush_interval_s > 0:
            raise ValueError(f"store.flush_interval_s must be > 0, was {flush_interval_s}")
        if max_pending_ticks is None:
            max_pending_ticks = max(2_000_000, 4 * flush_rows)
        if max_pending_ticks < flush_rows:
            raise ValueError(
                f"max_pending_ticks must be >= flush_rows ({flush_rows}), was {max_pending_ticks}"
            )
        self.store = store
        self.flush_rows = flush_rows
        self.flush_interval_s = flush_interval_s
        self.max_pending_ticks = max_pending_ticks
        self.retry_initial_s = retry_initial_s
        self.retry_max_s = retry_max_s
        self.stats = WriterStats()
        if store_threads is None:
            store_threads = max(1, (os.cpu_count() or 2) - 1)
        limit = getattr(store, "limit_threads", None)
        if store_threads and limit is not None:
            limit(store_threads)
        self._cond = threading.Condition(threading.Lock())
        # pending work: tick segments / (gen, table, rows, mode) / (seq, writes)
        self._ticks = TickBuffer(segment_rows=min(flush_rows, 65_536))
        self._tick_since = 0.0
        self._batches: deque[tuple[int, str, Rows, WriteMode]] = deque()
        self._batch_rows = 0
        self._batch_since = 0.0
        self._durable: deque[tuple[int, list[Write]]] = deque()
        self._durable_rows = 0
        # generations: every append gets the next gen; flush() waits for _done_gen
        self._gen = 0
        self._done_gen = 0
        self._force_gen = 0
        self._inflight_gen: dict[str, int] = {}
        self._inflight_ticks = 0
        self._inflight_batch_rows = 0
        self._next_seq = 1
        self._durable_seq = 0
        self._rejected_seqs: set[int] = set()
        self._listeners: list[Callable[[int], None]] = []
        self._retry = {k: _Retry(k) for k in ("durable", "ticks", "batches")}
        self._dropping = False
        self._closing = False
        self._stop = False
        # the first tick table built in a process costs ~0.1 s of pyarrow's lazy set-up, GIL
        # held: pay it here, at start-up, not on the writer thread while the engine trades
        warm = TickBuffer(1)
        warm.append(0, "", "", np.zeros(1, dtype=trade_dt))
        tick_tables(warm.take())
        self._thread = threading.Thread(target=self._run, name="ats-store-writer", daemon=True)
        self._thread.start()

    # -- caller side ----------------------------------------------------------------------------

    def append_ticks(self, venue: str, symbol: str, records: np.ndarray) -> None:
        """Queue trades of one venue and symbol for ``price_ticks``.

        Parameters
        ----------
        venue, symbol : str
            Stored in every row (``symbol`` is the ccxt unified symbol).
        records : numpy.ndarray
            A 1-d array (or view, any strides) of ``kernels.dtypes.trade_dt``.
            Its fields are copied into the writer's column buffers before the
            call returns, so the caller may reuse or overwrite it at once
            (a ring buffer passes a slice of itself).

        Raises
        ------
        TypeError
            ``records`` is not a ``trade_dt`` array.
        StoreError
            The writer is closed.
        """
        if records.dtype != trade_dt:
            raise TypeError(f"records must be a kernels.dtypes.trade_dt array, got {records.dtype}")
        if len(records) == 0:
            return
        with self._cond:
            if self._closing:
                raise StoreError("store writer is closed: cannot append ticks")
            self._gen += 1
            ticks = self._ticks
            if not ticks:
                self._tick_since = time.monotonic()
                self._cond.notify()  # the thread may sleep without a deadline
            ticks.append(self._gen, venue, symbol, records)
            if ticks.rows > self.max_pending_ticks:
                self._drop_ticks()
            self._update_pending()
            if ticks.rows >= self.flush_rows:
                self._cond.notify()

    def append(self, table: str, rows: Rows, mode: WriteMode | None = None) -> None:
        """Queue a batch of ``table`` rows, flushed like ticks (by size or age).

        ``rows`` is an Arrow table or batch, or a list of dicts (converted to
        Arrow on the writer thread). ``mode`` defaults to "upsert" (the
        latest row of a key wins) or "append" for ``price_ticks``.

        Raises
        ------
        StoreError
            Unknown table or mode, or the writer is closed.
        """
        spec = table_spec(table)
        if mode is None:
            mode = "upsert" if spec.enforce_key else "append"
        check_mode(spec, mode)
        n = _rows_of(rows)
        if n == 0:
            return
        with self._cond:
            if self._closing:
                raise StoreError(f"store writer is closed: cannot append to {table}")
            self._gen += 1
            if not self._batches:
                self._batch_since = time.monotonic()
                self._cond.notify()
            self._batches.append((self._gen, table, rows, mode))
            self._batch_rows += n
            self._update_pending()
            if self._batch_rows >= self.flush_rows:
                self._cond.notify()

    def submit(self, writes: list[Write]) -> int:
        """Queue durable writes to commit in one transaction, ahead of ticks; return its seq.

        Parameters
        ----------
        writes : list of (table, rows, mode)
            ``rows`` as for :meth:`append`; written in this order.

        Returns
        -------
        int
            The sequence number: :meth:`wait` for it, or compare with
            :attr:`durable_seq`. Sequence numbers grow by one per submit and
            commit in that order.

        Raises
        ------
        StoreError
            Unknown table or mode, or the writer is closed.
        """
        n = 0
        for table, rows, mode in writes:
            check_mode(table_spec(table), mode)
            n += _rows_of(rows)
        with self._cond:
            if self._closing:
                raise StoreError("store writer is closed: cannot submit")
            seq = self._next_seq
            self._next_seq += 1
            self._durable.append((seq, list(writes)))
            self._durable_rows += n
            self._update_pending()
            self._cond.notify()
        return seq

    @property
    def durable_seq(self) -> int:
        """The highest sequence number committed (every lower one is committed too)."""
        return self._durable_seq

    def wait(self, seq: int, timeout: float | None = None) -> bool:
        """Block until submit ``seq`` is committed; False on timeout or if it was rejected."""
        with self._cond:
            ok = self._cond.wait_for(lambda: self._durable_seq >= seq or self._stop, timeout)
            return ok and self._durable_seq >= seq and seq not in self._rejected_seqs

    def add_listener(self, callback: Callable[[int], None]) -> None:
        """Call ``callback(seq)`` on the writer thread after submit ``seq`` is committed.

        Submits commit in order, several at once when they queued up (a group
        commit calls back once, with the group's highest seq): a callback must
        treat ``seq`` as "every submit up to ``seq`` is done". A callback that
        raises is logged and the others still run.
        """
        self._listeners.append(callback)

    def flush(self, timeout: float | None = None) -> bool:
        """Write everything accepted so far; True once committed, False on timeout."""
        with self._cond:
            gen, seq = self._gen, self._next_seq - 1
            self._force_gen = max(self._force_gen, gen)
            self._cond.notify_all()

            def done() -> bool:
                return self._done_gen >= gen and self._durable_seq >= seq

            self._cond.wait_for(lambda: done() or self._stop, timeout)
            return done()

    def close(self, timeout: float | None = 60.0) -> bool:
        """Flush, then stop the thread; True if everything was written.

        If the store is still failing after ``timeout`` seconds, the rows left
        are logged as lost and the thread stops anyway (a dead database must
        not hang the engine's shutdown). Safe to call twice.
        """
        with self._cond:
            if self._stop:
                return True
            self._closing = True
        done = self.flush(timeout)
        with self._cond:
            if not done:
                _log.error(
                    "store writer closed with rows unwritten",
                    extra={
                        "fields": {
                            "store": self.store.location,
                            "ticks": self._ticks.rows + self._inflight_ticks,
                            "batch_rows": self._batch_rows,
                            "durable_submits": len(self._durable),
                        }
                    },
                )
            self._stop = True
            self._cond.notify_all()
        self._thread.join(timeout=10.0)
        return done

    @property
    def running(self) -> bool:
        """Whether the writer thread is alive."""
        return self._thread.is_alive()

    def __enter__(self) -> StoreWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- bookkeeping (under the lock) -----------------------------------------------------------

    def _update_pending(self) -> None:
        ticks = self._ticks.rows + self._inflight_ticks
        self.stats.pending_ticks = ticks
        self.stats.pending_rows = (
            ticks + self._batch_rows + self._inflight_batch_rows + (self._durable_rows)
        )

    def _drop_ticks(self) -> None:
        dropped = self._ticks.drop_oldest(self._ticks.rows - self.max_pending_ticks)
        self.stats.ticks_dropped += dropped
        if not self._dropping:
            self._dropping = True
            _log.warning(
                "store writer dropping the oldest ticks: the store is not keeping up",
                extra={
                    "fields": {
                        "store": self.store.location,
                        "max_pending_ticks": self.max_pending_ticks,
                    }
                },
            )
        if not self._ticks:
            self._done_gen_update()

    def _done_gen_update(self) -> None:
        pending = [self._batches[0][0]] if self._batches else []
        if self._ticks:
            pending.append(self._ticks.first_gen)
        pending += list(self._inflight_gen.values())
        self._done_gen = (min(pending) - 1) if pending else self._gen

    # -- writer thread --------------------------------------------------------------------------

    def _due(self, now: float) -> tuple[bool, bool, bool, float | None]:
        """Which kinds are due, and how long to sleep otherwise (None: until notified)."""
        wake: list[float] = []
        retry = self._retry
        durable = bool(self._durable)
        if durable and retry["durable"].at > now:
            wake.append(retry["durable"].at)
            durable = False
        ticks = batches = False
        for kind, rows, since, first_gen in (
            (
                "ticks",
                self._ticks.rows,
                self._tick_since,
                self._ticks.first_gen if self._ticks else 0,
            ),
            (
                "batches",
                self._batch_rows,
                self._batch_since,
                self._batches[0][0] if self._batches else 0,
            ),
        ):
            if not first_gen:
                continue
            due_at = since + self.flush_interval_s
            due = rows >= self.flush_rows or now >= due_at or first_gen <= self._force_gen
            if due and retry[kind].at > now:
                wake.append(retry[kind].at)
                due = False
            elif not due:
                wake.append(due_at)
            if kind == "ticks":
                ticks = due
            else:
                batches = due
        sleep = (max(min(wake) - now, 0.0) + 1e-4) if wake else None
        return durable, ticks, batches, sleep

    def _run(self) -> None:
        while True:
            with self._cond:
                while True:
                    if self._stop:
                        return
                    durable, ticks, batches, sleep = self._due(time.monotonic())
                    if durable or ticks or batches:
                        break
                    self._cond.wait(sleep)
                submits = list(self._durable) if durable else []
                tick_items: list[TickSegment] = []
                batch_items: list[tuple[int, str, Rows, WriteMode]] = []
                if ticks:
                    self._inflight_ticks = self._ticks.rows
                    self._inflight_gen["ticks"] = self._ticks.first_gen
                    tick_items = self._ticks.take()
                if batches:
                    batch_items = list(self._batches)
                    self._batches.clear()
                    self._inflight_batch_rows = self._batch_rows
                    self._batch_rows = 0
                    self._inflight_gen["batches"] = batch_items[0][0]
            if submits:
                self._write_durable(submits)
            if tick_items:
                self._write_ticks(tick_items)
            if batch_items:
                self._write_batches(batch_items)

    def _failed(self, kind: str, error: BaseException) -> None:
        """Log once per kind (until it succeeds again), count, schedule the retry."""
        r = self._retry[kind]
        r.delay = min(self.retry_max_s, r.delay * 2) if r.delay else self.retry_initial_s
        r.at = time.monotonic() + r.delay
        self.stats.flush_errors += 1
        if not r.failing:
            r.failing = True
            _log.error(
                "store write failed; keeping the rows and retrying",
                extra={"fields": {"kind": kind, "store": self.store.location, "error": str(error)}},
            )

    def _succeeded(self, kind: str, tables: dict[str, int], started: float) -> None:
        r = self._retry[kind]
        r.delay = 0.0
        r.at = 0.0
        if r.failing:
            r.failing = False
            _log.info(
                "store write recovered",
                extra={"fields": {"kind": kind, "store": self.store.location}},
            )
        stats = self.stats
        stats.batches += 1
        stats.last_flush_latency_s = time.perf_counter() - started
        for table, n in tables.items():
            stats.rows_written[table] = stats.rows_written.get(table, 0) + n

    def _reject(self, table: str, error: StoreError, rows: int) -> None:
        self.stats.rejected += rows
        _log.error(
            "store rows rejected (cannot be written, dropped)",
            extra={"fields": {"table": table, "rows": rows, "error": str(error)}},
        )

    def _write_durable(self, submits: list[tuple[int, list[Write]]]) -> None:
        """Commit ``submits`` as one group (one transaction), else one by one.

        A group commit pays the transaction, and the Python/GIL round trips of
        each statement, once for every submit waiting: with the engine thread
        busy (a replay, a burst of fills) the writer thread gets the GIL only
        every few milliseconds, and one transaction per submit would fall
        behind. If the group fails (one bad submit), the submits are retried
        one by one, so only the bad one is held back.
        """
        if len(submits) > 1 and self._write_group(submits):
            return
        self._write_each(submits)

    def _write_group(self, submits: list[tuple[int, list[Write]]]) -> bool:
        merged: dict[tuple[str, WriteMode], list[Rows]] = {}
        modes: dict[str, WriteMode] = {}
        rows = 0
        for _, writes in submits:
            for table, data, mode in writes:
                if modes.setdefault(table, mode) != mode:
                    return False  # one table written in two modes: keep the submit order
                merged.setdefault((table, mode), []).append(data)
                rows += _rows_of(data)
        try:
            prepared = [
                (
                    table,
                    prepare(table, _concat(table, [prepare(table, d, mode) for d in parts]), mode),
                    mode,
                )
                for (table, mode), parts in merged.items()
            ]
        except StoreError:
            return False
        started = time.perf_counter()
        try:
            self.store.insert_many(prepared)  # type: ignore[arg-type]
        except StoreError:
            with self._cond:
                self.stats.flush_errors += 1  # counted; the one-by-one retry logs the cause
            return False
        last = submits[-1][0]
        with self._cond:
            self._succeeded("durable", _count(prepared), started)
            for seq, writes in submits:
                self._commit_durable(seq, sum(_rows_of(r) for _, r, _ in writes))
        for callback in self._listeners:
            try:
                callback(last)
            except Exception:
                _log.exception("store writer listener failed", extra={"fields": {"seq": last}})
        return True

    def _write_each(self, submits: list[tuple[int, list[Write]]]) -> None:
        for seq, writes in submits:
            prepared: list[tuple[str, pa.Table, WriteMode]] = []
            rows = sum(_rows_of(r) for _, r, _ in writes)
            try:
                for table, data, mode in writes:
                    prepared.append((table, prepare(table, data, mode), mode))
            except StoreError as e:
                self._reject(writes[len(prepared)][0], e, rows)
                with self._cond:
                    self._rejected_seqs.add(seq)
                    self._commit_durable(seq, rows)
                continue
            started = time.perf_counter()
            try:
                self.store.insert_many(prepared)  # type: ignore[arg-type]
            except StoreError as e:
                with self._cond:
                    self._failed("durable", e)
                return  # the rest wait: submits commit in order
            with self._cond:
                self._succeeded("durable", _count(prepared), started)
                self._commit_durable(seq, rows)
            for callback in self._listeners:
                try:
                    callback(seq)
                except Exception:
                    _log.exception("store writer listener failed", extra={"fields": {"seq": seq}})

    def _commit_durable(self, seq: int, rows: int) -> None:
        head, _ = self._durable.popleft()
        assert head == seq
        self._durable_seq = seq
        self._durable_rows -= rows
        self._update_pending()
        self._cond.notify_all()

    def _write_ticks(self, segments: list[TickSegment]) -> None:
        writes: list[tuple[str, pa.Table, WriteMode]] = [
            (_TICKS, table, "append") for table in tick_tables(segments)
        ]
        rows = sum(t.num_rows for _, t, _ in writes)
        started = time.perf_counter()
        try:
            self.store.insert_many(writes)  # type: ignore[arg-type]
        except StoreError as e:
            with self._cond:
                self._failed("ticks", e)
                # back to the front, oldest first; the bound applies again
                self._ticks.put_back(segments)
                self._tick_since = time.monotonic() - self.flush_interval_s
                del self._inflight_gen["ticks"]
                self._inflight_ticks = 0
                if self._ticks.rows > self.max_pending_ticks:
                    self._drop_ticks()
                self._update_pending()
            return
        with self._cond:
            self._succeeded("ticks", {_TICKS: rows}, started)
            del self._inflight_gen["ticks"]
            self._inflight_ticks = 0
            if self._dropping and self._ticks.rows < self.max_pending_ticks:
                self._dropping = False
            self._done_gen_update()
            self._update_pending()
            self._cond.notify_all()

    def _write_batches(self, items: list[tuple[int, str, Rows, WriteMode]]) -> None:
        runs: list[tuple[str, WriteMode, list[pa.Table]]] = []
        rows = 0
        kept: list[tuple[int, str, Rows, WriteMode]] = []
        for item in items:
            _, table, data, mode = item
            n = _rows_of(data)
            try:
                prepared = prepare(table, data, mode)
            except StoreError as e:
                self._reject(table, e, n)
                continue
            kept.append(item)
            rows += n
            if runs and runs[-1][0] == table and runs[-1][1] == mode:
                runs[-1][2].append(prepared)
            else:
                runs.append((table, mode, [prepared]))
        writes = [(table, _concat(table, tables), mode) for table, mode, tables in runs]
        started = time.perf_counter()
        try:
            if writes:
                self.store.insert_many(writes)  # type: ignore[arg-type]
        except StoreError as e:
            with self._cond:
                self._failed("batches", e)
                self._batches.extendleft(reversed(kept))
                self._batch_rows += rows
                self._batch_since = time.monotonic() - self.flush_interval_s
                del self._inflight_gen["batches"]
                self._inflight_batch_rows = 0
                self._update_pending()
            return
        with self._cond:
            if writes:
                self._succeeded("batches", _count(writes), started)
            del self._inflight_gen["batches"]
            self._inflight_batch_rows = 0
            self._done_gen_update()
            self._update_pending()
            self._cond.notify_all()


def _count(writes: list[tuple[str, pa.Table, WriteMode]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for table, data, _ in writes:
        out[table] = out.get(table, 0) + data.num_rows
    return out


def _concat(table: str, tables: list[pa.Table]) -> pa.Table:
    if len(tables) == 1:
        return tables[0]
    schema = arrow_schema(table)
    return pa.concat_tables([t.cast(schema) if t.schema != schema else t for t in tables])
