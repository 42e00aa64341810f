"""A writer process for test_processes.py (run as a script, not collected by pytest).

python _child.py write PATH DRIVER WORKER COUNT BACKEND
    print "ready", wait for a line on stdin, then write COUNT keys and COUNT hits on
    the shared counter through SqliteStorage.open (the documented settings).
python _child.py stream PATH DRIVER SETTINGS
    write keys 0, 1, 2, ... forever; after each set() returns, print the key and
    flush, so that the parent knows which writes were acknowledged.
python _child.py abandon PATH DRIVER
    write keys a and b, then end without closing anything (os._exit), as a killed
    writer would: the -wal and -shm files stay beside the database.
python _child.py count PATH DRIVER COUNT BACKEND
    print "ready", wait for a line on stdin, then add 1 to the number at key "n" COUNT
    times, each a read-modify-write under lock("n"), from two tasks.
python _child.py hold PATH DRIVER LEASE_MS
    take lock("held") with LEASE_MS, print "held", and wait to be killed.
python _child.py read PATH DRIVER
    open PATH with read_only=True, print as JSON its entries, the error a set() raises
    and the errno of creating a file beside it.
"""

from __future__ import annotations

import importlib
import json
import os
import sys

from puregram.storage_sqlite import SqliteStorage


async def write(path: str, driver: str, worker: str, count: int) -> None:
    store = SqliteStorage.open(path, driver=importlib.import_module(driver))
    async with store:
        print("ready", flush=True)
        sys.stdin.readline()
        for index in range(count):
            await store.set(f"w{worker}:{index}", {"worker": worker, "index": index})
            await store.count_hit("shared", 600_000)


async def stream(path: str, driver: str, settings: str) -> None:
    module = importlib.import_module(driver)
    if settings == "connect":
        store = SqliteStorage.open(path, driver=module)
    else:  # a plain connection with the driver's implicit transactions
        store = SqliteStorage(db=module.connect(path))
    index = 0
    while True:
        key = f"k{index}"
        await store.set(key, {"index": index, "pad": "x" * 200})
        sys.stdout.write(f"{key}\n")
        sys.stdout.flush()
        index += 1


async def count_under_lock(path: str, driver: str, total: int, backend: str) -> None:
    store = SqliteStorage.open(path, driver=importlib.import_module(driver))

    async def add(times: int) -> None:
        for _ in range(times):
            async with store.lock("n", lease_ms=10_000) as lease:
                await lease.save((lease.value or 0) + 1)

    print("ready", flush=True)
    sys.stdin.readline()
    if backend == "trio":
        import trio

        async with trio.open_nursery() as nursery:
            nursery.start_soon(add, total // 2)
            nursery.start_soon(add, total - total // 2)
    else:
        import asyncio

        await asyncio.gather(add(total // 2), add(total - total // 2))
    await store.close()


async def hold(path: str, driver: str, lease_ms: int) -> None:
    store = SqliteStorage.open(path, driver=importlib.import_module(driver))
    async with store.lock("held", lease_ms=lease_ms) as lease:
        await lease.save("from the child")  # ends the lease: take it again and keep it
    async with store.lock("held", lease_ms=lease_ms):
        print("held", flush=True)
        sys.stdin.readline()  # until killed


async def abandon(path: str, driver: str) -> None:
    store = SqliteStorage.open(path, driver=importlib.import_module(driver))
    await store.set("a", 1)
    await store.set("b", {"n": 2})
    os._exit(0)


async def read(path: str, driver: str) -> None:
    module = importlib.import_module(driver)
    store = SqliteStorage.open(path, driver=module, read_only=True)
    entries = {key: value async for key, value in store.entries()}
    try:
        await store.set("c", 3)
        refused = ""
    except module.OperationalError as exc:
        refused = str(exc)
    await store.close()
    print(json.dumps({"entries": entries, "refused": refused, "probe": probe_folder(path)}))


def probe_folder(path: str) -> int:
    """The errno of creating a file beside ``path`` (0: it could be created)."""
    try:
        with open(os.path.join(os.path.dirname(path), "probe"), "w"):
            return 0
    except OSError as exc:
        return exc.errno or -1


def main() -> None:
    command, path, driver = sys.argv[1:4]
    backend = "asyncio"
    if command == "write":
        worker, count, backend = sys.argv[4], int(sys.argv[5]), sys.argv[6]
        job = write(path, driver, worker, count)
    elif command == "count":
        backend = sys.argv[5]
        job = count_under_lock(path, driver, int(sys.argv[4]), backend)
    elif command == "hold":
        job = hold(path, driver, int(sys.argv[4]))
    elif command == "abandon":
        job = abandon(path, driver)
    elif command == "read":
        job = read(path, driver)
    else:
        job = stream(path, driver, sys.argv[4])
    if backend == "trio":
        import trio

        trio.run(lambda: job)
    else:
        import asyncio

        asyncio.run(job)


if __name__ == "__main__":
    main()
