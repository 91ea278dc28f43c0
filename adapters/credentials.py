"""API keys read from the environment and never shown, and a logger that blanks them out.

:class:`Credentials` holds a key pair: its ``repr`` names the environment
variables, never the values, :meth:`Credentials.redact` blanks both out of any
text, and it cannot be pickled. :class:`RedactingLogger` is what a ccxt client
logs through (:class:`adapters.ccxt_broker.CcxtBroker` sets it), so ccxt's
debug log of every request, headers included, never shows a key.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

from engine.broker import AuthenticationError

__all__ = ["Credentials", "RedactingLogger"]


class Credentials:
    """An API key and secret, read from the environment and never shown.

    ``repr``/``str`` name the variables, not the values; :meth:`redact` blanks
    both values out of any text. Not picklable.

    Examples
    --------
    >>> c = Credentials.from_env("K", "S", env={"K": "key-123", "S": "secret-456"})
    >>> c
    Credentials(K=***, S=***)
    >>> c.redact("sent key-123 signed with secret-456")
    'sent *** signed with ***'
    """

    __slots__ = ("_api_key", "_secret", "key_variable", "secret_variable")

    def __init__(
        self,
        api_key: str,
        secret: str,
        *,
        key_variable: str = "api_key",
        secret_variable: str = "secret",
    ) -> None:
        self._api_key = api_key
        self._secret = secret
        self.key_variable = key_variable
        self.secret_variable = secret_variable

    @classmethod
    def from_env(
        cls, key_variable: str, secret_variable: str, env: Mapping[str, str] | None = None
    ) -> Credentials:
        """Read the pair from ``env`` (default ``os.environ``).

        Raises
        ------
        AuthenticationError
            A variable is unset or empty (the message names it, never a value).
        """
        env = os.environ if env is None else env
        missing = [v for v in (key_variable, secret_variable) if not env.get(v)]
        if missing:
            raise AuthenticationError(
                f"credentials missing: set {' and '.join(missing)} in the environment"
            )
        return cls(
            env[key_variable],
            env[secret_variable],
            key_variable=key_variable,
            secret_variable=secret_variable,
        )

    @property
    def api_key(self) -> str:
        """The API key (send it; never log it)."""
        return self._api_key

    @property
    def secret(self) -> str:
        """The secret (sign with it; never log it)."""
        return self._secret

    def redact(self, text: str) -> str:
        """``text`` with the key and the secret replaced by ``***``."""
        for value in (self._secret, self._api_key):
            if value and value in text:
                text = text.replace(value, "***")
        return text

    def __repr__(self) -> str:
        return f"Credentials({self.key_variable}=***, {self.secret_variable}=***)"

    __str__ = __repr__

    def __reduce__(self) -> Any:
        raise TypeError("Credentials cannot be pickled")


class RedactingLogger(logging.LoggerAdapter):  # type: ignore[type-arg]
    """A ccxt client's ``logger``: formats the record first, then blanks the credentials out."""

    def __init__(self, logger: logging.Logger, credentials: Credentials) -> None:
        super().__init__(logger, {})
        self._credentials = credentials

    def log(self, level: int, msg: object, *args: Any, **kwargs: Any) -> None:
        if self.isEnabledFor(level):
            text = str(msg) % args if args else str(msg)
            kwargs.pop("extra", None)
            self.logger.log(level, self._credentials.redact(text), **kwargs)
