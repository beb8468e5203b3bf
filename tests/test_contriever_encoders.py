"""Encoders on real (tiny, random-init) BERT checkpoints created by the tests."""

import numpy as np
import pytest

from webglm.config import RankConfig
from webglm.contriever import make_encoder
from webglm.contriever.tiny import save_tiny_bert
from webglm.errors import ModelError

WORDS = ["the quick brown fox jumps over the lazy dog", "beer hops malt yeast water stout lager"]


@pytest.fixture(autouse=True)
def onnx_cache(tmp_path_factory, monkeypatch):
    # ONNX exports are cached under $WEBGLM_CACHE; keep them out of the user's home
    monkeypatch.setenv("WEBGLM_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny")
    save_tiny_bert(root / "p", WORDS, seed=0, st_config=True)
    save_tiny_bert(root / "q", WORDS, seed=1)
    return root


def test_contriever_mean_pooling_ignores_padding(tiny):
    enc = make_encoder(RankConfig(encoder="contriever", model=str(tiny / "p"), quantize="none", similarity="dot"))
    alone = enc.encode(["beer hops"], "passage")
    enc.cache.clear()
    batched = enc.encode(["beer hops", "the quick brown fox jumps over the lazy dog stout lager malt"], "passage")
    assert alone.dtype == np.float32 and alone.shape == (1, 32)
    np.testing.assert_allclose(alone[0], batched[0], atol=1e-5)
    assert enc.model_id.startswith("contriever:p-")


def test_separate_query_encoder(tiny):
    cfg = RankConfig(encoder="contriever", model=str(tiny / "p"), query_model=str(tiny / "q"), quantize="none")
    enc = make_encoder(cfg)
    q, p = enc.encode(["beer hops"], "query"), enc.encode(["beer hops"], "passage")
    assert not np.allclose(q, p)
    np.testing.assert_allclose(np.linalg.norm(q, axis=1), 1.0, atol=1e-5)  # cosine: unit vectors


def test_cache_and_length_sorted_batches_keep_order(tiny):
    enc = make_encoder(RankConfig(encoder="contriever", model=str(tiny / "p"), quantize="none", batch_size=2))
    texts = ["stout", "the quick brown fox", "beer", "malt yeast water stout lager", "stout"]
    out = enc.encode(texts)
    assert enc.encoded == 4  # the repeated "stout" was encoded once
    np.testing.assert_allclose(out[0], out[4])
    single = [enc.encode([t])[0] for t in texts]
    np.testing.assert_allclose(out, np.stack(single), atol=1e-6)
    assert enc.encoded == 4  # all served from the cache


def test_int8_close_to_fp32(tiny):
    base = dict(encoder="contriever", model=str(tiny / "p"))
    fp32 = make_encoder(RankConfig(quantize="none", **base)).encode(WORDS)
    int8_enc = make_encoder(RankConfig(quantize="int8", **base))
    int8 = int8_enc.encode(WORDS)
    assert int8_enc.quantized
    assert (fp32 * int8).sum(1).min() > 0.95


def test_onnx_runtime_matches_torch(tiny):
    base = dict(encoder="contriever", model=str(tiny / "p"), quantize="none")
    torch_enc = make_encoder(RankConfig(runtime="torch", **base))
    onnx_enc = make_encoder(RankConfig(runtime="onnx", **base))
    np.testing.assert_allclose(torch_enc.encode(WORDS), onnx_enc.encode(WORDS), atol=1e-4)
    assert onnx_enc.runtime == "onnx" and torch_enc.runtime == "torch"
    assert len(list((tiny.parent / "cache" / "onnx").glob("p-*/model.onnx"))) == 1


@pytest.mark.parametrize("runtime", ["torch", "onnx"])
def test_int8_per_runtime(tiny, runtime):
    base = dict(encoder="contriever", model=str(tiny / "p"), runtime=runtime)
    fp32 = make_encoder(RankConfig(quantize="none", **base)).encode(WORDS)
    int8 = make_encoder(RankConfig(quantize="int8", **base)).encode(WORDS)
    assert (fp32 * int8).sum(1).min() > 0.95


def test_st_folder_matches_contriever_path(tiny):
    st = make_encoder(RankConfig(encoder="sentence-transformers", model=str(tiny / "p"), quantize="none"))
    hf = make_encoder(RankConfig(encoder="contriever", model=str(tiny / "p"), quantize="none"))
    np.testing.assert_allclose(st.encode(WORDS), hf.encode(WORDS), atol=1e-5)


def test_missing_model_paths_raise_model_error(tmp_path):
    with pytest.raises(ModelError):
        make_encoder(RankConfig(encoder="contriever", model=""))
    with pytest.raises(ModelError, match="config.json"):
        make_encoder(RankConfig(encoder="contriever", model=str(tmp_path))).encode(["x"])
    with pytest.raises(ModelError, match="not found"):
        make_encoder(RankConfig(encoder="sentence-transformers", model=str(tmp_path / "nope")))


@pytest.mark.slow
def test_packaged_minilm_ranks_and_abstains():
    from webglm.contriever import Ranker
    from webglm.types import Passage

    cfg = RankConfig()
    enc = make_encoder(cfg)
    vecs = enc.encode(["A stout is a dark beer.", "Paris is the capital of France."])
    assert vecs.shape == (2, 384)
    assert enc.quantized == (cfg.quantize != "none")
    texts = ["Stout is a dark beer brewed with roasted malt.", "Paris is the capital of France.",
             "An IPA is a hoppy pale ale."]
    ps = [Passage(id=str(i), text=t, url=f"https://{i}.test/", title="") for i, t in enumerate(texts)]
    ranking = Ranker(enc, cfg).rank("What is the capital of France?", ps)
    assert not ranking.abstained and ranking.references[0].passage.id == "1"
    assert Ranker(enc, cfg).rank("How do I repair a car gearbox?", ps).abstained


def test_token_batches_give_short_texts_bigger_batches():
    from webglm.contriever.backbone import token_batches

    lengths = [100, 10, 12, 200, 11, 9, 13, 10, 12, 10, 11]
    batches = token_batches(lengths, batch_size=2, batch_tokens=64)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))  # each text once
    assert batches[0] == [3, 0]  # long texts: batch_size, longest first
    assert [len(b) for b in batches[1:]] == [4, 5]  # 13 tokens -> 64 // 13 = 4 texts, then 64 // 11 = 5
    assert all(lengths[b[0]] == max(lengths[i] for i in b) for b in batches)  # the first sets the width
    assert token_batches(lengths, 3, 0) == [[3, 0, 6], [2, 8, 4], [10, 1, 7], [9, 5]]  # 0: fixed batches


@pytest.mark.parametrize("encoder", ["contriever", "sentence-transformers"])
def test_bulk_encoding_tokenises_once_and_keeps_the_vectors(tiny, encoder):
    texts = [" ".join(WORDS[i % 2].split()[: 2 + i % 7]) + f" {'stout ' * (i % 5)}" for i in range(40)]
    texts = [f"{t} {i}" for i, t in enumerate(texts)]  # distinct, of many lengths
    old = make_encoder(RankConfig(encoder=encoder, model=str(tiny / "p"), quantize="none", batch_tokens=0))
    new = make_encoder(RankConfig(encoder=encoder, model=str(tiny / "p"), quantize="none", batch_tokens=64))
    new.load()
    backbone = new._tower("passage")[0]
    calls = []
    real = backbone.tokenizer

    class Counting:
        def __getattr__(self, name):
            return getattr(real, name)

        def __call__(self, batch, **kw):
            calls.append(len(batch))
            return real(batch, **kw)

    backbone.tokenizer = Counting()
    got = new.encode(texts)
    assert calls == [40]  # one tokenizer call for the whole chunk, not one per batch
    np.testing.assert_allclose(got, old.encode(texts), atol=1e-5)
    assert new.encoded == 40
