"""One testbed agent as a process: ``python -m agents.testbed.framework.child --type T --namespace NS ...``.

Connects to the broker at ``--stomp`` (``bus_from_url("stomp://HOST:PORT")``) and opens the store
at ``--database-url`` (``open_store``), runs the agent until SIGTERM/SIGINT, then exits cleanly (heartbeat
EXITED). It dies with its parent: ``PR_SET_PDEATHSIG`` (Linux) plus a task that exits when
the parent process id changes. Options of the agent type come as repeated ``--option k=v``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import sys

from agents.supervision.child_process import die_with_parent, watch_parent


def _option(text: str) -> tuple[str, object]:
    key, sep, raw = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"--option {text!r}: use key=value")
    try:
        value: object = json.loads(raw)
    except ValueError:
        value = raw
    return key, value


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m agents.testbed.framework.child", description=__doc__)
    parser.add_argument("--type", required=True, dest="agent_type")
    parser.add_argument("--namespace", required=True)
    parser.add_argument("--id", required=True, dest="agent_id")
    parser.add_argument("--stomp", required=True, help="broker host:port")
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--database-schema", default=None)
    parser.add_argument("--heartbeat-interval", type=float, default=60.0)
    parser.add_argument("--option", type=_option, action="append", default=[])
    return parser.parse_args(argv)


async def serve(args: argparse.Namespace) -> int:
    """Run the agent until a signal or the parent's death; the exit code."""
    from agents.testbed.bus.url import bus_from_url
    from agents.testbed.agent_types import agent_class
    from agents.testbed.framework.agent import AgentContext
    from workflows.store.store import open_store

    parent = os.getppid()
    async with open_store(args.database_url, schema=args.database_schema, upgrade=False) as store:
        bus = bus_from_url(f"stomp://{args.stomp}")
        try:
            await bus.connect()
            agent = agent_class(args.agent_type)(
                AgentContext(
                    namespace=args.namespace, bus=bus, store=store, agent_id=args.agent_id, mode="process",
                    heartbeat_interval_s=args.heartbeat_interval, options=dict(args.option),
                )
            )
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, agent.stop)

            watcher = asyncio.create_task(watch_parent(agent.stop, parent))
            try:
                await agent.run()
            finally:
                watcher.cancel()
            return 0
        finally:
            with contextlib.suppress(Exception):
                await bus.close()


def main(argv: list[str] | None = None) -> int:
    die_with_parent()
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("controlroom.agent").propagate = False  # agent logs go to the store, not stderr
    return asyncio.run(serve(args))


if __name__ == "__main__":
    sys.exit(main())
