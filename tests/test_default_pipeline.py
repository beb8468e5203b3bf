"""The default pipeline end to end, with the packaged models and no overrides: ONNX
all-MiniLM-L6-v2 ranks a small local corpus, SmolLM2 (llama.cpp GGUF) writes the answer, and
the citation check keeps only [n] marks that point at a reference that supports the sentence."""

import re

import pytest

from webglm import WebGLM
from webglm.types import EXTRACTIVE_FALLBACK

DOCS = {
    "tea.md": "# Green tea\n\nGreen tea is made from leaves that are steamed or pan-fired soon after picking. "
              "Heating the leaves stops oxidation, which keeps them green.\n\n"
              "Sencha is the most popular green tea in Japan.\n",
    "coffee.md": "# Coffee\n\nCoffee beans are the roasted seeds of the coffee plant. Arabica and robusta "
                 "are the two main species grown for the coffee trade.\n",
    "volcano.txt": "Volcanoes erupt when magma rises through cracks in the crust of the Earth and escapes "
                   "as lava, ash and gas.\n",
}


@pytest.mark.slow
def test_default_models_answer_from_a_local_corpus_with_supported_citations(tmp_path, monkeypatch):
    monkeypatch.setenv("WEBGLM_CACHE", str(tmp_path / "cache"))  # a cold start: ONNX export and indexing
    corpus = tmp_path / "docs"
    corpus.mkdir()
    for name, text in DOCS.items():
        (corpus / name).write_text(text, encoding="utf-8")
    glm = WebGLM(corpus=str(corpus))  # default config: nothing here picks a model or a backend
    answer = glm.answer("Why does green tea stay green?")

    trace = answer.trace
    assert "all-MiniLM-L6-v2" in trace.models["encoder"] and trace.models["encoder_runtime"].startswith("onnx/")
    assert trace.models["generator"].startswith("llamacpp:") and "SmolLM2" in trace.models["generator"]
    assert trace.timings["rank"] > 0 and trace.timings["generate"] > 0, trace.timings
    # references come from the corpus, the best one from the tea file
    assert answer.references and all(r.passage.url.startswith("file:") for r in answer.references)
    assert "tea.md" in answer.references[0].passage.url
    # SmolLM2 wrote this answer itself (the extractive fallback did not replace it)
    best = next(s.candidate for s in answer.candidates if s.candidate.text == answer.text)
    assert best.finish_reason != EXTRACTIVE_FALLBACK and best.raw_text.strip(), best
    assert not any("fallback:" in e for e in trace.events), trace.events
    # every [n] is a real reference, and the check found each cited sentence supported by its source
    valid = {r.index for r in answer.references}
    marks = [int(n) for n in re.findall(r"\[(\d+)\]", answer.text)]
    assert marks and set(marks) <= valid and set(answer.citations) == set(marks), answer.text
    cited = [s for s in best.support if s.cited]
    assert cited and all(set(s.cited) <= set(s.supported_by) and not s.flagged for s in cited), best.support
