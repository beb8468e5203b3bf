"""Corpora in Milvus, run for real on milvus-lite (the embedded engine, in-process, offline):
index the docs, answer with valid citations, re-index a changed file, delete a file, and
rank like the FAISS index folder."""

import dataclasses
import os
import shutil
import time
from pathlib import Path

import pytest

pytest.importorskip("pymilvus")
pytest.importorskip("milvus_lite")

from typer.testing import CliRunner  # noqa: E402

from webglm import cli  # noqa: E402
from webglm.config import GenerateConfig, WebGLMConfig  # noqa: E402
from webglm.contriever import HashTextEncoder  # noqa: E402
from webglm.contriever.milvus import MilvusStore, parse_uri  # noqa: E402
from webglm.corpus import build_index  # noqa: E402
from webglm.errors import ConfigError, CorpusError, ModelError  # noqa: E402
from webglm.pipeline import WebGLM  # noqa: E402
from webglm.protocols import CorpusStore  # noqa: E402
from webglm.stores import open_store, sync_store  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
QUESTIONS = ["How does webglm rank passages?", "Which search engines does webglm support?",
             "Where are API keys read from?", "What file types can a local corpus contain?",
             "How are citations checked after generation?"]
CFG = WebGLMConfig(generate=GenerateConfig(backend="echo"))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """A copy of the docs (so files can change), indexed into milvus-lite once per module."""
    base = tmp_path_factory.mktemp("milvus")
    docs = base / "docs"
    shutil.copytree(ROOT / "docs", docs)
    uri = f"milvus-lite:{base / 'docs.db'}"
    store = open_store(uri, HashTextEncoder(CFG.rank), CFG, create=True)
    report = sync_store(store, [str(docs)], CFG)
    yield store, docs, uri, report
    store.close()


def _key(ref):
    return (ref.passage.url, ref.passage.text)


def test_index_the_docs_and_answer_with_valid_citations(corpus):
    store, docs, uri, report = corpus
    assert isinstance(store, CorpusStore)
    assert report.added_files == len(list(docs.rglob("*.md"))) and report.passages_total == store.count() > 100
    glm = WebGLM(CFG, corpus=uri, encoder=store.encoder)
    answer = glm.answer("Where are API keys read from?")
    assert answer.references and not answer.abstained
    indices = {r.index for r in answer.references}
    assert answer.citations and set(answer.citations) <= indices
    assert all(r.passage.url.startswith(f"file:{docs}/") for r in answer.references)
    assert glm.corpus_info["passages"] == store.count()


def test_ranks_like_the_faiss_index_folder(corpus):
    store, docs, _uri, _report = corpus
    faiss = build_index([str(docs)], store.encoder, CFG).index
    assert faiss.count() == store.count()
    shared = []
    for q in QUESTIONS:
        ours, theirs = store.rank(q), faiss.rank(q)
        if ours.abstained or theirs.abstained:  # agreeing to give up counts as agreement
            shared.append(5 if ours.abstained == theirs.abstained else 0)
            continue
        mine = {_key(r): r.score for r in ours.references}
        common = [(mine[_key(r)], r.score) for r in theirs.references if _key(r) in mine]
        shared.append(len(common))
        # the same terms, statistics and fusion: the same absolute scores
        assert all(abs(a - b) < 1e-3 for a, b in common), (q, common)
    assert sum(shared) / len(shared) >= 4.0, shared


def test_reindex_only_the_changed_file_and_delete_a_removed_one(corpus):
    store, docs, _uri, _before = corpus
    before = store.count()
    changed = docs / "scorer.md"
    with changed.open("a", encoding="utf-8") as fh:
        fh.write("\n\n## Zanzibar\n\nThe zanzibarian reranker note: quokkas sort the candidate answers by vote.\n")
    report = sync_store(store, [str(docs)], CFG)
    assert (report.added_files, report.changed_files, report.deleted_files) == (0, 1, 0)
    assert report.unchanged_files == len(list(docs.rglob("*.md"))) - 1
    top = store.rank("What do quokkas sort in the zanzibarian reranker note?").references[0]
    assert "quokkas sort" in top.passage.text and top.passage.url.startswith(f"file:{changed}")
    fresh = build_index([str(docs)], store.encoder, CFG).index
    assert store.count() == fresh.count() >= before  # old passages of the file replaced, not kept

    os.utime(changed, (time.time() + 5, time.time() + 5))  # touched, same bytes
    assert sync_store(store, [str(docs)], CFG).changed_files == 0

    (docs / "security.md").unlink()
    report = sync_store(store, [str(docs)], CFG)
    assert report.deleted_files == 1 and report.passages_deleted > 0
    assert store.count() == build_index([str(docs)], store.encoder, CFG).index.count()
    assert not store.client.query(store.name, filter=f'source == "file:{docs}/security.md"', output_fields=["pk"])
    assert f"file:{docs}/security.md" not in store.files()


def test_cjk_terms_reach_milvus_whole(tmp_path):
    """Chinese is scored by character bigrams (webglm.text); Milvus must count the same terms."""
    docs = tmp_path / "zh"
    docs.mkdir()
    (docs / "a.md").write_text("# 茶\n\n绿茶在采摘后一天内蒸制，以阻止氧化。", encoding="utf-8")
    (docs / "b.md").write_text("# 咖啡\n\n咖啡豆需要烘焙，烘焙时间决定风味。", encoding="utf-8")
    store = open_store(f"milvus-lite:{tmp_path / 'zh.db'}", HashTextEncoder(CFG.rank), CFG, create=True)
    try:
        sync_store(store, [str(docs)], CFG)
        faiss = build_index([str(docs)], store.encoder, CFG).index
        q = "绿茶为什么要蒸制？"
        rank = dataclasses.replace(CFG.rank, min_score=0.0)  # the hash encoder's scores are low
        ours, theirs = store.rank(q, rank), faiss.rank(q, rank)
        assert [_key(r) for r in ours.references] == [_key(r) for r in theirs.references]
        assert ours.references and "绿茶" in ours.references[0].passage.text
        assert [r.score for r in ours.references] == pytest.approx([r.score for r in theirs.references], abs=1e-3)
    finally:
        store.close()


def test_uris_and_errors(tmp_path, corpus):
    assert parse_uri("milvus://10.0.0.5:19530/web_corpus") == ("http://10.0.0.5:19530", "web_corpus", False)
    assert parse_uri(f"milvus-lite:{tmp_path}/x-1.db")[1:] == ("x_1", True)
    for bad in ("milvus-lite:docs.sqlite", "milvus://host-only", "milvus://h:1/bad-name"):
        with pytest.raises(ConfigError):
            parse_uri(bad)
    with pytest.raises(CorpusError, match="index build"):
        MilvusStore(f"milvus-lite:{tmp_path}/empty.db", HashTextEncoder(CFG.rank)).open()
    store, _docs, uri, _r = corpus
    other = HashTextEncoder(dataclasses.replace(CFG.rank), dim=64)
    with pytest.raises(ModelError, match="indexed with encoder"):
        MilvusStore(uri, other).open()


def test_faiss_index_delete_source_keeps_the_rest(tmp_path):
    for name, text in (("a.md", "# A\n\nAlpha apples are red and round fruit."),
                       ("b.md", "# B\n\nBeta bananas are long yellow fruit.")):
        (tmp_path / name).write_text(text, encoding="utf-8")
    index = build_index([str(tmp_path)], HashTextEncoder(CFG.rank), CFG).index
    assert index.count() == 2
    assert index.delete_source(f"file:{tmp_path}/a.md") == 1 and index.count() == 1
    assert index.rank("bananas").references[0].passage.url.startswith(f"file:{tmp_path}/b.md")
    assert index.delete_source("file:nowhere.md") == 0


def test_cli_index_build_store_then_ask(tmp_path):
    docs = tmp_path / "d"
    docs.mkdir()
    (docs / "x.md").write_text("# Tea\n\nGreen tea is steamed within a day of picking to stop oxidation.\n")
    uri = f"milvus-lite:{tmp_path / 'cli.db'}"
    runner = CliRunner()
    args = ["--set", "rank.encoder=hash"]
    built = runner.invoke(cli.app, ["index", "build", str(docs), "--store", uri, *args])
    assert built.exit_code == 0, built.output
    assert "1 new" in built.output and "1 passages in the store" in built.output
    again = runner.invoke(cli.app, ["index", "build", str(docs), "--store", uri, *args])
    assert "1 unchanged" in again.output and "+0 / -0" in again.output
    asked = runner.invoke(cli.app, ["ask", "How is green tea stopped from oxidation?", "--corpus", uri,
                                    "--backend", "echo", "--no-stream", "-q", *args])
    assert asked.exit_code == 0, asked.output
    assert "steamed" in asked.output and "[1]" in asked.output
    both = runner.invoke(cli.app, ["index", "build", str(docs), "--store", uri, "--out", str(tmp_path / "i")])
    assert both.exit_code == 2 and "exactly one of --out" in both.output


@pytest.mark.slow
def test_minilm_milvus_lite_finds_what_faiss_finds_for_the_latency_questions(tmp_path):
    """The acceptance check: the docs questions of bench/ask_latency.py, packaged MiniLM."""
    import sys

    sys.path.insert(0, str(ROOT / "bench"))
    from ask_latency import QUESTIONS as BENCH_QUESTIONS
    from webglm.contriever import make_encoder

    encoder = make_encoder(CFG.rank)  # one encoder: its cache makes the second store's encoding free
    uri = f"milvus-lite:{tmp_path / 'docs.db'}"
    store = open_store(uri, encoder, CFG, create=True)
    try:
        sync_store(store, [str(ROOT / "docs")], CFG)
        faiss = build_index([str(ROOT / "docs")], encoder, CFG).index
        shared = []
        for q in BENCH_QUESTIONS:
            ours, theirs = store.rank(q), faiss.rank(q)
            shared.append(len({_key(r) for r in ours.references} & {_key(r) for r in theirs.references}))
        assert sum(shared) / len(shared) >= 4.0, shared
        glm = WebGLM(CFG, corpus=uri, encoder=encoder)
        for q in BENCH_QUESTIONS[:5]:
            answer = glm.answer(q)
            assert set(answer.citations) <= {r.index for r in answer.references}
            assert answer.abstained or answer.citations
    finally:
        store.close()
