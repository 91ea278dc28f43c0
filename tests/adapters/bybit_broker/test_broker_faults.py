"""Venue faults through the real ccxt client: timeouts, rate limits, 5xx, bad credentials.

The emulator injects each fault deterministically (:class:`BybitTradingFault`);
the oracle is the emulator's own book of the account: after
:func:`engine.retry.execute_order` settles, it holds exactly one order with the
client order id, however many times the connector had to ask.
"""

from __future__ import annotations

import random

import pytest
import uvloop

from adapters.bybit.broker import BybitBroker
from adapters.bybit.config import BrokerConfig
from adapters.emulator import EmulatorRecording
from adapters.emulator.bybit_trading import BybitTradingFault, InstrumentsInfo
from engine.broker import AuthenticationError, RateLimitError, RequestTimeoutError
from engine.orders import OrderStatus, OrderType, Side
from engine.retry import RetryAttempt, RetryPolicy, execute_order
from tests.adapters.broker_support import Waits
from tests.adapters.bybit_broker._support import (
    API_KEY,
    SECRET,
    order,
    trading_config,
    venue,
)

POLICY = RetryPolicy(max_attempts=3, base_delay_s=0.01, max_delay_s=30.0)


def _creates(emu: object) -> int:
    trading = emu.trading  # type: ignore[attr-defined]
    return sum(1 for _, path, _ in trading.received if path == "order/create")


@pytest.mark.parametrize("linear", [False, True], ids=["spot", "linear"])
def test_timeout_on_place_when_the_order_landed_then_found_by_link_id_and_not_resent(
    linear: bool,
    spot_recording: EmulatorRecording,
    usdm_recording: EmulatorRecording,
    instruments: InstrumentsInfo,
) -> None:
    fault = BybitTradingFault(action="timeout", delay_s=3.0)  # the client gives up at 0.3 s
    attempts: list[RetryAttempt] = []
    symbol = "BTC/USDT:USDT" if linear else "BTC/USDT"

    async def scenario() -> tuple[object, int, int]:
        async with venue(
            usdm_recording if linear else spot_recording,
            instruments,
            linear=linear,
            trading=trading_config(faults=(fault,)),
            timeout_s=0.3,
        ) as (emu, broker):
            ack = await execute_order(
                broker,
                order("t-1", Side.BUY, OrderType.LIMIT, 0.01, 60000.0, symbol=symbol),
                POLICY,
                sleep=Waits(),
                rng=random.Random(1),
                on_attempt=attempts.append,
            )
            assert emu.trading is not None
            return ack, len(emu.trading.engine.orders), _creates(emu)

    ack, orders, creates = uvloop.run(scenario())
    assert ack.client_order_id == "t-1" and ack.status is OrderStatus.ACCEPTED  # type: ignore[attr-defined]
    assert [(a.action, a.error) for a in attempts] == [("query", "RequestTimeoutError")]
    assert orders == 1 and creates == 1


def test_rate_limit_when_refused_then_rate_limit_error_with_the_venue_wait_and_backoff(
    spot_recording: EmulatorRecording, instruments: InstrumentsInfo
) -> None:
    fault = BybitTradingFault(action="rate_limit", reset_ms=1500)
    waits = Waits()

    async def scenario() -> tuple[RateLimitError, object, int, int]:
        async with venue(spot_recording, instruments) as (emu, broker):
            assert emu.trading is not None
            emu.trading.inject(fault)
            with pytest.raises(RateLimitError) as refused:
                await broker.place_order(order("r-0", Side.BUY, OrderType.LIMIT, 0.01, 6e4))
            emu.trading.inject(fault)
            ack = await execute_order(
                broker,
                order("r-1", Side.BUY, OrderType.LIMIT, 0.01, 60000.0),
                POLICY,
                sleep=waits,
                rng=random.Random(2),
            )
            return refused.value, ack, len(emu.trading.engine.orders), _creates(emu)

    refused, ack, orders, creates = uvloop.run(scenario())
    assert "10006" in str(refused) and refused.retry_safe
    assert refused.retry_after_s is not None and 1.0 < refused.retry_after_s <= 1.5
    assert ack.client_order_id == "r-1" and ack.status is OrderStatus.ACCEPTED  # type: ignore[attr-defined]
    # one wait, at least what the venue asked for (the jitter alone is at most 0.01 s)
    [wait] = waits.delays
    assert 1.0 < wait <= 1.5
    assert orders == 1 and creates == 3  # r-0 refused, r-1 refused then placed


def test_ip_limit_when_http_403_then_rate_limit_error_waiting_the_ban(
    spot_recording: EmulatorRecording, instruments: InstrumentsInfo
) -> None:
    async def scenario() -> RateLimitError:
        trading = trading_config(faults=(BybitTradingFault(action="403", path=""),))
        async with venue(spot_recording, instruments, trading=trading) as (_emu, broker):
            with pytest.raises(RateLimitError) as refused:
                await broker.get_balance()
            return refused.value

    refused = uvloop.run(scenario())
    assert "403" in str(refused) and refused.retry_after_s == 600.0


@pytest.mark.parametrize("applied", [True, False], ids=["order-landed", "order-lost"])
def test_gateway_error_on_place_when_outcome_unknown_then_queried_and_one_order(
    applied: bool, spot_recording: EmulatorRecording, instruments: InstrumentsInfo
) -> None:
    fault = BybitTradingFault(action="5xx", status=502, applied=applied)
    attempts: list[RetryAttempt] = []

    async def scenario() -> tuple[object, int, int]:
        trading = trading_config(faults=(fault,))
        async with venue(spot_recording, instruments, trading=trading) as (emu, broker):
            ack = await execute_order(
                broker,
                order("g-1", Side.BUY, OrderType.LIMIT, 0.01, 60000.0),
                POLICY,
                sleep=Waits(),
                rng=random.Random(3),
                on_attempt=attempts.append,
            )
            assert emu.trading is not None
            return ack, len(emu.trading.engine.orders), _creates(emu)

    ack, orders, creates = uvloop.run(scenario())
    assert ack.client_order_id == "g-1" and ack.status is OrderStatus.ACCEPTED  # type: ignore[attr-defined]
    assert attempts[0].error == RequestTimeoutError.__name__
    assert orders == 1
    # landed: found by the query, never resent; lost: not found, resent once with the same id
    assert creates == (1 if applied else 2)


def test_credentials_when_key_or_signature_wrong_then_authentication_error(
    spot_recording: EmulatorRecording, instruments: InstrumentsInfo
) -> None:
    async def scenario() -> list[AuthenticationError]:
        errors = []
        async with venue(spot_recording, instruments) as (emu, _broker):
            for env in (
                {"BYBIT_API_KEY": API_KEY, "BYBIT_SECRET_KEY": SECRET + "x"},
                {"BYBIT_API_KEY": API_KEY + "x", "BYBIT_SECRET_KEY": SECRET},
            ):
                config = BrokerConfig(rest_url=emu.rest_url, rate_limit=False)
                async with BybitBroker(config, env=env) as bad:
                    with pytest.raises(AuthenticationError) as refused:
                        await bad.get_balance()
                    errors.append(refused.value)
            assert emu.trading is not None and emu.trading.stats.auth_failures == 2
        return errors

    bad_sign, bad_key = uvloop.run(scenario())
    assert "Bybit 10004 error sign!" in str(bad_sign)
    assert "Bybit 10003 API key is invalid." in str(bad_key)


def test_timestamp_when_local_clock_behind_the_venue_then_refused_unless_clock_synced(
    spot_recording: EmulatorRecording, instruments: InstrumentsInfo
) -> None:
    async def scenario() -> tuple[AuthenticationError, list[str]]:
        trading = trading_config(clock_offset_ms=10_000)  # the venue runs 10 s ahead
        async with venue(spot_recording, instruments, trading=trading) as (emu, broker):
            with pytest.raises(AuthenticationError) as refused:
                await broker.get_balance()
            config = BrokerConfig(rest_url=emu.rest_url, rate_limit=False, sync_clock=True)
            async with BybitBroker(
                config, env={"BYBIT_API_KEY": API_KEY, "BYBIT_SECRET_KEY": SECRET}
            ) as synced:
                assets = [b.asset for b in await synced.get_balance()]
        return refused.value, assets

    refused, assets = uvloop.run(scenario())
    assert "10002" in str(refused) and "recv window 5000 ms" in str(refused)
    assert sorted(assets) == ["BTC", "USDT"]
