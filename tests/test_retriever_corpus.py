"""Local corpus reading: formats, headings as titles, line locations, skipped files."""

import pytest

from webglm.config import ChunkConfig
from webglm.errors import CorpusError
from webglm.retriever import read_corpus

GUIDE = """# Install guide

Intro paragraph explaining what the tool does and who should read the guide.

## Requirements

You need Python 3.11 or newer and about two gigabytes of free disk space.

```
# not a heading inside a fence
pip install tool
```

## Running

Start the server with the run command and open the browser at port 8080.
"""


@pytest.fixture
def corpus(tmp_path):
    root = tmp_path / "docs"
    (root / "sub").mkdir(parents=True)
    (root / "guide.md").write_text(GUIDE, encoding="utf-8")
    (root / "notes.txt").write_text(
        "Plain notes about the release schedule for the autumn.\n", encoding="utf-8"
    )
    (root / "sub" / "page.html").write_text(
        "<html><head><title>Archived page</title></head><body><nav>menu</nav><article><p>"
        + "The archive keeps every published report for ten years. " * 5
        + "</p></article></body></html>",
        encoding="utf-8",
    )
    (root / "sub" / "manual.rst").write_text(
        "Manual\n======\n\nThe manual explains the configuration file.\n"
    )
    (root / "latin.txt").write_bytes(
        "Caf\u00e9 cr\u00e8me recipe notes for the weekend baking club.".encode("latin-1")
    )
    (root / "binary.txt").write_bytes(b"\x00\x01\x02PK\x03\x04" * 100)
    (root / "image.png").write_bytes(b"\x89PNG")
    return root


def test_reads_all_formats(corpus):
    docs = read_corpus([corpus], ChunkConfig())
    assert docs.files_read == 5 and docs.files_skipped == 1
    assert docs.failures[0].url.endswith("binary.txt") and docs.failures[0].stage == "corpus"
    by_text = {p.text: p for p in docs.passages}
    req = next(p for t, p in by_text.items() if "two gigabytes" in t)
    assert req.title == "Install guide - Requirements"
    assert req.url == f"file:{corpus.as_posix()}/guide.md#L5"
    assert req.source == "local"
    run = next(p for t, p in by_text.items() if "port 8080" in t)
    assert run.title == "Install guide - Running" and "not a heading" not in run.title
    html = next(p for t, p in by_text.items() if "archive keeps" in t)
    assert html.title == "Archived page" and "menu" not in html.text
    assert any(p.title == "Manual" for p in docs.passages)
    assert any("Caf\u00e9 cr\u00e8me" in p.text for p in docs.passages)
    assert any(p.title == "notes.txt" for p in docs.passages)
    assert len({p.id for p in docs.passages}) == len(docs.passages)


def test_relative_paths_stay_relative(corpus, monkeypatch):
    monkeypatch.chdir(corpus.parent)
    docs = read_corpus(["docs/guide.md"], ChunkConfig())
    assert docs.passages[0].url.startswith("file:docs/guide.md#L")


def test_missing_and_empty_corpus(tmp_path):
    with pytest.raises(CorpusError) as info:
        read_corpus([tmp_path / "nope"], ChunkConfig())
    assert "corpus path not found" in str(info.value) and info.value.hint
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "blob.txt").write_bytes(b"\x00" * 64)
    with pytest.raises(CorpusError) as info:
        read_corpus([tmp_path / "empty"], ChunkConfig())
    assert ".md" in str(info.value)


def test_compat_mode_on_corpus(corpus):
    docs = read_corpus([corpus / "guide.md"], ChunkConfig(mode="webglm-compat"))
    assert all(len(p.text) >= 50 for p in docs.passages)
