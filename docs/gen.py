#!/usr/bin/python3
"""Generates the course's site: Markdown and SVG for mkdocs, made from
lessons/lessons.toml, the lesson READMEs and sources, the reference
solutions, and what the demos really print and do when they run.

  docs/gen.py --build BUILD --out OUT [--site SITE] [--bench FILE] [--keep-going]
  docs/gen.py --reuse --out OUT     again, from the output captured last time
  docs/gen.py --list-demos          the demo targets the site needs

Each lesson's demo (BUILD/tests/demo_NN_solution, the demo linked with the
reference solution) runs once, in real time, with TUT_TRACE_DIR set: every
tut::run in it leaves its trace as JSON, and each trace becomes an SVG
timeline. OUT gets mkdocs.yml, pages/ (the Markdown tree) and capture/
(the raw output and traces); `mkdocs build -f OUT/mkdocs.yml` makes SITE.
Nothing under OUT is edited by hand: the hand-written parts live in docs/.
"""

import argparse
import concurrent.futures
import difflib
import html
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import tomllib

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS = os.path.join(ROOT, "docs")


def fail(message):
    print(f"docs: {message}", file=sys.stderr)
    sys.exit(1)


def warn(message):
    print(f"docs: warning: {message}", file=sys.stderr)


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


# --------------------------------------------------------------------------
# The manifest: the one list of lessons, in order.

class Lesson:
    def __init__(self, entry):
        self.dir = entry["dir"]
        self.num = self.dir[:2]
        self.title = entry["title"]
        self.concepts = entry.get("concepts", [])
        self.python = entry.get("python", "")
        self.tasks = [t.get("title", "") for t in entry.get("task", [])]
        self.task_hints = [t.get("hints", []) for t in entry.get("task", [])]
        self.hints = entry.get("hints", [])
        self.page = f"lessons/{self.dir}.md"
        self.lesson_dir = os.path.join(ROOT, "lessons", self.dir)
        self.solution = os.path.join(ROOT, "solutions", self.dir, "exercise.cpp")
        self.demo = f"demo_{self.num}_solution"


def load_manifest():
    path = os.path.join(ROOT, "lessons", "lessons.toml")
    with open(path, "rb") as f:
        manifest = tomllib.load(f)
    lessons = [Lesson(e) for e in manifest.get("lesson", [])]
    if not lessons:
        fail(f"{path} lists no [[lesson]]")
    for lesson in lessons:
        if not re.fullmatch(r"[0-9]{2}_\w+", lesson.dir):
            fail(f"lesson dir '{lesson.dir}' must look like NN_topic")
        for required in ("README.md", "exercise.cpp", "main.cpp"):
            if not os.path.isfile(os.path.join(lesson.lesson_dir, required)):
                fail(f"lesson {lesson.dir}: missing lessons/{lesson.dir}/{required}")
        if not os.path.isfile(lesson.solution):
            fail(f"lesson {lesson.dir}: missing solutions/{lesson.dir}/exercise.cpp")
    return lessons


# --------------------------------------------------------------------------
# Running the demos: real output and one trace per tut::run.

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def demo_binary(lesson, build):
    return os.path.join(build, "tests", lesson.demo)


def run_demo(lesson, build, capture, time_limit):
    binary = demo_binary(lesson, build)
    out_dir = os.path.join(capture, lesson.dir)
    shutil.rmtree(out_dir, ignore_errors=True)
    os.makedirs(out_dir)
    if not os.access(binary, os.X_OK):
        status = {"binary": lesson.demo, "seconds": 0, "exit": 127,
                  "stopped": f"was not run: {lesson.demo} is not built",
                  "date": time.strftime("%Y-%m-%d %H:%M %Z")}
        write(os.path.join(out_dir, "status.json"), json.dumps(status, indent=1) + "\n")
        return status
    env = dict(os.environ, TUT_TRACE_DIR=out_dir, NO_COLOR="1", TERM="dumb")
    started = time.monotonic()
    stopped = None
    with open(os.path.join(out_dir, "output.txt"), "wb") as out:
        proc = subprocess.Popen([binary], cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                                stdout=out, stderr=subprocess.STDOUT)
        try:
            proc.wait(timeout=time_limit)
        except subprocess.TimeoutExpired:
            # A server demo stops gracefully on SIGINT; anything else is killed.
            stopped = f"stopped with SIGINT after {time_limit:g} s"
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                stopped = f"killed after {time_limit:g} s"
                proc.kill()
                proc.wait()
    status = {
        "binary": lesson.demo,
        "seconds": round(time.monotonic() - started, 2),
        "exit": proc.returncode,
        "stopped": stopped,
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
    }
    write(os.path.join(out_dir, "status.json"), json.dumps(status, indent=1) + "\n")
    return status


def exit_text(code):
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit status {code}"


def load_capture(lesson, capture):
    out_dir = os.path.join(capture, lesson.dir)
    try:
        status = json.loads(read(os.path.join(out_dir, "status.json")))
    except FileNotFoundError:
        fail(f"lesson {lesson.dir}: nothing captured in {out_dir}; run without --reuse")
    output = read(os.path.join(out_dir, "output.txt")) if os.path.exists(
        os.path.join(out_dir, "output.txt")) else ""
    traces = []
    k = 1
    while os.path.exists(os.path.join(out_dir, f"run-{k}.json")):
        traces.append(json.loads(read(os.path.join(out_dir, f"run-{k}.json"))))
        k += 1
    return status, ANSI.sub("", output), traces


# --------------------------------------------------------------------------
# SVG timelines, one per tut::run: a row per task on a shared time axis,
# coloured by how the task ended, and how many ran at once.

def fmt_seconds(s):
    if s == 0:
        return "0"
    if s < 1:
        ms = s * 1000
        return f"{ms:.0f} ms" if ms >= 10 else f"{ms:.1f} ms".replace(".0 ms", " ms")
    return f"{s:.2f} s" if s < 10 else f"{s:.1f} s"


def fmt_tick(s):
    if s == 0:
        return "0 s"
    if s < 1:
        return f"{s * 1000:g} ms"
    return f"{s:g} s"


def tick_step(span):
    raw = span / 6
    p = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 5, 10):
        if m * p >= raw:
            return m * p
    return 10 * p


def trace_span(trace):
    span = trace.get("elapsed", 0) or 0
    for t in trace.get("tasks", []):
        span = max(span, t.get("end") or t["start"])
    return span if span > 0 else 1e-3


def concurrency_steps(trace):
    """(time, running) after each change, ends before starts at equal times."""
    edges = []
    for t in trace["tasks"]:
        end = t["end"] if t.get("end") is not None else trace_span(trace)
        if end <= t["start"]:
            continue  # a point event, not a task that ran
        edges.append((t["start"], 1))
        edges.append((end, -1))
    edges.sort()
    steps, now = [(0.0, 0)], 0
    for at, step in edges:
        now += step
        if steps and steps[-1][0] == at:
            steps[-1] = (at, now)
        else:
            steps.append((at, now))
    return steps


def clip(text, width_px, char_px=6.6):
    n = max(0, int(width_px / char_px))
    return text if len(text) <= n else (text[: max(0, n - 1)] + "…" if n > 1 else "")


def name_width(traces):
    """Room for the longest row name, so that the timelines of a page align."""
    names = ["at once"]
    for t in traces:
        names += [task["name"] for task in t.get("tasks", [])]
        names += ["loop blocked"] if t.get("blocks") else []
    return min(max(max(len(n) for n in names) * 7.2 + 14, 64), 220)


def render_svg(trace, uid, span=None, names_w=None, standalone=False):
    e = html.escape
    tasks = trace.get("tasks", [])
    blocks = trace.get("blocks", [])
    span = max(span or 0, trace_span(trace))
    width = 900
    pad = 10
    name_w = names_w or name_width([trace])
    label_w = 230
    x0, x1 = pad + name_w, width - pad - label_w
    # Many tasks: thinner rows, and a name on every few only (all of them
    # have a tooltip).
    rows = len(tasks) + (1 if blocks else 0)
    row_h = 24 if rows <= 16 else max(4.0, 384 / rows)
    bar_h = 14 if rows <= 16 else max(2.0, row_h * 0.7)
    label_every = max(1, math.ceil(13 / row_h))

    def x(at):
        return x0 + (x1 - x0) * min(max(at, 0), span) / span

    out = []
    y = 18
    # The time axis and its grid.
    step = tick_step(span)
    ticks = []
    k = 0
    while k * step <= span * 1.0001:
        ticks.append(k * step)
        k += 1
    rows_top = y + 8
    rows_bottom = rows_top + row_h * (len(tasks) + (1 if blocks else 0))
    conc_h = 30
    conc_top = rows_bottom + 8
    conc_bottom = conc_top + conc_h
    for at in ticks:
        xt = x(at)
        out.append(f'<line class="tl-grid" x1="{xt:.1f}" y1="{rows_top - 4}" '
                   f'x2="{xt:.1f}" y2="{conc_bottom}"/>')
        anchor = "start" if at == 0 else "middle"
        out.append(f'<text class="tl-tick" x="{xt:.1f}" y="{y}" '
                   f'text-anchor="{anchor}">{e(fmt_tick(at))}</text>')
    out.append(f'<line class="tl-axis" x1="{x0}" y1="{rows_top - 4}" '
               f'x2="{x1}" y2="{rows_top - 4}"/>')

    fills = {"done": "tl-done", "failed": "tl-failed",
             "cancelled": "tl-cancelled", "running": "tl-running"}
    for i, t in enumerate(tasks):
        top = rows_top + i * row_h
        mid = top + row_h / 2
        start = t["start"]
        ended = t.get("end") is not None
        end = t["end"] if ended else trace.get("elapsed", span)
        outcome = t.get("outcome", "running") if ended else "running"
        duration = (end - start) if ended else None
        # When it ended, and how long it ran when it did not start at 0
        # (the terminal's timelines say the same).
        when = fmt_seconds(end) if ended else ""
        if ended and start > 0.02 * end:
            when += f" · ran {fmt_seconds(duration)}"
        if outcome == "done":
            label = f"ended {when}"
        elif outcome == "failed":
            label = f"failed {when}"
        elif outcome == "cancelled":
            label = f"cancelled {when}"
        else:
            label = "still running"
        tip = f'{t["name"]}: {label}, from {fmt_seconds(start)} to {fmt_seconds(end)}'
        if t.get("error"):
            tip += f': {t["error"]}'
        labelled = i % label_every == 0
        if labelled:
            out.append(f'<text class="tl-name" x="{x0 - 8}" y="{mid + 4:.1f}" '
                       f'text-anchor="end">{e(clip(t["name"], name_w - 10))}</text>')
        bx = x(start)
        bw = max(x(end) - bx, 2)
        cls = fills.get(outcome, "tl-running")
        out.append(f'<rect class="tl-bar {cls}" x="{bx:.1f}" y="{mid - bar_h / 2:.1f}" '
                   f'width="{bw:.1f}" height="{bar_h}" rx="2">'
                   f'<title>{e(tip)}</title></rect>')
        if cls in ("tl-cancelled", "tl-running"):
            out.append(f'<rect class="tl-hatch" x="{bx:.1f}" y="{mid - bar_h / 2:.1f}" '
                       f'width="{bw:.1f}" height="{bar_h}" rx="2" '
                       f'fill="url(#{uid}-hatch)"/>')
        if t.get("error") and labelled:
            room = x1 - (bx + bw) - 8
            if room > 60:
                out.append(f'<text class="tl-error" x="{bx + bw + 6:.1f}" y="{mid + 4:.1f}">'
                           f'{e(clip(t["error"], room))}</text>')
        for ev in t.get("events", []):
            ex = x(ev["at"])
            r = min(6.0, bar_h / 2 + 2)
            out.append(f'<path class="tl-event" d="M{ex:.1f} {mid - r:.1f} l{r * 5 / 6:.1f} {r:.1f} '
                       f'l{-r * 5 / 6:.1f} {r:.1f} l{-r * 5 / 6:.1f} {-r:.1f} z">'
                       f'<title>{e(ev["what"])} at {e(fmt_seconds(ev["at"]))}</title></path>')
        right = label
        if t.get("events"):
            right += "  ◆ " + ", ".join(ev["what"] for ev in t["events"])
        if label_every == 1:
            out.append(f'<text class="tl-label tl-label-{outcome}" x="{x1 + 10}" '
                       f'y="{mid + 4:.1f}">{e(clip(right, label_w - 12))}</text>')
    if label_every > 1:  # too many rows to label each: count them instead
        counts = {}
        for t in tasks:
            o = t.get("outcome", "running") if t.get("end") is not None else "running"
            counts[o] = counts.get(o, 0) + 1
        for n, o in enumerate(o for o in ("done", "failed", "cancelled", "running") if o in counts):
            word = "still running" if o == "running" else o
            out.append(f'<text class="tl-label tl-label-{o}" x="{x1 + 10}" '
                       f'y="{rows_top + 12 + 16 * n}">{counts[o]} {word}</text>')
    if blocks:
        top = rows_top + len(tasks) * row_h
        mid = top + row_h / 2
        out.append(f'<text class="tl-name" x="{x0 - 8}" y="{mid + 4:.1f}" '
                   f'text-anchor="end">loop blocked</text>')
        longest = max(b["duration"] for b in blocks)
        for b in blocks:
            bx = x(b["at"])
            bw = max(x(b["at"] + b["duration"]) - bx, 2)
            out.append(f'<rect class="tl-bar tl-blocked" x="{bx:.1f}" y="{mid - bar_h / 2:.1f}" '
                       f'width="{bw:.1f}" height="{bar_h}"><title>the loop was held '
                       f'for {e(fmt_seconds(b["duration"]))}</title></rect>')
        n = len(blocks)
        out.append(f'<text class="tl-label tl-label-failed" x="{x1 + 10}" y="{mid + 4:.1f}">'
                   f'{n} time{"s" if n != 1 else ""}, longest {e(fmt_seconds(longest))}</text>')

    # How many tasks were running at each moment.
    steps = concurrency_steps(trace)
    top_count = max([n for _, n in steps] + [1])
    peak = trace.get("peak", top_count)
    d = [f"M{x0:.1f} {conc_bottom}"]
    for i, (at, n) in enumerate(steps):
        xs = x(at)
        ys = conc_bottom - conc_h * n / top_count
        prev_y = conc_bottom - conc_h * (steps[i - 1][1] / top_count) if i else conc_bottom
        d.append(f"L{xs:.1f} {prev_y:.1f} L{xs:.1f} {ys:.1f}")
    d.append(f"L{x(trace_span(trace)):.1f} {conc_bottom} Z")
    out.append(f'<path class="tl-conc" d="{" ".join(d)}"><title>tasks running at once '
               f'(peak {peak})</title></path>')
    out.append(f'<line class="tl-axis" x1="{x0}" y1="{conc_bottom}" x2="{x1}" '
               f'y2="{conc_bottom}"/>')
    out.append(f'<text class="tl-name" x="{x0 - 8}" y="{conc_bottom - 4}" '
               f'text-anchor="end">at once</text>')
    out.append(f'<text class="tl-label tl-peak" x="{x1 + 10}" y="{conc_bottom - 4}">'
               f'peak {peak} running</text>')
    height = conc_bottom + 24
    total = trace.get("elapsed", 0)
    out.append(f'<text class="tl-total" x="{x0}" y="{height - 6}">total '
               f'{e(fmt_seconds(total))}</text>')

    style = f"<style>{read(TIMELINE_CSS)}</style>" if standalone else ""
    defs = (f'<defs><pattern id="{uid}-hatch" width="6" height="6" '
            f'patternUnits="userSpaceOnUse" patternTransform="rotate(45)">'
            f'<rect class="tl-hatch-line" width="2" height="6"/></pattern></defs>')
    title = f"timeline: {len(tasks)} task{'s' if len(tasks) != 1 else ''}, total " \
            f"{fmt_seconds(total)}, peak {peak} running at once"
    return (f'<svg class="tl" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
            f'width="{width}" height="{height}" role="img" aria-label="{e(title)}">'
            f'<title>{e(title)}</title>{style}{defs}{"".join(out)}</svg>')


# The timelines' look, shared by the pages (as a stylesheet) and the SVG
# files (embedded). In a page the colours follow its scheme, light or dark.
TIMELINE_CSS = os.path.join(DOCS, "assets", "timeline.css")


LEGEND = (
    '<div class="tl-legend">'
    '<span class="tl-key tl-key-done"></span> done '
    '<span class="tl-key tl-key-failed"></span> failed '
    '<span class="tl-key tl-key-cancelled"></span> cancelled '
    '<span class="tl-key tl-key-running"></span> still running '
    '<span class="tl-key-event">◆</span> event (<code>tut::note</code>) '
    '<span class="tl-key tl-key-conc"></span> tasks running at once'
    '</div>')


def group_spans(traces):
    """Consecutive runs of similar length share one time axis, so that
    "3 s instead of 6 s" shows as a bar half as long."""
    spans = [trace_span(t) for t in traces]
    shared = list(spans)
    i = 0
    while i < len(spans):
        j = i + 1
        while j < len(spans) and max(spans[i:j + 1]) <= 4 * min(spans[i:j + 1]):
            j += 1
        for k in range(i, j):
            shared[k] = max(spans[i:j])
        i = j
    return shared


# --------------------------------------------------------------------------
# Markdown helpers.

FENCE = re.compile(r"^(`{3,}|~{3,})\s*([\w+#-]*)(.*)$")


def split_fences(text):
    """[("text", lines) | ("fence", lang, body lines, all lines)]."""
    parts, cur, lines = [], [], text.split("\n")
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            cur.append(lines[i])
            i += 1
            continue
        mark = m.group(1)
        j = i + 1
        while j < len(lines) and not re.fullmatch(
                re.escape(mark[0]) + "{%d,}\\s*" % len(mark), lines[j]):
            j += 1
        if cur:
            parts.append(("text", cur))
            cur = []
        parts.append(("fence", m.group(2).lower(), lines[i + 1:j], lines[i:j + 1]))
        i = j + 1
    if cur:
        parts.append(("text", cur))
    return parts


def fence(code, lang, attrs=""):
    longest = max([len(r) for r in re.findall(r"`+", code)] + [2])
    mark = "`" * max(3, longest + 1)
    head = f"{mark}{lang}" + (f" {attrs}" if attrs else "")
    return f"{head}\n{code.rstrip()}\n{mark}"


def indent(text, n=4):
    return "\n".join((" " * n + line) if line.strip() else "" for line in text.split("\n"))


def escape_outside_code(text):
    """HTML-escape prose but leave `code spans` to Markdown."""
    pieces = re.split(r"(`+[^`]*`+)", text)
    return "".join(p if p.startswith("`") else html.escape(p, quote=False) for p in pieces)


PYTHON = ("python", "py", "python3")
CPP = ("cpp", "c++", "cxx", "cc")


def side_by_side(text):
    """A ```python block followed by a ```cpp block: shown side by side."""
    parts = split_fences(text)
    out = []
    i = 0
    while i < len(parts):
        p = parts[i]
        if p[0] == "fence" and p[1] in PYTHON:
            j = i + 1
            while j < len(parts) and parts[j][0] == "text" and not "".join(parts[j][1]).strip():
                j += 1
            if j < len(parts) and parts[j][0] == "fence" and parts[j][1] in CPP:
                py = "\n".join(p[2])
                cpp = "\n".join(parts[j][2])
                out.append('<div class="side-by-side" markdown>\n\n'
                           + fence(py, "python", 'title="Python · asyncio"') + "\n\n"
                           + fence(cpp, "cpp", 'title="C++ · Asio"') + "\n\n</div>")
                i = j + 1
                continue
        out.append("\n".join(p[3] if p[0] == "fence" else p[1]))
        i += 1
    return "\n".join(out)


def table_code_pipes(text):
    """GitHub needs `a \\|\\| b` for a pipe inside a code span in a table;
    Python-Markdown's tables already leave pipes inside backticks alone and
    would show the backslashes. Outside fences, in table rows only."""
    def row(line):
        if not line.lstrip().startswith("|"):
            return line
        return re.sub(r"`[^`]*`", lambda m: m.group(0).replace("\\|", "|"), line)

    return "\n".join(
        "\n".join(row(l) for l in p[1]) if p[0] == "text" else "\n".join(p[3])
        for p in split_fences(text))


def sections(markdown_text):
    """Heading text -> (level, body lines up to the next heading as high)."""
    lines = markdown_text.split("\n")
    found, in_fence = {}, None
    heads = []
    for i, line in enumerate(lines):
        m = FENCE.match(line)
        if m and in_fence is None:
            in_fence = m.group(1)[0]
            continue
        if in_fence and line.strip().startswith(in_fence * 3):
            in_fence = None
            continue
        if in_fence:
            continue
        h = re.match(r"^(#{1,6})\s+(.*?)\s*#*\s*$", line)
        if h:
            heads.append((i, len(h.group(1)), h.group(2)))
    for n, (i, level, title) in enumerate(heads):
        end = len(lines)
        for (k, lv, _) in heads[n + 1:]:
            if lv <= level:
                end = k
                break
        found[title] = (level, lines[i + 1:end])
    intro_end = next((i for (i, lv, _) in heads if lv >= 2), len(lines))
    first = heads[0][0] + 1 if heads and heads[0][1] == 1 else 0
    found[":intro"] = (1, lines[first:intro_end])
    return found


def relevel(lines, shift):
    out, in_fence = [], None
    for line in lines:
        m = FENCE.match(line)
        if m and in_fence is None:
            in_fence = m.group(1)[0]
        elif in_fence and line.strip().startswith(in_fence * 3):
            in_fence = None
        elif not in_fence:
            h = re.match(r"^(#{1,6})(\s.*)$", line)
            if h:
                line = "#" * min(6, max(1, len(h.group(1)) + shift)) + h.group(2)
        out.append(line)
    return out


def link_definitions(markdown_text):
    return [l for l in markdown_text.split("\n") if re.match(r"^\[[^\]]+\]:\s+\S+", l)]


class Links:
    """Rewrites links between repository files into links between pages."""

    def __init__(self, lessons):
        self.pages = {l.dir: l.page for l in lessons}

    def target(self, repo_path):
        parts = repo_path.strip("/").split("/")
        if repo_path in ("README.md", ""):
            return "index.md"
        if len(parts) >= 2 and parts[0] in ("lessons", "solutions") and parts[1] in self.pages:
            page = self.pages[parts[1]]
            rest = parts[2] if len(parts) > 2 else ""
            anchor = {"exercise.cpp": "#the-exercise", "main.cpp": "#the-demo"}.get(rest, "")
            if parts[0] == "solutions":
                anchor = "#solution"
            return page + anchor
        return None

    def rewrite(self, text, from_repo_dir, from_page):
        """Rewrites the links in `text`, outside code blocks."""
        return "\n".join(
            self.rewrite_text("\n".join(p[1]), from_repo_dir, from_page) if p[0] == "text"
            else "\n".join(p[3]) for p in split_fences(text))

    def rewrite_text(self, text, from_repo_dir, from_page):
        page_dir = os.path.dirname(from_page)

        def fix(m):
            url = m.group(2)
            if re.match(r"^[a-z]+:|^#|^/", url):
                return m.group(0)
            path, _, anchor = url.partition("#")
            repo_path = os.path.normpath(os.path.join(from_repo_dir, path))
            target = self.target(repo_path if repo_path != "." else "")
            if target is None:
                return m.group(0)
            rel = os.path.relpath(target.split("#")[0], page_dir or ".")
            frag = "#" + anchor if anchor else ("#" + target.split("#")[1] if "#" in target else "")
            return f"{m.group(1)}({rel}{frag})"

        return re.sub(r"(\]|\]\s?)\(([^)\s]+)\)", fix, text)


# --------------------------------------------------------------------------
# Source files as pages: comment paragraphs beside the code they describe
# (Go by Example's layout), prose on the left, code on the right.

def source_segments(source):
    segments, doc, code = [], [], []
    for line in source.rstrip("\n").split("\n"):
        m = re.match(r"^//(?: ?)(.*)$", line)
        if m:
            if any(c.strip() for c in code):
                segments.append((doc, code))
                doc, code = [], []
            doc.append(m.group(1))
        else:
            code.append(line)
    segments.append((doc, code))
    out = []
    for doc, code in segments:
        while code and not code[0].strip():
            code.pop(0)
        while code and not code[-1].strip():
            code.pop()
        if doc or code:
            out.append((doc, code))
    return out


def todo_lines(code):
    """1-based numbers of the `// TODO:` lines and the comment lines that go on with them."""
    marked, in_todo, width = [], False, 0
    for n, line in enumerate(code, 1):
        stripped = line.lstrip()
        if "// TODO" in line:
            in_todo, width = True, len(line) - len(stripped)
            marked.append(n)
        elif in_todo and stripped.startswith("//") and len(line) - len(stripped) == width:
            marked.append(n)
        else:
            in_todo = False
    return marked


def doc_markdown(lines):
    paragraphs, cur = [], []
    for line in lines:
        if line.strip():
            cur.append(line.strip() if not line.startswith("  ") else line)
        elif cur:
            paragraphs.append(cur)
            cur = []
    if cur:
        paragraphs.append(cur)
    out = []
    for p in paragraphs:
        if all(l.startswith("  ") for l in p):  # an indented table or command
            out.append(fence("\n".join(l[2:] for l in p), "text"))
        else:
            out.append(escape_outside_code(" ".join(l.strip() for l in p)))
    return "\n\n".join(out)


def source_page(source, filename, mark_todos=False):
    rows = []
    for i, (doc, code) in enumerate(source_segments(source)):
        attrs = []
        if i == 0:
            attrs.append(f'title="{filename}"')
        if mark_todos:
            marked = todo_lines(code)
            if marked:
                attrs.append('hl_lines="' + " ".join(map(str, marked)) + '"')
        doc_md = doc_markdown(doc)
        code_md = fence("\n".join(code), "cpp", " ".join(attrs)) if code else ""
        rows.append('<div class="gbe-row" markdown>\n'
                    f'<div class="gbe-doc" markdown>\n\n{doc_md}\n\n</div>\n'
                    f'<div class="gbe-code" markdown>\n\n{code_md}\n\n</div>\n</div>')
    return '<div class="gbe" markdown>\n\n' + "\n\n".join(rows) + "\n\n</div>"


# --------------------------------------------------------------------------
# Pages.

HINT_NAMES = ["a nudge", "the API", "the shape"]


COMMON_INCLUDE = re.compile(r'^#include "common/([\w./]+)"', re.M)


def given_files(lesson):
    """The files a learner reads beside the exercise, in reading order: the
    interface, the lesson's given code, then what it uses of lessons/common."""
    files = [("lesson.hpp", os.path.join(lesson.lesson_dir, "lesson.hpp"))]
    given = os.path.join(lesson.lesson_dir, "given")
    if os.path.isdir(given):
        names = sorted(os.listdir(given), key=lambda n: (not n.endswith(".hpp"), n))
        files += [(f"given/{n}", os.path.join(given, n)) for n in names
                  if os.path.isfile(os.path.join(given, n))]
    seen, queue = set(), [path for _, path in files] + [
        os.path.join(lesson.lesson_dir, "exercise.cpp")]
    common = []
    while queue:
        for name in COMMON_INCLUDE.findall(read(queue.pop(0))):
            if name not in seen:
                seen.add(name)
                path = os.path.join(ROOT, "lessons", "common", name)
                if os.path.isfile(path):
                    common.append((f"common/{name}", path))
                    queue.append(path)
    return files + common


def given_section(lesson):
    files = given_files(lesson)
    md = ["## What you work with {#given}", "",
          "The interface your code implements (`lesson.hpp`) and the code given "
          "to you, as they are in the repository: "
          f"`lessons/{lesson.dir}/` and `lessons/common/`.", ""]
    for name, path in files:
        lang = "cpp" if name.endswith((".hpp", ".cpp", ".h")) else "text"
        md += [f'??? abstract "{name}"', "", indent(fence(read(path).rstrip("\n"), lang,
                                                           f'title="{name}"')), ""]
    return md


def lesson_page(lesson, links, status, output, traces):
    """The page's Markdown, and its timelines as {path: SVG}."""
    svgs = {}
    readme = read(os.path.join(lesson.lesson_dir, "README.md"))
    lines = readme.split("\n")
    h1 = next((i for i, l in enumerate(lines) if l.startswith("# ")), None)
    if h1 is not None:
        heading = lines[h1][2:].strip()
        body = "\n".join(lines[:h1] + lines[h1 + 1:])
    else:
        heading = f"{lesson.num} · {lesson.title}"
        body = readme
    body = links.rewrite(table_code_pipes(side_by_side(body)), f"lessons/{lesson.dir}",
                         lesson.page).strip()
    rel = f"lessons/{lesson.dir}"
    md = [f"# {heading}", ""]
    meta = []
    if lesson.concepts:
        meta.append("**Teaches** " + " · ".join(f"`{c}`" for c in lesson.concepts))
    if lesson.python:
        meta.append("**In asyncio** " + escape_outside_code(lesson.python))
    if meta:
        md += ['<div class="lesson-meta" markdown>', "", "<br>\n".join(meta), "", "</div>", ""]
    md += [body, ""]

    # The demo, what it printed and what it did.
    md += ["## Run it: the demo {#the-demo}", "",
           f"`{rel}/main.cpp` runs your exercise in real time: "
           f"`scripts/tutor run {lesson.num}`.", "",
           source_page(read(os.path.join(lesson.lesson_dir, "main.cpp")), "main.cpp"), "",
           "### What it prints {#output}", ""]
    took = f"{status['seconds']:g} s"
    how = status["stopped"] or exit_text(status["exit"])
    md += [f"The demo built with the reference solution (`{status['binary']}`), "
           f"run when this page was built ({status['date']}): {took}, {how}.", ""]
    if status["stopped"] or status["exit"] != 0:
        md += ['!!! failure "This demo did not finish cleanly"', "",
               f"    It {status['stopped'] or 'ended with ' + exit_text(status['exit'])}: "
               "what it printed and traced until then is below.", ""]
    lines = output.rstrip("\n").split("\n") if output.strip() else ["(no output)"]
    if len(lines) > 400:
        lines = lines[:400] + [f"... ({len(lines) - 400} more lines)"]
    md += [fence("\n".join(lines), "text"), ""]

    md += ["### Timelines {#timelines}", ""]
    drawn = [(k, t) for k, t in enumerate(traces, 1) if t.get("tasks")]
    if drawn:
        md += [f"Each `tut::run` in the demo, drawn from its trace: one row per "
               f"`tut::traced` task, on the same clock as the output above.", "",
               LEGEND, ""]
        shared = group_spans([t for _, t in drawn])
        names_w = name_width([t for _, t in drawn])
        for (k, t), span in zip(drawn, shared):
            uid = f"tl-{lesson.num}-{k}"
            svg = render_svg(t, uid, span, names_w)
            name = f"timelines/{lesson.dir}-run-{k}.svg"
            svgs[name] = render_svg(t, uid, span, names_w, standalone=True)
            md += ['<figure class="tl-figure">', svg,
                   f'<figcaption>tut::run call {k} of {len(traces)} · '
                   f'<a href="../{name}">SVG</a></figcaption>', "</figure>", ""]
    elif traces:
        md += ["This demo traces no tasks (`tut::traced`), so there is nothing to draw.", ""]
    else:
        md += ["This demo calls no `tut::run` that finished, so there is no trace to draw.", ""]

    # The exercise and its gaps.
    exercise = read(os.path.join(lesson.lesson_dir, "exercise.cpp"))
    starts = [l for l in exercise.split("\n") if "// TODO" in l]
    md += ["## The exercise {#the-exercise}", "",
           f"Open `{rel}/exercise.cpp` and fill in the "
           f"{len(starts)} gap{'s' if len(starts) != 1 else ''} marked `// TODO:` "
           f"(highlighted below). `scripts/tutor` grades the file every time you "
           f"save it, task by task:", ""]
    for n, task in enumerate(lesson.tasks, 1):
        name, _, what = task.partition(": ")
        md.append(f"{n}. `{name}`: {escape_outside_code(what)}" if what
                  else f"{n}. {escape_outside_code(task)}")
    md += ["", source_page(exercise, "exercise.cpp", mark_todos=True), ""]

    # What the exercise works with: the interface and the given code, folded.
    md += given_section(lesson)

    # Hints, then the solution, each folded away.
    if any(lesson.task_hints):
        md += ["## Hints {#hints}", "",
               f"The same hints `scripts/tutor hint {lesson.num} N` gives for task N, "
               "one at a time. Open one only when you are stuck on that task.", ""]
        for n, (task, hints) in enumerate(zip(lesson.tasks, lesson.task_hints), 1):
            if not hints:
                continue
            md += [f"### Task {n}: {escape_outside_code(task)} {{#hints-task-{n}}}", ""]
            for k, hint in enumerate(hints, 1):
                name = f"Hint {k}"
                if len(hints) == len(HINT_NAMES):
                    name += f": {HINT_NAMES[k - 1]}"
                md += [f'??? tip "{name}"', "", indent(hint), ""]
    elif lesson.hints:
        md += ["## Hints {#hints}", "",
               f"The same hints `scripts/tutor hint {lesson.num}` gives, one at a time. "
               "Open one only when you are stuck.", ""]
        for n, hint in enumerate(lesson.hints, 1):
            name = f"Hint {n}"
            if len(lesson.hints) == len(HINT_NAMES):
                name += f": {HINT_NAMES[n - 1]}"
            md += [f'??? tip "{name}"', "", indent(hint), ""]
    solution = read(lesson.solution)
    changed = []
    matcher = difflib.SequenceMatcher(a=exercise.split("\n"), b=solution.split("\n"),
                                      autojunk=False)
    for op, _, _, j1, j2 in matcher.get_opcodes():
        if op in ("replace", "insert"):
            changed += range(j1 + 1, j2 + 1)
    attrs = 'linenums="1"' + (' hl_lines="' + " ".join(map(str, changed)) + '"' if changed else "")
    md += ["## Solution {#solution}", "",
           f"`solutions/{lesson.dir}/exercise.cpp`, with the lines that differ from "
           f"the exercise highlighted. `scripts/tutor solution {lesson.num}` shows it "
           "as a diff against your file.", "",
           '??? success "Show the solution"', "",
           indent(fence(solution, "cpp", attrs)), ""]
    return "\n".join(md), svgs


INCLUDE = re.compile(r"^<!--\s*(include|include-body)\s+(\S+?)#(.+?)\s*-->$")
TIMELINE = re.compile(r"^<!--\s*timeline\s+(\S+)\s+(\d+)\s*-->$")


def expand(template, name, lessons, links, capture, extra):
    """Fills a hand-written page from docs/:
      <!-- include FILE#Heading -->       that section of a repository file,
                                          its headings shifted to fit
      <!-- include-body FILE#Heading -->  the same without its heading
      <!-- include FILE#:intro -->        what comes before the first ## heading
      <!-- timeline NN_topic K -->        the SVG of tut::run call K in that
                                          lesson's demo
    and the markers in `extra` (<!-- lessons -->, ...) become generated text."""
    out = []
    for line in template.split("\n"):
        m = INCLUDE.match(line.strip())
        if m:
            kind, path, heading = m.groups()
            text = read(os.path.join(ROOT, path))
            found = sections(text)
            if heading not in found:
                fail(f"docs/{name}: {path} has no section '{heading}'")
            level, body = found[heading]
            if heading != ":intro" and kind == "include":
                body = relevel([f"{'#' * level} {heading}"] + body, 2 - level)
            elif heading != ":intro":
                body = relevel(body, 2 - (level + 1))
            body_text = "\n".join(body).strip()
            defs = [d for d in link_definitions(text)
                    if re.search(r"\[" + re.escape(d[1:d.index("]")]) + r"\](?!:)", body_text)]
            body_text = links.rewrite(body_text, os.path.dirname(path), name)
            out.append(body_text + ("\n\n" + "\n".join(defs) if defs else ""))
            continue
        m = TIMELINE.match(line.strip())
        if m:
            lesson = next((l for l in lessons if l.dir == m.group(1)), None)
            if lesson is None:
                fail(f"docs/{name}: no lesson '{m.group(1)}' in the manifest for {line.strip()}")
            _, _, traces = load_capture(lesson, capture)
            k = int(m.group(2))
            if not 1 <= k <= len(traces) or not traces[k - 1].get("tasks"):
                fail(f"docs/{name}: the demo of {lesson.dir} has no traced tut::run call {k}")
            out.append('<figure class="tl-figure">'
                       + render_svg(traces[k - 1], f"tl-{name[:-3]}-{k}")
                       + f'<figcaption>tut::run call {k} in the demo of '
                       f'<a href="{lesson.page}#timelines">lesson {lesson.num}</a>'
                       "</figcaption></figure>")
            continue
        key = line.strip()
        if key in extra:
            out.append(extra[key])
            continue
        out.append(line)
    return "\n".join(out)


def lessons_table(lessons):
    def cell(text):
        return escape_outside_code(text).replace("|", "\\|")

    rows = ["| | Lesson | asyncio |", "| --- | --- | --- |"]
    for l in lessons:
        rows.append(f"| {l.num} | [{cell(l.title)}]({l.page}) | {cell(l.python)} |")
    return "\n".join(rows)


RECORDED_BENCH = os.path.join(DOCS, "bench-results.md")


def bench_section(path):
    """The web track's benchmark tables, from a scripts/bench run: an
    optional `# title`, `key: value` lines (date and machine required), then
    Markdown (the tables and verdicts). `path` is this tree's own last full
    run; without one, the run recorded in docs/bench-results.md
    (`scripts/bench --record`); without that, a partial run, marked so."""
    partial = os.path.join(os.path.dirname(path), "results-partial.md")
    note = ""
    if not os.path.isfile(path):
        if os.path.isfile(RECORDED_BENCH):
            path = RECORDED_BENCH
        elif os.path.isfile(partial):
            path = partial
            note = ('!!! warning "A partial run"\n\n    Only a partial run of '
                    '`scripts/bench` has been made (some scenarios or servers, '
                    'shorter or smaller): run it whole for the figures.\n\n')
    if not os.path.isfile(path):
        return ('!!! note "No benchmark run yet"\n\n'
                "    Run `scripts/bench`, then `scripts/docs`: this page shows the "
                "tables it writes to `build/bench/results.md`, with the date and the "
                "machine of the run.")
    lines = read(path).rstrip("\n").split("\n")
    i = 0
    while i < len(lines) and not lines[i].strip():
        i += 1
    if i < len(lines) and lines[i].startswith("# "):
        i += 1
    while i < len(lines) and not lines[i].strip():
        i += 1
    fields = []
    while i < len(lines):
        m = re.match(r"^([A-Za-z][\w -]*):\s+(.*)$", lines[i])
        if not m:
            break
        fields.append((m.group(1).strip(), m.group(2).strip()))
        i += 1
    keys = {k.lower() for k, _ in fields}
    for required in ("date", "machine"):
        if required not in keys:
            fail(f"{path}: no '{required}:' line at the top (after an optional # title)")
    rest = "\n".join(relevel(lines[i:], 0)).strip()
    if "|" not in rest:
        fail(f"{path}: no Markdown table after the '{fields[-1][0]}:' line")
    meta = [f"**{escape_outside_code(k.capitalize())}** {escape_outside_code(v)}"
            for k, v in fields]
    return note + "<br>\n".join(meta) + "\n\n" + rest


def mkdocs_config(lessons, out, site):
    config = yaml.safe_load(read(os.path.join(DOCS, "mkdocs.yml")))
    config["docs_dir"] = os.path.join(out, "pages")
    config["site_dir"] = site
    config.setdefault("theme", {})["custom_dir"] = os.path.join(DOCS, "theme")
    config["hooks"] = [os.path.join(DOCS, "hooks.py")]
    config["nav"] = [
        {"Home": "index.md"},
        {"Lessons": [{f"{l.num} · {l.title}": l.page} for l in lessons]},
        {"The runtime": "runtime.md"},
        {"Benchmarks": "benchmarks.md"},
    ]
    header = ("# Generated by docs/gen.py from docs/mkdocs.yml and lessons/lessons.toml.\n"
              "# Do not edit: run scripts/docs.\n")
    write(os.path.join(out, "mkdocs.yml"),
          header + yaml.safe_dump(config, sort_keys=False, allow_unicode=True))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--build", help="the CMake build directory with the demos")
    parser.add_argument("--out", help="where the Markdown tree goes (e.g. build/docs)")
    parser.add_argument("--site", help="where mkdocs puts the HTML (default OUT/../site)")
    parser.add_argument("--bench", default=os.path.join(ROOT, "build", "bench", "results.md"),
                        help="scripts/bench's results (default build/bench/results.md, "
                        "else the run recorded in docs/bench-results.md)")
    parser.add_argument("--time-limit", type=float, default=60,
                        help="seconds each demo may run (default 60)")
    parser.add_argument("--keep-going", action="store_true",
                        help="a demo that fails or hangs is shown as such; by default "
                             "the build stops")
    parser.add_argument("--reuse", action="store_true",
                        help="use the output and traces captured last time; run no demo")
    parser.add_argument("--list-demos", action="store_true",
                        help="print the demo targets the site needs, one a line")
    args = parser.parse_args()

    lessons = load_manifest()
    if args.list_demos:
        print("\n".join(l.demo for l in lessons))
        return
    if not args.out or (not args.build and not args.reuse):
        parser.error("--out and --build are required")
    out = os.path.abspath(args.out)
    site = os.path.abspath(args.site or os.path.join(out, "..", "site"))
    capture = os.path.join(out, "capture")

    if not args.reuse:
        build = os.path.abspath(args.build)
        missing = [l.demo for l in lessons if not os.access(demo_binary(l, build), os.X_OK)]
        if missing and args.keep_going:
            warn(f"not built in {build}: {' '.join(missing)}; their pages say so")
        elif missing:
            fail(f"not built in {build}: {' '.join(missing)} "
                 f"(scripts/docs builds them; or cmake --build {args.build} --target ...)")
        print(f"docs: running {len(lessons)} demo{'s' if len(lessons) != 1 else ''} "
              "in real time", file=sys.stderr)
        with concurrent.futures.ThreadPoolExecutor(max_workers=len(lessons)) as pool:
            runs = list(pool.map(lambda l: run_demo(l, build, capture, args.time_limit),
                                 lessons))
        bad = [(l, s) for l, s in zip(lessons, runs) if s["exit"] != 0 or s["stopped"]]
        for l, s in bad:
            _, output, _ = load_capture(l, capture)
            print(output[-2000:], file=sys.stderr)
            warn(f"{s['binary']}: {s['stopped'] or exit_text(s['exit'])}")
        if bad and not args.keep_going:
            fail("a demo of a reference solution failed (--keep-going shows it on its page)")

    pages = os.path.join(out, "pages")
    shutil.rmtree(pages, ignore_errors=True)
    links = Links(lessons)
    for lesson in lessons:
        status, output, traces = load_capture(lesson, capture)
        page, svgs = lesson_page(lesson, links, status, output, traces)
        write(os.path.join(pages, lesson.page), page)
        for name, svg in svgs.items():
            write(os.path.join(pages, name), svg + "\n")
    extra = {
        "<!-- lessons -->": lessons_table(lessons),
        "<!-- bench -->": bench_section(args.bench),
        "<!-- legend -->": LEGEND,
    }
    for name in ("index.md", "runtime.md", "benchmarks.md"):
        write(os.path.join(pages, name),
              expand(read(os.path.join(DOCS, name)), name, lessons, links, capture, extra))
    shutil.copytree(os.path.join(DOCS, "assets"), os.path.join(pages, "assets"))
    mkdocs_config(lessons, out, site)
    print(f"docs: wrote {pages} ({len(lessons)} lesson pages)", file=sys.stderr)


if __name__ == "__main__":
    main()
