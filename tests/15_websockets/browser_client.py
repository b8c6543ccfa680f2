#!/usr/bin/python3
"""Lesson 15's tests with a client nobody here wrote: headless Chromium's
WebSocket, on the page the lesson's server serves at GET /. Drives Chromium
over --remote-debugging-pipe as the docs check does (tests/docs/browser.py).

  browser_client.py PORT START_LIMIT

Prints what the page saw, a line per fact ("key: value", the value in
JSON): the echoes, the chat, how each socket closed and whether the close
was clean. When Chromium is missing, or does not start within START_LIMIT
seconds (a busy machine), it prints "skipped: why" and exits 3. With
ASYNCLINGS_KEPT_BROWSER=DIR (the tutor's watch mode sets it) it uses the
Chromium kept in DIR, starting it if it does not run (Browser.kept).
"""
import json
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs"))
from browser import Browser  # noqa: E402

PAGE_SCRIPT = r"""
(async () => {
  const limit = (what, promise, ms = 1000) => Promise.race([promise, new Promise((_, fail) =>
      setTimeout(() => fail(new Error("timed out: " + what)), ms))]);
  const open = (path) => new Promise((ok, fail) => {
    const w = new WebSocket(`ws://${location.host}${path}`);
    w.binaryType = "arraybuffer";
    w.onopen = () => ok(w);
    w.onerror = () => fail(new Error("could not open " + path));
  });
  const next = (w) => new Promise((ok) => { w.onmessage = (e) => ok(e.data); });
  const closed = (w) => new Promise((ok) => {
    w.onclose = (e) => ok({code: e.code, reason: e.reason, clean: e.wasClean});
  });
  const out = {};
  try {
    const echo = await limit("opening /echo", open("/echo"));
    let heard = next(echo);
    echo.send("hello from Chromium, a text of some length");
    out.text = await limit("the text echo", heard);
    heard = next(echo);
    echo.send(new Uint8Array([0, 1, 2, 250, 251, 252, 253, 254, 255]).buffer);
    out.binary = Array.from(new Uint8Array(await limit("the binary echo", heard)));
    let ended = closed(echo);
    echo.close(1000, "bye from the browser");
    out.echo_close = await limit("the close of /echo", ended);

    // The page's own socket to the room (`chat`, made by its script), and
    // a second one: both hear what the page says.
    if (chat.readyState !== WebSocket.OPEN)
      await limit("the page's chat", new Promise((ok) => chat.addEventListener("open", ok)));
    const other = await limit("opening /chat", open("/chat"));
    const mine = new Promise((ok) => chat.addEventListener("message", (e) => ok(e.data), {once: true}));
    heard = next(other);
    chat.send("the page says hello to the room");
    out.chat = [await limit("the room's message", heard), await limit("the page's own", mine)];
    ended = closed(other);
    other.close();
    out.chat_close = await limit("the close of /chat", ended);
  } catch (e) {
    out.error = String(e);
  }
  return out;
})()
"""


def drive(b, port, start_limit, started):
    try:
        target = b.send("Target.createTarget", {"url": "about:blank"},
                        timeout=start_limit)["targetId"]
    except TimeoutError:
        print(f'skipped: "Chromium did not start within {start_limit:g} s '
              '(the machine is busy)"', flush=True)
        if b.proc:
            b.proc.kill()
        sys.exit(3)
    b.target = target
    b.session = b.send("Target.attachToTarget",
                       {"targetId": target, "flatten": True})["sessionId"]
    for domain in ("Page", "Runtime"):
        b.send(f"{domain}.enable")
    b.open(f"http://127.0.0.1:{port}/", settle=0)  # the page script waits for what it needs
    result = b.send("Runtime.evaluate", {"expression": PAGE_SCRIPT, "awaitPromise": True,
                                         "returnByValue": True}, timeout=10)
    if "exceptionDetails" in result:
        out = {"error": str(result["exceptionDetails"])}
    else:
        out = result["result"].get("value") or {}
    for key, value in out.items():
        print(f"{key}: {json.dumps(value, sort_keys=True, ensure_ascii=False)}", flush=True)
    print(f"seconds: {time.monotonic() - started:.2f}", flush=True)


def main():
    port, start_limit = sys.argv[1], float(sys.argv[2])
    if not shutil.which("chromium"):
        print('skipped: "Chromium is not installed (scripts/setup docs)"', flush=True)
        sys.exit(3)
    started = time.monotonic()
    # The tutor's watch mode keeps one Chromium for its gradings (a cold
    # start takes a second or more): its folder is in this variable.
    kept = os.environ.get("ASYNCLINGS_KEPT_BROWSER")
    if kept:
        try:
            b = Browser.kept(kept, start_limit)
        except (TimeoutError, OSError, RuntimeError) as e:
            print(f'skipped: "the kept Chromium could not be reached: {e}"', flush=True)
            sys.exit(3)
        try:
            drive(b, port, start_limit, started)
        finally:
            b.close()
        return
    with tempfile.TemporaryDirectory(prefix="asynclings-ws-chromium-") as profile:
        b = Browser(profile)
        try:
            drive(b, port, start_limit, started)
        finally:
            b.close()


if __name__ == "__main__":
    main()
