"""Domain and orchestration: events, bus, clock, instruments, orders, portfolio, risk, engine."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("ats")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
