"""Lesson 15's room on Python's websockets (Debian's python3-websockets):
the peer of scripts/bench-ws.

/chat as the lesson's server has it: every message a member sends goes to
every member, the sender too; each member has a bounded outbox (256
messages, the lesson's queue_limit) emptied by a writer task of its own, and
a member whose outbox is full when one more comes is closed with 1008. With
--broadcast the room uses websockets.broadcast() instead, the library's own
fan-out (no outbox, no backpressure: what a slow member is not sent piles
up in its write buffer).

  python3 scripts/peers/websockets_chat.py --port 8000 [--broadcast]
      [--send-buffer BYTES]   SO_SNDBUF of each client's socket, as the
                              lesson's cfg.send_buffer

Prints "serving on http://127.0.0.1:PORT" once it listens; stops on SIGINT
or SIGTERM.
"""
import argparse
import asyncio
import signal
import socket

import websockets

QUEUE_LIMIT = 256


class Member:
    def __init__(self, ws):
        self.ws = ws
        self.outbox = asyncio.Queue(maxsize=QUEUE_LIMIT)
        self.closing = False

    async def write(self):
        try:
            while True:
                await self.ws.send(await self.outbox.get())
        except websockets.ConnectionClosed:
            pass

    def send(self, message):
        if self.closing:
            return
        try:
            self.outbox.put_nowait(message)
        except asyncio.QueueFull:  # not reading: let it go
            self.closing = True
            asyncio.create_task(self.ws.close(1008, "too slow: outbox full"))


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--broadcast", action="store_true")
    ap.add_argument("--send-buffer", type=int, default=0)
    args = ap.parse_args()

    room = set()       # Member, or the connections themselves with --broadcast

    async def queued(ws):
        member = Member(ws)
        room.add(member)
        writer = asyncio.create_task(member.write())
        try:
            async for message in ws:
                for other in list(room):
                    other.send(message)
        except websockets.ConnectionClosed:
            pass
        finally:
            room.discard(member)
            writer.cancel()

    async def broadcasting(ws):
        room.add(ws)
        try:
            async for message in ws:
                websockets.broadcast(room, message)
        except websockets.ConnectionClosed:
            pass
        finally:
            room.discard(ws)

    async def chat(ws, path):
        if args.send_buffer > 0:
            ws.transport.get_extra_info("socket").setsockopt(
                socket.SOL_SOCKET, socket.SO_SNDBUF, args.send_buffer)
        if path != "/chat":
            await ws.close(1008, "only /chat here")
            return
        await (broadcasting(ws) if args.broadcast else queued(ws))

    stop = asyncio.get_running_loop().create_future()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(
            sig, lambda: stop.done() or stop.set_result(None))
    async with websockets.serve(chat, "127.0.0.1", args.port,
                                max_size=2**20, compression=None):
        print(f"serving on http://127.0.0.1:{args.port}", flush=True)
        await stop


if __name__ == "__main__":
    asyncio.run(main())
