"""The bare slice pattern through each bus adapter: slices/s and dispatch->result latency.

Pattern: a dispatcher publishes N persistent slices to a queue; 4 workers (client-individual
ack) each publish a persistent result and then ack; one collector counts the results. A no-op
payload, so the figure is the bus's own cost. On ActiveMQ every party has its own connection, as
separate processes would, and a raw stomp.py run of the same pattern (threads, TCP_NODELAY) is
measured in the same run as the baseline.

    .venv/bin/python bench/slice_throughput.py [--embedded N] [--activemq N] [--prefetch 8] [--window 1000] [--rounds 2] [--stomp HOST:PORT]

The dispatcher keeps at most --window slices in flight (as a fast processing agent pacing its
workers would), so the latency is one trip through the pattern plus a bounded backlog.

Goals: embedded >= 5,000 slices/s, ActiveMQ >= 2,000 slices/s. The last line is
``slice_throughput embedded_per_s=... activemq_per_s=... p50_ms=... p99_ms=...`` (latencies of
the ActiveMQ run, or of the embedded run when ActiveMQ does not answer).
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import statistics
import sys
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import stomp  # noqa: E402

from agents.testbed.bus.base import Bus, Delivery, destination  # noqa: E402
from agents.testbed.bus.embedded import EmbeddedBus  # noqa: E402
from agents.testbed.bus.stomp import StompBus  # noqa: E402

WORKERS = 4


async def slice_pattern(
    dispatcher: Bus, workers: list[Bus], collector: Bus, total: int, prefetch: int, window: int
) -> tuple[float, list[float]]:
    """Run the pattern once; return (slices per second, dispatch->result latencies in ms)."""
    namespace = "bench" + uuid.uuid4().hex[:8]
    slices, results = destination(namespace, "queue", "slices"), destination(namespace, "queue", "results")
    latencies: list[float] = []
    done = asyncio.Event()
    progress = asyncio.Event()

    def worker_handler(bus: Bus):  # noqa: ANN202 - a closure factory
        async def on_slice(delivery: Delivery) -> None:
            await bus.publish(results, {"slice_id": delivery.body["slice_id"], "sent": delivery.body["sent"]})
            await delivery.ack()

        return on_slice

    async def on_result(delivery: Delivery) -> None:
        latencies.append((time.perf_counter() - delivery.body["sent"]) * 1000)
        await delivery.ack()
        progress.set()
        if len(latencies) == total:
            done.set()

    for bus in workers:
        await bus.subscribe(slices, worker_handler(bus), ack="client", prefetch=prefetch)
    await collector.subscribe(results, on_result, ack="client", prefetch=256)
    started = time.perf_counter()
    for slice_id in range(total):
        while slice_id - len(latencies) >= window:  # at most `window` slices in flight
            progress.clear()
            await progress.wait()
        await dispatcher.publish(slices, {"slice_id": slice_id, "sent": time.perf_counter()})
    await asyncio.wait_for(done.wait(), 300)
    return total / (time.perf_counter() - started), latencies


def raw_stomp_baseline(host: str, port: int, total: int, prefetch: int) -> float:
    """The same pattern written directly on stomp.py listeners (handlers on receiver threads)."""
    namespace = "bench" + uuid.uuid4().hex[:8]
    slices, results = f"/queue/controlroom.{namespace}.slices", f"/queue/controlroom.{namespace}.results"
    done = threading.Event()
    count = [0]

    def connection() -> stomp.Connection12:
        conn = stomp.Connection12([(host, port)], heartbeats=(10_000, 10_000))
        conn.connect(wait=True)
        conn.transport.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn

    class Worker(stomp.ConnectionListener):
        def __init__(self, conn: stomp.Connection12) -> None:
            self.conn = conn

        def on_message(self, frame: stomp.utils.Frame) -> None:
            self.conn.send(results, frame.body, content_type="application/json", headers={"persistent": "true"})
            self.conn.ack(frame.headers["ack"])

    class Collector(stomp.ConnectionListener):
        def __init__(self, conn: stomp.Connection12) -> None:
            self.conn = conn

        def on_message(self, frame: stomp.utils.Frame) -> None:
            self.conn.ack(frame.headers["ack"])
            count[0] += 1
            if count[0] == total:
                done.set()

    conns = []
    for n in range(WORKERS):
        conn = connection()
        conn.set_listener("w", Worker(conn))
        conn.subscribe(slices, id=f"w{n}", ack="client-individual", headers={"activemq.prefetchSize": str(prefetch)})
        conns.append(conn)
    collector = connection()
    collector.set_listener("c", Collector(collector))
    collector.subscribe(results, id="c", ack="client-individual", headers={"activemq.prefetchSize": "256"})
    dispatcher = connection()
    conns += [collector, dispatcher]
    started = time.perf_counter()
    for slice_id in range(total):
        dispatcher.send(slices, '{"slice_id":%d}' % slice_id, content_type="application/json",
                        headers={"persistent": "true"})
    done.wait(300)
    rate = total / (time.perf_counter() - started)
    for conn in conns:
        conn.disconnect()
    return rate


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] if len(values) > 1 else values[0]


async def run_embedded(total: int, prefetch: int, window: int) -> tuple[float, list[float]]:
    async with EmbeddedBus() as bus:
        return await slice_pattern(bus, [bus] * WORKERS, bus, total, prefetch, window)


async def run_activemq(host: str, port: int, total: int, prefetch: int, window: int) -> tuple[float, list[float]]:
    buses = [StompBus(host, port) for _ in range(WORKERS + 2)]
    for bus in buses:
        await bus.connect()
    try:
        return await slice_pattern(buses[0], buses[2:], buses[1], total, prefetch, window)
    finally:
        for bus in buses:
            await bus.close()


def answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def positive(text: str) -> int:
    """An argparse type: a count of at least 1 (0 slices would wait for a result that never comes)."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not a count: give 1 or more")
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--embedded", type=positive, default=5000, help="slices through the embedded bus")
    parser.add_argument("--activemq", type=positive, default=5000, help="slices through ActiveMQ")
    parser.add_argument("--prefetch", type=positive, default=8, help="worker prefetch")
    parser.add_argument("--window", type=positive, default=1000, help="most slices in flight (dispatched, no result yet)")
    parser.add_argument("--rounds", type=positive, default=2, help="ActiveMQ rounds (raw and bus alternate; best kept)")
    parser.add_argument("--stomp", default="127.0.0.1:61613", help="ActiveMQ STOMP address")
    args = parser.parse_args()
    host, _, port_text = args.stomp.partition(":")
    port = int(port_text)

    embedded_rate, embedded_lat = max(
        (asyncio.run(run_embedded(args.embedded, args.prefetch, args.window)) for _ in range(args.rounds)),
        key=lambda run: run[0],
    )
    print(f"embedded: {args.embedded} slices, {embedded_rate:,.0f} slices/s, "
          f"p50 {percentile(embedded_lat, 50):.2f} ms, p99 {percentile(embedded_lat, 99):.2f} ms (goal >= 5,000/s)")
    activemq_rate: float | None = None
    lat = embedded_lat
    if not answers(host, port):
        print(f"activemq: skipped, nothing answers on {host}:{port} (start it with .ci/activemq.sh start)")
    else:
        # alternate raw and bus rounds and keep each one's best: other jobs share this machine
        runs: list[tuple[float, float]] = []
        raws: list[tuple[float, float]] = []
        for _ in range(args.rounds):
            cpu = time.process_time()
            rate = raw_stomp_baseline(host, port, args.activemq, args.prefetch)
            raws.append((rate, (time.process_time() - cpu) / args.activemq * 1e6))
            cpu = time.process_time()
            rate, round_lat = asyncio.run(run_activemq(host, port, args.activemq, args.prefetch, args.window))
            runs.append((rate, (time.process_time() - cpu) / args.activemq * 1e6))
            if rate >= max(r for r, _ in runs):
                lat = round_lat
        activemq_rate, bus_cpu_us = max(runs)
        baseline, raw_cpu_us = max(raws)
        bus_cpu_us = min(c for _, c in runs)
        raw_cpu_us = min(c for _, c in raws)
        print(f"activemq: {args.activemq} slices, {activemq_rate:,.0f} slices/s, p50 {percentile(lat, 50):.2f} ms, "
              f"p99 {percentile(lat, 99):.2f} ms, {bus_cpu_us:.0f} µs client CPU/slice (goal >= 2,000/s)")
        print(f"activemq raw stomp.py on listener threads, same run: {baseline:,.0f} slices/s, "
              f"{raw_cpu_us:.0f} µs client CPU/slice; bus/raw rate {activemq_rate / baseline:.2f}")
    activemq_text = f"{activemq_rate:.0f}" if activemq_rate is not None else "skipped"
    print(f"slice_throughput embedded_per_s={embedded_rate:.0f} activemq_per_s={activemq_text} "
          f"p50_ms={percentile(lat, 50):.2f} p99_ms={percentile(lat, 99):.2f}")


if __name__ == "__main__":
    main()
