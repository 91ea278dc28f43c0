"""Helpers of the Bybit broker tests: orders, a collecting sink, an emulator with a broker.

Every test runs the real ccxt ``bybit`` client (through
:class:`adapters.bybit.broker.BybitBroker`) against
:class:`adapters.emulator.BybitEmulator` on 127.0.0.1, with the emulator's
credentials in an explicit environment mapping (never ``os.environ``).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import math
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

from adapters.binance.userstream import AccountSnapshot, OrderUpdate
from adapters.bybit.broker import BybitBroker
from adapters.bybit.config import BrokerConfig, UserStreamConfig
from adapters.emulator import BybitEmulator, EmulatorRecording
from adapters.emulator.bybit_trading import BybitTradingConfig, InstrumentsInfo
from engine.events import OrderFilled
from engine.orders import Order, OrderType, Side, TimeInForce

DATA = Path(__file__).resolve().parents[3] / "data"
SPOT = DATA / "binance_spot" / "btcusdt_20240808.gz"
USDM = DATA / "binance_usdm" / "btcusdt_20240808.gz"
INSTRUMENTS = DATA / "ccxt" / "bybit_instruments_info.json"
CCXT_RESPONSES = DATA / "ccxt" / "bybit_rest_responses_subset.json"

API_KEY = "bybit-emu-key-7c1e94d2"
SECRET = "bybit-emu-secret-3a9f0b6e51d8"
ENV = {"BYBIT_API_KEY": API_KEY, "BYBIT_SECRET_KEY": SECRET}
#: Seconds any single wait in these tests may take before the test fails.
TIMEOUT_S = 10.0

SPOT_SYMBOL = "BTC/USDT"
LINEAR_SYMBOL = "BTC/USDT:USDT"


def order(
    cid: str,
    side: Side,
    order_type: OrderType,
    quantity: float,
    price: float = math.nan,
    *,
    symbol: str = SPOT_SYMBOL,
    time_in_force: TimeInForce | None = None,
    reduce_only: bool = False,
) -> Order:
    """An engine order as the strategies make them."""
    return Order(
        client_order_id=cid,
        symbol=symbol,
        venue="bybit",
        side=side,
        order_type=order_type,
        quantity=quantity,
        price=price,
        ts_created=0,
        time_in_force=time_in_force,
        reduce_only=reduce_only,
    )


class Sink:
    """A private-stream sink that keeps everything it is given."""

    def __init__(self) -> None:
        self.fills: list[OrderFilled] = []
        self.updates: list[OrderUpdate] = []
        self.accounts: list[AccountSnapshot] = []

    def on_order_update(self, update: OrderUpdate) -> None:
        self.updates.append(update)

    def on_fill(self, fill: OrderFilled) -> None:
        self.fills.append(fill)

    def on_account(self, snapshot: AccountSnapshot) -> None:
        self.accounts.append(snapshot)


def trading_config(**overrides: Any) -> BybitTradingConfig:
    """The emulated account with the test credentials."""
    settings: dict[str, Any] = {"api_key": API_KEY, "secret_key": SECRET}
    settings.update(overrides)
    return BybitTradingConfig(**settings)


def sign(secret: str, timestamp: str, key: str, window: str, payload: str) -> str:
    """Bybit's v5 signature, from its docs: HMAC-SHA256(ts + key + recvWindow + payload)."""
    text = timestamp + key + window + payload
    return hmac.new(secret.encode(), text.encode(), hashlib.sha256).hexdigest()


def walk(levels: list[list[str]], quantity: Decimal) -> list[tuple[Decimal, Decimal]]:
    """The taker fills of ``quantity`` against ``levels`` (best first)."""
    fills, left = [], quantity
    for price, size in levels:
        if left <= 0:
            break
        take = min(left, Decimal(size))
        fills.append((Decimal(price), take))
        left -= take
    assert left == 0, "the test's quantity exceeds the recorded book"
    return fills


@contextlib.asynccontextmanager
async def venue(
    recording: EmulatorRecording,
    instruments: InstrumentsInfo,
    *,
    linear: bool = False,
    trading: BybitTradingConfig | None = None,
    env: dict[str, str] | None = None,
    **broker: Any,
) -> AsyncIterator[tuple[BybitEmulator, BybitBroker]]:
    """An emulator (spot or linear) and a connected broker pointed at it; both closed after."""
    emulator = BybitEmulator(
        recording,
        venue="bybit-linear" if linear else "bybit-spot",
        fast=True,
        trading=trading if trading is not None else trading_config(),
        instruments=instruments,
    )
    async with emulator as emu:
        settings: dict[str, Any] = {
            "category": "linear" if linear else "spot",
            "rest_url": emu.rest_url,
            "ws_url": emu.ws_url,
            "symbols": (LINEAR_SYMBOL if linear else SPOT_SYMBOL,),
            "rate_limit": False,
            "timeout_s": 5.0,
            "user_stream": UserStreamConfig(poll_interval_s=0.05, reconnect_base_s=0.02),
        }
        settings.update(broker)
        async with BybitBroker(BrokerConfig(**settings), env=ENV if env is None else env) as b:
            yield emu, b
