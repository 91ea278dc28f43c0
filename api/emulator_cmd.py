"""``ats emulator``: serve a recording as a local Binance or Bybit exchange, with fault injection.

``ats emulator --venue binance|binance-usdm|binance-coinm|bybit-linear|bybit-spot --replay FILE
[--port PORT]
[--speed X | --fast] [--loop] [--close-at-end] [--seed N] [faults...]``

Listens on 127.0.0.1 (``--port 0``, the default, picks a free port), prints
the environment assignments that point our feeds at it, one per line::

    export ATS_VENUES__BINANCE__WS_URL=ws://127.0.0.1:PORT
    export ATS_VENUES__BINANCE__REST_URL=http://127.0.0.1:PORT

then serves the recording (WebSocket combined streams and the REST depth
snapshot, see :mod:`adapters.emulator.binance`) until SIGTERM or Ctrl-C, which
close every connection and exit 0. The replay starts when the first client
subscribes. Faults (each deterministic given ``--seed``; see
:class:`adapters.emulator.FaultConfig`): ``--drop-every N``, ``--drop-prob P``,
``--duplicate-every N``, ``--reorder-every N``, ``--corrupt-every N``,
``--gap-at N``, ``--disconnect-after N``, ``--stall-after N --stall-s S``.

On ``binance`` and ``binance-usdm`` the emulator also serves the signed REST
trading API and the user data stream (:mod:`adapters.emulator.binance_trading`)
on the same base URL, for an account whose credentials are made up for this
run and printed as two more exports (emulator-only values, not real keys)::

    export BINANCE_API_KEY=emu-...
    export BINANCE_SECRET_KEY=emu-...

A venue with no ``[venues]`` key in the configuration (COIN-M today) gets its
URLs as a comment line instead of exports. The Bybit venues (a Binance recording
served in Bybit's v5 public format, see :mod:`adapters.emulator.bybit`: USD-M for
``bybit-linear``, spot for ``bybit-spot``) also serve Bybit's signed v5 trading
API and private stream (:mod:`adapters.emulator.bybit_trading`), with
``BYBIT_API_KEY`` / ``BYBIT_SECRET_KEY`` exports.

Trading faults (deterministic): ``--trade-fault SPEC``, repeatable, where SPEC
is the fault's action and optional ``key=value`` settings separated by commas
(the keys of :class:`adapters.emulator.binance_trading_config.TradingFault` and
:class:`adapters.emulator.bybit_trading_config.BybitTradingFault`; by default a
fault acts once, on the new-order endpoint)::

    --trade-fault timeout,delay_s=3              # the order is taken, the answer withheld
    --trade-fault 429,times=2,retry_after_s=2    # Binance: timeout, 429, 418, 5xx, reject
    --trade-fault rate_limit,reset_ms=500        # Bybit: timeout, rate_limit, 403, 5xx, reject
    --trade-fault 5xx,status=502,applied=true    # the order took effect, then the error
    --trade-fault reject,path=openOrders,method=GET,code=-1003,message="Too many requests"
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import signal
import sys
from collections.abc import Sequence
from typing import Any, TextIO

import msgspec

from adapters.emulator import (
    BYBIT_VENUES,
    VENUES,
    BinanceEmulator,
    BybitEmulator,
    EmulatorError,
    FaultConfig,
    FaultConfigError,
    ReplayServer,
    load_recording,
)
from adapters.emulator.binance_trading import BinanceTradingConfig
from adapters.emulator.binance_trading_config import TradingFault
from adapters.emulator.bybit_trading_config import BybitTradingConfig, BybitTradingFault
from adapters.replay import RecordingError
from engine.config import ENV_PREFIX, VenuesConfig

__all__ = ["add_parser", "env_lines", "main", "run", "trading_env_lines"]

#: ``--venue`` → the key of ``[venues]`` in the configuration that the feeds read.
CONFIG_KEYS: dict[str, str] = {
    "binance": "binance",
    "binance-usdm": "binance_usdm",
    "binance-coinm": "binance_coinm",
    "bybit-linear": "bybit",
    "bybit-spot": "bybit",
}


def add_options(p: argparse.ArgumentParser) -> None:
    """The options of ``ats emulator``."""
    venues = [*VENUES, *BYBIT_VENUES]
    p.add_argument("--venue", default="binance", choices=venues, help="default binance")
    p.add_argument("--replay", required=True, metavar="FILE", help="recording to serve")
    p.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: a free one)")
    pace = p.add_mutually_exclusive_group()
    pace.add_argument("--speed", type=float, default=1.0, metavar="X", help="X × recorded pace")
    pace.add_argument("--fast", action="store_true", help="as fast as the clients read")
    p.add_argument("--loop", action="store_true", help="start over at the end of the recording")
    p.add_argument(
        "--close-at-end", action="store_true", help="close the connections after the last frame"
    )
    f = p.add_argument_group("faults (WebSocket only; 0 = off)")
    f.add_argument("--seed", type=int, default=0, help="seed of the random faults")
    f.add_argument("--drop-every", type=int, default=0, metavar="N", help="drop every N-th frame")
    f.add_argument("--drop-prob", type=float, default=0.0, metavar="P", help="drop with prob. P")
    f.add_argument("--duplicate-every", type=int, default=0, metavar="N", help="send twice")
    f.add_argument("--reorder-every", type=int, default=0, metavar="N", help="swap with next")
    f.add_argument("--corrupt-every", type=int, default=0, metavar="N", help="invalid JSON")
    f.add_argument("--gap-at", type=int, default=0, metavar="N", help="drop the N-th depth diff")
    f.add_argument(
        "--disconnect-after", type=int, default=0, metavar="N", help="close after N frames (once)"
    )
    f.add_argument(
        "--stall-after", type=int, default=0, metavar="N", help="go silent after N frames (once)"
    )
    f.add_argument("--stall-s", type=float, default=5.0, metavar="S", help="stall length (5 s)")
    t = p.add_argument_group("trading faults (signed REST API)")
    t.add_argument(
        "--trade-fault",
        action="append",
        default=[],
        metavar="SPEC",
        help="ACTION[,key=value...]: Binance timeout|429|418|5xx|reject, Bybit "
        "timeout|rate_limit|403|5xx|reject; keys path (default the new-order endpoint), "
        "method, at, times, delay_s, status, applied, code, message, retry_after_s, "
        "reset_ms (repeatable)",
    )


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Register ``ats emulator`` on the ``ats`` sub-command parser."""
    p = sub.add_parser(
        "emulator",
        help="serve a recording as a local Binance or Bybit exchange (with fault injection)",
    )
    add_options(p)
    return p


def env_lines(venue: str, ws_url: str, rest_url: str) -> list[str]:
    """The lines that point the configuration's ``[venues.<key>]`` URLs at the emulator.

    Examples
    --------
    >>> env_lines("binance", "ws://127.0.0.1:9000", "http://127.0.0.1:9000")[0]
    'export ATS_VENUES__BINANCE__WS_URL=ws://127.0.0.1:9000'
    """
    key = CONFIG_KEYS[venue]
    if key not in VenuesConfig.__struct_fields__:
        return [f"# no [venues.{key}] in the configuration: ws_url={ws_url} rest_url={rest_url}"]
    prefix = f"{ENV_PREFIX}VENUES__{key.upper()}__"
    return [f"export {prefix}WS_URL={ws_url}", f"export {prefix}REST_URL={rest_url}"]


def trading_env_lines(
    trading: BinanceTradingConfig | BybitTradingConfig | None, rest_url: str
) -> list[str]:
    """The credentials of the emulated trading account, as exports (none without trading).

    Examples
    --------
    >>> trading_env_lines(BinanceTradingConfig(api_key="k", secret_key="s"), "http://h:1")[:2]
    ['export BINANCE_API_KEY=k', 'export BINANCE_SECRET_KEY=s']
    >>> trading_env_lines(BybitTradingConfig(api_key="k", secret_key="s"), "http://h:1")[:2]
    ['export BYBIT_API_KEY=k', 'export BYBIT_SECRET_KEY=s']
    """
    if trading is None:
        return []
    if isinstance(trading, BybitTradingConfig):
        return [
            f"export BYBIT_API_KEY={trading.api_key}",
            f"export BYBIT_SECRET_KEY={trading.secret_key}",
            f"# signed v5 REST trading at {rest_url}, private stream at ws://.../v5/private",
        ]
    return [
        f"export BINANCE_API_KEY={trading.api_key}",
        f"export BINANCE_SECRET_KEY={trading.secret_key}",
        f"# signed REST trading at {rest_url}, user data stream at ws://.../ws/<listenKey>",
    ]


def trade_faults(
    specs: Sequence[str], bybit: bool
) -> tuple[TradingFault, ...] | tuple[BybitTradingFault, ...]:
    """Parse ``--trade-fault`` specs into the venue's fault structs; ValueError names the bad one.

    Examples
    --------
    >>> trade_faults(["timeout,path=order,delay_s=3"], bybit=False)[0].delay_s
    3.0
    >>> trade_faults(["jam"], bybit=True)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: --trade-fault 'jam': action must be timeout, rate_limit, ... or reject, was 'jam'
    """
    kind: Any = BybitTradingFault if bybit else TradingFault
    out = []
    for spec in specs:
        action, *pairs = (part.strip() for part in spec.split(","))
        fields: dict[str, Any] = {"action": action}
        for pair in pairs:
            key, sep, value = pair.partition("=")
            if not sep:
                raise ValueError(f"--trade-fault {spec!r}: {pair!r} is not key=value")
            fields[key.strip()] = value.strip().strip('"')
        try:
            out.append(msgspec.convert(fields, kind, strict=False))
        except (msgspec.ValidationError, ValueError) as exc:
            raise ValueError(f"--trade-fault {spec!r}: {exc}") from None
    return tuple(out)


def _faults(args: argparse.Namespace) -> FaultConfig:
    return FaultConfig(
        drop_every=args.drop_every,
        drop_prob=args.drop_prob,
        duplicate_every=args.duplicate_every,
        reorder_every=args.reorder_every,
        corrupt_every=args.corrupt_every,
        gap_at=args.gap_at,
        disconnect_after=args.disconnect_after,
        stall_after=args.stall_after,
        stall_s=args.stall_s,
        seed=args.seed,
    )


async def _serve(emu: ReplayServer, args: argparse.Namespace, out: TextIO, err: TextIO) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    await emu.start()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        lines = env_lines(args.venue, emu.ws_url, emu.rest_url)
        trading = getattr(emu, "trading", None)
        lines += trading_env_lines(trading.config if trading is not None else None, emu.rest_url)
        out.write("".join(line + "\n" for line in lines))
        out.flush()
        pace = "as fast as possible" if args.fast else f"at {args.speed:g}x the recorded pace"
        err.write(
            f"ats emulator: serving {args.venue} {emu.recording.symbol} "
            f"({len(emu.recording):,} frames of {args.replay}) on {emu.host}:{emu.port} "
            f"{pace}; the replay starts with the first subscriber; SIGTERM or Ctrl-C stops it\n"
        )
        err.flush()
        done = asyncio.ensure_future(emu.wait_done())
        stopped = asyncio.ensure_future(stop.wait())
        await asyncio.wait({done, stopped}, return_when=asyncio.FIRST_COMPLETED)
        if done.done() and not done.cancelled() and done.exception() is None:
            err.write(
                f"ats emulator: end of the recording ({emu.stats.frames_served:,} frames); "
                "serving the final book until stopped\n"
            )
            err.flush()
            await stop.wait()
        elif done.done():
            done.result()  # the replay failed: raise its error
        done.cancel()
        stopped.cancel()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        await emu.stop()
    stats = msgspec.json.encode(emu.stats).decode()
    err.write(f"ats emulator: stopped: {stats}\n")
    err.flush()


def run(args: argparse.Namespace) -> int:
    """Entry point of ``ats emulator``; return the exit status (2 on bad options or data)."""
    import uvloop

    try:
        options: dict[str, Any] = {}
        keys = {
            "api_key": "emu-" + secrets.token_hex(16),
            "secret_key": "emu-" + secrets.token_hex(24),
        }
        bybit = args.venue in BYBIT_VENUES
        faults = trade_faults(args.trade_fault, bybit)
        if args.venue in ("binance", "binance-usdm"):
            options["trading"] = BinanceTradingConfig(faults=faults, **keys)  # type: ignore[arg-type]
        elif bybit:
            options["trading"] = BybitTradingConfig(faults=faults, **keys)  # type: ignore[arg-type]
        elif faults:
            raise ValueError(f"--trade-fault: {args.venue} serves no trading API")
        kind = BybitEmulator if args.venue in BYBIT_VENUES else BinanceEmulator
        emu = kind(
            load_recording(args.replay),
            venue=args.venue,
            faults=_faults(args),
            speed=args.speed,
            fast=args.fast,
            repeat=args.loop,
            close_at_end=args.close_at_end,
            port=args.port,
            **options,
        )
        uvloop.run(_serve(emu, args, sys.stdout, sys.stderr))
    except (RecordingError, EmulatorError, FaultConfigError, ValueError) as exc:
        sys.stderr.write(f"ats: error: {exc}\n")
        return 2
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``ats emulator`` on its own: ``python -m api.emulator_cmd --replay FILE ...``."""
    parser = argparse.ArgumentParser(prog="ats emulator", description=__doc__.split("\n")[0])
    add_options(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
