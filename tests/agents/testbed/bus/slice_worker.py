"""A slice worker run as a child process by the crash test: consume, send the result, then ack.

Usage: python slice_worker.py HOST PORT NAMESPACE PREFETCH WORK_S
Prints ``ready`` once subscribed, then works until killed.
"""

from __future__ import annotations

import asyncio
import os
import sys

from agents.testbed.bus.base import Delivery, destination
from agents.testbed.bus.stomp import StompBus


async def work(host: str, port: int, namespace: str, prefetch: int, work_s: float) -> None:
    async with StompBus(host, port) as bus:
        results = destination(namespace, "queue", "slice_results")

        async def on_slice(delivery: Delivery) -> None:
            await asyncio.sleep(work_s)
            await bus.publish(results, {"slice_id": delivery.body["slice_id"], "worker": os.getpid()})
            await delivery.ack()  # after the result: a kill in between means a duplicate, never a loss

        await bus.subscribe(destination(namespace, "queue", "slices"), on_slice, ack="client", prefetch=prefetch)
        print("ready", flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    host, port, namespace, prefetch, work_s = sys.argv[1:6]
    asyncio.run(work(host, int(port), namespace, int(prefetch), float(work_s)))
