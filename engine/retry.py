"""Place an order on a live venue with retries that can never double-fill.

The policy is DESIGN.md's: at most 3 tries, exponential backoff from 1 s
capped at 30 s with full jitter (the wait before retry ``k``, counting from 0,
is uniform in ``[0, min(30, 1 * 2**k)]``), and only on retry-safe errors
(:func:`engine.broker.is_retry_safe`).

A timeout (:class:`~engine.broker.RequestTimeoutError`) means the order may
be on the book. :func:`execute_order` then backs off and asks the venue for
the order by its client order id before doing anything else:

- the venue knows it → its state is returned, nothing is resent;
- :class:`~engine.broker.OrderNotFoundError` → the same order, with the same
  client order id, is sent again (the venue's uniqueness check on the id is
  a second guard should the first request still land);
- the query fails retry-safely (it may time out too) → back off and query
  again; the order is never resent while its outcome is unknown.

The wait comes before the query, not after it, so a request still in flight
has time to land and the query's "not found" can be trusted.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable

import msgspec

from engine.broker import (
    BrokerConnector,
    BrokerError,
    OrderAck,
    OrderNotFoundError,
    RateLimitError,
    RequestTimeoutError,
)
from engine.orders import Order

__all__ = [
    "ExecutionFailedError",
    "RetryAttempt",
    "RetryPolicy",
    "execute_order",
]

_log = logging.getLogger("ats.execution")

#: 2**64 s is far past any cap; bounding the exponent keeps the float finite.
_MAX_EXPONENT = 64


class RetryPolicy(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """How :func:`execute_order` retries (DESIGN.md, Execution).

    Attributes
    ----------
    max_attempts : int
        Sends of the order at most, the first included (default 3); also the
        most queries made to settle one timed-out send.
    base_delay_s : float
        Upper bound of the first wait, in seconds (default 1.0).
    max_delay_s : float
        Cap on the upper bound of any wait, in seconds (default 30.0).

    Examples
    --------
    >>> import random
    >>> policy = RetryPolicy()
    >>> 0.0 <= policy.delay(0, random.Random(7)) <= 1.0
    True
    >>> policy.delay_bound(10)
    30.0
    """

    max_attempts: int = 3
    base_delay_s: float = 1.0
    max_delay_s: float = 30.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"retry.max_attempts must be >= 1, was {self.max_attempts}")
        if not self.base_delay_s >= 0:
            raise ValueError(f"retry.base_delay_s must be >= 0, was {self.base_delay_s}")
        if not self.max_delay_s >= self.base_delay_s:
            raise ValueError(
                f"retry.max_delay_s must be >= retry.base_delay_s ({self.base_delay_s}), "
                f"was {self.max_delay_s}"
            )

    def delay_bound(self, attempt: int) -> float:
        """Return ``min(max_delay_s, base_delay_s * 2**attempt)``, the longest wait."""
        return min(self.max_delay_s, self.base_delay_s * 2.0 ** min(attempt, _MAX_EXPONENT))

    def delay(self, attempt: int, rng: random.Random) -> float:
        """Return the wait before retry ``attempt`` (from 0): uniform below ``delay_bound``.

        Full jitter spreads the retries of many clients hit by the same outage.
        """
        return rng.uniform(0.0, self.delay_bound(attempt))


class RetryAttempt(msgspec.Struct, frozen=True, kw_only=True):
    """One failed request that :func:`execute_order` is about to follow up (for ``on_attempt``).

    ``action`` is what comes after the wait of ``delay_s`` seconds: ``"place"``
    (a resend) or ``"query"`` (ask the venue for the order). ``sends`` counts
    the sends so far; ``error`` is the error's class name.
    """

    client_order_id: str
    action: str
    sends: int
    error: str
    delay_s: float


class ExecutionFailedError(BrokerError):
    """:func:`execute_order` gave up; ``__cause__`` is the last error.

    Attributes
    ----------
    client_order_id : str
        The order.
    attempts : int
        How many times it was sent.
    outcome_unknown : bool
        True when the last send timed out and no query could tell whether the
        order exists: the order may be live, reconcile before sending it again.
        False when the venue certainly does not have it.
    last_error : BrokerError
        The error that ended the tries.
    """

    def __init__(
        self,
        client_order_id: str,
        attempts: int,
        last_error: BrokerError,
        *,
        outcome_unknown: bool,
    ) -> None:
        state = "outcome unknown, reconcile before resending" if outcome_unknown else "not placed"
        super().__init__(
            f"order {client_order_id} {state} after {attempts} attempt(s): "
            f"{type(last_error).__name__}: {last_error}"
        )
        self.client_order_id = client_order_id
        self.attempts = attempts
        self.last_error = last_error
        self.outcome_unknown = outcome_unknown


class _Backoff:
    """The waits of one :func:`execute_order` call; each one grows the bound."""

    __slots__ = ("client_order_id", "count", "on_attempt", "policy", "rng", "sleep")

    def __init__(
        self,
        client_order_id: str,
        policy: RetryPolicy,
        sleep: Callable[[float], Awaitable[object]],
        rng: random.Random,
        on_attempt: Callable[[RetryAttempt], object] | None,
    ) -> None:
        self.client_order_id = client_order_id
        self.policy = policy
        self.sleep = sleep
        self.rng = rng
        self.on_attempt = on_attempt
        self.count = 0

    async def wait(self, action: str, sends: int, error: BrokerError) -> None:
        delay = self.policy.delay(self.count, self.rng)
        if isinstance(error, RateLimitError) and error.retry_after_s is not None:
            # The venue said how long; waiting less only earns another refusal.
            delay = max(delay, min(error.retry_after_s, self.policy.max_delay_s))
        self.count += 1
        if self.on_attempt is not None:
            self.on_attempt(
                RetryAttempt(
                    client_order_id=self.client_order_id,
                    action=action,
                    sends=sends,
                    error=type(error).__name__,
                    delay_s=delay,
                )
            )
        await self.sleep(delay)


async def _settle_unknown(
    broker: BrokerConnector,
    order: Order,
    policy: RetryPolicy,
    backoff: _Backoff,
    sends: int,
    timeout: RequestTimeoutError,
) -> OrderAck | None:
    """Return the venue's order, or None when it certainly does not have it."""
    cid = order.client_order_id
    last: BrokerError = timeout
    for _ in range(policy.max_attempts):
        await backoff.wait("query", sends, last)
        try:
            found = await broker.get_order(cid)
        except OrderNotFoundError:
            return None
        except BrokerError as exc:
            last = exc
            if not exc.retry_safe:
                _log.error(
                    "order query failed with a final error, outcome unknown",
                    extra={"fields": {"client_order_id": cid, "error": type(exc).__name__}},
                )
                raise ExecutionFailedError(cid, sends, exc, outcome_unknown=True) from exc
            _log.warning(
                "order query failed, outcome still unknown",
                extra={"fields": {"client_order_id": cid, "error": type(exc).__name__}},
            )
            continue
        _log.info(
            "order found after a timeout, not resending",
            extra={
                "fields": {
                    "client_order_id": cid,
                    "venue_order_id": found.venue_order_id,
                    "status": str(found.status),
                }
            },
        )
        return found
    _log.error(
        "order outcome unknown after all queries",
        extra={"fields": {"client_order_id": cid, "sends": sends}},
    )
    raise ExecutionFailedError(cid, sends, last, outcome_unknown=True) from last


async def execute_order(
    broker: BrokerConnector,
    order: Order,
    policy: RetryPolicy | None = None,
    *,
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    rng: random.Random | None = None,
    on_attempt: Callable[[RetryAttempt], object] | None = None,
) -> OrderAck:
    """Place ``order`` on ``broker``, retrying per ``policy`` without ever placing it twice.

    Parameters
    ----------
    broker : BrokerConnector
        The venue.
    order : Order
        A rounded order; its ``client_order_id`` is sent with every try.
    policy : RetryPolicy, optional
        Defaults to ``RetryPolicy()`` (3 tries, 1 s base, 30 s cap).
    sleep : callable, optional
        ``await sleep(seconds)`` waits; inject a fake in tests and replays.
    rng : random.Random, optional
        Source of the jitter; pass a seeded one for reproducible waits.
    on_attempt : callable, optional
        Called with a :class:`RetryAttempt` before every wait (metrics, tests).

    Returns
    -------
    OrderAck
        The venue's acknowledgement, or its :class:`~engine.broker.VenueOrder`
        when a timed-out send turned out to have been placed.

    Raises
    ------
    BrokerError
        A final error of the send (insufficient funds, invalid order...), at once.
    ExecutionFailedError
        After ``policy.max_attempts`` sends failed retry-safely, or when a
        timed-out send could not be settled (``outcome_unknown`` is then True).

    Examples
    --------
    >>> ack = asyncio.run(execute_order(broker, order, RetryPolicy()))  # doctest: +SKIP
    """
    policy = RetryPolicy() if policy is None else policy
    rng = random.Random() if rng is None else rng
    cid = order.client_order_id
    backoff = _Backoff(cid, policy, sleep, rng, on_attempt)
    sends = 0
    while True:
        sends += 1
        try:
            return await broker.place_order(order)
        except RequestTimeoutError as exc:
            _log.warning(
                "order send timed out, querying the venue before any resend",
                extra={"fields": {"client_order_id": cid, "sends": sends}},
            )
            found = await _settle_unknown(broker, order, policy, backoff, sends, exc)
            if found is not None:
                return found
            if sends >= policy.max_attempts:
                _log.error(
                    "order not placed, attempts exhausted",
                    extra={"fields": {"client_order_id": cid, "sends": sends}},
                )
                raise ExecutionFailedError(cid, sends, exc, outcome_unknown=False) from exc
            _log.warning(
                "order not on the venue after a timeout, resending with the same id",
                extra={"fields": {"client_order_id": cid, "sends": sends}},
            )
        except BrokerError as exc:
            if not exc.retry_safe:
                _log.warning(
                    "order refused with a final error, not retrying",
                    extra={"fields": {"client_order_id": cid, "error": type(exc).__name__}},
                )
                raise
            if sends >= policy.max_attempts:
                _log.error(
                    "order not placed, attempts exhausted",
                    extra={
                        "fields": {
                            "client_order_id": cid,
                            "sends": sends,
                            "error": type(exc).__name__,
                        }
                    },
                )
                raise ExecutionFailedError(cid, sends, exc, outcome_unknown=False) from exc
            _log.warning(
                "order send failed, retrying",
                extra={
                    "fields": {"client_order_id": cid, "sends": sends, "error": type(exc).__name__}
                },
            )
            await backoff.wait("place", sends, exc)
