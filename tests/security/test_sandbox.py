"""Caller code runs only in a sandbox (attacker's findings rows 1 and 13).

Each test is the attack, made as a tenant would: a SPEC.md whose stage command runs a script the
tenant wrote, sent to a real node over HTTP with a tenant's identity token (``spec_generate``
dry-runs it; ``start_workflow`` runs it on the testbed's task workers). Each asserts the refusal
or failure AND the absence of the effect:

* row 1: the dry run ran the stage commands on the node host as the node's user: a tenant read
  the admin token and the identity key out of the state directory and wrote files anywhere;
* row 13: a task's child process (``sleep 60``) survived SIGKILL of the node.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from fastmcp import Client

from mcp_nodes.contract.identity import Identity
from mcp_nodes.http import serve_http
from tests.mcp_nodes.conftest import LiveNode, node_settings
from tests.mcp_nodes.test_tools import call, error_of, wait_ready
from tests.support.identity import identity_token
from workflows.tasks.config import TaskConfig
from workflows.tasks.messages import CommandPayload
from workflows.tasks.payloads import run_payload
from workflows.tasks.sandbox import Sandbox, SandboxLimits

NODE = "test-node"
NS = "tenant-a"
ROOT = Path(__file__).resolve().parents[2]
FL_SPEC = (ROOT / "skills" / "examples" / "fl-workflow" / "SPEC.md").read_text()


# --- the attacker's tools ------------------------------------------------------------------

def attack_spec(name: str, command: str) -> str:
    """The FL example SPEC.md reduced to one stage running ``command`` and one criterion."""
    text = FL_SPEC.replace("# SPEC: fl-workflow\n", f"# SPEC: {name}\n", 1)
    stages = ("| id | kind | depends on | inputs | count | repeat | command | callable | description |\n"
              "| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n"
              f"| attack | task |  | dataset | 1 | 1 | {command} |  | the attack |\n")
    criteria = ("| id | criterion | how to check | automatic | expression |\n| --- | --- | --- | --- | --- |\n"
                '| V1 | the execution completes | status | yes | status == "completed" |\n')
    for section, table in (("Stages", stages), ("Validation criteria", criteria)):
        text = re.sub(rf"(## {section}\n\n).*?(\n## )", lambda m, t=table: m.group(1) + t + m.group(2), text,
                      count=1, flags=re.S)
    return text


def tenant(node: LiveNode) -> Client:
    """A client holding a tenant's identity token: one namespace, no admin."""
    identity = Identity(user="mallory", namespaces=[NS], scopes=["read", "operate", "author"])
    return node.client(token=identity_token(NODE, identity))


@asynccontextmanager
async def running_node(state_dir: Path, **overrides: Any) -> AsyncIterator[LiveNode]:
    from mcp_nodes.runtime import node_runtime

    async with node_runtime(node_settings(state_dir, name=NODE, **overrides)) as runtime:
        async with serve_http(runtime.build().http_app(path="/mcp"), "127.0.0.1", 0) as port:
            yield LiveNode(url=f"http://127.0.0.1:{port}/mcp", runtime=runtime)


def plant_secrets(state: Path) -> dict[str, str]:
    """What a node's state directory holds (tokens, keys, a database), each with a unique secret."""
    state.mkdir(parents=True, exist_ok=True)
    secrets = {name: f"SECRET-{name}-{uuid.uuid4().hex}"
               for name in ("identity.key", "node.token", "gateway.db", "up-tokens.json")}
    for name, secret in secrets.items():
        (state / name).write_text(secret)
    return secrets


def running_with(marker: str, program: str | None = None) -> list[int]:
    """Live processes (not zombies) whose command line contains ``marker`` (and runs ``program``)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker.encode() in b" ".join(argv) and state != "Z" and (program is None or argv[0] == program.encode()):
            found.append(int(entry.name))
    return found


async def until(predicate: Any, what: str, attempts: int = 600) -> None:
    """Poll ``predicate`` (50 ms steps, bounded) until it holds; fail naming ``what``."""
    for _ in range(attempts):
        if predicate():
            return
        await asyncio.sleep(0.05)
    pytest.fail(f"never happened: {what}")


READ_STATE = """
import json, os, sys
state = sys.argv[2]
seen, contents = [], []
for top, dirs, files in os.walk(state):
    dirs[:] = [d for d in dirs if d != "generated"]  # its own workflow's files are bound back, read-only
    for f in files:
        path = os.path.join(top, f)
        seen.append(os.path.relpath(path, state))
        try:
            contents.append(open(path, errors="replace").read(100))
        except OSError as exc:
            contents.append(repr(exc))
for path in [os.path.join(state, name) for name in ("identity.key", "node.token", "gateway.db", "node.db",
                                                     "up-tokens.json")] + [sys.argv[3]]:
    try:
        contents.append(open(path, errors="replace").read(100))
    except OSError as exc:
        contents.append(type(exc).__name__)
print(json.dumps({"outputs": contents}))
print("read=" + json.dumps(contents) + " seen=" + json.dumps(sorted(seen)) + " ATTACK-RAN", file=sys.stderr)
sys.exit(1)
"""


@pytest.fixture
def home_secret() -> Iterator[tuple[Path, str]]:
    """A secret in the node user's home directory (where ~/.ssh, ~/.aws and the default state dir live)."""
    secret = f"SECRET-home-{uuid.uuid4().hex}"
    path = Path.home() / f".controlroom-sandbox-test-{uuid.uuid4().hex}"
    path.write_text(secret)
    yield path, secret
    path.unlink()


async def test_a_stage_command_cannot_read_the_state_directory(tmp_path: Path, home_secret: tuple[Path, str]) -> None:
    state = tmp_path / "state"
    secrets = plant_secrets(state)
    secrets[home_secret[0].name] = home_secret[1]
    async with running_node(state) as node, tenant(node) as client:
        spec = attack_spec("attack-read", f"python attack.py {{run_dir}} {state} {home_secret[0]}")
        report = await call(client, "spec_generate", spec_text=spec, scripts={"attack.py": READ_STATE}, namespace=NS)
        reason = report["dry_run"]["reason"] or ""
        assert "ATTACK-RAN" in reason, report  # the attack did run, in the sandbox
        assert report["ok"] is False and report["dry_run"]["status"] == "failed"
        assert "FileNotFoundError" in reason  # the files are not there for it
        assert 'seen=[] ATTACK-RAN' in reason  # an empty state directory, but for its own workflow

        # the same attack on the testbed's task workers (start_workflow)
        assert (await call(client, "spec_generate", spec_text=spec, scripts={"attack.py": READ_STATE},
                           namespace=NS, dry_run=False))["ok"]
        await call(client, "register_workflow_definition", name="attack_read", namespace=NS)
        await call(client, "start_testbed", namespace=NS)
        await wait_ready(client, NS)
        execution = await call(client, "start_workflow", namespace=NS, workflow="attack_read", config="attack_read")
        waited = await call(client, "wait_for_execution", execution_id=execution["execution_id"], timeout_s=60)
        assert waited["execution"]["status"] == "failed"
        assert "ATTACK-RAN" in (waited["execution"]["error"] or ""), waited
        messages = await call(client, "list_messages", execution_id=execution["execution_id"])
        await call(client, "stop_testbed", namespace=NS)
    replies = json.dumps([report, waited, messages])
    stored = b"".join(p.read_bytes() for p in state.rglob("*") if p.is_file() and p.name not in secrets)
    for secret in secrets.values():
        assert secret not in replies
        assert secret.encode() not in stored
    assert "SQLite format 3" not in replies  # node.db's header: the real database was not read either


WRITE_OUTSIDE = """
import json, os, sys
run_dir, marker = sys.argv[1], sys.argv[2]
targets = [f"/tmp/pwned-{marker}", os.path.join(sys.argv[3], f"pwned-{marker}"), f"pwned-{marker}",
           os.path.join(os.path.dirname(run_dir), f"pwned-{marker}"), f"{sys.argv[4]}/pwned-{marker}",
           f"/dev/shm/pwned-{marker}"]
for target in targets:
    try:
        with open(target, "w") as out:
            out.write("pwned")
    except OSError:
        pass
with open(os.path.join(run_dir, "inside"), "w") as out:
    out.write("fine")
siblings = len(os.listdir(os.path.dirname(run_dir)))  # other executions' run directories
print(json.dumps({"outputs": [os.path.join(run_dir, "inside")], "metrics": {"inside": 1, "siblings": siblings}}))
"""


async def test_a_stage_command_cannot_write_outside_its_run_directory(tmp_path: Path) -> None:
    state = tmp_path / "state"
    plant_secrets(state)
    marker = uuid.uuid4().hex
    async with running_node(state) as node, tenant(node) as client:
        spec = attack_spec("attack-write", f"python attack.py {{run_dir}} {marker} {state} {ROOT}")
        report = await call(client, "spec_generate", spec_text=spec, scripts={"attack.py": WRITE_OUTSIDE}, namespace=NS)
        assert report["dry_run"]["status"] == "completed", report
        assert report["dry_run"]["metrics"]["inside"] == 1.0  # it ran, and could write its run directory

        # on the testbed's task workers the run directory is generated/<ns>/<name>/runs/<execution>,
        # beside the run directories of the workflow's other executions
        other = Path(report["out_dir"]) / "runs" / "earlier-execution"
        other.mkdir(parents=True)
        (other / "result.txt").write_text("another execution's result")
        await call(client, "register_workflow_definition", name="attack_write", namespace=NS)
        await call(client, "start_testbed", namespace=NS)
        await wait_ready(client, NS)
        execution = await call(client, "start_workflow", namespace=NS, workflow="attack_write", config="attack_write")
        waited = await call(client, "wait_for_execution", execution_id=execution["execution_id"], timeout_s=60)
        assert waited["execution"]["status"] == "completed", waited
        summary = await call(client, "list_messages", execution_id=execution["execution_id"],
                             msg_type="task_workflow_summary")
        assert summary["items"][0]["body"]["metrics"] == {"inside": 1.0, "siblings": 1.0}  # the earlier run is hidden
        await call(client, "stop_testbed", namespace=NS)
    generated = Path(report["out_dir"])
    assert (generated / "runs" / execution["execution_id"] / "inside").read_text() == "fine"
    for path in (Path(f"/tmp/pwned-{marker}"), state / f"pwned-{marker}", generated / f"pwned-{marker}",
                 generated / "runs" / f"pwned-{marker}", ROOT / f"pwned-{marker}", Path(f"/dev/shm/pwned-{marker}")):
        assert not path.exists(), f"the sandboxed task wrote {path}"
    assert not list(tmp_path.rglob(f"pwned-{marker}"))


CONNECT = """
import json, socket, sys
connected = 0
for target in sys.argv[1:]:
    try:
        if target.startswith("/"):
            sock = socket.socket(socket.AF_UNIX)
            sock.settimeout(2)
            sock.connect(target)
            sock.close()
        else:
            socket.create_connection(("127.0.0.1", int(target)), timeout=2).close()
        connected += 1
    except OSError:
        pass
print(json.dumps({"metrics": {"connected": connected, "tried": len(sys.argv) - 1}}))
"""


async def test_a_stage_command_has_no_network(tmp_path: Path) -> None:
    accepted: list[int] = []

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(1)
        writer.close()

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    unix_path = f"/run/controlroom-sandbox-test-{uuid.uuid4().hex[:12]}.sock"  # where the host's sockets live
    unix_server = await asyncio.start_unix_server(on_connect, unix_path)
    try:
        async with server, unix_server:
            async with running_node(tmp_path / "state") as node, tenant(node) as client:
                node_port = node.url.split(":")[2].split("/")[0]
                spec = attack_spec("attack-net", f"python attack.py {port} {node_port} {unix_path}")
                report = await call(client, "spec_generate", spec_text=spec, scripts={"attack.py": CONNECT},
                                    namespace=NS)
    finally:
        Path(unix_path).unlink(missing_ok=True)
    assert report["dry_run"]["metrics"] == {"connected": 0.0, "tried": 3.0}, report
    assert accepted == []


FORK = """
import os, sys, time
for _ in range(10_000):
    if os.fork() == 0:
        time.sleep(60)
        os._exit(0)
"""
ALLOCATE = "blob = bytearray(3 * 1024 ** 3)\n"
WRITE_HUGE = """
import sys
with open(sys.argv[1] + "/huge", "wb") as out:
    for _ in range(2 * 1024 // 16):
        out.write(bytes(16 << 20))
"""


@pytest.mark.parametrize(("script", "limit"), [(FORK, "processes"), (ALLOCATE, "memory_mb"), (WRITE_HUGE, "file_mb")],
                         ids=["fork-10000", "allocate-3GiB", "write-2GiB"])
async def test_resource_attacks_fail_the_task_and_the_node_keeps_answering(tmp_path: Path, script: str,
                                                                           limit: str) -> None:
    marker = uuid.uuid4().hex
    async with running_node(tmp_path / "state") as node, tenant(node) as client:
        spec = attack_spec("attack-limits", f"python attack.py {{run_dir}} {marker}")
        report = await call(client, "spec_generate", spec_text=spec, scripts={"attack.py": script}, namespace=NS)
        assert report["ok"] is False and report["dry_run"]["status"] == "failed", report
        reason = report["dry_run"]["reason"]
        assert f"the {limit} limit" in reason and "sandbox limits:" in reason, reason
        assert (await call(client, "spec_validate", spec_text=spec))["valid"] is True  # the node keeps answering
    assert running_with(marker) == []  # nothing of the attack is left running


def test_config_limits_apply_and_are_bounded(tmp_path: Path) -> None:
    from workflows.spec.generate import generate_from_text, load_generated

    with pytest.raises(ValueError, match="processes"):
        TaskConfig.model_validate({"workflow": {"name": "x"}, "sandbox": {"processes": 1_000_000}})
    with pytest.raises(ValueError, match="memory_mb"):
        TaskConfig.model_validate({"workflow": {"name": "x"}, "sandbox": {"memory_mb": 10 ** 9}})
    spec = attack_spec("attack-config", "python attack.py {run_dir}")
    (tmp_path / "attack.py").write_text(WRITE_HUGE)
    assert generate_from_text(spec, tmp_path, source_dir=tmp_path, dry_run=False).ok
    with (tmp_path / "attack_config.toml").open("a") as toml:
        toml.write("\n[sandbox]\nfile_mb = 4\n")
    workflow = load_generated(tmp_path).workflow
    assert workflow.settings().sandbox == SandboxLimits(file_mb=4)
    summary = asyncio.run(workflow.run_local(workers=1, mode="fast", run_dir=tmp_path / "run",
                                             sandbox=Sandbox(hidden=(tmp_path / "nothing",))))
    assert summary.status == "failed" and "file_mb=4" in (summary.reason or ""), summary.reason
    assert not (tmp_path / "run" / "huge").exists() or (tmp_path / "run" / "huge").stat().st_size <= 4 << 20


# --- row 13: nothing survives the node ------------------------------------------------------

async def test_a_task_process_does_not_survive_sigkill_of_the_node(tmp_path: Path) -> None:
    seconds = f"60.{uuid.uuid4().int % 10 ** 9:09d}"  # a sleep no other process runs
    process = subprocess.Popen(
        [sys.executable, "-c", "from mcp_gateway.cli import main; main()", "node", "--name", "victim", "--port", "0",
         "--state-dir", str(tmp_path / "state"), "--token", "victim-token"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, start_new_session=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert "MCP at " in line, line
        url = line.rsplit("MCP at ", 1)[1].strip()
        client = Client(url, auth="victim-token", timeout=120)
        await client.__aenter__()
        spec = attack_spec("attack-sleep", f"sleep {seconds}")
        generating = asyncio.create_task(client.call_tool("spec_generate", {"spec_text": spec, "namespace": NS},
                                                          raise_on_error=False))
        await until(lambda: running_with(f"sleep {seconds}", "sleep"), "the task's sleep started")
        os.kill(process.pid, signal.SIGKILL)  # the node only, as the OOM killer would
        process.wait(timeout=30)
        await until(lambda: not running_with(f"sleep {seconds}"), "the sleep died with the node")
        generating.cancel()
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await generating
        with contextlib.suppress(Exception, asyncio.CancelledError):  # the node is gone: its session cannot close
            await client.__aexit__(None, None, None)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    assert running_with(f"sleep {seconds}") == []


@pytest.mark.activemq
async def test_a_task_process_does_not_survive_sigkill_of_its_worker(stomp_address: tuple[str, int]) -> None:
    from agents.testbed.bus.stomp import StompBus
    from workflows.tasks.messages import TaskMessage
    from agents.tasks.worker import tasks_destination

    namespace = f"sbx-{uuid.uuid4().hex[:10]}"
    seconds = f"60.{uuid.uuid4().int % 10 ** 9:09d}"
    worker = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "agents.tasks.worker", "--namespace", namespace, "--stomp",
        f"{stomp_address[0]}:{stomp_address[1]}", "--name", "victim", stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL)
    try:
        assert worker.stdout is not None
        assert b"ready" in await asyncio.wait_for(worker.stdout.readline(), 30)
        async with StompBus(*stomp_address) as bus:
            task = TaskMessage(task_id="t.r0.i0", execution_id="sbx", stage="t", index=0, round=0, attempt=1,
                               reply_to=f"/queue/controlroom.{namespace}.replies",
                               payload=CommandPayload(argv=["sleep", seconds]))
            await bus.publish(tasks_destination(namespace), task.model_dump(mode="json"))
            await until(lambda: running_with(f"sleep {seconds}", "sleep"), "the task's sleep started")
        worker.kill()
        await worker.wait()
        await until(lambda: not running_with(f"sleep {seconds}"), "the sleep died with its worker")
    finally:
        if worker.returncode is None:
            worker.kill()
            await worker.wait()


# --- no bubblewrap: refused, unless explicitly unsafe ---------------------------------------

async def test_a_node_without_bubblewrap_refuses_caller_code(tmp_path: Path) -> None:
    marker = tmp_path / f"ran-{uuid.uuid4().hex}"
    script = f"open({str(marker)!r}, 'w').write('ran')\n"
    async with running_node(tmp_path / "state", sandbox_bwrap=str(tmp_path / "no" / "bwrap")) as node, \
            tenant(node) as client:
        spec = attack_spec("attack-nobwrap", "python attack.py")
        message = await error_of(client, "spec_generate", spec_text=spec, scripts={"attack.py": script}, namespace=NS)
        assert "apt-get install bubblewrap" in message and "dry_run" in message, message
        assert "Traceback" not in message
    assert not marker.exists()
    outcome = await run_payload(CommandPayload(argv=["python", "-c", script]), mode="fast", timeout_s=30,
                                sandbox=Sandbox(bwrap=str(tmp_path / "no" / "bwrap")))
    assert outcome.status == "failed" and "apt-get install bubblewrap" in (outcome.error or "")
    assert not marker.exists()


async def test_unsafe_no_sandbox_runs_unconfined_and_says_so(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from mcp_nodes.settings import NodeSettings

    sandbox = NodeSettings(state_dir=tmp_path, unsafe_no_sandbox=True, sandbox_bwrap="/no/bwrap").sandbox()
    marker = tmp_path / "outside"
    with caplog.at_level(logging.WARNING, logger="workflows.tasks.sandbox"):
        sandbox.announce()
        outcome = await run_payload(CommandPayload(argv=["sh", "-c", f"echo x > {marker}"]), mode="fast",
                                    timeout_s=30, sandbox=sandbox)
    assert outcome.status == "succeeded" and marker.exists()  # unconfined: it wrote outside any run dir
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len([w for w in warnings if w.startswith("UNSAFE")]) == 2, warnings  # at start and for the run


async def test_a_cpu_burner_is_stopped_by_its_cpu_limit(tmp_path: Path) -> None:
    payload = CommandPayload(argv=["python", "-c", "while True: pass"], run_dir=str(tmp_path),
                             limits=SandboxLimits(cpu_s=1))
    outcome = await run_payload(payload, mode="fast", timeout_s=120, sandbox=Sandbox())
    assert outcome.status == "failed" and "killed by the CPU time limit (cpu_s)" in (outcome.error or ""), outcome
