"""Reward model loading, errors, best-of-n selection and the shipped scorer."""

import json
import subprocess
import sys

import pytest

from webglm.config import ScorerConfig
from webglm.errors import ConfigError, InputError, ModelError, ScorerError
from webglm.scorer import citation_quality, default_scorer_dir, load_reward_model, select_best
from webglm.testing import LengthRewardModel
from webglm.types import Candidate


def test_import_does_not_load_torch():
    code = "import webglm.scorer, webglm.scorer.data, sys; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_citation_quality_formula():
    assert citation_quality(Candidate("x", citation_precision=1.0, citation_recall=0.5)) == pytest.approx(2 / 3)
    assert citation_quality(Candidate("x", citation_precision=0.0, citation_recall=0.0)) == 0.0
    assert citation_quality(Candidate("x", citation_precision=0.25)) == 0.25
    assert citation_quality(Candidate("x", citations=(1,))) == 1.0
    assert citation_quality(Candidate("x")) == 0.0


def test_citation_quality_prefers_the_support_probability():
    # the check's graded probability decides between candidates whose precision/recall tie
    strong = Candidate("a [1]", (1,), citation_precision=1.0, citation_recall=1.0, support_probability=0.9)
    weak = Candidate("b [1]", (1,), citation_precision=1.0, citation_recall=1.0, support_probability=0.55)
    assert citation_quality(strong) == pytest.approx(0.9)
    assert citation_quality(weak) == pytest.approx(0.55)

    class Flat:
        model_id = "flat"

        def score(self, question, answers):
            return [0.0] * len(answers)

    ranked = select_best("q", [weak, strong], Flat())
    assert [s.candidate.text for s in ranked] == ["a [1]", "b [1]"]
    assert ranked[0].citation_score == pytest.approx(0.9)


def test_select_best_orders_by_total():
    cands = [Candidate("one two three"), Candidate("one two three four five", citation_precision=0.0,
                                                   citation_recall=0.0),
             Candidate("one two three four", citations=(1, 2)), Candidate("one two three")]
    cfg = ScorerConfig(reward_weight=1.0, citation_weight=1.5)
    ranked = select_best("q", cands, LengthRewardModel(), cfg)
    # rewards 3, 5, 4, 3; citation 0, 0, 1, 0 -> totals 3, 5, 5.5, 3; ties keep generation order
    assert [s.candidate for s in ranked] == [cands[2], cands[1], cands[0], cands[3]]
    assert [s.total for s in ranked] == [5.5, 5.0, 3.0, 3.0]
    assert ranked[0].reward == 4.0 and ranked[0].citation_score == 1.0
    only_reward = select_best("q", cands, LengthRewardModel(), ScorerConfig(citation_weight=0.0))
    assert only_reward[0].candidate is cands[1]
    assert select_best("q", [], LengthRewardModel(), cfg) == []


def test_select_best_rejects_a_wrong_number_of_scores():
    class Broken:
        model_id = "broken"

        def score(self, question, answers):
            return [1.0]

    with pytest.raises(ScorerError, match="1 scores for 2"):
        select_best("q", [Candidate("a"), Candidate("b")], Broken(), ScorerConfig())


def test_scorer_config_validates_weights():
    with pytest.raises(ConfigError):
        ScorerConfig(reward_weight=-1.0)
    with pytest.raises(ConfigError):
        ScorerConfig(citation_weight=float("nan"))


def test_missing_and_corrupt_models_raise_model_errors(tmp_path):
    with pytest.raises(ModelError, match="train-scorer"):
        load_reward_model(ScorerConfig(model=str(tmp_path / "nope")))
    (tmp_path / "scorer.json").write_text("{not json")
    model = load_reward_model(ScorerConfig(model=str(tmp_path)))  # cheap: nothing parsed yet
    with pytest.raises(ModelError, match="corrupt"):
        model.load()
    (tmp_path / "scorer.json").write_text(json.dumps({"format": "other"}))
    with pytest.raises(ModelError, match="not a webglm-scorer"):
        load_reward_model(ScorerConfig(model=str(tmp_path))).load()


def test_corrupt_weights_raise_model_error(tmp_path):
    import shutil

    shutil.copytree(default_scorer_dir(), tmp_path / "s")
    (tmp_path / "s" / "weights.safetensors").write_bytes(b"garbage")
    with pytest.raises(ModelError, match="corrupt scorer weights"):
        load_reward_model(ScorerConfig(model=str(tmp_path / "s"))).load()


def test_shipped_scorer_files_are_small():
    folder = default_scorer_dir()
    assert (folder / "scorer.json").is_file() and (folder / "weights.safetensors").is_file()
    assert sum(f.stat().st_size for f in folder.iterdir()) < 5 * 1024 * 1024
    assert json.loads((folder / "scorer.json").read_text())["metrics"]  # training metrics travel with it


@pytest.mark.slow
def test_shipped_scorer_scores_answers():
    model = load_reward_model(ScorerConfig())
    assert model.model_id.startswith("scorer:")
    q = "What temperature should I serve an IPA at?"
    good = ("Serve an IPA at about 7-10 °C (45-50 °F). Colder than that mutes the hop aroma that defines "
            "the style; warmer and the bitterness gets harsh.\n\nLet a bottle from the fridge sit for ten "
            "minutes before pouring. See https://www.beeradvocate.com for style guides.")
    bad = "cold"
    scores = model.score(q, [good, bad])
    assert len(scores) == 2 and scores[0] > scores[1]
    assert all(-6 < s < 6 for s in scores)
    with pytest.raises(ScorerError):
        model.score("  ", [good])
    assert model.score(q, []) == []


@pytest.mark.slow
def test_score_answers_cli_support():
    from webglm.scorer.cli_support import format_scores, score_answers

    ranked = score_answers("Why do hops make beer bitter?",
                           ["Hops contain alpha acids that isomerise during the boil into bitter iso-alpha "
                            "acids [1]. Longer boils extract more bitterness.", "idk"])
    assert ranked[0].candidate.citations == (1,)
    assert format_scores(ranked).startswith("1. total=")
    with pytest.raises(InputError):
        score_answers("q", [])


def test_reward_model_is_shared_per_folder():
    a, b = load_reward_model(ScorerConfig()), load_reward_model(ScorerConfig())
    assert a is b  # `webglm score --file` and the pipeline load the encoder once per process
    assert load_reward_model(ScorerConfig(model=str(default_scorer_dir()))) is a


def test_citation_marks_do_not_change_the_reward(monkeypatch):
    from webglm.scorer.reward import RewardModel, strip_citation_marks

    assert strip_citation_marks("Hops add bitterness [1][2]. Boil longer [3].") == "Hops add bitterness. Boil longer."
    seen = []
    model = RewardModel()
    model.spec = {"calibration": {"mean": 0.0, "std": 1.0}}
    monkeypatch.setattr(model, "raw_scores", lambda q, answers: seen.extend(answers) or [0.0] * len(answers))
    model.score("Why are hops bitter?", ["Alpha acids [1] isomerise [2].", "Alpha acids isomerise."])
    assert seen[0] == seen[1]


@pytest.mark.slow
def test_shipped_scorer_ignores_citation_count():
    model = load_reward_model(ScorerConfig())
    q = "Why do hops make beer bitter?"
    plain = "Hops contain alpha acids. The boil turns them into bitter iso-alpha acids."
    cited = "Hops contain alpha acids [1][2][3]. The boil turns them into bitter iso-alpha acids [1][2][3]."
    a, b = model.score(q, [plain, cited])
    assert a == pytest.approx(b, abs=1e-5)


def test_score_file_rows_and_errors(tmp_path):
    from webglm.scorer.cli_support import read_score_file

    good = tmp_path / "rows.jsonl"
    good.write_text('{"question": "q1", "answers": ["a", "b"]}\n\n{"question": "q2", "answers": ["c"]}\n')
    assert read_score_file(good) == [("q1", ["a", "b"]), ("q2", ["c"])]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "q1", "answers": ["a"]}\n{"question": "q2", "answers": "c"}\n')
    with pytest.raises(InputError, match=r"bad.jsonl:2: needs"):
        read_score_file(bad)
    bad.write_text("{oops\n")
    with pytest.raises(InputError, match=r"bad.jsonl:1: not JSON"):
        read_score_file(bad)
    with pytest.raises(InputError, match="file not found"):
        read_score_file(tmp_path / "missing.jsonl")


def test_score_records_keep_input_order():
    from webglm.scorer.cli_support import score_records

    answers = ["short", "a much longer answer here", "short"]
    ranked = select_best("q", [Candidate(a) for a in answers], LengthRewardModel(), ScorerConfig())
    records = score_records("q", ranked, answers)
    assert [r["index"] for r in records] == [0, 1, 2]
    assert [r["answer"] for r in records] == answers
    assert [r["rank"] for r in records] == [2, 1, 3]
    assert records[1]["reward"] == 5.0 and set(records[0]) >= {"reward", "total", "citation_score", "question"}
