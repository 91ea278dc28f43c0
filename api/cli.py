"""The ``ats`` command line: the composition root.

This is the only module that wires configuration → adapters → engine. Every
other package receives its collaborators ready-made.

Commands
--------
``ats demo [--json]``
    Replay the bundled Binance spot recording through the whole hot path
    (decode → L2 book → indicators → strategy → risk → simulated venue →
    portfolio) in backtest mode and print a summary.
``ats run --mode backtest [--config ats.toml] [--data PATH] [--json]``
    The same, on any recording and configuration. Both write a pid file
    (``--pidfile``, default ``var/ats.pid``) while they run; ``--pace X`` replays at
    X times the recorded speed and ``--kill-at-frame N`` triggers the kill switch
    after frame N (a drill).
``ats backtest --strategy NAME --data PATH [--param k=v ...] [--json] [--report DIR]``
    Run one strategy over a recording: tick strategies (``grid_mm``) in the
    compiled tick backtester, signal strategies through the whole engine (see
    :mod:`api.backtest_cmd`).
``ats order place|list|cancel --venue V ...``, ``ats balance --venue V``
    An operator's orders through the risk checks to a venue's connector (see
    :mod:`api.order_cmd`).
``ats run --mode paper|live --venue V --symbols S[,S] [--duration S] [--json]``
    The live feed, a strategy and the simulated venue (:mod:`api.paper_cmd`) or
    the venue's real connector, private stream and reconciliation
    (:mod:`api.live_cmd`).
``ats kill [--pidfile PATH]``
    Trigger the kill switch of the engine that holds the pid file (SIGUSR1; see
    :mod:`api.control`).
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import signal
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

import msgspec
import orjson

import engine
from adapters.binance import SpotMarketDataDecoder
from adapters.binance.errors import FeedConfigError
from adapters.paper import SimulatedVenue
from adapters.replay import RecordingError, RecordingReader
from api import backtest_cmd, data_cmd, emulator_cmd, live_cmd, order_cmd, paper_cmd, replay_cmd
from api.control import (
    DEFAULT_PIDFILE,
    ControlChannel,
    ControlError,
    default_pidfile,
    paced,
    send_kill,
)
from engine.book import BookOverflowError
from engine.clock import SimulatedClock
from engine.config import CONFIG_PATH_ENV_VAR, Config, ConfigError, load_config
from engine.engine import TradingEngine
from engine.instruments import InstrumentRegistry, UnknownSymbolError, default_instruments
from engine.log import configure_logging
from engine.state import TradingMode
from engine.store.session import RecordingSession
from engine.strategies import STRATEGIES

__all__ = ["Backtest", "build_backtest", "main"]

_log = logging.getLogger("ats.cli")

#: The repository root (where the bundled ``data/`` lives when run from a checkout).
PROJECT_ROOT = Path(__file__).resolve().parent.parent

_KNOWN_DATA_VENUES = ("binance-spot",)


class UsageError(Exception):
    """A command-line or data problem reported as one line, exit status 2."""


class Backtest:
    """One wired backtest: clock, engine, simulated venue and the venue's decoder."""

    def __init__(self, config: Config, instruments: InstrumentRegistry | None = None) -> None:
        if config.data.venue not in _KNOWN_DATA_VENUES:
            raise UsageError(
                f"data.venue must be one of {', '.join(_KNOWN_DATA_VENUES)}, "
                f"was '{config.data.venue}'"
            )
        strategy_cls = STRATEGIES.get(config.strategy.name)
        if strategy_cls is None:
            raise UsageError(
                f"strategy.name must be one of {', '.join(sorted(STRATEGIES))}, "
                f"was '{config.strategy.name}'"
            )
        self.config = config
        self.instruments = instruments if instruments is not None else default_instruments()
        self.clock = SimulatedClock()
        self.engine = TradingEngine(
            config, self.instruments, self.clock, strategy_cls(config.strategy, config.risk)
        )
        self.venue = SimulatedVenue(
            self.engine.markets, self.engine, self.engine, config.paper, self.clock
        )
        self.engine.set_gateway(self.venue)
        by_venue_symbol = {m.instrument.venue_symbol: m for m in self.engine.markets.values()}
        self.decoder = SpotMarketDataDecoder(by_venue_symbol, self.venue)
        self.elapsed_s = 0.0

    def run(
        self,
        frames: Iterable[tuple[int, bytes]],
        progress: _Progress | None = None,
        control: ControlChannel | None = None,
        recording: RecordingSession | None = None,
    ) -> None:
        """Replay ``frames`` (``(recv_ts_ns, frame)``) through the engine, as fast as they come.

        A kill requested on ``control`` (``ats kill``, ``--kill-at-frame``) is
        carried out after the frame during which it arrived, between two frames.
        With ``recording`` (opened on this backtest's engine), ticks and every
        record go to the store; it is drained once the engine has stopped (the
        caller closes it).
        """
        clock = self.clock
        on_frame = self.decoder.on_frame
        decoder = self.decoder
        if control is None:
            control = ControlChannel()
        ticks = None if recording is None else recording.ticks
        drain = None if ticks is None else ticks.maybe_drain
        self.decoder.warm_up()
        self.engine.start()
        started = time.perf_counter()
        for n, (ts, frame) in enumerate(frames, 1):
            clock.advance_to(ts)
            on_frame(ts, frame)
            if control.pending:
                control.carry_out(self.engine, decoder.stats.frames)
            if drain is not None:
                drain()
            if not n & 4095:
                if progress is not None:
                    progress.update()
                if recording is not None:
                    recording.on_clock(ts)
        if progress is not None:
            progress.done()
        if control.pending:  # requested after the last frame, while the engine still runs
            control.carry_out(self.engine, decoder.stats.frames)
        self.elapsed_s = time.perf_counter() - started
        self.engine.stop("end of data")
        if recording is not None:
            recording.on_clock(clock.now_ns())

    def summary(self, bad_lines: int = 0) -> dict[str, Any]:
        """Return the run's summary (the keys of ``ats demo --json``)."""
        stats = self.decoder.stats
        out: dict[str, Any] = {
            "frames": stats.frames + bad_lines,
            "depth_updates_applied": stats.depth_updates_applied,
            "depth_updates_dropped": stats.depth_updates_dropped,
            "trades": stats.trades,
            "tickers": stats.tickers,
            "gaps": stats.gaps,
            "resyncs": stats.resyncs,
            "bad_frames": stats.bad_frames + bad_lines,
        }
        symbols: dict[str, Any] = {}
        for symbol, market in self.engine.markets.items():
            bid, _, ask, _ = market.book.best()
            symbols[symbol] = {
                "in_sync": market.book.in_sync,
                "best_bid": _num(bid),
                "best_ask": _num(ask),
                "last_book_ticker": {
                    "bid": _num(market.bid_price),
                    "ask": _num(market.ask_price),
                    "update_id": market.ticker_update_id,
                },
                "last_price": _num(market.last_price),
            }
        first = next(iter(symbols.values()))
        out["final_best_bid"] = first["best_bid"]
        out["final_best_ask"] = first["best_ask"]
        out.update(self.engine.summary())
        out["symbols"] = symbols
        out["elapsed_s"] = round(self.elapsed_s, 6)
        out["frames_per_s"] = round(out["frames"] / self.elapsed_s) if self.elapsed_s else None
        return out


def build_backtest(config: Config, instruments: InstrumentRegistry | None = None) -> Backtest:
    """Wire a backtest for ``config`` (the function the CLI and the benchmarks use)."""
    return Backtest(config, instruments)


def _num(x: float) -> float | None:
    return None if math.isnan(x) else x


class _Progress:
    """A one-line progress bar on a terminal, by bytes of the recording read."""

    def __init__(self, reader: RecordingReader, stream: TextIO) -> None:
        self._reader = reader
        self._stream = stream
        self._size = max(reader.path.stat().st_size, 1)
        self._started = time.perf_counter()

    def update(self) -> None:
        done = min(self._reader.bytes_read / self._size, 1.0)
        bar = "#" * int(done * 30)
        elapsed = time.perf_counter() - self._started
        self._stream.write(f"\r  replay [{bar:<30}] {done:6.1%}  {elapsed:5.1f}s")
        self._stream.flush()

    def done(self) -> None:
        self.update()
        self._stream.write("\n")
        self._stream.flush()


# -- command line ---------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ats", description="AI Trading System: low-latency single-process trading engine."
    )
    parser.add_argument("--version", action="version", version=f"ats {engine.__version__}")
    parser.add_argument("--log-level", help="DEBUG, INFO, WARNING, ERROR (logging.level)")
    parser.add_argument(
        "--log-format", choices=("auto", "text", "json"), help="terminal log format"
    )
    parser.add_argument("--log-file", help="also write JSON-lines logs to this file")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--config", help=f"TOML configuration (default: ${CONFIG_PATH_ENV_VAR} or built-in)"
        )
        p.add_argument("--data", help="recording to replay (default: data.path)")
        p.add_argument("--json", action="store_true", help="print the summary as one JSON object")
        p.add_argument(
            "--pidfile",
            help=f"pid file for `ats kill` (default: $ATS_PIDFILE or {DEFAULT_PIDFILE})",
        )
        p.add_argument(
            "--kill-at-frame", type=int, metavar="N", help="trigger the kill switch after frame N"
        )
        p.add_argument(
            "--pace", type=float, metavar="X", help="replay at X times the recorded speed"
        )

    demo = sub.add_parser("demo", help="replay the bundled recording through the whole engine")
    common(demo)
    run = sub.add_parser("run", help="run the engine in a mode")
    run.add_argument("--mode", choices=[m.value for m in TradingMode], default=None)
    common(run)
    paper_cmd.add_options(run)
    backtest_cmd.add_parser(sub)
    replay_cmd.add_parser(sub)
    emulator_cmd.add_parser(sub)
    order_cmd.add_parser(sub)
    data_cmd.add_parser(sub)
    kill = sub.add_parser("kill", help="trigger the kill switch of the running engine")
    kill.add_argument(
        "--pidfile", help=f"the engine's pid file (default: $ATS_PIDFILE or {DEFAULT_PIDFILE})"
    )
    _add_db_options(sub)
    return parser


def _add_db_options(sub: Any) -> None:
    """Give every command ``--db PATH`` (``store.db``; commands with no records ignore it)."""
    seen: set[int] = set()
    for p in list(sub.choices.values()):
        if id(p) in seen:  # an alias
            continue
        seen.add(id(p))
        nested = getattr(p, "_subparsers", None)
        if nested is not None:
            for action in nested._group_actions:
                if isinstance(action, argparse._SubParsersAction):
                    _add_db_options(action)
        if "--db" not in p._option_string_actions:
            p.add_argument(
                "--db",
                metavar="PATH",
                help="store: a DuckDB file or a postgresql:// URL (default: store.db, "
                "data/ats.duckdb); '' records nothing",
            )


def _load_config(path: str | None) -> Config:
    if path is None:
        path = os.environ.get(CONFIG_PATH_ENV_VAR) or None
    return load_config(path)


def _resolve_data(path: str) -> Path:
    candidate = Path(path)
    if candidate.is_file() or candidate.is_absolute():
        return candidate
    bundled = PROJECT_ROOT / candidate
    return bundled if bundled.is_file() else candidate


def _replay(config: Config, args: argparse.Namespace) -> int:
    path = _resolve_data(args.data if args.data is not None else config.data.path)
    reader = RecordingReader(path)
    backtest = build_backtest(config)
    control = ControlChannel(kill_at_frame=args.kill_at_frame)
    frames: Iterable[tuple[int, bytes]] = reader
    if args.pace is not None:
        frames = paced(frames, args.pace, control)
    progress = _Progress(reader, sys.stderr) if sys.stderr.isatty() else None
    with control.serve(args.pidfile):
        # the store after the pid file: a second engine on the same pid file touches nothing
        recording = RecordingSession.open(config, backtest.engine)
        try:
            _log.info(
                "replay started", extra={"fields": {"data": str(path), "mode": config.engine.mode}}
            )
            crash_at = os.environ.get(CRASH_AT_FRAME_ENV_VAR)
            if crash_at:
                frames = _crash_after(frames, int(crash_at))
            backtest.run(control.frames(frames), progress, control, recording)
        finally:
            recording.close()
    summary = backtest.summary(bad_lines=reader.bad_lines)
    summary["data"] = str(path)
    summary["truncated"] = reader.truncated
    if recording.recorder is not None:
        summary["store"] = recording.summary()
    kill_switch = control.summary(backtest.engine)
    if kill_switch is not None:
        summary["kill_switch"] = kill_switch
    _log.info("replay finished", extra={"fields": {"frames": summary["frames"]}})
    if args.json:
        sys.stdout.write(orjson.dumps(summary).decode() + "\n")
    else:
        _print_summary(summary, sys.stdout)
    return 0


_SECTIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "market data",
        (
            "frames",
            "depth_updates_applied",
            "depth_updates_dropped",
            "trades",
            "tickers",
            "gaps",
            "resyncs",
            "bad_frames",
            "final_best_bid",
            "final_best_ask",
        ),
    ),
    (
        "trading",
        ("signals", "signals_rejected", "orders", "fills", "rejected", "risk_denials"),
    ),
    (
        "account",
        (
            "realized_pnl",
            "unrealized_pnl",
            "fees",
            "cash",
            "positions",
            "equity",
            "max_drawdown",
        ),
    ),
    ("run", ("elapsed_s", "frames_per_s", "handler_errors", "data", "truncated")),
)


def _print_summary(summary: dict[str, Any], out: TextIO) -> None:
    for title, keys in _SECTIONS:
        out.write(f"{title}\n")
        for key in keys:
            value = summary.get(key)
            if key == "max_drawdown" and isinstance(value, float):
                text = f"{value:.4%}"
            elif key in ("realized_pnl", "unrealized_pnl", "fees", "cash", "equity"):
                text = f"{value:,.4f}"
            elif isinstance(value, int) and not isinstance(value, bool):
                text = f"{value:,}"
            else:
                text = str(value)
            out.write(f"  {key:<24} {text}\n")
    kill_switch = summary.get("kill_switch")
    if kill_switch is not None:
        out.write(f"kill switch (trading {summary['trading_state']})\n")
        for key, value in kill_switch.items():
            out.write(f"  {key:<24} {value}\n")
    for symbol, values in summary["symbols"].items():
        ticker = values["last_book_ticker"]
        out.write(
            f"{symbol}: book {'in sync' if values['in_sync'] else 'OUT OF SYNC'}, "
            f"best {values['best_bid']} / {values['best_ask']}, "
            f"venue bookTicker {ticker['bid']} / {ticker['ask']}\n"
        )


#: Test hook of the crash test: ``ATS_TEST_CRASH_AT_FRAME=N`` SIGKILLs the process itself
#: right after frame N was processed (no flush, no clean stop: a real crash).
CRASH_AT_FRAME_ENV_VAR = "ATS_TEST_CRASH_AT_FRAME"


def _crash_after(frames: Iterable[tuple[int, bytes]], n: int) -> Iterator[tuple[int, bytes]]:
    for i, item in enumerate(frames):
        if i == n:
            os.kill(os.getpid(), signal.SIGKILL)
        yield item


def _kill(pidfile: str | None) -> int:
    path = Path(default_pidfile() if pidfile is None else pidfile).absolute()
    pid = send_kill(path)
    sys.stdout.write(f"ats: kill switch requested: SIGUSR1 sent to engine pid {pid} ({path})\n")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``ats`` console script; return the exit status."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "kill":  # needs no configuration: it must work when little else does
            return _kill(args.pidfile)
        if args.command == "emulator":  # a test tool: no engine configuration either
            return emulator_cmd.run(args)
        config = _load_config(args.config)
        if getattr(args, "db", None) is not None:
            config = msgspec.structs.replace(
                config, store=msgspec.structs.replace(config.store, db=args.db)
            )
        log_cfg = config.logging
        configure_logging(
            level=args.log_level or log_cfg.level,
            fmt=args.log_format or log_cfg.format,
            file=args.log_file or log_cfg.file or None,
        )
        if args.command == "data":
            return data_cmd.run(args, config)
        if args.command in order_cmd.COMMANDS:
            return order_cmd.run(args, config)
        if args.command == "replay":
            return replay_cmd.run(args, _resolve_data)
        if args.command == "backtest":
            return backtest_cmd.run_backtest(args, _resolve_data, config)
        if args.command == "run" and args.mode is not None:
            config = msgspec.structs.replace(
                config, engine=msgspec.structs.replace(config.engine, mode=args.mode)
            )
        if config.engine.mode == TradingMode.PAPER:
            return paper_cmd.run_paper(config, args)
        if config.engine.mode == TradingMode.LIVE:
            return live_cmd.run_live(config, args)
        return _replay(config, args)
    except (
        ConfigError,
        ControlError,
        RecordingError,
        UsageError,
        UnknownSymbolError,
        BookOverflowError,
        paper_cmd.PaperUsageError,
        FeedConfigError,
    ) as exc:
        sys.stderr.write(f"ats: error: {exc}\n")
        return 2
    except ValueError as exc:  # bad values reaching constructors (e.g. a bad log level)
        sys.stderr.write(f"ats: error: {exc}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("ats: interrupted\n")
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
