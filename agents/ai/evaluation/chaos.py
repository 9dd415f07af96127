"""Failure injection: put each failure class of the debugging agent's catalog into a live testbed.

An injector drives a running ``controlroom up`` through its MCP gateway (the same tools a
person uses) and, where a failure lives outside the tools, acts on the machine: it cuts a TCP
proxy in front of the STOMP broker, freezes an agent process with SIGSTOP, or closes a
PostgreSQL database to connections. Each returns an :class:`Injection` naming what the
debugger should be pointed at (a namespace or an execution) and how to undo the damage.

``run_suite`` starts the live systems it needs, injects every class, runs ``debug_execution``
on each and returns one :class:`SuiteRow` per class; ``render_table`` prints them.

Example::

    async with LiveUp.start(tmp / "state") as live:
        injection = await inject(live, "agent_crashed", namespace="chaos-a")
        report = await live.call("debug_execution", namespace=injection.namespace)
        await injection.undo()
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, get_args

from agents.testbed.errors import ChaosError

Kind = Literal[
    "agent_crashed",
    "broker_unreachable",
    "invalid_parameter",
    "missing_config",
    "testbed_already_running",
    "stuck_execution",
    "slice_backlog",
    "worker_payload_errors",
    "disk_full",
    "database_unavailable",
]
KINDS: tuple[Kind, ...] = get_args(Kind)

How = Literal["real", "simulated"]
DEFAULT_BROKER = ("127.0.0.1", 61613)
STUCK_WINDOW_S = 5.5  # the stuck rule: 5 expected intervals of at least 1 s


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LiveUp:
    """A ``controlroom up`` child process and an MCP client on its gateway.

    Example::

        async with LiveUp.start(Path("/tmp/state"), "--bus", "stomp", "--stomp", "127.0.0.1:61613") as live:
            await live.call("start_testbed", namespace="demo")
    """

    def __init__(self, process: subprocess.Popen[str] | None, url: str, token: str, state_dir: Path,
                 database_url: str | None) -> None:
        self.process = process
        self.url = url
        self.token = token
        self.state_dir = state_dir
        self.database_url = database_url
        self._client: Any = None

    @classmethod
    @contextlib.asynccontextmanager
    async def start(cls, state_dir: Path, *extra: str, database_url: str | None = None,
                    timeout_s: float = 60.0) -> AsyncIterator[LiveUp]:
        """Start `controlroom up` in ``state_dir`` (``database_url``: the node's store, e.g. PostgreSQL)."""
        from fastmcp import Client
        from fastmcp.client.transports import StreamableHttpTransport

        state_dir.mkdir(parents=True, exist_ok=True)
        connection = state_dir / "connection.json"
        connection.unlink(missing_ok=True)
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        if database_url:
            env["CONTROLROOM_NODE_DATABASE_URL"] = database_url
        log = (state_dir / "up.log").open("w")
        process = subprocess.Popen(
            [sys.executable, "-m", "mcp_gateway.cli", "up", "--state-dir", str(state_dir), "--port", str(_free_port()), *extra],
            stdout=log, stderr=subprocess.STDOUT, text=True, start_new_session=True, env=env,
        )
        try:
            deadline = time.monotonic() + timeout_s
            while not connection.exists():
                if process.poll() is not None or time.monotonic() > deadline:
                    tail = (state_dir / "up.log").read_text()[-3000:]
                    raise ChaosError(f"controlroom up did not come up in {state_dir}:\n{tail}")
                await asyncio.sleep(0.1)
            details = json.loads(connection.read_text())
            live = cls(process, details["url"], details["token"], state_dir, database_url)
            transport = StreamableHttpTransport(live.url, headers={"Authorization": f"Bearer {live.token}"})
            async with Client(transport, timeout=90) as client:
                live._client = client

                async def routed() -> bool:  # the gateway offers the node's tools once its catalog is built
                    return "start_testbed" in {tool.name for tool in await client.list_tools()}
                await live.until("the gateway to offer the node's tools", routed)
                yield live
        finally:
            _stop_group(process)
            log.close()

    @classmethod
    @contextlib.asynccontextmanager
    async def attach(cls, url: str, token: str, state_dir: Path, database_url: str | None = None) -> AsyncIterator[LiveUp]:
        """An MCP client on a gateway that is already running (``controlroom chaos KIND``)."""
        from fastmcp import Client
        from fastmcp.client.transports import StreamableHttpTransport

        live = cls(None, url, token, state_dir, database_url)
        async with Client(StreamableHttpTransport(url, headers={"Authorization": f"Bearer {token}"}), timeout=90) as client:
            live._client = client
            yield live

    async def call(self, tool: str, **arguments: Any) -> dict[str, Any]:
        """Call a tool; an error answer raises ``ChaosError`` with the tool's message."""
        result = await self._client.call_tool(tool, arguments, raise_on_error=False)
        if result.is_error:
            raise ChaosError(f"{tool}: {result.content[0].text if result.content else 'error'}")
        return dict(result.structured_content or {})

    async def refused(self, tool: str, **arguments: Any) -> str:
        """Call a tool that must fail; returns its error text (a success is a ``ChaosError``)."""
        try:
            await self.call(tool, **arguments)
        except ChaosError as exc:
            return str(exc)
        raise ChaosError(f"{tool} {arguments} was expected to be refused but succeeded")

    async def until(self, what: str, check: Callable[[], Awaitable[bool]], timeout_s: float = 30.0) -> None:
        """Poll ``check`` (a tool read) until true; a timeout is a ``ChaosError`` naming ``what``."""
        deadline = time.monotonic() + timeout_s
        while not await check():
            if time.monotonic() > deadline:
                raise ChaosError(f"timed out after {timeout_s:g} s waiting for {what}")
            await asyncio.sleep(0.2)

    async def warning_logged(self, namespace: str, needle: str) -> None:
        """Wait until a WARNING+ app_logs row of ``namespace`` contains ``needle``."""
        async def seen() -> bool:
            page = await self.call("list_logs", namespace=namespace, level="WARNING", limit=100)
            return any(needle in item.get("message", "") for item in page.get("items", []))
        await self.until(f"a WARNING containing {needle!r} in namespace {namespace}", seen)


def _stop_group(process: subprocess.Popen[str]) -> None:
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


class BrokerProxy:
    """A TCP forwarder in front of the STOMP broker; ``cut()`` makes the broker unreachable for real.

    After a cut the port refuses connections (nothing listens) and every open connection is closed.

    Example::

        async with BrokerProxy(("127.0.0.1", 61613)) as proxy:
            ...   # point the node at 127.0.0.1:{proxy.port}
            await proxy.cut()
    """

    def __init__(self, broker: tuple[str, int] = DEFAULT_BROKER) -> None:
        self.broker = broker
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def __aenter__(self) -> BrokerProxy:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.cut()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.broker)
        except OSError:
            writer.close()
            return
        self._writers |= {writer, up_writer}

        async def pump(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, asyncio.CancelledError):
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            sink.close()

        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer))
        self._writers -= {writer, up_writer}

    async def drop(self) -> None:
        """Close every forwarded connection once and keep listening (the broker is back at once)."""
        for writer in list(self._writers):
            with contextlib.suppress(Exception):
                writer.transport.abort()
        self._writers.clear()

    async def cut(self) -> None:
        """Stop listening and close every forwarded connection."""
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._writers):
            with contextlib.suppress(Exception):
                writer.transport.abort()
        self._writers.clear()


@dataclass
class Injection:
    """One injected failure: where to point the debugger, how it was made, how to undo it."""

    kind: Kind
    namespace: str
    execution_id: str | None = None
    how: How = "real"
    detail: str = ""
    undo_steps: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    async def undo(self) -> None:
        """Undo the machine-level damage (resume a frozen process, reopen a database)."""
        for step in reversed(self.undo_steps):
            with contextlib.suppress(Exception):
                await step()
        self.undo_steps.clear()


async def _testbed(live: LiveUp, namespace: str) -> dict[str, Any]:
    status = await live.call("start_testbed", namespace=namespace, reason="chaos: a testbed to break")
    if not status.get("ready"):
        raise ChaosError(f"the testbed of {namespace} did not become ready: {status.get('message')}")
    return status


async def _agent_crashed(live: LiveUp, namespace: str, **_: Any) -> Injection:
    status = await _testbed(live, namespace)
    victim = next(a["name"] for a in status["agents"] if a["agent_type"] == "fastmon")
    await live.call("kill_agent", name=victim, reason="chaos: agent crash")
    return Injection("agent_crashed", namespace, detail=f"killed {victim}")


async def _invalid_parameter(live: LiveUp, namespace: str, **_: Any) -> Injection:
    await _testbed(live, namespace)
    error = await live.refused("start_workflow", namespace=namespace, parameters={"stf_count": -5}, reason="chaos: bad parameter")
    await live.warning_logged(namespace, "start_workflow rejected")
    return Injection("invalid_parameter", namespace, detail=error)


async def _missing_config(live: LiveUp, namespace: str, **_: Any) -> Injection:
    await _testbed(live, namespace)
    error = await live.refused("start_workflow", namespace=namespace, config="chaos_no_such_config", reason="chaos: missing config")
    await live.warning_logged(namespace, "start_workflow rejected")
    return Injection("missing_config", namespace, detail=error)


async def _testbed_already_running(live: LiveUp, namespace: str, **_: Any) -> Injection:
    await _testbed(live, namespace)
    second = await live.call("start_testbed", namespace=namespace, reason="chaos: second start")
    if not second.get("already_running"):
        raise ChaosError(f"the second start_testbed in {namespace} did not report already_running")
    await live.warning_logged(namespace, "already running")
    return Injection("testbed_already_running", namespace, detail=second.get("message", ""))


async def _worker_payload_errors(live: LiveUp, namespace: str, **_: Any) -> Injection:
    await _testbed(live, namespace)
    started = await live.call("start_workflow", namespace=namespace, reason="chaos: payload errors",
                              parameters={"stf_count": 4, "slice_failure_rate": 0.8, "slice_max_retries": 0})
    execution_id = started["execution_id"]

    async def resolved() -> bool:
        monitor = await live.call("get_workflow_monitor", execution_id=execution_id)
        slices = monitor.get("slices") or {}
        return monitor["status"] != "running" and slices.get("failed", 0) > 0 and not slices.get("queued") \
            and not slices.get("processing")
    await live.until(f"{execution_id} to resolve its slices", resolved)
    return Injection("worker_payload_errors", namespace, execution_id, detail="slice_failure_rate=0.8, no retries")


async def _slice_backlog(live: LiveUp, namespace: str, **_: Any) -> Injection:
    await _testbed(live, namespace)
    started = await live.call(
        "start_workflow", namespace=namespace, realtime=True, reason="chaos: too few workers",
        parameters={"stf_count": 3, "target_worker_count": 1, "max_worker_count": 1, "worker_count_min": 1,
                    "stf_sampling_rate": 0.3, "slice_processing_time": 60, "realtime_factor": 0.02},
    )
    execution_id = started["execution_id"]

    async def backlog() -> bool:
        monitor = await live.call("get_workflow_monitor", execution_id=execution_id)
        return (monitor.get("slices") or {}).get("queued", 0) > 4 * max(monitor.get("workers_active") or 1, 1)
    await live.until(f"a slice backlog in {execution_id}", backlog)
    return Injection("slice_backlog", namespace, execution_id, detail="1 worker, 1.2 s per slice")


async def _stuck_execution(live: LiveUp, namespace: str, **_: Any) -> Injection:
    """Freeze (SIGSTOP) the workflow runner's process mid-run: alive, but no progress (process mode)."""
    status = await _testbed(live, namespace)
    runner = next((a for a in status["agents"] if a["agent_type"] == "workflow_runner" or "runner" in a["agent_type"]), None)
    if runner is None or not runner.get("pid"):
        raise ChaosError(f"no workflow runner process in {namespace} (stuck_execution needs --bus stomp): {status['agents']}")
    started = await live.call("start_workflow", namespace=namespace, realtime=True, reason="chaos: stuck run",
                              parameters={"stf_count": 50, "realtime_factor": 0.05, "stf_sampling_rate": 0.001, "slices_per_sample": 1, "slice_processing_time": 1,
                                          "target_worker_count": 1, "max_worker_count": 1, "worker_count_min": 1})
    execution_id = started["execution_id"]

    async def running() -> bool:
        return (await live.call("get_workflow_monitor", execution_id=execution_id)).get("stf_count", 0) > 0
    await live.until(f"{execution_id} to make progress", running)
    pid = int(runner["pid"])
    await freeze(pid, live.database_url or f"sqlite+aiosqlite:///{live.state_dir / 'node.db'}")
    frozen_at = time.monotonic()

    async def idle() -> bool:  # no new state event for the stuck rule's window (5 expected intervals, >= 5 s)
        monitor = await live.call("get_workflow_monitor", execution_id=execution_id)
        stamps = [e["timestamp"] for e in monitor.get("recent_events") or []]
        last = datetime.fromisoformat(max(stamps).replace("Z", "+00:00")) if stamps else None
        return last is not None and (datetime.now(UTC) - last).total_seconds() > STUCK_WINDOW_S \
            and time.monotonic() - frozen_at > STUCK_WINDOW_S
    await live.until(f"{execution_id} to stop making progress", idle)

    async def resume() -> None:
        os.kill(pid, signal.SIGCONT)
    return Injection("stuck_execution", namespace, execution_id, detail=f"SIGSTOP pid {pid} ({runner['name']})",
                     undo_steps=[resume])


LOCK_POLL_S = 0.001
"""Pause between two tries of the write lock in :func:`freeze`: SQLite's busy handler backs off to
100 ms between tries and so loses every gap of a busy writer; a 1 ms poll lands in them."""


async def freeze(pid: int, database_url: str, timeout_s: float = 30.0) -> None:
    """SIGSTOP ``pid`` at a moment it holds no SQLite write lock: a frozen process is stuck, it must
    not also lock every other writer of the database out ("database is locked" after the busy
    timeout, as the stuck_execution class did in CI when the freeze hit a write transaction).

    The write lock is taken here first (``BEGIN IMMEDIATE``, tried every :data:`LOCK_POLL_S` until
    ``timeout_s``), the process is stopped while we hold it and the lock is released only once the
    kernel reports the process stopped (``/proc/PID/stat`` state ``T``): SQLite's write lock is
    exclusive (in WAL mode too: one writer at a time, readers never hold it), so a process stopped
    while another connection holds it cannot be inside a write transaction, and it cannot take
    the lock between our release and its stop. What it may hold while frozen is a read snapshot
    (WAL mode: other writers go on, the WAL grows until it is resumed). On PostgreSQL the process
    is frozen at once (row locks are per row, not per database).

    (Freezing first and then probing the lock failed under load: a writer that holds the lock
    most of the time was nearly always stopped inside its transaction, and the freeze gave up
    after ``timeout_s``.)
    """
    path = database_url.split(":///", 1)[1].split("?", 1)[0] if database_url.startswith("sqlite") else ""
    if not path or path == ":memory:":
        os.kill(pid, signal.SIGSTOP)
        return

    def locked_freeze() -> None:
        import sqlite3

        deadline = time.monotonic() + timeout_s
        try:
            connection = sqlite3.connect(path, timeout=0, isolation_level=None)  # no busy handler: our own poll
        except sqlite3.Error as exc:
            raise ChaosError(f"could not freeze pid {pid}: {path}: {exc}") from None
        try:
            while True:
                try:
                    connection.execute("BEGIN IMMEDIATE")
                    break
                except sqlite3.OperationalError as exc:
                    if exc.sqlite_errorcode & 0xFF != sqlite3.SQLITE_BUSY:  # not a lock: no use waiting
                        raise ChaosError(f"could not freeze pid {pid}: {path}: {exc}") from None
                    if time.monotonic() > deadline:
                        raise ChaosError(f"could not freeze pid {pid}: the write lock of {path} stayed taken "
                                         f"for {timeout_s:g} s ({exc})") from None
                    time.sleep(LOCK_POLL_S)
            try:
                os.kill(pid, signal.SIGSTOP)
                _wait_stopped(pid, time.monotonic() + 5.0)  # a bound, not a pause: it stops within ms
            finally:
                connection.execute("ROLLBACK")
        finally:
            connection.close()

    await asyncio.to_thread(locked_freeze)


def _wait_stopped(pid: int, deadline: float) -> None:
    """Wait until the kernel reports ``pid`` stopped (a SIGSTOP is delivered asynchronously)."""
    stat = Path(f"/proc/{pid}/stat")
    while True:
        try:
            state = stat.read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, IndexError):
            return  # no /proc (not Linux) or the process is gone: nothing more to wait for
        if state in ("T", "t", "Z", "X"):
            return
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGCONT)
            raise ChaosError(f"pid {pid} did not stop after SIGSTOP (state {state}); resumed")
        time.sleep(LOCK_POLL_S)


async def _broker_unreachable(live: LiveUp, namespace: str, *, proxy: BrokerProxy | None = None, **_: Any) -> Injection:
    if proxy is None:
        raise ChaosError("broker_unreachable needs the node's broker behind a BrokerProxy (run_suite sets it up)")
    await _testbed(live, namespace)
    await proxy.cut()
    await live.warning_logged(namespace, "")  # any warning: the agents noticed the broker went away
    return Injection("broker_unreachable", namespace, detail=f"closed the broker proxy {proxy.address}")


async def _disk_full(live: LiveUp, namespace: str, **_: Any) -> Injection:
    """SIMULATED: a WARNING with SQLite's own 'database or disk is full' text, written into the node's store."""
    from workflows.store import LogIn, Store

    await _testbed(live, namespace)
    store = Store.from_url(live.database_url or f"sqlite+aiosqlite:///{live.state_dir / 'node.db'}")  # the node's store
    async with store:
        await store.logs.add_logs([LogIn(
            namespace=namespace, agent="chaos", level=40, created_at=datetime.now(UTC),
            message="could not record the run state: (sqlite3.OperationalError) database or disk is full",
        )])
    return Injection("disk_full", namespace, how="simulated", detail="SQLite's disk-full error text written as an ERROR row")


async def _database_unavailable(live: LiveUp, namespace: str, **_: Any) -> Injection:
    """Close the node's PostgreSQL database to new connections and end the open ones."""
    if not live.database_url or "postgresql" not in live.database_url:
        raise ChaosError("database_unavailable needs a node on PostgreSQL (run_suite(postgres_url=...))")
    await _testbed(live, namespace)
    database = live.database_url.rsplit("/", 1)[1].split("?")[0]
    await _admin(live.database_url, f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS false',
                 f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{database}' AND pid <> pg_backend_pid()")

    async def reopen() -> None:
        await _admin(live.database_url or "", f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS true')
    return Injection("database_unavailable", namespace, detail=f"database {database} closed to connections",
                     undo_steps=[reopen])


async def _admin(database_url: str, *statements: str) -> None:
    """Run statements on the server's ``postgres`` database (asyncpg, not the store)."""
    import asyncpg

    dsn = database_url.replace("postgresql+asyncpg://", "postgresql://").rsplit("/", 1)[0] + "/postgres"
    connection = await asyncpg.connect(dsn)
    try:
        for statement in statements:
            await connection.execute(statement)
    finally:
        await connection.close()


INJECTORS: dict[Kind, Callable[..., Awaitable[Injection]]] = {
    "agent_crashed": _agent_crashed,
    "broker_unreachable": _broker_unreachable,
    "invalid_parameter": _invalid_parameter,
    "missing_config": _missing_config,
    "testbed_already_running": _testbed_already_running,
    "stuck_execution": _stuck_execution,
    "slice_backlog": _slice_backlog,
    "worker_payload_errors": _worker_payload_errors,
    "disk_full": _disk_full,
    "database_unavailable": _database_unavailable,
}


async def inject(live: LiveUp, kind: Kind, namespace: str, **options: Any) -> Injection:
    """Inject one failure class into ``namespace`` on ``live``; unknown kinds list the known ones."""
    if kind not in INJECTORS:
        raise ChaosError(f"kind {kind!r} is not a failure class; known: {', '.join(KINDS)}")
    return await INJECTORS[kind](live, namespace, **options)


@dataclass
class SuiteRow:
    """One class of the suite: what the debugger concluded and did, and how long it took."""

    kind: Kind
    how: How
    diagnosed: str
    diagnosed_by: str
    outcome: str
    verdict: str | None
    seconds_to_diagnosis: float | None
    seconds_to_fix: float | None
    error: str = ""
    cites: list[str] = field(default_factory=list)  # timeline entries the diagnosis cites
    undoes: str | None = None  # the principal's action the proposed fix would undo

    @property
    def correct(self) -> bool:
        return self.diagnosed == self.kind and self.diagnosed_by == "rules"

    @property
    def fixed(self) -> str:
        if self.outcome == "fixed":
            return "yes"
        if self.outcome == "reported":
            return "report only"
        if self.outcome == "awaiting_approval":
            return f"{self.verdict}: awaiting approval"
        return self.outcome


async def debug_injection(live: LiveUp, injection: Injection) -> SuiteRow:
    """Run ``debug_execution`` on an injection and summarise the report as a row."""
    target = {"execution_id": injection.execution_id} if injection.execution_id else {"namespace": injection.namespace}
    report = await live.call("debug_execution", **target)
    diagnosis = report.get("diagnosis") or {}
    return SuiteRow(
        kind=injection.kind, how=injection.how, diagnosed=diagnosis.get("failure", "none"),
        diagnosed_by=diagnosis.get("diagnosed_by", "-"), outcome=report.get("outcome", "?"), verdict=report.get("verdict"),
        seconds_to_diagnosis=report.get("seconds_to_diagnosis"), seconds_to_fix=report.get("seconds_to_fix"),
        cites=list(diagnosis.get("cites") or []), undoes=report.get("undoes"),
    )


async def _one(live: LiveUp, kind: Kind, **options: Any) -> SuiteRow:
    namespace = f"chaos-{kind.replace('_', '-')}-{uuid.uuid4().hex[:4]}"
    try:
        injection = await inject(live, kind, namespace, **options)
    except ChaosError as exc:
        return SuiteRow(kind, "real", "not injected", "-", "error", None, None, None, error=str(exc))
    try:
        return await debug_injection(live, injection)
    except ChaosError as exc:
        return SuiteRow(kind, injection.how, "error", "-", "error", None, None, None, error=str(exc))
    finally:
        await injection.undo()


async def run_suite(
    work_dir: Path,
    *,
    kinds: tuple[Kind, ...] = KINDS,
    broker: tuple[str, int] | None = DEFAULT_BROKER,
    postgres_url: str | None = None,
) -> list[SuiteRow]:
    """Inject every class in ``kinds`` into fresh live systems under ``work_dir`` and debug each.

    Embedded classes share one ``controlroom up``; ``broker_unreachable`` and ``stuck_execution``
    run on a second one in process mode behind a :class:`BrokerProxy` (needs ``broker``);
    ``database_unavailable`` needs ``postgres_url`` (a server where a scratch database is made).
    """
    rows: dict[Kind, SuiteRow] = {}
    embedded = [k for k in kinds if k not in ("broker_unreachable", "stuck_execution", "database_unavailable")]
    database_url = None
    if postgres_url and "database_unavailable" in kinds:
        database_url = await _scratch_database(postgres_url)
    try:
        if embedded or database_url:
            async with LiveUp.start(work_dir / "embedded", database_url=database_url) as live:
                for kind in embedded:
                    rows[kind] = await _one(live, kind)
                if database_url:
                    rows["database_unavailable"] = await _one(live, "database_unavailable")
        process_kinds = [k for k in kinds if k in ("broker_unreachable", "stuck_execution")]
        if process_kinds and broker is not None and not await broker_answers(broker):
            for kind in process_kinds:
                rows[kind] = SuiteRow(kind, "real", f"skipped: no STOMP broker at {broker[0]}:{broker[1]}", "-",
                                      "skipped", None, None, None)
        elif process_kinds and broker is not None:
            async with BrokerProxy(broker) as proxy:
                async with LiveUp.start(work_dir / "process", "--bus", "stomp", "--stomp", proxy.address) as live:
                    for kind in sorted(process_kinds, key=lambda k: k == "broker_unreachable"):  # the cut goes last
                        rows[kind] = await _one(live, kind, proxy=proxy)
    finally:
        if database_url:
            await _drop_database(database_url)
    for kind in kinds:
        if kind not in rows:
            why = "needs postgres_url" if kind == "database_unavailable" else "needs a STOMP broker"
            rows[kind] = SuiteRow(kind, "real", f"skipped: {why}", "-", "skipped", None, None, None)
    return [rows[k] for k in kinds]


async def broker_answers(address: tuple[str, int], timeout_s: float = 2.0) -> bool:
    """Whether something accepts TCP connections at ``address`` (the STOMP broker)."""
    try:
        _reader, writer = await asyncio.wait_for(asyncio.open_connection(*address), timeout_s)
    except (OSError, TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


async def _scratch_database(postgres_url: str) -> str:
    name = f"controlroom_chaos_{uuid.uuid4().hex[:8]}"
    await _admin(postgres_url, f'CREATE DATABASE "{name}"')
    base = postgres_url.rsplit("/", 1)[0]
    return f"{base}/{name}"


async def _drop_database(database_url: str) -> None:
    database = database_url.rsplit("/", 1)[1]
    with contextlib.suppress(Exception):
        await _admin(database_url, f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS true',
                     f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} s"


def render_table(rows: list[SuiteRow]) -> str:
    """The suite's table: class | injected | diagnosed | fixed | time to diagnosis | time to fix."""
    header = ["class", "injected", "diagnosed", "fixed", "time to diagnosis", "time to fix"]
    lines = [[r.kind, r.how, f"{r.diagnosed} ({r.diagnosed_by})" if r.diagnosed_by != "-" else r.diagnosed, r.fixed,
              _seconds(r.seconds_to_diagnosis), _seconds(r.seconds_to_fix)] for r in rows]
    widths = [max(len(h), *(len(line[i]) for line in lines)) if lines else len(h) for i, h in enumerate(header)]

    def fmt(cells: list[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"
    out = [fmt(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *(fmt(line) for line in lines)]
    errors = [f"{r.kind}: {r.error}" for r in rows if r.error]
    return "\n".join(out + errors)


__all__ = ["KINDS", "BrokerProxy", "Injection", "Kind", "LiveUp", "SuiteRow", "broker_answers", "debug_injection", "freeze", "inject",
           "render_table", "run_suite"]


# --- beyond the catalog: operators' actions and degraded-but-running cases (issue 16) ---------
#
# A principal's deliberate act is not a failure: the right answer names it and applies no AUTO
# fix. A degraded run is not a failure either: the right answer says what differs from the same
# config's previous executions. Each case has an expected diagnosis and whether any fix may run
# by itself; ``score`` counts top-1 accuracy, citations and wrong actions (an AUTO fix where the
# right answer was "no fix", or a fix that failed).

ExtraKind = Literal[
    "operator_stop_workflow",
    "operator_stop_testbed",
    "operator_kill_agents",
    "operator_scale_down",
    "parameter_change",
    "slow_workers",
    "one_slice_in_ten_fails",
    "broker_drop_once",
]
EXTRA_KINDS: tuple[ExtraKind, ...] = get_args(ExtraKind)
# expected diagnosis class, and whether the right answer allows an AUTO fix
EXPECTED: dict[str, tuple[str, bool]] = {
    **{kind: (kind, kind in ("slice_backlog", "stuck_execution")) for kind in KINDS},
    "agent_crashed": ("agent_crashed", False),  # injected by kill_agent: a principal's act, only proposed
    "operator_stop_workflow": ("operator_action", False),
    "operator_stop_testbed": ("operator_action", False),
    "operator_kill_agents": ("agent_crashed", False),
    "operator_scale_down": ("slice_backlog", False),
    "parameter_change": ("degraded", False),
    "slow_workers": ("degraded", False),
    "one_slice_in_ten_fails": ("degraded", False),
    "broker_drop_once": ("broker_reconnected", False),
}
REALTIME_RUN = {"stf_count": 50, "realtime_factor": 0.05}
# real-time runs (wall-clock latency is what slows), few slices: 0.6 s a slice, 6 s when slow
SLOW_BASE = {"realtime_factor": 0.02, "stf_sampling_rate": 0.3, "slices_per_sample": 3}


async def _baseline_runs(live: LiveUp, namespace: str, runs: int = 2, realtime: bool = False, **parameters: Any) -> None:
    """Earlier completed executions of the default config: what a degraded run is compared with."""
    for _ in range(runs):
        started = await live.call("start_workflow", namespace=namespace, reason="chaos: a baseline run", realtime=realtime,
                                  parameters={"stf_count": 3, **parameters})
        await live.call("wait_for_execution", execution_id=started["execution_id"], timeout_s=120)


async def _finished(live: LiveUp, execution_id: str) -> None:
    await live.call("wait_for_execution", execution_id=execution_id, timeout_s=180)


async def _operator_stop_workflow(live: LiveUp, namespace: str, **_: Any) -> Injection:
    await _testbed(live, namespace)
    started = await live.call("start_workflow", namespace=namespace, realtime=True, parameters=REALTIME_RUN)
    await live.call("stop_workflow", execution_id=started["execution_id"], reason="beam dump requested by shift leader")
    return Injection("operator_stop_workflow", namespace, started["execution_id"], detail="stop_workflow with a reason")  # type: ignore[arg-type]


async def _operator_stop_testbed(live: LiveUp, namespace: str, **_: Any) -> Injection:
    await _testbed(live, namespace)
    started = await live.call("start_workflow", namespace=namespace, realtime=True, parameters=REALTIME_RUN)
    await live.call("stop_testbed", namespace=namespace, reason="maintenance window")
    return Injection("operator_stop_testbed", namespace, started["execution_id"], detail="stop_testbed while it runs")  # type: ignore[arg-type]


async def _operator_kill_agents(live: LiveUp, namespace: str, **_: Any) -> Injection:
    status = await _testbed(live, namespace)
    victims = [a["name"] for a in status["agents"] if a["agent_type"] in ("fastmon", "processing")]
    for name in victims:
        await live.call("kill_agent", name=name, reason="chaos: moving agents to another host")
    return Injection("operator_kill_agents", namespace, detail=f"kill_agent {', '.join(victims)}")  # type: ignore[arg-type]


async def _operator_scale_down(live: LiveUp, namespace: str, **_: Any) -> Injection:
    await _testbed(live, namespace)
    started = await live.call(
        "start_workflow", namespace=namespace, realtime=True, reason="chaos: two workers",
        parameters={"stf_count": 3, "target_worker_count": 2, "max_worker_count": 2, "worker_count_min": 1,
                    "stf_sampling_rate": 0.3, "slice_processing_time": 60, "realtime_factor": 0.02},
    )
    execution_id = started["execution_id"]
    await live.call("send_message", namespace=namespace, msg_type="scale_workers", body={"count": 1},
                    reason="chaos: free a core for the calibration job")

    async def backlog() -> bool:
        monitor = await live.call("get_workflow_monitor", execution_id=execution_id)
        return (monitor.get("slices") or {}).get("queued", 0) > 4 * max(monitor.get("workers_active") or 1, 1)
    await live.until(f"a slice backlog in {execution_id}", backlog)
    return Injection("operator_scale_down", namespace, execution_id, detail="scale_workers 2 -> 1 by a principal")  # type: ignore[arg-type]


async def _parameter_change(live: LiveUp, namespace: str, **_: Any) -> Injection:
    await _testbed(live, namespace)
    await _baseline_runs(live, namespace)
    started = await live.call("start_workflow", namespace=namespace, reason="chaos: more STF per run",
                              parameters={"stf_count": 9})
    await _finished(live, started["execution_id"])
    return Injection("parameter_change", namespace, started["execution_id"], detail="stf_count 3 -> 9 between runs")  # type: ignore[arg-type]


async def _slow_workers(live: LiveUp, namespace: str, **_: Any) -> Injection:
    await _testbed(live, namespace)
    await _baseline_runs(live, namespace, realtime=True, **SLOW_BASE)
    started = await live.call("start_workflow", namespace=namespace, reason="chaos: slow payload", realtime=True,
                              parameters={"stf_count": 3, **SLOW_BASE, "slice_processing_time": 300})
    await _finished(live, started["execution_id"])
    return Injection("slow_workers", namespace, started["execution_id"], how="simulated",  # type: ignore[arg-type]
                     detail="the workers' payload takes 10x longer: slice_processing_time 30 -> 300 (real time x0.02)")


async def _one_slice_in_ten_fails(live: LiveUp, namespace: str, **_: Any) -> Injection:
    await _testbed(live, namespace)
    await _baseline_runs(live, namespace, slice_max_retries=0)
    started = await live.call("start_workflow", namespace=namespace, reason="chaos: flaky worker",
                              parameters={"stf_count": 3, "slice_failure_rate": 0.1, "slice_max_retries": 0})
    await _finished(live, started["execution_id"])
    return Injection("one_slice_in_ten_fails", namespace, started["execution_id"], detail="slice_failure_rate 0.1, no retries")  # type: ignore[arg-type]


async def _broker_drop_once(live: LiveUp, namespace: str, *, proxy: BrokerProxy | None = None, **_: Any) -> Injection:
    if proxy is None:
        raise ChaosError("broker_drop_once needs the node's broker behind a BrokerProxy (run_extended sets it up)")
    await _testbed(live, namespace)
    await proxy.drop()
    await live.warning_logged(namespace, "")

    async def ready() -> bool:
        return bool((await live.call("get_testbed_status", namespace=namespace)).get("ready"))
    await live.until(f"the agents of {namespace} to reconnect", ready, timeout_s=60)
    return Injection("broker_drop_once", namespace, detail=f"every connection through {proxy.address} dropped once")  # type: ignore[arg-type]


EXTRA_INJECTORS: dict[ExtraKind, Callable[..., Awaitable[Injection]]] = {
    "operator_stop_workflow": _operator_stop_workflow,
    "operator_stop_testbed": _operator_stop_testbed,
    "operator_kill_agents": _operator_kill_agents,
    "operator_scale_down": _operator_scale_down,
    "parameter_change": _parameter_change,
    "slow_workers": _slow_workers,
    "one_slice_in_ten_fails": _one_slice_in_ten_fails,
    "broker_drop_once": _broker_drop_once,
}


@dataclass
class Scored:
    """A suite row with what the right answer was and what the debugger cited and did."""

    row: SuiteRow
    expected: str
    auto_allowed: bool
    cites: list[str] = field(default_factory=list)
    undoes: str | None = None

    @property
    def top1(self) -> bool:
        return self.row.diagnosed == self.expected

    @property
    def wrong_action(self) -> bool:
        """An AUTO fix applied where the right answer allowed none, or a fix that failed."""
        applied = self.row.verdict == "AUTO" and self.row.outcome in ("fixed", "not_verified", "fix_failed")
        return self.row.outcome == "fix_failed" or (applied and not self.auto_allowed)


async def debug_scored(live: LiveUp, injection: Injection) -> Scored:
    """``debug_injection`` plus the expected answer, the citations and the undo the policy named."""
    target = {"execution_id": injection.execution_id} if injection.execution_id else {"namespace": injection.namespace}
    report = await live.call("debug_execution", **target)
    diagnosis = report.get("diagnosis") or {}
    row = SuiteRow(
        kind=injection.kind, how=injection.how, diagnosed=diagnosis.get("failure", "none"),
        diagnosed_by=diagnosis.get("diagnosed_by", "-"), outcome=report.get("outcome", "?"), verdict=report.get("verdict"),
        seconds_to_diagnosis=report.get("seconds_to_diagnosis"), seconds_to_fix=report.get("seconds_to_fix"),
    )
    expected, auto = EXPECTED.get(injection.kind, (injection.kind, True))
    return Scored(row, expected, auto, list(diagnosis.get("cites") or []), report.get("undoes"))


async def _scored_one(live: LiveUp, kind: str, **options: Any) -> Scored:
    namespace = f"chaos-{kind.replace('_', '-')[:30]}-{uuid.uuid4().hex[:4]}"
    expected, auto = EXPECTED.get(kind, (kind, True))
    injector = EXTRA_INJECTORS.get(kind) or INJECTORS.get(kind)  # type: ignore[call-overload]
    try:
        injection = await injector(live, namespace, **options)
    except ChaosError as exc:
        return Scored(SuiteRow(kind, "real", "not injected", "-", "error", None, None, None, error=str(exc)), expected, auto)  # type: ignore[arg-type]
    try:
        return await debug_scored(live, injection)
    except ChaosError as exc:
        return Scored(SuiteRow(kind, injection.how, "error", "-", "error", None, None, None, error=str(exc)), expected, auto)  # type: ignore[arg-type]
    finally:
        await injection.undo()


async def run_extended(
    work_dir: Path, *, kinds: tuple[str, ...] = EXTRA_KINDS, broker: tuple[str, int] | None = DEFAULT_BROKER,
) -> list[Scored]:
    """Inject the cases beyond the catalog into fresh live systems and score the debugger on each.

    Embedded cases share one ``controlroom up``; ``broker_drop_once`` runs on a process-mode one
    behind a :class:`BrokerProxy` (skipped without ``broker``).
    """
    scored: dict[str, Scored] = {}
    embedded = [k for k in kinds if k != "broker_drop_once"]
    if embedded:
        async with LiveUp.start(work_dir / "extended") as live:
            for kind in embedded:
                scored[kind] = await _scored_one(live, kind)
    if "broker_drop_once" in kinds and broker is not None:
        async with BrokerProxy(broker) as proxy:
            async with LiveUp.start(work_dir / "extended-process", "--bus", "stomp", "--stomp", proxy.address) as live:
                scored["broker_drop_once"] = await _scored_one(live, "broker_drop_once", proxy=proxy)
    for kind in kinds:
        if kind not in scored:
            expected, auto = EXPECTED.get(kind, (kind, True))
            scored[kind] = Scored(SuiteRow(kind, "real", "skipped: needs a STOMP broker", "-", "skipped",  # type: ignore[arg-type]
                                           None, None, None), expected, auto)
    return [scored[k] for k in kinds]


def score(rows: list[SuiteRow]) -> list[Scored]:
    """Catalog rows scored against ``EXPECTED``."""
    return [Scored(r, *EXPECTED.get(r.kind, (r.kind, True)), cites=list(r.cites), undoes=r.undoes) for r in rows]


def render_scored(scored: list[Scored]) -> str:
    """class | injected | expected | diagnosed | cites | verdict / outcome | wrong action, then the totals."""
    header = ["case", "injected", "expected", "diagnosed", "cites", "fix", "wrong action"]
    lines = [[s.row.kind, s.row.how, s.expected,
              f"{s.row.diagnosed} ({s.row.diagnosed_by})" if s.row.diagnosed_by != "-" else s.row.diagnosed,
              ", ".join(s.cites[:3]) + (" …" if len(s.cites) > 3 else "") or "-",
              s.row.fixed + (" (would undo a principal's action)" if s.undoes else ""),
              "WRONG" if s.wrong_action else "-"] for s in scored]
    widths = [max(len(h), *(len(line[i]) for line in lines)) if lines else len(h) for i, h in enumerate(header)]

    def fmt(cells: list[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"
    counted = [s for s in scored if s.row.outcome not in ("skipped", "error")]
    top1 = sum(s.top1 for s in counted)
    cited = sum(bool(s.cites) for s in counted)
    wrong = sum(s.wrong_action for s in counted)
    out = [fmt(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *(fmt(line) for line in lines)]
    out.append(f"top-1 diagnosis accuracy: {top1}/{len(counted)}; diagnoses citing evidence: {cited}/{len(counted)}; "
               f"wrong actions: {wrong}")
    out.extend(f"{s.row.kind}: {s.row.error}" for s in scored if s.row.error)
    return "\n".join(out)


__all__ += ["EXPECTED", "EXTRA_KINDS", "ExtraKind", "Scored", "render_scored", "run_extended", "score"]
