"""Venue factory: the :class:`~engine.broker.BrokerConnector` of a venue, from config + environment.

The composition root's one place that turns a venue name into a connected
connector, with the instruments traded there and a reference price source
for the pre-trade checks (:class:`OperatorVenue`):

=================  ==========================================================================
``--venue``        connector
=================  ==========================================================================
``paper``          :class:`adapters.paper.broker.PaperBroker`: the simulated venue, its books
                   replayed from ``data.path`` (``engine.symbols``), the account kept in
                   ``paper.account_file`` (starting with ``engine.initial_cash``
                   ``engine.quote_currency``)
``binance``        :class:`adapters.binance.broker.BinanceBroker`, spot, ``[venues.binance]``
``binance-usdm``   the same, USD-M futures, ``[venues.binance_usdm]``
``bybit-spot``     :class:`adapters.bybit.broker.BybitBroker`, spot, ``[venues.bybit]``
``bybit-linear``   the same, linear perpetuals
``ib``             :class:`adapters.ib.IbBroker` through TWS / IB Gateway, ``[venues.ib]``
=================  ==========================================================================

Instruments: the paper venue trades the built-in instruments
(:func:`engine.instruments.default_instruments`) of ``engine.symbols``; ccxt venues every market the
venue lists (tick, lot, minimum notional and contract size from its exchange
information, read at connect); IB the symbols of ``[venues.ib.contracts]``.

Secrets come from the environment only (``BINANCE_API_KEY``/``BINANCE_SECRET_KEY``,
``BYBIT_API_KEY``/``BYBIT_SECRET_KEY``, ``IB_ACCOUNT``); a missing key is an
:class:`~engine.broker.AuthenticationError` naming the variable, never its value.
"""

from __future__ import annotations

import importlib
import math
import os
import re
from collections.abc import Callable, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

from ccxt.base.errors import BaseError as CcxtError

from engine.broker import BrokerConnector
from engine.config import Config, IbContractVenueConfig
from engine.instruments import (
    AssetClass,
    Instrument,
    InstrumentKind,
    InstrumentRegistry,
    UnknownSymbolError,
    default_instruments,
)

__all__ = [
    "VENUES",
    "OperatorVenue",
    "VenueNotAvailableError",
    "build_venue",
    "ib_instruments",
]

#: The venue names the operator commands accept.
VENUES: tuple[str, ...] = ("paper", "binance", "binance-usdm", "bybit-spot", "bybit-linear", "ib")

_PROJECT_ROOT = Path(__file__).resolve().parent.parent
_DATED = re.compile(r"-\d{6}$")
_METALS = frozenset({"XAU", "XAG", "XPT", "XPD"})
#: ISO codes of the currencies IB trades as forex pairs (IDEALPRO).
_CURRENCIES = frozenset(
    {
        "AUD", "CAD", "CHF", "CNH", "CZK", "DKK", "EUR", "GBP", "HKD", "HUF", "ILS", "JPY",
        "KRW", "MXN", "NOK", "NZD", "PLN", "SEK", "SGD", "TRY", "USD", "ZAR",
    }
)  # fmt: skip
_KINDS: dict[str, tuple[InstrumentKind, AssetClass]] = {
    "stock": (InstrumentKind.STOCK, AssetClass.STOCK),
    "future": (InstrumentKind.FUTURE, AssetClass.FUTURE),
    "forex": (InstrumentKind.FOREX, AssetClass.FOREX),
    "commodity": (InstrumentKind.COMMODITY, AssetClass.COMMODITY),
}


class VenueNotAvailableError(Exception):
    """The venue's adapter is not part of this build, or the venue name is unknown."""


class OperatorVenue:
    """One venue for the operator commands: its connector, instruments and reference prices.

    Parameters
    ----------
    name : str
        The ``--venue`` name.
    connector : BrokerConnector
        The venue's connector (not yet connected).
    instruments : InstrumentRegistry
        What can be traded there (ccxt venues fill it at :meth:`connect`).
    """

    def __init__(
        self, name: str, connector: BrokerConnector, instruments: InstrumentRegistry
    ) -> None:
        self.name = name
        self.connector = connector
        self.instruments = instruments

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, {len(self.instruments)} instruments)"

    async def connect(self) -> None:
        """Connect the connector (raises its :class:`~engine.broker.BrokerError`)."""
        await self.connector.connect()

    async def reference_price(self, symbol: str) -> float:
        """The price the pre-trade checks value ``symbol`` at (NaN when the venue has none)."""
        return math.nan

    async def close(self) -> None:
        """Release the connector (its HTTP session, socket or account file)."""
        close = getattr(self.connector, "close", None)
        if close is not None:
            await close()


class _PaperVenue(OperatorVenue):
    async def reference_price(self, symbol: str) -> float:
        markets = self.connector.markets  # type: ignore[attr-defined]
        market = markets.get(symbol)
        return math.nan if market is None else float(market.reference_price())


class _CcxtVenue(OperatorVenue):
    """A ccxt connector: instruments from the venue's markets; reference = order book mid."""

    def __init__(self, name: str, connector: Any, venue: str, wanted: tuple[str, ...]) -> None:
        super().__init__(name, connector, InstrumentRegistry())
        self.venue = venue
        self.wanted = wanted

    async def connect(self) -> None:
        await self.connector.connect()
        client = self.connector.client
        for symbol, rules in self.connector.rules.items():
            market = client.markets.get(symbol) or {}
            instrument = _ccxt_instrument(self.venue, symbol, rules, market)
            if instrument is not None:
                self.instruments.add(instrument)

    async def reference_price(self, symbol: str) -> float:
        try:
            book = await self.connector.client.fetch_order_book(symbol, 5)
        except (CcxtError, OSError, TimeoutError) as exc:
            raise self.connector.map_error(exc, "reference price") from exc
        bids, asks = book.get("bids") or [], book.get("asks") or []
        if bids and asks:
            return (float(bids[0][0]) + float(asks[0][0])) / 2.0
        if bids or asks:
            return float((bids or asks)[0][0])
        return math.nan

    async def close(self) -> None:
        await self.connector.close()


def _ccxt_instrument(
    venue: str, symbol: str, rules: Any, market: Mapping[str, Any]
) -> Instrument | None:
    tick = float(rules.tick_size) if rules.tick_size > 0 else 1e-8
    lot = float(rules.step_size) if rules.step_size > 0 else 1e-8
    minimum: Decimal | None = rules.min_notional
    contract = bool(market.get("contract"))
    if contract and not market.get("linear"):
        return None  # inverse contracts settle in the base asset: not modelled
    kind = InstrumentKind.SPOT
    if contract:
        kind = InstrumentKind.FUTURE if market.get("future") else InstrumentKind.PERPETUAL
    base = str(market.get("base") or symbol.partition("/")[0])
    quote = str(market.get("quote") or symbol.partition("/")[2].partition(":")[0])
    return Instrument(
        symbol=symbol,
        venue=venue,
        venue_symbol=str(market.get("id") or symbol),
        base=base,
        quote=quote,
        tick_size=tick,
        lot_size=lot,
        min_notional=float(minimum) if minimum is not None else 0.0,
        contract_multiplier=float(market.get("contractSize") or 1.0) if contract else 1.0,
        kind=kind,
        settle_currency=str(market.get("settle") or "") if contract else "",
    )


def ib_instruments(config: Config) -> InstrumentRegistry:
    """The instruments of ``[venues.ib.contracts]`` (kind inferred from the symbol when unset).

    Examples
    --------
    >>> from engine.config import load_config
    >>> ib_instruments(load_config(env={})).__len__()
    0
    """
    ib = config.venues.ib
    return InstrumentRegistry(
        [_ib_instrument(ib.venue, symbol, entry) for symbol, entry in ib.contracts.items()]
    )


def _ib_instrument(venue: str, symbol: str, entry: IbContractVenueConfig) -> Instrument:
    base, _, rest = symbol.partition("/")
    quote, _, settle = rest.partition(":")
    settle = _DATED.sub("", settle)
    kind_name = entry.kind or _infer_kind(symbol, base, quote)
    kind, asset_class = _KINDS[kind_name]
    if kind is InstrumentKind.FOREX:
        venue_symbol = f"{base}.{quote}"
    elif kind is InstrumentKind.COMMODITY:
        venue_symbol = f"{base}{quote}"
    else:
        venue_symbol = entry.local_symbol or base
    return Instrument(
        symbol=symbol,
        venue=venue,
        venue_symbol=venue_symbol,
        base=base,
        quote=quote,
        asset_class=asset_class,
        sector=asset_class.value,
        tick_size=entry.tick_size,
        lot_size=entry.lot_size,
        contract_multiplier=entry.multiplier,
        kind=kind,
        settle_currency=settle if settle != quote else "",
    )


def _infer_kind(symbol: str, base: str, quote: str) -> str:
    if _DATED.search(symbol):
        return "future"
    if base in _METALS:
        return "commodity"
    if base in _CURRENCIES and quote in _CURRENCIES:
        return "forex"
    return "stock"


# -- building -------------------------------------------------------------------------------------


def _resolve(path: str) -> Path:
    """A relative data path from the working directory, else from the project root."""
    candidate = Path(path)
    if candidate.is_file() or candidate.is_absolute():
        return candidate
    bundled = _PROJECT_ROOT / candidate
    return bundled if bundled.is_file() else candidate


def _paper(config: Config, env: Mapping[str, str]) -> OperatorVenue:
    from adapters.binance import SpotMarketDataDecoder
    from adapters.paper.broker import PaperBroker
    from adapters.replay import RecordingReader
    from engine.clock import SimulatedClock
    from engine.market import SymbolMarket

    known = default_instruments()
    # one recording, one symbol per engine.symbols (a recording does not name the symbol
    # of its depth snapshots, so the decoder serves the configured symbols only)
    try:
        instruments = InstrumentRegistry([known.get(s) for s in config.engine.symbols])
    except UnknownSymbolError as exc:
        raise VenueNotAvailableError(f"venue paper: engine.symbols: {exc}") from None
    markets = {
        i.symbol: SymbolMarket(
            i, config.market_data.book_capacity, config.market_data.trade_ring_capacity
        )
        for i in instruments
    }
    clock = SimulatedClock()
    account_file = config.paper.account_file or None
    broker = PaperBroker(
        markets,
        config.paper,
        {config.engine.quote_currency: config.engine.initial_cash},
        clock=clock,
        account_file=account_file,
    )
    # the venue's books: the recording of data.path, replayed to its end
    decoder = SpotMarketDataDecoder(
        {m.instrument.venue_symbol: m for m in markets.values()}, broker.venue
    )
    for ts, frame in RecordingReader(_resolve(config.data.path)):
        clock.advance_to(ts)
        decoder.on_frame(ts, frame)
    return _PaperVenue("paper", broker, instruments)


def _wanted(config: Config, contracts: bool, extra: tuple[str, ...]) -> tuple[str, ...]:
    """The symbols an order may be looked up on: engine.symbols of the market type, plus extra."""
    symbols = [s for s in (*config.engine.symbols, *extra) if (":" in s) == contracts]
    return tuple(dict.fromkeys(symbols))


def _binance(
    name: str, config: Config, env: Mapping[str, str], symbols: tuple[str, ...]
) -> OperatorVenue:
    from adapters.binance.broker import BinanceBroker
    from adapters.binance.config import BrokerConfig

    usdm = name == "binance-usdm"
    urls = config.venues.binance_usdm if usdm else config.venues.binance
    wanted = _wanted(config, usdm, symbols)
    broker = BinanceBroker(
        BrokerConfig(
            market="usdm" if usdm else "spot",
            rest_url=urls.rest_url,
            ws_url=urls.ws_url,
            symbols=wanted,
        ),
        env=env,
    )
    return _CcxtVenue(name, broker, "binance_usdm" if usdm else "binance", wanted)


def _bybit(
    name: str, config: Config, env: Mapping[str, str], symbols: tuple[str, ...]
) -> OperatorVenue:
    try:
        broker_module = importlib.import_module("adapters.bybit.broker")
        config_module = importlib.import_module("adapters.bybit.config")
    except ImportError as exc:
        raise VenueNotAvailableError(
            f"venue {name} not available: its connector (adapters.bybit.broker) is not part of "
            f"this build ({exc})"
        ) from None
    linear = name == "bybit-linear"
    wanted = _wanted(config, linear, symbols)
    broker = broker_module.BybitBroker(
        config_module.BrokerConfig(
            category="linear" if linear else "spot",
            rest_url=config.venues.bybit.rest_url,
            ws_url=config.venues.bybit.ws_url,
            symbols=wanted,
        ),
        env=env,
    )
    return _CcxtVenue(name, broker, "bybit_linear" if linear else "bybit", wanted)


def _ib(
    config: Config, env: Mapping[str, str], ib_session: Callable[[], Any] | None
) -> OperatorVenue:
    from adapters.ib import IbAccount, IbBroker, IbConfig, IbContractConfig

    venue = config.venues.ib
    contract_fields = set(IbContractConfig.__struct_fields__)
    settings = {f: getattr(venue, f) for f in IbConfig.__struct_fields__ if f != "contracts"}
    contracts = {
        symbol: IbContractConfig(
            **{f: getattr(entry, f) for f in entry.__struct_fields__ if f in contract_fields}
        )
        for symbol, entry in venue.contracts.items()
    }
    instruments = ib_instruments(config)
    broker = IbBroker(
        IbConfig(**settings, contracts=contracts),
        instruments,
        account=IbAccount.from_env(env),
        ib=None if ib_session is None else ib_session(),
    )
    return OperatorVenue("ib", broker, instruments)


def build_venue(
    name: str,
    config: Config,
    env: Mapping[str, str] | None = None,
    *,
    symbols: tuple[str, ...] = (),
    ib_session: Callable[[], Any] | None = None,
) -> OperatorVenue:
    """Build the :class:`OperatorVenue` called ``name`` (one of :data:`VENUES`); not connected.

    Parameters
    ----------
    name : str
        The venue (see the module docstring).
    config : Config
        The loaded configuration (URLs, paper settings, ``[venues.ib]``...).
    env : mapping, optional
        Where the credentials are read (default ``os.environ``).
    symbols : tuple of str
        Symbols the command names, added to the ones a ccxt connector looks
        orders up on (``engine.symbols`` of the market type).
    ib_session : callable, optional
        Makes the ``ib_insync.IB`` session (default a new ``IB()``; tests pass
        one whose TWS is simulated).

    Raises
    ------
    VenueNotAvailableError
        Unknown venue, or its adapter is not in this build.
    AuthenticationError
        A credential variable is missing (the message names it).
    """
    env = os.environ if env is None else env
    if name == "paper":
        return _paper(config, env)
    if name in ("binance", "binance-usdm"):
        return _binance(name, config, env, symbols)
    if name in ("bybit-spot", "bybit-linear"):
        return _bybit(name, config, env, symbols)
    if name == "ib":
        return _ib(config, env, ib_session)
    raise VenueNotAvailableError(f"unknown venue {name!r} (one of: {', '.join(VENUES)})")
