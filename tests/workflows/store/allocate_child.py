"""Child process of the two-process allocation tests (run as a script, not collected).

Usage: python allocate_child.py URL SCHEMA|- executions|runs COUNT
Prints ``ready`` once the store is open, waits for a line on stdin, allocates COUNT ids and
prints them as one JSON list.
"""

from __future__ import annotations

import asyncio
import json
import sys


async def main(url: str, schema: str | None, kind: str, count: int) -> None:
    from workflows.store import Store

    async with Store.from_url(url, schema=schema) as store:
        print("ready", flush=True)
        await asyncio.to_thread(sys.stdin.readline)
        found: list[object] = []
        for _ in range(count):
            if kind == "executions":
                record = await store.executions.create("race", "ns", "bob", {}, "h", None, {}, False)
                found.append(record.execution_id)
            else:
                found.append(await store.runs.allocate_run_number())
        print(json.dumps(found), flush=True)


if __name__ == "__main__":
    url_arg, schema_arg, kind_arg, count_arg = sys.argv[1:5]
    asyncio.run(main(url_arg, None if schema_arg == "-" else schema_arg, kind_arg, int(count_arg)))
