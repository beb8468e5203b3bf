import json

import pytest

from webglm.config import WebGLMConfig, apply_overrides, env_overrides, load_config
from webglm.errors import ConfigError, InputError
from webglm.pipeline import validate_question
from webglm.types import (
    Answer,
    Candidate,
    Failure,
    Passage,
    Reference,
    ScoredAnswer,
    SentenceSupport,
    Trace,
    answer_from_json,
    to_dict,
    to_json,
)


def _answer() -> Answer:
    p = Passage("p1", "Paris is the capital of France.", "https://ex.org/a", "A", 0, 31, "web")
    refs = (Reference(1, p, 0.9), Reference(2, Passage("p2", "x", "file:docs/a.md#L3", "B"), 0.5))
    cand = Candidate("Paris [1].", (1,), -3.5, 120, 6, "stop", "Paris [1][7].",
                     (SentenceSupport("Paris [1].", (1,), (1,), False),), 1.0, 0.5)
    trace = Trace({"rank": 0.1, "total": 1.5}, (Failure("fetch", "timeout", "5 s", "https://slow"),),
                  {"page_timeout": 5.0}, {"generator": "smollm2"}, {"tokens_out": 6.0}, ("failover: brave",))
    return Answer("capital of France?", "Paris [1].", refs, (ScoredAnswer(cand, 0.3, 1.0, 0.8),), trace, False, (1,))


def test_answer_json_round_trip_is_exact():
    a = _answer()
    back = answer_from_json(to_json(a))
    assert back == a
    assert isinstance(back.references[0].passage, Passage)
    assert isinstance(back.candidates[0].candidate.support[0], SentenceSupport)


def test_types_are_frozen():
    a = _answer()
    with pytest.raises(AttributeError):
        a.text = "other"  # type: ignore[misc]


def test_to_dict_is_json_compatible():
    json.dumps(to_dict(_answer()))


def test_config_defaults_follow_the_paper():
    cfg = WebGLMConfig()
    assert cfg.search.k == 10
    assert cfg.fetch.page_timeout == 5.0
    assert cfg.rank.top_k == 5
    assert cfg.generate.citation_threshold == 0.75


def test_config_sources_and_priority(tmp_path):
    f = tmp_path / "w.toml"
    f.write_text('[rank]\ntop_k = 3\n[fetch]\nallow_hosts = ["127.0.0.1:8080"]\n')
    cfg = load_config(f, environ={"WEBGLM_RANK__TOP_K": "4", "WEBGLM_GENERATE__BACKEND": "echo"},
                      overrides={"generate.max_new_tokens": "50"})
    assert cfg.rank.top_k == 4  # env beats file
    assert cfg.fetch.allow_hosts == ("127.0.0.1:8080",)
    assert cfg.generate.backend == "echo"
    assert cfg.generate.max_new_tokens == 50
    assert apply_overrides(cfg, {"rank.top_k": 2}).rank.top_k == 2


@pytest.mark.parametrize("key,value", [("rank.nope", 1), ("rank.top_k", "many"), ("rank.top_k", 0),
                                       ("nosection.x", 1), ("rank.quantize", "fp4")])
def test_bad_settings_are_clear_errors(key, value):
    with pytest.raises(ConfigError) as info:
        apply_overrides(WebGLMConfig(), {key: value})
    assert str(info.value)


def test_bad_config_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[rank\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad)


def test_env_overrides_mapping():
    assert env_overrides({"WEBGLM_RANK__TOP_K": "3", "WEBGLM_CACHE": "/x", "OTHER": "1"}) == {"rank.top_k": "3"}


@pytest.mark.parametrize("q", ["", "   ", "\n\t", "x" * 5000])
def test_bad_questions(q):
    with pytest.raises(InputError):
        validate_question(q)


def test_question_whitespace_normalised():
    assert validate_question("  what   is\nit? ") == "what is it?"


def test_import_webglm_does_not_import_torch():
    import subprocess
    import sys

    code = "import sys, webglm, webglm.pipeline, webglm.corpus; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
