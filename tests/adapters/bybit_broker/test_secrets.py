"""Secrets never appear in logs, printed output, ``repr`` or exception text.

A whole session runs with every logger at DEBUG (ccxt's request/response debug
log included, which carries the ``X-BAPI-API-KEY`` header): placements, fills,
a rate limit, a timeout, a reject, a wrong secret (Bybit's ``10004`` answer
echoes the signed string, API key included), a wrong key, and the private
stream. Then the captured log records, stdout/stderr, the reprs and the full
tracebacks (causes included) of every error raised are searched for the API
key and the secret.
"""

from __future__ import annotations

import asyncio
import logging

import pytest
import uvloop

from adapters.bybit.broker import BybitBroker
from adapters.bybit.config import BrokerConfig
from adapters.bybit.userstream import BybitUserStream
from adapters.emulator import EmulatorRecording
from adapters.emulator.bybit_trading import BybitTradingFault, InstrumentsInfo
from engine.broker import AuthenticationError, BrokerError
from engine.orders import OrderType, Side
from tests.adapters.broker_support import assert_never_shown, captured_texts
from tests.adapters.bybit_broker._support import (
    API_KEY,
    SECRET,
    TIMEOUT_S,
    Sink,
    order,
    trading_config,
    venue,
)


def test_session_when_everything_logged_at_debug_then_no_key_or_secret_anywhere(
    spot_recording: EmulatorRecording,
    instruments: InstrumentsInfo,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    faults = (
        BybitTradingFault(action="rate_limit", at=3),
        BybitTradingFault(action="timeout", at=4, delay_s=2.0),
        BybitTradingFault(action="reject", at=5, code=110007, message="ab not enough"),
    )
    errors: list[BaseException] = []
    reprs: list[str] = []
    caplog.set_level(logging.DEBUG)  # every logger, ccxt's included

    async def scenario() -> int:
        async with venue(
            spot_recording, instruments, trading=trading_config(faults=faults), timeout_s=0.5
        ) as (emu, broker):
            sink, stop = Sink(), asyncio.Event()
            stream = BybitUserStream(broker, sink)
            task = asyncio.create_task(stream.run(stop))
            await asyncio.wait_for(stream.connected.wait(), TIMEOUT_S)
            for n in range(6):
                try:
                    await broker.place_order(order(f"s-{n}", Side.BUY, OrderType.MARKET, 0.01))
                except BrokerError as exc:
                    errors.append(exc)
            config = BrokerConfig(rest_url=emu.rest_url, rate_limit=False)
            for env in (
                {"BYBIT_API_KEY": API_KEY, "BYBIT_SECRET_KEY": SECRET + "x"},
                {"BYBIT_API_KEY": API_KEY + "x", "BYBIT_SECRET_KEY": SECRET},
            ):
                async with BybitBroker(config, env=env) as bad:
                    try:
                        await bad.get_balance()
                    except AuthenticationError as exc:
                        errors.append(exc)
                    reprs.extend([repr(bad), str(bad), repr(bad._credentials)])
            try:
                BybitBroker(config, env={"BYBIT_API_KEY": API_KEY})
            except BrokerError as exc:
                errors.append(exc)
            reprs.extend([repr(broker), repr(broker.config), repr(broker.bybit), repr(stream)])
            reprs.append(repr(stream.stats))
            stop.set()
            await task
            assert emu.trading is not None
            return len(sink.fills)

    fills = uvloop.run(scenario())
    assert fills == 4 and len(errors) == 6  # every path ran (the timed-out order filled)
    assert any("error sign! origin_string[" in str(e) for e in errors)  # the echo was seen
    texts = captured_texts(caplog, capsys, reprs, errors)
    assert_never_shown(texts, "X-BAPI-API-KEY", SECRET, API_KEY)
