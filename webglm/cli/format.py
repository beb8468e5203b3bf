"""Plain-text rendering of an Answer: text, references with their checked quotes, timings."""

from __future__ import annotations

import textwrap

from webglm.messages import message
from webglm.text import language_name
from webglm.types import EXTRACTIVE_FALLBACK

def _quotes(answer) -> dict[int, list[str]]:
    """Reference index -> the checked evidence quotes the answer's sentences rest on."""
    out: dict[int, list[str]] = {}
    for s in getattr(answer, "support", ()) or ():
        for ev in s.evidence:
            if ev.reference not in s.cited:
                continue  # support for a citation the answer does not carry
            quote = textwrap.shorten(" ".join(ev.quote.split()), 200, placeholder=" …")
            line = f'quote: "{quote}" (chars {ev.start}-{ev.end}, support {ev.probability:.2f})'
            if line not in out.setdefault(ev.reference, []):
                out[ev.reference].append(line)
    return out


def format_references(answer) -> str:
    lines = []
    quotes = _quotes(answer)
    for ref in answer.references:
        p = ref.passage
        title = p.title or p.url
        lines.append(f"[{ref.index}] {title}  <{p.url}>")
        snippet = " ".join(p.text.split())
        lines.append(textwrap.indent(textwrap.shorten(snippet, 220, placeholder=" …"), "    "))
        lines += [f"    {q}" for q in quotes.get(ref.index, ())]
    return "\n".join(lines)


def format_timings(answer) -> str:
    """The answer's stage timings on one line."""
    return timings_line(answer.trace.timings)


def timings_line(t) -> str:
    """``timings: search 0.08s · ...`` in pipeline order, then any other stages."""
    order = ["search", "fetch", "extract", "retrieve", "rank", "first_token", "generate", "score", "total"]
    parts = [f"{k} {t[k]:.2f}s" for k in order if k in t]
    parts += [f"{k} {v:.2f}s" for k, v in t.items() if k not in order]
    return "timings: " + " · ".join(parts)


QUOTED_NOTE = message("quoted_unsupported")


def _failure(f) -> str:
    """One failure for the summary line: the URL where there is one, else what went wrong."""
    if f.url:
        return f"{f.kind} {f.url}"
    return f"{f.stage} {f.kind}: " + textwrap.shorten(f.detail, 120, placeholder=" …")


def format_answer(answer, *, with_text: bool = True) -> str:
    out = []
    if with_text:
        out.append(answer.text.strip())
        best = answer.candidates[0].candidate if answer.candidates else None
        if best is not None and best.finish_reason == EXTRACTIVE_FALLBACK:
            lang = answer.trace.language or "en"
            out.append(message("quoted_unsupported", lang) if best.raw_text else
                       message("quoted_language", lang, name=language_name(lang)))
    if answer.references:
        out += ["", "References:", format_references(answer)]
    if len(answer.candidates) > 1:
        out += ["", "Candidates (best first; [quoted]: the model's text was unsupported and replaced by a quote):"]
        for i, s in enumerate(answer.candidates, 1):
            text = textwrap.shorten(" ".join(s.candidate.text.split()), 160, placeholder=" …")
            mark = " [quoted]" if s.candidate.finish_reason == EXTRACTIVE_FALLBACK else ""
            out.append(f"  {i}. total {s.total:+.3f} (reward {s.reward:+.3f}, citations {s.citation_score:.2f}){mark} "
                       f"{text}")
    fails = answer.trace.failures
    if fails:
        out += ["", f"{len(fails)} item(s) failed: " + "; ".join(_failure(f) for f in fails[:5])
                + (" …" if len(fails) > 5 else "")]
    out += ["", format_timings(answer)]
    return "\n".join(out)
