"""Invariants of the tick backtester over random books, diffs, trades and order flows.

Hypothesis draws a snapshot, a few dozen depth diffs and trades (each received after its own
feed latency), latencies, fees, a queue model and a list of strategy actions (submits of any
side/price/qty/time in force, market orders, cancels, elapses with any wake flags). After every
step and at the end the run is checked against oracles computed here, independently of the
kernel:

* both books equal a replay of the rows each side has processed, by the book rule of
  ``kernels/tickbt.py`` (a level at or through the opposite best deletes what it crosses, a
  clear row deletes from its price outwards), so they are never crossed;
* every fill moves cash by ``-side * price * qty - fee`` with ``fee = rate * price * qty``, and
  the final cash and position are the sums over the fills; realized P&L is the average-cost
  one, equity marks the position at the exchange mid;
* post-only orders only ever fill as maker; limit buys never fill above their price, sells
  never below; nothing fills before the order reached the exchange;
* risk-averse queue: a resting order's queue fills never exceed what traded at its price after
  it joined beyond the level it queued behind, or beyond any smaller size that level later
  shrank to (the model moves the queue up on a shrinking level; see
  :func:`queue_fill_bound`);
* the strategy's position is the sum of the fills it has been told about, and equals the
  exchange's once every response is delivered;
* the probabilistic queue models fill an order no later than the risk-averse one.

Quantities and prices are binary fractions (tick 0.5, lot 0.25), so the book replay and the
positions compare exactly. The number of examples comes from the profile in ``conftest.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.paper.tickbt import (
    RUN_END,
    RUN_TIMEOUT,
    WAKE_BBO,
    WAKE_FILL,
    WAKE_TRADE,
    BacktestConfig,
    BacktestError,
    TickBacktester,
)
from adapters.paper.tickdata import TickData, convert_frames
from kernels import tickbt as k
from tests.test_tickdata import MS, FrameBuilder

TICK = 0.5
LOT = 0.25
LO_TICK, HI_TICK = 194, 206  # prices 97.0 .. 103.0
TAKER = 0.0005
EPS = 1e-9

feeds = st.sampled_from([0, 300_000, 2 * MS])
wakes = st.sampled_from([0, WAKE_FILL, WAKE_BBO, WAKE_TRADE, WAKE_FILL | WAKE_BBO | WAKE_TRADE])
tifs = st.sampled_from(["gtc", "gtc", "gtx", "gtx", "ioc", "fok", "market"])


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[list[tuple[int, bytes]], list[Any]]:
    """Frames (a snapshot at 0 ms, then diffs and trades at 1..100 ms) and strategy actions.

    Trades, level updates and orders lean towards the snapshot's best bid and ask, so that
    orders often join a queue and the queue often trades; the rest are anywhere in the range.
    Actions are ``(local time in µs, wake flags on the way there, what to do)``.
    """
    split = draw(st.integers(LO_TICK + 3, HI_TICK - 3))
    bids = draw(st.lists(st.integers(LO_TICK, split - 1), unique=True, min_size=1, max_size=5))
    asks = draw(st.lists(st.integers(split, HI_TICK), unique=True, min_size=1, max_size=5))
    touch = {k.BUY: max(bids), k.SELL: min(asks)}
    lots = st.integers(1, 20)
    fb = FrameBuilder()
    fb.snapshot(
        0,
        [(t * TICK, draw(lots) * LOT) for t in sorted(bids, reverse=True)],
        [(t * TICK, draw(lots) * LOT) for t in sorted(asks)],
    )
    anywhere = st.integers(LO_TICK, HI_TICK)
    sides = st.sampled_from([k.BUY, k.SELL])

    def near(side: int) -> st.SearchStrategy[int]:
        return st.one_of(st.just(touch[side]), st.just(touch[side]), anywhere)

    events = []
    for _ in range(draw(st.integers(3, 30))):
        at = draw(st.integers(1, 100))
        side = draw(sides)
        if draw(st.integers(0, 2)) == 0:  # a depth diff of one to three levels
            n_levels = draw(st.integers(1, 3))
            levels = [
                (draw(sides), draw(near(side)), draw(st.integers(0, 20))) for _ in range(n_levels)
            ]
            events.append((at, "depth", levels, draw(feeds)))
        else:  # a trade, on the side it hits: the taker sold into the bids or bought the asks
            tick = draw(near(side))
            qty = draw(st.integers(1, 12))
            events.append((at, "trade", tick, qty, side == k.BUY, draw(feeds)))
    for ev in sorted(events, key=lambda e: e[0]):
        if ev[1] == "depth":
            at, _, levels, feed = ev
            b = [(t * TICK, q * LOT) for sd, t, q in levels if sd == k.BUY]
            a = [(t * TICK, q * LOT) for sd, t, q in levels if sd == k.SELL]
            fb.depth(at, bids=b, asks=a, feed_ns=feed)
        else:
            at, _, tick, q, buyer_is_maker, feed = ev
            fb.trade(at, tick * TICK, q * LOT, buyer_is_maker, feed_ns=feed)

    plan: list[Any] = []
    for _ in range(draw(st.integers(1, 16))):
        at_us = draw(st.integers(0, 110_000))
        if draw(st.integers(0, 3)) == 0:
            what: tuple[Any, ...] = ("cancel", draw(st.integers(0, 20)))
        else:
            side = draw(sides)
            what = ("submit", side, draw(near(side)), draw(st.integers(1, 8)), draw(tifs))
        plan.append((at_us, draw(wakes), what))
    return fb.frames, plan


configs = st.fixed_dictionaries(
    {
        "entry_latency_ns": st.sampled_from([0, 500_000, 3 * MS]),
        "response_latency_ns": st.sampled_from([0, 1 * MS, 2 * MS]),
        "queue_model": st.sampled_from(["risk_averse", "risk_averse", "power", "log"]),
        "queue_power": st.sampled_from([0.5, 2.0, 3.0]),
        "maker_fee": st.sampled_from([0.0002, -0.0001, 0.0]),
        "initial_cash": st.sampled_from([0.0, 10_000.0]),
        "partial_fills": st.booleans(),
    }
)


@dataclass
class Sent:
    order_id: int
    side: int
    tick: int  # absolute price in ticks
    tif: str
    submit_ts: int


@dataclass
class Run:
    data: TickData
    bt: TickBacktester
    sent: list[Sent] = field(default_factory=list)


# -- independent oracles -----------------------------------------------------------------------


def replay_book(data: TickData, order: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
    """The book after the first ``count`` rows of ``order``, by the documented book rule."""
    n = data.n_ticks
    bid = np.zeros(n)
    ask = np.zeros(n)
    for r in order[:count]:
        kind, i, q = int(data.kind[r]), int(data.idx[r]), float(data.qty[r])
        if kind == k.EV_BID:
            bid[i] = q
            if q > 0:
                ask[: i + 1] = 0.0  # a bid at or above asks deletes them
        elif kind == k.EV_ASK:
            ask[i] = q
            if q > 0:
                bid[i:] = 0.0
        elif kind == k.EV_BID_CLEAR:
            bid[max(i, 0) :] = 0.0
        elif kind == k.EV_ASK_CLEAR:
            ask[: max(i + 1, 0)] = 0.0
    return bid, ask


def _best(bid: np.ndarray, ask: np.ndarray) -> tuple[int, int]:
    nz_b = np.flatnonzero(bid > 0)
    nz_a = np.flatnonzero(ask > 0)
    return (int(nz_b[-1]) if nz_b.size else -1, int(nz_a[0]) if nz_a.size else bid.shape[0])


def check_books(run: Run) -> None:
    s = run.bt.state
    si = s.si
    for book_bid, book_ask, order, cur, bb, ba in (
        (s.xbid, s.xask, run.data.x_order, k.SI_XCUR, k.SI_XBB, k.SI_XBA),
        (s.lbid, s.lask, run.data.l_order, k.SI_LCUR, k.SI_LBB, k.SI_LBA),
    ):
        bid, ask = replay_book(run.data, order, int(si[cur]))
        np.testing.assert_array_equal(book_bid, bid)
        np.testing.assert_array_equal(book_ask, ask)
        assert (int(si[bb]), int(si[ba])) == _best(bid, ask)
        assert si[bb] < si[ba], "crossed book"


def queue_fill_bound(run: Run, o: Sent, arrival: int, until: int) -> float:
    """Most a risk-averse queue can have filled ``o`` by ``until`` (exchange ns).

    The queue ahead starts at the level it joined behind (``L0``, the replayed level when it
    arrived), every trade at its price on its side takes from it, and every later update of
    its level caps it at the new size ``Lk``. Both steps distribute over ``min``, so the
    quantity ahead at ``until`` is ``min_k(Lk - traded after row k)`` and what can have passed
    us is ``max(0, max_k(traded after row k - Lk))``.
    """
    data = run.data
    xo = data.x_order
    level_kind = k.EV_BID if o.side == k.BUY else k.EV_ASK
    hit_by = k.EV_SELL_TRADE if o.side == k.BUY else k.EV_BUY_TRADE
    i = o.tick - data.tick_base
    n_before = int(np.searchsorted(data.exch_ts[xo], arrival, side="right"))
    bid, ask = replay_book(data, xo, n_before)
    caps = [(n_before - 1, float(bid[i] if o.side == k.BUY else ask[i]))]
    traded_after: list[tuple[int, float]] = []
    for pos in range(n_before, xo.shape[0]):
        r = xo[pos]
        if int(data.exch_ts[r]) > until:
            break
        if int(data.idx[r]) != i:
            continue
        if data.kind[r] == level_kind:
            caps.append((pos, float(data.qty[r])))
        elif data.kind[r] == hit_by:
            traded_after.append((pos, float(data.qty[r])))
    return max(0.0, *(sum(q for p, q in traded_after if p > at) - cap for at, cap in caps))


def fills_in_full_at(run: Run, o: Sent, ts: int) -> bool:
    """A trade through ``o``'s price or an opposite level at/through it at exchange time ``ts``."""
    d = run.data
    at = d.exch_ts == ts
    price = d.idx + d.tick_base
    if o.side == k.BUY:
        through = at & (d.kind == k.EV_SELL_TRADE) & (price < o.tick)
        crossed = at & (d.kind == k.EV_ASK) & (d.qty > 0) & (price <= o.tick)
    else:
        through = at & (d.kind == k.EV_BUY_TRADE) & (price > o.tick)
        crossed = at & (d.kind == k.EV_BID) & (d.qty > 0) & (price >= o.tick)
    return bool(np.any(through | crossed))


def average_cost_realized(f: dict[str, np.ndarray]) -> float:
    """Realized P&L of the fills (before fees): closing trades against the average entry."""
    pos = avg = realized = 0.0
    for side, px, q in zip(f["side"].tolist(), f["price"].tolist(), f["qty"].tolist(), strict=True):
        if pos == 0.0 or (pos > 0) == (side > 0):
            avg = (avg * abs(pos) + px * q) / (abs(pos) + q)
            pos += side * q
            continue
        closed = min(q, abs(pos))
        realized += (px - avg) * closed * (1.0 if pos > 0 else -1.0)
        pos += side * q
        if abs(pos) < EPS:
            pos = avg = 0.0
        elif closed < q:  # flipped: the rest opens a position at this price
            avg = px
    return realized


# -- running a scenario -----------------------------------------------------------------------


def run_scenario(frames: list[tuple[int, bytes]], plan: list[Any], config: dict[str, Any]) -> Run:
    data = convert_frames(frames, TICK, LOT)
    cfg = BacktestConfig(taker_fee=TAKER, max_orders=64, max_fills=4096, **config)
    run = Run(data, TickBacktester(data, cfg))
    bt = run.bt
    check_books(run)
    for at_us, wake, what in sorted(plan, key=lambda a: a[0]):
        target = int(data.exch_ts.min()) + at_us * 1_000
        code = RUN_TIMEOUT
        while bt.now < target and code != RUN_END:
            code = bt.elapse(target - bt.now, wake)
            check_books(run)
            if code in (RUN_TIMEOUT, RUN_END):
                check_known_position(run)
        if what[0] == "submit":
            _, side, tick, lots, tif = what
            tick = min(max(tick, data.tick_base), data.tick_base + data.n_ticks - 1)
            market = tif == "market"
            sent_tif = "gtc" if market else tif
            oid = bt.submit(side, tick * TICK, lots * LOT, tif=sent_tif, market=market)
            run.sent.append(Sent(oid, side, tick, tif, bt.now))
        elif run.sent:
            o = run.sent[what[1] % len(run.sent)]
            live = {x["id"]: x for x in bt.open_orders()}
            try:
                bt.cancel(o.order_id)
            except BacktestError:
                # refused: the strategy knows the order ended, or a cancel is already pending
                assert (
                    o.order_id not in live
                    or live[o.order_id]["cancel_pending"]
                    or live[o.order_id]["status"] in ("filled", "cancelled", "expired", "rejected")
                )
            else:
                assert o.order_id in live and live[o.order_id]["status"] in (
                    "pending",
                    "new",
                    "partially_filled",
                )
    assert bt.elapse(k.MAX_TS) == RUN_END
    check_books(run)
    return run


def check_known_position(run: Run) -> None:
    """After reaching a target, the strategy knows exactly the fills due by then."""
    f = run.bt.fills()
    known = f["local_ts"] <= run.bt.now
    assert run.bt.position == pytest.approx(float(np.sum(f["side"][known] * f["qty"][known])))


# -- properties --------------------------------------------------------------------------------


@given(scenario=scenarios(), config=configs)
def test_random_flows_then_books_cash_prices_and_positions_consistent(
    scenario: tuple[list[tuple[int, bytes]], list[Any]], config: dict[str, Any]
) -> None:
    frames, plan = scenario
    run = run_scenario(frames, plan, config)
    bt = run.bt
    f = bt.fills()
    side, px, qty, fee = f["side"].astype(float), f["price"], f["qty"], f["fee"]
    initial = config["initial_cash"]

    # (1) each fill moves cash by -side*price*qty - fee; fees by the fill's liquidity flag
    rate = np.where(f["maker"], config["maker_fee"], TAKER)
    np.testing.assert_allclose(fee, rate * px * qty, rtol=1e-12, atol=1e-12)
    cash_before = np.concatenate([[initial], f["cash"][:-1]])
    np.testing.assert_allclose(f["cash"] - cash_before, -side * px * qty - fee, atol=1e-7)
    pos_before = np.concatenate([[0.0], f["position"][:-1]])
    np.testing.assert_allclose(f["position"] - pos_before, side * qty, atol=EPS)
    stats = bt.stats()
    assert stats["cash"] == pytest.approx(initial + np.sum(-side * px * qty - fee), abs=1e-7)
    assert stats["fees"] == pytest.approx(np.sum(fee), abs=1e-9)
    assert stats["fills"] == qty.shape[0]
    assert stats["maker_fills"] == int(f["maker"].sum())
    assert np.all(qty > 0)

    # (6) position: the fills' sum, and the strategy's view equals the exchange's at the end
    assert stats["position"] == pytest.approx(np.sum(side * qty), abs=EPS)
    assert bt.position == pytest.approx(stats["position"], abs=EPS)
    assert bt.state.sf[k.SF_L_CASH] == pytest.approx(stats["cash"], abs=1e-7)
    # realized P&L by the average-cost method; equity marks the position at the exchange mid
    assert stats["realized_pnl"] == pytest.approx(average_cost_realized(f), abs=1e-7)
    bid, ask = replay_book(run.data, run.data.x_order, run.data.n_rows)
    bb, ba = _best(bid, ask)
    if bb >= 0 and ba < bid.shape[0] and stats["position"] != 0.0:
        mid = (bb + ba + 2 * run.data.tick_base) * TICK / 2
        assert stats["equity"] == pytest.approx(stats["cash"] + stats["position"] * mid, abs=1e-7)
    # every request and response has been delivered: only resting orders are left
    assert all(o["status"] in ("new", "partially_filled") for o in bt.open_orders())
    assert not any(o["cancel_pending"] for o in bt.open_orders())

    by_id = {o.order_id: o for o in run.sent}
    orders = bt.orders()
    assert sorted(orders["order_id"].tolist()) == sorted(by_id)
    filled = dict(zip(orders["order_id"].tolist(), orders["filled"].tolist(), strict=True))
    ordered = dict(zip(orders["order_id"].tolist(), orders["qty"].tolist(), strict=True))
    entry = config["entry_latency_ns"]
    for j in range(qty.shape[0]):
        o = by_id[int(f["order_id"][j])]
        # (2) post-only orders are always maker
        if o.tif == "gtx":
            assert f["maker"][j], f"post-only order {o.order_id} filled as taker"
        # (3) never through the limit price
        if o.tif != "market":
            if o.side == k.BUY:
                assert px[j] <= o.tick * TICK + EPS
            else:
                assert px[j] >= o.tick * TICK - EPS
        # not before the order reached the exchange; known one response latency later
        assert f["exch_ts"][j] >= o.submit_ts + entry
        assert f["local_ts"][j] == f["exch_ts"][j] + config["response_latency_ns"]
    for oid, o in by_id.items():
        mine = f["order_id"] == oid
        assert filled[oid] == pytest.approx(float(qty[mine].sum()), abs=EPS)
        if o.tif in ("ioc", "fok", "market"):
            assert not np.any(f["maker"][mine])
        if o.tif == "fok":
            assert filled[oid] in (0.0, pytest.approx(ordered[oid]))  # all or nothing


@given(scenario=scenarios(), config=configs)
def test_risk_averse_queue_when_random_flows_then_fills_never_pass_the_queue_ahead(
    scenario: tuple[list[tuple[int, bytes]], list[Any]], config: dict[str, Any]
) -> None:
    frames, plan = scenario
    run = run_scenario(
        frames, plan, {**config, "queue_model": "risk_averse", "partial_fills": True}
    )
    f = run.bt.fills()
    entry = config["entry_latency_ns"]
    for o in run.sent:
        mine = (f["order_id"] == o.order_id) & f["maker"]
        ts = f["exch_ts"][mine]
        cum = np.cumsum(f["qty"][mine])
        for j in range(ts.shape[0]):
            if j + 1 < ts.shape[0] and ts[j + 1] == ts[j]:
                continue  # check once per timestamp, with everything filled by then
            if fills_in_full_at(run, o, int(ts[j])):
                continue
            bound = queue_fill_bound(run, o, o.submit_ts + entry, int(ts[j]))
            assert cum[j] <= bound + EPS, (
                f"order {o.order_id} ({'buy' if o.side == k.BUY else 'sell'} at "
                f"{o.tick * TICK}) had {cum[j]} queue fills by {ts[j]}, at most {bound} passed"
            )


@given(scenario=scenarios(), config=configs, model=st.sampled_from(["power", "log"]))
def test_probabilistic_queue_when_random_flows_then_first_fill_no_later_than_risk_averse(
    scenario: tuple[list[tuple[int, bytes]], list[Any]], config: dict[str, Any], model: str
) -> None:
    frames, plan = scenario
    # orders never interact (no market impact), so each order can be compared on its own
    averse = run_scenario(frames, plan, {**config, "queue_model": "risk_averse"}).bt.fills()
    prob = run_scenario(frames, plan, {**config, "queue_model": model}).bt.fills()
    for oid in np.unique(averse["order_id"]):
        t_averse = averse["exch_ts"][averse["order_id"] == oid].min()
        in_prob = prob["exch_ts"][prob["order_id"] == oid]
        assert in_prob.size > 0, f"order {oid} filled under risk_averse but never under {model}"
        assert in_prob.min() <= t_averse
