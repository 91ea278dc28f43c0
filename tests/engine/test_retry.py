"""Tests for engine/retry.py's RetryPolicy and engine/broker.py's error classification.

The waits are checked against DESIGN.md's numbers (3 tries, 1 s base, 30 s
cap, full jitter) computed independently here: the bound before retry ``k``
is ``min(30, 2**k)`` and the wait is uniform below it.
"""

from __future__ import annotations

import random

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.broker import (
    AuthenticationError,
    BrokerError,
    ExchangeUnavailableError,
    InsufficientFundsError,
    InvalidOrderError,
    NetworkError,
    OrderNotFoundError,
    RateLimitError,
    RequestTimeoutError,
    is_retry_safe,
)
from engine.retry import RetryPolicy


class _UpperBoundRandom(random.Random):
    """A Random whose ``uniform(a, b)`` is always ``b``: exposes the jitter's bound."""

    def uniform(self, a: float, b: float) -> float:
        return b


def test_retry_policy_defaults_match_design() -> None:
    policy = RetryPolicy()
    assert (policy.max_attempts, policy.base_delay_s, policy.max_delay_s) == (3, 1.0, 30.0)


def test_delay_bound_doubles_from_base_then_stops_at_30_s() -> None:
    policy = RetryPolicy()
    rng = _UpperBoundRandom()
    got = [policy.delay(k, rng) for k in range(9)]
    assert got == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0, 30.0]


def test_delay_bound_for_a_huge_attempt_is_the_cap_not_an_overflow() -> None:
    assert RetryPolicy().delay_bound(10_000) == 30.0


@given(seed=st.integers(0, 2**32 - 1), attempt=st.integers(0, 200))
def test_delay_is_within_full_jitter_bounds(seed: int, attempt: int) -> None:
    policy = RetryPolicy()
    delay = policy.delay(attempt, random.Random(seed))
    assert 0.0 <= delay <= min(30.0, 1.0 * 2**attempt), f"seed={seed}"


def test_delay_with_the_same_seed_is_reproducible_and_matches_random_uniform() -> None:
    policy = RetryPolicy()
    got = [policy.delay(k, random.Random(42)) for k in range(4)]
    oracle = [random.Random(42).uniform(0.0, min(30.0, 2.0**k)) for k in range(4)]
    assert got == oracle


def test_delays_spread_over_the_whole_interval_not_just_the_top() -> None:
    rng = random.Random(3)
    delays = [RetryPolicy().delay(2, rng) for _ in range(2000)]
    assert min(delays) < 0.4 and max(delays) > 3.6  # full jitter on [0, 4]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"max_attempts": 0}, "retry.max_attempts"),
        ({"base_delay_s": -1.0}, "retry.base_delay_s"),
        ({"base_delay_s": 5.0, "max_delay_s": 1.0}, "retry.max_delay_s"),
    ],
)
def test_retry_policy_when_out_of_range_then_error_names_the_field(
    kwargs: dict[str, float], field: str
) -> None:
    with pytest.raises(ValueError, match=field):
        RetryPolicy(**kwargs)


def test_retry_policy_from_config_with_unknown_key_then_error_names_the_key() -> None:
    with pytest.raises(msgspec.ValidationError, match="max_tries"):
        msgspec.convert({"max_tries": 3}, RetryPolicy)
    assert msgspec.convert({"max_attempts": 5}, RetryPolicy).max_attempts == 5


@pytest.mark.parametrize(
    ("error", "safe"),
    [
        (NetworkError("reset"), True),
        (RequestTimeoutError("no reply"), True),
        (RateLimitError("429", retry_after_s=2.0), True),
        (ExchangeUnavailableError("maintenance"), True),
        (InsufficientFundsError("balance"), False),
        (InvalidOrderError("tick"), False),
        (AuthenticationError("bad key"), False),
        (OrderNotFoundError("unknown"), False),
        (BrokerError("unclassified"), False),
        (TimeoutError(), False),
        (ValueError("bug"), False),
    ],
)
def test_is_retry_safe_classifies_each_error(error: BaseException, safe: bool) -> None:
    assert is_retry_safe(error) is safe


def test_request_timeout_is_a_network_error_meaning_outcome_unknown() -> None:
    assert issubclass(RequestTimeoutError, NetworkError)
    assert issubclass(NetworkError, BrokerError)
