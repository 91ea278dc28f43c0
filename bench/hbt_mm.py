"""The hftbacktest side of ``bench.compare_backtest``: converters and the market-making strategy.

Both backtesters run the same strategy over the same Binance recording; this
docstring is its specification, and our side (``engine.strategies.grid_mm``)
implements the same rules.

Strategy (one asset, all prices handled as integer ticks)
---------------------------------------------------------
Parameters (defaults for BTCUSDT, see :func:`default_params`):

- ``interval_ns`` = 100_000_000 (100 ms), ``half_spread_ticks`` = 1,
- ``order_qty`` = 10 × lot (0.01 BTC on USD-M, 0.0001 BTC on spot),
- ``max_position`` = 10 × ``order_qty``,
- order latency: constant, entry = response = 1 ms,
- fees on traded value: maker 0.0002, taker 0.0005 (GTX orders only ever pay maker).

The backtester: linear asset (contract size 1), tick and lot of the
instrument, risk-averse queue model (the quantity ahead of an order starts at
the level's quantity when the order arrives, shrinks by each trade at its
price and is capped by the level's quantity whenever that changes), and
hftbacktest's exchange **without partial fills** (``no_partial_fill_exchange``):
a resting order fills completely, at its own price, when a trade prints
through its price, when the opposite best price reaches it, or when a trade at
its price leaves the quantity ahead below zero (by at least half a lot).

Why not ``partial_fill_exchange``: in hftbacktest 2.4.4 it aborts this
strategy. When the risk-averse model's executable quantity equals an order's
remaining quantity exactly, the order is marked FILLED but left in the
exchange's book; the next trade at that price fills it again and ``elapse``
returns 14 (``InvalidOrderStatus``; nkaz001/hftbacktest#312, #301). On the
bundled USD-M recording that happens after 865 of 3,448 steps.
``run_once(..., partial_fills=True)`` reproduces it.

Each step:

1. Advance the clock by ``interval_ns`` (``hbt.elapse``). Stop when the data ends.
2. Account the fills seen since the previous step (see *Position* below), then
   forget orders that are no longer active (``hbt.clear_inactive_orders``).
3. Read the best bid and ask ticks ``bb`` and ``ba``. If either side of the book
   is empty, do nothing else this step.
4. Targets: ``mid = (bb + ba) / 2`` (in ticks, may end in .5);
   ``bid_target = min(floor(mid - half_spread_ticks), bb)``;
   ``ask_target = max(ceil(mid + half_spread_ticks), ba)``. A price is its tick
   index × tick size. With a one-tick spread and ``half_spread_ticks = 1`` this
   quotes one tick behind the touch on each side.
5. Allowed sides: buys while ``position < max_position``, sells while
   ``position > -max_position`` (position in lots, see below).
6. Per side, in one step:

   - if any of our orders on the side has a request in flight (a new order or
     a cancel not yet acknowledged), leave the side alone;
   - otherwise a working order (status NEW or PARTIALLY_FILLED) at the target
     price stays if the side is allowed; every other working order on the
     side is canceled (all of them on a side that is not allowed);
   - then, if the side is allowed and no order stayed, submit a GTX
     (post-only) limit order of ``order_qty`` at the target price, in the same
     step as the cancels. A post-only order that would cross is rejected by
     the exchange (hftbacktest marks it EXPIRED); it counts as submitted.

Position: the net filled quantity of our orders, ``Σ side × (qty − leaves_qty)``,
kept as a whole number of lots: at step 2 each order adds
``side × round((leaves_qty at the previous step − leaves_qty) / lot)``, and the
position limit compares lots, ``round(max_position / lot)``, so float sums
(0.01 × 10 = 0.09999…) never let a fill through the limit. Cash moves by
``∓ lots × lot × order price``; fees are maker fee × traded value.
Without partial fills the position equals ``hbt.position()``. With partial fills it would
not: hftbacktest 2.4.4's local state applies a fill only when an order becomes
FILLED, and then only that last execution's quantity (nkaz001/hftbacktest#299,
#316), so its position, balance, fee and ``num_trades`` fall behind. Both views
are reported.

Counts: *orders* = orders submitted (including post-only rejections);
*fills* = hftbacktest's own ``state_values.num_trades``, one per execution it
applied (= filled orders without partial fills); *fill steps* = the number of
(order, step) pairs in which an order's filled quantity grew.

Converters
----------
USD-M and COIN-M recordings go through hftbacktest's own
``hftbacktest.data.utils.binancefutures.convert`` (exchange time = ``T``).
(COIN-M would need ``inverse_asset`` for its P&L; the asset here is linear.)
Binance spot frames have no ``T`` on depth updates, no ``X`` on trades and no
``E``/``T`` on the REST snapshot, so :func:`convert_spot` writes the same rows
itself: exchange time = ``E`` (ms → ns) for depth updates and trades, the
local receive time for the snapshot; then the same
``correct_local_timestamp`` / ``correct_event_order`` / ``validate_event_order``
as hftbacktest's converter.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import math
import os
import statistics
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, NamedTuple

import numpy as np
from hftbacktest import (
    BUY_EVENT,
    DEPTH_CLEAR_EVENT,
    DEPTH_EVENT,
    DEPTH_SNAPSHOT_EVENT,
    GTX,
    LIMIT,
    SELL_EVENT,
    TRADE_EVENT,
    BacktestAsset,
    HashMapMarketDepthBacktest,
    event_dtype,
)
from hftbacktest.data.utils import binancefutures
from hftbacktest.data.validation import (
    correct_event_order,
    correct_local_timestamp,
    validate_event_order,
)
from numba import njit

__all__ = [
    "HftbacktestRun",
    "Market",
    "StrategyParams",
    "convert_recording",
    "convert_spot",
    "default_params",
    "detect_market",
    "infer_tick_lot",
    "run_hftbacktest",
    "run_once",
]

Market = Literal["futures", "spot"]

# Order status / side codes of hftbacktest.order (kept local so the njit loop sees constants).
_NONE = 0
_NEW = 1
_PARTIALLY_FILLED = 5
_BUY = 1
# elapse() return codes
_OK = 0
_END_OF_DATA = 1

_TIMESTAMP_DIGITS = 19  # `<local_recv_ts_ns> <frame>`: a 19-digit nanosecond prefix


@dataclass(frozen=True)
class StrategyParams:
    """Parameters of the benchmark strategy (the module docstring has the rules).

    Defaults: ``interval_ns`` 100 ms, ``half_spread_ticks`` 1, entry and response
    latency 1 ms each, maker fee 0.0002, taker fee 0.0005. ``order_qty`` and
    ``max_position`` have no default: :func:`default_params` derives them from the lot.
    """

    order_qty: float
    max_position: float
    interval_ns: int = 100_000_000
    half_spread_ticks: int = 1
    entry_latency_ns: int = 1_000_000
    response_latency_ns: int = 1_000_000
    maker_fee: float = 0.0002
    taker_fee: float = 0.0005


def default_params(lot: float) -> StrategyParams:
    """Return the benchmark's parameters for an instrument with lot size ``lot``.

    ``order_qty`` is 10 lots and ``max_position`` 10 × ``order_qty``.
    """
    order_qty = _round_to_step(10 * lot, lot)
    return StrategyParams(order_qty=order_qty, max_position=_round_to_step(10 * order_qty, lot))


def _round_to_step(value: float, step: float) -> float:
    # 10 * 0.001 is 0.010000000000000002 in binary; keep the lot's decimal places.
    return round(value, _decimals(f"{step:.12f}"))


class HftbacktestRun(NamedTuple):
    """One hftbacktest run (or the median of several, see :func:`run_hftbacktest`).

    ``fills``, ``position``, ``balance`` and ``fee`` are hftbacktest's own
    ``hbt.state_values(0)``, which misses partial fills (module docstring); the
    ``observed_*`` fields are the strategy's own accounting from the orders'
    ``leaves_qty``. ``wall_seconds`` covers building the backtester and the loop.
    """

    orders: int
    fills: int
    position: float
    balance: float
    fee: float
    wall_seconds: float
    observed_fill_steps: int
    observed_position: float
    observed_balance: float
    observed_traded_value: float
    observed_fee: float
    last_mid: float
    steps: int
    status: int
    wall_seconds_all: tuple[float, ...] = ()

    @property
    def equity(self) -> float:
        """Equity from the strategy's own accounting: cash + position × last mid − fees."""
        return self.observed_balance + self.observed_position * self.last_mid - self.observed_fee


# ---------------------------------------------------------------------------------------------
# Recording inspection
# ---------------------------------------------------------------------------------------------


def _frames(path: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    with gzip.open(path, "rb") as f:
        for line in f:
            if not line.strip():
                continue
            yield int(line[:_TIMESTAMP_DIGITS]), json.loads(line[_TIMESTAMP_DIGITS + 1 :])


def detect_market(path: str | Path) -> Market:
    """Return ``"futures"`` if the recording's depth updates carry ``pu``/``T``, else ``"spot"``.

    Raises
    ------
    ValueError
        If the recording has no ``depthUpdate`` frame.
    """
    for _, message in _frames(path):
        data = message.get("data")
        if data is not None and data.get("e") == "depthUpdate":
            return "futures" if ("pu" in data or "T" in data) else "spot"
    raise ValueError(f"no depthUpdate frame in {path}: cannot tell spot from futures")


def _decimals(text: str) -> int:
    _, _, frac = text.partition(".")
    return len(frac.rstrip("0"))


def infer_tick_lot(path: str | Path, max_frames: int = 20_000) -> tuple[float, float]:
    """Infer tick and lot size from the most decimal places in trades and the REST snapshot.

    Binance pads prices and quantities with zeros (USD-M ``"61800.20"`` has a
    0.1 tick, spot ``"0.02000000"`` a 1e-5 lot), so trailing zeros are dropped
    first. Depth updates are not used: the spot recording has a few levels with
    sub-lot quantities (``"25.42618900"``). Only a power-of-ten step can be
    found (a 0.5 tick would read as 0.1); pass ``--tick``/``--lot`` otherwise.

    Raises
    ------
    ValueError
        If the first ``max_frames`` frames hold no trade and no snapshot.
    """
    price_dp = qty_dp = -1
    for n, (_, message) in enumerate(_frames(path)):
        if n >= max_frames:
            break
        data = message.get("data", message)
        if data.get("e") == "trade":
            levels = [[data["p"], data["q"]]]
        elif "bids" in data:
            levels = data["bids"] + data["asks"]
        else:
            continue
        for px, qty in levels:
            price_dp = max(price_dp, _decimals(px))
            qty_dp = max(qty_dp, _decimals(qty))
    if price_dp < 0:
        raise ValueError(f"no trade or depth snapshot in the first {max_frames} frames of {path}")
    return 10.0**-price_dp, 10.0**-qty_dp


# ---------------------------------------------------------------------------------------------
# Conversion
# ---------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _stdout_silenced() -> Iterator[None]:
    # hftbacktest's converter prints progress, and its njit `correct_local_timestamp` prints
    # from compiled code, which `contextlib.redirect_stdout` does not catch: silence fd 1.
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "wb") as devnull:
            os.dup2(devnull.fileno(), 1)
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def _finish(rows: np.ndarray) -> np.ndarray:
    # Exactly what binancefutures.convert does after collecting its rows.
    rows = correct_local_timestamp(rows, 0)
    data = correct_event_order(
        rows,
        np.argsort(rows["exch_ts"], kind="mergesort"),
        np.argsort(rows["local_ts"], kind="mergesort"),
    )
    validate_event_order(data)
    return data


def convert_spot(path: str | Path) -> np.ndarray:
    """Convert a Binance **spot** recording to hftbacktest's ``event_dtype`` rows.

    Same rows as ``binancefutures.convert``: one ``DEPTH_EVENT|BUY/SELL`` per
    level of a depth update, one ``TRADE_EVENT`` per trade (``SELL`` when the
    buyer is the maker, ``m``), and for the REST snapshot a ``DEPTH_CLEAR_EVENT``
    up to its deepest price followed by ``DEPTH_SNAPSHOT_EVENT`` rows, per side.
    Exchange time is ``E`` (ms → ns); the snapshot, which has no ``E``, takes
    its local receive time. ``bookTicker`` frames are skipped, as there.
    """
    bid_depth = DEPTH_EVENT | BUY_EVENT
    ask_depth = DEPTH_EVENT | SELL_EVENT
    rows: list[tuple[int, int, int, float, float, int, int, float]] = []
    append = rows.append
    for local_ts, message in _frames(path):
        data = message.get("data")
        if data is not None:
            event = data.get("e")
            if event == "depthUpdate":
                exch_ts = int(data["E"]) * 1_000_000
                for px, qty in data["b"]:
                    append((bid_depth, exch_ts, local_ts, float(px), float(qty), 0, 0, 0.0))
                for px, qty in data["a"]:
                    append((ask_depth, exch_ts, local_ts, float(px), float(qty), 0, 0, 0.0))
            elif event == "trade":
                ev = TRADE_EVENT | (SELL_EVENT if data["m"] else BUY_EVENT)
                exch_ts = int(data["E"]) * 1_000_000
                append((ev, exch_ts, local_ts, float(data["p"]), float(data["q"]), 0, 0, 0.0))
        elif "lastUpdateId" in message:
            for key, side in (("bids", BUY_EVENT), ("asks", SELL_EVENT)):
                levels = message[key]
                if not levels:
                    continue
                clear_upto = float(levels[-1][0])
                append((DEPTH_CLEAR_EVENT | side, local_ts, local_ts, clear_upto, 0.0, 0, 0, 0.0))
                ev = DEPTH_SNAPSHOT_EVENT | side
                for px, qty in levels:
                    append((ev, local_ts, local_ts, float(px), float(qty), 0, 0, 0.0))
    with _stdout_silenced():
        return _finish(np.array(rows, dtype=event_dtype))


def convert_recording(path: str | Path, market: Market | None = None) -> np.ndarray:
    """Convert a Binance recording (``<recv_ts_ns> <frame>`` lines, gzip) for hftbacktest.

    Futures (USD-M, COIN-M) go through hftbacktest's own converter; spot
    through :func:`convert_spot`. ``market`` defaults to :func:`detect_market`.
    """
    if market is None:
        market = detect_market(path)
    if market == "spot":
        return convert_spot(path)
    with _stdout_silenced():
        return binancefutures.convert(str(path), combined_stream=True)


# ---------------------------------------------------------------------------------------------
# The strategy
# ---------------------------------------------------------------------------------------------


@njit
def _remember(leaves: np.ndarray, order_id: int, qty: float) -> np.ndarray:
    if order_id >= len(leaves):
        leaves = np.concatenate((leaves, np.zeros(len(leaves))))
    leaves[order_id] = qty
    return leaves


@njit
def _market_making(
    hbt: Any,
    interval_ns: int,
    half_spread_ticks: int,
    order_qty: float,
    max_position: float,
) -> tuple[int, int, float, float, float, int, float, int, int, float, float, int]:
    asset = 0
    tick_size = hbt.depth(asset).tick_size
    lot_size = hbt.depth(asset).lot_size
    max_lots = round(max_position / lot_size)
    # leaves_qty of each order at the last step, indexed by order id (ids run 1, 2, 3, ...)
    seen_leaves = np.zeros(1024)
    next_order_id = 1
    orders = 0
    fill_steps = 0
    position_lots = 0
    cash = 0.0
    traded_value = 0.0
    last_mid = np.nan
    steps = 0
    status = 0
    while True:
        status = hbt.elapse(interval_ns)
        if status != _OK:
            break
        steps += 1

        # 2. account fills from leaves_qty changes, then drop inactive orders
        values = hbt.orders(asset).values()
        while values.has_next():
            order = values.get()
            delta_lots = round((seen_leaves[order.order_id] - order.leaves_qty) / lot_size)
            if delta_lots > 0:
                fill_steps += 1
                value = delta_lots * lot_size * order.price_tick * tick_size
                traded_value += value
                if order.side == _BUY:
                    position_lots += delta_lots
                    cash -= value
                else:
                    position_lots -= delta_lots
                    cash += value
            seen_leaves[order.order_id] = order.leaves_qty
        hbt.clear_inactive_orders(asset)

        # 3. the touch
        depth = hbt.depth(asset)
        best_bid = depth.best_bid_tick
        best_ask = depth.best_ask_tick
        if not (np.isfinite(depth.best_bid) and np.isfinite(depth.best_ask)):
            continue
        mid = (best_bid + best_ask) / 2.0
        last_mid = mid * tick_size

        # 4. targets in ticks
        bid_target = min(math.floor(mid - half_spread_ticks), best_bid)
        ask_target = max(math.ceil(mid + half_spread_ticks), best_ask)

        # 5. allowed sides
        buy_allowed = position_lots < max_lots
        sell_allowed = position_lots > -max_lots

        # 6. a side with a request in flight waits for the answer; otherwise keep the order at
        # the target, cancel the rest, and quote the target if nothing stayed
        bid_pending = False
        ask_pending = False
        values = hbt.orders(asset).values()
        while values.has_next():
            order = values.get()
            if order.req != _NONE:
                if order.side == _BUY:
                    bid_pending = True
                else:
                    ask_pending = True
        bid_kept = False
        ask_kept = False
        values = hbt.orders(asset).values()
        while values.has_next():
            order = values.get()
            if order.status != _NEW and order.status != _PARTIALLY_FILLED:
                continue
            if order.side == _BUY:
                if bid_pending:
                    continue
                if buy_allowed and not bid_kept and order.price_tick == bid_target:
                    bid_kept = True
                else:
                    hbt.cancel(asset, order.order_id, False)
            else:
                if ask_pending:
                    continue
                if sell_allowed and not ask_kept and order.price_tick == ask_target:
                    ask_kept = True
                else:
                    hbt.cancel(asset, order.order_id, False)
        if buy_allowed and not bid_pending and not bid_kept:
            price = bid_target * tick_size
            hbt.submit_buy_order(asset, next_order_id, price, order_qty, GTX, LIMIT, False)
            seen_leaves = _remember(seen_leaves, next_order_id, order_qty)
            next_order_id += 1
            orders += 1
        if sell_allowed and not ask_pending and not ask_kept:
            price = ask_target * tick_size
            hbt.submit_sell_order(asset, next_order_id, price, order_qty, GTX, LIMIT, False)
            seen_leaves = _remember(seen_leaves, next_order_id, order_qty)
            next_order_id += 1
            orders += 1

    state = hbt.state_values(asset)
    return (
        orders,
        state.num_trades,
        state.position,
        state.balance,
        state.fee,
        position_lots,
        cash,
        fill_steps,
        steps,
        traded_value,
        last_mid,
        status,
    )


def _backtest(
    data: np.ndarray, tick: float, lot: float, params: StrategyParams, partial_fills: bool
) -> Any:
    asset = (
        BacktestAsset()
        .data([data])
        .linear_asset(1.0)
        .constant_order_latency(params.entry_latency_ns, params.response_latency_ns)
        .risk_adverse_queue_model()
    )
    asset = asset.partial_fill_exchange() if partial_fills else asset.no_partial_fill_exchange()
    asset = (
        asset.trading_value_fee_model(params.maker_fee, params.taker_fee)
        .tick_size(tick)
        .lot_size(lot)
    )
    return HashMapMarketDepthBacktest([asset])


def run_once(
    data: np.ndarray,
    tick: float,
    lot: float,
    params: StrategyParams,
    partial_fills: bool = False,
) -> HftbacktestRun:
    """Build a backtester over ``data`` and run the strategy once; time both.

    ``data`` must stay alive while this runs: hftbacktest reads the array in place.
    ``partial_fills`` selects ``partial_fill_exchange``, which hftbacktest 2.4.4
    aborts with status 14 on real data (module docstring).
    The first call in a process includes numba's compilation; :func:`run_hftbacktest`
    warms up first.

    Raises
    ------
    RuntimeError
        If ``hbt.elapse`` stops with an error code instead of reaching the end of the data.
    """
    start = time.perf_counter()
    hbt = _backtest(data, tick, lot, params, partial_fills)
    out = _market_making(
        hbt, params.interval_ns, params.half_spread_ticks, params.order_qty, params.max_position
    )
    wall = time.perf_counter() - start
    hbt.close()
    (orders, fills, position, balance, fee, position_lots, cash, fill_steps, steps) = out[:9]
    traded_value, last_mid, status = out[9:]
    if status != _END_OF_DATA:
        raise RuntimeError(
            f"hftbacktest stopped with status {status} after {steps} steps, before the end "
            f"of the data (status 1); 14 is InvalidOrderStatus, see nkaz001/hftbacktest#312"
        )
    return HftbacktestRun(
        orders=int(orders),
        fills=int(fills),
        position=float(position),
        balance=float(balance),
        fee=float(fee),
        wall_seconds=wall,
        observed_fill_steps=int(fill_steps),
        observed_position=_round_to_step(int(position_lots) * lot, lot),
        observed_balance=float(cash),
        observed_traded_value=float(traded_value),
        observed_fee=float(traded_value) * params.maker_fee,
        last_mid=float(last_mid),
        steps=int(steps),
        status=int(status),
        wall_seconds_all=(wall,),
    )


def _same_outcome(a: HftbacktestRun, b: HftbacktestRun) -> bool:
    # hftbacktest's order map is a Rust HashMap with a random seed per instance, so sums over
    # orders may add in another order and differ in the last bits.
    for name in HftbacktestRun._fields:
        if name in ("wall_seconds", "wall_seconds_all"):
            continue
        x, y = getattr(a, name), getattr(b, name)
        if isinstance(x, int):
            if x != y:
                return False
        elif not math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-9):
            return False
    return True


def run_hftbacktest(
    data: np.ndarray,
    tick: float,
    lot: float,
    params: StrategyParams,
    runs: int = 5,
    partial_fills: bool = False,
) -> HftbacktestRun:
    """Warm up once (numba compilation), then run ``runs`` times; return the median wall time.

    Every run builds a fresh backtester on the same converted ``data``; the
    results must be identical across runs (the backtest is deterministic).

    Raises
    ------
    ValueError
        If ``runs`` < 1.
    RuntimeError
        If two runs disagree on the results.
    """
    if runs < 1:
        raise ValueError(f"runs must be >= 1, was {runs}")
    first = run_once(data, tick, lot, params, partial_fills)  # warm-up: compiles the loop
    timed = [run_once(data, tick, lot, params, partial_fills) for _ in range(runs)]
    for run in timed:
        if not _same_outcome(first, run):
            raise RuntimeError(f"hftbacktest runs disagree: {first} vs {run}")
    walls = tuple(run.wall_seconds for run in timed)
    return first._replace(wall_seconds=statistics.median(walls), wall_seconds_all=walls)
