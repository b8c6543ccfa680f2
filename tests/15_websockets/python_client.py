#!/usr/bin/python3
"""Lesson 15's tests with a client nobody here wrote: Python's websockets
library (Debian's python3-websockets) against the lesson's server.

  python_client.py PORT SCENARIO

Prints what the library saw, a line per fact ("key: value", the value in
JSON), which the test compares with what it expects. Scenarios:
  echo      text, binary, 60 kB, a ping of its own, then a clean close (1000)
  chat      three clients in the room; each message reaches all three
  idle      sits 0.2 s while the server pings (the library answers), then echo
  shutdown  two clients print "ready" and wait: the test sends SIGTERM to the
            server, and each reports the close code it got
When the library is missing it prints "missing: ..." and exits 3.
"""
import asyncio
import json
import sys

try:
    import websockets
except ImportError:
    print('missing: "python3-websockets"', flush=True)
    sys.exit(3)

LIMIT = 2.0  # seconds for any one thing to happen


def connect(uri):
    # The library's own keep-alive stays off: the server's pings are what
    # these scenarios look at. It answers pings whatever this says.
    return websockets.connect(uri, ping_interval=None, close_timeout=LIMIT,
                              open_timeout=LIMIT)


async def recv(ws):
    return await asyncio.wait_for(ws.recv(), LIMIT)


async def echo(base):
    out = {}
    async with connect(base + "/echo") as ws:
        text = "a text from Python's websockets, with ünïcode in it"
        await ws.send(text)
        out["text"] = (await recv(ws)) == text
        blob = bytes(range(256)) * 8
        await ws.send(blob)
        out["binary"] = (await recv(ws)) == blob
        big = "0123456789" * 6_000  # the tests' limit is 64 kB
        await ws.send(big)
        out["big"] = (await recv(ws)) == big
        pong = await ws.ping(b"python pings the server")
        await asyncio.wait_for(pong, LIMIT)
        out["pong"] = True
        await ws.close(1000, "done, thank you")
        out["close_code"] = ws.close_code
    return out


async def chat(base):
    clients = [await connect(base + "/chat").__aenter__() for _ in range(3)]
    try:
        said = ["the first says hello to the room", "the second answers the room",
                "the third one, ünïcode included"]
        heard = [[] for _ in clients]
        for speaker, text in zip(clients, said):
            await speaker.send(text)
            for i, ws in enumerate(clients):
                heard[i].append(await recv(ws))
        return {"all_heard_all": all(h == said for h in heard)}
    finally:
        for ws in clients:
            await ws.close()


async def idle(base):
    async with connect(base + "/echo") as ws:
        await asyncio.sleep(0.2)
        text = "still here after the server's pings"
        await ws.send(text)
        ok = (await recv(ws)) == text
        await ws.close(1000)
        return {"echo_after_pings": ok, "close_code": ws.close_code}


async def shutdown(base):
    clients = [await connect(base + path).__aenter__() for path in ("/echo", "/chat")]
    print("ready", flush=True)
    codes = []
    for ws in clients:
        try:
            await asyncio.wait_for(ws.recv(), 3 * LIMIT)
            codes.append("a message instead of a close")
        except websockets.ConnectionClosed as e:
            codes.append(e.rcvd.code if e.rcvd else 1006)
        except asyncio.TimeoutError:
            codes.append("nothing")
    return {"codes": codes}


async def main():
    port, scenario = sys.argv[1], sys.argv[2]
    base = f"ws://127.0.0.1:{port}"
    run = {"echo": echo, "chat": chat, "idle": idle, "shutdown": shutdown}[scenario]
    try:
        result = await run(base)
    except Exception as e:  # what the library said went wrong
        result = {"error": f"{type(e).__name__}: {e}"}
    for key, value in result.items():
        print(f"{key}: {json.dumps(value, sort_keys=True, ensure_ascii=False)}", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
