"""Instruments, the simulated TWS and a report sink made of real engine orders."""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from ib_insync import Contract, ContractDetails

from adapters.ib import IbAccount, IbBroker, IbConfig, IbContractConfig, IbFill
from engine.clock import SimulatedClock
from engine.instruments import AssetClass, Instrument, InstrumentKind, InstrumentRegistry
from engine.orders import Order, OrderStatus, OrderType, Side
from tests.adapters.ib.fake_ib import FakeTws

ACCOUNT = "DU7654321"
ES = "ES/USD:USD-241220"


def ib_instruments() -> InstrumentRegistry:
    """A stock, a forex pair, a dated future and a spot metal, all on venue ``ib``."""
    return InstrumentRegistry(
        [
            Instrument(
                symbol="AAPL/USD",
                venue="ib",
                venue_symbol="AAPL",
                base="AAPL",
                quote="USD",
                asset_class=AssetClass.STOCK,
                kind=InstrumentKind.STOCK,
                sector="technology",
                tick_size=0.01,
                lot_size=1.0,
            ),
            Instrument(
                symbol="EUR/USD",
                venue="ib",
                venue_symbol="EUR.USD",
                base="EUR",
                quote="USD",
                asset_class=AssetClass.FOREX,
                kind=InstrumentKind.FOREX,
                sector="fx-majors",
                tick_size=0.00005,
                lot_size=1.0,
            ),
            Instrument(
                symbol=ES,
                venue="ib",
                venue_symbol="ESZ4",
                base="ES",
                quote="USD",
                asset_class=AssetClass.FUTURE,
                kind=InstrumentKind.FUTURE,
                sector="equity-index",
                tick_size=0.25,
                lot_size=1.0,
                contract_multiplier=50.0,
            ),
            Instrument(
                symbol="XAU/USD",
                venue="ib",
                venue_symbol="XAUUSD",
                base="XAU",
                quote="USD",
                asset_class=AssetClass.COMMODITY,
                kind=InstrumentKind.COMMODITY,
                sector="metals",
                tick_size=0.01,
                lot_size=1.0,
            ),
            Instrument(
                symbol="BTC/USDT",
                venue="binance",
                venue_symbol="BTCUSDT",
                base="BTC",
                quote="USDT",
                tick_size=0.01,
                lot_size=0.00001,
            ),
        ]
    )


def contract_details() -> list[ContractDetails]:
    """What TWS answers to ``reqContractDetails`` for the instruments above (real conIds)."""

    def details(min_tick: float, size: float = 1.0, **contract: Any) -> ContractDetails:
        return ContractDetails(
            contract=Contract.create(**contract), minTick=min_tick, sizeIncrement=size
        )

    return [
        details(
            0.01,
            secType="STK",
            conId=265598,
            symbol="AAPL",
            exchange="SMART",
            primaryExchange="NASDAQ",
            currency="USD",
            localSymbol="AAPL",
            tradingClass="NMS",
        ),
        details(
            0.00005,
            secType="CASH",
            conId=12087792,
            symbol="EUR",
            exchange="IDEALPRO",
            currency="USD",
            localSymbol="EUR.USD",
            tradingClass="EUR.USD",
        ),
        details(
            0.25,
            secType="FUT",
            conId=495512563,
            symbol="ES",
            lastTradeDateOrContractMonth="20241220",
            multiplier="50",
            exchange="CME",
            currency="USD",
            localSymbol="ESZ4",
            tradingClass="ES",
        ),
        details(
            0.01,
            secType="CMDTY",
            conId=69067924,
            symbol="XAUUSD",
            exchange="SMART",
            currency="USD",
            localSymbol="XAUUSD",
        ),
    ]


def ib_config(**changes: Any) -> IbConfig:
    base: dict[str, Any] = {
        "port": 4002,
        "client_id": 7,
        "request_timeout_s": 0.2,
        "connect_timeout_s": 0.5,
        "reconnect_base_s": 0.5,
        "reconnect_cap_s": 4.0,
        "contracts": {ES: IbContractConfig(exchange="CME")},
    }
    base.update(changes)
    return IbConfig(**base)


class EngineOrdersSink:
    """An ``ExecutionReportSink`` that applies every report to a real engine ``Order``.

    The orders' own lifecycle rules are the oracle: a report the engine could
    not accept (a fill after a cancel, an accept after a fill...) raises, is
    kept in ``errors`` and fails the test.
    """

    def __init__(self) -> None:
        self.orders: dict[str, Order] = {}
        self.events: list[tuple[Any, ...]] = []
        self.errors: list[BaseException] = []
        #: ``(trade_id, fee_currency, cumulative_quantity)`` of every fill reported.
        self.fill_keys: list[tuple[str, str, float | None]] = []

    def track(self, order: Order) -> Order:
        self.orders[order.client_order_id] = order
        return order

    def _apply(self, event: tuple[Any, ...], action: Callable[[Order], None]) -> None:
        self.events.append(event)
        order = self.orders.get(event[1])
        if order is None:
            return
        try:
            action(order)
        except Exception as exc:
            self.errors.append(exc)
            raise

    def on_order_accepted(self, client_order_id: str, ts: int) -> None:
        self._apply(("accepted", client_order_id), lambda o: o.transition(OrderStatus.ACCEPTED, ts))

    def on_order_rejected(self, client_order_id: str, reason: str, ts: int) -> None:
        self._apply(
            ("rejected", client_order_id, reason),
            lambda o: o.transition(OrderStatus.REJECTED, ts),
        )

    def on_order_cancelled(self, client_order_id: str, reason: str, ts: int) -> None:
        self._apply(
            ("cancelled", client_order_id, reason),
            lambda o: o.transition(OrderStatus.CANCELLED, ts),
        )

    def on_order_expired(self, client_order_id: str, reason: str, ts: int) -> None:
        self._apply(
            ("expired", client_order_id, reason), lambda o: o.transition(OrderStatus.EXPIRED, ts)
        )

    def on_fill(
        self,
        client_order_id: str,
        quantity: float,
        price: float,
        fee: float,
        liquidity: str,
        ts: int,
        *,
        trade_id: str = "",
        fee_currency: str = "",
        cumulative_quantity: float | None = None,
    ) -> None:
        self.fill_keys.append((trade_id, fee_currency, cumulative_quantity))
        self._apply(
            ("fill", client_order_id, quantity, price, fee, liquidity),
            lambda o: o.record_fill(quantity, price, ts),
        )

    def of(self, kind: str) -> list[tuple[Any, ...]]:
        return [e for e in self.events if e[0] == kind]


class Harness:
    """One simulated TWS, one real ``IB`` talking to it, the broker under test and its sink."""

    def __init__(
        self, config: IbConfig | None = None, account: str = ACCOUNT, **broker: Any
    ) -> None:
        self.tws = FakeTws(accounts=(account,))
        self.tws.contract_details = contract_details()
        self.ib = self.tws.make_ib()
        self.sink = EngineOrdersSink()
        self.fills: list[IbFill] = []
        self.sleeps: list[float] = []
        self.clock = SimulatedClock(1_700_000_000_000_000_000)
        self.ids = 0
        self.broker = IbBroker(
            config if config is not None else ib_config(),
            ib_instruments(),
            account=IbAccount(account),
            ib=self.ib,
            reports=self.sink,
            fill_listener=self.fills.append,
            clock=self.clock,
            sleep=self._sleep,
            rng=random.Random(7),
            **broker,
        )

    async def _sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        await asyncio.sleep(0)

    def order(
        self,
        symbol: str = "AAPL/USD",
        side: Side = Side.BUY,
        order_type: OrderType = OrderType.LIMIT,
        quantity: float = 100.0,
        price: float = 187.25,
        **extra: Any,
    ) -> Order:
        """A new engine order, tracked by the sink."""
        self.ids += 1
        if order_type in (OrderType.MARKET, OrderType.STOP_MARKET):
            price = math.nan
        order = Order(
            client_order_id=f"ats-{self.ids}",
            symbol=symbol,
            venue="ib",
            side=side,
            order_type=order_type,
            quantity=quantity,
            price=price,
            ts_created=self.clock.now_ns(),
            time_in_force=extra.pop("time_in_force", None),
            **extra,
        )
        return self.sink.track(order)

    def run(self, scenario: Callable[[], Awaitable[None]]) -> None:
        """Run ``scenario`` on a fresh event loop, then close the broker."""

        async def main() -> None:
            try:
                await scenario()
            finally:
                await self.broker.close()

        asyncio.run(main())

    def assert_consistent(self) -> None:
        """No report was refused by the engine orders or failed in the broker."""
        assert self.sink.errors == []
        assert self.broker.tracker.report_failures == 0


@pytest.fixture
def harness() -> Harness:
    return Harness()


__all__ = [
    "ACCOUNT",
    "ES",
    "EngineOrdersSink",
    "Harness",
    "contract_details",
    "ib_config",
    "ib_instruments",
]
