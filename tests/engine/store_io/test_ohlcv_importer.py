"""``read_ohlcv``: Lean zips, freqtrade JSON, CSV and Parquet, against independent parses."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from engine.store.importers import ImportFileError, read_ohlcv
from tests.engine.store_io._util import FIXTURES, LEAN


def _lean_oracle(name: str, divisor: float) -> tuple[list[int], np.ndarray]:
    with zipfile.ZipFile(LEAN / name) as archive:
        (member,) = archive.namelist()
        text = archive.read(member).decode()
    stamps, values = [], []
    for line in text.splitlines():
        when, *nums = line.split(",")
        day = datetime.strptime(when, "%Y%m%d %H:%M").replace(tzinfo=UTC)
        stamps.append(int(day.timestamp()) * 10**9)
        values.append([float(x) for x in nums])
    table = np.array(values)
    table[:, :4] /= divisor
    return stamps, table


@pytest.mark.parametrize(
    ("name", "symbol", "divisor", "fmt"),
    [
        ("spy.zip", "SPY", 10_000.0, "lean-equity"),
        ("aapl.zip", "AAPL", 10_000.0, "lean-equity"),
        ("btcusd_trade.zip", "BTC/USD", 1.0, "lean-crypto"),
    ],
)
def test_read_ohlcv_lean_daily_zip_scaled_as_lean_documents(
    name: str, symbol: str, divisor: float, fmt: str
) -> None:
    parsed = read_ohlcv(LEAN / name)
    stamps, table = _lean_oracle(name, divisor)
    rows = parsed.rows
    assert parsed.rejects.count == 0 and rows.num_rows == len(stamps)
    assert rows.column("ts").to_pylist() == stamps
    for k, col in enumerate(("open", "high", "low", "close", "volume")):
        np.testing.assert_allclose(rows.column(col).to_numpy(), table[:, k], rtol=1e-12)
    assert set(rows.column("symbol").to_pylist()) == {symbol}
    assert set(rows.column("interval").to_pylist()) == {"1d"}
    assert parsed.info["format"] == fmt


def _lean_minute_zip(folder: Path, asset: str, market: str, ticker: str, lines: list[str]) -> Path:
    where = folder / asset / market / "minute" / ticker
    where.mkdir(parents=True)
    path = where / "20240308_trade.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(f"20240308_{ticker}_minute_trade.csv", "\n".join(lines) + "\n")
    return path


def test_read_ohlcv_lean_minute_equity_new_york_time_to_utc(tmp_path: Path) -> None:
    # 09:30 New York on 2024-03-08 (EST, UTC-5) is 14:30 UTC
    lines = [
        "34200000,1712500,1713000,1712000,1712800,1200",
        "34260000,1712800,1714000,1712500,1713900,900",
    ]
    parsed = read_ohlcv(_lean_minute_zip(tmp_path, "equity", "usa", "spy", lines))
    first, second = parsed.rows.to_pylist()
    assert first["ts"] == int(datetime(2024, 3, 8, 14, 30, tzinfo=UTC).timestamp()) * 10**9
    assert second["ts"] - first["ts"] == 60 * 10**9
    assert (first["symbol"], first["interval"], first["open"], first["close"]) == (
        "SPY",
        "1m",
        171.25,
        171.28,
    )


def test_read_ohlcv_lean_minute_crypto_utc_market_is_venue(tmp_path: Path) -> None:
    lines = [
        "0,17208.86,17212.99,17205,17205,1.549151",
        "60000,17206.64,17223.47,17206,17223.46,6.802688",
    ]
    parsed = read_ohlcv(_lean_minute_zip(tmp_path, "crypto", "bybit", "btcusdt", lines))
    first = parsed.rows.to_pylist()[0]
    assert first["ts"] == int(datetime(2024, 3, 8, tzinfo=UTC).timestamp()) * 10**9
    assert (first["venue"], first["symbol"], first["open"]) == ("bybit", "BTC/USDT", 17208.86)


def test_read_ohlcv_lean_quote_bars_refused(tmp_path: Path) -> None:
    path = tmp_path / "btcusd_quote.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("btcusd.csv", "20180101 00:00,1,1,1,1,1,1,1,1,1,1\n")
    with pytest.raises(ImportFileError, match="quote"):
        read_ohlcv(path)


def test_read_ohlcv_freqtrade_json_symbol_and_interval_from_file_name() -> None:
    parsed = read_ohlcv(FIXTURES / "BTC_USDT-1h.json")
    raw = json.loads((FIXTURES / "BTC_USDT-1h.json").read_text())
    rows = parsed.rows.to_pylist()
    assert [r["ts"] for r in rows] == [c[0] * 10**6 for c in raw]
    assert [[r[k] for k in ("open", "high", "low", "close", "volume")] for r in rows] == [
        c[1:] for c in raw
    ]
    assert {r["symbol"] for r in rows} == {"BTC/USDT"} and {r["interval"] for r in rows} == {"1h"}


def test_read_ohlcv_freqtrade_malformed_rows_rejected_good_kept() -> None:
    parsed = read_ohlcv(FIXTURES / "ETH_USDT_USDT-5m-futures.json")
    assert parsed.rows.num_rows == 4 and parsed.read == 8
    assert set(parsed.rows.column("symbol").to_pylist()) == {"ETH/USDT:USDT"}
    reasons = {r.row: r.reason for r in parsed.rejects.samples}
    assert reasons[2] == "high: below max(open, close): high 2701.0, open 2702.3, close 2700.0"
    assert reasons[4] == "volume: negative: -5.0"
    assert reasons[5].startswith("row: not [ms, open, high, low, close, volume]")
    assert reasons[7].startswith("open: not a finite number") and '"abc"' in reasons[7]


def test_read_ohlcv_csv_ms_header_any_case_interval_inferred() -> None:
    parsed = read_ohlcv(FIXTURES / "bars_ms.csv", symbol="XRP/USDT", venue="binance")
    frame = pl.read_csv(FIXTURES / "bars_ms.csv")
    rows = parsed.rows.to_pylist()
    assert [r["ts"] for r in rows] == [t * 10**6 for t in frame["Timestamp"].to_list()]
    assert [r["trades"] for r in rows] == frame["Trades"].to_list()
    assert [r["close"] for r in rows] == frame["Close"].to_list()
    assert {r["interval"] for r in rows} == {"1m"} and {r["venue"] for r in rows} == {"binance"}


def test_read_ohlcv_csv_iso_malformed_rows_named_by_field_and_value() -> None:
    parsed = read_ohlcv(FIXTURES / "bars_iso_malformed.csv")
    assert parsed.rows.column("ts").to_pylist() == [
        1723075200 * 10**9,
        (1723075200 + 900) * 10**9,
        (1723075200 + 5400) * 10**9,
    ]
    assert set(parsed.rows.column("interval").to_pylist()) == {"15m"}
    reasons = {r.row: r.reason for r in parsed.rejects.samples}
    assert reasons == {
        4: "date: not a timestamp: 'yesterday'",
        5: "high: below max(open, close): high 152.4, open 152.5, close 152.2",
        6: "low: above min(open, close): low 152.3, open 152.2, close 152.6",
        7: "close: not a finite number: nan",
    }


@pytest.mark.parametrize(
    ("unit", "factor"), [("s", 10**9), ("ms", 10**6), ("us", 10**3), ("ns", 1)]
)
def test_read_ohlcv_epoch_units_told_apart_by_size(tmp_path: Path, unit: str, factor: int) -> None:
    seconds = [1723075200 + 60 * i for i in range(3)]
    path = tmp_path / "bars.csv"
    body = "".join(f"{s * 10**9 // factor},1,2,0.5,1.5,10\n" for s in seconds)
    path.write_text("time,open,high,low,close,volume\n" + body)
    parsed = read_ohlcv(path, symbol="X/Y")
    assert parsed.rows.column("ts").to_pylist() == [s * 10**9 for s in seconds]


def test_read_ohlcv_parquet_with_datetime_column(tmp_path: Path) -> None:
    stamps = [datetime(2024, 8, 8, h, tzinfo=UTC) for h in range(3)]
    frame = pl.DataFrame(
        {
            "Date": stamps,
            "Open": [1.0, 2, 3],
            "High": [2.0, 3, 4],
            "Low": [0.5, 1, 2],
            "Close": [1.5, 2.5, 3.5],
            "Volume": [1.0, 2, 3],
        }
    )
    path = tmp_path / "ETH_BTC-1h.parquet"
    frame.write_parquet(path)
    parsed = read_ohlcv(path)
    assert parsed.rows.column("ts").to_pylist() == [int(s.timestamp()) * 10**9 for s in stamps]
    assert set(parsed.rows.column("symbol").to_pylist()) == {"ETH/BTC"}


def test_read_ohlcv_without_symbol_or_interval_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "bars.csv"
    path.write_text("time,open,high,low,close,volume\n1723075200,1,2,0.5,1.5,10\n")
    with pytest.raises(ImportFileError, match="--symbol"):
        read_ohlcv(path)
    with pytest.raises(ImportFileError, match="--interval"):
        read_ohlcv(path, symbol="X/Y")
    assert read_ohlcv(path, symbol="X/Y", interval="1d").rows.num_rows == 1
    with pytest.raises(ImportFileError, match="interval must look like"):
        read_ohlcv(path, symbol="X/Y", interval="daily")
    with pytest.raises(ImportFileError, match="no high"):
        bad = tmp_path / "nohigh.csv"
        bad.write_text("time,open,low,close,volume\n1,1,1,1,1\n")
        read_ohlcv(bad, symbol="X/Y", interval="1d")


def test_read_ohlcv_headerless_csv_reads_columns_in_order(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_bytes(
        io.BytesIO(b"2024-08-08,1,2,0.5,1.5,10\n2024-08-09,1.5,2,1,1.8,12\n").getvalue()
    )
    parsed = read_ohlcv(path, symbol="X/Y")
    assert parsed.rows.column("ts").to_pylist() == [1723075200 * 10**9, 1723161600 * 10**9]
    assert set(parsed.rows.column("interval").to_pylist()) == {"1d"}
