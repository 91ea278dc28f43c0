"""Record dtypes shared by kernels and the engine (``*_dt``, ``align=True``).

Every record that describes something that happened at a venue carries both
``ts_event`` (the venue's time) and ``ts_recv`` (when we received it), int64
nanoseconds since the Unix epoch, UTC.
"""

from __future__ import annotations

import numpy as np

__all__ = ["SIDE_BUY", "SIDE_SELL", "trade_dt"]

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
