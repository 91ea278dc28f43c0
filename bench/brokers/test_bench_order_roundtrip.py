"""Submit → ack on loopback: our Binance connector beside ccxt's ``create_order``, same run.

One emulator (:class:`adapters.emulator.BinanceEmulator`, spot BTCUSDT) and one ccxt
``binance`` client on a uvloop loop run :func:`bench.brokers._roundtrip.roundtrips`:
each post-only buy goes once through :meth:`adapters.binance.broker.BinanceBroker.place_order`
(rounding and limit checks, client order id, ccxt, mapping the answer to an
``OrderAck``) and once through the same client's ``create_order`` with the
same strings (what a user of ccxt alone would call), interleaved.

Issue 7 target: our added overhead ≤ 50 µs p50.

Reproduce::

    .venv/bin/python -m pytest bench/brokers/test_bench_order_roundtrip.py \\
        -o addopts= -o testpaths=bench --benchmark-only -q
"""

from __future__ import annotations

from typing import Any

import numpy as np

from adapters.binance.broker import BinanceBroker
from adapters.binance.config import BrokerConfig
from adapters.emulator import BinanceEmulator
from adapters.emulator.binance_trading import BinanceTradingConfig
from bench.brokers._roundtrip import DATA, KEY, SECRET, roundtrips, run


async def _measure(n: int) -> dict[str, np.ndarray]:
    trading = BinanceTradingConfig(
        api_key=KEY, secret_key=SECRET, symbols=("BTCUSDT",), balances={"USDT": "1e12"}
    )
    async with BinanceEmulator(DATA, trading=trading) as emu:
        config = BrokerConfig(rest_url=emu.rest_url, symbols=("BTC/USDT",), rate_limit=False)
        env = {"BINANCE_API_KEY": KEY, "BINANCE_SECRET_KEY": SECRET}
        async with BinanceBroker(config, env=env) as broker:
            return await roundtrips(broker, n, venue="binance", tick=0.01, ack_status="open")


def test_bench_order_roundtrip_ours_vs_ccxt_create_order(bench: Any) -> None:
    run(bench, _measure)
