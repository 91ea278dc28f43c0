"""Dropped connections: pending calls, backoff, and what TWS replays after a reconnect."""

from __future__ import annotations

import asyncio
import re

import pytest

from adapters.ib import IbClientIdInUseError, IbConfigurationError
from engine.broker import NetworkError, OrderNotFoundError, RequestTimeoutError
from engine.orders import OrderStatus
from tests.adapters.ib.conftest import Harness, ib_config


async def _reconnected(h: Harness) -> None:
    await h.broker.wait_connected(timeout_s=2.0)
    await h.tws.settle()


def test_fills_are_reported_once_across_a_reconnect_that_replays_executions(
    harness: Harness,
) -> None:
    h = harness

    async def scenario() -> None:
        await h.broker.connect()
        order = h.order(quantity=100)
        await h.broker.place_order(order)
        h.tws.fill(order.client_order_id, 40, 187.20)
        await h.tws.settle()
        h.tws.drop()
        assert not h.broker.is_connected
        # While the adapter is away, the rest fills at TWS.
        h.tws.fill(order.client_order_id, 60, 187.25)
        await _reconnected(h)
        assert h.broker.reconnects == 1
        # TWS replayed both executions and commission reports: each booked once.
        assert len(h.tws.executions) == 2
        assert [e[2] for e in h.sink.of("fill")] == [40.0, 60.0]
        assert h.broker.tracker.duplicate_fills >= 1
        assert order.status is OrderStatus.FILLED
        venue = await h.broker.get_order(order.client_order_id)
        assert (venue.status, venue.filled_quantity) == (OrderStatus.FILLED, 100.0)
        # A second drop and reconnect changes nothing.
        h.tws.drop()
        await _reconnected(h)
        assert len(h.sink.of("fill")) == 2

    h.run(scenario)
    h.assert_consistent()


def test_cancel_at_tws_while_away_is_reported_after_reconnect(harness: Harness) -> None:
    h = harness

    async def scenario() -> None:
        await h.broker.connect()
        order = h.order(quantity=100)
        await h.broker.place_order(order)
        h.tws.drop()
        h.tws.fill(order.client_order_id, 25, 187.25)
        h.tws.cancel_at_tws(order.client_order_id)
        await _reconnected(h)
        assert [e[0] for e in h.sink.events] == ["accepted", "fill", "cancelled"]
        assert order.status is OrderStatus.CANCELLED
        assert order.filled_quantity == 25.0

    h.run(scenario)
    h.assert_consistent()


def test_open_order_survives_reconnect_and_can_be_cancelled(harness: Harness) -> None:
    h = harness

    async def scenario() -> None:
        await h.broker.connect()
        order = h.order()
        await h.broker.place_order(order)
        h.tws.drop()
        await _reconnected(h)
        assert [o.client_order_id for o in await h.broker.get_open_orders()] == [
            order.client_order_id
        ]
        ack = await h.broker.cancel_order(order.client_order_id)
        assert ack.status is OrderStatus.CANCELLED
        assert h.sink.events == [
            ("accepted", order.client_order_id),
            ("cancelled", order.client_order_id, "cancelled on request"),
        ]

    h.run(scenario)
    h.assert_consistent()


def test_drop_during_pending_ack_gives_outcome_unknown_and_calls_fail_until_back(
    harness: Harness,
) -> None:
    h = harness

    async def scenario() -> None:
        await h.broker.connect()
        order = h.order()
        h.tws.hold_acks = True
        h.tws.refuse_connections = 1_000  # stay down while the broker keeps trying
        place = asyncio.create_task(h.broker.place_order(order))
        await h.tws.settle()
        h.tws.drop()
        with pytest.raises(RequestTimeoutError, match="connection to TWS lost"):
            await place
        with pytest.raises(NetworkError, match="nothing was sent"):
            await h.broker.place_order(h.order())
        with pytest.raises(NetworkError):
            await h.broker.get_order(order.client_order_id)  # never "not found" from a stale view
        assert len(h.tws.placed) == 1
        h.tws.refuse_connections = 0
        await _reconnected(h)
        # TWS had received it: found after the reconnect, never sent twice.
        found = await h.broker.get_order(order.client_order_id)
        assert found.status is OrderStatus.ACCEPTED
        again = await h.broker.place_order(order)
        assert again.status is OrderStatus.ACCEPTED
        assert len(h.tws.placed) == 1

    h.run(scenario)
    h.assert_consistent()


def test_order_lost_before_reaching_tws_is_not_found_after_reconnect(harness: Harness) -> None:
    h = harness

    async def scenario() -> None:
        await h.broker.connect()
        order = h.order()
        h.tws.lose_next_order = True
        with pytest.raises(RequestTimeoutError):
            await h.broker.place_order(order)
        h.tws.drop()
        await _reconnected(h)
        with pytest.raises(OrderNotFoundError):
            await h.broker.get_order(order.client_order_id)
        # So the retry policy may resend it, with the same client order id.
        ack = await h.broker.place_order(order)
        assert ack.status is OrderStatus.ACCEPTED
        assert [sent.orderRef for _, sent in h.tws.placed] == [order.client_order_id] * 2
        assert len(h.tws.orders) == 1

    h.run(scenario)
    h.assert_consistent()


def test_reconnect_backs_off_with_full_jitter_under_a_growing_bound() -> None:
    h = Harness(ib_config(reconnect_base_s=0.5, reconnect_cap_s=4.0))

    async def scenario() -> None:
        await h.broker.connect()
        h.tws.refuse_connections = 5
        h.tws.drop()
        await _reconnected(h)
        assert h.tws.connect_attempts == 1 + 6
        bounds = [min(4.0, 0.5 * 2**k) for k in range(6)]
        assert len(h.sleeps) == 6
        assert all(0.0 <= s <= b for s, b in zip(h.sleeps, bounds, strict=True))
        assert h.sleeps[-1] > 0.5  # seed 7: jitter reached past the first bound
        assert h.broker.reconnects == 1

    h.run(scenario)


def test_drop_while_synchronising_keeps_reconnecting_until_synchronised(
    harness: Harness,
) -> None:
    h = harness
    # The first two sessions break while the contracts are being qualified.
    h.tws.drop_on_contract_details = 2

    async def scenario() -> None:
        with pytest.raises(NetworkError, match="dropped while synchronising"):
            await h.broker.connect()
        await h.broker.connect()  # waits for the background reconnect
        assert h.broker.is_connected
        assert h.tws.connect_attempts == 3
        spec = await h.broker.contract_spec("AAPL/USD")
        assert spec.qualified
        assert (await h.broker.place_order(h.order())).status is OrderStatus.ACCEPTED

    h.run(scenario)


def test_reconnect_gives_up_after_max_attempts() -> None:
    h = Harness(ib_config(reconnect_max_attempts=3))

    async def scenario() -> None:
        await h.broker.connect()
        h.tws.refuse_connections = 10
        h.tws.drop()
        with pytest.raises(NetworkError, match="not connected"):
            await h.broker.wait_connected(timeout_s=0.3)
        assert h.tws.connect_attempts == 1 + 3
        assert not h.broker.is_connected

    h.run(scenario)


def test_no_reconnect_when_disabled_or_after_close() -> None:
    h = Harness(ib_config(reconnect=False))

    async def scenario() -> None:
        await h.broker.connect()
        h.tws.drop()
        await h.tws.settle()
        assert h.tws.connect_attempts == 1
        await h.broker.connect()  # an explicit connect still works
        assert h.broker.is_connected
        await h.broker.close()
        await h.tws.settle()
        assert h.tws.connect_attempts == 2
        assert not h.broker.is_connected

    h.run(scenario)


def test_refused_connection_raises_retry_safe_network_error(harness: Harness) -> None:
    h = harness
    h.tws.refuse_connections = 1

    async def scenario() -> None:
        message = "cannot connect to TWS / IB Gateway at 127.0.0.1:4002"
        with pytest.raises(NetworkError, match=re.escape(message)) as info:
            await h.broker.connect()
        assert info.value.retry_safe
        await h.broker.connect()
        assert h.broker.is_connected

    h.run(scenario)


def test_client_id_in_use_is_a_final_error_naming_the_setting(harness: Harness) -> None:
    h = harness
    h.tws.client_id_in_use = True

    async def scenario() -> None:
        with pytest.raises(IbClientIdInUseError) as info:
            await h.broker.connect()
        assert not info.value.retry_safe
        assert "326" in str(info.value)
        assert "venues.ib.client_id" in str(info.value)

    h.run(scenario)


def test_several_managed_accounts_need_ib_account() -> None:
    h = Harness(account="")
    h.tws.accounts = ["DU1111111", "DU2222222"]

    async def scenario() -> None:
        with pytest.raises(IbConfigurationError, match="manages 2 accounts; set IB_ACCOUNT"):
            await h.broker.connect()
        assert not h.broker.is_connected

    h.run(scenario)


def test_account_not_managed_by_the_login_is_refused() -> None:
    h = Harness(account="DU9999999")
    h.tws.accounts = ["DU1111111"]

    async def scenario() -> None:
        with pytest.raises(IbConfigurationError, match="not one of the 1 account"):
            await h.broker.connect()

    h.run(scenario)


def test_single_managed_account_is_used_when_ib_account_is_unset() -> None:
    h = Harness(account="")
    h.tws.accounts = ["DU1111111"]

    async def scenario() -> None:
        await h.broker.connect()
        await h.broker.place_order(h.order())
        assert h.tws.placed[-1][1].account == "DU1111111"

    h.run(scenario)
