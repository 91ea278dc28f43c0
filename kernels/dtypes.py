"""Record dtypes shared by kernels and the engine (``*_dt``, ``align=True``).

Every record that describes something that happened at a venue carries both
``ts_event`` (the venue's time) and ``ts_recv`` (when we received it), int64
nanoseconds since the Unix epoch, UTC.
"""

from __future__ import annotations

import numpy as np

__all__ = ["SIDE_BUY", "SIDE_SELL", "trade_dt", "trade_record_dt"]

#: Aggressor side codes in ``trade_dt.side``.
SIDE_BUY = 1
#: The aggressor sold (the buyer was the maker).
SIDE_SELL = -1

trade_dt = np.dtype(
    [
        #: Venue time of the trade (ns).
        ("ts_event", np.int64),
        #: Local receive time (ns).
        ("ts_recv", np.int64),
        #: Trade price.
        ("price", np.float64),
        #: Trade quantity (base units).
        ("qty", np.float64),
        #: Venue trade id.
        ("trade_id", np.int64),
        #: Aggressor side: SIDE_BUY or SIDE_SELL.
        ("side", np.int8),
    ],
    align=True,
)

#: One round trip of a bar-indexed backtest (``kernels.backtest``), field for
#: field vectorbt's exit-trade record. A simulated trade has bar indices, not
#: venue timestamps, so it carries no ``ts_event``/``ts_recv``.
trade_record_dt = np.dtype(
    [
        #: Bar index of the entry fill.
        ("entry_idx", np.int64),
        #: Bar index of the exit fill; the last bar while the trade is open.
        ("exit_idx", np.int64),
        #: Units held (fractional).
        ("size", np.float64),
        #: Entry fill price (the entry bar's close).
        ("entry_price", np.float64),
        #: Fees paid on entry (quote currency).
        ("entry_fees", np.float64),
        #: Exit fill price; the last finite close while the trade is open.
        ("exit_price", np.float64),
        #: Fees paid on exit; 0.0 while the trade is open.
        ("exit_fees", np.float64),
        #: Profit and loss after both fees (quote currency).
        ("pnl", np.float64),
        #: ``pnl / (size * entry_price)``.
        ("return", np.float64),
        #: ``kernels.backtest.TRADE_OPEN`` (0) or ``TRADE_CLOSED`` (1).
        ("status", np.int8),
    ],
    align=True,
)
