"""Load on `webglm serve` from concurrent clients, on loopback only, bounded in count and time.

    python bench/serve_load.py --web PATH/TO/pages [--clients 1,4,16] [--backend echo]
    python bench/serve_load.py --corpus docs [--clients 1,4,16]
    python bench/serve_load.py --web PATH/TO/pages --acceptance      # 4 questions, pages take 4 s

Web mode serves saved real pages (a folder with pages.json and html/) from a local HTTP
server behind a fake SearXNG: each question is a page's title, and its search returns that
page plus ``--results - 1`` others (seeded). Every page is held back before it is sent: a
delay drawn per URL from a log-normal distribution (median ``--delay-median`` s, sigma 0.8,
so about one page in twenty takes over 3.7 s; those over the 5 s page timeout fail as on the
web), or a fixed ``--fixed-delay``. The server runs in this process under uvicorn with its
real limits; clients are httpx async clients posting to /v1/ask.

All saved pages are served from one loopback host, while on the web they sit on many hosts;
so that the per-host politeness limit (``fetch.per_host``, 4) does not turn one server into
the bottleneck, web mode sets ``fetch.per_host`` and the fetcher's server-wide
``fetch.concurrency`` to 64 unless ``--set`` says otherwise.

For each level of concurrency C, max(C, --min-requests) requests are sent by C clients at once;
reported: throughput, latency p50/p95, errors by status, and the generation-queue wait from
each answer's trace. ``--acceptance`` runs 4 questions one after another and 4 at once, in
alternating order, ``--repeats`` times, and reports the ratio of the wall times.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import math
import platform
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from webglm.eval.metrics import percentile  # noqa: E402

DOCS_QUESTIONS = [
    "How does webglm rank passages?", "What happens when no passage is relevant to the question?",
    "Which search engines does webglm support?", "How does webglm keep page fetching safe?",
    "What is the default generator model?", "How are citations checked after generation?",
    "What does the scorer do?", "How do I use my own documents as a corpus?",
    "How can I use a bigger model?", "Where are API keys read from?",
    "How do environment variables override settings?", "What is the stage budget for fetching pages?",
    "How do I stream tokens from Python?", "What does the trace record?",
    "Which errors can webglm raise?", "Where is the index cache stored?",
]



def page_delay(url: str, median: float, fixed: float | None) -> float:
    """The seconds a page is held back: fixed, or log-normal seeded by the URL."""
    if fixed is not None:
        return fixed
    seed = int.from_bytes(hashlib.sha256(url.encode()).digest()[:8], "big")
    return min(8.0, random.Random(seed).lognormvariate(math.log(median), 0.8))


def web_site(folder: Path, args, stack: contextlib.ExitStack):
    """(questions, pages server, search API) for the saved pages in ``folder``."""
    from webglm.retriever.testing import FakeSearchAPI, PageServer

    meta = json.loads((folder / "pages.json").read_text(encoding="utf-8"))
    delays: dict[str, float] = {}

    class SlowPages(PageServer):
        def handle(self, handler, path, query) -> None:
            end = time.monotonic() + delays.get(path, 0.0)
            while time.monotonic() < end and not self.stopping.is_set():
                time.sleep(0.02)
            super().handle(handler, path, query)

    class QuerySearch(FakeSearchAPI):
        def _searxng(self, handler, rows, query, mode):
            q = query.get("q", [""])[0]
            super()._searxng(handler, by_question.get(q, rows), query, mode)

    pages, api = stack.enter_context(SlowPages()), stack.enter_context(QuerySearch())
    rows = []
    for url, info in sorted(meta.items()):
        path = folder / "html" / info["file"]
        if not path.is_file() or not info.get("title"):
            continue
        local = pages.add("/" + info["file"], path.read_bytes())
        delays["/" + info["file"]] = page_delay(url, args.delay_median, args.fixed_delay)
        rows.append({"url": local, "title": info["title"], "snippet": ""})
    rng = random.Random(args.seed)
    targets = rng.sample(rows, min(len(rows), args.questions))
    by_question = {t["title"]: [t, *rng.sample([r for r in rows if r is not t], args.results - 1)]
                   for t in targets}
    api.results = rows[:args.results]
    return [t["title"] for t in targets], pages, api


def progress(row: dict) -> None:
    """One finished measurement on stderr at once, so a run cut short still reports."""
    print(json.dumps(row), file=sys.stderr, flush=True)


async def one(client, url: str, question: str) -> dict:
    t0 = time.perf_counter()
    try:
        r = await client.post(url + "/v1/ask", json={"question": question})
        status = r.status_code
        trace = r.json().get("trace", {}) if status == 200 else {}
    except Exception as exc:  # a client-side failure counts as an error, not a crash of the bench
        status, trace = type(exc).__name__, {}
    return {"status": status, "seconds": time.perf_counter() - t0,
            "queue_wait": trace.get("counters", {}).get("queue_wait_s"),
            "abstained": "abstained" in " ".join(trace.get("events", []))}


async def level(url: str, questions: list[str], clients: int, n: int) -> dict:
    """n requests from ``clients`` concurrent clients, asking ``questions`` in turn."""
    import httpx

    gate = asyncio.Semaphore(clients)
    async with httpx.AsyncClient(timeout=300, limits=httpx.Limits(max_connections=clients)) as client:
        async def bounded(i: int) -> dict:
            async with gate:
                return await one(client, url, questions[i % len(questions)])

        t0 = time.perf_counter()
        rows = await asyncio.gather(*(bounded(i) for i in range(n)))
        wall = time.perf_counter() - t0
    ok = [r for r in rows if r["status"] == 200]
    errors: dict[str, int] = {}
    for r in rows:
        if r["status"] != 200:
            errors[str(r["status"])] = errors.get(str(r["status"]), 0) + 1
    waits = [r["queue_wait"] for r in ok if r["queue_wait"] is not None]
    lat = [r["seconds"] for r in ok]
    return {"clients": clients, "requests": n, "wall_s": round(wall, 2),
            "throughput_per_min": round(60 * len(ok) / wall, 1),
            "p50_s": round(percentile(lat, 50), 2), "p95_s": round(percentile(lat, 95), 2), "errors": errors,
            "abstained": sum(r["abstained"] for r in ok),
            "queue_wait_mean_s": round(statistics.fmean(waits), 2) if waits else None,
            "queue_wait_p95_s": round(percentile(waits, 95), 2) if waits else None}


async def acceptance(url: str, questions: list[str], repeats: int) -> dict:
    """4 questions one after another vs 4 at once, alternating which goes first."""
    import httpx

    serial, concurrent, errors = [], [], 0
    async with httpx.AsyncClient(timeout=300) as client:
        for rep in range(repeats):
            for kind in (("serial", "concurrent") if rep % 2 == 0 else ("concurrent", "serial")):
                t0 = time.perf_counter()
                if kind == "serial":
                    rows = [await one(client, url, q) for q in questions[:4]]
                else:
                    rows = await asyncio.gather(*(one(client, url, q) for q in questions[:4]))
                (serial if kind == "serial" else concurrent).append(time.perf_counter() - t0)
                errors += sum(r["status"] != 200 for r in rows)
                progress({"run": kind, "repeat": rep, "wall_s": round(time.perf_counter() - t0, 2),
                          "statuses": [r["status"] for r in rows], "latency_s": [round(r["seconds"], 2) for r in rows]})
    s, c = statistics.median(serial), statistics.median(concurrent)
    return {"serial_s": [round(x, 2) for x in serial], "concurrent_s": [round(x, 2) for x in concurrent],
            "ratio_of_medians": round(c / s, 3), "errors": errors}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--web", default="", help="folder with pages.json and html/")
    ap.add_argument("--corpus", default="", help="a local corpus folder (e.g. docs)")
    ap.add_argument("--clients", default="1,4,16")
    ap.add_argument("--min-requests", type=int, default=8)
    ap.add_argument("--questions", type=int, default=32, help="web mode: distinct questions (pages)")
    ap.add_argument("--results", type=int, default=8, help="web mode: search results per question")
    ap.add_argument("--delay-median", type=float, default=1.0)
    ap.add_argument("--fixed-delay", type=float, default=None)
    ap.add_argument("--acceptance", action="store_true")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--backend", default="llamacpp")
    ap.add_argument("--encoder", default="sentence-transformers")
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--set", dest="sets", action="append", default=[], help="extra settings, KEY=VALUE")
    ap.add_argument("--out", default="")
    args = ap.parse_args()
    if bool(args.web) == bool(args.corpus):
        ap.error("give exactly one of --web or --corpus")
    if args.acceptance and args.fixed_delay is None:
        args.fixed_delay = 4.0
    report = run(args)
    text = json.dumps(report, indent=1)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n", encoding="utf-8")


def run(args) -> dict:
    from webglm import WebGLM, load_config
    from webglm.serve import create_app
    from webglm.serve.testing import running

    settings = {"generate.backend": args.backend, "rank.encoder": args.encoder}
    settings.update(dict(s.split("=", 1) for s in args.sets))
    with contextlib.ExitStack() as stack:
        if args.web:
            questions, pages, api = web_site(Path(args.web), args, stack)
            web = {"search.engine": "searxng", "search.searxng_url": api.url + "/searxng",
                   "search.k": args.results, "fetch.allow_hosts": f"127.0.0.1:{pages.port}",
                   "fetch.per_host": 64, "fetch.concurrency": 64}
            settings = {**web, **settings}
            glm = WebGLM(load_config(overrides=settings))
        else:
            questions = DOCS_QUESTIONS[:args.questions]
            glm = WebGLM(load_config(overrides=settings), corpus=args.corpus)
        t0 = time.perf_counter()
        glm.load()
        load_s = time.perf_counter() - t0
        url = stack.enter_context(running(create_app(glm, keys=()), glm.config.serve))
        asyncio.run(level(url, questions, 1, 1))  # warm caches of the first request's code paths
        report = {"machine": f"{platform.machine()}, {__import__('os').cpu_count()} cores",
                  "python": platform.python_version(), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                  "mode": "web" if args.web else "corpus", "settings": settings, "load_s": round(load_s, 2),
                  "argv": sys.argv[1:]}
        if args.acceptance:
            report["acceptance"] = asyncio.run(acceptance(url, questions, args.repeats))
        else:
            report["levels"] = []
            start = 1  # each level asks questions not asked before, so cached embeddings do not flatter it
            for c in (int(x) for x in args.clients.split(",")):
                n = max(c, args.min_requests)
                fresh = (questions[start:] + questions[:start])[:n] if args.web else questions
                start += n
                report["levels"].append(asyncio.run(level(url, fresh, c, n)))
                progress(report["levels"][-1])
        with contextlib.suppress(Exception):
            import httpx

            report["health_queue"] = httpx.get(url + "/health").json()["queue"]
    return report


if __name__ == "__main__":
    main()
