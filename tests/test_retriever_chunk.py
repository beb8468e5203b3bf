"""Chunking: property tests (coverage in order, size limit, determinism) and the compat mode."""

import re

from hypothesis import example, given, settings
from hypothesis import strategies as st

from webglm.config import ChunkConfig
from webglm.retriever.chunk import chunk_page, chunk_text, count_tokens, dedup_every_pair, dedup_passages, passage_id
from webglm.text import token_spans
from webglm.types import Passage

WORD = st.text(alphabet="abcdefghijklmnopqrstuvwxyzéß0123456789", min_size=1, max_size=12)
SEP = st.sampled_from([" ", " ", " ", ", ", ". ", "! ", "? ", "\n", "\n\n", '." ', "\t", " - ", "; "])
TEXT = st.lists(st.tuples(WORD, SEP), min_size=0, max_size=300).map(lambda xs: "".join(w + s for w, s in xs))
CONFIGS = st.builds(
    lambda size, overlap: ChunkConfig(
        max_tokens=size, overlap_tokens=min(overlap, size - 1), dedup=False, per_url_cap=10_000
    ),
    st.integers(8, 120),
    st.integers(0, 40),
)


@settings(max_examples=150, deadline=None)
@given(TEXT, CONFIGS)
# short sentences that could all be carried over: the overlap bound has to hold here
@example(" ".join(f"Word{i} a b c." for i in range(40)),
         ChunkConfig(max_tokens=20, overlap_tokens=0, dedup=False, per_url_cap=10_000))
@example(" ".join(f"Word{i} a b c." for i in range(40)),
         ChunkConfig(max_tokens=30, overlap_tokens=6, dedup=False, per_url_cap=10_000))
def test_passages_cover_text_in_order_within_the_size_limit(text, config):
    passages = chunk_text(text, url="https://e.org/p", title="T", config=config)
    # size limit
    assert all(count_tokens(p.text) <= config.max_tokens for p in passages)
    # in order: spans start and end strictly later than the previous one
    for a, b in zip(passages, passages[1:]):
        assert a.start < b.start and a.end < b.end
        # the text carried over from one passage into the next is at most overlap_tokens long
        carried = count_tokens(text[b.start:a.end]) if b.start < a.end else 0
        assert carried <= config.overlap_tokens, (carried, config.overlap_tokens)
    # coverage: every token of the text lies inside some passage span
    spans = [(p.start, p.end) for p in passages]
    for start, end in token_spans(text):
        assert any(s <= start and end <= e for s, e in spans), text[start:end]
    # text is the span with whitespace collapsed
    for p in passages:
        assert p.text == " ".join(text[p.start : p.end].split())


@settings(max_examples=60, deadline=None)
@given(TEXT, CONFIGS)
def test_chunking_is_deterministic(text, config):
    first = chunk_text(text, url="u", title="t", config=config)
    second = chunk_text(text, url="u", title="t", config=config)
    assert first == second
    assert len({p.id for p in first}) == len(first)


@settings(max_examples=60, deadline=None)
@given(TEXT)
def test_compat_mode_lines(text):
    config = ChunkConfig(mode="webglm-compat", dedup=False, per_url_cap=10_000)
    passages = chunk_text(text, url="u", title="t", config=config)
    kept = [line.strip() for line in text.split("\n") if len(line.strip()) >= 50]
    assert [p.text for p in passages] == [" ".join(line[:1200].split()) for line in kept]


def test_compat_mode_drops_short_and_cuts_long_lines():
    long = "x" * 1500
    text = "short line\n" + "A line that is comfortably longer than fifty characters in total.\n" + long
    passages = chunk_text(text, url="u", title="t", config=ChunkConfig(mode="webglm-compat"))
    assert len(passages) == 2
    assert passages[0].text.startswith("A line")
    assert len(passages[1].text) == 1200


def test_sentence_boundaries_and_overlap():
    text = " ".join(f"Sentence number {i} is here." for i in range(40))
    passages = chunk_text(text, url="u", title="t", config=ChunkConfig(max_tokens=24, overlap_tokens=6))
    assert all(p.text.startswith("Sentence") and p.text.endswith(".") for p in passages)
    # consecutive passages share one sentence (6 tokens fit the overlap)
    assert all(a.text.split(". ")[-1].rstrip(".") in b.text for a, b in zip(passages, passages[1:]))


def test_long_sentence_is_cut_and_ids_are_stable():
    text = "word " * 250
    passages = chunk_text(
        text, url="https://e.org", title="t", config=ChunkConfig(max_tokens=100, dedup=False)
    )
    assert [count_tokens(p.text) for p in passages] == [100, 100, 50]
    assert passages[0].id == passage_id("https://e.org", passages[0].start, passages[0].end)
    assert re.fullmatch(r"[0-9a-f]{16}", passages[0].id)


def test_near_duplicates_and_per_url_cap():
    para = "The quick brown fox jumps over the lazy dog near the river bank today. "
    text = "\n".join(
        [para * 3, para * 3 + "Extra.", "Completely different content about astronomy and stars."]
    )
    passages = chunk_text(text, url="u", title="t", config=ChunkConfig(max_tokens=60, overlap_tokens=0))
    assert len(passages) == 2
    capped = chunk_text(
        " ".join(f"Fact {i} differs." for i in range(200)),
        url="u",
        title="t",
        config=ChunkConfig(max_tokens=10, overlap_tokens=0, per_url_cap=5),
    )
    assert len(capped) == 5


def test_dedup_keeps_first_copy_across_urls():
    a = Passage(id="1", text="Same text here about things.", url="a", title="")
    b = Passage(id="2", text="same text, here about things", url="b", title="")
    c = Passage(id="3", text="Other text entirely.", url="c", title="")
    assert [p.id for p in dedup_passages([a, b, c])] == ["1", "3"]
    assert [p.id for p in dedup_passages([a, b, c], near=False)] == ["1", "3"]


def test_default_config_keeps_the_tail_of_a_long_page():
    # 60 paragraphs of ~20 tokens: more passages than the old cap of 30, the last one must survive
    text = "\n".join(f"Paragraph {i} tells the story of harbour number {i} and its tall lighthouse keeper."
                     for i in range(300))
    passages = chunk_text(text, url="https://e.org/long", title="Harbours", config=ChunkConfig())
    assert len(passages) > 30
    assert "Paragraph 299 " in passages[-1].text


def test_chunk_page_reports_what_the_guard_cuts():
    text = " ".join(f"Fact {i} differs." for i in range(200))
    kept, cut = chunk_page(text, url="u", title="t", config=ChunkConfig(max_tokens=10, overlap_tokens=0,
                                                                        per_url_cap=5))
    everything, none_cut = chunk_page(text, url="u", title="t", config=ChunkConfig(max_tokens=10, overlap_tokens=0))
    assert len(kept) == 5 and cut == len(everything) - 5 and none_cut == 0



_WORDS = ["tide", "harbour", "gallery", "noon", "5", "6", "the", "museum", "keeper", "light"]


@st.composite
def _near_copies(draw):
    """Passages made of a few base texts, each copy with a word or two changed, added or cut."""
    bases = draw(st.lists(st.lists(st.sampled_from(_WORDS), min_size=0, max_size=30), min_size=1, max_size=4))
    texts = []
    for _ in range(draw(st.integers(1, 25))):
        words = list(draw(st.sampled_from(bases)))
        for _ in range(draw(st.integers(0, 2))):
            pos = draw(st.integers(0, len(words)))
            op = draw(st.sampled_from(["change", "add", "cut"]))
            if op == "add" or not words:
                words.insert(pos, draw(st.sampled_from(_WORDS)))
            elif op == "change":
                words[min(pos, len(words) - 1)] = draw(st.sampled_from(_WORDS))
            else:
                del words[min(pos, len(words) - 1)]
        texts.append(" ".join(words))
    return texts


@settings(max_examples=400, deadline=None)
@given(_near_copies(), st.sampled_from([0.5, 0.7, 0.85, 0.9, 1.0]))
def test_near_dedup_equals_comparing_every_pair(texts, threshold):
    # near copies of a few base texts make every 3-gram overlap between 0 and 1 common
    passages = [Passage(id=str(i), text=t, url=f"u{i % 3}", title="") for i, t in enumerate(texts)]
    got = [p.id for p in dedup_passages(passages, threshold)]
    assert got == [p.id for p in dedup_every_pair(passages, threshold)]
