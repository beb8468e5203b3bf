"""The fakes that webglm.testing ships for code that embeds webglm."""

from webglm.protocols import PageStore
from webglm.testing import EchoBackend, MemoryPageStore
from webglm.types import Page, SearchHit


def test_memory_page_store_records_like_the_sqlite_store():
    store = MemoryPageStore()
    assert isinstance(store, PageStore)
    first = Page("https://a.example/", "https://a.example/", 200, "text/html", "<p>one</p>", 1.0)
    store.put_page(first)
    store.put_page(Page("https://a.example/", "https://a.example/", 200, "text/html", "<p>two</p>", 2.0))
    assert store.get_page("https://a.example/") == first  # first write wins
    store.put_hits("fake", "q", [SearchHit("https://a.example/", "A", "s", 1, "fake")])
    assert [h.url for h in store.get_hits("fake", "q")] == ["https://a.example/"] and store.get_hits("x", "q") is None
    store.put_failure("https://b.example/", "http_500", "HTTP 500")
    assert store.get_failure("https://b.example/").kind == "http_500" and store.get_failure("https://c/") is None


def test_echo_backend_is_importable_from_testing():
    from webglm.generator.backends import EchoBackend as real

    assert EchoBackend is real
