"""Grid market maker: quote both sides around the mid on a fixed timer.

Every ``interval_ns`` (100 ms by default), when the book has both sides:

* in ticks, ``mid = (best_bid + best_ask) / 2`` (may end in .5);
* bid quote ``floor(mid - half_spread_ticks)``, never above the best bid; ask
  quote ``ceil(mid + half_spread_ticks)``, never below the best ask (so quotes
  are passive; integer tick arithmetic, no float rounding at tick edges);
* for ``levels > 1``, further quotes every ``level_step_ticks`` behind those;
* on each side, working orders whose price is not one of the side's quotes are
  cancelled; a quote price with a working order is left alone (it keeps its
  queue position); a missing quote gets a post-only order of ``order_qty``;
* no new buys while the position is at or above ``max_position``, no new sells
  at or below ``-max_position`` (compared in whole lots); existing quotes on
  that side are cancelled. The limit applies to the position the strategy
  knows: a replaced quote whose fill is still on its way can add to it, so
  the position stays within ``max_position + 2 * levels * order_qty``;
* a side with a request still in flight (an unacknowledged order or a pending
  cancel) is left alone until the venue has answered.

Two implementations with the same decisions: :func:`grid_mm_loop` (njit, the
whole run compiled, for sweeps and benchmarks) and :class:`GridMarketMaker`
(plain Python on the backtester's public API, the template for new
strategies). Their fills are identical; the tests check that.
"""

from __future__ import annotations

import math
from typing import Protocol

import msgspec
import numpy as np
from numba import njit

from kernels import tickbt as k

__all__ = ["GridMarketMaker", "GridParams", "TickVenue", "grid_mm_loop", "run_grid_mm_njit"]


class GridParams(msgspec.Struct, frozen=True, kw_only=True):
    """Parameters of the grid market maker (``order_qty``/``max_position`` default from the lot)."""

    interval_ns: int = 100_000_000
    half_spread_ticks: float = 1.0
    order_qty: float | None = None
    max_position: float | None = None
    levels: int = 1
    level_step_ticks: int = 1

    def resolved(self, lot_size: float) -> GridParams:
        """Fill the lot-based defaults and check every field (``ValueError`` names the bad one)."""
        qty = self.order_qty if self.order_qty is not None else 10 * lot_size
        max_pos = self.max_position if self.max_position is not None else 10 * qty
        if self.interval_ns <= 0:
            raise ValueError(f"interval_ns must be > 0, got {self.interval_ns}")
        if not (self.half_spread_ticks >= 0 and math.isfinite(self.half_spread_ticks)):
            raise ValueError(f"half_spread_ticks must be >= 0, got {self.half_spread_ticks}")
        if not qty > 0:
            raise ValueError(f"order_qty must be > 0, got {qty}")
        if not max_pos > 0:
            raise ValueError(f"max_position must be > 0, got {max_pos}")
        if not 1 <= self.levels <= 50:
            raise ValueError(f"levels must be in 1..50, got {self.levels}")
        if self.level_step_ticks < 1:
            raise ValueError(f"level_step_ticks must be >= 1, got {self.level_step_ticks}")
        return msgspec.structs.replace(self, order_qty=qty, max_position=max_pos)


class TickVenue(Protocol):
    """What a tick strategy needs from the backtester (see ``adapters.paper.tickbt``)."""

    @property
    def best_bid(self) -> float: ...
    @property
    def best_ask(self) -> float: ...
    @property
    def tick_size(self) -> float: ...
    @property
    def lot_size(self) -> float: ...
    @property
    def position(self) -> float: ...
    def elapse(self, duration_ns: int, wake: int = 0) -> int: ...
    def submit(
        self, side: int, price: float, qty: float, *, tif: str = "gtc", market: bool = False
    ) -> int: ...
    def cancel(self, order_id: int) -> None: ...
    def open_orders(self) -> list[dict[str, object]]: ...


def _quotes(bid: float, ask: float, tick: float, p: GridParams) -> tuple[np.ndarray, np.ndarray]:
    """Bid and ask quotes in ticks, nearest first (the same arithmetic as the njit loop)."""
    bt = math.floor(bid / tick + 0.5)
    at = math.floor(ask / tick + 0.5)
    mid = (bt + at) / 2.0
    b0 = min(math.floor(mid - p.half_spread_ticks), bt)
    a0 = max(math.ceil(mid + p.half_spread_ticks), at)
    step = p.level_step_ticks
    bids = np.array([b0 - i * step for i in range(p.levels)], np.float64)
    asks = np.array([a0 + i * step for i in range(p.levels)], np.float64)
    return bids, asks


class GridMarketMaker:
    """The grid market maker in plain Python (see the module docstring)."""

    name = "grid_mm"

    def __init__(self, params: GridParams | None = None) -> None:
        self.params = params or GridParams()

    def run(self, bt: TickVenue) -> int:
        """Quote until the data ends; returns the number of wake-ups."""
        p = self.params.resolved(bt.lot_size)
        tick = bt.tick_size
        lot = bt.lot_size
        assert p.order_qty is not None and p.max_position is not None
        max_lots = round(p.max_position / lot)
        wakes = 0
        while bt.elapse(p.interval_ns) != k.RUN_END:
            wakes += 1
            bid, ask = bt.best_bid, bt.best_ask
            if not (bid > 0 and ask > 0):
                continue
            bids, asks = _quotes(bid, ask, tick, p)
            # compare whole lots: float sums (0.01 x 10 = 0.0999...) must not pass the limit
            pos = round(bt.position / lot)
            for side, quotes, allowed in (
                (k.BUY, bids, pos < max_lots),
                (k.SELL, asks, pos > -max_lots),
            ):
                mine = [o for o in bt.open_orders() if o["side"] == side]
                if any(o["status"] == "pending" or o["cancel_pending"] for o in mine):
                    continue
                have = set()
                for o in mine:
                    if o["status"] not in ("new", "partially_filled"):
                        continue
                    t = math.floor(float(o["price"]) / tick + 0.5)  # type: ignore[arg-type]
                    if allowed and t in quotes and t not in have:
                        have.add(t)
                    else:
                        bt.cancel(int(o["id"]))  # type: ignore[call-overload]
                if allowed:
                    for t in quotes:
                        if t not in have:
                            bt.submit(side, t * tick, p.order_qty, tif="gtx")
        return wakes


@njit(cache=True)
def _side_step(
    s: k.TBState,
    side: int,
    quotes: np.ndarray,
    allowed: bool,
    qty: float,
    tick: float,
    have: np.ndarray,
) -> None:
    si = s.si
    oi = s.oi
    n = si[k.SI_N_USED]
    # a side with a request in flight waits for the venue's answer
    for j in range(n):
        slot = s.used[j]
        if oi[slot, k.OI_SIDE] == side and (
            oi[slot, k.OI_LST] == k.ST_PENDING or oi[slot, k.OI_LREQ] == k.REQ_CANCEL
        ):
            return
    have[:] = 0
    # collect first: cancelling does not change the list, but keep decisions on one snapshot
    m = 0
    cancel_ids = np.empty(n, np.int64)
    for j in range(n):
        slot = s.used[j]
        if oi[slot, k.OI_SIDE] != side:
            continue
        st = oi[slot, k.OI_LST]
        if st != k.ST_NEW and st != k.ST_PARTIAL:
            continue
        t = np.floor(k.order_price(s, slot) / tick + 0.5)
        hit = -1
        if allowed:
            for q in range(quotes.shape[0]):
                if quotes[q] == t and have[q] == 0:
                    hit = q
                    break
        if hit >= 0:
            have[hit] = 1
        else:
            cancel_ids[m] = oi[slot, k.OI_ID]
            m += 1
    for j in range(m):
        k.cancel(s, cancel_ids[j])
    if allowed:
        for q in range(quotes.shape[0]):
            if have[q] == 0:
                k.submit(s, side, quotes[q] * tick, qty, k.TYPE_LIMIT, k.TIF_GTX)


@njit(cache=True)
def grid_mm_loop(
    s: k.TBState,
    interval_ns: int,
    half_spread_ticks: float,
    qty: float,
    max_position: float,
    levels: int,
    level_step_ticks: int,
) -> int:
    """Run the grid market maker on ``s`` to the end of the data; returns wake-ups (error < 0)."""
    tick = s.sf[k.SF_TICK]
    lot = s.sf[k.SF_LOT]
    max_lots = np.floor(max_position / lot + 0.5)
    bids = np.empty(levels, np.float64)
    asks = np.empty(levels, np.float64)
    have = np.zeros(levels, np.int64)
    wakes = 0
    while True:
        code = k.elapse(s, interval_ns, 0)
        if code < 0:
            return code
        if code == k.RUN_END:
            return wakes
        wakes += 1
        bid = k.best_bid(s)
        ask = k.best_ask(s)
        if not (bid > 0.0 and ask > 0.0):
            continue
        bt = np.floor(bid / tick + 0.5)
        at = np.floor(ask / tick + 0.5)
        mid = (bt + at) / 2.0
        b0 = min(np.floor(mid - half_spread_ticks), bt)
        a0 = max(np.ceil(mid + half_spread_ticks), at)
        for i in range(levels):
            bids[i] = b0 - i * level_step_ticks
            asks[i] = a0 + i * level_step_ticks
        pos = np.floor(k.position(s) / lot + 0.5)
        _side_step(s, k.BUY, bids, pos < max_lots, qty, tick, have)
        _side_step(s, k.SELL, asks, pos > -max_lots, qty, tick, have)


def run_grid_mm_njit(bt: object, params: GridParams | None = None) -> int:
    """Run :func:`grid_mm_loop` on a ``TickBacktester`` (``bt.state``); returns the wake-ups."""
    p = (params or GridParams()).resolved(bt.lot_size)  # type: ignore[attr-defined]
    assert p.order_qty is not None and p.max_position is not None
    wakes = int(
        grid_mm_loop(
            bt.state,  # type: ignore[attr-defined]
            int(p.interval_ns),
            float(p.half_spread_ticks),
            float(p.order_qty),
            float(p.max_position),
            int(p.levels),
            int(p.level_step_ticks),
        )
    )
    if wakes < 0:
        bt.elapse(0)  # type: ignore[attr-defined]  # raises the backtester's error for the code
    return wakes
