"""BEIR-format evaluation: loading, metrics, titles, chunking, errors and the CLI."""

import importlib.util
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from webglm.cli import app
from webglm.config import ChunkConfig, RankConfig
from webglm.contriever import make_encoder
from webglm.contriever.beir import evaluate_beir, is_beir_dir, load_beir
from webglm.errors import InputError
from webglm.retriever.chunk import chunk_text

DOCS = [
    {"_id": "d1", "title": "Stout", "text": "A dark beer brewed with roasted barley."},
    {"_id": "d2", "title": "Lager", "text": "Fermented and conditioned at low temperatures."},
    {"_id": "d3", "title": "Eiffel Tower", "text": "A wrought-iron lattice tower in Paris."},
    {"_id": "d4", "title": "", "text": "Hops give beer its bitterness and a floral aroma."},
    {"_id": "d5", "title": "Fractions", "text": "Teachers explain fractions with pizza diagrams."},
]
QUERIES = [{"_id": "q1", "text": "which beer is called stout"}, {"_id": "q2", "text": "where is the eiffel tower"},
           {"_id": "q3", "text": "what makes beer bitter hops"}, {"_id": "q4", "text": "no judgement"}]
QRELS = [("q1", "d1", 2), ("q2", "d3", 1), ("q3", "d4", 1), ("q3", "d1", 0), ("q4", "d2", 0)]
HASH = RankConfig(encoder="hash")


def write_beir(root: Path, docs=DOCS, queries=QUERIES, qrels=QRELS, header=True) -> Path:
    (root / "qrels").mkdir(parents=True)
    (root / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs))
    (root / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in queries))
    lines = ["query-id\tcorpus-id\tscore"] if header else []
    (root / "qrels" / "test.tsv").write_text("\n".join(lines + [f"{q}\t{d}\t{s}" for q, d, s in qrels]) + "\n")
    return root


def test_load_counts_what_it_skips(tmp_path):
    data = load_beir(write_beir(tmp_path / "b"), "test")
    assert [d.id for d in data.documents] == ["d1", "d2", "d3", "d4", "d5"]
    assert data.documents[0].title == "Stout" and data.documents[0].text.startswith("A dark beer")
    assert set(data.queries) == {"q1", "q2", "q3"}  # q4 has no positive judgement
    assert data.qrels["q1"] == {"d1": 2.0}
    assert data.skipped["queries_without_positive"] == 1
    assert is_beir_dir(tmp_path / "b") and not is_beir_dir(tmp_path)


def test_bm25_finds_documents_by_title_and_reports_metrics(tmp_path):
    # "stout" and "eiffel" appear only in the titles of d1 / d3: the title must be indexed
    out = evaluate_beir(write_beir(tmp_path / "b"), make_encoder(HASH), rank=HASH, mode="bm25")
    assert out["queries"] == 3.0 and out["documents"] == 5.0
    assert out["recall@5"] == 1.0 and out["mrr"] == 1.0 and out["ndcg@10"] == pytest.approx(1.0)
    assert out["queries_per_s"] > 0 and out["index_passages_per_s"] > 0
    for key in ("recall@100", "recall@10"):
        assert key in out


def test_graded_ndcg_below_one_when_order_is_wrong(tmp_path):
    # BM25 ranks d3 ("eiffel tower") first, then the unmatched documents in id order (d1 second),
    # but the judgements grade d1 higher: nDCG must use the grades
    qrels = [("q2", "d3", 1), ("q2", "d1", 3)]
    out = evaluate_beir(write_beir(tmp_path / "b", qrels=qrels), make_encoder(HASH), rank=HASH, mode="bm25")
    assert out["mrr"] == 1.0 and out["recall@5"] == 1.0
    # d1 comes second: (1 + 3/log2 3) / (3 + 1/log2 3)
    assert out["ndcg@10"] == pytest.approx((1 + 3 / 1.5849625) / (3 + 1 / 1.5849625), abs=1e-4)


@pytest.mark.parametrize("mode", ["dense", "hybrid"])
def test_dense_and_hybrid_modes_run(tmp_path, mode):
    out = evaluate_beir(write_beir(tmp_path / "b"), make_encoder(HASH), rank=HASH, mode=mode)
    assert out["queries"] == 3.0 and 0.0 < out["ndcg@10"] <= 1.0 + 1e-9


def test_chunked_documents_collapse_to_their_document(tmp_path):
    long_text = " ".join(f"Sentence {i} is about malt and water." for i in range(40)) + " Stout beer is a dark stout."
    docs = [{"_id": "long", "title": "", "text": long_text}, *DOCS[1:]]
    cfg = ChunkConfig(max_tokens=20, overlap_tokens=0, dedup=False)
    seen = []

    def split(doc):
        parts = chunk_text(doc.text, url=doc.url, title=doc.title, config=cfg, source="local") or [doc]
        seen.append(len(parts))
        return parts

    out = evaluate_beir(write_beir(tmp_path / "b", docs=docs, qrels=[("q1", "long", 1)]), make_encoder(HASH),
                        rank=HASH, mode="bm25", split_document=split)
    assert max(seen) > 10 and out["passages"] > out["documents"]
    assert out["mrr"] == 1.0  # only the last passage mentions stout: the whole document is still found


def test_errors_name_the_file_and_line(tmp_path):
    root = write_beir(tmp_path / "b")
    with pytest.raises(InputError, match="no qrels for split 'dev'.*") as err:
        load_beir(root, "dev")
    assert "test" in err.value.hint
    with (root / "corpus.jsonl").open("a") as fh:
        fh.write("{not json\n")
    with pytest.raises(InputError, match=r"corpus.jsonl:6: not valid JSON"):
        load_beir(root, "test")
    (root / "corpus.jsonl").write_text(json.dumps(DOCS[0]) + "\n" + json.dumps(DOCS[0]) + "\n")
    with pytest.raises(InputError, match="appears twice"):
        load_beir(root, "test")
    (root / "corpus.jsonl").write_text(json.dumps(DOCS[0]) + "\n")
    (root / "qrels" / "test.tsv").write_text("q1 d1 1\n")
    with pytest.raises(InputError, match="tab-separated|query-id<TAB>"):
        load_beir(root, "test")
    with pytest.raises(InputError, match="missing"):
        load_beir(tmp_path / "b" / "qrels", "test")


def test_cli_eval_retriever_beir(tmp_path):
    root = write_beir(tmp_path / "b", header=False)
    res = CliRunner().invoke(app, ["eval-retriever", str(root), "--format", "beir", "--split", "test",
                                   "--mode", "bm25", "--set", "rank.encoder=hash"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["ndcg@10"] == pytest.approx(1.0) and out["queries"] == 3.0
    flagged = CliRunner().invoke(app, ["eval-retriever", str(root), "--format", "beir", "--split", "test",
                                       "--mode", "bm25", "--set", "rank.encoder=hash", "--json"])
    assert flagged.exit_code == 0, flagged.output  # --json is accepted everywhere; the output is JSON anyway
    assert {k: v for k, v in json.loads(flagged.stdout).items() if not k.endswith("_per_s")} == \
        {k: v for k, v in out.items() if not k.endswith("_per_s")}
    bad = CliRunner().invoke(app, ["eval-retriever", str(root), "--format", "beir", "--split", "dev",
                                   "--set", "rank.encoder=hash"])
    assert bad.exit_code != 0 and "no qrels for split 'dev'" in bad.output


def _converter():
    path = Path(__file__).resolve().parents[1] / "bench" / "beir_from_stackexchange.py"
    spec = importlib.util.spec_from_file_location("beir_from_stackexchange", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_stackexchange_as_beir_matches_the_stackexchange_evaluation(tmp_path, shared_data):
    """The BEIR view of a dump gives the same BM25 numbers as the Stack Exchange evaluator."""
    from webglm.contriever.evaluate import evaluate_retriever

    posts = shared_data / "stackexchange" / "beer.stackexchange.com_Posts.xml"
    counts = _converter().write_beir(posts, tmp_path / "beer")
    beir = evaluate_beir(tmp_path / "beer", make_encoder(HASH), rank=HASH, mode="bm25")
    direct = evaluate_retriever(posts, rank=HASH, mode="bm25")
    assert beir["queries"] == direct["queries"] == counts["queries"]
    assert beir["recall@5"] == pytest.approx(direct["recall@5"], abs=1e-9)
    assert beir["ndcg@10"] == pytest.approx(direct["ndcg@10"], abs=1e-9)
    assert beir["recall@10"] == pytest.approx(direct["recall@10"], abs=1e-9)


def test_several_modes_share_one_index(tmp_path):
    root = write_beir(tmp_path / "b")
    res = CliRunner().invoke(app, ["eval-retriever", str(root), "--format", "beir", "--mode", "bm25,hybrid",
                                   "--set", "rank.encoder=hash"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert set(out) == {"bm25", "hybrid"} and out["bm25"]["index_passages_per_s"] == out["hybrid"]["index_passages_per_s"]
    bad = CliRunner().invoke(app, ["eval-retriever", str(root), "--format", "beir", "--mode", "bm25,fancy",
                                   "--set", "rank.encoder=hash"])
    assert bad.exit_code != 0 and "fancy" in bad.output
