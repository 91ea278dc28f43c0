"""The account id never shows in logs (ours or ib_insync's), exceptions, reprs or reports."""

from __future__ import annotations

import logging

import msgspec
import pytest
from ib_insync import Contract

from adapters.ib._redact import THIRD_PARTY_LOGGERS
from engine.broker import InvalidOrderError
from tests.adapters.ib.conftest import ACCOUNT, Harness, ib_config

REJECT_TEXT = f"Order rejected - reason:Account {ACCOUNT} has no trading permission for AAPL"


def _busy_session(h: Harness, caught: list[BaseException]) -> None:
    """Connect, hold a position, place, fill, get rejected, drop and reconnect."""
    aapl = Contract.create(secType="STK", conId=265598, symbol="AAPL", currency="USD")
    h.tws.positions = {265598: (aapl, 10.0, 180.0)}
    h.tws.account_values = [("CashBalance", "1000.0", "USD"), ("AccountCode", ACCOUNT, "")]

    async def scenario() -> None:
        await h.broker.connect()
        order = h.order(quantity=10)
        await h.broker.place_order(order)
        h.tws.fill(order.client_order_id, 10, 187.25)
        await h.tws.settle()
        h.tws.reject_next(201, REJECT_TEXT)
        try:
            await h.broker.place_order(h.order())
        except InvalidOrderError as exc:
            caught.append(exc)
        h.tws.send_error(-1, 2100, f"New account data requested from TWS for {ACCOUNT}")
        h.tws.drop()
        await h.broker.wait_connected(timeout_s=2.0)
        await h.tws.settle()
        caught.append(Exception(repr(await h.broker.get_positions())))
        caught.append(Exception(repr(await h.broker.get_balance())))
        caught.append(Exception(repr(h.broker)))

    h.run(scenario)


def test_account_id_appears_nowhere_the_adapter_writes(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    h = Harness()
    caught: list[BaseException] = []
    _busy_session(h, caught)

    # The session did produce records that carried the account: ib_insync logs
    # positions, orders and executions with it, here replaced by ***.
    third_party = [r for r in caplog.records if r.name.startswith("ib_insync")]
    assert any("***" in r.getMessage() for r in third_party)
    ours = [r for r in caplog.records if r.name.startswith("ats.ib")]
    assert any("IB order error" in r.getMessage() for r in ours)
    for record in caplog.records:
        assert ACCOUNT not in record.getMessage(), record.name
        assert ACCOUNT not in repr(getattr(record, "fields", {})), record.name
    assert ACCOUNT not in caplog.text

    rejected = caught[0]
    assert "IB error 201" in str(rejected)
    assert "***" in str(rejected)
    for exc in caught:
        assert ACCOUNT not in str(exc)
        assert ACCOUNT not in repr(exc)
    for event in h.sink.events:
        assert ACCOUNT not in repr(event)
    for fill in h.fills:
        assert ACCOUNT not in repr(fill)
    assert ACCOUNT not in repr(h.broker)
    assert ACCOUNT not in msgspec.json.encode(h.broker.config).decode()


def test_close_detaches_the_redaction_filters() -> None:
    h = Harness()
    _busy_session(h, [])
    for name in THIRD_PARTY_LOGGERS:
        assert h.broker._redaction not in logging.getLogger(name).filters


def test_without_redaction_ib_insync_logs_the_account_but_ours_still_do_not(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    h = Harness(ib_config(redact_account=False))
    caught: list[BaseException] = []
    _busy_session(h, caught)
    third_party = [r for r in caplog.records if r.name.startswith("ib_insync")]
    assert any(ACCOUNT in r.getMessage() for r in third_party)  # this test can fail
    for record in caplog.records:
        if record.name.startswith("ats"):
            assert ACCOUNT not in record.getMessage()
            assert ACCOUNT not in repr(getattr(record, "fields", {}))
    assert all(ACCOUNT not in str(exc) for exc in caught)
