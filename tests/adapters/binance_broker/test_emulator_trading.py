"""The emulator's Binance trading endpoints on the wire, with a client written here (no ccxt).

Requests are signed in this file from Binance's documented procedure (HMAC-SHA256
of the query string plus the body, hex, keyed with the secret) and sent with
aiohttp; the oracles are Binance's documentation (codes, messages, HTTP
statuses, the worked signature example) and the real responses ccxt recorded
(``data/ccxt/binance_rest_responses_subset.json``): the emulator's answers must
carry the same keys.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest
import uvloop

from adapters.binance.broker import BinanceBroker
from adapters.binance.config import BrokerConfig
from adapters.emulator import BinanceEmulator, EmulatorRecording
from adapters.emulator.binance_requests import strip_signature
from adapters.emulator.binance_trading import ExchangeInfo, TradingFault
from engine.config import load_config
from engine.orders import OrderStatus, OrderType, Side
from tests.adapters.binance_broker._support import (
    API_KEY,
    CCXT_RESPONSES,
    SECRET,
    SPOT,
    TIMEOUT_S,
    order,
    trading_config,
)

Answer = tuple[int, Any, dict[str, str]]


def sign(params: dict[str, Any], secret: str = SECRET) -> str:
    query = urlencode(params)
    return (
        query
        + "&signature="
        + hmac.new(secret.encode(), query.encode(), hashlib.sha256).hexdigest()
    )


async def call(
    http: aiohttp.ClientSession,
    emu: BinanceEmulator,
    method: str,
    path: str,
    params: dict[str, Any] | None = None,
    *,
    signed: bool = True,
    key: str | None = API_KEY,
    secret: str = SECRET,
    in_body: bool = False,
    timestamp_ms: int | None = None,
) -> Answer:
    params = dict(params or {})
    headers = {"X-MBX-APIKEY": key} if key is not None else {}
    if signed:
        params["timestamp"] = timestamp_ms if timestamp_ms is not None else int(time.time() * 1000)
        query = sign(params, secret)
    else:
        query = urlencode(params)
    url, body = f"{emu.rest_url}{path}", None
    if in_body:
        body = query
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    elif query:
        url += "?" + query
    async with http.request(method, url, data=body, headers=headers) as resp:
        return resp.status, json.loads(await resp.text()), dict(resp.headers)


def recorded(method: str, description: str) -> Any:
    entries = json.loads(CCXT_RESPONSES.read_text())["methods"][method]
    return next(e["httpResponse"] for e in entries if e["description"] == description)


def test_signature_when_binance_documented_example_then_stripping_keeps_the_signed_text() -> None:
    # rest-api.md, "SIGNED Endpoint Examples for POST /api/v3/order", example 1
    body = (
        "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1"
        "&recvWindow=5000&timestamp=1499827319559"
    )
    secret = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
    expected = "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"
    signed, signature = strip_signature(f"{body}&signature={expected}")
    assert (signed, signature) == (body, expected)
    assert hmac.new(secret.encode(), signed.encode(), hashlib.sha256).hexdigest() == expected


@pytest.mark.parametrize(
    ("case", "status", "code", "msg"),
    [
        ("no_key", 401, -2014, "API-key format invalid."),
        ("wrong_key", 401, -2015, "Invalid API-key, IP, or permissions for action."),
        ("bad_signature", 400, -1022, "Signature for this request is not valid."),
        ("stale", 400, -1021, "Timestamp for this request is outside of the recvWindow."),
        ("ahead", 400, -1021, "Timestamp for this request was 1000ms ahead of the server's time."),
        (
            "no_timestamp",
            400,
            -1102,
            "Mandatory parameter 'timestamp' was not sent, was empty/null, or malformed.",
        ),
    ],
)
def test_signed_endpoint_when_credentials_or_timestamp_wrong_then_binance_error(
    case: str,
    status: int,
    code: int,
    msg: str,
    spot_recording: EmulatorRecording,
    spot_info: ExchangeInfo,
) -> None:
    async def scenario() -> tuple[Answer, Answer, int]:
        async with (
            BinanceEmulator(
                spot_recording, trading=trading_config(), exchange_info=spot_info
            ) as emu,
            aiohttp.ClientSession() as http,
        ):
            now = int(time.time() * 1000)
            kwargs: dict[str, Any] = {
                "no_key": {"key": None},
                "wrong_key": {"key": "nope"},
                "bad_signature": {"secret": "not-it"},
                "stale": {"timestamp_ms": now - 6000},  # default recvWindow 5000
                "ahead": {"timestamp_ms": now + 5000},
                "no_timestamp": {"signed": False},
            }[case]
            if case == "no_timestamp":
                answer = await call(
                    http, emu, "GET", "/api/v3/account", {"signature": "00"}, **kwargs
                )
            else:
                answer = await call(http, emu, "GET", "/api/v3/account", **kwargs)
            # a wider recvWindow accepts the stale one; the body-signed form works too
            ok = await call(
                http, emu, "GET", "/api/v3/account", {"recvWindow": 60000}, timestamp_ms=now - 6000
            )
            posted = await call(
                http,
                emu,
                "POST",
                "/api/v3/order",
                {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.001"},
                in_body=True,
            )
            assert emu.trading is not None
            return answer, ok, posted[0] + emu.trading.stats.auth_failures * 1000

    (got_status, body, _), (ok_status, _, _), posted = uvloop.run(scenario())
    assert (got_status, body) == (status, {"code": code, "msg": msg})
    assert ok_status == 200
    assert posted == 200 + (0 if case == "no_timestamp" else 1000)


def test_responses_when_compared_with_recorded_binance_answers_then_same_keys(
    spot_recording: EmulatorRecording,
    usdm_recording: EmulatorRecording,
    spot_info: ExchangeInfo,
    usdm_info: ExchangeInfo,
) -> None:
    async def spot() -> dict[str, Any]:
        async with (
            BinanceEmulator(
                spot_recording, trading=trading_config(), exchange_info=spot_info
            ) as emu,
            aiohttp.ClientSession() as http,
        ):
            out: dict[str, Any] = {}
            new = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC"}
            new |= {"quantity": "0.01", "price": "60000", "newClientOrderId": "k-1"}
            out["create"] = (await call(http, emu, "POST", "/api/v3/order", new))[1]
            query = {"symbol": "BTCUSDT", "origClientOrderId": "k-1"}
            out["order"] = (await call(http, emu, "GET", "/api/v3/order", query))[1]
            out["open"] = (await call(http, emu, "GET", "/api/v3/openOrders"))[1]
            market = {"symbol": "BTCUSDT", "side": "SELL", "type": "MARKET", "quantity": "0.01"}
            await call(http, emu, "POST", "/api/v3/order", market)
            out["trades"] = (
                await call(http, emu, "GET", "/api/v3/myTrades", {"symbol": "BTCUSDT"})
            )[1]
            out["account"] = (await call(http, emu, "GET", "/api/v3/account"))[1]
            return out

    async def usdm() -> dict[str, Any]:
        async with (
            BinanceEmulator(
                usdm_recording,
                venue="binance-usdm",
                trading=trading_config(),
                exchange_info=usdm_info,
            ) as emu,
            aiohttp.ClientSession() as http,
        ):
            out: dict[str, Any] = {}
            market = {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.01"}
            out["create"] = (await call(http, emu, "POST", "/fapi/v1/order", market))[1]
            out["trades"] = (
                await call(http, emu, "GET", "/fapi/v1/userTrades", {"symbol": "BTCUSDT"})
            )[1]
            out["positions"] = (await call(http, emu, "GET", "/fapi/v3/positionRisk"))[1]
            out["account"] = (await call(http, emu, "GET", "/fapi/v3/account"))[1]
            return out

    s, u = uvloop.run(spot()), uvloop.run(usdm())
    pairs = [
        (s["order"], recorded("fetchOrder", "Fetch spot closed order")),
        (s["open"][0], recorded("fetchOpenOrders", "Fetch spot open orders")[0]),
        (s["trades"][0], recorded("fetchMyTrades", "Spot private trade")[0]),
        (u["trades"][0], recorded("fetchMyTrades", "Swap private trade")[0]),
        (
            u["positions"][0],
            recorded("fetchPositions", "Fetch linear positions without symbols")[0],
        ),
    ]
    for mine, theirs in pairs:
        assert set(mine) == set(theirs), set(mine) ^ set(theirs)
    spot_create = recorded("createOrder", "spot +selfTradePrevention +iceberg")
    assert set(s["create"]) == set(spot_create) - {"icebergQty"}  # we send no iceberg
    swap_create = recorded("createOrders", "create swap orders")[0]
    assert set(u["create"]) == set(swap_create)
    assert set(s["account"]) == set(recorded("fetchBalance", "Spot balance"))
    linear = recorded("fetchBalance", "Linear swap balance")
    assert set(linear) <= set(u["account"])
    assert set(u["account"]["assets"][0]) == set(linear["assets"][0])
    assert isinstance(s["order"]["orderId"], int) and isinstance(s["order"]["time"], int)


def test_raw_streams_when_named_in_path_or_subscribed_then_data_payloads_unwrapped(
    spot_recording: EmulatorRecording, spot_info: ExchangeInfo
) -> None:
    async def scenario() -> tuple[list[Any], list[Any]]:
        async with (
            BinanceEmulator(spot_recording, fast=True, exchange_info=spot_info) as emu,
            aiohttp.ClientSession() as http,
        ):
            named: list[Any] = []
            subscribed: list[Any] = []
            async with (
                http.ws_connect(f"{emu.ws_url}/ws/btcusdt@bookTicker") as one,
                http.ws_connect(f"{emu.ws_url}/ws") as other,
            ):
                await other.send_str(
                    json.dumps({"method": "SUBSCRIBE", "params": ["btcusdt@trade"], "id": 7})
                )
                async with asyncio.timeout(TIMEOUT_S):
                    while len(subscribed) < 4:
                        subscribed.append(json.loads((await other.receive()).data))
                    while len(named) < 3:
                        named.append(json.loads((await one.receive()).data))
            return named, subscribed

    named, subscribed = uvloop.run(scenario())
    assert subscribed[0] == {"result": None, "id": 7}
    assert all(m["e"] == "trade" and m["s"] == "BTCUSDT" for m in subscribed[1:])
    assert all("stream" not in m and "u" in m and "b" in m for m in named)


def test_listen_key_when_created_twice_kept_alive_and_deleted_then_as_binance_answers(
    spot_recording: EmulatorRecording, spot_info: ExchangeInfo
) -> None:
    async def scenario() -> list[Answer]:
        async with (
            BinanceEmulator(
                spot_recording, trading=trading_config(), exchange_info=spot_info
            ) as emu,
            aiohttp.ClientSession() as http,
        ):
            path = "/api/v3/userDataStream"
            first = await call(http, emu, "POST", path, signed=False)
            second = await call(http, emu, "POST", path, signed=False)
            key = {"listenKey": first[1]["listenKey"]}
            kept = await call(http, emu, "PUT", path, key, signed=False)
            deleted = await call(http, emu, "DELETE", path, key, signed=False)
            again = await call(http, emu, "PUT", path, key, signed=False)
            keyless = await call(http, emu, "POST", path, signed=False, key=None)
            return [first, second, kept, deleted, again, keyless]

    first, second, kept, deleted, again, keyless = uvloop.run(scenario())
    assert first[0] == 200 and len(first[1]["listenKey"]) == 60
    assert second[1] == first[1]  # an active key is returned again
    assert (kept[0], kept[1], deleted[1]) == (200, {}, {})
    assert (again[0], again[1]) == (400, {"code": -1125, "msg": "This listenKey does not exist."})
    assert (keyless[0], keyless[1]["code"]) == (401, -2014)


@pytest.mark.parametrize(
    ("fault", "status", "header"),
    [
        (TradingFault(action="429", retry_after_s=3), 429, "3"),
        (TradingFault(action="418", retry_after_s=120), 418, "120"),
        (TradingFault(action="5xx", status=504), 504, None),
        (TradingFault(action="reject", code=-2010, message="Market is closed."), 400, None),
    ],
    ids=["429", "418", "504", "reject"],
)
def test_fault_when_configured_then_answered_once_and_the_next_request_is_served(
    fault: TradingFault,
    status: int,
    header: str | None,
    spot_recording: EmulatorRecording,
    spot_info: ExchangeInfo,
) -> None:
    async def scenario() -> tuple[Answer, Answer, int]:
        async with (
            BinanceEmulator(
                spot_recording, trading=trading_config(faults=(fault,)), exchange_info=spot_info
            ) as emu,
            aiohttp.ClientSession() as http,
        ):
            new = {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.001"}
            faulted = await call(http, emu, "POST", "/api/v3/order", new)
            served = await call(http, emu, "POST", "/api/v3/order", new)
            assert emu.trading is not None
            return faulted, served, len(emu.trading.engine.orders)

    (got, body, headers), (ok, _, _), orders = uvloop.run(scenario())
    assert got == status and ok == 200 and orders == 1
    assert headers.get("Retry-After") == header
    if fault.action == "reject":
        assert body == {"code": -2010, "msg": "Market is closed."}
    elif status in (418, 429):
        assert body["code"] == -1003


@pytest.mark.parametrize(
    ("params", "code", "msg"),
    [
        (
            {"symbol": "NOPE", "side": "BUY", "type": "MARKET", "quantity": "1"},
            -1121,
            "Invalid symbol.",
        ),
        (
            {
                "symbol": "BTCUSDT",
                "side": "BUY",
                "type": "LIMIT",
                "quantity": "0.01",
                "price": "60000",
            },
            -1102,
            "Mandatory parameter 'timeInForce' was not sent, was empty/null, or malformed.",
        ),
        (
            {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC"}
            | {"quantity": "0.01", "price": "60000.001"},
            -1013,
            "Filter failure: PRICE_FILTER",
        ),
        (
            {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC"}
            | {"quantity": "0.000015", "price": "60000"},
            -1013,
            "Filter failure: LOT_SIZE",
        ),
        (
            {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC"}
            | {"quantity": "0.0001", "price": "60000"},
            -1013,
            "Filter failure: MIN_NOTIONAL",
        ),
        (
            {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "1e-3"},
            -1100,
            "Illegal characters found in parameter 'quantity'; legal range is "
            "'^([0-9]{1,20})(\\.[0-9]{1,20})?$'.",
        ),
        (
            {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.000000001"},
            -1111,
            "Parameter 'quantity' has too much precision.",
        ),
    ],
    ids=["symbol", "tif", "tick", "step", "notional", "exponent", "precision"],
)
def test_new_order_when_invalid_then_binance_code_and_message_and_nothing_placed(
    params: dict[str, str],
    code: int,
    msg: str,
    spot_recording: EmulatorRecording,
    spot_info: ExchangeInfo,
) -> None:
    async def scenario() -> tuple[Answer, int]:
        async with (
            BinanceEmulator(
                spot_recording, trading=trading_config(), exchange_info=spot_info
            ) as emu,
            aiohttp.ClientSession() as http,
        ):
            answer = await call(http, emu, "POST", "/api/v3/order", params)
            assert emu.trading is not None
            return answer, len(emu.trading.engine.orders)

    (status, body, _), orders = uvloop.run(scenario())
    assert (status, body, orders) == (400, {"code": code, "msg": msg}, 0)


def test_exchange_info_when_served_then_recorded_body_with_the_replayed_symbol_and_fresh_time(
    spot_recording: EmulatorRecording, spot_info: ExchangeInfo
) -> None:
    async def scenario() -> tuple[Answer, Answer]:
        async with (
            BinanceEmulator(spot_recording, exchange_info=spot_info) as emu,
            aiohttp.ClientSession() as http,
        ):
            info = await call(http, emu, "GET", "/api/v3/exchangeInfo", signed=False, key=None)
            now = await call(http, emu, "GET", "/api/v3/time", signed=False, key=None)
            return info, now

    (status, body, _), (_, clock, _) = uvloop.run(scenario())
    assert status == 200
    assert {s["symbol"] for s in body["symbols"]} == {"BTCUSDT", "ETHUSDT", "BNBUSDT"}
    assert abs(body["serverTime"] - clock["serverTime"]) < 60_000
    btc = next(s for s in body["symbols"] if s["symbol"] == "BTCUSDT")
    tick = next(f for f in btc["filters"] if f["filterType"] == "PRICE_FILTER")["tickSize"]
    assert tick == "0.01000000"  # as recorded


def test_cli_when_started_then_exports_point_a_broker_at_the_emulated_account() -> None:
    root = Path(__file__).resolve().parents[3]
    cmd = [sys.executable, "-m", "api.emulator_cmd", "--replay", str(SPOT), "--port", "0"]
    with subprocess.Popen(cmd, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
        try:
            assert proc.stdout is not None
            lines = [proc.stdout.readline().decode().strip() for _ in range(5)]
            exports = dict(
                line.removeprefix("export ").split("=", 1)
                for line in lines
                if line.startswith("export ")
            )
            config = load_config(env=exports)

            async def trade() -> object:
                broker_config = BrokerConfig(
                    rest_url=config.venues.binance.rest_url, rate_limit=False
                )
                async with BinanceBroker(broker_config, env=exports) as broker:
                    return await broker.place_order(
                        order("cli-1", Side.BUY, OrderType.MARKET, 0.01)
                    )

            ack = uvloop.run(trade())
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(TIMEOUT_S) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert set(exports) == {
        "ATS_VENUES__BINANCE__WS_URL",
        "ATS_VENUES__BINANCE__REST_URL",
        "BINANCE_API_KEY",
        "BINANCE_SECRET_KEY",
    }
    assert exports["BINANCE_API_KEY"].startswith("emu-") and lines[4].startswith("# signed REST")
    assert ack.status is OrderStatus.FILLED  # type: ignore[attr-defined]
