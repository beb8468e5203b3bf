"""Answer strategies on NQ-open, per route, without re-running retrieval.

A ``webglm eval --format nq-oracle`` run stores each question's references. This script
answers the same questions again from those references with the real writer (SmolLM2 GGUF +
MiniLM by default), once per ``--variant`` (a set of ``--set``-style overrides), so answer
strategies compare on identical references, and prints per-route tables: fact questions
(the short-answer route) and the others, with containment, the share the model wrote, how
often a model-written answer holds a gold answer, and invalid citations. Tune on a slice of
questions 0-999, report once on questions never looked at:

    webglm eval DATA.jsonl.gz --format nq-oracle --offset 200 --limit 150 --out runs/tune
    python bench/nq_routes.py runs/tune/results.jsonl --variant base: \\
        --variant agree:generate.short_agree=true --out routes.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's webglm, not an installed one
from webglm.config import WebGLMConfig, apply_overrides  # noqa: E402
from webglm.eval.metrics import bootstrap_ci, contains, invalid_citations  # noqa: E402
from webglm.generator import AnswerWriter, make_backend  # noqa: E402
from webglm.generator.short import is_fact_question  # noqa: E402
from webglm.generator.support import make_support  # noqa: E402
from webglm.types import EXTRACTIVE_FALLBACK, Passage, Reference  # noqa: E402


def load_rows(path: Path) -> list[dict]:
    """Answered rows (not abstained, not failed) of a run's results.jsonl, in file order."""
    rows = [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]
    return [r for r in rows if r.get("status") == "ok" and not r.get("abstained") and r.get("references")]


def references(row: dict) -> list[Reference]:
    """The row's references as the writer saw them."""
    return [Reference(r["index"], Passage(r["id"], r["text"], r["url"], r.get("title", ""), 0, len(r["text"]),
                                          "local"), float(r.get("score", 0.0)))
            for r in row["references"]]


class CachedBackend:
    """The backend with its completions remembered per prompt and settings: greedy decoding
    is deterministic, so variants that differ only after generation cost nothing extra."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.cache: dict = {}

    def __getattr__(self, name: str):
        return getattr(self.inner, name)

    def generate(self, prompt, n, params):
        key = (repr(prompt), n, params)
        if key not in self.cache:
            self.cache[key] = self.inner.generate(prompt, n, params)
        return self.cache[key]


def answer_all(rows: list[dict], overrides: list[str], encoder, backend) -> list[dict]:
    """Answer every row with a writer built from the default config plus ``overrides``."""
    cfg = apply_overrides(WebGLMConfig(), dict(o.split("=", 1) for o in overrides))
    writer = AnswerWriter(backend, cfg.generate, make_support(cfg.citation, cfg.generate, encoder), encoder)
    out = []
    for row in rows:
        t0 = time.perf_counter()
        cand = writer.write(row["question"], references(row), 1)[0]
        out.append({"id": row["id"], "question": row["question"], "gold": row["gold"], "answer": cand.text,
                    "fact": is_fact_question(row["question"]), "model": cand.finish_reason != EXTRACTIVE_FALLBACK,
                    "contains": contains(cand.text, row["gold"]),
                    "invalid": bool(invalid_citations(cand.text, len(row["references"]))),
                    "seconds": time.perf_counter() - t0})
    return out


def table(answers: list[dict]) -> dict:
    """Containment, model-written share and per-route counts of one variant's answers."""
    def part(sub: list[dict]) -> dict:
        model = [a for a in sub if a["model"]]
        return {"n": len(sub), "contains": sum(a["contains"] for a in sub) / max(1, len(sub)),
                "model_written": len(model), "model_right": sum(a["contains"] for a in model),
                "quoted_right": sum(a["contains"] for a in sub if not a["model"])}
    lo, hi = bootstrap_ci([a["contains"] for a in answers])
    mlo, mhi = bootstrap_ci([float(a["model"]) for a in answers])
    return {"all": part(answers), "contains_ci": [lo, hi], "model_written_ci": [mlo, mhi],
            "fact": part([a for a in answers if a["fact"]]), "other": part([a for a in answers if not a["fact"]]),
            "invalid_citations": sum(a["invalid"] for a in answers),
            "seconds_per_answer": sum(a["seconds"] for a in answers) / max(1, len(answers))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("results", type=Path, help="results.jsonl of a webglm eval --format nq-oracle run")
    ap.add_argument("--variant", action="append", default=[],
                    help="NAME:KEY=VALUE,KEY=VALUE (generate./citation. overrides); 'base:' for the defaults")
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--facts-only", action="store_true", help="only the short-answer route's questions")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    rows = [r for r in load_rows(args.results) if is_fact_question(r["question"]) or not args.facts_only]
    rows = rows[:args.limit or None]
    cfg = WebGLMConfig()
    from webglm.contriever import make_encoder

    encoder = make_encoder(cfg.rank)
    encoder.load()
    backend = CachedBackend(make_backend(apply_overrides(cfg, {"generate.n_threads": 1}).generate))
    report = {}
    for spec in args.variant or ["base:"]:
        name, _, sets = spec.partition(":")
        answers = answer_all(rows, [s for s in sets.split(",") if s], encoder, backend)
        report[name] = {"table": table(answers), "answers": answers}
        t = report[name]["table"]
        print(f"{name}: contains {t['all']['contains']:.3f} {t['contains_ci']}, model-written "
              f"{t['all']['model_written']}/{t['all']['n']}, invalid {t['invalid_citations']}, "
              f"fact {t['fact']}, other {t['other']}", flush=True)
    if args.out:  # the answers too, for reading the failures
        args.out.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
