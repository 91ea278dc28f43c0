"""The submit → ack round trip both broker benchmarks run, and what they report.

:func:`roundtrips` sends, on a connected broker, ``n`` post-only limit buys far
below the market (each rests, so every order costs the emulator the same)
twice each: through the broker's ``place_order`` and through the same ccxt
client's ``create_order`` with the same strings, interleaved so both see the
same machine load; then it cancels them all. :func:`report` puts p50/p90/p99
of both (ns), the difference of the medians and our code's own time per order
(rounding, params, the ack, measured in-process) into ``extra_info``.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import ccxt
import numpy as np
import uvloop

from adapters.ccxt_broker import CcxtBroker
from engine.orders import Order, OrderType, Side

__all__ = ["DATA", "KEY", "N_SMOKE", "SECRET", "WARMUP", "N", "report", "roundtrips", "run"]

DATA = Path(__file__).resolve().parents[2] / "data" / "binance_spot" / "btcusdt_20240808.gz"
KEY, SECRET = "bench-key", "bench-secret"
#: Orders per path (a smoke run under --benchmark-disable sends a few only).
N, N_SMOKE = 1500, 20
WARMUP = 50


def _order(venue: str, cid: str, price: float) -> Order:
    return Order(
        client_order_id=cid,
        symbol="BTC/USDT",
        venue=venue,
        side=Side.BUY,
        order_type=OrderType.POST_ONLY,
        quantity=0.001,
        price=price,
        ts_created=0,
    )


async def roundtrips(
    broker: CcxtBroker, n: int, *, venue: str, tick: float, ack_status: str | None
) -> dict[str, np.ndarray]:
    """``n`` orders each way on BTC/USDT (after ``WARMUP``), prices ``tick`` apart; the
    in-process ack is made from a ccxt answer of status ``ack_status`` (the venue's)."""
    ours = np.zeros(n, np.int64)
    direct = np.zeros(n, np.int64)
    edge = np.zeros(n, np.int64)
    client = broker.client
    for i in range(-WARMUP, n):
        price = 30000.0 + (i % 1000) * tick
        order = _order(venue, f"o-{i}", price)
        t0 = time.perf_counter_ns()
        await broker.place_order(order)
        t1 = time.perf_counter_ns()
        qty, text = broker.wire_values(order)
        t2 = time.perf_counter_ns()
        await client.create_order(
            "BTC/USDT",
            "limit",
            "buy",
            qty,
            text,
            {broker.place_client_id_param: f"d-{i}", "postOnly": True},
        )
        t3 = time.perf_counter_ns()
        # our own code per order, in-process: rounding, params, the ack
        broker.order_params(order)
        fake = {"id": "1", "clientOrderId": order.client_order_id, "status": ack_status}
        broker._ack(fake, order.client_order_id)
        t4 = time.perf_counter_ns()
        if i >= 0:
            ours[i], direct[i] = t1 - t0, t3 - t2
            edge[i] = (t2 - t1) + (t4 - t3)
    await broker.cancel_all("BTC/USDT")
    return {"ours": ours, "ccxt": direct, "edge": edge}


def report(bench: Any, samples: dict[str, np.ndarray]) -> None:
    """Check the samples and put their percentiles and the overhead into ``extra_info``."""
    ours, direct, edge = samples["ours"], samples["ccxt"], samples["edge"]
    assert (ours > 0).all() and (direct > 0).all()
    for name, values in (("ours", ours), ("ccxt", direct)):
        for q in (50, 90, 99):
            bench.extra_info[f"{name}_p{q}_ns"] = int(np.percentile(values, q))
    bench.extra_info["overhead_p50_ns"] = int(np.median(ours) - np.median(direct))
    bench.extra_info["edge_code_p50_ns"] = int(np.median(edge))
    bench.extra_info["edge_code_p99_ns"] = int(np.percentile(edge, 99))
    bench.extra_info["orders_per_path"] = int(ours.size)
    bench.extra_info["ccxt"] = ccxt.__version__


def run(bench: Any, measure: Callable[[int], Awaitable[dict[str, np.ndarray]]]) -> None:
    """One pedantic round of ``measure(n)`` on uvloop (``N``, or ``N_SMOKE`` when disabled),
    then :func:`report`."""
    samples: dict[str, np.ndarray] = {}
    n = N_SMOKE if bench.disabled else N

    def once() -> None:
        samples.update(uvloop.run(measure(n)))  # type: ignore[arg-type]

    bench.pedantic(once, rounds=1, iterations=1)
    report(bench, samples)
