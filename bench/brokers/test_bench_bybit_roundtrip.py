"""Submit → ack on loopback: our Bybit connector beside ccxt's ``create_order``, same run.

One emulator (:class:`adapters.emulator.BybitEmulator`, spot BTCUSDT) and one ccxt
``bybit`` client on a uvloop loop run :func:`bench.brokers._roundtrip.roundtrips`:
each post-only buy goes once through :meth:`adapters.bybit.broker.BybitBroker.place_order`
(rounding and limit checks, ``orderLinkId``, ccxt, mapping the answer to an
``OrderAck``) and once through the same client's ``create_order`` with the
same strings (what a user of ccxt alone would call), interleaved.

Issue 7 target: our added overhead ≤ 50 µs p50.

Reproduce::

    .venv/bin/python -m pytest bench/brokers/test_bench_bybit_roundtrip.py \\
        -o addopts= -o testpaths=bench --benchmark-only -q
"""

from __future__ import annotations

from typing import Any

import numpy as np

from adapters.bybit.broker import BybitBroker
from adapters.bybit.config import BrokerConfig
from adapters.emulator import BybitEmulator
from adapters.emulator.bybit_trading import BybitTradingConfig
from bench.brokers._roundtrip import DATA, KEY, SECRET, roundtrips, run


async def _measure(n: int) -> dict[str, np.ndarray]:
    trading = BybitTradingConfig(
        api_key=KEY, secret_key=SECRET, symbols=("BTCUSDT",), balances={"USDT": "1e12"}
    )
    async with BybitEmulator(DATA, venue="bybit-spot", trading=trading) as emu:
        config = BrokerConfig(rest_url=emu.rest_url, symbols=("BTC/USDT",), rate_limit=False)
        env = {"BYBIT_API_KEY": KEY, "BYBIT_SECRET_KEY": SECRET}
        async with BybitBroker(config, env=env) as broker:
            return await roundtrips(broker, n, venue="bybit", tick=0.1, ack_status=None)


def test_bench_bybit_roundtrip_ours_vs_ccxt_create_order(bench: Any) -> None:
    run(bench, _measure)
