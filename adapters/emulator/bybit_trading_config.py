"""The emulated Bybit account's settings, its faults and the instruments it trades.

:class:`BybitTradingConfig` (credentials, balances, fees, leverage, clock skew,
faults), :class:`BybitTradingFault` (deterministic request faults),
:class:`BybitTradingStats` (counters) and :class:`InstrumentsInfo` (recorded
``/v5/market/instruments-info`` bodies parsed into
:class:`~adapters.emulator.matching.MarketSpec`). Used by
:mod:`adapters.emulator.bybit_trading`.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from adapters.emulator.matching_types import MarketKind, MarketSpec
from adapters.emulator.trading_common import AccountSettings, FaultSettings, TradingCounters

__all__ = [
    "DEFAULT_INSTRUMENTS",
    "BybitTradingConfig",
    "BybitTradingFault",
    "BybitTradingStats",
    "InstrumentsInfo",
    "decimals",
]

#: Recorded instruments (ccxt's static markets file, see data/SOURCES.md).
DEFAULT_INSTRUMENTS = (
    Path(__file__).resolve().parents[2] / "data" / "ccxt" / "bybit_instruments_info.json"
)
_ZERO = Decimal(0)


class BybitTradingFault(FaultSettings, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One fault on the trading endpoints; it acts on the matching requests ``at``...

    Keys
    ----
    action : str
        ``timeout``, ``rate_limit``, ``403``, ``5xx`` or ``reject``.
    path : str
        Endpoint after ``/v5/`` (default ``order/create``); ``""`` matches every one.
    reset_ms : int
        ``rate_limit``: ``X-Bapi-Limit-Reset-Timestamp`` is now plus this (default 1000).
    status : int
        ``5xx``: the HTTP status (default 502).
    code, message :
        ``reject``: the ``retCode``/``retMsg`` (default ``10016``, ``Server error.``).
    at, times, delay_s, applied :
        As in :class:`~adapters.emulator.trading_common.FaultSettings` (1, 1, 2.0, False).
    """

    actions = ("timeout", "rate_limit", "403", "5xx", "reject")

    path: str = "order/create"
    reset_ms: int = 1000
    status: int = 502
    code: int = 10016
    message: str = "Server error."


class BybitTradingConfig(AccountSettings, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The emulated account and its venue.

    Keys
    ----
    maker_fee, taker_fee : str
        Commission rates; default ``""``: spot 0.001/0.001, linear 0.0002/0.00055.
    leverage : int
        Linear leverage (default 10).
    symbols : tuple[str, ...]
        Trade only these instruments (default: all recorded ones of the category).
    faults : tuple[BybitTradingFault, ...]
        Faults active from the start (more can be injected later).
    duplicate_private_events : bool
        Send every private-stream message twice (default False).
    api_key, secret_key, balances, clock_offset_ms :
        As in :class:`~adapters.emulator.trading_common.AccountSettings`.
    """

    leverage: int = 10
    faults: tuple[BybitTradingFault, ...] = ()
    duplicate_private_events: bool = False


class BybitTradingStats(TradingCounters, kw_only=True):
    """Counters of the trading endpoints and the private stream."""

    private_connections: int = 0
    private_messages: int = 0


def _dec(text: str) -> Decimal:
    return Decimal(text) if text else _ZERO


def decimals(value: Decimal) -> int:
    """How many decimals ``value`` has, trailing zeros left out (``Decimal("0.10")``: 1)."""
    exponent = value.normalize().as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


class InstrumentsInfo:
    """Recorded ``/v5/market/instruments-info`` bodies per category and the markets in them."""

    def __init__(self, bodies: dict[str, dict[str, Any]]) -> None:
        self.bodies = bodies

    @classmethod
    def load(cls, path: str | Path = DEFAULT_INSTRUMENTS) -> InstrumentsInfo:
        """Read ``{"spot": body, "linear": body}`` (the file in ``data/ccxt``)."""
        raw = json.loads(Path(path).read_text())
        return cls({k: v for k, v in raw.items() if k in ("spot", "linear")})

    def entries(self, category: str) -> list[dict[str, Any]]:
        """The instrument entries of ``category`` (none for a category not recorded)."""
        body = self.bodies.get(category) or {}
        return list((body.get("result") or {}).get("list") or [])

    def markets(self, category: str, symbols: tuple[str, ...] = ()) -> dict[str, MarketSpec]:
        """The category's markets (of ``symbols`` only, when given) as engine specs."""
        out: dict[str, MarketSpec] = {}
        for entry in self.entries(category):
            if symbols and entry["symbol"] not in symbols:
                continue
            lot, price = entry.get("lotSizeFilter") or {}, entry.get("priceFilter") or {}
            tick = _dec(price.get("tickSize", ""))
            if category == "spot":
                step, notional = _dec(lot.get("basePrecision", "")), lot.get("minOrderAmt", "")
                market: dict[str, Decimal] = {}
            else:
                step, notional = _dec(lot.get("qtyStep", "")), lot.get("minNotionalValue", "")
                market = {
                    "market_step_size": step,
                    "market_min_qty": _dec(lot.get("minOrderQty", "")),
                    "market_max_qty": _dec(lot.get("maxMktOrderQty", "")),
                }
            out[entry["symbol"]] = MarketSpec(
                symbol=entry["symbol"],
                base=entry["baseCoin"],
                quote=entry["quoteCoin"],
                kind=MarketKind.SPOT if category == "spot" else MarketKind.LINEAR,
                tick_size=tick,
                step_size=step,
                min_price=_dec(price.get("minPrice", "")),
                max_price=_dec(price.get("maxPrice", "")),
                min_qty=_dec(lot.get("minOrderQty", "")),
                max_qty=_dec(lot.get("maxOrderQty", "")),
                min_notional=_dec(notional),
                price_decimals=decimals(tick),
                quantity_decimals=decimals(step),
                trading=entry.get("status") == "Trading",
                **market,
            )
        return out
