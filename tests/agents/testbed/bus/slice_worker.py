"""A slice worker run as a child process by the crash test: consume, send the result, then ack.

Usage: python slice_worker.py HOST PORT NAMESPACE PREFETCH WORK_S STALL_AFTER
Prints ``ready`` once subscribed. After STALL_AFTER slices it stalls on the next one *between*
sending its result and acking it (the worst moment for a crash), prints ``stalled SLICE_ID``
and waits to be killed.
"""

from __future__ import annotations

import asyncio
import os
import sys

from agents.testbed.bus.base import Delivery, destination
from agents.testbed.bus.stomp import StompBus


async def work(host: str, port: int, namespace: str, prefetch: int, work_s: float, stall_after: int) -> None:
    done = 0
    async with StompBus(host, port) as bus:
        results = destination(namespace, "queue", "slice_results")

        async def on_slice(delivery: Delivery) -> None:
            nonlocal done
            await asyncio.sleep(work_s)
            await bus.publish(results, {"slice_id": delivery.body["slice_id"], "worker": os.getpid()})
            if done == stall_after:
                await asyncio.sleep(0)  # let the buffered SEND reach the socket
                print("stalled", delivery.body["slice_id"], flush=True)
                await asyncio.Event().wait()
            done += 1
            await delivery.ack()  # after the result: a crash in between means a duplicate, never a loss

        await bus.subscribe(destination(namespace, "queue", "slices"), on_slice, ack="client", prefetch=prefetch)
        print("ready", flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    host, port, namespace, prefetch, work_s, stall_after = sys.argv[1:7]
    asyncio.run(work(host, int(port), namespace, int(prefetch), float(work_s), int(stall_after)))
