"""Instruments: what can be traded, with the exchange's increments and limits.

Symbols are ccxt unified symbols (``BTC/USDT`` spot, ``BTC/USDT:USDT`` linear
perpetual); the venue-native symbol (``BTCUSDT``) lives only inside adapters
and in :attr:`Instrument.venue_symbol`.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from enum import StrEnum

import msgspec

__all__ = [
    "MARGINED_KINDS",
    "AssetClass",
    "Instrument",
    "InstrumentKind",
    "InstrumentRegistry",
    "UnknownSymbolError",
    "default_instruments",
    "step_decimals",
]


class AssetClass(StrEnum):
    """Asset classes the concentration limits group by."""

    CRYPTO = "crypto"
    FOREX = "forex"
    STOCK = "stock"
    FUTURE = "future"
    COMMODITY = "commodity"


class InstrumentKind(StrEnum):
    """How an instrument settles, which decides how a fill moves cash.

    ``SPOT``, ``STOCK``, ``FOREX`` and ``COMMODITY`` are fully funded: a buy
    pays the notional in cash. ``PERPETUAL`` (linear perpetual swap) and
    ``FUTURE`` (linear dated future) are margined: cash moves only by realized
    P&L, fees and (perpetuals) funding, and the notional ties up
    ``initial_margin`` of it as margin. The asset class (what the exposure is
    grouped by) is a separate field: a gold future is ``kind=FUTURE,
    asset_class=COMMODITY``.
    """

    SPOT = "spot"
    PERPETUAL = "perpetual"
    FUTURE = "future"
    STOCK = "stock"
    FOREX = "forex"
    COMMODITY = "commodity"


#: Kinds booked as margined derivatives (cash moves by P&L, not by notional).
MARGINED_KINDS = frozenset((InstrumentKind.PERPETUAL, InstrumentKind.FUTURE))


class UnknownSymbolError(KeyError):
    """A symbol that no configured instrument matches."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown symbol"


class Instrument(msgspec.Struct, frozen=True, kw_only=True):
    """A tradable instrument on one venue.

    Parameters
    ----------
    symbol : str
        ccxt unified symbol, e.g. ``BTC/USDT``.
    venue : str
        Venue id, e.g. ``binance``.
    venue_symbol : str
        The venue's own name, e.g. ``BTCUSDT``.
    base, quote : str
        Base and quote currencies.
    asset_class : AssetClass
        Used by exposure and concentration limits.
    sector : str
        Free-form sector label (``"crypto-l1"``, ``"technology"``...).
    tick_size : float
        Price increment (> 0).
    lot_size : float
        Quantity increment (> 0).
    min_notional : float
        Smallest order value in the quote currency (>= 0).
    contract_multiplier : float
        Quote value of one unit of quantity per unit of price (1 for spot).
    kind : InstrumentKind, default ``InstrumentKind.SPOT``
        Settlement type; ``PERPETUAL`` and ``FUTURE`` are margined.
    initial_margin : float, default 0.1
        Initial margin rate of a margined instrument, a fraction of the
        notional in (0, 1]; 0.1 is 10x, the risk engine's default leverage
        cap. Ignored for fully funded kinds.
    margin_rate : float, default 0.005
        Maintenance margin rate, a fraction of the notional in
        [0, ``initial_margin``]; 0.005 is a generic first tier (Binance USD-M
        BTCUSDT's lowest tier is 0.004). Ignored for fully funded kinds.
    settle_currency : str, default ""
        Currency P&L and margin settle in; empty means the quote currency
        (see :attr:`settlement_currency`).
    """

    symbol: str
    venue: str
    venue_symbol: str
    base: str
    quote: str
    asset_class: AssetClass = AssetClass.CRYPTO
    sector: str = "crypto"
    tick_size: float
    lot_size: float
    min_notional: float = 0.0
    contract_multiplier: float = 1.0
    kind: InstrumentKind = InstrumentKind.SPOT
    initial_margin: float = 0.1
    margin_rate: float = 0.005
    settle_currency: str = ""

    def __post_init__(self) -> None:
        for name in ("tick_size", "lot_size", "contract_multiplier"):
            value = getattr(self, name)
            if not (value > 0 and math.isfinite(value)):
                raise ValueError(f"{self.symbol}: {name} must be > 0, was {value}")
        if not self.min_notional >= 0:
            raise ValueError(f"{self.symbol}: min_notional must be >= 0, was {self.min_notional}")
        if not 0.0 < self.initial_margin <= 1.0:
            raise ValueError(
                f"{self.symbol}: initial_margin must be in (0, 1], was {self.initial_margin}"
            )
        if not 0.0 <= self.margin_rate <= self.initial_margin:
            raise ValueError(
                f"{self.symbol}: margin_rate must be in [0, initial_margin="
                f"{self.initial_margin}], was {self.margin_rate}"
            )

    @property
    def is_margined(self) -> bool:
        """True for margined derivatives (perpetuals, futures)."""
        return self.kind in MARGINED_KINDS

    @property
    def settlement_currency(self) -> str:
        """Return ``settle_currency``, or the quote currency when it is empty."""
        return self.settle_currency or self.quote

    def price_to_ticks(self, price: float) -> int:
        """Return the price as an integer number of ticks (nearest)."""
        return round(price / self.tick_size)

    def ticks_to_price(self, ticks: int) -> float:
        """Return the price of an integer tick count."""
        return round(ticks * self.tick_size, step_decimals(self.tick_size))

    def round_price(self, price: float) -> float:
        """Round ``price`` to the nearest tick."""
        return self.ticks_to_price(self.price_to_ticks(price))

    def round_quantity(self, quantity: float) -> float:
        """Round ``quantity`` down to the lot size (never size up an order)."""
        lots = math.floor(quantity / self.lot_size + 1e-9)
        return round(lots * self.lot_size, step_decimals(self.lot_size))


def step_decimals(step: float) -> int:
    """Return the decimal places of a tick or lot size as written (0.01 → 2, 0.5 → 1, 5.0 → 0).

    Multiples of ``step`` are exact decimals with this many places, so rounding
    to it (or dividing an integer by ``10**step_decimals(step)``) gives exactly
    the double a venue's decimal string parses to.
    """
    text = repr(step)
    if "e" in text or "E" in text:
        mantissa, _, exponent = text.lower().partition("e")
        digits = len(mantissa.partition(".")[2].rstrip("0"))
        return max(0, digits - int(exponent))
    return len(text.partition(".")[2].rstrip("0"))


class InstrumentRegistry:
    """Instruments by unified symbol; unknown symbols are an error that names them."""

    __slots__ = ("_by_symbol", "_by_venue_symbol")

    def __init__(self, instruments: list[Instrument] | tuple[Instrument, ...] = ()) -> None:
        self._by_symbol: dict[str, Instrument] = {}
        self._by_venue_symbol: dict[tuple[str, str], Instrument] = {}
        for instrument in instruments:
            self.add(instrument)

    def add(self, instrument: Instrument) -> None:
        """Register ``instrument`` (replacing one with the same symbol)."""
        self._by_symbol[instrument.symbol] = instrument
        self._by_venue_symbol[(instrument.venue, instrument.venue_symbol)] = instrument

    def get(self, symbol: str) -> Instrument:
        """Return the instrument for ``symbol`` or raise :class:`UnknownSymbolError`."""
        try:
            return self._by_symbol[symbol]
        except KeyError:
            known = ", ".join(sorted(self._by_symbol)) or "none"
            raise UnknownSymbolError(f"unknown symbol '{symbol}' (known: {known})") from None

    def by_venue_symbol(self, venue: str, venue_symbol: str) -> Instrument:
        """Return the instrument a venue calls ``venue_symbol``."""
        try:
            return self._by_venue_symbol[(venue, venue_symbol)]
        except KeyError:
            raise UnknownSymbolError(
                f"unknown symbol '{venue_symbol}' on venue '{venue}'"
            ) from None

    def __contains__(self, symbol: object) -> bool:
        return symbol in self._by_symbol

    def __iter__(self) -> Iterator[Instrument]:
        return iter(self._by_symbol.values())

    def __len__(self) -> int:
        return len(self._by_symbol)


def default_instruments() -> InstrumentRegistry:
    """Return the built-in instruments (Binance spot filters as published for BTCUSDT/ETHUSDT).

    Binance spot ``exchangeInfo`` for BTCUSDT: PRICE_FILTER tickSize 0.01,
    LOT_SIZE stepSize 0.00001, NOTIONAL minNotional 5.
    """
    return InstrumentRegistry(
        [
            Instrument(
                symbol="BTC/USDT",
                venue="binance",
                venue_symbol="BTCUSDT",
                base="BTC",
                quote="USDT",
                sector="crypto-l1",
                tick_size=0.01,
                lot_size=0.00001,
                min_notional=5.0,
            ),
            Instrument(
                symbol="ETH/USDT",
                venue="binance",
                venue_symbol="ETHUSDT",
                base="ETH",
                quote="USDT",
                sector="crypto-l1",
                tick_size=0.01,
                lot_size=0.0001,
                min_notional=5.0,
            ),
        ]
    )
