#!/usr/bin/python3
"""Opens the built site in headless Chromium, from file:// as a reader
would, and checks what a reader sees: each lesson page renders with its
title, shows one SVG timeline per traced tut::run of its demo, and logs no
console error, uncaught exception or failed load; search finds a lesson.
Saves screenshots of one lesson page (light and dark) as artifacts.

  browser.py SITE CAPTURE SHOTS    (SITE: the HTML; CAPTURE: gen.py's capture/)

Talks to Chromium over --remote-debugging-pipe (the DevTools protocol on
file descriptors 3 and 4): no server, no port, standard library only.
"""

import base64
import fcntl
import glob
import json
import os
import select
import subprocess
import sys
import tempfile
import time
import tomllib

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars", "--remote-debugging-pipe"]


class Browser:
    def __init__(self, profile):
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

    def open(self, url):
        self.events = [e for e in self.events if not e.get("method", "").startswith("Page.")]
        self.send("Page.navigate", {"url": url})
        self.wait_event("Page.loadEventFired")
        self.pump(0.5)  # let the theme's scripts run

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
