"""``read_ticks`` on real recordings, checked against a plain ``json`` parse of the same lines."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from api.data_cmd import venue_unified_symbol
from engine.store.importers import ImportFileError, read_ticks
from tests.engine.store_io._util import CRYPTOFEED, FIXTURES, SPOT, USDM, head_lines, write_slice

LINES = 3000


def _oracle(lines: list[bytes]) -> list[tuple]:
    """Trades of ``<recv> <combined-stream frame>`` lines, parsed with the standard library."""
    out = []
    for line in lines:
        recv, _, frame = line.rstrip(b"\n").partition(b" ")
        msg = json.loads(frame)
        data = msg.get("data") or {}
        if not msg.get("stream", "").endswith("@trade"):
            continue
        if data.get("X", "MARKET") != "MARKET":
            continue
        out.append(
            (
                data["T"] * 1_000_000,
                int(recv),
                float(data["p"]),
                float(data["q"]),
                data["t"],
                -1 if data["m"] else 1,
            )
        )
    return sorted(out, key=lambda r: r[4])


def _rows(parsed) -> list[tuple]:
    cols = ("ts_event", "ts_recv", "price", "quantity", "trade_id", "side")
    return sorted(
        zip(*(parsed.rows.column(c).to_pylist() for c in cols), strict=True), key=lambda r: r[4]
    )


@pytest.mark.parametrize(
    ("source", "venue", "symbol"),
    [(SPOT, "binance", "BTC/USDT"), (USDM, "binance-usdm", "BTC/USDT:USDT")],
)
def test_read_ticks_binance_recording_slice_equals_json_parse(
    tmp_path: Path, source: Path, venue: str, symbol: str
) -> None:
    path = write_slice(tmp_path / "slice.gz", source, LINES)
    parsed = read_ticks(path, symbol_map=venue_unified_symbol)
    expected = _oracle(head_lines(source, LINES))
    assert len(expected) > 400
    assert _rows(parsed) == expected
    assert parsed.info["venue"] == venue
    assert set(parsed.rows.column("symbol").to_pylist()) == {symbol}
    assert set(parsed.rows.column("venue").to_pylist()) == {venue}
    assert parsed.rejects.count == 0
    assert parsed.read == LINES
    assert parsed.skipped == LINES - len(expected)


def test_read_ticks_cryptofeed_aggtrades_with_seconds_timestamps() -> None:
    parsed = read_ticks(CRYPTOFEED / "BINANCE_FUTURES.ws.1.0.gz", symbol_map=venue_unified_symbol)
    expected = []
    with gzip.open(CRYPTOFEED / "BINANCE_FUTURES.ws.1.0.gz", "rt") as f:
        for line in f:
            head, _, frame = line.partition(": ")
            if "@aggTrade" not in frame:
                continue
            sec, _, frac = head.partition(".")
            data = json.loads(frame)["data"]
            recv = int(sec) * 10**9 + int(frac.ljust(9, "0"))
            expected.append(
                (
                    data["T"] * 10**6,
                    recv,
                    float(data["p"]),
                    float(data["q"]),
                    data["a"],
                    -1 if data["m"] else 1,
                )
            )
    assert len(expected) == 91
    assert _rows(parsed) == sorted(expected, key=lambda r: r[4])
    assert parsed.info["venue"] == "binance-usdm"  # from the connection URL (fstream)
    assert set(parsed.rows.column("symbol").to_pylist()) == {
        "SUSHI/USDT:USDT",
        "AKRO/USDT:USDT",
        "KEEP/USDT:USDT",
        "CTK/USDT:USDT",
    }
    assert parsed.rejects.count == 0


def test_read_ticks_spot_cryptofeed_recording_maps_each_symbol() -> None:
    parsed = read_ticks(CRYPTOFEED / "BINANCE.ws.1.0.gz", symbol_map=venue_unified_symbol)
    assert sorted(parsed.rows.column("symbol").to_pylist()) == ["LRC/BTC", "NKN/USDT"]
    assert parsed.info["venue"] == "binance"
    assert parsed.read == 266 and parsed.skipped == 264


def test_read_ticks_malformed_lines_rejected_with_reasons_good_lines_kept(tmp_path: Path) -> None:
    good = head_lines(SPOT, 400)
    trade = next(line for line in good if b"@trade" in line)
    recv, _, frame = trade.partition(b" ")
    bad = [
        b"garbage without a timestamp\n",
        recv + b" " + frame.replace(b'"p":"', b'"p":"x', 1),  # price not a number
        recv + b" " + frame.replace(b'"q":"', b'"q":"-', 1),  # negative quantity
        recv + b" " + frame[:50] + b"\n",  # cut short
        recv + b" " + b'{"stream":"btcusdt@depth@100ms","data":{"e":"depthUpd\n',  # cut short
    ]
    path = tmp_path / "mixed.txt"
    path.write_bytes(b"".join(good[:200] + bad + good[200:]))
    parsed = read_ticks(path, symbol="BTC/USDT")
    assert _rows(parsed) == _oracle(good)
    assert parsed.rejects.count == len(bad)
    reasons = {r.row: r.reason for r in parsed.rejects.samples}
    assert set(reasons) == {201, 202, 203, 204, 205}
    assert "no receive timestamp" in reasons[201] and "garbage" in reasons[201]
    assert reasons[202].startswith("p: not a number") and "'x" in reasons[202]
    assert reasons[203].startswith("q: not a positive number") and "-" in reasons[203]
    assert "not valid JSON" in reasons[204]
    assert "not a JSON object" in reasons[205]


def test_read_ticks_bybit_public_trade_several_trades_per_message() -> None:
    parsed = read_ticks(FIXTURES / "bybit_spot_public_trade.txt", symbol_map=venue_unified_symbol)
    rows = parsed.rows.to_pylist()
    assert [r["trade_id"] for r in rows] == [
        2290000000061666327,
        2290000000061666328,
        2290000000061666329,
        2290000000061666330,
        2290000000061666332,
    ]
    assert [r["side"] for r in rows] == [1, 1, -1, -1, 1]
    assert rows[0]["ts_event"] == 1723161600003 * 10**6
    assert rows[0]["ts_recv"] == 1723161600051000000
    assert {r["symbol"] for r in rows} == {"BTC/USDT"} and {r["venue"] for r in rows} == {
        "bybit-spot"
    }
    assert parsed.skipped == 2  # orderbook and tickers
    codes = parsed.rejects.by_code
    assert codes == {
        "v: not a positive number": 1,
        "v: not a number": 1,
        "frame: not valid JSON": 1,
    }


def test_read_ticks_bybit_uuid_ids_mean_linear_and_hash_to_int64(tmp_path: Path) -> None:
    frame = {
        "topic": "publicTrade.BTCUSDT",
        "ts": 1,
        "data": [
            {
                "T": 1672304486865,
                "s": "BTCUSDT",
                "S": "Buy",
                "v": "0.001",
                "p": "16578.50",
                "i": "20f43950-d8dd-5b31-9112-a178eb6023af",
            }
        ],
    }
    path = tmp_path / "linear.txt"
    path.write_text(f"1672304486900000000 {json.dumps(frame)}\n")
    parsed = read_ticks(path, symbol_map=venue_unified_symbol)
    assert parsed.info["venue"] == "bybit-linear"
    (row,) = parsed.rows.to_pylist()
    assert row["symbol"] == "BTC/USDT:USDT"
    again = read_ticks(path, symbol_map=venue_unified_symbol).rows.to_pylist()[0]["trade_id"]
    assert row["trade_id"] == again and -(2**63) <= again < 2**63


def test_read_ticks_unmappable_symbol_rejected_unless_symbol_given(tmp_path: Path) -> None:
    frame = (
        b'{"stream":"abcxyz@trade","data":{"e":"trade","E":1,"s":"ABCXYZ","t":7,'
        b'"p":"1.5","q":"2","T":1723161255342,"m":false}}'
    )
    path = tmp_path / "odd.txt"
    path.write_bytes(b"1723161255342000000 " + frame + b"\n")
    parsed = read_ticks(path, symbol_map=venue_unified_symbol)
    assert parsed.rows.num_rows == 0
    (reject,) = parsed.rejects.samples
    assert reject.row == 1 and "ABCXYZ" in reject.reason and "--symbol" in reject.reason
    named = read_ticks(path, symbol="ABC/XYZ", symbol_map=venue_unified_symbol)
    assert named.rows.column("symbol").to_pylist() == ["ABC/XYZ"]


def test_read_ticks_truncated_gzip_keeps_whole_lines(tmp_path: Path) -> None:
    whole = write_slice(tmp_path / "whole.gz", SPOT, 2000)
    cut = tmp_path / "cut.gz"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    parsed = read_ticks(cut, symbol="BTC/USDT")
    assert "truncated" in parsed.info
    assert 0 < parsed.rows.num_rows < read_ticks(whole, symbol="BTC/USDT").rows.num_rows


def test_read_ticks_unknown_venue_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ImportFileError, match="venue must be one of"):
        read_ticks(SPOT, venue="kraken")
    with pytest.raises(ImportFileError, match="not found"):
        read_ticks(tmp_path / "missing.gz")
