"""Benchmark: ``webglm.text.detect_language`` against py3langid alone on short questions.

Usage::

    python bench/language_detection.py [--data DIR] [--json OUT]

Question sets (each skipped with a note when its file is absent under ``--data``, the
shared data folder): CMRC 2018 dev (``zh/cmrc2018_dev.json``), NQ-open dev
(``qa/NQ-open.dev.jsonl``) and WebGLM's WebQuestions 400 (``qa/webglm_web_questions_400.jsonl``).
For each set: how many questions each detector labels with the set's language, the
other labels it gives, and the time per question of ``detect_language``. py3langid
alone is the same 97-language model ``detect_language`` falls back on, called
directly without the script rule or the 0.5 probability floor.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from webglm.text import _identifier, detect_language  # noqa: E402
from _report import emit  # noqa: E402  (bench/ is the script's folder)


def _cmrc(path: Path) -> list[str]:
    data = json.loads(path.read_text(encoding="utf-8"))["data"]
    return [qa["question"] for art in data for para in art["paragraphs"] for qa in para["qas"]]


def _jsonl(path: Path) -> list[str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["question"] for line in lines if line.strip()]


SETS = (  # (name, relative path, loader, expected language)
    ("CMRC 2018 dev", "zh/cmrc2018_dev.json", _cmrc, "zh"),
    ("NQ-open dev", "qa/NQ-open.dev.jsonl", _jsonl, "en"),
    ("WebGLM WebQuestions 400", "qa/webglm_web_questions_400.jsonl", _jsonl, "en"),
)


def _run(detect, questions: list[str]) -> tuple[Counter, float]:
    """Labels of every question and the seconds per question (one pass, after a warm-up)."""
    detect(questions[0])
    start = time.perf_counter()
    labels = Counter(detect(q) for q in questions)
    return labels, (time.perf_counter() - start) / len(questions)


def measure(questions: list[str], lang: str) -> dict:
    """Both detectors on one question set."""
    ours, per_q = _run(detect_language, questions)
    raw, raw_per_q = _run(lambda q: _identifier().classify(q)[0], questions)
    share = lambda c: f"{c[lang]} {lang} ({100 * c[lang] / len(questions):.1f}%)"  # noqa: E731
    return {"questions": len(questions), "webglm": share(ours), "py3langid": share(raw),
            "webglm_other": dict(ours.most_common()), "py3langid_other": dict(raw.most_common(6)),
            "webglm_us_per_question": round(per_q * 1e6, 1),
            "py3langid_us_per_question": round(raw_per_q * 1e6, 1)}


def main() -> None:
    default = Path(os.environ.get("WEBGLM_SHARED_DATA", "data"))
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=default, help="shared data folder (default $WEBGLM_SHARED_DATA)")
    parser.add_argument("--json", type=Path, help="also write the report here")
    args = parser.parse_args()
    report = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
              "load": round(os.getloadavg()[0], 1), "sets": {}}
    for name, rel, load, lang in SETS:
        path = args.data / rel
        if not path.is_file():
            print(f"skipping {name}: {path} not found (pass --data)", file=sys.stderr)
            continue
        report["sets"][name] = measure(load(path), lang)
    emit(report, args.json, indent=1, ensure_ascii=False)


if __name__ == "__main__":
    main()
