"""What reconciliation needs from IB: fill history, fill keys on the stream, a reconnect hook."""

from __future__ import annotations

from engine.broker import has_fill_history
from engine.orders import Side
from tests.adapters.ib.conftest import Harness


def test_fills_when_reported_then_carry_exec_id_fee_currency_and_cumulative_quantity(
    harness: Harness,
) -> None:
    h = harness

    async def scenario() -> None:
        await h.broker.connect()
        order = h.order(quantity=100)
        await h.broker.place_order(order)
        h.tws.fill(order.client_order_id, 40, 187.20)
        h.tws.fill(order.client_order_id, 60, 187.25)
        await h.tws.settle()

    h.run(scenario)
    exec_ids = [execution.execId for _, execution, _ in h.tws.executions]
    keys = h.sink.fill_keys
    assert [k[0] for k in keys] == exec_ids and len(set(exec_ids)) == 2
    assert [k[2] for k in keys] == [40.0, 100.0]  # the order's cumulative quantity
    assert all(k[1] for k in keys)  # the commission report's currency
    h.assert_consistent()


def test_get_recent_fills_when_executions_then_venue_fills_oldest_first(harness: Harness) -> None:
    h = harness
    out: dict[str, object] = {}

    async def scenario() -> None:
        await h.broker.connect()
        assert has_fill_history(h.broker)
        buy = h.order(quantity=100)
        sell = h.order(symbol="AAPL/USD", side=Side.SELL, quantity=30, price=190.0)
        await h.broker.place_order(buy)
        await h.broker.place_order(sell)
        h.tws.fill(buy.client_order_id, 100, 187.25)
        h.tws.fill(sell.client_order_id, 30, 190.0)
        await h.tws.settle()
        out["all"] = await h.broker.get_recent_fills(0)
        out["none"] = await h.broker.get_recent_fills(2**62)
        out["other"] = await h.broker.get_recent_fills(0, "ES/USD:USD-241220")
        out["ids"] = (buy.client_order_id, sell.client_order_id)

    h.run(scenario)
    fills = out["all"]
    assert isinstance(fills, list) and len(fills) == 2
    buy_id, sell_id = out["ids"]  # type: ignore[misc]
    assert [(f.client_order_id, f.side, f.quantity, f.price) for f in fills] == [
        (buy_id, Side.BUY, 100.0, 187.25),
        (sell_id, Side.SELL, 30.0, 190.0),
    ]
    assert [f.trade_id for f in fills] == [execution.execId for _, execution, _ in h.tws.executions]
    assert all(f.symbol == "AAPL/USD" and f.venue_order_id and f.fee_currency for f in fills)
    assert [f.ts for f in fills] == sorted(f.ts for f in fills)
    assert out["none"] == [] and out["other"] == []


def test_on_reconnected_when_connection_comes_back_then_called_once_per_reconnect() -> None:
    calls: list[int] = []
    h = Harness(on_reconnected=lambda: calls.append(1))

    async def scenario() -> None:
        await h.broker.connect()
        assert calls == []  # the first connect is not a reconnect
        for expected in (1, 2):
            h.tws.drop()
            await h.broker.wait_connected(timeout_s=2.0)
            await h.tws.settle()
            assert len(calls) == expected == h.broker.reconnects

    h.run(scenario)
