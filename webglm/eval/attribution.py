"""Citation support against expert labels (ExpertQA).

ExpertQA (Malaviya et al., NAACL 2024) has, for each claim of a system's answer, the passages
it cites (``evidence``: ``"[n] URL\\n\\ntext"``) and an expert's ``support`` label. We score
every claim that has evidence with a support model and compare with the experts:
``Complete`` is supported; ``Partial`` and ``Incomplete`` are not; ``Missing``, ``N/A`` and
unlabelled claims are counted but not judged. A claim's score is its best cited passage's.

:func:`load_expertqa` raises :class:`~webglm.errors.EvalError` naming the file and line of a
malformed row.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import EvalError
from .rows import question_id

POSITIVE = frozenset({"Complete"})
NEGATIVE = frozenset({"Partial", "Incomplete"})
_HEADER = re.compile(r"^\s*\[\d+\][ \t]*(?:https?://|www\.)?\S*[ \t]*(?:\n|$)")


@dataclass(frozen=True, slots=True)
class Claim:
    """One labelled claim: its text, the cited passages (headers stripped) and the label."""

    question_id: str
    question: str
    system: str
    text: str
    evidence: tuple[str, ...]
    label: str

    @property
    def supported(self) -> bool | None:
        """True (Complete), False (Partial/Incomplete) or None (not judged)."""
        if self.label in POSITIVE:
            return True
        if self.label in NEGATIVE:
            return False
        return None


def strip_evidence_header(text: str) -> str:
    """``"[2] https://x\\n\\nPassage…"`` -> ``"Passage…"`` (the header is not evidence)."""
    return _HEADER.sub("", text, count=1).strip()


def _claims_of(row: Any, where: str) -> Iterable[Claim]:
    if not isinstance(row, dict) or not isinstance(row.get("question"), str):
        raise EvalError(f"{where}: expected an object with a string 'question'",
                        hint="is this an ExpertQA rand_*.jsonl file?")
    answers = row.get("answers")
    if not isinstance(answers, dict):
        raise EvalError(f"{where}: 'answers' must be an object of system -> answer")
    qid = question_id(row["question"])
    for system, answer in answers.items():
        for claim in (answer or {}).get("claims") or ():
            text, evidence = claim.get("claim_string"), claim.get("evidence") or []
            if not isinstance(text, str) or not isinstance(evidence, list):
                raise EvalError(f"{where}: claim of {system!r} needs a string 'claim_string' and a list 'evidence'")
            passages = tuple(p for p in (strip_evidence_header(e) for e in evidence if isinstance(e, str)) if p)
            yield Claim(qid, row["question"], system, text.strip(), passages, str(claim.get("support") or ""))


def load_expertqa(paths: str | Path | Sequence[str | Path]) -> list[Claim]:
    """All claims of ExpertQA jsonl files (``expertqa_rand_{test,val}.jsonl`` and the like)."""
    paths = [paths] if isinstance(paths, (str, Path)) else list(paths)
    out: list[Claim] = []
    for path in map(Path, paths):
        if not path.is_file():
            raise EvalError(f"no such file: {path}", hint="pass ExpertQA jsonl files, e.g. expertqa_rand_test.jsonl")
        with path.open(encoding="utf-8") as fh:
            for n, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise EvalError(f"{path}:{n}: not JSON ({exc.msg})") from None
                out.extend(_claims_of(row, f"{path}:{n}"))
    return out


def roc_auc(labels: Sequence[bool], scores: Sequence[float]) -> float:
    """Area under the ROC curve (Mann-Whitney U with tied scores counted half)."""
    pairs = sorted(zip(scores, labels))
    pos = sum(1 for _, y in pairs if y)
    neg = len(pairs) - pos
    if not pos or not neg:
        return float("nan")
    rank_sum, i = 0.0, 0
    while i < len(pairs):
        j = i
        while j < len(pairs) and pairs[j][0] == pairs[i][0]:
            j += 1
        mid = (i + j + 1) / 2  # average 1-based rank of the tied block
        rank_sum += mid * sum(1 for k in range(i, j) if pairs[k][1])
        i = j
    return (rank_sum - pos * (pos + 1) / 2) / (pos * neg)


def roc_auc_interval(auc: float, positives: int, negatives: int, z: float = 1.96) -> tuple[float, float]:
    """Normal-approximation interval of a ROC-AUC (Hanley and McNeil, 1982), clipped to [0, 1].

    Wide when either class is small; two checks scored on the same claims whose intervals
    overlap are not told apart by this data.
    """
    if not positives or not negatives or math.isnan(auc):
        return (float("nan"), float("nan"))
    q1, q2 = auc / (2 - auc), 2 * auc * auc / (1 + auc)
    var = (auc * (1 - auc) + (positives - 1) * (q1 - auc * auc)
           + (negatives - 1) * (q2 - auc * auc)) / (positives * negatives)
    half = z * math.sqrt(max(var, 0.0))
    return (max(0.0, auc - half), min(1.0, auc + half))


def within_question_auc(claims: Sequence[Claim], scores: Sequence[float]) -> float:
    """Mean ROC-AUC over the questions that have both supported and unsupported claims.

    One expert judged each question, and many judged all its claims alike, so the pooled AUC
    mixes how well a check ranks claims with how strict each expert was; this one only asks
    the first (claims of one question, one expert).
    """
    groups: dict[str, tuple[list[bool], list[float]]] = {}
    for c, s in zip(claims, scores):
        ys, ss = groups.setdefault(c.question_id, ([], []))
        ys.append(bool(c.supported))
        ss.append(s)
    aucs = [roc_auc(ys, ss) for ys, ss in groups.values() if any(ys) and not all(ys)]
    return sum(aucs) / len(aucs) if aucs else float("nan")


def balanced_accuracy(labels: Sequence[bool], decisions: Sequence[bool]) -> float:
    """Mean of the true-positive and true-negative rates."""
    pos = [d for y, d in zip(labels, decisions) if y]
    neg = [not d for y, d in zip(labels, decisions) if not y]
    if not pos or not neg:
        return float("nan")
    return (sum(pos) / len(pos) + sum(neg) / len(neg)) / 2


def claim_scores(claims: Sequence[Claim], model: Any) -> list[float]:
    """Each claim's support: the best probability over its cited passages."""
    return [max(s.probability for p in c.evidence for s in model.score([c.text], p)) for c in claims]


def evaluate_attribution(claims: Sequence[Claim], model: Any, threshold: float) -> dict[str, Any]:
    """ROC-AUC and balanced accuracy (at ``threshold``) of ``model`` against the experts."""
    judged = [c for c in claims if c.evidence and c.supported is not None]
    scores = claim_scores(judged, model)
    labels = [bool(c.supported) for c in judged]
    decisions = [s >= threshold for s in scores]
    auc = roc_auc(labels, scores)
    return {
        "method": getattr(model, "name", type(model).__name__),
        "threshold": threshold,
        "roc_auc": auc,
        "roc_auc_ci95": list(roc_auc_interval(auc, sum(labels), len(labels) - sum(labels))),
        "roc_auc_within_question": within_question_auc(judged, scores),
        "balanced_accuracy": balanced_accuracy(labels, decisions),
        "kept_supported": sum(d for y, d in zip(labels, decisions) if y) / max(1, sum(labels)),
        "flagged_unsupported": sum(not d for y, d in zip(labels, decisions) if not y)
        / max(1, len(labels) - sum(labels)),
        "judged": len(judged), "supported": sum(labels), "unsupported": len(labels) - sum(labels),
        "questions": len({c.question_id for c in judged}),
        "questions_with_both_labels": len({c.question_id for c in judged if c.supported}
                                          & {c.question_id for c in judged if not c.supported}),
        "labels": dict(sorted(Counter(c.label or "(none)" for c in claims).items())),
        "labels_with_evidence": dict(sorted(Counter(c.label or "(none)" for c in claims if c.evidence).items())),
    }


FORMATS = ("expertqa",)


def attribution_command(paths: Sequence[str | Path], *, fmt: str = "expertqa", config: Any = None,
                        encoder: Any = None) -> dict[str, Any]:
    """What ``webglm eval-attribution`` prints: the pipeline's own support check (as set by
    ``config.citation``) scored against the experts' labels of ``paths``."""
    from ..config import WebGLMConfig
    from ..generator.support import make_support

    if fmt not in FORMATS:
        raise EvalError(f"unknown attribution format {fmt!r}", hint=f"use one of {', '.join(FORMATS)}")
    cfg = config or WebGLMConfig()
    claims = load_expertqa(paths)
    if encoder is None and cfg.citation.method == "support" and cfg.citation.dense:
        from ..contriever import make_encoder

        encoder = make_encoder(cfg.rank)
    model = make_support(cfg.citation, cfg.generate, encoder)
    # every judged claim cites its passages, so WebGLM's bonus for cited references applies
    threshold = model.threshold - getattr(model, "bonus", 0.0)
    out = evaluate_attribution(claims, model, threshold)
    out.update(files=[str(p) for p in paths], format=fmt, citation_method=cfg.citation.method,
               claims=len(claims), claims_without_evidence_text=sum(1 for c in claims if not c.evidence))
    return out
