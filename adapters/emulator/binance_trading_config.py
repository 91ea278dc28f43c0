"""The emulated Binance account's settings, its faults and the exchange information it trades.

:class:`BinanceTradingConfig` (credentials, balances, fees, listen-key life,
clock skew, faults), :class:`TradingFault` (deterministic request faults),
:class:`TradingStats` (counters) and :class:`ExchangeInfo` (a recorded
``exchangeInfo`` body parsed into :class:`~adapters.emulator.matching.MarketSpec`).
Used by :mod:`adapters.emulator.binance_trading`.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterable
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec

from adapters.emulator.matching_types import MarketKind, MarketSpec
from adapters.emulator.trading_common import AccountSettings, FaultSettings, TradingCounters

__all__ = [
    "DEFAULT_EXCHANGE_INFO",
    "BinanceTradingConfig",
    "ExchangeInfo",
    "TradingFault",
    "TradingStats",
]

_encode = msgspec.json.encode

_DATA = Path(__file__).resolve().parents[2] / "data" / "cryptofeed"
#: Recorded exchange information served by default (cryptofeed's recordings, see data/SOURCES.md).
DEFAULT_EXCHANGE_INFO: dict[str, Path] = {
    "binance": _DATA / "BINANCE.0.gz",
    "binance-usdm": _DATA / "BINANCE_FUTURES.0.gz",
}


class TradingFault(FaultSettings, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One fault on the trading endpoints; each acts on the matching requests ``at``...

    Keys
    ----
    action : str
        ``timeout``, ``429``, ``418``, ``5xx`` or ``reject``.
    path : str
        Endpoint name matched (``order``, ``openOrders``, ``account``, ``myTrades``,
        ``userTrades``, ``listenKey``...; default ``order``); ``""`` matches every one.
    method : str
        HTTP method matched (default ``POST``); ``""`` matches every one.
    retry_after_s : int
        ``429``/``418``: the ``Retry-After`` header in seconds (default 1).
    status : int
        ``5xx``: the HTTP status (default 503).
    code, message :
        ``reject``: the Binance error (default ``-2010``, insufficient balance).
    at, times, delay_s, applied :
        As in :class:`~adapters.emulator.trading_common.FaultSettings` (1, 1, 2.0, False).
    """

    actions = ("timeout", "429", "418", "5xx", "reject")

    path: str = "order"
    method: str = "POST"
    retry_after_s: int = 1
    status: int = 503
    code: int = -2010
    message: str = "Account has insufficient balance for requested action."


class BinanceTradingConfig(AccountSettings, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The emulated account and its venue.

    Keys
    ----
    maker_fee, taker_fee : str
        Commission rates; default ``""``: spot 0.001/0.001, futures 0.0002/0.0005.
    leverage : int
        Futures leverage (default 20).
    symbols : tuple[str, ...]
        Serve only these symbols of the exchange information (default: all).
    listen_key_ttl_s : float
        How long a listen key lives after its last keep-alive (default 3600).
    faults : tuple[TradingFault, ...]
        Faults active from the start (more can be injected later).
    duplicate_user_events : bool
        Send every user-data-stream event twice (default False).
    order_id_start, trade_id_start : int
        First venue order id and trade id (defaults 1000 and 5000).
    api_key, secret_key, balances, clock_offset_ms :
        As in :class:`~adapters.emulator.trading_common.AccountSettings`.
    """

    leverage: int = 20
    listen_key_ttl_s: float = 3600.0
    faults: tuple[TradingFault, ...] = ()
    duplicate_user_events: bool = False
    order_id_start: int = 1000
    trade_id_start: int = 5000


class TradingStats(TradingCounters, kw_only=True):
    """Counters of the trading endpoints (and listen keys made, user-stream events sent)."""

    listen_keys: int = 0
    user_events: int = 0


def _dec(value: str) -> Decimal:
    return Decimal(value) if value else Decimal(0)


class ExchangeInfo:
    """A recorded ``exchangeInfo`` body and the markets parsed from it.

    Parameters
    ----------
    body :
        The JSON body as Binance sent it.
    futures :
        A ``/fapi/v1/exchangeInfo`` body (``pricePrecision``, ``notional`` filter).
    """

    def __init__(self, body: dict[str, Any], *, futures: bool) -> None:
        self.body = body
        self.futures = futures
        self.markets: dict[str, MarketSpec] = {}
        #: Spot: the name of the notional filter (``MIN_NOTIONAL`` or ``NOTIONAL``).
        self.notional_filter: dict[str, str] = {}
        for entry in body.get("symbols", []):
            spec = self._parse(entry)
            if spec is not None:
                self.markets[spec.symbol] = spec

    @classmethod
    def load(cls, path: str | Path, *, futures: bool) -> ExchangeInfo:
        """Read cryptofeed's ``<url> -> <ts>: <json>`` recording or a JSON file (gzip or not)."""
        raw = Path(path).read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
        first = raw.split(b"\n", 1)[0]
        if not first.lstrip().startswith(b"{"):
            first = first.split(b": ", 1)[1]
        return cls(msgspec.json.decode(first), futures=futures)

    def subset(self, symbols: Iterable[str]) -> ExchangeInfo:
        """The same information with only ``symbols`` (unknown ones are ignored)."""
        keep = {s.upper() for s in symbols}
        body = dict(self.body)
        body["symbols"] = [e for e in self.body.get("symbols", []) if e.get("symbol") in keep]
        return ExchangeInfo(body, futures=self.futures)

    def encoded(self, now_ms: int) -> bytes:
        """The body with ``serverTime`` set to ``now_ms``."""
        body = dict(self.body)
        body["serverTime"] = now_ms
        return _encode(body)

    def _parse(self, entry: dict[str, Any]) -> MarketSpec | None:
        filters = {f.get("filterType"): f for f in entry.get("filters", [])}
        price, lot = filters.get("PRICE_FILTER"), filters.get("LOT_SIZE")
        if price is None or lot is None:
            return None
        market_lot = filters.get("MARKET_LOT_SIZE", {})
        if self.futures:
            notional = _dec(filters.get("MIN_NOTIONAL", {}).get("notional", ""))
            price_decimals = int(entry.get("pricePrecision", 8))
            quantity_decimals = int(entry.get("quantityPrecision", 8))
        else:
            name = "MIN_NOTIONAL" if "MIN_NOTIONAL" in filters else "NOTIONAL"
            self.notional_filter[entry["symbol"]] = name
            notional = _dec(filters.get(name, {}).get("minNotional", ""))
            price_decimals = int(entry.get("quoteAssetPrecision", entry.get("quotePrecision", 8)))
            quantity_decimals = int(entry.get("baseAssetPrecision", 8))
        return MarketSpec(
            symbol=entry["symbol"],
            base=entry["baseAsset"],
            quote=entry["quoteAsset"],
            kind=MarketKind.LINEAR if self.futures else MarketKind.SPOT,
            tick_size=_dec(price.get("tickSize", "")),
            step_size=_dec(lot.get("stepSize", "")),
            min_price=_dec(price.get("minPrice", "")),
            max_price=_dec(price.get("maxPrice", "")),
            min_qty=_dec(lot.get("minQty", "")),
            max_qty=_dec(lot.get("maxQty", "")),
            market_step_size=_dec(market_lot.get("stepSize", "")),
            market_min_qty=_dec(market_lot.get("minQty", "")),
            market_max_qty=_dec(market_lot.get("maxQty", "")),
            min_notional=notional,
            price_decimals=price_decimals,
            quantity_decimals=quantity_decimals,
            trading=entry.get("status") == "TRADING",
        )
