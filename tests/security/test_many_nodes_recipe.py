"""The README's "Many nodes, real broker and database" recipe, run as written with real processes.

The test reads the recipe from README.md and runs each line: ``controlroom gateway serve``, the
``token`` commands, then ``controlroom node`` with the printed node token. It changes only what
belongs to the machine: free ports instead of 8700/8801, temporary directories instead of
/srv/controlroom and ``~`` (HOME, where the node keeps its own state), and the embedded bus and
SQLite instead of the broker and database flags. Nothing of the gateway's state directory is
given to the node. A routed call must then work (before the Ed25519 keys it answered HTTP 401).
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import anyio
import pytest
from fastmcp import Client

ROOT = Path(__file__).resolve().parents[2]
CONTROLROOM = Path(sys.executable).with_name("controlroom")
SECTION = "### Many nodes, real broker and database"
MACHINE_FLAGS = {"--bus", "--stomp", "--database-url"}
NODE_TOKEN = "NODE-TOKEN-PLACEHOLDER"
"""Stands for the recipe's ``<node token>`` (the output of its ``--node`` token create)."""


def recipe() -> list[list[str]]:
    """The commands of the README recipe (continuation lines joined, comments dropped)."""
    text = (ROOT / "README.md").read_text()
    block = re.search(re.escape(SECTION) + r"\s*```sh\n(.*?)```", text, re.S)
    assert block, f"README.md has no {SECTION!r} section with a sh block"
    joined = block.group(1).replace("\\\n", " ").replace("<node token>", NODE_TOKEN)
    return [shlex.split(line, comments=True) for line in joined.splitlines() if shlex.split(line, comments=True)]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def read_line(process: subprocess.Popen[str], prefix: str, timeout: float = 60.0) -> str:
    """The first stdout line of ``process`` starting with ``prefix``."""
    assert process.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if line.startswith(prefix):
            return line.strip()
        if not line and process.poll() is not None:
            break
    raise AssertionError(f"{process.args} never printed {prefix!r} (exit code {process.poll()})")


def stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.mark.skipif(not CONTROLROOM.exists(), reason="the controlroom entry point is not installed (pip install -e .)")
async def test_the_many_nodes_recipe_works_as_written(tmp_path: Path) -> None:
    gateway_port, node_port = free_port(), free_port()
    gateway_dir, home = tmp_path / "srv-controlroom", tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONTROLROOM_")}
    env |= {"HOME": str(home), "PYTHONPATH": str(ROOT)}

    def machine(argv: list[str]) -> list[str]:
        """The recipe's command with this machine's ports and directories."""
        out: list[str] = []
        skip = False
        for arg in argv:
            if skip:
                skip = False
                continue
            if arg in MACHINE_FLAGS:
                skip = True
                continue
            out.append(arg.replace("/srv/controlroom", str(gateway_dir)).replace("8700", str(gateway_port)))
        return out

    commands = recipe()
    assert [c[:3] for c in commands if c[0] == "controlroom"][0] == ["controlroom", "gateway", "serve"]
    processes: list[subprocess.Popen[str]] = []
    tokens: dict[str, str] = {}
    node_token = ""
    try:
        for argv in commands:
            argv = machine(argv)
            if argv[0] == "export":
                name, _, value = argv[1].partition("=")
                env[name] = value
                continue
            assert argv[0] == "controlroom", argv
            run = [str(CONTROLROOM), *argv[1:]]
            if argv[1:3] == ["gateway", "serve"]:
                gateway = subprocess.Popen(run, stdout=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
                processes.append(gateway)
                mcp_url = read_line(gateway, "gateway ready at ").split()[-1]
            elif argv[1] == "token":
                done = await anyio.to_thread.run_sync(lambda: subprocess.run(
                    run, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120))
                assert done.returncode == 0, done.stdout + done.stderr
                if argv[2] == "create":
                    user = argv[argv.index("--user") + 1]
                    tokens[user] = done.stdout.strip().splitlines()[-1]
                    if "--node" in argv:
                        node_token = tokens[user]
            elif argv[1] == "node":
                assert node_token, "the recipe creates a node token before starting the node"
                run = [a.replace(NODE_TOKEN, node_token) for a in run] + ["--port", str(node_port)]
                node = subprocess.Popen(run, stdout=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
                processes.append(node)
                read_line(node, "controlroom node ")
            else:
                raise AssertionError(f"unexpected recipe command {argv}")

        # the node kept its own state; nothing of the gateway's (no key, no database) is there
        node_state = {p.name for p in (home / ".controlroom").iterdir()}
        assert "node.db" in node_state and not any(name.startswith(("identity", "gateway")) for name in node_state)
        assert (gateway_dir / "identity-keys.json").stat().st_mode & 0o077 == 0

        # a caller whose namespace the node holds is routed there and served (not NodeFailed 401)
        caller = next(u for u in tokens if u != "bnl-1" and u != "alice")  # the recipe revokes alice
        namespace = commands_namespace(commands, caller)
        with anyio.fail_after(60):
            async with Client(mcp_url, auth=tokens[caller], timeout=60) as client:
                while True:
                    nodes = (await client.call_tool("list_nodes", {})).structured_content["items"]
                    if any(n["name"] == "bnl-1" and n["health"] == "up" for n in nodes):
                        break
                    await anyio.sleep(0.2)
                started = await client.call_tool("start_testbed", {"namespace": namespace}, raise_on_error=False)
                assert not started.is_error, started.content[0].text
                assert started.meta["controlroom/route"]["node"] == "bnl-1"
                status = await client.call_tool("get_testbed_status", {"namespace": namespace})
                assert status.structured_content["namespace"] == namespace
                await client.call_tool("stop_testbed", {"namespace": namespace}, raise_on_error=False)
    finally:
        for process in reversed(processes):
            stop(process)


def commands_namespace(commands: list[list[str]], user: str) -> str:
    """The first namespace the recipe grants ``user``."""
    for argv in commands:
        if argv[1:3] == ["token", "create"] and argv[argv.index("--user") + 1] == user:
            return argv[argv.index("--namespaces") + 1].split(",")[0]
    raise AssertionError(f"the recipe creates no token for {user}")
