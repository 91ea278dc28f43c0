"""Interactive Brokers as a :class:`~engine.broker.BrokerConnector`, over ``ib_insync.IB``.

One :class:`IbBroker` is one API session with TWS or IB Gateway (one
``client_id``). It places, cancels and queries orders by our client order id
(sent as IB's ``orderRef``), reports their life to an
:class:`~engine.protocols.ExecutionReportSink`, and maps every IB failure onto
the engine's broker errors (see :mod:`adapters.ib.errors`).

Order life
----------
- :meth:`IbBroker.place_order` qualifies the contract once per symbol
  (contract details give ``conId``, ``minTick`` and ``sizeIncrement``),
  rounds the order (:mod:`adapters.ib.orders`) and waits for TWS's first
  status. It raises the mapped error for a rejection and
  :class:`~engine.broker.RequestTimeoutError` when no status came within
  ``request_timeout_s`` (the order may be live: query it with
  :meth:`IbBroker.get_order`). An order IB already knows under the same
  client order id is never placed twice; its state is returned instead.
  IB itself does not enforce ``orderRef`` uniqueness, so the adapter leans
  on TCP: while a session lasts, an order written to TWS's socket is either
  delivered or the connection breaks, and a sent but unacknowledged order
  counts as known (``NEW``). After a drop the session state is rebuilt from
  TWS, so "not found" then means TWS never received it and a resend is safe.
- Statuses, fills (one per IB ``execId``, when its commission report
  arrives) and order errors reach the sink through
  :class:`~adapters.ib.execution.ExecutionTracker`, each once. Only orders
  carrying an ``orderRef`` (placed through ats, in this process or an
  earlier one) are reported; orders entered in TWS by hand are visible
  through :meth:`IbBroker.get_open_orders` and positions.
- 1100/2110 (TWS lost IB's servers) make orders fail fast with
  :class:`~engine.broker.ExchangeUnavailableError` until 1101/1102, after
  which the day's executions are fetched again (duplicates are dropped).

Connection
----------
:meth:`IbBroker.connect` runs ``IB.connectAsync`` (API handshake plus
positions, open and completed orders, account values and executions), then
reports what changed while away. When the connection drops, pending
acknowledgements fail with :class:`~engine.broker.RequestTimeoutError`
(outcome unknown), every call raises :class:`~engine.broker.NetworkError`
(nothing was sent), and a background task reconnects with full-jitter
backoff (``reconnect_base_s`` .. ``reconnect_cap_s``).

Nothing the adapter logs, raises or ``repr``\\ s contains the account id;
with ``redact_account`` (the default) ib_insync's and eventkit's own log
records are scrubbed too.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Iterable

from ib_insync import IB, AccountValue, Trade

from adapters.ib import _redact
from adapters.ib._records import Record, client_order_id_of
from adapters.ib.account import IbAccountSummary, balances_from, positions_from, summary_from
from adapters.ib.config import IbAccount, IbConfig
from adapters.ib.contracts import (
    ContractIndex,
    IbContractSpec,
    foreign_symbol,
    qualified_spec,
    spec_from_instrument,
)
from adapters.ib.errors import (
    CONNECTION_LOST_CODES,
    CONNECTION_RESTORED_CODES,
    ContractMappingError,
    IbClientIdInUseError,
    IbConfigurationError,
    IbReadOnlyError,
    error_for_code,
)
from adapters.ib.execution import ExecutionTracker, IbFill, finite, to_ns
from adapters.ib.orders import build_ib_order
from engine.broker import (
    Balance,
    BrokerError,
    ExchangeUnavailableError,
    InvalidOrderError,
    NetworkError,
    OrderAck,
    OrderNotFoundError,
    RequestTimeoutError,
    VenueFill,
    VenueOrder,
    VenuePosition,
)
from engine.clock import Clock, WallClock
from engine.instruments import Instrument, InstrumentRegistry, UnknownSymbolError
from engine.log import get_logger, log_event
from engine.orders import Order, OrderStatus, Side
from engine.protocols import ExecutionReportSink

__all__ = ["IbBroker"]

_log = get_logger("ib")


class IbBroker:
    """The IB broker connector (see the module docstring).

    Parameters
    ----------
    config : IbConfig
        The ``[venues.ib]`` settings.
    instruments : InstrumentRegistry
        Instruments by unified symbol; those of venue ``config.venue`` are traded here.
    account : IbAccount, optional
        The account (``IbAccount.from_env()`` reads ``IB_ACCOUNT``); empty
        uses the only account of the login.
    ib : ib_insync.IB, optional
        The session object; a new ``IB()`` by default (tests pass one whose
        TWS is simulated).
    reports : ExecutionReportSink, optional
        Receives accepts, rejects, cancels, expiries and fills.
    fill_listener : callable, optional
        Called with an :class:`IbFill` for every fill reported (to keep ``execId``).
    known_exec_ids : iterable of str, optional
        Execution ids already booked (from the store): never reported again.
    clock : Clock, optional
        Time of the reports; the wall clock by default.
    sleep : callable, optional
        ``await sleep(seconds)`` waits between reconnects; inject a fake in tests.
    rng : random.Random, optional
        Source of the reconnect jitter.
    """

    def __init__(
        self,
        config: IbConfig,
        instruments: InstrumentRegistry,
        *,
        account: IbAccount | None = None,
        ib: IB | None = None,
        reports: ExecutionReportSink | None = None,
        fill_listener: Callable[[IbFill], object] | None = None,
        on_reconnected: Callable[[], object] | None = None,
        known_exec_ids: Iterable[str] = (),
        clock: Clock | None = None,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self.venue = config.venue
        #: Called after every successful reconnect (the executions resync done): the
        #: composition root points it at ``Reconciler.request``.
        self.on_reconnected = on_reconnected
        self._instruments = instruments
        self._account = IbAccount() if account is None else account
        self._account_id = self._account.value
        self._ib = IB() if ib is None else ib
        self._sleep = sleep
        self._rng = random.Random() if rng is None else rng
        self._specs: dict[str, IbContractSpec] = {}
        self._index = ContractIndex()
        self.tracker = ExecutionTracker(
            config.client_id,
            self._index,
            WallClock() if clock is None else clock,
            self._scrub,
            reports=reports,
            fill_listener=fill_listener,
            known_exec_ids=known_exec_ids,
        )
        self._connect_errors: list[BrokerError] = []
        self._want_connected = False
        self._connecting = False
        self._closing = False
        self._synced = False
        self._venue_down = False
        self._connected = asyncio.Event()
        self._reconnect_task: asyncio.Task[None] | None = None
        self._resync_task: asyncio.Task[None] | None = None
        self._redaction = _redact.AccountRedactionFilter(self._sensitive_values)
        #: Successful reconnects.
        self.reconnects = 0
        for instrument in instruments:
            if instrument.venue == self.venue:
                self._add_spec(instrument)
        ib_ = self._ib
        ib_.orderStatusEvent += self.tracker.on_order_status
        ib_.execDetailsEvent += self.tracker.on_exec_details
        ib_.commissionReportEvent += self.tracker.on_commission_report
        ib_.errorEvent += self._on_error
        ib_.disconnectedEvent += self._on_disconnected

    def __repr__(self) -> str:
        state = "connected" if self.is_connected else "disconnected"
        return (
            f"IbBroker(venue={self.venue!r}, {self.config.host}:{self.config.port}, "
            f"client_id={self.config.client_id}, account={self._account!r}, {state})"
        )

    # -- connection ------------------------------------------------------------------------------

    @property
    def is_connected(self) -> bool:
        """True when the API session is up and synchronised."""
        return self._synced and self._ib.isConnected()

    async def connect(self) -> None:
        """Connect to TWS / IB Gateway and synchronise; a no-op when connected.

        Raises
        ------
        NetworkError
            TWS is not reachable or did not finish the handshake in time.
        IbClientIdInUseError
            Another session uses ``client_id`` (final).
        IbConfigurationError
            ``IB_ACCOUNT`` is unset and the login manages several accounts,
            or it names an account the login does not manage (final).
        """
        if self.is_connected:
            return
        self._closing = False
        self._want_connected = True
        task = self._reconnect_task
        if task is not None and not task.done():
            await self.wait_connected(self.config.connect_timeout_s)
            return
        await self._connect_once()
        if not self.is_connected:
            raise NetworkError(
                f"connection to TWS at {self.config.host}:{self.config.port} dropped while "
                f"synchronising; reconnecting"
            )

    async def wait_connected(self, timeout_s: float) -> None:
        """Wait until connected (after a reconnect); :class:`NetworkError` after ``timeout_s``."""
        try:
            await asyncio.wait_for(self._connected.wait(), timeout_s)
        except TimeoutError:
            raise NetworkError(
                f"not connected to TWS at {self.config.host}:{self.config.port} after {timeout_s} s"
            ) from None

    async def close(self) -> None:
        """Stop reconnecting, disconnect, and detach from the ``IB`` object and the loggers."""
        self._closing = True
        self._want_connected = False
        for task in (self._reconnect_task, self._resync_task):
            if task is not None and not task.done():
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        if self._ib.isConnected():
            self._ib.disconnect()
        self._synced = False
        self._connected.clear()
        ib_ = self._ib
        ib_.orderStatusEvent -= self.tracker.on_order_status
        ib_.execDetailsEvent -= self.tracker.on_exec_details
        ib_.commissionReportEvent -= self.tracker.on_commission_report
        ib_.errorEvent -= self._on_error
        ib_.disconnectedEvent -= self._on_disconnected
        _redact.uninstall(self._redaction)

    async def _connect_once(self) -> None:
        cfg = self.config
        where = f"{cfg.host}:{cfg.port}"
        if cfg.redact_account:
            _redact.install(self._redaction)
        self._connect_errors.clear()
        self._connecting = True
        try:
            await self._ib.connectAsync(
                cfg.host,
                cfg.port,
                clientId=cfg.client_id,
                timeout=cfg.connect_timeout_s,
                readonly=cfg.read_only,
                account=self._account_id,
            )
        except TimeoutError:
            raise self._connect_failure(
                f"no API handshake with TWS / IB Gateway at {where} within "
                f"{cfg.connect_timeout_s} s"
            ) from None
        except OSError as exc:  # ConnectionRefusedError, ConnectionError("Socket disconnect")...
            raise self._connect_failure(
                f"cannot connect to TWS / IB Gateway at {where} ({type(exc).__name__}); "
                f"is the API enabled on that port?"
            ) from None
        finally:
            self._connecting = False
        try:
            self._choose_account()
        except BrokerError:
            self._ib.disconnect()
            raise
        self._ib.reqMarketDataType(cfg.market_data_type)
        self._venue_down = False
        self._synced = True
        log_event(_log, logging.INFO, "connected to TWS", address=where, client_id=cfg.client_id)
        if cfg.qualify_on_connect:
            await self._qualify_all()
        self.tracker.sync(self._ib.fills(), self._ib.trades())
        if self.is_connected:
            self._connected.set()

    def _connect_failure(self, message: str) -> BrokerError:
        for error in self._connect_errors:
            if isinstance(error, IbClientIdInUseError):
                return IbClientIdInUseError(
                    f"{error}; set another venues.ib.client_id than {self.config.client_id}"
                )
        return NetworkError(message)

    def _choose_account(self) -> None:
        managed = self._ib.managedAccounts()
        if self._account_id:
            if managed and self._account_id not in managed:
                raise IbConfigurationError(
                    f"the account in IB_ACCOUNT is not one of the {len(managed)} account(s) "
                    f"this login manages"
                )
            return
        if len(managed) == 1:
            self._account_id = managed[0]
            return
        raise IbConfigurationError(
            f"IB_ACCOUNT is not set and this login manages {len(managed)} accounts; "
            f"set IB_ACCOUNT to the one to trade"
        )

    def _sensitive_values(self) -> list[str]:
        values = [self._account_id, self._account.value]
        values.extend(self._ib.managedAccounts())
        return values

    def _scrub(self, text: str) -> str:
        return _redact.scrub(text, self._sensitive_values())

    def _require_connected(self) -> None:
        if not self.is_connected:
            raise NetworkError(
                f"not connected to TWS at {self.config.host}:{self.config.port}; nothing was sent"
            )

    def _check_can_trade(self) -> None:
        if self.config.read_only:
            raise IbReadOnlyError(
                "the IB connection is read-only (venues.ib.read_only = true); "
                "orders and cancels are refused"
            )
        self._require_connected()
        if self._venue_down:
            raise ExchangeUnavailableError(
                "TWS has lost its connection to IB's servers (1100); nothing was sent"
            )

    def _on_disconnected(self) -> None:
        was_synced = self._synced
        self._synced = False
        self._connected.clear()

        def lost(what: str) -> BrokerError:
            return RequestTimeoutError(
                f"connection to TWS lost while waiting for the {what}; outcome unknown, "
                f"query the order by client order id after reconnecting"
            )

        self.tracker.fail_waiters(lost)
        if not was_synced or self._closing or self._connecting:
            return
        log_event(_log, logging.WARNING, "connection to TWS lost", reconnect=self.config.reconnect)
        if not (self.config.reconnect and self._want_connected):
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop (interpreter shutdown): nothing to reconnect with
        if self._reconnect_task is None or self._reconnect_task.done():
            self._reconnect_task = loop.create_task(self._reconnect_loop())

    async def _reconnect_loop(self) -> None:
        cfg = self.config
        failures = 0
        while self._want_connected and not self._closing:
            bound = min(cfg.reconnect_cap_s, cfg.reconnect_base_s * 2.0 ** min(failures, 64))
            await self._sleep(self._rng.uniform(0.0, bound))
            if self.is_connected or self._closing:
                return
            try:
                await self._connect_once()
            except BrokerError as exc:
                failures += 1
                log_event(
                    _log,
                    logging.WARNING,
                    "reconnect to TWS failed",
                    attempt=failures,
                    error=type(exc).__name__,
                    message=self._scrub(str(exc)),
                )
                if not exc.retry_safe:
                    log_event(_log, logging.ERROR, "giving up reconnecting: final error")
                    return
                if cfg.reconnect_max_attempts and failures >= cfg.reconnect_max_attempts:
                    log_event(_log, logging.ERROR, "giving up reconnecting", attempts=failures)
                    return
                continue
            if not self.is_connected:  # dropped again while synchronising
                failures += 1
                continue
            self.reconnects += 1
            log_event(_log, logging.INFO, "reconnected to TWS", failed_attempts=failures)
            if self.on_reconnected is not None:
                self.on_reconnected()
            return

    async def _resync(self) -> None:
        try:
            await asyncio.wait_for(self._ib.reqExecutionsAsync(), self.config.request_timeout_s)
        except (TimeoutError, OSError) as exc:
            log_event(_log, logging.WARNING, "execution resync failed", error=type(exc).__name__)
            return
        self.tracker.sync(self._ib.fills(), self._ib.trades())

    # -- contracts -------------------------------------------------------------------------------

    def _instrument(self, symbol: str) -> Instrument:
        try:
            instrument = self._instruments.get(symbol)
        except UnknownSymbolError as exc:
            raise InvalidOrderError(str(exc)) from None
        if instrument.venue != self.venue:
            raise InvalidOrderError(
                f"{symbol} is an instrument of venue {instrument.venue!r}, not {self.venue!r}"
            )
        return instrument

    def _add_spec(self, instrument: Instrument) -> IbContractSpec | None:
        try:
            spec = spec_from_instrument(instrument, self.config.contract_config(instrument.symbol))
        except ContractMappingError as exc:
            log_event(_log, logging.WARNING, "instrument not tradable at IB", reason=str(exc))
            return None
        self._specs[instrument.symbol] = spec
        self._index.add(instrument.symbol, spec.contract)
        return spec

    async def contract_spec(self, symbol: str) -> IbContractSpec:
        """Return ``symbol``'s contract, qualified with IB's contract details when connected.

        Raises
        ------
        ContractMappingError
            The instrument cannot be mapped, IB knows no such contract, or
            the description matches several (the message says what to set).
        RequestTimeoutError
            No contract details within ``request_timeout_s``.
        """
        instrument = self._instrument(symbol)
        spec = self._specs.get(symbol)
        if spec is None:
            spec = spec_from_instrument(instrument, self.config.contract_config(symbol))
            self._specs[symbol] = spec
            self._index.add(symbol, spec.contract)
        if spec.qualified or not self.is_connected:
            return spec
        try:
            details = await asyncio.wait_for(
                self._ib.reqContractDetailsAsync(spec.contract), self.config.request_timeout_s
            )
        except TimeoutError:
            raise RequestTimeoutError(
                f"no contract details for {symbol} within {self.config.request_timeout_s} s"
            ) from None
        except OSError as exc:
            raise NetworkError(f"contract details for {symbol}: {type(exc).__name__}") from None
        spec = qualified_spec(spec, details)
        self._specs[symbol] = spec
        self._index.add(symbol, spec.contract)
        return spec

    async def _qualify_all(self) -> None:
        symbols = [i.symbol for i in self._instruments if i.venue == self.venue]
        results = await asyncio.gather(
            *(self.contract_spec(symbol) for symbol in symbols), return_exceptions=True
        )
        for symbol, result in zip(symbols, results, strict=True):
            if isinstance(result, BrokerError):
                log_event(
                    _log,
                    logging.ERROR,
                    "contract not qualified",
                    symbol=symbol,
                    error=type(result).__name__,
                    reason=self._scrub(str(result)),
                )
            elif isinstance(result, BaseException):
                raise result

    # -- orders ----------------------------------------------------------------------------------

    def _find_trade(self, client_order_id: str) -> Trade | None:
        found: Trade | None = None
        for trade in self._ib.trades():
            order = trade.order
            if client_order_id_of(order.orderRef, order.permId) != client_order_id:
                continue
            if found is None or not trade.isDone():
                found = trade
        return found

    def _record_for_trade(self, trade: Trade) -> Record:
        record = self.tracker.record_for_trade(trade)
        self.tracker.apply_trade(record, trade)
        return record

    async def place_order(self, order: Order) -> OrderAck:
        """Send ``order`` (``orderRef`` = its client order id) and return TWS's first status.

        Raises
        ------
        InvalidOrderError, InsufficientFundsError
            IB refused the order, or it cannot be mapped (final).
        RequestTimeoutError
            No status within ``request_timeout_s``, or the connection dropped
            meanwhile: the order may be live, query it with :meth:`get_order`.
        NetworkError, ExchangeUnavailableError
            Not connected, or TWS cut off from IB: nothing was sent.
        """
        self._check_can_trade()
        cid = order.client_order_id
        existing = self._find_trade(cid)
        if existing is not None:
            record = self._record_for_trade(existing)
            log_event(
                _log, logging.INFO, "order already at IB, not placing again", client_order_id=cid
            )
            return record.ack()
        spec = await self.contract_spec(order.symbol)
        ib_order = build_ib_order(
            order, spec, account=self._account_id, outside_rth=self.config.outside_rth
        )
        self._check_can_trade()
        record = Record.from_order(order)
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[OrderAck] = loop.create_future()
        record.ack_waiter = waiter
        self.tracker.add(record)
        try:
            trade = self._ib.placeOrder(spec.contract, ib_order)
        except ConnectionError:
            record.ack_waiter = None
            raise NetworkError(f"not connected to TWS; order {cid} not sent") from None
        self.tracker.bind_order_id(record, trade.order.orderId)
        log_event(
            _log,
            logging.INFO,
            "order sent",
            client_order_id=cid,
            symbol=order.symbol,
            order_id=record.order_id,
        )
        try:
            return await asyncio.wait_for(waiter, self.config.request_timeout_s)
        except TimeoutError:
            raise RequestTimeoutError(
                f"no acknowledgement from TWS for order {cid} within "
                f"{self.config.request_timeout_s} s; outcome unknown"
            ) from None
        finally:
            record.ack_waiter = None

    async def cancel_order(self, client_order_id: str) -> OrderAck:
        """Cancel an open order; return its final state (CANCELLED, or FILLED if it filled first).

        Raises
        ------
        OrderNotFoundError
            IB has no open order with this client order id (10147, 10148...).
        RequestTimeoutError
            No confirmation within ``request_timeout_s``: query the order.
        """
        self._check_can_trade()
        trade = self._find_trade(client_order_id)
        if trade is None:
            raise OrderNotFoundError(f"IB has no order with client order id {client_order_id}")
        record = self._record_for_trade(trade)
        if not record.is_open or trade.isDone():
            raise OrderNotFoundError(
                f"order {client_order_id} is not open at IB (status {record.status})"
            )
        return await self._cancel(record, trade)

    async def _cancel(self, record: Record, trade: Trade) -> OrderAck:
        cid = record.client_order_id
        record.cancel_requested = True
        waiter: asyncio.Future[OrderAck] = asyncio.get_running_loop().create_future()
        record.cancel_waiter = waiter
        try:
            self._ib.cancelOrder(trade.order)
            record.resolve_waiters()
            log_event(_log, logging.INFO, "cancel sent", client_order_id=cid)
            return await asyncio.wait_for(waiter, self.config.request_timeout_s)
        except ConnectionError:
            raise NetworkError(f"not connected to TWS; cancel of {cid} not sent") from None
        except TimeoutError:
            raise RequestTimeoutError(
                f"no cancel confirmation from TWS for order {cid} within "
                f"{self.config.request_timeout_s} s; outcome unknown"
            ) from None
        finally:
            record.cancel_waiter = None

    async def get_order(self, client_order_id: str) -> VenueOrder:
        """Return the order's current state; :class:`OrderNotFoundError` when IB does not know it.

        Answers from the session's state, which TWS keeps current (and
        rebuilds on every connect); raises :class:`NetworkError` while
        disconnected rather than answer "not found" from a stale view.
        """
        self._require_connected()
        trade = self._find_trade(client_order_id)
        if trade is not None:
            return self._record_for_trade(trade).venue_order()
        record = self.tracker.records.get(client_order_id)
        if record is not None and record.status is not OrderStatus.NEW:
            return record.venue_order()
        raise OrderNotFoundError(f"IB has no order with client order id {client_order_id}")

    async def get_open_orders(self, symbol: str | None = None) -> list[VenueOrder]:
        """Return the open orders this session sees (of ``symbol``, or all), ours or not."""
        self._require_connected()
        result = []
        for trade in self._ib.openTrades():
            record = self._record_for_trade(trade)
            if record.is_open and (symbol is None or record.symbol == symbol):
                result.append(record.venue_order())
        return result

    async def cancel_all(self, symbol: str | None = None) -> list[OrderAck]:
        """Cancel every open order (of ``symbol``, or all) and return what was cancelled.

        Orders that ended before their cancel landed are left out. The first
        other error is raised once every cancel was tried.
        """
        self._check_can_trade()
        targets = []
        for trade in self._ib.openTrades():
            record = self._record_for_trade(trade)
            if symbol is None or record.symbol == symbol:
                targets.append((record, trade))
        results = await asyncio.gather(
            *(self._cancel(record, trade) for record, trade in targets), return_exceptions=True
        )
        acks: list[OrderAck] = []
        failure: BaseException | None = None
        for result in results:
            if isinstance(result, OrderAck):
                if result.status is OrderStatus.CANCELLED:
                    acks.append(result)
            elif not isinstance(result, OrderNotFoundError) and failure is None:
                failure = result
        if failure is not None:
            raise failure
        return acks

    # -- account ---------------------------------------------------------------------------------

    async def get_recent_fills(self, since_ns: int, symbol: str | None = None) -> list[VenueFill]:
        """Return our executions since ``since_ns`` (of ``symbol``, or all), oldest first.

        Asks TWS for the day's executions (``reqExecutionsAsync``), then maps
        ib_insync's fills (each execution with its commission report merged):
        ``trade_id`` is IB's ``execId``, the client order id our ``orderRef``;
        executions of other clients' or manual orders (no ``orderRef``) keep
        IB's permanent order id only.
        """
        self._require_connected()
        try:
            await asyncio.wait_for(self._ib.reqExecutionsAsync(), self.config.request_timeout_s)
            await asyncio.sleep(0)  # let the commission reports that follow be merged in
        except TimeoutError:
            raise RequestTimeoutError(
                f"no executions within {self.config.request_timeout_s} s"
            ) from None
        out = []
        for fill in self._ib.fills():  # the executions with their commission reports merged
            execution = fill.execution
            ts = to_ns(execution.time)
            unified = self._index.symbol_for(fill.contract) or foreign_symbol(fill.contract)
            if ts < since_ns or (symbol is not None and unified != symbol):
                continue
            report = fill.commissionReport
            out.append(
                VenueFill(
                    trade_id=execution.execId,
                    client_order_id=client_order_id_of(execution.orderRef, execution.permId),
                    symbol=unified,
                    side=Side.BUY if execution.side == "BOT" else Side.SELL,
                    quantity=float(execution.shares),
                    price=float(execution.price),
                    fee=finite(report.commission),
                    fee_currency=report.currency or "",
                    liquidity={1: "maker", 2: "taker"}.get(execution.lastLiquidity, ""),
                    ts=ts,
                    venue_order_id=str(execution.permId),
                )
            )
        out.sort(key=lambda f: (f.ts, f.trade_id))
        return out

    async def get_positions(self) -> list[VenuePosition]:
        """Return every non-zero position of the account (see :mod:`adapters.ib.account`)."""
        self._require_connected()
        return positions_from(self._ib.positions(self._account_id), self._index, self._specs)

    async def _account_values(self) -> list[AccountValue]:
        values = self._ib.accountValues(self._account_id)
        if not values:
            try:
                await asyncio.wait_for(
                    self._ib.reqAccountUpdatesAsync(self._account_id),
                    self.config.request_timeout_s,
                )
            except TimeoutError:
                raise RequestTimeoutError(
                    f"no account values within {self.config.request_timeout_s} s"
                ) from None
            values = self._ib.accountValues(self._account_id)
        return values

    async def get_balance(self) -> list[Balance]:
        """Return the cash balance per currency (``CashBalance``); nothing is reported as locked.

        Margin accounts tie up equity, not cash per order, so ``locked`` is 0;
        see :meth:`get_account_summary` for margin and buying power.
        """
        self._require_connected()
        return balances_from(await self._account_values())

    async def get_account_summary(self) -> IbAccountSummary:
        """Return net liquidation, cash, available funds, margin... in the base currency."""
        self._require_connected()
        return summary_from(await self._account_values())

    # -- errors ----------------------------------------------------------------------------------

    def _on_error(self, req_id: int, code: int, message: str, contract: object) -> None:
        try:
            self._handle_error(req_id, code, self._scrub(message))
        except Exception as exc:  # an event handler must not raise into ib_insync
            log_event(_log, logging.ERROR, "IB error handler failed", error=type(exc).__name__)

    def _handle_error(self, req_id: int, code: int, text: str) -> None:
        if code in CONNECTION_LOST_CODES:
            self._venue_down = True
            log_event(_log, logging.WARNING, "TWS lost IB's servers", code=code, message=text)
            return
        if code in CONNECTION_RESTORED_CODES:
            was_down = self._venue_down
            self._venue_down = False
            log_event(_log, logging.INFO, "TWS reconnected to IB's servers", code=code)
            task = self._resync_task
            if was_down and self.is_connected and (task is None or task.done()):
                self._resync_task = asyncio.get_running_loop().create_task(self._resync())
            return
        record = self.tracker.by_order_id.get(req_id) if req_id > 0 else None
        error = error_for_code(code, text, order=record is not None)
        if record is not None:
            self.tracker.on_order_error(record, code, error, text)
            return
        if error is None:
            log_event(_log, logging.DEBUG, "IB notice", code=code, message=text)
            return
        if self._connecting:
            self._connect_errors.append(error)
        log_event(_log, logging.WARNING, "IB error", code=code, req_id=req_id, message=text)
