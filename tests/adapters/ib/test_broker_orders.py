"""IbBroker's order life against the simulated TWS: place, ack, fills, cancel, queries, rejects.

Every scenario feeds the broker's reports into real engine ``Order`` objects
(:class:`EngineOrdersSink`): a report sequence the engine's lifecycle refuses
fails the test (``assert_consistent``).
"""

from __future__ import annotations

import inspect

import pytest
from ib_insync import Contract, ContractDetails

from adapters.ib import ContractMappingError, IbBroker, IbReadOnlyError
from engine.broker import (
    BrokerConnector,
    ExchangeUnavailableError,
    InsufficientFundsError,
    InvalidOrderError,
    NetworkError,
    OrderNotFoundError,
    RequestTimeoutError,
)
from engine.orders import OrderStatus, OrderType, Side, TimeInForce
from tests.adapters.ib.conftest import ES, Harness, ib_config


def test_ib_broker_has_every_broker_connector_method_as_a_coroutine() -> None:
    methods = [
        name
        for name, member in inspect.getmembers(BrokerConnector)
        if inspect.iscoroutinefunction(member)
    ]
    assert len(methods) == 8
    for name in methods:
        ours = getattr(IbBroker, name)
        assert inspect.iscoroutinefunction(ours), name
        assert list(inspect.signature(ours).parameters) == list(
            inspect.signature(getattr(BrokerConnector, name)).parameters
        ), name


def test_connect_synchronises_qualifies_contracts_and_sets_market_data_type() -> None:
    h = Harness(ib_config(market_data_type=3))

    async def scenario() -> None:
        assert not h.broker.is_connected
        await h.broker.connect()
        assert h.broker.is_connected
        assert h.tws.market_data_types == [3]
        spec = await h.broker.contract_spec(ES)
        assert spec.qualified
        assert spec.contract.conId == 495512563
        await h.broker.connect()  # a second call is a no-op
        assert h.tws.connect_attempts == 1

    h.run(scenario)


def test_place_ack_partial_fill_fill_reports_each_step_once(harness: Harness) -> None:
    h = harness

    async def scenario() -> None:
        await h.broker.connect()
        order = h.order(quantity=100, price=187.25)
        ack = await h.broker.place_order(order)
        assert ack.status is OrderStatus.ACCEPTED
        assert ack.client_order_id == order.client_order_id
        contract, sent = h.tws.placed[-1]
        assert (sent.orderRef, sent.orderType, sent.lmtPrice, sent.totalQuantity) == (
            order.client_order_id,
            "LMT",
            187.25,
            100.0,
        )
        assert sent.account == "DU7654321"
        assert contract.conId == 265598  # the qualified contract is sent

        h.tws.fill(order.client_order_id, 40, 187.20, commission=0.40, liquidity=1)
        await h.tws.settle()
        assert order.status is OrderStatus.PARTIALLY_FILLED
        h.tws.fill(order.client_order_id, 60, 187.25, commission=0.60, status_first=True)
        await h.tws.settle()

        assert h.sink.events == [
            ("accepted", order.client_order_id),
            ("fill", order.client_order_id, 40.0, 187.20, 0.40, "maker"),
            ("fill", order.client_order_id, 60.0, 187.25, 0.60, "taker"),
        ]
        assert order.status is OrderStatus.FILLED
        assert order.average_fill_price == pytest.approx((40 * 187.20 + 60 * 187.25) / 100)
        venue = await h.broker.get_order(order.client_order_id)
        assert (venue.status, venue.filled_quantity) == (OrderStatus.FILLED, 100.0)
        assert [f.exec_id for f in h.fills] == [e[1].execId for e in h.tws.executions]
        assert h.fills[0].fee_currency == "USD"
        assert h.fills[0].ts_event == 1_723_127_401_000_000_000  # 2024-08-08 14:30:01 UTC

    h.run(scenario)
    h.assert_consistent()


def test_repeated_commission_report_and_execution_books_fill_once(harness: Harness) -> None:
    h = harness

    async def scenario() -> None:
        await h.broker.connect()
        order = h.order(quantity=10)
        await h.broker.place_order(order)
        h.tws.fill(order.client_order_id, 4, 187.0)
        await h.tws.settle()
        # TWS answers a reqExecutions with every execution and commission report again.
        await h.ib.reqExecutionsAsync()
        await h.tws.settle()
        assert len(h.sink.of("fill")) == 1
        assert h.broker.tracker.duplicate_fills >= 1
        assert order.filled_quantity == 4

    h.run(scenario)
    h.assert_consistent()


def test_fill_whose_commission_is_late_waits_for_it(harness: Harness) -> None:
    h = harness

    async def scenario() -> None:
        await h.broker.connect()
        order = h.order(quantity=10)
        await h.broker.place_order(order)
        tws_order = h.tws.find(order.client_order_id)
        h.tws.fill(order.client_order_id, 10, 187.0, deliver=False)
        contract, execution, report = h.tws.executions[-1]
        wrapper = h.ib.wrapper
        wrapper.execDetails(-1, contract, execution)
        assert h.broker.tracker.awaiting_commission == {execution.execId}
        assert h.sink.of("fill") == []
        wrapper.commissionReport(report)
        assert h.broker.tracker.awaiting_commission == set()
        assert h.sink.of("fill") == [("fill", order.client_order_id, 10.0, 187.0, 1.0, "taker")]
        assert tws_order.status == "Filled"

    h.run(scenario)
    h.assert_consistent()


def test_known_exec_ids_from_the_store_are_never_reported_again() -> None:
    h = Harness(known_exec_ids=["0000e0d5.6552b5c8.01.01"])

    async def scenario() -> None:
        await h.broker.connect()
        order = h.order(quantity=10)
        await h.broker.place_order(order)
        first = h.tws.fill(order.client_order_id, 4, 187.0)
        h.tws.fill(order.client_order_id, 6, 187.1)
        await h.tws.settle()
        assert first == "0000e0d5.6552b5c8.01.01"
        # The known fill still counts: the next one adds 6, not the cumulative 10.
        assert [e[2] for e in h.sink.of("fill")] == [6.0]
        assert (await h.broker.get_order(order.client_order_id)).status is OrderStatus.FILLED

    h.run(scenario)


def test_cancel_returns_cancelled_and_reports_it(harness: Harness) -> None:
    h = harness

    async def scenario() -> None:
        await h.broker.connect()
        order = h.order(quantity=100)
        await h.broker.place_order(order)
        h.tws.fill(order.client_order_id, 30, 187.25)
        await h.tws.settle()
        ack = await h.broker.cancel_order(order.client_order_id)
        assert ack.status is OrderStatus.CANCELLED
        assert ack.filled_quantity == 30.0
        await h.tws.settle()
        assert h.sink.events[-1] == ("cancelled", order.client_order_id, "cancelled on request")
        assert order.status is OrderStatus.CANCELLED
        assert order.filled_quantity == 30.0
        with pytest.raises(OrderNotFoundError, match="not open"):
            await h.broker.cancel_order(order.client_order_id)

    h.run(scenario)
    h.assert_consistent()


def test_cancel_refused_by_tws_raises_order_not_found_and_keeps_state(harness: Harness) -> None:
    h = harness

    async def scenario() -> None:
        await h.broker.connect()
        order = h.order(quantity=10)
        await h.broker.place_order(order)
        # TWS has filled it, but the fill has not reached us when the cancel goes out.
        h.tws.fill(order.client_order_id, 10, 187.0, deliver=False)
        with pytest.raises(OrderNotFoundError, match="10148"):
            await h.broker.cancel_order(order.client_order_id)
        assert order.status is OrderStatus.ACCEPTED  # no cancel was reported
        assert h.sink.of("cancelled") == []

    h.run(scenario)
    h.assert_consistent()


def test_cancel_without_confirmation_times_out_with_outcome_unknown(harness: Harness) -> None:
    h = harness

    async def scenario() -> None:
        await h.broker.connect()
        order = h.order()
        await h.broker.place_order(order)
        h.tws.hold_cancels = True
        with pytest.raises(RequestTimeoutError, match="outcome unknown"):
            await h.broker.cancel_order(order.client_order_id)

    h.run(scenario)


def test_cancel_of_unknown_client_order_id_raises_order_not_found(harness: Harness) -> None:
    async def scenario() -> None:
        await harness.broker.connect()
        with pytest.raises(OrderNotFoundError, match="ats-404"):
            await harness.broker.cancel_order("ats-404")

    harness.run(scenario)


def test_get_order_finds_order_by_client_order_id_and_not_unknown_ones(harness: Harness) -> None:
    h = harness

    async def scenario() -> None:
        await h.broker.connect()
        order = h.order(symbol=ES, side=Side.SELL, quantity=2, price=5012.75)
        ack = await h.broker.place_order(order)
        found = await h.broker.get_order(order.client_order_id)
        assert found.client_order_id == order.client_order_id
        assert found.venue_order_id == ack.venue_order_id
        assert (found.symbol, found.side, found.quantity, found.price) == (
            ES,
            Side.SELL,
            2.0,
            5012.75,
        )
        assert found.status is OrderStatus.ACCEPTED
        with pytest.raises(OrderNotFoundError):
            await h.broker.get_order("ats-999")

    h.run(scenario)


def test_open_orders_lists_ours_and_manual_ones_filtered_by_symbol(harness: Harness) -> None:
    h = harness

    async def scenario() -> None:
        await h.broker.connect()
        aapl = h.order(quantity=5)
        es = h.order(symbol=ES, quantity=1, price=5000.0)
        done = h.order(quantity=1)
        for order in (aapl, es, done):
            await h.broker.place_order(order)
        h.tws.fill(done.client_order_id, 1, 187.0)
        await h.tws.settle()
        everything = await h.broker.get_open_orders()
        assert sorted(o.client_order_id for o in everything) == sorted(
            [aapl.client_order_id, es.client_order_id]
        )
        only_es = await h.broker.get_open_orders(ES)
        assert [o.client_order_id for o in only_es] == [es.client_order_id]

    h.run(scenario)
    h.assert_consistent()


def test_cancel_all_cancels_every_open_order_of_the_symbol(harness: Harness) -> None:
    h = harness

    async def scenario() -> None:
        await h.broker.connect()
        first, second = h.order(quantity=5), h.order(quantity=6, price=187.0)
        es = h.order(symbol=ES, quantity=1, price=5000.0)
        for order in (first, second, es):
            await h.broker.place_order(order)
        acks = await h.broker.cancel_all("AAPL/USD")
        assert sorted(a.client_order_id for a in acks) == sorted(
            [first.client_order_id, second.client_order_id]
        )
        assert all(a.status is OrderStatus.CANCELLED for a in acks)
        await h.tws.settle()
        assert [o.client_order_id for o in await h.broker.get_open_orders()] == [es.client_order_id]
        assert len(await h.broker.cancel_all()) == 1
        assert await h.broker.get_open_orders() == []

    h.run(scenario)
    h.assert_consistent()


def test_reject_201_raises_invalid_order_and_reports_rejection(harness: Harness) -> None:
    h = harness

    async def scenario() -> None:
        await h.broker.connect()
        order = h.order()
        h.tws.reject_next(201, "Order rejected - reason:The contract is not available for trading")
        with pytest.raises(InvalidOrderError, match="IB error 201"):
            await h.broker.place_order(order)
        await h.tws.settle()
        assert order.status is OrderStatus.REJECTED
        assert h.sink.events == [
            (
                "rejected",
                order.client_order_id,
                "IB error 201: Order rejected - reason:The contract is not available for trading",
            )
        ]
        assert (await h.broker.get_order(order.client_order_id)).status is OrderStatus.REJECTED

    h.run(scenario)
    h.assert_consistent()


def test_reject_for_margin_raises_insufficient_funds(harness: Harness) -> None:
    h = harness

    async def scenario() -> None:
        await h.broker.connect()
        h.tws.reject_next(
            201,
            "Order rejected - reason:YOUR ORDER IS NOT ACCEPTED. IN ORDER TO OBTAIN THE DESIRED "
            "POSITION YOUR EQUITY WITH LOAN VALUE [1000 USD] MUST EXCEED THE INITIAL MARGIN",
            then_inactive=True,
        )
        with pytest.raises(InsufficientFundsError):
            await h.broker.place_order(h.order(quantity=10_000))

    h.run(scenario)
    h.assert_consistent()


def test_code_110_which_ib_insync_calls_a_warning_still_rejects(harness: Harness) -> None:
    h = harness

    async def scenario() -> None:
        await h.broker.connect()
        h.tws.reject_next(110, "The price does not conform to the minimum price variation")
        order = h.order()
        with pytest.raises(InvalidOrderError, match="IB error 110"):
            await h.broker.place_order(order)
        assert order.status is OrderStatus.REJECTED

    h.run(scenario)
    h.assert_consistent()


def test_inactive_status_without_error_is_a_rejection(harness: Harness) -> None:
    h = harness

    async def scenario() -> None:
        await h.broker.connect()
        h.tws.reject_next(0, "", then_inactive=True)
        order = h.order()
        with pytest.raises(InvalidOrderError, match="Inactive"):
            await h.broker.place_order(order)
        assert order.status is OrderStatus.REJECTED

    h.run(scenario)
    h.assert_consistent()


def test_ioc_remainder_expiry_is_reported_after_the_fills_it_counts(harness: Harness) -> None:
    h = harness

    async def scenario() -> None:
        await h.broker.connect()
        order = h.order(quantity=100, time_in_force=TimeInForce.IOC)
        await h.broker.place_order(order)
        tws_order = h.tws.find(order.client_order_id)
        # TWS reports the order Cancelled (filled 30) before the execution of those 30.
        tws_order.filled, tws_order.average_price, tws_order.status = 30.0, 187.2, "Cancelled"
        wrapper = h.ib.wrapper
        wrapper.orderStatus(
            tws_order.order_id, "Cancelled", 30.0, 70.0, 187.2, tws_order.perm_id, 0, 187.2, 7, ""
        )
        assert h.sink.of("expired") == []  # held back: 30 filled, none reported yet
        tws_order.filled, tws_order.status = 0.0, "Submitted"
        h.tws.fill(order.client_order_id, 30, 187.2, deliver=False)
        contract, execution, report = h.tws.executions[-1]
        wrapper.execDetails(-1, contract, execution)
        wrapper.commissionReport(report)
        assert [e[0] for e in h.sink.events] == ["accepted", "fill", "expired"]
        assert order.status is OrderStatus.EXPIRED
        assert order.filled_quantity == 30.0

    h.run(scenario)
    h.assert_consistent()


def test_cancel_in_tws_window_is_reported_as_cancelled_at_ib(harness: Harness) -> None:
    h = harness

    async def scenario() -> None:
        await h.broker.connect()
        order = h.order()
        await h.broker.place_order(order)
        h.tws.cancel_at_tws(order.client_order_id)
        await h.tws.settle()
        assert h.sink.events[-1] == ("cancelled", order.client_order_id, "cancelled at IB")

    h.run(scenario)
    h.assert_consistent()


def test_no_ack_in_time_raises_request_timeout_then_query_finds_the_order(
    harness: Harness,
) -> None:
    h = harness

    async def scenario() -> None:
        await h.broker.connect()
        order = h.order()
        h.tws.hold_acks = True
        with pytest.raises(RequestTimeoutError, match="outcome unknown"):
            await h.broker.place_order(order)
        # The retry policy asks before resending: the order is known (sent, not acked).
        pending = await h.broker.get_order(order.client_order_id)
        assert pending.status is OrderStatus.NEW
        # A resend with the same client order id does not place a second order.
        again = await h.broker.place_order(order)
        assert again.status is OrderStatus.NEW
        assert len(h.tws.orders) == 1
        h.tws.release_acks()
        await h.tws.settle()
        assert (await h.broker.get_order(order.client_order_id)).status is OrderStatus.ACCEPTED
        assert h.sink.events == [("accepted", order.client_order_id)]

    h.run(scenario)
    h.assert_consistent()


def test_post_only_and_unmappable_orders_are_refused_before_sending(harness: Harness) -> None:
    h = harness

    async def scenario() -> None:
        await h.broker.connect()
        with pytest.raises(InvalidOrderError, match="POST_ONLY"):
            await h.broker.place_order(h.order(order_type=OrderType.POST_ONLY))
        with pytest.raises(InvalidOrderError, match="venue 'binance', not 'ib'"):
            await h.broker.place_order(h.order(symbol="BTC/USDT", quantity=0.01))
        with pytest.raises(InvalidOrderError, match="unknown symbol 'TSLA/USD'"):
            await h.broker.place_order(h.order(symbol="TSLA/USD"))
        assert h.tws.placed == []

    h.run(scenario)


def test_price_is_rounded_to_the_min_tick_ib_reports(harness: Harness) -> None:
    h = harness
    # IB says 0.0001 for EUR.USD where our instrument says 0.00005.
    h.tws.contract_details[1].minTick = 0.0001

    async def scenario() -> None:
        await h.broker.connect()
        await h.broker.place_order(h.order(symbol="EUR/USD", quantity=20_000, price=1.10015))
        await h.broker.place_order(
            h.order(symbol="EUR/USD", side=Side.SELL, quantity=20_000, price=1.10015)
        )
        assert [sent.lmtPrice for _, sent in h.tws.placed] == [1.1001, 1.1002]

    h.run(scenario)


def test_unknown_or_ambiguous_contract_raises_mapping_error_naming_what_to_set() -> None:
    h = Harness(ib_config(qualify_on_connect=False))
    h.tws.contract_details = [d for d in h.tws.contract_details if d.contract.symbol != "XAUUSD"]
    duplicate = h.tws.contract_details[0]
    h.tws.contract_details.append(
        ContractDetails(
            contract=Contract.create(
                secType="STK",
                conId=38708077,
                symbol="AAPL",
                exchange="SMART",
                primaryExchange="MEXI",
                currency="USD",
                localSymbol="AAPL",
            ),
            minTick=duplicate.minTick,
        )
    )

    async def scenario() -> None:
        await h.broker.connect()
        with pytest.raises(ContractMappingError, match="IB knows no contract for XAU/USD"):
            await h.broker.place_order(h.order(symbol="XAU/USD", quantity=1, price=2400.0))
        with pytest.raises(ContractMappingError) as info:
            await h.broker.place_order(h.order())
        assert "matches 2 IB contracts" in str(info.value)
        assert "primary_exchange" in str(info.value)
        assert h.tws.placed == []

    h.run(scenario)


def test_read_only_connection_refuses_orders_and_cancels() -> None:
    h = Harness(ib_config(read_only=True))

    async def scenario() -> None:
        await h.broker.connect()
        with pytest.raises(IbReadOnlyError, match="read-only"):
            await h.broker.place_order(h.order())
        with pytest.raises(IbReadOnlyError):
            await h.broker.cancel_all()
        assert h.tws.placed == []

    h.run(scenario)


def test_tws_cut_off_from_ib_fails_fast_until_restored(harness: Harness) -> None:
    h = harness

    async def scenario() -> None:
        await h.broker.connect()
        h.tws.send_error(-1, 1100, "Connectivity between IB and Trader Workstation has been lost.")
        await h.tws.settle()
        with pytest.raises(ExchangeUnavailableError) as info:
            await h.broker.place_order(h.order())
        assert info.value.retry_safe
        assert h.tws.placed == []
        requests = h.tws.execution_requests
        h.tws.send_error(-1, 1102, "Connectivity between IB and TWS has been restored")
        await h.tws.settle()
        assert h.tws.execution_requests == requests + 1  # executions fetched again
        ack = await h.broker.place_order(h.order())
        assert ack.status is OrderStatus.ACCEPTED

    h.run(scenario)


def test_calls_before_connect_raise_network_error_and_send_nothing(harness: Harness) -> None:
    h = harness

    async def scenario() -> None:
        with pytest.raises(NetworkError, match="not connected"):
            await h.broker.place_order(h.order())
        with pytest.raises(NetworkError):
            await h.broker.get_order("ats-1")
        with pytest.raises(NetworkError):
            await h.broker.get_positions()
        assert h.tws.placed == []

    h.run(scenario)
