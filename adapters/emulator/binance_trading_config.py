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


class TradingFault(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
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
    at : int
        The first matching request acted on, 1-based (default 1).
    times : int
        How many consecutive matching requests (default 1; 0: every one from ``at``).
    delay_s : float
        ``timeout``: how long the answer is withheld (default 2.0).
    retry_after_s : int
        ``429``/``418``: the ``Retry-After`` header in seconds (default 1).
    status : int
        ``5xx``: the HTTP status (default 503).
    applied : bool
        ``5xx``: the request takes effect before the error (default False).
    code, message :
        ``reject``: the Binance error (default ``-2010``, insufficient balance).
    """

    action: str
    path: str = "order"
    method: str = "POST"
    at: int = 1
    times: int = 1
    delay_s: float = 2.0
    retry_after_s: int = 1
    status: int = 503
    applied: bool = False
    code: int = -2010
    message: str = "Account has insufficient balance for requested action."

    def __post_init__(self) -> None:
        if self.action not in ("timeout", "429", "418", "5xx", "reject"):
            raise ValueError(
                f"action must be timeout, 429, 418, 5xx or reject, was {self.action!r}"
            )
        if self.at < 1 or self.times < 0:
            raise ValueError(f"at must be >= 1 and times >= 0, were {self.at} and {self.times}")
        if not 500 <= self.status <= 599:
            raise ValueError(f"status must be a 5xx status, was {self.status}")


def _balances_default() -> dict[str, str]:
    return {}


class BinanceTradingConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The emulated account and its venue.

    Keys
    ----
    api_key, secret_key : str
        The credentials requests must carry (emulator-only values).
    balances : dict[str, str]
        Starting balances; default spot ``{"USDT": "100000", "BTC": "1"}``, futures
        ``{"USDT": "100000"}`` (wallet balance).
    maker_fee, taker_fee : str
        Commission rates; default ``""``: spot 0.001/0.001, futures 0.0002/0.0005.
    leverage : int
        Futures leverage (default 20).
    symbols : tuple[str, ...]
        Serve only these symbols of the exchange information (default: all).
    listen_key_ttl_s : float
        How long a listen key lives after its last keep-alive (default 3600).
    clock_offset_ms : int
        The venue's clock runs this far ahead of the local clock (default 0).
    faults : tuple[TradingFault, ...]
        Faults active from the start (more can be injected later).
    duplicate_user_events : bool
        Send every user-data-stream event twice (default False).
    order_id_start, trade_id_start : int
        First venue order id and trade id (defaults 1000 and 5000).
    """

    api_key: str = "emulator-api-key"
    secret_key: str = "emulator-secret-key"
    balances: dict[str, str] = msgspec.field(default_factory=_balances_default)
    maker_fee: str = ""
    taker_fee: str = ""
    leverage: int = 20
    symbols: tuple[str, ...] = ()
    listen_key_ttl_s: float = 3600.0
    clock_offset_ms: int = 0
    faults: tuple[TradingFault, ...] = ()
    duplicate_user_events: bool = False
    order_id_start: int = 1000
    trade_id_start: int = 5000


class TradingStats(msgspec.Struct, kw_only=True):
    """Counters of the trading endpoints."""

    requests: int = 0
    orders_placed: int = 0
    orders_rejected: int = 0
    cancels: int = 0
    auth_failures: int = 0
    faults: int = 0
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
