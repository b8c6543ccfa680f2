#!/usr/bin/python3
"""llhttp's request vectors, sent to the lessons' server over loopback.

llhttp (Node.js's HTTP parser) keeps its tests as Markdown: each a request as
bytes, and the log of what the parser made of it: messages completed, or an
error. This sends every strict request vector (type "request": no lenient
flags, no pausing) on a connection of its own to a server, reads what comes
back, and compares:

  - a vector llhttp rejects must get an error status (4xx or 5xx) and a
    closed connection, never a 2xx (llhttp's pause on an Upgrade is no
    rejection: a server may ignore Upgrade, RFC 9110 7.8);
  - a vector llhttp accepts must get one well-framed reply per message llhttp
    completed. A 404 or 405 is fine (the server has other routes). Another
    error status counts as right only for a reason the RFCs require or the
    server declares, named by the reply: 400 for an HTTP/1.1 request without
    Host (RFC 9112 3.2), 501 for a method it does not know (RFC 9110 15.6.2),
    505 for another version, 501 for a chunked body (declared: the course's
    servers read no chunked bodies), 400 for Transfer-Encoding with
    Content-Length (RFC 9112 6.3). Any other is listed as a disagreement.

  scripts/peers/llhttp_vectors.py LLHTTP [--server BINARY] [--verbose]

LLHTTP is a checkout of github.com/nodejs/llhttp (a work tree, or a git
directory: the files are read at HEAD). BINARY defaults to the benchmark's
build of the lessons' server (build/release/scripts/peers/bench_lesson_server:
scripts/bench builds it). Exit status 1 when a vector llhttp rejects is
accepted.
"""
import argparse
import json
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent

# An error status a request llhttp accepts may get, by the reason the reply
# gives: what the RFCs require, or what the server declares.
ALLOWED = {
    "HTTP/1.1 needs a Host header": "RFC 9112 3.2",
    "unknown method": "RFC 9110 15.6.2",
    "only HTTP/1.0 and HTTP/1.1 are supported": "RFC 9110 15.6.6",
    "Transfer-Encoding is not supported": "declared: no chunked bodies",
    "both Transfer-Encoding and Content-Length": "RFC 9112 6.3",
    "CONNECT is not supported": "RFC 9110 9.3.6: for proxies",
    "the target * is for OPTIONS only": "RFC 9112 3.2.4",
    "malformed target": "RFC 3986: not a character of a URI",
    "malformed HTTP version": "not HTTP: RTSP, ICE",
    "malformed request line": "HTTP/0.9, no version",
}


def read_vectors(llhttp):
    """(file, title, bytes, llhttp's log) of every strict request vector."""
    repo = Path(llhttp)
    names = ["connection", "content-length", "invalid", "method", "pipelining",
             "sample", "transfer-encoding", "uri"]
    out, skipped = [], 0
    for name in names:
        path = repo / "test" / "request" / f"{name}.md"
        if path.exists():
            text = path.read_text()
        else:
            text = subprocess.run(
                ["git", "--git-dir", str(repo), "show",
                 f"HEAD:test/request/{name}.md"],
                check=True, capture_output=True, text=True).stdout
        # A test: "### title", a meta comment, an http block, a log block.
        for m in re.finditer(
                r"^###? (.+?)\n(.*?)<!-- meta=(\{.*?\}) -->\s*```http\n(.*?)```"
                r"\s*```log\n(.*?)```", text, re.S | re.M):
            title, meta, raw, log = m.group(1), json.loads(m.group(3)), m.group(4), m.group(5)
            if meta.get("type") != "request" or "pause" in meta:
                continue
            if "${" in raw:  # inline JavaScript: not reproduced here
                skipped += 1
                continue
            out.append((name, title.strip(), to_bytes(raw), log))
    return out, skipped


def to_bytes(raw):
    """What llhttp's test/md-test.ts makes of an http block."""
    s = re.sub(r"\n\Z", "", raw)
    s = re.sub(r"\\(\r\n|\r|\n)", "", s)
    s = re.sub(r"\r\n|\r|\n", "\r\n", s)
    s = s.replace("\\r", "\r").replace("\\n", "\n").replace("\\t", "\t")
    s = s.replace("\\f", "\f")
    s = re.sub(r"\\x([0-9a-fA-F]+)", lambda m: chr(int(m.group(1), 16)), s)
    s = re.sub(r"\\([0-7]{1,3})", lambda m: chr(int(m.group(1), 8)), s)
    return s.encode("utf-8")  # as Buffer.from(input) in md-test.ts


def replies(port, data, limit=1.5):
    """Sends `data`, then reads until the server closes or goes quiet:
    (statuses of the final replies, closed?)."""
    with socket.create_connection(("127.0.0.1", port), timeout=limit) as s:
        s.sendall(data)
        got = b""
        closed = False
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            s.settimeout(max(0.05, deadline - time.monotonic()))
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            except ConnectionResetError:
                closed = True
                break
            if not chunk:
                closed = True
                break
            got += chunk
            # Quiet once every reply so far is whole: wait a little more.
            if statuses(got)[1]:
                deadline = min(deadline, time.monotonic() + 0.3)
    return statuses(got)[0], closed


def statuses(data):
    """The final replies in `data` as (status, reason), and whether it ends
    on a whole reply."""
    out, pos = [], 0
    while True:
        end = data.find(b"\r\n\r\n", pos)
        if end < 0:
            return out, pos == len(data)
        head = data[pos:end].decode("latin-1")
        m = re.match(r"HTTP/1\.[01] (\d{3})", head)
        if not m:
            return out, False
        status = int(m.group(1))
        length = re.search(r"(?im)^content-length: *(\d+)", head)
        n = int(length.group(1)) if length else 0
        body = data[end + 4:end + 4 + n].decode("latin-1")
        pos = end + 4 + n
        if status >= 200:
            reason = re.search(r'"error": "(.*)"', body)
            out.append((status, reason.group(1) if reason else ""))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="\n".join(__doc__.splitlines()[2:]))
    ap.add_argument("llhttp")
    ap.add_argument("--server",
                    default=str(ROOT / "build/release/scripts/peers/bench_lesson_server"))
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()

    vectors, skipped = read_vectors(args.llhttp)
    with tempfile.TemporaryDirectory() as data, socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        probe.close()
        server = subprocess.Popen([args.server, "--port", str(port), "--data", data],
                                  stdout=subprocess.DEVNULL)
        try:
            for _ in range(100):
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    time.sleep(0.05)
            agree, reasons, wrong = [], {}, []
            for name, title, data_bytes, log in vectors:
                error = re.search(r'error code=\d+ reason="(.*)"', log)
                rejects = bool(error) and not error.group(1).startswith("Pause on")
                messages = log.count("message complete")
                got, closed = replies(port, data_bytes)
                where = f"{name}.md: {title}"
                codes = [status for status, _ in got]
                if rejects:
                    after = codes[messages:]
                    ok = bool(after or closed) and all(c >= 400 for c in after)
                    ok = ok and (closed or not after)
                    (agree if ok else wrong).append((where, got, closed))
                    continue
                refused = [(c, r) for c, r in got if c >= 400 and c not in (404, 405)]
                unknown = [(c, r) for c, r in refused if r not in ALLOWED]
                if unknown or (len(got) < messages and not refused):
                    wrong.append((where, got, closed))
                else:
                    agree.append((where, got, closed))
                    for c, r in refused[:1]:
                        reasons.setdefault(f"{c} {r} ({ALLOWED[r]})", []).append(where)
        finally:
            server.send_signal(2)
            status = server.wait(timeout=10)
    total = len(vectors)
    print(f"{total} strict request vectors of llhttp ({skipped} skipped: inline JavaScript)")
    print(f"  {len(agree)} of {total} answered right")
    for reason, where in sorted(reasons.items()):
        print(f"    {len(where):3} refused with {reason}")
    for where, got, closed in wrong:
        print(f"  WRONG: {where}: the server answered {got}"
              f"{', then closed' if closed else ', connection kept'}")
    if args.verbose:
        for where, got, closed in agree:
            print(f"  ok: {where}: {got}{' (closed)' if closed else ''}")
    print(f"the server exited with status {status} on SIGINT")
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
