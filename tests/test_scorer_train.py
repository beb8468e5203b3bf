"""Training smoke tests on a tiny random-init BERT built here (no downloads)."""

import json
import math

import pytest
import torch  # torch and transformers are hard dependencies: a broken install fails here
import transformers

from webglm.errors import ModelError
from webglm.scorer.data import PreferencePair
from webglm.scorer.evaluate import evaluate_scorer, length_baseline
from webglm.scorer.reward import RewardModel
from webglm.scorer.train import TrainScorerConfig, train_scorer

WORDS = ["the", "a", "beer", "hop", "malt", "yeast", "ale", "lager", "brew", "taste", "cold", "warm", "good", "bad", "long", "short", "answer", "question", "why", "how"]


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory):
    torch.set_num_threads(1)
    folder = tmp_path_factory.mktemp("tiny-bert")
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS, "?", "."]
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n")
    tok = transformers.BertTokenizerFast(vocab_file=str(folder / "vocab.txt"))
    tok.save_pretrained(folder)
    config = transformers.BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=3,
                                     num_attention_heads=2, intermediate_size=64, max_position_embeddings=64)
    torch.manual_seed(0)
    transformers.BertModel(config).save_pretrained(folder)
    return folder


def _pairs(n):
    # the chosen answer is longer and mentions the question's words: learnable
    out = []
    for i in range(n):
        q = f"why is {WORDS[2 + i % 5]} {WORDS[8 + i % 4]} ?"
        chosen = f"{WORDS[2 + i % 5]} {WORDS[8 + i % 4]} is good because the malt and hop taste warm ."
        rejected = "bad ." if i % 2 else "short answer ."
        out.append(PreferencePair(q, chosen, rejected, group=f"g{i}"))
    return out


def _weights(folder):
    from safetensors.torch import load_file

    return load_file(str(folder / "weights.safetensors"))


@pytest.mark.parametrize("train_layers", [1, 0, 3])
def test_two_steps_change_parameters(tiny_bert, tmp_path, train_layers):
    from webglm.scorer.model import load_encoder

    steps = []
    cfg = TrainScorerConfig(encoder=str(tiny_bert), train_layers=train_layers, max_steps=2, batch_size=4,
                            lr=1e-2, head_lr=1e-2, max_length=32, question_max_length=16)
    metrics = train_scorer(_pairs(12), _pairs(4), tmp_path / "out", cfg, progress=steps.append)
    assert [s.step for s in steps if s.event == "step"] == [1, 2]
    assert all(math.isfinite(s.loss) for s in steps)
    assert math.isfinite(metrics["final_loss"]) and metrics["steps"] == 2
    saved = _weights(tmp_path / "out")
    assert float(saved["head.weight"].abs().sum()) > 0  # the head starts at zero
    _tok, base, _pool = load_encoder(tiny_bert)
    base_state = base.state_dict()
    enc_keys = [k for k in saved if k.startswith("encoder.")]
    # only trained blocks are stored, and they differ from the initial weights
    blocks = {k.split(".")[3] for k in enc_keys if k.startswith("encoder.encoder.layer.")}
    assert len(blocks) == train_layers
    if train_layers < 3:
        assert all(k.startswith("encoder.encoder.layer.") for k in enc_keys)
    else:  # the whole encoder trains, embeddings included
        assert any(k.startswith("encoder.embeddings.") for k in enc_keys)
    changed = [k for k in enc_keys if not torch.equal(saved[k], base_state[k[len("encoder."):]])]
    assert bool(changed) == (train_layers > 0)


def test_trained_scorer_learns_and_is_calibrated(tiny_bert, tmp_path):
    cfg = TrainScorerConfig(encoder=str(tiny_bert), train_layers=1, epochs=3, batch_size=8, lr=1e-3,
                            head_lr=3e-2, max_length=32, question_max_length=16, patience=3)
    pairs = _pairs(48)
    metrics = train_scorer(pairs, _pairs(16), tmp_path / "out", cfg)
    assert metrics["best_val_accuracy"] >= 0.9
    model = RewardModel(tmp_path / "out")
    assert evaluate_scorer(model, pairs[:10])["accuracy"] >= 0.9
    scores = [s for p in pairs for s in model.score(p.question, [p.chosen, p.rejected])]
    mean = sum(scores) / len(scores)
    std = (sum((s - mean) ** 2 for s in scores) / len(scores)) ** 0.5
    assert abs(mean) < 0.15 and 0.8 < std < 1.2
    spec = json.loads((tmp_path / "out" / "scorer.json").read_text())
    assert spec["encoder"] == str(tiny_bert) and spec["train_layers"] == 1


def test_resume_continues_from_checkpoint(tiny_bert, tmp_path):
    base = dict(encoder=str(tiny_bert), train_layers=1, batch_size=8, max_length=32, question_max_length=16,
                patience=5)
    train_scorer(_pairs(16), _pairs(4), tmp_path / "out", TrainScorerConfig(epochs=1, **base))
    steps = []
    metrics = train_scorer(_pairs(16), _pairs(4), tmp_path / "out", TrainScorerConfig(epochs=2, **base),
                           progress=steps.append, resume=True)
    assert metrics["epochs"] == 2 and metrics["steps"] == 4
    assert [s.step for s in steps if s.event == "step"] == [3, 4]  # epoch 1 was not redone


def test_layer_cache_matches_full_forward(tiny_bert):
    from webglm.scorer.cache import LayerCache
    from webglm.scorer.model import RewardNet, load_encoder

    tok, enc, pooling = load_encoder(tiny_bert)
    net = RewardNet(tok, enc, pooling, n_features=12).eval()
    texts = ["why is beer cold ?", "the malt taste good .", "ale"]
    with torch.no_grad():
        full = net.embed(texts, 32)
        cache = LayerCache(net, 1)
        cached = cache.embed(texts, 32)
        cache.close()
        after = net.embed(texts, 32)
    assert torch.allclose(full, cached, atol=1e-2)
    assert torch.equal(full, after)  # the real blocks are back


def test_length_baseline_counts_ties_as_half():
    pairs = [PreferencePair("q", "a b c", "a"), PreferencePair("q", "a", "a b"), PreferencePair("q", "x y", "y z")]
    assert length_baseline(pairs)["accuracy"] == pytest.approx(1.5 / 3)


def test_bad_encoder_path_is_a_model_error(tmp_path):
    with pytest.raises(ModelError, match="config.json"):
        train_scorer(_pairs(2), [], tmp_path / "o", TrainScorerConfig(encoder=str(tmp_path)))


def test_train_scorer_command_on_a_jsonl_file(tiny_bert, tmp_path):
    from webglm.scorer.cli_support import train_scorer_command

    rows = [{"question": p.question + f" {i}", "chosen": p.chosen, "rejected": p.rejected}
            for i, p in enumerate(_pairs(40))]
    data = tmp_path / "pairs.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    lines = []
    cfg = TrainScorerConfig(encoder=str(tiny_bert), train_layers=1, epochs=1, batch_size=8, max_length=32,
                            question_max_length=16)
    metrics = train_scorer_command([str(data)], str(tmp_path / "out"), config=cfg, echo=lines.append)
    assert lines[0].startswith("pairs: {'train'") and any(line.startswith("epoch 1:") for line in lines)
    assert metrics["test_accuracy"] >= 0.9, metrics  # the fixture is learnable (see _pairs)
    assert metrics["test_length_baseline"] == 1.0  # a property of the fixture: chosen is always longer
    assert json.loads((tmp_path / "out" / "metrics.json").read_text())["test_pairs"] == metrics["test_pairs"]
