"""Generator benchmark: prefill/decode tokens/s per backend, n=1 vs n=3 cost,
time to first token, and citation quality on the bundled docs corpus.

    python bench/generator_speed.py [--skip-transformers] [--skip-quality] [--threads 2]

Prints one JSON object per measurement (and a summary table at the end).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from webglm.config import GenerateConfig
from webglm.generator import AnswerWriter, Prompt, SamplingParams, make_backend, packaged_gguf
from webglm.types import Passage, Reference

QUESTION = "When was the Eiffel Tower completed and what was it built for?"
TEXT = (
    "The Eiffel Tower is a wrought-iron lattice tower on the Champ de Mars in Paris, France. It is named "
    "after the engineer Gustave Eiffel, whose company designed and built the tower from 1887 to 1889. "
    "It was constructed as the centrepiece of the 1889 World's Fair, and to crown the centennial "
    "anniversary of the French Revolution. "
)
REFS = [
    Reference(i, Passage(f"p{i}", TEXT * 2, f"https://example.org/{i}", f"Source {i}"), 1.0 / i)
    for i in range(1, 6)
]


def emit(row: dict) -> dict:
    print(json.dumps(row), flush=True)
    return row


def long_prompt(words: int = 380) -> Prompt:
    body = " ".join((TEXT * 20).split()[:words])
    return Prompt("chat", messages=(("user", f"{body}\n\nSummarise this in detail, in many sentences."),))


def bench_llamacpp(threads: int) -> list[dict]:
    gen = GenerateConfig(n_threads=threads)
    backend = make_backend(gen)
    t0 = time.perf_counter()
    backend.load()
    rows = [emit({"backend": "llamacpp", "metric": "load_s", "value": round(time.perf_counter() - t0, 2)})]
    llm, prompt = backend._llm, long_prompt()
    n_in = backend.count_tokens(prompt)
    prefill, decode = [], []
    for rep in range(3):
        llm.reset()  # no KV reuse: measure a cold prefill
        t0 = time.perf_counter()
        backend.generate(prompt, 1, SamplingParams(max_new_tokens=1))
        t_pre = time.perf_counter() - t0
        llm.reset()
        t0 = time.perf_counter()
        out = backend.generate(prompt, 1, SamplingParams(max_new_tokens=128, seed=rep))[0]
        t_all = time.perf_counter() - t0
        prefill.append(n_in / t_pre)
        decode.append(max(out.tokens_out - 1, 1) / max(t_all - t_pre, 1e-6))
    rows.append(
        emit(
            {
                "backend": "llamacpp",
                "metric": "prefill_tok_s",
                "value": round(statistics.median(prefill), 1),
                "prompt_tokens": n_in,
            }
        )
    )
    rows.append(
        emit({"backend": "llamacpp", "metric": "decode_tok_s", "value": round(statistics.median(decode), 1)})
    )
    rows += bench_candidates(backend, gen, "llamacpp")
    rows.append(ttft(backend, "llamacpp", reset=llm.reset))
    return rows


def bench_candidates(backend, gen: GenerateConfig, name: str, reps: int = 2) -> list[dict]:
    """Wall time of write(n=1) vs write(n=3) on the same 5-reference prompt (cache cold each time)."""
    writer = AnswerWriter(backend, gen)
    times: dict[int, list[float]] = {1: [], 3: []}
    for _ in range(reps):
        for n in (1, 3):
            if hasattr(backend, "_llm"):
                backend._llm.reset()
            t0 = time.perf_counter()
            writer.write(QUESTION, REFS, n=n)
            times[n].append(time.perf_counter() - t0)
    t1, t3 = statistics.median(times[1]), statistics.median(times[3])
    prompt, _ = writer.prompt(QUESTION, REFS)
    return [
        emit(
            {
                "backend": name,
                "metric": "write_n1_s",
                "value": round(t1, 2),
                "prompt_tokens": backend.count_tokens(prompt),
                "max_new_tokens": gen.max_new_tokens,
            }
        ),
        emit({"backend": name, "metric": "write_n3_s", "value": round(t3, 2), "ratio": round(t3 / t1, 2)}),
    ]


def ttft(backend, name: str, reset=None, reps: int = 3) -> dict:
    writer = AnswerWriter(backend, GenerateConfig())
    prompt, _ = writer.prompt(QUESTION, REFS)
    firsts = []
    for _ in range(reps):
        if reset:
            reset()
        t0 = time.perf_counter()
        for _piece in backend.stream(prompt, SamplingParams(max_new_tokens=8)):
            firsts.append(time.perf_counter() - t0)
            break
    return emit(
        {
            "backend": name,
            "metric": "ttft_s",
            "value": round(statistics.median(firsts), 3),
            "prompt_tokens": backend.count_tokens(prompt),
        }
    )


def bench_transformers(threads: int) -> list[dict]:
    import torch

    torch.set_num_threads(threads)
    gen = GenerateConfig(backend="transformers", model=str(packaged_gguf()))
    backend = make_backend(gen)
    t0 = time.perf_counter()
    backend.load()
    rows = [
        emit(
            {
                "backend": "transformers-gguf-fp32",
                "metric": "load_s",
                "value": round(time.perf_counter() - t0, 2),
            }
        )
    ]
    prompt = long_prompt()
    n_in = backend.count_tokens(prompt)
    t0 = time.perf_counter()
    backend.generate(prompt, 1, SamplingParams(max_new_tokens=1))
    t_pre = time.perf_counter() - t0
    t0 = time.perf_counter()
    out = backend.generate(prompt, 1, SamplingParams(max_new_tokens=32))[0]
    t_all = time.perf_counter() - t0
    rows.append(
        emit(
            {
                "backend": "transformers-gguf-fp32",
                "metric": "prefill_tok_s",
                "value": round(n_in / t_pre, 1),
                "prompt_tokens": n_in,
            }
        )
    )
    rows.append(
        emit(
            {
                "backend": "transformers-gguf-fp32",
                "metric": "decode_tok_s",
                "value": round(max(out.tokens_out - 1, 1) / max(t_all - t_pre, 1e-6), 1),
            }
        )
    )
    rows.append(ttft(backend, "transformers-gguf-fp32", reps=1))
    return rows


class _Fake(BaseHTTPRequestHandler):
    """Minimal OpenAI-compatible server: fixed replies, so only client cost is measured."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if body.get("stream"):
            data = (
                "".join(
                    f"data: {json.dumps({'choices': [{'delta': {'content': w + ' '}}]})}\n\n"
                    for w in ["The", "tower", "was", "completed", "in", "1889", "[1]."]
                )
                + "data: [DONE]\n\n"
            )
            ctype, payload = "text/event-stream", data.encode()
        else:
            choices = [
                {
                    "index": i,
                    "message": {"content": "The tower was completed in 1889 [1]."},
                    "finish_reason": "stop",
                }
                for i in range(body.get("n", 1))
            ]
            ctype, payload = "application/json", json.dumps({"choices": choices, "usage": {}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


def bench_openai(reps: int = 100) -> list[dict]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Fake)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    gen = GenerateConfig(backend="openai", model="fake", base_url=f"http://127.0.0.1:{httpd.server_port}/v1")
    backend = make_backend(gen)
    writer = AnswerWriter(backend, gen)
    prompt, _ = writer.prompt(QUESTION, REFS)
    backend.generate(prompt, 1, SamplingParams())  # connection warm-up
    rows = []
    for n in (1, 3):
        t0 = time.perf_counter()
        for _ in range(reps):
            backend.generate(prompt, n, SamplingParams())
        rows.append(
            emit(
                {
                    "backend": "openai-loopback",
                    "metric": f"request_n{n}_ms",
                    "value": round(1000 * (time.perf_counter() - t0) / reps, 2),
                }
            )
        )
    firsts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        next(iter(backend.stream(prompt, SamplingParams())))
        firsts.append(time.perf_counter() - t0)
    rows.append(
        emit(
            {
                "backend": "openai-loopback",
                "metric": "ttft_ms",
                "value": round(1000 * statistics.median(firsts), 2),
            }
        )
    )
    httpd.shutdown()
    return rows


DOC_QUESTIONS = [
    "How do I install webglm?",
    "Which search engines are supported?",
    "How does webglm protect against SSRF?",
    "What does the retriever do with pages that time out?",
    "How do I answer questions from a local folder of documents?",
    "How are references ranked?",
    "How do I use a bigger generator model?",
    "What configuration file format does webglm read?",
    "How do I run the web server?",
    "Which environment variables does webglm read?",
]


def bench_quality(threads: int) -> list[dict]:
    from webglm.generator import find_citations
    from webglm.pipeline import WebGLM

    glm = WebGLM(corpus="docs")
    glm.load()
    ok = invalid = fallbacks = 0
    precisions, model_precisions, flagged, seconds = [], [], [], []
    for q in DOC_QUESTIONS:
        t0 = time.perf_counter()
        ans = glm.answer(q)
        seconds.append(time.perf_counter() - t0)
        valid = {r.index for r in ans.references}
        cited = find_citations(ans.text)
        bad = [i for i in cited if i not in valid]
        invalid += len(bad)
        ok += bool(cited) and not bad
        cand = ans.candidates[0].candidate if ans.candidates else None
        fallback = bool(cand and cand.finish_reason == "extractive_fallback")
        fallbacks += fallback
        if cand and cand.citation_precision is not None:
            precisions.append(cand.citation_precision)
            if not fallback:  # a fallback cites its own quotes: its precision says nothing of the model
                model_precisions.append(cand.citation_precision)
        if cand and cand.support:
            flagged.append(sum(s.flagged for s in cand.support) / len(cand.support))
        emit(
            {
                "question": q,
                "answer": ans.text,
                "abstained": ans.abstained,
                "finish": cand.finish_reason if cand else "",
                "precision": cand.citation_precision if cand else None,
                "raw": cand.raw_text if cand else "",
                "seconds": round(seconds[-1], 2),
            }
        )

    def mean(xs):
        return round(statistics.mean(xs), 3) if xs else None

    return [
        emit(
            {
                "backend": "llamacpp",
                "metric": "docs_quality",
                "questions": len(DOC_QUESTIONS),
                "answers_with_valid_citation": ok,
                "invalid_citations": invalid,
                "mean_citation_precision_all": mean(precisions),
                "defined_for": len(precisions),
                "mean_citation_precision_model_written": mean(model_precisions),
                "model_written_defined_for": len(model_precisions),
                "extractive_fallbacks": fallbacks,
                "mean_flagged_sentence_share": mean(flagged),
                "median_answer_s": round(statistics.median(seconds), 2),
            }
        )
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--skip-transformers", action="store_true")
    ap.add_argument("--skip-quality", action="store_true")
    ap.add_argument("--skip-speed", action="store_true", help="only the docs-corpus citation quality run")
    args = ap.parse_args()
    emit(
        {
            "uptime": os.getloadavg(),
            "cpus": os.cpu_count(),
            "threads": args.threads,
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        }
    )
    rows = [] if args.skip_speed else bench_llamacpp(args.threads) + bench_openai()
    if not args.skip_quality:
        rows += bench_quality(args.threads)
    if not args.skip_transformers and not args.skip_speed:
        rows += bench_transformers(args.threads)
    emit({"load_at_end": os.getloadavg()})


if __name__ == "__main__":
    main()
