"""The task worker: take ONE task, run its payload, send the result, then acknowledge.

Subscribes to the namespace's ``tasks`` queue with client acknowledgement and prefetch 1, so a
worker holds at most one task. It answers on the task's ``reply_to`` queue: ``task_started``
(not persistent: it only starts the scheduler's timeout clock), then ``task_result``
(persistent), and acks the task only after the result is sent. A worker that dies before the
ack leaves the task to the broker, which hands it to another worker; the scheduler accepts one
result per ``(task_id, attempt)``.

Run many in one process (one :class:`TaskWorker` each, sharing a bus) or as child processes::

    python -m agents.tasks.worker --namespace ns1 --stomp 127.0.0.1:61613 --name w1 --hide ~/.controlroom

The worker is an agent kind of the task runtime; ``workflows.tasks.worker``, the name stored in
generated workflows made before the move, resolves to this module (see :mod:`agents.tasks.pool`).
Every command and callable runs in the worker's :class:`workflows.tasks.sandbox.Sandbox` (bwrap;
``--hide`` names directories the sandbox sees empty, ``--unsafe-no-sandbox`` runs unconfined).
``--die-with-parent`` (what the node's pool passes) ends the worker, and so its sandboxes, when
the process that started it dies.

Example::

    async with bus_from_url("embedded") as bus:
        worker = TaskWorker(bus, "ns1", name="w1")
        await worker.start()
        ...
        await worker.stop()
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
from pathlib import Path

from pydantic import ValidationError

from agents.supervision.child_process import die_with_parent
from agents.testbed.bus import bus_from_url, bus_url
from agents.testbed.bus.base import Bus, Delivery, Subscription, destination
from workflows.tasks.messages import TaskMessage, TaskResult, TaskStarted
from workflows.tasks.payloads import run_payload
from workflows.tasks.sandbox import Sandbox

log = logging.getLogger(__name__)

TASKS_QUEUE = "tasks"


def tasks_destination(namespace: str) -> str:
    """The queue tasks of ``namespace`` are sent to."""
    return destination(namespace, "queue", TASKS_QUEUE)


class TaskWorker:
    """Consumes tasks of one namespace, one at a time."""

    def __init__(self, bus: Bus, namespace: str, *, name: str | None = None, sandbox: Sandbox | None = None) -> None:
        self.bus = bus
        self.namespace = namespace
        self.sandbox = sandbox or Sandbox()
        self.name = name or f"task-worker-{socket.gethostname()}-{os.getpid()}"
        self.done = 0
        self.failed = 0
        self._subscription: Subscription | None = None

    async def start(self) -> None:
        """Subscribe to the tasks queue (client ack, prefetch 1)."""
        self._subscription = await self.bus.subscribe(
            tasks_destination(self.namespace), self.on_task, ack="client", prefetch=1)

    async def stop(self) -> None:
        """Unsubscribe; a task not yet acked goes back to the queue."""
        if self._subscription is not None:
            subscription, self._subscription = self._subscription, None
            await subscription.cancel()

    async def on_task(self, delivery: Delivery) -> None:
        """Run one task and answer; a malformed message is logged and dropped (acked)."""
        try:
            task = TaskMessage.model_validate(delivery.body)
        except ValidationError as exc:
            log.error("%s: dropped a malformed task message: %s", self.name, exc.errors(include_url=False)[:3])
            await delivery.ack()
            return
        await self.bus.publish(task.reply_to, TaskStarted(task_id=task.task_id, attempt=task.attempt,
                                                          worker=self.name).model_dump(mode="json"),
                               persistent=False)
        outcome = await run_payload(task.payload, mode=task.mode, timeout_s=task.timeout_s, sandbox=self.sandbox)
        result = TaskResult(task_id=task.task_id, attempt=task.attempt, worker=self.name, status=outcome.status,
                            duration_s=outcome.duration_s, error=outcome.error, outputs=outcome.outputs,
                            metrics=outcome.metrics)
        await self.bus.publish(task.reply_to, result.model_dump(mode="json"))
        if outcome.status == "succeeded":
            self.done += 1
        else:
            self.failed += 1
        await delivery.ack()


async def serve(namespace: str, host: str, port: int, name: str | None, stop: asyncio.Event,
                sandbox: Sandbox | None = None) -> None:
    """Run one worker on a STOMP broker until ``stop`` is set."""
    async with bus_from_url(bus_url((host, port))) as bus:
        worker = TaskWorker(bus, namespace, name=name, sandbox=sandbox)
        await worker.start()
        print(f"task worker {worker.name} ready on {namespace}", flush=True)
        await stop.wait()
        await worker.stop()


def _address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise argparse.ArgumentTypeError(f"--stomp must be HOST:PORT, e.g. 127.0.0.1:61613 (got {text!r})")
    return host, int(port)


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m agents.tasks.worker``; SIGTERM/SIGINT stop it cleanly."""
    parser = argparse.ArgumentParser(prog="python -m agents.tasks.worker",
                                     description="Run one task worker connected to a STOMP broker.")
    parser.add_argument("--namespace", required=True, help="namespace whose tasks queue to consume")
    parser.add_argument("--stomp", required=True, type=_address, help="broker address HOST:PORT")
    parser.add_argument("--name", default=None, help="worker name (default task-worker-HOST-PID)")
    parser.add_argument("--hide", action="append", default=[], type=Path, metavar="DIR",
                        help="a directory the sandbox sees empty (the node's state directory); repeatable")
    parser.add_argument("--bwrap", default="bwrap", help="the bubblewrap program (default: bwrap on PATH)")
    parser.add_argument("--unsafe-no-sandbox", action="store_true",
                        help="run task code WITHOUT a sandbox (unconfined; logged as a WARNING on every run)")
    parser.add_argument("--die-with-parent", action="store_true",
                        help="exit (SIGKILL) when the process that started this worker dies")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.die_with_parent:
        die_with_parent(signal.SIGKILL)
    sandbox = Sandbox(bwrap=args.bwrap, hidden=tuple(args.hide), unsafe_no_sandbox=args.unsafe_no_sandbox)
    sandbox.announce()

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        await serve(args.namespace, args.stomp[0], args.stomp[1], args.name, stop, sandbox)

    asyncio.run(run())
    return 0


if __name__ == "__main__":
    sys.exit(main())
