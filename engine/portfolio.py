"""Portfolio: cash, positions per venue, P&L, fees, funding, margin, exposure, equity curve.

One account in one currency (``Portfolio.currency``) holding positions on
several venues in several kinds of instrument. Conventions (tested in
``tests/engine/test_portfolio.py`` and ``tests/engine/test_portfolio_multi.py``):

Keys and venues
    Positions are netted per ``(venue, symbol)``: the same symbol on two venues
    is two positions. Every method takes an optional ``venue``; left out it is
    the portfolio's ``default_venue``, so single-venue callers never name one.
    ``positions`` is the default venue's positions keyed by symbol (the
    single-venue view); ``venue_positions`` holds all of them keyed by
    ``(venue, symbol)``. Both hold the same :class:`Position` objects.
Instruments
    The instrument (kind, multiplier, margin rates, asset class, sector,
    settlement currency) comes from the ``instruments`` registry given at
    construction, looked up by symbol when a position is first opened. With
    no registry every position is a fully funded spot position with the
    multiplier given to :meth:`Portfolio.position` (default 1) and asset
    class and sector ``"unknown"``. With a registry an unknown symbol raises
    :class:`~engine.instruments.UnknownSymbolError`.
Cash and P&L
    Fully funded kinds (spot, stock, forex, commodity): a BUY of ``q`` at
    ``p`` with fee ``f`` moves cash by ``-(q * p * m) - f``, a SELL by
    ``+(q * p * m) - f`` (``m`` the contract multiplier). Short spot positions
    are booked (negative quantity, cash credited); forbidding them is the
    risk engine's job. Margined kinds (perpetual, future, linear): cash moves
    only by the realized P&L of the fill minus the fee; the notional is not
    paid, it ties up ``|quantity * mark * m| * initial_margin`` as
    :attr:`Portfolio.margin_used`.
    Positions are netted with an average entry price; reducing a position
    realizes ``(p - avg) * closed * m`` for a long (opposite sign for a short);
    a fill that crosses through zero closes and reopens at ``p``.
Fees
    Fees are not part of realized P&L; ``Portfolio.fees`` is their sum in the
    account currency. ``fee_currency`` of :meth:`Portfolio.apply_fill`:
    ``None``, the account currency, the quote or the settlement currency: the
    fee reduces cash. The instrument's base currency (Binance spot charges a
    buy's fee in the asset bought unless BNB is used; fully funded kinds only,
    needs the registry): the fee reduces the quantity received (a sell gives
    up ``q + f``), cash moves by the traded notional only, and the fee's value
    ``f * p * m`` is added to ``fees``. Any other currency (BNB...) is
    converted by the ``fee_converter(currency, amount) -> amount in account
    currency`` hook given at construction and reduces cash; the portfolio
    keeps no fee-token balance. With no hook such a fee raises ``ValueError``.
Funding
    :meth:`Portfolio.apply_funding` moves cash by ``-quantity * mark * m *
    rate``: with a positive rate longs pay and shorts receive. ``funding_paid``
    is the sum paid (negative when received on balance).
Identity
    ``equity - initial_cash == realized_pnl + unrealized_pnl - fees -
    funding_paid`` at all times, where ``equity = cash + positions_value`` and
    ``positions_value`` is the sum of the positions' equity contributions: the
    market value of fully funded positions plus the unrealized P&L of
    margined ones. Notional exposure is ``gross_exposure`` / ``net_exposure``.
Currencies
    One account currency: an instrument whose settlement currency differs from
    ``currency`` raises ``ValueError`` when its position is opened (a
    multi-currency cash ledger is not implemented).
Daily P&L and VaR
    ``daily_pnl(ts)`` is the equity now minus the equity at the start of the
    UTC day of ``ts``: the last equity recorded by :meth:`record_equity` at or
    before that midnight, or ``initial_cash`` if none was. ``var_95`` in
    :meth:`Portfolio.summary` is ``kernels.risk.historical_var`` of the simple
    returns between consecutive recorded equities (so its horizon is the
    recording interval, not one day), NaN below :data:`MIN_VAR_RETURNS`
    returns.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Callable

import msgspec
import numpy as np

from engine.instruments import Instrument, InstrumentRegistry
from kernels.risk import historical_var

__all__ = [
    "CLOSED",
    "DEFAULT_VENUE",
    "MIN_VAR_RETURNS",
    "OPENED",
    "UNKNOWN",
    "UPDATED",
    "FillResult",
    "Portfolio",
    "PortfolioSummary",
    "Position",
]

#: What a fill did to a position.
FillResult = int
OPENED: FillResult = 0
UPDATED: FillResult = 1
CLOSED: FillResult = 2

#: Venue of positions booked without a venue.
DEFAULT_VENUE = "default"
#: Asset class and sector of positions without instrument metadata.
UNKNOWN = "unknown"
#: Fewest equity returns for which the summary reports a VaR (NaN below).
MIN_VAR_RETURNS = 20

_NS_PER_DAY = 86_400 * 1_000_000_000


class Position:
    """Net position in one symbol on one venue.

    ``margined`` positions (perpetuals, futures) contribute their unrealized
    P&L to equity; fully funded ones their market value.
    """

    __slots__ = (
        "asset_class",
        "average_price",
        "funding_paid",
        "initial_margin",
        "last_funding_ts",
        "margin_rate",
        "margined",
        "mark_price",
        "multiplier",
        "quantity",
        "realized_pnl",
        "sector",
        "symbol",
        "venue",
    )

    def __init__(
        self,
        symbol: str,
        multiplier: float = 1.0,
        *,
        venue: str = DEFAULT_VENUE,
        margined: bool = False,
        initial_margin: float = 0.0,
        margin_rate: float = 0.0,
        asset_class: str = UNKNOWN,
        sector: str = UNKNOWN,
    ) -> None:
        self.symbol = symbol
        self.venue = venue
        self.multiplier = multiplier
        self.margined = margined
        self.initial_margin = initial_margin
        self.margin_rate = margin_rate
        self.asset_class = asset_class
        self.sector = sector
        self.quantity = 0.0
        self.average_price = 0.0
        self.realized_pnl = 0.0
        self.funding_paid = 0.0
        self.last_funding_ts = 0
        self.mark_price = math.nan

    @property
    def unrealized_pnl(self) -> float:
        """``(mark - average) * quantity * multiplier``; 0 when flat or unmarked."""
        if self.quantity == 0.0 or math.isnan(self.mark_price):
            return 0.0
        return (self.mark_price - self.average_price) * self.quantity * self.multiplier

    @property
    def market_value(self) -> float:
        """Signed notional at the mark price (at the entry price before the first mark)."""
        if self.quantity == 0.0:
            return 0.0
        mark = self.average_price if math.isnan(self.mark_price) else self.mark_price
        return self.quantity * mark * self.multiplier

    @property
    def equity_value(self) -> float:
        """Contribution to equity: unrealized P&L if margined, else the market value."""
        return self.unrealized_pnl if self.margined else self.market_value

    @property
    def margin_used(self) -> float:
        """Initial margin tied up: ``|market_value| * initial_margin`` (0 if fully funded)."""
        return abs(self.market_value) * self.initial_margin if self.margined else 0.0

    @property
    def maintenance_margin(self) -> float:
        """``|market_value| * margin_rate`` (0 if fully funded)."""
        return abs(self.market_value) * self.margin_rate if self.margined else 0.0


class PortfolioSummary(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """Account snapshot (the specification's ``PortfolioSummary``), account currency.

    Attributes
    ----------
    timestamp : int
        ns since the epoch, UTC, the ``ts`` the summary was asked for.
    currency : str
        Account currency.
    total_value : float
        Equity: ``cash + positions_value``.
    cash : float
    positions_value : float
        Market value of fully funded positions plus unrealized P&L of
        margined ones (so ``total_value == cash + positions_value``).
    gross_exposure, net_exposure : float
        Sum of absolute and of signed notionals at the marks.
    unrealized_pnl, realized_pnl : float
    daily_pnl : float
        Equity now minus equity at the start of the UTC day of ``timestamp``.
    leverage : float
        Gross exposure over equity (inf when equity <= 0).
    var_95 : float
        Historical 95 % VaR of the equity curve's returns, a positive loss
        fraction; NaN with fewer than ``MIN_VAR_RETURNS`` returns.
    drawdown, max_drawdown : float
        Current and maximum drawdown from the peak, positive fractions.
    fees, funding_paid : float
    margin_used : float
        Initial margin tied up by margined positions.

    Notes
    -----
    JSON has no NaN or infinity: ``msgspec.json`` encodes a NaN ``var_95`` and
    an infinite ``leverage`` as ``null`` (msgpack keeps them).
    """

    timestamp: int
    currency: str
    total_value: float
    cash: float
    positions_value: float
    gross_exposure: float
    net_exposure: float
    unrealized_pnl: float
    realized_pnl: float
    daily_pnl: float
    leverage: float
    var_95: float
    drawdown: float
    max_drawdown: float
    fees: float
    funding_paid: float
    margin_used: float


class Portfolio:
    """Cash and positions of one account in currency ``currency``, on one or more venues.

    Parameters
    ----------
    initial_cash : float
        Starting cash (> 0).
    currency : str, default "USDT"
        Account currency; fees, P&L and values are in it.
    instruments : InstrumentRegistry, optional
        Where positions get kind, multiplier, margin rates, asset class and
        sector (see the module docstring); without it every position is spot.
    default_venue : str, default ``DEFAULT_VENUE``
        Venue of calls that name none.
    fee_converter : callable, optional
        ``fee_converter(currency, amount) -> amount in the account currency``
        for fees charged in a third currency (e.g. BNB).

    Examples
    --------
    >>> p = Portfolio(10_000.0)
    >>> p.apply_fill("BTC/USDT", +1, 0.1, 50_000.0, 5.0)
    0
    >>> p.cash
    4995.0
    """

    def __init__(
        self,
        initial_cash: float,
        currency: str = "USDT",
        *,
        instruments: InstrumentRegistry | None = None,
        default_venue: str = DEFAULT_VENUE,
        fee_converter: Callable[[str, float], float] | None = None,
    ) -> None:
        if not initial_cash > 0:
            raise ValueError(f"engine.initial_cash must be > 0, was {initial_cash}")
        self.initial_cash = float(initial_cash)
        self.currency = currency
        self.instruments = instruments
        self.default_venue = default_venue
        self.fee_converter = fee_converter
        self.cash = float(initial_cash)
        self.fees = 0.0
        self.funding_paid = 0.0
        self.realized_pnl = 0.0
        self.fills = 0
        #: Default venue's positions by symbol (the single-venue view).
        self.positions: dict[str, Position] = {}
        #: All positions by ``(venue, symbol)``.
        self.venue_positions: dict[tuple[str, str], Position] = {}
        self._curve_ts: list[int] = []
        self._curve_equity: list[float] = []
        self.peak_equity = float(initial_cash)
        self.max_drawdown = 0.0

    # -- positions -----------------------------------------------------------------------------

    def position(self, symbol: str, multiplier: float = 1.0, venue: str | None = None) -> Position:
        """Return the position of ``symbol`` on ``venue`` (created flat on first use).

        ``multiplier`` is used only when creating a position without an
        instrument registry; with one, the instrument's multiplier wins.
        """
        if venue is None or venue == self.default_venue:
            pos = self.positions.get(symbol)
            venue = self.default_venue
        else:
            pos = self.venue_positions.get((venue, symbol))
        if pos is None:
            pos = self._new_position(symbol, multiplier, venue)
        return pos

    def get_position(self, symbol: str, venue: str | None = None) -> Position | None:
        """Return the position of ``symbol`` on ``venue``, or None if never traded."""
        if venue is None or venue == self.default_venue:
            return self.positions.get(symbol)
        return self.venue_positions.get((venue, symbol))

    def _new_position(self, symbol: str, multiplier: float, venue: str) -> Position:
        registry = self.instruments
        if registry is None:
            pos = Position(symbol, multiplier, venue=venue)
        else:
            instrument = registry.get(symbol)
            settle = instrument.settlement_currency
            if settle != self.currency:
                raise ValueError(
                    f"{symbol}: settlement currency {settle} differs from the portfolio "
                    f"currency {self.currency} (multi-currency cash is not supported)"
                )
            margined = instrument.is_margined
            pos = Position(
                symbol,
                instrument.contract_multiplier,
                venue=venue,
                margined=margined,
                initial_margin=instrument.initial_margin if margined else 0.0,
                margin_rate=instrument.margin_rate if margined else 0.0,
                asset_class=str(instrument.asset_class),
                sector=instrument.sector,
            )
        self.venue_positions[(venue, symbol)] = pos
        if venue == self.default_venue:
            self.positions[symbol] = pos
        return pos

    # -- booking -------------------------------------------------------------------------------

    def apply_fill(
        self,
        symbol: str,
        side_sign: int,
        quantity: float,
        price: float,
        fee: float,
        fee_currency: str | None = None,
        venue: str | None = None,
    ) -> FillResult:
        """Book a fill; return OPENED, UPDATED or CLOSED for the position.

        Parameters
        ----------
        symbol : str
        side_sign : int
            +1 buy, -1 sell.
        quantity, price : float
            Filled quantity (> 0) and price.
        fee : float
            Fee amount in ``fee_currency``.
        fee_currency : str, optional
            None (the account/quote currency), the base currency (reduces the
            quantity received) or a currency ``fee_converter`` knows; see the
            module docstring.
        venue : str, optional
            Defaults to ``default_venue``.
        """
        if venue is None or venue == self.default_venue:
            pos = self.positions.get(symbol)
            if pos is None:
                pos = self._new_position(symbol, 1.0, self.default_venue)
        else:
            pos = self.venue_positions.get((venue, symbol))
            if pos is None:
                pos = self._new_position(symbol, 1.0, venue)
        m = pos.multiplier
        signed = side_sign * quantity
        cash_notional = signed  # quantity whose notional moves cash (fully funded kinds)
        cash_fee = fee
        if fee_currency is not None and fee_currency != self.currency:
            signed, fee, cash_fee = self._convert_fee(pos, signed, price, fee, fee_currency)
        self.fees += fee
        self.fills += 1
        old = pos.quantity
        new = old + signed
        pnl = 0.0
        if old == 0.0 or (old > 0.0) == (signed > 0.0):
            # Opening or adding: weighted average entry.
            pos.average_price = (pos.average_price * abs(old) + price * abs(signed)) / abs(new)
            pos.quantity = new
            result = OPENED if old == 0.0 else UPDATED
        else:
            size = abs(signed)
            closed = min(size, abs(old))
            pnl = (price - pos.average_price) * closed * m * (1.0 if old > 0.0 else -1.0)
            pos.realized_pnl += pnl
            self.realized_pnl += pnl
            if abs(new) <= abs(old) * 1e-12 or size == abs(old):
                pos.quantity = 0.0
                pos.average_price = 0.0
                result = CLOSED
            else:
                pos.quantity = new
                if (new > 0.0) != (old > 0.0):
                    pos.average_price = price  # flipped through zero
                result = UPDATED
        if pos.margined:
            self.cash += pnl - cash_fee
        else:
            self.cash -= cash_notional * price * m + cash_fee
        if math.isnan(pos.mark_price):
            pos.mark_price = price
        return result

    def _convert_fee(
        self, pos: Position, signed: float, price: float, fee: float, fee_currency: str
    ) -> tuple[float, float, float]:
        """Return ``(signed quantity booked, fee value, fee paid from cash)``, account currency."""
        registry = self.instruments
        instrument: Instrument | None = None
        if registry is not None and pos.symbol in registry:
            instrument = registry.get(pos.symbol)
        if instrument is not None:
            if fee_currency in (instrument.quote, instrument.settlement_currency):
                return signed, fee, fee
            if fee_currency == instrument.base:
                if pos.margined:
                    raise ValueError(
                        f"fee_currency {fee_currency} (base) not supported for margined "
                        f"{pos.symbol}; margined fees are paid in {self.currency}"
                    )
                if signed > 0.0 and not fee < signed:
                    raise ValueError(
                        f"fee {fee} {fee_currency} must be below the bought quantity {signed} "
                        f"for {pos.symbol}"
                    )
                # The fee's units are never received (buy) or given up on top (sell):
                # book the net quantity; its value at the fill price is the fee, and
                # cash moves by the traded notional only.
                return signed - fee, fee * price * pos.multiplier, 0.0
        converter = self.fee_converter
        if converter is None:
            raise ValueError(
                f"fee_currency {fee_currency} for {pos.symbol} is neither {self.currency} nor "
                "the instrument's base or quote; pass Portfolio(fee_converter=...)"
            )
        value = float(converter(fee_currency, fee))
        return signed, value, value

    def apply_funding(
        self, symbol: str, rate: float, mark_price: float, ts: int, venue: str | None = None
    ) -> float:
        """Settle a funding payment on a perpetual; return the cash change.

        The cash change is ``-quantity * mark_price * multiplier * rate``: with
        a positive rate longs pay, shorts receive. ``funding_paid`` (portfolio
        and position) grows by the amount paid. A flat or never-traded
        position pays nothing. The position's mark is not changed.

        Raises
        ------
        ValueError
            If the position is fully funded (spot): funding needs a margined
            instrument from the registry.
        """
        pos = self.get_position(symbol, venue)
        if pos is None or pos.quantity == 0.0:
            return 0.0
        if not pos.margined:
            raise ValueError(
                f"apply_funding: {symbol} on {pos.venue} is not a perpetual (kind from the "
                "portfolio's instruments registry)"
            )
        paid = pos.quantity * mark_price * pos.multiplier * rate
        self.cash -= paid
        self.funding_paid += paid
        pos.funding_paid += paid
        pos.last_funding_ts = ts
        return -paid

    def mark(self, symbol: str, price: float, venue: str | None = None) -> None:
        """Set the mark price of ``symbol`` on ``venue`` (ignored if never traded or NaN)."""
        pos = self.get_position(symbol, venue)
        if pos is not None and price == price:
            pos.mark_price = price

    # -- account values ------------------------------------------------------------------------

    @property
    def unrealized_pnl(self) -> float:
        """Sum of the positions' unrealized P&L."""
        return sum(p.unrealized_pnl for p in self.venue_positions.values())

    @property
    def positions_value(self) -> float:
        """Sum of the positions' equity contributions (see the module docstring)."""
        return sum(p.equity_value for p in self.venue_positions.values())

    @property
    def gross_exposure(self) -> float:
        """Sum of absolute position notionals at the marks."""
        return sum(abs(p.market_value) for p in self.venue_positions.values())

    @property
    def net_exposure(self) -> float:
        """Sum of signed position notionals at the marks."""
        return sum(p.market_value for p in self.venue_positions.values())

    @property
    def margin_used(self) -> float:
        """Initial margin tied up by margined positions."""
        return sum(p.margin_used for p in self.venue_positions.values())

    @property
    def maintenance_margin(self) -> float:
        """Maintenance margin of margined positions (equity below it means liquidation)."""
        return sum(p.maintenance_margin for p in self.venue_positions.values())

    @property
    def equity(self) -> float:
        """Cash plus ``positions_value``."""
        return self.cash + self.positions_value

    @property
    def leverage(self) -> float:
        """Gross exposure over equity (inf when equity <= 0)."""
        equity = self.equity
        return self.gross_exposure / equity if equity > 0 else math.inf

    def exposure_by_asset_class(self) -> dict[str, float]:
        """Return gross absolute notional per asset class (``"unknown"`` without metadata)."""
        return self._exposure_by("asset_class")

    def exposure_by_sector(self) -> dict[str, float]:
        """Return gross absolute notional per sector (``"unknown"`` without metadata)."""
        return self._exposure_by("sector")

    def exposure_by_venue(self) -> dict[str, float]:
        """Return gross absolute notional per venue."""
        return self._exposure_by("venue")

    def _exposure_by(self, attribute: str) -> dict[str, float]:
        out: dict[str, float] = {}
        for pos in self.venue_positions.values():
            if pos.quantity != 0.0:
                key = getattr(pos, attribute)
                out[key] = out.get(key, 0.0) + abs(pos.market_value)
        return out

    # -- equity curve --------------------------------------------------------------------------

    def record_equity(self, ts: int) -> float:
        """Append ``(ts, equity)`` to the equity curve and update drawdown; return equity.

        ``ts`` must not decrease between calls (daily P&L looks records up by time).
        """
        equity = self.equity
        self._curve_ts.append(ts)
        self._curve_equity.append(equity)
        if equity > self.peak_equity:
            self.peak_equity = equity
        elif self.peak_equity > 0:
            drawdown = (self.peak_equity - equity) / self.peak_equity
            if drawdown > self.max_drawdown:
                self.max_drawdown = drawdown
        return equity

    def equity_curve(self) -> tuple[np.ndarray, np.ndarray]:
        """Return the equity curve as ``(ts_ns int64, equity float64)`` arrays."""
        return (
            np.asarray(self._curve_ts, dtype=np.int64),
            np.asarray(self._curve_equity, dtype=np.float64),
        )

    def day_start_equity(self, ts: int) -> float:
        """Return the equity at the start of the UTC day of ``ts``.

        That is the last recorded equity at or before midnight, or
        ``initial_cash`` if nothing was recorded by then.
        """
        midnight = ts - ts % _NS_PER_DAY
        i = bisect_right(self._curve_ts, midnight)
        return self._curve_equity[i - 1] if i > 0 else self.initial_cash

    def daily_pnl(self, ts: int) -> float:
        """Return equity now minus :meth:`day_start_equity` of ``ts``."""
        return self.equity - self.day_start_equity(ts)

    def var_95(self) -> float:
        """Return historical 95 % VaR of the recorded equity returns (NaN if too few)."""
        equity = np.asarray(self._curve_equity, dtype=np.float64)
        if equity.shape[0] < MIN_VAR_RETURNS + 1 or not np.all(equity[:-1] > 0):
            return math.nan
        returns = equity[1:] / equity[:-1] - 1.0
        return float(historical_var(returns, 0.95))

    def summary(self, ts: int) -> PortfolioSummary:
        """Return a :class:`PortfolioSummary` of the account at ``ts`` (ns, UTC)."""
        equity = self.equity
        peak = max(self.peak_equity, equity)
        drawdown = (peak - equity) / peak if peak > 0 else 0.0
        return PortfolioSummary(
            timestamp=ts,
            currency=self.currency,
            total_value=equity,
            cash=self.cash,
            positions_value=self.positions_value,
            gross_exposure=self.gross_exposure,
            net_exposure=self.net_exposure,
            unrealized_pnl=self.unrealized_pnl,
            realized_pnl=self.realized_pnl,
            daily_pnl=equity - self.day_start_equity(ts),
            leverage=self.leverage,
            var_95=self.var_95(),
            drawdown=drawdown,
            max_drawdown=max(self.max_drawdown, drawdown),
            fees=self.fees,
            funding_paid=self.funding_paid,
            margin_used=self.margin_used,
        )
