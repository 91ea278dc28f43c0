"""``read_records``: news, macro events and energy records from CSV and JSON."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from engine.store.importers import ImportFileError, read_records
from tests.engine.store_io._util import FIXTURES


def _ns(iso: str) -> int:
    from datetime import datetime

    return int(datetime.fromisoformat(iso).timestamp()) * 10**9


def test_read_records_news_json_aliases_and_ids() -> None:
    parsed = read_records(FIXTURES / "news.json", "news")
    first, second, third = parsed.rows.to_pylist()
    assert first["id"] == "cd-2024-08-08-001"  # the source's id
    assert first["ts"] == _ns("2024-08-08T13:30:00+00:00")
    assert first["symbols"] == "BTC/USDT,ETH/USDT" and first["sentiment"] == 0.25
    expected = hashlib.sha1(
        "\x1f".join(["reuters", str(_ns("2024-08-08T14:05:12+00:00")), second["headline"]]).encode()
    ).hexdigest()[:16]
    assert second["id"] == expected and second["sentiment"] == 0.4
    assert third["ts"] == 1723127400 * 10**9 and third["symbols"] == "SOL/USDT"
    assert read_records(FIXTURES / "news.json", "news").rows.column("id") == parsed.rows.column(
        "id"
    )


def test_read_records_news_malformed_csv_rejects_with_field_and_value() -> None:
    parsed = read_records(FIXTURES / "news_malformed.csv", "news")
    assert [r["headline"] for r in parsed.rows.to_pylist()] == [
        "Bitcoin miners sell as hashprice falls",
        "Crypto funds see $176M inflows",
    ]
    assert parsed.rows.column("ts").to_pylist()[1] == _ns("2024-08-08T18:00:00+00:00")  # RFC 2822
    assert {r.row: r.reason for r in parsed.rejects.samples} == {
        3: "ts: missing",
        4: "headline: missing",
        5: "sentiment: outside -1..1: '1.7'",
        6: "time: not a timestamp: 'not a date'",
    }


def test_read_records_macro_calendar_values() -> None:
    rows = read_records(FIXTURES / "macro.csv", "macro").rows.to_pylist()
    claims = rows[0]
    assert (claims["actual"], claims["forecast"], claims["previous"]) == (
        233_000.0,
        240_000.0,
        250_000.0,
    )
    assert claims["importance"] == 3 and claims["country"] == "US"
    speech = rows[2]
    assert speech["actual"] is None and speech["importance"] == 3
    cpi = rows[3]
    assert (cpi["actual"], cpi["importance"], cpi["unit"]) == (0.5, 3, "%")


def test_read_records_macro_json_lines_bad_lines_rejected_good_kept() -> None:
    parsed = read_records(FIXTURES / "macro_malformed.jsonl", "macro")
    assert [r["event"] for r in parsed.rows.to_pylist()] == [
        "CPI m/m",
        "Core CPI y/y",
        "UoM Consumer Sentiment",
    ]
    assert parsed.rows.to_pylist()[0]["id"] == "ev-1"
    reasons = {r.row: r.reason for r in parsed.rejects.samples}
    assert reasons[3] == "impact: not 1..3 or low/medium/high: 'extreme'"
    assert reasons[4] == "country: missing"
    assert reasons[5].startswith("line: not valid JSON")


def test_read_records_energy_eia_response_shape() -> None:
    rows = read_records(FIXTURES / "energy_eia.json", "energy").rows.to_pylist()
    assert (rows[0]["series_id"], rows[0]["value"], rows[0]["unit"], rows[0]["region"]) == (
        "WCESTUS1",
        429.3,
        "MBBL",
        "NUS",
    )
    assert rows[0]["ts"] == _ns("2024-08-02T00:00:00+00:00")
    assert rows[3]["ts"] == _ns("2024-07-01T00:00:00+00:00")  # monthly period 2024-07
    assert rows[2]["commodity"] == "Natural Gas"


def test_read_records_energy_malformed_csv() -> None:
    parsed = read_records(FIXTURES / "energy_malformed.csv", "energy")
    assert [r["series_id"] for r in parsed.rows.to_pylist()] == ["PET.RWTC.D", "NG.RNGWHHD.D"]
    assert {r.row: r.reason for r in parsed.rejects.samples} == {
        3: "value: missing",
        4: "period: not a timestamp: '2024-13-01'",
        5: "series_id: missing",
        6: "value: not a number: 'seventy'",
    }


def test_read_records_unknown_kind_and_not_json(tmp_path: Path) -> None:
    with pytest.raises(ImportFileError, match="kind must be one of"):
        read_records(FIXTURES / "news.json", "weather")
    bad = tmp_path / "x.json"
    bad.write_text("[1, 2")
    with pytest.raises(ImportFileError, match="not JSON"):
        read_records(bad, "news")
