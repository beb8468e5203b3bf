import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from webglm.eval import metrics as M


def test_webglm_match_is_case_sensitive_raw_substring():
    assert M.webglm_match("It began with Babur in 1526.", ["Akbar the Great", "Babur"]) == 1.0
    assert M.webglm_match("it began with babur", ["Babur"]) == 0.0  # case matters, as in WebGLM
    assert M.webglm_match("released in 1995", ["5"]) == 1.0  # raw substring, no token boundary
    assert M.webglm_match("anything", []) == 0.0


def test_normalised_containment_and_exact_match():
    assert M.normalize_answer("The  Beatles!") == "beatles"
    assert M.contains("it began with babur.", ["Babur"]) == 1.0
    assert M.contains("released in 1995", ["5"]) == 0.0  # whole tokens only
    assert M.contains("the president signs it", ["the President"]) == 1.0
    assert M.exact_match("The President", ["president"]) == 1.0
    assert M.exact_match("President Obama", ["president"]) == 0.0


def test_token_f1_hand_checked():
    # pred tokens: cat sat on mat (4), gold: cat sat (2), common 2 -> P=1/2, R=1 -> F1=2/3
    assert M.token_f1("The cat sat on the mat", ["cat sat"]) == pytest.approx(2 / 3)
    assert M.token_f1("dog", ["cat sat", "dog"]) == 1.0
    assert M.token_f1("", ["x"]) == 0.0


def test_rouge_l_hand_checked():
    # LCS(a b c d, a c e) = 2 -> P = 2/4, R = 2/3, F = 2PR/(P+R) = 4/7
    assert M.rouge_l("a b c d", ["a c e"]) == pytest.approx(4 / 7)
    assert M.rouge_l("A, b; C d!", ["x y", "a c e"]) == pytest.approx(4 / 7)  # best gold, case folded
    assert M.rouge_l("same words here", ["same words here"]) == 1.0
    assert M.rouge_l("nothing", ["else"]) == 0.0


def _lcs_dp(a, b):
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b):
            cur.append(prev[j] + 1 if x == y else max(prev[j + 1], cur[j]))
        prev = cur
    return prev[-1]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from("abcde"), max_size=40), st.lists(st.sampled_from("abcdef"), max_size=40))
def test_bit_parallel_lcs_matches_dynamic_programming(a, b):
    assert M.lcs_length(a, b) == _lcs_dp(a, b)


def test_citation_parsing_and_invalid_share():
    text = "Cats purr [1]. Lions roar [2, 3]. Nope [7][0]."
    assert M.citation_numbers(text) == [1, 2, 3, 7, 0]
    assert M.invalid_citations(text, 3) == [7, 0]
    assert M.invalid_citations("fine [1][2]", 2) == []
    assert M.citation_numbers("a list [x] and 2020 [sic]") == []


def test_set_f1():
    assert M.set_f1([1, 2], [2, 3]) == pytest.approx(0.5)
    assert M.set_f1([], []) == 1.0
    assert M.set_f1([1], []) == 0.0


def test_pairwise_accuracy_and_ranking_metrics():
    pairs = [(2.0, 1.0, 1), (0.0, 3.0, 1), (1.0, 1.0, -1), (5.0, 5.0, 0)]  # agree, disagree, tie, skipped
    assert M.pairwise_accuracy(pairs) == pytest.approx(1.5 / 3)
    assert math.isnan(M.pairwise_accuracy([]))
    assert M.recall_at_k(["a", "b", "c"], {"c", "z"}, 2) == 0.0
    assert M.recall_at_k(["a", "b", "c"], {"c", "z"}, 3) == 0.5
    assert M.reciprocal_rank(["a", "b", "c"], {"b"}) == 0.5
    assert M.reciprocal_rank(["a"], {"b"}) == 0.0


def test_percentiles_hand_checked():
    xs = [1.0, 2.0, 3.0, 4.0, 10.0]
    assert M.percentile(xs, 50) == 3.0
    assert M.percentile(xs, 95) == pytest.approx(4.0 + 0.8 * 6.0)  # pos 3.8
    assert math.isnan(M.percentile([], 50))


def test_bootstrap_ci_brackets_the_mean_and_repeats():
    values = [1.0] * 30 + [0.0] * 70
    lo, hi = M.bootstrap_ci(values, resamples=500, seed=3)
    assert lo < 0.3 < hi and 0.15 < lo and hi < 0.45
    assert (lo, hi) == M.bootstrap_ci(values, resamples=500, seed=3)
    assert M.bootstrap_ci([1.0, 1.0, 1.0]) == (1.0, 1.0)
    assert all(math.isnan(x) for x in M.bootstrap_ci([]))


def test_reward_model_pairwise_accuracy_on_webgpt_pairs(tmp_path):
    import json

    from webglm.errors import EvalError
    from webglm.eval.datasets import Fields, load_dataset
    from webglm.eval.pairs import evaluate_reward_model
    from webglm.testing import LengthRewardModel

    def row(i, a0, s0, a1, s1):
        return {"question": {"full_text": f"q{i}?", "id": f"p{i}"}, "answer_0": a0, "score_0": s0,
                "answer_1": a1, "score_1": s1}

    rows = [row(0, "long detailed answer here", 1, "short", -1),  # length agrees
            row(1, "tiny", 1, "a much longer answer text", -1),  # length disagrees
            row(2, "same", 0, "same length", 0),  # human tie: skipped
            row(3, "one two", 1, "three four", -1)]  # reward tie: half
    path = tmp_path / "comparisons.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = evaluate_reward_model(load_dataset(path), LengthRewardModel(), resamples=50)
    assert out["pairs"] == 3 and out["pairwise_accuracy"] == pytest.approx(1.5 / 3)
    with pytest.raises(EvalError, match="webgpt"):
        fields = Fields(question="question.full_text", answers="answer_0")
        evaluate_reward_model(load_dataset(path, "jsonl", fields=fields), LengthRewardModel())
