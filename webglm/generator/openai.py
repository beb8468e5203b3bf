"""OpenAI-compatible HTTP backend (vLLM, TGI, llama.cpp server, Ollama, hosted APIs).

Chat prompts go to ``/chat/completions`` (the server applies the model's chat
template), text prompts to ``/completions``. The base URL includes the API
version, as with the OpenAI SDK: ``http://host:8000/v1``. The API key is read
from the environment variable named by ``generate.api_key_env``, sent only as an
``Authorization`` header, and scrubbed from every error message.

Token counts are estimates (about one token per three bytes of UTF-8, which
overestimates English text) because the chat template is applied on the server;
the estimate errs on the long side so the prompt budget still holds.

At scale (vLLM, TGI) one backend is shared by every concurrent question of a
process: ``generate.max_concurrency`` caps the requests it has in flight at once
(a slot is given back while waiting out a 429/503, so waiting requests do not
count against the server), ``generate.timeout`` bounds each request, and when no
model is configured the first one the server lists under ``/models`` is used.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx

from ..config import GenerateConfig
from ..errors import ConfigError, GenerationError
from ..retry import RETRY_STATUSES, RetryPolicy, Retryable, call, retry_after
from .base import Completion, SamplingParams
from .prompts import Prompt

MAX_RETRIES = 3
MAX_WAIT = 10.0  # seconds: never sleep longer than this between attempts
BYTES_PER_TOKEN = 3.0
TEXT_STOPS = ["\nQuestion:"]


class OpenAIBackend:
    """Generation on any server speaking the OpenAI completions API."""

    default_template = "chat"
    backoff = 0.5  # first retry delay in seconds (jittered, doubled per attempt)

    def __init__(self, gen: GenerateConfig):
        base = (gen.base_url or os.environ.get("OPENAI_BASE_URL", "")).strip().rstrip("/")
        if not base:
            raise ConfigError(
                "the openai backend needs a server URL",
                hint="set generate.base_url (e.g. http://127.0.0.1:8000/v1) or $OPENAI_BASE_URL",
            )
        if not base.startswith(("http://", "https://")):
            raise ConfigError(f"base URL must start with http:// or https://: {base!r}")
        self.gen = gen
        self.base_url = base
        self.model = gen.model
        self.model_id = f"openai:{gen.model or 'server-default'}"
        self.n_ctx = gen.n_ctx
        self._client: Any = None  # an httpx.Client once loaded (None again after close)
        self._key = ""
        self._n_ok = True  # False once the server refused n > 1
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(gen.max_concurrency)
        self._model_checked = bool(gen.model)
        self._model_lock = threading.Lock()

    def load(self) -> None:
        """Open the HTTP client (idempotent); no request is made."""
        with self._lock:
            if self._client is not None:
                return
            self._key = os.environ.get(self.gen.api_key_env, "") if self.gen.api_key_env else ""
            headers = {"Authorization": f"Bearer {self._key}"} if self._key else {}
            self._client = httpx.Client(
                base_url=self.base_url + "/",
                headers=headers,
                timeout=httpx.Timeout(self.gen.timeout, connect=min(10.0, self.gen.timeout)),
                # one pooled connection per slot: no request waits for a socket
                limits=httpx.Limits(max_connections=self.gen.max_concurrency,
                                    max_keepalive_connections=self.gen.max_concurrency),
            )

    @contextlib.contextmanager
    def _slot(self) -> Iterator[None]:
        """Hold one of the ``max_concurrency`` request slots."""
        self._slots.acquire()
        try:
            yield
        finally:
            self._slots.release()

    def models(self) -> list[str]:
        """Model ids the server lists under ``GET /models`` (vLLM, TGI, llama.cpp, OpenAI)."""
        self.load()
        try:
            with self._slot():
                resp = self._client.get("models")
        except httpx.HTTPError as exc:
            raise GenerationError(f"cannot list models at {self.base_url}: {type(exc).__name__}",
                                  hint="is the server running? check generate.base_url") from None
        if resp.status_code >= 400:
            raise self._error(resp, "models")
        try:
            return [str(m["id"]) for m in resp.json()["data"]]
        except (ValueError, KeyError, TypeError):
            raise GenerationError(f"{self.base_url}/models returned an unexpected response shape",
                                  hint="the server does not look OpenAI-compatible") from None

    def _default_model(self) -> None:
        """With no ``generate.model``, use the first model the server serves (vLLM needs a name)."""
        if self._model_checked:
            return
        with self._model_lock:  # concurrent first requests wait for the one lookup
            if self._model_checked:
                return
            try:
                listed = self.models()
            except GenerationError:
                listed = []  # servers without a model list get requests without "model"
            if listed:
                self.model = listed[0]
                self.model_id = f"openai:{self.model}"
            self._model_checked = True

    def close(self) -> None:
        """Close the HTTP client; the next request opens a new one."""
        if self._client is not None:
            self._client.close()
            self._client = None

    def count_tokens(self, prompt: Prompt) -> int:
        """Estimated prompt tokens (the server's tokenizer is not available here)."""
        if prompt.kind == "text":
            return math.ceil(len(prompt.text.encode("utf-8")) / BYTES_PER_TOKEN) + 1
        # a few tokens per message for the role markers the chat template adds
        return sum(math.ceil(len(c.encode("utf-8")) / BYTES_PER_TOKEN) + 6 for _r, c in prompt.messages) + 4

    # ---------------------------------------------------------------- requests
    def _body(self, prompt: Prompt, params: SamplingParams, n: int, stream: bool = False) -> tuple[str, dict]:
        self._default_model()
        body: dict[str, Any] = {
            "max_tokens": params.max_new_tokens,
            "temperature": params.temperature,
            "top_p": params.top_p,
            "seed": params.seed,
        }
        if self.model:
            body["model"] = self.model
        if n > 1:
            body["n"] = n
        if stream:
            body["stream"] = True
        if prompt.kind == "text":
            body.update(prompt=prompt.text, stop=TEXT_STOPS)
            return "completions", body
        body["messages"] = [{"role": r, "content": c} for r, c in prompt.messages]
        return "chat/completions", body

    def _scrub(self, text: str) -> str:
        return text.replace(self._key, "***") if self._key else text

    def _error(self, resp: httpx.Response, path: str) -> GenerationError:
        try:
            resp.read()
            data = resp.json()
            err = data.get("error", data) if isinstance(data, dict) else data
            message = err.get("message", err) if isinstance(err, dict) else err
        except (ValueError, httpx.HTTPError):
            message = resp.text if resp.is_stream_consumed else ""
        message = self._scrub(" ".join(str(message).split())[:300])
        return GenerationError(
            f"{self.base_url}/{path} returned HTTP {resp.status_code}: {message}",
            hint="check the server log, the model name (--model) and the API key variable",
        )

    @property
    def _policy(self) -> RetryPolicy:
        return RetryPolicy(retries=MAX_RETRIES, backoff=self.backoff, max_wait=MAX_WAIT)

    def _wait(self, attempt: int, resp: httpx.Response | None) -> None:
        """Sleep before retry ``attempt`` (0-based) as the shared retry policy says."""
        hint = retry_after(resp.headers.get("retry-after")) if resp is not None else None
        time.sleep(self._policy.delay(attempt + 1, hint) or 0.0)

    def _post(self, path: str, body: dict) -> dict:
        """POST with bounded, jittered retries on 429/5xx and connection failures."""
        self.load()

        def attempt() -> httpx.Response:
            try:
                with self._slot():  # released before any wait
                    resp = self._client.post(path, json=body)
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.RemoteProtocolError) as exc:
                raise Retryable(GenerationError(f"cannot reach {self.base_url}: {type(exc).__name__}",
                                                hint="is the server running? check generate.base_url")) from None
            except httpx.TimeoutException:
                # a read timeout already waited generate.timeout: another try would double it
                raise GenerationError(f"{self.base_url}/{path} timed out after {self.gen.timeout:g} s",
                                      hint="raise generate.timeout or lower max_new_tokens") from None
            if resp.status_code in RETRY_STATUSES:
                raise Retryable(self._error(resp, path), retry_after(resp.headers.get("retry-after")))
            return resp

        resp = call(attempt, self._policy)
        if resp.status_code >= 400:
            raise self._error(resp, path)
        try:
            return resp.json()
        except ValueError:
            raise GenerationError(f"{self.base_url}/{path} returned malformed JSON",
                                  hint="is base_url an OpenAI-compatible endpoint (ending in /v1)?") from None

    # ---------------------------------------------------------------- generation
    def generate(self, prompt: Prompt, n: int, params: SamplingParams) -> list[Completion]:
        """``n`` completions: one request with ``n`` when the server allows it, else ``n`` requests."""
        t0 = time.perf_counter()
        out: list[Completion] = []
        if n > 1 and self._n_ok:
            try:
                out = self._request(prompt, params, n)
            except GenerationError as exc:
                if "HTTP 400" not in str(exc) and "HTTP 422" not in str(exc):
                    raise
                self._n_ok = False  # the server rejects n > 1: sample one at a time from now on
        while len(out) < n:  # also covers servers that silently ignore n
            seeded = dataclasses.replace(params, seed=params.seed + len(out))
            out.extend(self._request(prompt, seeded, 1))
        seconds = (time.perf_counter() - t0) / n
        return [
            Completion(c.text, c.tokens_in, c.tokens_out, c.finish_reason, c.logprob, seconds)
            for c in out[:n]
        ]

    def _request(self, prompt: Prompt, params: SamplingParams, n: int) -> list[Completion]:
        path, body = self._body(prompt, params, n)
        data = self._post(path, body)
        try:
            choices = sorted(data["choices"], key=lambda c: c.get("index", 0))
            usage = data.get("usage") or {}
            tokens_in = int(usage.get("prompt_tokens") or 0) or self.count_tokens(prompt)
            total_out = int(usage.get("completion_tokens") or 0)
            return [
                Completion(
                    _choice_text(c),
                    tokens_in,
                    total_out // max(1, len(choices)),
                    c.get("finish_reason") or "",
                )
                for c in choices
            ]
        except (KeyError, TypeError, AttributeError, ValueError):
            raise GenerationError(
                f"{self.base_url}/{path} returned an unexpected response shape",
                hint="the server does not look OpenAI-compatible",
            ) from None

    def stream(self, prompt: Prompt, params: SamplingParams) -> Iterator[str]:
        """Text pieces from the server-sent event stream."""
        self.load()
        path, body = self._body(prompt, params, 1, stream=True)
        for attempt in range(MAX_RETRIES + 1):
            try:
                with self._slot(), self._client.stream("POST", path, json=body) as resp:
                    retry = resp.status_code in RETRY_STATUSES and attempt < MAX_RETRIES
                    if resp.status_code >= 400 and not retry:
                        raise self._error(resp, path)
                    if not retry:
                        yield from self._events(resp, path)
                        return
                self._wait(attempt, resp)  # outside the slot
            except httpx.TimeoutException:
                raise GenerationError(
                    f"{self.base_url}/{path} timed out after {self.gen.timeout:g} s"
                ) from None
            except (httpx.ConnectError, httpx.RemoteProtocolError) as exc:
                raise GenerationError(f"stream from {self.base_url} failed: {type(exc).__name__}") from None

    def _events(self, resp: httpx.Response, path: str) -> Iterator[str]:
        for line in resp.iter_lines():
            if not line.startswith("data:"):
                continue  # comments, event names, keep-alives
            payload = line[5:].strip()
            if payload == "[DONE]":
                return
            try:
                chunk = json.loads(payload)
            except ValueError:
                raise GenerationError(f"{self.base_url}/{path} sent a malformed stream event") from None
            if isinstance(chunk, dict) and "error" in chunk:
                err = chunk["error"]
                msg = err.get("message", err) if isinstance(err, dict) else err
                raise GenerationError(f"{self.base_url}/{path} stream error: {self._scrub(str(msg))[:300]}")
            for choice in chunk.get("choices") or []:
                piece = (choice.get("delta") or {}).get("content") or choice.get("text") or ""
                if piece:
                    yield piece


def _choice_text(choice: dict) -> str:
    if "message" in choice:
        return (choice["message"] or {}).get("content") or ""
    return choice["text"] or ""
