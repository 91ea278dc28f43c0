"""``ats order place|list|cancel`` and ``ats balance`` through the real CLI entry.

Three venues, each the real connector: the paper venue (the simulated venue
behind :class:`adapters.paper.broker.PaperBroker`, its book replayed from the
bundled recording, the account in a file under ``tmp_path``); the Binance
emulator's trading side on 127.0.0.1 (real ccxt through
:class:`adapters.binance.broker.BinanceBroker`), run in a thread so that
``api.cli.main`` (and one subprocess) can talk to it; and IB through
ib_insync's real client over the simulated TWS of ``tests/adapters/ib``.

Oracles: the venue's own state (its open orders, balances and book), the
risk limits of ``[risk]`` recomputed by hand, and the exit status and the one
``ats: error:`` line of every refusal.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from adapters.emulator import BinanceEmulator, EmulatorRecording, load_recording
from adapters.emulator.binance_trading import BinanceTradingConfig
from api import order_cmd
from api.brokers import OperatorVenue, build_venue, ib_instruments
from api.cli import _parser, main
from engine.config import load_config
from engine.log import reset_logging
from tests.adapters.ib.conftest import contract_details
from tests.adapters.ib.fake_ib import FakeTws

ROOT = Path(__file__).resolve().parents[2]
SPOT = ROOT / "data" / "binance_spot" / "btcusdt_20240808.gz"
#: The bundled recording's last book (the paper venue replays it to its end).
PAPER_BID, PAPER_ASK = 61685.99, 61686.0
PAPER_CASH = 100_000.0
TAKER_FEE = 0.001
API_KEY = "emu-key-3c1d9b7e05a2"
SECRET = "emu-secret-7f4e2a91c06b5d38"
IB_ACCOUNT = "DU7654321"

PLACE_KEYS = {
    "venue",
    "client_order_id",
    "venue_order_id",
    "symbol",
    "side",
    "type",
    "quantity",
    "price",
    "status",
    "filled_quantity",
    "average_price",
}
ORDER_KEYS = {
    "venue",
    "client_order_id",
    "venue_order_id",
    "symbol",
    "side",
    "quantity",
    "price",
    "status",
    "filled_quantity",
    "average_price",
}


@pytest.fixture(autouse=True)
def _clean(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    for name in list(os.environ):
        if name.startswith("ATS_") or name.endswith(("_API_KEY", "_SECRET_KEY", "_ACCOUNT")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("ATS_PAPER__ACCOUNT_FILE", str(tmp_path / "paper.json"))
    monkeypatch.setenv("ATS_LOGGING__LEVEL", "WARNING")
    monkeypatch.chdir(tmp_path)
    yield
    reset_logging()


class Result:
    def __init__(self, status: int, out: str, err: str) -> None:
        self.status = status
        self.out = out
        self.err = err

    @property
    def json(self) -> Any:
        lines = self.out.strip().splitlines()
        assert len(lines) == 1, f"--json prints one object, got {self.out!r}"
        return json.loads(lines[0])

    @property
    def error(self) -> str:
        """The one ``ats: error:`` line (and there must be exactly one, and no traceback)."""
        errors = [line for line in self.err.splitlines() if line.startswith("ats: error:")]
        assert len(errors) == 1, self.err
        assert "Traceback" not in self.err
        return errors[0]


def ats(capsys: pytest.CaptureFixture[str], *argv: str) -> Result:
    capsys.readouterr()
    status = main(list(argv))
    captured = capsys.readouterr()
    reset_logging()
    return Result(status, captured.out, captured.err)


# -- paper -----------------------------------------------------------------------------------------


def test_paper_limit_order_when_placed_then_listed_then_cancelled_then_list_empty(
    capsys: pytest.CaptureFixture[str],
) -> None:
    placed = ats(
        capsys, "order", "place", "--venue", "paper", "--symbol", "BTC/USDT", "--side", "buy",
        "--type", "limit", "--qty", "0.05", "--price", "61000", "--json",
    )  # fmt: skip
    assert placed.status == 0, placed.err
    order = placed.json
    assert (order["status"], order["filled_quantity"], order["average_price"]) == (
        "ACCEPTED",
        0.0,
        None,
    )
    listed = ats(capsys, "order", "list", "--venue", "paper", "--json")
    assert listed.status == 0
    [row] = listed.json["orders"]
    assert (row["client_order_id"], row["symbol"], row["side"], row["quantity"], row["price"]) == (
        order["client_order_id"],
        "BTC/USDT",
        "BUY",
        0.05,
        61000.0,
    )
    balance = ats(capsys, "balance", "--venue", "paper", "--json").json
    assert balance["balances"] == [
        {"asset": "USDT", "free": PAPER_CASH - 3050.0, "locked": 3050.0, "total": PAPER_CASH}
    ]

    cancelled = ats(
        capsys, "order", "cancel", "--venue", "paper", "--client-id", order["client_order_id"],
        "--json",
    )  # fmt: skip
    assert cancelled.status == 0, cancelled.err
    assert cancelled.json == {
        "venue": "paper",
        "client_order_id": order["client_order_id"],
        "venue_order_id": order["venue_order_id"],
        "status": "CANCELLED",
        "filled_quantity": 0.0,
        "average_price": None,
    }
    assert ats(capsys, "order", "list", "--venue", "paper", "--json").json["orders"] == []
    again = ats(
        capsys, "order", "cancel", "--venue", "paper", "--client-id", order["client_order_id"]
    )
    assert again.status == 2
    assert "no open order with client id" in again.error


def test_paper_market_order_when_placed_then_fills_at_the_book_with_the_taker_fee(
    capsys: pytest.CaptureFixture[str],
) -> None:
    placed = ats(
        capsys, "order", "place", "--venue", "paper", "--symbol", "BTC/USDT", "--side", "buy",
        "--type", "market", "--qty", "0.02", "--json",
    )  # fmt: skip

    assert placed.status == 0, placed.err
    order = placed.json
    assert set(order) == PLACE_KEYS
    assert (order["type"], order["status"], order["filled_quantity"], order["price"]) == (
        "MARKET",
        "FILLED",
        0.02,
        None,
    )
    assert order["average_price"] == PAPER_ASK
    balances = {
        b["asset"]: b for b in ats(capsys, "balance", "--venue", "paper", "--json").json["balances"]
    }
    assert balances["BTC"]["total"] == 0.02
    assert balances["USDT"]["total"] == pytest.approx(
        PAPER_CASH - 0.02 * PAPER_ASK * (1 + TAKER_FEE), abs=1e-9
    )
    # a second command sells it back: the account file carried the holding over
    sold = ats(
        capsys, "order", "place", "--venue", "paper", "--symbol", "BTC/USDT", "--side", "sell",
        "--type", "market", "--qty", "0.02", "--json",
    )  # fmt: skip
    assert (sold.status, sold.json["average_price"]) == (0, PAPER_BID)


def test_paper_order_when_risk_check_fails_then_exit_2_with_the_rule_and_nothing_sent(
    capsys: pytest.CaptureFixture[str],
) -> None:
    result = ats(
        capsys, "order", "place", "--venue", "paper", "--symbol", "BTC/USDT", "--side", "buy",
        "--type", "market", "--qty", "1",
    )  # fmt: skip

    assert result.status == 2
    # 1 BTC at the mid is 61.69 % of 100,000 USDT equity, above risk.max_position_pct 25 %
    share = 1 * (PAPER_BID + PAPER_ASK) / 2 / PAPER_CASH
    assert f"{share:.2%}" == "61.69%"
    assert result.error == (
        "ats: error: risk check max_position_pct failed: position would be 61.69% of equity "
        "for BTC/USDT, above risk.max_position_pct 25.00%"
    )
    assert result.out == ""
    assert ats(capsys, "order", "list", "--venue", "paper", "--json").json["orders"] == []


def test_paper_order_when_limit_price_outside_collar_then_risk_rejection(
    capsys: pytest.CaptureFixture[str],
) -> None:
    result = ats(
        capsys, "order", "place", "--venue", "paper", "--symbol", "BTC/USDT", "--side", "buy",
        "--type", "limit", "--qty", "0.01", "--price", "50000",
    )  # fmt: skip

    assert result.status == 2
    assert "risk check price_collar_pct failed: price 50000.0 is 18.94% from the reference" in (
        result.error
    )


def test_paper_order_when_risk_limit_lowered_in_config_then_same_order_rejected(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    argv = (
        "order", "place", "--venue", "paper", "--symbol", "BTC/USDT", "--side", "buy",
        "--type", "market", "--qty", "0.02",
    )  # fmt: skip
    monkeypatch.setenv("ATS_RISK__MAX_ORDER_NOTIONAL", "1000")

    result = ats(capsys, *argv)

    assert result.status == 2
    assert "max_order_notional" in result.error and "1000.00" in result.error


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ("--venue", "kraken", "--symbol", "BTC/USDT", "--side", "buy", "--type", "market",
             "--qty", "1"),
            "ats: error: unknown venue 'kraken' (one of: paper, binance, binance-usdm, "
            "bybit-spot, bybit-linear, ib)",
        ),
        (
            ("--venue", "paper", "--symbol", "DOGE/USDT", "--side", "buy", "--type", "market",
             "--qty", "1"),
            "ats: error: unknown symbol 'DOGE/USDT' on venue paper (known: BTC/USDT)",
        ),
        (
            ("--venue", "paper", "--symbol", "BTC/USDT", "--side", "buy", "--type", "limit",
             "--qty", "0.01"),
            "ats: error: --price is required for --type limit",
        ),
        (
            ("--venue", "paper", "--symbol", "BTC/USDT", "--side", "buy", "--type", "market",
             "--qty", "0"),
            "ats: error: --qty must be > 0, got 0",
        ),
        (
            ("--venue", "paper", "--symbol", "BTC/USDT", "--side", "sell", "--type", "market",
             "--qty", "-1"),
            "ats: error: --qty must be > 0, got -1",
        ),
        (
            ("--venue", "paper", "--symbol", "BTC/USDT", "--side", "hold", "--type", "market",
             "--qty", "1"),
            "ats: error: --side must be buy or sell, got 'hold'",
        ),
        (
            ("--venue", "paper", "--symbol", "BTC/USDT", "--side", "buy", "--type", "market",
             "--qty", "0.01", "--price", "60000"),
            "ats: error: --price is only for --type limit (a market order has none)",
        ),
        (
            ("--venue", "paper", "--symbol", "BTC/USDT", "--side", "buy", "--type", "limit",
             "--qty", "0.000001", "--price", "61686"),
            "ats: error: qty 1e-06 below lot size 1e-05 for BTC/USDT",
        ),
    ],
)  # fmt: skip
def test_place_when_input_is_bad_then_exit_2_with_one_line_naming_it(
    capsys: pytest.CaptureFixture[str], argv: tuple[str, ...], message: str
) -> None:
    result = ats(capsys, "order", "place", *argv)

    assert result.status == 2
    assert result.error == message
    assert result.out == ""


def test_paper_sell_when_nothing_held_then_refused_by_the_no_short_rule(
    capsys: pytest.CaptureFixture[str],
) -> None:
    result = ats(
        capsys, "order", "place", "--venue", "paper", "--symbol", "BTC/USDT", "--side", "sell",
        "--type", "limit", "--qty", "0.01", "--price", "61700",
    )  # fmt: skip

    assert result.status == 2
    assert "insufficient_position" in result.error


def test_list_and_balance_text_output_when_not_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert ats(capsys, "order", "list", "--venue", "paper").out == "no open orders on venue paper\n"
    assert ats(capsys, "balance", "--venue", "paper").out.startswith("USDT ")


# -- the Binance emulator's trading side -----------------------------------------------------------


class EmulatorThread:
    """A Binance spot emulator (trading enabled) on its own event loop in a thread."""

    def __init__(self, recording: EmulatorRecording, trading: BinanceTradingConfig) -> None:
        self.recording = recording
        self.trading = trading
        self.emulator: BinanceEmulator | None = None
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="binance-emulator", daemon=True)

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # re-raised in the test thread
            self._error = exc
            self._ready.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        emulator = BinanceEmulator(self.recording, venue="binance", fast=True, trading=self.trading)
        async with emulator as emu:
            self.emulator = emu
            self._ready.set()
            await self._stop.wait()

    def call(self, function: Any, *args: Any) -> Any:
        """Run ``function(*args)`` on the emulator's loop and return its result."""
        assert self._loop is not None
        result: list[Any] = []
        done = threading.Event()

        def task() -> None:
            result.append(function(*args))
            done.set()

        self._loop.call_soon_threadsafe(task)
        assert done.wait(10), "emulator loop did not answer"
        return result[0]

    def __enter__(self) -> EmulatorThread:
        self._thread.start()
        assert self._ready.wait(30), "emulator did not start"
        if self._error is not None:
            raise self._error
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)
        if self._error is not None:
            raise self._error


@pytest.fixture(scope="module")
def spot_recording() -> EmulatorRecording:
    return load_recording(SPOT)


@pytest.fixture
def binance(
    spot_recording: EmulatorRecording, monkeypatch: pytest.MonkeyPatch
) -> Iterator[EmulatorThread]:
    trading = BinanceTradingConfig(
        api_key=API_KEY,
        secret_key=SECRET,
        balances={"USDT": "1000000", "BTC": "0.5"},
        symbols=("BTCUSDT", "ETHUSDT"),
    )
    with EmulatorThread(spot_recording, trading) as emu:
        assert emu.emulator is not None
        monkeypatch.setenv("ATS_VENUES__BINANCE__REST_URL", emu.emulator.rest_url)
        monkeypatch.setenv("ATS_VENUES__BINANCE__WS_URL", emu.emulator.ws_url)
        monkeypatch.setenv("BINANCE_API_KEY", API_KEY)
        monkeypatch.setenv("BINANCE_SECRET_KEY", SECRET)
        yield emu


def _touch(emu: EmulatorThread) -> tuple[float, float]:
    assert emu.emulator is not None
    depth = emu.call(emu.emulator.depth_snapshot, 5)
    return float(depth["bids"][0][0]), float(depth["asks"][0][0])


def _no_secrets(*texts: str) -> None:
    for text in texts:
        assert API_KEY not in text and SECRET not in text


def test_binance_limit_order_when_placed_then_listed_then_cancelled_then_list_empty(
    capsys: pytest.CaptureFixture[str], binance: EmulatorThread
) -> None:
    bid, _ = _touch(binance)
    price = f"{math.floor(bid * 0.98):.2f}"  # rests below the touch, inside the 5 % collar

    placed = ats(
        capsys, "order", "place", "--venue", "binance", "--symbol", "BTC/USDT", "--side", "buy",
        "--type", "limit", "--qty", "0.01", "--price", price, "--json",
    )  # fmt: skip
    assert placed.status == 0, placed.err
    order = placed.json
    assert set(order) == PLACE_KEYS
    assert (order["venue"], order["status"], order["price"]) == (
        "binance",
        "ACCEPTED",
        float(price),
    )
    assert order["venue_order_id"] != ""
    listed = ats(capsys, "order", "list", "--venue", "binance", "--json")
    assert listed.status == 0, listed.err
    [row] = listed.json["orders"]
    assert set(row) == ORDER_KEYS
    assert (row["client_order_id"], row["quantity"], row["price"], row["status"]) == (
        order["client_order_id"],
        0.01,
        float(price),
        "ACCEPTED",
    )
    locked = {
        b["asset"]: b["locked"]
        for b in ats(capsys, "balance", "--venue", "binance", "--json").json["balances"]
    }
    assert locked["USDT"] == pytest.approx(0.01 * float(price), abs=1e-8)

    cancelled = ats(
        capsys, "order", "cancel", "--venue", "binance", "--client-id", order["client_order_id"],
        "--json",
    )  # fmt: skip
    assert cancelled.status == 0, cancelled.err
    assert (cancelled.json["client_order_id"], cancelled.json["status"]) == (
        order["client_order_id"],
        "CANCELLED",
    )
    assert ats(capsys, "order", "list", "--venue", "binance", "--json").json["orders"] == []
    _no_secrets(placed.out, placed.err, listed.out, cancelled.out, cancelled.err)


def test_binance_market_order_when_placed_then_filled_at_the_emulators_book(
    capsys: pytest.CaptureFixture[str], binance: EmulatorThread
) -> None:
    bid, _ = _touch(binance)

    placed = ats(
        capsys, "order", "place", "--venue", "binance", "--symbol", "BTC/USDT", "--side", "sell",
        "--type", "market", "--qty", "0.01", "--json",
    )  # fmt: skip

    assert placed.status == 0, placed.err
    order = placed.json
    assert (order["status"], order["filled_quantity"], order["average_price"]) == (
        "FILLED",
        0.01,
        bid,
    )
    balances = {
        b["asset"]: b["total"]
        for b in ats(capsys, "balance", "--venue", "binance", "--json").json["balances"]
    }
    assert balances["BTC"] == pytest.approx(0.49, abs=1e-12)


def test_binance_order_when_risk_check_fails_then_exit_2_and_the_venue_never_sees_it(
    capsys: pytest.CaptureFixture[str], binance: EmulatorThread
) -> None:
    result = ats(
        capsys, "order", "place", "--venue", "binance", "--symbol", "BTC/USDT", "--side", "buy",
        "--type", "market", "--qty", "10",
    )  # fmt: skip

    assert result.status == 2
    assert result.error.startswith("ats: error: risk check max_position_pct failed: position ")
    assert ats(capsys, "order", "list", "--venue", "binance", "--json").json["orders"] == []
    balances = {
        b["asset"]: b["total"]
        for b in ats(capsys, "balance", "--venue", "binance", "--json").json["balances"]
    }
    assert balances == {"USDT": 1_000_000.0, "BTC": 0.5}


def test_binance_when_credentials_missing_then_exit_2_naming_the_variable(
    capsys: pytest.CaptureFixture[str], binance: EmulatorThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BINANCE_SECRET_KEY")

    result = ats(capsys, "balance", "--venue", "binance")

    assert result.status == 2
    assert "BINANCE_SECRET_KEY" in result.error
    _no_secrets(result.out, result.err)


def test_binance_place_in_a_subprocess_prints_json_and_never_the_keys(
    binance: EmulatorThread,
) -> None:
    bid, _ = _touch(binance)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",)}
    run = subprocess.run(
        [sys.executable, "-m", "api.cli", "--log-level", "DEBUG", "order", "place",
         "--venue", "binance", "--symbol", "BTC/USDT", "--side", "buy", "--type", "limit",
         "--qty", "0.002", "--price", f"{math.floor(bid * 0.99):.2f}", "--json"],
        cwd=ROOT, env={**env, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip

    assert run.returncode == 0, run.stderr
    order = json.loads(run.stdout)
    assert (order["status"], order["quantity"]) == ("ACCEPTED", 0.002)
    _no_secrets(run.stdout, run.stderr)


# -- IB over the simulated TWS ---------------------------------------------------------------------


IB_CONFIG = """
[venues.ib]
port = 4002
client_id = 7
request_timeout_s = 2.0
connect_timeout_s = 2.0

[venues.ib.contracts."AAPL/USD"]
primary_exchange = "NASDAQ"
"""


def test_ib_limit_order_when_placed_listed_and_cancelled_through_the_command(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    tws = FakeTws(accounts=(IB_ACCOUNT,))
    tws.contract_details = contract_details()
    tws.account_values = [("CashBalance", "100000", "USD")]
    monkeypatch.setenv("IB_ACCOUNT", IB_ACCOUNT)
    path = tmp_path / "ats.toml"
    path.write_text(IB_CONFIG, encoding="utf-8")
    config = load_config(path)

    def build(name: str, cfg: Any, **kw: Any) -> OperatorVenue:
        return build_venue(name, cfg, ib_session=tws.make_ib, **kw)

    def command(*argv: str) -> Result:
        capsys.readouterr()
        status = order_cmd.run(_parser().parse_args(list(argv)), config, build)
        captured = capsys.readouterr()
        return Result(status, captured.out, captured.err)

    placed = command(
        "order", "place", "--venue", "ib", "--symbol", "AAPL/USD", "--side", "buy", "--type",
        "limit", "--qty", "10", "--price", "187.25", "--json",
    )  # fmt: skip
    assert placed.status == 0, placed.err
    order = placed.json
    assert order["status"] == "ACCEPTED"
    assert tws.find(order["client_order_id"]).order.lmtPrice == 187.25
    listed = command("order", "list", "--venue", "ib", "--json").json["orders"]
    assert [(r["client_order_id"], r["quantity"]) for r in listed] == [
        (order["client_order_id"], 10.0)
    ]
    cancelled = command("order", "cancel", "--venue", "ib", "--client-id", order["client_order_id"])
    assert cancelled.status == 0, cancelled.err
    assert tws.find(order["client_order_id"]).status == "Cancelled"
    market = command(
        "order", "place", "--venue", "ib", "--symbol", "AAPL/USD", "--side", "buy", "--type",
        "market", "--qty", "10",
    )  # fmt: skip
    assert market.status == 2
    assert "no reference price for AAPL/USD on venue ib" in market.error
    for result in (placed, cancelled, market):
        assert IB_ACCOUNT not in result.out + result.err


def test_ib_instruments_when_kind_not_set_then_inferred_from_the_symbol(tmp_path: Path) -> None:
    path = tmp_path / "ats.toml"
    path.write_text(
        '[venues.ib.contracts."AAPL/USD"]\n'
        '[venues.ib.contracts."EUR/USD"]\n'
        "tick_size = 0.00005\n"
        '[venues.ib.contracts."XAU/USD"]\n'
        '[venues.ib.contracts."ES/USD:USD-241220"]\n'
        'exchange = "CME"\ntick_size = 0.25\nmultiplier = 50.0\n'
        '[venues.ib.contracts."SPY/USD"]\nkind = "stock"\nlocal_symbol = "SPY"\n',
        encoding="utf-8",
    )

    registry = ib_instruments(load_config(path, env={}))

    seen = {
        i.symbol: (str(i.kind), i.venue_symbol, i.contract_multiplier, i.settlement_currency)
        for i in registry
    }
    assert seen == {
        "AAPL/USD": ("stock", "AAPL", 1.0, "USD"),
        "EUR/USD": ("forex", "EUR.USD", 1.0, "USD"),
        "XAU/USD": ("commodity", "XAUUSD", 1.0, "USD"),
        "ES/USD:USD-241220": ("future", "ES", 50.0, "USD"),
        "SPY/USD": ("stock", "SPY", 1.0, "USD"),
    }
    assert all(i.venue == "ib" for i in registry)
