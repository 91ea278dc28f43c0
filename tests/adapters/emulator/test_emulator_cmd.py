"""``ats emulator`` (``api/emulator_cmd.py``): the export lines, a clean SIGTERM, option errors.

Oracle for the export lines: :func:`engine.config.load_config` itself must
accept them and give the emulator's URLs for the venue.
"""

from __future__ import annotations

import asyncio
import json
import os
import select
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import uvloop

from api.emulator_cmd import env_lines, main
from engine.config import load_config
from tests.adapters.emulator._support import SPOT, SPOT_STREAMS, TIMEOUT_S, connect

ROOT = Path(__file__).resolve().parents[3]


def read_lines(proc: subprocess.Popen[bytes], n: int) -> list[str]:
    """The first ``n`` lines of stdout, without blocking past the test timeout."""
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    deadline = time.monotonic() + TIMEOUT_S
    data = b""
    while data.count(b"\n") < n:
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        assert ready, f"ats emulator printed {data!r} only"
        chunk = os.read(fd, 4096)
        assert chunk, f"ats emulator exited after printing {data!r}"
        data += chunk
    return data.decode().splitlines()[:n]


def exports_to_env(lines: list[str]) -> dict[str, str]:
    env = {}
    for line in lines:
        name, _, value = line.removeprefix("export ").partition("=")
        env[name] = value
    return env


def test_cli_when_started_then_prints_exports_serves_and_sigterm_exits_0_closing_clients() -> None:
    cmd = [sys.executable, "-m", "api.emulator_cmd", "--replay", str(SPOT), "--port", "0"]
    with subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
        try:
            lines = read_lines(proc, 2)
            config = load_config(env=exports_to_env(lines))
            urls = config.venues.binance
            port = int(urls.rest_url.rsplit(":", 1)[1])
            assert lines == [
                f"export ATS_VENUES__BINANCE__WS_URL=ws://127.0.0.1:{port}",
                f"export ATS_VENUES__BINANCE__REST_URL=http://127.0.0.1:{port}",
            ]
            url = f"{urls.rest_url}/api/v3/depth?symbol=BTCUSDT&limit=5"
            with urllib.request.urlopen(url, timeout=TIMEOUT_S) as resp:
                assert len(json.load(resp)["bids"]) == 5

            async def client() -> tuple[int, int | None]:
                transport, got = await connect(f"{urls.ws_url}/stream?streams={SPOT_STREAMS}")
                try:
                    async with asyncio.timeout(TIMEOUT_S):
                        while not got.frames:  # real time: the first frame comes at once
                            await asyncio.sleep(0.005)
                    proc.send_signal(signal.SIGTERM)
                    await asyncio.wait_for(transport.wait_disconnected(), TIMEOUT_S)
                finally:
                    transport.disconnect()
                return len(got.frames), got.close_code

            frames, close_code = uvloop.run(client())
            assert proc.wait(TIMEOUT_S) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert proc.stderr is not None
        err = proc.stderr.read().decode()
    assert frames >= 1 and close_code == 1001
    assert "serving binance BTCUSDT" in err and "ats emulator: stopped:" in err
    stopped = json.loads(err.split("ats emulator: stopped: ", 1)[1])
    assert stopped["connections"] == 1 and stopped["open_connections"] == 0
    assert stopped["snapshots"] == 1


def test_env_lines_when_usdm_then_load_config_points_binance_usdm_at_the_emulator() -> None:
    lines = env_lines("binance-usdm", "ws://127.0.0.1:9000", "http://127.0.0.1:9000")
    venues = load_config(env=exports_to_env(lines)).venues
    assert venues.binance_usdm.ws_url == "ws://127.0.0.1:9000"
    assert venues.binance_usdm.rest_url == "http://127.0.0.1:9000"
    assert venues.binance.ws_url != "ws://127.0.0.1:9000"


def test_env_lines_when_venue_has_no_config_key_then_a_comment_not_an_export() -> None:
    from engine.config import VenuesConfig

    lines = env_lines("binance-coinm", "ws://127.0.0.1:9000", "http://127.0.0.1:9000")
    if "binance_coinm" in VenuesConfig.__struct_fields__:
        assert lines[0].startswith("export ATS_VENUES__BINANCE_COINM__WS_URL=")
    else:
        assert lines == [
            "# no [venues.binance_coinm] in the configuration: "
            "ws_url=ws://127.0.0.1:9000 rest_url=http://127.0.0.1:9000"
        ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--drop-every", "-2"], "drop_every must be >= 0 (0 = off), was -2"),
        (["--speed", "0"], "speed must be > 0, was 0.0"),
        (["--port", "70000"], "port must be in [0, 65535], was 70000"),
    ],
)
def test_cli_when_bad_option_then_exit_2_naming_it(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--replay", str(SPOT), *args]) == 2
    assert capsys.readouterr().err == f"ats: error: {message}\n"


def test_cli_when_missing_recording_then_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--replay", str(tmp_path / "none.gz")]) == 2
    assert "recording not found" in capsys.readouterr().err


def test_cli_when_port_in_use_then_exit_2_naming_the_port(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["--replay", str(SPOT), "--port", str(port)]) == 2
    assert f"cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("venue", "spec", "message"),
    [
        ("binance", "jam", "--trade-fault 'jam': action must be timeout, 429, 418, 5xx or reject"),
        ("binance", "rate_limit", "action must be timeout, 429, 418, 5xx or reject, was"),
        ("bybit-spot", "429", "action must be timeout, rate_limit, 403, 5xx or reject, was '429'"),
        ("binance", "timeout,at", "--trade-fault 'timeout,at': 'at' is not key=value"),
        ("binance", "5xx,status=200", "status must be a 5xx status, was 200"),
        ("binance", "timeout,delay=3", "delay"),
        ("binance-coinm", "timeout", "--trade-fault: binance-coinm serves no trading API"),
    ],
)
def test_cli_when_bad_trade_fault_then_exit_2_naming_it(
    venue: str, spec: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--replay", str(SPOT), "--venue", venue, "--trade-fault", spec]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ats: error: ") and message in err and err.count("\n") == 1


def _signed_order(rest_url: str, key: str, secret: str) -> tuple[int, dict[str, object]]:
    """POST a signed LIMIT order to the emulator as Binance documents it (no ccxt)."""
    import hashlib
    import hmac
    import urllib.error
    import urllib.parse

    query = urllib.parse.urlencode(
        {
            "symbol": "BTCUSDT",
            "side": "BUY",
            "type": "LIMIT",
            "timeInForce": "GTC",
            "quantity": "0.001",
            "price": "50000",
            "newClientOrderId": "cli-1",
            "timestamp": int(time.time() * 1000),
        }
    )
    signature = hmac.new(secret.encode(), query.encode(), hashlib.sha256).hexdigest()
    request = urllib.request.Request(
        f"{rest_url}/api/v3/order?{query}&signature={signature}",
        method="POST",
        headers={"X-MBX-APIKEY": key},
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as resp:
            return resp.status, json.load(resp)
    except urllib.error.HTTPError as exc:
        return exc.code, json.load(exc)


def test_cli_when_trade_fault_reject_then_the_signed_order_endpoint_answers_it() -> None:
    cmd = [
        sys.executable, "-m", "api.emulator_cmd", "--replay", str(SPOT), "--port", "0",
        "--trade-fault", "reject,code=-2010,message=Account has insufficient balance for "
        "requested action.",
    ]  # fmt: skip
    with subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
        try:
            lines = read_lines(proc, 4)
            env = exports_to_env([line for line in lines if line.startswith("export")])
            rest = env["ATS_VENUES__BINANCE__REST_URL"]
            key, secret = env["BINANCE_API_KEY"], env["BINANCE_SECRET_KEY"]
            assert key.startswith("emu-") and secret.startswith("emu-")
            first = _signed_order(rest, key, secret)  # the fault (times=1 by default)
            second = _signed_order(rest, key, secret)  # then the venue as usual
            bad_signature = _signed_order(rest, key, "not-the-secret")
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(TIMEOUT_S)
    assert first == (
        400,
        {"code": -2010, "msg": "Account has insufficient balance for requested action."},
    )
    assert second[0] == 200 and second[1]["clientOrderId"] == "cli-1"
    assert bad_signature[0] == 400 and bad_signature[1]["code"] == -1022
