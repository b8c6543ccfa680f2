"""Lesson 11's endpoints in FastAPI: the Python program lessons 10 and 11 translate.

Run with uvicorn, one worker (scripts/bench does this):

  BENCH_UPSTREAM=127.0.0.1:9000 BENCH_DATA_DIR=build/bench/data \
    /usr/bin/python3 -m uvicorn fastapi_app:app --app-dir scripts/peers \
    --host 127.0.0.1 --port 8000 --workers 1 --no-access-log

/sleep awaits asyncio.sleep, so a waiting request holds no thread; the
dashboard's three upstream calls run at once with asyncio.gather; files and
computing go to the thread pool (run_in_threadpool); /log answers at once
and leaves its job to BackgroundTasks. Standard library only besides
FastAPI: the upstream client is asyncio.open_connection.
"""
import asyncio
import json
import os
from pathlib import Path

from fastapi import BackgroundTasks, FastAPI, HTTPException, Query, Request
from starlette.concurrency import run_in_threadpool

app = FastAPI()

UPSTREAM_HOST, _, UPSTREAM_PORT = os.environ.get(
    "BENCH_UPSTREAM", "127.0.0.1:9000").rpartition(":")
DATA_DIR = Path(os.environ.get("BENCH_DATA_DIR", "data"))
UPSTREAM_TIMEOUT = 2.0
CPU_WORK = 200_000
JOB_LATENCY = 0.05


@app.get("/")
async def hello():
    return {"hello": "Asyncio"}


@app.get("/sleep")
async def sleep(ms: int = Query(100, ge=0, le=10_000)):
    await asyncio.sleep(ms / 1000)
    return {"slept_ms": ms}


async def get(path: str):
    """One GET to the upstream service on a connection of its own."""
    reader, writer = await asyncio.open_connection(UPSTREAM_HOST,
                                                   int(UPSTREAM_PORT))
    try:
        writer.write(f"GET {path} HTTP/1.1\r\nHost: {UPSTREAM_HOST}\r\n"
                     "Connection: close\r\n\r\n".encode())
        await writer.drain()
        response = await reader.read()
    finally:
        writer.close()
    head, _, body = response.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200 "):
        raise RuntimeError(f"GET {path}: {head[:12]!r}")
    return json.loads(body)


async def fetch(path: str):
    return await asyncio.wait_for(get(path), UPSTREAM_TIMEOUT)


@app.get("/dashboard/{user_id}")
async def dashboard(user_id: int):
    try:
        user, orders, recommendations = await asyncio.gather(
            fetch(f"/users/{user_id}"), fetch(f"/orders/{user_id}"),
            fetch(f"/recommendations/{user_id}"))
    except Exception:
        raise HTTPException(502, "an upstream service failed")
    return {"user": user, "orders": orders,
            "recommendations": recommendations}


def safe_name(name: str) -> bool:
    return (0 < len(name) <= 255 and not name.startswith(".")
            and not any(c in name for c in "/\\\0") and ".." not in name)


def save_file(path: Path, data: bytes):
    """Blocking: into a temporary file, flushed to the disk, renamed over."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{id(data)}")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


@app.post("/upload", status_code=201)
async def upload(request: Request, name: str = ""):
    if not safe_name(name):
        raise HTTPException(400, "a plain file name, please")
    body = await request.body()
    await run_in_threadpool(save_file, DATA_DIR / name, body)
    return {"saved": name, "bytes": len(body)}


def sum_primes_below(n: int) -> int:
    """Blocking and CPU-bound, by trial division."""
    total = 0
    for k in range(2, n):
        d = 2
        while d * d <= k:
            if k % d == 0:
                break
            d += 1
        else:
            total += k
    return total


@app.get("/cpu-heavy")
async def cpu_heavy():
    return {"result": await run_in_threadpool(sum_primes_below, CPU_WORK)}


def append_line(path: Path, line: str):
    with open(path, "a") as f:
        f.write(line.replace("\n", " ").replace("\r", " ") + "\n")


async def write_log(message: str):
    await asyncio.sleep(JOB_LATENCY)
    await run_in_threadpool(append_line, DATA_DIR / "log.txt", message)


@app.post("/log", status_code=202)
async def log(request: Request, background_tasks: BackgroundTasks):
    message = (await request.body()).decode(errors="replace")
    background_tasks.add_task(write_log, message)
    return {"queued": True}


DATA_DIR.mkdir(parents=True, exist_ok=True)
