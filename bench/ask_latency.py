"""Latency of `webglm ask`: per-stage p50/p95 and peak memory.

    python bench/ask_latency.py [--questions 20] [--candidates 1] [--out bench-ask.json]
    python bench/ask_latency.py --web PATH/TO/pages [--results 8] [--set rank.dense_budget=24]
    python bench/ask_latency.py --chinese [--questions 20]   # the docs questions in Chinese

Corpus mode (the default) asks questions about the docs/ folder. Web mode serves saved
real web pages (a folder with pages.json and html/, as in the shared test data) from a
local HTTP server behind a fake SearXNG endpoint: each question is a page's title, and
the search returns that page plus ``--results - 1`` others picked at random (seeded), so
search, fetch, extraction, chunking, ranking and generation all run on real pages.

Model loading and corpus indexing are timed separately and excluded from the per-question numbers.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import platform
import resource
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from webglm.eval.metrics import percentile  # noqa: E402

QUESTIONS = [
    "How does webglm rank passages?",
    "What happens when no passage is relevant to the question?",
    "Which search engines does webglm support?",
    "How does webglm keep page fetching safe?",
    "What is the default generator model?",
    "How are citations checked after generation?",
    "What does the scorer do?",
    "How do I use my own documents as a corpus?",
    "How can I use a bigger model?",
    "Where are API keys read from?",
    "How do environment variables override settings?",
    "What is the stage budget for fetching pages?",
    "How do I stream tokens from Python?",
    "What does the trace record?",
    "Which errors can webglm raise?",
    "Where is the index cache stored?",
    "What file types can a local corpus contain?",
    "How does search engine failover work?",
    "What is MMR used for in ranking?",
    "How many references does webglm use by default?",
]
# The same questions in Chinese, each with the English pages that answer it (bench/docs_crosslingual.py)
ZH_QUESTIONS = [
    ("webglm 如何给段落排序？", ("ranking.md",)),
    ("没有段落与问题相关时会发生什么？", ("ranking.md", "library.md")),
    ("webglm 支持哪些搜索引擎？", ("retriever.md", "configuration.md")),
    ("webglm 如何保证网页抓取的安全？", ("security.md", "retriever.md")),
    ("默认的生成模型是什么？", ("generation.md", "quickstart.md")),
    ("生成之后如何检查引用？", ("generation.md",)),
    ("评分器有什么作用？", ("scorer.md",)),
    ("如何把自己的文档用作语料库？", ("retriever.md", "quickstart.md", "cli.md", "index.md")),
    ("如何使用更大的模型？", ("generation.md", "quickstart.md")),
    ("API 密钥从哪里读取？", ("configuration.md", "security.md")),
    ("环境变量如何覆盖设置？", ("configuration.md",)),
    ("抓取网页的阶段预算是多少？", ("retriever.md", "configuration.md")),
    ("如何在 Python 中流式输出词元？", ("library.md",)),
    ("跟踪记录了什么？", ("library.md",)),
    ("webglm 会抛出哪些错误？", ("library.md",)),
    ("索引缓存存放在哪里？", ("configuration.md",)),
    ("本地语料库可以包含哪些文件类型？", ("retriever.md",)),
    ("搜索引擎故障转移是如何工作的？", ("retriever.md", "configuration.md")),
    ("排序中的 MMR 有什么用？", ("ranking.md",)),
    ("webglm 默认使用多少条参考资料？", ("ranking.md", "configuration.md")),
]



def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--questions", type=int, default=20)
    ap.add_argument("--candidates", type=int, default=1)
    ap.add_argument("--corpus", default=str(ROOT / "docs"))
    ap.add_argument("--web", default="", help="folder with pages.json and html/: run in web mode")
    ap.add_argument("--results", type=int, default=8, help="web mode: search results per question")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--set", action="append", default=[], metavar="SECTION.FIELD=VALUE",
                    help="config override, as for `webglm ask --set` (repeatable)")
    ap.add_argument("--chinese", action="store_true",
                    help="corpus mode: ask ZH_QUESTIONS and count answers citing a right English page")
    ap.add_argument("--out", default="")
    args = ap.parse_args()
    with contextlib.ExitStack() as stack:
        run(args, stack)


def _web_setup(args, stack: contextlib.ExitStack):
    """Serve the saved pages and a fake SearXNG; returns (questions, overrides, before-each hook,
    the URL of each question's own page)."""
    import random

    from webglm.retriever.testing import FakeSearchAPI, PageServer

    folder = Path(args.web)
    meta = json.loads((folder / "pages.json").read_text(encoding="utf-8"))
    pages = stack.enter_context(PageServer())
    api = stack.enter_context(FakeSearchAPI())
    rows = []
    for url, info in sorted(meta.items()):
        html = folder / "html" / info["file"]
        if not html.is_file() or not info.get("title"):
            continue
        pages.add("/" + info["file"], html.read_bytes())
        rows.append({"url": f"{pages.url}/{info['file']}", "title": info["title"],
                     "snippet": (info.get("with") or [""])[0]})
    rng = random.Random(args.seed)
    targets = rng.sample(rows, min(args.questions, len(rows)))

    def before(i: int) -> None:
        others = rng.sample([r for r in rows if r is not targets[i]], args.results - 1)
        api.results = [targets[i], *others]

    host = pages.url.split("//", 1)[1]
    overrides = {"search.engine": "searxng", "search.searxng_url": api.url + "/searxng",
                 "fetch.allow_hosts": [host]}
    return [t["title"] for t in targets], overrides, before, [t["url"] for t in targets]


def run(args, stack: contextlib.ExitStack) -> None:
    from webglm.cli import parse_sets
    from webglm import WebGLM, load_config

    overrides: dict[str, object] = {"scorer.candidates": args.candidates}
    before = None
    targets: list[str] = []
    if args.web:
        questions, web_overrides, before, targets = _web_setup(args, stack)
        overrides.update(web_overrides)
    elif args.chinese:
        questions = [q for q, _pages in ZH_QUESTIONS * 3][: args.questions]
    else:
        questions = (QUESTIONS * 3)[: args.questions]
    right = dict(ZH_QUESTIONS) if args.chinese else {}
    cited_right = 0
    overrides.update(parse_sets(args.set))
    cfg = load_config(overrides=overrides)
    glm = WebGLM(cfg, corpus=None if args.web else args.corpus)
    t0 = time.perf_counter()
    glm.load()
    load_total = time.perf_counter() - t0
    per_stage: dict[str, list[float]] = {}
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    load_start = __import__('os').getloadavg()[0]
    cited_ok = abstained = quoted = target_referenced = target_cited = 0
    passages: list[int] = []
    encoded: list[int] = []
    tokens: dict[str, list[float]] = {"tokens_in": [], "tokens_out": []}
    for i, q in enumerate(questions):
        if before:
            before(i)
        t_q = time.perf_counter()
        ans = glm.answer(q)
        per_stage.setdefault("total", []).append(time.perf_counter() - t_q)
        abstained += ans.abstained
        quoted += bool(ans.trace.counters.get("extractive_fallback"))
        if targets:  # web mode: did the question's own page make it into the references / citations?
            ref_urls = {r.index: r.passage.url for r in ans.references}
            target_referenced += targets[i] in ref_urls.values()
            target_cited += any(ref_urls.get(n) == targets[i] for n in ans.citations)
        if "passages" in ans.trace.counters:
            passages.append(int(ans.trace.counters["passages"]))
        for key, values in tokens.items():
            if key in ans.trace.counters:
                values.append(ans.trace.counters[key])
        if "rank_encoded" in ans.trace.counters:
            encoded.append(int(ans.trace.counters["rank_encoded"]))
        for stage, sec in ans.trace.timings.items():
            if stage != "total":  # "total" is the wall time measured above: one sample per question
                per_stage.setdefault(stage, []).append(sec)
        refs = {r.index for r in ans.references}
        cited_ok += bool(ans.citations) and set(ans.citations) <= refs
        if right:  # a cited reference from one of the question's English pages (not docs/zh/)
            pages = {r.index: r.passage.url.split("#", 1)[0].split("docs/", 1)[-1] for r in ans.references}
            cited_right += any(pages.get(n) in right[q] for n in ans.citations)
    glm.close()  # stops the extraction worker processes
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result = {
        "started": started,
        "mode": "web" if args.web else "corpus",
        "overrides": {k: v for k, v in overrides.items() if not k.startswith(("search.", "fetch."))},
        "extract_processes": cfg.fetch.extract_processes,
        "load_average": [round(load_start, 1), round(__import__('os').getloadavg()[0], 1)],
        "machine": f"{platform.machine()}, {__import__('os').cpu_count()} cores, no GPU",
        "questions": len(questions),
        "candidates": args.candidates,
        "load_seconds": {**{k: round(v, 3) for k, v in glm.load_seconds.items()}, "total": round(load_total, 3)},
        "stages": {s: {"p50": round(percentile(v, 50), 3), "p95": round(percentile(v, 95), 3),
                       "mean": round(statistics.fmean(v), 3)} for s, v in per_stage.items()},
        "answers_with_valid_citations": cited_ok,
        "abstained": abstained,
        "quoted_by_extractive_fallback": quoted,
        **({"cited_a_right_english_page": cited_right} if right else {}),
        **({"own_page_in_references": target_referenced, "own_page_cited": target_cited} if targets else {}),
        "passages_per_question_p50": percentile([float(n) for n in passages], 50) if passages else None,
        "passages_encoded_p50": percentile([float(n) for n in encoded], 50) if encoded else None,
        **{f"{key}_p50": percentile(values, 50) for key, values in tokens.items() if values},
        "peak_rss_mib": round(peak_mib, 1),
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
