"""AnswerWriter: references + question -> cited candidates, batch or streamed."""

from __future__ import annotations

import asyncio
import threading
from typing import Any, AsyncIterator, Sequence

from ..config import GenerateConfig
from ..errors import GenerationError
from ..types import EXTRACTIVE_FALLBACK, Candidate, CandidateDone, Reference, TokenEvent
from .backends import complete_backend
from .base import Backend, Completion, SamplingParams
from ..text import detect_language
from .citations import check_citations, clean_citations, dedupe_sentences, drop_unfinished, strip_think, withhold_obeying
from .extractive import PickWeights, answer_type, extractive_answer, pick_dense
from . import short
from .prompts import Prompt, build_prompt, for_language, load_template, prose

CONTEXT_MARGIN = 16  # tokens kept free for template tokens the count may miss


class AnswerWriter:
    """Writes answers with ``[n]`` citations from ranked references.

    The prompt is fitted to the backend's context (never an overflow), the raw
    output is cleaned (reasoning blocks, invalid indices) and the citations are
    checked and corrected against the references, WebGLM style.
    """

    def __init__(self, backend: Backend, gen: GenerateConfig | None = None, support: Any = None,
                 encoder: Any = None):
        self.backend = complete_backend(backend)  # a minimal backend gets the optional members
        self.gen = gen or GenerateConfig()
        # the support check (webglm.generator.support); None keeps WebGLM's ROUGE-1 rule
        self.support = support
        # the ranking encoder: the extractive fallback picks sentences by similarity with it
        self.encoder = encoder
        name = self.gen.template if self.gen.template != "auto" else self.backend.default_template
        self.template = load_template(name)

    @property
    def model_id(self) -> str:
        return self.backend.model_id

    def load(self) -> None:
        self.backend.load()

    def language(self, question: str) -> str:
        """The answer's language: ``generate.language``, or the question's when "auto"."""
        return detect_language(question) if self.gen.language == "auto" else self.gen.language

    def writes(self, language: str) -> bool:
        """Whether the backend's model writes ``language`` (``languages`` empty: any)."""
        languages = getattr(self.backend, "languages", ())
        return not languages or language in languages

    def _quotes(self, question: str, references: Sequence[Reference], n: int) -> list[Candidate] | None:
        """Extractive candidates when the model does not write the answer's language and
        ``generate.fallback`` allows quoting; None when the model should generate."""
        if self.gen.fallback != "extractive" or self.writes(self.language(question)):
            return None
        empty = Completion("", 0, 0, "stop")
        return [self.finish(empty, references, question) for _ in range(n)]

    def prompt(self, question: str, references: Sequence[Reference]) -> tuple[Prompt, tuple[Reference, ...]]:
        """The prompt actually sent, and the references that fit into it."""
        self.load()
        budget = self.backend.n_ctx - self.gen.max_new_tokens - CONTEXT_MARGIN
        template = for_language(self.template, self.language(question))
        return build_prompt(template, question, references, few_shot=self.gen.few_shot,
                            count_tokens=self.backend.count_tokens, budget=budget,
                            max_ref_tokens=self.gen.max_reference_tokens)

    def prompt_tokens(self, question: str, references: Sequence[Reference]) -> int:
        prompt, _ = self.prompt(question, references)
        return self.backend.count_tokens(prompt)

    def _params(self, n: int, first: int = 0) -> SamplingParams:
        """Settings for candidates ``first..n-1`` of a request for ``n``: greedy for one, top-p
        sampling for several. Candidate k is sampled with seed + k, so a streamed first
        candidate followed by the rest gives the same candidates as one batch."""
        temp = self.gen.temperature if n == 1 else self.gen.sample_temperature
        return SamplingParams(self.gen.max_new_tokens, temp, self.gen.top_p, self.gen.seed + first,
                              self.gen.repeat_penalty)

    def finish(self, completion: Completion, references: Sequence[Reference], question: str = "",
               quote: bool = False) -> Candidate:
        """Clean and citation-check one raw completion (falling back to an extractive
        answer when no sentence is supported, if ``generate.fallback`` says so, or at once
        with ``quote``)."""
        refs = {r.index: r.passage.text for r in references}
        offsets = {r.index: r.passage.start for r in references if r.passage.end - r.passage.start == len(r.passage.text)}
        text = dedupe_sentences(clean_citations(strip_think(completion.text), set(refs)))
        if completion.finish_reason == "length":
            text = drop_unfinished(text)
        check = self._check(text, refs, offsets)
        reason = completion.finish_reason
        if self.gen.fallback == "extractive" and (quote or not any(s.supported_by for s in check.support)):
            texts = [(r.index, prose(r.passage.text, r.passage.title)) for r in references]
            encoder = self.encoder if self.gen.fallback_picker == "dense" else None
            check = self._check(extractive_answer(question, texts, encoder, language=self.language(question)), refs,
                                offsets)
            reason = EXTRACTIVE_FALLBACK
        return Candidate(check.text, check.citations, completion.logprob, completion.tokens_in,
                         completion.tokens_out, reason, completion.text, check.support,
                         check.precision, check.recall, check.probability)

    def _check(self, text: str, refs: dict[int, str], offsets: dict[int, int] | None = None):
        check = check_citations(text, refs, threshold=self.gen.citation_threshold,
                                bonus=self.gen.cited_bonus, correct=self.gen.correct_citations,
                                support=self.support, page_offsets=offsets)
        return withhold_obeying(check, refs)  # a sentence that obeys a reference is not supported by it

    def write(self, question: str, references: Sequence[Reference], n: int = 1, first: int = 0) -> list[Candidate]:
        """Generate candidates ``first..n-1`` of ``n`` (greedy for one, top-p sampling for
        several); ``first`` > 0 continues after candidates already streamed."""
        if n < 1 or not 0 <= first < n:
            raise GenerationError(f"need n >= 1 and 0 <= first < n, got n={n}, first={first}")
        quoted = self._quotes(question, references, n - first)
        if quoted is not None:
            return quoted
        fact = self._short(question, references) if n == 1 else None
        if fact is not None:
            return [fact]
        prompt, used = self.prompt(question, references)
        completions = self.backend.generate(prompt, n - first, self._params(n, first))
        return [self.finish(c, used, question) for c in completions]

    def _short(self, question: str, references: Sequence[Reference]) -> Candidate | None:
        """The short-answer route (:mod:`webglm.generator.short`) for a fact question: the
        model's phrase with the sentence that contains it, else the quoted sentences; None
        when the route does not apply (setting off, not a fact question, no encoder)."""
        if (not self.gen.short_answers or self.encoder is None or self.gen.fallback != "extractive"
                or self.language(question) != "en" or not short.is_fact_question(question)):
            return None
        texts = [(r.index, prose(r.passage.text, r.passage.title)) for r in references]
        picks = pick_dense(question, texts, self.encoder, PickWeights())
        if not picks:
            return None
        self.load()
        found, done = self._ask_short(question, picks)
        if found is not None and self.gen.short_agree:  # ask again with the sentences reversed
            again, _ = self._ask_short(question, picks[::-1])
            if again is None or not short.agree(found[0], again[0]):
                found = None
        if found is None:  # quote the sentences instead
            return self.finish(done, references, question, quote=True)
        composed = Completion(short.compose(*found), done.tokens_in, done.tokens_out, "stop")
        return self.finish(composed, references, question)

    def _ask_short(self, question: str, picks: Sequence[tuple[int, str]]) -> tuple[tuple[str, str, int] | None,
                                                                                   Completion]:
        """One short-answer request over ``picks``: ``(phrase as written, its sentence, its
        reference index)`` when a picked sentence confirms a phrase of the asked kind, else
        None; and the raw completion."""
        sentences = [s for _i, s in picks]
        grammar = short.span_grammar(sentences) if self.gen.short_grammar else ""
        params = SamplingParams(short.MAX_TOKENS, 0.0, self.gen.top_p, self.gen.seed, 1.0, grammar)
        done = self.backend.generate(short.short_prompt(question, sentences), 1, params)[0]
        found = short.verify(short.clean_phrase(strip_think(done.text)), sentences, question)
        if found is None:
            return None, done
        idx, sentence = picks[found[1]]
        written = short.original_case(found[0], sentence)
        if not short.fits(answer_type(question), written):  # a "when" question answered with a title
            return None, done
        return (written, sentence, idx), done

    async def astream(self, question: str, references: Sequence[Reference],
                      n: int = 1) -> AsyncIterator[TokenEvent | CandidateDone]:
        """Stream the tokens of the first of ``n`` candidates (sampled like ``write(n)``'s
        first when ``n`` > 1), then the finished candidate.

        Cancelling the consumer (or closing this iterator) stops the backend at its next
        token, so an abandoned request does not keep the model busy."""
        quoted = await asyncio.to_thread(self._quotes, question, references, 1)
        if quoted is None and n == 1:  # a short answer is a few tokens: not worth streaming
            fact = await asyncio.to_thread(self._short, question, references)
            quoted = [fact] if fact is not None else None
        if quoted is not None:
            yield TokenEvent(quoted[0].text, 0)
            yield CandidateDone(quoted[0], 0)
            return
        prompt, used = await asyncio.to_thread(self.prompt, question, references)
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()
        done = object()
        params = self._params(n)
        stop = threading.Event()

        def put(item: object) -> None:
            if not loop.is_closed():
                loop.call_soon_threadsafe(queue.put_nowait, item)

        def produce() -> None:
            pieces = None
            try:
                pieces = self.backend.stream(prompt, params)
                for piece in pieces:
                    if stop.is_set():
                        break
                    put(piece)
            except Exception as exc:  # surfaced in the consumer
                put(exc)
            finally:
                # Closing the backend's generator ends its decode loop and releases its lock.
                getattr(pieces, "close", lambda: None)()
            put(done)

        threading.Thread(target=produce, daemon=True).start()
        pieces: list[str] = []
        try:
            while True:
                item = await queue.get()
                if item is done:
                    break
                if isinstance(item, Exception):
                    raise item
                pieces.append(item)
                yield TokenEvent(item, 0)
        finally:
            stop.set()
        raw = "".join(pieces)
        tokens_in = await asyncio.to_thread(self.backend.count_tokens, prompt)
        # backends stream about one piece per token: a stream that used the whole token budget
        # was cut, and its unfinished last sentence is dropped as in write()
        reason = "length" if len(pieces) >= params.max_new_tokens else "stop"
        yield CandidateDone(self.finish(Completion(raw, tokens_in, len(pieces), reason), used, question), 0)
