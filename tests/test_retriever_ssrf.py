"""SSRF guard: no untrusted URL reaches a non-allowed address, in any spelling, via any redirect."""


import httpcore
import httpx
import pytest

from webglm.config import FetchConfig
from webglm.errors import BlockedURLError, ConfigError
from webglm.retriever import fetch as fetch_module
from webglm.retriever.client import make_fetch_client
from webglm.retriever.fetch import Fetcher
from webglm.retriever.guard import AddressPolicy, check_url, is_public_ip, parse_inet_aton, parse_ip
from webglm.retriever.testing import LocalServer, PageServer

LOOPBACK_FORMS = [
    "127.0.0.1",
    "127.1",
    "127.0.1",
    "2130706433",
    "0x7f000001",
    "017700000001",
    "0177.0.0.1",
    "0x7f.0.0.1",
    "127.000.000.001",
    "[::1]",
    "[::ffff:127.0.0.1]",
    "[::ffff:7f00:1]",
    "[0:0:0:0:0:0:0:1]",
    "localhost",
    "LOCALHOST.",
    "0.0.0.0",
    "0",
]
# Never dialled in these tests: the recording backend refuses every connection attempt itself.
ELSEWHERE_FORMS = [
    "10.0.0.1",
    "172.16.5.4",
    "192.168.1.1",
    "169.254.169.254",
    "[::ffff:169.254.169.254]",
    "2852039166",
    "0xa9fea9fe",
    "100.64.0.1",
    "[fd00::1]",
    "[fe80::1]",
    "[64:ff9b::a00:1]",
    "[2002:a00:1::]",
    "224.0.0.1",
    "255.255.255.255",
    "198.18.0.1",
]


class Recorder(httpcore.AsyncNetworkBackend):
    """Inner backend that records and refuses every connection attempt."""

    def __init__(self):
        self.attempts = []

    async def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        self.attempts.append((host, port))
        raise httpcore.ConnectError("recorder refuses all connections")

    async def connect_unix_socket(self, path, timeout=None, socket_options=None):
        raise httpcore.ConnectError("no")

    async def sleep(self, seconds):
        pass


@pytest.mark.parametrize(
    "host,expected",
    [
        ("127.1", "127.0.0.1"),
        ("2130706433", "127.0.0.1"),
        ("0x7f000001", "127.0.0.1"),
        ("017700000001", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("10.1", "10.0.0.1"),
        ("1.2.3.4", "1.2.3.4"),
        ("example.com", None),
        ("08.1.1.1", None),
        ("256.1.1.1", None),
        ("1.2.3.4.5", None),
        ("0x", None),
    ],
)
def test_inet_aton_forms(host, expected):
    got = parse_inet_aton(host)
    assert (str(got) if got else None) == expected


def test_embedded_ipv4_is_judged_by_its_embedded_address():
    for text in ["::ffff:127.0.0.1", "64:ff9b::7f00:1", "2002:7f00:1::", "::ffff:10.0.0.1"]:
        assert not is_public_ip(parse_ip(text))
    assert is_public_ip(parse_ip("93.184.216.34"))
    assert is_public_ip(parse_ip("2606:4700::1111"))


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "gopher://x/",
        "ftp://example.com/",
        "http://user:pw@example.com/",
        "http://example.com:8080/",
        "http://[::1]/",
        "http://0x7f000001/",
        "http://foo.localhost/",
        "http:///nohost",
        "http://[zz/",
    ],
)
def test_check_url_refuses(url):
    with pytest.raises(BlockedURLError):
        check_url(url, AddressPolicy())


def test_allow_list_entries():
    policy = AddressPolicy.from_config(["127.0.0.1:8080", "intranet.local"], [80, 443])
    assert check_url("http://127.0.0.1:8080/x", policy) == ("127.0.0.1", 8080)
    assert check_url("http://127.1:8080/x", policy)  # same destination, other spelling
    assert check_url("http://intranet.local:9000/", policy)  # host without port: any port
    with pytest.raises(BlockedURLError):
        check_url("http://127.0.0.1:8081/", policy)
    with pytest.raises(ConfigError):
        AddressPolicy.from_config(["http://x/path"], [80])
    with pytest.raises(ConfigError):
        AddressPolicy.from_config(["host:notaport"], [80])


async def _fetch_all(client, config, urls, monkeypatch=None, skip_precheck=False):
    if skip_precheck:  # prove that the connect-time layer alone is enough
        monkeypatch.setattr(fetch_module, "check_url", lambda url, policy: ("", 0))
    result = await Fetcher(client, config).fetch_many(urls)
    return result


async def test_canary_unreachable_in_any_spelling_or_redirect():
    with LocalServer() as canary, PageServer() as pages:
        port = canary.port
        config = FetchConfig(allow_hosts=(f"127.0.0.1:{pages.port}",), page_timeout=3, stage_budget=3)
        urls = [f"http://{form}:{port}/secret" for form in LOOPBACK_FORMS]
        urls += [pages.url + f"/redirect?to=http://{form}:{port}/r" for form in LOOPBACK_FORMS[:6]]
        urls += [
            pages.url + f"/redirect?code=307&to=http://localhost:{port}/",
            pages.url + "/redirect?to=http://169.254.169.254/latest/meta-data/",
        ]
        good = pages.add("/ok.html", "<html><body><p>allowed page</p></body></html>")
        async with make_fetch_client(config) as client:
            result = await _fetch_all(client, config, urls + [good])
        assert [p.url for p in result.pages] == [good]  # the allowed host works: the test can pass
        assert len(result.failures) == len(urls)
        assert {f.kind for f in result.failures} == {"blocked"}, result.failures
        assert canary.connections == 0
        httpx.get(canary.url + "/control", timeout=5)  # positive control: the counter counts
        assert canary.connections == 1


async def test_connect_time_guard_alone_blocks_loopback(monkeypatch):
    with LocalServer() as canary:
        config = FetchConfig(allowed_ports=(80, 443, canary.port))
        urls = [f"http://{form}:{canary.port}/" for form in LOOPBACK_FORMS]
        async with make_fetch_client(config) as client:
            result = await _fetch_all(client, config, urls, monkeypatch, skip_precheck=True)
        kinds = [f.kind for f in result.failures]
        # httpx itself rejects a few octal spellings (bad_url); a trailing-dot name may not resolve (network)
        assert len(kinds) == len(urls) and set(kinds) <= {"blocked", "bad_url", "network"}, result.failures
        assert kinds.count("blocked") >= 12
        assert canary.connections == 0


async def test_ipv6_loopback_canary():
    try:
        canary = LocalServer("::1").start()
    except OSError:
        pytest.skip("no IPv6 loopback here")
    try:
        config = FetchConfig()
        urls = [
            f"http://[::1]:{canary.port}/",
            f"http://[0::1]:{canary.port}/",
            f"http://localhost:{canary.port}/",
        ]
        async with make_fetch_client(config) as client:
            result = await _fetch_all(client, config, urls)
        assert len(result.failures) == 3 and canary.connections == 0
    finally:
        canary.stop()


async def test_non_loopback_addresses_refused_before_any_connect(monkeypatch):
    recorder = Recorder()
    config = FetchConfig(allowed_ports=(80, 443, 8080))
    urls = [f"http://{form}:8080/" for form in ELSEWHERE_FORMS] + [
        f"http://{form}/" for form in ELSEWHERE_FORMS
    ]
    async with make_fetch_client(config, backend=recorder) as client:
        result = await _fetch_all(client, config, urls, monkeypatch, skip_precheck=True)
    assert recorder.attempts == []
    assert {f.kind for f in result.failures} == {"blocked"}


async def test_recorder_sees_allowed_public_connects():
    # Control for the test above: a public address does reach the (refusing) inner backend.
    recorder = Recorder()
    config = FetchConfig(retries=0)
    async with make_fetch_client(config, backend=recorder) as client:
        result = await Fetcher(client, config).fetch_many(["http://93.184.216.34/"])
    assert recorder.attempts == [("93.184.216.34", 80)]
    assert result.failures[0].kind == "network"


def test_no_proxy_from_environment(monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("ALL_PROXY", "http://127.0.0.1:9")
    client = make_fetch_client(FetchConfig())
    assert client._mounts == {} or all(v is None for v in client._mounts.values())
