#!/usr/bin/python3
"""Lesson 14's benchmark peer (scripts/bench-db): the operations bench_db
runs through the lesson's code, through Python's aiosqlite instead (Debian's
python3-aiosqlite), on the same kind of database: one writer connection and
four reader connections (aiosqlite gives each a thread of its own), WAL,
synchronous=NORMAL, each write committed on its own (autocommit). Reads go
to the readers in turn. The loop's lag is measured as bench_db measures it:
a task that sleeps 1 ms and notes how late it wakes.

  aiosqlite_db.py --db shop.db [--reads 10000] [--writes 1000]
                  [--clients 64] [--readers 4] [--users 1000]

Operation k (0, 1, 2, ...) is a write when k % 11 == 10, else a read.
Prints one line of JSON, as bench_db does.
"""
import argparse
import asyncio
import json
import time

import aiosqlite


def is_write(k):
    return k % 11 == 10


def operations(reads, writes):
    k = r = w = 0
    while r < reads or w < writes:
        if is_write(k):
            w += 1
        else:
            r += 1
        k += 1
    return k


async def lag_monitor(state):
    loop = asyncio.get_running_loop()
    while not state["stop"]:
        due = loop.time() + 0.001
        await asyncio.sleep(0.001)
        state["worst"] = max(state["worst"], loop.time() - due)


async def main(args):
    writer = await aiosqlite.connect(args.db, isolation_level=None)
    await writer.execute("PRAGMA journal_mode = WAL")
    await writer.execute("PRAGMA synchronous = NORMAL")
    readers = []
    for _ in range(args.readers):
        r = await aiosqlite.connect(f"file:{args.db}?mode=ro", uri=True,
                                    isolation_level=None)
        await r.execute("PRAGMA synchronous = NORMAL")
        readers.append(r)

    total = operations(args.reads, args.writes)
    state = {"next": 0, "reads": 0, "writes": 0, "stop": False, "worst": 0.0}

    async def client():
        while state["next"] < total:
            k = state["next"]
            state["next"] += 1
            user = (k * 7919) % args.users + 1
            if is_write(k):
                await writer.execute(
                    "INSERT INTO orders (user_id, item, total) VALUES (?, ?, ?)",
                    (user, "a bench order", 1.5))
                state["writes"] += 1
            else:
                rows = await readers[k % len(readers)].execute_fetchall(
                    "SELECT id, name, email FROM users WHERE id = ?", (user,))
                if len(rows) != 1:
                    raise RuntimeError("a user is missing")
                state["reads"] += 1

    monitor = asyncio.create_task(lag_monitor(state))
    await asyncio.sleep(0.01)
    start = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(args.clients)))
    seconds = time.perf_counter() - start
    state["stop"] = True
    await monitor
    for c in [writer, *readers]:
        await c.close()
    done = state["reads"] + state["writes"]
    print(json.dumps({
        "side": "aiosqlite", "seconds": round(seconds, 4),
        "reads": state["reads"], "writes": state["writes"],
        "ops_per_s": round(done / seconds), "worst_lag_ms": round(state["worst"] * 1000, 2),
        "clients": args.clients, "readers": args.readers}))


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--db", required=True)
    p.add_argument("--reads", type=int, default=10_000)
    p.add_argument("--writes", type=int, default=1_000)
    p.add_argument("--clients", type=int, default=64)
    p.add_argument("--readers", type=int, default=4)
    p.add_argument("--users", type=int, default=1_000)
    asyncio.run(main(p.parse_args()))
