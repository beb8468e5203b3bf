"""Prompt templates (data files in ``templates/``) and the token budget.

A template is either ``chat`` (system + worked examples as earlier turns + the
question turn, rendered by the model's own chat template) or ``text`` (one
completion string, e.g. WebGLM's ``Reference [1]: …`` format). The static part —
system text and worked examples — comes first so that llama.cpp can reuse its
KV cache across questions.
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Callable, Sequence

from ..errors import ConfigError, GenerationError
from ..text import language_name
from ..types import Reference
from .citations import drop_instructions

TEMPLATE_DIR = Path(__file__).parent / "templates"


@dataclass(frozen=True, slots=True)
class Prompt:
    """What a backend is asked to continue. ``messages`` for chat models, ``text`` otherwise;
    ``question``/``references`` are kept for extractive backends and logging."""

    kind: str  # "chat" | "text"
    messages: tuple[tuple[str, str], ...] = ()
    text: str = ""
    question: str = ""
    references: tuple[tuple[int, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Template:
    name: str
    kind: str
    reference: str
    system: str = ""
    user: str = ""
    text: str = ""
    examples: tuple[dict, ...] = field(default=())


def for_language(tpl: Template, language: str) -> Template:
    """The variant of ``tpl`` for answers in ``language``: a bundled ``<name>-<language>``
    template when there is one (``chat-zh``), else ``tpl`` with the answer language added to
    the system turn of chat templates. English is the base templates' language."""
    if language == "en" or tpl.kind != "chat" or tpl.name.endswith(f"-{language}"):
        return tpl
    if (TEMPLATE_DIR / f"{tpl.name}-{language}.json").is_file():
        return load_template(f"{tpl.name}-{language}")
    rule = (f" The question is in {language_name(language)}: write the whole answer in "
            f"{language_name(language)}, whatever the language of the references.")
    return dataclasses.replace(tpl, system=tpl.system + rule)


def available_templates() -> list[str]:
    return sorted(p.stem for p in TEMPLATE_DIR.glob("*.json"))


@lru_cache(maxsize=32)
def load_template(name_or_path: str) -> Template:
    """Load a bundled template by name, or any JSON template file by path."""
    path = Path(name_or_path)
    if not path.suffix:
        path = TEMPLATE_DIR / f"{name_or_path}.json"
    if not path.is_file():
        raise ConfigError(f"unknown prompt template {name_or_path!r}",
                          hint=f"use one of {', '.join(available_templates())} or a path to a JSON file")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Template(data["name"], data["kind"], data["reference"], data.get("system", ""),
                        data.get("user", ""), data.get("text", ""), tuple(data.get("examples", ())))
    except (KeyError, json.JSONDecodeError) as exc:
        raise ConfigError(f"prompt template {path} is malformed: {exc}") from None


def _clean(text: str) -> str:
    # References are data: collapse whitespace so a page cannot fake new turns or headings.
    return " ".join(text.replace("<|", "< |").split())


def prose(text: str, title: str = "") -> str:
    """Passage text without a leading Markdown heading that repeats its title, and without
    sentences addressed to a language model (see :func:`drop_instructions`)."""
    text = drop_instructions(re.sub(r"^\s*#{1,6}\s+", "", text))
    for heading in (title.rsplit(" - ", 1)[-1], title):
        if heading and text.startswith(heading):
            return text[len(heading):].lstrip(" \t\n:-")
    return text


def _refs_block(tpl: Template, refs: Sequence[tuple[int, str, str]]) -> str:
    return "\n".join(tpl.reference.format(index=i, title=_clean(t) or "untitled", text=_clean(prose(x, t)))
                     for i, t, x in refs)


def render(tpl: Template, question: str, refs: Sequence[tuple[int, str, str]], few_shot: int) -> Prompt:
    """Render ``refs`` as (index, title, text) triples and the question into a Prompt."""
    pairs = tuple((i, prose(x, t)) for i, t, x in refs)
    if tpl.kind == "text":
        text = tpl.text.format(references=_refs_block(tpl, refs), question=question)
        return Prompt("text", text=text, question=question, references=pairs)
    msgs: list[tuple[str, str]] = [("system", tpl.system)] if tpl.system else []
    for ex in tpl.examples[:few_shot]:
        ex_refs = [(n, r.get("title", ""), r["text"]) for n, r in enumerate(ex["references"], 1)]
        msgs.append(("user", tpl.user.format(references=_refs_block(tpl, ex_refs), question=ex["question"])))
        msgs.append(("assistant", ex["answer"]))
    msgs.append(("user", tpl.user.format(references=_refs_block(tpl, refs), question=question)))
    return Prompt("chat", messages=tuple(msgs), question=question, references=pairs)


def build_prompt(
    tpl: Template,
    question: str,
    references: Sequence[Reference],
    *,
    few_shot: int,
    count_tokens: Callable[[Prompt], int],
    budget: int,
    max_ref_tokens: int = 220,
) -> tuple[Prompt, tuple[Reference, ...]]:
    """Fit the prompt into ``budget`` tokens: shorten long references, then drop the
    lowest-ranked ones, then the worked examples. At least one reference is kept."""
    refs = list(references)
    trimmed = [(r.index, r.passage.title, _truncate_tokens(r.passage.text, max_ref_tokens, count_tokens))
               for r in refs]
    shots = few_shot
    while True:
        prompt = render(tpl, question, trimmed, shots)
        if count_tokens(prompt) <= budget:
            return prompt, tuple(refs)
        if len(trimmed) > 1:
            trimmed.pop()
            refs.pop()
        elif shots > 0:
            shots -= 1
        elif len(trimmed[0][2]) > 200:
            i, t, x = trimmed[0]
            trimmed[0] = (i, t, x[: len(x) // 2])
        else:
            raise GenerationError(f"the question alone does not fit the model context ({budget} tokens)",
                                  hint="ask a shorter question or raise generate.n_ctx")


def _truncate_tokens(text: str, max_tokens: int, count_tokens: Callable[[Prompt], int]) -> str:
    """Cut ``text`` to about ``max_tokens`` of the backend's tokens.

    Starts from ~0.75 words per token (English BPE) and then shortens by the measured
    ratio: text in other languages, numbers and URLs can take several tokens per word,
    and scripts written without spaces (Chinese, Japanese) have no words to count at all.
    """
    words = text.split()
    limit = int(max_tokens * 0.75)
    body, cut = (" ".join(words[:limit]), True) if len(words) > limit else (text, False)
    for _ in range(4):
        shown = body + " …" if cut else body
        n = count_tokens(Prompt("text", text=shown))
        if n <= max_tokens * 1.1:
            return shown
        keep = max_tokens / n
        words = body.split()
        if len(words) >= 16:
            body = " ".join(words[: max(8, int(len(words) * keep))])
        else:  # few spaces: cut by characters
            body = body[: max(32, int(len(body) * keep))]
        cut = True
    return body + " …"
