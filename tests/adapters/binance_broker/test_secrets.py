"""Secrets never appear in logs, printed output, ``repr`` or exception text.

A whole session runs with every logger at DEBUG (ccxt's request/response
debug log included, which carries the API-key header): placements, fills,
rejects, a timeout, a 429, a bad signature and the user data stream. Then the
captured log records, stdout/stderr, the reprs and the full tracebacks of every
error raised are searched for the API key and the secret.
"""

from __future__ import annotations

import asyncio
import logging
import pickle

import pytest
import uvloop

from adapters.binance.broker import BinanceBroker
from adapters.binance.config import BrokerConfig
from adapters.binance.userstream import BinanceUserStream
from adapters.ccxt_broker import Credentials
from adapters.emulator import EmulatorRecording
from adapters.emulator.binance_trading import ExchangeInfo, TradingFault
from engine.broker import BrokerError
from engine.orders import OrderType, Side
from tests.adapters.binance_broker._support import (
    API_KEY,
    ENV,
    SECRET,
    TIMEOUT_S,
    Sink,
    order,
    trading_config,
    venue,
)
from tests.adapters.broker_support import assert_never_shown, captured_texts


def test_session_when_everything_logged_at_debug_then_no_key_or_secret_anywhere(
    spot_recording: EmulatorRecording,
    spot_info: ExchangeInfo,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    faults = (
        TradingFault(action="429", at=3),
        TradingFault(action="timeout", at=4, delay_s=2.0),
        TradingFault(action="reject", at=5),
    )
    errors: list[BaseException] = []
    reprs: list[str] = []
    caplog.set_level(logging.DEBUG)  # every logger, ccxt's included

    async def scenario() -> int:
        async with venue(
            spot_recording, spot_info, trading=trading_config(faults=faults), timeout_s=0.5
        ) as (emu, broker):
            sink, stop = Sink(), asyncio.Event()
            stream = BinanceUserStream(broker, sink)
            task = asyncio.create_task(stream.run(stop))
            await asyncio.wait_for(stream.connected.wait(), TIMEOUT_S)
            for n in range(6):
                try:
                    await broker.place_order(order(f"s-{n}", Side.BUY, OrderType.MARKET, 0.01))
                except BrokerError as exc:
                    errors.append(exc)
            wrong = {"BINANCE_API_KEY": API_KEY, "BINANCE_SECRET_KEY": SECRET + "x"}
            config = BrokerConfig(rest_url=emu.rest_url, rate_limit=False)
            async with BinanceBroker(config, env=wrong) as bad:
                try:
                    await bad.get_balance()
                except BrokerError as exc:
                    errors.append(exc)
                reprs.extend([repr(bad), str(bad), repr(bad._credentials)])
            try:
                BinanceBroker(config, env={"BINANCE_API_KEY": API_KEY})
            except BrokerError as exc:
                errors.append(exc)
            reprs.extend([repr(broker), repr(broker.config), repr(broker.binance), repr(stream)])
            stop.set()
            await task
            return len(sink.fills)

    fills = uvloop.run(scenario())
    assert fills == 4 and len(errors) == 5  # every path ran (the timed-out order filled)
    texts = captured_texts(caplog, capsys, reprs, errors)
    assert_never_shown(texts, "X-MBX-APIKEY", SECRET, API_KEY)


def test_credentials_when_shown_or_pickled_then_values_never_leak() -> None:
    credentials = Credentials.from_env("BINANCE_API_KEY", "BINANCE_SECRET_KEY", env=ENV)
    shown = f"{credentials!r} {credentials!s} {credentials}"
    assert API_KEY not in shown and SECRET not in shown
    assert shown.startswith("Credentials(BINANCE_API_KEY=***, BINANCE_SECRET_KEY=***)")
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(credentials)
    assert credentials.redact(f"key={API_KEY}&secret={SECRET}") == "key=***&secret=***"
