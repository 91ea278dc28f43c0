"""The emulator's Bybit v5 trading API, spoken to with a plain HTTP/WebSocket client.

Requests are signed here, by Bybit's documented procedure
(:func:`~tests.adapters.bybit_broker._support.sign`), not by ccxt, so the
emulator's checks are tested against the venue's rules rather than against
the client they serve. Answers are compared with real Bybit answers: the keys
of the responses ccxt recorded (``data/ccxt/bybit_rest_responses_subset.json``)
and the instruments of ``data/ccxt/bybit_instruments_info.json``.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from typing import Any

import aiohttp
import uvloop

from adapters.emulator import BybitEmulator, EmulatorRecording
from adapters.emulator.bybit_trading import InstrumentsInfo
from tests.adapters.bybit_broker._support import (
    API_KEY,
    CCXT_RESPONSES,
    INSTRUMENTS,
    SECRET,
    TIMEOUT_S,
    sign,
    trading_config,
)

WINDOW = "5000"


def _recorded(method: str, index: int = 0) -> dict[str, Any]:
    body = json.loads(CCXT_RESPONSES.read_text())["methods"][method][index]["httpResponse"]
    return dict(body)


async def _signed(
    session: aiohttp.ClientSession,
    emu: BybitEmulator,
    method: str,
    path: str,
    params: dict[str, Any],
    *,
    key: str = API_KEY,
    secret: str = SECRET,
    timestamp_ms: int | None = None,
    tamper: str = "",
) -> dict[str, Any]:
    """A signed v5 request: GET signs the query string, POST the JSON body."""
    stamp = str(int(time.time() * 1000) if timestamp_ms is None else timestamp_ms)
    if method == "GET":
        payload = "&".join(f"{k}={v}" for k, v in params.items())
        url, body = f"{emu.rest_url}/v5/{path}?{payload}{tamper}", None
    else:
        payload = json.dumps(params)
        url, body = f"{emu.rest_url}/v5/{path}", payload + tamper
    headers = {
        "X-BAPI-API-KEY": key,
        "X-BAPI-TIMESTAMP": stamp,
        "X-BAPI-RECV-WINDOW": WINDOW,
        "X-BAPI-SIGN": sign(secret, stamp, key, WINDOW, payload),
        "Content-Type": "application/json",
    }
    async with session.request(method, url, data=body, headers=headers) as response:
        assert response.status == 200
        answer: dict[str, Any] = await response.json()
        return answer


def test_answers_when_compared_with_recorded_bybit_responses_then_every_recorded_key_present(
    spot_recording: EmulatorRecording,
    usdm_recording: EmulatorRecording,
    instruments: InstrumentsInfo,
) -> None:
    async def scenario(linear: bool) -> dict[str, dict[str, Any]]:
        category = "linear" if linear else "spot"
        out: dict[str, dict[str, Any]] = {}
        async with (
            BybitEmulator(
                usdm_recording if linear else spot_recording,
                venue=f"bybit-{category}",
                trading=trading_config(),
                instruments=instruments,
            ) as emu,
            aiohttp.ClientSession() as session,
        ):
            base = {"category": category, "symbol": "BTCUSDT"}
            market = {**base, "side": "Buy", "orderType": "Market", "qty": "0.01"}
            market["marketUnit"] = "baseCoin"  # a spot market buy is in quote units by default
            out["create"] = await _signed(session, emu, "POST", "order/create", market)
            limit = {**base, "side": "Buy", "orderType": "Limit", "qty": "0.01", "price": "60000"}
            await _signed(session, emu, "POST", "order/create", {**limit, "orderLinkId": "k-1"})
            query = {**base, "orderLinkId": "k-1"}
            out["realtime"] = await _signed(session, emu, "GET", "order/realtime", query)
            out["executions"] = await _signed(session, emu, "GET", "execution/list", base)
            wallet = {"accountType": "UNIFIED"}
            out["wallet"] = await _signed(session, emu, "GET", "account/wallet-balance", wallet)
            if linear:
                out["positions"] = await _signed(session, emu, "GET", "position/list", base)
            out["cancel_all"] = await _signed(session, emu, "POST", "order/cancel-all", base)
        return out

    def rows(answer: dict[str, Any]) -> list[dict[str, Any]]:
        assert str(answer["retCode"]) == "0", answer  # ccxt's recorder stringified the numbers
        return list(answer["result"]["list"])

    for linear in (False, True):
        out = uvloop.run(scenario(linear))
        assert out["create"]["retCode"] == 0, out["create"]
        recorded_order = _recorded("fetchOpenOrder" if linear else "fetchOrder")
        recorded_trade = _recorded("fetchMyTrades", 1 if linear else 0)
        pairs = [
            (rows(out["realtime"])[0], rows(recorded_order)[0]),
            (rows(out["executions"])[0], rows(recorded_trade)[0]),
            (rows(out["wallet"])[0], rows(_recorded("fetchBalance"))[0]),
            (rows(out["wallet"])[0]["coin"][0], rows(_recorded("fetchBalance"))[0]["coin"][0]),
            (rows(out["cancel_all"])[0], rows(_recorded("cancelAllOrders"))[0]),
            (out["create"]["result"], _recorded("createOrder", 1)["result"]),
            (out["create"], _recorded("createOrder", 1)),
        ]
        if linear:
            pairs.append((rows(out["positions"])[0], rows(_recorded("fetchPositions"))[0]))
        for ours, theirs in pairs:
            missing = set(theirs) - set(ours) - {"nextPageCursor"}
            assert not missing, f"{'linear' if linear else 'spot'}: {sorted(missing)}"
        assert rows(out["realtime"])[0]["orderLinkId"] == "k-1"
        assert out["cancel_all"]["result"]["success"] == "1"


def test_signature_when_built_as_documented_then_accepted_and_any_deviation_refused(
    spot_recording: EmulatorRecording, instruments: InstrumentsInfo
) -> None:
    async def scenario() -> dict[str, dict[str, Any]]:
        emulator = BybitEmulator(
            spot_recording, venue="bybit-spot", trading=trading_config(), instruments=instruments
        )
        out: dict[str, dict[str, Any]] = {}
        wallet = {"accountType": "UNIFIED"}
        async with emulator as emu, aiohttp.ClientSession() as session:
            now = int(time.time() * 1000)
            out["ok"] = await _signed(session, emu, "GET", "account/wallet-balance", wallet)
            out["changed"] = await _signed(
                session, emu, "GET", "account/wallet-balance", wallet, tamper="&coin=BTC"
            )
            out["key"] = await _signed(
                session, emu, "GET", "account/wallet-balance", wallet, key=API_KEY + "x"
            )
            out["old"] = await _signed(
                session, emu, "GET", "account/wallet-balance", wallet, timestamp_ms=now - 6000
            )
            out["ahead"] = await _signed(
                session, emu, "GET", "account/wallet-balance", wallet, timestamp_ms=now + 1500
            )
            order = {"category": "spot", "symbol": "BTCUSDT", "side": "Buy"}
            order |= {"orderType": "Limit", "qty": "0.01", "price": "60000"}
            out["post"] = await _signed(session, emu, "POST", "order/create", order)
            out["post_changed"] = await _signed(
                session, emu, "POST", "order/create", order, secret=SECRET + "x"
            )
            url = f"{emu.rest_url}/v5/account/wallet-balance?accountType=UNIFIED"
            async with session.get(url) as response:
                out["unsigned"] = await response.json()
            assert emu.trading is not None
            out["orders"] = {"count": len(emu.trading.engine.orders)}
        return out

    out = uvloop.run(scenario())
    assert out["ok"]["retCode"] == 0 and out["ok"]["result"]["list"][0]["accountType"] == "UNIFIED"
    assert out["changed"]["retCode"] == 10004
    assert out["changed"]["retMsg"].startswith("error sign! origin_string[")
    assert out["key"]["retCode"] == 10003
    assert out["old"]["retCode"] == 10002 and out["ahead"]["retCode"] == 10002
    assert out["post"]["retCode"] == 0 and out["post_changed"]["retCode"] == 10004
    assert out["unsigned"]["retCode"] == 10001
    assert out["orders"] == {"count": 1}


def test_instruments_when_asked_per_category_then_the_recorded_entries_and_no_prelaunch(
    spot_recording: EmulatorRecording, instruments: InstrumentsInfo
) -> None:
    async def scenario() -> dict[str, Any]:
        emulator = BybitEmulator(spot_recording, venue="bybit-spot", instruments=instruments)
        out: dict[str, Any] = {}
        async with emulator as emu, aiohttp.ClientSession() as session:
            base = f"{emu.rest_url}/v5/market/instruments-info?category="
            for name, url in (
                ("spot", base + "spot"),
                ("linear", base + "linear&limit=1000"),
                ("prelaunch", base + "linear&limit=1000&status=PreLaunch"),
                ("one", base + "linear&symbol=ETHUSDT"),
            ):
                async with session.get(url) as response:
                    out[name] = await response.json()
            async with session.get(f"{emu.rest_url}/v5/market/time") as response:
                out["time"] = await response.json()
        return out

    out = uvloop.run(scenario())
    recorded = json.loads(INSTRUMENTS.read_text())
    for category in ("spot", "linear"):
        listed = out[category]["result"]["list"]
        assert listed == recorded[category]["result"]["list"]
        assert "BTCUSDT" in {e["symbol"] for e in listed}
    assert out["prelaunch"]["result"]["list"] == []
    assert [e["symbol"] for e in out["one"]["result"]["list"]] == ["ETHUSDT"]
    seconds = int(out["time"]["result"]["timeSecond"])
    assert abs(seconds - time.time()) < 5 and out["time"]["retCode"] == 0


def test_private_stream_when_authenticated_then_subscribed_pongs_and_order_events(
    spot_recording: EmulatorRecording, instruments: InstrumentsInfo
) -> None:
    async def scenario() -> list[dict[str, Any]]:
        emulator = BybitEmulator(
            spot_recording, venue="bybit-spot", trading=trading_config(), instruments=instruments
        )
        got: list[dict[str, Any]] = []
        async with (
            emulator as emu,
            aiohttp.ClientSession() as session,
            session.ws_connect(f"{emu.ws_url}/v5/private") as ws,
        ):

            async def ask(message: dict[str, Any]) -> dict[str, Any]:
                await ws.send_str(json.dumps(message))
                answer: dict[str, Any] = json.loads(
                    (await asyncio.wait_for(ws.receive(), TIMEOUT_S)).data
                )
                return answer

            got.append(await ask({"op": "subscribe", "args": ["order"]}))
            expires = int(time.time() * 1000) + 5000
            good = hmac.new(
                SECRET.encode(), f"GET/realtime{expires}".encode(), hashlib.sha256
            ).hexdigest()
            got.append(await ask({"op": "auth", "args": [API_KEY, expires, "0" * 64]}))
            got.append(await ask({"op": "auth", "args": [API_KEY, expires - 10_000, good]}))
            got.append(await ask({"req_id": "a1", "op": "auth", "args": [API_KEY, expires, good]}))
            got.append(await ask({"op": "subscribe", "args": ["order", "execution"]}))
            got.append(await ask({"req_id": "p1", "op": "ping"}))
            order = {"category": "spot", "symbol": "BTCUSDT", "side": "Sell"}
            order |= {"orderType": "Market", "qty": "0.02", "orderLinkId": "ws-1"}
            placed = await _signed(session, emu, "POST", "order/create", order)
            assert placed["retCode"] == 0
            while not any(
                m.get("topic") == "order" and m["data"][0]["orderStatus"] == "Filled" for m in got
            ):
                got.append(json.loads((await asyncio.wait_for(ws.receive(), TIMEOUT_S)).data))
        return got

    got = uvloop.run(scenario())
    early, bad_sign, expired, auth, subscribed, pong = got[:6]
    assert (early["op"], early["success"], early["ret_msg"]) == (
        "subscribe",
        False,
        "Request not authorized",
    )
    assert not bad_sign["success"] and not expired["success"]
    assert (auth["op"], auth["success"], auth["req_id"]) == ("auth", True, "a1")
    assert subscribed["success"] and subscribed["op"] == "subscribe"
    assert pong["op"] == "pong" and pong["req_id"] == "p1" and pong["args"][0].isdigit()
    events = got[6:]
    topics = [m["topic"] for m in events]
    assert set(topics) == {"order", "execution"}  # wallet was not subscribed
    executions = [d for m in events if m["topic"] == "execution" for d in m["data"]]
    assert {e["orderLinkId"] for e in executions} == {"ws-1"}
    assert sum(float(e["execQty"]) for e in executions) == 0.02
    assert [m["data"][0]["orderStatus"] for m in events if m["topic"] == "order"] == [
        "New",
        *["PartiallyFilled"] * (len(executions) - 1),
        "Filled",
    ]


def test_realtime_when_asked_by_link_id_then_any_state_else_open_only_by_default(
    spot_recording: EmulatorRecording, instruments: InstrumentsInfo
) -> None:
    async def scenario() -> dict[str, Any]:
        emulator = BybitEmulator(
            spot_recording, venue="bybit-spot", trading=trading_config(), instruments=instruments
        )
        out: dict[str, Any] = {}
        async with emulator as emu, aiohttp.ClientSession() as session:
            base = {"category": "spot", "symbol": "BTCUSDT"}
            limit = {**base, "side": "Buy", "orderType": "Limit", "qty": "0.01", "price": "60000"}
            await _signed(session, emu, "POST", "order/create", {**limit, "orderLinkId": "o-1"})
            await _signed(session, emu, "POST", "order/create", {**limit, "orderLinkId": "o-2"})
            await _signed(session, emu, "POST", "order/cancel", {**base, "orderLinkId": "o-1"})
            out["again"] = await _signed(
                session, emu, "POST", "order/cancel", {**base, "orderLinkId": "o-1"}
            )
            for name, extra in (
                ("open", {}),
                ("closed", {"openOnly": "1"}),
                ("by_id", {"orderLinkId": "o-1"}),
            ):
                answer = await _signed(session, emu, "GET", "order/realtime", {**base, **extra})
                out[name] = [(o["orderLinkId"], o["orderStatus"]) for o in answer["result"]["list"]]
            out["history"] = await _signed(session, emu, "GET", "order/history", base)
        return out

    out = uvloop.run(scenario())
    assert out["again"]["retCode"] == 170213
    assert out["open"] == [("o-2", "New")]
    assert out["closed"] == [("o-1", "Cancelled")]
    assert out["by_id"] == [("o-1", "Cancelled")]
    cancelled = out["history"]["result"]["list"][-1]
    assert (cancelled["orderLinkId"], cancelled["cancelType"]) == ("o-1", "CancelByUser")
