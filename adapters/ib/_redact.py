from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from engine.log import REDACTED, SecretRedactionFilter

#: Loggers that print ib_insync objects holding the account id (positions, orders, executions).
THIRD_PARTY_LOGGERS = (
    "ib_insync.client",
    "ib_insync.Decoder",
    "ib_insync.ib",
    "ib_insync.wrapper",
    "eventkit.event",
)


def scrub(text: str, secrets: Iterable[str]) -> str:
    """Return ``text`` with every secret replaced by ``***`` (longest first)."""
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


class AccountRedactionFilter(SecretRedactionFilter):
    """A redaction filter whose secrets are read at each record (accounts become known late)."""

    def __init__(self, secrets: Callable[[], Iterable[str]]) -> None:
        super().__init__(())
        self._provider = secrets

    def filter(self, record: logging.LogRecord) -> bool:
        values = {s for s in self._provider() if s}
        self.secrets = tuple(sorted(values, key=len, reverse=True))
        return super().filter(record)


def install(filter_: logging.Filter) -> None:
    """Attach ``filter_`` to the third-party loggers (once)."""
    for name in THIRD_PARTY_LOGGERS:
        logger = logging.getLogger(name)
        if filter_ not in logger.filters:
            logger.addFilter(filter_)


def uninstall(filter_: logging.Filter) -> None:
    """Detach ``filter_`` from the third-party loggers."""
    for name in THIRD_PARTY_LOGGERS:
        logging.getLogger(name).removeFilter(filter_)
