"""What the Binance and Bybit broker tests share: data, orders, sinks, oracles and scenarios.

The venue helpers (``tests/adapters/binance_broker/_support.py``,
``tests/adapters/bybit_broker/_support.py``) build on these: each runs the real
ccxt client through its venue's broker against the local emulator on
127.0.0.1. The precision oracle here is plain ``Decimal`` arithmetic on the
filter strings the venue recorded; the scenarios are the same steps for either
venue, their assertions the same facts.
"""

from __future__ import annotations

import asyncio
import math
import traceback
from collections.abc import Callable, Sequence
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.ccxt_broker import CcxtBroker
from adapters.emulator import EmulatorRecording, load_recording
from adapters.userstream import AccountSnapshot, OrderUpdate
from engine.broker import InvalidOrderError, OrderNotFoundError
from engine.events import OrderFilled
from engine.orders import Order, OrderStatus, OrderType, Side, TimeInForce

DATA = Path(__file__).resolve().parents[2] / "data"
#: The recordings the emulators replay (Binance's books serve Bybit's emulator too).
SPOT = DATA / "binance_spot" / "btcusdt_20240808.gz"
USDM = DATA / "binance_usdm" / "btcusdt_20240808.gz"
#: Seconds any single wait in these tests may take before the test fails.
TIMEOUT_S = 10.0

SPOT_SYMBOL = "BTC/USDT"
LINEAR_SYMBOL = "BTC/USDT:USDT"


@pytest.fixture(scope="session")
def spot_recording() -> EmulatorRecording:
    """The spot recording, read once (a fixture: import it into a conftest)."""
    return load_recording(SPOT)


@pytest.fixture(scope="session")
def usdm_recording() -> EmulatorRecording:
    """The USD-M recording, read once (a fixture: import it into a conftest)."""
    return load_recording(USDM)


def venue_order(
    venue: str,
    cid: str,
    side: Side,
    order_type: OrderType,
    quantity: float,
    price: float = math.nan,
    *,
    symbol: str = SPOT_SYMBOL,
    time_in_force: TimeInForce | None = None,
    reduce_only: bool = False,
) -> Order:
    """An engine order for ``venue``, as the strategies make them."""
    return Order(
        client_order_id=cid,
        symbol=symbol,
        venue=venue,
        side=side,
        order_type=order_type,
        quantity=quantity,
        price=price,
        ts_created=0,
        time_in_force=time_in_force,
        reduce_only=reduce_only,
    )


class Sink:
    """A private-stream sink that keeps everything it is given."""

    def __init__(self) -> None:
        self.fills: list[OrderFilled] = []
        self.updates: list[OrderUpdate] = []
        self.accounts: list[AccountSnapshot] = []

    def on_order_update(self, update: OrderUpdate) -> None:
        self.updates.append(update)

    def on_fill(self, fill: OrderFilled) -> None:
        self.fills.append(fill)

    def on_account(self, snapshot: AccountSnapshot) -> None:
        self.accounts.append(snapshot)


def broker_settings(
    rest_url: str, ws_url: str, symbol: str, user_stream: Any, /, **overrides: Any
) -> dict[str, Any]:
    """A test broker's settings: the emulator's URLs, one symbol, short timeouts and polls."""
    settings: dict[str, Any] = {
        "rest_url": rest_url,
        "ws_url": ws_url,
        "symbols": (symbol,),
        "rate_limit": False,
        "timeout_s": 5.0,
        "user_stream": user_stream,
    }
    settings.update(overrides)
    return settings


def walk(levels: list[list[str]], quantity: Decimal) -> list[tuple[Decimal, Decimal]]:
    """The taker fills of ``quantity`` against ``levels`` (best first)."""
    fills, left = [], quantity
    for price, size in levels:
        if left <= 0:
            break
        take = min(left, Decimal(size))
        fills.append((Decimal(price), take))
        left -= take
    assert left == 0, "the test's quantity exceeds the recorded book"
    return fills


async def until(condition: Callable[[], bool], what: str = "the condition") -> None:
    """Wait for ``condition`` (event-driven tests: no fixed sleeps), failing after TIMEOUT_S."""
    try:
        async with asyncio.timeout(TIMEOUT_S):
            while not condition():
                await asyncio.sleep(0.005)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


class Waits:
    """A fake ``sleep`` for execute_order: records the waits asked for, yields once."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)
        await asyncio.sleep(0)


# -- precision ------------------------------------------------------------------------------------

LOOP_SETTINGS = settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def expected_wire_values(
    f: dict[str, Any], price: float, qty: float
) -> tuple[Decimal, Decimal] | str:
    """The exact wire values, or the start of the local refusal's message."""
    tick, step = f["tick"], f["step"]
    q = Decimal(repr(qty))
    k = (q / step).to_integral_value(ROUND_HALF_EVEN)
    if abs(q / step - k) > Decimal("1e-9") + k * Decimal("1e-12"):
        return "below min qty" if q < f["min_qty"] else "not a multiple of lot size"
    q = k * step
    if q < f["min_qty"] or q <= 0:
        return "below min qty"
    if f["max_qty"] > 0 and q > f["max_qty"]:
        return "above max qty"
    p = (Decimal(repr(price)) / tick).to_integral_value(ROUND_HALF_EVEN) * tick
    if p < f["min_price"] or p <= 0:
        return "below min price"
    if f["max_price"] > 0 and p > f["max_price"]:
        return "above max price"
    if p * q < f["min_notional"]:
        return "below min notional"
    return p, q


def draw_values(
    data: st.DataObject, f: dict[str, Any], *, span: int, steps_off: int
) -> tuple[float, float]:
    """A float price across ``10**span`` (at most ``10**(span + 2)`` ticks) above the lowest,
    and a quantity on (or off) the lot grid, up to ``steps_off`` steps outside the limits."""
    tick, step = f["tick"], f["step"]
    low = max(f["min_price"], tick)
    high = f["max_price"] if f["max_price"] > 0 else low * 10**span
    high = min(high, low + tick * 10 ** (span + 2))
    price = data.draw(st.floats(float(low), float(high), allow_nan=False), label="price")
    k_low = max(1, int((f["min_qty"] / step).to_integral_value(ROUND_CEILING)) - steps_off)
    k_high = (
        int((f["max_qty"] / step).to_integral_value(ROUND_FLOOR)) + steps_off
        if f["max_qty"]
        else k_low
    )
    k = data.draw(st.integers(k_low, max(k_low, min(k_high, k_low + 10**span))), label="steps")
    off = data.draw(st.sampled_from([0, 0, 0, 0, 3, 5]), label="tenths_off_grid")
    return price, float((k + Decimal(off) / 10) * step)


def drawn_orders(
    venue_symbols: list[str], filters: dict[str, dict[str, Any]], *, span: int, steps_off: int
) -> list[tuple[str, float, float]]:
    """Hypothesis's ``(venue symbol, price, quantity)`` draws (run outside the event loop)."""
    drawn: list[tuple[str, float, float]] = []

    @LOOP_SETTINGS
    @given(data=st.data())
    def draw(data: st.DataObject) -> None:
        vsym = data.draw(st.sampled_from(venue_symbols), label="market")
        price, qty = draw_values(data, filters[vsym], span=span, steps_off=steps_off)
        drawn.append((vsym, price, qty))

    draw()
    return drawn


async def check_drawn(
    broker: CcxtBroker,
    received: Sequence[tuple[str, str, dict[str, Any]]],
    drawn: list[tuple[str, float, float]],
    filters: dict[str, dict[str, Any]],
    make_order: Callable[..., Order],
    *,
    side: Side,
    endpoint: str,
    qty_param: str,
    id_param: str | None = None,
) -> dict[str, int]:
    """Place every drawn order; each is refused locally (nothing sent, the oracle's reason) or
    reaches the venue (``received``: what the emulator got) with the oracle's exact strings.

    ``id_param``: the venue's field that must carry our client order id, as the ack does.
    """
    by_id = {m["id"]: s for s, m in broker.client.markets.items()}
    checked = {"sent": 0, "refused": 0}
    for n, (vsym, price, qty) in enumerate(drawn):
        f = filters[vsym]
        expected = expected_wire_values(f, price, qty)
        sent = make_order(f"p-{n}", side, OrderType.LIMIT, qty, price, symbol=by_id[vsym])
        before = len(received)
        if isinstance(expected, str):
            with pytest.raises(InvalidOrderError, match=expected):
                await broker.place_order(sent)
            assert len(received) == before  # nothing reached the venue
            checked["refused"] += 1
            continue
        ack = await broker.place_order(sent)  # the emulator's own filter check passes
        method, path, params = received[-1]
        assert (method, path, params["symbol"]) == ("POST", endpoint, vsym)
        if id_param is not None:
            assert ack.client_order_id == f"p-{n}"
            assert params[id_param] == f"p-{n}"
        assert Decimal(params["price"]) == expected[0], (vsym, price, params["price"])
        assert Decimal(params[qty_param]) == expected[1], (vsym, qty, params[qty_param])
        assert plain_at(params["price"], f["tick"]), params["price"]
        assert plain_at(params[qty_param], f["step"]), params[qty_param]
        checked["sent"] += 1
    return checked


async def refused_locally(
    broker: CcxtBroker,
    received: Sequence[tuple[str, str, dict[str, Any]]],
    sent: Order,
    endpoint: str,
) -> tuple[str, int]:
    """The message of ``sent``'s local refusal, and how many ``endpoint`` requests the venue
    received in the session."""
    with pytest.raises(InvalidOrderError) as refused:
        await broker.place_order(sent)
    return str(refused.value), sum(1 for _, path, _ in received if path == endpoint)


def plain_at(value: str, unit: Decimal) -> bool:
    """The wire string is a plain decimal with no more decimals than ``unit`` has."""
    if "e" in value.lower() or value.startswith(("+", " ")):
        return False
    decimals = len(value.split(".", 1)[1]) if "." in value else 0
    return decimals <= max(0, -unit.normalize().as_tuple().exponent)  # type: ignore[operator]


# -- secrets --------------------------------------------------------------------------------------


def captured_texts(
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    reprs: list[str],
    errors: list[BaseException],
) -> list[str]:
    """Everything a session showed: log records, output, reprs, errors and their tracebacks."""
    out = capsys.readouterr()
    texts = [r.getMessage() for r in caplog.records] + [caplog.text, out.out, out.err, *reprs]
    texts += ["".join(traceback.format_exception(e)) for e in errors]
    texts += [str(e) + repr(e) for e in errors]
    return texts


def assert_never_shown(texts: list[str], key_header: str, *secrets: str) -> None:
    """No text holds a secret, and the debug log (which sends ``key_header``) was captured."""
    assert any(key_header in t for t in texts), "ccxt's debug log was not captured"
    for text in texts:
        for secret in secrets:
            assert secret not in text


# -- scenarios ------------------------------------------------------------------------------------


async def restarted_lookup(
    first: CcxtBroker, restarted: CcxtBroker, place: Order
) -> tuple[object, list[object]]:
    """``place`` through ``first``; then ``restarted`` (a new session) finds it by client id,
    and an id never sent is not found."""
    await first.place_order(place)
    async with restarted:
        found = await restarted.get_order(place.client_order_id)
        with pytest.raises(OrderNotFoundError):
            await restarted.get_order("never-sent")
        open_orders = await restarted.get_open_orders()
    return found, list(open_orders)


def assert_found_after_restart(found: Any, open_orders: list[Any]) -> None:
    """The order of :func:`restarted_lookup` (``s-1``, a spot limit sell) as placed."""
    assert found.client_order_id == "s-1" and found.symbol == SPOT_SYMBOL
    assert (found.side, found.quantity, found.price) == (Side.SELL, 0.02, 70000.0)
    assert [o.client_order_id for o in open_orders] == ["s-1"]


async def cancel_all_three(
    broker: CcxtBroker, make_order: Callable[..., Order], symbol: str
) -> tuple[list[Any], list[Any]]:
    """Rest three limit buys on ``symbol``, cancel them all, and cancel all again."""
    for i, price in enumerate((59000.0, 59500.0, 60000.0)):
        await broker.place_order(
            make_order(f"c-{i}", Side.BUY, OrderType.LIMIT, 0.01, price, symbol=symbol)
        )
    cancelled = await broker.cancel_all()
    left = await broker.get_open_orders()
    assert await broker.cancel_all(symbol) == []  # nothing open: nothing to cancel
    return list(cancelled), list(left)


def assert_all_cancelled(cancelled: list[Any], left: list[Any], placed: int) -> None:
    """Each of the three orders of :func:`cancel_all_three` cancelled, none left, none more."""
    assert sorted(a.client_order_id for a in cancelled) == ["c-0", "c-1", "c-2"]
    assert {a.status for a in cancelled} == {OrderStatus.CANCELLED}
    assert left == [] and placed == 3
