"""A child process of test_postgres_processes.py: one PostgresStorage on a table, work
started by a ``go`` line (tools/children.py), one line of JSON out.

    python _pg_child.py DSN TABLE count N   # N count_hit on key "hits": prints the counts
    python _pg_child.py DSN TABLE lease N   # N increments of key "n" under lock()
"""

from __future__ import annotations

import asyncio
import json
import sys

from puregram.storage_postgres import PostgresStorage


async def main(dsn: str, table: str, mode: str, n: int) -> None:
    async with PostgresStorage.open(dsn, table=table, max_size=2) as store:
        print("ready", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        seen: list[int] = []
        for _ in range(n):
            if mode == "count":
                hits, _reset = await store.count_hit("hits", 60_000)
                seen.append(hits)
            else:
                async with store.lock("n", lease_ms=10_000) as lease:
                    value = int(lease.value or 0)
                    await asyncio.sleep(0)  # others run while the key is held
                    await lease.save(value + 1)
                    seen.append(value + 1)
        print(json.dumps(seen), flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])))
