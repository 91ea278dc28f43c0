"""Venue faults through the real ccxt client: timeouts, 429/418, 5xx, rejects, bad credentials.

The emulator injects each fault deterministically (:class:`TradingFault`); the
oracle is the emulator's own order book of the account: after
:func:`engine.retry.execute_order` settles, it holds exactly one order with the
client order id, however many times the connector had to ask.
"""

from __future__ import annotations

import random

import pytest
import uvloop

from adapters.binance.broker import BinanceBroker
from adapters.binance.config import BrokerConfig
from adapters.emulator import EmulatorRecording
from adapters.emulator.binance_trading import ExchangeInfo, TradingFault
from engine.broker import (
    AuthenticationError,
    ExchangeUnavailableError,
    InsufficientFundsError,
    RateLimitError,
    RequestTimeoutError,
)
from engine.orders import OrderStatus, OrderType, Side
from engine.retry import RetryAttempt, RetryPolicy, execute_order
from tests.adapters.binance_broker._support import (
    API_KEY,
    ENV,
    SECRET,
    order,
    trading_config,
    venue,
)
from tests.adapters.broker_support import Waits

POLICY = RetryPolicy(max_attempts=3, base_delay_s=0.01, max_delay_s=30.0)


def test_timeout_on_place_when_the_order_landed_then_query_finds_it_and_nothing_is_resent(
    spot_recording: EmulatorRecording, spot_info: ExchangeInfo
) -> None:
    fault = TradingFault(action="timeout", delay_s=5.0)  # the client gives up after 0.5 s
    attempts: list[RetryAttempt] = []

    async def scenario() -> tuple[object, int, int]:
        async with venue(
            spot_recording, spot_info, trading=trading_config(faults=(fault,)), timeout_s=0.5
        ) as (emu, broker):
            ack = await execute_order(
                broker,
                order("t-1", Side.BUY, OrderType.LIMIT, 0.01, 60000.0),
                POLICY,
                sleep=Waits(),
                rng=random.Random(1),
                on_attempt=attempts.append,
            )
            assert emu.trading is not None
            placed = sum(1 for m, name, _ in emu.trading.received if (m, name) == ("POST", "order"))
            return ack, len(emu.trading.engine.orders), placed

    ack, orders, posts = uvloop.run(scenario())
    assert ack.client_order_id == "t-1" and ack.status is OrderStatus.ACCEPTED  # type: ignore[attr-defined]
    assert [(a.action, a.error) for a in attempts] == [("query", "RequestTimeoutError")]
    assert orders == 1 and posts == 1


def test_5xx_on_place_when_not_applied_then_queried_not_found_and_resent_once(
    spot_recording: EmulatorRecording, spot_info: ExchangeInfo
) -> None:
    fault = TradingFault(action="5xx", status=502)
    attempts: list[RetryAttempt] = []

    async def scenario() -> tuple[object, int, int]:
        async with venue(spot_recording, spot_info, trading=trading_config(faults=(fault,))) as (
            emu,
            broker,
        ):
            ack = await execute_order(
                broker,
                order("x-1", Side.BUY, OrderType.MARKET, 0.01),
                POLICY,
                sleep=Waits(),
                on_attempt=attempts.append,
            )
            assert emu.trading is not None
            posts = sum(1 for m, name, _ in emu.trading.received if (m, name) == ("POST", "order"))
            return ack, len(emu.trading.engine.orders), posts

    ack, orders, posts = uvloop.run(scenario())
    assert ack.status is OrderStatus.FILLED  # type: ignore[attr-defined]
    # a 5xx leaves the outcome unknown (Binance's docs): query first, then resend
    assert [a.action for a in attempts] == ["query"]
    assert orders == 1 and posts == 2


def test_5xx_on_place_when_applied_then_the_query_finds_the_fill_and_no_second_order(
    spot_recording: EmulatorRecording, spot_info: ExchangeInfo
) -> None:
    fault = TradingFault(action="5xx", status=503, applied=True)

    async def scenario() -> tuple[object, int]:
        async with venue(spot_recording, spot_info, trading=trading_config(faults=(fault,))) as (
            emu,
            broker,
        ):
            ack = await execute_order(
                broker, order("x-2", Side.BUY, OrderType.MARKET, 0.01), POLICY, sleep=Waits()
            )
            assert emu.trading is not None
            return ack, len(emu.trading.engine.orders)

    ack, orders = uvloop.run(scenario())
    assert ack.status is OrderStatus.FILLED and ack.filled_quantity == 0.01  # type: ignore[attr-defined]
    assert orders == 1


def test_429_when_placing_then_rate_limit_error_carries_retry_after_and_the_wait_honours_it(
    spot_recording: EmulatorRecording, spot_info: ExchangeInfo
) -> None:
    fault = TradingFault(action="429", retry_after_s=7, times=2)  # the first two sends
    waits = Waits()

    async def scenario() -> tuple[RateLimitError, object, int]:
        async with venue(spot_recording, spot_info, trading=trading_config(faults=(fault,))) as (
            emu,
            broker,
        ):
            with pytest.raises(RateLimitError) as first:
                await broker.place_order(order("r-0", Side.BUY, OrderType.MARKET, 0.01))
            ack = await execute_order(
                broker, order("r-1", Side.BUY, OrderType.MARKET, 0.01), POLICY, sleep=waits
            )
            assert emu.trading is not None
            return first.value, ack, len(emu.trading.engine.orders)

    error, ack, orders = uvloop.run(scenario())
    assert error.retry_after_s == 7.0 and "-1003" in str(error)
    assert ack.status is OrderStatus.FILLED  # type: ignore[attr-defined]
    # the second fault hit r-1's first send: one wait of at least Retry-After, then sent
    assert len(waits.delays) == 1 and waits.delays[0] >= 7.0
    assert orders == 1


@pytest.mark.parametrize(
    ("fault", "endpoint", "error"),
    [
        (TradingFault(action="418", path="account", method="GET"), "balance", RateLimitError),
        (
            TradingFault(action="5xx", path="account", method="GET", status=500),
            "balance",
            ExchangeUnavailableError,
        ),
        (TradingFault(action="reject"), "place", InsufficientFundsError),
    ],
    ids=["418", "500", "reject"],
)
def test_fault_when_injected_then_mapped_to_its_broker_error_class(
    fault: TradingFault,
    endpoint: str,
    error: type[Exception],
    spot_recording: EmulatorRecording,
    spot_info: ExchangeInfo,
) -> None:
    async def scenario() -> Exception:
        async with venue(spot_recording, spot_info, trading=trading_config(faults=(fault,))) as (
            _emu,
            broker,
        ):
            with pytest.raises(error) as raised:
                if endpoint == "balance":
                    await broker.get_balance()
                else:
                    await broker.place_order(order("e-1", Side.BUY, OrderType.MARKET, 0.01))
            return raised.value

    raised = uvloop.run(scenario())
    if isinstance(raised, RateLimitError):
        assert raised.retry_after_s == 1.0 and "banned" in str(raised)


def test_bad_secret_when_signing_then_authentication_error_from_binance_1022(
    spot_recording: EmulatorRecording, spot_info: ExchangeInfo
) -> None:
    wrong = {"BINANCE_API_KEY": API_KEY, "BINANCE_SECRET_KEY": "not-the-secret"}

    async def scenario() -> str:
        async with venue(spot_recording, spot_info, env=wrong) as (_emu, broker):
            with pytest.raises(AuthenticationError) as refused:
                await broker.get_balance()
            return str(refused.value)

    message = uvloop.run(scenario())
    assert "-1022" in message and "Signature for this request is not valid" in message


def test_unknown_api_key_then_authentication_error_from_binance_2015(
    spot_recording: EmulatorRecording, spot_info: ExchangeInfo
) -> None:
    wrong = {"BINANCE_API_KEY": "someone-else", "BINANCE_SECRET_KEY": SECRET}

    async def scenario() -> str:
        async with venue(spot_recording, spot_info, env=wrong) as (_emu, broker):
            with pytest.raises(AuthenticationError) as refused:
                await broker.place_order(order("k-1", Side.BUY, OrderType.MARKET, 0.01))
            return str(refused.value)

    assert "-2015" in uvloop.run(scenario())


def test_stale_timestamp_then_clear_clock_error_and_sync_clock_fixes_it(
    spot_recording: EmulatorRecording, spot_info: ExchangeInfo
) -> None:
    ahead = trading_config(clock_offset_ms=120_000)  # the venue's clock runs 2 min ahead

    async def scenario() -> tuple[str, object]:
        async with venue(spot_recording, spot_info, trading=ahead) as (emu, broker):
            with pytest.raises(AuthenticationError) as stale:
                await broker.get_balance()
            config = BrokerConfig(rest_url=emu.rest_url, sync_clock=True, rate_limit=False)
            async with BinanceBroker(config, env=ENV) as synced:
                balances = await synced.get_balance()
        return str(stale.value), balances

    message, balances = uvloop.run(scenario())
    assert "-1021" in message and "recvWindow" in message and "clock" in message
    assert {b.asset for b in balances} == {"USDT", "BTC"}  # type: ignore[attr-defined]


def test_credentials_when_missing_from_the_environment_then_error_names_the_variable() -> None:
    with pytest.raises(AuthenticationError, match="BINANCE_SECRET_KEY") as missing:
        BinanceBroker(BrokerConfig(), env={"BINANCE_API_KEY": API_KEY})
    assert API_KEY not in str(missing.value)


def test_timeout_on_a_query_then_request_timeout_error(
    spot_recording: EmulatorRecording, spot_info: ExchangeInfo
) -> None:
    fault = TradingFault(action="timeout", path="openOrders", method="GET", delay_s=5.0)

    async def scenario() -> None:
        async with venue(
            spot_recording, spot_info, trading=trading_config(faults=(fault,)), timeout_s=0.5
        ) as (_emu, broker):
            with pytest.raises(RequestTimeoutError):
                await broker.get_open_orders()
            assert await broker.get_open_orders() == []

    uvloop.run(scenario())
