"""Wire the store into one engine run: restore, record events and ticks, flush at the end.

:class:`RecordingSession` is what the run commands (``ats demo``, ``ats run``
in every mode) use::

    rec = RecordingSession.open(config, engine)   # before engine.start(): state restored,
                                                  # recorder subscribed (store.db)
    rec.ticks.maybe_drain()   # per frame (an int compare per symbol when nothing is due)
    rec.on_clock(ts)          # now and then: tick flush by time, portfolio snapshots
    rec.close()               # after engine.stop(): everything committed

With ``store.db`` empty (or ``--db ""``) nothing is opened, ``ticks`` is None
and the methods do nothing.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from typing import TYPE_CHECKING, Any

from engine.state import TradingMode
from engine.store.recorder import EventRecorder
from engine.store.restore import RestoredState, load_state, restore_engine

if TYPE_CHECKING:
    from engine.config import Config
    from engine.engine import TradingEngine
    from engine.store.base import Store
    from engine.store.ticks import TickRecorder
    from engine.store.writer import StoreWriter

__all__ = ["RecordingSession"]

_log = logging.getLogger("ats.store")


def _settle_simulated(engine: TradingEngine) -> None:
    """Cancel restored open orders: a simulated venue starts empty and never had them."""
    ts = engine.clock.now_ns()
    for order in engine.execution.open_orders():
        engine.on_order_cancelled(
            order.client_order_id, "simulated venue restarted: order not carried over", ts
        )


class RecordingSession:
    """The store, its writer and the recorders of one run (see the module docstring)."""

    def __init__(
        self,
        engine: TradingEngine,
        store: Store | None,
        *,
        writer: StoreWriter | None = None,
        ticks: TickRecorder | None = None,
        recorder: EventRecorder | None = None,
        restored: RestoredState | None = None,
    ) -> None:
        self.engine = engine
        self.store = store
        self.writer = writer
        self.ticks = ticks
        self.recorder = recorder
        self.restored = restored

    @classmethod
    def open(
        cls,
        config: Config,
        engine: TradingEngine,
    ) -> RecordingSession:
        """Open ``store.db``, restore per ``store.restore``, start recording.

        Ticks are recorded under the venue of the engine's instruments.
        """
        cfg = config.store
        target = cfg.db
        if not target:
            return cls(engine, None)
        from engine.store import open_store
        from engine.store.ticks import TickRecorder
        from engine.store.writer import StoreWriter

        store = open_store(target, ticks_path=cfg.ticks_db)
        try:
            engine_id = cfg.engine_id or str(engine.mode)
            restored = None
            policy = cfg.restore
            if policy == "always" or (policy == "auto" and engine.mode is not TradingMode.BACKTEST):
                restored = load_state(store, engine_id)
            writer = StoreWriter(
                store, flush_rows=cfg.flush_rows, flush_interval_s=cfg.flush_interval_s
            )
        except BaseException:
            store.close()
            raise
        venue = next(iter(engine.markets.values())).instrument.venue
        ticks = TickRecorder(writer, venue, engine.markets) if cfg.record_ticks else None
        recorder = EventRecorder(
            engine,
            writer,
            engine_id=engine_id,
            run_id=engine.run_id,
            snapshot_interval_s=cfg.snapshot_interval_s,
        )
        try:
            if restored is not None and not restored.empty:
                restore_engine(engine, restored)
                if engine.mode is not TradingMode.LIVE:
                    _settle_simulated(engine)
        except BaseException:
            writer.close()
            store.close()
            raise
        _log.info(
            "store opened",
            extra={"fields": {"store": store.location, "engine_id": engine_id, "pid": os.getpid()}},
        )
        return cls(engine, store, writer=writer, ticks=ticks, recorder=recorder, restored=restored)

    @property
    def active(self) -> bool:
        return self.store is not None

    def on_clock(self, ts: int) -> None:
        """Drain every trade received so far and write a snapshot when due."""
        if self.ticks is not None:
            self.ticks.drain()
        if self.recorder is not None:
            self.recorder.on_clock(ts)

    def close(self) -> None:
        """Drain, flush and close (after ``engine.stop()``); safe to call twice."""
        if self.store is None:
            return
        try:
            if self.ticks is not None:
                self.ticks.drain()
            if self.writer is not None:
                self.writer.close()
        finally:
            self.store.close()
            self.store = None

    def summary(self) -> dict[str, Any]:
        """Store facts for a run's summary."""
        if self.recorder is None:
            return {}
        out: dict[str, Any] = {
            "engine_id": self.recorder.engine_id,
            "run_id": self.recorder.run_id,
            "acked": dict(self.recorder.acked),
        }
        if self.restored is not None:
            out["restored"] = self.restored.summary()
        if self.writer is not None:
            out["writer"] = dataclasses.asdict(self.writer.stats)
        return out
