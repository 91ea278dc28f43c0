"""The faces: the ``ats`` CLI (the composition root) and, later, the HTTP API."""

__all__: list[str] = []
