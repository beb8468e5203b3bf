"""The one HTTP retry policy: Retry-After in both forms, backoff, caps and deadlines, and each
caller (fetcher, search engines, OpenAI backend) honouring it against loopback servers."""

import asyncio
import email.utils
import time

import httpx
import pytest

from webglm.config import FetchConfig, GenerateConfig, SearchConfig
from webglm.generator import make_backend
from webglm.generator.base import SamplingParams
from webglm.generator.prompts import Prompt
from webglm.retriever import make_engine
from webglm.retriever.client import make_fetch_client
from webglm.retriever.engines import EngineError
from webglm.retriever.fetch import Fetcher
from webglm.retriever.testing import FakeSearchAPI, PageServer
from webglm.retry import RetryPolicy, Retryable, acall, call, retry_after

from vllm_like import VLLMLikeServer


def _http_date(seconds_from_now: float) -> str:
    return email.utils.formatdate(time.time() + seconds_from_now, usegmt=True)


def test_retry_after_reads_seconds_and_http_dates():
    now = time.time()
    assert retry_after("120") == 120.0 and retry_after(" 0 ") == 0.0
    assert retry_after(email.utils.formatdate(now + 30, usegmt=True), now=now) == pytest.approx(30, abs=1)
    assert retry_after(email.utils.formatdate(now - 30, usegmt=True), now=now) == 0.0  # already passed
    assert retry_after("") is None and retry_after(None) is None and retry_after("soon") is None


def test_policy_waits_caps_and_gives_up():
    policy = RetryPolicy(retries=2, backoff=1.0, max_wait=5.0)
    assert policy.delay(1, 3.0) == 3.0 and policy.delay(1, 60.0) == 5.0  # a long Retry-After is capped
    assert 0.5 <= policy.delay(1, None) <= 1.5 and 1.0 <= policy.delay(2, None) <= 3.0  # jittered doubling
    assert policy.delay(3, 1.0) is None  # out of retries
    strict = RetryPolicy(retries=1, max_wait=2.0, longer_waits="give_up", needs_retry_after=True)
    assert strict.delay(1, 60.0) is None and strict.delay(1, None) is None and strict.delay(1, 1.5) == 1.5


def test_call_retries_then_raises_the_last_error():
    tries, waits = [], []

    def flaky():
        tries.append(1)
        raise Retryable(ValueError(f"try {len(tries)}"), 0.25)

    with pytest.raises(ValueError, match="try 3"):
        call(flaky, RetryPolicy(retries=2), sleep=waits.append)
    assert waits == [0.25, 0.25]


async def test_acall_never_waits_past_the_deadline():
    async def rate_limited():
        raise Retryable(ValueError("429"), 5.0)

    start = time.monotonic()
    with pytest.raises(ValueError):
        await acall(rate_limited, RetryPolicy(max_wait=60.0), deadline=asyncio.get_running_loop().time() + 1.0)
    assert time.monotonic() - start < 0.5  # a 5 s wait cannot fit a 1 s budget: no wait at all


async def test_search_engine_honours_an_http_date_retry_after():
    with FakeSearchAPI() as api:
        api.results = [{"url": "https://example.org/a", "title": "A", "snippet": "a"}]
        api.modes = {"brave": "429"}
        api.retry_after = _http_date(1.2)  # HTTP dates have whole seconds: between 0.2 and 1.2 s
        async with httpx.AsyncClient() as client:
            engine = make_engine("brave", SearchConfig(brave_url=api.url + "/brave/res/v1/web/search",
                                                       timeout=3.0), client, environ={"BRAVE_API_KEY": "k"})
            with pytest.raises(EngineError) as info:
                await engine.search("q", 3)
    assert info.value.kind == "rate_limited"
    assert sum(1 for r in api.requests if r[1].startswith("/brave")) == 2  # waited, then retried once


async def test_fetcher_honours_an_http_date_retry_after():
    with PageServer() as pages:
        url = pages.add("/busy.html", "<html><body><p>busy</p></body></html>", status=503,
                        headers={"Retry-After": _http_date(1.2)})
        config = FetchConfig(allow_hosts=(f"127.0.0.1:{pages.port}",), retries=1, page_timeout=5.0)
        async with make_fetch_client(config) as client:
            result = await Fetcher(client, config).fetch_many([url])
    assert [f.kind for f in result.failures] == ["http_503"]
    assert sum(1 for r in pages.requests if r[1] == "/busy.html") == 2


def test_openai_backend_honours_an_http_date_retry_after():
    with VLLMLikeServer(delay=0.0, overload={1}, overload_status=429, retry_after=_http_date(1.2)).running() as srv:
        backend = make_backend(GenerateConfig(backend="openai", base_url=srv.url, timeout=10.0))
        start = time.monotonic()
        (out,) = backend.generate(Prompt("chat", messages=(("user", "Paris?"),)), 1, SamplingParams(max_new_tokens=8))
        assert out.text and time.monotonic() - start >= 0.15
        assert srv.statuses == {429: 1, 200: 1}
