"""A simulated TWS behind a real ``ib_insync.IB``: the adapter runs exactly as against TWS.

TWS and IB Gateway are closed-source GUI applications that need an IB login,
so they cannot run in tests. Rather than mock the ``IB`` object (and risk a
mock that behaves unlike it), :class:`FakeTws` replaces only the socket layer:
:class:`FakeClient` subclasses ib_insync's ``Client`` (the encoder of TWS API
requests) and answers each request by calling the real ``Wrapper`` callbacks
(``openOrder``, ``orderStatus``, ``execDetails``, ``commissionReport``,
``position``, ``error``...) with real ib_insync objects, on a later turn of the
event loop, in order, as TWS's messages would arrive. Everything above that
line is ib_insync's own code: ``IB.connectAsync``'s synchronisation, the
Trade bookkeeping, the de-duplication of executions, ``errorEvent`` turning
order errors into cancels, the reset of the session state when the socket
drops. A request the fake does not implement raises ``NotImplementedError``
naming its message id, so a test never passes on a silently ignored call.

The simulated TWS keeps orders, executions (with commission reports),
positions and account values across sessions, like the real one: after a
reconnect it answers ``reqOpenOrders``, ``reqCompletedOrders`` and
``reqExecutions`` with everything of the day, so the adapter sees repeated
executions exactly as it would in production.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from ib_insync import (
    IB,
    CommissionReport,
    Contract,
    ContractDetails,
    Execution,
    Order,
)
from ib_insync.client import Client
from ib_insync.order import OrderState
from ib_insync.util import UNSET_DOUBLE, dataclassAsDict

__all__ = ["FakeClient", "FakeTws", "TwsOrder"]

_DONE = frozenset({"Filled", "Cancelled", "ApiCancelled", "Inactive"})
#: The clock of the simulated executions (no wall clock in tests).
_START = datetime(2024, 8, 8, 14, 30, tzinfo=UTC)


def _copy_order(order: Order, **changes: Any) -> Order:
    """A plain ``Order`` with ``order``'s fields, as TWS echoes it back over the wire."""
    fields = dataclassAsDict(order)
    fields.update(changes)
    return Order(**fields)


@dataclasses.dataclass
class TwsOrder:
    """An order as the simulated TWS holds it."""

    client_id: int
    order_id: int
    perm_id: int
    contract: Contract
    order: Order
    status: str
    filled: float = 0.0
    average_price: float = 0.0
    last_fill_price: float = 0.0

    @property
    def remaining(self) -> float:
        return self.order.totalQuantity - self.filled

    @property
    def done(self) -> bool:
        return self.status in _DONE


class FakeClient(Client):
    """ib_insync's ``Client`` with the socket replaced by :class:`FakeTws`."""

    def __init__(self, wrapper: Any, tws: FakeTws) -> None:
        super().__init__(wrapper)
        self.tws = tws

    async def connectAsync(self, host: str, port: int, clientId: int, timeout: Any = 2.0) -> None:
        self.host, self.port, self.clientId = host, int(port), int(clientId)
        tws = self.tws
        tws.connect_attempts += 1
        await asyncio.sleep(0)
        if tws.refuse_connections > 0:
            tws.refuse_connections -= 1
            raise ConnectionRefusedError(111, "Connect call failed")
        if tws.client_id_in_use:
            self.wrapper.error(
                -1,
                326,
                "Unable to connect as the client id is already in use. "
                "Retry with a unique client id.",
                "",
            )
            raise TimeoutError()
        self.connState = Client.CONNECTED
        self._serverVersion = tws.server_version
        self._accounts = list(tws.accounts)
        self.updateReqId(tws.next_valid_id)
        self._hasReqId = True
        self._apiReady = True
        tws.session = self
        self.wrapper.managedAccounts(",".join(tws.accounts))
        self.apiStart.emit()

    def disconnect(self) -> None:
        if self.tws.session is self:
            self.tws.session = None
        self.tws.next_valid_id = max(self.tws.next_valid_id, self._reqIdSeq)
        self.connState = Client.DISCONNECTED
        self.reset()

    def send(self, *fields: Any, makeEmpty: bool = True) -> None:
        raise NotImplementedError(f"the fake TWS does not implement request message {fields[0]}")

    # -- requests the adapter (through ib_insync) makes ------------------------------------------

    def placeOrder(self, orderId: int, contract: Contract, order: Order) -> None:
        self.tws.on_place(self, orderId, contract, order)

    def cancelOrder(self, orderId: int, manualCancelOrderTime: str = "") -> None:
        self.tws.on_cancel(self, orderId)

    def reqPositions(self) -> None:
        self.tws.on_positions(self)

    def reqOpenOrders(self) -> None:
        self.tws.on_open_orders(self)

    def reqCompletedOrders(self, apiOnly: bool) -> None:
        self.tws.on_completed_orders(self)

    def reqAccountUpdates(self, subscribe: bool, acctCode: str) -> None:
        self.tws.on_account_updates(self, acctCode)

    def reqAccountUpdatesMulti(
        self, reqId: int, account: str, modelCode: str, ledgerAndNLV: bool
    ) -> None:
        self.tws.on_account_updates_multi(self, reqId, account, modelCode)

    def reqExecutions(self, reqId: int, execFilter: Any) -> None:
        self.tws.on_executions(self, reqId)

    def reqContractDetails(self, reqId: int, contract: Contract) -> None:
        self.tws.on_contract_details(self, reqId, contract)

    def reqMarketDataType(self, marketDataType: int) -> None:
        self.tws.market_data_types.append(marketDataType)


class FakeTws:
    """The simulated TWS / IB Gateway (see the module docstring).

    Parameters
    ----------
    accounts : list of str
        Accounts the login manages.
    """

    def __init__(self, accounts: tuple[str, ...] = ("DU1234567",)) -> None:
        self.accounts = list(accounts)
        self.server_version = 176
        self.next_valid_id = 1
        self.session: FakeClient | None = None
        #: Knobs: refuse the next n connections; answer 326; keep acks or cancels back.
        self.refuse_connections = 0
        self.client_id_in_use = False
        self.hold_acks = False
        self.hold_cancels = False
        self.lose_next_order = False
        self.drop_on_contract_details = 0
        self._doomed = 0
        self.connect_attempts = 0
        self.execution_requests = 0
        self.contract_details: list[ContractDetails] = []
        self.account_values: list[tuple[str, str, str]] = []
        self.positions: dict[int, tuple[Contract, float, float]] = {}
        self.orders: list[TwsOrder] = []
        self.executions: list[tuple[Contract, Execution, CommissionReport]] = []
        self.market_data_types: list[int] = []
        self.placed: list[tuple[Contract, Order]] = []
        self._reject_next: tuple[int, str, bool] | None = None
        self._held: list[TwsOrder] = []
        self._pending = 0
        self._perm_id = 1_000_000
        self._exec_seq = 0

    # -- plumbing --------------------------------------------------------------------------------

    def make_ib(self) -> IB:
        """Return a real ``ib_insync.IB`` whose client talks to this TWS."""
        ib = IB()
        client = FakeClient(ib.wrapper, self)
        client.apiEnd += ib.disconnectedEvent
        ib.client = client
        return ib

    def _post(self, session: FakeClient, callback: Callable[..., Any], *args: Any) -> None:
        """Deliver one TWS message to ``session`` on a later loop turn (dropped if it is gone)."""
        self._pending += 1

        def deliver() -> None:
            self._pending -= 1
            if session is self.session and session.isReady():
                callback(*args)

        asyncio.get_running_loop().call_soon(deliver)

    async def settle(self) -> None:
        """Let every posted message and the tasks it wakes run."""
        for _ in range(1000):
            await asyncio.sleep(0)
            if self._pending == 0:
                break
        for _ in range(20):
            await asyncio.sleep(0)

    @property
    def account(self) -> str:
        return self.accounts[0]

    def _live(self) -> FakeClient | None:
        session = self.session
        return session if session is not None and session.isReady() else None

    # -- orders ----------------------------------------------------------------------------------

    def reject_next(self, code: int, text: str, *, then_inactive: bool = False) -> None:
        """Refuse the next order with IB error ``code`` / ``text`` (and an ``Inactive`` status)."""
        self._reject_next = (code, text, then_inactive)

    def find(self, order_ref: str) -> TwsOrder:
        """Return the latest order placed with ``orderRef`` ``order_ref``."""
        for tws_order in reversed(self.orders):
            if tws_order.order.orderRef == order_ref:
                return tws_order
        raise KeyError(f"the fake TWS has no order with orderRef {order_ref!r}")

    def _status_args(self, o: TwsOrder) -> tuple[Any, ...]:
        return (
            o.order_id,
            o.status,
            o.filled,
            o.remaining,
            o.average_price,
            o.perm_id,
            0,
            o.last_fill_price,
            o.client_id,
            "",
            0.0,
        )

    def _announce(self, session: FakeClient, o: TwsOrder) -> None:
        wrapper = session.wrapper
        echo = _copy_order(o.order, permId=o.perm_id, clientId=o.client_id, orderId=o.order_id)
        self._post(session, wrapper.openOrder, o.order_id, o.contract, echo, OrderState(o.status))
        self._post(session, wrapper.orderStatus, *self._status_args(o))

    def on_place(
        self, session: FakeClient, order_id: int, contract: Contract, order: Order
    ) -> None:
        self.placed.append((contract, order))
        if self.lose_next_order:
            self.lose_next_order = False
            return
        self._perm_id += 1
        status = "PreSubmitted" if order.orderType == "STP" else "Submitted"
        tws_order = TwsOrder(
            session.clientId, order_id, self._perm_id, contract, _copy_order(order), status
        )
        if self._reject_next is not None:
            code, text, then_inactive = self._reject_next
            self._reject_next = None
            tws_order.status = "Inactive"
            self.orders.append(tws_order)
            if code:
                self._post(session, session.wrapper.error, order_id, code, text, "")
            if then_inactive:
                self._post(session, session.wrapper.orderStatus, *self._status_args(tws_order))
            return
        self.orders.append(tws_order)
        if self.hold_acks:
            self._held.append(tws_order)
            return
        self._announce(session, tws_order)

    def release_acks(self) -> None:
        """Send the acknowledgements held back by ``hold_acks``."""
        session = self._live()
        held, self._held = self._held, []
        if session is not None:
            for tws_order in held:
                self._announce(session, tws_order)

    def on_cancel(self, session: FakeClient, order_id: int) -> None:
        matches = [
            o for o in self.orders if o.order_id == order_id and o.client_id == session.clientId
        ]
        wrapper = session.wrapper
        if not matches:
            text = f"OrderId {order_id} that needs to be cancelled is not found."
            self._post(session, wrapper.error, order_id, 10147, text, "")
            return
        o = matches[-1]
        if o.done:
            text = f"OrderId {order_id} that needs to be cancelled cannot be cancelled, state: "
            self._post(session, wrapper.error, order_id, 10148, text + o.status + ".", "")
            return
        if self.hold_cancels:
            return
        o.status = "Cancelled"
        self._post(session, wrapper.error, order_id, 202, "Order Canceled - reason:", "")
        self._post(session, wrapper.orderStatus, *self._status_args(o))

    def expire(self, order_ref: str) -> None:
        """IB cancels the unfilled rest of an IOC / FOK order."""
        o = self.find(order_ref)
        o.status = "Cancelled"
        session = self._live()
        if session is not None:
            self._post(session, session.wrapper.orderStatus, *self._status_args(o))

    def cancel_at_tws(self, order_ref: str) -> None:
        """Someone cancels the order in TWS's window."""
        self.expire(order_ref)

    def fill(
        self,
        order_ref: str,
        quantity: float,
        price: float,
        *,
        commission: float = 1.0,
        currency: str = "USD",
        liquidity: int = 2,
        deliver: bool = True,
        status_first: bool = False,
    ) -> str:
        """Execute ``quantity`` of the order at ``price``; return the execution id.

        ``deliver=False`` keeps the messages from the current session (a fill
        while the adapter's connection is down); TWS still has it for
        ``reqExecutions``. ``status_first`` sends the order status before the
        execution, as TWS sometimes does.
        """
        o = self.find(order_ref)
        total = o.filled + quantity
        o.average_price = (o.average_price * o.filled + price * quantity) / total
        o.filled = total
        o.last_fill_price = price
        if o.remaining <= 1e-9:
            o.status = "Filled"
        self._exec_seq += 1
        exec_id = f"0000e0d5.6552b5c8.01.{self._exec_seq:02d}"
        sign = 1 if o.order.action == "BUY" else -1
        execution = Execution(
            execId=exec_id,
            time=_START + timedelta(seconds=self._exec_seq),
            acctNumber=self.account,
            exchange=o.contract.exchange or "SMART",
            side="BOT" if sign > 0 else "SLD",
            shares=quantity,
            price=price,
            permId=o.perm_id,
            clientId=o.client_id,
            orderId=o.order_id,
            cumQty=o.filled,
            avgPrice=o.average_price,
            orderRef=o.order.orderRef,
            lastLiquidity=liquidity,
        )
        report = CommissionReport(
            execId=exec_id,
            commission=commission,
            currency=currency,
            realizedPNL=UNSET_DOUBLE,
            yield_=UNSET_DOUBLE,
        )
        self.executions.append((o.contract, execution, report))
        contract_id = o.contract.conId
        _, held, cost = self.positions.get(contract_id, (o.contract, 0.0, 0.0))
        new = held + sign * quantity
        multiplier = float(o.contract.multiplier or 1)
        if new == 0:
            cost = 0.0
        elif held == 0 or (held > 0) != (new > 0):
            cost = price * multiplier
        elif abs(new) > abs(held):  # adding to the position: IB averages the cost
            cost = (abs(held) * cost + quantity * price * multiplier) / abs(new)
        self.positions[contract_id] = (o.contract, new, cost)
        session = self._live()
        if deliver and session is not None:
            wrapper = session.wrapper
            if status_first:
                self._post(session, wrapper.orderStatus, *self._status_args(o))
            self._post(session, wrapper.execDetails, -1, o.contract, dataclasses.replace(execution))
            if not status_first:
                self._post(session, wrapper.orderStatus, *self._status_args(o))
            self._post(session, wrapper.commissionReport, dataclasses.replace(report))
            self._post(session, wrapper.position, self.account, o.contract, new, cost)
        return exec_id

    def send_error(self, req_id: int, code: int, text: str) -> None:
        """Send an ``error`` message (a notice, a warning or an error)."""
        session = self._live()
        if session is not None:
            self._post(session, session.wrapper.error, req_id, code, text, "")

    def drop(self) -> None:
        """The socket to the adapter breaks (TWS restarted, network cut...)."""
        session = self.session
        if session is None:
            return
        self.session = None
        self._held.clear()
        self.next_valid_id = max(self.next_valid_id, session._reqIdSeq)
        # What ib_insync's Client._onSocketDisconnected does for a ready connection.
        session.apiError.emit("Peer closed connection.")
        session.wrapper.setEventsDone()
        session.wrapper.connectionClosed()
        session.reset()
        session.apiEnd.emit()

    # -- synchronisation requests ----------------------------------------------------------------

    def on_positions(self, session: FakeClient) -> None:
        wrapper = session.wrapper
        for contract, quantity, cost in self.positions.values():
            self._post(session, wrapper.position, self.account, contract, quantity, cost)
        self._post(session, wrapper.positionEnd)

    def on_open_orders(self, session: FakeClient) -> None:
        for o in self.orders:
            if o.client_id == session.clientId and not o.done:
                self._announce(session, o)
        self._post(session, session.wrapper.openOrderEnd)

    def on_completed_orders(self, session: FakeClient) -> None:
        wrapper = session.wrapper
        for o in self.orders:
            if o.done:
                echo = _copy_order(
                    o.order,
                    permId=o.perm_id,
                    clientId=o.client_id,
                    orderId=o.order_id,
                    filledQuantity=o.filled,
                )
                self._post(session, wrapper.completedOrder, o.contract, echo, OrderState(o.status))
        self._post(session, wrapper.completedOrdersEnd)

    def on_account_updates(self, session: FakeClient, account: str) -> None:
        wrapper = session.wrapper
        for tag, value, currency in self.account_values:
            self._post(session, wrapper.updateAccountValue, tag, value, currency, account)
        self._post(session, wrapper.accountDownloadEnd, account)

    def on_account_updates_multi(
        self, session: FakeClient, req_id: int, account: str, model_code: str
    ) -> None:
        wrapper = session.wrapper
        for tag, value, currency in self.account_values:
            self._post(
                session,
                wrapper.accountUpdateMulti,
                req_id,
                account,
                model_code,
                tag,
                value,
                currency,
            )
        self._post(session, wrapper.accountUpdateMultiEnd, req_id)

    def on_executions(self, session: FakeClient, req_id: int) -> None:
        self.execution_requests += 1
        wrapper = session.wrapper
        for contract, execution, report in self.executions:
            self._post(
                session, wrapper.execDetails, req_id, contract, dataclasses.replace(execution)
            )
            self._post(session, wrapper.commissionReport, dataclasses.replace(report))
        self._post(session, wrapper.execDetailsEnd, req_id)

    def on_contract_details(self, session: FakeClient, req_id: int, contract: Contract) -> None:
        if self.drop_on_contract_details > 0:
            if self._doomed != self.connect_attempts:  # one drop per session
                self._doomed = self.connect_attempts
                self.drop_on_contract_details -= 1
                asyncio.get_running_loop().call_soon(self.drop)
            return
        wrapper = session.wrapper
        found = [d for d in self.contract_details if _matches(d.contract, contract)]
        if not found:
            text = "No security definition has been found for the request"
            self._post(session, wrapper.error, req_id, 200, text, "")
            return
        for details in found:
            self._post(session, wrapper.contractDetails, req_id, details)
        self._post(session, wrapper.contractDetailsEnd, req_id)


def _matches(known: Contract | None, asked: Contract) -> bool:
    if known is None:
        return False
    if asked.conId:
        return known.conId == asked.conId
    if (known.secType, known.symbol, known.currency) != (
        asked.secType,
        asked.symbol,
        asked.currency,
    ):
        return False
    if asked.exchange not in ("", "SMART") and asked.exchange != known.exchange:
        return False
    if asked.primaryExchange and asked.primaryExchange != known.primaryExchange:
        return False
    if asked.localSymbol and asked.localSymbol != known.localSymbol:
        return False
    expiry = asked.lastTradeDateOrContractMonth
    return not expiry or known.lastTradeDateOrContractMonth.startswith(expiry)
