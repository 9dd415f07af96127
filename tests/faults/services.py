"""Private services for the fault tests: an ActiveMQ and a PostgreSQL of their own, on free
ports, that a test may stop and restart without touching the shared ones (61613, 5432)."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
from pathlib import Path

from tests.conftest import ROOT, skip_or_fail

ACTIVEMQ_SH = ROOT / ".ci" / "activemq.sh"


def _postgres_bin() -> Path:
    """The newest Debian PostgreSQL server binaries (/usr/lib/postgresql/VERSION/bin)."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
    return found[-1].parent if found else Path("/usr/lib/postgresql/15/bin")


PG_BIN = _postgres_bin()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def _run(args: list[str], timeout: float = 120) -> str:
    process = await asyncio.create_subprocess_exec(*args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out, _ = await asyncio.wait_for(process.communicate(), timeout)
    text = out.decode(errors="replace")
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} exited {process.returncode}:\n{text}")
    return text


class PrivateActiveMQ:
    """An ActiveMQ started by .ci/activemq.sh on its own STOMP/OpenWire ports and state directory."""

    def __init__(self, state: Path) -> None:
        if not Path("/usr/share/activemq/bin/activemq.jar").exists():
            skip_or_fail("ActiveMQ is not installed (apt-get install activemq, or .ci/run)")
        self.state = state
        self.stomp_port = free_port()
        self.openwire_port = free_port()
        self.starts = 0
        self.stops = 0

    def _args(self, action: str) -> list[str]:
        return ["bash", str(ACTIVEMQ_SH), action, "--stomp-port", str(self.stomp_port),
                "--openwire-port", str(self.openwire_port), "--state", str(self.state)]

    async def start(self) -> None:
        await _run(self._args("start"))
        self.starts += 1

    async def stop(self) -> None:
        await _run(self._args("stop"))
        self.stops += 1

    def answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.stomp_port), timeout=0.5):
                return True
        except OSError:
            return False


class PrivatePostgres:
    """A PostgreSQL cluster of its own (initdb into a temporary directory, its own port and
    socket directory), run as the ``postgres`` OS user when the tests run as root."""

    def __init__(self, directory: Path) -> None:
        if not (PG_BIN / "initdb").exists():
            skip_or_fail(f"{PG_BIN / 'initdb'} is missing: install the PostgreSQL server package "
                         "(the fault test runs a private cluster)")
        self.directory = directory
        self.data = directory / "data"
        self.port = free_port()
        self.as_root = os.geteuid() == 0
        if self.as_root and shutil.which("runuser") is None:
            skip_or_fail("running as root without runuser: cannot start a private PostgreSQL as 'postgres'")

    def _as_owner(self, args: list[str]) -> list[str]:
        return ["runuser", "-u", "postgres", "--", *args] if self.as_root else args

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"

    async def init(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        if self.as_root:
            shutil.chown(self.directory, "postgres", "postgres")
        await _run(self._as_owner([str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres",
                                   "--auth=trust", "--no-sync", "-E", "UTF8"]))

    async def start(self) -> None:
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c fsync=off"
        await _run(self._as_owner([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-o", options,
                                   "-l", str(self.directory / "log"), "-w", "-t", "60", "start"]))

    async def stop(self, mode: str = "fast") -> None:
        await _run(self._as_owner([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "-t", "60",
                                   "stop"]))

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()
