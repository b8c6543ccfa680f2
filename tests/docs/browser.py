#!/usr/bin/python3
"""Opens the built site in headless Chromium, from file:// as a reader
would, and checks what a reader sees: each lesson page renders with its
title, shows one SVG timeline per traced tut::run of its demo, and logs no
console error, uncaught exception or failed load; search finds a lesson.
Saves screenshots of one lesson page (light and dark) as artifacts.

  browser.py SITE CAPTURE SHOTS    (SITE: the HTML; CAPTURE: gen.py's capture/)

Talks to Chromium over --remote-debugging-pipe (the DevTools protocol on
file descriptors 3 and 4): no server, no port, standard library only.

Browser.kept(DIR) is a Chromium that outlives the script, for checks that
run again and again (the tutor's gradings of lesson 15): started once,
detached, with --remote-debugging-port=0 and its profile in DIR, and
reached over the DevTools WebSocket; each use opens a tab of its own. It
ends when nothing has used it for KEPT_IDLE_MIN minutes (a watcher
started beside it), or when its owner kills the pid in DIR/pid.
"""

import base64
import fcntl
import glob
import json
import os
import select
import socket
import struct
import subprocess
import sys
import tempfile
import time
import tomllib

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COMMON_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--hide-scrollbars"]
FLAGS = COMMON_FLAGS + ["--remote-debugging-pipe"]
KEPT_IDLE_MIN = 10


class WebSocketPipe:
    """The client side of one WebSocket (RFC 6455), text messages only:
    enough for the DevTools protocol of a local Chromium."""

    def __init__(self, port, path, timeout):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                           "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                           f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise RuntimeError("Chromium closed the DevTools connection")
            head += chunk
        head, _, self.buffer = head.partition(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 101"):
            raise RuntimeError("Chromium refused the DevTools WebSocket: " +
                               head.split(b"\r\n")[0].decode(errors="replace"))

    def send(self, text):
        payload = text.encode()
        n = len(payload)
        head = bytes([0x81])
        if n < 126:
            head += bytes([0x80 | n])
        elif n < 1 << 16:
            head += bytes([0x80 | 126]) + struct.pack("!H", n)
        else:
            head += bytes([0x80 | 127]) + struct.pack("!Q", n)
        mask = os.urandom(4)
        self.sock.sendall(head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))

    def _take(self, n, deadline):
        while len(self.buffer) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("Chromium did not answer in time")
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(1 << 16)
            except socket.timeout:
                raise TimeoutError("Chromium did not answer in time") from None
            if not chunk:
                raise RuntimeError("Chromium closed the DevTools connection")
            self.buffer += chunk
        out, self.buffer = self.buffer[:n], self.buffer[n:]
        return out

    def receive(self, deadline):
        message = b""
        while True:
            b0, b1 = self._take(2, deadline)
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack("!H", self._take(2, deadline))[0]
            elif n == 127:
                n = struct.unpack("!Q", self._take(8, deadline))[0]
            payload = self._take(n, deadline)  # a server's frames are not masked
            opcode = b0 & 0x0F
            if opcode == 0x8:
                raise RuntimeError("Chromium closed the DevTools connection")
            if opcode in (0x9, 0xA):  # ping, pong: nothing to do for this client
                continue
            message += payload
            if b0 & 0x80:
                return message

    def close(self):
        self.sock.close()


def _alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except OSError:
        return False


def _start_kept(folder):
    """Starts Chromium detached, its profile in folder, and a watcher that
    ends it after KEPT_IDLE_MIN minutes without use."""
    profile = os.path.join(folder, "profile")
    os.makedirs(profile, exist_ok=True)
    port_file = os.path.join(profile, "DevToolsActivePort")
    if os.path.exists(port_file):
        os.remove(port_file)
    with open(os.path.join(folder, "chromium.log"), "w") as log:
        proc = subprocess.Popen(
            ["chromium", *COMMON_FLAGS, "--remote-debugging-port=0",
             f"--user-data-dir={profile}", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log,
            start_new_session=True)
    with open(os.path.join(folder, "pid"), "w") as f:
        f.write(f"{proc.pid}\n")
    used = os.path.join(folder, "last-used")
    watcher = (f'while kill -0 {proc.pid} 2>/dev/null; do sleep 15; '
               f'if [ -z "$(find "$1" -mmin -{KEPT_IDLE_MIN} 2>/dev/null)" ]; then '
               f'kill {proc.pid}; fi; done')
    subprocess.Popen(["sh", "-c", watcher, "sh", used], stdin=subprocess.DEVNULL,
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                     start_new_session=True)
    return proc.pid


def _kept_endpoint(folder):
    """(port, path) of the kept Chromium's DevTools, if it runs."""
    try:
        with open(os.path.join(folder, "pid")) as f:
            pid = int(f.read().strip())
        with open(os.path.join(folder, "profile", "DevToolsActivePort")) as f:
            port, path = f.read().split("\n")[:2]
        return (int(port), path) if _alive(pid) else None
    except (OSError, ValueError):
        return None


class Browser:
    @classmethod
    def kept(cls, folder, start_limit):
        """The Chromium kept in folder, started first if it does not run."""
        os.makedirs(folder, exist_ok=True)
        deadline = time.monotonic() + start_limit
        with open(os.path.join(folder, "lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # one start at a time
            endpoint = _kept_endpoint(folder)
            if endpoint is None:
                _start_kept(folder)
                while endpoint is None:
                    if time.monotonic() > deadline:
                        raise TimeoutError("Chromium did not start in time")
                    time.sleep(0.02)
                    endpoint = _kept_endpoint(folder)
        with open(os.path.join(folder, "last-used"), "w"):
            pass  # the watcher reads its time
        b = cls.__new__(cls)
        b.proc = None
        b.pipe = WebSocketPipe(endpoint[0], endpoint[1], max(0.1, deadline - time.monotonic()))
        b.buffer = b""
        b.next_id = 0
        b.events = []
        b.session = None
        b.target = None
        return b

    def __init__(self, profile):
        self.pipe = None
        self.target = None
        self.log = open(os.path.join(profile, "chromium.log"), "w")
        cmd_r, self.cmd_w = os.pipe()
        self.res_r, res_w = os.pipe()
        # Out of the way of 3 and 4, where the child needs them.
        high_cmd = fcntl.fcntl(cmd_r, fcntl.F_DUPFD_CLOEXEC, 10)
        high_res = fcntl.fcntl(res_w, fcntl.F_DUPFD_CLOEXEC, 10)
        os.close(cmd_r)
        os.close(res_w)

        def fds():  # Chromium reads commands on fd 3 and answers on fd 4.
            os.dup2(high_cmd, 3)
            os.dup2(high_res, 4)

        self.proc = subprocess.Popen(
            ["chromium", *FLAGS, f"--user-data-dir={profile}", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self.log,
            preexec_fn=fds, pass_fds=(3, 4))
        os.close(high_cmd)
        os.close(high_res)
        self.buffer = b""
        self.next_id = 0
        self.events = []
        self.session = None

    def close(self):
        if self.pipe:  # a kept Chromium: close this use's tab only
            try:
                if self.target:
                    self.send("Target.closeTarget", {"targetId": self.target},
                              session=False, timeout=5)
            except Exception:
                pass
            self.pipe.close()
            return
        try:
            self.send("Browser.close", session=False, timeout=5)
        except Exception:
            pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def read_message(self, deadline):
        if self.pipe:
            return json.loads(self.pipe.receive(deadline))
        while b"\0" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("Chromium did not answer in time")
            ready, _, _ = select.select([self.res_r], [], [], left)
            if ready:
                chunk = os.read(self.res_r, 1 << 16)
                if not chunk:
                    raise RuntimeError("Chromium closed the DevTools pipe")
                self.buffer += chunk
        message, _, self.buffer = self.buffer.partition(b"\0")
        return json.loads(message)

    def send(self, method, params=None, session=True, timeout=20):
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params or {}}
        if session and self.session:
            message["sessionId"] = self.session
        if self.pipe:
            self.pipe.send(json.dumps(message))
        else:
            os.write(self.cmd_w, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self.read_message(deadline)
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            if "method" in reply:
                self.events.append(reply)

    def pump(self, seconds):
        """Collects events for a while."""
        deadline = time.monotonic() + seconds
        try:
            while True:
                self.events.append(self.read_message(deadline))
        except TimeoutError:
            pass

    def wait_event(self, method, timeout=20):
        deadline = time.monotonic() + timeout
        while True:
            for i, e in enumerate(self.events):
                if e.get("method") == method:
                    return self.events.pop(i)
            self.events.append(self.read_message(deadline))

    def evaluate(self, expression):
        result = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        if "exceptionDetails" in result:
            raise RuntimeError(f"evaluating {expression!r}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def open(self, url, settle=0.5):
        self.events = [e for e in self.events if not e.get("method", "").startswith("Page.")]
        self.send("Page.navigate", {"url": url})
        self.wait_event("Page.loadEventFired")
        self.pump(settle)  # let the theme's scripts run

    def problems(self):
        """Console errors, uncaught exceptions and failed loads so far."""
        found = []
        for e in self.events:
            method, p = e.get("method"), e.get("params", {})
            if method == "Runtime.exceptionThrown":
                d = p["exceptionDetails"]
                found.append("uncaught: " + d.get("exception", {}).get("description", d.get("text", "")))
            elif method == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert", "warning"):
                found.append(f"console.{p['type']}: " + " ".join(
                    str(a.get("value", a.get("description", ""))) for a in p.get("args", [])))
            elif method == "Log.entryAdded" and p["entry"].get("level") in ("error", "warning"):
                entry = p["entry"]
                found.append(f"{entry['level']}: {entry.get('text', '')} {entry.get('url', '')}".strip())
        self.events = [e for e in self.events if e.get("method") not in (
            "Runtime.exceptionThrown", "Runtime.consoleAPICalled", "Log.entryAdded")]
        return found

    def screenshot(self, path):
        data = self.send("Page.captureScreenshot", {"format": "png"})["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))


def main():
    site, capture, shots = (os.path.abspath(a) for a in sys.argv[1:4])
    with open(os.path.join(ROOT, "lessons", "lessons.toml"), "rb") as f:
        lessons = tomllib.load(f)["lesson"]
    os.makedirs(shots, exist_ok=True)
    failures = []

    def check(ok, message):
        print(("  ok    " if ok else "  FAIL  ") + message)
        if not ok:
            failures.append(message)

    with tempfile.TemporaryDirectory(prefix="asynclings-chromium-") as profile:
        b = Browser(profile)
        try:
            target = b.send("Target.createTarget", {"url": "about:blank"})["targetId"]
            b.session = b.send("Target.attachToTarget",
                               {"targetId": target, "flatten": True})["sessionId"]
            for domain in ("Page", "Runtime", "Log"):
                b.send(f"{domain}.enable")
            b.send("Emulation.setDeviceMetricsOverride",
                   {"width": 1400, "height": 1000, "deviceScaleFactor": 1, "mobile": False})

            b.open(f"file://{site}/index.html")
            check(b.evaluate("document.querySelector('h1') !== null"), "index.html renders")
            check(not b.problems(), "index.html: no console errors")

            traced_runs = {}
            for lesson in lessons:
                page = f"lessons/{lesson['dir']}.html"
                traced = sum(1 for p in glob.glob(os.path.join(capture, lesson["dir"], "run-*.json"))
                             if json.load(open(p)).get("tasks"))
                b.open(f"file://{site}/{page}")
                h1 = b.evaluate("(document.querySelector('article h1') || {}).textContent || ''")
                number = lesson["dir"][:2]
                check(h1.startswith(number), f"{page}: renders, titled '{h1.strip()[:60]}'")
                svgs = b.evaluate("document.querySelectorAll('figure.tl-figure svg.tl').length")
                bars = b.evaluate("document.querySelectorAll('svg.tl rect.tl-bar').length")
                check(svgs == traced and (traced == 0 or bars > 0),
                      f"{page}: {svgs} timeline SVGs for {traced} traced tut::run calls")
                problems = b.problems()
                check(not problems, f"{page}: no console errors" +
                      ("".join("\n          " + p for p in problems)))
                traced_runs[lesson["dir"]] = traced

            # Search from file:// (the index and worker come from a script).
            b.open(f"file://{site}/index.html?q=coroutine")
            deadline = time.monotonic() + 10
            hits = 0
            while time.monotonic() < deadline and not hits:
                hits = b.evaluate("document.querySelectorAll('.md-search-result__item').length")
                if not hits:
                    b.pump(0.2)
            check(hits > 0, f"search from file:// finds 'coroutine' ({hits} results)")
            check(not b.problems(), "search: no console errors")

            # Screenshots of the first lesson with two timelines or more.
            name = next((d for d, n in traced_runs.items() if n >= 2),
                        next((d for d, n in traced_runs.items() if n), None))
            if name:
                page = f"lessons/{name}.html"
                b.open(f"file://{site}/{page}")
                b.screenshot(os.path.join(shots, f"{name}.png"))
                b.evaluate("window.scrollTo(0, document.getElementById('timelines')"
                           ".getBoundingClientRect().top + window.scrollY - 70)")
                b.pump(0.3)
                b.screenshot(os.path.join(shots, f"{name}-timelines.png"))
                b.evaluate("document.body.setAttribute('data-md-color-scheme', 'slate')")
                b.pump(0.3)
                b.screenshot(os.path.join(shots, f"{name}-timelines-dark.png"))
                print(f"  screenshots: {shots}/{name}*.png")
        finally:
            b.close()

    if failures:
        print(f"docs: {len(failures)} browser check(s) failed", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
