"""The emulator's venue-neutral matching engine on a hand-made book.

Oracles: the book itself walked level by level here, conservation of every
asset (what the account holds equals what it started with plus its fills minus
its commissions, and what is locked equals what its open orders need), and for
a linear account the cash-flow identity: once flat again, the realized P&L is
what the sells brought in minus what the buys cost.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.emulator.book import DepthBook, DepthSnapshot
from adapters.emulator.matching import (
    ExecutionEvent,
    MarketKind,
    MarketSpec,
    MatchingEngine,
    OrderRejectedError,
    OrderRequest,
    RejectReason,
)

BIDS = [("99.00", "1.000"), ("98.50", "2.000"), ("98.00", "5.000")]
ASKS = [("100.00", "0.500"), ("100.50", "1.500"), ("101.00", "4.000")]
D = Decimal


def book() -> DepthBook:
    return DepthBook.from_snapshot(DepthSnapshot(last_update_id=1, bids=BIDS, asks=ASKS))


def spec(kind: MarketKind = MarketKind.SPOT) -> MarketSpec:
    return MarketSpec(
        symbol="XYZUSDT",
        base="XYZ",
        quote="USDT",
        kind=kind,
        tick_size=D("0.01"),
        step_size=D("0.001"),
        min_qty=D("0.001"),
        min_notional=D("1"),
        price_decimals=2,
        quantity_decimals=3,
    )


def engine(kind: MarketKind = MarketKind.SPOT, **kwargs: object) -> MatchingEngine:
    the_book = book()
    balances = (
        {"USDT": D(100_000), "XYZ": D(100)} if kind is MarketKind.SPOT else {"USDT": D(100_000)}
    )
    return MatchingEngine(
        {"XYZUSDT": spec(kind)},
        kind=kind,
        balances=balances,
        book_of=lambda symbol: the_book,
        clock_ms=lambda: 1,
        **kwargs,  # type: ignore[arg-type]
    )


def req(side: str, qty: str, price: str = "0", **kwargs: object) -> OrderRequest:
    kind = "MARKET" if price == "0" else "LIMIT"
    return OrderRequest(
        symbol="XYZUSDT",
        side=side,
        order_type=kind,
        quantity=D(qty),
        price=D(price),
        **kwargs,  # type: ignore[arg-type]
    )


def test_market_buy_when_larger_than_the_best_level_then_walks_levels_at_their_prices() -> None:
    e = engine()
    order = e.place(req("BUY", "1.200"))
    assert [(f.price, f.quantity, f.maker) for f in order.fills] == [
        (D("100.00"), D("0.500"), False),
        (D("100.50"), D("0.700"), False),
    ]
    assert order.status == "FILLED" and order.cum_quote == D("120.35")
    # the taken liquidity is gone for the next order until the book changes
    second = e.place(req("BUY", "1.000"))
    assert [(f.price, f.quantity) for f in second.fills] == [
        (D("100.50"), D("0.800")),
        (D("101.00"), D("0.200")),
    ]


def test_time_in_force_when_book_is_short_then_ioc_partial_fok_expires_or_rejects() -> None:
    ioc = engine().place(req("BUY", "1.000", "100.00", time_in_force="IOC"))
    assert (ioc.status, ioc.executed) == ("EXPIRED", D("0.500"))
    fok = engine().place(req("BUY", "1.000", "100.00", time_in_force="FOK"))
    assert (fok.status, fok.executed, fok.fills) == ("EXPIRED", D(0), [])
    with pytest.raises(OrderRejectedError) as refused:
        engine(fok_rejects=True).place(req("BUY", "1.000", "100.00", time_in_force="FOK"))
    assert refused.value.reason is RejectReason.FOK_NOT_FILLED


def test_post_only_when_crossing_then_refused_else_rests_without_taking() -> None:
    e = engine()
    with pytest.raises(OrderRejectedError) as refused:
        e.place(req("BUY", "0.100", "100.00", post_only=True))
    assert refused.value.reason is RejectReason.WOULD_TAKE and e.orders == []
    resting = e.place(req("BUY", "0.100", "99.99", post_only=True))
    assert (resting.status, resting.working, resting.fills) == ("NEW", True, [])


def test_resting_orders_when_trades_and_book_cross_them_then_maker_fills_at_their_price() -> None:
    e = engine()
    events: list[ExecutionEvent] = []
    e._on_event = lambda ev: events.append(ev) if isinstance(ev, ExecutionEvent) else None
    buy = e.place(req("BUY", "2.000", "99.50"))
    e.on_trade("XYZUSDT", D("99.60"), D("5"))  # above the bid: no fill
    e.on_trade("XYZUSDT", D("99.50"), D("0.300"))  # at it: up to the trade's size
    assert [(f.price, f.quantity, f.maker) for f in buy.fills] == [(D("99.50"), D("0.300"), True)]
    the_book = e._book_of("XYZUSDT")
    assert the_book is not None
    the_book.asks[99.4] = ("99.40", "1.000")  # the ask side moves through the bid
    the_book.last_update_id = 2
    e.on_book("XYZUSDT")
    assert buy.executed == D("1.300") and buy.fills[-1].price == D("99.50")
    assert [ev.execution_type for ev in events] == ["NEW", "TRADE", "TRADE"]
    assert [ev.order.executed for ev in events] == [D(0), D("0.300"), D("1.300")]


def test_duplicate_client_order_id_when_previous_not_filled_then_refused() -> None:
    e = engine()
    e.place(req("BUY", "0.100", "90.00", client_order_id="x"))
    with pytest.raises(OrderRejectedError) as refused:
        e.place(req("BUY", "0.100", "90.00", client_order_id="x"))
    assert refused.value.reason is RejectReason.DUPLICATE_CLIENT_ORDER_ID
    e.place(req("BUY", "0.100", client_order_id="y"))  # filled at once
    again = e.place(req("BUY", "0.100", client_order_id="y"))  # allowed after a fill
    assert again.status == "FILLED" and len(e.orders) == 3


_orders = st.lists(
    st.tuples(
        st.sampled_from(["BUY", "SELL"]),
        st.integers(1, 3000),  # quantity in steps of 0.001
        st.one_of(st.just(0), st.integers(9700, 10300)),  # 0: market, else price in cents
        st.sampled_from(["GTC", "IOC", "FOK"]),
        st.booleans(),  # cancel it afterwards if it rests
    ),
    max_size=25,
)


@given(_orders)
def test_spot_account_when_random_orders_then_every_asset_conserved_and_locks_match(
    orders: list[tuple[str, int, int, str, bool]],
) -> None:
    e = engine()
    for side, steps, cents, tif, cancel in orders:
        price = "0" if cents == 0 else str(D(cents) / 100)
        try:
            order = e.place(req(side, str(D(steps) / 1000), price, time_in_force=tif))
        except OrderRejectedError:
            continue
        if cancel and order.is_open:
            e.cancel("XYZUSDT", order_id=order.order_id)
    usdt, xyz = D(100_000), D(100)
    for f in e.fills:
        sign = 1 if f.side == "BUY" else -1
        usdt -= sign * f.quote_quantity
        xyz += sign * f.quantity
        if f.commission_asset == "USDT":
            usdt -= f.commission
        else:
            xyz -= f.commission
    assert sum(e.balance("USDT")) == usdt and sum(e.balance("XYZ")) == xyz
    open_orders = e.open_orders()
    assert e.balance("USDT")[1] == sum(o.price * o.leaves for o in open_orders if o.side == "BUY")
    assert e.balance("XYZ")[1] == sum(o.leaves for o in open_orders if o.side == "SELL")
    assert min(e.balance("USDT") + e.balance("XYZ")) >= 0


@given(_orders)
def test_linear_account_when_random_trades_then_flat_again_realized_equals_cash_flow(
    orders: list[tuple[str, int, int, str, bool]],
) -> None:
    e = engine(MarketKind.LINEAR, maker_fee=D(0), taker_fee=D("0.0005"))
    for side, steps, cents, tif, _cancel in orders:
        price = "0" if cents == 0 else str(D(cents) / 100)
        try:
            e.place(req(side, str(D(steps) / 1000), price, time_in_force="IOC" if cents else tif))
        except OrderRejectedError:
            continue
    position = e.positions.get("XYZUSDT")
    held = position.quantity if position is not None else D(0)
    signed = sum((f.quantity if f.side == "BUY" else -f.quantity for f in e.fills), D(0))
    assert held == signed
    the_book = e._book_of("XYZUSDT")
    assert the_book is not None
    while held:  # close at the book, with fresh liquidity each time, whatever is left
        the_book.last_update_id += 1
        e.place(req("SELL" if held > 0 else "BUY", str(abs(held)), reduce_only=True))
        held = e.positions["XYZUSDT"].quantity
    position = e.positions.get("XYZUSDT")
    assert position is None or position.quantity == 0
    flow = sum((f.quote_quantity * (1 if f.side == "SELL" else -1) for f in e.fills), D(0))
    realized = sum((f.realized_pnl for f in e.fills), D(0))
    fees = sum((f.commission for f in e.fills), D(0))
    assert realized == flow
    assert e.balance("USDT")[0] == D(100_000) + realized - fees
