"""``ats run --mode paper``: the live Binance feed, a strategy and the simulated venue.

``ats run --mode paper --venue binance --symbols BTC/USDT[,ETH/USDT] [--duration S] [--json]``
(venues: ``binance``, ``binance-usdm``, ``binance-coinm``, ``bybit-linear``, ``bybit-spot``)

Market data comes from the venue's WebSocket and REST URLs in the
configuration (``[venues.binance]``, or ``ATS_VENUES__BINANCE__WS_URL`` /
``..._REST_URL`` pointing at ``ats emulator``); orders go to the simulated
venue, which fills them against the live book and trades. On a terminal a
status line shows the feed and the books once a second. ``--duration S``
ends the run cleanly after S seconds (SIGINT/SIGTERM end it too); ``--json``
then prints one summary object with a block per symbol.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import math
import signal
import sys
import time
from typing import Any, TextIO

import msgspec
import orjson

from adapters.binance import BinanceMarketDataDecoder
from adapters.binance.config import FeedConfig
from adapters.binance.feed import BinanceFeed
from adapters.bybit import BybitMarketDataDecoder
from adapters.bybit.config import FeedConfig as BybitFeedConfig
from adapters.bybit.feed import BybitFeed
from adapters.paper import SimulatedVenue
from engine.clock import WallClock
from engine.config import Config
from engine.engine import TradingEngine
from engine.events import RiskAlert
from engine.instruments import InstrumentRegistry, default_instruments
from engine.state import EngineState
from engine.store.session import RecordingSession
from engine.strategies import STRATEGIES

__all__ = ["PAPER_VENUES", "add_options", "run_paper"]

#: ``--venue`` → (config attribute of ``[venues]``, market: Binance's or Bybit's category).
PAPER_VENUES: dict[str, tuple[str, str]] = {
    "binance": ("binance", "spot"),
    "binance-usdm": ("binance_usdm", "usdm"),
    "binance-coinm": ("binance_coinm", "coinm"),
    "bybit-linear": ("bybit", "linear"),
    "bybit-spot": ("bybit", "spot"),
}


#: How often a paper or live session hands received trades to the store writer.
_RECORD_PERIOD_S = 0.1


class PaperUsageError(ValueError):
    """Bad paper-mode options; the message names the option and the value."""


def add_options(p: argparse.ArgumentParser) -> None:
    """Options of ``ats run`` that only paper (and later live) mode uses."""
    p.add_argument("--venue", default="binance", help=f"one of: {', '.join(PAPER_VENUES)}")
    p.add_argument("--symbols", help="comma-separated, e.g. BTC/USDT,ETH/USDT")
    p.add_argument("--duration", type=float, metavar="S", help="stop cleanly after S seconds")


def _instruments(symbols: list[str]) -> InstrumentRegistry:
    known = default_instruments()
    return InstrumentRegistry([known.get(s) for s in symbols])


class PaperSession:
    """Engine + simulated venue + live feed, wired; :meth:`run` drives them."""

    #: The ``mode`` of the summary (live mode's session subclasses this one).
    mode = "paper"

    def __init__(self, config: Config, venue: str, symbols: list[str]) -> None:
        if venue not in PAPER_VENUES:
            raise PaperUsageError(
                f"--venue must be one of {', '.join(PAPER_VENUES)}, got {venue!r}"
            )
        if not symbols:
            raise PaperUsageError("--symbols is required in paper mode (e.g. --symbols BTC/USDT)")
        strategy_cls = STRATEGIES.get(config.strategy.name)
        if strategy_cls is None:
            raise PaperUsageError(f"strategy.name must be one of {', '.join(sorted(STRATEGIES))}")
        attr, market = PAPER_VENUES[venue]
        urls = getattr(config.venues, attr)
        if config.engine.mode != self.mode:  # a paper session is paper mode, whatever the file says
            config = msgspec.structs.replace(
                config, engine=msgspec.structs.replace(config.engine, mode=self.mode)
            )
        self.config = config
        self.clock = WallClock()
        self.instruments = _instruments(symbols)
        self.engine = TradingEngine(
            config, self.instruments, self.clock, strategy_cls(config.strategy, config.risk)
        )
        self.venue = SimulatedVenue(
            self.engine.markets, self.engine, self.engine, config.paper, self.clock
        )
        self.engine.set_gateway(self.venue)
        self.recording = RecordingSession(self.engine, None)
        self._make_feed(venue, urls, market, self.venue)
        self.started = 0.0
        self.elapsed_s = 0.0
        self._final: dict[str, tuple[bool, float, float]] = {}
        self._final_stats: Any = None

    def _make_feed(self, venue: str, urls: Any, market: str, sink: Any) -> None:
        """Build the venue's decoder and feed for the engine's markets; ``sink`` gets the data."""
        by_venue_symbol = {m.instrument.venue_symbol: m for m in self.engine.markets.values()}
        self.decoder: Any
        self.feed: Any
        if venue.startswith("bybit"):
            self.decoder = BybitMarketDataDecoder(by_venue_symbol, sink, category=market)  # type: ignore[arg-type]
            self.feed = BybitFeed(
                self.decoder,
                list(by_venue_symbol),
                BybitFeedConfig(ws_url=urls.ws_url, category=market),  # type: ignore[arg-type]
                on_alert=self._alert,
            )
        else:
            self.decoder = BinanceMarketDataDecoder(by_venue_symbol, sink, market=market)  # type: ignore[arg-type]
            self.feed = BinanceFeed(
                self.decoder,
                list(by_venue_symbol),
                FeedConfig(ws_url=urls.ws_url, rest_url=urls.rest_url, market=market),  # type: ignore[arg-type]
                on_alert=self._alert,
            )

    async def _before_feed(self, stop: asyncio.Event) -> None:
        """Run before the engine starts and the feed connects (live mode reconciles here)."""

    async def _after_feed(self) -> None:
        """Run once the feed has ended, before the engine stops (live mode closes the venue)."""

    def _books(self) -> dict[str, tuple[bool, float, float]]:
        out = {}
        for symbol, market in self.engine.markets.items():
            bid, _, ask, _ = market.book.best()
            out[symbol] = (market.book.in_sync, bid, ask)
        return out

    def _alert(self, source: str, message: str) -> None:
        self.engine.bus.publish(RiskAlert(ts=self.clock.now_ns(), source=source, message=message))

    async def run(self, duration_s: float | None, status: TextIO | None = None) -> None:
        """Run until ``duration_s`` passes or SIGINT/SIGTERM."""
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()

        def end() -> None:
            # the books as the run ends, before closing the feed invalidates them
            if not stop.is_set():
                self._final = self._books()
                self._final_stats = copy.copy(self.decoder.stats)
                stop.set()

        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, end)
        if duration_s is not None:
            loop.call_later(duration_s, end)
        self.decoder.warm_up()
        printer: asyncio.Task[None] | None = None
        recorder: asyncio.Task[None] | None = None
        # restores positions, open orders and trading state before the venue is reconciled
        self.recording = RecordingSession.open(self.config, self.engine)
        try:
            await self._before_feed(stop)
            self.engine.start()
            self.started = time.perf_counter()
            if status is not None:
                printer = asyncio.create_task(self._status(stop, status))
            if self.recording.active:
                recorder = asyncio.create_task(self._record(stop))
            await self.feed.run(stop)
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
            for task in (printer, recorder):
                if task is not None:
                    task.cancel()
                    await asyncio.gather(task, return_exceptions=True)
            if self.started:
                self.elapsed_s = time.perf_counter() - self.started
            try:
                await self._after_feed()
            finally:
                try:
                    if self.engine.state.state is not EngineState.STOPPED:
                        self.engine.stop(f"end of {self.mode} session")
                finally:
                    self.recording.close()

    async def _record(self, stop: asyncio.Event) -> None:
        """Hand received trades to the store writer and write snapshots, every 100 ms."""
        recording = self.recording
        clock = self.clock
        while not stop.is_set():
            await asyncio.sleep(_RECORD_PERIOD_S)
            recording.on_clock(clock.now_ns())

    async def _status(self, stop: asyncio.Event, out: TextIO) -> None:
        while not stop.is_set():
            await asyncio.sleep(1.0)
            parts = [
                f"{time.perf_counter() - self.started:6.1f}s",
                f"frames {self.feed.stats.frames:,}",
            ]
            for symbol, market in self.engine.markets.items():
                bid, _, ask, _ = market.book.best()
                state = "in sync" if market.book.in_sync else "SYNCING"
                parts.append(f"{symbol} {_fmt(bid)} / {_fmt(ask)} {state}")
            parts.append(f"reconnects {self.feed.stats.reconnects}")
            out.write("\r  " + "  |  ".join(parts) + "   ")
            out.flush()
        out.write("\n")

    def summary(self) -> dict[str, Any]:
        # counters as the run ended (closing the feed invalidates the books once more)
        d = self._final_stats or self.decoder.stats
        f = self.feed.stats
        symbols: dict[str, Any] = {}
        final = self._final or self._books()
        for symbol in self.engine.markets:
            in_sync, bid, ask = final[symbol]
            symbols[symbol] = {
                "frames": d.frames,
                "gaps": d.gaps,
                "resyncs": d.resyncs,
                "reconnects": f.reconnects,
                "bad_frames": d.bad_frames,
                "in_sync": in_sync,
                "final_best_bid": _num(bid),
                "final_best_ask": _num(ask),
            }
        out: dict[str, Any] = {
            "mode": self.mode,
            "symbols": symbols,
            "feed": self.feed.summary(),
            "elapsed_s": self.elapsed_s,
        }
        out.update(self.engine.summary())
        if self.recording.recorder is not None:
            out["store"] = self.recording.summary()
        return out


def _num(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def _fmt(x: float) -> str:
    return f"{x:,.2f}" if math.isfinite(x) else "-"


def run_paper(config: Config, args: argparse.Namespace) -> int:
    """Entry point of ``ats run --mode paper``."""
    import uvloop

    symbols = [s.strip() for s in (args.symbols or "").split(",") if s.strip()]
    if args.duration is not None and not args.duration > 0:
        raise PaperUsageError(f"--duration must be > 0, got {args.duration}")
    session = PaperSession(config, args.venue, symbols)
    status = sys.stderr if sys.stderr.isatty() and not args.json else None
    uvloop.run(session.run(args.duration, status))
    summary = session.summary()
    if args.json:
        sys.stdout.write(orjson.dumps(summary).decode() + "\n")
    else:
        for symbol, block in summary["symbols"].items():
            sys.stdout.write(f"{symbol}\n")
            for key, value in block.items():
                sys.stdout.write(f"  {key:<16} {value}\n")
    return 0
