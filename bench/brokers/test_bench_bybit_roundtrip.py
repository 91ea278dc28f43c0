"""Submit → ack on loopback: our Bybit connector beside ccxt's ``create_order``, same run.

One emulator (:class:`adapters.emulator.BybitEmulator`, spot BTCUSDT) and one
ccxt ``bybit`` client on a uvloop loop. Each round sends one post-only limit
buy far below the market (it rests, so every order costs the emulator the
same) twice: once through :meth:`adapters.bybit.broker.BybitBroker.place_order`
(rounding and limit checks, ``orderLinkId``, ccxt, mapping the answer to an
``OrderAck``) and once through the same client's ``create_order`` with the
same strings (what a user of ccxt alone would call). The two are interleaved
so both see the same machine load; then every order is cancelled.

Reported in ``extra_info``: p50/p90/p99 of both (ns), the difference of the
medians, and the median of our code's own time per order measured in-process
(rounding, params, the ack), the added overhead without the network noise.

Issue 7 target: our added overhead ≤ 50 µs p50.

Reproduce::

    .venv/bin/python -m pytest bench/brokers/test_bench_bybit_roundtrip.py \\
        -o addopts= -o testpaths=bench --benchmark-only -q
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import ccxt
import numpy as np
import uvloop

from adapters.bybit.broker import BybitBroker
from adapters.bybit.config import BrokerConfig
from adapters.emulator import BybitEmulator
from adapters.emulator.bybit_trading import BybitTradingConfig
from engine.orders import Order, OrderType, Side

DATA = Path(__file__).resolve().parents[2] / "data" / "binance_spot" / "btcusdt_20240808.gz"
KEY, SECRET = "bench-key", "bench-secret"
#: Orders per path (a smoke run under --benchmark-disable sends a few only).
N, N_SMOKE = 1500, 20
WARMUP = 50


def _order(cid: str, price: float) -> Order:
    return Order(
        client_order_id=cid,
        symbol="BTC/USDT",
        venue="bybit",
        side=Side.BUY,
        order_type=OrderType.POST_ONLY,
        quantity=0.001,
        price=price,
        ts_created=0,
    )


async def _measure(n: int) -> dict[str, np.ndarray]:
    trading = BybitTradingConfig(
        api_key=KEY, secret_key=SECRET, symbols=("BTCUSDT",), balances={"USDT": "1e12"}
    )
    ours = np.zeros(n, np.int64)
    direct = np.zeros(n, np.int64)
    edge = np.zeros(n, np.int64)
    async with BybitEmulator(DATA, venue="bybit-spot", trading=trading) as emu:
        config = BrokerConfig(rest_url=emu.rest_url, symbols=("BTC/USDT",), rate_limit=False)
        env = {"BYBIT_API_KEY": KEY, "BYBIT_SECRET_KEY": SECRET}
        async with BybitBroker(config, env=env) as broker:
            client = broker.client
            for i in range(-WARMUP, n):
                price = 30000.0 + (i % 1000) * 0.1
                order = _order(f"o-{i}", price)
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
                    {"orderLinkId": f"d-{i}", "postOnly": True},
                )
                t3 = time.perf_counter_ns()
                # our own code per order, in-process: rounding, params, the ack
                broker.order_params(order)
                fake = {"id": "1", "clientOrderId": order.client_order_id, "status": None}
                broker._ack(fake, order.client_order_id)
                t4 = time.perf_counter_ns()
                if i >= 0:
                    ours[i], direct[i] = t1 - t0, t3 - t2
                    edge[i] = (t2 - t1) + (t4 - t3)
            await broker.cancel_all("BTC/USDT")
    return {"ours": ours, "ccxt": direct, "edge": edge}


def test_bench_bybit_roundtrip_ours_vs_ccxt_create_order(bench: Any) -> None:
    samples: dict[str, np.ndarray] = {}
    n = N_SMOKE if bench.disabled else N

    def run() -> None:
        samples.update(uvloop.run(_measure(n)))

    bench.pedantic(run, rounds=1, iterations=1)
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
