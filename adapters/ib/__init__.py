"""Interactive Brokers through ib_insync: stocks, futures, forex and commodities.

:class:`IbBroker` implements :class:`engine.broker.BrokerConnector` over an
``ib_insync.IB`` session with TWS or IB Gateway; :func:`load_ib_config` reads
``[venues.ib]``; the account id comes from ``IB_ACCOUNT``
(:meth:`IbAccount.from_env`).
"""

from __future__ import annotations

from adapters.ib.account import IbAccountSummary
from adapters.ib.broker import IbBroker
from adapters.ib.config import IbAccount, IbConfig, IbContractConfig, load_ib_config
from adapters.ib.contracts import ContractIndex, IbContractSpec, build_contract
from adapters.ib.errors import (
    ContractMappingError,
    IbClientIdInUseError,
    IbConfigurationError,
    IbReadOnlyError,
    error_for_code,
)
from adapters.ib.execution import ExecutionTracker, IbFill
from adapters.ib.orders import build_ib_order, map_status

__all__ = [
    "ContractIndex",
    "ContractMappingError",
    "ExecutionTracker",
    "IbAccount",
    "IbAccountSummary",
    "IbBroker",
    "IbClientIdInUseError",
    "IbConfig",
    "IbConfigurationError",
    "IbContractConfig",
    "IbContractSpec",
    "IbFill",
    "IbReadOnlyError",
    "build_contract",
    "build_ib_order",
    "error_for_code",
    "load_ib_config",
    "map_status",
]
