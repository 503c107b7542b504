"""The log viewer on a 1,000,000-line (~100 MB) step log: server time per page of lines, and
time to the first log lines in Chromium (server, embedded defaults).

Starts `shipline serve` (SQLite, in-process workers) on a free loopback port, creates a
repository and `git push`es a pipeline whose one step prints N lines (default 1,000,000) of
about 100 bytes, each with a colour code (`awk`). Then, signed in through the login form:

1. Chromium (Playwright, /usr/bin/chromium, headless) opens the step's page: the first view
   after the server started (the line index of the log is built by that request), then
   reloads; each timed from `goto` to the first rendered log row. Also: a fresh load of
   `#L<N/2>` until that row is rendered, and a scroll to 3/4 of the log until its rows are.
   Baseline in the same run: Chromium loading a static HTML page holding the same first 100
   lines, from a bare `http.server` on another port.
2. httpx: `GET …/lines?count=500` at random places of the log (p50, p95), against the API's
   raw `…/log?tail=500` (same server and log, no rendering) and `GET /api/v1/health`.
   Also a search for a string on one line only (the whole log is read).
3. `cat LOG > /dev/null` and `wc -l LOG` on the server's log file, for scale.

Target: the first log lines in Chromium within 1 s, also on the first view (index built).

Usage: python bench/bench_logview.py [--quick] [--lines N] [--rounds N]
"""

from __future__ import annotations

import argparse
import html
import random
import re
import statistics
import subprocess
import tempfile
import threading
import time
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
from benchlib import free_port, machine, make_repo, start_server, table, verdict

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]  # fmt: skip
TARGET_S = 1.0
FIRST_ROW = ".lv-row:not(.lv-wait)"


def pipeline(lines: int) -> str:
    # ~100 bytes a line: a green number, then text; one line in the middle says "needle"
    # (spelt in two pieces, so that the echo of the command does not).
    program = (
        f'BEGIN {{ for (i = 1; i <= {lines}; i++) printf "\\033[32m%07d\\033[0m step output '
        f'line %d of the big log: lorem ipsum dolor sit amet, consectetur %s\\n", i, i, '
        f'(i == {lines // 2 + 7} ? "nee" "dle" : "adipiscing elit") }}'
    )
    return (
        "pipelines:\n  default:\n    - step:\n        name: Big log\n        script:\n"
        f"          - echo preparing\n          - |\n            awk '{program}'\n"
    )


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def sign_in(url: str, token: str) -> httpx.Client:
    client = httpx.Client(base_url=url, timeout=120, follow_redirects=True)
    form = client.get("/login").text
    csrf = re.search(r'name="csrf" value="([^"]+)"', form)
    assert csrf
    answer = client.post("/login", data={"name": "admin", "secret": token, "csrf": csrf[1]})
    if answer.status_code != 200 or "/login" in str(answer.url):
        raise SystemExit(f"signing in failed: {answer.status_code}")
    return client


def static_page(directory: Path, first: list[str]) -> Path:
    """The bare baseline: the same first 100 lines as a plain HTML page."""
    rows = "\n".join(
        f'<div class="row"><a href="#L{n}">{n}</a> <span>{html.escape(text)}</span></div>'
        for n, text in enumerate(first, start=1)
    )
    page = directory / "static.html"
    page.write_text(
        "<!doctype html><html><head><meta charset='utf-8'><title>log</title><style>"
        ".row{height:18px;white-space:pre;font:12.5px/18px monospace}</style></head>"
        f"<body><div id='log'>{rows}</div></body></html>"
    )
    return page


class Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def timed_goto(page: Any, url: str, selector: str) -> float:
    started = time.perf_counter()
    page.goto(url)
    page.wait_for_selector(selector)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="200,000 lines, 3 rounds")
    args = parser.parse_args()
    if args.quick:
        args.lines, args.rounds = 200_000, 3
    if not CHROMIUM.is_file():
        raise SystemExit(f"no Chromium at {CHROMIUM}: apt-get install -y chromium")
    from playwright.sync_api import sync_playwright

    print(machine())
    with tempfile.TemporaryDirectory(prefix="shipline-bench-logview-") as tmp:
        root = Path(tmp)
        port = free_port()
        server, token, _ = start_server(root / "data", port)
        url = f"http://127.0.0.1:{port}"
        bare_server: ThreadingHTTPServer | None = None
        try:
            api = httpx.Client(base_url=f"{url}/api/v1", timeout=120,
                               headers={"Authorization": f"Bearer {token}"})  # fmt: skip
            api.post("/repos", json={"name": "bench"}).raise_for_status()
            work = make_repo(root / "work", pipeline(args.lines))
            remote = f"http://x:{token}@127.0.0.1:{port}/git/bench.git"
            started = time.perf_counter()
            subprocess.run(["git", "push", "-q", remote, "HEAD:main"], cwd=work, check=True,
                           capture_output=True)  # fmt: skip
            while (step := api.get("/repos/bench/pipelines/1").json()["steps"][0])["status"] in (
                "pending", "queued", "running"):  # fmt: skip
                time.sleep(0.2)
            if step["status"] != "passed":
                raise SystemExit(f"the step did not pass: {step}")
            print(f"step printed its log in {time.perf_counter() - started:.1f} s")
            key = step["key"]
            log_file = next((root / "data" / "logs").glob(f"*/{key}.1.log"))
            size = log_file.stat().st_size
            base = f"/r/bench/p/1/s/{key}"
            raw_tail = f"/repos/bench/pipelines/1/steps/{key}/log?tail=500"
            with open(log_file, "rb") as log:
                head = [log.readline().decode().rstrip("\n") for _ in range(100)]
            # Log lines before the step's output: "+ echo preparing", "preparing", "+ awk ...".
            before = next(n for n, line in enumerate(head) if line.startswith("\x1b[32m0000001"))
            first_100 = [re.sub(r"\x1b\[[0-9;]*m", "", line) for line in head]
            page_path = static_page(root, first_100)
            bare_server = ThreadingHTTPServer(("127.0.0.1", 0), partial(Quiet, directory=str(root)))
            threading.Thread(target=bare_server.serve_forever, daemon=True).start()
            bare_url = f"http://127.0.0.1:{bare_server.server_address[1]}/{page_path.name}"

            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=str(CHROMIUM),
                                                     args=CHROMIUM_ARGS)  # fmt: skip
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                page.goto(f"{url}/login")
                page.fill("#name", "admin")
                page.fill("#secret", token)
                with page.expect_navigation():
                    page.click("button[type=submit]")
                timed_goto(page, bare_url, ".row")  # the browser's own first start
                cold = timed_goto(page, f"{url}{base}", FIRST_ROW)  # builds the line index
                warm, bare = [], []
                for _ in range(args.rounds):
                    bare.append(timed_goto(page, bare_url, "#log .row:last-child"))
                    warm.append(timed_goto(page, f"{url}{base}", FIRST_ROW))
                rows_in_dom = page.evaluate("document.querySelectorAll('.lv-row').length")
                middle = args.lines // 2
                jumps, scrolls = [], []
                for _ in range(3):
                    page.goto("about:blank")
                    target = f'.lv-row.lv-target[data-n="{middle}"]:not(.lv-wait)'
                    jumps.append(timed_goto(page, f"{url}{base}#L{middle}", target))
                    began = time.perf_counter()
                    page.evaluate("const s = document.querySelector('.lv-scroll'); "
                                  "s.scrollTop = s.scrollHeight * 0.75")  # fmt: skip
                    page.wait_for_function(
                        "() => { const r = [...document.querySelectorAll('.lv-row')]; return"
                        " r.length && !r.some(x => x.classList.contains('lv-wait')) &&"
                        f" Number(r[0].dataset.n) > {int(args.lines * 0.7)}; }}"
                    )
                    scrolls.append(time.perf_counter() - began)
                checked = page.evaluate(
                    "[...document.querySelectorAll('.lv-row')].slice(0, 50).every(r => "
                    "r.querySelector('.lv-t').textContent.startsWith("
                    f"String(Number(r.dataset.n) - {before}).padStart(7, '0')))"
                )
                browser.close()

            client = sign_in(url, token)
            chance = random.Random(1)
            lines_s, tail_s, health_s = [], [], []
            for _ in range(40):
                start = chance.randrange(1, args.lines - 500)
                began = time.perf_counter()
                answer = client.get(f"{base}/lines?start={start}&count=500")
                lines_s.append(time.perf_counter() - began)
                if len(answer.json()["lines"]) != 500:
                    raise SystemExit(f"/lines gave {len(answer.json()['lines'])} lines")
                began = time.perf_counter()
                api.get(raw_tail).raise_for_status()
                tail_s.append(time.perf_counter() - began)
                began = time.perf_counter()
                api.get("/health")
                health_s.append(time.perf_counter() - began)
            search_s = []
            for _ in range(3):
                began = time.perf_counter()
                found = client.get(f"{base}/search?q=NEEDLE").json()
                search_s.append(time.perf_counter() - began)
            if found["matches"] != [before + args.lines // 2 + 7]:
                raise SystemExit(f"search found {found}")
            cat = min(_timed_shell(f"cat {log_file} > /dev/null") for _ in range(3))
            wc = min(_timed_shell(f"wc -l {log_file} > /dev/null") for _ in range(3))
        finally:
            if bare_server is not None:
                bare_server.shutdown()
            server.terminate()
            server.wait(10)

    print(f"\nlog: {args.lines:,} lines, {size / 1e6:.1f} MB; rows in the DOM: {rows_in_dom}; "
          f"rows checked against their numbers: {checked}\n")  # fmt: skip
    med_bare, med_warm = statistics.median(bare), statistics.median(warm)
    print(table(
        ["Chromium: to the first log lines", "median ms", "ratio"],
        [
            ["bare: static page, same first 100 lines", ms(med_bare), "1.0"],
            ["log page, first view (index built)", ms(cold), f"{cold / med_bare:.1f}"],
            ["log page, reload", ms(med_warm), f"{med_warm / med_bare:.1f}"],
            [f"fresh load of #L{middle}", ms(statistics.median(jumps)),
             f"{statistics.median(jumps) / med_bare:.1f}"],
            ["scroll to 3/4 until rendered", ms(statistics.median(scrolls)), ""],
        ],
    ))  # fmt: skip
    med_tail = statistics.median(tail_s)
    print()
    print(table(
        ["server", "p50 ms", "p95 ms", "p50 / raw tail"],
        [
            ["bare: GET /api/v1/health", ms(statistics.median(health_s)),
             ms(percentile(health_s, 0.95)), ""],
            ["bare: raw log ?tail=500 (no rendering)", ms(med_tail), ms(percentile(tail_s, 0.95)),
             "1.0"],
            ["/lines, 500 lines at random places", ms(statistics.median(lines_s)),
             ms(percentile(lines_s, 0.95)), f"{statistics.median(lines_s) / med_tail:.1f}"],
            ["/search, one match in the whole log", ms(statistics.median(search_s)),
             ms(max(search_s)), ""],
            ["bare: cat LOG > /dev/null", ms(cat), "", ""],
            ["bare: wc -l LOG", ms(wc), "", ""],
        ],
    ))  # fmt: skip
    worst = max(cold, med_warm)
    print(f"\ntarget: first log lines <= {TARGET_S:.1f} s: {verdict(worst <= TARGET_S)} "
          f"(first view {cold:.3f} s, reload {med_warm:.3f} s)")  # fmt: skip


def _timed_shell(command: str) -> float:
    began = time.perf_counter()
    subprocess.run(["bash", "-c", command], check=True)
    return time.perf_counter() - began


if __name__ == "__main__":
    main()
