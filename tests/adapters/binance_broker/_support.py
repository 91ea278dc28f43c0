"""Helpers of the broker tests: orders, a collecting sink, an emulator with a connected broker.

Every test runs the real ccxt client (through :class:`adapters.binance.broker.BinanceBroker`)
against :class:`adapters.emulator.BinanceEmulator` on 127.0.0.1, with the emulator's
credentials in an explicit environment mapping (never ``os.environ``).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from adapters.binance.broker import BinanceBroker
from adapters.binance.config import BrokerConfig, UserStreamConfig
from adapters.binance.userstream import AccountSnapshot, OrderUpdate
from adapters.emulator import BinanceEmulator, EmulatorRecording
from adapters.emulator.binance_trading import BinanceTradingConfig, ExchangeInfo
from engine.events import OrderFilled
from engine.orders import Order, OrderType, Side, TimeInForce

DATA = Path(__file__).resolve().parents[3] / "data"
SPOT = DATA / "binance_spot" / "btcusdt_20240808.gz"
USDM = DATA / "binance_usdm" / "btcusdt_20240808.gz"
SPOT_INFO = DATA / "cryptofeed" / "BINANCE.0.gz"
USDM_INFO = DATA / "cryptofeed" / "BINANCE_FUTURES.0.gz"
CCXT_RESPONSES = DATA / "ccxt" / "binance_rest_responses_subset.json"

API_KEY = "emu-key-5f0c2a9e41d7"
SECRET = "emu-secret-b81d2f60c3e94a7d"
ENV = {"BINANCE_API_KEY": API_KEY, "BINANCE_SECRET_KEY": SECRET}
#: Seconds any single wait in these tests may take before the test fails.
TIMEOUT_S = 10.0

SPOT_SYMBOL = "BTC/USDT"
USDM_SYMBOL = "BTC/USDT:USDT"


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
        venue="binance",
        side=side,
        order_type=order_type,
        quantity=quantity,
        price=price,
        ts_created=0,
        time_in_force=time_in_force,
        reduce_only=reduce_only,
    )


class Sink:
    """A user-stream sink that keeps everything it is given."""

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


def trading_config(**overrides: Any) -> BinanceTradingConfig:
    """The emulated account with the test credentials."""
    settings: dict[str, Any] = {"api_key": API_KEY, "secret_key": SECRET}
    settings.update(overrides)
    return BinanceTradingConfig(**settings)


@contextlib.asynccontextmanager
async def venue(
    recording: EmulatorRecording,
    info: ExchangeInfo,
    *,
    usdm: bool = False,
    trading: BinanceTradingConfig | None = None,
    env: dict[str, str] | None = None,
    fast: bool = True,
    **broker: Any,
) -> AsyncIterator[tuple[BinanceEmulator, BinanceBroker]]:
    """An emulator (spot or USD-M) and a connected broker pointed at it; both closed after."""
    emulator = BinanceEmulator(
        recording,
        venue="binance-usdm" if usdm else "binance",
        fast=fast,
        trading=trading if trading is not None else trading_config(),
        exchange_info=info,
    )
    async with emulator as emu:
        settings: dict[str, Any] = {
            "market": "usdm" if usdm else "spot",
            "rest_url": emu.rest_url,
            "ws_url": emu.ws_url,
            "symbols": (USDM_SYMBOL if usdm else SPOT_SYMBOL,),
            "rate_limit": False,
            "timeout_s": 5.0,
            "user_stream": UserStreamConfig(poll_interval_s=0.05, reconnect_base_s=0.02),
        }
        settings.update(broker)
        async with BinanceBroker(BrokerConfig(**settings), env=ENV if env is None else env) as b:
            yield emu, b
