"""The support check: spans, probabilities, evidence quotes in answers; the extractive picker."""

from __future__ import annotations

import json

import pytest

from webglm.config import CitationConfig, GenerateConfig, load_config
from webglm.generator import AnswerWriter, EchoBackend, check_citations
from webglm.generator.backends import Completion
from webglm.generator.extractive import PickWeights, answer_type, cue, extractive_answer, pick_dense
from webglm.generator.support import (DEFAULT_MODEL, FEATURES, Rouge1Support, SupportModel, make_support,
                                      sentence_spans, windows)
from webglm.testing import HashEncoder
from webglm.types import Answer, Passage, Reference, answer_from_json, to_json

EIFFEL = ("The Eiffel Tower is a wrought-iron lattice tower in Paris.  It was completed in 1889 as the "
          "entrance arch of the World's Fair.\nIt is 330 metres tall.")
BANANA = "Bananas are elongated edible fruit. Banana plants grow in tropical regions of Southeast Asia."
LEXICAL = SupportModel({"bias": -4.0, "rouge_window": 6.0, "numbers_missing": -3.0}, threshold=0.5, dense=False)


def test_sentence_spans_are_exact_offsets():
    spans = sentence_spans(EIFFEL)
    assert [EIFFEL[a:b] for a, b in spans] == [
        "The Eiffel Tower is a wrought-iron lattice tower in Paris.",
        "It was completed in 1889 as the entrance arch of the World's Fair.", "It is 330 metres tall."]
    assert len(windows(EIFFEL)) == 5  # three sentences and two neighbouring pairs


def test_support_model_quotes_the_supporting_sentence():
    [hit, miss, changed] = LEXICAL.score(["The tower was completed in 1889 [1].", "Bananas grow in Asia.",
                                          "The tower was completed in 1901."], EIFFEL)
    # "tower" is in the first sentence, "completed in 1889" in the second: the pair is quoted
    assert EIFFEL[hit.start:hit.end] == EIFFEL[:EIFFEL.index("\n")]
    assert LEXICAL.score(["It was completed in 1889 for the fair."], EIFFEL)[0].start == EIFFEL.index("It was")
    assert hit.probability > 0.5 > miss.probability
    assert changed.probability < hit.probability  # a number the reference lacks counts against support
    assert len(hit.features) == len(FEATURES)


def test_check_citations_carries_evidence_and_page_offsets():
    refs = {1: EIFFEL, 2: BANANA}
    check = check_citations("The Eiffel Tower was completed in 1889 [2]. Bananas are an edible fruit.", refs,
                            support=LEXICAL, page_offsets={1: 100})
    first, second = check.support
    assert first.cited == (1,) and first.supported_by == (1,)  # corrected from [2] to [1]
    [ev] = first.evidence
    assert ev.reference == 1 and ev.quote == EIFFEL[ev.start:ev.end] and "1889" in ev.quote
    assert (ev.page_start, ev.page_end) == (100 + ev.start, 100 + ev.end)
    assert second.evidence[0].reference == 2 and second.evidence[0].page_start == -1  # offset unknown
    assert 0.5 <= first.probability <= 1.0 and check.probability is not None


def test_rouge1_method_keeps_webglm_decisions_and_adds_quotes():
    refs = {1: EIFFEL, 2: BANANA}
    text = "The Eiffel Tower was completed in 1889 [1]. Bananas grow in Paris [2]."
    old = check_citations(text, refs)
    new = check_citations(text, refs, support=Rouge1Support(0.75, 0.3))
    assert [s.supported_by for s in new.support] == [s.supported_by for s in old.support]
    assert new.text == old.text and "completed in 1889" in new.support[0].evidence[0].quote


def test_make_support_methods():
    gen = GenerateConfig()
    assert isinstance(make_support(CitationConfig(method="rouge1"), gen), Rouge1Support)
    model = make_support(CitationConfig(dense=False), gen)
    assert isinstance(model, SupportModel) and model.encoder is None and 0 < model.threshold < 1
    assert json.loads(DEFAULT_MODEL.read_text())["format"] == "webglm-support/1"
    with pytest.raises(Exception, match="citation"):
        load_config(overrides={"citation.method": "nli"})


def _refs():
    return (Reference(1, Passage("p1", EIFFEL, "https://example.org/e", "Eiffel", 40, 40 + len(EIFFEL)), 1.0),
            Reference(2, Passage("p2", BANANA, "https://example.org/b", "Banana"), 0.5))


def test_writer_answer_has_support_probability_and_quotes_round_trip_json():
    writer = AnswerWriter(EchoBackend(), GenerateConfig(), LEXICAL)
    cand = writer.finish(Completion("The Eiffel Tower was completed in 1889 [1].", 10, 10, "stop"), _refs(),
                         "When was the Eiffel Tower completed?")
    assert cand.support_probability is not None and cand.support_probability > 0.5
    ev = cand.support[0].evidence[0]
    assert ev.page_start == 40 + ev.start  # the passage is a verbatim slice of its page
    answer = Answer("q", cand.text, _refs(), support=cand.support, citations=cand.citations)
    again = answer_from_json(to_json(answer))
    assert again.support[0].evidence[0] == ev


def test_answer_type_and_cues():
    assert answer_type("when was the titanic started to be built") == "date"
    assert answer_type("how many legs does a spider have") == "number"
    assert answer_type("who wrote the iliad") == "name"
    assert answer_type("why is the sky blue") == ""
    assert cue("date", "Work began on 31 March 1909.", "when") == 1.0
    assert cue("date", "Work began early.", "when") == 0.0
    assert cue("name", "The Iliad is attributed to Homer.", "who wrote the iliad") == 1.0


def test_dense_picker_prefers_the_sentence_with_the_asked_kind():
    refs = [(1, "The Titanic was a British passenger liner. Construction of the Titanic began on 31 March 1909 "
                "at the Harland and Wolff shipyard."), (2, BANANA)]
    weights = PickWeights(dense=0.0, cue=1.0, overlap=0.2, rank=0.1, sentences=1)
    [(idx, sent)] = pick_dense("when did construction of the titanic begin", refs, HashEncoder(), weights)
    assert idx == 1 and "1909" in sent
    text = extractive_answer("when did construction of the titanic begin", refs, HashEncoder(), weights)
    assert text.endswith("[1].") and "1909" in text


@pytest.mark.slow
def test_shipped_model_with_minilm_separates_support_from_unrelated():
    from webglm.config import RankConfig
    from webglm.contriever import make_encoder

    model = SupportModel.load(encoder=make_encoder(RankConfig()))
    assert model.encoder is not None
    [good, bad] = model.score(["The Eiffel Tower was completed in 1889.", "Bananas grow in tropical Asia."], EIFFEL)
    assert good.probability > bad.probability
    assert "1889" in EIFFEL[good.start:good.end]


def test_locate_in_page_maps_a_respaced_quote_back():
    from webglm.evidence import locate_in_page
    from webglm.types import Evidence

    page = "Intro line.\n\nThe   Eiffel Tower was\ncompleted in 1889."
    passage = Passage("p", "The Eiffel Tower was completed in 1889.", "u", "t", 13, len(page))
    ev = Evidence(1, "Eiffel Tower was completed in 1889.", 4, 39, 0.9)
    start, end = locate_in_page(page, passage, ev)
    assert page[start:end] == "Eiffel Tower was\ncompleted in 1889."
    assert locate_in_page(page, passage, Evidence(1, "not there", 0, 9, 0.1)) is None


@pytest.mark.slow
def test_short_unrelated_reference_does_not_support_with_minilm():
    from webglm.config import RankConfig
    from webglm.contriever import make_encoder

    model = SupportModel.load(encoder=make_encoder(RankConfig()))
    refs = {1: "City 16 is in land 16. It has 16 bridges.", 2: "Other text 16."}
    check = check_citations("City 16 is in land 16 [1][2].", refs, support=model)
    assert check.support[0].supported_by == (1,) and check.text == "City 16 is in land 16 [1]."
