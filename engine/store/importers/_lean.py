"""QuantConnect Lean trade-bar zips (``Data/<type>/<market>/<resolution>/...``), as Lean documents.

* daily and hour: ``<ticker>.zip`` (crypto: ``<ticker>_trade.zip``) holding
  ``<ticker>.csv``, lines ``YYYYMMDD HH:MM,open,high,low,close,volume``;
* minute and second: ``<ticker>/<YYYYMMDD>_trade.zip`` holding
  ``<YYYYMMDD>_<ticker>_<resolution>_trade.csv``, lines
  ``<ms since midnight>,open,high,low,close,volume``.

Times are in the data's time zone: New York for equities, UTC for crypto,
crypto futures and forex (Lean's readmes). Intraday bars are converted to
UTC; a daily bar keeps its session date at 00:00 UTC, so a daily bar is
labelled by its trading day whatever the zone. Equity prices are integers in
deci-cents (divided by 10,000 here); other asset types are plain decimals.

The asset type comes from the path (``equity``, ``crypto``,
``cryptofuture``, ``forex`` folders); a flattened file (``tests/data/lean``)
is a crypto pair when its name ends in ``_trade`` or its ticker ends in a
quote currency (``btcusd``, ``eurusd``), else an equity. The symbol is the
ticker: ``SPY`` for an equity, ``BTC/USD`` for crypto and forex,
``BTC/USDT:USDT`` for a crypto future settled in the quote (``BTC/USD:BTC``
when settled in the base). The venue is the market folder (``coinbase``,
``binance``) when the path has one. Quote bars, open interest and ticks are
refused (they are not trade bars).
"""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

import polars as pl

from engine.store.importers._common import ImportFileError

__all__ = ["read_lean"]

_TYPES = ("equity", "crypto", "cryptofuture", "forex", "cfd", "index")
_RESOLUTIONS = {"daily": "1d", "hour": "1h", "minute": "1m", "second": "1s"}
_QUOTES = ("usdt", "usdc", "busd", "fdusd", "tusd", "usd", "eur", "gbp", "jpy", "btc", "eth")
_STABLE = ("usdt", "usdc", "busd", "fdusd", "tusd")
_INTRADAY_MEMBER = re.compile(
    r"(\d{8})_([a-z0-9.]+)_(minute|second|tick)_([a-z]+)(?:_[a-z]+)?\.csv"
)
_ZONES = {"equity": "America/New_York"}


def read_lean(file: Path) -> tuple[pl.DataFrame, dict[str, str]]:
    """Return the bars (time as a UTC datetime) and the facts: symbol, interval, venue, scale."""
    try:
        with zipfile.ZipFile(file) as archive:
            members = [m for m in archive.namelist() if m.lower().endswith(".csv")]
            if len(members) != 1:
                raise ImportFileError(
                    f"{file}: a Lean zip holds one CSV file, this one has {len(members)}"
                )
            member = members[0]
            data = archive.read(member)
    except zipfile.BadZipFile as exc:
        raise ImportFileError(f"{file}: not a zip file ({exc})") from None
    parts = [p.lower() for p in file.parts]
    asset, market, resolution = _place(parts)
    member_name = Path(member).name.lower()
    intraday = _INTRADAY_MEMBER.fullmatch(member_name)
    if intraday is not None:
        day, ticker, resolution, kind = intraday.groups()
        if resolution == "tick" or kind != "trade":
            raise ImportFileError(f"{file}: Lean {resolution} {kind} data are not trade bars")
    else:
        stem = file.name.lower().removesuffix(".zip")
        if stem.endswith(("_quote", "_openinterest")):
            raise ImportFileError(f"{file}: Lean {stem.rpartition('_')[2]} data are not trade bars")
        ticker = Path(member_name).stem
        day = ""
        if asset is None and stem.endswith("_trade"):
            asset = "crypto"
    if asset is None:
        asset = "crypto" if _quote_of(ticker) is not None else "equity"
    frame = pl.read_csv(io.BytesIO(data), has_header=False, infer_schema=False)
    if frame.width < 6:
        raise ImportFileError(
            f"{file}: Lean trade bars have 6 columns, this file has {frame.width}"
        )
    frame = frame.select(frame.columns[:6])
    frame.columns = ["time", "open", "high", "low", "close", "volume"]
    zone = _ZONES.get(asset, "UTC")
    text = frame["time"].str.strip_chars()
    if intraday is not None:
        midnight = pl.lit(day).str.to_datetime("%Y%m%d", time_unit="ns")
        stamp = midnight + pl.duration(milliseconds=text.cast(pl.Float64, strict=False))
        interval = _RESOLUTIONS[resolution]
    else:
        stamp = text.str.to_datetime("%Y%m%d %H:%M", time_unit="ns", strict=False)
        times = pl.select(stamp).to_series()
        daily = bool((times.dt.hour().fill_null(0) == 0).all()) and bool(
            (times.dt.minute().fill_null(0) == 0).all()
        )
        interval = _RESOLUTIONS.get(resolution or "", "1d" if daily else "1h")
        stamp = pl.lit(times)
    if interval != "1d" and zone != "UTC":
        stamp = stamp.dt.replace_time_zone(zone, ambiguous="earliest", non_existent="null")
        stamp = stamp.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
    frame = frame.with_columns(stamp.alias("time"))
    facts = {
        "format": f"lean-{asset}",
        "symbol": _symbol(ticker, asset),
        "interval": interval,
        "first_row": "1",
    }
    if market is not None and asset != "equity":
        facts["venue"] = market
    if asset == "equity":
        facts["price_divisor"] = "10000"
    return frame, facts


def _place(parts: list[str]) -> tuple[str | None, str | None, str | None]:
    """(asset type, market, resolution) from a path ``.../<type>/<market>/<resolution>/...``."""
    for i, part in enumerate(parts[:-1]):
        if part in _TYPES:
            market = parts[i + 1] if i + 2 < len(parts) else None
            resolution = parts[i + 2] if i + 3 < len(parts) else None
            if resolution not in _RESOLUTIONS:
                resolution = None
            return part, market, resolution
    return None, None, None


def _quote_of(ticker: str) -> str | None:
    for quote in _QUOTES:
        if ticker.endswith(quote) and len(ticker) > len(quote) + 1:
            return quote
    return None


def _symbol(ticker: str, asset: str) -> str:
    if asset in ("equity", "cfd", "index"):
        return ticker.upper()
    quote = _quote_of(ticker)
    if quote is None:
        return ticker.upper()
    base = ticker[: -len(quote)].upper()
    pair = f"{base}/{quote.upper()}"
    if asset == "cryptofuture":
        return f"{pair}:{quote.upper() if quote in _STABLE else base}"
    return pair
