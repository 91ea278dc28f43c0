"""Tests for ``execute_order`` (engine/retry.py) and the report deduplicator (engine/broker.py).

The venue here is :class:`ScriptedBroker`, a real in-process object that
implements :class:`engine.broker.BrokerConnector` and follows a script of
outcomes. It is the only way to make a venue time out on cue: the local
exchange emulator cannot lose a request or a reply. It keeps the orders it
has accepted, answers ``get_order`` from them, and refuses a second order with
a client order id it already holds, so "the order was placed at most once" is
checked against the venue's own book, not against calls to a mock.

Script items for ``place_order``: ``"ok"`` (placed, acknowledged), ``"lost"``
(timeout, the request never arrived), ``"landed"`` (timeout, the order was
placed but the reply was lost), or a :class:`BrokerError` to raise (not
placed). Script items for ``get_order``: ``"answer"`` (answer from the book)
or a :class:`BrokerError` to raise; an empty script answers.
"""

from __future__ import annotations

import asyncio
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.broker import (
    AuthenticationError,
    Balance,
    BrokerConnector,
    BrokerError,
    ExchangeUnavailableError,
    ExecutionReportDeduplicator,
    InsufficientFundsError,
    InvalidOrderError,
    NetworkError,
    OrderAck,
    OrderNotFoundError,
    RateLimitError,
    RequestTimeoutError,
    VenueOrder,
    VenuePosition,
)
from engine.orders import Order, OrderStatus, OrderType, Side
from engine.retry import ExecutionFailedError, RetryAttempt, RetryPolicy, execute_order

SEED = 20240808


class ScriptedBroker:
    """A venue that follows a script of outcomes (see the module docstring)."""

    def __init__(
        self, place: list[object] | None = None, query: list[object] | None = None
    ) -> None:
        self.place_script = list(place or [])
        self.query_script = list(query or [])
        self.book: dict[str, VenueOrder] = {}
        self.calls: list[tuple[str, str]] = []
        self.placements: dict[str, int] = {}
        self.duplicate_sends = 0
        self._seq = 0

    async def connect(self) -> None:
        self.calls.append(("connect", ""))

    def _accept(self, order: Order) -> VenueOrder:
        cid = order.client_order_id
        if cid in self.book:
            self.duplicate_sends += 1
            raise InvalidOrderError(f"duplicate client order id {cid}")
        self._seq += 1
        venue_order = VenueOrder(
            client_order_id=cid,
            venue_order_id=f"V{self._seq}",
            status=OrderStatus.ACCEPTED,
            symbol=order.symbol,
            side=order.side,
            quantity=order.quantity,
            price=order.price,
        )
        self.book[cid] = venue_order
        self.placements[cid] = self.placements.get(cid, 0) + 1
        return venue_order

    async def place_order(self, order: Order) -> OrderAck:
        self.calls.append(("place_order", order.client_order_id))
        step = self.place_script.pop(0) if self.place_script else "ok"
        if isinstance(step, BrokerError):
            raise step
        if step == "lost":
            raise RequestTimeoutError("no reply in 10 s")
        placed = self._accept(order)
        if step == "landed":
            raise RequestTimeoutError("no reply in 10 s")
        return OrderAck(
            client_order_id=placed.client_order_id,
            venue_order_id=placed.venue_order_id,
            status=placed.status,
        )

    async def cancel_order(self, client_order_id: str) -> OrderAck:
        self.calls.append(("cancel_order", client_order_id))
        if client_order_id not in self.book:
            raise OrderNotFoundError(client_order_id)
        return OrderAck(
            client_order_id=client_order_id,
            venue_order_id=self.book[client_order_id].venue_order_id,
            status=OrderStatus.CANCELLED,
        )

    async def get_balance(self) -> list[Balance]:
        return [Balance(asset="USDT", free=1000.0)]

    async def get_positions(self) -> list[VenuePosition]:
        return []

    async def get_open_orders(self, symbol: str | None = None) -> list[VenueOrder]:
        return [o for o in self.book.values() if symbol is None or o.symbol == symbol]

    async def get_order(self, client_order_id: str) -> VenueOrder:
        self.calls.append(("get_order", client_order_id))
        step = self.query_script.pop(0) if self.query_script else "answer"
        if isinstance(step, BrokerError):
            raise step
        if client_order_id not in self.book:
            raise OrderNotFoundError(f"order {client_order_id} unknown")
        return self.book[client_order_id]

    async def cancel_all(self, symbol: str | None = None) -> list[OrderAck]:
        return [await self.cancel_order(cid) for cid in list(self.book)]


class FakeSleep:
    """Records the waits instead of waiting, and where in the call sequence each fell."""

    def __init__(self, broker: ScriptedBroker) -> None:
        self.broker = broker
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        self.broker.calls.append(("sleep", f"{seconds:.6f}"))


def _order(cid: str = "s1-1") -> Order:
    return Order(
        client_order_id=cid,
        symbol="BTC/USDT",
        venue="binance",
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        quantity=0.01,
        price=60_000.0,
        ts_created=0,
    )


def _run(
    broker: ScriptedBroker,
    policy: RetryPolicy | None = None,
    rng: random.Random | None = None,
    on_attempt: object = None,
) -> tuple[OrderAck, FakeSleep]:
    sleep = FakeSleep(broker)
    ack = asyncio.run(
        execute_order(
            broker,
            _order(),
            policy or RetryPolicy(),
            sleep=sleep,
            rng=rng or random.Random(SEED),
            on_attempt=on_attempt,  # type: ignore[arg-type]
        )
    )
    return ack, sleep


def _kinds(broker: ScriptedBroker) -> list[str]:
    return [kind for kind, _ in broker.calls]


def test_scripted_broker_implements_the_connector_protocol() -> None:
    broker: BrokerConnector = ScriptedBroker()
    assert asyncio.run(broker.get_balance())[0].total == 1000.0


# -- the three must-show cases (issue 5) ------------------------------------------------------


def test_execute_order_when_timeout_then_order_exists_then_no_resend() -> None:
    broker = ScriptedBroker(place=["landed"])
    ack, _ = _run(broker)
    assert _kinds(broker) == ["place_order", "sleep", "get_order"]
    assert ack.client_order_id == "s1-1" and ack.venue_order_id == "V1"
    assert ack.status is OrderStatus.ACCEPTED
    assert broker.placements == {"s1-1": 1}


def test_execute_order_when_timeout_then_unknown_order_then_resend_with_same_client_id() -> None:
    broker = ScriptedBroker(place=["lost", "ok"])
    ack, sleep = _run(broker)
    assert _kinds(broker) == ["place_order", "sleep", "get_order", "place_order"]
    assert [cid for kind, cid in broker.calls if kind != "sleep"] == ["s1-1"] * 3
    assert ack.status is OrderStatus.ACCEPTED
    assert broker.placements == {"s1-1": 1}
    assert len(sleep.delays) == 1 and 0.0 <= sleep.delays[0] <= 1.0


@pytest.mark.parametrize(
    "error",
    [
        InsufficientFundsError("balance 10 USDT below 600 USDT"),
        InvalidOrderError("price not on tick"),
        AuthenticationError("signature rejected"),
    ],
)
def test_execute_order_when_final_error_then_raised_at_once_without_retry(
    error: BrokerError,
) -> None:
    broker = ScriptedBroker(place=[error])
    with pytest.raises(type(error)) as raised:
        _run(broker)
    assert raised.value is error
    assert _kinds(broker) == ["place_order"]
    assert broker.placements == {}


# -- retries, waits and the cap ---------------------------------------------------------------


def test_execute_order_when_retry_safe_errors_then_resent_with_backoff_and_same_id() -> None:
    broker = ScriptedBroker(place=[NetworkError("reset"), ExchangeUnavailableError("503"), "ok"])
    ack, sleep = _run(broker, rng=random.Random(SEED))
    assert _kinds(broker) == ["place_order", "sleep", "place_order", "sleep", "place_order"]
    assert ack.status is OrderStatus.ACCEPTED
    oracle = random.Random(SEED)
    assert sleep.delays == [oracle.uniform(0.0, 1.0), oracle.uniform(0.0, 2.0)], f"seed={SEED}"
    assert 0.0 <= sleep.delays[0] <= 1.0 and 0.0 <= sleep.delays[1] <= 2.0


def test_execute_order_when_all_tries_fail_then_execution_failed_names_id_and_attempts() -> None:
    errors = [NetworkError("reset 1"), RateLimitError("429"), NetworkError("reset 3")]
    broker = ScriptedBroker(place=list(errors))
    with pytest.raises(ExecutionFailedError, match=r"s1-1 not placed after 3 attempt") as raised:
        _run(broker)
    assert raised.value.attempts == 3 and raised.value.client_order_id == "s1-1"
    assert raised.value.last_error is errors[2] and raised.value.__cause__ is errors[2]
    assert raised.value.outcome_unknown is False
    assert _kinds(broker).count("place_order") == 3
    assert _kinds(broker).count("sleep") == 2  # no pointless wait after the last try


def test_execute_order_waits_never_pass_the_30_s_cap() -> None:
    class UpperBound(random.Random):
        def uniform(self, a: float, b: float) -> float:
            return b

    broker = ScriptedBroker(place=[NetworkError("reset")] * 8 + ["ok"])
    _, sleep = _run(broker, RetryPolicy(max_attempts=9), rng=UpperBound())
    assert sleep.delays == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]


def test_execute_order_when_rate_limited_with_retry_after_then_waits_at_least_that() -> None:
    broker = ScriptedBroker(place=[RateLimitError("429", retry_after_s=5.0), "ok"])
    _, sleep = _run(broker)
    assert sleep.delays[0] >= 5.0


def test_execute_order_reports_each_wait_to_on_attempt() -> None:
    seen: list[RetryAttempt] = []
    broker = ScriptedBroker(place=[NetworkError("reset"), "lost", "ok"])
    _, sleep = _run(broker, on_attempt=seen.append)
    assert [(a.action, a.sends, a.error) for a in seen] == [
        ("place", 1, "NetworkError"),
        ("query", 2, "RequestTimeoutError"),
    ]
    assert [a.delay_s for a in seen] == sleep.delays


# -- a query that fails too -------------------------------------------------------------------


def test_execute_order_when_query_times_out_then_queries_again_before_any_resend() -> None:
    broker = ScriptedBroker(
        place=["landed"], query=[RequestTimeoutError("no reply"), NetworkError("reset")]
    )
    ack, sleep = _run(broker)
    assert _kinds(broker) == [
        "place_order",
        "sleep",
        "get_order",
        "sleep",
        "get_order",
        "sleep",
        "get_order",
    ]
    assert ack.venue_order_id == "V1"
    assert broker.placements == {"s1-1": 1}
    bounds = [1.0, 2.0, 4.0]
    assert all(0.0 <= d <= b for d, b in zip(sleep.delays, bounds, strict=True))


def test_execute_order_when_query_never_answers_then_outcome_unknown_and_no_resend() -> None:
    broker = ScriptedBroker(place=["landed"], query=[RequestTimeoutError("no reply")] * 3)
    with pytest.raises(ExecutionFailedError, match="outcome unknown") as raised:
        _run(broker)
    assert raised.value.outcome_unknown is True
    assert _kinds(broker).count("place_order") == 1
    assert _kinds(broker).count("get_order") == 3


def test_execute_order_when_query_fails_finally_then_outcome_unknown_at_once() -> None:
    broker = ScriptedBroker(place=["lost"], query=[AuthenticationError("key revoked")])
    with pytest.raises(ExecutionFailedError) as raised:
        _run(broker)
    assert raised.value.outcome_unknown is True
    assert isinstance(raised.value.__cause__, AuthenticationError)
    assert _kinds(broker) == ["place_order", "sleep", "get_order"]


def test_execute_order_when_every_send_is_lost_then_not_placed_after_three() -> None:
    broker = ScriptedBroker(place=["lost"] * 3)
    with pytest.raises(ExecutionFailedError, match="not placed after 3") as raised:
        _run(broker)
    assert raised.value.outcome_unknown is False
    assert _kinds(broker).count("place_order") == 3
    assert _kinds(broker).count("get_order") == 3  # even the last timeout is settled
    assert broker.book == {}


_PLACE_STEP = st.sampled_from(["ok", "lost", "landed", "network", "unavailable", "rate", "funds"])
_QUERY_STEP = st.sampled_from(["answer", "timeout", "network"])
_ERRORS = {
    "network": lambda: NetworkError("reset"),
    "unavailable": lambda: ExchangeUnavailableError("503"),
    "rate": lambda: RateLimitError("429"),
    "funds": lambda: InsufficientFundsError("balance"),
    "timeout": lambda: RequestTimeoutError("no reply"),
}


def _step(name: str) -> object:
    return _ERRORS[name]() if name in _ERRORS else name


@given(
    place=st.lists(_PLACE_STEP, max_size=6),
    query=st.lists(_QUERY_STEP, max_size=6),
    seed=st.integers(0, 2**32 - 1),
)
def test_execute_order_never_places_twice_and_reports_the_venue_truth(
    place: list[str], query: list[str], seed: int
) -> None:
    broker = ScriptedBroker(place=[_step(s) for s in place], query=[_step(s) for s in query])
    try:
        ack, _ = _run(broker, rng=random.Random(seed))
    except ExecutionFailedError as exc:
        if not exc.outcome_unknown:
            assert broker.book == {}, f"seed={seed}"
    except InsufficientFundsError:
        assert broker.book == {}, f"seed={seed}"
    else:
        assert broker.book["s1-1"].venue_order_id == ack.venue_order_id, f"seed={seed}"
    assert all(n == 1 for n in broker.placements.values()), f"seed={seed}"
    assert broker.duplicate_sends == 0, f"seed={seed}"  # never resent an order it had
    assert _kinds(broker).count("place_order") <= 3


# -- idempotent execution reports -------------------------------------------------------------


def test_dedup_when_fill_resent_with_the_same_trade_id_then_dropped() -> None:
    dedup = ExecutionReportDeduplicator()
    assert dedup.fill_quantity("c1", "t1", 0.4) == 0.4
    assert dedup.fill_quantity("c1", "t1", 0.4) == 0.0
    assert dedup.fill_quantity("c2", "t1", 0.4) == 0.4  # trade ids are per order
    assert dedup.fill_quantity("c1", "t2", 0.1) == 0.1


def test_dedup_when_fill_cumulative_not_above_known_then_dropped() -> None:
    dedup = ExecutionReportDeduplicator()
    assert dedup.fill_quantity("c1", "t2", 0.3, cumulative_quantity=0.7) == pytest.approx(0.7)
    assert dedup.fill_quantity("c1", "t1", 0.4, cumulative_quantity=0.4) == 0.0  # late
    assert dedup.fill_quantity("c1", "t3", 0.3, cumulative_quantity=1.0) == pytest.approx(0.3)


def test_dedup_when_fill_arrives_after_cancel_then_kept() -> None:
    dedup = ExecutionReportDeduplicator()
    assert dedup.accept_status("c1", OrderStatus.CANCELLED)
    assert dedup.fill_quantity("c1", "t1", 0.2, cumulative_quantity=0.2) == pytest.approx(0.2)


@given(
    sizes=st.lists(st.integers(1, 1000), min_size=1, max_size=8),
    data=st.data(),
)
def test_dedup_applied_quantities_sum_to_the_venue_cumulative_whatever_the_order(
    sizes: list[int], data: st.DataObject
) -> None:
    cumulative = [sum(sizes[: i + 1]) for i in range(len(sizes))]
    fills = [(f"t{i}", sizes[i], cumulative[i]) for i in range(len(sizes))]
    repeats = data.draw(st.lists(st.sampled_from(fills), max_size=8))
    arrivals = data.draw(st.permutations(fills + repeats))
    dedup = ExecutionReportDeduplicator()
    applied = [
        dedup.fill_quantity("c1", tid, float(q), cumulative_quantity=float(c))
        for tid, q, c in arrivals
    ]
    assert sum(applied) == cumulative[-1]
    assert all(a >= 0 for a in applied)


@pytest.mark.parametrize(
    ("sequence", "accepted"),
    [
        (
            [OrderStatus.ACCEPTED, OrderStatus.FILLED, OrderStatus.ACCEPTED],
            [True, True, False],
        ),
        ([OrderStatus.FILLED, OrderStatus.PARTIALLY_FILLED], [True, False]),
        ([OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.FILLED], [True, False, False]),
        ([OrderStatus.ACCEPTED, OrderStatus.ACCEPTED, OrderStatus.NEW], [True, False, False]),
        ([OrderStatus.REJECTED, OrderStatus.ACCEPTED], [True, False]),
    ],
)
def test_dedup_status_updates_only_move_forward(
    sequence: list[OrderStatus], accepted: list[bool]
) -> None:
    dedup = ExecutionReportDeduplicator()
    assert [dedup.accept_status("c1", s) for s in sequence] == accepted


def test_dedup_partial_fill_status_is_new_only_when_filled_quantity_grows() -> None:
    dedup = ExecutionReportDeduplicator()
    assert dedup.accept_status("c1", OrderStatus.PARTIALLY_FILLED, 0.5)
    assert not dedup.accept_status("c1", OrderStatus.PARTIALLY_FILLED, 0.5)
    assert not dedup.accept_status("c1", OrderStatus.PARTIALLY_FILLED, 0.3)
    assert dedup.accept_status("c1", OrderStatus.PARTIALLY_FILLED, 0.8)
    assert not dedup.accept_status("c1", OrderStatus.ACCEPTED)


def test_dedup_forget_drops_the_order_state() -> None:
    dedup = ExecutionReportDeduplicator()
    dedup.fill_quantity("c1", "t1", 0.1)
    assert len(dedup) == 1
    dedup.forget("c1")
    assert len(dedup) == 0
    assert dedup.fill_quantity("c1", "t1", 0.1) == 0.1


def test_execute_order_logs_constant_messages_with_fields(
    caplog: pytest.LogCaptureFixture,
) -> None:
    broker = ScriptedBroker(place=["lost", "ok"])
    with caplog.at_level("INFO", logger="ats.execution"):
        _run(broker)
    records = [r for r in caplog.records if r.name == "ats.execution"]
    assert [r.getMessage() for r in records] == [
        "order send timed out, querying the venue before any resend",
        "order not on the venue after a timeout, resending with the same id",
    ]
    assert all(r.fields["client_order_id"] == "s1-1" for r in records)  # type: ignore[attr-defined]
