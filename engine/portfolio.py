"""Portfolio: cash, positions, realized and unrealized P&L, fees, equity curve.

Accounting conventions (tested in ``tests/engine/test_portfolio.py``):

- Fees are charged in the quote currency and reduce cash; they are not part
  of realized P&L. Hence ``equity - initial_cash == realized_pnl +
  unrealized_pnl - fees`` at all times.
- A BUY of ``q`` at ``p`` with fee ``f`` moves cash by ``-(q * p * m) - f``; a
  SELL by ``+(q * p * m) - f`` (``m`` is the contract multiplier, 1 for spot).
- Positions are netted per symbol with an average entry price; reducing a
  position realizes ``(p - avg) * closed * m`` for a long (opposite sign for a
  short); a fill that crosses through zero closes and reopens at ``p``.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["FillResult", "Portfolio", "Position"]

#: What a fill did to a position.
FillResult = int
OPENED: FillResult = 0
UPDATED: FillResult = 1
CLOSED: FillResult = 2


class Position:
    """Net position in one symbol."""

    __slots__ = ("average_price", "mark_price", "multiplier", "quantity", "realized_pnl", "symbol")

    def __init__(self, symbol: str, multiplier: float = 1.0) -> None:
        self.symbol = symbol
        self.multiplier = multiplier
        self.quantity = 0.0
        self.average_price = 0.0
        self.realized_pnl = 0.0
        self.mark_price = math.nan

    @property
    def unrealized_pnl(self) -> float:
        """``(mark - average) * quantity * multiplier``; 0 when flat or unmarked."""
        if self.quantity == 0.0 or math.isnan(self.mark_price):
            return 0.0
        return (self.mark_price - self.average_price) * self.quantity * self.multiplier

    @property
    def market_value(self) -> float:
        """Signed value at the mark price (at the entry price before the first mark)."""
        if self.quantity == 0.0:
            return 0.0
        mark = self.average_price if math.isnan(self.mark_price) else self.mark_price
        return self.quantity * mark * self.multiplier


class Portfolio:
    """Cash and positions of one account (quote currency ``currency``)."""

    def __init__(self, initial_cash: float, currency: str = "USDT") -> None:
        if not initial_cash > 0:
            raise ValueError(f"engine.initial_cash must be > 0, was {initial_cash}")
        self.initial_cash = float(initial_cash)
        self.currency = currency
        self.cash = float(initial_cash)
        self.fees = 0.0
        self.realized_pnl = 0.0
        self.fills = 0
        self.positions: dict[str, Position] = {}
        self._curve_ts: list[int] = []
        self._curve_equity: list[float] = []
        self.peak_equity = float(initial_cash)
        self.max_drawdown = 0.0

    def position(self, symbol: str, multiplier: float = 1.0) -> Position:
        """Return the position of ``symbol`` (created flat on first use)."""
        pos = self.positions.get(symbol)
        if pos is None:
            pos = self.positions[symbol] = Position(symbol, multiplier)
        return pos

    def apply_fill(
        self, symbol: str, side_sign: int, quantity: float, price: float, fee: float
    ) -> FillResult:
        """Book a fill; return OPENED, UPDATED or CLOSED for the position."""
        pos = self.position(symbol)
        m = pos.multiplier
        signed = side_sign * quantity
        self.cash -= signed * price * m + fee
        self.fees += fee
        self.fills += 1
        old = pos.quantity
        new = old + signed
        if old == 0.0 or (old > 0.0) == (signed > 0.0):
            # Opening or adding: weighted average entry.
            pos.average_price = (pos.average_price * abs(old) + price * quantity) / abs(new)
            pos.quantity = new
            result = OPENED if old == 0.0 else UPDATED
        else:
            closed = min(quantity, abs(old))
            pnl = (price - pos.average_price) * closed * m * (1.0 if old > 0.0 else -1.0)
            pos.realized_pnl += pnl
            self.realized_pnl += pnl
            if abs(new) <= abs(old) * 1e-12 or quantity == abs(old):
                pos.quantity = 0.0
                pos.average_price = 0.0
                result = CLOSED
            else:
                pos.quantity = new
                if (new > 0.0) != (old > 0.0):
                    pos.average_price = price  # flipped through zero
                result = UPDATED
        if math.isnan(pos.mark_price):
            pos.mark_price = price
        return result

    def mark(self, symbol: str, price: float) -> None:
        """Set the mark price of ``symbol`` (ignored for a symbol never traded)."""
        pos = self.positions.get(symbol)
        if pos is not None and price == price:
            pos.mark_price = price

    @property
    def unrealized_pnl(self) -> float:
        """Sum of the positions' unrealized P&L."""
        return sum(p.unrealized_pnl for p in self.positions.values())

    @property
    def positions_value(self) -> float:
        """Signed market value of all positions."""
        return sum(p.market_value for p in self.positions.values())

    @property
    def gross_exposure(self) -> float:
        """Sum of absolute position values."""
        return sum(abs(p.market_value) for p in self.positions.values())

    @property
    def equity(self) -> float:
        """Cash plus the market value of the positions."""
        return self.cash + self.positions_value

    @property
    def leverage(self) -> float:
        """Gross exposure over equity (inf when equity <= 0)."""
        equity = self.equity
        return self.gross_exposure / equity if equity > 0 else math.inf

    def record_equity(self, ts: int) -> float:
        """Append ``(ts, equity)`` to the equity curve and update drawdown; return equity."""
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
