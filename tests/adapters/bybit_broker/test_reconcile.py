"""Reconciliation (:mod:`engine.reconcile`) over BybitBroker and the emulator.

Oracles: the emulator's own orders and fills (its engine and its
``/v5/execution/list`` rows). A restart finds the previous session's open order
and adopts it; a fill the engine missed (no stream) is booked once, under the
venue's ``execId``, and a second reconciliation books nothing.
"""

from __future__ import annotations

import uvloop

from adapters.bybit.broker import BybitBroker
from adapters.bybit.config import BrokerConfig
from adapters.emulator import EmulatorRecording
from adapters.emulator.bybit_trading import InstrumentsInfo
from engine.clock import SimulatedClock
from engine.config import Config, EngineConfig
from engine.engine import TradingEngine
from engine.events import EventType, OrderFilled
from engine.instruments import Instrument, InstrumentRegistry
from engine.orders import OrderStatus, OrderType, Side
from engine.reconcile import ADOPTED_STRATEGY, Reconciler
from engine.strategies import EmaMomentumStrategy
from tests.adapters.bybit_broker._support import ENV, SPOT_SYMBOL, order, venue

T0 = 1_723_000_000_000_000_000


def _engine() -> TradingEngine:
    config = Config(
        engine=EngineConfig(symbols=(SPOT_SYMBOL,), quote_currency="USDT", initial_cash=1e6)
    )
    registry = InstrumentRegistry(
        [
            Instrument(
                symbol=SPOT_SYMBOL,
                venue="bybit",
                venue_symbol="BTCUSDT",
                base="BTC",
                quote="USDT",
                tick_size=0.1,
                lot_size=0.000001,
            )
        ]
    )
    return TradingEngine(
        config, registry, SimulatedClock(T0), EmaMomentumStrategy(config.strategy, config.risk)
    )


def test_restart_when_an_order_rests_and_one_filled_unseen_then_adopted_and_booked_once(
    spot_recording: EmulatorRecording, instruments: InstrumentsInfo
) -> None:
    engine = _engine()

    async def scenario() -> tuple[object, object, list[dict[str, object]]]:
        async with venue(spot_recording, instruments) as (emu, first):
            await first.place_order(order("prev-1", Side.BUY, OrderType.LIMIT, 0.01, 60000.0))
            config = BrokerConfig(rest_url=emu.rest_url, symbols=(SPOT_SYMBOL,), rate_limit=False)
            async with BybitBroker(config, env=ENV) as restarted:
                ours = engine.execution.build_order(
                    instrument=engine.instruments.get(SPOT_SYMBOL),
                    side=Side.BUY,
                    order_type=OrderType.MARKET,
                    quantity=0.02,
                    price=62000.0,  # the reference price of a market order
                    ts=engine.clock.now_ns(),
                    strategy="test",
                )
                engine.execution.track(ours)
                ack = await restarted.place_order(ours)  # fills at once; no stream listens
                engine.on_order_accepted(ack.client_order_id, engine.clock.now_ns())
                reconciler = Reconciler(engine, restarted, venue="bybit")
                first_run = await reconciler.reconcile()
                second_run = await reconciler.reconcile()
                rows = await restarted.fetch_executions(SPOT_SYMBOL)
        return first_run, second_run, rows

    first_run, second_run, rows = uvloop.run(scenario())
    adopted = engine.execution.orders["prev-1"]
    assert first_run.adopted == ("prev-1",)  # type: ignore[attr-defined]
    assert (adopted.status, adopted.strategy, adopted.price) == (
        OrderStatus.ACCEPTED,
        ADOPTED_STRATEGY,
        60000.0,
    )
    fills: list[OrderFilled] = engine.bus.get_event_history(EventType.ORDER_FILLED)
    assert sorted(f.trade_id for f in fills) == sorted(str(r["execId"]) for r in rows)
    assert sum(f.quantity for f in fills) == 0.02
    assert second_run.adopted == () and len(  # type: ignore[attr-defined]
        engine.bus.get_event_history(EventType.ORDER_FILLED)
    ) == len(fills)
