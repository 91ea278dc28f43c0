"""``ats data import|export|resample|query`` run in-process through ``api.cli.main``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from api.cli import main
from tests.engine.store_io._util import FIXTURES, LEAN, SPOT, write_slice

ROOT = Path(__file__).resolve().parents[2]


def _json(capsys: pytest.CaptureFixture[str]) -> dict:
    return json.loads(capsys.readouterr().out)


@pytest.fixture
def ticks_file(tmp_path: Path) -> Path:
    return write_slice(tmp_path / "spot.gz", SPOT, 4000)


def test_import_ticks_prints_counts_and_second_import_inserts_nothing(
    tmp_path: Path, ticks_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(tmp_path / "ats.duckdb")
    argv = ["data", "import", str(ticks_file), "--kind", "ticks", "--db", db]
    assert main([*argv, "--json"]) == 0
    first = _json(capsys)
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert first["read"] == 4000 and first["inserted"] == first["rows"] > 0
    assert first["skipped"] == 4000 - first["rows"] and first["rejected"] == 0
    assert first["symbols"] == "BTC/USDT" and first["venue"] == "binance"
    assert first["rows_per_s"] > 0
    assert "inserted              0" in text and f"duplicates {first['rows']:>12,}" in text
    stored = duckdb.connect(db, read_only=True).sql("SELECT count(*) FROM price_ticks").fetchall()
    assert stored == [(first["rows"],)]


def test_import_malformed_file_keeps_good_rows_prints_reasons(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(tmp_path / "ats.duckdb")
    assert (
        main(
            [
                "data",
                "import",
                str(FIXTURES / "bars_iso_malformed.csv"),
                "--kind",
                "ohlcv",
                "--db",
                db,
            ]
        )
        == 0
    )
    text = capsys.readouterr().out
    assert "inserted              3" in text and "rejected              4" in text
    assert "row 4: date: not a timestamp: 'yesterday'" in text
    assert "1  high: below max(open, close)" in text


def test_import_usage_errors_exit_2_with_a_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(tmp_path / "ats.duckdb")
    assert main(["data", "import", str(tmp_path / "none.csv"), "--kind", "ohlcv", "--db", db]) == 2
    assert "file not found" in capsys.readouterr().err
    assert (
        main(
            [
                "data",
                "import",
                str(FIXTURES / "news.json"),
                "--kind",
                "news",
                "--symbol",
                "X",
                "--db",
                db,
            ]
        )
        == 2
    )
    assert "--symbol is not an option of --kind news" in capsys.readouterr().err
    assert (
        main(["data", "import", str(FIXTURES / "bars_ms.csv"), "--kind", "ohlcv", "--db", db]) == 2
    )
    assert "pass --symbol" in capsys.readouterr().err
    assert not Path(db).exists()  # nothing was opened for a file that cannot be read


def test_lean_import_resample_export_query_end_to_end(
    tmp_path: Path, ticks_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(tmp_path / "ats.duckdb")
    assert main(["data", "import", str(LEAN / "spy.zip"), "--kind", "ohlcv", "--db", db]) == 0
    assert main(["data", "import", str(ticks_file), "--kind", "ticks", "--db", db]) == 0
    capsys.readouterr()
    assert (
        main(["data", "resample", "--symbol", "BTC/USDT", "--interval", "1m", "--db", db, "--json"])
        == 0
    )
    resampled = _json(capsys)
    assert resampled["bars"] > 0 and resampled["new_bars"] == resampled["bars"]
    out = tmp_path / "parquet"
    # (all of SPY would be 5,849 one-day partitions: 15 s; one symbol keeps the test quick)
    export = ["data", "export", "--table", "prices", "--format", "parquet", "--out", str(out)]
    assert main([*export, "--symbol", "BTC/USDT", "--db", db, "--json"]) == 0
    exported = _json(capsys)
    assert exported["rows"] == resampled["bars"]
    assert exported["files"] == ["symbol=BTC%2FUSDT/date=2024-08-08/part-0.parquet"]
    sql = "SELECT symbol, interval, count(*) AS bars FROM prices GROUP BY ALL ORDER BY symbol"
    assert main(["data", "query", sql, "--db", db, "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == [
        {"symbol": "BTC/USDT", "interval": "1m", "bars": resampled["bars"]},
        {"symbol": "SPY", "interval": "1d", "bars": 5849},
    ]
    assert main(["data", "query", sql, "--db", db, "--format", "csv"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "symbol,interval,bars",
        f"BTC/USDT,1m,{resampled['bars']}",
        "SPY,1d,5849",
    ]
    assert main(["data", "query", sql, "--db", db]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["symbol", "interval", "bars"] and table[-1] == "(2 rows)"


@pytest.mark.parametrize(
    "sql",
    [
        "INSERT INTO news VALUES ('x', 0, 's', 'h', NULL, NULL, NULL, NULL)",
        "DELETE FROM price_ticks",
        "CREATE TABLE evil (x INTEGER)",
    ],
)
def test_query_refuses_writes_read_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], sql: str
) -> None:
    db = str(tmp_path / "ats.duckdb")
    news = str(FIXTURES / "bybit_spot_public_trade.txt")
    assert main(["data", "import", news, "--kind", "ticks", "--db", db]) == 0
    capsys.readouterr()
    assert main(["data", "query", sql, "--db", db]) == 2
    err = capsys.readouterr().err
    assert "read-only" in err and "Traceback" not in err
    con = duckdb.connect(db, read_only=True)
    assert con.sql("SELECT count(*) FROM price_ticks").fetchall() == [(5,)]
    assert con.sql("SELECT count(*) FROM news").fetchall() == [(0,)]


def test_query_missing_store_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["data", "query", "SELECT 1", "--db", str(tmp_path / "none.duckdb")]) == 2
    assert "no store at" in capsys.readouterr().err


def test_ats_data_console_script_smoke(tmp_path: Path) -> None:
    db = tmp_path / "ats.duckdb"
    ats = Path(sys.executable).parent / "ats"
    done = subprocess.run(
        [
            str(ats),
            "data",
            "import",
            str(FIXTURES / "news.json"),
            "--kind",
            "news",
            "--db",
            str(db),
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["inserted"] == 3
