"""IB message codes onto the engine's errors: retry-safe versus final, and notices."""

from __future__ import annotations

import pytest

from adapters.ib import IbClientIdInUseError, error_for_code
from adapters.ib.errors import is_notice
from engine.broker import (
    BrokerError,
    ExchangeUnavailableError,
    InsufficientFundsError,
    InvalidOrderError,
    NetworkError,
    OrderNotFoundError,
    RateLimitError,
    is_retry_safe,
)


@pytest.mark.parametrize(
    ("code", "text", "kind", "retry_safe"),
    [
        (502, "Couldn't connect to TWS.", NetworkError, True),
        (504, "Not connected", NetworkError, True),
        (1300, "TWS socket port has been reset", NetworkError, True),
        (10182, "Failed to request live updates (disconnected).", NetworkError, True),
        (1100, "Connectivity between IB and TWS has been lost.", ExchangeUnavailableError, True),
        (2110, "Connectivity between TWS and server is broken.", ExchangeUnavailableError, True),
        (100, "Max rate of messages per second has been exceeded.", RateLimitError, True),
        (201, "Order rejected - reason:Invalid account", InvalidOrderError, False),
        (
            110,
            "The price does not conform to the minimum price variation",
            InvalidOrderError,
            False,
        ),
        (200, "No security definition has been found", InvalidOrderError, False),
        (
            203,
            "The security is not available or allowed for this account",
            InvalidOrderError,
            False,
        ),
        (10147, "OrderId 7 that needs to be cancelled is not found.", OrderNotFoundError, False),
        (10148, "OrderId 7 ... cannot be cancelled, state: Filled.", OrderNotFoundError, False),
        (
            161,
            "Cancel attempted when order is not in a cancellable state",
            OrderNotFoundError,
            False,
        ),
        (326, "Unable to connect as the client id is already in use", IbClientIdInUseError, False),
    ],
)
def test_code_maps_to_engine_error_class(
    code: int, text: str, kind: type[BrokerError], retry_safe: bool
) -> None:
    error = error_for_code(code, text)
    assert type(error) is kind
    assert is_retry_safe(error) is retry_safe
    assert str(error) == f"IB error {code}: {text}"


@pytest.mark.parametrize(
    "text",
    [
        "Order rejected - reason:YOUR ORDER IS NOT ACCEPTED. IN ORDER TO OBTAIN THE DESIRED "
        "POSITION YOUR EQUITY WITH LOAN VALUE [1000.00 USD] MUST EXCEED THE INITIAL MARGIN "
        "[5000.00 USD]",
        "Order rejected - reason:Insufficient buying power",
        "Order rejected - reason: available funds are insufficient",
    ],
)
def test_reject_about_margin_or_funds_is_insufficient_funds(text: str) -> None:
    assert type(error_for_code(201, text, order=True)) is InsufficientFundsError


@pytest.mark.parametrize("code", [202, 399, 404, 2104, 2106, 2158, 1101, 1102, 10167])
def test_notices_and_warnings_are_no_error(code: int) -> None:
    assert is_notice(code)
    assert error_for_code(code, "Market data farm connection is OK") is None


def test_unknown_code_is_final_and_invalid_order_when_about_an_order() -> None:
    assert type(error_for_code(12345, "something new", order=True)) is InvalidOrderError
    error = error_for_code(12345, "something new")
    assert type(error) is BrokerError
    assert not is_retry_safe(error)
