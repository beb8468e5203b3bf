"""Hostile local corpora and damaged indexes: nothing leaked, nothing lost, nothing silently wrong."""

from __future__ import annotations

import dataclasses
import json
import os
import random
import subprocess
import sys
import threading

import numpy as np
import pytest
from _hostile import KETTLE, can_drop_dac, dac_dropped

from webglm.config import ChunkConfig, RankConfig, WebGLMConfig
from webglm.contriever import CorpusIndex
from webglm.corpus import open_corpus
from webglm.errors import CorpusError
from webglm.retriever import read_corpus
from webglm.testing import HashEncoder
from webglm.types import Passage

SECRET = "zebra-quartz-7731 is the vault combination kept outside the corpus folder on purpose.\n"


def texts(docs) -> str:
    return "\n".join(p.text for p in docs.passages)


def reasons(docs) -> dict[str, str]:
    return {f.url.rsplit("/", 1)[-1]: f.detail for f in docs.failures}


@pytest.fixture
def outside(tmp_path):
    d = tmp_path / "outside"
    d.mkdir()
    (d / "secret.txt").write_text(SECRET)
    (d / "more.md").write_text("# Vault\n\n" + SECRET)
    return d


@pytest.fixture
def corpus(tmp_path):
    d = tmp_path / "corpus"
    d.mkdir()
    (d / "kettle.txt").write_text(KETTLE)
    return d


# --- links ------------------------------------------------------------------


def test_file_link_out_of_the_root_is_refused_and_reported(corpus, outside):
    (corpus / "leak.txt").symlink_to(outside / "secret.txt")
    (corpus / "passwd.txt").symlink_to("/etc/passwd")
    docs = read_corpus([corpus], ChunkConfig())
    assert "zebra-quartz" not in texts(docs) and "root:" not in texts(docs)
    why = reasons(docs)
    assert "outside the corpus root" in why["leak.txt"] and "corpus.follow_symlinks" in why["leak.txt"]
    assert "outside the corpus root" in why["passwd.txt"]
    assert "red kettle" in texts(docs)


def test_directory_link_out_of_the_root_is_refused(corpus, outside):
    (corpus / "vault").symlink_to(outside, target_is_directory=True)
    docs = read_corpus([corpus], ChunkConfig())
    assert "zebra-quartz" not in texts(docs)
    assert "outside the corpus root" in reasons(docs)["vault"]


def test_following_links_is_an_opt_in(corpus, outside):
    (corpus / "leak.txt").symlink_to(outside / "secret.txt")
    (corpus / "vault").symlink_to(outside, target_is_directory=True)
    docs = read_corpus([corpus], ChunkConfig(), follow_symlinks=True)
    assert "zebra-quartz" in texts(docs)
    assert docs.files_read == 4  # kettle, leak, vault/secret, vault/more


def test_links_inside_the_root_are_read(corpus):
    (corpus / "sub").mkdir()
    (corpus / "sub" / "real.md").write_text("# Stove\n\nThe small stove has two rings and a cast iron grill.\n")
    (corpus / "alias.md").symlink_to(corpus / "sub" / "real.md")
    docs = read_corpus([corpus], ChunkConfig(dedup=False))
    assert docs.files_read == 3 and not docs.failures


def test_link_loops_end_and_are_reported(corpus):
    (corpus / "self").symlink_to(".", target_is_directory=True)
    (corpus / "sub").mkdir()
    (corpus / "sub" / "up").symlink_to("..", target_is_directory=True)
    (corpus / "a.txt").symlink_to(corpus / "b.txt")
    (corpus / "b.txt").symlink_to(corpus / "a.txt")
    os.mkfifo(corpus / "fifo.md")
    docs = read_corpus([corpus], ChunkConfig())
    why = reasons(docs)
    assert docs.files_read == 1
    assert "loop" in why["self"] and "loop" in why["up"]
    assert "looping" in why["a.txt"] and "looping" in why["b.txt"]
    assert "not a regular file" in why["fifo.md"]


def test_a_tree_deeper_than_the_recursion_limit(tmp_path):
    root = tmp_path / "deep"
    d = root
    root.mkdir()
    for _ in range(1100):  # pathlib's rglob recursed and failed near 990 levels
        d = d / "d"
        d.mkdir()
    (d / "bottom.txt").write_text(KETTLE)
    try:
        docs = read_corpus([root], ChunkConfig())
    finally:  # pytest's own clean-up recurses and would fail on this tree
        (d / "bottom.txt").unlink()
        while d != tmp_path:
            d.rmdir()
            d = d.parent
    assert docs.files_read == 1 and "red kettle" in texts(docs)


def test_version_control_folders_are_not_read(corpus):
    (corpus / ".git").mkdir()
    (corpus / ".git" / "notes.txt").write_text("A commit message that happens to be long enough to index.\n")
    docs = read_corpus([corpus], ChunkConfig())
    assert docs.files_read == 1


@pytest.mark.skipif(not can_drop_dac(), reason="file modes cannot be made to apply here")
def test_unreadable_directory_is_reported(corpus):
    locked = corpus / "locked"
    locked.mkdir()
    (locked / "inside.txt").write_text(KETTLE)
    locked.chmod(0)
    try:
        code = ("import json,sys; from webglm.config import ChunkConfig; from webglm.retriever import read_corpus;"
                "d=read_corpus([sys.argv[1]], ChunkConfig());"
                "print(json.dumps([[f.kind, f.url, f.detail] for f in d.failures]))")
        out = subprocess.run(dac_dropped([sys.executable, "-c", code, str(corpus)]), capture_output=True,
                             text=True, check=True, cwd=os.path.dirname(os.path.dirname(__file__)))
    finally:
        locked.chmod(0o755)
    failures = json.loads(out.stdout)
    assert any(kind == "unreadable" and url.endswith("/locked") and "cannot list" in detail
               for kind, url, detail in failures), failures


# --- bytes and formats --------------------------------------------------------


def test_nul_bytes_anywhere_mark_a_file_binary(corpus):
    (corpus / "late_nul.txt").write_bytes(b"tea kettle notes " * 200 + b"\x00" * 5000 + b" kettle")
    docs = read_corpus([corpus], ChunkConfig())
    assert "\x00" not in texts(docs)
    assert "NUL" in reasons(docs)["late_nul.txt"]


def test_utf16_with_byte_order_mark_is_decoded(corpus):
    # repetitive text: the charset detector calls such bytes Latin, and they were read as cp1252
    (corpus / "utf16.txt").write_bytes(("The kettle boils in five minutes. " * 20).encode("utf-16"))
    (corpus / "utf16be.md").write_bytes(b"\xfe\xff" + ("The grey kettle boils in six minutes. " * 20).encode("utf-16-be"))
    docs = read_corpus([corpus], ChunkConfig())
    body = texts(docs)
    assert "The kettle boils in five minutes." in body and "grey kettle boils in six minutes" in body
    assert "\x00" not in body and "\xff\xfe" not in body and docs.files_read == 3


def test_text_below_html_depth_255_is_kept(corpus):
    deep = "<html><body>" + "<div>" * 400 + "<p>The deepest paragraph says the copper kettle needs " \
        "nine minutes on a camping stove at altitude.</p>" + "</div>" * 400 + "</body></html>"
    (corpus / "deep.html").write_text(deep)
    docs = read_corpus([corpus], ChunkConfig())
    assert "copper kettle needs nine minutes" in texts(docs)


def _pdf(text: str) -> bytes:
    """A minimal one-page PDF showing ``text`` (offsets computed, so the xref is valid)."""
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
               b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
               b"/Resources << /Font << /F1 5 0 R >> >> >>",
               b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
               b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for i, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def test_pdf_files_are_read_and_broken_ones_reported(corpus):
    pytest.importorskip("pypdf")
    (corpus / "manual.pdf").write_bytes(_pdf("The enamel kettle manual says descale it every three months."))
    (corpus / "broken.pdf").write_bytes(b"%PDF-1.4\n1 0 obj << /Type /Catalog >> garbage xref 99999\n")
    docs = read_corpus([corpus], ChunkConfig())
    assert "descale it every three months" in texts(docs)
    assert "broken.pdf" in reasons(docs)


# --- index integrity and settings -------------------------------------------------

PASSAGES = [f"Passage {i} about topic {w}: " + f"{w} " * 12 for i, w in
            enumerate("kettle stove grill oven toaster blender mixer fridge".split())]


def _saved(tmp_path, rank=None):
    rank = rank or RankConfig(encoder="hash")
    passages = [Passage(id=f"p{i}", text=t, url=f"file:x{i}.md", title=f"x{i}", end=len(t))
                for i, t in enumerate(PASSAGES)]
    folder = tmp_path / "idx"
    CorpusIndex.build(passages, HashEncoder(), rank).save(folder)
    return folder, rank


def test_shuffled_passages_are_detected(tmp_path):
    folder, rank = _saved(tmp_path)
    lines = (folder / "passages.jsonl").read_text().splitlines(keepends=True)
    random.Random(1).shuffle(lines)
    (folder / "passages.jsonl").write_text("".join(lines))
    with pytest.raises(CorpusError, match="passages.jsonl does not match its checksum"):
        CorpusIndex.load(folder, HashEncoder(), rank)


def test_scrambled_vectors_are_detected(tmp_path):
    folder, rank = _saved(tmp_path)
    raw = bytearray((folder / "vectors.faiss").read_bytes())
    tail = raw[-256:]
    raw[-256:] = bytes(reversed(tail))  # the header stays valid, the payload does not
    (folder / "vectors.faiss").write_bytes(bytes(raw))
    with pytest.raises(CorpusError, match="vectors.faiss does not match"):
        CorpusIndex.load(folder, HashEncoder(), rank)


@pytest.mark.parametrize("damage", ["truncate", "empty"])
def test_damaged_lexical_npz_is_a_clear_error(tmp_path, damage):
    folder, rank = _saved(tmp_path)
    raw = (folder / "lexical.npz").read_bytes()
    (folder / "lexical.npz").write_bytes(raw[: len(raw) // 2] if damage == "truncate" else b"")
    meta = json.loads((folder / "meta.json").read_text())
    meta.pop("sha256")  # as an index written before checksums: the parser itself must cope
    (folder / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(CorpusError, match="is corrupt"):
        CorpusIndex.load(folder, HashEncoder(), rank)


@pytest.mark.parametrize("damage", ["truncate", "empty"])
def test_damaged_meta_json_is_not_read_as_a_document_folder(tmp_path, damage):
    folder, rank = _saved(tmp_path)
    raw = (folder / "meta.json").read_text()
    (folder / "meta.json").write_text(raw[: len(raw) // 2] if damage == "truncate" else "")
    with pytest.raises(CorpusError, match="meta.json is unreadable"):
        open_corpus(folder, HashEncoder(), _cfg(tmp_path))


def test_index_built_with_other_vector_settings_is_refused(tmp_path):
    folder, rank = _saved(tmp_path)
    for change in ({"similarity": "dot"}, {"quantize": "none"}, {"max_length": 128}):
        with pytest.raises(CorpusError, match="was built with rank"):
            CorpusIndex.load(folder, HashEncoder(), dataclasses.replace(rank, **change))


def _cfg(tmp_path, **rank) -> WebGLMConfig:
    return WebGLMConfig(rank=RankConfig(encoder="hash", **rank), cache_dir=str(tmp_path / "cache"))


def test_folder_cache_is_keyed_on_vector_settings(tmp_path, corpus):
    first = open_corpus(corpus, HashEncoder(), _cfg(tmp_path))
    again = open_corpus(corpus, HashEncoder(), _cfg(tmp_path))
    assert not first.from_cache and again.from_cache
    for change in ({"similarity": "dot"}, {"quantize": "none"}, {"max_length": 128}):
        assert not open_corpus(corpus, HashEncoder(), _cfg(tmp_path, **change)).from_cache, change


def test_damaged_cache_entry_is_rebuilt(tmp_path, corpus):
    cfg = _cfg(tmp_path)
    open_corpus(corpus, HashEncoder(), cfg)
    (entry,) = (tmp_path / "cache" / "corpora").iterdir()
    raw = (entry / "lexical.npz").read_bytes()
    (entry / "lexical.npz").write_bytes(raw[:40])
    for _ in range(2):  # rebuilt once, then served from the repaired entry
        opened = open_corpus(corpus, HashEncoder(), cfg)
        assert opened.index.rank("How long does the red kettle take?").references
    assert opened.from_cache


def test_cached_open_keeps_the_skip_report(tmp_path, corpus, outside):
    (corpus / "leak.txt").symlink_to(outside / "secret.txt")
    cfg = _cfg(tmp_path)
    first = open_corpus(corpus, HashEncoder(), cfg)
    again = open_corpus(corpus, HashEncoder(), cfg)
    assert again.from_cache and [f.url for f in again.failures] == [f.url for f in first.failures]
    assert again.failures and again.files_read == first.files_read == 1


@pytest.mark.skipif(not can_drop_dac(), reason="file modes cannot be made to apply here")
def test_file_fixed_with_chmod_is_indexed_next_time(tmp_path, corpus):
    secret = corpus / "noread.txt"
    secret.write_text("The secret kettle text says the whistle is tuned to a high C note.\n")
    secret.chmod(0)
    code = ("import sys; from webglm.config import *; from webglm.corpus import open_corpus;"
            "from webglm.testing import HashEncoder;"
            "cfg=WebGLMConfig(rank=RankConfig(encoder='hash'), cache_dir=sys.argv[2]);"
            "o=open_corpus(sys.argv[1], HashEncoder(), cfg);"
            "print(len(o.failures), any('high C' in p.text for p in o.index.passages))")
    argv = dac_dropped([sys.executable, "-c", code, str(corpus), str(tmp_path / "cache")])
    root = os.path.dirname(os.path.dirname(__file__))
    assert subprocess.run(argv, capture_output=True, text=True, check=True, cwd=root).stdout.split() == ["1", "False"]
    secret.chmod(0o644)  # size and mtime unchanged
    assert subprocess.run(argv, capture_output=True, text=True, check=True, cwd=root).stdout.split() == ["0", "True"]


def test_concurrent_saves_into_one_folder_stay_whole(tmp_path):
    rank = RankConfig(encoder="hash")
    sets = [[Passage(id=f"{tag}{i}", text=f"{tag} passage {i} " + f"{tag}word " * 10, url=f"file:{tag}{i}",
                     title=tag)
             for i in range(n)] for tag, n in (("alpha", 40), ("beta", 40))]
    indexes = [CorpusIndex.build(ps, HashEncoder(), rank) for ps in sets]
    folder, errors = tmp_path / "idx", []

    def writer(index):
        try:
            for _ in range(15):
                index.save(folder)
        except Exception as exc:  # noqa: BLE001 - collected for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(ix,)) for ix in indexes]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    loaded = CorpusIndex.load(folder, HashEncoder(), rank)
    vecs = loaded.vectors(list(range(len(loaded))))
    again = HashEncoder().encode([p.text for p in loaded.passages], "passage")
    assert np.allclose(vecs, again, atol=1e-5)  # vectors belong to the passages beside them
    assert not [p for p in folder.iterdir() if p.name.endswith(".tmp")]
