"""Retriever training, data loaders and metrics on tiny models and tiny files."""

import json
import math

import numpy as np
import pytest

from webglm.config import RankConfig
from webglm.contriever import make_encoder
from webglm.contriever.data import load_stackexchange, load_webglm_qa, rouge1_precision, stackexchange_examples
from webglm.contriever.metrics import ndcg_at_k, pairwise_accuracy, reciprocal_rank, recall_at_k, spearman, summarize
from webglm.contriever.tiny import save_tiny_bert
from webglm.contriever.train import contrastive_loss, evaluate_retriever, train_retriever
from webglm.errors import InputError
from webglm.eval import metrics as eval_metrics
from webglm.generator.citations import rouge1_precision as citation_rouge1
from webglm.text import rouge1_precision as text_rouge1

POSTS = """<?xml version="1.0" encoding="utf-8"?>
<posts>
  <row Id="1" PostTypeId="1" Score="3" Title="What are citra hops?" Body="&lt;p&gt;Citra?&lt;/p&gt;" />
  <row Id="2" PostTypeId="2" ParentId="1" Score="5" Body="&lt;p&gt;Citra is an aroma &lt;b&gt;hop&lt;/b&gt; variety with citrus notes.&lt;/p&gt;" />
  <row Id="3" PostTypeId="2" ParentId="1" Score="1" Body="&lt;p&gt;A hop bred in the USA.&lt;/p&gt;" />
  <row Id="4" PostTypeId="1" Score="2" Title="How is stout brewed?" Body="&lt;p&gt;Stout&lt;/p&gt;" />
  <row Id="5" PostTypeId="2" ParentId="4" Score="2" Body="&lt;p&gt;Stout uses roasted barley for the dark color.&lt;/p&gt;" />
  <row Id="6" PostTypeId="2" ParentId="99" Score="2" Body="&lt;p&gt;orphan answer&lt;/p&gt;" />
  <row Id="7" PostTypeId="1" Score="2" Title="Why is lager cold fermented?" Body="x" />
  <row Id="8" PostTypeId="2" ParentId="7" Score="4" Body="&lt;p&gt;Lager yeast works at low temperature.&lt;/p&gt;" />
</posts>
"""

QA = [
    {"question": "What are citra hops?", "answer": "Citra is an aroma hop with citrus notes [1].",
     "references": ["Citra is an aroma hop with citrus notes.", "Stout uses roasted barley."]},
    {"question": "How is stout brewed?", "answer": "With roasted barley [2].",
     "references": ["Lager yeast works cold.", "Stout uses roasted barley for color."]},
]


@pytest.fixture(autouse=True)
def onnx_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("WEBGLM_CACHE", str(tmp_path / "cache"))  # ONNX exports stay in the test's folder


@pytest.fixture
def files(tmp_path):
    (tmp_path / "site_Posts.xml").write_text(POSTS)
    rows = [json.dumps(r) for r in QA] + ["{not json", json.dumps({"question": "q"})]
    (tmp_path / "qa.jsonl").write_text("\n".join(rows) + "\n")
    words = [POSTS.replace("&lt;", " ").replace("&gt;", " ")] + [json.dumps(r) for r in QA]
    save_tiny_bert(tmp_path / "base", words, seed=0)
    return tmp_path


def test_loaders(files):
    site = load_stackexchange(files / "site_Posts.xml")
    assert len(site.questions) == 3 and len(site.answers) == 4
    assert any(f.kind == "orphan" for f in site.failures)
    ex = stackexchange_examples(site)
    assert ex[0].query == "What are citra hops?"
    assert ex[0].positives[0] == "Citra is an aroma hop variety with citrus notes."
    qa = load_webglm_qa(files / "qa.jsonl")
    assert len(qa.examples) == 2 and len(qa.failures) == 2
    assert qa.examples[1].positives == ("Stout uses roasted barley for color.",)
    assert qa.examples[1].negatives == ("Lager yeast works cold.",)
    assert qa.examples[0].labels[0] == pytest.approx(1.0)
    with pytest.raises(InputError):
        load_webglm_qa(files / "missing.jsonl")


def test_metrics():
    assert recall_at_k(["a", "b", "c"], {"b", "z"}, 2) == 0.5
    assert reciprocal_rank(["a", "b"], {"b"}) == 0.5
    assert ndcg_at_k(["b", "a"], {"b": 1.0}, 10) == 1.0
    assert pairwise_accuracy([0.9, 0.1, 0.5], [1.0, 0.0, 0.0]) == (2, 2)
    assert spearman([1, 2, 3], [10, 20, 30]) == pytest.approx(1.0)
    # one ROUGE-1 precision (WebGLM's): candidate terms found in the target, counts clipped
    assert rouge1_precision("the citra hops [1]", "citra hops are great") == 1.0
    assert rouge1_precision("hops hops citra", "citra hops") == pytest.approx(2 / 3)
    assert rouge1_precision is text_rouge1 is citation_rouge1
    # a query with nothing relevant has no recall: NaN, and averages leave it out
    assert math.isnan(recall_at_k(["a"], set(), 1)) and recall_at_k is eval_metrics.recall_at_k
    assert summarize([{"recall@1": 1.0}, {"recall@1": float("nan")}]) == {"recall@1": 1.0}


def test_contrastive_loss_prefers_aligned_pairs():
    import torch

    q = torch.eye(3)
    assert contrastive_loss(q, q) < contrastive_loss(q, q.flip(0))
    same = torch.tensor([[True, True, False], [True, True, False], [False, False, True]])
    assert contrastive_loss(q, torch.ones(3, 3), same_query=same) < contrastive_loss(q, torch.ones(3, 3))


@pytest.mark.parametrize("loss", ["contrastive", "regression"])
def test_two_training_steps_change_parameters(files, loss):
    import torch
    from transformers import AutoModel

    before = {k: v.clone() for k, v in AutoModel.from_pretrained(str(files / "base")).state_dict().items()}
    data = files / ("site_Posts.xml" if loss == "contrastive" else "qa.jsonl")
    stats = train_retriever(data, files / "out", base_model=str(files / "base"), loss=loss, batch_size=2,
                            max_steps=2, lr=1e-3, separate_query_encoder=(loss == "regression"))
    assert stats["steps"] == 2 and np.isfinite(stats["loss_first"]) and np.isfinite(stats["loss_last"])
    after = AutoModel.from_pretrained(str(files / "out")).state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before)
    # the checkpoint loads through both encoder kinds
    for kind in ("contriever", "sentence-transformers"):
        enc = make_encoder(RankConfig(encoder=kind, model=str(files / "out"), quantize="none"))
        assert enc.encode(["citra hop"], "query").shape == (1, 32)
    if loss == "regression":
        assert (files / "out" / "query_encoder" / "config.json").is_file()


def test_evaluate_retriever_on_tiny_dump(files):
    cfg = RankConfig(encoder="hash")
    bm25 = evaluate_retriever(files / "site_Posts.xml", rank=cfg, mode="bm25")
    # each question's words appear in its own answers only, so BM25 puts a right answer first;
    # recall@1 is 5/6 at best (the citra question has two answers, one fits in the top 1)
    assert bm25["queries"] == 3 and bm25["mrr"] == 1.0 and bm25["recall@1"] == pytest.approx(5 / 6)
    dense = evaluate_retriever(files / "site_Posts.xml", rank=cfg, mode="dense")
    hybrid = evaluate_retriever(files / "site_Posts.xml", rank=cfg, mode="hybrid")
    # the hash encoder alone misranks one question; fusing BM25 back in repairs it
    assert dense["mrr"] < 1.0 and hybrid["mrr"] == 1.0 and hybrid["recall@1"] == pytest.approx(5 / 6)
    assert hybrid["pairwise_accuracy"] == 1.0
    qa = evaluate_retriever(files / "qa.jsonl", rank=cfg, mode="dense")
    assert qa["queries"] == 2 and "recall@1" in qa
    with pytest.raises(InputError):
        evaluate_retriever(files / "qa.jsonl", rank=cfg, mode="magic")
