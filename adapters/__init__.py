"""The edges: one package per venue, the replay of recordings, the simulated venue."""

__all__: list[str] = []
